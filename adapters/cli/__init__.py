"""The ``foliogate`` console script: one command, verb subcommands.

Each verb lives in its own module of this package and exposes ``register(subparsers)``;
the module's ``run(args)`` returns the exit code. ``main(argv=None)`` is what tests call.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Verb modules, in the order ``foliogate --help`` lists them. A module that is missing
# (a feature not built yet) is skipped rather than breaking the whole command.
VERB_MODULES = (
    "adapters.cli.demo",
    "adapters.cli.run",
    "adapters.cli.post",
    "adapters.cli.check_config",
    "adapters.cli.exceptions",
    "adapters.cli.fias",
    "adapters.cli.sim",
    "adapters.cli.scenario",
    "adapters.cli.certify",
    "adapters.cli.reconcile",
    "adapters.cli.wire",
    "adapters.cli.replay",
)


class UsageError(Exception):
    """A user error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foliogate",
        description="Post payment events to hotel PMSs (FIAS, HTNG-style SOAP); "
        "simulate the PMS side.",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"foliogate {args.verb}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
