"""The htng-async poster and its callback endpoint, against a scripted PMS on loopback that
acknowledges and then POSTs results to the ReplyTo address: exact envelopes, results matched by
CorrelationID (also before the acknowledgement), every error code, duplicate, late, stray and
missing results, and a callback endpoint that refuses bad credentials, stale timestamps, the
wrong SOAP version, schema errors, an XML bomb and an external entity without acting on them."""

import datetime as dt
from dataclasses import dataclass, field

import pytest
import pytest_twisted
import treq
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
    leg,
    listen,
    message_ids,
    property_config,
)
from twisted.internet import defer, reactor, task
from twisted.web import server

from adapters.fias_postings import PostingResult
from adapters.soap_channel import make_soap_channel
from adapters.soap_htng_async import CallbackMatch, HtngAsyncCallbackResource
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

CONTENT_TYPE = "application/soap+xml; charset=utf-8"
HOTEL = "SEASIDE"
PMS_IDS = message_ids("urn:uuid:00000000-0000-4000-9000-")


@dataclass
class Request:
    """What the PMS read from one ChargePostingRQ."""

    record: ha.ChargePostingRequest
    message_id: str
    reply_to: str


def read_request(body):
    envelope = parse_envelope(parse_xml(body))
    return Request(
        ha.parse_charge_posting_request(envelope.payload),
        envelope.addressing.message_id,
        envelope.addressing.reply_to,
    )


def result_envelope(request, *, errors=(), posted=None, credentials=None, relates_to="same",
                    created=NOW, version=None):  # fmt: skip
    record = request.record
    result = ha.ChargePostingResultRequest(
        echo_token=record.echo_token,
        correlation_id=record.correlation_id,
        timestamp=created,
        errors=tuple(errors),
        posted_lines=() if errors else (posted or (ha.PostedLine(record.correlation_id, 7001),)),
    )
    data = ha.build_charge_posting_result_request(
        result,
        caller=Caller(to=request.reply_to, credentials=credentials or Credentials(USER, PASSWORD)),
        stamp=Stamp(PMS_IDS(), created),
        relates_to=request.message_id if relates_to == "same" else relates_to,
    )
    return data


def post_callback(url, data, content_type=CONTENT_TYPE):
    d = treq.post(url, data=data, headers={"Content-Type": [content_type]})
    return d.addCallback(lambda r: r.content().addCallback(lambda body: (r.code, body)))


def acknowledge(request):
    return ha.build_charge_posting_response(
        ha.Acknowledgement(request.record.correlation_id, NOW, request.record.echo_token),
        relates_to=request.message_id,
        stamp=ANSWER_STAMP,
    )


@dataclass
class AsyncPms:
    """Behaviours for a ScriptedPms speaking htng-async."""

    requests: list = field(default_factory=list)
    callback_answers: list = field(default_factory=list)

    def ack_then(self, *results, delay=0.0, before_ack=False):
        """Acknowledge, then POST each result (a function of the Request giving bytes)."""

        def behave(pms, http_request, body):
            request = read_request(body)
            self.requests.append(request)

            @defer.inlineCallbacks
            def send():
                for make in results:
                    answered = yield post_callback(request.reply_to, make(request))
                    self.callback_answers.append(answered)

            if before_ack:

                def then_ack(_):
                    http_request.setHeader(b"Content-Type", CONTENT_TYPE.encode())
                    http_request.write(acknowledge(request))
                    http_request.finish()

                send().addCallback(then_ack)
                return server.NOT_DONE_YET
            task.deferLater(reactor, delay, send)
            http_request.setHeader(b"Content-Type", CONTENT_TYPE.encode())
            return acknowledge(request)

        return behave


@dataclass
class FakeLegLog:
    wires: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    unknown: dict = field(default_factory=dict)

    def wire(self, reference, direction, payload, protocol):
        self.wires.append((reference, direction, payload, protocol))

    def note(self, reference, note):
        self.notes.append((reference, note))
        return True

    def is_unknown(self, reference):
        return self.unknown.get(reference)


class Setup:
    pass


@pytest.fixture
def async_pms():
    made = []

    @pytest_twisted.inlineCallbacks
    def make(pms=None, timeout=5.0, callback_timeout=5.0, **channel_options):
        setup = Setup()
        setup.pms = pms or ScriptedPms()
        setup.port, setup.url = yield listen(reactor, setup.pms)
        setup.prop = property_config(
            "htng-async", setup.url, timeout=timeout, extra_soap=f'hotel_code = "{HOTEL}"'
        )
        setup.hooks = Hooks()
        setup.leg_log = FakeLegLog()
        holder = {}
        options = dict(
            reactor=reactor,
            credentials=Credentials(USER, PASSWORD),
            now=lambda: NOW,
            new_message_id=message_ids(),
            on_posting_written=setup.hooks.on_posting_written,
            on_frame=setup.hooks.on_frame,
            on_available=setup.hooks.on_available,
            callback_url=lambda: holder["url"],
            leg_log=setup.leg_log,
            callback_timeout_seconds=callback_timeout,
        )
        setup.channel = make_soap_channel(setup.prop, **{**options, **channel_options})
        setup.resource = HtngAsyncCallbackResource(setup.channel)
        site = server.Site(setup.resource)
        site.noisy = False
        setup.callback_port = reactor.listenTCP(0, site, interface="127.0.0.1")
        setup.callback_url = holder["url"] = (
            f"http://127.0.0.1:{setup.callback_port.getHost().port}/v1/callbacks/htng-async/X"
        )
        made.append(setup)
        return setup

    yield make
    for setup in made:
        pytest_twisted.blockon(setup.channel.stopService())
        pytest_twisted.blockon(defer.maybeDeferred(setup.port.stopListening))
        pytest_twisted.blockon(defer.maybeDeferred(setup.callback_port.stopListening))


@defer.inlineCallbacks
def until(predicate, timeout=5.0):
    """Wait (polling the reactor) until ``predicate()`` is truthy."""
    deadline = reactor.seconds() + timeout
    while not predicate():
        assert reactor.seconds() < deadline, "timed out"
        yield task.deferLater(reactor, 0.01, lambda: None)


def success(request):
    return result_envelope(request)


@pytest_twisted.inlineCallbacks
def test_a_charge_leg_is_one_charge_posting_exactly_as_our_builder_writes_it(async_pms):
    """ChargePostingRQ with one RevenueLine, CorrelationID = EchoToken = ReferenceID = the leg
    reference, wsa:ReplyTo = our callback URL; POSTED when the Success result arrives."""
    behaviours = AsyncPms()
    setup = yield async_pms(ScriptedPms().then(behaviours.ack_then(success)))
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT", description="Massage 60"))
    assert outcome.result is PostingResult.POSTED
    assert (outcome.answer_status, outcome.clear_text) == ("Success", "posted (transaction 7001)")
    (received,) = setup.pms.received
    record = ha.ChargePostingRequest(
        echo_token="evt_1/0", correlation_id="evt_1/0", timestamp=NOW, hotel_code=HOTEL,
        reservation_id="123456",
        revenue_lines=(ha.RevenueLine("SPA_TREATMENT", Money(5000, "GBP", 2), "evt_1/0",
                                      "Massage 60"),),
    )  # fmt: skip
    want = ha.build_charge_posting_request(
        record,
        caller=Caller(
            to=setup.url,
            credentials=Credentials(USER, PASSWORD),
            from_address="urn:foliogate:PMS-htng-async",
            reply_to=setup.callback_url,
        ),
        stamp=Stamp("urn:uuid:00000000-0000-4000-8000-000000000001", NOW),
    )
    assert canonical(received.body) == canonical(want)
    assert ha.xsd_validator().validate_body(body_payload(received.body)) == []
    assert received.headers["content-type"] == (
        'application/soap+xml; charset=utf-8; action="urn:foliogate:htng-async:1/'
        'ChargePosting_SubmitRequest"'
    )
    yield until(lambda: behaviours.callback_answers)
    assert behaviours.callback_answers[0][0] == 200
    ack = ha.parse_charge_posting_result_response(parse_xml(behaviours.callback_answers[0][1]))
    assert (ack.correlation_id, ack.echo_token) == ("evt_1/0", "evt_1/0")
    directions = [(d, ref) for d, _, ref, _ in setup.hooks.frames]
    assert directions == [("out", "evt_1/0"), ("in", "evt_1/0"), ("in", "evt_1/0"),
                          ("out", "evt_1/0")] or directions == [
        ("out", "evt_1/0"), ("in", "evt_1/0"), ("out", "evt_1/0"), ("in", "evt_1/0")]  # fmt: skip
    assert all(PASSWORD.encode() not in payload for _, payload, _, _ in setup.hooks.frames)
    assert setup.channel.callbacks[CallbackMatch.MATCHED] == 1


@pytest_twisted.inlineCallbacks
def test_a_payment_leg_is_one_payment_line(async_pms):
    behaviours = AsyncPms()
    setup = yield async_pms(ScriptedPms().then(behaviours.ack_then(success)))
    outcome = yield setup.channel.post(leg(payment="ONEJOURNEY", needs_in_house=False))
    assert outcome.result is PostingResult.POSTED
    (request,) = behaviours.requests
    assert request.record.revenue_lines == ()
    assert request.record.payment_lines == (
        ha.PaymentLine("ONEJOURNEY", Money(5000, "GBP", 2), "evt_1/0", "Spa deposit"),
    )


@pytest_twisted.inlineCallbacks
def test_a_result_that_arrives_before_the_acknowledgement_counts(async_pms):
    behaviours = AsyncPms()
    setup = yield async_pms(ScriptedPms().then(behaviours.ack_then(success, before_ack=True)))
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.POSTED
    yield until(lambda: behaviours.callback_answers)
    assert behaviours.callback_answers[0][0] == 200


EXPECTED = {
    ha.ErrorCode.RESERVATION_NOT_FOUND: PostingResult.REJECTED,
    ha.ErrorCode.NOT_IN_HOUSE: PostingResult.NOT_IN_HOUSE,
    ha.ErrorCode.UNKNOWN_REVENUE_CODE: PostingResult.REJECTED,
    ha.ErrorCode.UNKNOWN_PAYMENT_TYPE: PostingResult.REJECTED,
    ha.ErrorCode.FOLIO_CLOSED: PostingResult.REJECTED,
    ha.ErrorCode.AMOUNT_NOT_ALLOWED: PostingResult.REJECTED,
    ha.ErrorCode.UNKNOWN_HOTEL: PostingResult.REJECTED,
    ha.ErrorCode.CURRENCY_MISMATCH: PostingResult.REJECTED,
    ha.ErrorCode.NO_POST: PostingResult.REJECTED,
    ha.ErrorCode.NIGHT_AUDIT: PostingResult.RETRYABLE,
    ha.ErrorCode.INVALID_FOLIO_WINDOW: PostingResult.REJECTED,
    ha.ErrorCode.ACCOUNT_NOT_FOUND: PostingResult.REJECTED,
    ha.ErrorCode.INVALID_SEARCH: PostingResult.REJECTED,
    ha.ErrorCode.SYSTEM_ERROR: PostingResult.RETRYABLE,
}


def test_the_classification_table_covers_every_error_code():
    assert set(EXPECTED) == set(ha.ErrorCode)
    assert {code.value for code in EXPECTED} == set(ha.RESULT_CODES)


@pytest.mark.parametrize("code", list(ha.ErrorCode))
@pytest_twisted.inlineCallbacks
def test_each_error_code_in_the_result_is_classified_with_the_pms_text(async_pms, code):
    text = f"the PMS says {code.name}"
    error = ha.PostingError(code.value, text, reference="evt_1/0")
    behaviours = AsyncPms()
    setup = yield async_pms(
        ScriptedPms().then(behaviours.ack_then(lambda r: result_envelope(r, errors=[error])))
    )
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is EXPECTED[code]
    assert (outcome.answer_status, outcome.clear_text) == (code.value, f"{code.value} {text}")


@pytest_twisted.inlineCallbacks
def test_a_missing_result_times_out_to_unknown_and_a_late_one_is_noted_not_acted_on(async_pms):
    behaviours = AsyncPms()
    setup = yield async_pms(ScriptedPms().then(behaviours.ack_then()), callback_timeout=0.2)
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.UNKNOWN
    assert outcome.reason == "acknowledged, but no result callback within 0.2 s"
    (request,) = behaviours.requests
    code, body = yield post_callback(setup.callback_url, result_envelope(request))
    assert code == 200  # acknowledged so the PMS stops sending it
    assert setup.channel.callbacks[CallbackMatch.LATE] == 1
    ((reference, note),) = setup.leg_log.notes
    assert reference == "evt_1/0"
    assert note.startswith("late result from the PMS after the leg went unknown")
    assert "Success (evt_1/0=7001)" in note
    assert [(r, d) for r, d, _, _ in setup.leg_log.wires] == [("evt_1/0", "in"), ("evt_1/0", "out")]


@pytest_twisted.inlineCallbacks
def test_a_duplicate_result_is_acknowledged_and_otherwise_a_no_op(async_pms):
    behaviours = AsyncPms()
    setup = yield async_pms(ScriptedPms().then(behaviours.ack_then(success, success)))
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.POSTED
    yield until(lambda: len(behaviours.callback_answers) == 2)  # the PMS sent its 2nd copy
    assert [answered[0] for answered in behaviours.callback_answers] == [200, 200]
    assert setup.channel.callbacks == {CallbackMatch.MATCHED: 1, CallbackMatch.DUPLICATE: 1}
    assert setup.leg_log.notes == []


@pytest_twisted.inlineCallbacks
def test_a_result_for_a_correlation_id_nobody_sent_is_unmatched(async_pms):
    setup = yield async_pms()
    stray = Request(
        ha.ChargePostingRequest("E9", "nobody/0", NOW, HOTEL, "1",
                                payment_lines=(ha.PaymentLine("X", Money(1, "GBP", 2), "r"),)),
        "urn:uuid:stray", setup.callback_url,
    )  # fmt: skip
    code, _ = yield post_callback(setup.callback_url, result_envelope(stray))
    assert code == 200
    assert setup.channel.callbacks[CallbackMatch.UNMATCHED] == 1


@pytest_twisted.inlineCallbacks
def test_a_result_of_an_earlier_attempt_does_not_settle_the_current_one(async_pms):
    """Same CorrelationID, but RelatesTo names another MessageID: a stray earlier result."""
    behaviours = AsyncPms()
    setup = yield async_pms(
        ScriptedPms().then(
            behaviours.ack_then(
                lambda r: result_envelope(r, relates_to="urn:uuid:an-earlier-attempt"),
                success,
            )
        )
    )
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.POSTED
    assert setup.channel.callbacks == {CallbackMatch.DUPLICATE: 1, CallbackMatch.MATCHED: 1}


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(FaultCode.RECEIVER, "overloaded"), PostingResult.RETRYABLE),
        (Fault(FaultCode.SENDER, "Authentication failed", "FailedAuthentication"),
         PostingResult.REJECTED),
    ],
)  # fmt: skip
@pytest_twisted.inlineCallbacks
def test_a_fault_instead_of_the_acknowledgement_settles_the_leg(async_pms, fault, expected):
    data = build_fault_envelope(fault, SoapVersion.SOAP12)
    status = 400 if fault.code is FaultCode.SENDER else 500
    setup = yield async_pms(ScriptedPms().then(answer(data, status, CONTENT_TYPE)))
    outcome = yield setup.channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is expected
    assert setup.channel._pending == {}


@pytest_twisted.inlineCallbacks
def test_stopping_settles_a_leg_still_waiting_for_its_result_as_unknown(async_pms):
    behaviours = AsyncPms()
    setup = yield async_pms(ScriptedPms().then(behaviours.ack_then()))
    d = setup.channel.post(leg(code="SPA_TREATMENT"))
    pending = setup.channel._pending
    yield until(lambda: pending and all(p.acknowledged for p in pending.values()))
    yield setup.channel.stopService()
    outcome = yield d
    assert outcome.result is PostingResult.UNKNOWN
    assert "stopped" in outcome.reason


# -- the callback endpoint refuses, and nothing else happens ----------------------------------


@defer.inlineCallbacks
def refused_while_waiting(async_pms, make_bad, content_type=CONTENT_TYPE):
    """Post ``make_bad(request)`` to the callback endpoint while a leg waits; then the real
    result. The bad one must be refused and change nothing."""
    behaviours = AsyncPms()
    setup = yield async_pms(ScriptedPms().then(behaviours.ack_then()))
    d = setup.channel.post(leg(code="SPA_TREATMENT"))
    pending = setup.channel._pending
    yield until(lambda: pending and all(p.acknowledged for p in pending.values()))
    request = behaviours.requests[0]
    frames_before = list(setup.hooks.frames)
    code, body = yield post_callback(setup.callback_url, make_bad(request), content_type)
    assert not d.called and setup.channel._pending  # still waiting
    assert setup.hooks.frames == frames_before and setup.leg_log.wires == []  # not journaled
    assert sum(setup.channel.callbacks.values()) == 0
    good_code, _ = yield post_callback(setup.callback_url, result_envelope(request))
    outcome = yield d
    assert good_code == 200 and outcome.result is PostingResult.POSTED
    return code, body, setup


def fault_of(body):
    from protocols.soap import parse_fault

    return parse_fault(parse_envelope(parse_xml(body)).payload)


@pytest_twisted.inlineCallbacks
def test_a_callback_with_bad_credentials_is_refused(async_pms):
    code, body, setup = yield refused_while_waiting(
        async_pms, lambda r: result_envelope(r, credentials=Credentials(USER, "wrong"))
    )
    assert code == 400
    assert fault_of(body).subcode == "FailedAuthentication"
    assert setup.resource.refused["authentication"] == 1


@pytest_twisted.inlineCallbacks
def test_a_callback_without_a_security_header_is_refused(async_pms):
    def unsigned(request):
        data = result_envelope(request)
        root = parse_xml(data)
        header = root.find("{*}Header")
        header.remove(header.find("{*}Security"))
        from lxml import etree

        return etree.tostring(root)

    code, body, _ = yield refused_while_waiting(async_pms, unsigned)
    assert code == 400 and fault_of(body).subcode == "FailedAuthentication"


@pytest_twisted.inlineCallbacks
def test_a_callback_with_a_stale_timestamp_is_refused(async_pms):
    code, body, _ = yield refused_while_waiting(
        async_pms, lambda r: result_envelope(r, created=NOW - dt.timedelta(hours=1))
    )
    assert code == 400 and fault_of(body).subcode == "MessageExpired"


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>&lol3;</env:Body>
</env:Envelope>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>&xxe;</env:Body>
</env:Envelope>"""


@pytest.mark.parametrize("hostile", [BOMB, EXTERNAL], ids=["xml-bomb", "external-entity"])
@pytest_twisted.inlineCallbacks
def test_an_xml_bomb_or_external_entity_is_refused_with_a_fault(async_pms, hostile):
    code, body, setup = yield refused_while_waiting(async_pms, lambda r: hostile)
    assert code == 400
    fault = fault_of(body)
    assert (fault.code, fault.subcode) == (FaultCode.SENDER, "HostileXml")
    assert b"passwd" not in body and b"lollol" not in body
    assert setup.resource.refused["hostile"] == 1


@pytest_twisted.inlineCallbacks
def test_a_soap11_callback_is_a_version_mismatch(async_pms):
    def soap11(request):
        return result_envelope(request).replace(
            b"http://www.w3.org/2003/05/soap-envelope", b"http://schemas.xmlsoap.org/soap/envelope/"
        )

    code, body, _ = yield refused_while_waiting(async_pms, soap11)
    assert fault_of(body).code is FaultCode.VERSION_MISMATCH


@pytest_twisted.inlineCallbacks
def test_a_callback_that_breaks_the_schema_is_refused_with_the_path(async_pms):
    def broken(request):
        return result_envelope(request).replace(b'Version="1.0"', b'Version=""')

    code, body, _ = yield refused_while_waiting(async_pms, broken)
    fault = fault_of(body)
    assert code == 400 and fault.subcode == "SchemaInvalid"
    assert any("ChargePostingResultRQ/@Version" in entry for entry in fault.detail)
