"""Issue 5 end to end over real loopback sockets: matching, A/R account payments, the approval
threshold, currencies, pending payments and the same-transaction amount check.

Each test starts the FIAS simulator (demo hotel, with its A/R accounts) and the gateway with a
real SQLite journal through :class:`adapters.cli.stack.Stack`, sends signed events over HTTP,
acts as an operator through the API or the CLI, and checks the journal, the wire log and the
simulator's ledger (read back through its control API).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import e2e_helpers
import pytest
import pytest_twisted
from e2e_helpers import api
from twisted.internet.defer import inlineCallbacks

from adapters.cli import main
from adapters.cli.stack import Stack
from adapters.config import GatewayConfig
from adapters.domain import LegState
from adapters.gateway import Gateway
from adapters.journal import MatchStatus

PROPERTY = "GRAND-LONDON"
DONE = {"posted", "rejected", "unknown"}
DEMO_IN_HOUSE = {123456: "101", 200101: "201", 200102: "201", 300001: "301"}
RATES = (
    "base,quote,rate,valid_from,valid_to\n"
    "JPY,GBP,0.0052,2026-11-01,2026-12-01\n"
    "GBP,BHD,0.4754,2026-11-01,\n"
)


def payment(
    event_id: str,
    confirmation_number: str | None,
    amount: int,
    *,
    kind: str = "balance",
    currency: str = "GBP",
    guest_name: str | None = None,
    transaction_id: str | None = None,
    **payment_fields: Any,
) -> dict[str, Any]:
    booking: dict[str, Any] = {"confirmation_number": confirmation_number}
    if guest_name is not None:
        booking["guest_name"] = guest_name
    return {
        "event_id": event_id,
        "type": "payment.succeeded",
        "property": PROPERTY,
        "occurred_at": "2026-11-27T10:04:05Z",
        "payment": {
            "kind": kind,
            "amount": amount,
            "currency": currency,
            "transaction_id": transaction_id or f"pi_{event_id}",
            "method": "onejourney",
            "status": "Payment Success",
            **payment_fields,
        },
        "booking": booking,
    }


def configure(workdir: Path, *, threshold: int | None = None, rates: bool = False):
    def apply(config: GatewayConfig) -> GatewayConfig:
        gateway = config.gateway
        if rates:
            path = workdir / "rates.csv"
            path.write_text(RATES, encoding="utf-8")
            gateway = dataclasses.replace(gateway, rates=path)
        prop = dataclasses.replace(
            config.properties[PROPERTY], answer_timeout_seconds=2.0, approval_threshold=threshold
        )
        return dataclasses.replace(config, gateway=gateway, properties={PROPERTY: prop})

    return apply


def start_stack(workdir: Path, **options: Any) -> Any:
    return e2e_helpers.start_fias_stack(workdir, PROPERTY, configure(workdir, **options))


@inlineCallbacks
def post(stack: Stack, event: dict[str, Any]) -> Any:
    code, answer = yield stack.post_event(event)
    assert code == 202, answer
    return answer


def out_frames(stack: Stack, leg_id: int | None = None) -> list[bytes]:
    records = stack.journal.wire_log(leg_id=leg_id, property=PROPERTY)
    return [w.raw for w in records if w.direction == "out"]


def prs(frames: list[bytes]) -> list[bytes]:
    return [f for f in frames if f.startswith(b"PR|")]


@inlineCallbacks
def folio_lines(stack: Stack, confirmation_number: str) -> Any:
    folio = yield stack.control("GET", f"/reservations/{confirmation_number}/folio")
    return [(line["code"], line["amount"]) for line in folio["lines"]]


def actions_of(stack: Stack, event_id: str) -> list[tuple[str, str, str | None]]:
    return [(a.actor, a.action, a.note) for a in stack.journal.history(event_id=event_id)]


# -- matching ------------------------------------------------------------------------------------


@pytest_twisted.inlineCallbacks
def test_blank_confirmation_number_is_matched_by_name_and_posts_once_an_operator_assigns(
    tmp_path,
):
    """A payment without a confirmation number is not guessed: the gateway inquires the PMS by
    the guest's name (PI = surname, then first name), journals the ranked candidates, and
    leaves the event in the exception queue; the operator assigns the first candidate through
    the API and the leg posts to that folio, the assignment journaled with who and when."""
    stack = yield start_stack(tmp_path)
    try:
        # Two more in-house guests a name search can find.
        for number, name, room, arrival in (
            ("600001", "Doe, John", "202", "2026-11-28"),
            ("600002", "Janeway, Kathryn", "103", "2026-11-20"),
        ):
            yield stack.control("POST", "/reservations", {
                "confirmation_number": number, "guest_name": name, "arrival": arrival,
                "departure": "2026-11-30",
            })  # fmt: skip
            yield stack.control("POST", f"/reservations/{number}/check-in", {"room": room})
        answer = yield post(stack, payment("evt_blank", "", 12000, guest_name="Jane Doe"))
        assert (answer["event_status"], answer["legs"]) == ("exception", [])
        assert answer["outcome"] == (
            "no confirmation number: searching the PMS for candidates by guest name; assign "
            "the right record"
        )
        yield stack.wait_for(
            lambda: stack.journal.match("evt_blank").status is MatchStatus.SEARCHED,
            "the candidate search",
        )
        inquiries = prs(out_frames(stack))
        assert [f.split(b"|PI")[1].split(b"|")[0] for f in inquiries if b"|PI" in f][-2:] == [
            b"Doe",
            b"Jane",
        ]
        code, shown = yield api(stack, "GET", "/v1/events/evt_blank")
        assert code == 200 and shown["status"] == "exception"
        assert [(c["rank"], c["confirmation_number"], c["guest_name"], c["score"])
                for c in shown["candidates"]] == [
            (1, "123456", "Doe, Jane", 85),
            (2, "600001", "Doe, John", 65),
            (3, "600002", "Janeway, Kathryn", 46),
        ]  # fmt: skip
        assert shown["candidates"][0]["reasons"][1] == (
            "paid 2026-11-27, within the stay 2026-11-27..2026-11-29 (25/25)"
        )
        assert shown["match"]["search_note"] == (
            "searched the PMS by name for 'Doe', 'Jane': 3 candidate(s)"
        )
        code, queue = yield api(stack, "GET", "/v1/exceptions")
        (listed,) = queue["events"]
        assert (listed["event_id"], listed["actions"]) == ("evt_blank", ["assign", "resolve"])

        code, assigned = yield api(stack, "POST", "/v1/events/evt_blank/assign", {
            "operator": "alice", "note": "Jane Doe in 101 confirmed by phone",
            "confirmation_number": "123456",
        })  # fmt: skip
        assert (code, assigned["status"]) == (200, "accepted")
        (leg,) = yield stack.wait_for_legs("evt_blank", DONE)
        assert (leg.state, leg.confirmation_number) == (LegState.POSTED, "123456")
        assert (yield folio_lines(stack, "123456")) == [("ONEJOURNEY", -12000)]
        code, after = yield api(stack, "GET", "/v1/events/evt_blank")
        assert after["match"]["status"] == "assigned"
        assert {k: after["match"]["assigned"][k] for k in ("confirmation_number", "operator",
                                                           "note")} == {
            "confirmation_number": "123456",
            "operator": "alice",
            "note": "Jane Doe in 101 confirmed by phone",
        }  # fmt: skip
        assert after["match"]["assigned"]["at"]
        assert (
            "alice",
            "assign",
            "confirmation number 123456: Jane Doe in 101 confirmed by phone",
        ) in actions_of(stack, "evt_blank")
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_a_record_the_pms_does_not_know_gets_candidates_and_the_cli_assigns_it(
    tmp_path, monkeypatch
):
    """The gateway believes G#777777 is in room 202 (a stale list); the PMS's inquiry answers
    NG. The leg is rejected, the PMS is searched by the guest's name, and ``foliogate
    exceptions assign LEG --confirmation`` beside the running gateway points it at the right
    reservation; the gateway's rescan picks it up and it posts there."""
    monkeypatch.setattr(Gateway, "rescan_interval", 0.1)
    e2e_helpers.seed_journal(tmp_path, PROPERTY, {**DEMO_IN_HOUSE, 777777: "202"})
    stack = yield start_stack(tmp_path)
    try:
        yield post(stack, payment("evt_stale", "777777", 4200, guest_name="Mrs Gandhi"))
        (rejected,) = yield stack.wait_for_legs("evt_stale", DONE)
        assert (rejected.state, rejected.answer_status) == (LegState.REJECTED, "NG")
        yield stack.wait_for(
            lambda: stack.journal.match("evt_stale").status is MatchStatus.SEARCHED,
            "the candidate search",
        )
        match = stack.journal.match("evt_stale")
        assert (match.leg_id, match.reason) == (rejected.leg_id, rejected.reason)
        assert [(c.rank, c.confirmation_number, c.guest_name) for c in match.candidates] == [
            (1, "200102", "Gandhi, Mrs."),
        ]

        code = main([
            "exceptions", "assign", str(rejected.leg_id), "--confirmation", "200102",
            "--note", "stale room list; Mrs Gandhi shares 201", "--operator", "bob",
            "--journal", str(tmp_path / "journal.sqlite"),
        ])  # fmt: skip
        assert code == 0
        (leg,) = yield stack.wait_for_legs("evt_stale", {"posted"})
        assert leg.confirmation_number == "200102"
        assert (yield folio_lines(stack, "200102")) == [("ONEJOURNEY", -4200)]
        history = stack.journal.history(leg_id=leg.leg_id)
        assert [(a.actor, a.action, a.to_state) for a in history][-3:] == [
            ("bob", "assign", "planned"),
            ("gateway", "send", "sent"),
            ("gateway", "posted", "posted"),
        ]
    finally:
        yield stack.stop()


# -- A/R -----------------------------------------------------------------------------------------


@pytest_twisted.inlineCallbacks
def test_an_account_payment_is_allocated_oldest_first_across_three_invoices_with_a_remainder(
    tmp_path,
):
    """70,000 to AR1001 (invoices 300.00, 200.00, 150.00): over FIAS an A/R inquiry (PI = the
    account, the payment's PM) and a posting with RN = the account and G#0; the simulator pays
    the three invoices oldest first and keeps 50.00 on the account as prepaid."""
    stack = yield start_stack(tmp_path)
    try:
        yield post(stack, payment("evt_ar", "AR1001", 70000, kind="account",
                                  guest_name="ACME Travel Ltd"))  # fmt: skip
        (leg,) = yield stack.wait_for_legs("evt_ar", DONE)
        assert (leg.state, leg.plan.needs_in_house) == (LegState.POSTED, False)
        inquiry, posting = prs(out_frames(stack, leg.leg_id))
        assert b"|PIAR1001|" in inquiry and inquiry.endswith(b"|PMOJ|")
        assert b"|RNAR1001|G#0|GNACME Travel Ltd|TA70000|" in posting
        assert b"|CT" not in posting  # no invoices named: the PMS allocates oldest first

        account = yield stack.control("GET", "/accounts/AR1001")
        assert [(i["id"], i["amount"], i["remaining"]) for i in account["invoices"]] == [
            ("A1", 30000, 0),
            ("A2", 20000, 0),
            ("A3", 15000, 0),
        ]
        assert (account["prepaid"], account["balance"]) == (5000, -5000)
        (booked,) = account["payments"]
        assert (booked["amount"], booked["payment_type"], booked["prepaid"]) == (
            70000,
            "ONEJOURNEY",
            5000,
        )
        yield stack.wait_for(lambda: stack.journal.balances("evt_ar"), "the A/R balance")
        assert [(b.balance, b.confirmation_number) for b in stack.journal.balances("evt_ar")] == [
            (-5000, "AR1001")
        ]
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_an_account_payment_that_names_invoices_pays_those_first(tmp_path):
    """payment.invoices travel in CT (comma-separated); the PMS pays A3 then A1."""
    stack = yield start_stack(tmp_path)
    try:
        yield post(stack, payment("evt_named", "AR1001", 20000, kind="account",
                                  invoices=["A3", "A1"]))  # fmt: skip
        (leg,) = yield stack.wait_for_legs("evt_named", DONE)
        assert leg.state is LegState.POSTED
        (posting,) = [f for f in prs(out_frames(stack, leg.leg_id)) if b"|TA" in f]
        assert b"|CTA3,A1|" in posting
        account = yield stack.control("GET", "/accounts/AR1001")
        assert {i["id"]: i["remaining"] for i in account["invoices"]} == {
            "A1": 25000,
            "A2": 20000,
            "A3": 0,
        }
        assert account["payments"][0]["allocations"] == [
            {"invoice": "A3", "amount": 15000},
            {"invoice": "A1", "amount": 5000},
        ]
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_a_payment_over_the_approval_threshold_waits_for_approval_then_posts(tmp_path):
    """approval_threshold = 100000: 1,500.00 to AR2002 is held in the exception queue with
    nothing on the wire; an operator approves it through the API and it posts."""
    stack = yield start_stack(tmp_path, threshold=100000)
    try:
        answer = yield post(stack, payment("evt_big", "AR2002", 150000, kind="account"))
        (held,) = answer["legs"]
        assert held["state"] == "rejected"
        assert held["reason"] == (
            "held for approval: 1500.00 GBP is over the approval threshold of 1000.00 GBP "
            "(properties.GRAND-LONDON.approval_threshold)"
        )
        code, queue = yield api(stack, "GET", "/v1/exceptions")
        (listed,) = queue["legs"]
        assert (listed["hold"], listed["needs_approval"], listed["actions"]) == (
            "approval",
            True,
            ["resolve", "approve"],
        )
        code, refused = yield api(stack, "POST", f"/v1/legs/{held['leg_id']}/retry",
                                  {"operator": "eve", "note": "skip approval"})  # fmt: skip
        assert code == 409 and "held for approval" in refused["errors"][0]["reason"]
        assert out_frames(stack, held["leg_id"]) == []
        assert (yield stack.control("GET", "/accounts/AR2002"))["payments"] == []

        approve = {"operator": "carol", "note": "GM approved by email"}
        code, approved = yield api(stack, "POST", f"/v1/legs/{held['leg_id']}/approve", approve)
        assert (code, approved["state"]) == (200, "planned")
        (leg,) = yield stack.wait_for_legs("evt_big", DONE)
        assert leg.state is LegState.POSTED
        account = yield stack.control("GET", "/accounts/AR2002")
        assert [(i["id"], i["remaining"]) for i in account["invoices"]] == [("G1", 100000)]
        approvals = [a for a in stack.journal.history(leg_id=leg.leg_id) if a.action == "approve"]
        assert [(a.actor, a.note) for a in approvals] == [
            ("carol", "GM approved by email (held for approval)")
        ]
    finally:
        yield stack.stop()


# -- currencies ----------------------------------------------------------------------------------


@pytest_twisted.inlineCallbacks
def test_jpy_and_bhd_payments_post_exact_gbp_minor_units_with_the_rate_journaled(tmp_path):
    """The property posts in GBP. 12,345 JPY at JPY/GBP 0.0052 = 64.194 -> 64.19 GBP; 1.234 BHD
    at GBP/BHD 0.4754 inverted = 2.5957 -> 2.60 GBP. A USD payment without a rate waits in the
    exception queue; once the rate is in the file, retrying the event posts it."""
    stack = yield start_stack(tmp_path, rates=True)
    try:
        yield post(stack, payment("evt_jpy", "123456", 12345, currency="JPY"))
        yield post(stack, payment("evt_bhd", "123456", 1234, currency="BHD"))
        answer = yield post(stack, payment("evt_usd", "123456", 1000, currency="USD"))
        assert answer["event_status"] == "exception"
        for event_id in ("evt_jpy", "evt_bhd"):
            (leg,) = yield stack.wait_for_legs(event_id, DONE)
            assert leg.state is LegState.POSTED
        assert (yield folio_lines(stack, "123456")) == [
            ("ONEJOURNEY", -6419),
            ("ONEJOURNEY", -260),
        ]
        (jpy_pr,) = [f for f in prs(out_frames(stack)) if b"|TA6419|" in f]
        assert b"|G#123456|" in jpy_pr

        code, shown = yield api(stack, "GET", "/v1/events/evt_jpy")
        assert shown["conversion"] == {
            "original_amount": 12345,
            "original_currency": "JPY",
            "amount": 6419,
            "currency": "GBP",
            "rate": "0.0052",
            "pair": "JPY/GBP",
            "inverted": False,
            "valid_from": "2026-11-01T00:00:00Z",
            "valid_to": "2026-12-01T00:00:00Z",
            "rates_file": str(tmp_path / "rates.csv"),
            "rounding": "ROUND_HALF_EVEN",
        }
        assert shown["event"]["payment"]["amount"] == 12345  # the event as received
        assert [(leg["amount"], leg["currency"]) for leg in shown["legs"]] == [(6419, "GBP")]
        code, bhd = yield api(stack, "GET", "/v1/events/evt_bhd")
        assert {k: bhd["conversion"][k] for k in ("amount", "rate", "pair", "inverted")} == {
            "amount": 260,
            "rate": "0.4754",
            "pair": "GBP/BHD",
            "inverted": True,
        }

        (tmp_path / "rates.csv").write_text(RATES + "USD,GBP,0.79,2026-11-01,\n", "utf-8")
        code, retried = yield api(stack, "POST", "/v1/events/evt_usd/retry",
                                  {"operator": "dan", "note": "USD rate added"})  # fmt: skip
        assert (code, retried["status"], retried["conversion"]["amount"]) == (200, "accepted", 790)
        (leg,) = yield stack.wait_for_legs("evt_usd", DONE)
        assert leg.state is LegState.POSTED
    finally:
        yield stack.stop()


# -- not captured, same transaction --------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("payment.pending", "pending"),
        ("payment.failed", "card declined"),
        ("payment.succeeded", "requires_capture"),
    ],
)
@pytest_twisted.inlineCallbacks
def test_payments_that_are_not_captured_are_journaled_and_shown_never_posted(
    tmp_path, event_type, status
):
    stack = yield start_stack(tmp_path)
    try:
        before = len(out_frames(stack))
        event = payment("evt_nc", "123456", 5000)
        event["type"] = event_type
        event["payment"]["status"] = status
        answer = yield post(stack, event)
        assert (answer["event_status"], answer["legs"]) == ("no-post", [])
        code, shown = yield api(stack, "GET", "/v1/events/evt_nc")
        assert (code, shown["status"], shown["legs"]) == (200, "no-post", [])
        assert shown["outcome"]
        # A later captured payment posts; the uncaptured one never reached the wire.
        yield post(stack, payment("evt_after", "123456", 100))
        yield stack.wait_for_legs("evt_after", DONE)
        assert (yield folio_lines(stack, "123456")) == [("ONEJOURNEY", -100)]
        assert not [f for f in out_frames(stack)[before:] if b"|TA5000|" in f]
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_a_different_amount_for_the_same_transaction_id_is_flagged_and_held(tmp_path):
    """Two payments of one transaction with different amounts: the second is flagged (shown in
    GET /v1/events/{id} and the exception queue) and held for review, not posted, until an
    operator approves it."""
    stack = yield start_stack(tmp_path)
    try:
        yield post(stack, payment("evt_first", "123456", 5000, transaction_id="pi_same"))
        (first,) = yield stack.wait_for_legs("evt_first", DONE)
        assert first.state is LegState.POSTED
        answer = yield post(stack, payment("evt_second", "123456", 6000, transaction_id="pi_same"))
        (held,) = answer["legs"]
        detail = (
            "amount 60.00 GBP differs from 50.00 GBP of evt_first, an earlier payment with the "
            "same transaction_id pi_same"
        )
        assert (held["state"], held["reason"]) == ("rejected", f"held for review: {detail}")

        code, shown = yield api(stack, "GET", "/v1/events/evt_second")
        assert [(f["kind"], f["detail"], f["related_event_id"]) for f in shown["flags"]] == [
            ("amount_mismatch", detail, "evt_first")
        ]
        assert shown["legs"][0]["hold"] == "review"
        code, queue = yield api(stack, "GET", "/v1/exceptions")
        (listed,) = queue["legs"]
        assert (listed["event_id"], listed["hold"], listed["flags"][0]["kind"]) == (
            "evt_second",
            "review",
            "amount_mismatch",
        )
        assert (yield folio_lines(stack, "123456")) == [("ONEJOURNEY", -5000)]

        code, _ = yield api(stack, "POST", f"/v1/legs/{held['leg_id']}/approve",
                            {"operator": "carol", "note": "a second, separate charge"})  # fmt: skip
        assert code == 200
        yield stack.wait_for_legs("evt_second", {"posted"})
        assert (yield folio_lines(stack, "123456")) == [
            ("ONEJOURNEY", -5000),
            ("ONEJOURNEY", -6000),
        ]
    finally:
        yield stack.stop()
