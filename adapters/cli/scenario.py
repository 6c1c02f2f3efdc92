"""``foliogate scenario run FILE...``: replay scenario files against the simulator and the gateway.

Each file (format: :mod:`adapters.scenario`) runs on its own embedded PMS simulator and its own
gateway, on loopback ports with a real SQLite journal in a fresh directory. Progress is shown per
step; the first failed expectation stops the run with the expected-versus-actual account and
the wire excerpt around it (``--keep-going`` runs the remaining files first).

Exit codes: 0 every scenario passed; 1 a scenario failed; 2 a file is not a valid scenario
(every error of every file is listed, nothing runs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from twisted.internet import task
from twisted.internet.defer import inlineCallbacks


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scenario",
        help="run scenario files (TOML) against the PMS simulator and the gateway",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run_parser = actions.add_parser("run", help="run scenario files, in order")
    run_parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    run_parser.add_argument(
        "--keep-going", action="store_true", help="run every file even after a failure"
    )
    run_parser.add_argument(
        "--workdir",
        type=Path,
        help="keep each run's journal and configuration under DIR/<scenario> (default: a "
        "temporary directory, removed afterwards)",
    )
    check_parser = actions.add_parser("check", help="validate scenario files without running")
    check_parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from adapters.scenario import ScenarioInvalid, load_scenario

    out, err = sys.stdout, sys.stderr
    scenarios = []
    invalid = False
    for path in args.files:
        try:
            scenarios.append(load_scenario(path))
        except ScenarioInvalid as exc:
            invalid = True
            err.write(f"foliogate scenario: {exc}\n")
    if invalid:
        return 2
    if args.action == "check":
        for scenario in scenarios:
            out.write(f"{scenario.path}: ok ({len(scenario.steps)} steps) {scenario.title}\n")
        return 0
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return _react(scenarios, args.workdir, args.keep_going, out)
    with tempfile.TemporaryDirectory(prefix="foliogate-scenario-") as tmp:
        return _react(scenarios, Path(tmp), args.keep_going, out)


def _react(scenarios: list[Any], workdir: Path, keep_going: bool, out: TextIO) -> int:
    result: list[int] = []

    @inlineCallbacks
    def main(reactor: Any) -> Any:
        code = yield run_files(reactor, scenarios, workdir, keep_going, out)
        result.append(code)

    try:
        task.react(main)
    except SystemExit as exc:
        if exc.code not in (0, None):
            return int(exc.code)
    return result[0] if result else 1


@inlineCallbacks
def run_files(
    reactor: Any, scenarios: list[Any], workdir: Path, keep_going: bool, out: TextIO
) -> Any:
    """Run the scenarios in order; returns the exit code (0 all passed, 1 one failed)."""
    from adapters.scenario import format_failure, run_scenario

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    failed = []
    for number, scenario in enumerate(scenarios, start=1):
        say(f"scenario {number}/{len(scenarios)}: {scenario.path or scenario.name}")
        say(f"  {scenario.title}")
        result = yield run_scenario(
            reactor, scenario, workdir / f"{number:02d}-{scenario.name}", progress=say
        )
        if result.ok:
            say(f"  passed ({len(result.steps)} steps, {result.seconds:.2f} s)")
            continue
        failed.append(scenario)
        say("")
        say(format_failure(result))
        say("")
        if not keep_going:
            break
    ran = len(scenarios) if keep_going or not failed else scenarios.index(failed[0]) + 1
    if failed:
        say(
            f"{len(failed)} of {ran} scenario(s) FAILED: "
            + ", ".join(str(s.path or s.name) for s in failed)
        )
        return 1
    say(f"all {len(scenarios)} scenario(s) passed")
    return 0
