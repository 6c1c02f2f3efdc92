"""The ``foliogate sim`` verb: run the PMS simulator (FIAS server + control API) until stopped.

``--opera-htng``, ``--rezlynx`` and ``--htng-async`` also serve those SOAP PMS simulators, each
on its own endpoint (off by default; given without a value, a loopback default port).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from simulators.ledger import DEMO_HOTEL, HotelConfigError, load_hotel_config

# Loopback by default: the simulator has no authentication.
DEFAULT_FIAS_ENDPOINT = "tcp:port=5010:interface=127.0.0.1"
DEFAULT_CONTROL_ENDPOINT = "tcp:port=8610:interface=127.0.0.1"
#: SOAP profile -> (option, loopback endpoint used when the option is given without a value).
SOAP_OPTIONS = {
    "opera-htng": ("--opera-htng", "tcp:port=8611:interface=127.0.0.1"),
    "rezlynx": ("--rezlynx", "tcp:port=8612:interface=127.0.0.1"),
    "htng-async": ("--htng-async", "tcp:port=8613:interface=127.0.0.1"),
}


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sim",
        help="run the PMS simulator: a FIAS server and its JSON control API",
        description="Run the IFC-like FIAS PMS simulator with a hotel ledger and a JSON "
        "control API until SIGINT/SIGTERM. Endpoints are Twisted endpoint strings.",
    )
    parser.add_argument(
        "--hotel",
        default=str(DEMO_HOTEL),
        help="hotel TOML file (default: the shipped demo hotel)",
    )
    parser.add_argument(
        "--fias",
        default=DEFAULT_FIAS_ENDPOINT,
        help=f"FIAS listening endpoint (default: {DEFAULT_FIAS_ENDPOINT})",
    )
    parser.add_argument(
        "--control",
        default=DEFAULT_CONTROL_ENDPOINT,
        help=f"control API listening endpoint (default: {DEFAULT_CONTROL_ENDPOINT})",
    )
    for profile, (option, default) in SOAP_OPTIONS.items():
        parser.add_argument(
            option,
            nargs="?",
            const=default,
            default=None,
            metavar="ENDPOINT",
            help=f"also serve the {profile} SOAP PMS at /{profile} on this endpoint (off by "
            f"default; without a value: {default}). Credentials: the hotel file's [soap] "
            "table or FOLIOGATE_SIM_SOAP_USERNAME / FOLIOGATE_SIM_SOAP_PASSWORD",
        )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="log every FIAS frame in and out"
    )
    parser.set_defaults(func=run)
    return parser


def _start_logging(verbose: bool) -> None:
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    predicate = LogLevelFilterPredicate(LogLevel.debug if verbose else LogLevel.info)
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_hotel_config(args.hotel)
    except HotelConfigError as exc:
        print(f"foliogate sim: {exc}", file=sys.stderr)
        return 2
    soap_endpoints = {
        "opera_htng": getattr(args, "opera_htng", None),
        "rezlynx": getattr(args, "rezlynx", None),
        "htng_async": getattr(args, "htng_async", None),
    }
    if any(soap_endpoints.values()):
        from simulators.soap_common import SoapAccessError, soap_access

        try:
            soap_access(config)
        except SoapAccessError as exc:
            print(f"foliogate sim: {exc}", file=sys.stderr)
            return 2
    # Imported here so that `foliogate --help` does not load Twisted's reactor or the codec.
    from twisted.internet import defer, reactor

    from simulators.service import RunningSimulator, start_simulator

    _start_logging(args.verbose)
    outcome = {"exit": 0}

    def started(simulator: RunningSimulator) -> None:
        host, port = simulator.fias_address
        soap = "".join(f", {profile} on {url}" for profile, url in simulator.soap_urls.items())
        print(
            f"foliogate sim: {config.name} (business date {simulator.hotel.business_date}): "
            f"FIAS on {host}:{port}, control API on {simulator.control_url}{soap}; "
            "Ctrl-C to stop",
            flush=True,
        )
        reactor.addSystemEventTrigger("before", "shutdown", simulator.stop)

    def failed(failure: Any) -> None:
        print(f"foliogate sim: cannot start: {failure.getErrorMessage()}", file=sys.stderr)
        outcome["exit"] = 1
        reactor.stop()

    def start() -> None:
        defer.maybeDeferred(
            start_simulator, reactor, config, args.fias, args.control, **soap_endpoints
        ).addCallbacks(started, failed)

    reactor.callWhenRunning(start)
    reactor.run()
    return outcome["exit"]
