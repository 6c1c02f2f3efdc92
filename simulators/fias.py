"""An IFC-like FIAS PMS server: the link state machine, inquiries, postings, guest broadcasts.

Behaviour (reference/fias.md sections 2, 3 and 10 "Mock PMS state machine"):

- ``LS`` on accept. ``LD``/``LR`` are collected until ``LA``; the server answers ``LA`` and the
  link is *alive*. Data records before that are ignored. ``LD`` with ``RT`` is answered ``LC``.
- Vendor ``LS`` while alive -> ``LA``; before alive -> ``LS``. Vendor ``LA`` while alive ->
  nothing, unless it closes a re-description (``LD``/``LR``... sent while alive).
- ``LE`` -> ``LE`` and close. A new connection replaces the old one (OPERA IFC), or is refused
  when the hotel file says ``replace_connections = false`` (Protel).
- ``DR`` -> ``DS``, one ``GI`` with ``SF`` per in-house guest, ``DE``.
- Check-in, check-out and room moves (control API) are broadcast as ``GI``/``GO``/``GC`` with only
  the fields the client's ``LR`` for that record asked for (no ``LR``: not sent). Resync ``GI``s
  keep ``SF`` in any case, since it is what marks them.
- Night audit start/end are sent as ``NS``/``NE`` (and ``NS`` again when a link comes up during
  an audit); postings meanwhile are answered ``NA``.
- ``PR`` inquiry (``PI`` = room number or name prefix; ``MX`` limits) -> ``PL`` with one
  ``RN``/``G#``/``GN``/``BA`` block per guest, or ``PA`` ``NG``. The guests returned are
  remembered *for this connection*: a room-charge ``PR`` posting must name one of them (the
  spec's "posting must follow a successful inquiry"); otherwise it is answered ``UR`` (or, with
  ``unqueried_posting = "ignore"``, not answered at all, as the spec says). Tender postings
  (a PM that maps to a payment type) need no inquiry.
- A/R accounts (reference section 3.4: ``RN`` = the account number, ``G#0``): an inquiry with
  a payment-type ``PM`` and ``PI`` = the account number answers ``PL`` ``RN<account>|G#0|
  GN<name>|BA<what it owes>``; a posting ``PR`` with ``G#0`` must follow it (like a room
  posting) and books a payment on the account, allocated to the invoices named in ``CT``
  (comma-separated ids), else oldest first (``simulators.accounts``). ``PL`` blocks carry
  ``GA``/``GD`` (stay dates) when the client's ``LR`` for ``PL`` asks for them.
- ``PR`` posting -> ``PA`` echoing ``P#``, ``WS``, ``SO``, ``ID``, ``G#``, ``GN``, ``RN`` (when the
  request carried them), with ``CT`` naming the cause of any rejection.
- ``PS`` (``PT`` C only) -> ``PA`` with ``RN``, ``AS``, ``P#``, ``DA``, ``TI``. One PS may be
  outstanding (its answer delayed by a fault): another PS meanwhile is answered ``RY``.
- Fault knobs (``simulators.faults``) delay, drop or force answers (``drop_posting_answers``
  drops only answers to posting ``PR``s, never an inquiry's), close the link, split frames and
  inject garbage.
"""

from __future__ import annotations

import collections
import datetime as dt
import re
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from protocols.fias import (
    FiasDecodeError,
    FiasEncodeError,
    Framer,
    FramingError,
    LinkRecord,
    Record,
    decode_record,
    encode_record,
)
from simulators.accounts import invoice_ids_from_text
from simulators.faults import FaultKnobs
from simulators.ledger import (
    ROOM,
    FolioPosting,
    GuestCheckedIn,
    GuestCheckedOut,
    GuestMoved,
    Hotel,
    HotelEvent,
    HotelReset,
    NightAuditEnded,
    NightAuditStarted,
    PostingOutcome,
    Reservation,
    Status,
    UnqueriedPosting,
)

log = Logger()

#: Records that run the link; everything else is a data record, ignored until the link is alive.
LINK_RECORDS = frozenset({"LS", "LD", "LR", "LA", "LE"})
#: Amount fields that must add up to TA (reference section 3.2).
COMPONENT_FIELDS = tuple(
    [f"S{i}" for i in range(1, 10)]
    + [f"T{i}" for i in range(1, 10)]
    + [f"D{i}" for i in range(1, 10)]
    + ["TP", "SC", "+0"]
)
_CARD_FIELDS = re.compile(rb"\|(\$[123])[^|\x03]*")


class LinkState(StrEnum):
    STARTING = "starting"  # LS sent, waiting for the vendor's LD/LR/LA
    ALIVE = "alive"
    CLOSED = "closed"


def fias_date(value: dt.date) -> str:
    return value.strftime("%y%m%d")


def fias_time(value: dt.datetime | dt.time) -> str:
    return value.strftime("%H%M%S")


def _yn(flag: bool) -> str:
    return "Y" if flag else "N"


def _masked(payload: bytes) -> bytes:
    """The frame with card-track fields ($1, $2, $3) blanked, fit for a log."""
    return _CARD_FIELDS.sub(rb"|\1***", payload)


class FiasPmsProtocol(Protocol):
    """One vendor connection to the simulated IFC."""

    factory: FiasPmsFactory

    def __init__(self) -> None:
        self.state = LinkState.STARTING
        self.link_records: dict[str, tuple[str, ...]] = {}
        self.describing = False  # LD received since the last LA
        self.inquired: set[int] = set()  # G#s that an inquiry on this connection returned
        self.inquired_accounts: set[str] = set()  # A/R accounts (RN with G#0) likewise
        self.outstanding_ps: str | None = None  # P# of a PS whose answer is not sent yet
        self.night_audit_announced = False  # NS sent, NE not yet
        self.records_received = 0
        self.records_sent = 0
        self._delayed: list[IDelayedCall] = []
        self._framer = Framer()
        #: Records received and not answered yet (see _handle_some), and the call that will.
        self._backlog: collections.deque[bytes | FramingError] = collections.deque()
        self._later: IDelayedCall | None = None

    # -- connection -----------------------------------------------------------------------

    @property
    def peer(self) -> str:
        address = self.transport.getPeer() if self.transport else None
        host, port = getattr(address, "host", "?"), getattr(address, "port", "?")
        return f"{host}:{port}"

    def connectionMade(self) -> None:
        if hasattr(self.transport, "setTcpNoDelay"):
            self.transport.setTcpNoDelay(True)  # each answer goes out at once (no Nagle)
        if not self.factory.link_connected(self):
            log.info("FIAS {peer}: refused, a link is up already", peer=self.peer)
            self.state = LinkState.CLOSED
            self.transport.loseConnection()
            return
        log.info("FIAS {peer}: connected; sending LS", peer=self.peer)
        self.send("LS", self._stamp())

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.state = LinkState.CLOSED
        if self._later is not None and self._later.active():
            self._later.cancel()
        self._later = None
        self._backlog.clear()
        for call in self._delayed:
            if call.active():
                call.cancel()
        self._delayed.clear()
        self.factory.link_lost(self)

    def close(self) -> None:
        self.state = LinkState.CLOSED
        self.transport.loseConnection()

    # -- receiving ------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self._backlog.extend(self._framer.feed(data))
        if self._later is None:
            self._handle_some()

    def _handle_some(self) -> None:
        """Answer the records received, ``records_per_turn`` of them per reactor turn if the
        factory says so (``foliogate sim``: 1): the answers then go out before the next
        records are read, as an IFC answers each request as it goes rather than a whole
        read's worth at once. None (unit tests): all of them now."""
        self._later = None
        limit = self.factory.records_per_turn
        count = 0
        while self._backlog and self.state is not LinkState.CLOSED:
            if limit is not None and count >= limit:
                break
            self._handle(self._backlog.popleft())
            count += 1
        if self._backlog and self.state is not LinkState.CLOSED:
            self._later = self.factory.clock.callLater(0, self._handle_some)
        else:
            self._backlog.clear()

    def _handle(self, item: bytes | FramingError) -> None:
        if isinstance(item, FramingError):
            log.warn(
                "FIAS {peer}: framing error ({reason}): {raw!r}",
                peer=self.peer,
                reason=item.reason,
                raw=_masked(item.raw)[:200],
            )
            return
        self.records_received += 1
        if self.factory.knobs.take_record():
            log.info(
                "FIAS {peer}: fault close_after_records: closing on {raw!r}",
                peer=self.peer,
                raw=_masked(item)[:200],
            )
            self.state = LinkState.CLOSED
            self.transport.abortConnection()
            return
        try:
            record = decode_record(item, self.factory.encoding)
        except FiasDecodeError as exc:
            log.warn(
                "FIAS {peer}: undecodable record ignored: {error}",
                peer=self.peer,
                error=_masked(str(exc).encode("latin-1", "replace")).decode("latin-1"),
            )
            return
        log.debug("FIAS {peer} <- {frame!r}", peer=self.peer, frame=_masked(item))
        self.record_received(record)

    def record_received(self, record: Record) -> None:
        kind = record.record_type
        if kind in LINK_RECORDS:
            getattr(self, f"_link_{kind}")(record)
        elif self.state is not LinkState.ALIVE:
            log.info(
                "FIAS {peer}: {kind} before the link is alive: ignored", peer=self.peer, kind=kind
            )
        elif kind == "DR":
            self._resync()
        elif kind == "PR":
            self._posting_request(record)
        elif kind == "PS":
            self._posting_simple(record)
        else:
            log.info("FIAS {peer}: {kind} not handled by the simulator", peer=self.peer, kind=kind)

    # -- link records ---------------------------------------------------------------------

    def _link_LS(self, record: Record) -> None:  # noqa: N802 (wire names)
        if self.state is LinkState.ALIVE:
            self.send("LA", self._stamp())
        else:
            self.send("LS", self._stamp())

    def _link_LD(self, record: Record) -> None:  # noqa: N802
        self.describing = True
        self.link_records.clear()
        request_type = record.get("RT") or ""
        if request_type.isdigit() and int(request_type) > 0:
            self._link_configuration(int(request_type))

    def _link_LR(self, record: Record) -> None:  # noqa: N802
        link_record = LinkRecord.from_record(record)
        self.link_records[link_record.record_id] = tuple(link_record.field_ids)

    def _link_LA(self, record: Record) -> None:  # noqa: N802
        if self.state is LinkState.ALIVE and not self.describing:
            return  # IFC does not answer LA with LA while the link is alive
        self.describing = False
        self.send("LA", self._stamp())
        if self.state is not LinkState.ALIVE:
            self.state = LinkState.ALIVE
            log.info(
                "FIAS {peer}: link alive; LR for {records}",
                peer=self.peer,
                records=",".join(sorted(self.link_records)) or "nothing",
            )
            if self.factory.hotel.night_audit_running:
                self._night_audit(True)

    def _link_LE(self, record: Record) -> None:  # noqa: N802
        self.send("LE", self._stamp())
        log.info("FIAS {peer}: link end", peer=self.peer)
        self.close()

    def _link_configuration(self, request_type: int) -> None:
        fields: list[tuple[str, str]] = []
        if request_type & 1:
            fields.append(("RP", ",".join(self.factory.hotel.config.fias.room_payment_methods)))
        if request_type & 4:
            fields.append(("A1", "foliogate-sim"))
        fields.append(("PH", self.factory.hotel.config.fias.hotel_id))
        self.send("LC", fields)

    # -- resync and broadcasts ------------------------------------------------------------

    def _resync(self) -> None:
        self.send("DS", self._stamp())
        hotel = self.factory.hotel
        for reservation in hotel.in_house():
            assert reservation.room is not None
            shared = len(hotel.guests_in_room(reservation.room)) > 1
            self.send_guest_record(
                "GI", self._guest_fields(reservation, shared) + [("SF", "")], keep=("SF",)
            )
        self.send("DE", self._stamp())

    def _guest_fields(self, r: Reservation, shared: bool) -> list[tuple[str, str]]:
        assert r.room is not None
        return [
            ("RN", r.room),
            ("G#", str(r.confirmation_number)),
            ("GS", _yn(shared)),
            ("GN", r.guest_name),
            ("GA", fias_date(r.arrival)),
            ("GD", fias_date(r.departure)),
            ("NP", _yn(r.no_post)),
            *self._stamp(),
        ]

    def hotel_event(self, event: HotelEvent) -> None:
        if isinstance(event, HotelReset):
            self.inquired.clear()
            self.inquired_accounts.clear()
        if self.state is not LinkState.ALIVE:
            return
        if isinstance(event, HotelReset) and self.night_audit_announced:
            self._night_audit(False)  # a reset ends the audit; do not leave the client holding
        if isinstance(event, GuestCheckedIn):
            self.send_guest_record("GI", self._guest_fields(event.reservation, event.shared))
        elif isinstance(event, GuestCheckedOut):
            r = event.reservation
            assert r.room is not None
            self.send_guest_record(
                "GO",
                [
                    ("RN", r.room),
                    ("G#", str(r.confirmation_number)),
                    ("GS", _yn(event.shared)),
                    *self._stamp(),
                ],
            )
        elif isinstance(event, GuestMoved):
            r = event.reservation
            assert r.room is not None
            fields = self._guest_fields(r, event.shared)
            # On a move each GS follows the room it describes: RN..GS, then RO..GS.
            self.send_guest_record(
                "GC",
                [("RN", r.room), ("GS", _yn(event.shared))]
                + [f for f in fields if f[0] not in ("RN", "GS")]
                + [("RO", event.old_room), ("GS", _yn(event.old_room_shared))],
            )
        elif isinstance(event, NightAuditStarted):
            self._night_audit(True)
        elif isinstance(event, NightAuditEnded):
            self._night_audit(False)

    def _night_audit(self, running: bool) -> None:
        self.night_audit_announced = running
        self.send("NS" if running else "NE", self._stamp())

    def send_guest_record(
        self, record_type: str, fields: list[tuple[str, str]], keep: Iterable[str] = ()
    ) -> None:
        """Send GI/GO/GC with only the fields the client's LR asked for (no LR: nothing)."""
        wanted = self.link_records.get(record_type)
        if wanted is None:
            return
        allowed = set(wanted) | set(keep)
        self.send(record_type, [(fid, value) for fid, value in fields if fid in allowed])

    # -- postings -------------------------------------------------------------------------

    def _posting_request(self, record: Record) -> None:
        echo = _echo(record, ("SO", "WS", "ID"))
        p_no = record.get("P#")
        is_inquiry = (
            not record.get("G#") and record.get("PI") is not None and record.get("TA") is None
        )
        if is_inquiry:
            self.answer(self._inquiry(record, echo))
            return
        forced = self.factory.knobs.take_reject()
        answer_echo = echo + _echo(record, ("RN", "G#", "GN"))
        if forced:
            self.answer(
                self._posting_answer(
                    answer_echo, record, forced, f"fault injection: answering {forced}"
                ),
                posting=True,
            )
            return
        hotel = self.factory.hotel
        pm = record.get("PM") or ""
        if hotel.config.fias.payment_methods.get(pm) == ROOM and not self._was_inquired(record):
            text = (
                f"no inquiry returned G#{record.get('G#')}; inquire first"
                if record.get("G#")
                else "room posting needs the G# an inquiry returned"
            )
            if hotel.config.fias.unqueried_posting is UnqueriedPosting.IGNORE:
                log.info("FIAS {peer}: PR P#{p} ignored: {text}", peer=self.peer, p=p_no, text=text)
                return
            self.answer(self._posting_answer(answer_echo, record, Status.UR, text), posting=True)
            return
        account = record.get("RN") or ""
        if record.get("G#") == "0" and account not in self.inquired_accounts:
            # An A/R posting (RN = account, G#0) follows an inquiry like a room posting.
            text = f"A/R account {account} not inquired; inquire first"
            if hotel.config.fias.unqueried_posting is UnqueriedPosting.IGNORE:
                log.info("FIAS {peer}: PR P#{p} ignored: {text}", peer=self.peer, p=p_no, text=text)
                return
            self.answer(self._posting_answer(answer_echo, record, Status.UR, text), posting=True)
            return
        outcome = self._post(record, source=f"FIAS PR P#{p_no} WS{record.get('WS') or ''}")
        if outcome.ok and not record.get("RN") and outcome.reservation is not None:
            answer_echo = [("RN", outcome.reservation.room or "")] + answer_echo
        self.answer(
            self._posting_answer(
                answer_echo, record, outcome.status, None if outcome.ok else outcome.text
            ),
            posting=True,
        )

    def _was_inquired(self, record: Record) -> bool:
        number = record.get("G#") or ""
        return number.isdigit() and int(number) in self.inquired

    def _inquiry(self, record: Record, echo: list[tuple[str, str]]) -> tuple[str, list]:
        hotel = self.factory.hotel
        pm = record.get("PM") or ""
        target = hotel.config.fias.payment_methods.get(pm)
        if target is None:
            return self._posting_answer(
                echo, record, Status.UR, f"unknown payment method PM {pm!r}"
            )
        text = record.get("PI") or ""
        if target != ROOM:
            if text not in hotel.accounts.numbers():
                return self._posting_answer(
                    echo, record, Status.UR, f"PM {pm}: no room PM, no A/R account {text}"
                )
            return self._account_list(record, echo, text)
        max_matches = record.get("MX") or ""
        guests = hotel.inquire(text, int(max_matches) if max_matches.isdigit() else None)
        if not guests:
            return self._posting_answer(
                echo, record, Status.NG, f"no guest in house matches PI {text}"
            )
        fields = list(echo)
        # Stay dates only for a client whose LR for PL asked for them (reference section 10).
        wanted = set(self.link_records.get("PL", ()))
        for guest in guests:
            assert guest.room is not None
            self.inquired.add(guest.confirmation_number)
            fields += [
                ("RN", guest.room),
                ("G#", str(guest.confirmation_number)),
                ("GN", guest.guest_name),
                ("BA", str(hotel.balance(guest.confirmation_number))),
            ]
            fields += [
                (fid, fias_date(day))
                for fid, day in (("GA", guest.arrival), ("GD", guest.departure))
                if fid in wanted
            ]
        fields += _echo(record, ("P#",))
        return "PL", fields

    def _account_list(
        self, record: Record, echo: list[tuple[str, str]], number: str
    ) -> tuple[str, list]:
        """An A/R inquiry (PI = the account number, a payment-type PM): PL with the account as
        ``RN`` and ``G#0`` (reference section 3.4), its name and what it owes as ``BA``."""
        accounts = self.factory.hotel.accounts
        account = accounts.account(number)
        self.inquired_accounts.add(number)
        fields = list(echo) + [
            ("RN", number),
            ("G#", "0"),
            ("GN", account.name),
            ("BA", str(accounts.balance(number))),
        ]
        return "PL", fields + _echo(record, ("P#",))

    def _posting_simple(self, record: Record) -> None:
        p_no = record.get("P#") or "(none)"  # P# is only recommended in PS
        echo = _echo(record, ("RN",))
        if self.outstanding_ps is not None:
            self.answer(
                self._simple_answer(
                    echo,
                    record,
                    "RY",
                    f"PS P#{self.outstanding_ps} still outstanding; wait for its PA",
                )
            )
            return
        forced = self.factory.knobs.take_reject()
        if forced:
            self.answer(
                self._simple_answer(echo, record, forced, f"fault injection: answering {forced}"),
                ps=p_no,
            )
            return
        posting_type = record.get("PT")
        if posting_type != "C":
            self.answer(
                self._simple_answer(
                    echo,
                    record,
                    Status.UR,
                    f"PT{posting_type} not supported; send PTC with TA",
                ),
                ps=p_no,
            )
            return
        outcome = self._post(record, source=f"FIAS PS P#{p_no}")
        self.answer(
            self._simple_answer(echo, record, outcome.status, None if outcome.ok else outcome.text),
            ps=p_no,
        )

    def _post(self, record: Record, source: str) -> PostingOutcome:
        """Book a PR/PS posting through the ledger (UR for a missing or bad amount)."""
        hotel = self.factory.hotel
        pm = record.get("PM") or hotel.config.fias.room_payment_methods[0]
        total = _amount(record.get("TA"))
        if total is None:
            return PostingOutcome(Status.UR, "TA missing or not a whole amount in minor units")
        components: list[int] = []
        for field_id in COMPONENT_FIELDS:
            for raw in record.get_all(field_id):
                value = _amount(raw)
                if value is None:
                    return PostingOutcome(Status.UR, f"{field_id}{raw} is not a whole amount")
                components.append(value)
        so = record.get("SO") or ""
        if so and not so.isdigit():
            return PostingOutcome(Status.UR, f"unknown sales outlet SO {so}")
        g_no = record.get("G#") or ""
        account = (record.get("RN") or None) if g_no == "0" else None
        posting = FolioPosting(
            payment_method=pm,
            total_amount=total,
            sales_outlet=int(so) if so.isdigit() else None,
            confirmation_number=int(g_no) if g_no.isdigit() and int(g_no) else None,
            room=record.get("RN") or None,
            components=tuple(components),
            reference=record.get("CT") or record.get("X1") or record.get("C#") or "",
            source=source,
            account=account,
            # The gateway names the invoices an A/R payment pays in CT, comma-separated.
            invoices=invoice_ids_from_text(record.get("CT") or "") if account else (),
        )
        outcome = hotel.post(posting)
        log.info(
            "FIAS {peer}: {source} PM {pm} TA {ta} -> {status} {text}",
            peer=self.peer,
            source=source,
            pm=pm,
            ta=total,
            status=outcome.status.value,
            text=outcome.text,
        )
        return outcome

    def _posting_answer(
        self, echo: list[tuple[str, str]], record: Record, status: str, text: str | None
    ) -> tuple[str, list]:
        fields = list(echo) + [("AS", str(status))]
        if text:
            fields.append(("CT", text[:50]))
        fields += self._request_stamp(record) + _echo(record, ("P#",))
        return "PA", fields

    def _simple_answer(
        self, echo: list[tuple[str, str]], record: Record, status: str, text: str | None
    ) -> tuple[str, list]:
        fields = list(echo) + [("AS", str(status))] + _echo(record, ("P#",))
        fields += self._request_stamp(record)
        if text:
            fields.append(("CT", text[:50]))
        return "PA", fields

    def _request_stamp(self, record: Record) -> list[tuple[str, str]]:
        """DA/TI echoed from the request (the spec's answers do), else the time now."""
        stamp = dict(self._stamp())
        return [("DA", record.get("DA") or stamp["DA"]), ("TI", record.get("TI") or stamp["TI"])]

    # -- sending --------------------------------------------------------------------------

    def answer(
        self,
        answer: tuple[str, list[tuple[str, str]]],
        ps: str | None = None,
        posting: bool = False,
    ) -> None:
        """Send a PA/PL through the fault knobs: dropped, delayed or at once.

        ``posting`` marks the answer to a posting ``PR`` (not an inquiry), which the
        ``drop_posting_answers`` knob may drop."""
        record_type, fields = answer
        knobs = self.factory.knobs
        if knobs.take_drop():
            log.info(
                "FIAS {peer}: fault drop_answers: {kind} not sent", peer=self.peer, kind=record_type
            )
            return
        if posting and knobs.take_posting_drop():
            log.info(
                "FIAS {peer}: fault drop_posting_answers: {kind} for P#{p} not sent",
                peer=self.peer,
                kind=record_type,
                p=dict(fields).get("P#"),
            )
            return
        delay_ms = knobs.current.delay_ms
        if not delay_ms:
            self.send(record_type, fields)
            return
        if ps is not None:
            self.outstanding_ps = ps

        def deliver() -> None:
            self._delayed.remove(call)
            if ps is not None:
                self.outstanding_ps = None
            if self.state is not LinkState.CLOSED:
                self.send(record_type, fields)

        call = self.factory.clock.callLater(delay_ms / 1000, deliver)
        self._delayed.append(call)

    def send(self, record_type: str, fields: Iterable[tuple[str, str]]) -> None:
        if self.state is LinkState.CLOSED:
            return
        record = Record(record_type, tuple(fields))
        try:
            frame = encode_record(record, self.factory.encoding)
        except FiasEncodeError as exc:
            log.error(
                "FIAS {peer}: cannot encode {kind}: {error}",
                peer=self.peer,
                kind=record_type,
                error=str(exc),
            )
            return
        log.debug("FIAS {peer} -> {frame!r}", peer=self.peer, frame=_masked(frame))
        self.records_sent += 1
        faults = self.factory.knobs.current
        if faults.garbage:
            self.transport.write(faults.garbage.encode("latin-1"))
        size = faults.split_writes
        if size:
            for start in range(0, len(frame), size):
                self.transport.write(frame[start : start + size])
        else:
            self.transport.write(frame)

    def _stamp(self) -> list[tuple[str, str]]:
        now = self.factory.now()
        return [("DA", fias_date(now)), ("TI", fias_time(now))]


def _echo(record: Record, field_ids: Iterable[str]) -> list[tuple[str, str]]:
    """The request's own values of these fields, for those it carried."""
    return [(fid, value) for fid in field_ids if (value := record.get(fid)) is not None]


def _amount(raw: str | None) -> int | None:
    if raw is None:
        return None
    digits = raw[1:] if raw.startswith("-") else raw
    return int(raw) if digits.isdigit() else None


class FiasPmsFactory(Factory):
    """The IFC: one hotel, one live link at a time, fault knobs, an injected clock."""

    protocol = FiasPmsProtocol
    noisy = False

    def __init__(
        self,
        hotel: Hotel,
        knobs: FaultKnobs,
        clock: IReactorTime,
        now: Callable[[], dt.datetime] | None = None,
        records_per_turn: int | None = None,
    ) -> None:
        self.hotel = hotel
        self.knobs = knobs
        self.clock = clock
        #: Records answered per reactor turn (see FiasPmsProtocol._handle_some); None: all.
        self.records_per_turn = records_per_turn
        self.now = now or (lambda: dt.datetime.fromtimestamp(clock.seconds()))
        self.encoding = hotel.config.fias.encoding
        self.current: FiasPmsProtocol | None = None
        self.connections = 0
        self._unsubscribe = hotel.subscribe(self._hotel_event)

    def buildProtocol(self, addr: Any) -> FiasPmsProtocol:
        protocol = self.protocol()
        protocol.factory = self
        return protocol

    def link_connected(self, protocol: FiasPmsProtocol) -> bool:
        """A client connected: replace the current link, or refuse the newcomer."""
        old = self.current
        if old is not None and old.state is not LinkState.CLOSED:
            if not self.hotel.config.fias.replace_connections:
                return False
            log.info("FIAS {peer}: replaced by a new connection", peer=old.peer)
            old.state = LinkState.CLOSED
            old.transport.abortConnection()
        self.current = protocol
        self.connections += 1
        return True

    def link_lost(self, protocol: FiasPmsProtocol) -> None:
        if self.current is protocol:
            self.current = None
            log.info("FIAS {peer}: link down", peer=protocol.peer)

    def _hotel_event(self, event: HotelEvent) -> None:
        if self.current is not None:
            self.current.hotel_event(event)

    def link_status(self) -> dict[str, Any]:
        link = self.current
        if link is None:
            return {"state": "down", "connections": self.connections}
        return {
            "state": link.state.value,
            "peer": link.peer,
            "connections": self.connections,
            "records_received": link.records_received,
            "records_sent": link.records_sent,
            "link_records": sorted(link.link_records),
        }

    def disconnect(self) -> None:
        """Drop the current link (simulator shutdown)."""
        if self.current is not None:
            self.current.state = LinkState.CLOSED
            self.current.transport.abortConnection()

    def stop(self) -> None:
        self._unsubscribe()
        self.disconnect()
