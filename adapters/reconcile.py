"""Reconciliation: captured payments against postings, night-audit totals, payout exports.

Finance asks three questions of a business date, and :func:`reconcile` answers them from the
journal alone (and a payout export when given); it is pure (no Twisted, no network):

1. **Did every captured payment reach the PMS?** Every journaled ``payment.succeeded`` (and
   ``payment.refunded``) event with a captured status is a *payment*. It is ``posted`` when all
   its legs posted, ``resolved`` when the rest were closed by an operator (posted by hand, or
   decided otherwise: the note says), else ``unreconciled`` with the reason (each open leg's
   state and the PMS's answer or the wait reason; ``journaled, not posted: ...`` for an event a
   journey could not plan) and its age (from the payment's ``occurred_at`` to now). The report
   lists the payments captured on the business date, and every payment captured on or before
   it that is still unreconciled (an aged open-items list).
2. **What did the interfaces post that day?** Totals per transaction code and per payment type
   of the legs that posted on the business date, with the folio signs of
   :func:`adapters.journeys.folio_lines` (a charge ``+amount`` on its code, a payment
   ``-amount`` on its payment type): the figures the PMS's night audit shows for interface
   postings, and the simulator's ``GET /trial-balance?business_date=...``.
3. **Does the money paid out match what was posted?** With a payout export (below), rows are
   matched to payments by transaction id: *paid out but not posted*, *posted but not paid out*
   (payments captured on the business date, posted, and not in the file), *amount mismatch*
   (paid out vs posted, minor units, signed: refunds are negative) and *currency mismatch*.

**Which business date a posting belongs to.** The gateway is never told the PMS's business date
(FIAS has no field for it; the PMS books a posting on its own business date, and postings
between midnight and the night audit count as the day before, reference/fias.md 2.7). So the
date is derived from what the journal saw, in the property's local time zone:

- the PMS's night audits: every ``NE`` (night audit end) the FIAS link received is in the wire
  log. An audit that ends between noon of day D and noon of day D+1 closes business date D and
  opens D+1;
- a posting (or a capture) at time *t* belongs to the date closed by the first audit after *t*,
  if one ended within 36 hours after *t*; else to the date opened by the last audit before *t*,
  if one ended within 36 hours before *t*; else (no audits seen: a SOAP property, a new link, a
  long outage) to the calendar date of *t*.

A posting's time is when the gateway journaled the PMS's ``ASOK`` (the leg's last transition).
The time zone is the one you give (``--timezone``; default: the machine's local zone), since
the configuration does not name one per property yet.

**Payout exports.** CSV, UTF-8 (a BOM is fine). The layout is recognised from the header row
(names compared without case, surrounding spaces or repeated spaces). Amounts are decimal major
units (``50.00``) converted to integer minor units exactly with the ISO 4217 exponent table of
:mod:`adapters.money` (``5000`` GBP pence, ``5000`` JPY, ``5.000`` BHD = ``5000`` fils): never
through floats; trailing zeros past the exponent are accepted (``5000.00`` JPY), any other
extra digit is an error naming the line and column.

``stripe``
    Stripe's itemized balance and payout reconciliation reports
    (``balance_change_from_activity.itemized.*``, ``payout_reconciliation.itemized.*``: columns
    ``balance_transaction_id``, ``gross``, ``fee``, ``net``, ``currency``, ``reporting_category``,
    ``source_id``, ``charge_id``, ``payment_intent_id``, ``automatic_payout_id``) and the
    Dashboard's balance export (``id``, ``Type``, ``Source``, ``Amount``, ``Fee``, ``Net``,
    ``Currency``, ``Transfer`` or ``Payout ID``). Amount: ``gross`` (else ``amount``); currency
    lower case is fine. Category: ``reporting_category`` (else ``type``): ``charge``/``payment``
    are payments, ``refund``/``payment_refund`` refunds, the rest (fees, payouts, adjustments,
    disputes) are counted and not matched. Transaction id: the first of ``source_id``,
    ``charge_id``, ``payment_intent_id``, ``source``, ``balance_transaction_id``, ``id`` that the
    journal knows (so an event may carry the ``pi_...`` or the ``ch_...`` id). Payout:
    ``automatic_payout_id``, ``payout_id``, ``payout`` or ``transfer``.
``adyen``
    Adyen's Settlement details report (``Company Account``, ``Merchant Account``, ``Psp
    Reference``, ``Merchant Reference``, ``Type``, ``Modification Reference``, ``Gross
    Currency``, ``Gross Debit (GC)``, ``Gross Credit (GC)``, ``Net Currency``, ``Net Debit
    (NC)``, ``Net Credit (NC)``, ``Commission (NC)``, ``Markup (NC)``, ``Scheme Fees (NC)``,
    ``Interchange (NC)``, ``Batch Number``...). ``Settled`` rows are payments (amount ``Gross
    Credit (GC)``), ``Refunded`` rows refunds (amount minus ``Gross Debit (GC)``); other types
    (``Fee``, ``MerchantPayout``, ``Chargeback``...) are counted, not matched. Fee: the sum of
    commission, markup, scheme fees and interchange; net: net credit minus net debit (both in
    the net currency). Transaction id: ``Psp Reference`` (refunds: ``Modification Reference``
    first), else ``Merchant Reference``, whichever the journal knows. Payout: ``Batch Number``.
``foliogate``
    A plain layout for any other gateway (Checkout.com, Braintree... exports reduced to these
    columns): ``transaction_id``, ``amount``, ``currency`` (required), ``fee``, ``net``,
    ``payout_id``, ``type`` (optional; ``refund``/``refunded``/``credit`` are refunds, other
    values other than ``payment``/``charge``/``capture``/``sale``/``settled`` are not matched;
    without a type a negative amount is a refund).

Rows whose transaction id belongs to another property's events are left out (a group's single
gateway account pays out for several hotels). Several rows for one transaction id (a capture and
its refund under the same id) are summed before matching.
"""

from __future__ import annotations

import builtins
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from adapters.domain import EventType, Leg, LegState
from adapters.journeys import folio_lines, is_captured
from adapters.money import format_minor, minor_unit_exponent

__all__ = [
    "AUDIT_WINDOW",
    "BusinessCalendar",
    "LAYOUTS",
    "MismatchKind",
    "PaymentLine",
    "PaymentStatus",
    "PayoutFile",
    "PayoutFileError",
    "PayoutMismatch",
    "PayoutReconciliation",
    "PayoutRow",
    "PayoutSummary",
    "QueryError",
    "ReconciliationReport",
    "Total",
    "build_report",
    "format_csv",
    "format_table",
    "load_payouts",
    "parse_amount",
    "read_payouts",
    "reconcile",
    "reconcile_query",
    "report_json",
]

#: Event types whose payments are reconciled (money taken, money given back).
RECONCILED_TYPES = (EventType.PAYMENT_SUCCEEDED.value, EventType.PAYMENT_REFUNDED.value)
#: How far from a night audit a posting may be and still be dated by it.
AUDIT_WINDOW = dt.timedelta(hours=36)
#: An audit that ends less than this after midnight still closes the day before.
_AUDIT_SHIFT = dt.timedelta(hours=12)


# ---------------------------------------------------------------------------------------------
# Business dates
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessCalendar:
    """Dates postings by the night audits the PMS reported (see the module docstring).

    >>> utc = dt.timezone.utc
    >>> cal = BusinessCalendar(utc, (dt.datetime(2026, 11, 28, 2, 10, tzinfo=utc),))
    >>> cal.business_date(dt.datetime(2026, 11, 28, 1, 0, tzinfo=utc))  # before that audit
    datetime.date(2026, 11, 27)
    >>> cal.business_date(dt.datetime(2026, 11, 28, 9, 0, tzinfo=utc))  # after it
    datetime.date(2026, 11, 28)
    >>> BusinessCalendar(utc).business_date(dt.datetime(2026, 11, 28, 1, 0, tzinfo=utc))
    datetime.date(2026, 11, 28)
    """

    tz: dt.tzinfo
    audit_ends: tuple[dt.datetime, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "audit_ends", tuple(sorted(self.audit_ends)))

    def closed_by(self, audit_end: dt.datetime) -> dt.date:
        """The business date an audit ending at ``audit_end`` closes."""
        return (audit_end.astimezone(self.tz) - _AUDIT_SHIFT).date()

    def business_date(self, when: dt.datetime) -> dt.date:
        after = next((e for e in self.audit_ends if e > when), None)
        if after is not None and after - when <= AUDIT_WINDOW:
            return self.closed_by(after)
        before = next((e for e in reversed(self.audit_ends) if e <= when), None)
        if before is not None and when - before <= AUDIT_WINDOW:
            return self.closed_by(before) + dt.timedelta(days=1)
        return when.astimezone(self.tz).date()


# ---------------------------------------------------------------------------------------------
# Payout exports
# ---------------------------------------------------------------------------------------------


class PayoutFileError(ValueError):
    """A payout export that cannot be read: says which line and column, and why."""


@dataclass(frozen=True)
class PayoutRow:
    """One row of a payout export, amounts in signed integer minor units."""

    line: int  # 1-based line number in the file (the header is line 1)
    category: str  # "payment" | "refund" | "other"
    kind: str  # the export's own type text ("Settled", "charge"...)
    keys: tuple[str, ...]  # candidate transaction ids, best first
    amount: int  # gross; refunds negative
    currency: str
    fee: int | None = None
    net: int | None = None
    payout_id: str | None = None

    @property
    def transaction_id(self) -> str:
        return self.keys[0] if self.keys else ""


@dataclass(frozen=True)
class PayoutFile:
    source: str  # the file name, for the report
    layout: str  # "stripe" | "adyen" | "foliogate"
    rows: tuple[PayoutRow, ...]


_AMOUNT = re.compile(r"(?P<sign>[+-]?)(?P<units>[0-9]+)(?:\.(?P<fraction>[0-9]*))?")


def parse_amount(text: str, currency: str) -> int:
    """Decimal major units to integer minor units, exactly (never through a float).

    >>> parse_amount("50.00", "GBP"), parse_amount("-0.5", "GBP"), parse_amount("5000.00", "JPY")
    (5000, -50, 5000)
    >>> parse_amount("5.125", "BHD")
    5125
    >>> parse_amount("0.125", "GBP")
    Traceback (most recent call last):
    ...
    ValueError: '0.125' has more decimals than GBP has (2)
    """
    exponent = minor_unit_exponent(currency)
    match = _AMOUNT.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a decimal amount (digits, optionally '.' and decimals)")
    fraction = match["fraction"] or ""
    extra = fraction[exponent:]
    if extra.strip("0"):
        raise ValueError(f"{text!r} has more decimals than {currency} has ({exponent})")
    fraction = fraction[:exponent].ljust(exponent, "0")
    minor: int = int(match["units"]) * 10**exponent + (int(fraction) if fraction else 0)
    return -minor if match["sign"] == "-" else minor


def _norm(header: str) -> str:
    return " ".join(header.strip().lower().split())


class _Row:
    """One CSV row by normalized column name, with errors that name line and column."""

    def __init__(self, line: int, columns: Mapping[str, int], cells: Sequence[str]) -> None:
        self.line = line
        self._columns = columns
        self._cells = cells

    def get(self, *names: str) -> str:
        """The first non-empty cell of ``names`` (normalized), or ''."""
        for name in names:
            index = self._columns.get(name)
            if index is not None and index < len(self._cells) and self._cells[index].strip():
                return self._cells[index].strip()
        return ""

    def texts(self, *names: str) -> tuple[str, ...]:
        seen: list[str] = []
        for name in names:
            value = self.get(name)
            if value and value not in seen:
                seen.append(value)
        return tuple(seen)

    def amount(self, currency: str, *names: str) -> int | None:
        for name in names:
            text = self.get(name)
            if text:
                try:
                    return parse_amount(text, currency)
                except ValueError as exc:
                    raise PayoutFileError(f"line {self.line}, column {name!r}: {exc}") from None
        return None

    def currency(self, *names: str) -> str:
        text = self.get(*names).upper()
        try:
            minor_unit_exponent(text)
        except ValueError:
            raise PayoutFileError(
                f"line {self.line}, column {names[0]!r}: {text!r} is not an ISO 4217 currency"
            ) from None
        return text


@dataclass(frozen=True)
class _Layout:
    name: str
    detect: Callable[[frozenset[str]], bool]
    row: Callable[[_Row], PayoutRow | None]
    required: str  # for the error listing the layouts


def _category(text: str, payments: Iterable[str], refunds: Iterable[str], amount: int) -> str:
    kind = text.strip().lower()
    if not kind:
        return "refund" if amount < 0 else "payment"
    if kind in payments:
        return "payment"
    if kind in refunds:
        return "refund"
    return "other"


_STRIPE_KEYS = (
    "source_id", "charge_id", "payment_intent_id", "source", "balance_transaction_id", "id",
)  # fmt: skip
_STRIPE_IDS = frozenset(_STRIPE_KEYS)


def _stripe_detect(headers: frozenset[str]) -> bool:
    return (
        "currency" in headers
        and bool(headers & {"gross", "amount"})
        and bool(headers & _STRIPE_IDS)
        and "transaction_id" not in headers
    )


def _stripe_row(row: _Row) -> PayoutRow | None:
    currency = row.currency("currency")
    amount = row.amount(currency, "gross", "amount")
    if amount is None:
        raise PayoutFileError(f"line {row.line}: no amount (gross or amount)")
    kind = row.get("reporting_category", "type")
    return PayoutRow(
        line=row.line,
        category=_category(kind, ("charge", "payment"), ("refund", "payment_refund"), amount),
        kind=kind,
        keys=row.texts(*_STRIPE_KEYS),
        amount=amount,
        currency=currency,
        fee=row.amount(currency, "fee"),
        net=row.amount(currency, "net"),
        payout_id=row.get("automatic_payout_id", "payout_id", "payout", "transfer") or None,
    )


_ADYEN_REQUIRED = frozenset({"psp reference", "merchant reference", "type", "gross currency"})


def _adyen_detect(headers: frozenset[str]) -> bool:
    return _ADYEN_REQUIRED <= headers and bool(headers & {"gross credit (gc)", "gross debit (gc)"})


def _adyen_row(row: _Row) -> PayoutRow | None:
    kind = row.get("type")
    gross_currency = row.get("gross currency")
    net_currency = row.get("net currency")
    if not gross_currency and not net_currency:
        return None  # a summary line without money
    currency = row.currency("gross currency") if gross_currency else row.currency("net currency")
    credit = row.amount(currency, "gross credit (gc)") if gross_currency else None
    debit = row.amount(currency, "gross debit (gc)") if gross_currency else None
    amount = (credit or 0) - (debit or 0)
    net = None
    fee = None
    if net_currency:
        nc = row.currency("net currency")
        net_credit = row.amount(nc, "net credit (nc)")
        net_debit = row.amount(nc, "net debit (nc)")
        if net_credit is not None or net_debit is not None:
            net = (net_credit or 0) - (net_debit or 0)
        parts = [
            row.amount(nc, name)
            for name in ("commission (nc)", "markup (nc)", "scheme fees (nc)", "interchange (nc)")
        ]
        if any(p is not None for p in parts):
            fee = sum(p or 0 for p in parts)
    category = {"settled": "payment", "refunded": "refund"}.get(kind.lower(), "other")
    if category == "refund":
        keys = row.texts("modification reference", "psp reference", "merchant reference")
    else:
        keys = row.texts("psp reference", "merchant reference")
    return PayoutRow(
        line=row.line,
        category=category,
        kind=kind,
        keys=keys,
        amount=amount,
        currency=currency,
        fee=fee,
        net=net,
        payout_id=row.get("batch number") or None,
    )


def _plain_detect(headers: frozenset[str]) -> bool:
    return {"transaction_id", "amount", "currency"} <= headers


def _plain_row(row: _Row) -> PayoutRow | None:
    currency = row.currency("currency")
    amount = row.amount(currency, "amount")
    if amount is None:
        raise PayoutFileError(f"line {row.line}: no amount")
    kind = row.get("type")
    return PayoutRow(
        line=row.line,
        category=_category(
            kind,
            ("payment", "charge", "capture", "sale", "settled"),
            ("refund", "refunded", "credit"),
            amount,
        ),
        kind=kind,
        keys=row.texts("transaction_id"),
        amount=amount,
        currency=currency,
        fee=row.amount(currency, "fee"),
        net=row.amount(currency, "net"),
        payout_id=row.get("payout_id") or None,
    )


#: The payout export layouts, tried in this order against the header row.
LAYOUTS: tuple[_Layout, ...] = (
    _Layout("adyen", _adyen_detect, _adyen_row,
            "Psp Reference, Merchant Reference, Type, Gross Currency, Gross Credit (GC)"),
    _Layout("foliogate", _plain_detect, _plain_row, "transaction_id, amount, currency"),
    _Layout("stripe", _stripe_detect, _stripe_row,
            "currency, gross or amount, and source_id, id or balance_transaction_id"),
)  # fmt: skip


def read_payouts(text: str, source: str = "payouts") -> PayoutFile:
    """Parse a payout export (see the module docstring for the layouts)."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header: list[str] | None = None
    rows: list[PayoutRow] = []
    layout: _Layout | None = None
    columns: dict[str, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = cells
                for index, name in enumerate(cells):
                    columns.setdefault(_norm(name), index)
                names = frozenset(columns)
                layout = next((lay for lay in LAYOUTS if lay.detect(names)), None)
                if layout is None:
                    wanted = "; ".join(f"{lay.name}: {lay.required}" for lay in LAYOUTS)
                    raise PayoutFileError(
                        f"{source}: line {line}: the header row matches no known payout layout "
                        f"(found: {', '.join(cells)}; want one of: {wanted})"
                    )
                continue
            assert layout is not None
            row = layout.row(_Row(line, columns, cells))
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        raise PayoutFileError(f"{source}: line {reader.line_num}: {exc}") from None
    except PayoutFileError as exc:
        if str(exc).startswith(source):
            raise
        raise PayoutFileError(f"{source}: {exc}") from None
    if header is None or layout is None:
        raise PayoutFileError(f"{source}: empty file (no header row)")
    return PayoutFile(source=source, layout=layout.name, rows=tuple(rows))


def load_payouts(path: str | Path) -> PayoutFile:
    """Read a payout export file (UTF-8, BOM allowed)."""
    p = Path(path)
    return read_payouts(p.read_text(encoding="utf-8-sig"), source=p.name)


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


class PaymentStatus(StrEnum):
    POSTED = "posted"  # every leg posted
    RESOLVED = "resolved"  # the legs not posted were closed by an operator with a note
    UNRECONCILED = "unreconciled"  # money taken (or given back) that the PMS does not show


@dataclass(frozen=True)
class LegLine:
    leg_id: int
    reference: str
    state: str
    transaction_code: str | None
    payment_type: str | None
    amount: int
    currency: str
    reason: str | None
    answer_status: str | None
    posted_at: dt.datetime | None
    business_date: dt.date | None


@dataclass(frozen=True)
class PaymentLine:
    """One captured payment (or refund) and what became of it."""

    event_id: str
    type: str
    transaction_id: str
    kind: str
    confirmation_number: str | None
    amount: int  # signed: a refund is negative
    currency: str
    occurred_at: dt.datetime
    business_date: dt.date
    status: PaymentStatus
    posted_amount: int  # what the posted legs put on payment types (signed like ``amount``)
    posted_currency: str | None  # the legs' currency (the property's; differs if converted)
    reason: str | None  # why it is unreconciled
    age_seconds: int  # from occurred_at to the report's time
    legs: tuple[LegLine, ...] = ()


@dataclass(frozen=True)
class Total:
    kind: str  # "transaction_code" | "payment_type"
    code: str
    currency: str
    count: int
    amount: int


class MismatchKind(StrEnum):
    PAID_OUT_NOT_POSTED = "paid_out_not_posted"
    POSTED_NOT_PAID_OUT = "posted_not_paid_out"
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"


@dataclass(frozen=True)
class PayoutMismatch:
    kind: MismatchKind
    transaction_id: str
    payout_ids: tuple[str, ...]
    paid_out: int | None  # the export's gross (sum of its rows), minor units
    paid_out_currency: str | None
    posted: int | None  # what the PMS has for it, minor units
    currency: str | None  # the journal's currency
    event_ids: tuple[str, ...]
    lines: tuple[int, ...]  # the export's line numbers
    reason: str


@dataclass(frozen=True)
class PayoutSummary:
    payout_id: str
    currency: str
    rows: int
    gross: int
    fee: int
    net: int


@dataclass(frozen=True)
class PayoutReconciliation:
    source: str
    layout: str
    rows: int
    matched: int
    other_rows: Mapping[str, int]  # kind -> count of rows not matched (fees, payouts...)
    other_property_rows: int
    payouts: tuple[PayoutSummary, ...]
    mismatches: tuple[PayoutMismatch, ...]


@dataclass(frozen=True)
class ReconciliationReport:
    property: str
    business_date: dt.date
    generated_at: dt.datetime
    timezone: str
    audits_seen: int
    payments: tuple[PaymentLine, ...]  # captured on the business date
    unreconciled: tuple[PaymentLine, ...]  # captured on or before it, still open
    totals: tuple[Total, ...]
    posted_legs: int
    payouts: PayoutReconciliation | None = None
    notes: tuple[str, ...] = field(default=())

    @builtins.property  # the field ``property`` shadows the builtin in this class body
    def reconciled(self) -> bool:
        """Nothing unreconciled and no payout mismatch."""
        return not self.unreconciled and not (self.payouts and self.payouts.mismatches)


def _parse_time(text: str | None, fallback: dt.datetime) -> dt.datetime:
    if not text:
        return fallback
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _leg_reason(leg: Leg) -> str:
    state = leg.state.value
    status = f" (AS {leg.answer_status})" if leg.answer_status else ""
    if leg.state is LegState.PLANNED and not leg.reason:
        return f"leg {leg.leg_id} planned: not sent yet"
    if leg.state is LegState.SENT:
        return f"leg {leg.leg_id} sent: waiting for the PMS's answer"
    return f"leg {leg.leg_id} {state}{status}: {leg.reason or 'no reason given'}"


def _payment_line(record: Any, calendar: BusinessCalendar, now: dt.datetime) -> PaymentLine | None:
    """A payment for a journaled event, or None if it is not a captured payment."""
    if record.type not in RECONCILED_TYPES:
        return None
    try:
        body = record.body_json()
    except ValueError:
        return None
    payment = body.get("payment") if isinstance(body, dict) else None
    if not isinstance(payment, dict) or not is_captured(str(payment.get("status", ""))):
        return None
    occurred = _parse_time(record.occurred_at, record.received_at)
    sign = -1 if record.type == EventType.PAYMENT_REFUNDED.value else 1
    legs = tuple(record.legs)
    posted = [leg for leg in legs if leg.state is LegState.POSTED]
    open_legs = [leg for leg in legs if leg.state not in (LegState.POSTED, LegState.RESOLVED)]
    reason: str | None = None
    if legs:
        if open_legs:
            status = PaymentStatus.UNRECONCILED
            reason = "; ".join(_leg_reason(leg) for leg in open_legs)
        elif len(posted) == len(legs):
            status = PaymentStatus.POSTED
        else:
            status = PaymentStatus.RESOLVED
    elif record.status.value == "resolved":
        status = PaymentStatus.RESOLVED
    else:
        status = PaymentStatus.UNRECONCILED
        reason = f"journaled, not posted: {record.outcome or 'the journey planned no legs'}"
    booking = body.get("booking") if isinstance(body.get("booking"), dict) else {}
    leg_lines = tuple(
        LegLine(
            leg_id=leg.leg_id,
            reference=leg.reference,
            state=leg.state.value,
            transaction_code=leg.plan.transaction_code,
            payment_type=leg.plan.payment_type,
            amount=leg.plan.amount,
            currency=leg.plan.currency,
            reason=leg.reason,
            answer_status=leg.answer_status,
            posted_at=leg.updated_at if leg.state is LegState.POSTED else None,
            business_date=(
                calendar.business_date(leg.updated_at)
                if leg.state is LegState.POSTED and leg.updated_at is not None
                else None
            ),
        )
        for leg in legs
    )
    return PaymentLine(
        event_id=record.event_id,
        type=record.type,
        transaction_id=str(payment.get("transaction_id", "")),
        kind=str(payment.get("kind", "")),
        confirmation_number=booking.get("confirmation_number"),
        amount=sign * int(payment.get("amount", 0)),
        currency=str(payment.get("currency", "")),
        occurred_at=occurred,
        business_date=calendar.business_date(occurred),
        status=status,
        posted_amount=sum(leg.plan.amount for leg in posted if leg.plan.payment_type is not None),
        posted_currency=legs[0].plan.currency if legs else None,
        reason=reason,
        age_seconds=max(0, int((now - occurred).total_seconds())),
        legs=leg_lines,
    )


def _totals(
    legs: Iterable[Leg], calendar: BusinessCalendar, day: dt.date
) -> tuple[tuple[Total, ...], int]:
    sums: dict[tuple[str, str, str], list[int]] = {}
    count = 0
    for leg in legs:
        if leg.state is not LegState.POSTED or leg.updated_at is None:
            continue
        if calendar.business_date(leg.updated_at) != day:
            continue
        count += 1
        for line in folio_lines(leg.plan):
            key = ("payment_type" if line.is_payment else "transaction_code", line.code,
                   leg.plan.currency)  # fmt: skip
            entry = sums.setdefault(key, [0, 0])
            entry[0] += 1
            entry[1] += line.amount
    totals = tuple(
        Total(kind, code, currency, n, amount)
        for (kind, code, currency), (n, amount) in sorted(
            sums.items(), key=lambda item: (item[0][0] != "transaction_code", item[0][1:])
        )
    )
    return totals, count


def _payouts(
    payout_file: PayoutFile,
    mine: Mapping[str, list[PaymentLine]],
    others: frozenset[str],
    in_scope: Sequence[PaymentLine],
) -> PayoutReconciliation:
    groups: dict[str, list[PayoutRow]] = {}
    other_rows: dict[str, int] = {}
    other_property = 0
    for row in payout_file.rows:
        if row.category == "other":
            kind = row.kind or "(no type)"
            other_rows[kind] = other_rows.get(kind, 0) + 1
            continue
        key = next((k for k in row.keys if k in mine), None)
        if key is None and any(k in others for k in row.keys):
            other_property += 1
            continue
        key = key or row.transaction_id or f"(line {row.line}: no transaction id)"
        groups.setdefault(key, []).append(row)

    mismatches: list[PayoutMismatch] = []
    matched = 0
    for key, rows in groups.items():
        paid_out = sum(r.amount for r in rows)
        currencies = sorted({r.currency for r in rows})
        paid_currency = currencies[0] if len(currencies) == 1 else "/".join(currencies)
        payout_ids = tuple(sorted({r.payout_id for r in rows if r.payout_id}))
        lines = tuple(r.line for r in rows)
        entries = mine.get(key, [])
        event_ids = tuple(e.event_id for e in entries)
        journal_currency = entries[0].currency if entries else None

        base = PayoutMismatch(
            kind=MismatchKind.PAID_OUT_NOT_POSTED,
            transaction_id=key,
            payout_ids=payout_ids,
            paid_out=paid_out,
            paid_out_currency=paid_currency,
            posted=None,
            currency=journal_currency,
            event_ids=event_ids,
            lines=lines,
            reason="",
        )  # fmt: skip
        if not entries:
            mismatches.append(
                replace(
                    base,
                    kind=MismatchKind.PAID_OUT_NOT_POSTED,
                    posted=None,
                    reason="no captured payment with this transaction id in the journal",
                )  # fmt: skip
            )
            continue
        if any(e.currency != paid_currency for e in entries):
            mismatches.append(
                replace(
                    base,
                    kind=MismatchKind.CURRENCY_MISMATCH,
                    posted=None,
                    reason=f"paid out in {paid_currency}, journaled in "
                    f"{'/'.join(sorted({e.currency for e in entries}))}",
                )  # fmt: skip
            )
            continue
        open_entries = [e for e in entries if e.status is PaymentStatus.UNRECONCILED]
        if open_entries:
            mismatches.append(
                replace(
                    base,
                    kind=MismatchKind.PAID_OUT_NOT_POSTED,
                    posted=sum(e.posted_amount for e in entries),
                    reason="; ".join(f"{e.event_id}: {e.reason}" for e in open_entries),
                )  # fmt: skip
            )
            continue
        # A payment an operator resolved counts at its journaled amount (posted by hand); so
        # does one posted in another currency (converted at a journaled rate): the export is
        # in the currency it was captured in.
        posted = sum(
            e.posted_amount
            if e.status is PaymentStatus.POSTED and e.posted_currency == e.currency
            else e.amount
            for e in entries
        )
        if posted != paid_out:
            mismatches.append(
                replace(
                    base,
                    kind=MismatchKind.AMOUNT_MISMATCH,
                    posted=posted,
                    reason=f"paid out {format_minor(paid_out, paid_currency)}, "
                    f"posted {format_minor(posted, paid_currency)}",
                )  # fmt: skip
            )
            continue
        matched += 1

    for payment in in_scope:
        if payment.status is PaymentStatus.UNRECONCILED or payment.transaction_id in groups:
            continue
        mismatches.append(
            PayoutMismatch(
                kind=MismatchKind.POSTED_NOT_PAID_OUT,
                transaction_id=payment.transaction_id,
                payout_ids=(),
                paid_out=None,
                paid_out_currency=None,
                posted=(
                    payment.posted_amount
                    if payment.status is PaymentStatus.POSTED
                    else payment.amount
                ),
                currency=payment.currency,
                event_ids=(payment.event_id,),
                lines=(),
                reason=f"{payment.status.value} in the PMS; not in {payout_file.source}",
            )
        )

    summaries: dict[tuple[str, str], list[int]] = {}
    for row in payout_file.rows:
        entry = summaries.setdefault((row.payout_id or "-", row.currency), [0, 0, 0, 0])
        entry[0] += 1
        entry[1] += row.amount
        entry[2] += row.fee or 0
        entry[3] += row.net if row.net is not None else row.amount - (row.fee or 0)
    return PayoutReconciliation(
        source=payout_file.source,
        layout=payout_file.layout,
        rows=len(payout_file.rows),
        matched=matched,
        other_rows=dict(sorted(other_rows.items())),
        other_property_rows=other_property,
        payouts=tuple(
            PayoutSummary(pid, cur, n, gross, fee, net)
            for (pid, cur), (n, gross, fee, net) in sorted(summaries.items())
        ),
        mismatches=tuple(mismatches),
    )


def build_report(
    *,
    property: str,
    business_date: dt.date,
    events: Iterable[Any],
    other_transaction_ids: Iterable[str] = (),
    posted_legs: Iterable[Leg],
    calendar: BusinessCalendar,
    now: dt.datetime,
    payouts: PayoutFile | None = None,
    timezone: str = "",
) -> ReconciliationReport:
    """The report from journal records (``events``: :class:`adapters.journal.EventRecord` of
    the property; ``posted_legs``: its posted legs); see :func:`reconcile`."""
    lines = [
        line for record in events if (line := _payment_line(record, calendar, now)) is not None
    ]
    in_scope = [line for line in lines if line.business_date == business_date]
    open_items = [
        line
        for line in lines
        if line.status is PaymentStatus.UNRECONCILED and line.business_date <= business_date
    ]
    totals, count = _totals(posted_legs, calendar, business_date)
    by_transaction: dict[str, list[PaymentLine]] = {}
    for line in lines:
        by_transaction.setdefault(line.transaction_id, []).append(line)
    payout_report = None
    if payouts is not None:
        payout_report = _payouts(
            payouts, by_transaction, frozenset(other_transaction_ids) - set(by_transaction),
            in_scope,
        )  # fmt: skip
    notes = []
    if not calendar.audit_ends:
        notes.append(
            "no night audit (NE) seen for this property: business dates are calendar dates "
            f"in {timezone or 'the given time zone'}"
        )
    return ReconciliationReport(
        property=property,
        business_date=business_date,
        generated_at=now,
        timezone=timezone,
        audits_seen=len(calendar.audit_ends),
        payments=tuple(in_scope),
        unreconciled=tuple(open_items),
        totals=totals,
        posted_legs=count,
        payouts=payout_report,
        notes=tuple(notes),
    )


def local_zone() -> dt.tzinfo:
    """This machine's time zone with its daylight-saving rules (``TZ``, else
    ``/etc/localtime``), falling back to its current fixed UTC offset."""
    import os
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    target = os.path.realpath("/etc/localtime")
    if "/zoneinfo/" in target:
        try:
            return ZoneInfo(target.split("/zoneinfo/", 1)[1])
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return dt.datetime.now().astimezone().tzinfo or dt.UTC


def reconcile(
    journal: Any,
    property: str,
    business_date: dt.date,
    *,
    payouts: PayoutFile | None = None,
    now: dt.datetime | None = None,
    tz: dt.tzinfo | None = None,
) -> ReconciliationReport:
    """Reconcile ``property`` for ``business_date`` from ``journal`` (an
    :class:`adapters.journal.Journal`), optionally against a payout export.

    ``now`` (aware; default: the clock) is when ages are measured to; ``tz`` is the property's
    time zone (default: the machine's local zone).
    """
    now = now or dt.datetime.now(dt.UTC)
    zone = tz or local_zone()
    audits = tuple(
        w.time for w in journal.wire_records(property=property, direction="in", prefix=b"NE|")
    )
    calendar = BusinessCalendar(zone, audits)
    events = journal.events(types=RECONCILED_TYPES)
    mine = [e for e in events if e.property == property]
    others = []
    for record in events:
        if record.property == property:
            continue
        try:
            body = record.body_json()
            others.append(str(body["payment"]["transaction_id"]))
        except (ValueError, KeyError, TypeError):
            continue
    return build_report(
        property=property,
        business_date=business_date,
        events=mine,
        other_transaction_ids=others,
        posted_legs=journal.legs(state=LegState.POSTED, property=property),
        calendar=calendar,
        now=now,
        payouts=payouts,
        timezone=str(getattr(zone, "key", None) or zone),
    )


class QueryError(ValueError):
    """A reconciliation request the API refuses: ``status`` 400 or 404, ``path`` names the
    query parameter."""

    def __init__(self, status: int, path: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.path = path


def reconcile_query(
    journal: Any,
    properties: Mapping[str, Any],
    query: Mapping[str, Sequence[str]],
    now_seconds: float,
) -> ReconciliationReport:
    """``GET /v1/reconcile?property=P&date=YYYY-MM-DD[&timezone=ZONE]`` (no payout file)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    def one(name: str) -> str | None:
        values = [v for v in query.get(name, []) if v]
        return values[0] if values else None

    prop = one("property")
    if prop is None:
        raise QueryError(400, "property", "required: the property to reconcile")
    if prop not in properties:
        raise QueryError(404, "property", f"unknown property {prop!r}")
    text = one("date")
    if text is None:
        raise QueryError(400, "date", "required: the business date (YYYY-MM-DD)")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise QueryError(400, "date", f"{text!r} is not a date (YYYY-MM-DD)") from None
    zone: dt.tzinfo | None = None
    zone_name = one("timezone")
    if zone_name is not None:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise QueryError(400, "timezone", f"{zone_name!r} is not a time zone") from None
    now = dt.datetime.fromtimestamp(now_seconds, dt.UTC)
    return reconcile(journal, prop, day, now=now, tz=zone)


# ---------------------------------------------------------------------------------------------
# Output: JSON, CSV, terminal table
# ---------------------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _major(amount: int | None, currency: str | None) -> str:
    """Decimal major units without the currency code (exact); '' when there is no amount."""
    if amount is None or not currency or "/" in currency:
        return "" if amount is None else str(amount)
    return format_minor(amount, currency).rsplit(" ", 1)[0]


def _posted_cell(p: PaymentLine) -> str:
    """The posted amount for the CSV; with its currency when it is not the payment's."""
    currency = p.posted_currency or p.currency
    if currency == p.currency:
        return _major(p.posted_amount, currency)
    return _money(p.posted_amount, currency)


def _money(amount: int | None, currency: str | None) -> str:
    if amount is None:
        return "-"
    if not currency or "/" in currency:
        return f"{amount} (minor units)"
    return format_minor(amount, currency)


def age_text(seconds: int) -> str:
    """``3d 04h``, ``5h 12m``, ``7m 03s``, ``40s``.

    >>> age_text(3 * 86400 + 4 * 3600 + 59), age_text(40)
    ('3d 04h', '40s')
    """
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _payment_json(line: PaymentLine) -> dict[str, Any]:
    return {
        "event_id": line.event_id,
        "type": line.type,
        "transaction_id": line.transaction_id,
        "kind": line.kind,
        "confirmation_number": line.confirmation_number,
        "amount": line.amount,
        "currency": line.currency,
        "occurred_at": _iso(line.occurred_at),
        "business_date": line.business_date.isoformat(),
        "status": line.status.value,
        "posted_amount": line.posted_amount,
        "posted_currency": line.posted_currency,
        "reason": line.reason,
        "age_seconds": line.age_seconds,
        "legs": [
            {
                "leg_id": leg.leg_id,
                "reference": leg.reference,
                "state": leg.state,
                "transaction_code": leg.transaction_code,
                "payment_type": leg.payment_type,
                "amount": leg.amount,
                "currency": leg.currency,
                "reason": leg.reason,
                "answer_status": leg.answer_status,
                "posted_at": _iso(leg.posted_at),
                "business_date": leg.business_date.isoformat() if leg.business_date else None,
            }
            for leg in line.legs
        ],
    }


def report_json(report: ReconciliationReport) -> dict[str, Any]:
    """The report as JSON (amounts in integer minor units), as the API answers it."""
    payouts = report.payouts
    return {
        "property": report.property,
        "business_date": report.business_date.isoformat(),
        "generated_at": _iso(report.generated_at),
        "timezone": report.timezone,
        "night_audits_seen": report.audits_seen,
        "reconciled": report.reconciled,
        "summary": {
            "payments": len(report.payments),
            "posted": sum(p.status is PaymentStatus.POSTED for p in report.payments),
            "resolved": sum(p.status is PaymentStatus.RESOLVED for p in report.payments),
            "unreconciled": len(report.unreconciled),
            "posted_legs": report.posted_legs,
            "payout_mismatches": len(payouts.mismatches) if payouts else None,
        },
        "payments": [_payment_json(p) for p in report.payments],
        "unreconciled": [_payment_json(p) for p in report.unreconciled],
        "totals": [
            {
                "kind": t.kind,
                "code": t.code,
                "currency": t.currency,
                "count": t.count,
                "amount": t.amount,
            }  # fmt: skip
            for t in report.totals
        ],
        "payouts": None
        if payouts is None
        else {
            "source": payouts.source,
            "layout": payouts.layout,
            "rows": payouts.rows,
            "matched": payouts.matched,
            "other_rows": dict(payouts.other_rows),
            "other_property_rows": payouts.other_property_rows,
            "payouts": [
                {
                    "payout_id": s.payout_id,
                    "currency": s.currency,
                    "rows": s.rows,
                    "gross": s.gross,
                    "fee": s.fee,
                    "net": s.net,
                }  # fmt: skip
                for s in payouts.payouts
            ],
            "mismatches": [
                {
                    "kind": m.kind.value,
                    "transaction_id": m.transaction_id,
                    "payout_ids": list(m.payout_ids),
                    "paid_out": m.paid_out,
                    "paid_out_currency": m.paid_out_currency,
                    "posted": m.posted,
                    "currency": m.currency,
                    "event_ids": list(m.event_ids),
                    "lines": list(m.lines),
                    "reason": m.reason,
                }
                for m in payouts.mismatches
            ],
        },
        "notes": list(report.notes),
    }


#: Columns of :func:`format_csv`: one table, the ``section`` column says what a row is.
CSV_COLUMNS = (
    "section", "status", "event_id", "transaction_id", "type", "code", "currency", "count",
    "amount", "posted", "payout_id", "business_date", "occurred_at", "age_seconds", "reason",
)  # fmt: skip


def format_csv(report: ReconciliationReport) -> str:
    """The report as one CSV table for a spreadsheet; amounts in decimal major units.

    Sections: ``payment`` (captured on the business date), ``unreconciled`` (open items),
    ``total`` (``type`` says transaction_code or payment_type), ``payout`` (per payout id) and
    ``mismatch`` (``status`` says which kind).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def payment_row(section: str, p: PaymentLine) -> list[Any]:
        return [section, p.status.value, p.event_id, p.transaction_id, p.type, p.kind,
                p.currency, "", _major(p.amount, p.currency),
                _posted_cell(p), "", p.business_date.isoformat(),
                _iso(p.occurred_at), p.age_seconds, p.reason or ""]  # fmt: skip

    for p in report.payments:
        writer.writerow(payment_row("payment", p))
    for p in report.unreconciled:
        writer.writerow(payment_row("unreconciled", p))
    for t in report.totals:
        writer.writerow(["total", "", "", "", t.kind, t.code, t.currency, t.count,
                         _major(t.amount, t.currency), "", "",
                         report.business_date.isoformat(), "", "", ""])  # fmt: skip
    if report.payouts is not None:
        for s in report.payouts.payouts:
            writer.writerow(["payout", "", "", "", "", "", s.currency, s.rows,
                             _major(s.gross, s.currency), "", s.payout_id, "", "", "",
                             f"fee {_major(s.fee, s.currency)}; "
                             f"net {_major(s.net, s.currency)}"])  # fmt: skip
        for m in report.payouts.mismatches:
            currency = m.paid_out_currency or m.currency
            writer.writerow(["mismatch", m.kind.value, " ".join(m.event_ids), m.transaction_id,
                             "", "", currency or "", "", _major(m.paid_out, currency),
                             _major(m.posted, m.currency or currency), " ".join(m.payout_ids),
                             "", "", "", m.reason])  # fmt: skip
    return out.getvalue()


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def format_table(report: ReconciliationReport) -> str:
    """The report for a terminal."""
    day = report.business_date.isoformat()
    out = [
        f"Reconciliation of {report.property} for business date {day}",
        f"(as of {_iso(report.generated_at)}; time zone {report.timezone}; "
        f"night audits seen: {report.audits_seen})",
        "",
    ]
    posted = sum(p.status is PaymentStatus.POSTED for p in report.payments)
    resolved = sum(p.status is PaymentStatus.RESOLVED for p in report.payments)
    open_today = sum(p.status is PaymentStatus.UNRECONCILED for p in report.payments)
    out.append(
        f"Payments captured on {day}: {len(report.payments)} "
        f"({posted} posted, {resolved} resolved, {open_today} unreconciled)"
    )
    if report.payments:
        rows = [["EVENT", "TRANSACTION", "KIND", "AMOUNT", "POSTED", "STATUS"]]
        for p in report.payments:
            rows.append([p.event_id, p.transaction_id, p.kind, _money(p.amount, p.currency),
                         _money(p.posted_amount, p.posted_currency or p.currency),
                         p.status.value])  # fmt: skip
        out += _table(rows)
    out += ["", f"Unreconciled (captured on or before {day}): {len(report.unreconciled)}"]
    if report.unreconciled:
        rows = [["EVENT", "TRANSACTION", "AMOUNT", "CAPTURED", "AGE", "REASON"]]
        for p in report.unreconciled:
            rows.append([p.event_id, p.transaction_id, _money(p.amount, p.currency),
                         _iso(p.occurred_at) or "", age_text(p.age_seconds),
                         p.reason or ""])  # fmt: skip
        out += _table(rows)
    out += ["", f"Interface postings on {day}: {report.posted_legs} leg(s)"]
    if report.totals:
        rows = [["TOTALS", "CODE", "COUNT", "AMOUNT"]]
        for t in report.totals:
            label = "transaction code" if t.kind == "transaction_code" else "payment type"
            rows.append([label, t.code, str(t.count), _money(t.amount, t.currency)])
        nets: dict[str, int] = {}
        for t in report.totals:
            nets[t.currency] = nets.get(t.currency, 0) + t.amount
        for currency, net in sorted(nets.items()):
            rows.append(["net", "", "", _money(net, currency)])
        out += _table(rows)
    payouts = report.payouts
    if payouts is not None:
        others = ", ".join(f"{k} {n}" for k, n in payouts.other_rows.items()) or "none"
        out += [
            "",
            f"Payouts: {payouts.source} ({payouts.layout} layout): {payouts.rows} row(s), "
            f"{payouts.matched} transaction(s) matched; not matched by design: {others}; "
            f"other properties' rows: {payouts.other_property_rows}",
        ]
        if payouts.payouts:
            rows = [["PAYOUT", "ROWS", "GROSS", "FEE", "NET"]]
            for s in payouts.payouts:
                rows.append([s.payout_id, str(s.rows), _money(s.gross, s.currency),
                             _money(s.fee, s.currency), _money(s.net, s.currency)])  # fmt: skip
            out += _table(rows)
        out.append(f"Payout mismatches: {len(payouts.mismatches)}")
        if payouts.mismatches:
            rows = [["KIND", "TRANSACTION", "PAID OUT", "POSTED", "EVENT", "REASON"]]
            for m in payouts.mismatches:
                rows.append([m.kind.value, m.transaction_id,
                             _money(m.paid_out, m.paid_out_currency),
                             _money(m.posted, m.currency or m.paid_out_currency),
                             " ".join(m.event_ids) or "-", m.reason])  # fmt: skip
            out += _table(rows)
    for note in report.notes:
        out += ["", f"note: {note}"]
    out.append("")
    if report.reconciled:
        out.append("RESULT: reconciled")
    else:
        parts = []
        if report.unreconciled:
            parts.append(f"{len(report.unreconciled)} unreconciled payment(s)")
        if payouts is not None and payouts.mismatches:
            parts.append(f"{len(payouts.mismatches)} payout mismatch(es)")
        out.append("RESULT: NOT reconciled: " + ", ".join(parts))
    return "\n".join(out) + "\n"


def dumps(report: ReconciliationReport) -> str:
    return json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n"
