"""rezlynx ``AddAccountPayment`` on the wire: zeep (loaded offline from our WSDL) builds a request
that validates against our XSD and parses to the record our builder would send, and reads the
answers our simulator gives; the XSD refuses what the PMS could not book; the channel maps an
A/R account leg to exactly our builder's envelope (CurrencyCode = the site currency, the named
invoices in order), refuses a charge to an account as a mapping error before anything is sent,
and reads no folio back after it.
"""

from __future__ import annotations

import decimal
import json

import pytest
import pytest_twisted
import zeep
from lxml import etree
from soap_test_pms import ScriptedPms, answer, body_payload, canonical, leg
from test_htng_zeep import OfflineTransport, ZeepReply, _payload
from test_soap_rezlynx import logged_in, operations, result
from test_soap_rezlynx import rezlynx as rezlynx  # noqa: F401 - the channel fixture

from adapters.dispatcher import LegMappingError
from adapters.fias_postings import PostingResult
from protocols.htng import rezlynx as rz

NS = rz.NAMESPACE


def _client():
    return zeep.Client(str(rz.wsdl_path()), transport=OfflineTransport())


def test_zeep_builds_add_account_payment_that_validates_and_parses_to_our_record():
    client = _client()
    service = client.bind(rz.SERVICE_NAME, rz.PORT_NAME)
    envelope = client.create_message(
        service,
        "AddAccountPayment",
        SessionID="S1",
        AccountRef="AR1001",
        PaymentCode="OJ",
        Amount=decimal.Decimal("500.00"),
        CurrencyCode="GBP",
        Reference="evt_7/0",
        Invoices={"InvoiceRef": ["A3", "A1"]},
    )
    assert rz.xsd_validator().validate_body(_payload(envelope, NS)) == []
    assert rz.parse_add_account_payment_request(envelope, decimals=2) == (
        rz.AddAccountPaymentRequest(
            "S1", "AR1001", "OJ", 50000, "evt_7/0", invoice_refs=("A3", "A1"), currency="GBP"
        )
    )
    operation = service._binding.get("AddAccountPayment")
    assert operation.soapaction == "urn:foliogate:rezlynx:1/AddAccountPayment"


def test_zeep_reads_the_allocation_and_the_account_not_found_answer():
    client = _client()
    binding = client.bind(rz.SERVICE_NAME, rz.PORT_NAME)._binding
    operation = binding.get("AddAccountPayment")
    posted = rz.build_add_account_payment_response(
        rz.AddAccountPaymentResponse(
            rz.CallResult.success(),
            88003,
            (rz.InvoiceAllocation("A3", 15000), rz.InvoiceAllocation("A1", 30000)),
            5000,
        ),
        decimals=2,
    )
    result = binding.process_reply(client, operation, ZeepReply(posted))
    assert result.AddAccountPaymentResult.ExceptionCode == 0
    assert result.TransactionID == 88003
    assert [(a.InvoiceRef, a.Amount) for a in result.Allocations.Allocation] == [
        ("A3", decimal.Decimal("150.00")),
        ("A1", decimal.Decimal("300.00")),
    ]
    assert result.Prepaid == decimal.Decimal("50.00")
    unknown = rz.build_add_account_payment_response(
        rz.AddAccountPaymentResponse(
            rz.CallResult.failure(rz.ExceptionCode.ACCOUNT_NOT_FOUND, "no A/R account AR9")
        ),
        decimals=2,
    )
    result = binding.process_reply(client, operation, ZeepReply(unknown))
    assert (result.AddAccountPaymentResult.ExceptionCode, result.Allocations) == (8010, None)


def _request(**fields):
    body = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    return etree.fromstring(f'<AddAccountPayment xmlns="{NS}">{body}</AddAccountPayment>')


BASE = {
    "SessionID": "S",
    "AccountRef": "AR1001",
    "PaymentCode": "OJ",
    "Amount": "10.00",
    "Reference": "r",
}


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"CurrencyCode": "gbp"}, "/AddAccountPayment/CurrencyCode"),
        ({"AccountRef": "AR 1001"}, "/AddAccountPayment/AccountRef"),
        ({"SessionID": ""}, "/AddAccountPayment/SessionID"),
    ],
)
def test_the_xsd_refuses_a_malformed_currency_account_or_session(change, path):
    fields = {**BASE, **change}
    if "CurrencyCode" in change:  # its place is after Amount
        fields = {k: fields[k] for k in ("SessionID", "AccountRef", "PaymentCode", "Amount")}
        fields |= {"CurrencyCode": change["CurrencyCode"], "Reference": "r"}
    errors = rz.xsd_validator().validate_body(_request(**fields))
    assert errors and errors[0].startswith(path), errors


def test_parse_request_dispatches_add_account_payment_with_the_site_decimals():
    request = rz.AddAccountPaymentRequest("S", "AR1", "OJ", 1234, "evt/0", currency="JPY")
    data = rz.build_add_account_payment_request(request, decimals=0)
    assert b"<Amount>1234</Amount>" in data
    root = etree.fromstring(data)
    assert rz.parse_request(root, decimals=0) == request
    assert rz.operation_of(request) is rz.Operation.ADD_ACCOUNT_PAYMENT


# -- the channel ------------------------------------------------------------------------------


class AccountJournal:
    """Answers ``target_of`` like the journal: the event's target and its stored body."""

    def __init__(self, invoices=None, target="account"):
        payment = {"kind": "account"} if target == "account" else {"kind": "balance"}
        if invoices is not None:
            payment["invoices"] = invoices
        self.body = json.dumps({"payment": payment}).encode()
        self.target = target

    def target_of(self, event_id):
        return (self.target, self.body)


def account_answer(number=9101, allocations=(), prepaid=0):
    return answer(
        rz.build_add_account_payment_response(
            rz.AddAccountPaymentResponse(rz.CallResult.success(), number, allocations, prepaid),
            decimals=2,
        )
    )


@pytest_twisted.inlineCallbacks
def test_an_account_leg_is_one_add_account_payment_exactly_as_our_builder_writes_it(rezlynx):  # noqa: F811
    pms, channel, hooks = yield rezlynx(
        ScriptedPms().then(
            logged_in(), account_answer(allocations=(rz.InvoiceAllocation("A3", 15000),))
        ),
        journal=AccountJournal(["A3", "A1"]),
    )
    account_leg = leg(payment="ONEJOURNEY", amount=50000, conf="AR1001", description="Invoices")
    outcome = yield channel.post(account_leg)
    assert (outcome.result, outcome.answer_status) == (PostingResult.POSTED, "0")
    assert operations(pms) == ["LogIn", "AddAccountPayment"]
    sent = pms.received[1]
    record = rz.AddAccountPaymentRequest(
        "S-1", "AR1001", "ONEJOURNEY", 50000, "evt_1/0", invoice_refs=("A3", "A1"),
        currency="GBP", description="Invoices",
    )  # fmt: skip
    assert canonical(sent.body) == canonical(
        rz.build_add_account_payment_request(record, decimals=2)
    )
    assert rz.xsd_validator().validate_body(body_payload(sent.body)) == []
    assert sent.headers["soapaction"] == '"urn:foliogate:rezlynx:1/AddAccountPayment"'
    assert hooks.written == ["evt_1/0"]
    # An account has no folio: nothing is read back.
    balance = yield channel.folio_balance(account_leg, outcome)
    assert balance is None
    assert operations(pms) == ["LogIn", "AddAccountPayment"]


@pytest_twisted.inlineCallbacks
def test_an_account_leg_naming_no_invoices_sends_no_invoices_element(rezlynx):  # noqa: F811
    pms, channel, hooks = yield rezlynx(
        ScriptedPms().then(logged_in(), account_answer()), journal=AccountJournal()
    )
    outcome = yield channel.post(leg(payment="ONEJOURNEY", amount=100, conf="AR1001"))
    assert outcome.result is PostingResult.POSTED
    assert b"Invoices" not in pms.received[1].body


@pytest_twisted.inlineCallbacks
def test_a_charge_to_an_account_is_a_mapping_error_and_nothing_is_sent(rezlynx):  # noqa: F811
    pms, channel, hooks = yield rezlynx(ScriptedPms(), journal=AccountJournal())
    with pytest.raises(LegMappingError, match="an A/R account takes a payment only"):
        channel.post(leg(code="SPA_TREATMENT", conf="AR1001"))
    assert pms.received == [] and hooks.written == []


@pytest_twisted.inlineCallbacks
def test_unknown_account_8010_rejects_the_leg_with_the_pms_text(rezlynx):  # noqa: F811
    unknown = answer(
        rz.build_add_account_payment_response(
            rz.AddAccountPaymentResponse(
                rz.CallResult.failure(rz.ExceptionCode.ACCOUNT_NOT_FOUND, "no A/R account AR9")
            ),
            decimals=2,
        )
    )
    pms, channel, hooks = yield rezlynx(
        ScriptedPms().then(logged_in(), unknown), journal=AccountJournal()
    )
    outcome = yield channel.post(leg(payment="ONEJOURNEY", conf="AR9"))
    assert (outcome.result, outcome.answer_status, outcome.clear_text) == (
        PostingResult.REJECTED,
        "8010",
        "no A/R account AR9",
    )


@pytest_twisted.inlineCallbacks
def test_a_guest_leg_still_posts_to_the_booking(rezlynx):  # noqa: F811
    """The journal says reservation: AddPayment to the booking, as before."""
    pms, channel, hooks = yield rezlynx(
        ScriptedPms().then(logged_in(), result("AddPayment")),
        journal=AccountJournal(target="reservation"),
    )
    outcome = yield channel.post(leg(payment="ONEJOURNEY"))
    assert outcome.result is PostingResult.POSTED
    assert operations(pms) == ["LogIn", "AddPayment"]
