"""htng-async profile: CorrelationID and EchoToken travel from request to acknowledgement to
result, a posting carries revenue and/or payment lines (never none), and result errors are
classified by the code table."""

import datetime as dt

import pytest
from lxml import etree

from protocols.htng import htng_async as ha
from protocols.htng.codes import Disposition
from protocols.htng.money import Money
from protocols.soap import (
    Caller,
    Credentials,
    MessageError,
    Stamp,
    action_from_http,
    http_headers,
    parse_envelope,
    parse_xml,
)

NS = ha.NAMESPACE
NOW = dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC)
STAMP = Stamp("urn:uuid:1", NOW)
CALLER = Caller(
    to="https://pms/htng", credentials=Credentials("u", "p"), reply_to="https://gw/callback"
)
REQUEST = ha.ChargePostingRequest(
    echo_token="E-1",
    correlation_id="C-1",
    timestamp=NOW,
    hotel_code="SEASIDE",
    reservation_id="HP-1",
    payment_lines=(ha.PaymentLine("OJ", Money(5000, "GBP", 2), "evt/0"),),
)


def test_request_carries_the_callback_address_as_reply_to():
    envelope = parse_envelope(
        parse_xml(ha.build_charge_posting_request(REQUEST, caller=CALLER, stamp=STAMP))
    )
    assert envelope.addressing.reply_to == "https://gw/callback"
    assert envelope.addressing.action == "urn:foliogate:htng-async:1/ChargePosting_SubmitRequest"
    assert envelope.security.matches(Credentials("u", "p"))


def test_request_without_a_callback_address_is_refused():
    with pytest.raises(ValueError, match="htng-async needs caller.reply_to"):
        ha.build_charge_posting_request(REQUEST, caller=Caller(to="https://pms/"), stamp=STAMP)


def test_acknowledgement_and_result_echo_the_correlation_id_and_echo_token():
    ack = ha.acknowledge(REQUEST, NOW)
    assert (ack.correlation_id, ack.echo_token) == ("C-1", "E-1")
    parsed = ha.parse_charge_posting_response(
        parse_xml(ha.build_charge_posting_response(ack, relates_to="urn:uuid:0", stamp=STAMP))
    )
    assert parsed == ack
    result = ha.ChargePostingResultRequest("E-1", "C-1", NOW)
    assert ha.acknowledge(result, NOW) == ha.Acknowledgement("C-1", NOW, "E-1")


def test_a_posting_without_lines_cannot_be_made():
    with pytest.raises(ValueError, match="at least one revenue or payment line"):
        ha.ChargePostingRequest("E", "C", NOW, "H", "R")


def test_a_posting_without_lines_on_the_wire_is_refused_by_parser_and_schema():
    payload = etree.fromstring(
        f'<ChargePostingRQ xmlns="{NS}" EchoToken="E" TimeStamp="2026-11-21T10:04:05Z" '
        'Version="1.0" CorrelationID="C"><Property HotelCode="H"/>'
        '<Posting ReservationID="R"/></ChargePostingRQ>'
    )
    with pytest.raises(MessageError) as caught:
        ha.parse_charge_posting_request(payload)
    assert str(caught.value) == "/ChargePostingRQ/Posting: holds no RevenueLine and no PaymentLine"
    assert ha.xsd_validator().validate_body(payload) == [
        "/ChargePostingRQ/Posting: Missing child element(s). Expected is one of "
        "( RevenueLine, PaymentLine )."
    ]


def test_missing_correlation_id_is_refused_by_parser_and_schema():
    payload = etree.fromstring(
        f'<ChargePostingRQ xmlns="{NS}" EchoToken="E" TimeStamp="2026-11-21T10:04:05Z" '
        'Version="1.0"><Property HotelCode="H"/><Posting ReservationID="R">'
        '<PaymentLine PaymentType="OJ" Amount="1" CurrencyCode="GBP" DecimalPlaces="2" '
        'ReferenceID="x"/></Posting></ChargePostingRQ>'
    )
    with pytest.raises(MessageError, match=r"^/ChargePostingRQ/@CorrelationID: missing$"):
        ha.parse_charge_posting_request(payload)
    assert ha.xsd_validator().validate_body(payload) == [
        "/ChargePostingRQ: The attribute 'CorrelationID' is required but missing."
    ]


def test_line_amount_errors_name_the_line():
    payload = etree.fromstring(
        f'<ChargePostingRQ xmlns="{NS}" EchoToken="E" TimeStamp="2026-11-21T10:04:05Z" '
        'Version="1.0" CorrelationID="C"><Property HotelCode="H"/><Posting ReservationID="R">'
        '<RevenueLine PMSRevenueCode="A" Amount="1" CurrencyCode="GBP" DecimalPlaces="2" '
        'ReferenceID="x"/><RevenueLine PMSRevenueCode="B" Amount="1.5" CurrencyCode="GBP" '
        'DecimalPlaces="2" ReferenceID="y"/></Posting></ChargePostingRQ>'
    )
    with pytest.raises(MessageError) as caught:
        ha.parse_charge_posting_request(payload)
    assert str(caught.value) == (
        "/ChargePostingRQ/Posting/RevenueLine[2]/@Amount: '1.5' is not an integer of minor units"
    )


def test_result_with_neither_success_nor_errors_is_refused():
    payload = etree.fromstring(
        f'<ChargePostingResultRQ xmlns="{NS}" EchoToken="E" TimeStamp="2026-11-21T10:04:05Z" '
        'Version="1.0" CorrelationID="C"/>'
    )
    with pytest.raises(MessageError) as caught:
        ha.parse_charge_posting_result_request(payload)
    assert str(caught.value) == "/ChargePostingResultRQ: holds neither Success nor Errors"


def test_a_failed_result_cannot_list_posted_lines():
    with pytest.raises(ValueError, match="all or nothing"):
        ha.ChargePostingResultRequest(
            "E",
            "C",
            NOW,
            errors=(ha.PostingError("1001", "x"),),
            posted_lines=(ha.PostedLine("r", 1),),
        )


@pytest.mark.parametrize(
    ("codes", "disposition"),
    [
        ((), Disposition.POSTED),
        (("1010",), Disposition.RETRYABLE),
        (("1002",), Disposition.DEFERRED),
        (("1010", "1002"), Disposition.DEFERRED),
        (("1010", "1003"), Disposition.TERMINAL),
        (("X-VENDOR",), Disposition.TERMINAL),
    ],
)
def test_result_disposition_is_the_most_severe_error(codes, disposition):
    result = ha.ChargePostingResultRequest(
        "E", "C", NOW, errors=tuple(ha.PostingError(code, "x") for code in codes)
    )
    assert result.disposition is disposition
    assert result.success is (not codes)


def test_dispatch_reads_either_request():
    callback = ha.ChargePostingResultRequest("E", "C", NOW, posted_lines=())
    data = ha.build_charge_posting_result_request(
        callback, caller=Caller(to="https://gw/callback"), stamp=STAMP, relates_to="urn:uuid:0"
    )
    parsed = ha.parse_request(parse_xml(data))
    assert parsed == callback
    assert ha.operation_of(parsed) is ha.Operation.CHARGE_POSTING_RESULT
    assert ha.operation_of(REQUEST) is ha.Operation.CHARGE_POSTING


def test_soap12_http_headers_carry_the_action():
    action = ha.Operation.CHARGE_POSTING_RESULT.action
    headers = http_headers(ha.SOAP_VERSION, action)
    assert action_from_http(headers["Content-Type"], None) == action
    assert ha.Operation.CHARGE_POSTING.response_action == (
        "urn:foliogate:htng-async:1/ChargePosting_SubmitRequestAck"
    )


def test_error_code_table_covers_every_code():
    assert set(ha.RESULT_CODES) == {code.value for code in ha.ErrorCode}


def test_operations_are_found_by_their_action():
    assert ha.Operation.from_action(ha.Operation.CHARGE_POSTING.action) is (
        ha.Operation.CHARGE_POSTING
    )
    assert ha.Operation.from_action("urn:other") is None


# A/R account payments and the reservation search: zeep (the gateway's client) builds requests
# our XSD accepts and our parsers read back; it reads the answers our simulator writes.

ACCOUNT = ha.AccountPaymentRequest(
    echo_token="E-2",
    correlation_id="C-2",
    timestamp=NOW,
    hotel_code="SEASIDE",
    account_number="AR1001",
    payment_line=ha.PaymentLine("OJ", Money(40000, "GBP", 2), "evt/1"),
    invoice_ids=("A3", "A1"),
)


def _zeep():
    import zeep
    from zeep.transports import Transport

    class Offline(Transport):
        def _load_remote_data(self, url):
            raise AssertionError(f"zeep tried to fetch {url}")

    client = zeep.Client(str(ha.wsdl_path()), transport=Offline())
    return client, client.bind(ha.SERVICE_NAME, ha.PORT_NAME)


def _payload(envelope):
    return next(child for child in envelope.find("{*}Body") if isinstance(child.tag, str))


def test_zeep_builds_an_account_posting_our_schema_accepts_and_our_parser_reads():
    client, service = _zeep()
    line = {"PaymentType": "OJ", "Amount": 40000, "CurrencyCode": "GBP", "DecimalPlaces": 2}
    envelope = client.create_message(
        service,
        "ChargePosting",
        EchoToken="E-2",
        TimeStamp=NOW,
        Version="1.0",
        CorrelationID="C-2",
        Property={"HotelCode": "SEASIDE"},
        AccountPosting={
            "AccountNumber": "AR1001",
            "PaymentLine": {**line, "ReferenceID": "evt/1"},
            "InvoiceRef": [{"InvoiceID": "A3"}, {"InvoiceID": "A1"}],
        },
    )
    assert ha.xsd_validator().validate_body(_payload(envelope)) == []
    assert ha.parse_charge_posting_request(envelope) == ACCOUNT
    assert parse_envelope(envelope).addressing.action == ha.Operation.CHARGE_POSTING.action


def test_zeep_builds_a_reservation_search_our_schema_accepts_and_our_parser_reads():
    client, service = _zeep()
    envelope = client.create_message(
        service,
        "ReservationSearch",
        EchoToken="S-1",
        TimeStamp=NOW,
        Version="1.0",
        Property={"HotelCode": "SEASIDE"},
        SelectionCriteria={"GuestName": "Doe", "ArrivalDate": dt.date(2026, 11, 27)},
    )
    assert ha.xsd_validator().validate_body(_payload(envelope)) == []
    assert ha.parse_reservation_search_request(envelope) == ha.ReservationSearchRequest(
        "S-1", NOW, "SEASIDE", guest_name="Doe", arrival=dt.date(2026, 11, 27)
    )
    assert parse_envelope(envelope).addressing.action == ha.Operation.RESERVATION_SEARCH.action


@pytest.mark.parametrize(
    "response",
    [
        ha.ReservationSearchResponse(
            "S-1",
            NOW,
            (
                ha.HotelReservation(
                    "123456",
                    "Doe, Jane",
                    dt.date(2026, 11, 27),
                    dt.date(2026, 11, 29),
                    ha.ReservationStatus.IN_HOUSE,
                    room="101",
                    balance=Money(-2500, "GBP", 2),
                ),
            ),
        ),
        ha.ReservationSearchResponse("S-1", NOW),
        ha.ReservationSearchResponse("S-1", NOW, errors=(ha.PostingError("1013", "no"),)),
    ],
    ids=["found", "none", "errors"],
)
def test_zeep_reads_every_search_answer_our_simulator_writes(response):
    client, service = _zeep()
    binding = service._binding
    data = ha.build_reservation_search_response(response, relates_to="urn:uuid:1", stamp=STAMP)
    result = binding.get("ReservationSearch").process_reply(parse_xml(data))
    assert result.EchoToken == "S-1"
    found = getattr(result, "ReservationsList", None)
    errors = getattr(result, "Errors", None)
    if response.reservations:
        (reservation,) = found.HotelReservation
        assert (reservation.ReservationID, reservation.RoomNumber) == ("123456", "101")
        assert (reservation.Balance.Amount, reservation.Balance.CurrencyCode) == (-2500, "GBP")
    else:
        assert found is None
    if response.errors:
        assert [(e.Code, e._value_1) for e in errors.Error] == [("1013", "no")]
    else:
        assert errors is None


def test_an_account_posting_without_a_payment_line_is_refused_by_parser_and_schema():
    data = ha.build_account_payment_request(ACCOUNT, caller=CALLER, stamp=STAMP)
    root = parse_xml(data)
    payload = parse_envelope(root).payload
    account = payload.find(f"{{{NS}}}AccountPosting")
    account.remove(account.find(f"{{{NS}}}PaymentLine"))
    assert ha.xsd_validator().validate_body(payload) != []
    with pytest.raises(MessageError, match="PaymentLine"):
        ha.parse_charge_posting_request(payload)


def test_a_search_answer_with_neither_success_nor_errors_is_refused():
    data = ha.build_reservation_search_response(
        ha.ReservationSearchResponse("S-1", NOW), relates_to=None, stamp=STAMP
    )
    payload = parse_envelope(parse_xml(data)).payload
    payload.remove(payload.find(f"{{{NS}}}Success"))
    with pytest.raises(MessageError, match="neither Success nor Errors"):
        ha.parse_reservation_search_response(payload)


def test_search_and_account_records_refuse_contradictions():
    with pytest.raises(ValueError):
        ha.ReservationSearchResponse(
            "S-1",
            NOW,
            (ha.HotelReservation("1", "A", NOW.date(), NOW.date(), ha.ReservationStatus.RESERVED),),
            (ha.PostingError("1099", "x"),),
        )
    allocation = ha.AccountAllocation("AR1001", (), Money(0, "GBP", 2))
    with pytest.raises(ValueError):
        ha.ChargePostingResultRequest(
            "E", "C", NOW, errors=(ha.PostingError("1012", "x"),), allocation=allocation
        )
    assert not ha.ReservationSearchRequest("S", NOW, "H").has_criteria
    assert ha.operation_of(ACCOUNT) is ha.Operation.CHARGE_POSTING
    assert ha.operation_of(ha.ReservationSearchRequest("S", NOW, "H", guest_name="x")) is (
        ha.Operation.RESERVATION_SEARCH
    )
