"""The simulator's control API over real HTTP on loopback: names, bodies and errors QA relies on."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import pytest_twisted
import treq
from twisted.internet import defer
from twisted.web.client import HTTPConnectionPool
from twisted.web.server import Site

from simulators.control import ControlResource
from simulators.faults import FaultKnobs
from simulators.ledger import DEMO_HOTEL, FolioPosting, Hotel

NOW = dt.datetime(2026, 11, 27, 10, 4, 5)


class Api:
    def __init__(self, reactor, base):
        self.base = base
        self.pool = HTTPConnectionPool(reactor, persistent=False)

    @defer.inlineCallbacks
    def call(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        response = yield treq.request(method, self.base + path, data=data, pool=self.pool)
        content = yield response.content()
        return response.code, json.loads(content), response.headers


@pytest.fixture
def hotel():
    return Hotel.from_file(DEMO_HOTEL, now=lambda: NOW)


@pytest.fixture
def knobs(hotel):
    return FaultKnobs(hotel.config.faults)


@pytest_twisted.async_yield_fixture
async def api(hotel, knobs):
    from twisted.internet import reactor

    resource = ControlResource(hotel, knobs, link_status=lambda: {"state": "alive"})
    port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
    yield Api(reactor, f"http://127.0.0.1:{port.getHost().port}")
    await port.stopListening()


@pytest_twisted.inlineCallbacks
def test_healthz_reports_hotel_business_date_and_link(api):
    assert (yield api.call("GET", "/healthz"))[:2] == (
        200,
        {
            "status": "ok",
            "hotel": "Foliogate Demo Hotel",
            "business_date": "2026-11-27",
            "night_audit_running": False,
            "fias": {"state": "alive"},
        },
    )


@pytest_twisted.inlineCallbacks
def test_create_then_read_a_reservation(api):
    body = {
        "confirmation_number": "654321",
        "guest_name": "Roe, Richard",
        "arrival": "2026-11-27",
        "departure": "2026-11-29",
        "room": "202",
    }
    expected = {
        "confirmation_number": "654321",
        "guest_name": "Roe, Richard",
        "arrival": "2026-11-27",
        "departure": "2026-11-29",
        "state": "reserved",
        "room": "202",
        "no_post": False,
        "sharers": [],
        "balance": 0,
    }
    assert (yield api.call("POST", "/reservations", body))[:2] == (201, expected)
    assert (yield api.call("GET", "/reservations/654321"))[:2] == (200, expected)
    listed = (yield api.call("GET", "/reservations"))[1]["reservations"]
    assert [r["confirmation_number"] for r in listed] == [
        "123456",
        "200101",
        "200102",
        "300001",
        "400001",
        "500001",
        "654321",
    ]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            {
                "confirmation_number": 123456,
                "guest_name": "X",
                "arrival": "2026-11-27",
                "departure": "2026-11-28",
            },
            409,
            "reservation 123456 exists already",
        ),
        (
            {
                "confirmation_number": "12a",
                "guest_name": "X",
                "arrival": "2026-11-27",
                "departure": "2026-11-28",
            },
            400,
            "confirmation_number: required, digits only (it is the FIAS G#)",
        ),
        (
            {
                "confirmation_number": 1,
                "guest_name": "X",
                "arrival": "27/11/2026",
                "departure": "2026-11-28",
            },
            400,
            "arrival: '27/11/2026' is not an ISO date like 2026-11-27",
        ),
        (
            {"confirmation_number": 1, "guest_name": "X", "arrival": "2026-11-27"},
            400,
            "departure: required ISO date like 2026-11-27",
        ),
        (
            {
                "confirmation_number": 1,
                "guest_name": "X",
                "arrival": "2026-11-27",
                "departure": "2026-11-28",
                "room": "999",
            },
            400,
            "no room '999' in this hotel",
        ),
        (
            {"confirmation_number": 1, "guest": "X"},
            400,
            "unknown field(s) guest; expected arrival, confirmation_number, departure, "
            "guest_name, no_post, room",
        ),
    ],
)
@pytest_twisted.inlineCallbacks
def test_bad_reservation_requests_say_what_is_wrong(api, body, status, error):
    assert (yield api.call("POST", "/reservations", body))[:2] == (status, {"error": error})


@pytest_twisted.inlineCallbacks
def test_body_that_is_not_a_json_object_is_a_400(api):
    code, body, _ = yield api.call("POST", "/reservations", raw=b"{not json")
    assert code == 400
    assert body["error"].startswith("request body is not valid JSON: Expecting property name")
    assert (yield api.call("POST", "/reservations", raw=b"[1]"))[:2] == (
        400,
        {"error": "request body must be a JSON object"},
    )


@pytest_twisted.inlineCallbacks
def test_check_in_move_and_check_out(api, hotel):
    events = []
    hotel.subscribe(events.append)
    code, body, _ = yield api.call("POST", "/reservations/400001/check-in", {"room": "201"})
    assert (code, body["state"], body["room"], body["sharers"]) == (
        200,
        "in_house",
        "201",
        ["200101", "200102"],
    )
    code, body, _ = yield api.call("POST", "/reservations/400001/move", {"room": "202"})
    assert (code, body["room"], body["sharers"]) == (200, "202", [])
    code, body, _ = yield api.call("POST", "/reservations/400001/check-out")
    assert (code, body["state"], body["room"]) == (200, "checked_out", "202")
    assert [type(e).__name__ for e in events] == ["GuestCheckedIn", "GuestMoved", "GuestCheckedOut"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        (
            "POST",
            "/reservations/123456/check-in",
            {"room": "102"},
            409,
            "reservation 123456 is in_house, not reserved",
        ),
        (
            "POST",
            "/reservations/500001/check-out",
            None,
            409,
            "reservation 500001 is checked_out, not in_house",
        ),
        (
            "POST",
            "/reservations/400001/check-in",
            {"room": "999"},
            400,
            "no room '999' in this hotel",
        ),
        (
            "POST",
            "/reservations/123456/move",
            {},
            400,
            "room: required string, the room to move to",
        ),
        (
            "POST",
            "/reservations/123456/check-out",
            {"room": "1"},
            400,
            "unknown field(s) room; expected no fields",
        ),
        ("GET", "/reservations/42", None, 404, "no reservation 42"),
        (
            "GET",
            "/reservations/abc/folio",
            None,
            404,
            "no reservation 'abc': a confirmation number is 1 to 10 digits",
        ),
        ("GET", "/nowhere", None, 404, "no such resource: GET /nowhere"),
    ],
)
@pytest_twisted.inlineCallbacks
def test_front_desk_errors_map_to_4xx_with_the_reason(api, method, path, body, status, error):
    assert (yield api.call(method, path, body))[:2] == (status, {"error": error})


@pytest_twisted.inlineCallbacks
def test_wrong_method_is_a_405_naming_the_allowed_ones(api):
    code, body, headers = yield api.call("DELETE", "/faults")
    assert (code, body) == (405, {"error": "DELETE is not allowed on /faults; use GET, PUT"})
    assert headers.getRawHeaders("allow") == ["GET, PUT"]


@pytest_twisted.inlineCallbacks
def test_folio_shows_lines_totals_and_invariants(api, hotel):
    hotel.post(FolioPosting("OJ", 5000, 210, 123456, reference="evt_1", source="FIAS PR P#7"))
    hotel.post(FolioPosting("DR", 5000, 220, 123456, reference="evt_2", source="FIAS PR P#9"))
    (yield api.call("POST", "/reservations/123456/check-out"))
    code, folio, _ = yield api.call("GET", "/reservations/123456/folio")
    assert code == 200
    assert folio == {
        "confirmation_number": "123456",
        "currency": "GBP",
        "balance": 0,
        "lines": [
            {
                "code": "SPA_DEPOSIT",
                "amount": 5000,
                "payment_type": None,
                "reference": "evt_1",
                "business_date": "2026-11-27",
                "time": "2026-11-27T10:04:05",
                "source": "FIAS PR P#7",
            },
            {
                "code": "ONEJOURNEY",
                "amount": -5000,
                "payment_type": "ONEJOURNEY",
                "reference": "evt_1",
                "business_date": "2026-11-27",
                "time": "2026-11-27T10:04:05",
                "source": "FIAS PR P#7",
            },
            {
                "code": "SPA_TREATMENT",
                "amount": 5000,
                "payment_type": None,
                "reference": "evt_2",
                "business_date": "2026-11-27",
                "time": "2026-11-27T10:04:05",
                "source": "FIAS PR P#9",
            },
            {
                "code": "DEPOSIT_REDEMPTION",
                "amount": -5000,
                "payment_type": "DEPOSIT_REDEMPTION",
                "reference": "evt_2",
                "business_date": "2026-11-27",
                "time": "2026-11-27T10:04:05",
                "source": "FIAS PR P#9",
            },
        ],
        "totals": {"revenue": 5000, "deposit": 0, "payment": -5000},
        "payment_types": {"ONEJOURNEY": -5000, "DEPOSIT_REDEMPTION": -5000},
        "invariants": {
            "balance_zero_after_departure": {"holds": True, "detail": "balance 0"},
            "deposit_group_nets_zero": {"holds": True, "detail": "deposit group nets 0"},
            "revenue_equals_redeemed_items": {
                "holds": True,
                "detail": "revenue 5000, deposit redeemed 5000",
            },
        },
    }


@pytest_twisted.inlineCallbacks
def test_codes_lists_groups_and_the_fias_maps(api):
    code, body, _ = yield api.call("GET", "/codes")
    assert code == 200
    assert body["codes"]["SPA_DEPOSIT"] == {
        "description": "Spa Deposit",
        "group": "deposit",
        "kind": "charge",
    }
    assert body["codes"]["DEPOSIT_REDEMPTION"] == {
        "description": "Deposit Redemption",
        "group": "deposit",
        "kind": "payment_type",
    }
    assert sorted(body["codes"]) == [
        "CASH",
        "DEPOSIT_REDEMPTION",
        "FOOD_AND_BEVERAGE",
        "ONEJOURNEY",
        "ROOM_CHARGE",
        "SPA_DEPOSIT",
        "SPA_TREATMENT",
        "VISA",
    ]
    assert body["fias"] == {
        "sales_outlets": {
            "100": "ROOM_CHARGE",
            "200": "FOOD_AND_BEVERAGE",
            "210": "SPA_DEPOSIT",
            "220": "SPA_TREATMENT",
        },
        "payment_methods": {
            "ROOM": "ROOM",
            "OJ": "ONEJOURNEY",
            "DR": "DEPOSIT_REDEMPTION",
            "CA": "CASH",
            "VI": "VISA",
        },
    }


@pytest_twisted.inlineCallbacks
def test_night_audit_start_and_end_roll_the_business_date(api):
    assert (yield api.call("POST", "/night-audit/start"))[:2] == (
        200,
        {"business_date": "2026-11-27", "night_audit_running": True},
    )
    assert (yield api.call("POST", "/night-audit/start"))[:2] == (
        409,
        {"error": "a night audit is running already"},
    )
    assert (yield api.call("POST", "/night-audit/end"))[:2] == (
        200,
        {"business_date": "2026-11-28", "night_audit_running": False},
    )
    assert (yield api.call("POST", "/night-audit/end"))[:2] == (
        409,
        {"error": "no night audit is running"},
    )


@pytest_twisted.inlineCallbacks
def test_faults_get_put_validate_and_merge(api, knobs):
    code, body, _ = yield api.call("PUT", "/faults", {"drop_answers": 2, "reject_status": "RY"})
    assert code == 200
    assert body == {
        "delay_ms": 0,
        "drop_answers": 2,
        "drop_posting_answers": 0,
        "reject_status": "RY",
        "reject_count": 0,
        "close_after_records": 0,
        "split_writes": 0,
        "garbage": "",
        "hold_night_audit": False,
        "http_500_count": 0,
        "drop_requests": 0,
        "expire_sessions": False,
        "callback_delay_ms": 0,
        "duplicate_callbacks": 0,
        "drop_callbacks": 0,
    }
    assert (yield api.call("PUT", "/faults", {"delay_ms": 250}))[1]["drop_answers"] == 2
    assert knobs.current.delay_ms == 250
    assert (yield api.call("PUT", "/faults", {"delay_ms": -1, "bogus": 1, "reject_status": "OK"}))[
        :2
    ] == (
        400,
        {
            "error": "delay_ms: must be a whole number >= 0, got -1; bogus: unknown fault knob "
            "(known: callback_delay_ms, close_after_records, delay_ms, drop_answers, "
            "drop_callbacks, drop_posting_answers, drop_requests, duplicate_callbacks, "
            "expire_sessions, garbage, hold_night_audit, http_500_count, reject_count, "
            "reject_status, split_writes); reject_status: must be one of RY, NA, UR or null"
        },
    )
    assert (yield api.call("GET", "/faults"))[1]["delay_ms"] == 250


@pytest_twisted.inlineCallbacks
def test_hold_night_audit_opens_an_audit_that_cannot_end_until_released(api, hotel):
    (yield api.call("PUT", "/faults", {"hold_night_audit": True}))
    assert hotel.night_audit_running
    code, body, _ = yield api.call("POST", "/night-audit/end")
    assert code == 409
    assert body["error"].startswith("the night audit is held open by the fault knob")
    (yield api.call("PUT", "/faults", {"hold_night_audit": False}))
    assert hotel.night_audit_running  # releasing the hold does not end the audit by itself
    assert (yield api.call("POST", "/night-audit/end"))[0] == 200


@pytest_twisted.inlineCallbacks
def test_reset_restores_hotel_and_faults(api, hotel, knobs):
    hotel.post(FolioPosting("ROOM", 100, 100, 123456))
    (yield api.call("PUT", "/faults", {"drop_answers": 3}))
    (yield api.call("POST", "/reservations/123456/check-out"))
    (yield api.call("POST", "/night-audit/start"))
    assert (yield api.call("POST", "/reset"))[:2] == (
        200,
        {"reset": True, "business_date": "2026-11-27", "night_audit_running": False},
    )
    assert knobs.current.drop_answers == 0
    assert (yield api.call("GET", "/reservations/123456"))[1]["state"] == "in_house"
    assert (yield api.call("GET", "/reservations/123456/folio"))[1]["lines"] == []


@pytest_twisted.inlineCallbacks
def test_trial_balance_for_today_a_given_date_or_all(api, hotel):
    hotel.post(FolioPosting("OJ", 5000, 210, 123456))
    (yield api.call("POST", "/night-audit/start"))
    (yield api.call("POST", "/night-audit/end"))
    hotel.post(FolioPosting("DR", 5000, 220, 123456))
    assert (yield api.call("GET", "/trial-balance"))[:2] == (
        200,
        {
            "business_date": "2026-11-28",
            "currency": "GBP",
            "codes": {"SPA_TREATMENT": 5000},
            "payment_types": {"DEPOSIT_REDEMPTION": -5000},
            "totals": {"revenue": 5000, "deposit": -5000, "payment": 0},
            "net": 0,
        },
    )
    day1 = (yield api.call("GET", "/trial-balance?business_date=2026-11-27"))[1]
    assert (day1["codes"], day1["payment_types"]) == (
        {"SPA_DEPOSIT": 5000},
        {"ONEJOURNEY": -5000},
    )
    everything = (yield api.call("GET", "/trial-balance?business_date=all"))[1]
    assert everything["business_date"] is None
    assert everything["totals"] == {"revenue": 5000, "deposit": 0, "payment": -5000}
    assert (yield api.call("GET", "/trial-balance?business_date=yesterday"))[:2] == (
        400,
        {"error": "business_date: 'yesterday' is neither YYYY-MM-DD nor 'all'"},
    )
