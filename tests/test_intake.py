"""Intake (adapters.intake) and the journal's issue-5 records: conversion at the rate valid at
the payment time, matching when the confirmation number finds nothing, the approval
threshold, the A/R limits of FIAS, the amount-mismatch flag, and the operator actions
(assign, approve, retry) with who and when journaled. No network: a real SQLite journal in
tmp_path and the example configuration."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import task

from adapters.config import load_config
from adapters.domain import LegState
from adapters.events import canonical_body, parse_event
from adapters.intake import Intake, OperatorActions
from adapters.journal import (
    EventStatus,
    Held,
    Journal,
    MatchStatus,
    NotAssignable,
)
from adapters.matching import Candidate
from adapters.rates import RatesFile

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "gateway.toml"
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
RATES = (
    "base,quote,rate,valid_from,valid_to\n"
    "JPY,GBP,0.0052,2026-11-01,2026-12-01\n"
    "GBP,BHD,0.4754,2026-11-01,\n"
)

PAYMENT: dict[str, Any] = {
    "event_id": "evt_pay",
    "type": "payment.succeeded",
    "property": "GRAND-LONDON",
    "occurred_at": "2026-11-27T10:04:05Z",
    "payment": {
        "kind": "balance",
        "amount": 5000,
        "currency": "GBP",
        "transaction_id": "pi_1",
        "method": "onejourney",
        "status": "Payment Success",
    },
    "booking": {"confirmation_number": "123456", "guest_name": "Jane Doe"},
}


def event(**changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(PAYMENT)
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        target = obj
        for parent in parents:
            target = target[parent]
        target[key] = value
    return obj


@pytest.fixture
def journal(tmp_path):
    j = Journal(str(tmp_path / "journal.sqlite"), reactor=task.Clock(), now=lambda: T0)
    yield j
    j.close()


@pytest.fixture
def rates(tmp_path) -> RatesFile:
    path = tmp_path / "rates.csv"
    path.write_text(RATES, encoding="utf-8")
    return RatesFile(path)


@pytest.fixture
def config(rates):
    base = load_config(EXAMPLE)
    gateway = dataclasses.replace(base.gateway, rates=rates.path)
    prop = dataclasses.replace(base.properties["GRAND-LONDON"], approval_threshold=100000)
    return dataclasses.replace(base, gateway=gateway, properties={"GRAND-LONDON": prop})


@pytest.fixture
def prop(config):
    return config.properties["GRAND-LONDON"]


@pytest.fixture
def intake(journal, rates) -> Intake:
    return Intake(journal, rates=rates)


def record(journal: Journal, intake: Intake, prop: Any, obj: dict[str, Any]) -> Any:
    """Plan and journal an event as the API does."""
    parsed = parse_event(obj)
    original = ()
    if parsed.refund_of:
        found = journal.event(parsed.refund_of)
        original = found.legs if found is not None else ()
    invoices = tuple(obj["payment"].get("invoices", ())) if obj.get("payment") else ()
    plan = intake.plan(parsed, prop, original, invoices=invoices)
    return journal.record_event(parsed, canonical_body(obj), plan, source="payments")


# -- not captured ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "payment.pending", "payment__status": "pending"},
        {"type": "payment.failed", "payment__status": "card declined"},
        {"payment__status": "requires_capture"},  # payment.succeeded, but not captured
        {"type": "payment.pending", "payment__currency": "JPY", "booking__confirmation_number": ""},
    ],
    ids=["pending", "failed", "uncaptured status", "pending, foreign, blank"],
)
def test_only_a_captured_status_posts_the_rest_is_journaled_without_legs(
    journal, intake, prop, changes
):
    result = record(journal, intake, prop, event(**changes))
    assert (result.event_status, result.legs) == (EventStatus.NO_POST, ())
    stored = journal.event("evt_pay")
    assert (stored.conversion, stored.match, stored.outcome is not None) == (None, None, True)


# -- currencies -----------------------------------------------------------------------------------


def test_a_jpy_payment_posts_gbp_at_the_rate_of_its_time_and_both_amounts_are_kept(
    journal, intake, prop
):
    result = record(journal, intake, prop, event(payment__amount=12345, payment__currency="JPY"))
    (leg,) = result.legs
    assert (leg.plan.amount, leg.plan.currency) == (6419, "GBP")  # 64.194 GBP -> 64.19
    conversion = journal.event("evt_pay").conversion
    assert (conversion.original_amount, conversion.original_currency) == (12345, "JPY")
    assert (conversion.amount, conversion.currency, conversion.rate) == (
        6419,
        "GBP",
        Decimal("0.0052"),
    )
    assert (conversion.base, conversion.quote, conversion.inverted) == ("JPY", "GBP", False)
    assert conversion.rounding == "ROUND_HALF_EVEN"


def test_a_bhd_payment_uses_the_gbp_bhd_row_inverted(journal, intake, prop):
    result = record(journal, intake, prop, event(payment__amount=1234, payment__currency="BHD"))
    assert [(leg.plan.amount, leg.plan.currency) for leg in result.legs] == [(260, "GBP")]
    conversion = journal.event("evt_pay").conversion
    assert (conversion.rate, conversion.inverted) == (Decimal("0.4754"), True)


def test_no_rate_is_an_exception_and_retrying_after_the_rate_is_added_posts(
    journal, intake, prop, config, rates
):
    obj = event(payment__amount=100, payment__currency="USD")
    result = record(journal, intake, prop, obj)
    assert (result.event_status, result.legs) == (EventStatus.EXCEPTION, ())
    assert result.outcome == (
        f"no USD->GBP rate valid at 2026-11-27T10:04:05Z in {rates.path} (it has no row for the "
        "pair); add the rate, then retry the event"
    )
    rates.path.write_text(RATES + "USD,GBP,0.79,2026-11-01,\n", encoding="utf-8")
    import os

    os.utime(rates.path, ns=(1, 10**18))
    actions = OperatorActions(journal, config, intake)
    retried = actions.retry_event("evt_pay", "alice", "added the USD rate")
    assert retried.status is EventStatus.ACCEPTED
    assert [(leg.plan.amount, leg.state) for leg in retried.legs] == [(79, LegState.PLANNED)]
    assert retried.conversion.amount == 79
    assert [(a.actor, a.action, a.note) for a in journal.history(event_id="evt_pay")][-3:-1] == [
        ("alice", "retry", "added the USD rate"),
        ("gateway", "event accepted", None),
    ]


def test_without_a_rates_file_a_foreign_payment_is_an_exception(journal, prop):
    result = record(journal, Intake(journal), prop, event(payment__currency="EUR"))
    assert result.outcome == (
        "payment is in EUR; property GRAND-LONDON posts in GBP and no rates file is configured "
        "([gateway] rates)"
    )


def test_an_amount_that_converts_to_nothing_is_not_posted_as_zero(journal, intake, prop):
    """1 fils / 0.4754 = 0.21 pence: nothing to post (and never a 0 posting)."""
    result = record(journal, intake, prop, event(payment__amount=1, payment__currency="BHD"))
    assert result.event_status is EventStatus.EXCEPTION
    assert result.outcome == (
        "0.001 BHD at GBP/BHD 0.4754 inverted = 0.00 GBP: nothing to post; post by hand if it "
        "must be booked"
    )


def test_a_refund_of_a_converted_payment_reverses_at_the_payment_s_rate(tmp_path, journal, prop):
    prop = dataclasses.replace(prop, allow_negative=True)
    path = tmp_path / "moving.csv"
    path.write_text(RATES, encoding="utf-8")
    intake = Intake(journal, rates=RatesFile(path))
    record(journal, intake, prop, event(payment__amount=12345, payment__currency="JPY"))
    # The rate moves before the refund: the reversal must still net the folio to zero.
    path.write_text(RATES.replace("0.0052,2026-11-01,2026-12-01", "0.0099,2026-11-01,"), "utf-8")
    refund = event(
        event_id="evt_refund", type="payment.refunded", refund_of="evt_pay",
        payment__amount=12345, payment__currency="JPY", occurred_at="2026-11-28T09:00:00Z",
    )  # fmt: skip
    result = record(journal, intake, prop, refund)
    assert [leg.plan.amount for leg in result.legs] == [-6419]
    assert journal.event("evt_refund").conversion.rate == Decimal("0.0052")


def test_order_items_are_split_so_they_still_add_up_to_the_converted_payment(journal, prop):
    from adapters.config import CodeMap, FiasMapping

    codes = CodeMap("SPA_DEPOSIT", "DEPOSIT_REDEMPTION", {"SPA": "SPA_TREATMENT"},
                    {"onejourney": "ONEJOURNEY"})  # fmt: skip
    fias = FiasMapping({"SPA_DEPOSIT": 210, "SPA_TREATMENT": 220},
                       {"ONEJOURNEY": "OJ", "DEPOSIT_REDEMPTION": "DR"}, "ROOM")  # fmt: skip
    prop = dataclasses.replace(prop, codes=codes, fias=fias)
    rates = RatesFile(Path(journal.path).with_name("r.csv"))
    rates.path.write_text(RATES, encoding="utf-8")
    obj = event(payment__kind="order", payment__amount=3001, payment__currency="JPY")
    obj["items"] = [{"code": "SPA", "amount": 1000}] * 3 + [{"code": "SPA", "amount": 1}]
    result = record(journal, Intake(journal, rates=rates), prop, obj)
    amounts = [leg.plan.amount for leg in result.legs]
    assert sum(amounts) == journal.event("evt_pay").conversion.amount == 1561  # 15.6052 GBP
    assert amounts == [520, 520, 520, 1]


# -- matching -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("", "no confirmation number"),
        ("RES-77", "confirmation number 'RES-77' cannot be a FIAS reservation number "
                   "(G# is 1 to 10 digits)"),
    ],
    ids=["blank", "not a G#"],
)  # fmt: skip
def test_a_number_that_finds_nothing_asks_for_a_candidate_search(
    journal, intake, prop, number, reason
):
    result = record(journal, intake, prop, event(booking__confirmation_number=number))
    assert (result.event_status, result.legs) == (EventStatus.EXCEPTION, ())
    assert result.outcome == (
        f"{reason}: searching the PMS for candidates by guest name; assign the right record"
    )
    (pending,) = journal.pending_matches("GRAND-LONDON")
    assert (pending.event_id, pending.status, pending.reason, pending.leg_id) == (
        "evt_pay",
        MatchStatus.PENDING,
        reason,
        None,
    )


def test_a_refund_with_a_blank_number_goes_where_its_payment_went(journal, intake, prop):
    prop = dataclasses.replace(prop, allow_negative=True)
    record(journal, intake, prop, event())
    refund = event(event_id="evt_refund", type="payment.refunded", refund_of="evt_pay",
                   booking__confirmation_number="")  # fmt: skip
    result = record(journal, intake, prop, refund)
    assert [(leg.confirmation_number, leg.plan.amount) for leg in result.legs] == [
        ("123456", -5000)
    ]


def test_candidates_are_journaled_ranked_and_an_operator_assigns_the_record(
    journal, intake, prop, config
):
    record(journal, intake, prop, event(booking__confirmation_number=""))
    candidates = (
        Candidate(1, "123456", "Doe, Jane", 85, ("name ...", "stay ...", "balance ...")),
        Candidate(2, "300001", "Doe, John", 70, ("name ...",), room="301"),
    )
    journal.record_candidates("evt_pay", candidates, "searched the PMS by name for 'Doe'")
    match = journal.event("evt_pay").match
    assert (match.status, match.search_note, match.candidates) == (
        MatchStatus.SEARCHED,
        "searched the PMS by name for 'Doe'",
        candidates,
    )
    assert journal.pending_matches("GRAND-LONDON") == []

    assigned = OperatorActions(journal, config, intake).assign_event(
        "evt_pay", "123456", "alice", "the guest called; it is her stay"
    )
    assert assigned.status is EventStatus.ACCEPTED
    assert [(leg.confirmation_number, leg.state) for leg in assigned.legs] == [
        ("123456", LegState.PLANNED)
    ]
    match = assigned.match
    assert (match.status, match.assigned_to, match.assigned_by, match.assigned_at) == (
        MatchStatus.ASSIGNED,
        "123456",
        "alice",
        T0,
    )
    assert match.assign_note == "the guest called; it is her stay"
    history = [(a.actor, a.action, a.note) for a in journal.history(event_id="evt_pay")]
    assert ("alice", "assign", "confirmation number 123456: the guest called; it is her stay") in (
        history
    )


def test_assigning_a_number_that_still_cannot_be_a_g_number_is_refused(
    journal, intake, prop, config
):
    record(journal, intake, prop, event(booking__confirmation_number=""))
    with pytest.raises(NotAssignable, match="cannot be a FIAS reservation number"):
        OperatorActions(journal, config, intake).assign_event("evt_pay", "ABC", "alice", "typo")
    assert journal.event("evt_pay").status is EventStatus.EXCEPTION


def test_assigning_a_leg_moves_its_event_s_unsent_legs_and_never_a_posted_one(
    journal, intake, prop, config
):
    (leg,) = record(journal, intake, prop, event()).legs
    journal.mark_sent(leg.leg_id, 7)
    journal.mark_rejected(leg.leg_id, "NG", "no reservation G#123456")
    actions = OperatorActions(journal, config, intake)
    with pytest.raises(NotAssignable, match="cannot be a FIAS reservation number"):
        actions.assign_leg(leg.leg_id, "X1", "bob", "wrong")
    (moved,) = actions.assign_leg(leg.leg_id, "200101", "bob", "same guest, other stay")
    assert (moved.confirmation_number, moved.state, moved.reason, moved.answer_status) == (
        "200101",
        LegState.PLANNED,
        None,
        None,
    )
    assert journal.history(leg_id=leg.leg_id)[-1].note == (
        "confirmation number 200101 (was 123456): same guest, other stay"
    )
    journal.mark_sent(leg.leg_id, 8)
    journal.mark_posted(leg.leg_id, "OK")
    with pytest.raises(NotAssignable, match="never edited; post a correction"):
        actions.assign_leg(leg.leg_id, "123456", "bob", "oops")


def test_a_leg_whose_outcome_is_unknown_cannot_be_reassigned(journal, intake, prop, config):
    (leg,) = record(journal, intake, prop, event()).legs
    journal.mark_sent(leg.leg_id, 7)
    journal.mark_unknown(leg.leg_id, "no PA within 60 s")
    with pytest.raises(NotAssignable, match="the PMS may have posted it"):
        OperatorActions(journal, config, intake).assign_leg(leg.leg_id, "200101", "bob", "x")


# -- approval -------------------------------------------------------------------------------------


def test_a_payment_over_the_threshold_is_held_until_approved(journal, intake, prop, config):
    result = record(journal, intake, prop, event(payment__amount=100001))
    (leg,) = result.legs
    assert (leg.state, leg.reason) == (
        LegState.REJECTED,
        "held for approval: 1000.01 GBP is over the approval threshold of 1000.00 GBP "
        "(properties.GRAND-LONDON.approval_threshold)",
    )
    assert journal.hold_of(leg.leg_id) == "approval"
    assert journal.event("evt_pay").holds == {leg.leg_id: "approval"}
    assert leg in journal.exceptions() and journal.pending_legs("GRAND-LONDON") == []
    with pytest.raises(Held, match="approve it"):
        journal.retry(leg.leg_id, "mallory", "let it through")

    (approved,) = OperatorActions(journal, config, intake).approve(leg.leg_id, "carol", "ok'd")
    assert (approved.state, approved.reason, journal.hold_of(leg.leg_id)) == (
        LegState.PLANNED,
        None,
        None,
    )
    last = journal.history(leg_id=leg.leg_id)[-1]
    assert (last.actor, last.action, last.from_state, last.to_state, last.note, last.time) == (
        "carol",
        "approve",
        "rejected",
        "planned",
        "ok'd (held for approval)",
        T0,
    )
    with pytest.raises(NotAssignable, match="not held for approval"):
        journal.approve(leg.leg_id, "carol", "again")


def test_a_payment_at_the_threshold_is_not_held(journal, intake, prop):
    (leg,) = record(journal, intake, prop, event(payment__amount=100000)).legs
    assert (leg.state, journal.hold_of(leg.leg_id)) == (LegState.PLANNED, None)


def test_the_threshold_applies_to_the_converted_amount(journal, intake, prop):
    """25,000,000 JPY = 130,000.00 GBP: over 1,000.00 GBP."""
    (leg,) = record(
        journal, intake, prop, event(payment__amount=25_000_000, payment__currency="JPY")
    ).legs
    assert journal.hold_of(leg.leg_id) == "approval"
    assert "13000000" not in (leg.reason or "") and "130000.00 GBP" in leg.reason


# -- A/R over FIAS --------------------------------------------------------------------------------


def account(**changes: Any) -> dict[str, Any]:
    return event(**{"payment__kind": "account", "booking__confirmation_number": "AR1001",
                    **changes})  # fmt: skip


def test_an_account_payment_plans_one_payment_leg_to_the_account(journal, intake, prop):
    result = record(journal, intake, prop, account(payment__invoices=["A1", "A3"]))
    (leg,) = result.legs
    assert (leg.confirmation_number, leg.plan.payment_type, leg.plan.amount) == (
        "AR1001",
        "ONEJOURNEY",
        5000,
    )
    assert leg.plan.needs_in_house is False
    assert journal.event("evt_pay").target == "account"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"payment__invoices": ["INV-1001", "INV-1002", "INV-1003"]},
         "the invoices INV-1001,INV-1002,INV-1003 do not fit FIAS CT (20 characters); name fewer "
         "invoices, or none (the PMS then pays the oldest first), or post by hand"),
        ({"booking__confirmation_number": "AR123456789"},
         "A/R account 'AR123456789' cannot be inquired over FIAS (PI holds 10 characters); "
         "post by hand"),
    ],
    ids=["CT", "PI"],
)  # fmt: skip
def test_fias_limits_on_account_payments_are_exceptions_not_truncations(
    journal, intake, prop, changes, reason
):
    result = record(journal, intake, prop, account(**changes))
    assert (result.event_status, result.outcome, result.legs) == (EventStatus.EXCEPTION, reason, ())


# -- the same transaction_id ----------------------------------------------------------------------


def test_a_different_amount_for_the_same_transaction_is_flagged_and_held_for_review(
    journal, intake, prop
):
    record(journal, intake, prop, event())
    (leg,) = record(journal, intake, prop, event(event_id="evt_more", payment__amount=6000)).legs
    (flag,) = journal.event("evt_more").flags
    assert (flag.kind, flag.related_event_id, flag.created_at) == ("amount_mismatch", "evt_pay", T0)
    assert flag.detail == (
        "amount 60.00 GBP differs from 50.00 GBP of evt_pay, an earlier payment with the same "
        "transaction_id pi_1"
    )
    assert (leg.state, journal.hold_of(leg.leg_id)) == (LegState.REJECTED, "review")
    assert leg.reason == f"held for review: {flag.detail}"
    assert journal.flags("evt_pay") == []  # the earlier one is not changed after the fact


def test_the_same_payment_again_under_another_event_id_is_held_not_posted_twice(
    journal, intake, prop
):
    """Same transaction_id, same amount, a new event_id: the money was taken once; posting
    both would book it twice. Held for review (an operator approves it if it really is a
    second payment); one flag per earlier payment of the transaction."""
    record(journal, intake, prop, event())
    (leg,) = record(journal, intake, prop, event(event_id="evt_again")).legs
    (flag,) = journal.event("evt_again").flags
    assert (flag.kind, flag.related_event_id) == ("duplicate_payment", "evt_pay")
    assert flag.detail == (
        "the same 50.00 GBP with the same transaction_id pi_1 as evt_pay: the same payment "
        "again under another event id?"
    )
    assert (leg.state, journal.hold_of(leg.leg_id)) == (LegState.REJECTED, "review")
    assert leg.reason == f"held for review: {flag.detail}"
    (third,) = record(journal, intake, prop, event(event_id="evt_third", payment__amount=7000)).legs
    assert [f.kind for f in journal.flags("evt_third")] == ["amount_mismatch"] * 2
    assert journal.flags("evt_pay") == []


def test_the_mismatch_compares_the_amounts_as_received_not_converted(journal, intake, prop):
    record(journal, intake, prop, event(payment__amount=12345, payment__currency="JPY"))
    record(journal, intake, prop, event(event_id="evt_b", payment__amount=6419))
    assert [f.kind for f in journal.flags("evt_b")] == ["amount_mismatch"]


def test_no_search_runs_for_what_an_operator_closed_meanwhile(journal, intake, prop):
    record(journal, intake, prop, event(booking__confirmation_number=""))
    (leg,) = record(
        journal, intake, prop, event(event_id="evt_leg", payment__transaction_id="pi_2")
    ).legs
    journal.mark_sent(leg.leg_id, 3)
    journal.mark_rejected(leg.leg_id, "NG", "no reservation G#123456")
    journal.request_match("evt_leg", "no reservation G#123456", leg_id=leg.leg_id)
    assert {m.event_id for m in journal.pending_matches("GRAND-LONDON")} == {"evt_pay", "evt_leg"}
    journal.resolve_event("evt_pay", "alice", "duplicate of a phone payment")
    journal.resolve(leg.leg_id, "alice", "posted by hand")
    assert journal.pending_matches("GRAND-LONDON") == []
