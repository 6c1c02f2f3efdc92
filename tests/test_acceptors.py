"""Acceptor processes (``[gateway] acceptors``): events accepted by processes of their own.

End to end: the FIAS simulator and the gateway run in the test's reactor (through
:class:`adapters.cli.stack.Stack`); the acceptors are real ``python -m adapters.acceptor``
processes the gateway starts, on a real loopback port, sharing the real SQLite journal in
``tmp_path``. Events are POSTed, signed, to the acceptors' port; the gateway's own process
posts them to the PMS, and the simulator's ledger shows each payment booked once.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import signal
from pathlib import Path
from typing import Any

import e2e_helpers
import pytest
import pytest_twisted
import treq
from e2e_helpers import line_view
from twisted.internet import task
from twisted.internet.defer import inlineCallbacks

from adapters.acceptor import AcceptorPool, ingest_socket
from adapters.api import sign
from adapters.config import ConfigInvalid, GatewayConfig, load_config

PROPERTY = "GRAND-LONDON"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gateway.toml"
payment_event = functools.partial(e2e_helpers.payment_event, PROPERTY)


def with_acceptors(count: int) -> Any:
    def configure(config: GatewayConfig) -> GatewayConfig:
        gateway = dataclasses.replace(
            config.gateway, acceptors=count, ingest_listen="tcp:port=0:interface=127.0.0.1"
        )
        return dataclasses.replace(config, gateway=gateway)

    return configure


@inlineCallbacks
def start_stack(workdir: Path, acceptors: int) -> Any:
    stack = yield e2e_helpers.start_fias_stack(workdir, PROPERTY, with_acceptors(acceptors))
    return stack


@inlineCallbacks
def post(stack: Any, url: str, event: Any, *, raw: bytes | None = None) -> Any:
    """A signed POST of ``event`` (or of ``raw`` bytes) to ``url``: (status, JSON answer)."""
    from twisted.internet import reactor

    body = raw if raw is not None else json.dumps(event).encode()
    response = yield treq.post(
        url,
        data=body,
        headers={
            "Content-Type": ["application/json"],
            "Foliogate-Signature": [sign(stack.secret, body, int(reactor.seconds()))],
            "Foliogate-Source": [stack.source],
        },
    )
    answer = yield response.json()
    return response.code, answer


def pids(stack: Any) -> list[int]:
    return sorted(p.pid for p in stack.gateway.acceptors.processes.values())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest_twisted.inlineCallbacks
def test_events_posted_to_the_acceptors_port_are_booked_once_by_the_gateway(tmp_path):
    """Two acceptor processes take the events and hand them to the gateway's process, the
    journal's one writer; 202 means committed (the event is in the journal when it comes);
    the gateway posts each leg, and the folio shows each payment once. A repeat is 200, a
    different body under the same id 409; all are counted in the gateway's own /metrics,
    and so is an event the acceptor itself refused."""
    stack = yield start_stack(tmp_path, acceptors=2)
    try:
        gateway = stack.gateway
        assert len(pids(stack)) == 2
        assert gateway.ingest_url != gateway.api_url
        url = gateway.ingest_url + "/v1/events"
        amounts = {f"evt_acc_{n}": 1000 + n for n in range(12)}
        for event_id, amount in amounts.items():
            code, answer = yield post(stack, url, payment_event(event_id, "123456", amount))
            assert code == 202, answer
            # Acknowledged means on disk: the gateway's own journal handle reads it now.
            assert stack.journal.event(event_id) is not None
        for event_id in amounts:
            legs = yield stack.wait_for_legs(event_id, {"posted"})
            assert [leg.state.value for leg in legs] == ["posted"]
        folio = yield stack.control("GET", "/reservations/123456/folio")
        booked = sorted(amount for _, amount, _ in line_view(folio))
        assert booked == sorted(-a for a in amounts.values())

        again = payment_event("evt_acc_0", "123456", 1000)
        code, answer = yield post(stack, url, again)
        assert code == 200, answer
        code, answer = yield post(stack, url, payment_event("evt_acc_0", "123456", 9999))
        assert code == 409, answer

        def counted() -> Any:
            text, _ = gateway.metrics.exposition()
            lines = text.decode().splitlines()
            wanted = [line for line in lines if line.startswith("foliogate_events_total{")]
            return wanted if any('result="conflict"' in line for line in wanted) else None

        code, _ = yield post(stack, url, None, raw=b"[]")
        assert code == 400

        def refused() -> Any:
            lines = counted()
            return lines if lines and any('result="rejected"' in x and " 1.0" in x
                                          for x in lines) else None  # fmt: skip

        metrics = yield stack.wait_for(refused, "the acceptors' counts in /metrics")
        assert 'foliogate_events_total{result="rejected",type="unknown"} 1.0' in metrics
        paid = [line for line in metrics if 'type="payment.succeeded"' in line]
        assert 'foliogate_events_total{result="accepted",type="payment.succeeded"} 12.0' in paid
        assert 'foliogate_events_total{result="duplicate",type="payment.succeeded"} 1.0' in paid
        assert 'foliogate_events_total{result="conflict",type="payment.succeeded"} 1.0' in paid
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_the_acceptors_port_refuses_bad_input_and_every_other_route(tmp_path):
    """The acceptors answer like the gateway (400 listing problems, 401, 404 for an unknown
    property, 415) and send every other path to the gateway's own port; /healthz works."""
    stack = yield start_stack(tmp_path, acceptors=1)
    try:
        base = stack.gateway.ingest_url
        code, answer = yield post(stack, base + "/v1/events", None, raw=b'{"event_id": 1}')
        assert code == 400 and answer["errors"], answer
        code, answer = yield post(stack, base + "/v1/events", None, raw=b"{not json")
        assert code == 400, answer
        event = payment_event("evt_acc_unknown", "123456", 100)
        code, answer = yield post(stack, base + "/v1/events", {**event, "property": "NOWHERE"})
        assert code == 404 and "NOWHERE" in json.dumps(answer)
        response = yield treq.post(
            base + "/v1/events", data=json.dumps(event).encode(),
            headers={"Content-Type": ["application/json"],
                     "Foliogate-Signature": ["t=1,v1=00"]},
        )  # fmt: skip
        assert response.code == 401
        yield response.content()
        response = yield treq.get(base + "/v1/legs")
        answer = yield response.json()
        assert response.code == 404
        assert "listen address" in answer["errors"][0]["reason"]
        response = yield treq.get(base + "/healthz")
        assert response.code == 200
        yield response.content()
        assert stack.journal.event("evt_acc_unknown") is None
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_an_acceptor_killed_is_started_again_and_stop_leaves_no_process(tmp_path):
    """SIGKILL of an acceptor: the gateway starts another; events are accepted again. When
    the gateway stops, its acceptors exit (no orphan keeps the port)."""
    from twisted.internet import reactor

    stack = yield start_stack(tmp_path, acceptors=1)
    stopped = False
    try:
        (first,) = pids(stack)
        os.kill(first, signal.SIGKILL)

        def replaced() -> Any:
            now = pids(stack)
            return now if now and now != [first] else None

        (second,) = yield stack.wait_for(replaced, "a new acceptor", timeout=15)
        url = stack.gateway.ingest_url + "/v1/events"
        code, answer = yield post(stack, url, payment_event("evt_acc_after", "123456", 777))
        assert code == 202, answer
        yield stack.wait_for_legs("evt_acc_after", {"posted"})
        yield stack.stop()
        stopped = True
        for _ in range(100):
            if not alive(second):
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
        assert not alive(second)
    finally:
        if not stopped:
            yield stack.stop()


def test_acceptors_need_a_port_of_their_own_on_loopback(tmp_path):
    """check-config: acceptors without ingest_listen, a public ingest_listen without
    allow_public, a non-TCP endpoint and too many acceptors are each named."""
    base = EXAMPLE.read_text()

    def errors(gateway_lines: str) -> list[str]:
        text = base.replace(
            "max_body_bytes = 65536", "max_body_bytes = 65536\n" + gateway_lines, 1
        )
        path = tmp_path / "gateway.toml"
        path.write_text(text)
        with pytest.raises(ConfigInvalid) as caught:
            load_config(path)
        return caught.value.errors

    assert errors("acceptors = 2") == [
        "gateway.ingest_listen: missing: acceptors > 0 need a port of their own"
    ]
    (public,) = errors('acceptors = 1\ningest_listen = "tcp:port=8601"')
    assert public.startswith("gateway.ingest_listen: listens on every interface")
    (unix,) = errors('acceptors = 1\ningest_listen = "unix:/tmp/x.sock"')
    assert unix.startswith("gateway.ingest_listen:")
    (many,) = errors('acceptors = 9\ningest_listen = "tcp:port=8601:interface=127.0.0.1"')
    assert many.startswith("gateway.acceptors:")
    good = tmp_path / "good.toml"
    listen = 'ingest_listen = "tcp:port=8601:interface=127.0.0.1"'
    good.write_text(
        base.replace("max_body_bytes = 65536", f"max_body_bytes = 65536\nacceptors = 2\n{listen}")
    )
    config = load_config(good)
    assert (config.gateway.acceptors, config.gateway.ingest_listen) == (
        2, "tcp:port=8601:interface=127.0.0.1"
    )  # fmt: skip


def test_the_gateway_reads_only_well_formed_lines_from_an_acceptor():
    """What an acceptor writes is checked: events handed over are journaled (here: the
    stand-in) and counts reach the metrics; garbage and wrong shapes are dropped (logged),
    never raised into the reactor."""
    from twisted.internet.defer import succeed

    sock = ingest_socket("tcp:port=0:interface=127.0.0.1")
    submitted: list[tuple[dict[str, Any], str]] = []
    counts: list[tuple[str | None, str]] = []

    def submit(event: dict[str, Any], source: str) -> Any:
        submitted.append((event, source))
        return succeed((202, {}, {}))

    try:
        pool = AcceptorPool(
            task.Clock(), sock, 1, lambda index: ["python"], env={},
            on_submit=submit, on_count=lambda t, r: counts.append((t, r)),
        )  # fmt: skip
        for raw in (
            b'{"submit":1,"source":"payments","event":{"event_id":"evt_1"}}',
            b'{"count":["payment.succeeded","rejected"]}',
            b'{"count":[null,"rejected"]}',
            b"not json",
            b"[1, 2]",
            b'{"submit":"2","source":"payments","event":{}}',
            b'{"submit":3,"source":"payments","event":[]}',
            b'{"count": ["x"]}',
        ):
            pool.line(0, raw)
        assert submitted == [({"event_id": "evt_1"}, "payments")]
        assert counts == [("payment.succeeded", "rejected"), (None, "rejected")]
        assert pool.host == "127.0.0.1" and pool.port > 0
    finally:
        sock.close()


def test_a_write_waits_for_another_processs_write_lock_and_gives_up_after_the_busy_timeout(
    tmp_path,
):
    """Two writers share the journal (the gateway and an acceptor): a write that finds the
    lock taken waits for it (short pauses, not SQLite's 1 ms sleeps) and then succeeds; a
    lock held past the busy timeout fails the write with the database error, committing
    nothing (the caller then does not acknowledge)."""
    import sqlite3
    import threading

    from adapters.journal import Journal

    path = tmp_path / "journal.sqlite"
    journal = Journal(str(path), busy_timeout_ms=2000)
    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.05, lambda: other.execute("COMMIT"))
        release.start()
        number = journal.next_posting_number(PROPERTY)  # a write: waits for the lock
        release.join()
        assert number >= 1
        assert journal.writable()

        short = Journal(str(path), busy_timeout_ms=100, recover=False)
        other.execute("BEGIN IMMEDIATE")
        try:
            assert not short.writable()
            with pytest.raises(sqlite3.OperationalError):
                short.next_posting_number("OTHER")
        finally:
            other.execute("ROLLBACK")
        assert short.next_posting_number("OTHER") >= 1
        short.close()
    finally:
        other.close()
        journal.close()


class _Spawner(task.Clock):
    """A Clock that records spawnProcess calls (the acceptor that never starts)."""

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[Any] = []

    def spawnProcess(self, process: Any, executable: str, args: Any, **kwargs: Any) -> Any:  # noqa: N802
        self.spawned.append(process)
        return None


def test_an_acceptor_that_keeps_dying_is_restarted_ever_less_often_and_a_steady_one_at_once():
    """Deaths right after start double the wait (1, 2, 4 ... at most 60 s); after a life of
    30 s or more the next restart waits 1 s again. Stopping cancels a pending restart."""
    from twisted.python.failure import Failure

    from adapters.acceptor import RESTART_MAX_SECONDS

    reactor = _Spawner()
    sock = ingest_socket("tcp:port=0:interface=127.0.0.1")
    try:
        pool = AcceptorPool(
            reactor, sock, 1, lambda index: ["python"], env={},
            on_submit=lambda e, s: None, on_count=lambda t, r: None,
        )  # fmt: skip
        pool.start()
        waits = []
        for _ in range(9):
            process = reactor.spawned[-1]
            reactor.advance(0.5)  # dies half a second after it started
            process.processEnded(Failure(RuntimeError("cannot start")))
            (call,) = reactor.getDelayedCalls()
            waits.append(call.getTime() - reactor.seconds())
            reactor.advance(waits[-1])
        assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
        assert RESTART_MAX_SECONDS == 60
        reactor.advance(45)  # this one runs steadily for a while, then dies
        reactor.spawned[-1].processEnded(Failure(RuntimeError("killed")))
        (call,) = reactor.getDelayedCalls()
        assert call.getTime() - reactor.seconds() == 1
        pool.stop()
        assert reactor.getDelayedCalls() == []
        assert pool.started == 10  # the first start and nine restarts; the tenth was cancelled
    finally:
        sock.close()


def test_the_acceptors_port_must_not_be_the_apis(tmp_path):
    base = EXAMPLE.read_text()
    same = 'acceptors = 1\ningest_listen = "tcp:interface=127.0.0.1:port=8600"'
    path = tmp_path / "gateway.toml"
    path.write_text(base.replace("max_body_bytes = 65536", f"max_body_bytes = 65536\n{same}"))
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path)
    assert caught.value.errors == [
        "gateway.ingest_listen: must differ from listen (the acceptors take POST /v1/events there)"
    ]
