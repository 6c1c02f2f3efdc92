"""Posting journeys (adapters.journeys): exact legs per event, profile and posting mode, and
the DESIGN §3 ledger arithmetic that makes them correct."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import pytest

from adapters.config import PropertyConfig, config_from_toml, load_config
from adapters.domain import Leg, LegState, PaymentEvent, PlannedLeg
from adapters.events import parse_event
from adapters.journeys import (
    FolioLine,
    JourneyPlan,
    PlanOutcome,
    PostingTarget,
    folio_lines,
    is_captured,
    plan_legs,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "gateway.toml"

# Three properties: FIAS (normal), OPERA HTNG (negative), Rezlynx (normal on SOAP).
CONFIG = """
[sources.payments]
secret_env = "FOLIOGATE_SECRET_PAYMENTS"

[properties.GRAND-LONDON]
profile = "fias"
endpoint = "tcp:host=127.0.0.1:port=5010"
posting_mode = "normal"
currency = "GBP"
allow_negative = true
[properties.GRAND-LONDON.codes]
deposit = "SPA_DEPOSIT"
redemption_payment_type = "DEPOSIT_REDEMPTION"
revenue = { SPA_TREATMENT = "SPA_TREATMENT", MANICURE = "NAILS" }
payment_types = { onejourney = "ONEJOURNEY" }
[properties.GRAND-LONDON.fias]
sales_outlets = { SPA_DEPOSIT = 210, SPA_TREATMENT = 220, NAILS = 230 }
payment_methods = { ONEJOURNEY = "OJ", DEPOSIT_REDEMPTION = "DR" }
room_payment_method = "ROOM"

[properties.SEASIDE]
profile = "opera-htng"
endpoint = "http://127.0.0.1:8081/opera-htng"
posting_mode = "negative"
currency = "GBP"
[properties.SEASIDE.codes]
deposit = "SPA_DEPOSIT"
revenue = { SPA_TREATMENT = "SPA_TREATMENT", MANICURE = "NAILS" }
payment_types = { onejourney = "ONEJOURNEY" }
[properties.SEASIDE.soap]
username_env = "SEASIDE_USER"
password_env = "SEASIDE_PASSWORD"

[properties.HILLTOP]
profile = "rezlynx"
endpoint = "http://127.0.0.1:8082/rezlynx"
posting_mode = "normal"
currency = "GBP"
allow_negative = false
[properties.HILLTOP.codes]
deposit = "SPA_DEPOSIT"
redemption_payment_type = "DEPOSIT_REDEMPTION"
revenue = { SPA_TREATMENT = "SPA_TREATMENT" }
payment_types = { onejourney = "ONEJOURNEY" }
[properties.HILLTOP.soap]
username_env = "HILLTOP_USER"
password_env = "HILLTOP_PASSWORD"
"""

PROPS = config_from_toml(CONFIG, base_dir=Path("/tmp")).properties
FIAS = PROPS["GRAND-LONDON"]
HTNG = PROPS["SEASIDE"]
REZLYNX = PROPS["HILLTOP"]

BASE = {
    "event_id": "evt_dep",
    "type": "payment.succeeded",
    "property": "GRAND-LONDON",
    "occurred_at": "2026-11-21T10:04:05Z",
    "payment": {
        "kind": "deposit",
        "amount": 5000,
        "currency": "GBP",
        "transaction_id": "pi_1",
        "method": "onejourney",
        "status": "Payment Success",
    },
    "booking": {"confirmation_number": "123456"},
}


def event(prop: PropertyConfig = FIAS, **changes: object) -> PaymentEvent:
    """A parsed event for ``prop``; ``payment_x=`` changes payment field x, ``x=None`` drops x."""
    obj = copy.deepcopy(BASE)
    obj["property"] = prop.name
    for key, value in changes.items():
        if key.startswith("payment_"):
            obj["payment"][key.removeprefix("payment_")] = value
        elif value is None:
            obj.pop(key, None)
        else:
            obj[key] = value
    return parse_event(obj)


def redemption(prop: PropertyConfig = FIAS, items: list[dict] | None = None) -> PaymentEvent:
    return event(
        prop,
        event_id="evt_red",
        type="deposit.redeemed",
        payment=None,
        items=items or [{"code": "SPA_TREATMENT", "description": "Massage 60", "amount": 5000}],
    )


def refund(prop: PropertyConfig = FIAS, amount: int = 5000, kind: str = "deposit") -> PaymentEvent:
    return event(
        prop,
        event_id="evt_ref",
        type="payment.refunded",
        refund_of="evt_dep",
        payment_amount=amount,
        payment_kind=kind,
        payment_status="succeeded",
    )


def leg(index, code, payment_type, amount, description, needs_in_house=True):
    return PlannedLeg(index, code, payment_type, amount, "GBP", description, needs_in_house)


def posted(*legs: PlannedLeg) -> JourneyPlan:
    return JourneyPlan(PlanOutcome.POST, legs=legs)


def exception(reason: str) -> JourneyPlan:
    return JourneyPlan(PlanOutcome.EXCEPTION, reason=reason)


# --- normal posting (FIAS) ----------------------------------------------------------------


def test_fias_deposit_is_one_leg_charging_the_deposit_code_settled_by_the_payment_type():
    assert plan_legs(event(), FIAS) == posted(leg(0, "SPA_DEPOSIT", "ONEJOURNEY", 5000, "deposit"))


def test_fias_balance_payment_is_one_bare_payment_leg():
    assert plan_legs(event(payment_kind="balance"), FIAS) == posted(
        leg(0, None, "ONEJOURNEY", 5000, "payment")
    )


def test_event_settlement_posts_like_a_balance_payment():
    assert plan_legs(event(payment_kind="event_settlement"), FIAS) == posted(
        leg(0, None, "ONEJOURNEY", 5000, "payment")
    )


def test_fias_redemption_posts_each_item_settled_by_the_redemption_payment_type():
    items = [
        {"code": "SPA_TREATMENT", "description": "Massage 60", "amount": 3500},
        {"code": "MANICURE", "amount": 1500},
    ]
    assert plan_legs(redemption(items=items), FIAS) == posted(
        leg(0, "SPA_TREATMENT", "DEPOSIT_REDEMPTION", 3500, "Massage 60"),
        leg(1, "NAILS", "DEPOSIT_REDEMPTION", 1500, "MANICURE"),
    )


def test_fias_order_posts_each_item_settled_by_the_payment_type():
    items = [{"code": "SPA_TREATMENT", "amount": 3500}, {"code": "MANICURE", "amount": 1500}]
    assert plan_legs(event(payment_kind="order", items=items), FIAS) == posted(
        leg(0, "SPA_TREATMENT", "ONEJOURNEY", 3500, "SPA_TREATMENT"),
        leg(1, "NAILS", "ONEJOURNEY", 1500, "MANICURE"),
    )


def test_fias_refund_reverses_each_original_leg_with_the_same_codes():
    original = plan_legs(event(), FIAS).legs
    assert plan_legs(refund(), FIAS, original) == posted(
        leg(0, "SPA_DEPOSIT", "ONEJOURNEY", -5000, "refund: deposit")
    )


def test_partial_refund_reverses_the_refunded_amount_when_every_leg_carried_the_payment():
    original = plan_legs(event(), FIAS).legs
    assert plan_legs(refund(amount=2000), FIAS, original) == posted(
        leg(0, "SPA_DEPOSIT", "ONEJOURNEY", -2000, "refund: deposit")
    )


def test_refund_where_negative_amounts_are_forbidden_is_an_exception_to_post_by_hand():
    original = plan_legs(event(REZLYNX), REZLYNX).legs
    plan = plan_legs(refund(REZLYNX), REZLYNX, original)
    assert plan == JourneyPlan(
        PlanOutcome.EXCEPTION,
        reason="refund of evt_dep: property HILLTOP does not allow negative postings; post by "
        "hand: SPA_DEPOSIT -50.00 GBP on the folio; payment type ONEJOURNEY -50.00 GBP",
        by_hand=(
            leg(0, "SPA_DEPOSIT", None, -5000, "refund: deposit", needs_in_house=False),
            leg(1, None, "ONEJOURNEY", -5000, "refund: deposit", needs_in_house=False),
        ),
    )
    assert plan.legs == ()  # nothing is dispatched


def test_the_example_demo_hotel_sends_refunds_to_the_exception_queue():
    demo = load_config(EXAMPLE).properties["GRAND-LONDON"]
    plan = plan_legs(refund(demo), demo, plan_legs(event(demo), demo).legs)
    assert plan.outcome is PlanOutcome.EXCEPTION
    assert plan.reason == (
        "refund of evt_dep: property GRAND-LONDON does not allow negative postings; post by "
        "hand: SPA_DEPOSIT -50.00 GBP settled by ONEJOURNEY"
    )


# --- negative posting (SOAP profiles) -----------------------------------------------------


def test_soap_deposit_is_a_charge_leg_then_a_payment_leg_both_allowed_before_arrival():
    assert plan_legs(event(HTNG), HTNG) == posted(
        leg(0, "SPA_DEPOSIT", None, 5000, "deposit", needs_in_house=False),
        leg(1, None, "ONEJOURNEY", 5000, "deposit", needs_in_house=False),
    )


def test_soap_balance_payment_may_post_before_arrival():
    assert plan_legs(event(HTNG, payment_kind="balance"), HTNG) == posted(
        leg(0, None, "ONEJOURNEY", 5000, "payment", needs_in_house=False)
    )


def test_negative_redemption_posts_revenue_then_one_negative_sale_on_the_deposit_code():
    items = [
        {"code": "SPA_TREATMENT", "description": "Massage 60", "amount": 3500},
        {"code": "MANICURE", "amount": 1500},
    ]
    assert plan_legs(redemption(HTNG, items), HTNG) == posted(
        leg(0, "SPA_TREATMENT", None, 3500, "Massage 60"),
        leg(1, "NAILS", None, 1500, "MANICURE"),
        leg(2, "SPA_DEPOSIT", None, -5000, "deposit redemption"),
    )


def test_soap_order_posts_revenue_charges_then_one_payment():
    items = [{"code": "SPA_TREATMENT", "amount": 3500}, {"code": "MANICURE", "amount": 1500}]
    assert plan_legs(event(HTNG, payment_kind="order", items=items), HTNG) == posted(
        leg(0, "SPA_TREATMENT", None, 3500, "SPA_TREATMENT"),
        leg(1, "NAILS", None, 1500, "MANICURE"),
        leg(2, None, "ONEJOURNEY", 5000, "payment", needs_in_house=False),
    )


def test_soap_normal_mode_redemption_posts_revenue_then_the_redemption_payment():
    assert plan_legs(redemption(REZLYNX), REZLYNX) == posted(
        leg(0, "SPA_TREATMENT", None, 5000, "Massage 60"),
        leg(1, None, "DEPOSIT_REDEMPTION", 5000, "deposit redemption", needs_in_house=False),
    )


def test_soap_refund_reverses_both_deposit_legs():
    original = plan_legs(event(HTNG), HTNG).legs
    assert plan_legs(refund(HTNG), HTNG, original) == posted(
        leg(0, "SPA_DEPOSIT", None, -5000, "refund: deposit", needs_in_house=False),
        leg(1, None, "ONEJOURNEY", -5000, "refund: deposit", needs_in_house=False),
    )


def test_partial_refund_of_a_soap_deposit_reverses_each_leg_by_the_refunded_amount():
    original = plan_legs(event(HTNG), HTNG).legs
    assert [x.amount for x in plan_legs(refund(HTNG, amount=1200), HTNG, original).legs] == [
        -1200,
        -1200,
    ]


# --- A/R accounts ---------------------------------------------------------------------------


@pytest.mark.parametrize("prop", [FIAS, HTNG], ids=["fias", "opera-htng"])
def test_account_payment_is_one_payment_to_the_ar_account_that_never_waits_for_a_guest(prop):
    plan = plan_legs(event(prop, payment_kind="account"), prop)
    assert plan == JourneyPlan(
        PlanOutcome.POST,
        legs=(leg(0, None, "ONEJOURNEY", 5000, "A/R payment", needs_in_house=False),),
        target=PostingTarget.ACCOUNT,
    )


def test_account_numbers_need_not_be_numeric_on_fias():
    plan = plan_legs(
        event(payment_kind="account", booking={"confirmation_number": "AR-ACME"}), FIAS
    )
    assert plan.outcome is PlanOutcome.POST


def test_refund_of_an_ar_payment_is_posted_by_hand():
    original = plan_legs(event(payment_kind="account"), FIAS).legs
    plan = plan_legs(refund(kind="account"), FIAS, original)
    assert plan.outcome is PlanOutcome.EXCEPTION
    assert plan.reason == (
        "refund of evt_dep: A/R accounts take positive amounts only; post by hand: "
        "payment type ONEJOURNEY -50.00 GBP"
    )


# --- nothing to post, and mapping errors --------------------------------------------------


@pytest.mark.parametrize("event_type", ["payment.pending", "payment.failed"])
def test_pending_and_failed_payments_are_journaled_never_posted(event_type):
    assert plan_legs(event(type=event_type), FIAS) == JourneyPlan(
        PlanOutcome.NOT_POSTED, reason=f"{event_type} events are journaled, never posted"
    )


def test_a_succeeded_event_with_a_status_that_is_not_captured_is_not_posted():
    assert plan_legs(event(payment_status="Authorized"), FIAS) == JourneyPlan(
        PlanOutcome.NOT_POSTED,
        reason="status 'Authorized' is not a captured status; journaled, not posted",
    )


def test_captured_statuses_are_recognised_regardless_of_case_and_edge_spaces():
    assert [is_captured(s) for s in ("Payment Success", "payment success ", "PAID", "pending")] == [
        True,
        True,
        True,
        False,
    ]


def test_an_unmapped_payment_method_is_a_mapping_error_naming_it():
    assert plan_legs(event(payment_method="applepay"), FIAS) == exception(
        "payment method 'applepay' has no PMS payment type in "
        "properties.GRAND-LONDON.codes.payment_types"
    )


def test_unmapped_item_codes_are_a_mapping_error_naming_every_one():
    items = [
        {"code": "YOGA", "amount": 1000},
        {"code": "SPA_TREATMENT", "amount": 1000},
        {"code": "SAUNA", "amount": 3000},
    ]
    assert plan_legs(redemption(items=items), FIAS) == exception(
        "item codes SAUNA, YOGA have no PMS revenue code in properties.GRAND-LONDON.codes.revenue"
    )
    assert plan_legs(redemption(HTNG, items=items[:1]), HTNG) == exception(
        "item code YOGA has no PMS revenue code in properties.SEASIDE.codes.revenue"
    )


def test_a_payment_in_another_currency_is_never_converted():
    assert plan_legs(event(payment_currency="EUR"), FIAS) == exception(
        "payment is in EUR; property GRAND-LONDON posts in GBP (foliogate never converts)"
    )


def test_an_order_whose_items_do_not_add_up_to_the_payment_is_posted_by_hand():
    items = [{"code": "SPA_TREATMENT", "amount": 4000}]
    assert plan_legs(event(payment_kind="order", items=items), FIAS) == exception(
        "items add up to 40.00 GBP but the order payment is 50.00 GBP; post by hand"
    )


def test_an_order_without_items_cannot_be_posted_as_revenue():
    assert plan_legs(event(payment_kind="order"), FIAS) == exception(
        "payment.succeeded event lists no items to post as revenue"
    )


def test_a_redemption_whose_items_differ_from_the_redeemed_deposit_is_posted_by_hand():
    obj_event = event(
        type="deposit.redeemed",
        items=[{"code": "SPA_TREATMENT", "amount": 6000}],
    )
    assert plan_legs(obj_event, FIAS) == exception(
        "items add up to 60.00 GBP but the redeemed deposit is 50.00 GBP; post by hand"
    )


def test_fias_needs_a_numeric_confirmation_number_to_find_the_guest():
    plan = plan_legs(event(booking={"confirmation_number": "ABC-1"}), FIAS)
    assert plan == exception(
        "confirmation number 'ABC-1' cannot be a FIAS reservation number (G# is up to 10 digits)"
    )
    # SOAP profiles take any reservation id.
    assert plan_legs(event(HTNG, booking={"confirmation_number": "ABC-1"}), HTNG).outcome is (
        PlanOutcome.POST
    )


def test_refund_without_original_legs_is_posted_by_hand():
    assert plan_legs(refund(), FIAS, ()) == exception(
        "refund of evt_dep: that event has no legs to reverse; post by hand"
    )


def test_refund_larger_than_the_original_payment_is_posted_by_hand():
    original = plan_legs(event(), FIAS).legs
    assert plan_legs(refund(amount=6000), FIAS, original) == exception(
        "refund of evt_dep (60.00 GBP) is more than the original payment (50.00 GBP); post by hand"
    )


def test_partial_refund_of_an_order_split_over_items_is_posted_by_hand():
    items = [{"code": "SPA_TREATMENT", "amount": 3500}, {"code": "MANICURE", "amount": 1500}]
    original = plan_legs(event(payment_kind="order", items=items), FIAS).legs
    assert plan_legs(refund(amount=1000, kind="order"), FIAS, original) == exception(
        "partial refund of evt_dep (10.00 GBP of 50.00 GBP) posted in legs of different "
        "amounts; post by hand"
    )


def journaled(plan: PlannedLeg, state: LegState) -> Leg:
    return Leg(
        leg_id=1,
        event_id="evt_dep",
        leg_index=plan.leg_index,
        property="GRAND-LONDON",
        confirmation_number="123456",
        plan=plan,
        state=state,
        reference=f"evt_dep/{plan.leg_index}",
    )


def test_refund_reverses_journaled_legs_as_the_api_hands_them_over():
    (original,) = plan_legs(event(), FIAS).legs
    plan = plan_legs(refund(), FIAS, [journaled(original, LegState.POSTED)])
    assert plan == posted(leg(0, "SPA_DEPOSIT", "ONEJOURNEY", -5000, "refund: deposit"))


@pytest.mark.parametrize("state", [LegState.REJECTED, LegState.UNKNOWN, LegState.RESOLVED])
def test_refund_of_a_leg_whose_outcome_is_unknown_or_rejected_is_posted_by_hand(state):
    (original,) = plan_legs(event(), FIAS).legs
    assert plan_legs(refund(), FIAS, [journaled(original, state)]) == exception(
        f"refund of evt_dep: its leg 0 is {state}; post by hand"
    )


def test_planning_an_event_for_another_property_is_a_programming_error():
    with pytest.raises(ValueError, match="is for SEASIDE, not GRAND-LONDON"):
        plan_legs(event(HTNG), FIAS)


# --- the DESIGN §3 ledger arithmetic ---------------------------------------------------------


def ledger(*plans: JourneyPlan) -> Counter[str]:
    """Per-code totals of the folio lines the plans' legs make."""
    totals: Counter[str] = Counter()
    for plan in plans:
        assert plan.outcome is PlanOutcome.POST, plan.reason
        for planned in plan.legs:
            for line in folio_lines(planned):
                totals[line.code] += line.amount
    return totals


def test_folio_lines_follow_the_sign_convention():
    assert folio_lines(leg(0, "SPA_DEPOSIT", "ONEJOURNEY", 5000, "")) == (
        FolioLine("SPA_DEPOSIT", False, 5000),
        FolioLine("ONEJOURNEY", True, -5000),
    )
    assert folio_lines(leg(0, "SPA_DEPOSIT", None, -5000, "")) == (
        FolioLine("SPA_DEPOSIT", False, -5000),
    )
    assert folio_lines(leg(0, None, "ONEJOURNEY", 5000, "")) == (
        FolioLine("ONEJOURNEY", True, -5000),
    )


@pytest.mark.parametrize("prop", [FIAS, HTNG, REZLYNX], ids=["fias-normal", "htng-negative",
                                                            "rezlynx-normal"])  # fmt: skip
def test_deposit_then_redemption_leaves_balance_and_deposit_group_at_zero(prop):
    items = [
        {"code": "SPA_TREATMENT", "amount": 3500},
        {"code": "SPA_TREATMENT", "amount": 1500},
    ]
    totals = ledger(plan_legs(event(prop), prop), plan_legs(redemption(prop, items), prop))
    deposit_group = {prop.codes.deposit, prop.codes.redemption_payment_type}
    assert sum(totals.values()) == 0  # the folio balance
    assert sum(v for code, v in totals.items() if code in deposit_group) == 0
    assert totals["SPA_TREATMENT"] == 5000  # revenue equals the redeemed items
    assert totals["ONEJOURNEY"] == -5000  # the payment type totals the captured payment


@pytest.mark.parametrize("prop", [FIAS, HTNG], ids=["fias-normal", "htng-negative"])
def test_deposit_then_full_refund_nets_every_code_to_zero(prop):
    deposit = plan_legs(event(prop), prop)
    totals = ledger(deposit, plan_legs(refund(prop), prop, deposit.legs))
    assert set(totals.values()) == {0}
