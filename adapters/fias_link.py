"""The gateway side of a FIAS link: handshake, alive checks, in-house guests and postings.

The PMS interface (IFC) is the TCP server; :class:`FiasLink` is the long-lived client, kept up by
Twisted's ``ClientService`` with a ``backoffPolicy``. It knows nothing of the journal or the
configuration: the dispatcher hands it plain values and callbacks.

Link lifecycle (reference/fias.md section 2; DESIGN section 4):

- On connect, wait up to ``link_start_wait`` (3 s) for the PMS's ``LS``; if none comes, send
  ``LS`` ourselves. On every ``LS`` from the PMS, describe: ``LD``, one ``LR`` per record type we
  send or receive, ``LA``. The link is ALIVE on the PMS's ``LA``.
- Alive check: while ALIVE, send ``LS`` every ``alive_interval`` (300 s); no ``LA`` within
  ``answer_timeout`` drops the connection and ``ClientService`` reconnects with backoff.
- ``stop()`` lets the posting in flight finish, sends ``LE``, waits up to ``end_timeout`` (2 s)
  for the PMS's ``LE``, then closes and stops reconnecting.
- ``DS``..``DE`` (resync) and ``NS``..``NE`` (night audit) are flags on the status: postings are
  held (``NOT_SENT``) while either is set.

Interface family: we describe ourselves as ``IFPO`` (POS) by default. Our traffic is exactly the
POS posting path of FIAS (the ``PR`` inquiry/posting cycle with ``SO``/``PM``/``TA``, answered by
``PL``/``PA``), and the IF code decides which PMS functions are enabled for the link; the other
families (PBX, video, minibar, ...) are built around ``PS`` charges. It is configurable because
sites sometimes license the interface under another family (e.g. ``MS``).

Why ``prepareConnection`` never fails: ``ClientService`` (Twisted 26.10) has no transition for a
connection that closes while ``prepareConnection`` is still pending, and a failed prepare leaves
the socket open. So the handshake Deferred fires when the link goes ALIVE *or* when the connection
is lost, and the backoff counts handshakes that never reached ALIVE on top of failed connects.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import replace as _replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from adapters.fias_postings import (
    LinkPosting,
    PostingOutcome,
    PostingQueue,
    PostingResult,
)
from protocols.fias import (
    DatabaseResyncEnd,
    DatabaseResyncRequest,
    DatabaseResyncStart,
    FiasDecodeError,
    Framer,
    FramingError,
    GuestChange,
    GuestCheckIn,
    GuestCheckOut,
    LinkAlive,
    LinkDescription,
    LinkEnd,
    LinkRecord,
    LinkStart,
    NightAuditEnd,
    NightAuditStart,
    PostingAnswer,
    PostingList,
    PostingListGuest,
    decode,
    encode,
    message_encoder,
)

__all__ = [
    "DEFAULT_INTERFACE_FAMILY",
    "LINK_RECORDS",
    "FiasLink",
    "FiasLinkProtocol",
    "GuestEventKind",
    "LinkPosting",
    "LinkState",
    "LinkStatus",
    "LocalClock",
    "PostingOutcome",
    "PostingResult",
]

log = Logger()

DEFAULT_INTERFACE_FAMILY = "PO"

#: One LR per record type we send or receive: record id -> the fields we use (spec as data).
#: DR/DS/DE and LS/LD/LR/LA/LE have fixed formats inside IFC and take no LR. NS/NE are not in
#: that fixed list, so they get one: an LR is harmless and makes sure the PMS sends them.
LINK_RECORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("PR", ("P#", "WS", "PM", "PI", "RN", "G#", "GN", "SO", "TA", "DA", "TI", "ID", "CT")),
    ("PL", ("P#", "WS", "RN", "G#", "GN", "BA", "GA", "GD", "SO", "ID", "DA", "TI")),
    ("PA", ("P#", "WS", "AS", "CT", "RN", "G#", "GN", "SO", "ID", "DA", "TI")),
    ("GI", ("RN", "G#", "GS", "GN", "SF", "DA", "TI")),
    ("GO", ("RN", "G#", "GS", "SF", "DA", "TI")),
    ("GC", ("RN", "G#", "GS", "RO", "GN", "DA", "TI")),
    ("NS", ("DA", "TI")),
    ("NE", ("DA", "TI")),
)


class LinkState(StrEnum):
    DOWN = "down"  # no TCP connection (stopped, or waiting to reconnect)
    CONNECTING = "connecting"  # connected; waiting for the PMS's LS (or its answer to ours)
    DESCRIBING = "describing"  # LD/LR*/LA sent; waiting for the PMS's LA
    ALIVE = "alive"  # the PMS answered LA: records flow


@dataclass(frozen=True)
class LinkStatus:
    """What ``on_state_change`` receives: the link state and the two PMS holds."""

    state: LinkState = LinkState.DOWN
    resync: bool = False  # between DS and DE
    night_audit: bool = False  # between NS and NE

    @property
    def can_post(self) -> bool:
        return self.state is LinkState.ALIVE and not self.resync and not self.night_audit


class GuestEventKind(StrEnum):
    """``on_guest_event`` kinds. Every kind but CHECK_OUT means the guest is in ``room`` now."""

    CHECK_IN = "check_in"  # GI
    CHECK_OUT = "check_out"  # GO, or not confirmed by a resync (DS..DE)
    ROOM_MOVE = "room_move"  # GC with a different old room
    CHANGE = "change"  # GC without a room move (name, share flag, ...)


def _package_version() -> str:
    try:
        return importlib.metadata.version("foliogate")
    except importlib.metadata.PackageNotFoundError:
        return "0"


class FiasLinkProtocol(Protocol):
    """Glue between one TCP connection and :class:`FiasLink`: framer in, frames out."""

    def __init__(self, link: FiasLink) -> None:
        self.link = link
        self.framer = Framer()
        #: ``prepareConnection`` waits on this; see the module docstring for why it never fails.
        self.handshake: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        # Records are small and answered one by one: Nagle's algorithm would hold a record
        # back until the previous one is acknowledged.
        if hasattr(self.transport, "setTcpNoDelay"):
            self.transport.setTcpNoDelay(True)
        self.link._connection_made(self)

    def dataReceived(self, data: bytes) -> None:
        for item in self.framer.feed(data):
            if self.link._protocol is not self:
                return  # dropped while handling an earlier frame
            if isinstance(item, FramingError):
                self.link._framing_error(item)
            else:
                self.link._payload_received(self, item)
        self.link._read_done()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.link._connection_lost(self, reason)


class _LinkFactory(Factory):
    def __init__(self, link: FiasLink) -> None:
        self.link = link

    def buildProtocol(self, addr: object) -> FiasLinkProtocol:
        protocol = FiasLinkProtocol(self.link)
        protocol.factory = self
        return protocol


class FiasLink(Service):
    """One FIAS link to one PMS interface: the gateway is the client.

    Call :meth:`start` (or add it to a ``MultiService``), then :meth:`post` legs; :meth:`stop`
    ends the link cleanly. All callbacks are optional and called synchronously:

    - ``on_state_change(status: LinkStatus)`` whenever the state or a hold flag changes;
    - ``on_guest_event(kind: GuestEventKind, reservation_number: int, room: str)``;
    - ``on_frame(direction: "in" | "out", payload: bytes, leg_reference: str | None)`` for every
      frame (payload without STX/ETX; frames that fail to decode included);
    - ``on_posting_written(leg_reference: str, posting_number: int)`` right before a posting PR
      is written; it may return a Deferred, which is waited for (the journal marks the leg
      ``sent`` first). If it fails, the posting is not written (``NOT_SENT``);
    - ``on_late_answer(leg_reference: str, posting_number: int, answer: PostingAnswer)`` for a PA
      that arrives after its posting was reported UNKNOWN (never acted on by the link);
    - ``on_read_done()`` after every frame of one read from the socket was handled (the
      gateway commits the marks they queued then, in one transaction).

    ``pipeline``: how many calls may be in conversation at once (default 1: one at a time).
    Above 1, inquiries overlap, matched by ``P#``. ``posting_lanes``: how many postings may
    await their ``PA`` at once (default 1: each written after the previous posting's ``PA``;
    see :mod:`adapters.fias_postings`).
    """

    def __init__(
        self,
        endpoint: IStreamClientEndpoint,
        *,
        workstation: str,
        next_posting_number: Callable[[], int],
        clock: IReactorTime | None = None,
        now: Callable[[], dt.datetime] | None = None,
        interface_family: str = DEFAULT_INTERFACE_FAMILY,
        vendor_version: str | None = None,
        user_id: str | None = None,
        room_payment_method: str = "ROOM",
        encoding: str = "cp1252",
        link_start_wait: float = 3.0,
        alive_interval: float = 300.0,
        answer_timeout: float = 30.0,
        posting_timeout: float = 60.0,
        end_timeout: float = 2.0,
        initial_delay: float = 1.0,
        max_delay: float = 60.0,
        factor: float = 1.5,
        jitter: Callable[[], float] = random.random,
        on_state_change: Callable[[LinkStatus], object] | None = None,
        on_guest_event: Callable[[GuestEventKind, int, str], object] | None = None,
        on_frame: Callable[[str, bytes, str | None], object] | None = None,
        on_posting_written: Callable[[str, int], object] | None = None,
        on_late_answer: Callable[[str, int, PostingAnswer], object] | None = None,
        on_read_done: Callable[[], object] | None = None,
        pipeline: int = 1,
        posting_lanes: int = 1,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor  # runtime default only; tests inject a Clock

            clock = reactor
        assert clock is not None
        self.clock: IReactorTime = clock
        self._now = now if now is not None else dt.datetime.now
        version = vendor_version if vendor_version is not None else _package_version()
        if not 1 <= len(version) <= 10:
            raise ValueError(f"vendor version {version!r} must be 1..10 characters (FIAS V#)")
        if len(interface_family) != 2:
            raise ValueError(f"interface family {interface_family!r} must be 2 characters (IF)")
        if not 1 <= len(workstation) <= 16:
            raise ValueError(f"workstation {workstation!r} must be 1..16 characters (FIAS WS)")
        self.interface_family = interface_family
        self.vendor_version = version
        self.workstation = workstation
        self._encoding = encoding
        self._link_start_wait = link_start_wait
        self._alive_interval = alive_interval
        self._answer_timeout = answer_timeout
        self._end_timeout = end_timeout
        self._on_state_change = on_state_change
        self._on_guest_event = on_guest_event
        self._on_frame = on_frame
        self._on_read_done = on_read_done

        self._protocol: FiasLinkProtocol | None = None
        self._status = LinkStatus()
        self._guests: dict[int, str] = {}
        self._swap_seen: set[int] = set()
        self._resync_wanted = False
        self._stopping = False
        self._stopped: Deferred[None] | None = None
        self._end_waiter: Deferred[None] | None = None
        self._failed_handshakes = 0
        # timers of the current connection
        self._link_start_call: IDelayedCall | None = None
        self._answer_call: IDelayedCall | None = None
        self._alive_call: IDelayedCall | None = None
        # which LA we wait for: "link start" | "description" | "alive check"
        self._awaiting: str | None = None

        self._postings = PostingQueue(
            self,
            clock=self.clock,
            now=self._now,
            next_posting_number=next_posting_number,
            workstation=workstation,
            user_id=user_id,
            room_payment_method=room_payment_method,
            answer_timeout=posting_timeout,
            on_posting_written=on_posting_written,
            on_late_answer=on_late_answer,
            pipeline=pipeline,
            posting_lanes=posting_lanes,
        )
        self._backoff = backoffPolicy(initial_delay, max_delay, factor, jitter)
        self._service = ClientService(
            endpoint,
            _LinkFactory(self),
            retryPolicy=self._retry_delay,
            clock=self.clock,
            prepareConnection=self._prepare,
        )

    # -- observable state ------------------------------------------------------------------

    @property
    def status(self) -> LinkStatus:
        return self._status

    @property
    def state(self) -> LinkState:
        return self._status.state

    @property
    def resync(self) -> bool:
        return self._status.resync

    @property
    def night_audit(self) -> bool:
        return self._status.night_audit

    @property
    def in_house(self) -> Mapping[int, str]:
        """Reservation number (G#) -> room of every guest the PMS reported in house."""
        return MappingProxyType(self._guests)

    def seed_guests(self, guests: Mapping[int, str]) -> None:
        """Load in-house guests (G# -> room) remembered by the journal, without guest events.

        For a restart with the journal intact: the PMS queues GI/GO/GC across the outage and
        sends them once the link is alive, so no DR is needed."""
        self._guests.update(guests)

    def guests_in(self, room: str) -> tuple[int, ...]:
        """The reservation numbers in ``room`` (sharers: more than one)."""
        return tuple(g for g, r in self._guests.items() if r == room)

    # -- commands --------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._stopping = False
        self._stopped = None
        self._postings.reopen()
        self._service.startService()

    def stopService(self) -> Deferred[None]:
        """Let the posting in flight finish, send LE, wait for LE (2 s), close, stop."""
        if self._stopped is not None:
            return self._stopped
        super().stopService()
        self._stopping = True
        d = self._postings.close()
        d.addCallback(lambda _: self._end_link())
        d.addCallback(lambda _: self._stop_service())
        self._stopped = d
        return d

    start = startService
    stop = stopService

    def post(self, request: LinkPosting) -> Deferred[PostingOutcome]:
        """Queue one posting: inquiry PR -> PL -> posting PR -> PA; fires with the outcome.

        Raises ``FiasEncodeError`` (a ``ValueError``) at once if the request cannot be put on
        the wire at all (a payment method or clear text too long, ...)."""
        self._postings.validate(request)
        return self._postings.post(request)

    def inquire_balance(
        self, reservation_number: int, room: str | None = None, payment_method: str | None = None
    ) -> Deferred[int | None]:
        """Inquire by room and return the PL's BA (minor units) for that G#, or None."""
        return self._postings.inquire_balance(reservation_number, room, payment_method)

    def inquire_account_balance(self, account: str, payment_method: str) -> Deferred[int | None]:
        """Inquire an A/R account (``PI`` = its number, G#0 in the PL) for what it owes (BA)."""
        return self._postings.inquire_account_balance(account, payment_method)

    def search_guests(self, text: str) -> Deferred[tuple[PostingListGuest, ...] | None]:
        """The in-house guests whose name starts with ``text`` (a ``PI`` name inquiry); ``()``
        when the PMS finds none, None when it cannot be asked now."""
        return self._postings.search_guests(text)

    def request_resync(self) -> None:
        """Ask the PMS for its in-house list (DR), now if ALIVE, else once the link is ALIVE.

        Only for a lost journal: the PMS queues GI/GO across restarts by itself."""
        self._resync_wanted = True
        if self.state is LinkState.ALIVE:
            self._send_resync_request()

    # -- PostingChannel --------------------------------------------------------------------

    def can_post(self) -> bool:
        return self._status.can_post and self._protocol is not None and not self._stopping

    def room_of(self, reservation_number: int) -> str | None:
        return self._guests.get(reservation_number)

    def send(self, message: Any, leg_reference: str | None = None) -> bool:
        return self.send_encoded(encode, (message, self._encoding), leg_reference)

    def check_encodable(self, message: Any) -> None:
        encode(message, self._encoding)

    def message_encoder(self, cls: type[Any], attrs: tuple[str, ...]) -> Callable[..., bytes]:
        """:func:`protocols.fias.message_encoder` in this link's code page."""
        return message_encoder(cls, attrs, self._encoding)

    def send_encoded(
        self,
        encoder: Callable[..., bytes],
        values: tuple[Any, ...],
        leg_reference: str | None = None,
    ) -> bool:
        """Write the frame ``encoder(*values)`` makes (an encoder from
        :meth:`message_encoder`: no message is built), after the frame hook; False when
        there is no connection to write on (:meth:`send` is this with ``encode``)."""
        protocol = self._protocol
        if protocol is None or protocol.transport is None:
            return False
        frame = encoder(*values)
        self._frame_hook("out", frame[1:-1], leg_reference)
        protocol.transport.write(frame)
        return True

    # -- ClientService plumbing ------------------------------------------------------------

    def _prepare(self, protocol: Any) -> Deferred[None]:
        handshake: Deferred[None] = protocol.handshake
        return handshake

    def _retry_delay(self, attempt: int) -> float:
        return self._backoff(attempt + self._failed_handshakes)

    # -- connection events -----------------------------------------------------------------

    def _connection_made(self, protocol: FiasLinkProtocol) -> None:
        self._cancel_timers()
        self._protocol = protocol
        self._swap_seen = set()
        # A new connection starts without holds: a resync belongs to its session, and a night
        # audit still running answers postings with AS NA, which the dispatcher holds on.
        self._set_status(LinkStatus(LinkState.CONNECTING))
        log.info("FIAS link connected; waiting for LS")
        if not self._stopping:
            self._link_start_call = self.clock.callLater(
                self._link_start_wait, self._send_link_start
            )

    def _connection_lost(self, protocol: FiasLinkProtocol, reason: Failure) -> None:
        if protocol is not self._protocol:
            return
        self._cancel_timers()
        self._protocol = None
        if not protocol.handshake.called:
            self._failed_handshakes += 1
            protocol.handshake.callback(None)
        log.info("FIAS link lost: {reason}", reason=reason.getErrorMessage())
        self._set_status(LinkStatus(LinkState.DOWN))
        self._postings.connection_lost()
        if self._end_waiter is not None:
            waiter, self._end_waiter = self._end_waiter, None
            waiter.callback(None)

    def _read_done(self) -> None:
        """Every frame of one read was handled: what they left queued may be committed now."""
        if self._on_read_done is not None:
            _call_hook(self._on_read_done)

    def _framing_error(self, error: FramingError) -> None:
        log.warn("FIAS framing error: {reason}", reason=error.reason)
        self._frame_hook("in", error.raw, None)

    def _payload_received(self, protocol: FiasLinkProtocol, payload: bytes) -> None:
        try:
            message = decode(payload, self._encoding)
        except FiasDecodeError as error:
            self._frame_hook("in", payload, None)
            log.warn("undecodable FIAS record ignored: {error}", error=str(error))
            return
        if isinstance(message, PostingList | PostingAnswer):  # the usual record
            self._frame_hook("in", payload, self._postings.reference_for(message.posting_number))
            self._postings.answer_received(message)
            return
        self._frame_hook("in", payload, None)
        self._dispatch(message)

    def _dispatch(self, message: Any) -> None:
        if isinstance(message, LinkStart):
            self._describe()
        elif isinstance(message, LinkAlive):
            self._link_alive_received()
        elif isinstance(message, LinkEnd):
            self._link_end_received()
        elif isinstance(message, GuestCheckIn):
            self._check_in(message)
        elif isinstance(message, GuestCheckOut):
            self._check_out(message)
        elif isinstance(message, GuestChange):
            self._change(message)
        elif isinstance(message, DatabaseResyncStart):
            self._swap_seen = set()
            self._set_status(_replace(self._status, resync=True))
        elif isinstance(message, DatabaseResyncEnd):
            self._resync_ended()
        elif isinstance(message, NightAuditStart):
            self._set_status(_replace(self._status, night_audit=True))
        elif isinstance(message, NightAuditEnd):
            self._set_status(_replace(self._status, night_audit=False))
        else:
            log.debug("FIAS record {record!r} not used by the link", record=message)

    # -- link records ----------------------------------------------------------------------

    def _send_link_start(self) -> None:
        self._link_start_call = None
        if self.state is not LinkState.CONNECTING:
            return
        log.info("no LS from the PMS within {wait} s; sending LS", wait=self._link_start_wait)
        now = self._now()
        self.send(LinkStart(date=now.date(), time=_fias_time(now)))
        self._await_answer("link start")

    def _describe(self) -> None:
        """LD, one LR per record type, LA: on every LS from the PMS."""
        self._cancel_timers()
        now = self._now()
        date, time = now.date(), _fias_time(now)
        self._set_status(_replace(self._status, state=LinkState.DESCRIBING))
        if not self.send(
            LinkDescription(
                date=date,
                time=time,
                interface_family=self.interface_family,
                vendor_version=self.vendor_version,
            )
        ):
            return
        for record_id, field_ids in LINK_RECORDS:
            self.send(LinkRecord(record_id=record_id, field_ids=field_ids))
        self.send(LinkAlive(date=date, time=time))
        self._await_answer("description")

    def _link_alive_received(self) -> None:
        awaiting, self._awaiting = self._awaiting, None
        self._cancel(self._answer_call)
        self._answer_call = None
        if awaiting == "description":
            self._become_alive()
        elif awaiting == "alive check":
            self._schedule_alive_check()
        elif self.state is LinkState.CONNECTING:
            # The PMS answered our LS with LA (it still knows us): describe anyway, so it gets
            # our record formats on this connection.
            self._describe()
        # An LA while ALIVE and not asked for: never answered (IFC does not answer LA either).

    def _become_alive(self) -> None:
        protocol = self._protocol
        self._failed_handshakes = 0
        self._set_status(_replace(self._status, state=LinkState.ALIVE))
        log.info("FIAS link alive")
        if protocol is not None and not protocol.handshake.called:
            protocol.handshake.callback(None)
        self._schedule_alive_check()
        if self._resync_wanted:
            self._send_resync_request()

    def _schedule_alive_check(self) -> None:
        self._cancel(self._alive_call)
        self._alive_call = self.clock.callLater(self._alive_interval, self._alive_check)

    def _alive_check(self) -> None:
        self._alive_call = None
        if self.state is not LinkState.ALIVE:
            return
        now = self._now()
        self.send(LinkStart(date=now.date(), time=_fias_time(now)))
        self._await_answer("alive check")

    def _await_answer(self, what: str) -> None:
        self._awaiting = what
        self._cancel(self._answer_call)
        self._answer_call = self.clock.callLater(self._answer_timeout, self._no_answer, what)

    def _no_answer(self, what: str) -> None:
        self._answer_call = None
        self._awaiting = None
        log.warn(
            "no LA from the PMS within {timeout} s after {what}; dropping the connection",
            timeout=self._answer_timeout,
            what=what,
        )
        self._drop()

    def _link_end_received(self) -> None:
        if self._end_waiter is not None:
            waiter, self._end_waiter = self._end_waiter, None
            waiter.callback(None)
            return
        # The PMS ends the link: answer LE and close; ClientService reconnects with backoff.
        log.info("the PMS ended the link (LE)")
        now = self._now()
        self.send(LinkEnd(date=now.date(), time=_fias_time(now)))
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            protocol.transport.loseConnection()

    def _send_resync_request(self) -> None:
        now = self._now()
        if self.send(DatabaseResyncRequest(date=now.date(), time=_fias_time(now))):
            self._resync_wanted = False
            log.info("database resync requested (DR)")

    def _end_link(self) -> Deferred[None]:
        if self.state is not LinkState.ALIVE or self._protocol is None:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._end_waiter = waiter
        now = self._now()
        self.send(LinkEnd(date=now.date(), time=_fias_time(now)))
        timeout = self.clock.callLater(self._end_timeout, self._end_wait_over, waiter)

        def done(result: None) -> None:
            if timeout.active():
                timeout.cancel()

        waiter.addCallback(done)
        return waiter

    def _end_wait_over(self, waiter: Deferred[None]) -> None:
        if self._end_waiter is waiter:
            self._end_waiter = None
            log.info("no LE from the PMS within {timeout} s; closing", timeout=self._end_timeout)
            waiter.callback(None)

    def _stop_service(self) -> Deferred[None]:
        self._cancel_timers()
        protocol = self._protocol
        if protocol is not None and not protocol.handshake.called:
            # Let ClientService see the connection as made, so its own stop closes it.
            protocol.handshake.callback(None)
        return self._service.stopService()

    def _drop(self) -> None:
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abortConnection()

    # -- guests ----------------------------------------------------------------------------

    def _check_in(self, message: GuestCheckIn) -> None:
        number = message.reservation_number
        if number is None:
            log.warn("GI for room {room} without G# ignored (room-based PMS?)", room=message.room)
            return
        self._guests[number] = message.room
        self._swap_seen.add(number)
        self._guest_event(GuestEventKind.CHECK_IN, number, message.room)

    def _check_out(self, message: GuestCheckOut) -> None:
        number = message.reservation_number
        if number is not None:
            self._guests.pop(number, None)
            self._swap_seen.discard(number)
            self._guest_event(GuestEventKind.CHECK_OUT, number, message.room)
            return
        # A GO without G# (a resync GO carries only RN and SF) empties the room.
        for guest in self.guests_in(message.room):
            del self._guests[guest]
            self._swap_seen.discard(guest)
            self._guest_event(GuestEventKind.CHECK_OUT, guest, message.room)

    def _change(self, message: GuestChange) -> None:
        number = message.reservation_number
        old_room = message.old_room
        if number is None:
            if old_room and old_room != message.room:
                for guest in self.guests_in(old_room):
                    self._guests[guest] = message.room
                    self._guest_event(GuestEventKind.ROOM_MOVE, guest, message.room)
            return
        previous = self._guests.get(number)
        moved = (old_room is not None and old_room != message.room) or (
            previous is not None and previous != message.room
        )
        # A GC also tells us the guest is in house, should we have missed the GI.
        self._guests[number] = message.room
        self._swap_seen.add(number)
        kind = GuestEventKind.ROOM_MOVE if moved else GuestEventKind.CHANGE
        self._guest_event(kind, number, message.room)

    def _resync_ended(self) -> None:
        if self._status.resync:
            # A swap lists everyone in house: whoever it did not confirm has left.
            for guest, room in list(self._guests.items()):
                if guest not in self._swap_seen:
                    del self._guests[guest]
                    self._guest_event(GuestEventKind.CHECK_OUT, guest, room)
        self._swap_seen = set()
        self._set_status(_replace(self._status, resync=False))

    # -- helpers ---------------------------------------------------------------------------

    def _set_status(self, status: LinkStatus) -> None:
        if status == self._status:
            return
        self._status = status
        if self._on_state_change is not None:
            _call_hook(self._on_state_change, status)

    def _guest_event(self, kind: GuestEventKind, number: int, room: str) -> None:
        if self._on_guest_event is not None:
            _call_hook(self._on_guest_event, kind, number, room)

    def _frame_hook(self, direction: str, payload: bytes, reference: str | None) -> None:
        hook = self._on_frame
        if hook is not None:
            try:  # _call_hook, inline: this runs for every frame
                hook(direction, payload, reference)
            except Exception:
                log.failure("hook {hook!r} raised", hook=hook)

    def _cancel_timers(self) -> None:
        for call in (self._link_start_call, self._answer_call, self._alive_call):
            self._cancel(call)
        self._link_start_call = self._answer_call = self._alive_call = None
        self._awaiting = None

    @staticmethod
    def _cancel(call: IDelayedCall | None) -> None:
        if call is not None and call.active():
            call.cancel()


class LocalClock:
    """``now()`` as the PMS's wall clock: ``utc_now().astimezone().replace(tzinfo=None)``
    (local time, naive), the same value, without asking the C library for the local offset
    more than once a second while ``utc_now()`` answers in UTC.

    The local offset of a UTC instant depends only on its whole second (``astimezone`` asks
    ``localtime()`` for that second, and zone transitions fall on whole seconds), so within
    the second last converted the local time is that second's local time plus the same
    microseconds. Any other value (not UTC, another second) is converted as before.
    """

    __slots__ = ("_utc_now", "_second", "_local_second")

    def __init__(self, utc_now: Callable[[], dt.datetime]) -> None:
        self._utc_now = utc_now
        self._second: dt.datetime | None = None  # the UTC second last converted
        self._local_second: dt.datetime | None = None  # its local time

    def __call__(self) -> dt.datetime:
        value = self._utc_now()
        second = self._second
        if second is not None and value.tzinfo is dt.UTC and value.__class__ is dt.datetime:
            delta = value - second
            if _NO_TIME <= delta < _ONE_SECOND:
                assert self._local_second is not None
                return self._local_second + delta
        local = value.astimezone().replace(tzinfo=None)
        if value.tzinfo is dt.UTC and value.__class__ is dt.datetime:
            delta = dt.timedelta(microseconds=value.microsecond)
            self._second, self._local_second = value - delta, local - delta
        return local


_ONE_SECOND = dt.timedelta(seconds=1)
_NO_TIME = dt.timedelta(0)


def _fias_time(now: dt.datetime) -> dt.time:
    return now.time().replace(microsecond=0, tzinfo=None)


def _call_hook(hook: Callable[..., object], *args: object) -> None:
    try:
        hook(*args)
    except Exception:
        log.failure("hook {hook!r} raised", hook=hook)
