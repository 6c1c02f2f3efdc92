"""rezlynx PMS simulator, ``AddAccountPayment`` over real HTTP on loopback: a payment on an A/R
account of the demo hotel is allocated to the invoices it names (else oldest first) with the
rest kept as prepaid, a repeated reference answers the original result and books once, and
every refusal is its own in-band ExceptionCode with a text naming what is wrong, booking
nothing: unknown account (8010), unknown payment code (8004), an amount that is not positive or
a currency other than the site's (8006), an unknown or expired session (7007), end of day
(8008).

The demo hotel's AR1001 owes A1 300.00 (2026-09-30), A2 200.00 (2026-10-31) and A3 150.00
(2026-11-15), in GBP.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from test_sim_soap_common import demo_config, fault_of, start
from test_sim_soap_rezlynx import DECIMALS, OK, Rezlynx

from protocols.htng import rezlynx as rz
from protocols.soap import parse_xml

OPEN = {"A1": 30000, "A2": 20000, "A3": 15000}


class Accounts(Rezlynx):
    async def add_account_payment(
        self, account: str, code: str, amount: int, ref: str, **kw: Any
    ) -> rz.AddAccountPaymentResponse:
        request = rz.AddAccountPaymentRequest(self.session_id, account, code, amount, ref, **kw)
        body = rz.build_add_account_payment_request(request, decimals=DECIMALS)
        status, answer = await self.send(body, rz.Operation.ADD_ACCOUNT_PAYMENT)
        assert status == 200, answer
        return rz.parse_add_account_payment_response(parse_xml(answer), decimals=DECIMALS)


@pytest_twisted.async_yield_fixture
async def sim():
    running = await start(demo_config(site_id="DEMO"))
    yield running
    await running.stop()


@pytest_twisted.async_yield_fixture
async def pms(http, sim):
    client = Accounts(http, sim.soap_urls["rezlynx"])
    assert (await client.log_in()).result == OK
    yield client


def remaining(sim, account="AR1001"):
    return sim.hotel.accounts.remaining(account)


@pytest_twisted.ensureDeferred
async def test_named_invoices_are_paid_in_the_order_named_and_the_rest_is_prepaid(sim, http, pms):
    answer = await pms.add_account_payment(
        "AR1001", "ONEJOURNEY", 50000, "evt_ar/0", invoice_refs=("A3", "A1"), currency="GBP"
    )
    assert answer == rz.AddAccountPaymentResponse(
        OK,
        answer.transaction_id,
        (rz.InvoiceAllocation("A3", 15000), rz.InvoiceAllocation("A1", 30000)),
        5000,
    )
    assert answer.transaction_id is not None
    assert remaining(sim) == {"A1": 0, "A2": 20000, "A3": 0}
    assert sim.hotel.accounts.prepaid("AR1001") == 5000
    shown = await http.control(sim, "GET", "/accounts/AR1001")
    (payment,) = shown["payments"]
    assert (payment["reference"], payment["payment_type"]) == ("evt_ar/0", "ONEJOURNEY")


@pytest_twisted.ensureDeferred
async def test_without_named_invoices_the_oldest_open_invoices_are_paid_first(sim, pms):
    answer = await pms.add_account_payment("AR1001", "ONEJOURNEY", 40000, "evt_old/0")
    assert (answer.result, answer.allocations, answer.prepaid) == (
        OK,
        (rz.InvoiceAllocation("A1", 30000), rz.InvoiceAllocation("A2", 10000)),
        0,
    )
    assert remaining(sim) == {"A1": 0, "A2": 10000, "A3": 15000}


@pytest_twisted.ensureDeferred
async def test_a_repeated_reference_answers_the_original_result_and_books_once(sim, pms):
    first = await pms.add_account_payment("AR1001", "ONEJOURNEY", 10000, "evt_dup/0")
    again = await pms.add_account_payment("AR1001", "ONEJOURNEY", 10000, "evt_dup/0")
    assert again == first
    assert first.result == OK
    assert len(sim.hotel.accounts.payments("AR1001")) == 1
    assert remaining(sim) == {"A1": 20000, "A2": 20000, "A3": 15000}


@pytest.mark.parametrize(
    ("account", "code", "amount", "kw", "exception", "text"),
    [
        ("AR9999", "ONEJOURNEY", 10000, {}, 8010, "no A/R account AR9999"),
        ("AR1001", "PAYPAL", 10000, {}, 8004, "'PAYPAL' is not a payment type"),
        (
            "AR1001",
            "ONEJOURNEY",
            0,
            {},
            8006,
            "A/R payments must be positive, not 0; a correction is a reversal",
        ),
        (
            "AR1001",
            "ONEJOURNEY",
            -2500,
            {},
            8006,
            "A/R payments must be positive, not -2500; a correction is a reversal",
        ),
        (
            "AR1001",
            "ONEJOURNEY",
            10000,
            {"currency": "USD"},
            8006,
            "currency USD is not the site currency GBP",
        ),
    ],
    ids=["unknown-account", "unknown-payment-code", "zero", "negative", "wrong-currency"],
)
@pytest_twisted.ensureDeferred
async def test_refusals_are_distinct_exception_codes_naming_the_problem_and_book_nothing(
    sim, pms, account, code, amount, kw, exception, text
):
    answer = await pms.add_account_payment(account, code, amount, f"ref-{exception}", **kw)
    assert answer == rz.AddAccountPaymentResponse(rz.CallResult(exception, text))
    assert answer.result.disposition.value == "terminal"
    assert remaining(sim) == OPEN
    assert sim.hotel.accounts.payments("AR1001") == ()
    assert sim.hotel.trial_balance(None).net == 0


@pytest_twisted.ensureDeferred
async def test_a_refused_payment_is_not_remembered_so_the_same_reference_posts_once_fixed(sim, pms):
    """Only successes are replayed: after 8004 the same reference with a known code posts."""
    refused = await pms.add_account_payment("AR1001", "PAYPAL", 10000, "evt_fix/0")
    assert refused.result.exception_code == 8004
    fixed = await pms.add_account_payment("AR1001", "ONEJOURNEY", 10000, "evt_fix/0")
    assert fixed.result == OK
    assert len(sim.hotel.accounts.payments("AR1001")) == 1


@pytest_twisted.ensureDeferred
async def test_an_unknown_session_answers_7007_and_books_nothing(sim, http):
    client = Accounts(http, sim.soap_urls["rezlynx"])
    client.session_id = "never-issued"
    answer = await client.add_account_payment("AR1001", "ONEJOURNEY", 10000, "evt_s/0")
    assert answer == rz.AddAccountPaymentResponse(
        rz.CallResult(7007, "session expired or unknown; log in again")
    )
    assert answer.result.disposition.value == "relogin"
    assert remaining(sim) == OPEN


@pytest_twisted.ensureDeferred
async def test_an_expired_session_answers_7007_then_after_log_in_posts_once(sim, http, pms):
    await http.control(sim, "PUT", "/faults", {"expire_sessions": True})
    expired = await pms.add_account_payment("AR1001", "ONEJOURNEY", 10000, "evt_e/0")
    assert expired.result == rz.CallResult(7007, "session expired or unknown; log in again")
    assert (await pms.log_in()).result == OK
    posted = await pms.add_account_payment("AR1001", "ONEJOURNEY", 10000, "evt_e/0")
    assert posted.allocations == (rz.InvoiceAllocation("A1", 10000),)
    assert len(sim.hotel.accounts.payments("AR1001")) == 1


@pytest_twisted.ensureDeferred
async def test_end_of_day_answers_8008_retryable(sim, http, pms):
    await http.control(sim, "POST", "/night-audit/start")
    answer = await pms.add_account_payment("AR1001", "ONEJOURNEY", 10000, "evt_eod/0")
    assert answer.result == rz.CallResult(8008, "night audit in progress; post after it ends")
    assert answer.result.disposition.value == "retryable"
    assert remaining(sim) == OPEN


@pytest_twisted.ensureDeferred
async def test_an_amount_finer_than_the_site_currency_is_a_fault_not_rounded(sim, pms):
    body = rz.build_add_account_payment_request(
        rz.AddAccountPaymentRequest(pms.session_id, "AR1001", "ONEJOURNEY", 10001, "evt_f/0"),
        decimals=3,
    )  # 10.001: three decimal places for a GBP site
    status, answer = await pms.send(body, rz.Operation.ADD_ACCOUNT_PAYMENT)
    fault = fault_of(answer)
    assert (status, fault.subcode) == (500, "InvalidMessage")
    assert fault.reason == (
        "/AddAccountPayment/Amount: '10.001' is not an amount with at most 2 decimal places"
    )
    assert remaining(sim) == OPEN
