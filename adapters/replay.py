"""Re-send a leg's recorded FIAS posting to a PMS (a simulator) to see what it answers now.

For diagnosis: "the PMS rejected this leg with UR; does it still, now the mapping is fixed?".
:func:`plan_replay` picks from the leg's wire log the posting ``PR`` the gateway last sent (and
the inquiry ``PR`` before it, which a room posting must follow on the same connection);
:func:`replay` opens its own TCP connection, does the link handshake as the gateway does
(waits for the PMS's ``LS``, sends ``LD``, one ``LR`` per record type, ``LA``; the PMS answers
``LA``), sends the inquiry and the posting with fresh ``P#`` numbers (everything else as
recorded), waits for the answers, and ends the link with ``LE``.

**Replaying a posting posts it again**: on a real PMS it charges or credits the guest a second
time. The CLI (``foliogate replay``) therefore refuses a non-loopback endpoint unless told
``--force``, and always says so. Frames the journal masked (a 13+ digit run, which could be a
card number) are refused: they would not be the message that was sent.

This module replays FIAS legs only (:func:`plan_replay` refuses a wire log without FIAS
frames). The synchronous SOAP profiles (opera-htng, rezlynx) are replayed by
:mod:`adapters.replay_soap` (a fresh envelope over HTTP; it raises this module's
:class:`ReplayRefused` too, and refuses htng-async, whose result comes by callback); the CLI
picks one by the leg's wire log. ``foliogate wire`` shows any leg's messages.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

from adapters.fias_link import DEFAULT_INTERFACE_FAMILY, LINK_RECORDS
from protocols.fias import (
    FiasDecodeError,
    Framer,
    FramingError,
    LinkAlive,
    LinkDescription,
    LinkEnd,
    LinkRecord,
    Record,
    decode_record,
    encode,
    encode_record,
)

__all__ = [
    "ReplayPlan",
    "ReplayRefused",
    "ReplayResult",
    "client_endpoint",
    "endpoint_host",
    "is_loopback_endpoint",
    "is_loopback_host",
    "plan_replay",
    "replay",
    "with_posting_number",
]

#: Where replayed postings number from unless told otherwise: far above the gateway's own
#: sequence (which starts at 1), so a replay never reuses a P# the gateway sent recently.
REPLAY_POSTING_NUMBER_BASE = 90_000_000


class ReplayRefused(ValueError):
    """The leg cannot be replayed (no FIAS posting recorded, masked frames, ...)."""


@dataclass(frozen=True)
class ReplayPlan:
    posting: Record  # the posting PR as last sent
    inquiry: Record | None = None  # the inquiry PR sent before it, if any
    recorded_answer: Record | None = None  # the PMS's PA to the posting then, if any


@dataclass
class ReplayResult:
    #: Every frame of the replay connection: (direction "out"/"in", payload without STX/ETX).
    frames: list[tuple[str, bytes]] = field(default_factory=list)
    inquiry_answer: Record | None = None
    answer: Record | None = None  # the PA to the replayed posting; None: no answer
    problem: str | None = None  # why it ended without an answer

    @property
    def answer_status(self) -> str | None:
        return None if self.answer is None else self.answer.get("AS")


_MASKED = re.compile(rb"\*{9,}[0-9]{4}")


def plan_replay(wire: Sequence[Any], encoding: str = "cp1252") -> ReplayPlan:
    """The recorded inquiry and posting of a leg, from its wire log (oldest first)."""
    fias = [w for w in wire if w.protocol == "fias"]
    if not fias:
        kinds = sorted({w.protocol for w in wire}) or ["nothing"]
        raise ReplayRefused(
            f"the leg's wire log holds {', '.join(kinds)}: only FIAS postings can be replayed"
        )
    decoded: list[tuple[Any, Record]] = []
    for w in fias:
        try:
            decoded.append((w, decode_record(_unframed(w.raw), encoding)))
        except FiasDecodeError:
            continue  # a garbled frame from the PMS: nothing to re-send

    def sent_pr(item: tuple[Any, Record], inquiry: bool) -> bool:
        w, record = item
        return w.direction == "out" and record.record_type == "PR" and ("PI" in record) is inquiry

    postings = [i for i, item in enumerate(decoded) if sent_pr(item, inquiry=False)]
    if not postings:
        raise ReplayRefused("no posting PR was sent for this leg (nothing to replay)")
    at = postings[-1]
    wire_posting, posting = decoded[at]
    if _MASKED.search(wire_posting.raw):
        raise ReplayRefused(
            "the posting was masked in the wire log (a card-like digit run): it cannot be "
            "re-sent as it was"
        )
    inquiries = [record for w, record in decoded[:at] if sent_pr((w, record), inquiry=True)]
    inquiry = inquiries[-1] if inquiries else None
    number = posting.get("P#")
    answer = next(
        (
            record
            for w, record in decoded[at + 1 :]
            if w.direction == "in" and record.record_type == "PA" and record.get("P#") == number
        ),
        None,
    )
    return ReplayPlan(posting=posting, inquiry=inquiry, recorded_answer=answer)


def _unframed(raw: bytes) -> bytes:
    if raw[:1] == b"\x02" and raw[-1:] == b"\x03":
        return raw[1:-1]
    return raw


def with_posting_number(record: Record, number: int) -> Record:
    """``record`` with its ``P#`` replaced (added at the end if it had none)."""
    fields = [(fid, str(number) if fid == "P#" else value) for fid, value in record.fields]
    if "P#" not in record:
        fields.append(("P#", str(number)))
    return Record(record.record_type, tuple(fields))


# -- endpoints ----------------------------------------------------------------------------------


def client_endpoint(text: str) -> str:
    """A Twisted client endpoint string from ``HOST:PORT`` or an endpoint string.

    >>> client_endpoint("127.0.0.1:5010")
    'tcp:host=127.0.0.1:port=5010'
    >>> client_endpoint("tcp:host=localhost:port=5010")
    'tcp:host=localhost:port=5010'
    """
    if re.fullmatch(r"[^:]+:[0-9]+", text):
        host, port = text.rsplit(":", 1)
        return f"tcp:host={host}:port={port}"
    if re.fullmatch(r"\[[0-9a-fA-F:]+\]:[0-9]+", text):
        host, port = text[1:].rsplit("]:", 1)
        return "tcp6:host=" + host.replace(":", r"\:") + f":port={port}"
    return text


def endpoint_host(description: str) -> str | None:
    """The host a client endpoint string connects to (``host=`` or the first positional)."""
    parts = re.split(r"(?<!\\):", description)
    kind, args = parts[0], parts[1:]
    if kind not in ("tcp", "tcp6", "ssl", "tls"):
        return None
    for arg in args:
        if arg.startswith("host="):
            return arg[5:].replace("\\:", ":")
    return args[0].replace("\\:", ":") if args and "=" not in args[0] else None


def is_loopback_endpoint(description: str) -> bool:
    """True only for a TCP endpoint on this machine (127.0.0.0/8, ::1, ``localhost``)."""
    return is_loopback_host(endpoint_host(description))


def is_loopback_host(host: str | None) -> bool:
    """True only for this machine: ``localhost``, 127.0.0.0/8 or ::1 (brackets allowed)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- the replay connection -------------------------------------------------------------------------


class _ReplayProtocol(Protocol):
    def __init__(
        self,
        plan: ReplayPlan,
        posting_number: int,
        now: Callable[[], dt.datetime],
        vendor_version: str,
        encoding: str,
        result: ReplayResult,
        done: Deferred[ReplayResult],
    ) -> None:
        self.plan = plan
        self.posting_number = posting_number
        self.now = now
        self.vendor_version = vendor_version
        self.encoding = encoding
        self.result = result
        self.done = done
        self.framer = Framer()
        self.stage = "waiting for LS"
        self.inquiry_number = posting_number if plan.inquiry is not None else None
        self.number = posting_number + 1 if plan.inquiry is not None else posting_number

    # -- out --

    def _write(self, frame: bytes) -> None:
        self.result.frames.append(("out", frame[1:-1]))
        assert self.transport is not None
        self.transport.write(frame)

    def _send(self, message: Any) -> None:
        self._write(encode(message, self.encoding))

    def _send_record(self, record: Record) -> None:
        self._write(encode_record(record, self.encoding))

    def _describe(self) -> None:
        now = self.now()
        date, time = now.date(), now.time().replace(microsecond=0)
        self._send(LinkDescription(date=date, time=time, interface_family=DEFAULT_INTERFACE_FAMILY,
                                   vendor_version=self.vendor_version))  # fmt: skip
        for record_id, field_ids in LINK_RECORDS:
            self._send(LinkRecord(record_id=record_id, field_ids=field_ids))
        self._send(LinkAlive(date=date, time=time))
        self.stage = "describing"

    def _post(self) -> None:
        self.stage = "posting"
        self._send_record(with_posting_number(self.plan.posting, self.number))

    def _finish(self, problem: str | None = None) -> None:
        if self.done.called:
            return
        self.result.problem = problem
        self.stage = "done"
        if self.transport is not None and problem is None:
            now = self.now()
            self._send(LinkEnd(date=now.date(), time=now.time().replace(microsecond=0)))
        self.done.callback(self.result)
        if self.transport is not None:
            self.transport.loseConnection()

    # -- in --

    def dataReceived(self, data: bytes) -> None:
        for item in self.framer.feed(data):
            if isinstance(item, FramingError):
                self.result.frames.append(("in", item.raw))
                continue
            self.result.frames.append(("in", item))
            try:
                record = decode_record(item, self.encoding)
            except FiasDecodeError:
                continue
            self._received(record)

    def _received(self, record: Record) -> None:
        kind = record.record_type
        if kind == "LS" and self.stage in ("waiting for LS", "describing"):
            self._describe()
        elif kind == "LA" and self.stage == "describing":
            if self.plan.inquiry is not None and self.inquiry_number is not None:
                self.stage = "inquiring"
                self._send_record(with_posting_number(self.plan.inquiry, self.inquiry_number))
            else:
                self._post()
        elif kind in ("PL", "PA") and self.stage == "inquiring":
            if record.get("P#") != str(self.inquiry_number):
                return
            self.result.inquiry_answer = record
            if kind == "PA" and record.get("AS") != "OK":
                self._finish(f"the PMS answered the inquiry with AS {record.get('AS')}; "
                             "the posting was not sent")  # fmt: skip
                return
            self._post()
        elif kind == "PA" and self.stage == "posting" and record.get("P#") == str(self.number):
            self.result.answer = record
            self._finish()
        elif kind == "LE" and not self.done.called:
            self._finish(f"the PMS ended the link (LE) while {self.stage}")

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.done.called:
            self.result.problem = f"the connection closed while {self.stage}"
            self.done.callback(self.result)


def replay(
    reactor: Any,
    endpoint: str,
    plan: ReplayPlan,
    *,
    posting_number: int,
    timeout: float = 10.0,
    now: Callable[[], dt.datetime] | None = None,
    vendor_version: str = "replay",
    encoding: str = "cp1252",
) -> Deferred[ReplayResult]:
    """Connect to ``endpoint`` (a Twisted client endpoint string), replay ``plan`` and fire
    with what happened. The inquiry takes ``posting_number``, the posting the next number (the
    posting alone takes ``posting_number`` when there is no inquiry). Never fails for what the
    PMS does: a refused connection, no answer within ``timeout`` seconds or a closed link end
    in ``ReplayResult.problem``."""
    from twisted.internet.endpoints import clientFromString

    if not 1 <= posting_number <= 99_999_998:
        raise ValueError(f"posting number {posting_number} is outside 1..99999998")
    clock_now = now or (lambda: dt.datetime.now())
    result = ReplayResult()
    done: Deferred[ReplayResult] = Deferred()
    holder: dict[str, _ReplayProtocol] = {}

    def build() -> _ReplayProtocol:
        protocol = _ReplayProtocol(plan, posting_number, clock_now, vendor_version, encoding,
                                   result, done)  # fmt: skip
        holder["p"] = protocol
        return protocol

    factory = Factory.forProtocol(build)

    def timed_out() -> None:
        if done.called:
            return
        protocol = holder.get("p")
        stage = protocol.stage if protocol is not None else "connecting"
        result.problem = f"no answer within {timeout:g} s while {stage}"
        done.callback(result)
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abortConnection()

    call = reactor.callLater(timeout, timed_out)

    def connect_failed(failure: Failure) -> None:
        if not done.called:
            result.problem = f"could not connect to {endpoint}: {failure.getErrorMessage()}"
            done.callback(result)

    clientFromString(reactor, endpoint).connect(factory).addErrback(connect_failed)

    def cancel_timer(value: ReplayResult) -> ReplayResult:
        if call.active():
            call.cancel()
        return value

    return done.addBoth(cancel_timer)
