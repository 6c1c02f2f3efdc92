"""The simulator's control API for drift and front-desk scenarios, over real HTTP on loopback:
``PUT``/``DELETE /codes/{code}`` change the PMS's code table under the interface, and
``POST /reservations/{conf}/charges`` is the front desk charging a folio."""

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
from simulators.ledger import DEMO_HOTEL, FolioPosting, Hotel, Status

NOW = dt.datetime(2026, 11, 27, 10, 4, 5)


class Api:
    def __init__(self, reactor, base):
        self.base = base
        self.pool = HTTPConnectionPool(reactor, persistent=False)

    @defer.inlineCallbacks
    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        response = yield treq.request(method, self.base + path, data=data, pool=self.pool)
        content = yield response.content()
        return response.code, json.loads(content)


@pytest.fixture
def hotel():
    return Hotel.from_file(DEMO_HOTEL, now=lambda: NOW)


@pytest_twisted.async_yield_fixture
async def api(hotel):
    from twisted.internet import reactor

    resource = ControlResource(hotel, FaultKnobs(hotel.config.faults))
    port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
    yield Api(reactor, f"http://127.0.0.1:{port.getHost().port}")
    await port.stopListening()


def posting(so: int, conf: int = 123456) -> FolioPosting:
    return FolioPosting(
        payment_method="OJ", total_amount=5000, sales_outlet=so, confirmation_number=conf
    )


@pytest_twisted.inlineCallbacks
def test_a_removed_code_takes_its_sales_outlet_along_and_fias_answers_ur(api, hotel):
    code, answer = yield api.call("DELETE", "/codes/SPA_TREATMENT")
    assert code == 200
    assert "SPA_TREATMENT" not in answer["codes"]
    assert "220" not in answer["fias"]["sales_outlets"]
    outcome = hotel.post(posting(220))
    assert (outcome.status, outcome.text) == (Status.UR, "unknown sales outlet SO 220")
    assert (yield api.call("DELETE", "/codes/SPA_TREATMENT")) == (
        404,
        {"error": "no code 'SPA_TREATMENT'"},
    )


@pytest_twisted.inlineCallbacks
def test_a_renamed_code_keeps_its_group_and_its_sales_outlet_books_the_new_name(api, hotel):
    code, answer = yield api.call("PUT", "/codes/SPA_DEP", {"rename_from": "SPA_DEPOSIT"})
    assert code == 200
    assert answer["codes"]["SPA_DEP"] == {
        "description": "Spa Deposit",
        "group": "deposit",
        "kind": "charge",
    }
    assert "SPA_DEPOSIT" not in answer["codes"]
    assert answer["fias"]["sales_outlets"]["210"] == "SPA_DEP"
    outcome = hotel.post(posting(210))
    assert outcome.ok
    assert [line.code for line in outcome.lines] == ["SPA_DEP", "ONEJOURNEY"]
    # Used now: the PMS will not rename it again; reset restores the hotel file's codes.
    assert (yield api.call("PUT", "/codes/SPA_X", {"rename_from": "SPA_DEP"})) == (
        409,
        {"error": "code SPA_DEP is on a folio; a PMS cannot rename it"},
    )
    assert (yield api.call("POST", "/reset"))[0] == 200
    code, answer = yield api.call("GET", "/codes")
    assert answer["fias"]["sales_outlets"]["210"] == "SPA_DEPOSIT"
    assert "SPA_DEP" not in answer["codes"]


@pytest_twisted.inlineCallbacks
def test_a_new_code_with_its_own_sales_outlet(api, hotel):
    code, answer = yield api.call(
        "PUT",
        "/codes/MANICURE",
        {"group": "revenue", "description": "Manicure", "sales_outlet": 230},
    )
    assert code == 200
    assert answer["codes"]["MANICURE"] == {
        "description": "Manicure",
        "group": "revenue",
        "kind": "charge",
    }
    assert answer["fias"]["sales_outlets"]["230"] == "MANICURE"
    assert (yield api.call("PUT", "/codes/TIP", {"group": "tips"})) == (
        400,
        {"error": "group: one of revenue, payment, deposit; kind: one of charge, payment_type"},
    )
    assert (
        yield api.call(
            "PUT", "/codes/CASH2", {"group": "payment", "kind": "payment_type", "sales_outlet": 9}
        )
    ) == (
        400,
        {"error": "sales_outlet: only a charge code has a sales outlet"},
    )


@pytest_twisted.inlineCallbacks
def test_the_front_desk_charges_an_in_house_guest_and_a_used_code_cannot_be_removed(api):
    code, folio = yield api.call(
        "POST", "/reservations/123456/charges", {"code": "ROOM_CHARGE", "amount": 12000}
    )
    assert code == 201
    assert [
        (line["code"], line["amount"], line["payment_type"], line["reference"], line["source"])
        for line in folio["lines"]
    ] == [
        ("ROOM_CHARGE", 12000, None, "front desk", "front desk"),
    ]
    assert folio["balance"] == 12000
    assert (yield api.call("DELETE", "/codes/ROOM_CHARGE")) == (
        409,
        {"error": "code ROOM_CHARGE is on a folio; a PMS cannot remove it"},
    )
    assert (
        yield api.call(
            "POST", "/reservations/400001/charges", {"code": "ROOM_CHARGE", "amount": 100}
        )
    ) == (
        409,
        {"error": "guest G#400001 is not checked in"},
    )
    assert (
        yield api.call(
            "POST", "/reservations/123456/charges", {"code": "ONEJOURNEY", "amount": 100}
        )
    ) == (
        400,
        {"error": "code 'ONEJOURNEY' has no sales outlet: not a chargeable code"},
    )
    assert (
        yield api.call("POST", "/reservations/123456/charges", {"code": "ROOM_CHARGE", "amount": 0})
    ) == (
        400,
        {"error": "amount: required, a positive integer in minor units"},
    )
