"""Postings over a FIAS link: inquiry ``PR`` -> ``PL`` -> posting ``PR`` -> ``PA``, one at a time.

The :class:`PostingQueue` runs the posting conversation of reference/fias.md section 3 for the
link client in :mod:`adapters.fias_link`. It knows nothing of sockets, the journal or the
configuration: the link gives it a :class:`PostingChannel` (can we post now? which room is this
guest in? write this record) and feeds it every ``PL``/``PA`` and every connection loss.

Rules it keeps (issue 3 section 5, DESIGN section 5):

- Calls are queued in order and, by default, run one at a time. With ``pipeline=N`` up to N
  conversations run at once: their inquiries overlap (the PMS matches each by ``P#``, which
  FIAS provides so that a client can have several requests out, reference/fias.md section 3.1).
  Postings take a *lane*: ``posting_lanes`` (default 1) postings may await their ``PA`` at
  once. With one lane a posting ``PR`` is written only after the previous posting's ``PA`` (or
  its end as unknown), the cautious choice for a PMS interface not yet certified; more lanes
  trade that for throughput (every ``PA`` is still matched by ``P#``; if the link drops, every
  posting in a lane ends unknown). FIAS allows only one outstanding ``PS``; we post with ``PR``.
  The next posting's ``on_posting_written`` is called before the answered one's outcome is
  delivered, so a journal can commit both together.
- The inquiry and the posting each take a new ``P#`` from the injected
  ``next_posting_number()``; a ``P#`` is never reused.
- The guest is picked from the ``PL`` by ``G#`` (the confirmation number), never by room: sharers
  share a room.
- Every ``PL``/``PA`` is matched by ``P#``, never by room.
- Nothing on the wire for the posting yet (link down, not alive, resync, night audit, no answer to
  the inquiry) -> ``NOT_SENT``. The posting ``PR`` written but no ``PA`` (timeout, connection
  lost) -> ``UNKNOWN``; the queue never re-sends it.

A/R accounts (issue 5 section 2; reference section 3.4: "for A/R accounts, RN is the A/R account
number and ``G#0``"). The spec exempts only fixed-account tenders from the inquiry ("anything
other than room or A/R"), so an A/R posting follows an inquiry too: ``PI`` = the account number
with the payment's own ``PM``; the ``PL`` must list ``RN<account>|G#0``; the posting ``PR``
carries ``RN<account>|G#0|GN<name from the PL>`` and, in ``CT``, the invoices it pays. An
account the PMS does not list is a terminal rejection (``REJECTED``), not a guest to wait for.

Name searches (issue 5 section 1, :meth:`PostingQueue.search_guests`): an inquiry with ``PI`` =
the start of a name; the ``PL``'s guests are the answer (``()`` for ``NG``; None when the PMS
could not be asked). They queue with the postings, one conversation at a time.
"""

from __future__ import annotations

import collections
import datetime as dt
import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from protocols.fias import (
    PostingAnswer,
    PostingList,
    PostingListGuest,
    PostingRequest,
    RetryClass,
    answer_status,
)

log = Logger()

#: P# is N max 8, > 0 (reference/fias.md section 3.1).
MAX_POSTING_NUMBER = 99_999_999

#: How many timed-out or cut-off postings to remember, so a late PA can still be tied to its leg.
LATE_ANSWER_MEMORY = 1024

#: The PostingRequest attributes of the inquiry PR and of the posting PR, in the order the
#: queue passes their values to the link's encoders (every other attribute stays unset).
_INQUIRY_FIELDS = (
    "posting_number", "inquiry", "payment_method", "workstation", "sales_outlet", "user_id",
    "date", "time",
)  # fmt: skip
_POSTING_FIELDS = (
    "posting_number", "room", "reservation_number", "guest_name", "sales_outlet",
    "payment_method", "total_amount", "date", "time", "workstation", "user_id", "clear_text",
)  # fmt: skip
#: DA/TI of the posting PR :meth:`PostingQueue.validate` encodes (any valid values do).
_VALIDATE_DATE = dt.date(2000, 1, 1)
_VALIDATE_TIME = dt.time(0, 0)


class PostingResult(StrEnum):
    """What happened to one :meth:`PostingQueue.post` call (DESIGN section 5 classes)."""

    POSTED = "posted"  # PA with AS OK: the PMS posted it
    NOT_IN_HOUSE = "not_in_house"  # deferred: no such guest in house (no room, PL without G#, NG)
    RETRYABLE = "retryable"  # PA RY (or another status the codec classes as retryable)
    NIGHT_AUDIT = "night_audit"  # PA NA: hold until NE
    REJECTED = "rejected"  # terminal PA status (UR, NP, DM, ...): exception queue with CT
    NOT_SENT = "not_sent"  # retryable: the posting PR never went on the wire
    UNKNOWN = "unknown"  # posting PR written, no PA: never re-sent; exception queue


@dataclass(frozen=True)
class LinkPosting:
    """One posting leg as the FIAS link sends it (one posting ``PR``).

    ``room`` may be ``None``: the link then looks the guest up in its in-house table (filled from
    ``GI``/``GC``); a guest it has not seen checked in is ``NOT_IN_HOUSE`` without any wire
    traffic. ``workstation``/``user_id`` default to the link's own.
    """

    leg_reference: str  # for the wire log and the hooks; never sent to the PMS
    reservation_number: int  # G#: the confirmation number
    payment_method: str  # PM, e.g. "ROOM" or "OJ"
    total_amount: int  # TA, signed minor units
    room: str | None = None
    sales_outlet: int | None = None  # SO
    workstation: str | None = None  # WS
    user_id: str | None = None  # ID
    clear_text: str | None = None  # CT on the posting PR (shown on the folio), max 20
    #: An A/R account number: post to the account (RN, G#0) instead of a guest's folio;
    #: ``reservation_number`` is then 0.
    account: str | None = None


@dataclass(frozen=True)
class PostingOutcome:
    """The result of one posting, with everything the journal needs to record it."""

    result: PostingResult
    leg_reference: str
    #: P# of the posting PR; None when no posting PR was written (then nothing was posted).
    posting_number: int | None = None
    #: P# of the inquiry PR, if one was written.
    inquiry_number: int | None = None
    answer_status: str | None = None  # the PMS's AS code, e.g. "OK", "RY", "NG"
    clear_text: str | None = None  # the PMS's CT text
    answer: PostingAnswer | None = None  # the PMS's whole answer, kept for POSTED and rejections
    room: str | None = None
    guest_name: str | None = None  # GN from the PL
    reason: str = ""  # a human sentence: why this result

    @property
    def sent(self) -> bool:
        """True when the posting PR went on the wire (then only a PA can say what happened)."""
        return self.posting_number is not None


class PostingChannel(Protocol):
    """What the posting queue needs from the link (implemented by ``FiasLink``)."""

    def can_post(self) -> bool:
        """Alive, not between DS and DE, not between NS and NE."""

    def room_of(self, reservation_number: int) -> str | None:
        """The room of an in-house guest, from GI/GO/GC."""

    def send(self, message: Any, leg_reference: str | None) -> bool:
        """Write one record; False when there is no connection to write on."""

    def check_encodable(self, message: Any) -> None:
        """Raise the codec's encode error if ``message`` cannot go on the wire."""

    def message_encoder(self, cls: type[Any], attrs: tuple[str, ...]) -> Callable[..., bytes]:
        """``protocols.fias.message_encoder(cls, attrs)`` in the link's code page."""

    def send_encoded(
        self, encoder: Callable[..., bytes], values: tuple[Any, ...], leg_reference: str | None
    ) -> bool:
        """``send(cls(**dict(zip(attrs, values))), leg_reference)`` for an ``encoder`` from
        :meth:`message_encoder`: the same frame, without building the message."""


class _Stage(StrEnum):
    QUEUED = "queued"
    INQUIRY = "inquiry"  # inquiry PR written, waiting for PL or PA
    READY = "ready"  # the PL named the guest; waiting for the posting lane
    WRITING = "writing"  # on_posting_written called, waiting for it to finish
    POSTING = "posting"  # posting PR written, waiting for PA
    DONE = "done"


@dataclass(eq=False, slots=True)  # a job is itself: matched by identity, never by value
class _Job:
    reservation_number: int
    room: str | None
    deferred: Deferred[Any]
    request: LinkPosting | None = None  # None: a balance inquiry
    payment_method: str = "ROOM"  # PM of the inquiry: a room PM
    stage: _Stage = _Stage.QUEUED
    inquiry_number: int | None = None
    posting_number: int | None = None
    guest_room: str | None = None
    guest_name: str | None = None
    #: The arming (see :meth:`PostingQueue._arm`) of the answer timeout running; 0: none.
    armed: int = field(default=0, repr=False)
    account: str | None = None  # an A/R account: inquire and post by account number, G#0
    search_text: str | None = None  # a name search: the PL's guests are the answer
    order: int = field(default=0, repr=False)  # when it started (the order of _active)

    @property
    def leg_reference(self) -> str | None:
        return self.request.leg_reference if self.request is not None else None


def result_for_status(code: str) -> PostingResult:
    """Map a PA answer status to a result. Only OK means posted."""
    if code == "OK":
        return PostingResult.POSTED
    retry_class = answer_status(code).retry_class
    if retry_class is RetryClass.RETRYABLE:
        return PostingResult.RETRYABLE
    if retry_class is RetryClass.WAIT_NIGHT_AUDIT:
        return PostingResult.NIGHT_AUDIT
    return PostingResult.REJECTED


class PostingQueue:
    """Runs postings and balance inquiries over one FIAS link, in order: ``pipeline``
    conversations at once (default 1), ``posting_lanes`` postings awaiting their PA at once
    (default 1)."""

    def __init__(
        self,
        channel: PostingChannel,
        *,
        clock: IReactorTime,
        now: Callable[[], dt.datetime],
        next_posting_number: Callable[[], int],
        workstation: str,
        user_id: str | None = None,
        room_payment_method: str = "ROOM",
        answer_timeout: float = 60.0,
        on_posting_written: Callable[[str, int], object] | None = None,
        on_late_answer: Callable[[str, int, PostingAnswer], object] | None = None,
        pipeline: int = 1,
        posting_lanes: int = 1,
    ) -> None:
        if pipeline < 1:
            raise ValueError("pipeline must be at least 1")
        if posting_lanes < 1:
            raise ValueError("posting_lanes must be at least 1")
        self._pipeline = pipeline
        self._posting_lanes = posting_lanes
        self._channel = channel
        self._clock = clock
        self._now = now
        self._next_posting_number = next_posting_number
        self._workstation = workstation
        self._user_id = user_id
        self._room_payment_method = room_payment_method
        self._answer_timeout = answer_timeout
        self._on_posting_written = on_posting_written
        self._on_late_answer = on_late_answer
        self._queue: collections.deque[_Job] = collections.deque()
        #: Jobs in conversation (inquiry out, ready, posting), in the order they started.
        self._active: list[_Job] = []
        #: The jobs whose postings are being written or answered (``posting_lanes`` at most).
        self._lanes: list[_Job] = []
        self._pumping = False
        self._pump_again = False
        self._started = 0  # jobs started so far
        self._closed = False
        # P# -> leg reference of postings that ended UNKNOWN, for late PAs.
        self._late: collections.OrderedDict[int, str] = collections.OrderedDict()
        self._idle_waiters: list[Deferred[None]] = []
        # The inquiry and posting PR, encoded from their values (no PostingRequest built).
        self._encode_inquiry = channel.message_encoder(PostingRequest, _INQUIRY_FIELDS)
        self._encode_posting = channel.message_encoder(PostingRequest, _POSTING_FIELDS)
        #: P# (inquiry and posting) -> its job, for every job in :attr:`_active` that has one.
        self._numbers: dict[int, _Job] = {}
        #: The jobs at stage READY, in the order of :attr:`_active`.
        self._ready: list[_Job] = []
        # Answer timeouts: one DelayedCall for the earliest deadline instead of one per
        # exchange (see _arm). Entries: (deadline, arming, job); stale ones are skipped.
        self._deadlines: list[tuple[float, int, _Job]] = []
        self._armed = 0  # jobs whose timeout runs
        self._armings = 0  # armings so far (the last one's number)
        self._expiry: IDelayedCall | None = None
        self._expiry_at = 0.0
        #: The wall-clock second :meth:`_stamp` last read (microsecond 0) and its DA/TI.
        self._stamp_second: dt.datetime | None = None
        self._stamp_value: tuple[dt.date, dt.time] = (dt.date.min, dt.time.min)

    # -- public ----------------------------------------------------------------------------

    def post(self, request: LinkPosting) -> Deferred[PostingOutcome]:
        """Queue one posting; the Deferred fires with its :class:`PostingOutcome`."""
        if isinstance(request.total_amount, bool) or not isinstance(request.total_amount, int):
            raise TypeError("total_amount must be an int in minor units")
        if request.account is not None:
            if not request.account or request.reservation_number != 0:
                raise ValueError("an A/R posting names its account and reservation_number 0")
            # The A/R inquiry carries the payment's own PM: the PMS books A/R by that tender.
            job = _Job(0, request.account, Deferred(self._cancel), request)
            job.account = request.account
            job.payment_method = request.payment_method
            return self._enqueue(job)
        if request.reservation_number <= 0:
            raise ValueError("reservation_number must be a positive int (FIAS G#)")
        # The inquiry always carries the room PM: a PMS only inquires for room postings (a tender
        # PM posts to a fixed account and takes no inquiry). The posting carries the leg's PM.
        job = _Job(request.reservation_number, request.room, Deferred(self._cancel), request)
        job.payment_method = self._room_payment_method
        return self._enqueue(job)

    def validate(self, request: LinkPosting) -> None:
        """Raise at once if the posting PR for ``request`` could never be encoded."""
        self._encode_posting(  # _POSTING_FIELDS
            1,
            request.room or request.account or "1",
            request.reservation_number,
            "x",
            request.sales_outlet,
            request.payment_method,
            request.total_amount,
            _VALIDATE_DATE,
            _VALIDATE_TIME,
            self._workstation_of(request),
            self._user_id_of(request),
            request.clear_text,
        )

    def inquire_balance(
        self, reservation_number: int, room: str | None, payment_method: str | None = None
    ) -> Deferred[int | None]:
        """Inquire and return the PL's balance (BA, minor units) for that guest, or None
        (not in house, no BA, link not usable, no answer)."""
        job = _Job(reservation_number, room, Deferred(self._cancel))
        job.payment_method = payment_method or self._room_payment_method
        return self._enqueue(job)

    def inquire_account_balance(self, account: str, payment_method: str) -> Deferred[int | None]:
        """Inquire an A/R account (``PI`` = the number) and return what the PL says it owes
        (BA, minor units), or None."""
        job = _Job(0, account, Deferred(self._cancel))
        job.account = account
        job.payment_method = payment_method
        return self._enqueue(job)

    def search_guests(self, text: str) -> Deferred[tuple[PostingListGuest, ...] | None]:
        """Inquire by the start of a name (``PI``, at most 10 characters): the in-house guests
        the PMS lists, ``()`` when it answers ``NG``, None when it could not be asked now."""
        if not 1 <= len(text) <= 10:
            raise ValueError("a FIAS name inquiry (PI) is 1 to 10 characters")
        job = _Job(0, None, Deferred(self._cancel))
        job.search_text = text
        job.payment_method = self._room_payment_method
        return self._enqueue(job)

    def close(self) -> Deferred[None]:
        """Refuse new work (NOT_SENT), drop what is queued, and fire when the job in flight ends."""
        self._closed = True
        while self._queue:
            self._resolve_not_started(self._queue.popleft(), "the link is shutting down")
        return self.when_idle()

    def reopen(self) -> None:
        self._closed = False

    def when_idle(self) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        if not self._active and not self._queue:
            d.callback(None)
        else:
            self._idle_waiters.append(d)
        return d

    def reference_for(self, posting_number: int | None) -> str | None:
        """The leg reference a P# belongs to (for the wire log), if known."""
        if posting_number is None:
            return None
        job = self._numbers.get(posting_number)
        if job is not None:
            return job.leg_reference
        return self._late.get(posting_number)

    # -- events from the link ---------------------------------------------------------------

    def answer_received(self, message: PostingList | PostingAnswer) -> None:
        """A PL or PA arrived: match it to the job in flight by P#."""
        number = message.posting_number
        job = self._numbers.get(number) if number is not None else None
        if job is not None and not (
            (job.stage is _Stage.INQUIRY and number == job.inquiry_number)
            or (job.stage is _Stage.POSTING and number == job.posting_number)
        ):
            job = None
        if job is not None and job.stage is _Stage.INQUIRY:
            try:
                self._inquiry_answered(job, message)
            except Exception:
                # e.g. the PMS's guest name cannot be re-encoded: nothing was written for the
                # posting unless the stage says so; the caller sees the error.
                self._fail(job, Failure())
        elif job is not None:  # the posting's P#
            if isinstance(message, PostingAnswer):
                self._posting_answered(job, message)
            else:
                log.warn(
                    "PL for posting P#{posting_number} ignored; waiting for its PA",
                    posting_number=number,
                )
        elif number is not None and number in self._late and isinstance(message, PostingAnswer):
            reference = self._late[number]
            log.warn(
                "late PA for P#{posting_number} (leg {leg_reference}, reported unknown): "
                "AS {answer_status}",
                posting_number=number,
                leg_reference=reference,
                answer_status=message.answer_status,
            )
            if self._on_late_answer is not None:
                _call_hook(self._on_late_answer, reference, number, message)
        else:
            log.warn(
                "unmatched {record} P#{posting_number} ignored (never matched by room)",
                record=type(message).__name__,
                posting_number=number,
            )

    def connection_lost(self) -> None:
        """The connection went away: the jobs in conversation end now."""
        for job in list(self._active):
            if job.stage in (_Stage.INQUIRY, _Stage.READY):
                self._finish_not_sent(
                    job, "the connection was lost before the posting was written"
                )
            elif job.stage is _Stage.POSTING:
                self._finish_unknown(job, "the connection was lost after the posting was written")
            # WRITING re-checks the link once the hook is done.

    # -- the conversation -------------------------------------------------------------------

    def _enqueue(self, job: _Job) -> Deferred[Any]:
        if self._closed:
            self._resolve_not_started(job, "the link is shutting down")
            return job.deferred
        self._queue.append(job)
        self._pump()
        return job.deferred

    def _cancel(self, d: Deferred[Any]) -> None:
        # Only a queued call can be withdrawn; once on the wire it runs to its outcome.
        for job in self._queue:
            if job.deferred is d:
                self._queue.remove(job)
                return

    def _pump(self) -> None:
        """Give a free posting lane to the first ready job, and start queued jobs while fewer
        than ``pipeline`` are in conversation."""
        if self._pumping:
            self._pump_again = True
            return
        self._pumping = True
        try:
            while True:
                self._pump_again = False
                if self._ready and len(self._lanes) < self._posting_lanes:
                    # The first ready job in the order of _active: _ready keeps that order.
                    ready = self._ready.pop(0)
                    self._lanes.append(ready)
                    try:
                        self._begin_posting(ready)
                    except Exception:
                        self._fail(ready, Failure())
                    continue
                if self._queue and len(self._active) < self._pipeline:
                    job = self._queue.popleft()
                    self._active.append(job)
                    job.order = self._started = self._started + 1
                    try:
                        self._start(job)
                    except Exception:
                        self._fail(job, Failure())
                    continue
                if not self._pump_again:
                    break
        finally:
            self._pumping = False
        if not self._active and not self._queue:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                waiter.callback(None)

    def _start(self, job: _Job) -> None:
        if not self._channel.can_post():
            self._finish_not_sent(job, "the link is not alive, or the PMS is in resync or audit")
            return
        if job.search_text is not None or job.account is not None:
            room: str | None = job.search_text or job.account  # what PI carries
        else:
            room = job.room or self._channel.room_of(job.reservation_number)
        if room is None:
            self._finish_not_in_house(job, None, "the guest is not in house (no GI seen)")
            return
        if job.search_text is None:
            job.room = room  # the room we inquire: the outcome names it even if the PMS answers NG
        request = job.request
        job.inquiry_number = number = self._take_posting_number()
        self._numbers[number] = job
        date, time = self._stamp()
        inquiry = (  # _INQUIRY_FIELDS
            number,
            room,
            job.payment_method,
            self._workstation_of(request),
            request.sales_outlet if request is not None else None,
            self._user_id_of(request),
            date,
            time,
        )
        job.stage = _Stage.INQUIRY
        self._arm(job)
        if not self._channel.send_encoded(self._encode_inquiry, inquiry, job.leg_reference):
            self._finish_not_sent(job, "no connection to write the inquiry on")

    def _inquiry_answered(self, job: _Job, message: PostingList | PostingAnswer) -> None:
        self._disarm(job)
        if job.search_text is not None:
            if isinstance(message, PostingList):
                self._finish(job, tuple(message.guests))
            else:  # NG: nobody by that name; anything else: the PMS could not answer it
                self._finish(job, () if message.answer_status == "NG" else None)
            return
        if job.account is not None and not _lists_account(message, job.account):
            if job.request is None:
                self._finish(job, None)
                return
            status = message.answer_status if isinstance(message, PostingAnswer) else None
            if status is not None and status not in ("NG", "OK", "UR"):
                result = result_for_status(status)  # RY, NA...: the usual classes
            else:
                result = PostingResult.REJECTED
            self._finish(
                job,
                self._outcome(
                    job,
                    result,
                    f"the PMS does not list A/R account {job.account}"
                    + (f" (AS {status})" if status else ""),
                    message if isinstance(message, PostingAnswer) else None,
                ),
            )
            return
        if isinstance(message, PostingAnswer):
            code = message.answer_status
            if job.request is None:
                self._finish(job, None)
            elif code == "NG":
                self._finish_not_in_house(job, message, "the PMS found no such guest (AS NG)")
            elif code == "OK":
                # An inquiry answered by PA OK carries no guest list: nothing was posted.
                self._finish(
                    job,
                    self._outcome(
                        job,
                        PostingResult.REJECTED,
                        "the PMS answered the inquiry with PA OK and no guest list",
                        message,
                    ),
                )
            else:
                self._finish(
                    job,
                    self._outcome(
                        job,
                        result_for_status(code),
                        f"the PMS answered the inquiry with AS {code}",
                        message,
                    ),
                )
            return
        guest = next(
            (
                g
                for g in message.guests
                if g.reservation_number == job.reservation_number
                and (job.account is None or g.room == job.account)
            ),
            None,
        )
        if guest is None:
            if job.request is None:
                self._finish(job, None)
            else:
                self._finish_not_in_house(
                    job, None, f"the PL for the room does not list G#{job.reservation_number}"
                )
            return
        job.guest_room = guest.room
        job.guest_name = guest.guest_name
        if job.request is None:
            self._finish(job, _balance_of(message, guest))
            return
        job.stage = _Stage.READY  # the posting waits for a free lane
        ready = self._ready
        if ready and ready[-1].order > job.order:  # a later job's PL came first
            ready.insert(next(i for i, j in enumerate(ready) if j.order > job.order), job)
        else:
            ready.append(job)
        self._pump()

    def _begin_posting(self, job: _Job) -> None:
        """The lane is this job's: take the posting's P#, have it journaled, then write it."""
        assert job.request is not None
        if not self._channel.can_post():
            self._finish_not_sent(job, "the link left alive (or resync/audit began) after the PL")
            return
        job.posting_number = number = self._take_posting_number()
        self._numbers[number] = job
        job.stage = _Stage.WRITING
        if self._on_posting_written is None:
            self._write_posting(job)
            return
        written = maybeDeferred(
            self._on_posting_written, job.request.leg_reference, job.posting_number
        )
        written.addBoth(self._posting_journaled, job)

    def _posting_journaled(self, result: object, job: _Job) -> None:
        """``on_posting_written`` is done: write the posting, or end it unsent if it failed."""
        try:
            if isinstance(result, Failure):
                self._hook_failed(job, result)
            else:
                self._write_posting(job)
        except Exception:
            self._fail(job, Failure())

    def _hook_failed(self, job: _Job, failure: Failure) -> None:
        log.failure(
            "on_posting_written failed for {leg_reference}; posting not sent",
            failure,
            leg_reference=job.leg_reference,
        )
        self._forget_posting_number(job)  # consumed, never written, never reused
        self._finish_not_sent(job, f"on_posting_written failed: {failure.getErrorMessage()}")

    def _write_posting(self, job: _Job) -> None:
        request = job.request
        assert request is not None and job.posting_number is not None
        if not self._channel.can_post():
            self._forget_posting_number(job)
            self._finish_not_sent(job, "the link left alive (or resync/audit began) before sending")
            return
        date, time = self._stamp()
        posting = (  # _POSTING_FIELDS
            job.posting_number,
            job.guest_room,
            job.reservation_number,
            job.guest_name,
            request.sales_outlet,
            request.payment_method,
            request.total_amount,
            date,
            time,
            self._workstation_of(request),
            self._user_id_of(request),
            request.clear_text,
        )
        job.stage = _Stage.POSTING
        self._arm(job)
        if not self._channel.send_encoded(self._encode_posting, posting, job.leg_reference):
            self._forget_posting_number(job)
            self._finish_not_sent(job, "no connection to write the posting on")

    def _posting_answered(self, job: _Job, answer: PostingAnswer) -> None:
        code = answer.answer_status
        result = result_for_status(code)
        reason = f"the PMS answered AS {code}"
        self._finish(job, self._outcome(job, result, reason, answer))

    def _timed_out(self, job: _Job) -> None:
        if job not in self._active:
            return
        if job.stage is _Stage.INQUIRY:
            self._finish_not_sent(
                job, f"no answer to the inquiry within {self._answer_timeout:g} s"
            )
        elif job.stage is _Stage.POSTING:
            self._finish_unknown(job, f"no PA within {self._answer_timeout:g} s")

    # -- endings ----------------------------------------------------------------------------

    def _outcome(
        self, job: _Job, result: PostingResult, reason: str, answer: PostingAnswer | None = None
    ) -> PostingOutcome:
        assert job.request is not None
        return PostingOutcome(
            result=result,
            leg_reference=job.request.leg_reference,
            posting_number=job.posting_number,
            inquiry_number=job.inquiry_number,
            answer_status=answer.answer_status if answer is not None else None,
            clear_text=answer.clear_text if answer is not None else None,
            answer=answer,
            room=job.guest_room or job.room,
            guest_name=job.guest_name,
            reason=reason,
        )

    def _finish_not_sent(self, job: _Job, reason: str) -> None:
        # A balance inquiry (no request) just answers None.
        outcome = None
        if job.request is not None:
            outcome = self._outcome(job, PostingResult.NOT_SENT, reason)
        self._finish(job, outcome)

    def _finish_not_in_house(self, job: _Job, answer: PostingAnswer | None, reason: str) -> None:
        outcome = None
        if job.request is not None:
            outcome = self._outcome(job, PostingResult.NOT_IN_HOUSE, reason, answer)
        self._finish(job, outcome)

    def _finish_unknown(self, job: _Job, reason: str) -> None:
        assert job.request is not None and job.posting_number is not None
        self._late[job.posting_number] = job.request.leg_reference
        while len(self._late) > LATE_ANSWER_MEMORY:
            self._late.popitem(last=False)
        log.warn(
            "posting P#{posting_number} for {leg_reference} is UNKNOWN: {reason}; not re-sent",
            posting_number=job.posting_number,
            leg_reference=job.request.leg_reference,
            reason=reason,
        )
        self._finish(job, self._outcome(job, PostingResult.UNKNOWN, reason))

    def _resolve_not_started(self, job: _Job, reason: str) -> None:
        outcome = self._outcome(job, PostingResult.NOT_SENT, reason) if job.request else None
        if not job.deferred.called:
            job.deferred.callback(outcome)

    def _finish(self, job: _Job, value: object) -> None:
        self._end(job)
        if self._pipeline > 1:
            # The next posting first: its on_posting_written can then be committed together
            # with this job's outcome, which its caller journals when the Deferred fires.
            self._pump()
        if not job.deferred.called:
            job.deferred.callback(value)
        self._pump()

    def _end(self, job: _Job) -> None:
        self._disarm(job)
        if job.stage is _Stage.READY and job in self._ready:
            self._ready.remove(job)
        job.stage = _Stage.DONE
        numbers = self._numbers
        for number in (job.inquiry_number, job.posting_number):
            if number is not None and numbers.get(number) is job:
                del numbers[number]
        if job in self._active:
            self._active.remove(job)
        if job in self._lanes:
            self._lanes.remove(job)

    def _fail(self, job: _Job, failure: Failure) -> None:
        self._end(job)
        if not job.deferred.called:
            job.deferred.errback(failure)
        else:
            log.failure("posting job failed after it was answered", failure)
        self._pump()

    # -- helpers ----------------------------------------------------------------------------

    def _take_posting_number(self) -> int:
        number = self._next_posting_number()
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"next_posting_number() returned {number!r}, not an int")
        if not 1 <= number <= MAX_POSTING_NUMBER:
            raise ValueError(f"next_posting_number() returned {number}, outside 1..99999999")
        return number

    def _stamp(self) -> tuple[dt.date, dt.time]:
        """``DA`` and ``TI`` for a record written now: ``now()``'s date and its time to the
        second, the same objects again while ``now()`` stays in the same second (the codec
        then formats them once a second)."""
        now = self._now()
        second = self._stamp_second
        if (
            second is not None
            and now.__class__ is dt.datetime
            and now.tzinfo is second.tzinfo
            and not now.fold
            and _NO_TIME <= now - second < _ONE_SECOND
        ):
            return self._stamp_value
        value = self._stamp_value = (now.date(), _fias_time(now))
        if now.__class__ is dt.datetime and not now.fold:
            self._stamp_second = now - dt.timedelta(microseconds=now.microsecond)
        else:
            self._stamp_second = None
        return value

    def _forget_posting_number(self, job: _Job) -> None:
        """The posting's P# will not be written: no PA can be matched to it."""
        if job.posting_number is not None and self._numbers.get(job.posting_number) is job:
            del self._numbers[job.posting_number]
        job.posting_number = None

    # -- answer timeouts ----------------------------------------------------------------------
    #
    # Each exchange (inquiry PR, posting PR) has ``answer_timeout`` seconds for its answer.
    # Instead of a DelayedCall per exchange, created and cancelled within milliseconds, one
    # DelayedCall waits for the earliest deadline; an answered exchange only drops its entry
    # (lazily). The timeout fires at the same time as a DelayedCall of its own would.

    def _arm(self, job: _Job) -> None:
        """Start the answer timeout of ``job``'s exchange: :meth:`_timed_out` in
        ``answer_timeout`` seconds unless :meth:`_disarm` comes first."""
        self._disarm(job)
        self._armings += 1
        job.armed = arming = self._armings
        self._armed += 1
        deadline = self._clock.seconds() + self._answer_timeout
        heapq.heappush(self._deadlines, (deadline, arming, job))
        if self._expiry is None or deadline < self._expiry_at:
            if self._expiry is not None:
                self._expiry.cancel()
            self._expiry = self._clock.callLater(self._answer_timeout, self._expire)
            self._expiry_at = deadline

    def _disarm(self, job: _Job) -> None:
        if not job.armed:
            return
        job.armed = 0
        self._armed -= 1
        if not self._armed:
            self._deadlines.clear()
            if self._expiry is not None:
                self._expiry.cancel()
                self._expiry = None
        elif len(self._deadlines) > 64 + 2 * self._armed:
            self._deadlines = [entry for entry in self._deadlines if entry[2].armed == entry[1]]
            heapq.heapify(self._deadlines)

    def _expire(self) -> None:
        """The earliest deadline came: time out every exchange whose deadline has passed, in
        the order of their deadlines, then wait for the next one."""
        self._expiry = None
        now = self._clock.seconds()
        deadlines = self._deadlines
        due: list[tuple[int, _Job]] = []
        while deadlines:
            deadline, arming, job = deadlines[0]
            if job.armed == arming and deadline > now:
                break
            heapq.heappop(deadlines)
            if job.armed == arming:
                due.append((arming, job))
        for arming, job in due:
            if job.armed == arming:  # an earlier timeout may have ended it
                self._disarm(job)
                self._timed_out(job)
        self._schedule_expiry()

    def _schedule_expiry(self) -> None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][2].armed != deadlines[0][1]:
            heapq.heappop(deadlines)
        if not deadlines:
            return
        deadline = deadlines[0][0]
        if self._expiry is not None:
            if self._expiry_at <= deadline:
                return
            self._expiry.cancel()
        now = self._clock.seconds()
        delay = max(deadline - now, 0.0)
        if now + delay > deadline:  # rounding: never later than the deadline (earlier re-checks)
            delay = max(math.nextafter(delay, 0.0), 0.0)
        self._expiry = self._clock.callLater(delay, self._expire)
        self._expiry_at = deadline

    def _workstation_of(self, request: LinkPosting | None) -> str:
        if request is not None and request.workstation:
            return request.workstation
        return self._workstation

    def _user_id_of(self, request: LinkPosting | None) -> str | None:
        if request is not None and request.user_id:
            return request.user_id
        return self._user_id


def _lists_account(message: PostingList | PostingAnswer, account: str) -> bool:
    """True for a PL that lists the A/R account as ``RN<account>|G#0``."""
    return isinstance(message, PostingList) and any(
        g.reservation_number == 0 and g.room == account for g in message.guests
    )


_ONE_SECOND = dt.timedelta(seconds=1)
_NO_TIME = dt.timedelta(0)


def _fias_time(now: dt.datetime) -> dt.time:
    return now.time().replace(microsecond=0, tzinfo=None)


def _balance_of(message: PostingList, guest: Any) -> int | None:
    """The balance the PL gives for ``guest``: its own BA if the codec keeps one per guest,
    else the list's BA when the list names only that guest (a shared BA would be ambiguous)."""
    own = getattr(guest, "balance", None)
    if own is not None:
        return int(own)
    if len(message.guests) == 1 and message.balance is not None:
        return int(message.balance)
    return None


def _call_hook(hook: Callable[..., object], *args: object) -> None:
    try:
        hook(*args)
    except Exception:
        log.failure("hook {hook!r} raised", hook=hook)
