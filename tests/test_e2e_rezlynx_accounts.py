"""Issue 5 section 2 on the rezlynx profile, end to end over real loopback HTTP: an A/R account
payment (``payment.kind = "account"``, the confirmation number is the account) posts as one
``AddAccountPayment`` with the session of ``LogIn``, and the simulator allocates it through the
hotel's A/R ledger (the invoices named, in order, then the remainder as prepaid); an unknown
account lands in the exception queue with the PMS's own text (8010); a session that expires
under an account payment is logged in again and the payment is booked once.

The stack is the one of :mod:`test_e2e_soap` (demo hotel with its A/R accounts, the gateway
configured by ``examples/gateway-soap.toml``, a real SQLite journal in ``tmp_path``). The demo
hotel's AR1001 owes A1 300.00, A2 200.00 and A3 150.00 (GBP).
"""

from __future__ import annotations

import pytest_twisted
from e2e_helpers import api
from lxml import etree
from test_e2e_soap import DONE, PROPERTIES, accept, payment_event, set_faults, start_stack, wire

from adapters.domain import LegState
from protocols.htng import rezlynx as rz
from protocols.soap import parse_envelope, parse_xml

PROFILE = "rezlynx"


def account_payment(event_id, account, amount, invoices=None):
    event = payment_event(PROFILE, event_id, account, amount, kind="account")
    if invoices is not None:
        event["payment"]["invoices"] = invoices
    return event


def kinds(raws):
    """The operation of each request (its body element's name)."""
    return [etree.QName(parse_envelope(parse_xml(raw)).payload).localname for raw in raws]


@pytest_twisted.inlineCallbacks
def test_account_payment_naming_two_invoices_is_allocated_in_order_with_the_rest_prepaid(
    tmp_path,
):
    """500.00 to AR1001 naming A3 then A1: one AddAccountPayment (AccountRef, PaymentCode,
    500.00 GBP, both InvoiceRefs in order); the PMS pays A3 150.00 and A1 300.00, leaves A2
    open and keeps 50.00 as prepaid, as GET /accounts/AR1001 on the simulator shows; no folio
    is read back."""
    stack = yield start_stack(tmp_path, PROFILE)
    try:
        yield accept(stack, account_payment("evt_ar_rlx", "AR1001", 50000, ["A3", "A1"]))
        (leg,) = yield stack.wait_for_legs("evt_ar_rlx", DONE)
        assert leg.state is LegState.POSTED, leg
        assert leg.answer_status == "0"
        outs = wire(stack, leg.leg_id, "out")
        assert kinds(outs) == ["LogIn", "AddAccountPayment"]
        request = rz.parse_add_account_payment_request(parse_xml(outs[1]), decimals=2)
        assert (request.account_ref, request.payment_code, request.amount, request.currency) == (
            "AR1001",
            "ONEJOURNEY",
            50000,
            "GBP",
        )
        assert (request.invoice_refs, request.reference) == (("A3", "A1"), "evt_ar_rlx/0")
        (received,) = [raw for raw in wire(stack, leg.leg_id, "in") if b"AddAccountPayment" in raw]
        response = rz.parse_add_account_payment_response(parse_xml(received), decimals=2)
        assert (response.result, response.allocations, response.prepaid) == (
            rz.CallResult.success(),
            (rz.InvoiceAllocation("A3", 15000), rz.InvoiceAllocation("A1", 30000)),
            5000,
        )

        account = yield stack.control("GET", "/accounts/AR1001")
        assert [(i["id"], i["remaining"]) for i in account["invoices"]] == [
            ("A1", 0),
            ("A2", 20000),
            ("A3", 0),
        ]
        (booked,) = account["payments"]
        assert booked["allocations"] == [
            {"invoice": "A3", "amount": 15000},
            {"invoice": "A1", "amount": 30000},
        ]
        assert (booked["prepaid"], account["prepaid"]) == (5000, 5000)
        assert booked["reference"] == "evt_ar_rlx/0"

        everything = stack.journal.wire_log(property=PROPERTIES[PROFILE])
        assert not any(b"GetFolio" in w.raw for w in everything)
        assert stack.journal.balances("evt_ar_rlx") == []
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_an_unknown_account_goes_to_the_exception_queue_with_the_pms_text(tmp_path):
    stack = yield start_stack(tmp_path, PROFILE)
    try:
        yield accept(stack, account_payment("evt_ar_unknown", "AR9999", 20000))
        (leg,) = yield stack.wait_for_legs("evt_ar_unknown", DONE)
        assert leg.state is LegState.REJECTED, leg
        assert leg.answer_status == "8010"
        assert leg.reason == "no A/R account AR9999"  # the PMS's own text
        assert [e.leg_id for e in stack.journal.exceptions()] == [leg.leg_id]
        code, shown = yield api(stack, "GET", "/v1/events/evt_ar_unknown")
        assert code == 200, shown
        assert [(g["state"], g["answer_status"], g["reason"]) for g in shown["legs"]] == [
            ("rejected", "8010", "no A/R account AR9999")
        ]
        assert leg.attempts == 1  # terminal: not retried
        for number in ("AR1001", "AR2002"):
            account = yield stack.control("GET", f"/accounts/{number}")
            assert account["payments"] == []
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_session_expiry_during_an_account_payment_logs_in_again_and_books_it_once(tmp_path):
    """7007 on AddAccountPayment: LogIn again, the same call (same Reference) once more with the
    new session; the leg is posted on its first attempt and the account has one payment."""
    stack = yield start_stack(tmp_path, PROFILE)
    try:
        yield accept(stack, account_payment("evt_ar_1", "AR1001", 10000))
        yield stack.wait_for_legs("evt_ar_1", {"posted"})
        yield set_faults(stack, expire_sessions=True)
        yield accept(stack, account_payment("evt_ar_2", "AR1001", 25000))
        (leg,) = yield stack.wait_for_legs("evt_ar_2", DONE)
        assert leg.state is LegState.POSTED and leg.attempts == 1, leg
        outs = wire(stack, leg.leg_id, "out")
        assert kinds(outs) == ["AddAccountPayment", "LogIn", "AddAccountPayment"]
        first, second = (
            rz.parse_add_account_payment_request(parse_xml(outs[i]), decimals=2) for i in (0, 2)
        )
        assert first.reference == second.reference == "evt_ar_2/0"
        assert first.session_id != second.session_id
        answers = wire(stack, leg.leg_id, "in")
        assert b"<ExceptionCode>7007</ExceptionCode>" in answers[0]
        account = yield stack.control("GET", "/accounts/AR1001")
        assert [(p["reference"], p["amount"]) for p in account["payments"]] == [
            ("evt_ar_1/0", 10000),
            ("evt_ar_2/0", 25000),
        ]
        # Oldest first: A1 takes 100.00, then the remaining 200.00 of A1 and 50.00 of A2.
        assert [(i["id"], i["remaining"]) for i in account["invoices"]] == [
            ("A1", 0),
            ("A2", 15000),
            ("A3", 15000),
        ]
    finally:
        yield stack.stop()
