"""opera-htng PMS simulator over real HTTP on loopback: the negative-posting journey of DESIGN §3
by hand with envelopes from ``protocols.htng.opera_htng``, every business error with its code,
faults for schema, security and hostile XML (ledger untouched), deduplication by reference,
the WSDL at ``?wsdl`` (zeep loads it), search, and the fault knobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import pytest_twisted
from lxml import etree
from test_sim_soap_common import (
    BOMB,
    CREDENTIALS,
    NOW,
    Http,
    demo_config,
    external_entity,
    fault_of,
    start,
)
from twisted.internet import threads
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.web._newclient import ResponseNeverReceived

from protocols.htng import opera_htng as oh
from protocols.htng.money import Money
from protocols.soap import Caller, Credentials, FaultCode, Stamp, http_headers, parse_xml

GBP = "GBP"


def gbp(amount: int) -> Money:
    return Money(amount, GBP, 2)


class Opera:
    """Sends opera-htng requests built by the profile's own builders."""

    def __init__(self, http: Http, url: str, credentials: Credentials = CREDENTIALS) -> None:
        self.http = http
        self.url = url
        self.caller = Caller(to=url, credentials=credentials)
        self.count = 0

    def stamp(self, created: dt.datetime = NOW) -> Stamp:
        self.count += 1
        return Stamp(f"urn:uuid:test-{self.count}", created)

    def charge(self, reservation: str, code: str, amount: int, reference: str, **kw: Any) -> bytes:
        request = oh.PostChargeRequest(reservation, code, gbp(amount), reference, **kw)
        return oh.build_post_charge_request(request, caller=self.caller, stamp=self.stamp())

    def payment(self, reservation: str, code: str, amount: int, reference: str, **kw: Any) -> bytes:
        request = oh.PostPaymentRequest(reservation, code, gbp(amount), reference, **kw)
        return oh.build_post_payment_request(request, caller=self.caller, stamp=self.stamp())

    async def send(self, body: bytes, operation: oh.Operation) -> tuple[int, bytes]:
        return await self.http.post(self.url, body, http_headers(oh.SOAP_VERSION, operation.action))

    async def post_charge(self, *args: Any, **kw: Any) -> oh.PostChargeResponse:
        status, body = await self.send(self.charge(*args, **kw), oh.Operation.POST_CHARGE)
        assert status == 200, body
        return oh.parse_post_charge_response(parse_xml(body))

    async def post_payment(self, *args: Any, **kw: Any) -> oh.PostPaymentResponse:
        status, body = await self.send(self.payment(*args, **kw), oh.Operation.POST_PAYMENT)
        assert status == 200, body
        return oh.parse_post_payment_response(parse_xml(body))

    async def fetch_folio(self, reservation: str, **kw: Any) -> oh.FetchFolioResponse:
        request = oh.build_fetch_folio_request(
            oh.FetchFolioRequest(reservation, **kw), caller=self.caller, stamp=self.stamp()
        )
        status, body = await self.send(request, oh.Operation.FETCH_FOLIO)
        assert status == 200, body
        return oh.parse_fetch_folio_response(parse_xml(body))


@pytest_twisted.async_yield_fixture
async def sim():
    running = await start()
    yield running
    await running.stop()


@pytest.fixture
def opera(http, sim):
    return Opera(http, sim.soap_urls["opera-htng"])


def _ok(text: str) -> oh.Result:
    return oh.Result.success(text)


@pytest_twisted.ensureDeferred
async def test_negative_journey_deposit_before_arrival_then_redemption_balances_to_zero(
    sim, http, opera
):
    # Deposit paid online, before arrival: Spa Deposit +50 settled by onejourney.
    assert await opera.post_charge("400001", "SPA_DEPOSIT", 5000, "evt-1:0") == (
        oh.PostChargeResponse(_ok("posted to reservation 400001 as transaction 1"), 1)
    )
    assert await opera.post_payment("400001", "ONEJOURNEY", 5000, "evt-1:1") == (
        oh.PostPaymentResponse(_ok("posted to reservation 400001 as transaction 2"), 2)
    )
    await http.control(sim, "POST", "/reservations/400001/check-in")
    # Departure: treatment revenue +50 and a negative sale on the deposit code.
    assert (await opera.post_charge("400001", "SPA_TREATMENT", 5000, "evt-2:0")).result.ok
    assert (await opera.post_charge("400001", "SPA_DEPOSIT", -5000, "evt-2:1")).result.ok

    folio = (await opera.fetch_folio("400001")).folio
    assert folio == oh.Folio(
        "400001",
        (
            oh.FolioLine(1, 1, oh.LineKind.CHARGE, "SPA_DEPOSIT", gbp(5000), dt.date(2026, 11, 27),
                         "evt-1:0", "Spa Deposit"),
            oh.FolioLine(2, 1, oh.LineKind.PAYMENT, "ONEJOURNEY", gbp(-5000), dt.date(2026, 11, 27),
                         "evt-1:1", "onejourney"),
            oh.FolioLine(3, 1, oh.LineKind.CHARGE, "SPA_TREATMENT", gbp(5000),
                         dt.date(2026, 11, 27), "evt-2:0", "Spa Treatment"),
            oh.FolioLine(4, 1, oh.LineKind.CHARGE, "SPA_DEPOSIT", gbp(-5000), dt.date(2026, 11, 27),
                         "evt-2:1", "Spa Deposit"),
        ),
        gbp(0),
    )  # fmt: skip
    await http.control(sim, "POST", "/reservations/400001/check-out")
    ledger = await http.control(sim, "GET", "/reservations/400001/folio")
    assert ledger["balance"] == 0
    assert ledger["totals"] == {"revenue": 5000, "deposit": 0, "payment": -5000}
    assert ledger["payment_types"] == {"ONEJOURNEY": -5000}
    assert {name: inv["holds"] for name, inv in ledger["invariants"].items()} == {
        "balance_zero_after_departure": True,
        "deposit_group_nets_zero": True,
        "revenue_equals_redeemed_items": True,
    }


@pytest.mark.parametrize(
    ("operation", "args", "kw", "code", "text"),
    [
        ("charge", ("999999", "SPA_DEPOSIT", 5000), {}, "RESV_NOT_FOUND", "no reservation 999999"),
        ("charge", ("ABC", "SPA_DEPOSIT", 5000), {}, "RESV_NOT_FOUND", "no reservation ABC"),
        (
            "charge",
            ("400001", "SPA_TREATMENT", 5000),
            {},
            "RESV_NOT_IN_HOUSE",
            "reservation 400001 is not checked in; revenue code SPA_TREATMENT needs an in-house "
            "guest",
        ),
        (
            "charge",
            ("123456", "SPA_MASSAGE", 5000),
            {},
            "INVALID_TRX_CODE",
            "unknown transaction code 'SPA_MASSAGE'",
        ),
        (
            "payment",
            ("123456", "PAYPAL", 5000),
            {},
            "INVALID_PAYMENT_TYPE",
            "unknown payment type 'PAYPAL'",
        ),
        (
            "charge",
            ("500001", "SPA_DEPOSIT", 5000),
            {},
            "FOLIO_CLOSED",
            "reservation 500001 has checked out; its folio is closed",
        ),
        (
            "charge",
            ("123456", "SPA_TREATMENT", 0),
            {},
            "AMOUNT_NOT_ALLOWED",
            "amount 0 is not allowed (SPA_TREATMENT)",
        ),
        (
            "payment",
            ("300001", "ONEJOURNEY", 5000),
            {},
            "NO_POST",
            "no-post flag set for reservation 300001",
        ),
        (
            "charge",
            ("123456", "SPA_TREATMENT", 5000),
            {"folio_window": 2},
            "INVALID_FOLIO_WINDOW",
            "folio window 2 does not exist; this PMS has window 1",
        ),
    ],
)
@pytest_twisted.ensureDeferred
async def test_business_errors_come_back_in_band_with_distinct_codes_and_book_nothing(
    sim, opera, operation, args, kw, code, text
):
    send = opera.post_charge if operation == "charge" else opera.post_payment
    response = await send(*args, f"ref-{code}", **kw)
    assert response.result == oh.Result.fail(code, text)
    assert response.transaction_number is None
    assert response.result.disposition == oh.RESULT_CODES[code].disposition
    assert sim.hotel.trial_balance(None).net == 0
    assert all(sim.hotel.folio(r.confirmation_number) == () for r in sim.hotel.reservations())


@pytest_twisted.ensureDeferred
async def test_currency_other_than_the_hotels_is_refused(sim, opera):
    request = oh.PostChargeRequest("123456", "SPA_TREATMENT", Money(5000, "EUR", 2), "r-eur")
    body = oh.build_post_charge_request(request, caller=opera.caller, stamp=opera.stamp())
    status, answer = await opera.send(body, oh.Operation.POST_CHARGE)
    assert oh.parse_post_charge_response(parse_xml(answer)).result == oh.Result.fail(
        "CURRENCY_MISMATCH", "currency EUR is not the property currency GBP"
    )


@pytest_twisted.ensureDeferred
async def test_night_audit_answers_the_retryable_night_audit_code(sim, http, opera):
    await http.control(sim, "POST", "/night-audit/start")
    response = await opera.post_charge("123456", "SPA_TREATMENT", 5000, "r-na")
    assert response.result == oh.Result.fail(
        "NIGHT_AUDIT_IN_PROGRESS", "night audit in progress; post after it ends"
    )
    assert response.result.disposition.value == "retryable"
    await http.control(sim, "POST", "/night-audit/end")
    assert (await opera.post_charge("123456", "SPA_TREATMENT", 5000, "r-na")).result.ok


@pytest_twisted.ensureDeferred
async def test_a_repeated_reference_returns_the_original_result_and_books_once(sim, opera):
    first = await opera.post_charge("123456", "SPA_TREATMENT", 5000, "evt-9:0")
    again = await opera.post_charge("123456", "SPA_TREATMENT", 5000, "evt-9:0")
    assert (
        again
        == first
        == oh.PostChargeResponse(_ok("posted to reservation 123456 as transaction 1"), 1)
    )
    assert [line.reference for line in sim.hotel.folio(123456)] == ["evt-9:0"]


@pytest_twisted.ensureDeferred
async def test_a_refused_posting_is_not_remembered_so_its_retry_can_post(sim, http, opera):
    refused = await opera.post_charge("400001", "SPA_TREATMENT", 5000, "evt-3:0")
    assert refused.result.error_code == "RESV_NOT_IN_HOUSE"
    await http.control(sim, "POST", "/reservations/400001/check-in")
    assert (await opera.post_charge("400001", "SPA_TREATMENT", 5000, "evt-3:0")).result.ok


@pytest_twisted.ensureDeferred
async def test_schema_error_is_a_fault_naming_the_path(sim, opera):
    body = opera.charge("123456", "A_CODE_LONGER_THAN_TWENTY", 5000, "r-schema")
    status, answer = await opera.send(body, oh.Operation.POST_CHARGE)
    fault = fault_of(answer)
    problem = (
        "/PostChargeRequest/TransactionCode: [facet 'maxLength'] The value has a length of "
        "'25'; this exceeds the allowed maximum length of '20'."
    )
    assert status == 500
    assert (fault.code, fault.subcode) == (FaultCode.SENDER, "SchemaInvalid")
    assert fault.reason == f"the body does not match the opera-htng schema: {problem}"
    assert fault.detail[0] == problem
    assert sim.hotel.folio(123456) == ()


@pytest.mark.parametrize(
    ("credentials", "created", "subcode", "reason"),
    [
        (
            Credentials("foliogate-demo", "wrong"),
            NOW,
            "FailedAuthentication",
            "authentication failed: unknown user name or wrong password",
        ),
        (
            Credentials("intruder", "demo-only-password"),
            NOW,
            "FailedAuthentication",
            "authentication failed: unknown user name or wrong password",
        ),
        (
            CREDENTIALS,
            NOW - dt.timedelta(minutes=11),
            "MessageExpired",
            "wsu:Timestamp expired at 2026-11-27T09:58:05Z",
        ),
        (None, NOW, "InvalidSecurity", "no wsse:Security UsernameToken: credentials are required"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_credentials_or_a_stale_timestamp_is_a_security_fault(
    sim, http, credentials, created, subcode, reason
):
    url = sim.soap_urls["opera-htng"]
    client = Opera(http, url, credentials)
    client.caller = Caller(to=url, credentials=credentials)
    request = oh.PostChargeRequest("123456", "SPA_TREATMENT", gbp(5000), "r-sec")
    body = oh.build_post_charge_request(request, caller=client.caller, stamp=client.stamp(created))
    status, answer = await client.send(body, oh.Operation.POST_CHARGE)
    fault = fault_of(answer)
    assert (status, fault.code, fault.subcode, fault.reason) == (
        500,
        FaultCode.SENDER,
        subcode,
        reason,
    )
    assert sim.hotel.folio(123456) == ()


@pytest.mark.parametrize("hostile", ["bomb", "external entity"])
@pytest_twisted.ensureDeferred
async def test_xml_bomb_and_external_entity_are_refused_and_the_ledger_is_untouched(
    sim, opera, hostile
):
    valid = opera.charge("123456", "SPA_TREATMENT", 5000, "r-hostile")
    body = BOMB if hostile == "bomb" else external_entity(valid)
    status, answer = await opera.send(body, oh.Operation.POST_CHARGE)
    fault = fault_of(answer)
    assert (status, fault.code, fault.subcode, fault.reason) == (
        500,
        FaultCode.SENDER,
        "HostileXml",
        "XML refused (doctype): document declares a DOCTYPE; DTDs and entities are refused",
    )
    assert sim.hotel.trial_balance(None).net == 0
    assert sim.hotel.folio(123456) == ()


@pytest_twisted.ensureDeferred
async def test_oversize_too_deep_and_soap12_envelopes_are_faults(sim, opera):
    huge = b"<a>" + b"x" * 1_100_000 + b"</a>"
    deep = b"<a>" * 100 + b"</a>" * 100
    soap12 = opera.charge("123456", "SPA_TREATMENT", 5000, "r").replace(
        b"http://schemas.xmlsoap.org/soap/envelope/", b"http://www.w3.org/2003/05/soap-envelope"
    )
    found = []
    for body in (huge, deep, soap12):
        fault = fault_of((await opera.send(body, oh.Operation.POST_CHARGE))[1])
        found.append((fault.code, fault.subcode, fault.reason))
    assert found == [
        (
            FaultCode.SENDER,
            "XmlRejected",
            "XML refused (too-large): document is 1100007 bytes; the limit is 1048576",
        ),
        (
            FaultCode.SENDER,
            "XmlRejected",
            "XML refused (too-deep): document nests deeper than 64 elements",
        ),
        (
            FaultCode.VERSION_MISMATCH,
            "InvalidEnvelope",
            "this opera-htng endpoint speaks SOAP 1.1, not SOAP 1.2",
        ),
    ]
    assert sim.hotel.folio(123456) == ()


@pytest_twisted.ensureDeferred
async def test_soapaction_naming_another_operation_is_a_fault(sim, opera):
    body = opera.charge("123456", "SPA_TREATMENT", 5000, "r-action")
    status, answer = await opera.http.post(
        opera.url, body, http_headers(oh.SOAP_VERSION, oh.Operation.POST_PAYMENT.action)
    )
    fault = fault_of(answer)
    assert (fault.subcode, fault.reason) == (
        "ActionMismatch",
        "action 'urn:foliogate:opera-htng:1#PostPayment' does not name the body's operation "
        "PostCharge",
    )


@pytest_twisted.ensureDeferred
async def test_wsdl_is_served_with_this_servers_address_and_zeep_can_load_it(sim, http):
    url = sim.soap_urls["opera-htng"]
    status, body = await http.get(url + "?wsdl")
    assert status == 200
    wsdl = etree.fromstring(body)
    assert wsdl.get("targetNamespace") == oh.WSDL_NAMESPACE
    locations = wsdl.xpath("//*[local-name()='address']/@location")
    assert locations == [url]
    assert wsdl.xpath("//*[local-name()='import']/@schemaLocation") == [url + "?xsd"]

    def load() -> list[str]:
        import zeep

        client = zeep.Client(url + "?wsdl")
        service = client.bind(oh.SERVICE_NAME, oh.PORT_NAME)
        return sorted(service._binding._operations), service._binding_options["address"]

    operations, address = await threads.deferToThread(load)
    assert operations == [
        "FetchFolio",
        "PostAccountPayment",
        "PostCharge",
        "PostPayment",
        "SearchReservations",
    ]
    assert address == url


@pytest_twisted.ensureDeferred
async def test_search_reservations_by_guest_name_prefix_and_dates(sim, opera):
    async def search(**criteria: Any) -> list[str]:
        request = oh.build_search_reservations_request(
            oh.SearchReservationsRequest(**criteria), caller=opera.caller, stamp=opera.stamp()
        )
        status, body = await opera.send(request, oh.Operation.SEARCH_RESERVATIONS)
        response = oh.parse_search_reservations_response(parse_xml(body))
        return [(r.reservation_id, r.status.value, r.room) for r in response.reservations]

    assert await search(guest_name="g") == [
        ("200101", "IN_HOUSE", "201"),
        ("200102", "IN_HOUSE", "201"),
        ("500001", "CHECKED_OUT", "103"),
    ]
    assert await search(guest_name="G", departure_date=dt.date(2026, 11, 30)) == [
        ("200101", "IN_HOUSE", "201"),
        ("200102", "IN_HOUSE", "201"),
    ]
    assert await search(guest_name="gan") == [("200102", "IN_HOUSE", "201")]
    assert await search(arrival_date=dt.date(2026, 11, 28)) == [("400001", "RESERVED", "102")]
    assert await search(guest_name="nobody") == []


@pytest_twisted.ensureDeferred
async def test_fetch_folio_of_an_unknown_reservation_fails_in_band(sim, opera):
    response = await opera.fetch_folio("999999")
    assert response == oh.FetchFolioResponse(
        oh.Result.fail("RESV_NOT_FOUND", "no reservation 999999")
    )


# Fault knobs ---------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_http_500_knob_answers_500_for_the_next_requests_and_books_nothing(sim, http, opera):
    await http.control(sim, "PUT", "/faults", {"http_500_count": 1})
    status, body = await opera.send(opera.charge("123456", "SPA_TREATMENT", 5000, "k1"),
                                    oh.Operation.POST_CHARGE)  # fmt: skip
    assert (status, body) == (
        500,
        b"500 Internal Server Error (simulated: fault knob http_500_count)\n",
    )
    assert sim.hotel.folio(123456) == ()
    assert (await opera.post_charge("123456", "SPA_TREATMENT", 5000, "k1")).result.ok
    assert sim.knobs.current.http_500_count == 0


@pytest_twisted.ensureDeferred
async def test_drop_requests_closes_the_connection_and_books_nothing(sim, http, opera):
    await http.control(sim, "PUT", "/faults", {"drop_requests": 1})
    body = opera.charge("123456", "SPA_TREATMENT", 5000, "k2")
    with pytest.raises((ResponseNeverReceived, ConnectionDone, ConnectionLost)):
        await opera.send(body, oh.Operation.POST_CHARGE)
    assert sim.hotel.folio(123456) == ()


@pytest_twisted.ensureDeferred
async def test_drop_answers_books_but_closes_without_an_answer_and_the_retry_replays(
    sim, http, opera
):
    await http.control(sim, "PUT", "/faults", {"drop_answers": 1})
    with pytest.raises((ResponseNeverReceived, ConnectionDone, ConnectionLost)):
        await opera.send(opera.charge("123456", "SPA_TREATMENT", 5000, "k3"),
                         oh.Operation.POST_CHARGE)  # fmt: skip
    assert [line.reference for line in sim.hotel.folio(123456)] == ["k3"]
    retry = await opera.post_charge("123456", "SPA_TREATMENT", 5000, "k3")
    assert retry.result.ok and retry.transaction_number == 1
    assert len(sim.hotel.folio(123456)) == 1


@pytest_twisted.ensureDeferred
async def test_drop_posting_answers_spares_folio_reads(sim, http, opera):
    await http.control(sim, "PUT", "/faults", {"drop_posting_answers": 1})
    assert (await opera.fetch_folio("123456")).result.ok
    with pytest.raises((ResponseNeverReceived, ConnectionDone, ConnectionLost)):
        await opera.send(opera.payment("123456", "CASH", 100, "k4"), oh.Operation.POST_PAYMENT)
    assert [line.reference for line in sim.hotel.folio(123456)] == ["k4"]


@pytest.mark.parametrize(
    ("status", "code", "text"),
    [
        ("RY", "SYSTEM_ERROR", "system error (fault knob reject_status RY); retry"),
        ("NA", "NIGHT_AUDIT_IN_PROGRESS", "night audit in progress (fault knob reject_status NA)"),
        ("UR", "AMOUNT_NOT_ALLOWED", "posting refused (fault knob reject_status UR)"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_reject_knob_refuses_the_next_postings_with_the_profiles_code(
    sim, http, opera, status, code, text
):
    await http.control(sim, "PUT", "/faults", {"reject_status": status, "reject_count": 1})
    refused = await opera.post_charge("123456", "SPA_TREATMENT", 5000, "k5")
    assert refused.result == oh.Result.fail(code, text)
    assert sim.hotel.folio(123456) == ()
    assert (await opera.post_charge("123456", "SPA_TREATMENT", 5000, "k5")).result.ok


@pytest_twisted.ensureDeferred
async def test_delay_knob_holds_the_answer_back(sim, http, opera):
    from twisted.internet import reactor

    await http.control(sim, "PUT", "/faults", {"delay_ms": 50})
    sent = reactor.seconds()
    response = await opera.post_charge("123456", "SPA_TREATMENT", 5000, "k6")
    assert response.result.ok
    assert reactor.seconds() - sent >= 0.05  # the answer cannot come before its callLater


@pytest_twisted.ensureDeferred
async def test_a_hotel_with_negative_amounts_off_refuses_a_negative_sale(http):
    sim = await start(demo_config(allow_negative_amounts=False))
    try:
        opera = Opera(http, sim.soap_urls["opera-htng"])
        response = await opera.post_charge("123456", "SPA_DEPOSIT", -5000, "neg-1")
        assert response.result == oh.Result.fail(
            "AMOUNT_NOT_ALLOWED", "negative amount -5000 is not allowed here (SPA_DEPOSIT)"
        )
    finally:
        await sim.stop()
