"""The gateway's domain model: payment events, posting legs and their states.

This module is the contract between the gateway's parts (events, journeys, journal,
dispatcher, protocol adapters). It holds plain frozen dataclasses and enums only.

Money is always integer minor units plus an ISO 4217 currency code; never a float.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class EventType(StrEnum):
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_REFUNDED = "payment.refunded"
    DEPOSIT_REDEEMED = "deposit.redeemed"
    PAYMENT_PENDING = "payment.pending"
    PAYMENT_FAILED = "payment.failed"


class PaymentKind(StrEnum):
    DEPOSIT = "deposit"
    BALANCE = "balance"
    ACCOUNT = "account"
    ORDER = "order"
    EVENT_SETTLEMENT = "event_settlement"


class PostingMode(StrEnum):
    """DESIGN section 3: how a deposit is cleared on departure."""

    NORMAL = "normal"  # FIAS: cleared by the Deposit Redemption payment type
    NEGATIVE = "negative"  # SOAP profiles: a negative sale on the deposit code


class LegState(StrEnum):
    """DESIGN section 5: planned -> waiting -> sent -> posted | rejected | unknown -> resolved."""

    PLANNED = "planned"
    WAITING = "waiting"  # guest not in house, night audit, resync, link down, backoff
    SENT = "sent"  # on the wire; outcome not yet known
    POSTED = "posted"  # the PMS answered OK
    REJECTED = "rejected"  # terminal answer; in the exception queue
    UNKNOWN = "unknown"  # no answer in time; never re-sent on its own; in the exception queue
    RESOLVED = "resolved"  # an operator closed it with a note


#: States an operator must act on (the exception queue).
EXCEPTION_STATES = frozenset({LegState.REJECTED, LegState.UNKNOWN})
#: States the dispatcher may still send.
PENDING_STATES = frozenset({LegState.PLANNED, LegState.WAITING})
#: Captured statuses: only these post (DESIGN section 2).
CAPTURED_STATUSES = frozenset({"Payment Success", "succeeded", "captured", "paid"})


@dataclass(frozen=True)
class Payment:
    kind: PaymentKind
    amount: int  # minor units, > 0
    currency: str  # ISO 4217, upper case
    transaction_id: str
    method: str  # the platform's payment type, mapped to a PMS payment type by config
    status: str  # the platform's own status text, kept for audit
    card_type: str | None = None
    card_last4: str | None = None  # never more than the last four digits


@dataclass(frozen=True)
class Booking:
    confirmation_number: str  # the PMS reservation (FIAS G#), folio or A/R account
    guest_name: str | None = None
    arrival: dt.date | None = None
    departure: dt.date | None = None


@dataclass(frozen=True)
class Item:
    """What a redeemed deposit pays for (``deposit.redeemed``)."""

    code: str  # the platform's item code, mapped to a PMS revenue code by config
    amount: int  # minor units
    description: str = ""


@dataclass(frozen=True)
class PaymentEvent:
    """One normalized payment event (DESIGN section 2), validated."""

    event_id: str
    type: EventType
    property: str
    occurred_at: dt.datetime  # timezone-aware
    payment: Payment | None = None
    booking: Booking | None = None
    items: tuple[Item, ...] = ()
    refund_of: str | None = None


@dataclass(frozen=True)
class PlannedLeg:
    """One posting a journey asks for; a protocol adapter turns it into wire messages.

    A leg is one posting on the PMS: an optional charge on ``transaction_code`` settled by
    an optional ``payment_type``. On FIAS both travel in one ``PR`` (``SO`` and ``PM``);
    ``payment_type=None`` means the charge stays on the guest's room folio (``PMROOM``),
    ``transaction_code=None`` means a bare payment. ``amount`` is signed minor units: what
    goes in ``TA`` (a reversal is negative). Codes are the PMS's own names from the
    property's configuration, never hard-coded.
    """

    leg_index: int
    transaction_code: str | None
    payment_type: str | None
    amount: int
    currency: str
    description: str = ""
    #: FIAS and charge postings need the guest checked in; SOAP deposits may post earlier.
    needs_in_house: bool = True


@dataclass(frozen=True)
class Leg:
    """A journaled leg: a :class:`PlannedLeg` with its identity and current state."""

    leg_id: int
    event_id: str
    leg_index: int
    property: str
    confirmation_number: str
    plan: PlannedLeg
    state: LegState
    reference: str  # stable idempotency reference "<event_id>/<leg_index>"; reused on retry
    attempts: int = 0
    reason: str | None = None  # why it waits, or the PMS's text for a rejection
    answer_status: str | None = None  # FIAS AS / SOAP result code of the last answer
    posting_number: int | None = None  # FIAS P# of the last posting attempt
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    not_before: dt.datetime | None = None  # backoff: do not send before this time
    notes: tuple[str, ...] = field(default=())


def leg_reference(event_id: str, leg_index: int) -> str:
    """The stable idempotency reference of a leg (DESIGN section 5)."""
    return f"{event_id}/{leg_index}"
