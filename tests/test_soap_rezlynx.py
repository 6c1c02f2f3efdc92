"""The rezlynx poster against a scripted PMS on loopback: LogIn once, exact envelopes (the
bytes zeep builds are our builder's envelope for the same record), session expiry 7007 ->
re-login -> posted once, AddPayment -> AddDeposit before arrival, every ExceptionCode, a
refused LogIn, masking, and the folio balance."""

import datetime as dt

import pytest
import pytest_twisted
from soap_test_pms import (
    PASSWORD,
    USER,
    Hooks,
    ScriptedPms,
    answer,
    body_payload,
    canonical,
    hang,
    leg,
    listen,
    message_ids,
    property_config,
)
from twisted.internet import defer, reactor

from adapters.fias_postings import PostingResult
from adapters.soap_channel import make_soap_channel
from protocols.htng import rezlynx as rz
from protocols.soap import Credentials

SITE = "DEMO01"


def logged_in(session="S-1"):
    return answer(rz.build_log_in_response(rz.LogInResponse(rz.CallResult.success(), session)))


def result(operation, code=rz.ExceptionCode.OK, text="No error", number=9001):
    call = rz.CallResult(int(code), text)
    build = {
        "PostToRoom": lambda: rz.build_post_to_room_response(rz.PostToRoomResponse(call, number)),
        "AddPayment": lambda: rz.build_add_payment_response(rz.AddPaymentResponse(call, number)),
        "AddDeposit": lambda: rz.build_add_deposit_response(rz.AddDepositResponse(call, number)),
    }[operation]
    return answer(build())


EXPIRED = rz.ExceptionCode.SESSION_EXPIRED


@pytest.fixture
def rezlynx():
    made = []

    @pytest_twisted.inlineCallbacks
    def make(pms=None, timeout=5.0, **channel_options):
        pms = pms or ScriptedPms()
        port, url = yield listen(reactor, pms)
        prop = property_config("rezlynx", url, timeout=timeout, extra_soap=f'hotel_code = "{SITE}"')
        hooks = Hooks()
        options = dict(
            reactor=reactor,
            credentials=Credentials(USER, PASSWORD),
            now=lambda: dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC),
            new_message_id=message_ids(),
            on_posting_written=hooks.on_posting_written,
            on_frame=hooks.on_frame,
            on_available=hooks.on_available,
        )
        channel = make_soap_channel(prop, **{**options, **channel_options})
        made.append((pms, port, channel))
        return pms, channel, hooks

    yield make
    for pms, port, channel in made:
        for request in pms.hanging:
            if not request.finished and not request._disconnected:
                request.finish()
        pytest_twisted.blockon(channel.stopService())
        pytest_twisted.blockon(defer.maybeDeferred(port.stopListening))


def operations(pms):
    return [body_payload(r.body).tag.split("}")[1] for r in pms.received]


@pytest_twisted.inlineCallbacks
def test_first_charge_logs_in_then_posts_to_room_exactly_as_our_builder_writes_it(rezlynx):
    pms, channel, hooks = yield rezlynx(ScriptedPms().then(logged_in(), result("PostToRoom")))
    outcome = yield channel.post(leg(code="SPA_TREATMENT", amount=-5000, description="Massage"))
    assert outcome.result is PostingResult.POSTED
    assert outcome.answer_status == "0"
    login, post = pms.received
    assert canonical(login.body) == canonical(
        rz.build_log_in_request(rz.LogInRequest(SITE, USER, PASSWORD))
    )
    record = rz.PostToRoomRequest("S-1", "123456", "SPA_TREATMENT", -5000, "evt_1/0",
                                  description="Massage")  # fmt: skip
    assert canonical(post.body) == canonical(rz.build_post_to_room_request(record, decimals=2))
    assert b"<ns0:GrossTotal>-50.00</ns0:GrossTotal>" in post.body
    for request in (login, post):
        assert rz.xsd_validator().validate_body(body_payload(request.body)) == []
    assert post.headers["soapaction"] == '"urn:foliogate:rezlynx:1/PostToRoom"'
    assert hooks.written == ["evt_1/0"]


@pytest_twisted.inlineCallbacks
def test_the_login_password_never_reaches_the_wire_log(rezlynx):
    pms, channel, hooks = yield rezlynx(ScriptedPms().then(logged_in(), result("PostToRoom")))
    yield channel.post(leg(code="SPA_TREATMENT"))
    login_out = hooks.frames[0]
    assert login_out[:1] == ("out",) and login_out[2] == "evt_1/0"
    assert PASSWORD.encode() not in login_out[1]
    assert b"Password>****</" in login_out[1]
    assert all(PASSWORD.encode() not in frame[1] for frame in hooks.frames)


@pytest_twisted.inlineCallbacks
def test_the_session_is_reused(rezlynx):
    pms, channel, hooks = yield rezlynx(
        ScriptedPms().then(logged_in(), result("PostToRoom"), result("PostToRoom"))
    )
    yield channel.post(leg(code="SPA_TREATMENT", reference="evt_1/0"))
    yield channel.post(leg(code="SPA_TREATMENT", reference="evt_1/1"))
    assert operations(pms) == ["LogIn", "PostToRoom", "PostToRoom"]
    assert channel.logins == 1


@pytest_twisted.inlineCallbacks
def test_with_a_session_the_schema_checked_envelope_is_the_one_sent(rezlynx):
    """post() builds and checks the envelope at once (a mapping error is raised before
    anything happens); with a session already open, that same envelope is sent, not built a
    second time; after a session expiry the retry is built anew with the new session."""
    pms, channel, hooks = yield rezlynx(
        ScriptedPms().then(
            logged_in("S-1"), result("PostToRoom"), result("PostToRoom", EXPIRED),
            logged_in("S-2"), result("PostToRoom"),
        )
    )  # fmt: skip
    yield channel.post(leg(code="SPA_TREATMENT", reference="evt_1/0"))
    built = []
    real_build = channel.build
    channel.build = lambda *a, **k: built.append((a[0], k.get("SessionID"))) or real_build(*a, **k)
    outcome = yield channel.post(leg(code="SPA_TREATMENT", reference="evt_1/1"))
    assert outcome.result is PostingResult.POSTED
    assert operations(pms) == ["LogIn", "PostToRoom", "PostToRoom", "LogIn", "PostToRoom"]
    # the check (sent as is), the new LogIn, then the retry's own envelope
    assert built == [("PostToRoom", "S-1"), ("LogIn", None), ("PostToRoom", "S-2")]
    sessions = [body_payload(r.body).findtext("{*}SessionID") for r in pms.received[2::2]]
    assert sessions == ["S-1", "S-2"]
    assert channel._prebuilt == {}


@pytest_twisted.inlineCallbacks
def test_session_expiry_logs_in_again_and_posts_once(rezlynx):
    """7007: log in again, send the same call (same Reference) once with the new session."""
    pms, channel, hooks = yield rezlynx(
        ScriptedPms().then(
            logged_in("S-1"),
            result("PostToRoom", EXPIRED, "Session has expired"),
            logged_in("S-2"),
            result("PostToRoom"),
        )
    )
    outcome = yield channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.POSTED
    assert operations(pms) == ["LogIn", "PostToRoom", "LogIn", "PostToRoom"]
    first, second = (rz.parse_post_to_room_request(r.root, decimals=2) for r in pms.received[1::2])
    assert (first.session_id, second.session_id) == ("S-1", "S-2")
    assert first.reference == second.reference == "evt_1/0"
    assert hooks.written == ["evt_1/0"]  # marked sent once
    assert channel.session_id == "S-2"


@pytest_twisted.inlineCallbacks
def test_a_second_session_expiry_after_relogin_is_retryable_not_a_loop(rezlynx):
    pms, channel, _ = yield rezlynx(
        ScriptedPms().then(
            logged_in("S-1"),
            result("PostToRoom", EXPIRED, "Session has expired"),
            logged_in("S-2"),
            result("PostToRoom", EXPIRED, "Session has expired"),
        )
    )
    outcome = yield channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.RETRYABLE
    assert outcome.answer_status == "7007"
    assert len(pms.received) == 4


@pytest_twisted.inlineCallbacks
def test_a_payment_before_arrival_goes_again_as_a_deposit(rezlynx):
    """AddPayment answers 8002 (not resident): the same money, same reference, AddDeposit."""
    pms, channel, hooks = yield rezlynx(
        ScriptedPms().then(
            logged_in(),
            result("AddPayment", rz.ExceptionCode.NOT_IN_HOUSE, "Booking is not resident"),
            result("AddDeposit"),
        )
    )
    outcome = yield channel.post(leg(payment="ONEJOURNEY", needs_in_house=False))
    assert outcome.result is PostingResult.POSTED
    assert operations(pms) == ["LogIn", "AddPayment", "AddDeposit"]
    record = rz.AddDepositRequest("S-1", "123456", "ONEJOURNEY", 5000, "evt_1/0",
                                  description="Spa deposit")  # fmt: skip
    assert canonical(pms.received[2].body) == canonical(
        rz.build_add_deposit_request(record, decimals=2)
    )
    assert hooks.written == ["evt_1/0"]


@pytest_twisted.inlineCallbacks
def test_a_payment_on_a_resident_booking_is_add_payment(rezlynx):
    pms, channel, _ = yield rezlynx(ScriptedPms().then(logged_in(), result("AddPayment")))
    outcome = yield channel.post(leg(payment="ONEJOURNEY"))
    assert outcome.result is PostingResult.POSTED
    record = rz.AddPaymentRequest("S-1", "123456", "ONEJOURNEY", 5000, "evt_1/0",
                                  description="Spa deposit")  # fmt: skip
    assert canonical(pms.received[1].body) == canonical(
        rz.build_add_payment_request(record, decimals=2)
    )


EXPECTED = {
    rz.ExceptionCode.OK: PostingResult.POSTED,
    rz.ExceptionCode.LOGIN_FAILED: PostingResult.REJECTED,
    rz.ExceptionCode.BOOKING_NOT_FOUND: PostingResult.REJECTED,
    rz.ExceptionCode.NOT_IN_HOUSE: PostingResult.NOT_IN_HOUSE,
    rz.ExceptionCode.UNKNOWN_ANALYSIS_CODE: PostingResult.REJECTED,
    rz.ExceptionCode.UNKNOWN_PAYMENT_CODE: PostingResult.REJECTED,
    rz.ExceptionCode.FOLIO_CLOSED: PostingResult.REJECTED,
    rz.ExceptionCode.AMOUNT_NOT_ALLOWED: PostingResult.REJECTED,
    rz.ExceptionCode.POSTING_BLOCKED: PostingResult.REJECTED,
    rz.ExceptionCode.END_OF_DAY: PostingResult.RETRYABLE,
    rz.ExceptionCode.UNKNOWN_FOLIO: PostingResult.REJECTED,
    rz.ExceptionCode.ACCOUNT_NOT_FOUND: PostingResult.REJECTED,
    rz.ExceptionCode.INTERNAL_ERROR: PostingResult.RETRYABLE,
}


def test_the_classification_table_covers_every_exception_code():
    assert set(EXPECTED) | {EXPIRED} == set(rz.ExceptionCode)
    assert {int(code) for code in EXPECTED} | {int(EXPIRED)} == set(rz.RESULT_CODES)


@pytest.mark.parametrize("code", list(EXPECTED))
@pytest_twisted.inlineCallbacks
def test_each_exception_code_is_classified_by_its_disposition(rezlynx, code):
    text = f"the PMS says {code.name}"
    pms, channel, _ = yield rezlynx(
        ScriptedPms().then(logged_in(), result("PostToRoom", code, text))
    )
    outcome = yield channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is EXPECTED[code]
    assert (outcome.answer_status, outcome.clear_text) == (str(int(code)), text)


@pytest_twisted.inlineCallbacks
def test_a_refused_login_rejects_the_leg_with_the_pms_text_and_sends_no_posting(rezlynx):
    refused = rz.build_log_in_response(
        rz.LogInResponse(rz.CallResult.failure(rz.ExceptionCode.LOGIN_FAILED, "Unknown operator"))
    )
    pms, channel, hooks = yield rezlynx(ScriptedPms().then(answer(refused)))
    outcome = yield channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.REJECTED
    assert (outcome.answer_status, outcome.clear_text) == (
        "7001",
        "LogIn refused: Unknown operator",
    )
    assert operations(pms) == ["LogIn"] and hooks.written == []


@pytest_twisted.inlineCallbacks
def test_no_answer_to_the_posting_is_unknown(rezlynx):
    pms, channel, _ = yield rezlynx(ScriptedPms().then(logged_in(), hang), timeout=0.3)
    outcome = yield channel.post(leg(code="SPA_TREATMENT"))
    assert outcome.result is PostingResult.UNKNOWN


@pytest_twisted.inlineCallbacks
def test_folio_balance_is_get_folio(rezlynx):
    folio = rz.Folio(
        "123456",
        (
            rz.FolioTransaction(1, 1, rz.TransactionType.CHARGE, "SPA_TREATMENT", 5000,
                                dt.date(2026, 11, 27)),
            rz.FolioTransaction(2, 1, rz.TransactionType.CHARGE, "SPA_DEPOSIT", -5000,
                                dt.date(2026, 11, 27)),
        ),
        -1234,
    )  # fmt: skip
    data = rz.build_get_folio_response(
        rz.GetFolioResponse(rz.CallResult.success(), folio), decimals=2
    )
    pms, channel, _ = yield rezlynx(ScriptedPms().then(logged_in(), answer(data)))
    balance = yield channel.folio_balance(leg(code="SPA_TREATMENT"), None)
    assert balance == -1234
    assert rz.parse_get_folio_request(pms.received[1].root) == rz.GetFolioRequest("S-1", "123456")
