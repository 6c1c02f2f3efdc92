"""Golden envelopes: every request and response of every profile, built with an injected clock
and MessageIDs, matches the stored file byte for byte (pretty-printed), validates against the
profile's own XSD, and parses back to the record it was built from.

Files live in tests/golden/soap/<profile>/<case>.xml. After a deliberate wire change, rewrite
them with ``FOLIOGATE_UPDATE_GOLDEN=1 pytest tests/test_htng_golden.py`` and review the diff.
"""

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from protocols.htng import htng_async as ha
from protocols.htng import opera_htng as oh
from protocols.htng import rezlynx as rz
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
    parse_fault,
    parse_xml,
)

GOLDEN = Path(__file__).parent / "golden" / "soap"
UPDATE = os.environ.get("FOLIOGATE_UPDATE_GOLDEN") == "1"

NOW = dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(seconds=1)
REQUEST_ID = "urn:uuid:00000000-0000-4000-8000-000000000001"
RESPONSE_ID = "urn:uuid:00000000-0000-4000-8000-000000000002"
REQUEST_STAMP = Stamp(REQUEST_ID, NOW)
RESPONSE_STAMP = Stamp(RESPONSE_ID, LATER)
GBP = "GBP"

OPERA_CALLER = Caller(
    to="https://pms.grand-london.example/opera-htng",
    credentials=Credentials("FOLIOGATE", "opera-secret"),
    from_address="urn:foliogate:GRAND-LONDON",
)
ASYNC_CALLER = Caller(
    to="https://hotelperfect.example/htng",
    credentials=Credentials("FOLIOGATE", "hp-secret"),
    from_address="urn:foliogate:SEASIDE",
    reply_to="https://gateway.example/callbacks/htng-async/SEASIDE",
)
CALLBACK_CALLER = Caller(
    to="https://gateway.example/callbacks/htng-async/SEASIDE",
    credentials=Credentials("HOTELPERFECT", "callback-secret"),
    from_address="urn:hotelperfect:SEASIDE",
)


@dataclass(frozen=True)
class Case:
    profile: str
    name: str
    build: Callable[[], bytes]
    parse: Callable[[Any], Any]
    record: Any
    validator: Callable[[], Any] | None

    @property
    def id(self) -> str:
        return f"{self.profile}/{self.name}"


CASES: list[Case] = []


def case(profile, name, build, parse, record, validator):
    CASES.append(Case(profile, name, build, parse, record, validator))


# opera-htng

o_charge = oh.PostChargeRequest(
    reservation_id="123456",
    transaction_code="SPA_DEPOSIT",
    amount=Money(-5000, GBP, 2),
    reference="evt_7f3a9c/1",
    folio_window=1,
    business_date=dt.date(2026, 11, 29),
    description="Spa deposit redeemed (negative sale)",
)
o_charge_ok = oh.PostChargeResponse(oh.Result.success(), transaction_number=700123)
o_charge_fail = oh.PostChargeResponse(
    oh.Result.fail(
        oh.ErrorCode.NOT_IN_HOUSE.value, "Reservation 123456 is not checked in (arrives 2026-11-27)"
    )
)
o_payment = oh.PostPaymentRequest(
    reservation_id="123456",
    payment_type="ONEJOURNEY",
    amount=Money(5000, GBP, 2),
    reference="evt_7f3a9c/0",
)
o_payment_ok = oh.PostPaymentResponse(oh.Result.success(), transaction_number=700124)
o_folio_req = oh.FetchFolioRequest("123456", folio_window=1)
o_folio = oh.FetchFolioResponse(
    oh.Result.success(),
    oh.Folio(
        reservation_id="123456",
        lines=(
            oh.FolioLine(
                700123,
                1,
                oh.LineKind.CHARGE,
                "SPA_DEPOSIT",
                Money(5000, GBP, 2),
                dt.date(2026, 11, 21),
                "evt_7f3a9c/0",
                "Spa Deposit",
            ),
            oh.FolioLine(
                700124,
                1,
                oh.LineKind.PAYMENT,
                "ONEJOURNEY",
                Money(-5000, GBP, 2),
                dt.date(2026, 11, 21),
                "evt_7f3a9c/0",
            ),
        ),
        balance=Money(0, GBP, 2),
    ),
)
o_folio_fail = oh.FetchFolioResponse(
    oh.Result.fail(oh.ErrorCode.RESERVATION_NOT_FOUND.value, "No reservation 999")
)
o_search = oh.SearchReservationsRequest(guest_name="Doe", arrival_date=dt.date(2026, 11, 27))
o_found = oh.SearchReservationsResponse(
    oh.Result.success(),
    (
        oh.ReservationSummary(
            "123456",
            "CONF-88231",
            "Doe, Jane",
            dt.date(2026, 11, 27),
            dt.date(2026, 11, 29),
            oh.ReservationStatus.RESERVED,
        ),
        oh.ReservationSummary(
            "123457",
            "CONF-88232",
            "Doe, John",
            dt.date(2026, 11, 27),
            dt.date(2026, 11, 28),
            oh.ReservationStatus.IN_HOUSE,
            room="204",
        ),
    ),
)
o_account = oh.PostAccountPaymentRequest(
    "AR1001",
    "ONEJOURNEY",
    Money(40000, GBP, 2),
    "evt_7/0",
    invoice_ids=("A3", "A1"),
    business_date=dt.date(2026, 11, 27),
    description="Invoice settlement",
)
o_account_ok = oh.PostAccountPaymentResponse(
    oh.Result.success("posted to A/R account AR1001"),
    transaction_number=700125,
    allocations=(
        oh.InvoiceAllocation("A3", Money(15000, GBP, 2)),
        oh.InvoiceAllocation("A1", Money(25000, GBP, 2)),
    ),
    prepaid=Money(0, GBP, 2),
)

for name, record, build, parse in [
    ("post_charge_request", o_charge, oh.build_post_charge_request, oh.parse_post_charge_request),
    (
        "post_payment_request",
        o_payment,
        oh.build_post_payment_request,
        oh.parse_post_payment_request,
    ),
    (
        "fetch_folio_request",
        o_folio_req,
        oh.build_fetch_folio_request,
        oh.parse_fetch_folio_request,
    ),
    (
        "search_reservations_request",
        o_search,
        oh.build_search_reservations_request,
        oh.parse_search_reservations_request,
    ),
    (
        "post_account_payment_request",
        o_account,
        oh.build_post_account_payment_request,
        oh.parse_post_account_payment_request,
    ),
]:
    case(
        "opera-htng",
        name,
        lambda record=record, build=build: build(record, caller=OPERA_CALLER, stamp=REQUEST_STAMP),
        parse,
        record,
        oh.xsd_validator,
    )

for name, record, build, parse in [
    (
        "post_charge_response",
        o_charge_ok,
        oh.build_post_charge_response,
        oh.parse_post_charge_response,
    ),
    (
        "post_charge_response_not_in_house",
        o_charge_fail,
        oh.build_post_charge_response,
        oh.parse_post_charge_response,
    ),
    (
        "post_payment_response",
        o_payment_ok,
        oh.build_post_payment_response,
        oh.parse_post_payment_response,
    ),
    ("fetch_folio_response", o_folio, oh.build_fetch_folio_response, oh.parse_fetch_folio_response),
    (
        "fetch_folio_response_not_found",
        o_folio_fail,
        oh.build_fetch_folio_response,
        oh.parse_fetch_folio_response,
    ),
    (
        "search_reservations_response",
        o_found,
        oh.build_search_reservations_response,
        oh.parse_search_reservations_response,
    ),
    (
        "post_account_payment_response",
        o_account_ok,
        oh.build_post_account_payment_response,
        oh.parse_post_account_payment_response,
    ),
]:
    case(
        "opera-htng",
        name,
        lambda record=record, build=build: build(
            record, relates_to=REQUEST_ID, stamp=RESPONSE_STAMP
        ),
        parse,
        record,
        oh.xsd_validator,
    )


# rezlynx (site currency GBP: 2 decimal places)

SESSION = "6f1c2a9e-55b1-4c1e-9a38-0d1f5b7e2c44"
r_login = rz.LogInRequest("GRAND01", "FOLIOGATE", "rlx-secret", interface_id="PAYGW")
r_login_ok = rz.LogInResponse(rz.CallResult.success(), SESSION)
r_login_fail = rz.LogInResponse(
    rz.CallResult.failure(rz.ExceptionCode.LOGIN_FAILED, "Invalid operator or password")
)
r_post = rz.PostToRoomRequest(
    SESSION, "BK000054/1", "SPA", 5000, "evt_7f3a9c/2", description="Massage 60"
)
r_post_ok = rz.PostToRoomResponse(rz.CallResult.success(), transaction_id=88001)
r_post_expired = rz.PostToRoomResponse(
    rz.CallResult.failure(rz.ExceptionCode.SESSION_EXPIRED, "Session has expired")
)
r_deposit = rz.AddDepositRequest(SESSION, "BK000054/1", "OJ", 5000, "evt_7f3a9c/0")
r_deposit_ok = rz.AddDepositResponse(rz.CallResult.success(), transaction_id=88002)
r_payment = rz.AddPaymentRequest(SESSION, "BK000054/1", "OJ", -1250, "evt_9d1e/0", folio_id=2)
r_payment_fail = rz.AddPaymentResponse(
    rz.CallResult.failure(rz.ExceptionCode.UNKNOWN_PAYMENT_CODE, "Payment code 'OJ' not found")
)
r_folio_req = rz.GetFolioRequest(SESSION, "BK000054/1")
r_folio = rz.GetFolioResponse(
    rz.CallResult.success(),
    rz.Folio(
        "BK000054/1",
        (
            rz.FolioTransaction(
                88002,
                1,
                rz.TransactionType.DEPOSIT,
                "OJ",
                -5000,
                dt.date(2026, 11, 21),
                "evt_7f3a9c/0",
            ),
            rz.FolioTransaction(
                88001,
                1,
                rz.TransactionType.CHARGE,
                "SPA",
                5000,
                dt.date(2026, 11, 28),
                "evt_7f3a9c/2",
                "Massage 60",
            ),
        ),
        0,
    ),
)
r_search = rz.SearchBookingsRequest(SESSION, guest_name="Doe")
r_found = rz.SearchBookingsResponse(
    rz.CallResult.success(),
    (
        rz.BookingSummary(
            "BK000054/1",
            "Jane Doe",
            dt.date(2026, 11, 27),
            dt.date(2026, 11, 29),
            rz.BookingStatus.RESIDENT,
            "204",
        ),
    ),
)

r_account = rz.AddAccountPaymentRequest(
    SESSION,
    "AR1001",
    "OJ",
    50000,
    "evt_7/0",
    invoice_refs=("A3", "A1"),
    currency=GBP,
    description="Invoice settlement",
)
r_account_ok = rz.AddAccountPaymentResponse(
    rz.CallResult.success(),
    transaction_id=88003,
    allocations=(rz.InvoiceAllocation("A3", 15000), rz.InvoiceAllocation("A1", 30000)),
    prepaid=5000,
)
r_account_unknown = rz.AddAccountPaymentResponse(
    rz.CallResult.failure(rz.ExceptionCode.ACCOUNT_NOT_FOUND, "no A/R account AR9999")
)

for name, record, build, parse in [
    ("log_in_request", r_login, rz.build_log_in_request, rz.parse_log_in_request),
    ("log_in_response", r_login_ok, rz.build_log_in_response, rz.parse_log_in_response),
    ("log_in_response_failed", r_login_fail, rz.build_log_in_response, rz.parse_log_in_response),
    (
        "post_to_room_response",
        r_post_ok,
        rz.build_post_to_room_response,
        rz.parse_post_to_room_response,
    ),
    (
        "post_to_room_response_session_expired",
        r_post_expired,
        rz.build_post_to_room_response,
        rz.parse_post_to_room_response,
    ),
    (
        "add_deposit_response",
        r_deposit_ok,
        rz.build_add_deposit_response,
        rz.parse_add_deposit_response,
    ),
    (
        "add_payment_response_unknown_code",
        r_payment_fail,
        rz.build_add_payment_response,
        rz.parse_add_payment_response,
    ),
    ("get_folio_request", r_folio_req, rz.build_get_folio_request, rz.parse_get_folio_request),
    (
        "search_bookings_request",
        r_search,
        rz.build_search_bookings_request,
        rz.parse_search_bookings_request,
    ),
    (
        "search_bookings_response",
        r_found,
        rz.build_search_bookings_response,
        rz.parse_search_bookings_response,
    ),
]:
    case(
        "rezlynx",
        name,
        lambda record=record, build=build: build(record),
        parse,
        record,
        rz.xsd_validator,
    )

for name, record, build, parse in [
    ("post_to_room_request", r_post, rz.build_post_to_room_request, rz.parse_post_to_room_request),
    (
        "add_deposit_request",
        r_deposit,
        rz.build_add_deposit_request,
        rz.parse_add_deposit_request,
    ),
    (
        "add_payment_request",
        r_payment,
        rz.build_add_payment_request,
        rz.parse_add_payment_request,
    ),
    ("get_folio_response", r_folio, rz.build_get_folio_response, rz.parse_get_folio_response),
    (
        "add_account_payment_request",
        r_account,
        rz.build_add_account_payment_request,
        rz.parse_add_account_payment_request,
    ),
    (
        "add_account_payment_response",
        r_account_ok,
        rz.build_add_account_payment_response,
        rz.parse_add_account_payment_response,
    ),
    (
        "add_account_payment_response_account_not_found",
        r_account_unknown,
        rz.build_add_account_payment_response,
        rz.parse_add_account_payment_response,
    ),
]:
    case(
        "rezlynx",
        name,
        lambda record=record, build=build: build(record, decimals=2),
        lambda root, parse=parse: parse(root, decimals=2),
        record,
        rz.xsd_validator,
    )


# htng-async

a_posting = ha.ChargePostingRequest(
    echo_token="evt_7f3a9c-3",
    correlation_id="SEASIDE-evt_7f3a9c-3",
    timestamp=NOW,
    hotel_code="SEASIDE",
    reservation_id="HP-4471",
    revenue_lines=(
        ha.RevenueLine("SPA_TREAT", Money(5000, GBP, 2), "evt_7f3a9c/3", "Massage 60"),
        ha.RevenueLine("SPA_DEPOSIT", Money(-5000, GBP, 2), "evt_7f3a9c/4"),
    ),
    business_date=dt.date(2026, 11, 29),
)
a_deposit = ha.ChargePostingRequest(
    echo_token="evt_7f3a9c-0",
    correlation_id="SEASIDE-evt_7f3a9c-0",
    timestamp=NOW,
    hotel_code="SEASIDE",
    reservation_id="HP-4471",
    revenue_lines=(ha.RevenueLine("SPA_DEPOSIT", Money(5000, GBP, 2), "evt_7f3a9c/0"),),
    payment_lines=(ha.PaymentLine("ONEJOURNEY", Money(5000, GBP, 2), "evt_7f3a9c/0p"),),
)
a_ack = ha.acknowledge(a_posting, LATER)
a_result_ok = ha.ChargePostingResultRequest(
    echo_token="evt_7f3a9c-3",
    correlation_id="SEASIDE-evt_7f3a9c-3",
    timestamp=NOW + dt.timedelta(seconds=30),
    posted_lines=(ha.PostedLine("evt_7f3a9c/3", 55101), ha.PostedLine("evt_7f3a9c/4", 55102)),
)
a_result_errors = ha.ChargePostingResultRequest(
    echo_token="evt_7f3a9c-3",
    correlation_id="SEASIDE-evt_7f3a9c-3",
    timestamp=NOW + dt.timedelta(seconds=30),
    errors=(
        ha.PostingError(
            ha.ErrorCode.UNKNOWN_REVENUE_CODE.value,
            "Revenue code 'SPA_TREAT' is not defined",
            reference="evt_7f3a9c/3",
        ),
    ),
)
a_result_ack = ha.acknowledge(a_result_ok, NOW + dt.timedelta(seconds=31))

case(
    "htng-async",
    "charge_posting_request",
    lambda: ha.build_charge_posting_request(a_posting, caller=ASYNC_CALLER, stamp=REQUEST_STAMP),
    ha.parse_charge_posting_request,
    a_posting,
    ha.xsd_validator,
)
case(
    "htng-async",
    "charge_posting_request_deposit",
    lambda: ha.build_charge_posting_request(a_deposit, caller=ASYNC_CALLER, stamp=REQUEST_STAMP),
    ha.parse_charge_posting_request,
    a_deposit,
    ha.xsd_validator,
)
case(
    "htng-async",
    "charge_posting_response",
    lambda: ha.build_charge_posting_response(a_ack, relates_to=REQUEST_ID, stamp=RESPONSE_STAMP),
    ha.parse_charge_posting_response,
    a_ack,
    ha.xsd_validator,
)
for name, record in [
    ("charge_posting_result_request", a_result_ok),
    ("charge_posting_result_request_errors", a_result_errors),
]:
    case(
        "htng-async",
        name,
        lambda record=record: ha.build_charge_posting_result_request(
            record,
            caller=CALLBACK_CALLER,
            stamp=Stamp("urn:uuid:00000000-0000-4000-8000-000000000003", record.timestamp),
            relates_to=REQUEST_ID,
        ),
        ha.parse_charge_posting_result_request,
        record,
        ha.xsd_validator,
    )
case(
    "htng-async",
    "charge_posting_result_response",
    lambda: ha.build_charge_posting_result_response(
        a_result_ack,
        relates_to="urn:uuid:00000000-0000-4000-8000-000000000003",
        stamp=Stamp("urn:uuid:00000000-0000-4000-8000-000000000004", a_result_ack.timestamp),
    ),
    ha.parse_charge_posting_result_response,
    a_result_ack,
    ha.xsd_validator,
)


# htng-async: an A/R account payment (the same ChargePostingRQ, AccountPosting) and its result
a_account = ha.AccountPaymentRequest(
    echo_token="evt_ar77-0",
    correlation_id="evt_ar77-0",
    timestamp=NOW,
    hotel_code="SEASIDE",
    account_number="AR1001",
    payment_line=ha.PaymentLine("ONEJOURNEY", Money(40000, GBP, 2), "evt_ar77/0", "Invoices"),
    invoice_ids=("A3", "A1"),
    business_date=dt.date(2026, 11, 21),
)
a_account_ok = ha.ChargePostingResultRequest(
    echo_token="evt_ar77-0",
    correlation_id="evt_ar77-0",
    timestamp=NOW + dt.timedelta(seconds=30),
    posted_lines=(ha.PostedLine("evt_ar77/0", 55201),),
    allocation=ha.AccountAllocation(
        "AR1001",
        (
            ha.InvoiceAllocation("A3", Money(15000, GBP, 2)),
            ha.InvoiceAllocation("A1", Money(25000, GBP, 2)),
        ),
        prepaid=Money(0, GBP, 2),
    ),
)
a_account_unknown = ha.ChargePostingResultRequest(
    echo_token="evt_ar77-0",
    correlation_id="evt_ar77-0",
    timestamp=NOW + dt.timedelta(seconds=30),
    errors=(
        ha.PostingError(
            ha.ErrorCode.ACCOUNT_NOT_FOUND.value, "no A/R account AR9999", reference="evt_ar77/0"
        ),
    ),
)
case(
    "htng-async",
    "charge_posting_request_account",
    lambda: ha.build_account_payment_request(a_account, caller=ASYNC_CALLER, stamp=REQUEST_STAMP),
    ha.parse_charge_posting_request,
    a_account,
    ha.xsd_validator,
)
for name, record in [
    ("charge_posting_result_request_account", a_account_ok),
    ("charge_posting_result_request_account_not_found", a_account_unknown),
]:
    case(
        "htng-async",
        name,
        lambda record=record: ha.build_charge_posting_result_request(
            record,
            caller=CALLBACK_CALLER,
            stamp=Stamp("urn:uuid:00000000-0000-4000-8000-000000000003", record.timestamp),
            relates_to=REQUEST_ID,
        ),
        ha.parse_charge_posting_result_request,
        record,
        ha.xsd_validator,
    )

# htng-async: the synchronous reservation search (ReplyTo anonymous: the answer comes back)
SEARCH_CALLER = Caller(
    to="https://hotelperfect.example/htng",
    credentials=Credentials("FOLIOGATE", "hp-secret"),
    from_address="urn:foliogate:SEASIDE",
)
a_search = ha.ReservationSearchRequest(
    echo_token="search-1", timestamp=NOW, hotel_code="SEASIDE", guest_name="Doe"
)
a_found = ha.ReservationSearchResponse(
    echo_token="search-1",
    timestamp=LATER,
    reservations=(
        ha.HotelReservation(
            "123456",
            "Doe, Jane",
            dt.date(2026, 11, 27),
            dt.date(2026, 11, 29),
            ha.ReservationStatus.IN_HOUSE,
            room="101",
            balance=Money(12000, GBP, 2),
        ),
        ha.HotelReservation(
            "600001",
            "Doe, John",
            dt.date(2026, 12, 1),
            dt.date(2026, 12, 3),
            ha.ReservationStatus.RESERVED,
        ),
    ),
)
a_search_refused = ha.ReservationSearchResponse(
    echo_token="search-1",
    timestamp=LATER,
    errors=(ha.PostingError(ha.ErrorCode.UNKNOWN_HOTEL.value, "unknown HotelCode 'X'"),),
)
case(
    "htng-async",
    "reservation_search_request",
    lambda: ha.build_reservation_search_request(
        a_search, caller=SEARCH_CALLER, stamp=REQUEST_STAMP
    ),
    ha.parse_reservation_search_request,
    a_search,
    ha.xsd_validator,
)
for name, record in [
    ("reservation_search_response", a_found),
    ("reservation_search_response_unknown_hotel", a_search_refused),
]:
    case(
        "htng-async",
        name,
        lambda record=record: ha.build_reservation_search_response(
            record, relates_to=REQUEST_ID, stamp=RESPONSE_STAMP
        ),
        ha.parse_reservation_search_response,
        record,
        ha.xsd_validator,
    )


# SOAP faults

schema_fault = Fault(
    FaultCode.SENDER,
    "The message does not match the opera-htng schema",
    subcode="SchemaInvalid",
    detail=("/PostChargeRequest/Amount: missing",),
)
auth_fault = Fault(FaultCode.SENDER, "Authentication failed", subcode="FailedAuthentication")


def _parse_fault(root):
    return parse_fault(parse_envelope(root).payload)


case(
    "faults",
    "soap11_schema_invalid",
    lambda: build_fault_envelope(schema_fault, SoapVersion.SOAP11),
    _parse_fault,
    schema_fault,
    None,
)
case(
    "faults",
    "soap12_failed_authentication",
    lambda: build_fault_envelope(auth_fault, SoapVersion.SOAP12),
    _parse_fault,
    auth_fault,
    None,
)


def _pretty(data: bytes) -> bytes:
    root = etree.fromstring(data)
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_golden_envelope(case):
    built = case.build()
    assert built == case.build(), "building twice must give the same bytes"
    path = GOLDEN / case.profile / f"{case.name}.xml"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_pretty(built))
    assert _pretty(built) == path.read_bytes()


@pytest.mark.parametrize("case", [c for c in CASES if c.validator], ids=lambda c: c.id)
def test_built_envelope_validates_against_the_profile_xsd(case):
    payload = parse_envelope(parse_xml(case.build())).payload
    assert case.validator().validate_body(payload) == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_built_envelope_parses_back_to_its_record(case):
    assert case.parse(parse_xml(case.build())) == case.record


def test_every_operation_of_every_profile_has_a_golden_request_and_response():
    names = {c.id for c in CASES}
    for profile, module in (("opera-htng", oh), ("rezlynx", rz), ("htng-async", ha)):
        for operation in module.Operation:
            snake = "".join("_" + ch.lower() if ch.isupper() else ch for ch in operation.value)
            snake = snake.lstrip("_")
            assert f"{profile}/{snake}_request" in names, (profile, operation)
            assert any(n.startswith(f"{profile}/{snake}_response") for n in names), (
                profile,
                operation,
            )


def test_no_golden_file_is_orphaned():
    expected = {GOLDEN / c.profile / f"{c.name}.xml" for c in CASES}
    assert set(GOLDEN.rglob("*.xml")) == expected
