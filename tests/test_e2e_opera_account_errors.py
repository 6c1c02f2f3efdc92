"""Issue 5 section 7 on the opera-htng profile, end to end over real loopback HTTP: an A/R
account payment the PMS refuses lands in the exception queue with the PMS's own code and text,
is not retried, and books nothing (the simulator's refusals themselves are covered one by one in
``test_sim_opera_account_errors.py``).
"""

from __future__ import annotations

import pytest
import pytest_twisted
from e2e_helpers import api
from test_e2e_soap import DONE, accept, payment_event, start_stack, wire

from adapters.domain import LegState

PROFILE = "opera-htng"


def account_payment(event_id, account, amount):
    return payment_event(PROFILE, event_id, account, amount, kind="account")


@pytest.mark.parametrize(
    ("account", "amount", "options", "code", "text"),
    [
        ("AR9999", 20000, {}, "ACCOUNT_NOT_FOUND", "no A/R account AR9999"),
        (
            "AR1001",
            20000,
            {"payment_type": "NOSUCHPAY"},
            "INVALID_PAYMENT_TYPE",
            "'NOSUCHPAY' is not a payment type",
        ),
    ],
    ids=["unknown-account", "unknown-payment-type"],
)
@pytest_twisted.inlineCallbacks
def test_a_refused_account_payment_goes_to_the_exception_queue_with_the_pms_text(
    tmp_path, account, amount, options, code, text
):
    stack = yield start_stack(tmp_path, PROFILE, **options)
    try:
        yield accept(stack, account_payment("evt_ar_bad", account, amount))
        (leg,) = yield stack.wait_for_legs("evt_ar_bad", DONE)
        assert (leg.state, leg.answer_status, leg.reason) == (LegState.REJECTED, code, text)
        assert leg.attempts == 1  # terminal: not retried
        assert [e.leg_id for e in stack.journal.exceptions()] == [leg.leg_id]
        (sent,) = wire(stack, leg.leg_id, "out")
        assert b"PostAccountPaymentRequest" in sent
        code_, shown = yield api(stack, "GET", "/v1/events/evt_ar_bad")
        assert code_ == 200, shown
        assert [(g["state"], g["answer_status"], g["reason"]) for g in shown["legs"]] == [
            ("rejected", code, text)
        ]
        for number in ("AR1001", "AR2002"):
            shown_account = yield stack.control("GET", f"/accounts/{number}")
            assert shown_account["payments"] == []
    finally:
        yield stack.stop()
