"""Observability (adapters/metrics.py): /metrics, /readyz, ingest counts, JSON log fields.

Unit tests read a real SQLite journal through :class:`GatewayMetrics` with stand-in runtimes;
the end-to-end tests run the gateway against the FIAS simulator (adapters.cli.stack.Stack),
scrape ``/metrics`` and ``/readyz`` over real HTTP, and cut the FIAS link by closing the
simulator's listener and connection, then open it again on the same port.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_twisted
import treq
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import task
from twisted.internet.endpoints import serverFromString
from twisted.logger import eventAsJSON, formatEvent, globalLogPublisher

from adapters.cli.stack import Stack
from adapters.domain import PlannedLeg
from adapters.fias_link import LinkState, LinkStatus
from adapters.journal import Journal
from adapters.metrics import GatewayMetrics, link_views, readiness

UTC = dt.UTC
PROPERTY = "GRAND-LONDON"
T0 = dt.datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition: (name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(all_samples: dict, name: str, **labels: str) -> float:
    return all_samples[(name, frozenset(labels.items()))]


class Now:
    def __init__(self) -> None:
        self.value = T0

    def __call__(self) -> dt.datetime:
        return self.value

    def at(self, seconds: float) -> None:
        self.value = T0 + dt.timedelta(seconds=seconds)


def fias_runtime(status: LinkStatus, running: bool = True) -> Any:
    return SimpleNamespace(link=SimpleNamespace(status=status, running=running))


def held_runtime(reason: str | None) -> Any:
    """A non-FIAS runtime (a SOAP poster): only its channel's hold reason is known."""
    channel = SimpleNamespace(hold_reason=lambda: reason)
    return SimpleNamespace(dispatcher=SimpleNamespace(channel=channel))


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    now = Now()
    j = Journal(str(tmp_path / "journal.sqlite"), reactor=task.Clock(), now=now)
    j.test_now = now  # type: ignore[attr-defined]
    yield j
    j.close()


def record(journal: Any, event_id: str, prop: str = PROPERTY, legs: int = 1) -> tuple[Any, ...]:
    from adapters import events

    body = {
        "event_id": event_id,
        "type": "payment.succeeded",
        "property": prop,
        "occurred_at": "2026-11-27T09:00:00Z",
        "payment": {
            "kind": "balance",
            "amount": 1000,
            "currency": "GBP",
            "transaction_id": "pi_" + event_id,
            "method": "onejourney",
            "status": "Payment Success",
        },
        "booking": {"confirmation_number": "123456"},
    }
    planned = [PlannedLeg(i, None, "ONEJOURNEY", 1000, "GBP") for i in range(legs)]
    result = journal.record_event(events.parse_event(body), events.canonical_body(body), planned)
    return tuple(result.legs)


def test_metrics_report_legs_by_state_queue_depth_oldest_wait_and_posting_latency(journal):
    now = journal.test_now
    now.at(0)
    (oldest,) = record(journal, "evt_1")  # planned at T0: the oldest still to send
    now.at(60)
    (waiting,) = record(journal, "evt_2")
    journal.mark_waiting(waiting.leg_id, "guest not in house")
    (fast,) = record(journal, "evt_3")
    journal.mark_sent(fast.leg_id, 1)
    now.at(60.2)
    journal.mark_posted(fast.leg_id, "OK")
    (slow,) = record(journal, "evt_4")
    journal.mark_sent(slow.leg_id, 2)
    now.at(63.2)
    journal.mark_posted(slow.leg_id, "OK")
    (rejected,) = record(journal, "evt_5")
    journal.mark_rejected(rejected.leg_id, "UR", "unknown code")
    record(journal, "evt_6", prop="OTHER-HOTEL")
    now.at(600)

    metrics = GatewayMetrics(
        journal,
        [PROPERTY, "SOAP-HOTEL"],
        runtimes=lambda: {PROPERTY: fias_runtime(LinkStatus(LinkState.ALIVE))},
        now=now,
    )
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain; version=")
    got = samples(body.decode())

    legs = {
        state: value(got, "foliogate_legs", property=PROPERTY, state=state)
        for state in ("planned", "waiting", "sent", "posted", "rejected", "unknown", "resolved")
    }
    assert legs == {
        "planned": 1,
        "waiting": 1,
        "sent": 0,
        "posted": 2,
        "rejected": 1,
        "unknown": 0,
        "resolved": 0,
    }
    assert value(got, "foliogate_queue_depth", property=PROPERTY) == 2
    assert value(got, "foliogate_exception_queue_depth", property=PROPERTY) == 1
    assert value(got, "foliogate_oldest_waiting_leg_age_seconds", property=PROPERTY) == 600
    # A property the configuration lists but that has no legs, and one only the journal knows.
    assert value(got, "foliogate_queue_depth", property="SOAP-HOTEL") == 0
    assert value(got, "foliogate_queue_depth", property="OTHER-HOTEL") == 1
    assert value(got, "foliogate_oldest_waiting_leg_age_seconds", property="SOAP-HOTEL") == 0

    hist = "foliogate_posting_latency_seconds"
    assert value(got, hist + "_count", property=PROPERTY) == 2
    assert value(got, hist + "_sum", property=PROPERTY) == pytest.approx(3.2)
    assert value(got, hist + "_bucket", property=PROPERTY, le="0.1") == 0
    assert value(got, hist + "_bucket", property=PROPERTY, le="0.25") == 1
    assert value(got, hist + "_bucket", property=PROPERTY, le="2.5") == 1
    assert value(got, hist + "_bucket", property=PROPERTY, le="5.0") == 2

    # The histogram reads each posting once: a second scrape counts the same two.
    got = samples(metrics.exposition()[0].decode())
    assert value(got, hist + "_count", property=PROPERTY) == 2


def test_link_gauges_give_each_propertys_state_and_holds(journal):
    metrics = GatewayMetrics(
        journal,
        ["A", "B", "C", "D"],
        runtimes=lambda: {
            "A": fias_runtime(LinkStatus(LinkState.ALIVE, night_audit=True)),
            "B": fias_runtime(LinkStatus(LinkState.CONNECTING)),
            "C": held_runtime("link down: connection refused"),
        },
        now=journal.test_now,
    )
    got = samples(metrics.exposition()[0].decode())
    assert {p: value(got, "foliogate_link_up", property=p) for p in "ABCD"} == {
        "A": 1,
        "B": 0,
        "C": 0,
        "D": 0,
    }
    assert {
        s: value(got, "foliogate_link_state", property="B", state=s)
        for s in ("down", "connecting", "describing", "alive")
    } == {"down": 0, "connecting": 1, "describing": 0, "alive": 0}
    assert value(got, "foliogate_link_hold", property="A", hold="night_audit") == 1
    assert value(got, "foliogate_link_hold", property="A", hold="resync") == 0
    assert value(got, "foliogate_link_state", property="C", state="held") == 1
    assert value(got, "foliogate_link_state", property="D", state="not running") == 1


def test_readiness_needs_a_writable_journal_and_every_link_up_or_deliberately_paused(journal):
    def ready(runtimes: dict[str, Any], props: list[str]) -> tuple[bool, dict]:
        metrics = GatewayMetrics(journal, props, runtimes=lambda: runtimes, now=journal.test_now)
        return readiness(journal, metrics)

    ok, body = ready({PROPERTY: fias_runtime(LinkStatus(LinkState.ALIVE))}, [PROPERTY])
    assert ok and body["reasons"] == [] and body["journal"] == "writable"

    # The PMS's night audit and a stopped link are deliberate pauses: still ready.
    ok, body = ready(
        {
            "A": fias_runtime(LinkStatus(LinkState.ALIVE, night_audit=True)),
            "B": fias_runtime(LinkStatus(LinkState.DOWN), running=False),
        },
        ["A", "B"],
    )
    assert ok
    assert [(lk["property"], lk["up"], lk["paused"], lk["reason"]) for lk in body["links"]] == [
        ("A", True, True, "the PMS holds postings (night_audit)"),
        ("B", False, True, "the link is stopped"),
    ]

    ok, body = ready(
        {"A": fias_runtime(LinkStatus(LinkState.DOWN)), "C": held_runtime("link down: refused")},
        ["A", "C", "D"],
    )
    assert not ok
    assert body["reasons"] == [
        "link A: link down",
        "link C: link down: refused",
        "link D: no link: this build does not run its profile",
    ]
    journal.close()
    ok, body = readiness(journal, None)
    assert (ok, body["reasons"], body["journal"]) == (
        False,
        ["the journal cannot be written"],
        "not writable",
    )


def test_link_views_without_runtimes_are_not_running():
    (view,) = link_views(["X"], {})
    assert (view.state, view.up, view.ready) == ("not running", False, False)


# -- end to end --------------------------------------------------------------------------------


def balance_event(event_id: str, amount: int = 2500, **changes: Any) -> dict[str, Any]:
    event = {
        "event_id": event_id,
        "type": "payment.succeeded",
        "property": PROPERTY,
        "occurred_at": "2026-11-27T10:04:05Z",
        "payment": {
            "kind": "balance",
            "amount": amount,
            "currency": "GBP",
            "transaction_id": "pi_" + event_id,
            "method": "onejourney",
            "status": "Payment Success",
        },
        "booking": {"confirmation_number": "123456"},
    }
    event.update(changes)
    return event


def get(stack: Stack, path: str) -> Any:
    return treq.get(stack.gateway.api_url + path)


@pytest_twisted.inlineCallbacks
def scrape(stack: Stack) -> Any:
    response = yield get(stack, "/metrics")
    assert response.code == 200
    assert response.headers.getRawHeaders("Content-Type")[0].startswith("text/plain")
    text = yield response.text()
    return samples(text)


@pytest_twisted.inlineCallbacks
def ready(stack: Stack) -> Any:
    response = yield get(stack, "/readyz")
    body = yield response.json()
    return response.code, body


@pytest_twisted.inlineCallbacks
def test_metrics_follow_a_link_drop_and_recovery_and_readyz_answers_503_meanwhile(tmp_path):
    from twisted.internet import reactor

    stack = Stack(reactor, tmp_path, gateway_options={"jitter": lambda: 0.0})
    yield stack.start()
    try:
        link = stack.gateway.properties[PROPERTY].link
        yield stack.wait_for(lambda: link.status.can_post, "link alive")
        code, _ = yield stack.post_event(balance_event("evt_1"))
        assert code == 202
        yield stack.wait_for_legs("evt_1", {"posted"})

        got = yield scrape(stack)
        assert value(got, "foliogate_link_up", property=PROPERTY) == 1
        assert value(got, "foliogate_link_state", property=PROPERTY, state="alive") == 1
        assert value(got, "foliogate_legs", property=PROPERTY, state="posted") == 1
        assert value(got, "foliogate_posting_latency_seconds_count", property=PROPERTY) == 1
        assert (
            value(got, "foliogate_events_total", type="payment.succeeded", result="accepted") == 1
        )
        code, body = yield ready(stack)
        assert (code, body["ready"], body["reasons"]) == (200, True, [])

        # Cut the link: the PMS stops listening and drops the connection.
        sim = stack.sim
        port = sim.fias_address[1]
        yield sim.fias_port.stopListening()
        sim.fias_factory.disconnect()
        yield stack.wait_for(lambda: link.state is LinkState.DOWN, "link down")

        got = yield scrape(stack)
        assert value(got, "foliogate_link_up", property=PROPERTY) == 0
        assert value(got, "foliogate_link_state", property=PROPERTY, state="down") == 1
        assert value(got, "foliogate_link_state", property=PROPERTY, state="alive") == 0
        code, body = yield ready(stack)
        assert (code, body["ready"], body["reasons"]) == (
            503,
            False,
            [f"link {PROPERTY}: link down"],
        )
        assert body["links"] == [
            {
                "property": PROPERTY,
                "state": "down",
                "up": False,
                "paused": False,
                "holds": [],
                "reason": "link down",
            }
        ]

        # The PMS listens again on the same port: the link comes back by itself.
        sim.fias_port = yield serverFromString(
            reactor, f"tcp:port={port}:interface=127.0.0.1"
        ).listen(sim.fias_factory)
        yield stack.wait_for(lambda: link.status.can_post, "link alive again")
        got = yield scrape(stack)
        assert value(got, "foliogate_link_up", property=PROPERTY) == 1
        assert value(got, "foliogate_link_state", property=PROPERTY, state="down") == 0
        code, body = yield ready(stack)
        assert (code, body["ready"]) == (200, True)
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_ingest_answers_are_counted_by_event_type_and_result(tmp_path):
    from twisted.internet import reactor

    stack = Stack(reactor, tmp_path)
    yield stack.start()
    try:
        assert (yield stack.post_event(balance_event("evt_a")))[0] == 202
        assert (yield stack.post_event(balance_event("evt_a")))[0] == 200  # duplicate
        assert (yield stack.post_event(balance_event("evt_a", amount=999)))[0] == 409
        invalid = balance_event("evt_b")
        del invalid["payment"]["amount"]
        assert (yield stack.post_event(invalid))[0] == 400
        failed = balance_event("evt_c", type="payment.failed")
        assert (yield stack.post_event(failed))[0] == 202
        unsigned = yield treq.post(
            stack.gateway.api_url + "/v1/events",
            data=json.dumps(balance_event("evt_d")).encode(),
            headers={"Content-Type": ["application/json"]},
        )
        assert unsigned.code == 401
        yield unsigned.content()

        got = yield scrape(stack)
        counts = {
            (dict(labels)["type"], dict(labels)["result"]): v
            for (name, labels), v in got.items()
            if name == "foliogate_events_total" and v
        }
        assert counts == {
            ("payment.succeeded", "accepted"): 1,
            ("payment.succeeded", "duplicate"): 1,
            ("payment.succeeded", "conflict"): 1,
            ("payment.succeeded", "rejected"): 1,
            ("payment.failed", "accepted"): 1,
            ("unknown", "rejected"): 1,  # refused before its body was read
        }
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_log_lines_about_a_leg_carry_its_event_id_leg_and_property_as_json_fields(tmp_path):
    """What ``foliogate run --log-format json`` writes: every line of the API and the
    dispatcher that concerns an event names the event and the property, and lines about a leg
    name the leg, as fields (not only inside the text)."""
    from twisted.internet import reactor

    captured: list[dict] = []
    globalLogPublisher.addObserver(captured.append)
    stack = Stack(reactor, tmp_path)
    try:
        yield stack.start()
        yield stack.post_event(balance_event("evt_log"))
        yield stack.wait_for_legs("evt_log", {"posted"})
        yield stack.gateway.properties[PROPERTY].dispatcher.idle()
    finally:
        globalLogPublisher.removeObserver(captured.append)
        yield stack.stop()

    ours = [
        e
        for e in captured
        if e.get("log_namespace") in ("foliogate.api", "foliogate.dispatcher")
        and ("event_id" in e or "leg" in e or "leg_id" in e)
    ]
    texts = [formatEvent(e) for e in ours]
    assert "event evt_log for GRAND-LONDON: accepted" in texts
    posted = next(e for e in ours if formatEvent(e).startswith("leg evt_log/0 of evt_log posted"))
    for event in ours:
        assert event.get("property") == PROPERTY, formatEvent(event)
        assert event.get("event_id") == "evt_log", formatEvent(event)
    line = json.loads(eventAsJSON(posted))
    assert (line["event_id"], line["leg"], line["property"]) == ("evt_log", "evt_log/0", PROPERTY)
    assert isinstance(line["leg_id"], int) and line["log_format"].startswith("leg {leg} of")


def test_journal_recovery_logs_each_leg_caught_in_flight_with_its_fields(tmp_path):
    path = str(tmp_path / "journal.sqlite")
    journal = Journal(path, reactor=task.Clock())
    (leg,) = record(journal, "evt_flight")
    journal.mark_sent(leg.leg_id, 5)
    journal.close()
    captured: list[dict] = []
    globalLogPublisher.addObserver(captured.append)
    try:
        Journal(path, reactor=task.Clock()).close()
    finally:
        globalLogPublisher.removeObserver(captured.append)
    (line,) = [e for e in captured if e.get("leg") == "evt_flight/0"]
    assert formatEvent(line) == (
        "leg evt_flight/0 of evt_flight on GRAND-LONDON was in flight at restart: unknown"
    )
    assert (line["event_id"], line["property"], line["leg_id"]) == (
        "evt_flight",
        PROPERTY,
        leg.leg_id,
    )
