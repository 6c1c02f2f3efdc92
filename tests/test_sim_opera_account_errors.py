"""opera-htng PMS simulator, ``PostAccountPayment`` answers over real HTTP on loopback (issue 5
section 7): every refusal is FAIL with its own ErrorCode and a Text naming the problem, and
books nothing: an unknown account (ACCOUNT_NOT_FOUND), an unknown payment type
(INVALID_PAYMENT_TYPE), an amount that is not positive (AMOUNT_NOT_ALLOWED), another currency
(CURRENCY_MISMATCH) or other decimal places (AMOUNT_NOT_ALLOWED); a repeated reference answers
the original result (allocation included) and books once, even when the repeat differs.

The demo hotel's AR1001 owes A1 300.00, A2 200.00 and A3 150.00 (GBP).
"""

from __future__ import annotations

import pytest
import pytest_twisted
from test_sim_soap_common import start
from test_sim_soap_opera_htng import Opera, gbp

from protocols.htng import opera_htng as oh
from protocols.htng.money import Money
from protocols.soap import parse_xml

OPEN = {"A1": 30000, "A2": 20000, "A3": 15000}


class Accounts(Opera):
    async def post_account_payment(
        self, account: str, code: str, amount: Money, reference: str, **kw
    ) -> oh.PostAccountPaymentResponse:
        request = oh.PostAccountPaymentRequest(account, code, amount, reference, **kw)
        body = oh.build_post_account_payment_request(
            request, caller=self.caller, stamp=self.stamp()
        )
        status, answer = await self.send(body, oh.Operation.POST_ACCOUNT_PAYMENT)
        assert status == 200, answer
        return oh.parse_post_account_payment_response(parse_xml(answer))


@pytest_twisted.async_yield_fixture
async def sim():
    running = await start()
    yield running
    await running.stop()


@pytest.fixture
def opera(http, sim):
    return Accounts(http, sim.soap_urls["opera-htng"])


def untouched(sim) -> bool:
    accounts = sim.hotel.accounts
    return (
        accounts.remaining("AR1001") == OPEN
        and accounts.payments("AR1001") == ()
        and sim.hotel.trial_balance(None).net == 0
    )


@pytest.mark.parametrize(
    ("account", "code", "amount", "error", "text"),
    [
        ("AR9999", "ONEJOURNEY", gbp(10000), "ACCOUNT_NOT_FOUND", "no A/R account AR9999"),
        ("AR1001", "PAYPAL", gbp(10000), "INVALID_PAYMENT_TYPE", "'PAYPAL' is not a payment type"),
        (
            "AR1001",
            "ONEJOURNEY",
            gbp(0),
            "AMOUNT_NOT_ALLOWED",
            "A/R payments must be positive, not 0; a correction is a reversal",
        ),
        (
            "AR1001",
            "ONEJOURNEY",
            gbp(-2500),
            "AMOUNT_NOT_ALLOWED",
            "A/R payments must be positive, not -2500; a correction is a reversal",
        ),
        (
            "AR1001",
            "ONEJOURNEY",
            Money(10000, "USD", 2),
            "CURRENCY_MISMATCH",
            "currency USD is not the property currency GBP",
        ),
        (
            "AR1001",
            "ONEJOURNEY",
            Money(100000, "GBP", 3),
            "AMOUNT_NOT_ALLOWED",
            "amount has 3 decimal places; GBP has 2",
        ),
    ],
    ids=[
        "unknown-account",
        "unknown-payment-type",
        "zero",
        "negative",
        "wrong-currency",
        "wrong-decimals",
    ],
)
@pytest_twisted.ensureDeferred
async def test_each_refusal_is_fail_with_its_error_code_and_text_and_books_nothing(
    sim, opera, account, code, amount, error, text
):
    answer = await opera.post_account_payment(account, code, amount, f"ref-{error}")
    assert answer == oh.PostAccountPaymentResponse(oh.Result.fail(error, text))
    assert answer.result.disposition.value == "terminal"
    assert untouched(sim)


@pytest_twisted.ensureDeferred
async def test_a_duplicate_reference_answers_the_original_result_and_books_once(sim, opera):
    first = await opera.post_account_payment(
        "AR1001", "ONEJOURNEY", gbp(40000), "evt_dup/0", invoice_ids=("A3", "A1")
    )
    assert first.result.ok
    assert [(a.invoice_id, a.amount.amount) for a in first.allocations] == [
        ("A3", 15000),
        ("A1", 25000),
    ]
    again = await opera.post_account_payment(
        "AR1001", "ONEJOURNEY", gbp(40000), "evt_dup/0", invoice_ids=("A3", "A1")
    )
    assert again == first
    # The PMS deduplicates by reference alone: a repeat with another body books nothing either.
    other = await opera.post_account_payment("AR1001", "ONEJOURNEY", gbp(999), "evt_dup/0")
    assert other == first
    assert len(sim.hotel.accounts.payments("AR1001")) == 1
    assert sim.hotel.accounts.remaining("AR1001") == {"A1": 5000, "A2": 20000, "A3": 0}


@pytest_twisted.ensureDeferred
async def test_a_refused_reference_is_not_remembered_and_posts_once_the_cause_is_fixed(sim, opera):
    refused = await opera.post_account_payment("AR1001", "PAYPAL", gbp(10000), "evt_fix/0")
    assert refused.result.error_code == "INVALID_PAYMENT_TYPE"
    fixed = await opera.post_account_payment("AR1001", "ONEJOURNEY", gbp(10000), "evt_fix/0")
    assert fixed.result.ok
    assert [(a.invoice_id, a.amount.amount) for a in fixed.allocations] == [("A1", 10000)]
    assert fixed.prepaid == gbp(0)


@pytest_twisted.ensureDeferred
async def test_night_audit_answers_night_audit_in_progress_retryable(sim, http, opera):
    await http.control(sim, "POST", "/night-audit/start")
    answer = await opera.post_account_payment("AR1001", "ONEJOURNEY", gbp(10000), "evt_na/0")
    assert answer.result == oh.Result.fail(
        "NIGHT_AUDIT_IN_PROGRESS", "night audit in progress; post after it ends"
    )
    assert answer.result.disposition.value == "retryable"
    assert untouched(sim)
