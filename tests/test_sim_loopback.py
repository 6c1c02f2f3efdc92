"""End to end over real loopback sockets: a plain-socket FIAS client (literal bytes, not our
codec) talks to the running simulator, and the folio is read back through the control API."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import socket
import urllib.error
import urllib.request

import pytest
import pytest_twisted
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory

from simulators.faults import Faults
from simulators.ledger import DEMO_HOTEL, load_hotel_config
from simulators.service import start_simulator

NOW = dt.datetime(2026, 11, 27, 10, 4, 5)
LOOPBACK = "tcp:port=0:interface=127.0.0.1"


class PlainFiasClient:
    """Blocking socket client: STX + record + ETX out, read up to ETX in. Nothing else."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=5)
        self.buffer = b""

    def send(self, *records: bytes) -> None:
        self.sock.sendall(b"".join(b"\x02" + r + b"\x03" for r in records))

    def read(self) -> bytes:
        while b"\x03" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed by the server; pending {self.buffer!r}")
            self.buffer += chunk
        record, _, self.buffer = self.buffer.partition(b"\x03")
        assert record.startswith(b"\x02"), record
        return record[1:]

    def close(self) -> None:
        self.sock.close()


def get_json(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def post_json(url: str, body: dict):
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.status, json.load(response)


def qa_session(host: str, port: int, control_url: str) -> dict:
    """What a QA script does: link up, check a guest in, inquire, post, link end, read folio."""
    seen = {}
    client = PlainFiasClient(host, port)
    try:
        seen["ls"] = client.read()
        client.send(
            b"LD|DA261127|TI100400|V#1.0|IFPO|",
            b"LR|RIGI|FLRNG#GSGN|",
            b"LR|RIPR|FLP#WSPMPIRNG#GNTASODATI|",
            b"LR|RIPL|FLP#WSRNG#GNBA|",
            b"LR|RIPA|FLP#WSASCTRNG#GNSODATI|",
            b"LA|DA261127|TI100400|",
        )
        seen["la"] = client.read()
        seen["check_in"] = post_json(control_url + "/reservations/400001/check-in", {"room": "202"})
        seen["gi"] = client.read()
        client.send(b"PR|P#1|WSQA1|PMROOM|PI202|DA261127|TI100401|")
        seen["pl"] = client.read()
        client.send(
            b"PR|P#2|WSQA1|PMROOM|RN202|G#400001|GNEarly, Eric|TA2500|S12000|T1500|SO200|"
            b"DA261127|TI100402|"
        )
        seen["pa"] = client.read()
        client.send(b"PR|P#3|WSQA1|PMOJ|SO210|TA5000|G#400001|DA261127|TI100403|")
        seen["pa_deposit"] = client.read()
        client.send(b"LE|DA261127|TI100404|")
        seen["le"] = client.read()
    finally:
        client.close()
    seen["folio"] = get_json(control_url + "/reservations/400001/folio")
    seen["healthz"] = get_json(control_url + "/healthz")
    return seen


@pytest_twisted.inlineCallbacks
def test_plain_socket_client_links_up_inquires_posts_and_the_folio_shows_it():
    from twisted.internet import reactor, threads

    simulator = yield start_simulator(reactor, DEMO_HOTEL, LOOPBACK, LOOPBACK, now=lambda: NOW)
    try:
        host, port = simulator.fias_address
        seen = yield threads.deferToThread(qa_session, host, port, simulator.control_url)
    finally:
        yield simulator.stop()

    assert seen["ls"] == b"LS|DA261127|TI100405|"
    assert seen["la"] == b"LA|DA261127|TI100405|"
    assert seen["check_in"][0] == 200
    assert seen["gi"] == b"GI|RN202|G#400001|GSN|GNEarly, Eric|"
    assert seen["pl"] == b"PL|WSQA1|RN202|G#400001|GNEarly, Eric|BA0|P#1|"
    assert seen["pa"] == (
        b"PA|SO200|WSQA1|RN202|G#400001|GNEarly, Eric|ASOK|DA261127|TI100402|P#2|"
    )
    assert seen["pa_deposit"] == b"PA|RN202|SO210|WSQA1|G#400001|ASOK|DA261127|TI100403|P#3|"
    assert seen["le"] == b"LE|DA261127|TI100405|"
    status, folio = seen["folio"]
    assert status == 200
    assert folio["balance"] == 2500
    assert [(ln["code"], ln["amount"], ln["payment_type"]) for ln in folio["lines"]] == [
        ("FOOD_AND_BEVERAGE", 2500, None),
        ("SPA_DEPOSIT", 5000, None),
        ("ONEJOURNEY", -5000, "ONEJOURNEY"),
    ]
    assert folio["totals"] == {"revenue": 2500, "deposit": 5000, "payment": -5000}
    # After LE the server closes the link; the HTTP request may arrive just before the reactor
    # has seen the socket go (state "closed") or after ("down"): both mean no live link.
    assert seen["healthz"][1]["fias"]["state"] in ("down", "closed")


@pytest_twisted.inlineCallbacks
def test_stop_closes_both_ports():
    from twisted.internet import reactor, threads

    simulator = yield start_simulator(reactor, DEMO_HOTEL, LOOPBACK, LOOPBACK, now=lambda: NOW)
    host, port = simulator.fias_address
    yield simulator.stop()

    def refused() -> bool:
        try:
            socket.create_connection((host, port), timeout=2).close()
        except ConnectionRefusedError:
            return True
        return False

    assert (yield threads.deferToThread(refused))


@pytest_twisted.inlineCallbacks
def test_hotel_file_can_start_the_simulator_with_a_night_audit_held_open():
    from twisted.internet import reactor

    config = dataclasses.replace(load_hotel_config(), faults=Faults(hold_night_audit=True))
    simulator = yield start_simulator(reactor, config, LOOPBACK, LOOPBACK, now=lambda: NOW)
    try:
        assert simulator.hotel.night_audit_running
        assert simulator.knobs.current.hold_night_audit
    finally:
        yield simulator.stop()


@pytest_twisted.inlineCallbacks
def test_control_port_that_cannot_listen_fails_the_start_and_frees_the_fias_port():
    from twisted.internet import reactor

    busy = reactor.listenTCP(0, Factory(), interface="127.0.0.1")
    probe = reactor.listenTCP(0, Factory(), interface="127.0.0.1")
    fias_port = probe.getHost().port
    yield probe.stopListening()
    try:
        with pytest.raises(CannotListenError):
            yield start_simulator(
                reactor,
                DEMO_HOTEL,
                f"tcp:port={fias_port}:interface=127.0.0.1",
                f"tcp:port={busy.getHost().port}:interface=127.0.0.1",
            )
        again = reactor.listenTCP(fias_port, Factory(), interface="127.0.0.1")
        yield again.stopListening()
    finally:
        yield busy.stopListening()
