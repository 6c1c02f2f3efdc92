"""The htng-async channel's candidate search and A/R account payments, against a scripted PMS
on loopback: the search is one synchronous ReservationSearchRQ (ReplyTo anonymous, answered
in-band) mapped to PmsGuest records, postponed or refused by what the PMS answered; an account
leg is one ChargePostingRQ with an AccountPosting, settled by the result callback, whose
allocation ends up in the outcome's text."""

import json

import pytest
import pytest_twisted
import test_soap_htng_async
from soap_test_pms import (
    ANSWER_STAMP,
    NOW,
    PASSWORD,
    USER,
    ScriptedPms,
    answer,
    body_payload,
    hang,
    leg,
)
from test_soap_htng_async import CONTENT_TYPE, HOTEL, AsyncPms, result_envelope

from adapters.dispatcher import LegMappingError
from adapters.fias_postings import PostingResult
from adapters.matching import PmsGuest
from adapters.soap_channel import SearchRefused
from protocols.htng import htng_async as ha
from protocols.htng.money import Money
from protocols.soap import (
    Caller,
    Credentials,
    Fault,
    FaultCode,
    SoapVersion,
    Stamp,
    build_fault_envelope,
    parse_envelope,
    parse_xml,
)

#: The channel on loopback with its callback endpoint, as in test_soap_htng_async.
async_pms = test_soap_htng_async.async_pms


def gbp(amount):
    return Money(amount, "GBP", 2)


def found(*reservations, echo_token="urn:uuid:00000000-0000-4000-8000-000000000001", errors=()):
    """A ReservationSearchRS answering the channel's first search (its EchoToken is the first
    MessageID the channel made)."""
    response = ha.ReservationSearchResponse(echo_token, NOW, tuple(reservations), tuple(errors))
    data = ha.build_reservation_search_response(
        response, relates_to="urn:uuid:00000000-0000-4000-8000-000000000002", stamp=ANSWER_STAMP
    )
    return answer(data, content_type=CONTENT_TYPE)


JANE = ha.HotelReservation(
    "123456",
    "Doe, Jane",
    NOW.date(),
    NOW.date().replace(day=23),
    ha.ReservationStatus.IN_HOUSE,
    room="101",
    balance=gbp(12000),
)
JOHN = ha.HotelReservation(
    "600001", "Doe, John", NOW.date(), NOW.date(), ha.ReservationStatus.RESERVED
)


# -- the candidate search ---------------------------------------------------------------------


@pytest_twisted.inlineCallbacks
def test_a_search_is_one_synchronous_reservation_search_by_name_prefix(async_pms):
    """ReservationSearchRQ (HotelCode, SelectionCriteria GuestName, ReplyTo anonymous: the
    answer comes in-band, not by callback); each HotelReservation becomes a PmsGuest with its
    room and balance; both messages are wire-logged without a leg."""
    setup = yield async_pms(ScriptedPms().then(found(JANE, JOHN)))
    guests = yield setup.channel.search_guests("Doe")
    assert guests == [
        PmsGuest("123456", "Doe, Jane", "101", JANE.arrival, JANE.departure, 12000),
        PmsGuest("600001", "Doe, John", None, JOHN.arrival, JOHN.departure, None),
    ]
    (received,) = setup.pms.received
    envelope = parse_envelope(parse_xml(received.body))
    assert envelope.addressing.action == ha.Operation.RESERVATION_SEARCH.action
    assert envelope.addressing.reply_to == ha.WSA_VERSION.anonymous
    assert ha.parse_reservation_search_request(envelope.payload) == ha.ReservationSearchRequest(
        echo_token="urn:uuid:00000000-0000-4000-8000-000000000001",
        timestamp=NOW,
        hotel_code=HOTEL,
        guest_name="Doe",
    )
    assert setup.channel.validator.validate_body(body_payload(received.body)) == []
    assert [(d, ref, p) for d, _, ref, p in setup.hooks.frames] == [
        ("out", None, "htng-async"),
        ("in", None, "htng-async"),
    ]


@pytest_twisted.inlineCallbacks
def test_a_posting_after_a_search_still_names_the_callback_address(async_pms):
    """The anonymous ReplyTo is for the search only."""
    behaviours = AsyncPms()
    setup = yield async_pms(
        ScriptedPms().then(found(), behaviours.ack_then(lambda r: result_envelope(r)))
    )
    assert (yield setup.channel.search_guests("Nobody")) == []
    outcome = yield setup.channel.post(leg(payment="ONEJOURNEY"))
    assert outcome.result is PostingResult.POSTED
    (request,) = behaviours.requests
    assert request.reply_to == setup.callback_url


@pytest_twisted.inlineCallbacks
def test_a_balance_in_another_currency_is_not_compared(async_pms):
    other = ha.HotelReservation(
        "123456", "Doe, Jane", NOW.date(), NOW.date(), ha.ReservationStatus.IN_HOUSE,
        balance=Money(12000, "EUR", 2),
    )  # fmt: skip
    setup = yield async_pms(ScriptedPms().then(found(other)))
    (guest,) = yield setup.channel.search_guests("Doe")
    assert guest.balance is None


@pytest.mark.parametrize(
    ("code", "postponed"),
    [
        (ha.ErrorCode.UNKNOWN_HOTEL, False),
        (ha.ErrorCode.INVALID_SEARCH, False),
        (ha.ErrorCode.SYSTEM_ERROR, True),
        (ha.ErrorCode.NIGHT_AUDIT, True),
    ],
)
@pytest_twisted.inlineCallbacks
def test_a_search_answered_with_an_error_is_refused_or_postponed_by_its_code(
    async_pms, code, postponed
):
    error = ha.PostingError(code.value, f"the PMS says {code.name}")
    setup = yield async_pms(ScriptedPms().then(found(errors=[error])))
    if postponed:
        assert (yield setup.channel.search_guests("Doe")) is None
        return
    with pytest.raises(SearchRefused) as refused:
        yield setup.channel.search_guests("Doe")
    assert str(refused.value) == (
        f"the htng-async PMS answered ReservationSearch with {code.value}: "
        f"{code.value} the PMS says {code.name}"
    )


@pytest_twisted.inlineCallbacks
def test_a_search_answer_with_another_echo_token_is_refused(async_pms):
    setup = yield async_pms(ScriptedPms().then(found(JANE, echo_token="someone-else")))
    with pytest.raises(SearchRefused, match="EchoToken 'someone-else', not ours"):
        yield setup.channel.search_guests("Doe")


@pytest.mark.parametrize(
    ("fault_code", "postponed"), [(FaultCode.RECEIVER, True), (FaultCode.SENDER, False)]
)
@pytest_twisted.inlineCallbacks
def test_a_search_answered_with_a_fault_is_postponed_or_refused(async_pms, fault_code, postponed):
    fault = build_fault_envelope(Fault(fault_code, "no"), SoapVersion.SOAP12)
    status = 500 if fault_code is FaultCode.RECEIVER else 400
    setup = yield async_pms(ScriptedPms().then(answer(fault, status, CONTENT_TYPE)))
    if postponed:
        assert (yield setup.channel.search_guests("Doe")) is None
    else:
        with pytest.raises(SearchRefused, match="SOAP fault"):
            yield setup.channel.search_guests("Doe")


@pytest_twisted.inlineCallbacks
def test_a_search_without_an_answer_is_postponed(async_pms):
    setup = yield async_pms(ScriptedPms().then(hang), timeout=0.2)
    assert (yield setup.channel.search_guests("Doe")) is None


# -- A/R account payments ---------------------------------------------------------------------


class AccountJournal:
    """What SoapChannel.account_invoices asks the journal: the event's target and body."""

    def __init__(self, invoices=None):
        self.invoices = invoices

    def target_of(self, event_id):
        payment = {"kind": "account"}
        if self.invoices is not None:
            payment["invoices"] = self.invoices
        return ("account", json.dumps({"payment": payment}))


def allocated(request):
    record = request.record
    result = ha.ChargePostingResultRequest(
        echo_token=record.echo_token,
        correlation_id=record.correlation_id,
        timestamp=NOW,
        posted_lines=(ha.PostedLine(record.payment_line.reference, 7101),),
        allocation=ha.AccountAllocation(
            record.account_number,
            (ha.InvoiceAllocation("A3", gbp(15000)), ha.InvoiceAllocation("A1", gbp(25000))),
            gbp(0),
        ),
    )
    return ha.build_charge_posting_result_request(
        result,
        caller=Caller(to=request.reply_to, credentials=Credentials(USER, PASSWORD)),
        stamp=Stamp("urn:uuid:pms-1", NOW),
        relates_to=request.message_id,
    )


@pytest_twisted.inlineCallbacks
def test_an_account_leg_is_one_account_posting_settled_by_the_callback_with_its_allocation(
    async_pms,
):
    """AccountNumber = the leg's confirmation number, one PaymentLine, the invoices named in
    order, CorrelationID = the leg reference; POSTED with the allocation in the text; no folio
    is read back."""
    behaviours = AsyncPms()
    setup = yield async_pms(
        ScriptedPms().then(behaviours.ack_then(allocated)),
        journal=AccountJournal(["A3", "A1"]),
    )
    account_leg = leg(payment="ONEJOURNEY", amount=40000, conf="AR1001", needs_in_house=False)
    outcome = yield setup.channel.post(account_leg)
    assert outcome.result is PostingResult.POSTED, outcome
    assert outcome.clear_text == (
        "posted (transaction 7101); A/R AR1001: allocated A3 150.00 GBP, A1 250.00 GBP; "
        "prepaid 0.00 GBP"
    )
    (request,) = behaviours.requests
    assert request.record == ha.AccountPaymentRequest(
        echo_token="evt_1/0",
        correlation_id="evt_1/0",
        timestamp=NOW,
        hotel_code=HOTEL,
        account_number="AR1001",
        payment_line=ha.PaymentLine("ONEJOURNEY", gbp(40000), "evt_1/0", "Spa deposit"),
        invoice_ids=("A3", "A1"),
    )
    assert request.reply_to == setup.callback_url
    assert (yield setup.channel.folio_balance(account_leg, outcome)) is None


@pytest_twisted.inlineCallbacks
def test_an_unknown_account_is_rejected_with_the_pms_text(async_pms):
    error = ha.PostingError(ha.ErrorCode.ACCOUNT_NOT_FOUND.value, "no A/R account AR9999")
    behaviours = AsyncPms()
    setup = yield async_pms(
        ScriptedPms().then(behaviours.ack_then(lambda r: result_envelope(r, errors=[error]))),
        journal=AccountJournal(),
    )
    outcome = yield setup.channel.post(leg(payment="ONEJOURNEY", conf="AR9999"))
    assert outcome.result is PostingResult.REJECTED
    assert (outcome.answer_status, outcome.clear_text) == ("1012", "1012 no A/R account AR9999")


@pytest.mark.parametrize(
    ("leg_args", "message"),
    [
        (dict(code="SPA_TREATMENT"), "an A/R account takes a payment only"),
        (dict(payment="ONEJOURNEY", conf="AR 1001"), "cannot go to the htng-async PMS"),
    ],
)
@pytest_twisted.inlineCallbacks
def test_an_account_leg_that_cannot_be_an_account_payment_is_a_mapping_error(
    async_pms, leg_args, message
):
    setup = yield async_pms(journal=AccountJournal())
    with pytest.raises(LegMappingError, match=message):
        setup.channel.post(leg(**leg_args))
    assert setup.pms.received == []
