"""SOAP PMS simulators, shared parts: the ledger's coded postings (DESIGN §3 rules for the SOAP
profiles), the new fault knobs, credentials from the hotel file and the environment, rezlynx
sessions on a fake clock, start_simulator serving every profile on its own port over one
ledger, and the ``foliogate sim`` flags in a real process.

Also the helpers the per-profile tests import (real HTTP on loopback with treq)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import treq.client
from lxml import etree
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.web.client import Agent, HTTPConnectionPool

from adapters.cli import build_parser, main
from protocols.soap import Credentials, parse_envelope, parse_fault, parse_xml
from simulators.faults import FaultKnobs, Faults, FaultsError, parse_faults
from simulators.ledger import (
    CodedLine,
    CodedPosting,
    CodeKind,
    Hotel,
    HotelConfigError,
    Refusal,
    SoapSettings,
    load_hotel_config,
    parse_hotel_config,
)
from simulators.service import start_simulator
from simulators.soap_common import SoapAccessError, soap_access
from simulators.soap_rezlynx import Sessions

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "tcp:port=0:interface=127.0.0.1"
#: The SOAP clock (aware) and the ledger's wall clock (naive), pinned.
NOW = dt.datetime(2026, 11, 27, 10, 4, 5, tzinfo=dt.UTC)
LEDGER_NOW = dt.datetime(2026, 11, 27, 10, 4, 5)
#: The demo hotel's demo-only credentials.
CREDENTIALS = Credentials("foliogate-demo", "demo-only-password")
BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<lolz>&lol3;</lolz>"
)


def external_entity(envelope: bytes) -> bytes:
    """``envelope`` with a DOCTYPE declaring an external entity used in its body."""
    head, _, rest = envelope.partition(b"?>")
    doctype = b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    return head + b"?>" + doctype + rest.replace(b"</Reference>", b"&xxe;</Reference>", 1)


# --------------------------------------------------------------------------------------------
# Helpers for the per-profile tests


class Http:
    """Real HTTP with treq on a non-persistent pool (no connection outlives a test)."""

    def __init__(self, reactor: Any) -> None:
        self.client = treq.client.HTTPClient(
            Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False))
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        response = await self.client.post(url, data=body, headers=headers, timeout=5)
        return response.code, await response.content()

    async def get(self, url: str) -> tuple[int, bytes]:
        response = await self.client.get(url, timeout=5)
        return response.code, await response.content()

    async def control(self, sim: Any, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        response = await self.client.request(method, sim.control_url + path, data=data, timeout=5)
        payload = json.loads(await response.content())
        assert response.code < 300, (method, path, response.code, payload)
        return payload


def demo_config(**soap: Any):
    """The demo hotel, its ``[soap]`` table changed by ``soap``."""
    config = load_hotel_config()
    return dataclasses.replace(config, soap=dataclasses.replace(config.soap, **soap))


async def start(config: Any = None, **kwargs: Any) -> Any:
    """The simulator with every SOAP profile on a loopback port, pinned clocks, no env."""
    from twisted.internet import reactor

    return await start_simulator(
        reactor,
        config or demo_config(),
        LOOPBACK,
        LOOPBACK,
        now=lambda: LEDGER_NOW,
        opera_htng=LOOPBACK,
        rezlynx=LOOPBACK,
        htng_async=LOOPBACK,
        soap_now=lambda: NOW,
        environ={},
        **kwargs,
    )


def fault_of(body: bytes):
    """The Fault record of a fault answer."""
    envelope = parse_envelope(parse_xml(body))
    assert envelope.is_fault, body
    return parse_fault(envelope.payload)


def with_timeout(deferred: defer.Deferred, seconds: float = 5) -> defer.Deferred:
    from twisted.internet import reactor

    return deferred.addTimeout(seconds, reactor)


# --------------------------------------------------------------------------------------------
# The ledger: coded postings


def _hotel() -> Hotel:
    return Hotel(load_hotel_config(), now=lambda: LEDGER_NOW)


def _post(hotel: Hotel, conf: int, *lines: CodedLine, allow_negative: bool = True):
    return hotel.post_coded(CodedPosting(conf, lines, "test", allow_negative=allow_negative))


def test_deposit_charge_and_payment_post_before_arrival_but_revenue_waits_for_check_in():
    hotel = _hotel()
    deposit = _post(
        hotel,
        400001,
        CodedLine(CodeKind.CHARGE, "SPA_DEPOSIT", 5000, "d1"),
        CodedLine(CodeKind.PAYMENT_TYPE, "ONEJOURNEY", 5000, "d2"),
    )
    assert deposit.ok and deposit.text == "posted to reservation 400001"
    assert [(line.code, line.amount, line.payment_type) for line in deposit.lines] == [
        ("SPA_DEPOSIT", 5000, None),
        ("ONEJOURNEY", -5000, "ONEJOURNEY"),
    ]
    revenue = _post(hotel, 400001, CodedLine(CodeKind.CHARGE, "SPA_TREATMENT", 5000))
    assert (revenue.refusal, revenue.text) == (
        Refusal.NOT_IN_HOUSE,
        "reservation 400001 is not checked in; revenue code SPA_TREATMENT needs an in-house guest",
    )
    assert hotel.balance(400001) == 0


def test_negative_sale_on_the_deposit_code_redeems_the_deposit_and_every_invariant_holds():
    hotel = _hotel()
    _post(
        hotel,
        400001,
        CodedLine(CodeKind.CHARGE, "SPA_DEPOSIT", 5000),
        CodedLine(CodeKind.PAYMENT_TYPE, "ONEJOURNEY", 5000),
    )
    hotel.check_in(400001)
    redeemed = _post(
        hotel,
        400001,
        CodedLine(CodeKind.CHARGE, "SPA_TREATMENT", 5000),
        CodedLine(CodeKind.CHARGE, "SPA_DEPOSIT", -5000),
    )
    assert redeemed.ok
    hotel.check_out(400001)
    assert hotel.balance(400001) == 0
    assert hotel.totals(400001).deposit == 0
    assert all(inv.holds for inv in hotel.invariants(400001).values())


@pytest.mark.parametrize(
    ("conf", "line", "refusal", "text"),
    [
        (
            999999,
            ("CHARGE", "SPA_DEPOSIT", 1),
            Refusal.UNKNOWN_RESERVATION,
            "no reservation 999999",
        ),
        (
            500001,
            ("CHARGE", "SPA_DEPOSIT", 1),
            Refusal.FOLIO_CLOSED,
            "reservation 500001 has checked out; its folio is closed",
        ),
        (
            300001,
            ("CHARGE", "SPA_DEPOSIT", 1),
            Refusal.NO_POST,
            "no-post flag set for reservation 300001",
        ),
        (
            123456,
            ("CHARGE", "SPA_MASSAGE", 1),
            Refusal.UNKNOWN_TRANSACTION_CODE,
            "unknown transaction code 'SPA_MASSAGE'",
        ),
        (
            123456,
            ("CHARGE", "ONEJOURNEY", 1),
            Refusal.UNKNOWN_TRANSACTION_CODE,
            "'ONEJOURNEY' is a payment type, not a transaction code",
        ),
        (
            123456,
            ("PAYMENT_TYPE", "PAYPAL", 1),
            Refusal.UNKNOWN_PAYMENT_TYPE,
            "unknown payment type 'PAYPAL'",
        ),
        (
            123456,
            ("PAYMENT_TYPE", "SPA_DEPOSIT", 1),
            Refusal.UNKNOWN_PAYMENT_TYPE,
            "'SPA_DEPOSIT' is a transaction code, not a payment type",
        ),
        (
            123456,
            ("CHARGE", "SPA_DEPOSIT", 0),
            Refusal.AMOUNT_NOT_ALLOWED,
            "amount 0 is not allowed (SPA_DEPOSIT)",
        ),
    ],
)
def test_coded_posting_refusals_name_what_is_wrong_and_book_nothing(conf, line, refusal, text):
    hotel = _hotel()
    kind, code, amount = line
    outcome = _post(hotel, conf, CodedLine(CodeKind[kind], code, amount))
    assert (outcome.refusal, outcome.text, outcome.lines) == (refusal, text, ())
    assert hotel.trial_balance(None).net == 0


def test_needs_in_house_refuses_even_a_payment_before_check_in():
    hotel = _hotel()
    outcome = hotel.post_coded(
        CodedPosting(400001, (CodedLine(CodeKind.PAYMENT_TYPE, "VISA", 100),), needs_in_house=True)
    )
    assert (outcome.refusal, outcome.text) == (
        Refusal.NOT_IN_HOUSE,
        "reservation 400001 is not checked in; payment type VISA needs an in-house guest here",
    )
    hotel.check_in(400001)
    assert hotel.post_coded(
        CodedPosting(400001, (CodedLine(CodeKind.PAYMENT_TYPE, "VISA", 100),), needs_in_house=True)
    ).ok


def test_negative_amount_is_refused_when_the_posting_does_not_allow_it():
    outcome = _post(
        _hotel(), 123456, CodedLine(CodeKind.CHARGE, "SPA_DEPOSIT", -5000), allow_negative=False
    )
    assert (outcome.refusal, outcome.text) == (
        Refusal.AMOUNT_NOT_ALLOWED,
        "negative amount -5000 is not allowed here (SPA_DEPOSIT)",
    )


def test_coded_posting_is_all_or_nothing_and_names_the_refused_line():
    hotel = _hotel()
    outcome = _post(
        hotel,
        123456,
        CodedLine(CodeKind.CHARGE, "SPA_TREATMENT", 5000),
        CodedLine(CodeKind.PAYMENT_TYPE, "PAYPAL", 5000),
    )
    assert (outcome.refusal, outcome.line_index) == (Refusal.UNKNOWN_PAYMENT_TYPE, 1)
    assert hotel.folio(123456) == ()


def test_night_audit_refuses_coded_postings():
    hotel = _hotel()
    hotel.start_night_audit()
    outcome = _post(hotel, 123456, CodedLine(CodeKind.CHARGE, "SPA_TREATMENT", 5000))
    assert (outcome.refusal, outcome.text) == (
        Refusal.NIGHT_AUDIT,
        "night audit in progress; post after it ends",
    )


def test_line_numbers_are_hotel_wide_across_fias_and_coded_postings():
    from simulators.ledger import FolioPosting

    hotel = _hotel()
    fias = hotel.post(FolioPosting("OJ", 5000, 210, 123456))  # two lines
    coded = _post(hotel, 200101, CodedLine(CodeKind.CHARGE, "SPA_TREATMENT", 100))
    assert [line.line_number for line in fias.lines + coded.lines] == [1, 2, 3]


# --------------------------------------------------------------------------------------------
# Configuration and credentials


def test_soap_table_is_read_and_validated_with_every_error_listed():
    data = {
        "hotel": {"business_date": "2026-11-27"},
        "codes": {"ROOM": {"group": "revenue"}},
        "fias": {"payment_methods": {"ROOM": "ROOM"}},
        "soap": {"username": "", "session_timeout_seconds": 0, "bogus": 1},
    }
    with pytest.raises(HotelConfigError) as caught:
        parse_hotel_config(data)
    assert caught.value.errors == [
        "soap.bogus: unknown key (known: allow_negative_amounts, callback_password, "
        "callback_username, hotel_code, password, session_timeout_seconds, site_id, username)",
        "soap.username: must be a non-empty string",
        "soap.session_timeout_seconds: must be a whole number > 0",
    ]
    data["soap"] = {"username": "u", "password": "p", "site_id": "S1"}
    assert parse_hotel_config(data).soap == SoapSettings(username="u", password="p", site_id="S1")


def test_the_demo_hotel_has_demo_credentials_and_the_environment_overrides_them():
    config = load_hotel_config()
    access = soap_access(config, environ={})
    assert access.credentials == CREDENTIALS
    assert access.callback_credentials == CREDENTIALS  # defaults to the same
    env = {
        "FOLIOGATE_SIM_SOAP_USERNAME": "real-user",
        "FOLIOGATE_SIM_SOAP_PASSWORD": "from-env",
        "FOLIOGATE_SIM_SOAP_CALLBACK_PASSWORD": "cb-secret",
    }
    access = soap_access(config, environ=env)
    assert access.credentials == Credentials("real-user", "from-env")
    assert access.callback_credentials == Credentials("real-user", "cb-secret")
    assert "from-env" not in repr(access)


def test_no_credentials_anywhere_is_a_clear_error():
    config = demo_config(username=None, password=None)
    with pytest.raises(SoapAccessError) as caught:
        soap_access(config, environ={})
    assert str(caught.value) == (
        "the SOAP simulators need credentials: set username and password in the hotel file's "
        "[soap] table, or FOLIOGATE_SIM_SOAP_USERNAME and FOLIOGATE_SIM_SOAP_PASSWORD"
    )


# --------------------------------------------------------------------------------------------
# Fault knobs


def test_soap_knobs_parse_validate_and_count_down():
    faults = parse_faults(
        {
            "http_500_count": 2,
            "drop_requests": 1,
            "expire_sessions": True,
            "callback_delay_ms": 50,
            "duplicate_callbacks": 1,
            "drop_callbacks": 1,
        }
    )
    knobs = FaultKnobs(faults)
    assert [knobs.take_http_500() for _ in range(3)] == [True, True, False]
    assert [knobs.take_request_drop() for _ in range(2)] == [True, False]
    assert [knobs.take_session_expiry() for _ in range(2)] == [True, False]
    assert [knobs.take_callback_duplicate() for _ in range(2)] == [True, False]
    assert [knobs.take_callback_drop() for _ in range(2)] == [True, False]
    assert knobs.current == Faults(callback_delay_ms=50)
    with pytest.raises(FaultsError) as caught:
        parse_faults({"http_500_count": -1, "expire_sessions": "yes", "drop_callbacks": True})
    assert caught.value.errors == [
        "http_500_count: must be a whole number >= 0, got -1",
        "expire_sessions: must be true or false",
        "drop_callbacks: must be a whole number >= 0, got True",
    ]


def test_rezlynx_sessions_expire_when_idle_longer_than_the_timeout_or_all_at_once():
    clock = Clock()
    ids = iter(["s1", "s2", "s3"])
    sessions = Sessions(clock, timeout_seconds=60, new_id=lambda: next(ids))
    first = sessions.open()
    clock.advance(60)
    assert sessions.use(first)  # exactly the timeout: still open, and used again now
    clock.advance(61)
    assert not sessions.use(first)
    assert not sessions.use(first)  # gone for good
    second, third = sessions.open(), sessions.open()
    assert sessions.expire_all() == 2
    assert not sessions.use(second) and not sessions.use(third)
    assert not sessions.use("never-issued")


# --------------------------------------------------------------------------------------------
# Serving


@pytest_twisted.ensureDeferred
async def test_every_profile_has_its_own_port_and_path_and_they_share_one_ledger():
    sim = await start()
    try:
        urls = sim.soap_urls
        assert sorted(urls) == ["htng-async", "opera-htng", "rezlynx"]
        ports = {re.search(r":(\d+)/", url).group(1) for url in urls.values()}
        assert len(ports) == 3
        assert {url.rsplit("/", 1)[1] for url in urls.values()} == set(urls)
        assert all(resource.hotel is sim.hotel for resource in sim.soap_resources.values())
        assert all(resource.knobs is sim.knobs for resource in sim.soap_resources.values())
    finally:
        await sim.stop()


@pytest_twisted.ensureDeferred
async def test_start_without_credentials_raises_and_listens_nowhere():
    from twisted.internet import reactor

    with pytest.raises(SoapAccessError):
        await start_simulator(
            reactor,
            demo_config(username=None, password=None),
            LOOPBACK,
            LOOPBACK,
            opera_htng=LOOPBACK,
            environ={},
        )


@pytest_twisted.ensureDeferred
async def test_the_simulator_without_soap_endpoints_serves_none():
    from twisted.internet import reactor

    sim = await start_simulator(reactor, load_hotel_config(), LOOPBACK, LOOPBACK)
    try:
        assert (sim.soap_urls, sim.soap_resources) == ({}, {})
    finally:
        await sim.stop()


def test_sim_soap_flags_are_off_by_default_and_take_a_loopback_default_without_a_value():
    args = build_parser().parse_args(["sim"])
    assert (args.opera_htng, args.rezlynx, args.htng_async) == (None, None, None)
    args = build_parser().parse_args(
        ["sim", "--opera-htng", "--rezlynx", "tcp:port=9000:interface=127.0.0.1", "--htng-async"]
    )
    assert (args.opera_htng, args.rezlynx, args.htng_async) == (
        "tcp:port=8611:interface=127.0.0.1",
        "tcp:port=9000:interface=127.0.0.1",
        "tcp:port=8613:interface=127.0.0.1",
    )


def test_sim_with_a_soap_flag_and_no_credentials_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FOLIOGATE_SIM_SOAP_USERNAME", raising=False)
    monkeypatch.delenv("FOLIOGATE_SIM_SOAP_PASSWORD", raising=False)
    hotel = tmp_path / "hotel.toml"
    text = (REPO / "simulators/hotels/demo.toml").read_text()
    hotel.write_text(text.replace('username = "foliogate-demo"\n', ""))
    assert main(["sim", "--hotel", str(hotel), "--opera-htng", LOOPBACK]) == 2
    assert capsys.readouterr().err.startswith("foliogate sim: the SOAP simulators need credentials")


def test_sim_process_serves_the_soap_profiles_it_is_asked_for_until_sigterm():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adapters.cli",
            "sim",
            "--fias",
            LOOPBACK,
            "--control",
            LOOPBACK,
            "--opera-htng",
            LOOPBACK,
            "--htng-async",
            LOOPBACK,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(30, process.kill)  # never hang the suite
    watchdog.start()
    try:
        banner = process.stdout.readline()
        found = dict(re.findall(r"(opera-htng|rezlynx|htng-async) on (http://\S+?)[,;]", banner))
        assert sorted(found) == ["htng-async", "opera-htng"], banner + process.stderr.read()
        with urllib.request.urlopen(found["opera-htng"] + "?wsdl", timeout=5) as response:
            wsdl = etree.fromstring(response.read())
        assert wsdl.get("targetNamespace") == "urn:foliogate:opera-htng:wsdl:1"
        process.terminate()
        assert process.wait(timeout=10) == 0
    finally:
        watchdog.cancel()
        process.kill()
        process.stdout.close()
        process.stderr.close()


class Turns:
    """A reactor's callLater(0) as the real reactor runs it: what is scheduled during a turn
    runs in the next one (twisted.internet.task.Clock would run it in the same advance)."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def callLater(self, delay: float, f: Any, *args: Any) -> None:  # noqa: N802 (Twisted's name)
        assert delay == 0
        self.calls.append((f, args))

    def turn(self) -> None:
        calls, self.calls = self.calls, []
        for f, args in calls:
            f(*args)


def test_one_request_per_turn_answers_requests_that_came_together_one_after_the_other():
    """foliogate sim's SOAP endpoints (one_per_turn): the first request of a reactor turn is
    answered at once; one that arrives in the same turn waits for the next turn (so the
    first answer goes out before it is handled); a client that left meanwhile is skipped."""
    from twisted.web.server import NOT_DONE_YET
    from twisted.web.test.requesthelper import DummyRequest

    from simulators.soap_opera_htng import OperaHtngResource

    turns = Turns()
    hotel = Hotel.from_file(REPO / "simulators" / "hotels" / "demo.toml", now=lambda: LEDGER_NOW)
    access = soap_access(hotel.config, {})
    resource = OperaHtngResource(
        hotel, FaultKnobs(hotel.config.faults), access, clock=turns, now=lambda: NOW,
        one_per_turn=True,
    )  # fmt: skip
    handled: list[str] = []

    def render(request: Any) -> bytes:
        handled.append(request.name)
        return request.name.encode()

    resource._render_post = render  # type: ignore[method-assign]
    requests = []
    for name in ("first", "second", "gone", "third"):
        request = DummyRequest([b""])
        request.method = b"POST"
        request.name = name
        requests.append(request)
    first, second, gone, third = requests
    assert resource.render_POST(first) == b"first"
    assert [resource.render_POST(r) for r in (second, gone, third)] == [NOT_DONE_YET] * 3
    assert handled == ["first"]
    turns.turn()
    assert handled == ["first", "second"] and second.written == [b"second"] and second.finished
    gone._disconnected = True  # the client left while it waited
    turns.turn()
    assert handled == ["first", "second", "third"] and third.finished
    turns.turn()
    turns.turn()
    assert handled == ["first", "second", "third"] and turns.calls == []
    assert resource.render_POST(third) == b"third"  # a new turn: answered at once
