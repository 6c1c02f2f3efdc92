"""``foliogate replay --leg ID --to ENDPOINT``: re-send a leg's recorded FIAS posting (diagnosis).

    foliogate replay --leg ID --to ENDPOINT [--force] [--posting-number N] [--timeout S]
                     (--config FILE | --journal PATH)

Opens a connection of its own to ``ENDPOINT`` (``HOST:PORT`` or a Twisted client endpoint
string such as ``tcp:host=127.0.0.1:port=5010``), does the FIAS handshake, re-sends the leg's
recorded inquiry and posting ``PR`` with fresh ``P#`` numbers and prints every frame and the
answer (see :mod:`adapters.replay`). Replaying a posting POSTS IT AGAIN: use a simulator or a
test PMS. A non-loopback endpoint is refused unless ``--force``. The journal is only read.

A PMS allows one FIAS link at a time: stop the gateway's link to that PMS first (the simulator
replaces the old connection with the new one).

Exit code 0 when the PMS answered the posting ``AS OK``, 1 for any other answer or none, 2 for a
usage error (unknown leg, nothing to replay, refused endpoint).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from adapters.cli import UsageError
from adapters.cli.exceptions import journal_path
from adapters.cli.wire import pretty_message
from adapters.journal import Journal, JournalError, UnknownLeg
from adapters.replay import (
    REPLAY_POSTING_NUMBER_BASE,
    ReplayRefused,
    ReplayResult,
    client_endpoint,
    is_loopback_endpoint,
    plan_replay,
    replay,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="re-send a leg's recorded FIAS posting to a simulator (it posts again!)",
        description="Re-send a leg's recorded FIAS inquiry and posting to a PMS simulator with "
        "fresh P# numbers and print the answer. Replaying a posting posts it again.",
    )
    parser.add_argument("--leg", required=True, metavar="ID", help="the leg id")
    parser.add_argument(
        "--to", required=True, metavar="ENDPOINT",
        help="HOST:PORT or a Twisted client endpoint string of the PMS (simulator)",
    )  # fmt: skip
    parser.add_argument(
        "--force", action="store_true",
        help="allow an endpoint that is not on this machine (a real PMS would post again)",
    )  # fmt: skip
    parser.add_argument(
        "--posting-number", type=int, metavar="N",
        help="P# of the replayed inquiry (the posting takes N+1); default: from the clock, "
        f"above {REPLAY_POSTING_NUMBER_BASE}",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS",
        help="how long to wait for the PMS (default 10)",
    )  # fmt: skip
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", metavar="FILE", help="gateway configuration naming the journal")
    where.add_argument("--journal", metavar="PATH", help="the journal file itself")
    parser.set_defaults(func=run)


#: Link records, printed on one line each (the data records are printed field by field).
LINK_RECORD_TYPES = (b"LS", b"LD", b"LR", b"LA", b"LE")


def default_posting_number(now: float) -> int:
    """A P# from the clock, in 90000000..98999999 (the posting takes the next one)."""
    return REPLAY_POSTING_NUMBER_BASE + int(now) % 9_000_000


def print_result(result: ReplayResult, out: Any = sys.stdout) -> None:
    for direction, payload in result.frames:
        arrow = "replay -> PMS" if direction == "out" else "PMS -> replay"
        if payload[:2] in LINK_RECORD_TYPES:  # the handshake: one line each
            out.write(f"{arrow}  {payload.decode('latin-1')}\n")
            continue
        out.write(f"{arrow}\n")
        for line in pretty_message("fias", payload).splitlines():
            out.write(f"  {line}\n")
    if result.answer is not None:
        out.write(f"answer: AS {result.answer_status}")
        text = result.answer.get("CT")
        out.write(f" ({text})\n" if text else "\n")
    else:
        out.write(f"no answer: {result.problem}\n")


def run(args: argparse.Namespace) -> int:
    endpoint = client_endpoint(args.to)
    if not is_loopback_endpoint(endpoint) and not args.force:
        raise UsageError(
            f"refusing to replay to {args.to}: it is not on this machine, and replaying a "
            "posting posts it again; give --force if it really is a test PMS"
        )
    try:
        leg_id = int(args.leg)
    except ValueError:
        raise UsageError(f"a leg id is a number, not {args.leg!r}") from None
    path = journal_path(args)
    try:
        journal = Journal(path, recover=False)
    except JournalError as exc:
        raise UsageError(str(exc)) from exc
    try:
        leg = journal.leg(leg_id)
        plan = plan_replay(journal.wire_log(leg_id=leg_id))
    except (UnknownLeg, ReplayRefused) as exc:
        raise UsageError(f"leg {leg_id}: {exc}") from None
    finally:
        journal.close()
    number = args.posting_number or default_posting_number(time.time())
    print(
        f"warning: replaying leg {leg.leg_id} ({leg.reference}) POSTS IT AGAIN on {args.to} "
        f"(P# {number}{'' if plan.inquiry is None else f' and {number + 1}'})",
        file=sys.stderr,
    )
    if plan.recorded_answer is not None:
        print(f"recorded answer: AS {plan.recorded_answer.get('AS')}", file=sys.stderr)

    from twisted.internet import task

    outcome: list[ReplayResult] = []

    def main(reactor: Any) -> Any:
        d = replay(reactor, endpoint, plan, posting_number=number, timeout=args.timeout)
        return d.addCallback(outcome.append)

    try:
        task.react(main)
    except SystemExit as exc:  # react() always exits; the exit code is ours to decide
        if exc.code not in (0, None) or not outcome:
            print(f"foliogate replay: the replay failed (exit {exc.code})", file=sys.stderr)
            return 1
    (result,) = outcome
    print_result(result)
    return 0 if result.answer_status == "OK" else 1
