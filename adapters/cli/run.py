"""``foliogate run --config FILE``: the gateway service, until SIGTERM or SIGINT.

Refuses to start on an invalid configuration (every error listed) or a missing secret. On
SIGTERM/SIGINT it shuts down cleanly: dispatching stops after the posting in flight, each FIAS
link ends with ``LE``, the API stops listening and the journal is checkpointed and closed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from twisted.logger import (
    globalLogBeginner,
    jsonFileLogObserver,
)

from adapters.config import ConfigInvalid, load_config, missing_secrets
from adapters.logtext import text_observer


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="run the gateway service (API + PMS links) until SIGTERM/SIGINT"
    )
    parser.add_argument("--config", type=Path, required=True, help="the gateway TOML file")
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text",
        help="log lines on stderr: human text or JSON lines (default: text)",
    )  # fmt: skip
    parser.set_defaults(func=run)


#: The youngest generation's threshold once the gateway runs (CPython's default is 700).
GC_YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """Once started, move what exists (modules, the loaded WSDLs and schemas, the
    configuration) out of the cyclic collector's sight (``gc.freeze``) and collect the young
    generation less often. A SOAP leg allocates thousands of short-lived objects (zeep
    values, Deferreds, lxml proxies) that reference counting frees; with the default
    threshold the collector walked them every 700 allocations. Measured with
    ``bench/e2e_soap.py`` (two runs each way, back to back): gateway CPU per leg rezlynx
    0.961/0.933 -> 0.910/0.910 ms, opera-htng 1.083/1.051 -> 1.021/1.032 ms."""
    import gc

    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigInvalid as exc:
        for error in exc.errors:
            print(f"{args.config}: {error}", file=sys.stderr)
        print(f"foliogate run: {len(exc.errors)} error(s); not starting", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"foliogate run: cannot read {args.config}: {exc.strerror}", file=sys.stderr)
        return 1
    missing = missing_secrets(config)
    if missing:
        for problem in missing:
            print(f"{args.config}: {problem}", file=sys.stderr)
        print("foliogate run: secrets missing from the environment; not starting",
              file=sys.stderr)  # fmt: skip
        return 1

    observer = (
        jsonFileLogObserver(sys.stderr) if args.log_format == "json"
        else text_observer(sys.stderr)
    )  # fmt: skip
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)

    from twisted.internet import reactor

    from adapters.gateway import Gateway

    gateway = Gateway(config, reactor=reactor, log_format=args.log_format)
    failed: list[Any] = []

    def started_failed(failure: Any) -> None:
        failed.append(failure)
        print(f"foliogate run: could not start: {failure.getErrorMessage()}", file=sys.stderr)
        reactor.stop()  # type: ignore[attr-defined]

    def start() -> None:
        gateway.start().addCallback(lambda _: tune_gc()).addErrback(started_failed)

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.addSystemEventTrigger("before", "shutdown", gateway.stop)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    return 1 if failed else 0
