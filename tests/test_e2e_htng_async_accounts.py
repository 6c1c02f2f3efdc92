"""Issue 5 section 2 on the htng-async profile (Hotel Perfect), end to end over real loopback
HTTP: an A/R account payment (``payment.kind = "account"``, the confirmation number is the
account) goes out as a ``ChargePostingRQ`` addressed to an ``AccountPosting``, is acknowledged,
and its result comes back by callback with the allocation the simulator's A/R ledger made; an
unknown account ends in the exception queue with the PMS's text.

The stack is the one of :mod:`test_e2e_soap` (demo hotel with its A/R accounts, the gateway
configured by ``examples/gateway-soap.toml``, a real SQLite journal in ``tmp_path``).
"""

from __future__ import annotations

import pytest_twisted
from e2e_helpers import api
from test_e2e_soap import DONE, payment_event, start_stack, wire

from adapters.domain import LegState
from protocols.htng import htng_async as ha
from protocols.htng.money import Money
from protocols.soap import parse_xml

PROFILE = "htng-async"


def account_payment(event_id, account, amount, invoices=None):
    event = payment_event(PROFILE, event_id, account, amount, kind="account")
    if invoices is not None:
        event["payment"]["invoices"] = invoices
    return event


@pytest_twisted.inlineCallbacks
def test_account_payment_naming_three_invoices_is_allocated_with_a_remainder_kept_prepaid(
    tmp_path,
):
    """700.00 to AR1001 naming A3, A2 then A1 (650.00 open): one ChargePostingRQ with an
    AccountPosting (the account, the payment type, the amount, the three InvoiceRefs in order;
    no reservation Posting); the callback's Success pays A3 150.00, A2 200.00 and A1 300.00 and
    keeps 50.00 as prepaid; the leg is posted with that allocation in its text, no folio is
    read back, and the simulator's control API shows every invoice paid and 50.00 prepaid."""
    stack = yield start_stack(tmp_path, PROFILE)
    try:
        code, answer = yield stack.post_event(
            account_payment("evt_ar_hp", "AR1001", 70000, ["A3", "A2", "A1"])
        )
        assert code == 202, answer
        (leg,) = yield stack.wait_for_legs("evt_ar_hp", DONE)
        assert leg.state is LegState.POSTED, leg
        sent, ack = wire(stack, leg.leg_id, "out")[0], wire(stack, leg.leg_id, "in")[0]
        assert b"<AccountPosting " in sent or b":AccountPosting " in sent
        assert b"Posting ReservationID" not in sent
        request = ha.parse_charge_posting_request(parse_xml(sent))
        assert isinstance(request, ha.AccountPaymentRequest)
        assert (request.account_number, request.invoice_ids) == ("AR1001", ("A3", "A2", "A1"))
        assert (request.payment_line.payment_type, request.payment_line.amount) == (
            "ONEJOURNEY",
            Money(70000, "GBP", 2),
        )
        assert b"AcknowledgeReceipt" in ack

        # The result came by callback and is in the leg's wire log too.
        callbacks = [
            raw for raw in wire(stack, leg.leg_id, "in") if b"ChargePostingResultRQ" in raw
        ]
        (callback,) = callbacks
        result = ha.parse_charge_posting_result_request(parse_xml(callback))
        assert result.allocation == ha.AccountAllocation(
            "AR1001",
            (
                ha.InvoiceAllocation("A3", Money(15000, "GBP", 2)),
                ha.InvoiceAllocation("A2", Money(20000, "GBP", 2)),
                ha.InvoiceAllocation("A1", Money(30000, "GBP", 2)),
            ),
            Money(5000, "GBP", 2),
        )
        assert "A/R AR1001: allocated A3 150.00 GBP, A2 200.00 GBP, A1 300.00 GBP; " \
               "prepaid 50.00 GBP" in (leg.reason or ""), leg.reason  # fmt: skip
        assert stack.journal.balances("evt_ar_hp") == []  # no folio read-back

        account = yield stack.control("GET", "/accounts/AR1001")
        assert [(i["id"], i["remaining"]) for i in account["invoices"]] == [
            ("A1", 0),
            ("A2", 0),
            ("A3", 0),
        ]
        (booked,) = account["payments"]
        assert booked["allocations"] == [
            {"invoice": "A3", "amount": 15000},
            {"invoice": "A2", "amount": 20000},
            {"invoice": "A1", "amount": 30000},
        ]
        assert account["prepaid"] == 5000
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_an_unknown_account_goes_to_the_exception_queue_with_the_pms_text(tmp_path):
    """The PMS acknowledges, then answers the result with Errors 1012 naming the account: the
    leg is rejected at once (terminal, never retried) and listed by GET /v1/exceptions with the
    PMS's code and text; no A/R account is touched."""
    stack = yield start_stack(tmp_path, PROFILE)
    try:
        code, answer = yield stack.post_event(account_payment("evt_ar_none", "AR9999", 20000))
        assert code == 202, answer
        (leg,) = yield stack.wait_for_legs("evt_ar_none", DONE)
        assert leg.state is LegState.REJECTED, leg
        assert leg.answer_status == ha.ErrorCode.ACCOUNT_NOT_FOUND.value
        assert "1012 no A/R account AR9999" in (leg.reason or ""), leg.reason
        assert [e.leg_id for e in stack.journal.exceptions()] == [leg.leg_id]
        code, queue = yield api(stack, "GET", "/v1/exceptions")
        assert code == 200
        (shown,) = queue["legs"]
        assert (shown["event_id"], shown["confirmation_number"], shown["answer_status"]) == (
            "evt_ar_none",
            "AR9999",
            "1012",
        )
        assert "no A/R account AR9999" in shown["reason"], shown
        sent = [raw for raw in wire(stack, leg.leg_id, "out") if b"ChargePostingRQ" in raw]
        assert len(sent) == 1  # sent once, not retried
        for number in ("AR1001", "AR2002"):
            account = yield stack.control("GET", f"/accounts/{number}")
            assert account["payments"] == []
    finally:
        yield stack.stop()
