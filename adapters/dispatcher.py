"""The dispatcher: takes a property's pending legs from the journal and posts them, in order.

One :class:`Dispatcher` per property drives one protocol channel (a :class:`PostingChannel`: the
FIAS link through :class:`FiasChannel`, or a SOAP poster from :mod:`adapters.soap_channel`). It
keeps the rules of issue 3 section 4 and DESIGN section 5:

- Legs go out in order of arrival. A later leg of a reservation never overtakes an earlier pending
  one: once a leg of a reservation has to wait, every later leg of that reservation waits too.
  (Legs already in the exception queue do not block later ones; the operator decides about them.
  Except within one journey: a leg whose event has an earlier leg rejected or unknown joins it
  in the exception queue unsent, so a deposit's payment never posts without its charge.)
- Up to ``max_in_flight`` legs are on their way at once (SOAP: one HTTP exchange each), but
  never two of one reservation: a leg holds its reservation until its outcome, and after a
  journey's last leg the balance read-back, are journaled.
- Nothing goes out while the link is down, between ``DS`` and ``DE`` or between ``NS`` and ``NE``.
- A leg that needs the guest in house waits for the guest's ``GI``; after the property's
  ``deposit_wait_hours`` it goes to the exception queue instead, and at once if the channel
  knows the guest has checked out (FIAS: a ``GO`` the link saw).
- Retryable answers (``RY``, link lost before the posting went out) back off exponentially with
  jitter up to a cap; all three are injectable.
- Terminal answers go to the exception queue with the PMS's text; no answer in time makes the leg
  ``unknown`` and it is never re-sent on its own.
- The journal marks a leg ``sent`` (and its ``P#`` is committed) before the posting touches the
  wire, so a crash can never post a leg twice. Legs handed over together are marked ``sent`` in
  one commit (:meth:`Journal.submit_sent`), and each posting waits for it.
- After the last leg of an event posts, the guest's folio balance is inquired and recorded (the
  row rides along with the journal's next commit: :meth:`Journal.queue_balance`). One read-back
  per event, never skipped because the next leg is for the same reservation: each journey gets
  its own balance. On FIAS it overlaps other reservations' legs (the link pipelines inquiries).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from adapters.config import PropertyConfig
from adapters.domain import Leg, LegState
from adapters.events import invoices_of
from adapters.fias_link import FiasLink, GuestEventKind, LinkStatus
from adapters.fias_postings import LinkPosting, PostingOutcome, PostingResult
from adapters.intake import invoice_clear_text
from adapters.journal import Journal
from adapters.journeys import PostingTarget
from adapters.matching import CandidateFinder, PmsGuest

log = Logger(namespace="foliogate.dispatcher")

GUEST_NOT_IN_HOUSE = "guest not in house: waiting for the PMS's check-in (GI)"



#: How many events' posting targets a channel remembers (see AccountInvoices).
TARGETS_REMEMBERED = 1024


class AccountInvoices:
    """Called with a leg: for a leg to an A/R account (``payment.kind = "account"``: the
    confirmation number is the account), the invoices its payment names; None for a guest
    leg, or without a journal to ask. Every channel (FIAS and SOAP) asks it for each posting
    and again for the balance read-back, so the last :data:`TARGETS_REMEMBERED` events'
    answers are remembered: an event's target cannot change once it has legs
    (adapters.journal.replan_event refuses)."""

    def __init__(self, journal: Any) -> None:
        self.journal = journal
        self._targets: collections.OrderedDict[str, tuple[str, ...] | None] = (
            collections.OrderedDict()
        )

    def __call__(self, leg: Leg) -> tuple[str, ...] | None:
        if self.journal is None:
            return None
        if leg.event_id in self._targets:
            return self._targets[leg.event_id]
        found = self.journal.target_of(leg.event_id)
        invoices = None
        if found is not None and found[0] == PostingTarget.ACCOUNT.value:
            invoices = invoices_of(json.loads(found[1]))
        self._targets[leg.event_id] = invoices
        if len(self._targets) > TARGETS_REMEMBERED:
            self._targets.popitem(last=False)
        return invoices


def behind_earlier_leg(confirmation_number: str) -> str:
    """Why a leg waits while an earlier leg of its reservation waits (it may not overtake)."""
    return f"behind an earlier leg of reservation {confirmation_number}, which must post first"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff for retryable answers: ``initial * factor**(n-1)``, capped, jittered.

    ``jitter()`` returns a float in [0, 1); the delay is scaled by ``1 + spread * (j - 0.5)`` so
    retries of many legs spread out instead of arriving together.
    """

    initial: float = 2.0
    factor: float = 2.0
    cap: float = 300.0
    spread: float = 0.2

    def delay(self, attempt: int, jitter: float) -> float:
        base = min(self.cap, self.initial * self.factor ** max(0, attempt - 1))
        return max(0.0, base * (1 + self.spread * (jitter - 0.5)))


class LegMappingError(ValueError):
    """A leg names a code the property's protocol mapping does not know (never retried)."""


def link_posting(
    leg: Leg, prop: PropertyConfig, *, account: bool = False, clear_text: str | None = None
) -> LinkPosting:
    """The FIAS posting for ``leg``: codes become ``SO``/``PM`` through the property's mapping.

    ``account``: the confirmation number is an A/R account (RN, G#0; a payment only);
    ``clear_text``: the posting's ``CT`` (for an A/R payment, the invoices it pays)."""
    fias = prop.fias
    if fias is None:
        raise LegMappingError(f"property {prop.name} has no FIAS mapping")
    plan = leg.plan
    if account:
        if plan.payment_type is None or plan.transaction_code is not None:
            raise LegMappingError("an A/R account takes a payment only (a payment type, no SO)")
        reservation = 0
    else:
        try:
            reservation = int(leg.confirmation_number)
        except ValueError:
            raise LegMappingError(
                f"confirmation number {leg.confirmation_number!r} is not a FIAS reservation "
                "number (G# is numeric)"
            ) from None
    if plan.payment_type is None:
        payment_method = fias.room_payment_method
    elif plan.payment_type in fias.payment_methods:
        payment_method = fias.payment_methods[plan.payment_type]
    else:
        raise LegMappingError(
            f"payment type {plan.payment_type} has no FIAS payment method (PM) in "
            f"properties.{prop.name}.fias.payment_methods"
        )
    sales_outlet = None
    if plan.transaction_code is not None:
        if plan.transaction_code not in fias.sales_outlets:
            raise LegMappingError(
                f"transaction code {plan.transaction_code} has no FIAS sales outlet (SO) in "
                f"properties.{prop.name}.fias.sales_outlets"
            )
        sales_outlet = fias.sales_outlets[plan.transaction_code]
    return LinkPosting(
        leg_reference=leg.reference,
        reservation_number=reservation,
        payment_method=payment_method,
        total_amount=plan.amount,
        sales_outlet=sales_outlet,
        workstation=prop.workstation,
        clear_text=clear_text,
        account=leg.confirmation_number if account else None,
    )


class PostingChannel(Protocol):
    """What a dispatcher needs from a protocol adapter (the FIAS link, a SOAP poster).

    ``post`` raises ``ValueError`` at once for a leg that can never go on the wire (a mapping
    error); it calls the dispatcher's ``on_posting_written(reference, number)`` right before the
    posting leaves and writes the posting only once the Deferred that returns has fired (the
    leg is ``sent`` on disk); it fires with a :class:`PostingOutcome` (never errbacks for PMS
    answers). The dispatcher may call ``post`` again before earlier calls have fired (for legs
    of other reservations).
    """

    def hold_reason(self) -> str | None:
        """Why nothing may be sent now (link down, resync, night audit), or None."""

    def guest_in_house(self, confirmation_number: str) -> bool:
        """False only when the channel knows the guest is not in house (FIAS: no GI seen)."""

    def post(self, leg: Leg) -> Deferred[PostingOutcome]: ...

    def folio_balance(self, leg: Leg, outcome: PostingOutcome) -> Deferred[int | None]:
        """The guest's folio balance as the PMS reports it now (after a journey)."""


class FiasChannel:
    """A :class:`PostingChannel` over a :class:`FiasLink`: codes become ``SO``/``PM``."""

    def __init__(
        self, link: FiasLink, prop: PropertyConfig, journal: Journal | None = None
    ) -> None:
        self.link = link
        self.prop = prop
        #: To tell A/R legs (and the invoices they pay) from guest legs; None: all are guests.
        self.journal = journal
        self._account_invoices = AccountInvoices(journal)

    def hold_reason(self) -> str | None:
        return _hold_reason(self.link.status)

    def guest_in_house(self, confirmation_number: str) -> bool:
        try:
            number = int(confirmation_number)
        except ValueError:
            return True  # let the posting fail with a mapping error that names the cause
        return self.link.room_of(number) is not None

    def guest_departed(self, confirmation_number: str) -> dt.datetime | None:
        """When the PMS checked this guest out (a GO the link saw), or None."""
        if self.journal is None:
            return None
        try:
            number = int(confirmation_number)
        except ValueError:
            return None
        return self.journal.departed_at(self.prop.name, number)

    def post(self, leg: Leg) -> Deferred[PostingOutcome]:
        invoices = self._account_invoices(leg)
        if invoices is None:
            return self.link.post(link_posting(leg, self.prop))
        return self.link.post(
            link_posting(leg, self.prop, account=True, clear_text=invoice_clear_text(invoices))
        )

    def folio_balance(self, leg: Leg, outcome: PostingOutcome) -> Deferred[int | None]:
        if self._account_invoices(leg) is not None:
            posting = link_posting(leg, self.prop, account=True)
            return self.link.inquire_account_balance(
                leg.confirmation_number, posting.payment_method
            )
        return self.link.inquire_balance(int(leg.confirmation_number), outcome.room)

    def search_guests(self, text: str) -> Deferred[list[PmsGuest] | None]:
        """Reservations whose guest name starts with ``text`` (a FIAS name inquiry)."""

        def convert(guests: Any) -> list[PmsGuest] | None:
            if guests is None:
                return None
            return [
                PmsGuest(
                    confirmation_number=str(g.reservation_number),
                    guest_name=g.guest_name,
                    room=g.room,
                    arrival=g.arrival,
                    departure=g.departure,
                    balance=g.balance,
                )
                for g in guests
                if g.reservation_number  # G#0 is an A/R account, not a reservation
            ]

        return self.link.search_guests(text).addCallback(convert)


class Dispatcher:
    """Posts one property's legs over one channel (see the module docstring for the rules).

    ``max_in_flight`` legs may be on their way at once, never two of the same reservation:
    a leg holds its reservation from the moment it is handed to the channel until its
    outcome (and, after a journey's last leg, the balance read-back) is journaled, so a
    later leg of that reservation can neither overtake it nor land in its balance.
    """

    def __init__(
        self,
        *,
        journal: Journal,
        prop: PropertyConfig,
        channel: PostingChannel,
        clock: IReactorTime,
        now: Callable[[], dt.datetime],
        jitter: Callable[[], float] = random.random,
        backoff: Backoff | None = None,
        max_in_flight: int = 1,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.journal = journal
        self.prop = prop
        self.channel = channel
        self.clock = clock
        self._now = now
        self._jitter = jitter
        self._backoff = backoff or Backoff()
        self.max_in_flight = max_in_flight
        self._running = False
        self._again = False
        self._stopped = False
        self._wake_call: IDelayedCall | None = None
        self._timer: IDelayedCall | None = None
        self._timer_at: float | None = None
        self._current: dict[str, int] = {}  # leg reference -> leg id, for on_posting_written
        #: Legs whose posting is on its way (leg id -> confirmation number): the slots in use.
        self._in_flight: dict[int, str] = {}
        #: Reservations with a leg that has not landed (its outcome and, after a journey's
        #: last leg, its balance read-back not yet journaled): none of their legs may go.
        self._busy: set[str] = set()
        #: Whether the last look found every pending leg behind a busy reservation (or held),
        #: what landed since (each frees one reservation) and whether anything else happened
        #: since (a wake from outside: new legs, a timer, the link...). See _pass.
        self._starved = False
        self._landings = 0
        self._news = False
        self._idle_waiters: list[Deferred[None]] = []
        #: Candidate searches for records the PMS did not find (adapters.matching).
        self.matcher = CandidateFinder(journal, prop, getattr(channel, "search_guests", None))

    # -- hooks the link and the API call ------------------------------------------------------

    def wake(self) -> None:
        """Something changed (an event arrived, the link came up, a guest checked in...)."""
        self._news = True
        self._wake()

    def _wake(self) -> None:
        if self._stopped:
            return
        if self._running:
            self._again = True
            return
        if self._wake_call is None or not self._wake_call.active():
            self._wake_call = self.clock.callLater(0, self._pass)

    def on_link_state(self, status: LinkStatus) -> None:
        if status.can_post:
            self.wake()

    def on_guest_event(self, kind: GuestEventKind, reservation_number: int, room: str) -> None:
        if kind is not GuestEventKind.CHECK_OUT:
            self.wake()

    def on_posting_written(self, leg_reference: str, posting_number: int | None) -> Deferred[None]:
        """Called by the channel right before the posting leaves: journal it as sent first.

        The returned Deferred fires once the ``sent`` mark is on disk; the channel writes the
        posting only then. Marks of legs going out together share one commit."""
        leg_id = self._current.get(leg_reference)
        if leg_id is None:  # pragma: no cover - the link only posts what we asked
            raise RuntimeError(f"posting for an unknown leg {leg_reference}")
        return self.journal.submit_sent(leg_id, posting_number)

    def on_late_answer(self, leg_reference: str, posting_number: int, answer: Any) -> None:
        """A PA came for a posting after it was reported unknown: the leg stays unknown (an
        operator decides), but the answer is noted on it, where the operator will look."""
        leg_id = self.journal.leg_id_of(leg_reference)
        status = getattr(answer, "answer_status", None)
        text = getattr(answer, "clear_text", None)
        note = (
            f"late PA from the PMS for P#{posting_number} after the leg went unknown: "
            f"AS {status}" + (f" ({text})" if text else "")
            + "; not acted on: check the folio on the PMS and resolve the leg"
        )
        log.warn(
            "leg {leg} on {property}: {note}",
            leg=leg_reference,
            leg_id=leg_id,
            property=self.prop.name,
            note=note,
        )
        if leg_id is not None:
            self.journal.add_note(leg_id, note, action="late-answer")

    def on_frame(
        self, direction: str, payload: bytes, leg_reference: str | None, protocol: str = "fias"
    ) -> None:
        """Keep one wire message (FIAS frame, SOAP envelope) in the journal, keyed by leg
        (also a late FIAS PA's: the link names the leg of a posting that went unknown)."""
        leg_id = None
        if leg_reference:
            leg_id = self._current.get(leg_reference)
            if leg_id is None and protocol == "fias" and direction == "in":
                leg_id = self.journal.leg_id_of(leg_reference)
        self.journal.log_wire(direction, protocol, payload, property=self.prop.name, leg_id=leg_id)

    def stop(self) -> None:
        """No new legs go out; those on their way run to their outcome (see :meth:`idle`)."""
        self._stopped = True
        for call in (self._wake_call, self._timer):
            if call is not None and call.active():
                call.cancel()

    def idle(self) -> Deferred[None]:
        """Fires when no pass is running and no leg is on its way (for a clean shutdown and
        for tests)."""
        d: Deferred[None] = Deferred()
        if not self._running and not self._busy:
            d.callback(None)
        else:
            self._idle_waiters.append(d)
        return d

    @property
    def in_flight(self) -> int:
        """How many legs are on their way now (posting; not counting balance read-backs)."""
        return len(self._in_flight)

    # -- the pass -----------------------------------------------------------------------------

    @inlineCallbacks
    def _pass(self) -> Any:
        """Hand the channel as many legs as ``max_in_flight`` allows, then return: each leg
        runs on its own and wakes the dispatcher when it lands."""
        self._wake_call = None
        if self._running or self._stopped:
            return
        self._running = True
        try:
            while not self._stopped:
                self._again = False
                if self.channel.hold_reason() is None and self.matcher.has_work():
                    yield self.matcher.run()
                    if self._stopped:
                        break
                free = self.max_in_flight - len(self._in_flight)
                news, self._news = self._news, False
                landings, self._landings = self._landings, 0
                # Only landings since a look that found nothing more: each freed one
                # reservation, so that many legs at most can go (looking for more would read
                # the whole backlog of the busy reservations to find nothing).
                narrowed = self._starved and not news
                wanted = min(free, landings) if narrowed else free
                legs = self._next_legs(wanted) if wanted > 0 else []
                self._starved = narrowed or len(legs) < wanted
                if not legs:
                    if self._again:
                        continue
                    break
                for leg in legs:
                    self._launch(leg)
                # The legs handed over together are marked sent in one commit.
                self.journal.commit_sent()
        except Exception:
            log.failure("dispatcher pass for {property} failed", property=self.prop.name)
            self._schedule_timer(self._backoff.initial)
        finally:
            self._running = False
            self._maybe_idle()

    def _launch(self, leg: Leg) -> None:
        """Send one leg on its way: post, journal the outcome, read the balance back."""
        conf = leg.confirmation_number
        self._in_flight[leg.leg_id] = conf
        self._busy.add(conf)
        d = self._post(leg)
        d.addCallback(self._outcome_arrived, leg)
        d.addErrback(self._leg_failed, leg)
        d.addBoth(self._landed, leg)

    def _outcome_arrived(self, outcome: PostingOutcome | None, leg: Leg) -> Any:
        self._in_flight.pop(leg.leg_id, None)  # its posting is over: the slot is free
        if outcome is None:
            return None
        # The slot is handed out by a pass in the next reactor turn, with every other slot
        # the answers of this read freed (one read of the pending legs for all of them); the
        # next legs' sent marks then share a commit with this outcome. The reservation stays
        # held until the leg lands.
        self._wake()
        return self._record(leg, outcome)

    def _about(self, leg: Leg) -> dict[str, Any]:
        """The fields every log line about a leg carries (for the JSON log and the console)."""
        return {
            "leg": leg.reference,
            "leg_id": leg.leg_id,
            "event_id": leg.event_id,
            "property": self.prop.name,
        }

    def _leg_failed(self, failure: Any, leg: Leg) -> None:
        log.failure(
            "dispatcher: leg {leg} on {property} failed",
            failure,
            **self._about(leg),
        )
        self._schedule_timer(self._backoff.initial)

    def _landed(self, _: Any, leg: Leg) -> None:
        self._in_flight.pop(leg.leg_id, None)
        self._busy.discard(leg.confirmation_number)
        self._landings += 1
        self._wake()
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if self._running or self._busy or not self._idle_waiters:
            return
        waiters, self._idle_waiters = self._idle_waiters, []
        for d in waiters:
            d.callback(None)

    def _next_legs(self, wanted: int) -> list[Leg]:
        """Up to ``wanted`` legs that may go now, of different reservations, none of a
        reservation with a leg on its way; marking the ones that must wait."""
        now = self._now()
        blocked: set[str] = set()
        hold = self.channel.hold_reason()
        if hold is not None:
            # Nothing goes out: only new (planned) legs need to learn why they wait (in one
            # commit: a night audit can hold every leg that arrives meanwhile).
            self.journal.mark_waiting_many(
                (
                    leg.leg_id
                    for leg in self.journal.legs(state=LegState.PLANNED, property=self.prop.name)
                    if leg.leg_id not in self._in_flight
                ),
                hold,
            )
            return []
        chosen: list[Leg] = []
        # Reservations with a leg on its way are left out by the query itself, and those of a
        # leg chosen now are skipped: their later legs simply wait their turn (no reason
        # needed, they are next). One pass over the pending legs, read lazily in arrival
        # order (the legs to send are usually among the first few).
        taken = set(self._busy)
        earliest: dt.datetime | None = None
        # The first read asks for as many legs as are wanted (one slot freed wants one: reading
        # four cost twice as much), later reads for twice as many each time.
        pending = self.journal.iter_pending_legs(
            self.prop.name, batch=max(1, wanted), exclude=frozenset(taken)
        )
        for leg in pending if wanted > 0 else ():
            conf = leg.confirmation_number
            if conf in taken or leg.leg_id in self._in_flight:
                continue
            if conf in blocked:
                # Say why it is held (once), so the journal and the API show a reason.
                if leg.state is LegState.PLANNED:
                    self.journal.mark_waiting(leg.leg_id, behind_earlier_leg(conf))
                continue
            if leg.not_before is not None and leg.not_before > now:
                blocked.add(conf)
                if earliest is None or leg.not_before < earliest:
                    earliest = leg.not_before
                continue
            if leg.plan.needs_in_house and not self.channel.guest_in_house(conf):
                blocked.add(conf)
                self._hold_for_guest(leg, now)
                continue
            trouble = self.journal.earlier_leg_in_trouble(leg)
            if trouble is not None:
                self._journey_broken(leg, *trouble)
                continue
            chosen.append(leg)
            taken.add(conf)
            if len(chosen) >= wanted:
                break
        if not chosen and earliest is not None:
            self._schedule_timer((earliest - now).total_seconds())
        return chosen

    def _journey_broken(self, leg: Leg, reference: str, state: str, reason: str | None) -> None:
        """An earlier leg of this leg's journey is in the exception queue: this one joins it
        there, unsent (a deposit's payment must not post without its charge, a redemption
        without the revenue it pays). The operator retries or resolves the earlier leg, then
        this one."""
        text = (
            f"not sent: leg {reference} of the same journey is {state}"
            + (f" ({reason})" if reason else "")
            + "; retry or resolve that leg first, then retry this one"
        )
        self.journal.mark_rejected(leg.leg_id, None, text)
        log.warn(
            "leg {leg} of {event_id} on {property} not sent: {reason}",
            **self._about(leg),
            reason=text,
        )

    def _hold_for_guest(self, leg: Leg, now: dt.datetime) -> None:
        departed = getattr(self.channel, "guest_departed", None)
        departed_at = departed(leg.confirmation_number) if departed is not None else None
        if departed_at is not None:
            # The guest has left: no check-in will come, and FIAS posts only to in-house guests.
            self.journal.mark_rejected(
                leg.leg_id,
                None,
                f"guest {leg.confirmation_number} has checked out (GO at "
                f"{departed_at:%Y-%m-%d %H:%M:%S}); the leg was never posted: post it on the "
                "PMS by hand or assign another record",
            )
            return
        created = leg.created_at or now
        expires = created + dt.timedelta(hours=self.prop.deposit_wait_hours)
        if now >= expires:
            reason = (
                f"guest {leg.confirmation_number} did not check in within "
                f"{self.prop.deposit_wait_hours} h; the leg was never posted"
            )
            self.journal.mark_rejected(leg.leg_id, None, reason)
            self.matcher.leg_not_found(leg.event_id, leg.leg_id, reason)
            return
        if leg.reason != GUEST_NOT_IN_HOUSE:
            self.journal.mark_waiting(leg.leg_id, GUEST_NOT_IN_HOUSE)
        self._schedule_timer((expires - now).total_seconds())

    def _schedule_timer(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        at = self.clock.seconds() + seconds
        if self._timer is not None and self._timer.active():
            if self._timer_at is not None and self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.clock.callLater(seconds, self.wake)

    def _post(self, leg: Leg) -> Deferred[PostingOutcome | None]:
        self._current[leg.reference] = leg.leg_id
        try:
            # post() refuses at once what cannot go on the wire (unmapped, too long...).
            d2: Deferred[PostingOutcome | None] = self.channel.post(leg)  # type: ignore[assignment]
        except ValueError as exc:  # LegMappingError included
            self._current.pop(leg.reference, None)
            self.journal.mark_rejected(leg.leg_id, None, f"mapping error: {exc}")
            log.warn(
                "leg {leg} of {event_id} not sent to {property}: mapping error: {error}",
                **self._about(leg),
                error=str(exc),
            )
            return succeed(None)

        def forget(result: Any) -> Any:
            self._current.pop(leg.reference, None)
            return result

        return d2.addBoth(forget)

    def _record(self, leg: Leg, outcome: PostingOutcome) -> Deferred[None] | None:
        """Journal what the PMS said, per DESIGN section 5's classes (a callback of the
        posting's Deferred: what it raises fails the leg's chain). Returns the balance
        read-back's Deferred after a journey's last leg posted, else None."""
        journal = self.journal
        result = outcome.result
        text = outcome.clear_text or outcome.reason
        if result is PostingResult.POSTED:
            journal.submit_posted(leg.leg_id, outcome.answer_status, outcome.clear_text)
            log.info(
                "leg {leg} of {event_id} posted on {property} (P#{posting_number})",
                **self._about(leg),
                posting_number=outcome.posting_number,
            )
            return self._after_posted(leg, outcome)
        if result is PostingResult.NOT_IN_HOUSE and outcome.inquiry_number is None:
            # We have seen no check-in for this guest: wait for the GI, nothing was sent.
            journal.mark_waiting(leg.leg_id, GUEST_NOT_IN_HOUSE)
        elif result is PostingResult.NOT_IN_HOUSE:
            # The link saw the guest check in, but the PMS's inquiry does not list them (a
            # missed GO or move, a wrong room): an operator must look, not a retry loop.
            reason = (
                f"the PMS does not list guest {leg.confirmation_number} in room "
                f"{outcome.room or '?'}: {text or 'no such guest'}"
            )
            journal.mark_rejected(leg.leg_id, outcome.answer_status, reason)
            self.matcher.leg_not_found(leg.event_id, leg.leg_id, reason)
        elif result is PostingResult.NIGHT_AUDIT:
            delay = self._backoff.delay(leg.attempts + 1, self._jitter())
            journal.mark_waiting(
                leg.leg_id,
                "night audit: the PMS answered NA; waiting for NE",
                self._now() + dt.timedelta(seconds=delay),
            )
            self._schedule_timer(delay)
        elif result in (PostingResult.RETRYABLE, PostingResult.NOT_SENT):
            delay = self._backoff.delay(leg.attempts + 1, self._jitter())
            what = (
                f"the PMS answered {outcome.answer_status}: {text}"
                if result is PostingResult.RETRYABLE
                else f"not sent: {outcome.reason}"
            )
            journal.mark_waiting(
                leg.leg_id,
                f"{what}; retry in {delay:.1f} s",
                self._now() + dt.timedelta(seconds=delay),
            )
            self._schedule_timer(delay)
        elif result is PostingResult.REJECTED:
            journal.mark_rejected(leg.leg_id, outcome.answer_status, text or "rejected")
            if outcome.answer_status == "NG":  # the PMS does not know the record
                self.matcher.leg_not_found(leg.event_id, leg.leg_id, text or "AS NG")
            log.warn(
                "leg {leg} of {event_id} rejected by {property}: {status} {text}",
                **self._about(leg),
                status=outcome.answer_status,
                text=text,
            )
        elif result is PostingResult.UNKNOWN:
            journal.mark_unknown(leg.leg_id, outcome.reason or "no answer from the PMS in time")
            log.warn(
                "leg {leg} of {event_id}: outcome unknown ({reason}); to the exception queue",
                **self._about(leg),
                reason=outcome.reason,
            )
        else:  # pragma: no cover - every result is handled above
            raise AssertionError(result)
        return None

    def _after_posted(self, leg: Leg, outcome: PostingOutcome) -> Deferred[None] | None:
        """After the last leg of an event posts, read the folio balance the PMS reports and
        keep it (the Deferred fires once it is read or the read failed; None: nothing to
        read)."""
        if not self.journal.all_legs_posted(leg.event_id):
            return None
        try:
            d = self.channel.folio_balance(leg, outcome)
        except Exception as exc:  # the posting stands; only the read-back failed
            self._balance_failed(Failure(exc), leg)
            return None
        return d.addCallbacks(
            self._balance_read, self._balance_failed, callbackArgs=(leg,), errbackArgs=(leg,)
        )

    def _balance_read(self, balance: int | None, leg: Leg) -> None:
        if balance is not None:
            # Evidence, not a state: it rides along with the next commit.
            self.journal.queue_balance(
                leg.event_id,
                self.prop.name,
                int(balance),
                self.prop.currency,
                leg_id=leg.leg_id,
                confirmation_number=leg.confirmation_number,
            )

    def _balance_failed(self, failure: Failure, leg: Leg) -> None:
        failure.trap(Exception)  # the posting stands; only the read-back failed
        log.warn(
            "balance inquiry after {event_id} failed: {error}",
            **self._about(leg),
            error=str(failure.value),
        )


def _hold_reason(status: LinkStatus) -> str | None:
    if status.night_audit:
        return "night audit in progress (between NS and NE)"
    if status.resync:
        return "database resync in progress (between DS and DE)"
    if not status.can_post:
        return f"link {status.state.value}: waiting for the PMS link"
    return None
