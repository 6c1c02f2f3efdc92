"""``foliogate check-config FILE``: validate a gateway configuration before go-live.

Prints every error, one per line as ``FILE: TOML.path: reason``, and exits 1; or prints a
short summary of what the file configures and exits 0. Secrets' environment variables must
be set unless ``--no-secrets`` is given (for checking a file on a machine without them).
"""

from __future__ import annotations

import argparse
from typing import Any

from adapters.config import ConfigInvalid, GatewayConfig, load_config, missing_secrets
from adapters.money import format_minor


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="validate a gateway configuration file and list every error",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("file", metavar="FILE", help="the gateway's TOML configuration")
    parser.add_argument(
        "--no-secrets",
        action="store_true",
        help="do not require the secrets' environment variables to be set",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
        errors = [] if args.no_secrets else missing_secrets(config)
    except ConfigInvalid as exc:
        errors = exc.errors
    if errors:
        for error in errors:
            print(f"{args.file}: {error}")
        print(f"{args.file}: {len(errors)} error{'s' if len(errors) != 1 else ''}")
        return 1
    print(summary(config))
    return 0


def summary(config: GatewayConfig) -> str:
    gateway = config.gateway
    lines = [
        f"{config.path}: OK",
        f"  listen {gateway.listen}{' (public allowed)' if gateway.allow_public else ''}; "
        f"journal {gateway.journal}; max body {gateway.max_body_bytes} bytes",
    ]
    if gateway.rates is not None:
        from adapters.rates import RateTable

        rates = RateTable.from_file(gateway.rates).rates
        pairs = sorted({f"{r.base}/{r.quote}" for r in rates})
        lines.append(
            f"  rates {gateway.rates}: {len(rates)} row{'s' if len(rates) != 1 else ''}"
            + (f" ({', '.join(pairs)})" if pairs else "")
        )
    for source in config.sources.values():
        lines.append(f"  source {source.name}: secret from ${source.secret_env}")
    for prop in config.properties.values():
        codes = prop.codes
        lines.append(
            f"  property {prop.name}: {prop.profile} at {prop.endpoint}, {prop.posting_mode} "
            f"posting in {prop.currency}, deposit {codes.deposit}, "
            f"{len(codes.revenue)} revenue code{'s' if len(codes.revenue) != 1 else ''}, "
            f"{len(codes.payment_types)} payment type"
            f"{'s' if len(codes.payment_types) != 1 else ''}"
            f"{'' if prop.allow_negative else ', refunds by hand'}"
            + (
                f", approval over {format_minor(prop.approval_threshold, prop.currency)}"
                if prop.approval_threshold is not None
                else ""
            )
        )
    return "\n".join(lines)
