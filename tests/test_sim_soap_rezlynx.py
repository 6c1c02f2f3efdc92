"""rezlynx PMS simulator over real HTTP on loopback: LogIn sessions, the negative-posting journey
of DESIGN §3 by hand with ``protocols.htng.rezlynx`` envelopes, every ExceptionCode, session
expiry (7007) and re-login, bad credentials as a fault, deduplication by reference, hostile XML,
schema errors, the WSDL, and the knobs that act on this profile."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import pytest_twisted
from lxml import etree
from test_sim_soap_common import BOMB, Http, demo_config, external_entity, fault_of, start
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.web._newclient import ResponseNeverReceived

from protocols.htng import rezlynx as rz
from protocols.soap import FaultCode, http_headers, parse_xml

DECIMALS = 2
OK = rz.CallResult.success()


class Rezlynx:
    """Sends rezlynx requests built by the profile's own builders."""

    def __init__(self, http: Http, url: str) -> None:
        self.http = http
        self.url = url
        self.session_id = ""

    async def send(self, body: bytes, operation: rz.Operation) -> tuple[int, bytes]:
        return await self.http.post(self.url, body, http_headers(rz.SOAP_VERSION, operation.action))

    async def log_in(
        self, operator: str = "foliogate-demo", password: str = "demo-only-password", site="DEMO"
    ) -> rz.LogInResponse:
        body = rz.build_log_in_request(rz.LogInRequest(site, operator, password, "FOLIOGATE"))
        status, answer = await self.send(body, rz.Operation.LOG_IN)
        response = rz.parse_log_in_response(parse_xml(answer))
        if response.session_id:
            self.session_id = response.session_id
        return response

    async def post_to_room(self, booking: str, code: str, total: int, ref: str, **kw: Any):
        request = rz.PostToRoomRequest(self.session_id, booking, code, total, ref, **kw)
        body = rz.build_post_to_room_request(request, decimals=DECIMALS)
        status, answer = await self.send(body, rz.Operation.POST_TO_ROOM)
        assert status == 200, answer
        return rz.parse_post_to_room_response(parse_xml(answer))

    async def add_deposit(self, booking: str, code: str, amount: int, ref: str):
        request = rz.AddDepositRequest(self.session_id, booking, code, amount, ref)
        body = rz.build_add_deposit_request(request, decimals=DECIMALS)
        status, answer = await self.send(body, rz.Operation.ADD_DEPOSIT)
        assert status == 200, answer
        return rz.parse_add_deposit_response(parse_xml(answer))

    async def add_payment(self, booking: str, code: str, amount: int, ref: str, **kw: Any):
        request = rz.AddPaymentRequest(self.session_id, booking, code, amount, ref, **kw)
        body = rz.build_add_payment_request(request, decimals=DECIMALS)
        status, answer = await self.send(body, rz.Operation.ADD_PAYMENT)
        assert status == 200, answer
        return rz.parse_add_payment_response(parse_xml(answer))

    async def get_folio(self, booking: str, **kw: Any) -> rz.GetFolioResponse:
        body = rz.build_get_folio_request(rz.GetFolioRequest(self.session_id, booking, **kw))
        status, answer = await self.send(body, rz.Operation.GET_FOLIO)
        assert status == 200, answer
        return rz.parse_get_folio_response(parse_xml(answer), decimals=DECIMALS)


@pytest_twisted.async_yield_fixture
async def sim():
    running = await start(demo_config(site_id="DEMO"))
    yield running
    await running.stop()


@pytest_twisted.async_yield_fixture
async def rezlynx(http, sim):
    client = Rezlynx(http, sim.soap_urls["rezlynx"])
    assert (await client.log_in()).result == OK
    yield client


@pytest_twisted.ensureDeferred
async def test_negative_journey_deposit_before_arrival_then_redemption_balances_to_zero(
    sim, http, rezlynx
):
    assert await rezlynx.post_to_room("400001", "SPA_DEPOSIT", 5000, "evt-1:0") == (
        rz.PostToRoomResponse(OK, 1)
    )
    assert await rezlynx.add_deposit("400001", "ONEJOURNEY", 5000, "evt-1:1") == (
        rz.AddDepositResponse(OK, 2)
    )
    await http.control(sim, "POST", "/reservations/400001/check-in")
    assert await rezlynx.post_to_room("400001", "SPA_TREATMENT", 5000, "evt-2:0") == (
        rz.PostToRoomResponse(OK, 3)
    )
    assert await rezlynx.post_to_room("400001", "SPA_DEPOSIT", -5000, "evt-2:1") == (
        rz.PostToRoomResponse(OK, 4)
    )
    day = dt.date(2026, 11, 27)
    assert (await rezlynx.get_folio("400001")).folio == rz.Folio(
        "400001",
        (
            rz.FolioTransaction(1, 1, rz.TransactionType.CHARGE, "SPA_DEPOSIT", 5000, day,
                                "evt-1:0", "Spa Deposit"),
            rz.FolioTransaction(2, 1, rz.TransactionType.DEPOSIT, "ONEJOURNEY", -5000, day,
                                "evt-1:1", "onejourney"),
            rz.FolioTransaction(3, 1, rz.TransactionType.CHARGE, "SPA_TREATMENT", 5000, day,
                                "evt-2:0", "Spa Treatment"),
            rz.FolioTransaction(4, 1, rz.TransactionType.CHARGE, "SPA_DEPOSIT", -5000, day,
                                "evt-2:1", "Spa Deposit"),
        ),
        0,
    )  # fmt: skip
    await http.control(sim, "POST", "/reservations/400001/check-out")
    ledger = await http.control(sim, "GET", "/reservations/400001/folio")
    assert (ledger["balance"], ledger["totals"]["deposit"]) == (0, 0)
    assert ledger["payment_types"] == {"ONEJOURNEY": -5000}
    assert all(inv["holds"] for inv in ledger["invariants"].values())


@pytest_twisted.ensureDeferred
async def test_add_payment_posts_a_payment_line_on_folio_1(sim, rezlynx):
    assert await rezlynx.add_payment("123456", "VISA", 2500, "bal-1") == (
        rz.AddPaymentResponse(OK, 1)
    )
    folio = (await rezlynx.get_folio("123456")).folio
    assert [(t.type, t.code, t.gross_total) for t in folio.transactions] == [
        (rz.TransactionType.PAYMENT, "VISA", -2500)
    ]
    assert folio.balance == -2500


@pytest.mark.parametrize(
    ("operation", "args", "kw", "code", "text"),
    [
        ("post", ("999999", "SPA_DEPOSIT", 5000), {}, 8001, "no reservation 999999"),
        (
            "post",
            ("400001", "SPA_TREATMENT", 5000),
            {},
            8002,
            "reservation 400001 is not checked in; revenue code SPA_TREATMENT needs an in-house "
            "guest",
        ),
        (
            "payment",
            ("400001", "VISA", 5000),
            {},
            8002,
            "reservation 400001 is not checked in; payment type VISA needs an in-house guest here",
        ),
        (
            "post",
            ("123456", "SPA_MASSAGE", 5000),
            {},
            8003,
            "unknown transaction code 'SPA_MASSAGE'",
        ),
        ("deposit", ("123456", "PAYPAL", 5000), {}, 8004, "unknown payment type 'PAYPAL'"),
        (
            "payment",
            ("500001", "VISA", 5000),
            {},
            8005,
            "reservation 500001 has checked out; its folio is closed",
        ),
        (
            "post",
            ("123456", "SPA_TREATMENT", 0),
            {},
            8006,
            "amount 0 is not allowed (SPA_TREATMENT)",
        ),
        (
            "deposit",
            ("300001", "ONEJOURNEY", 5000),
            {},
            8007,
            "no-post flag set for reservation 300001",
        ),
        (
            "payment",
            ("123456", "VISA", 5000),
            {"folio_id": 2},
            8009,
            "folio 2 does not exist on booking 123456; it has folio 1",
        ),
    ],
)
@pytest_twisted.ensureDeferred
async def test_business_errors_come_back_as_distinct_exception_codes_and_book_nothing(
    sim, rezlynx, operation, args, kw, code, text
):
    send = {
        "post": rezlynx.post_to_room,
        "deposit": rezlynx.add_deposit,
        "payment": rezlynx.add_payment,
    }[operation]
    response = await send(*args, f"ref-{code}", **kw)
    assert (response.result, response.transaction_id) == (rz.CallResult(code, text), None)
    assert response.result.disposition == rz.RESULT_CODES[code].disposition
    assert sim.hotel.trial_balance(None).net == 0


@pytest_twisted.ensureDeferred
async def test_end_of_day_answers_8008(sim, http, rezlynx):
    await http.control(sim, "POST", "/night-audit/start")
    response = await rezlynx.post_to_room("123456", "SPA_TREATMENT", 5000, "eod")
    assert response.result == rz.CallResult(8008, "night audit in progress; post after it ends")


@pytest_twisted.ensureDeferred
async def test_wrong_password_at_log_in_is_a_fault_and_opens_no_session(sim, http):
    client = Rezlynx(http, sim.soap_urls["rezlynx"])
    body = rz.build_log_in_request(rz.LogInRequest("DEMO", "foliogate-demo", "wrong"))
    status, answer = await client.send(body, rz.Operation.LOG_IN)
    fault = fault_of(answer)
    assert (status, fault.code, fault.subcode, fault.reason) == (
        500,
        FaultCode.SENDER,
        "FailedAuthentication",
        "authentication failed: unknown operator or wrong password",
    )
    assert len(sim.soap_resources["rezlynx"].sessions) == 0


@pytest_twisted.ensureDeferred
async def test_log_in_to_another_site_answers_7001(sim, http):
    client = Rezlynx(http, sim.soap_urls["rezlynx"])
    response = await client.log_in(site="OTHER")
    assert response == rz.LogInResponse(rz.CallResult(7001, "unknown SiteID 'OTHER'"))


@pytest_twisted.ensureDeferred
async def test_session_expiry_answers_7007_then_a_new_log_in_posts_once(sim, http, rezlynx):
    await http.control(sim, "PUT", "/faults", {"expire_sessions": True})
    expired = await rezlynx.post_to_room("123456", "SPA_TREATMENT", 5000, "evt-5:0")
    assert expired == rz.PostToRoomResponse(
        rz.CallResult(7007, "session expired or unknown; log in again")
    )
    assert expired.result.disposition.value == "relogin"
    assert sim.knobs.current.expire_sessions is False  # fired once
    old_session = rezlynx.session_id
    assert (await rezlynx.log_in()).result == OK
    assert rezlynx.session_id != old_session
    assert (await rezlynx.post_to_room("123456", "SPA_TREATMENT", 5000, "evt-5:0")).result == OK
    assert [line.reference for line in sim.hotel.folio(123456)] == ["evt-5:0"]


@pytest_twisted.ensureDeferred
async def test_an_unknown_session_answers_7007_on_every_operation(sim, http):
    client = Rezlynx(http, sim.soap_urls["rezlynx"])
    client.session_id = "never-issued"
    expected = rz.CallResult(7007, "session expired or unknown; log in again")
    assert (await client.post_to_room("123456", "SPA_TREATMENT", 1, "x")).result == expected
    assert (await client.add_deposit("123456", "CASH", 1, "x")).result == expected
    assert (await client.add_payment("123456", "CASH", 1, "x")).result == expected
    assert await client.get_folio("123456") == rz.GetFolioResponse(expected)


@pytest_twisted.ensureDeferred
async def test_a_repeated_reference_returns_the_original_result_and_books_once(sim, rezlynx):
    first = await rezlynx.add_deposit("400001", "ONEJOURNEY", 5000, "evt-7:1")
    again = await rezlynx.add_deposit("400001", "ONEJOURNEY", 5000, "evt-7:1")
    assert first == again == rz.AddDepositResponse(OK, 1)
    assert len(sim.hotel.folio(400001)) == 1


@pytest_twisted.ensureDeferred
async def test_get_folio_of_an_unknown_booking_answers_8001(sim, rezlynx):
    response = await rezlynx.get_folio("999999")
    assert response == rz.GetFolioResponse(rz.CallResult(8001, "no booking 999999"))


@pytest_twisted.ensureDeferred
async def test_search_bookings_by_guest_name_prefix_and_arrival(sim, rezlynx):
    async def search(**criteria: Any) -> list[tuple[str, str]]:
        body = rz.build_search_bookings_request(
            rz.SearchBookingsRequest(rezlynx.session_id, **criteria)
        )
        status, answer = await rezlynx.send(body, rz.Operation.SEARCH_BOOKINGS)
        response = rz.parse_search_bookings_response(parse_xml(answer))
        return [(b.booking_ref, b.status.value) for b in response.bookings]

    assert await search(guest_name="doe") == [("123456", "Resident")]
    assert await search(arrival_date=dt.date(2026, 11, 28)) == [("400001", "Reserved")]
    assert await search(guest_name="gone") == [("500001", "Departed")]


@pytest_twisted.ensureDeferred
async def test_schema_error_is_a_fault_naming_the_path(sim, rezlynx):
    body = rz.build_post_to_room_request(
        rz.PostToRoomRequest(rezlynx.session_id, "123456", "SPA TREATMENT ", 5000, "r"),
        decimals=DECIMALS,
    )
    status, answer = await rezlynx.send(body, rz.Operation.POST_TO_ROOM)
    fault = fault_of(answer)
    assert (status, fault.subcode) == (500, "SchemaInvalid")
    assert fault.detail[0].startswith("/PostToRoom/SalesAnalysisCode: [facet 'pattern']")
    assert sim.hotel.folio(123456) == ()


@pytest.mark.parametrize("hostile", ["bomb", "external entity"])
@pytest_twisted.ensureDeferred
async def test_xml_bomb_and_external_entity_are_refused_and_the_ledger_is_untouched(
    sim, rezlynx, hostile
):
    valid = rz.build_post_to_room_request(
        rz.PostToRoomRequest(rezlynx.session_id, "123456", "SPA_TREATMENT", 5000, "r-x"),
        decimals=DECIMALS,
    )
    body = BOMB if hostile == "bomb" else external_entity(valid)
    status, answer = await rezlynx.send(body, rz.Operation.POST_TO_ROOM)
    fault = fault_of(answer)
    assert (status, fault.subcode) == (500, "HostileXml")
    assert sim.hotel.trial_balance(None).net == 0


@pytest_twisted.ensureDeferred
async def test_wsdl_is_served_at_query_wsdl_and_the_schema_at_query_xsd(sim, http):
    url = sim.soap_urls["rezlynx"]
    status, body = await http.get(url + "?wsdl")
    wsdl = etree.fromstring(body)
    assert (status, wsdl.get("targetNamespace")) == (200, rz.WSDL_NAMESPACE)
    assert wsdl.xpath("//*[local-name()='address']/@location") == [url]
    status, xsd = await http.get(url + "?xsd")
    assert (status, xsd) == (200, rz.xsd_path().read_bytes())


@pytest_twisted.ensureDeferred
async def test_http_500_and_dropped_requests_book_nothing(sim, http, rezlynx):
    await http.control(sim, "PUT", "/faults", {"http_500_count": 1, "drop_requests": 1})
    body = rz.build_post_to_room_request(
        rz.PostToRoomRequest(rezlynx.session_id, "123456", "SPA_TREATMENT", 5000, "k"),
        decimals=DECIMALS,
    )
    with pytest.raises((ResponseNeverReceived, ConnectionDone, ConnectionLost)):
        await rezlynx.send(body, rz.Operation.POST_TO_ROOM)  # drop_requests acts first
    assert (await rezlynx.send(body, rz.Operation.POST_TO_ROOM))[0] == 500
    assert sim.hotel.folio(123456) == ()
    assert (await rezlynx.post_to_room("123456", "SPA_TREATMENT", 5000, "k")).result == OK


@pytest_twisted.ensureDeferred
async def test_reject_knob_answers_internal_error_9999(sim, http, rezlynx):
    await http.control(sim, "PUT", "/faults", {"reject_status": "RY", "reject_count": 1})
    response = await rezlynx.post_to_room("123456", "SPA_TREATMENT", 5000, "k")
    assert response.result == rz.CallResult(
        9999, "system error (fault knob reject_status RY); retry"
    )
    assert response.result.disposition.value == "retryable"
