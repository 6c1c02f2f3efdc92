"""``foliogate replay --leg ID --to ENDPOINT``: re-send a leg's recorded posting (diagnosis).

    foliogate replay --leg ID --to ENDPOINT [--force] [--posting-number N] [--timeout S]
                     (--config FILE | --journal PATH)

**FIAS legs**: opens a connection of its own to ``ENDPOINT`` (``HOST:PORT`` or a Twisted
client endpoint string such as ``tcp:host=127.0.0.1:port=5010``), does the FIAS handshake,
re-sends the leg's recorded inquiry and posting ``PR`` with fresh ``P#`` numbers and prints
every frame and the answer (see :mod:`adapters.replay`). A PMS allows one FIAS link at a time:
stop the gateway's link to that PMS first (the simulator replaces the old connection with the
new one).

**SOAP legs** (opera-htng, rezlynx): ``ENDPOINT`` is the PMS's endpoint URL
(``http://127.0.0.1:8611/opera-htng``) and ``--config`` is required (the leg's property names
the profile and the environment variables holding the credentials; ``--journal`` alone is a
usage error). The leg's last posting request goes out in a fresh envelope (opera-htng: new
MessageID and wsu:Timestamp, UsernameToken; rezlynx: a LogIn first, its SessionID in the
request), see :mod:`adapters.replay_soap`; every envelope is printed indented with passwords
and card numbers masked, then the answer (opera-htng ``Result`` status, ErrorCode and Text;
rezlynx ExceptionCode and ExceptionDescription). An htng-async leg is refused: its result
comes by callback to the gateway, not to a replay (``foliogate wire`` shows it).

Replaying a posting POSTS IT AGAIN (a SOAP PMS that deduplicates by Reference answers an
already booked one with its original result): use a simulator or a test PMS. A non-loopback
endpoint is refused unless ``--force``. The journal is only read.

Exit code 0 when the PMS answered the posting with success (``AS OK``, ``SUCCESS``,
ExceptionCode 0), 1 for any other answer or none, 2 for a usage error (unknown leg, nothing to
replay, refused endpoint).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred

from adapters.cli import UsageError
from adapters.cli.exceptions import journal_path
from adapters.cli.wire import pretty_message
from adapters.config import SecretMissing, load_config, soap_credentials
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
from adapters.replay_soap import (
    SOAP_PROFILES,
    SoapReplayPlan,
    SoapReplayResult,
    is_loopback_url,
    is_url,
    plan_soap_replay,
    read_outcome,
    replay_soap,
)
from protocols.soap import Credentials, mask_secrets


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="re-send a leg's recorded posting to a simulator (it posts again!)",
        description="Re-send a leg's recorded FIAS inquiry and posting (fresh P# numbers) or "
        "its SOAP posting request (opera-htng, rezlynx: a fresh envelope) to a PMS simulator "
        "and print the answer. Replaying a posting posts it again.",
    )
    parser.add_argument("--leg", required=True, metavar="ID", help="the leg id")
    parser.add_argument(
        "--to", required=True, metavar="ENDPOINT",
        help="FIAS: HOST:PORT or a Twisted client endpoint string of the PMS (simulator); "
        "SOAP: its endpoint URL (http://HOST:PORT/PATH)",
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
    where.add_argument(
        "--config", metavar="FILE",
        help="gateway configuration naming the journal (required for a SOAP leg: its "
        "property's profile and credentials)",
    )  # fmt: skip
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
    soap_url = is_url(args.to)
    local = is_loopback_url(args.to) if soap_url else is_loopback_endpoint(client_endpoint(args.to))
    if not local and not args.force:
        raise UsageError(
            f"refusing to replay to {args.to}: it is not on this machine, and replaying a "
            "posting posts it again; give --force if it really is a test PMS"
        )
    endpoint = client_endpoint(args.to)
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
        wire = journal.wire_log(leg_id=leg_id)
    except UnknownLeg as exc:
        raise UsageError(f"leg {leg_id}: {exc}") from None
    finally:
        journal.close()
    if is_soap_leg(wire):
        return run_soap(soap_job(args, leg, wire))
    if soap_url:
        raise UsageError(f"leg {leg_id} is not a SOAP leg: --to takes HOST:PORT or a Twisted "
                         "client endpoint string of the FIAS PMS, not a URL")  # fmt: skip
    try:
        plan = plan_replay(wire)
    except ReplayRefused as exc:
        raise UsageError(f"leg {leg_id}: {exc}") from None
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


# -- SOAP legs -------------------------------------------------------------------------------------


def is_soap_leg(wire: Sequence[Any]) -> bool:
    """A leg whose wire log holds SOAP messages and no FIAS frame."""
    protocols = {w.protocol for w in wire}
    return bool(protocols & set(SOAP_PROFILES)) and "fias" not in protocols


@dataclass(frozen=True)
class SoapJob:
    """Everything a SOAP replay needs, checked and read before the reactor runs."""

    leg: Any
    plan: SoapReplayPlan
    url: str
    credentials: Credentials = field(repr=False)
    site_id: str | None
    timeout: float

    def warning(self) -> str:
        return (f"warning: replaying leg {self.leg.leg_id} ({self.leg.reference}) POSTS IT "
                f"AGAIN on {self.url} ({self.plan.profile} {self.plan.operation})")  # fmt: skip

    def execute(self, reactor: Any, out: Any = None, **options: Any) -> Deferred[int]:
        """Replay, print the conversation to ``out`` (stdout) and fire with the exit code;
        ``options`` go to :func:`adapters.replay_soap.replay_soap` (``now``...)."""
        d = replay_soap(reactor, self.url, self.plan, credentials=self.credentials,
                        site_id=self.site_id, timeout=self.timeout, **options)  # fmt: skip

        def printed(result: SoapReplayResult) -> int:
            print_soap_result(result, sys.stdout if out is None else out)
            return 0 if result.ok else 1

        return d.addCallback(printed)


def soap_job(args: argparse.Namespace, leg: Any, wire: Sequence[Any]) -> SoapJob:
    """Check a SOAP leg's replay and read what it needs (UsageError says what is wrong)."""
    label = f"leg {leg.leg_id}"
    try:
        plan = plan_soap_replay(wire)
    except ReplayRefused as exc:
        raise UsageError(f"{label}: {exc}") from None
    if not is_url(args.to):
        raise UsageError(
            f"{label} ({plan.profile}): --to takes the PMS's endpoint URL "
            f"(e.g. http://127.0.0.1:PORT/{plan.profile}), not {args.to!r}"
        )
    if not args.config:
        raise UsageError(f"{label} ({plan.profile}): replaying it needs --config FILE "
                         "(its property names the profile and the environment variables "
                         "holding the credentials); --journal alone is not enough")  # fmt: skip
    if args.posting_number is not None:
        raise UsageError("--posting-number is for FIAS legs; a SOAP leg keeps its Reference")
    try:
        config = load_config(args.config)
    except Exception as exc:
        raise UsageError(f"cannot use {args.config}: {exc}") from exc
    prop = config.properties.get(leg.property)
    if prop is None:
        raise UsageError(f"{label} belongs to property {leg.property}, which {args.config} "
                         "does not configure")  # fmt: skip
    if prop.profile.value != plan.profile:
        raise UsageError(f"{label} was posted with {plan.profile}, but {args.config} says "
                         f"{leg.property} is {prop.profile.value}")  # fmt: skip
    try:
        username, password = soap_credentials(prop)
    except (ValueError, SecretMissing) as exc:
        raise UsageError(f"{label}: the credentials of {leg.property}: {exc}") from None
    site_id = (prop.soap.hotel_code if prop.soap is not None else None) or prop.name
    return SoapJob(leg, plan, args.to, Credentials(username, password), site_id, args.timeout)


def run_soap(job: SoapJob) -> int:
    print(job.warning(), file=sys.stderr)
    if job.plan.recorded_answer is not None:
        recorded = read_outcome(job.plan.profile, job.plan.recorded_answer)
        print(f"recorded answer: {recorded.summary}", file=sys.stderr)

    from twisted.internet import task

    codes: list[int] = []

    def main(reactor: Any) -> Any:
        return job.execute(reactor).addCallback(codes.append)

    try:
        task.react(main)
    except SystemExit as exc:
        if exc.code not in (0, None) or not codes:
            print(f"foliogate replay: the replay failed (exit {exc.code})", file=sys.stderr)
            return 1
    return codes[0]


def print_soap_result(result: SoapReplayResult, out: Any = sys.stdout) -> None:
    """Every envelope of the replay, indented and masked, then the answer."""
    for direction, head, data in result.messages:
        arrow = "replay -> PMS" if direction == "out" else "PMS -> replay"
        out.write(f"{arrow}  {head}\n")
        for line in pretty_message("soap", mask_secrets(data)).splitlines():
            out.write(f"  {line}\n")
    if result.outcome is not None:
        out.write(f"answer: {result.outcome.summary}\n")
    else:
        out.write(f"no answer: {result.problem}\n")
