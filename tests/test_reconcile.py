"""Reconciliation (adapters/reconcile.py, ``foliogate reconcile``, ``GET /v1/reconcile``).

The journal is a real SQLite file in tmp_path, filled through the same calls the gateway makes
(events parsed and planned by the real journeys with examples/gateway.toml, legs moved through
their states, the PMS's night-audit ``NE`` frames in the wire log), each at an injected time,
so every reason, age and total below is exact.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import treq
from twisted.internet import task

from adapters import events, journeys
from adapters.api import listen, make_site, sign
from adapters.cli import main
from adapters.cli.stack import EXAMPLE_CONFIG, Stack
from adapters.config import load_config
from adapters.domain import PlannedLeg
from adapters.journal import Journal
from adapters.reconcile import (
    BusinessCalendar,
    MismatchKind,
    PaymentStatus,
    PayoutFileError,
    PayoutRow,
    Total,
    format_csv,
    parse_amount,
    read_payouts,
    reconcile,
    report_json,
)

UTC = dt.UTC
PROPERTY = "GRAND-LONDON"
DAY = dt.date(2026, 11, 27)
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
GUEST_WAIT = "guest not in house: waiting for the PMS's check-in (GI)"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.value = at("2026-11-26T00:00:00")

    def __call__(self) -> dt.datetime:
        return self.value


class Books:
    """A journal filled the way the gateway fills it, at chosen times."""

    def __init__(self, path: Path) -> None:
        self.now = Clock()
        self.path = path
        self.journal = Journal(str(path), reactor=task.Clock(), now=self.now)
        self.prop = load_config(EXAMPLE_CONFIG).properties[PROPERTY]

    def at(self, text: str) -> None:
        self.now.value = at(text)

    def event(self, obj: dict[str, Any]) -> tuple[Any, ...]:
        event = events.parse_event(obj)
        original = ()
        if event.refund_of:
            record = self.journal.event(event.refund_of)
            original = record.legs if record is not None else ()
        plan = journeys.plan_legs(event, self.prop, original)
        return self.journal.record_event(event, events.canonical_body(obj), plan).legs

    def payment(
        self,
        event_id: str,
        occurred: str,
        amount: int,
        *,
        kind: str = "balance",
        currency: str = "GBP",
        type: str = "payment.succeeded",
        status: str = "Payment Success",
        refund_of: str | None = None,
    ) -> tuple[Any, ...]:
        self.at(occurred)
        obj: dict[str, Any] = {
            "event_id": event_id,
            "type": type,
            "property": PROPERTY,
            "occurred_at": occurred + "Z",
            "payment": {
                "kind": kind,
                "amount": amount,
                "currency": currency,
                "transaction_id": "pi_" + event_id.removeprefix("evt_"),
                "method": "onejourney",
                "status": status,
            },
            "booking": {"confirmation_number": "123456", "guest_name": "Jane Doe"},
        }
        if refund_of:
            obj["refund_of"] = refund_of
        return self.event(obj)

    def post(self, leg: Any, sent: str, posted: str, number: int) -> None:
        self.at(sent)
        self.journal.mark_sent(leg.leg_id, number)
        self.at(posted)
        self.journal.mark_posted(leg.leg_id, "OK")

    def night_audit_end(self, when: str) -> None:
        self.at(when)
        self.journal.log_wire("in", "fias", b"NE|DA261127|TI021000|", property=PROPERTY)


def fill(books: Books) -> dict[str, int]:
    """The business dates around 2026-11-27; returns the leg ids by event."""
    j = books.journal
    (f,) = books.payment("evt_f", "2026-11-26T15:00:00", 3000, kind="deposit")
    books.night_audit_end("2026-11-27T02:10:00")  # closes 11-26
    (a,) = books.payment("evt_a", "2026-11-27T09:00:00", 5000, kind="deposit")
    books.post(a, "2026-11-27T10:00:00", "2026-11-27T10:00:02", 7)
    (b,) = books.payment("evt_b", "2026-11-27T11:00:00", 12000)
    j.mark_waiting(b.leg_id, GUEST_WAIT)
    (c,) = books.payment("evt_c", "2026-11-27T12:00:00", 3000)
    books.at("2026-11-27T12:00:05")
    j.mark_sent(c.leg_id, 9)
    j.mark_rejected(c.leg_id, "NG", "guest checked out")
    assert books.payment("evt_d", "2026-11-27T13:00:00", 2500, currency="USD") == ()
    failed = books.payment(
        "evt_e", "2026-11-27T13:30:00", 2500, type="payment.failed", status="Payment Failed"
    )
    assert failed == ()
    (k,) = books.payment("evt_k", "2026-11-27T14:00:00", 1500)
    books.post(k, "2026-11-27T14:00:00", "2026-11-27T14:00:02", 11)
    (n,) = books.payment("evt_n", "2026-11-27T15:00:00", 4000)
    books.post(n, "2026-11-27T15:00:00", "2026-11-27T15:00:02", 13)
    books.at("2026-11-27T16:00:00")
    (r,) = books.event(
        {
            "event_id": "evt_r",
            "type": "deposit.redeemed",
            "property": PROPERTY,
            "occurred_at": "2026-11-27T16:00:00Z",
            "booking": {"confirmation_number": "123456"},
            "items": [{"code": "SPA_TREATMENT", "amount": 5000, "description": "Massage"}],
        }
    )
    books.post(r, "2026-11-27T16:00:00", "2026-11-27T16:00:03", 15)
    # After midnight, before that night's audit: still the 27th for the PMS.
    (g,) = books.payment("evt_g", "2026-11-28T01:30:00", 2000)
    books.post(g, "2026-11-28T01:40:00", "2026-11-28T01:40:01", 17)
    books.night_audit_end("2026-11-28T02:05:00")  # closes 11-27
    (h,) = books.payment("evt_h", "2026-11-28T09:00:00", 1000)
    books.post(h, "2026-11-28T09:00:00", "2026-11-28T09:00:02", 19)
    # Another hotel of the group, paid out by the same gateway account.
    books.at("2026-11-27T10:00:00")
    other = {
        "event_id": "evt_o",
        "type": "payment.succeeded",
        "property": "OTHER-HOTEL",
        "occurred_at": "2026-11-27T10:00:00Z",
        "payment": {
            "kind": "balance",
            "amount": 700,
            "currency": "GBP",
            "transaction_id": "pi_other",
            "method": "onejourney",
            "status": "Payment Success",
        },
        "booking": {"confirmation_number": "42"},
    }
    j.record_event(
        events.parse_event(other),
        events.canonical_body(other),
        [PlannedLeg(0, None, "ONEJOURNEY", 700, "GBP")],
    )
    return {
        "f": f.leg_id,
        "a": a.leg_id,
        "b": b.leg_id,
        "c": c.leg_id,
        "k": k.leg_id,
        "n": n.leg_id,
        "r": r.leg_id,
        "g": g.leg_id,
        "h": h.leg_id,
    }


@pytest.fixture
def books(tmp_path: Path) -> Any:
    b = Books(tmp_path / "journal.sqlite")
    yield b
    b.journal.close()


PAYOUTS = """transaction_id,amount,currency,fee,net,payout_id,type
pi_a,50.00,GBP,0.95,49.05,po_1,payment
pi_n,40.01,GBP,0.80,39.21,po_1,payment
pi_k,15.00,EUR,0.30,14.70,po_2,payment
pi_b,120.00,GBP,2.00,118.00,po_1,payment
pi_zzz,10.00,GBP,0.20,9.80,po_1,payment
pi_other,7.00,GBP,0.10,6.90,po_1,payment
,-3.50,GBP,,-3.50,po_1,fee
"""


# -- business dates ----------------------------------------------------------------------------


def test_business_date_follows_the_night_audits_the_pms_reported() -> None:
    """A posting after midnight but before that night's audit belongs to the day before; after
    the audit to the new day; an audit that ends before midnight opens the next day at once;
    without an audit nearby the calendar date in the property's zone is used."""
    ends = (at("2026-11-27T02:10:00"), at("2026-11-27T23:40:00"))
    cal = BusinessCalendar(UTC, ends)
    assert cal.business_date(at("2026-11-27T01:00:00")) == dt.date(2026, 11, 26)
    assert cal.business_date(at("2026-11-27T02:30:00")) == dt.date(2026, 11, 27)
    assert cal.business_date(at("2026-11-27T23:30:00")) == dt.date(2026, 11, 27)
    assert cal.business_date(at("2026-11-27T23:50:00")) == dt.date(2026, 11, 28)
    assert cal.business_date(at("2026-12-05T01:00:00")) == dt.date(2026, 12, 5)
    assert BusinessCalendar(UTC).business_date(at("2026-11-27T23:50:00")) == DAY
    # In the property's own zone: 23:30 UTC on 30 June is 00:30 on 1 July in London (BST).
    from zoneinfo import ZoneInfo

    london = BusinessCalendar(ZoneInfo("Europe/London"))
    assert london.business_date(at("2026-06-30T23:30:00")) == dt.date(2026, 7, 1)


def test_amounts_convert_to_minor_units_exactly_with_the_currency_exponent() -> None:
    assert parse_amount("50.00", "GBP") == 5000
    assert parse_amount("-1234.5", "EUR") == -123450
    assert parse_amount("5000", "JPY") == 5000
    assert parse_amount("5000.00", "JPY") == 5000  # zeros past the exponent are harmless
    assert parse_amount("1.234", "BHD") == 1234
    assert parse_amount("0.1", "BHD") == 100
    assert parse_amount("0.0001", "CLF") == 1
    # 0.1 + 0.2 as floats is 0.30000000000000004; here it is three hundred thousandths.
    assert parse_amount("0.300", "KWD") == 300
    with pytest.raises(ValueError, match=r"'10.005' has more decimals than GBP has \(2\)"):
        parse_amount("10.005", "GBP")
    with pytest.raises(ValueError, match="not a decimal amount"):
        parse_amount("1,000.00", "GBP")


# -- captured payments against postings ----------------------------------------------------------


def test_every_captured_payment_not_posted_is_an_open_item_with_its_reason_and_age(books):
    legs = fill(books)
    report = reconcile(books.journal, PROPERTY, DAY, now=NOW, tz=UTC)

    assert [(p.event_id, p.status, p.business_date) for p in report.payments] == [
        ("evt_a", PaymentStatus.POSTED, DAY),
        ("evt_b", PaymentStatus.UNRECONCILED, DAY),
        ("evt_c", PaymentStatus.UNRECONCILED, DAY),
        ("evt_d", PaymentStatus.UNRECONCILED, DAY),
        ("evt_k", PaymentStatus.POSTED, DAY),
        ("evt_n", PaymentStatus.POSTED, DAY),
        ("evt_g", PaymentStatus.POSTED, DAY),  # 01:30 on the 28th, before the audit
    ]
    # The open items: everything captured on or before the date and not posted, oldest first
    # (evt_f is from the 26th), each with why and since when.
    assert [
        (p.event_id, p.amount, p.currency, p.age_seconds, p.reason) for p in report.unreconciled
    ] == [
        ("evt_f", 3000, "GBP", 45 * 3600, f"leg {legs['f']} planned: not sent yet"),
        ("evt_b", 12000, "GBP", 25 * 3600, f"leg {legs['b']} waiting: {GUEST_WAIT}"),
        ("evt_c", 3000, "GBP", 24 * 3600, f"leg {legs['c']} rejected (AS NG): guest checked out"),
        (
            "evt_d",
            2500,
            "USD",
            23 * 3600,
            "journaled, not posted: payment is in USD; property GRAND-LONDON posts in GBP "
            "(foliogate never converts)",
        ),
    ]
    assert not report.reconciled
    # A failed payment is journaled, never posted, and never owed: not listed at all.
    assert "evt_e" not in {p.event_id for p in report.payments + report.unreconciled}


def test_totals_per_transaction_code_and_payment_type_cover_the_business_dates_postings(books):
    """Deposit, two balance payments, a redemption and a post-midnight payment posted before
    the audit: signed like folio lines; the 28th's payment after the audit is not counted."""
    fill(books)
    report = reconcile(books.journal, PROPERTY, DAY, now=NOW, tz=UTC)
    assert report.totals == (
        Total("transaction_code", "SPA_DEPOSIT", "GBP", 1, 5000),
        Total("transaction_code", "SPA_TREATMENT", "GBP", 1, 5000),
        Total("payment_type", "DEPOSIT_REDEMPTION", "GBP", 1, -5000),
        Total("payment_type", "ONEJOURNEY", "GBP", 4, -12500),
    )
    assert report.posted_legs == 5
    next_day = reconcile(books.journal, PROPERTY, dt.date(2026, 11, 28), now=NOW, tz=UTC)
    assert next_day.totals == (Total("payment_type", "ONEJOURNEY", "GBP", 1, -1000),)


def test_payout_export_is_matched_by_transaction_id_with_every_kind_of_mismatch(books):
    legs = fill(books)
    payouts = read_payouts(PAYOUTS, "payouts.csv")
    report = reconcile(books.journal, PROPERTY, DAY, payouts=payouts, now=NOW, tz=UTC)
    result = report.payouts
    assert result is not None
    assert (result.layout, result.rows, result.matched) == ("foliogate", 7, 1)  # pi_a
    assert result.other_rows == {"fee": 1}
    assert result.other_property_rows == 1  # pi_other is OTHER-HOTEL's
    assert [
        (
            m.kind,
            m.transaction_id,
            m.paid_out,
            m.paid_out_currency,
            m.posted,
            m.event_ids,
            m.payout_ids,
            m.lines,
            m.reason,
        )
        for m in result.mismatches
    ] == [
        (
            MismatchKind.AMOUNT_MISMATCH,
            "pi_n",
            4001,
            "GBP",
            4000,
            ("evt_n",),
            ("po_1",),
            (3,),
            "paid out 40.01 GBP, posted 40.00 GBP",
        ),
        (
            MismatchKind.CURRENCY_MISMATCH,
            "pi_k",
            1500,
            "EUR",
            None,
            ("evt_k",),
            ("po_2",),
            (4,),
            "paid out in EUR, journaled in GBP",
        ),
        (
            MismatchKind.PAID_OUT_NOT_POSTED,
            "pi_b",
            12000,
            "GBP",
            0,
            ("evt_b",),
            ("po_1",),
            (5,),
            f"evt_b: leg {legs['b']} waiting: {GUEST_WAIT}",
        ),
        (
            MismatchKind.PAID_OUT_NOT_POSTED,
            "pi_zzz",
            1000,
            "GBP",
            None,
            (),
            ("po_1",),
            (6,),
            "no captured payment with this transaction id in the journal",
        ),
        (
            MismatchKind.POSTED_NOT_PAID_OUT,
            "pi_g",
            None,
            None,
            2000,
            ("evt_g",),
            (),
            (),
            "posted in the PMS; not in payouts.csv",
        ),
    ]
    assert [(s.payout_id, s.currency, s.rows, s.gross, s.fee, s.net) for s in result.payouts] == [
        ("po_1", "GBP", 6, 22351, 405, 21946),
        ("po_2", "EUR", 1, 1500, 30, 1470),
    ]


def test_refund_posted_by_hand_stays_open_until_an_operator_resolves_it(books):
    """The demo hotel refuses negative postings, so a refund is a "post by hand" exception:
    unreconciled, then resolved once an operator posted it and closed the leg; the payout's
    negative refund row then matches the refund."""
    (a,) = books.payment("evt_a", "2026-11-27T09:00:00", 5000, kind="deposit")
    books.post(a, "2026-11-27T09:00:01", "2026-11-27T09:00:02", 1)
    (refund_leg,) = books.payment(
        "evt_x",
        "2026-11-27T11:00:00",
        5000,
        kind="deposit",
        type="payment.refunded",
        status="succeeded",
        refund_of="evt_a",
    )
    report = reconcile(books.journal, PROPERTY, DAY, now=NOW, tz=UTC)
    (open_item,) = report.unreconciled
    assert (open_item.event_id, open_item.type, open_item.amount) == (
        "evt_x",
        "payment.refunded",
        -5000,
    )
    assert open_item.reason == (
        f"leg {refund_leg.leg_id} rejected: refund of evt_a: property GRAND-LONDON does not "
        "allow negative postings; post by hand: SPA_DEPOSIT -50.00 GBP settled by ONEJOURNEY"
    )

    books.at("2026-11-27T12:00:00")
    books.journal.resolve(refund_leg.leg_id, "ana", "posted the reversal by hand on the PMS")
    payouts = read_payouts(
        "transaction_id,amount,currency,type\npi_a,50.00,GBP,payment\npi_x,-50.00,GBP,refund\n"
    )
    report = reconcile(books.journal, PROPERTY, DAY, payouts=payouts, now=NOW, tz=UTC)
    assert [(p.event_id, p.status) for p in report.payments] == [
        ("evt_a", PaymentStatus.POSTED),
        ("evt_x", PaymentStatus.RESOLVED),
    ]
    assert report.unreconciled == ()
    assert report.payouts is not None and report.payouts.matched == 2
    assert report.payouts.mismatches == ()
    assert report.reconciled


# -- payout export layouts -------------------------------------------------------------------------

STRIPE_ITEMIZED = """balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,source_id,description,customer_facing_amount,customer_facing_currency,automatic_payout_id,automatic_payout_effective_at,charge_id,payment_intent_id
txn_1,2026-11-27 09:00:05,2026-11-29 00:00:00,gbp,50.00,0.95,49.05,charge,ch_1,Spa deposit,50.00,gbp,po_1A,2026-11-29 00:00:00,ch_1,pi_a
txn_2,2026-11-27 11:00:05,2026-11-29 00:00:00,gbp,-50.00,0.00,-50.00,refund,re_1,,50.00,gbp,po_1A,2026-11-29 00:00:00,ch_1,pi_a
txn_3,2026-11-27 12:00:00,2026-11-29 00:00:00,jpy,5000,190,4810,charge,ch_2,,5000,jpy,po_1B,2026-11-29 00:00:00,ch_2,pi_jp
txn_4,2026-11-28 00:00:00,2026-11-28 00:00:00,gbp,-1.25,0.00,-1.25,fee,,Radar,,,po_1A,2026-11-29 00:00:00,,
"""  # noqa: E501

STRIPE_DASHBOARD = """id,Type,Source,Amount,Fee,Net,Currency,Created (UTC),Available On (UTC),Description,Transfer
txn_9,charge,ch_9,120.00,2.00,118.00,gbp,2026-11-27 11:00,2026-11-29 00:00,Room balance,po_9
txn_8,payout,po_8,-500.00,0.00,-500.00,gbp,2026-11-27 00:00,2026-11-27 00:00,STRIPE PAYOUT,
"""  # noqa: E501

ADYEN = """Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Creation Date,TimeZone,Type,Modification Reference,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,Net Currency,Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),Payment Method Variant,Modification Merchant Reference,Batch Number
Hotels,GrandLondon,8515000000000001,evt_a,visa,2026-11-27 09:00:05,GMT,Settled,8515000000000011,GBP,,50.00,1,GBP,,49.12,,0.04,0.01,0.83,visaclassic,,17
Hotels,GrandLondon,8515000000000001,evt_a,visa,2026-11-27 11:00:05,GMT,Refunded,8515000000000022,GBP,20.00,,1,GBP,20.00,,,,,,visaclassic,,17
Hotels,GrandLondon,8515000000000003,evt_bh,mc,2026-11-27 12:00:00,GMT,Settled,8515000000000033,BHD,,12.345,1,BHD,,12.100,0.245,,,,mccredit,,17
Hotels,GrandLondon,,,,2026-11-28 04:55:40,GMT,Fee,Transaction Fees November 2026,,,,,GBP,0.10,,,,,,,,17
Hotels,GrandLondon,,,,2026-11-28 04:55:40,GMT,MerchantPayout,TX00000000001,,,,,GBP,59.02,,,,,,,,17
"""  # noqa: E501


def test_stripe_itemized_report_rows_become_signed_minor_units_by_category():
    payouts = read_payouts(STRIPE_ITEMIZED, "stripe.csv")
    assert payouts.layout == "stripe"
    assert payouts.rows == (
        PayoutRow(
            2, "payment", "charge", ("ch_1", "pi_a", "txn_1"), 5000, "GBP", 95, 4905, "po_1A"
        ),
        PayoutRow(
            3,
            "refund",
            "refund",
            ("re_1", "ch_1", "pi_a", "txn_2"),
            -5000,
            "GBP",
            0,
            -5000,
            "po_1A",
        ),
        PayoutRow(
            4, "payment", "charge", ("ch_2", "pi_jp", "txn_3"), 5000, "JPY", 190, 4810, "po_1B"
        ),
        PayoutRow(5, "other", "fee", ("txn_4",), -125, "GBP", 0, -125, "po_1A"),
    )


def test_stripe_rows_match_the_journal_by_whichever_id_it_carries(books):
    """Events carry the payment intent (pi_a); the export's charge and refund rows carry ch_1
    and re_1 first: both are matched to pi_a and summed (paid out 50.00 - 50.00 = 0), which
    differs from the 50.00 posted: an amount mismatch, as the hotel still shows the payment."""
    (a,) = books.payment("evt_a", "2026-11-27T09:00:00", 5000, kind="deposit")
    books.post(a, "2026-11-27T09:00:01", "2026-11-27T09:00:02", 1)
    payouts = read_payouts(STRIPE_ITEMIZED, "stripe.csv")
    report = reconcile(books.journal, PROPERTY, DAY, payouts=payouts, now=NOW, tz=UTC)
    assert report.payouts is not None
    assert [
        (m.kind, m.transaction_id, m.paid_out, m.posted, m.lines) for m in report.payouts.mismatches
    ] == [
        (MismatchKind.AMOUNT_MISMATCH, "pi_a", 0, 5000, (2, 3)),
        (MismatchKind.PAID_OUT_NOT_POSTED, "ch_2", 5000, None, (4,)),
    ]
    assert report.payouts.other_rows == {"fee": 1}


def test_stripe_dashboard_balance_export_layout():
    payouts = read_payouts(STRIPE_DASHBOARD, "balance.csv")
    assert payouts.layout == "stripe"
    assert payouts.rows == (
        PayoutRow(2, "payment", "charge", ("ch_9", "txn_9"), 12000, "GBP", 200, 11800, "po_9"),
        PayoutRow(3, "other", "payout", ("po_8", "txn_8"), -50000, "GBP", 0, -50000, None),
    )


def test_adyen_settlement_details_report_layout():
    """Settled: gross credit; Refunded: minus gross debit, keyed by its modification reference
    first; fee = commission + markup + scheme fees + interchange; BHD keeps three decimals."""
    payouts = read_payouts(ADYEN, "settlement_detail_report_batch_17.csv")
    assert payouts.layout == "adyen"
    assert payouts.rows == (
        PayoutRow(
            2, "payment", "Settled", ("8515000000000001", "evt_a"), 5000, "GBP", 88, 4912, "17"
        ),
        PayoutRow(
            3,
            "refund",
            "Refunded",
            ("8515000000000022", "8515000000000001", "evt_a"),
            -2000,
            "GBP",
            None,
            -2000,
            "17",
        ),
        PayoutRow(
            4, "payment", "Settled", ("8515000000000003", "evt_bh"), 12345, "BHD", 245, 12100, "17"
        ),
        PayoutRow(5, "other", "Fee", (), 0, "GBP", None, -10, "17"),
        PayoutRow(6, "other", "MerchantPayout", (), 0, "GBP", None, -5902, "17"),
    )


def test_an_unknown_header_or_a_bad_amount_is_refused_with_where_and_why():
    with pytest.raises(PayoutFileError) as unknown:
        read_payouts("date,value\n2026-11-27,5\n", "bank.csv")
    assert str(unknown.value).startswith(
        "bank.csv: line 1: the header row matches no known payout layout (found: date, value; "
        "want one of: adyen: "
    )
    with pytest.raises(PayoutFileError) as bad:
        read_payouts("transaction_id,amount,currency\npi_1,10.00,GBP\npi_2,10.001,GBP\n", "p.csv")
    assert str(bad.value) == (
        "p.csv: line 3, column 'amount': '10.001' has more decimals than GBP has (2)"
    )
    with pytest.raises(PayoutFileError, match="line 2, column 'currency': 'XYZ' is not an ISO"):
        read_payouts("transaction_id,amount,currency\npi_1,10.00,XYZ\n", "p.csv")


# -- the CLI ---------------------------------------------------------------------------------------


def cli(path: Path, *extra: str) -> list[str]:
    return [
        "reconcile",
        "--property",
        PROPERTY,
        "--date",
        "2026-11-27",
        "--journal",
        str(path),
        "--timezone",
        "UTC",
        "--now",
        "2026-11-28T12:00:00Z",
        *extra,
    ]


def test_cli_exits_1_with_a_table_naming_what_is_unreconciled(books, capsys):
    legs = fill(books)
    books.journal.close()
    assert main(cli(books.path)) == 1
    out = capsys.readouterr().out
    assert out.startswith(
        "Reconciliation of GRAND-LONDON for business date 2026-11-27\n"
        "(as of 2026-11-28T12:00:00Z; time zone UTC; night audits seen: 2)\n\n"
        "Payments captured on 2026-11-27: 7 (4 posted, 0 resolved, 3 unreconciled)\n"
    )
    assert (
        f"  evt_b  pi_b         120.00 GBP  2026-11-27T11:00:00Z  1d 01h   leg {legs['b']} "
        f"waiting: {GUEST_WAIT}\n"
    ) in out
    assert "  payment type      ONEJOURNEY          4      -125.00 GBP\n" in out
    assert out.endswith("RESULT: NOT reconciled: 4 unreconciled payment(s)\n")


def test_cli_exits_0_when_every_payment_posted_and_the_payouts_match(books, tmp_path, capsys):
    (a,) = books.payment("evt_a", "2026-11-27T09:00:00", 5000, kind="deposit")
    books.post(a, "2026-11-27T09:00:01", "2026-11-27T09:00:02", 1)
    books.journal.close()
    payouts = tmp_path / "payouts.csv"
    payouts.write_text("transaction_id,amount,currency,fee,payout_id\npi_a,50.00,GBP,0.95,po_1\n")
    assert main(cli(books.path, "--payouts", str(payouts))) == 0
    out = capsys.readouterr().out
    assert "Payout mismatches: 0\n" in out
    assert out.endswith("RESULT: reconciled\n")


def test_cli_csv_is_one_table_with_a_section_column(books, capsys):
    (a,) = books.payment("evt_a", "2026-11-27T09:00:00", 5000, kind="deposit")
    books.post(a, "2026-11-27T09:00:01", "2026-11-27T09:00:02", 1)
    (b,) = books.payment("evt_b", "2026-11-27T11:00:00", 12000)
    books.journal.mark_waiting(b.leg_id, GUEST_WAIT)
    books.journal.close()
    assert main(cli(books.path, "--format", "csv")) == 1
    assert capsys.readouterr().out == (
        "section,status,event_id,transaction_id,type,code,currency,count,amount,posted,"
        "payout_id,business_date,occurred_at,age_seconds,reason\n"
        "payment,posted,evt_a,pi_a,payment.succeeded,deposit,GBP,,50.00,50.00,,2026-11-27,"
        "2026-11-27T09:00:00Z,97200,\n"
        "payment,unreconciled,evt_b,pi_b,payment.succeeded,balance,GBP,,120.00,0.00,,"
        f"2026-11-27,2026-11-27T11:00:00Z,90000,leg {b.leg_id} waiting: {GUEST_WAIT}\n"
        "unreconciled,unreconciled,evt_b,pi_b,payment.succeeded,balance,GBP,,120.00,0.00,,"
        f"2026-11-27,2026-11-27T11:00:00Z,90000,leg {b.leg_id} waiting: {GUEST_WAIT}\n"
        "total,,,,transaction_code,SPA_DEPOSIT,GBP,1,50.00,,,2026-11-27,,,\n"
        "total,,,,payment_type,ONEJOURNEY,GBP,1,-50.00,,,2026-11-27,,,\n"
    )


def test_cli_json_matches_the_library_report(books, tmp_path, capsys):
    fill(books)
    payouts = tmp_path / "payouts.csv"
    payouts.write_text(PAYOUTS)
    expected = report_json(
        reconcile(
            books.journal,
            PROPERTY,
            DAY,
            payouts=read_payouts(PAYOUTS, "payouts.csv"),
            now=NOW,
            tz=UTC,
        )
    )
    books.journal.close()
    assert main(cli(books.path, "--format", "json", "--payouts", str(payouts))) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer == expected
    assert answer["summary"] == {
        "payments": 7,
        "posted": 4,
        "resolved": 0,
        "unreconciled": 4,
        "posted_legs": 5,
        "payout_mismatches": 5,
    }
    assert [m["kind"] for m in answer["payouts"]["mismatches"]] == [
        "amount_mismatch",
        "currency_mismatch",
        "paid_out_not_posted",
        "paid_out_not_posted",
        "posted_not_paid_out",
    ]


def test_cli_usage_errors_are_one_line_and_exit_2(books, tmp_path, capsys):
    books.journal.close()
    assert main(cli(books.path)[:3] + ["--date", "27/11/2026", "--journal", str(books.path)]) == 2
    assert capsys.readouterr().err == (
        "foliogate reconcile: --date '27/11/2026' is not a date (YYYY-MM-DD)\n"
    )
    bad = tmp_path / "bank.csv"
    bad.write_text("date,value\n")
    assert main(cli(books.path, "--payouts", str(bad))) == 2
    assert "the header row matches no known payout layout" in capsys.readouterr().err
    config = load_config(EXAMPLE_CONFIG)
    assert (
        main(
            [
                "reconcile",
                "--property",
                "NOWHERE",
                "--date",
                "2026-11-27",
                "--config",
                str(config.path),
            ]
        )
        == 2
    )
    assert capsys.readouterr().err == (
        f"foliogate reconcile: no property 'NOWHERE' in {config.path} (configured: GRAND-LONDON)\n"
    )


# -- the API ---------------------------------------------------------------------------------------


@pytest_twisted.inlineCallbacks
def test_api_reconcile_is_signed_and_answers_the_same_report(books):
    from twisted.internet import reactor

    fill(books)
    books.now.value = NOW
    config = load_config(EXAMPLE_CONFIG)
    clock = task.Clock()
    clock.advance(NOW.timestamp())
    secret = "whsec_reconcile"
    site = make_site(
        books.journal, config, clock, None, environ={"FOLIOGATE_SECRET_PAYMENTS": secret}
    )
    port = yield listen(reactor, site, "tcp:port=0:interface=127.0.0.1")
    base = f"http://127.0.0.1:{port.getHost().port}/v1/reconcile"

    def get(query: str, signed: bool = True) -> Any:
        headers = {"Foliogate-Source": ["payments"]}
        if signed:
            headers["Foliogate-Signature"] = [sign(secret.encode(), b"", int(clock.seconds()))]
        return treq.get(f"{base}?{query}", headers=headers)

    try:
        response = yield get("property=GRAND-LONDON&date=2026-11-27&timezone=UTC")
        assert response.code == 200
        answer = yield response.json()
        assert answer == report_json(reconcile(books.journal, PROPERTY, DAY, now=NOW, tz=UTC))
        assert answer["reconciled"] is False

        response = yield get("property=GRAND-LONDON&date=2026-11-27&timezone=UTC", signed=False)
        assert response.code == 401
        yield response.content()
        response = yield get("property=GRAND-LONDON&date=tomorrow")
        assert (response.code, (yield response.json())) == (
            400,
            {"errors": [{"path": "date", "reason": "'tomorrow' is not a date (YYYY-MM-DD)"}]},
        )
        response = yield get("property=ELSEWHERE&date=2026-11-27")
        assert (response.code, (yield response.json())) == (
            404,
            {"errors": [{"path": "property", "reason": "unknown property 'ELSEWHERE'"}]},
        )
        response = yield get("property=GRAND-LONDON&date=2026-11-27&timezone=Mars/Olympus")
        assert response.code == 400
        yield response.content()
    finally:
        yield port.stopListening()


# -- end to end: the totals are the PMS's own ------------------------------------------------------


class MovableNow:
    def __init__(self, value: dt.datetime) -> None:
        self.value = value

    def __call__(self) -> dt.datetime:
        return self.value


@pytest_twisted.inlineCallbacks
def test_totals_equal_the_simulated_pms_trial_balance_across_a_night_audit(tmp_path):
    """Postings of the gateway against the FIAS simulator: for each business date the
    reconciliation's totals per code and payment type are the hotel's trial balance, the
    night audit (NS/NE over the link) moving the date for both."""
    from twisted.internet import reactor

    now = MovableNow(at("2026-11-27T10:00:00"))
    stack = Stack(reactor, tmp_path, now=now)
    yield stack.start()
    try:
        yield stack.wait_for(
            lambda: stack.gateway.properties[PROPERTY].link.status.can_post, "link alive"
        )
        code, _ = yield stack.post_event(_event("evt_dep", 5000, "deposit", "123456"))
        assert code == 202
        code, _ = yield stack.post_event(_event("evt_bal", 2500, "balance", "200101"))
        assert code == 202
        yield stack.wait_for_legs("evt_dep", {"posted"})
        yield stack.wait_for_legs("evt_bal", {"posted"})

        now.value = at("2026-11-28T02:00:00")
        yield stack.control("POST", "/night-audit/start")
        yield stack.control("POST", "/night-audit/end")
        yield stack.wait_for(
            lambda: stack.journal.wire_records(property=PROPERTY, prefix=b"NE|"), "NE journaled"
        )
        now.value = at("2026-11-28T09:00:00")
        yield stack.wait_for(
            lambda: stack.gateway.properties[PROPERTY].link.status.can_post, "audit over"
        )
        code, _ = yield stack.post_event(_event("evt_next", 1200, "balance", "123456"))
        assert code == 202
        yield stack.wait_for_legs("evt_next", {"posted"})

        seen = {}
        for day in (dt.date(2026, 11, 27), dt.date(2026, 11, 28)):
            pms = yield stack.control("GET", f"/trial-balance?business_date={day.isoformat()}")
            report = reconcile(stack.journal, PROPERTY, day, now=now.value, tz=UTC)
            ours_codes = {t.code: t.amount for t in report.totals if t.kind == "transaction_code"}
            ours_types = {t.code: t.amount for t in report.totals if t.kind == "payment_type"}
            assert (ours_codes, ours_types) == (pms["codes"], pms["payment_types"]), day
            assert report.reconciled
            seen[day.isoformat()] = (pms["codes"], pms["payment_types"])
        assert seen == {
            "2026-11-27": ({"SPA_DEPOSIT": 5000}, {"ONEJOURNEY": -7500}),
            "2026-11-28": ({}, {"ONEJOURNEY": -1200}),
        }
    finally:
        yield stack.stop()


def _event(event_id: str, amount: int, kind: str, conf: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "payment.succeeded",
        "property": PROPERTY,
        "occurred_at": "2026-11-27T09:30:00Z" if event_id != "evt_next" else "2026-11-28T08:59:00Z",
        "payment": {
            "kind": kind,
            "amount": amount,
            "currency": "GBP",
            "transaction_id": "pi_" + event_id,
            "method": "onejourney",
            "status": "Payment Success",
        },
        "booking": {"confirmation_number": conf},
    }


def test_format_csv_quotes_reasons_with_commas(books):
    assert books.payment("evt_d", "2026-11-27T13:00:00", 2500, currency="USD") == ()
    report = reconcile(books.journal, PROPERTY, DAY, now=NOW, tz=UTC)
    last = format_csv(report).splitlines()[-1]
    assert last == (
        "unreconciled,unreconciled,evt_d,pi_d,payment.succeeded,balance,USD,,25.00,0.00,,"
        '2026-11-27,2026-11-27T13:00:00Z,82800,"journaled, not posted: payment is in USD; '
        'property GRAND-LONDON posts in GBP (foliogate never converts)"'
    )


def test_a_payment_posted_converted_is_matched_at_the_amount_it_was_captured_in(books):
    """A EUR payment posted to a GBP hotel at a journaled rate: the payout (in EUR) is
    compared with the captured EUR amount, not with the GBP legs."""
    books.at("2026-11-27T09:00:00")
    obj = {
        "event_id": "evt_eur",
        "type": "payment.succeeded",
        "property": PROPERTY,
        "occurred_at": "2026-11-27T09:00:00Z",
        "payment": {
            "kind": "balance",
            "amount": 5000,
            "currency": "EUR",
            "transaction_id": "pi_eur",
            "method": "onejourney",
            "status": "Payment Success",
        },
        "booking": {"confirmation_number": "123456"},
    }
    (leg,) = books.journal.record_event(
        events.parse_event(obj),
        events.canonical_body(obj),
        [PlannedLeg(0, None, "ONEJOURNEY", 4300, "GBP")],
    ).legs
    books.post(leg, "2026-11-27T09:00:01", "2026-11-27T09:00:02", 1)
    payouts = read_payouts("transaction_id,amount,currency\npi_eur,50.00,EUR\n")
    report = reconcile(books.journal, PROPERTY, DAY, payouts=payouts, now=NOW, tz=UTC)
    (payment,) = report.payments
    assert (payment.amount, payment.currency, payment.posted_amount, payment.posted_currency) == (
        5000,
        "EUR",
        4300,
        "GBP",
    )
    assert report.payouts is not None
    assert (report.payouts.matched, report.payouts.mismatches) == (1, ())


def test_documented_examples_hold():
    import doctest

    import adapters.reconcile
    import adapters.replay

    for module in (adapters.reconcile, adapters.replay):
        failures, tried = doctest.testmod(module)
        assert (failures, tried > 0) == (0, True), module.__name__
