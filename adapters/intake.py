"""Intake: what happens to a valid event between the API and the journal (issue 5).

:meth:`Intake.plan` wraps the posting journeys (:func:`adapters.journeys.plan_legs`) with the
operations rules, in this order:

1. **Not captured** (``payment.pending``, ``payment.failed``, a status that is not captured):
   journaled and shown, never posted (the journey says so; nothing below runs).
2. **Currency** (:mod:`adapters.rates`): a payment in another currency than the property's
   is converted at the rate valid at ``occurred_at`` from ``[gateway] rates``; the legs post
   the converted amount, the journal keeps both amounts and the rate. A refund of a converted
   payment is converted at *that payment's* rate, so a full refund reverses exactly what was
   posted. Items (orders, redemptions) are split in proportion so they still add up
   (:func:`adapters.rates.split_amount`). No rates file, no valid rate, or an amount that
   converts to 0: an event-level exception, never a guess; fix the rates and retry the event.
3. **Matching** (:mod:`adapters.matching`): a blank confirmation number, or on FIAS one that
   cannot be a reservation number, makes the event an exception and asks for a candidate
   search (the dispatcher runs it). A refund with a blank number takes its payment's.
4. **A/R on FIAS**: the account number must fit ``PI`` (10 characters), and the invoices the
   payment names travel in ``CT``, comma-separated, which holds 20 characters.
5. The **journey** plans the legs.
6. **Approval**: a captured payment over the property's ``approval_threshold`` (minor units of
   its currency, after conversion) is held: its legs wait in the exception queue until an
   operator approves them. (The journal adds a second hold of its own: a payment whose amount
   differs from an earlier one with the same ``transaction_id`` is flagged and held for review.)

:class:`OperatorActions` carries out what an operator decides about an exception (assign a
record, approve a held payment, retry an event after fixing the rates), for the API and the
CLI alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from adapters.config import Profile
from adapters.domain import EventType, Item, Leg, PaymentEvent, PaymentKind
from adapters.events import invoices_of, parse_event
from adapters.journal import EventRecord, Hold, Journal, NotAssignable, UnknownEvent
from adapters.journeys import (
    PlanOutcome,
    PostingTarget,
    fias_reservation_number,
    is_captured,
    plan_legs,
)
from adapters.money import format_minor
from adapters.rates import (
    Conversion,
    NoRate,
    RatesFile,
    RatesInvalid,
    convert_at,
    split_amount,
)

__all__ = [
    "FIAS_CLEAR_TEXT",
    "IntakePlan",
    "Intake",
    "OperatorActions",
    "fias_reservation_number",
    "invoice_clear_text",
]

#: FIAS PR ``CT`` is ANS max 20 (reference section 3.4): the invoice ids must fit.
FIAS_CLEAR_TEXT = 20
#: FIAS ``PI`` is ANS max 10: the A/R inquiry sends the account number there.
FIAS_INQUIRY = 10

Plan = Callable[[PaymentEvent, Any, Sequence[Leg]], Any]
#: The enum values the usual plan reads (an enum's ``.value`` is a Python-level property).
_POST = PlanOutcome.POST.value
_RESERVATION = PostingTarget.RESERVATION.value


@dataclass(frozen=True)
class IntakePlan:
    """A journey plan (same fields as :class:`adapters.journeys.JourneyPlan`) plus what the
    journal keeps for issue 5. The journal reads it by attribute."""

    outcome: str
    legs: tuple[Any, ...] = ()
    reason: str = ""
    target: str = PostingTarget.RESERVATION.value
    by_hand: tuple[Any, ...] = ()
    conversion: Conversion | None = None
    hold: str | None = None  # a Hold value: the legs wait for an operator's approval
    hold_reason: str | None = None
    match_reason: str | None = None  # the record was not found: search for candidates
    confirmation_number: str | None = None  # the number the legs carry (assigned, inherited)


def invoice_clear_text(invoices: Sequence[str]) -> str | None:
    """The ``CT`` of an A/R posting: the invoice ids, comma-separated (None: no invoices).

    >>> invoice_clear_text(["A1", "A3"])
    'A1,A3'
    """
    return ",".join(invoices) or None


class _Stop(Exception):
    """The event cannot be planned now: an event-level exception with this reason."""


class Intake:
    """Plans events for the journal (see the module docstring)."""

    def __init__(
        self,
        journal: Journal | None,
        *,
        rates: RatesFile | None = None,
        plan: Plan = plan_legs,
    ) -> None:
        self.journal = journal
        self.rates = rates
        self._plan = plan

    @classmethod
    def from_config(cls, config: Any, journal: Journal | None, plan: Plan = plan_legs) -> Intake:
        path = getattr(getattr(config, "gateway", None), "rates", None)
        return cls(journal, rates=RatesFile(path) if path else None, plan=plan)

    def plan(
        self,
        event: PaymentEvent,
        prop: Any,
        original_legs: Sequence[Leg] = (),
        *,
        confirmation_number: str | None = None,
        invoices: Sequence[str] = (),
    ) -> IntakePlan:
        """Plan ``event`` for ``prop``. ``confirmation_number`` overrides the booking's (an
        operator's assignment); ``invoices`` are the ones an account payment names."""
        payment = event.payment
        not_posted = event.type in (EventType.PAYMENT_PENDING, EventType.PAYMENT_FAILED) or (
            payment is not None and not is_captured(payment.status)
        )
        if not_posted or event.booking is None:
            return _wrap(self._plan(event, prop, original_legs))
        conversion = None
        try:
            if payment is not None and _differs(payment.currency, prop):
                conversion = self.convert(event, prop)
                event = _converted(event, conversion)
            number, match_reason = self._number(event, prop, original_legs, confirmation_number)
            if match_reason is not None:
                return IntakePlan(
                    PlanOutcome.EXCEPTION.value,
                    reason=f"{match_reason}: searching the PMS for candidates by guest name; "
                    "assign the right record",
                    conversion=conversion,
                    match_reason=match_reason,
                )
            self._check_account(event, prop, number, invoices)
        except _Stop as stop:
            return IntakePlan(PlanOutcome.EXCEPTION.value, reason=str(stop), conversion=conversion)
        assert event.booking is not None
        if number != event.booking.confirmation_number:
            event = replace(event, booking=replace(event.booking, confirmation_number=number))
        planned = _wrap(
            self._plan(event, prop, original_legs),
            conversion=conversion,
            confirmation_number=number or None,
        )
        return self._approval(event, prop, planned)

    # -- the steps ------------------------------------------------------------------------------

    def convert(self, event: PaymentEvent, prop: Any) -> Conversion:
        """The conversion of the event's payment into the property's currency (or _Stop)."""
        payment = event.payment
        assert payment is not None
        target = prop.currency
        original = self._refunded_conversion(event)
        if original is not None and original.original_currency == payment.currency:
            amount = convert_at(
                payment.amount, payment.currency, target, original.rate, inverted=original.inverted
            )
            conversion = replace(original, original_amount=payment.amount, amount=amount)
        else:
            if self.rates is None:
                raise _Stop(
                    f"payment is in {payment.currency}; property {prop.name} posts in {target} "
                    "and no rates file is configured ([gateway] rates)"
                )
            try:
                table = self.rates.table()
                conversion = table.convert(
                    payment.amount, payment.currency, target, event.occurred_at
                )
            except NoRate as exc:
                raise _Stop(f"{exc}; add the rate, then retry the event") from None
            except RatesInvalid as exc:
                raise _Stop(f"the rates file cannot be used: {exc}") from None
        if conversion.amount <= 0:
            raise _Stop(
                f"{conversion.describe()}: nothing to post; post by hand if it must be booked"
            )
        return conversion

    def _refunded_conversion(self, event: PaymentEvent) -> Conversion | None:
        if event.type is not EventType.PAYMENT_REFUNDED or not event.refund_of:
            return None
        if self.journal is None:
            return None
        return self.journal.conversion(event.refund_of)

    def _number(
        self,
        event: PaymentEvent,
        prop: Any,
        original_legs: Sequence[Leg],
        override: str | None,
    ) -> tuple[str, str | None]:
        """(the number the legs carry, why a candidate search is needed or None)."""
        assert event.booking is not None
        number = override or event.booking.confirmation_number
        if not number and event.type is EventType.PAYMENT_REFUNDED and original_legs:
            number = original_legs[0].confirmation_number  # a refund goes where its payment went
        if _is_account(event):
            return number, None
        if not number:
            return number, "no confirmation number"
        if getattr(prop, "profile", None) is Profile.FIAS and not fias_reservation_number(number):
            return (
                number,
                f"confirmation number {number!r} cannot be a FIAS reservation number "
                "(G# is 1 to 10 digits)",
            )
        return number, None

    def _check_account(
        self, event: PaymentEvent, prop: Any, number: str, invoices: Sequence[str]
    ) -> None:
        if not _is_account(event) or getattr(prop, "profile", None) is not Profile.FIAS:
            return
        if len(number) > FIAS_INQUIRY or "|" in number:
            raise _Stop(
                f"A/R account {number!r} cannot be inquired over FIAS (PI holds "
                f"{FIAS_INQUIRY} characters); post by hand"
            )
        text = invoice_clear_text(invoices) or ""
        if len(text) > FIAS_CLEAR_TEXT:
            raise _Stop(
                f"the invoices {text} do not fit FIAS CT ({FIAS_CLEAR_TEXT} characters); name "
                "fewer invoices, or none (the PMS then pays the oldest first), or post by hand"
            )

    def _approval(self, event: PaymentEvent, prop: Any, planned: IntakePlan) -> IntakePlan:
        threshold = getattr(prop, "approval_threshold", None)
        payment = event.payment
        if (
            threshold is None
            or planned.outcome != _POST
            or event.type is not EventType.PAYMENT_SUCCEEDED
            or payment is None
            or payment.amount <= threshold
        ):
            return planned
        return replace(
            planned,
            hold=Hold.APPROVAL.value,
            hold_reason=(
                f"held for approval: {format_minor(payment.amount, payment.currency)} is over "
                f"the approval threshold of {format_minor(threshold, payment.currency)} "
                f"(properties.{prop.name}.approval_threshold)"
            ),
        )


def _differs(currency: str, prop: Any) -> bool:
    own = getattr(prop, "currency", None)
    return isinstance(own, str) and currency != own


def _is_account(event: PaymentEvent) -> bool:
    return event.payment is not None and event.payment.kind is PaymentKind.ACCOUNT


def _converted(event: PaymentEvent, conversion: Conversion) -> PaymentEvent:
    """The event in the property's currency: the payment converted, its items split so they
    still add up (or, if they did not add up before, each converted on its own)."""
    payment = event.payment
    assert payment is not None
    items = event.items
    if items:
        amounts = [item.amount for item in items]
        if sum(amounts) == payment.amount:
            converted = split_amount(conversion.amount, amounts)
        else:
            converted = [
                convert_at(
                    a,
                    payment.currency,
                    conversion.currency,
                    conversion.rate,
                    inverted=conversion.inverted,
                )  # fmt: skip
                for a in amounts
            ]
        items = tuple(
            Item(code=i.code, amount=a, description=i.description)
            for i, a in zip(items, converted, strict=True)
        )
    return replace(
        event,
        payment=replace(payment, amount=conversion.amount, currency=conversion.currency),
        items=items,
    )


def _wrap(plan: Any, **extra: Any) -> IntakePlan:
    """``plan`` as an :class:`IntakePlan`, with the ``extra`` fields (conversion,
    confirmation_number) set."""
    if isinstance(plan, IntakePlan):
        return replace(plan, **extra) if extra else plan
    return IntakePlan(
        outcome=str(getattr(plan, "outcome", _POST)),
        legs=tuple(getattr(plan, "legs", ()) or ()),
        reason=str(getattr(plan, "reason", "") or ""),
        target=str(getattr(plan, "target", _RESERVATION)),
        by_hand=tuple(getattr(plan, "by_hand", ()) or ()),
        **extra,
    )


# --- operator actions ---------------------------------------------------------------------------


class OperatorActions:
    """What an operator decides about an exception, carried out on the journal.

    Every action is journaled with the operator's name, the time and the note; none of them
    edits a posting that reached the PMS (a correction is a reversal).
    """

    def __init__(self, journal: Journal, config: Any, intake: Intake | None = None) -> None:
        self.journal = journal
        self.config = config
        self.intake = intake or Intake.from_config(config, journal)

    def assign_event(
        self, event_id: str, confirmation_number: str, operator: str, note: str
    ) -> EventRecord:
        """Assign the PMS record to an event that planned no legs (blank or unknown number):
        the event is planned again with that number and its legs go to the dispatcher."""
        record, event, prop = self._event(event_id)
        number = confirmation_number.strip()
        plan = self._replan(record, event, prop, confirmation_number=number)
        if plan.match_reason is not None:
            raise NotAssignable(plan.match_reason)
        return self.journal.replan_event(event_id, plan, operator, note, confirmation_number=number)

    def retry_event(self, event_id: str, operator: str, note: str) -> EventRecord:
        """Plan an event-level exception again (e.g. after a missing rate was added)."""
        record, event, prop = self._event(event_id)
        plan = self._replan(record, event, prop)
        return self.journal.replan_event(event_id, plan, operator, note)

    def assign_leg(
        self, leg_id: int, confirmation_number: str, operator: str, note: str
    ) -> list[Leg]:
        """Point a leg the PMS did not find (and its event's other unsent legs) at the right
        record; the rejected ones go back to the dispatcher."""
        leg = self.journal.leg(leg_id)
        record = self.journal.event(leg.event_id)
        # Without the configuration the number's shape is not checked here; a number the PMS
        # cannot take comes back as a mapping error on the leg.
        prop = self._property(leg.property, required=False)
        number = confirmation_number.strip()
        account = record is not None and record.target == PostingTarget.ACCOUNT.value
        profile = getattr(prop, "profile", None)
        if not account and profile is Profile.FIAS and not fias_reservation_number(number):
            raise NotAssignable(
                f"confirmation number {number!r} cannot be a FIAS reservation number "
                "(G# is 1 to 10 digits)"
            )
        return self.journal.assign_leg(leg_id, number, operator, note)

    def approve(self, leg_id: int, operator: str, note: str) -> list[Leg]:
        """Release a payment held for approval (every held leg of its event)."""
        return self.journal.approve(leg_id, operator, note)

    # -- helpers --------------------------------------------------------------------------------

    def _property(self, name: str, *, required: bool = True) -> Any:
        """The property's configuration; without a configuration (the CLI given only the
        journal) None where it is not required."""
        if self.config is None and not required:
            return None
        properties = getattr(self.config, "properties", {}) or {}
        if name not in properties:
            raise NotAssignable(f"property {name} is not in the configuration")
        return properties[name]

    def _event(self, event_id: str) -> tuple[EventRecord, PaymentEvent, Any]:
        record = self.journal.event(event_id)
        if record is None:
            raise UnknownEvent(f"no event {event_id}")
        event = parse_event(record.body_json())
        return record, event, self._property(record.property)

    def _replan(
        self,
        record: EventRecord,
        event: PaymentEvent,
        prop: Any,
        *,
        confirmation_number: str | None = None,
    ) -> IntakePlan:
        original: Sequence[Leg] = ()
        if event.refund_of:
            refunded = self.journal.event(event.refund_of)
            original = refunded.legs if refunded is not None else ()
        return self.intake.plan(
            event,
            prop,
            original,
            confirmation_number=confirmation_number,
            invoices=invoices_of(record.body_json()),
        )
