"""zeep 4.3 (the gateway's future client) loads each profile's WSDL offline; every request
zeep builds validates against our XSD and parses to the record our own builder would send; and
zeep reads the responses and faults our simulators will answer with."""

import datetime as dt
import decimal
import socket

import pytest
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport

from protocols.htng import htng_async as ha
from protocols.htng import opera_htng as oh
from protocols.htng import rezlynx as rz
from protocols.htng.money import Money
from protocols.soap import (
    Fault,
    FaultCode,
    SoapVersion,
    Stamp,
    build_fault_envelope,
    parse_envelope,
)

NOW = dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC)
STAMP = Stamp("urn:uuid:00000000-0000-4000-8000-000000000002", NOW)


class OfflineTransport(Transport):
    """A zeep transport that fails the test on any attempt to use the network."""

    def _load_remote_data(self, url):
        raise AssertionError(f"zeep tried to fetch {url}")

    def post(self, address, message, headers):
        raise AssertionError(f"zeep tried to POST to {address}")

    def get(self, address, params, headers):
        raise AssertionError(f"zeep tried to GET {address}")


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _client(module):
    return zeep.Client(str(module.wsdl_path()), transport=OfflineTransport())


class ZeepReply:
    """What zeep's binding.process_reply reads from an HTTP response."""

    def __init__(self, content, status_code=200):
        self.status_code = status_code
        self.headers = {"Content-Type": "text/xml; charset=utf-8"}
        self.content = content
        self.encoding = "utf-8"


def _payload(envelope, namespace):
    body = envelope.find("{*}Body")
    assert body is not None
    (payload,) = [child for child in body if etree.QName(child).namespace == namespace]
    return payload


AMOUNT = {"_value_1": -5000, "currencyCode": "GBP", "decimals": 2}

OPERA_CASES = [
    (
        "PostCharge",
        dict(
            ReservationID="123456",
            FolioWindow=1,
            TransactionCode="SPA_DEPOSIT",
            Amount=AMOUNT,
            Reference="evt_1/1",
            BusinessDate=dt.date(2026, 11, 29),
        ),
        oh.parse_post_charge_request,
        oh.PostChargeRequest(
            "123456",
            "SPA_DEPOSIT",
            Money(-5000, "GBP", 2),
            "evt_1/1",
            business_date=dt.date(2026, 11, 29),
        ),
    ),
    (
        "PostPayment",
        dict(
            ReservationID="123456",
            PaymentType="ONEJOURNEY",
            Amount={"_value_1": 5000, "currencyCode": "GBP", "decimals": 2},
            Reference="evt_1/0",
            Description="Online payment",
        ),
        oh.parse_post_payment_request,
        oh.PostPaymentRequest(
            "123456", "ONEJOURNEY", Money(5000, "GBP", 2), "evt_1/0", description="Online payment"
        ),
    ),
    (
        "FetchFolio",
        dict(ReservationID="123456"),
        oh.parse_fetch_folio_request,
        oh.FetchFolioRequest("123456"),
    ),
    (
        "SearchReservations",
        dict(GuestName="Doe", DepartureDate=dt.date(2026, 11, 29)),
        oh.parse_search_reservations_request,
        oh.SearchReservationsRequest(guest_name="Doe", departure_date=dt.date(2026, 11, 29)),
    ),
    (
        "PostAccountPayment",
        dict(
            AccountNumber="AR1001",
            PaymentType="ONEJOURNEY",
            Amount={"_value_1": 40000, "currencyCode": "GBP", "decimals": 2},
            Reference="evt_7/0",
            InvoiceID=["A3", "A1"],
        ),
        oh.parse_post_account_payment_request,
        oh.PostAccountPaymentRequest(
            "AR1001", "ONEJOURNEY", Money(40000, "GBP", 2), "evt_7/0", invoice_ids=("A3", "A1")
        ),
    ),
]


@pytest.mark.parametrize(("operation", "kwargs", "parse", "record"), OPERA_CASES)
def test_opera_htng_zeep_requests_validate_and_parse(operation, kwargs, parse, record):
    client = _client(oh)
    service = client.bind(oh.SERVICE_NAME, oh.PORT_NAME)
    envelope = client.create_message(service, operation, **kwargs)
    payload = _payload(envelope, oh.NAMESPACE)
    assert oh.xsd_validator().validate_body(payload) == []
    assert parse(envelope) == record
    assert service._binding.get(operation).soapaction == oh.Operation(operation).action


def test_opera_htng_zeep_reads_our_responses():
    client = _client(oh)
    binding = client.bind(oh.SERVICE_NAME, oh.PORT_NAME)._binding
    ok = oh.build_post_charge_response(
        oh.PostChargeResponse(oh.Result.success(), 700123), relates_to="urn:uuid:1", stamp=STAMP
    )
    result = binding.process_reply(client, binding.get("PostCharge"), ZeepReply(ok))
    assert result.Result.resultStatusFlag == "SUCCESS"
    assert result.TransactionNumber == 700123
    folio = oh.build_fetch_folio_response(
        oh.FetchFolioResponse(
            oh.Result.success(),
            oh.Folio(
                "123456",
                (
                    oh.FolioLine(
                        1, 1, oh.LineKind.CHARGE, "SPA", Money(5000, "GBP", 2), dt.date(2026, 1, 1)
                    ),
                ),
                Money(5000, "GBP", 2),
            ),
        ),
        relates_to=None,
        stamp=STAMP,
    )
    result = binding.process_reply(client, binding.get("FetchFolio"), ZeepReply(folio))
    assert result.Folio.Balance._value_1 == 5000
    assert result.Folio.Line[0].Code == "SPA"


RZ_CASES = [
    (
        "LogIn",
        dict(SiteID="GRAND01", OperatorCode="FOLIOGATE", Password="pw"),
        rz.parse_log_in_request,
        rz.LogInRequest("GRAND01", "FOLIOGATE", "pw"),
    ),
    (
        "PostToRoom",
        dict(
            SessionID="S1",
            BookingRef="BK1/1",
            SalesAnalysisCode="SPA",
            GrossTotal=decimal.Decimal("50.00"),
            Reference="evt_1/2",
        ),
        lambda root: rz.parse_post_to_room_request(root, decimals=2),
        rz.PostToRoomRequest("S1", "BK1/1", "SPA", 5000, "evt_1/2"),
    ),
    (
        "AddDeposit",
        dict(
            SessionID="S1",
            BookingRef="BK1/1",
            PaymentCode="OJ",
            Amount=decimal.Decimal("50"),
            Reference="evt_1/0",
        ),
        lambda root: rz.parse_add_deposit_request(root, decimals=2),
        rz.AddDepositRequest("S1", "BK1/1", "OJ", 5000, "evt_1/0"),
    ),
    (
        "AddPayment",
        dict(
            SessionID="S1",
            BookingRef="BK1/1",
            FolioID=1,
            PaymentCode="OJ",
            Amount=decimal.Decimal("-0.05"),
            Reference="evt_1/9",
        ),
        lambda root: rz.parse_add_payment_request(root, decimals=2),
        rz.AddPaymentRequest("S1", "BK1/1", "OJ", -5, "evt_1/9"),
    ),
    (
        "GetFolio",
        dict(SessionID="S1", BookingRef="BK1/1", FolioID=2),
        rz.parse_get_folio_request,
        rz.GetFolioRequest("S1", "BK1/1", 2),
    ),
    (
        "SearchBookings",
        dict(SessionID="S1", ArrivalDate=dt.date(2026, 11, 27)),
        rz.parse_search_bookings_request,
        rz.SearchBookingsRequest("S1", arrival_date=dt.date(2026, 11, 27)),
    ),
]


@pytest.mark.parametrize(("operation", "kwargs", "parse", "record"), RZ_CASES)
def test_rezlynx_zeep_requests_validate_and_parse(operation, kwargs, parse, record):
    client = _client(rz)
    service = client.bind(rz.SERVICE_NAME, rz.PORT_NAME)
    envelope = client.create_message(service, operation, **kwargs)
    assert rz.xsd_validator().validate_body(_payload(envelope, rz.NAMESPACE)) == []
    assert parse(envelope) == record
    assert service._binding.get(operation).soapaction == rz.Operation(operation).action


def test_rezlynx_zeep_reads_our_responses():
    client = _client(rz)
    binding = client.bind(rz.SERVICE_NAME, rz.PORT_NAME)._binding
    login = rz.build_log_in_response(rz.LogInResponse(rz.CallResult.success(), "S1"))
    result = binding.process_reply(client, binding.get("LogIn"), ZeepReply(login))
    assert (result.LogInResult.ExceptionCode, result.SessionID) == (0, "S1")
    expired = rz.build_post_to_room_response(
        rz.PostToRoomResponse(
            rz.CallResult.failure(rz.ExceptionCode.SESSION_EXPIRED, "Session has expired")
        )
    )
    result = binding.process_reply(client, binding.get("PostToRoom"), ZeepReply(expired))
    assert result.PostToRoomResult.ExceptionCode == 7007


TIMESTAMP = dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC)
LINE = {"Amount": 5000, "CurrencyCode": "GBP", "DecimalPlaces": 2}


def test_htng_async_zeep_charge_posting_validates_and_parses():
    client = _client(ha)
    service = client.bind(ha.SERVICE_NAME, ha.PORT_NAME)
    envelope = client.create_message(
        service,
        "ChargePosting",
        EchoToken="E1",
        TimeStamp=TIMESTAMP,
        Version="1.0",
        CorrelationID="C1",
        Property={"HotelCode": "SEASIDE"},
        Posting={
            "ReservationID": "HP-1",
            "RevenueLine": [{"PMSRevenueCode": "SPA", "ReferenceID": "e/0", **LINE}],
            "PaymentLine": [{"PaymentType": "OJ", "ReferenceID": "e/0p", **LINE}],
        },
    )
    assert ha.xsd_validator().validate_body(_payload(envelope, ha.NAMESPACE)) == []
    assert ha.parse_charge_posting_request(envelope) == ha.ChargePostingRequest(
        echo_token="E1",
        correlation_id="C1",
        timestamp=TIMESTAMP,
        hotel_code="SEASIDE",
        reservation_id="HP-1",
        revenue_lines=(ha.RevenueLine("SPA", Money(5000, "GBP", 2), "e/0"),),
        payment_lines=(ha.PaymentLine("OJ", Money(5000, "GBP", 2), "e/0p"),),
    )
    # The WSDL declares wsam:Action, so zeep adds WS-Addressing 2005/08 by itself.
    addressing = parse_envelope(envelope).addressing
    assert addressing.version is ha.WSA_VERSION
    assert addressing.action == ha.Operation.CHARGE_POSTING.action


@pytest.mark.parametrize(
    ("kwargs", "record"),
    [
        (
            dict(Success={}, PostedLine=[{"ReferenceID": "e/0", "TransactionNumber": 7}]),
            ha.ChargePostingResultRequest(
                "E1", "C1", TIMESTAMP, posted_lines=(ha.PostedLine("e/0", 7),)
            ),
        ),
        (
            dict(Errors={"Error": [{"_value_1": "nope", "Type": "BusinessRule", "Code": "1001"}]}),
            ha.ChargePostingResultRequest(
                "E1", "C1", TIMESTAMP, errors=(ha.PostingError("1001", "nope"),)
            ),
        ),
    ],
)
def test_htng_async_zeep_result_callback_validates_and_parses(kwargs, record):
    client = _client(ha)
    service = client.bind(ha.RESULT_SERVICE_NAME, ha.RESULT_PORT_NAME)
    envelope = client.create_message(
        service,
        "ChargePostingResult",
        EchoToken="E1",
        TimeStamp=TIMESTAMP,
        Version="1.0",
        CorrelationID="C1",
        **kwargs,
    )
    assert ha.xsd_validator().validate_body(_payload(envelope, ha.NAMESPACE)) == []
    assert ha.parse_charge_posting_result_request(envelope) == record


def test_htng_async_zeep_reads_our_acknowledgement():
    client = _client(ha)
    binding = client.bind(ha.SERVICE_NAME, ha.PORT_NAME)._binding
    ack = ha.build_charge_posting_response(
        ha.Acknowledgement("C1", TIMESTAMP, "E1"), relates_to="urn:uuid:1", stamp=STAMP
    )
    reply = ZeepReply(ack)
    reply.headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
    result = binding.process_reply(client, binding.get("ChargePosting"), reply)
    assert (result.CorrelationID, result.EchoToken) == ("C1", "E1")


@pytest.mark.parametrize(
    ("module", "version", "operation"),
    [(oh, SoapVersion.SOAP11, "PostCharge"), (ha, SoapVersion.SOAP12, "ChargePosting")],
)
def test_zeep_raises_our_faults_with_code_and_reason(module, version, operation):
    client = _client(module)
    binding = client.bind(module.SERVICE_NAME, module.PORT_NAME)._binding
    data = build_fault_envelope(
        Fault(FaultCode.SENDER, "Authentication failed", "FailedAuthentication"), version
    )
    with pytest.raises(zeep.exceptions.Fault) as caught:
        binding.process_reply(client, binding.get(operation), ZeepReply(data, 500))
    assert caught.value.message == "Authentication failed"
    expected = "soap:Client.FailedAuthentication" if version is SoapVersion.SOAP11 else "env:Sender"
    assert caught.value.code == expected
