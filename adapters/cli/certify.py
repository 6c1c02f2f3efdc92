"""``foliogate certify``: certify each property's code mapping against the simulator of its profile.

    foliogate certify --config FILE [--property P] [--pms-codes EXPORT.csv] --report DIR

Runs the standard certification suite (``adapters.certify``) for every property of the
configuration (or only ``--property``): deposit before arrival, check-in and redemption;
balance payment; refunds before and after posting; several items; sharers; no-show; a guest
already checked out; a code the PMS does not know; a night audit mid-journey; a link drop;
RY then success; a duplicate event; and, on the asynchronous profile, late and duplicate
result callbacks. The hotel is generated from the mapping, or from the PMS's own code export
(``--pms-codes``) so that drift between the two is caught. Each check checks the DESIGN
section 3 invariants in the simulator's ledger.

DIR gets junit.xml, report.html, summary.json and conformance.md (and the generated hotel and
scenario files, to re-run one check with ``foliogate scenario run``).

Exit codes: 0 every check passed; 1 a check failed (or the mapping differs from the PMS's
codes); 2 the configuration or the code export is invalid.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from twisted.internet import task
from twisted.internet.defer import inlineCallbacks

from adapters.cli import UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "certify",
        help="certify each property's code mapping against the PMS simulator of its profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, type=Path, metavar="FILE")
    parser.add_argument("--property", metavar="P", help="certify this property only")
    parser.add_argument(
        "--pms-codes",
        type=Path,
        metavar="EXPORT.csv",
        help="the PMS's code export (CSV: code, description, group, kind, fias_so, fias_pm)",
    )
    parser.add_argument("--report", required=True, type=Path, metavar="DIR")
    parser.add_argument(
        "--jobs", type=int, default=4, metavar="N", help="checks run side by side (default 4)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from adapters.certify import PmsCodesInvalid, load_pms_codes
    from adapters.config import ConfigInvalid, load_config

    err = sys.stderr
    try:
        config = load_config(args.config)
    except ConfigInvalid as exc:
        err.write(f"foliogate certify: {args.config}: the configuration is invalid:\n")
        err.writelines(f"  - {e}\n" for e in exc.errors)
        return 2
    if args.property is not None and args.property not in config.properties:
        raise UsageError(
            f"--property {args.property}: not in {args.config} "
            f"(it has {', '.join(config.properties)})"
        )
    codes = None
    if args.pms_codes is not None:
        try:
            codes = load_pms_codes(args.pms_codes)
        except PmsCodesInvalid as exc:
            err.write(f"foliogate certify: {exc}\n")
            return 2
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    return _react(config, args, codes, sys.stdout)


def _react(config: Any, args: argparse.Namespace, codes: Any, out: TextIO) -> int:
    result: list[int] = []

    @inlineCallbacks
    def main(reactor: Any) -> Any:
        code = yield certify_and_report(reactor, config, args, codes, out)
        result.append(code)

    try:
        task.react(main)
    except SystemExit as exc:
        if exc.code not in (0, None):
            return int(exc.code)
    return result[0] if result else 1


@inlineCallbacks
def certify_and_report(
    reactor: Any, config: Any, args: argparse.Namespace, codes: Any, out: TextIO
) -> Any:
    from adapters.certify import certify, write_reports

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    report = yield certify(
        reactor,
        config,
        args.report,
        property=args.property,
        pms_codes=codes,
        pms_codes_path=args.pms_codes,
        progress=say,
        parallel=args.jobs,
    )
    files = write_reports(report, args.report)
    say("")
    for p in report.properties:
        verdict = "CERTIFIED" if p.ok else "NOT CERTIFIED"
        say(
            f"{p.prop.name} ({p.prop.profile.value}): {verdict}: {p.count('passed')} passed, "
            f"{p.count('failed')} failed, {p.count('not applicable')} not applicable"
            + (f", {len(p.drift)} code(s) differ from the PMS" if p.drift else "")
        )
    say("report: " + ", ".join(str(path) for path in files.values()))
    say("certification PASSED" if report.ok else "certification FAILED")
    return 0 if report.ok else 1
