"""rezlynx profile: exact decimal <-> minor-unit conversion in the site currency, parse errors
with paths, dispatch for the simulator, and the ExceptionCode table (7007 = log in again)."""

import pytest
from lxml import etree

from protocols.htng import rezlynx as rz
from protocols.htng.codes import Disposition
from protocols.soap import MessageError, parse_xml

NS = rz.NAMESPACE


def _post(gross_total: str):
    return etree.fromstring(
        f'<PostToRoom xmlns="{NS}"><SessionID>S</SessionID><BookingRef>BK1/1</BookingRef>'
        f"<SalesAnalysisCode>SPA</SalesAnalysisCode><GrossTotal>{gross_total}</GrossTotal>"
        "<Reference>r</Reference></PostToRoom>"
    )


@pytest.mark.parametrize(
    ("text", "decimals", "minor_units"),
    [("50.00", 2, 5000), ("50", 2, 5000), ("-0.05", 2, -5), ("1234", 0, 1234), ("1.234", 3, 1234)],
)
def test_gross_total_converts_exactly_to_minor_units(text, decimals, minor_units):
    request = rz.parse_post_to_room_request(_post(text), decimals=decimals)
    assert request.gross_total == minor_units
    assert request.folio_id == 1


def test_gross_total_finer_than_the_site_currency_is_refused_not_rounded():
    with pytest.raises(MessageError) as caught:
        rz.parse_post_to_room_request(_post("50.005"), decimals=2)
    assert str(caught.value) == (
        "/PostToRoom/GrossTotal: '50.005' is not an amount with at most 2 decimal places"
    )


def test_gross_total_that_is_not_a_number_is_refused():
    with pytest.raises(MessageError, match=r"^/PostToRoom/GrossTotal: 'NaN' is not an amount"):
        rz.parse_post_to_room_request(_post("NaN"), decimals=2)


def test_login_password_keeps_its_exact_text_and_is_hidden_from_repr():
    request = rz.LogInRequest("SITE", "OP", "  pass word  ")
    parsed = rz.parse_log_in_request(parse_xml(rz.build_log_in_request(request)))
    assert parsed.password == "  pass word  "
    assert "pass word" not in repr(parsed)


def test_missing_result_block_is_reported_with_its_path():
    payload = etree.fromstring(f'<PostToRoomResponse xmlns="{NS}"/>')
    with pytest.raises(MessageError) as caught:
        rz.parse_post_to_room_response(payload)
    assert str(caught.value) == "/PostToRoomResponse/PostToRoomResult: missing"


def test_parse_request_dispatches_with_the_site_decimals():
    deposit = rz.AddDepositRequest("S", "BK1/1", "OJ", 5000, "evt/0", "Spa deposit")
    root = parse_xml(rz.build_add_deposit_request(deposit, decimals=2))
    parsed = rz.parse_request(root, decimals=2)
    assert parsed == deposit
    assert rz.operation_of(parsed) is rz.Operation.ADD_DEPOSIT


def test_xsd_refuses_a_missing_session():
    payload = etree.fromstring(
        f'<AddPayment xmlns="{NS}"><BookingRef>BK1/1</BookingRef><PaymentCode>OJ</PaymentCode>'
        "<Amount>1.00</Amount><Reference>r</Reference></AddPayment>"
    )
    assert rz.xsd_validator().validate_body(payload) == [
        "/AddPayment/BookingRef: This element is not expected. Expected is ( SessionID ).",
    ]


def test_xsd_refuses_more_than_four_decimal_places():
    payload = etree.fromstring(
        f'<AddPayment xmlns="{NS}"><SessionID>S</SessionID><BookingRef>BK1/1</BookingRef>'
        "<PaymentCode>OJ</PaymentCode><Amount>1.23456</Amount><Reference>r</Reference>"
        "</AddPayment>"
    )
    assert rz.xsd_validator().validate_body(payload) == [
        "/AddPayment/Amount: [facet 'fractionDigits'] The value '1.23456' has more fractional "
        "digits than are allowed ('4').",
    ]


def test_actions_follow_the_asmx_pattern():
    assert rz.Operation.POST_TO_ROOM.action == "urn:foliogate:rezlynx:1/PostToRoom"
    assert rz.Operation.LOG_IN.response_element == "LogInResponse"
    assert rz.Operation.LOG_IN.result_element == "LogInResult"
    assert rz.Operation.from_action("urn:foliogate:rezlynx:1/GetFolio") is rz.Operation.GET_FOLIO


def test_exception_code_table():
    assert set(rz.RESULT_CODES) == {int(code) for code in rz.ExceptionCode}
    assert rz.ExceptionCode.SESSION_EXPIRED == 7007
    assert rz.CallResult.success() == rz.CallResult(0, "No error")
    assert rz.CallResult.success().disposition is Disposition.POSTED
    expired = rz.CallResult.failure(rz.ExceptionCode.SESSION_EXPIRED, "Session has expired")
    assert (expired.ok, expired.disposition) == (False, Disposition.RELOGIN)
    assert rz.CallResult(8002, "not resident").disposition is Disposition.DEFERRED
    assert rz.CallResult(8008, "end of day").disposition is Disposition.RETRYABLE
    assert rz.CallResult(8003, "unknown SPA").disposition is Disposition.TERMINAL
    assert rz.CallResult(4242, "vendor specific").disposition is Disposition.TERMINAL
    assert len({code for code in rz.RESULT_CODES}) == len(rz.ExceptionCode)


def test_failed_search_writes_no_bookings_element():
    failed = rz.SearchBookingsResponse(rz.CallResult(7007, "Session has expired"))
    data = rz.build_search_bookings_response(failed)
    assert b"<Bookings" not in data
    assert rz.parse_search_bookings_response(parse_xml(data)) == failed
