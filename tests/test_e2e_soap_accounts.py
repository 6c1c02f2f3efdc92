"""Issue 5 section 2 over SOAP, end to end over real loopback HTTP: an A/R account payment
(``payment.kind = "account"``, the confirmation number is the account) posts on the opera-htng
profile as ``PostAccountPayment`` and the simulator allocates it through the hotel's A/R ledger
(rezlynx posts ``AddAccountPayment``: see ``test_e2e_rezlynx_accounts.py``; htng-async sends a
``ChargePostingRQ`` with an ``AccountPosting``: see ``test_e2e_htng_async_accounts.py``).

The stack is the one of :mod:`test_e2e_soap` (demo hotel with its A/R accounts, the gateway
configured by ``examples/gateway-soap.toml``, a real SQLite journal in ``tmp_path``).
"""

from __future__ import annotations

import pytest_twisted
from test_e2e_soap import DONE, payment_event, start_stack, wire

from adapters.domain import LegState
from protocols.htng import opera_htng as oh
from protocols.htng.money import Money
from protocols.soap import parse_xml


def account_payment(profile, event_id, account, amount, invoices=None):
    event = payment_event(profile, event_id, account, amount, kind="account")
    if invoices is not None:
        event["payment"]["invoices"] = invoices
    return event


@pytest_twisted.inlineCallbacks
def test_opera_htng_account_payment_naming_two_invoices_posts_and_is_allocated(tmp_path):
    """400.00 to AR1001 naming A3 then A1: one PostAccountPayment (AccountNumber AR1001,
    the payment type, the amount, both InvoiceIDs in order); the PMS pays A3 (150.00) and
    A1 (250.00 of 300.00) and leaves A2 open; GET /accounts/AR1001 shows it."""
    stack = yield start_stack(tmp_path, "opera-htng")
    try:
        code, answer = yield stack.post_event(
            account_payment("opera-htng", "evt_ar_soap", "AR1001", 40000, ["A3", "A1"])
        )
        assert code == 202, answer
        (leg,) = yield stack.wait_for_legs("evt_ar_soap", DONE)
        assert leg.state is LegState.POSTED, leg
        (sent,) = wire(stack, leg.leg_id, "out")
        assert b"PostAccountPaymentRequest" in sent and b"PostPaymentRequest" not in sent
        request = oh.parse_post_account_payment_request(parse_xml(sent))
        assert (request.account_number, request.payment_type, request.amount) == (
            "AR1001",
            "ONEJOURNEY",
            Money(40000, "GBP", 2),
        )
        assert request.invoice_ids == ("A3", "A1")
        (received,) = wire(stack, leg.leg_id, "in")
        response = oh.parse_post_account_payment_response(parse_xml(received))
        assert response.result.ok
        assert [(a.invoice_id, a.amount.amount) for a in response.allocations] == [
            ("A3", 15000),
            ("A1", 25000),
        ]
        assert response.prepaid == Money(0, "GBP", 2)

        account = yield stack.control("GET", "/accounts/AR1001")
        assert [(i["id"], i["remaining"]) for i in account["invoices"]] == [
            ("A1", 5000),
            ("A2", 20000),
            ("A3", 0),
        ]
        (booked,) = account["payments"]
        assert booked["allocations"] == [
            {"invoice": "A3", "amount": 15000},
            {"invoice": "A1", "amount": 25000},
        ]
        assert account["prepaid"] == 0
    finally:
        yield stack.stop()
