"""The opera-htng poster against a scripted PMS on loopback: exact envelopes (the bytes zeep
builds are our builder's envelope for the same record), every answer class, timeouts, dropped
connections, refused connections, mapping errors, masking, and the folio balance."""

import datetime as dt

import pytest
import pytest_twisted
from soap_test_pms import (
    ANSWER_STAMP,
    NOW,
    PASSWORD,
    USER,
    Hooks,
    ScriptedPms,
    answer,
    body_payload,
    canonical,
    drop,
    hang,
    leg,
    listen,
    message_ids,
    property_config,
)
from twisted.internet import defer, reactor, task

from adapters.dispatcher import LegMappingError
from adapters.fias_postings import PostingResult
from adapters.soap_channel import make_soap_channel, wire_reference
from protocols.htng import opera_htng as oh
from protocols.htng.money import Money
from protocols.soap import (
    Caller,
    Credentials,
    Fault,
    FaultCode,
    SoapVersion,
    Stamp,
    build_fault_envelope,
)


def charge_answer(result=None, number=7001):
    return answer(
        oh.build_post_charge_response(
            oh.PostChargeResponse(result or oh.Result.success(), number),
            relates_to="urn:uuid:x",
            stamp=ANSWER_STAMP,
        )
    )


def payment_answer(result=None, number=7002):
    return answer(
        oh.build_post_payment_response(
            oh.PostPaymentResponse(result or oh.Result.success(), number),
            relates_to="urn:uuid:x",
            stamp=ANSWER_STAMP,
        )
    )


class Setup:
    def __init__(self, pms, port, url, channel, hooks, prop):
        self.pms, self.port, self.url, self.channel, self.hooks, self.prop = (
            pms,
            port,
            url,
            channel,
            hooks,
            prop,
        )


@pytest.fixture
def opera():
    """A scripted PMS and an opera-htng channel pointed at it (torn down after the test)."""
    made = []

    @pytest_twisted.inlineCallbacks
    def make(pms=None, timeout=5.0, **channel_options):
        pms = pms or ScriptedPms()
        port, url = yield listen(reactor, pms)
        prop = property_config("opera-htng", url, timeout=timeout)
        hooks = Hooks()
        options = dict(
            reactor=reactor,
            credentials=Credentials(USER, PASSWORD),
            now=lambda: NOW,
            new_message_id=message_ids(),
            on_posting_written=hooks.on_posting_written,
            on_frame=hooks.on_frame,
            on_available=hooks.on_available,
        )
        channel = make_soap_channel(prop, **{**options, **channel_options})
        setup = Setup(pms, port, url, channel, hooks, prop)
        made.append(setup)
        return setup

    yield make
    for setup in made:
        for request in setup.pms.hanging:
            if not request.finished and not request._disconnected:
                request.finish()
        pytest_twisted.blockon(setup.channel.stopService())
        pytest_twisted.blockon(defer.maybeDeferred(setup.port.stopListening))


def expected_envelope(url, record, message_id):
    build = (
        oh.build_post_charge_request
        if isinstance(record, oh.PostChargeRequest)
        else oh.build_post_payment_request
    )
    return build(
        record,
        caller=Caller(
            to=url,
            credentials=Credentials(USER, PASSWORD),
            from_address="urn:foliogate:PMS-opera-htng",
        ),
        stamp=Stamp(message_id, NOW),
    )


@pytest_twisted.inlineCallbacks
def test_charge_leg_is_one_post_charge_exactly_as_our_builder_writes_it(opera):
    """A charge leg goes out as PostCharge: the envelope zeep built is, after C14N, the very
    envelope protocols' builder writes for the record (WSA 2004/08 headers, UsernameToken,
    fresh Timestamp), its body validates against our XSD, and the PMS's SUCCESS is POSTED."""
    setup = yield opera(ScriptedPms().then(charge_answer()))
    outcome = yield setup.channel.post(
        leg(code="SPA_DEPOSIT", amount=-5000, description="Spa deposit redeemed")
    )
    assert outcome.result is PostingResult.POSTED
    assert (outcome.answer_status, outcome.leg_reference) == ("SUCCESS", "evt_1/0")
    (request,) = setup.pms.received
    record = oh.PostChargeRequest(
        "123456", "SPA_DEPOSIT", Money(-5000, "GBP", 2), "evt_1/0",
        description="Spa deposit redeemed",
    )  # fmt: skip
    want = expected_envelope(setup.url, record, "urn:uuid:00000000-0000-4000-8000-000000000001")
    assert canonical(request.body) == canonical(want)
    assert oh.xsd_validator().validate_body(body_payload(request.body)) == []
    assert oh.parse_post_charge_request(request.root) == record
    assert request.headers["soapaction"] == '"urn:foliogate:opera-htng:1#PostCharge"'
    assert request.headers["content-type"] == "text/xml; charset=utf-8"
    assert setup.hooks.written == ["evt_1/0"]


@pytest_twisted.inlineCallbacks
def test_payment_leg_is_one_post_payment(opera):
    setup = yield opera(ScriptedPms().then(payment_answer()))
    outcome = yield setup.channel.post(leg(payment="ONEJOURNEY", needs_in_house=False))
    assert outcome.result is PostingResult.POSTED
    (request,) = setup.pms.received
    record = oh.PostPaymentRequest(
        "123456", "ONEJOURNEY", Money(5000, "GBP", 2), "evt_1/0", description="Spa deposit"
    )
    want = expected_envelope(setup.url, record, "urn:uuid:00000000-0000-4000-8000-000000000001")
    assert canonical(request.body) == canonical(want)
    assert oh.xsd_validator().validate_body(body_payload(request.body)) == []


@pytest_twisted.inlineCallbacks
def test_wire_log_gets_request_and_answer_with_the_password_masked(opera):
    setup = yield opera(ScriptedPms().then(charge_answer()))
    yield setup.channel.post(leg(code="SPA_TREATMENT"))
    (out, back) = setup.hooks.frames
    assert out[0] == "out" and back[0] == "in"
    assert {out[2], back[2]} == {"evt_1/0"} and {out[3], back[3]} == {"opera-htng"}
    assert PASSWORD.encode() not in out[1]
    assert b"<wsse:Password" in out[1] and b">****</wsse:Password>" in out[1]
    assert out[1].replace(b"****", PASSWORD.encode()) == setup.pms.received[0].body
    assert b"PostChargeResponse" in back[1]


@pytest_twisted.inlineCallbacks
def test_a_retry_carries_the_same_reference_and_a_fresh_message_id_and_timestamp(opera):
    """The PMS can deduplicate a retry: same Reference; the envelope itself is new."""
    times = iter([NOW, NOW + dt.timedelta(minutes=7)])
    setup = yield opera(
        ScriptedPms().then(charge_answer(), charge_answer()), now=lambda: next(times)
    )
    posting = leg(code="SPA_TREATMENT", reference="evt_9/3")
    yield setup.channel.post(posting)
    yield setup.channel.post(posting)
    first, second = (oh.parse_post_charge_request(r.root) for r in setup.pms.received)
    assert first.reference == second.reference == "evt_9/3"
    assert b"2026-11-27T10:04:05Z" in setup.pms.received[0].body
    assert b"2026-11-27T10:11:05Z" in setup.pms.received[1].body
    assert b"000000000001<" in setup.pms.received[0].body
    assert b"000000000002<" in setup.pms.received[1].body


EXPECTED = {
    oh.ErrorCode.RESERVATION_NOT_FOUND: PostingResult.REJECTED,
    oh.ErrorCode.ACCOUNT_NOT_FOUND: PostingResult.REJECTED,
    oh.ErrorCode.NOT_IN_HOUSE: PostingResult.NOT_IN_HOUSE,
    oh.ErrorCode.FOLIO_CLOSED: PostingResult.REJECTED,
    oh.ErrorCode.INVALID_TRANSACTION_CODE: PostingResult.REJECTED,
    oh.ErrorCode.INVALID_PAYMENT_TYPE: PostingResult.REJECTED,
    oh.ErrorCode.AMOUNT_NOT_ALLOWED: PostingResult.REJECTED,
    oh.ErrorCode.CURRENCY_MISMATCH: PostingResult.REJECTED,
    oh.ErrorCode.INVALID_FOLIO_WINDOW: PostingResult.REJECTED,
    oh.ErrorCode.NO_POST: PostingResult.REJECTED,
    oh.ErrorCode.NIGHT_AUDIT: PostingResult.RETRYABLE,
    oh.ErrorCode.SYSTEM_ERROR: PostingResult.RETRYABLE,
}


def test_the_classification_table_covers_every_result_code():
    assert set(EXPECTED) == set(oh.ErrorCode)
    assert {code.value for code in EXPECTED} == set(oh.RESULT_CODES)


@pytest.mark.parametrize("code", list(oh.ErrorCode))
@pytest_twisted.inlineCallbacks
def test_each_error_code_is_classified_by_its_disposition_with_the_pms_text(opera, code):
    text = f"the PMS says {code.value}"
    setup = yield opera(ScriptedPms().then(charge_answer(oh.Result.fail(code.value, text))))
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is EXPECTED[code]
    assert (outcome.answer_status, outcome.clear_text) == (code.value, text)


@pytest_twisted.inlineCallbacks
def test_an_error_code_the_table_does_not_know_is_terminal(opera):
    setup = yield opera(ScriptedPms().then(charge_answer(oh.Result.fail("WEIRD", "no idea"))))
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.REJECTED
    assert (outcome.answer_status, outcome.clear_text) == ("WEIRD", "no idea")


@pytest_twisted.inlineCallbacks
def test_not_in_house_holds_the_guest_and_wakes_the_dispatcher_later(opera):
    """RESV_NOT_IN_HOUSE for a charge: NOT_IN_HOUSE, and guest_in_house() is False until the
    recheck time, when the dispatcher is woken to try again."""
    clock = task.Clock()
    fail = oh.Result.fail(oh.ErrorCode.NOT_IN_HOUSE.value, "Reservation 123456 is not in house")
    setup = yield opera(ScriptedPms().then(charge_answer(fail)), in_house_recheck_seconds=60)
    setup.channel.reactor = _ClockedReactor(reactor, clock)
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.NOT_IN_HOUSE
    assert setup.channel.guest_in_house("123456") is False
    assert setup.channel.guest_in_house("999999") is True
    clock.advance(60)
    assert setup.hooks.wakes == 1
    assert setup.channel.guest_in_house("123456") is True


@pytest_twisted.inlineCallbacks
def test_not_in_house_for_a_leg_that_may_post_early_is_retryable(opera):
    """A deposit may post before arrival: if the PMS still wants the guest in house, the leg
    backs off (RETRYABLE) rather than waiting for a check-in the dispatcher never waits for."""
    fail = oh.Result.fail(oh.ErrorCode.NOT_IN_HOUSE.value, "not in house")
    setup = yield opera(ScriptedPms().then(charge_answer(fail)))
    outcome = yield setup.channel.post(leg(code="SPA_DEPOSIT", needs_in_house=False))
    assert outcome.result is PostingResult.RETRYABLE
    assert setup.channel.guest_in_house("123456") is True


@pytest.mark.parametrize(
    ("fault", "status", "expected"),
    [
        (Fault(FaultCode.RECEIVER, "database down", "SystemError"), 500, PostingResult.RETRYABLE),
        (Fault(FaultCode.SENDER, "Authentication failed", "FailedAuthentication"), 500,
         PostingResult.REJECTED),
        (Fault(FaultCode.SENDER, "schema", "SchemaInvalid", ("/PostChargeRequest/Amount: bad",)),
         500, PostingResult.REJECTED),
    ],
)  # fmt: skip
@pytest_twisted.inlineCallbacks
def test_soap_faults_receiver_retryable_sender_terminal(opera, fault, status, expected):
    data = build_fault_envelope(fault, SoapVersion.SOAP11)
    setup = yield opera(ScriptedPms().then(answer(data, status)))
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is expected
    assert outcome.clear_text.startswith(fault.reason)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, PostingResult.RETRYABLE),
        (503, PostingResult.RETRYABLE),
        (404, PostingResult.REJECTED),
        (502, PostingResult.UNKNOWN),
        (504, PostingResult.UNKNOWN),
    ],
)
@pytest_twisted.inlineCallbacks
def test_http_errors_without_a_fault(opera, status, expected):
    setup = yield opera(ScriptedPms().then(answer(b"oops", status, "text/plain")))
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is expected
    assert outcome.answer_status == f"HTTP {status}"


@pytest_twisted.inlineCallbacks
def test_an_unreadable_200_answer_is_unknown(opera):
    """The PMS processed something; we cannot tell what: never guess."""
    setup = yield opera(ScriptedPms().then(answer(b"<not-soap/>")))
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.UNKNOWN


@pytest_twisted.inlineCallbacks
def test_a_hostile_answer_is_not_parsed_and_the_outcome_is_unknown(opera):
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    setup = yield opera(ScriptedPms().then(answer(bomb)))
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.UNKNOWN
    assert "DOCTYPE" in outcome.reason


@pytest_twisted.inlineCallbacks
def test_no_answer_in_time_is_unknown_and_the_request_is_cancelled(opera):
    setup = yield opera(ScriptedPms(default=hang), timeout=0.3)
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.UNKNOWN
    assert outcome.reason == "no answer within 0.3 s"
    assert setup.hooks.written == ["evt_1/0"]
    assert setup.channel.hold_reason() is None


@pytest_twisted.inlineCallbacks
def test_a_connection_dropped_after_the_request_is_unknown(opera):
    setup = yield opera(ScriptedPms(default=drop))
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.UNKNOWN
    assert "after the request was sent" in outcome.reason


@pytest_twisted.inlineCallbacks
def test_connection_refused_is_not_sent_and_holds_the_endpoint_then_wakes(opera):
    setup = yield opera(endpoint_retry_seconds=0.05)
    yield setup.port.stopListening()
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.NOT_SENT
    assert "ConnectionRefusedError" in outcome.reason
    assert "unreachable" in setup.channel.hold_reason()
    yield task.deferLater(reactor, 0.1, lambda: None)
    assert setup.channel.hold_reason() is None
    assert setup.hooks.wakes == 1


WANT = (
    "transaction code 'A_TRANSACTION_CODE_LONGER_THAN_20' of leg evt_1/0 cannot go to the "
    "opera-htng PMS: it takes 1-20 characters"
)


@pytest_twisted.inlineCallbacks
def test_a_code_the_pms_schema_cannot_carry_is_a_mapping_error_and_nothing_is_sent(opera):
    setup = yield opera()
    with pytest.raises(LegMappingError, match=WANT):
        setup.channel.post(leg(code="A_TRANSACTION_CODE_LONGER_THAN_20"))
    with pytest.raises(LegMappingError, match="separate legs"):
        setup.channel.post(leg(code="SPA_DEPOSIT", payment="ONEJOURNEY"))
    assert setup.pms.received == [] and setup.hooks.written == []


@pytest_twisted.inlineCallbacks
def test_the_journal_refusing_the_sent_mark_sends_nothing(opera):
    setup = yield opera(ScriptedPms().then(charge_answer()))
    setup.hooks.refuse_written = True
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.NOT_SENT
    assert setup.pms.received == []


def test_a_long_reference_becomes_a_stable_digest():
    long = "e" * 100 + "/1"
    assert wire_reference(long) == wire_reference(long) != wire_reference("e" * 100 + "/2")
    assert len(wire_reference(long)) == 64 and wire_reference(long).startswith("fg-")


@pytest_twisted.inlineCallbacks
def test_a_business_date_when_injected_goes_on_the_wire(opera):
    setup = yield opera(
        ScriptedPms().then(charge_answer()), business_date=lambda: dt.date(2026, 11, 27)
    )
    yield setup.channel.post(leg(code="SPA_TREATMENT"))
    record = oh.parse_post_charge_request(setup.pms.received[0].root)
    assert record.business_date == dt.date(2026, 11, 27)


@pytest_twisted.inlineCallbacks
def test_folio_balance_is_fetch_folio_over_every_window(opera):
    folio = oh.Folio(
        "123456",
        (
            oh.FolioLine(1, 1, oh.LineKind.CHARGE, "SPA_DEPOSIT", Money(5000, "GBP", 2),
                         dt.date(2026, 11, 27)),
            oh.FolioLine(2, 1, oh.LineKind.PAYMENT, "ONEJOURNEY", Money(-5000, "GBP", 2),
                         dt.date(2026, 11, 27)),
        ),
        Money(0, "GBP", 2),
    )  # fmt: skip
    data = oh.build_fetch_folio_response(
        oh.FetchFolioResponse(oh.Result.success(), folio), relates_to=None, stamp=ANSWER_STAMP
    )
    setup = yield opera(ScriptedPms().then(answer(data)))
    posted = leg(code="SPA_DEPOSIT")
    balance = yield setup.channel.folio_balance(posted, None)
    assert balance == 0
    assert oh.parse_fetch_folio_request(setup.pms.received[0].root) == oh.FetchFolioRequest(
        "123456"
    )


class _ClockedReactor:
    """The real reactor for I/O, a task.Clock for timers and seconds()."""

    def __init__(self, real, clock):
        self._real, self._clock = real, clock

    def seconds(self):
        return self._clock.seconds()

    def callLater(self, *args, **kwargs):  # noqa: N802
        return self._clock.callLater(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)
