"""Crash test with a real process: ``foliogate run`` is killed with SIGKILL mid-stream.

The PMS simulator (demo hotel) runs in the test's reactor on ephemeral loopback ports; the
gateway is a real ``foliogate run --config FILE`` subprocess with its journal in ``tmp_path``
and its secret in the environment. A sender posts 500 signed balance payments for the demo
hotel's in-house guests, retrying each one (as a payment platform retries a webhook) until the
gateway acknowledges it (202, or 200 for a repeat of one it had already committed).

The kill comes at the worst moment for exactly-once: mid-stream (after many 202s), at the
instant the PMS has booked the gateway's 60th posting and before its ``PA`` can reach the
gateway. The gateway is started again on the same journal and the sender carries on. When no
leg is pending any more, the simulator's ledger must show every acknowledged payment posted
exactly once; the leg caught in flight (and any other posting then awaiting its ``PA``: the
example configuration lets four postings await theirs) is ``unknown`` ("in flight at
restart") in the journal, in the exception queue, never re-sent, and posted once. Finally
SIGTERM must stop the gateway cleanly: exit code 0, and the PMS received the gateway's ``LE``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import treq
from twisted.internet import defer, task
from twisted.logger import globalLogPublisher
from twisted.web.client import HTTPConnectionPool

from adapters.api import sign
from adapters.domain import LegState
from adapters.journal import IN_FLIGHT_AT_RESTART, Journal
from simulators.ledger import DEMO_HOTEL
from simulators.service import start_simulator

LOOPBACK = "tcp:port=0:interface=127.0.0.1"
SECRET_ENV = "FOLIOGATE_SECRET_PAYMENTS"
SECRET = "whsec_crash_test"  # noqa: S105 (a test secret)
EVENTS = 500
KILL_AT_BOOKING = 60  # the PMS books this many postings, then the gateway dies
RATE = 150.0  # events per second at most: a steady stream
#: The sender stays at most this many events ahead of what the PMS has booked, so the kill
#: lands in the middle of the stream however fast or slow this machine is today.
WINDOW = 40
GUESTS = ("123456", "200101", "200102")  # in house in the demo hotel
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gateway.toml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(directory: Path, fias_port: int, api_port: int) -> Path:
    """examples/gateway.toml pointed at the simulator, listening on ``api_port``."""
    text = EXAMPLE.read_text()
    replacements = {
        'journal = "../var/foliogate.sqlite"': f'journal = "{directory / "journal.sqlite"}"',
        'listen = "tcp:port=8600:interface=127.0.0.1"':
            f'listen = "tcp:port={api_port}:interface=127.0.0.1"',
        'endpoint = "tcp:host=127.0.0.1:port=5010"':
            f'endpoint = "tcp:host=127.0.0.1:port={fias_port}"',
        "answer_timeout_seconds = 60": "answer_timeout_seconds = 5",
    }  # fmt: skip
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = directory / "gateway.toml"
    path.write_text(text)
    return path


def payment(n: int) -> dict[str, Any]:
    """Event n: a balance payment of (1000 + n) pence, so every amount names its event."""
    return {
        "event_id": f"evt_crash_{n:04d}",
        "type": "payment.succeeded",
        "property": "GRAND-LONDON",
        "occurred_at": "2026-11-27T10:04:05Z",
        "payment": {
            "kind": "balance",
            "amount": 1000 + n,
            "currency": "GBP",
            "transaction_id": f"pi_crash_{n:04d}",
            "method": "onejourney",
            "status": "Payment Success",
        },
        "booking": {"confirmation_number": GUESTS[n % len(GUESTS)]},
    }


class GatewayProcess:
    """``foliogate run`` as a subprocess, its log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        env = {**os.environ, SECRET_ENV: SECRET}
        self.log_path = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 (our own CLI)
            [sys.executable, "-m", "adapters.cli", "run", "--config", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def kill(self) -> int:
        self.process.send_signal(signal.SIGKILL)
        code = self.process.wait(timeout=10)
        self._log.close()
        return code

    @defer.inlineCallbacks
    def terminate(self, reactor: Any, timeout: float = 20.0) -> Any:
        """SIGTERM, then wait without blocking the reactor (the simulator must answer LE)."""
        self.process.send_signal(signal.SIGTERM)
        deadline = reactor.seconds() + timeout
        while self.process.poll() is None:
            if reactor.seconds() > deadline:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"foliogate run ignored SIGTERM for {timeout} s")
            yield task.deferLater(reactor, 0.05, lambda: None)
        self._log.close()
        return self.process.returncode

    def stop_quietly(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if not self._log.closed:
            self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.mark.slow
@pytest_twisted.inlineCallbacks
def test_kill_9_mid_stream_loses_nothing_acknowledged_and_posts_nothing_twice(tmp_path):
    from twisted.internet import reactor

    link_ends: list[dict[str, Any]] = []

    def watch(event: dict[str, Any]) -> None:
        if event.get("log_format") == "FIAS {peer}: link end":
            link_ends.append(event)

    globalLogPublisher.addObserver(watch)
    sim = yield start_simulator(reactor, DEMO_HOTEL, LOOPBACK, LOOPBACK)
    pool = HTTPConnectionPool(reactor, persistent=False)
    api_port = free_port()
    config = write_config(tmp_path, sim.fias_address[1], api_port)
    base = f"http://127.0.0.1:{api_port}"
    gateways = [GatewayProcess(config, tmp_path / "gateway-1.log")]
    try:
        first_answer: dict[int, int] = {}  # event n -> the status that acknowledged it
        attempts: Counter[int] = Counter()
        killed = defer.Deferred()

        @defer.inlineCallbacks
        def send(n: int, start: float) -> Any:
            body = json.dumps(payment(n)).encode()
            yield task.deferLater(reactor, max(0.0, start + n / RATE - reactor.seconds()), str)
            while n - booked[0] > WINDOW:
                yield task.deferLater(reactor, 0.01, str)
            while True:
                attempts[n] += 1
                t = int(reactor.seconds())
                try:
                    response = yield treq.post(
                        base + "/v1/events",
                        data=body,
                        headers={
                            "Content-Type": ["application/json"],
                            "Foliogate-Signature": [sign(SECRET.encode(), body, t)],
                        },
                        pool=pool,
                        timeout=10,
                    )
                    yield response.content()
                except Exception:  # refused while down, or cut off by the kill: send again
                    yield task.deferLater(reactor, 0.05, lambda: None)
                    continue
                if response.code in (202, 200):
                    first_answer[n] = response.code
                    return
                assert response.code == 503, (n, response.code)  # journal busy: retry
                yield task.deferLater(reactor, 0.05, lambda: None)

        book = sim.hotel.post
        booked = [0]  # postings the PMS has booked so far

        def book_then_kill(posting: Any) -> Any:
            """The PMS books a posting; at the chosen one the gateway dies before the PA."""
            outcome = book(posting)
            if outcome.ok:
                booked[0] += 1
                if booked[0] == KILL_AT_BOOKING:
                    assert gateways[0].kill() == -signal.SIGKILL
                    acknowledged_at_kill.append(len(first_answer))
                    killed.callback(posting)
            return outcome

        sim.hotel.post = book_then_kill  # type: ignore[method-assign]
        acknowledged_at_kill: list[int] = []

        @defer.inlineCallbacks
        def crash_and_restart() -> Any:
            caught = yield killed
            gateways.append(GatewayProcess(config, tmp_path / "gateway-2.log"))
            return caught

        yield wait_until_listening(reactor, pool, base)
        restart = crash_and_restart()
        start = reactor.seconds()
        yield defer.gatherResults([send(n, start) for n in range(EVENTS)], consumeErrors=True)
        caught = yield restart
        assert sorted(first_answer) == list(range(EVENTS))
        assert len(gateways) == 2
        # Killed mid-stream: after many 202s, with most of the stream still to come.
        assert KILL_AT_BOOKING // 2 <= acknowledged_at_kill[0] <= KILL_AT_BOOKING + WINDOW

        # Wait until the restarted gateway has nothing pending (planned, waiting or sent).
        health = yield wait_for_health(reactor, pool, base, lambda h: h["pending"] == 0)
        exceptions = health["exceptions"]

        code = yield gateways[1].terminate(reactor)
        assert code == 0, gateways[1].log_text()[-3000:]
        assert len(link_ends) == 1  # the PMS received LE from the stopping gateway
        assert "no LE from the PMS" not in gateways[1].log_text()
        assert (yield get_json(pool, sim.control_url + "/healthz"))["fias"]["state"] == "down"

        # -- the journal: every acknowledged event is there, every leg posted or unknown ----
        journal = Journal(str(tmp_path / "journal.sqlite"), recover=False)
        try:
            legs = {}
            for n in range(EVENTS):
                record = journal.event(f"evt_crash_{n:04d}")
                assert record is not None, f"acknowledged event {n} was lost"
                (leg,) = record.legs
                legs[n] = leg
        finally:
            journal.close()
        states = Counter(leg.state for leg in legs.values())
        assert set(states) <= {LegState.POSTED, LegState.UNKNOWN}, states
        # The posting the PMS booked as the gateway died: sent, never answered, so unknown
        # after the restart (never re-sent). So is any other posting then awaiting its PA in
        # another lane (examples/gateway.toml: postings_in_flight = 4; one per reservation at
        # most, and the demo hotel has three in house). Every other leg posted.
        caught_n = caught.total_amount - 1000
        unknown = {n: leg for n, leg in legs.items() if leg.state is LegState.UNKNOWN}
        assert caught_n in unknown and len(unknown) <= len(GUESTS), sorted(unknown)
        assert exceptions == len(unknown)
        for leg in unknown.values():
            assert (leg.reason, leg.attempts) == (IN_FLIGHT_AT_RESTART, 1)
        assert caught.source.startswith(f"FIAS PR P#{unknown[caught_n].posting_number} ")

        # -- the ledger: each acknowledged payment posted exactly once (unknown: at most once)
        booked: Counter[int] = Counter()
        posting_numbers: Counter[int] = Counter()
        for guest in GUESTS:
            folio = yield get_json(pool, f"{sim.control_url}/reservations/{guest}/folio")
            for line in folio["lines"]:
                assert (line["code"], line["payment_type"]) == ("ONEJOURNEY", "ONEJOURNEY")
                n = -line["amount"] - 1000
                assert 0 <= n < EVENTS and GUESTS[n % len(GUESTS)] == guest, line
                booked[n] += 1
                posting_numbers[int(line["source"].split("P#")[1].split()[0])] += 1
        assert max(posting_numbers.values()) == 1  # no P# booked twice
        assert booked == Counter(range(EVENTS))  # every payment exactly once, the caught one too
        assert states == Counter(
            {LegState.POSTED: EVENTS - len(unknown), LegState.UNKNOWN: len(unknown)}
        )
    finally:
        globalLogPublisher.removeObserver(watch)
        for gateway in gateways:
            gateway.stop_quietly()
        yield pool.closeCachedConnections()
        yield sim.stop()


@defer.inlineCallbacks
def get_json(pool: HTTPConnectionPool, url: str) -> Any:
    response = yield treq.get(url, pool=pool, timeout=10)
    return (yield response.json())


@defer.inlineCallbacks
def wait_until_listening(reactor: Any, pool: HTTPConnectionPool, base: str) -> Any:
    return (yield wait_for_health(reactor, pool, base, lambda h: True))


@defer.inlineCallbacks
def wait_for_health(
    reactor: Any, pool: HTTPConnectionPool, base: str, ready: Any, timeout: float = 45.0
) -> Any:
    deadline = reactor.seconds() + timeout
    last: Any = None
    while reactor.seconds() < deadline:
        try:
            last = yield get_json(pool, base + "/healthz")
        except Exception as exc:
            last = exc
        else:
            if ready(last):
                return last
        yield task.deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"gateway at {base} not ready after {timeout} s: {last!r}")
