"""Posting journeys: turn one payment event into the legs a property's PMS posts (DESIGN §3).

:func:`plan_legs` is pure: an event and the property's configuration in, a
:class:`JourneyPlan` out. It never guesses a code: an item or payment method the
configuration does not map is an exception naming the code.

**Sign convention.** A :class:`~adapters.domain.PlannedLeg` moves ``amount`` minor units from
its settlement to its charge. Seen on the guest's folio (:func:`folio_lines`):

- ``transaction_code`` set: a charge line of ``+amount`` on that code;
- ``payment_type`` set: a payment line of ``-amount`` on that payment type (a payment of
  ``amount``);
- both set (FIAS: one ``PR`` with ``SO`` and ``PM``): the two lines, netting to 0;
- ``payment_type=None``: the charge stays on the folio (FIAS ``PMROOM``);
  ``transaction_code=None``: a bare payment.

A reversal is the same leg with ``-amount``; a negative sale is a charge-only leg with a
negative amount. So the spa deposit of DESIGN §3 (50.00 GBP; codes as the demo hotel names
them) plans as these legs, written (transaction_code, payment_type, amount):

- normal mode on FIAS, where one ``PR`` carries a charge and its settlement:
  deposit paid ``(SPA_DEPOSIT, ONEJOURNEY, +5000)``;
  departure ``(SPA_TREATMENT, DEPOSIT_REDEMPTION, +5000)``.
- negative mode on the SOAP profiles, one operation per leg:
  deposit paid ``(SPA_DEPOSIT, None, +5000)`` then ``(None, ONEJOURNEY, +5000)``;
  departure ``(SPA_TREATMENT, None, +5000)`` then the negative sale
  ``(SPA_DEPOSIT, None, -5000)``.

In both modes the folio ends at 0 and the deposit group nets to 0.

Which profile does what comes from :data:`adapters.config.PROFILES`: whether a charge and its
settlement fit in one leg, and whether legs may post before the guest arrives (FIAS: never,
every leg waits for check-in; SOAP profiles: deposits and payments may post to the
reservation early, revenue and negative sales need the guest in house).

Journeys by event (only captured statuses post, see :data:`adapters.domain.CAPTURED_STATUSES`):

- ``payment.succeeded`` by ``payment.kind``: ``deposit`` charges the deposit code settled by
  the mapped payment type; ``balance`` and ``event_settlement`` are one bare payment on the
  folio; ``account`` is one bare payment on the A/R account named by the confirmation number
  (:attr:`PostingTarget.ACCOUNT`); ``order`` posts each item's revenue settled by the payment
  type (the items must add up to the payment).
- ``deposit.redeemed``: each item's revenue, cleared in normal mode by the redemption payment
  type, in negative mode by one negative sale on the deposit code.
- ``payment.refunded``: the reversal of each leg of the refunded event (a partial refund
  reverses each leg by the refunded amount when every leg carried the whole payment). If
  the property does not allow negative amounts, or the original was an A/R payment, the
  refund is an exception "post by hand" carrying the legs to post (:attr:`JourneyPlan.by_hand`).
- ``payment.pending``, ``payment.failed``, and payments whose status is not captured:
  journaled, not posted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from adapters.config import Profile, PropertyConfig
from adapters.domain import (
    CAPTURED_STATUSES,
    EventType,
    Leg,
    LegState,
    Payment,
    PaymentEvent,
    PaymentKind,
    PlannedLeg,
    PostingMode,
)
from adapters.money import format_minor

__all__ = [
    "FolioLine",
    "JourneyPlan",
    "PlanOutcome",
    "PostingTarget",
    "folio_lines",
    "is_captured",
    "plan_legs",
]


class PlanOutcome(StrEnum):
    POST = "post"  # journal the legs; the dispatcher posts them
    NOT_POSTED = "not_posted"  # journaled with the reason, never posted
    EXCEPTION = "exception"  # to the exception queue with the reason (and by_hand legs)


class PostingTarget(StrEnum):
    """What the booking's confirmation number names on the PMS."""

    RESERVATION = "reservation"  # the guest's reservation and folio (FIAS: G#)
    ACCOUNT = "account"  # an A/R account (FIAS: RN is the account number, G#0)


@dataclass(frozen=True)
class JourneyPlan:
    """What to do with one event: legs to post, or why nothing posts."""

    outcome: PlanOutcome
    legs: tuple[PlannedLeg, ...] = ()
    reason: str = ""
    target: PostingTarget = PostingTarget.RESERVATION
    #: EXCEPTION "post by hand": what an operator should post. Never dispatched.
    by_hand: tuple[PlannedLeg, ...] = ()


@dataclass(frozen=True)
class FolioLine:
    """One line a leg leaves on the folio: ``amount`` is its effect on the balance."""

    code: str  # transaction code (charge) or payment type (payment)
    is_payment: bool
    amount: int


def folio_lines(leg: PlannedLeg) -> tuple[FolioLine, ...]:
    """The folio lines ``leg`` makes under the sign convention; their sum moves the balance."""
    lines = []
    if leg.transaction_code is not None:
        lines.append(FolioLine(leg.transaction_code, False, leg.amount))
    if leg.payment_type is not None:
        lines.append(FolioLine(leg.payment_type, True, -leg.amount))
    return tuple(lines)


#: Original legs a refund does not reverse on its own: what they left on the folio is unknown.
_NOT_REVERSIBLE = frozenset({LegState.REJECTED, LegState.UNKNOWN, LegState.RESOLVED})

_CAPTURED = frozenset(status.casefold() for status in CAPTURED_STATUSES)
_FIAS_NUMBER = re.compile(r"[0-9]{1,10}")


def fias_reservation_number(number: str) -> bool:
    """True if ``number`` can be a FIAS ``G#`` (1 to 10 digits)."""
    return _FIAS_NUMBER.fullmatch(number) is not None


def is_captured(status: str) -> bool:
    """A captured status (``Payment Success``, ``succeeded``...), ignoring case and edge spaces."""
    return status.strip().casefold() in _CAPTURED


def plan_legs(
    event: PaymentEvent,
    prop: PropertyConfig,
    original_legs: Sequence[PlannedLeg | Leg] = (),
) -> JourneyPlan:
    """Plan the legs of ``event`` for ``prop``.

    ``original_legs`` are the legs of the event a ``payment.refunded`` refunds (its
    ``refund_of``): journaled :class:`~adapters.domain.Leg` objects or their plans; other
    events ignore them. A journaled leg that was rejected, is unknown, or was resolved by an
    operator is not reversed automatically (nobody knows what it left on the folio): the
    refund becomes an exception.
    """
    if event.property != prop.name:
        raise ValueError(f"event {event.event_id} is for {event.property}, not {prop.name}")
    if event.type in (EventType.PAYMENT_PENDING, EventType.PAYMENT_FAILED):
        return JourneyPlan(
            PlanOutcome.NOT_POSTED, reason=f"{event.type} events are journaled, never posted"
        )
    return _Journey(event, prop).plan(original_legs)


class _Mapping(Exception):
    """A code the configuration does not map, or another reason this event cannot post."""


class _Journey:
    def __init__(self, event: PaymentEvent, prop: PropertyConfig) -> None:
        self.event = event
        self.prop = prop
        self.traits = prop.traits
        self.legs: list[PlannedLeg] = []
        self.currency = prop.currency

    def plan(self, original_legs: Sequence[PlannedLeg | Leg]) -> JourneyPlan:
        event = self.event
        if event.booking is None:
            raise ValueError(f"event {event.event_id} ({event.type}) has no booking")
        try:
            if event.type is EventType.DEPOSIT_REDEEMED:
                return self.redemption()
            payment = event.payment
            if payment is None:
                raise ValueError(f"event {event.event_id} ({event.type}) has no payment")
            if not is_captured(payment.status):
                return JourneyPlan(
                    PlanOutcome.NOT_POSTED,
                    reason=f"status {payment.status!r} is not a captured status; "
                    "journaled, not posted",
                )
            self.check_currency(payment)
            if event.type is EventType.PAYMENT_REFUNDED:
                return self.refund(payment, original_legs)
            if event.type is EventType.PAYMENT_SUCCEEDED:
                return self.payment(payment)
            raise ValueError(f"no journey for event type {event.type}")
        except _Mapping as exc:
            return JourneyPlan(PlanOutcome.EXCEPTION, reason=str(exc))

    # -- journeys --

    def payment(self, payment: Payment) -> JourneyPlan:
        payment_type = self.payment_type(payment.method)
        if payment.kind is PaymentKind.ACCOUNT:
            # An A/R account is not a guest: it never waits for a check-in.
            self.add(None, payment_type, payment.amount, "A/R payment", needs_guest=False)
            self.legs[-1] = replace(self.legs[-1], needs_in_house=False)
            return self.post(PostingTarget.ACCOUNT)
        self.check_reservation_number()
        if payment.kind is PaymentKind.DEPOSIT:
            self.charge_settled(
                self.prop.codes.deposit, payment_type, payment.amount, "deposit",
                charge_needs_guest=False, payment_needs_guest=False,
            )  # fmt: skip
        elif payment.kind in (PaymentKind.BALANCE, PaymentKind.EVENT_SETTLEMENT):
            self.add(None, payment_type, payment.amount, "payment", needs_guest=False)
        elif payment.kind is PaymentKind.ORDER:
            revenue = self.revenue_codes()
            self.check_items_total(payment.amount, "the order payment")
            if self.traits.charge_and_settlement_in_one_leg:
                for item, code in zip(self.event.items, revenue, strict=True):
                    self.add(code, payment_type, item.amount, (item.description or item.code))
            else:
                for item, code in zip(self.event.items, revenue, strict=True):
                    self.add(code, None, item.amount, (item.description or item.code))
                self.add(None, payment_type, payment.amount, "payment", needs_guest=False)
        else:  # pragma: no cover - every PaymentKind is handled above
            raise ValueError(f"no journey for payment kind {payment.kind}")
        return self.post()

    def redemption(self) -> JourneyPlan:
        payment = self.event.payment
        if payment is not None:
            self.check_currency(payment)
        self.check_reservation_number()
        revenue = self.revenue_codes()
        total = sum(item.amount for item in self.event.items)
        if payment is not None:
            self.check_items_total(payment.amount, "the redeemed deposit")
        codes = self.prop.codes
        if self.prop.posting_mode is PostingMode.NORMAL:
            redemption = codes.redemption_payment_type
            if redemption is None:
                raise _Mapping(
                    f"properties.{self.prop.name}.codes.redemption_payment_type is not set; "
                    "normal posting mode clears deposits with it"
                )
            if self.traits.charge_and_settlement_in_one_leg:
                for item, code in zip(self.event.items, revenue, strict=True):
                    self.add(code, redemption, item.amount, (item.description or item.code))
            else:
                for item, code in zip(self.event.items, revenue, strict=True):
                    self.add(code, None, item.amount, (item.description or item.code))
                self.add(None, redemption, total, "deposit redemption", needs_guest=False)
        else:
            for item, code in zip(self.event.items, revenue, strict=True):
                self.add(code, None, item.amount, (item.description or item.code))
            self.add(codes.deposit, None, -total, "deposit redemption")
        return self.post()

    def refund(self, payment: Payment, journaled: Sequence[PlannedLeg | Leg]) -> JourneyPlan:
        refund_of = self.event.refund_of
        if not journaled:
            raise _Mapping(
                f"refund of {refund_of}: that event has no legs to reverse; post by hand"
            )
        original_legs: list[PlannedLeg] = []
        for leg in sorted(journaled, key=lambda leg: leg.leg_index):
            if isinstance(leg, Leg):
                if leg.state in _NOT_REVERSIBLE:
                    raise _Mapping(
                        f"refund of {refund_of}: its leg {leg.leg_index} is {leg.state}; "
                        "post by hand"
                    )
                original_legs.append(leg.plan)
            else:
                original_legs.append(leg)
        for leg in original_legs:
            if leg.currency != payment.currency:
                raise _Mapping(
                    f"refund of {refund_of} is in {payment.currency} but the original "
                    f"posted in {leg.currency}; post by hand"
                )
        captured = sum(leg.amount for leg in original_legs if leg.payment_type is not None)
        if payment.amount == captured:
            reversal = [-leg.amount for leg in original_legs]
        elif payment.amount < captured and all(leg.amount == captured for leg in original_legs):
            reversal = [-payment.amount for _ in original_legs]
        elif payment.amount > captured:
            raise _Mapping(
                f"refund of {refund_of} ({self.money(payment.amount)}) is more than the "
                f"original payment ({self.money(captured)}); post by hand"
            )
        else:
            raise _Mapping(
                f"partial refund of {refund_of} ({self.money(payment.amount)} of "
                f"{self.money(captured)}) posted in legs of different amounts; post by hand"
            )
        legs = tuple(
            replace(leg, leg_index=index, amount=amount, description=f"refund: {leg.description}")
            for index, (leg, amount) in enumerate(zip(original_legs, reversal, strict=True))
        )
        why = None
        if payment.kind is PaymentKind.ACCOUNT:
            why = "A/R accounts take positive amounts only"
        elif not self.prop.allow_negative:
            why = f"property {self.prop.name} does not allow negative postings"
        if why is not None:
            what = "; ".join(self.describe(leg) for leg in legs)
            return JourneyPlan(
                PlanOutcome.EXCEPTION,
                reason=f"refund of {refund_of}: {why}; post by hand: {what}",
                by_hand=legs,
            )
        self.check_reservation_number()
        return JourneyPlan(PlanOutcome.POST, legs=legs)

    # -- helpers --

    def post(self, target: PostingTarget = PostingTarget.RESERVATION) -> JourneyPlan:
        return JourneyPlan(PlanOutcome.POST, legs=tuple(self.legs), target=target)

    def add(
        self,
        transaction_code: str | None,
        payment_type: str | None,
        amount: int,
        description: str,
        *,
        needs_guest: bool = True,
    ) -> None:
        """Append a leg. ``needs_guest``: does it need the guest in house on a profile that
        may post before arrival? (Profiles that may not always need the guest.)"""
        self.legs.append(
            PlannedLeg(
                leg_index=len(self.legs),
                transaction_code=transaction_code,
                payment_type=payment_type,
                amount=amount,
                currency=self.currency,
                description=description,
                needs_in_house=needs_guest or not self.traits.posts_before_arrival,
            )
        )

    def charge_settled(
        self,
        code: str,
        payment_type: str,
        amount: int,
        description: str,
        *,
        charge_needs_guest: bool,
        payment_needs_guest: bool,
    ) -> None:
        """A charge settled by a payment type: one leg where the profile allows, else two."""
        if self.traits.charge_and_settlement_in_one_leg:
            self.add(
                code, payment_type, amount, description,
                needs_guest=charge_needs_guest or payment_needs_guest,
            )  # fmt: skip
        else:
            self.add(code, None, amount, description, needs_guest=charge_needs_guest)
            self.add(None, payment_type, amount, description, needs_guest=payment_needs_guest)

    def payment_type(self, method: str) -> str:
        payment_type = self.prop.codes.payment_types.get(method)
        if payment_type is None:
            raise _Mapping(
                f"payment method {method!r} has no PMS payment type in "
                f"properties.{self.prop.name}.codes.payment_types"
            )
        return payment_type

    def revenue_codes(self) -> list[str]:
        if not self.event.items:
            raise _Mapping(f"{self.event.type} event lists no items to post as revenue")
        mapping = self.prop.codes.revenue
        unmapped = sorted({i.code for i in self.event.items if i.code not in mapping})
        if unmapped:
            raise _Mapping(
                f"item code{'s' if len(unmapped) > 1 else ''} {', '.join(unmapped)} "
                f"{'have' if len(unmapped) > 1 else 'has'} no PMS revenue code in "
                f"properties.{self.prop.name}.codes.revenue"
            )
        return [mapping[item.code] for item in self.event.items]

    def check_items_total(self, amount: int, what: str) -> None:
        total = sum(item.amount for item in self.event.items)
        if total != amount:
            raise _Mapping(
                f"items add up to {self.money(total)} but {what} is {self.money(amount)}; "
                "post by hand"
            )

    def check_currency(self, payment: Payment) -> None:
        if payment.currency != self.prop.currency:
            raise _Mapping(
                f"payment is in {payment.currency}; property {self.prop.name} posts in "
                f"{self.prop.currency} (foliogate never converts)"
            )

    def check_reservation_number(self) -> None:
        assert self.event.booking is not None
        number = self.event.booking.confirmation_number
        if self.prop.profile is Profile.FIAS and not fias_reservation_number(number):
            raise _Mapping(
                f"confirmation number {number!r} cannot be a FIAS reservation number "
                "(G# is up to 10 digits)"
            )

    def money(self, amount: int) -> str:
        return format_minor(amount, self.currency)

    def describe(self, leg: PlannedLeg) -> str:
        amount = format_minor(leg.amount, leg.currency)
        if leg.transaction_code and leg.payment_type:
            return f"{leg.transaction_code} {amount} settled by {leg.payment_type}"
        if leg.transaction_code:
            return f"{leg.transaction_code} {amount} on the folio"
        return f"payment type {leg.payment_type} {amount}"
