"""Observability of a running gateway: Prometheus metrics (``/metrics``) and readiness.

:class:`GatewayMetrics` keeps one ``prometheus_client`` :class:`CollectorRegistry` per gateway
(never the global one, so tests and several gateways in one process stay apart). Counters are
counted as things happen; everything else is read from the journal and the links at scrape
time, so a restarted gateway reports the same queue it left.

=========================================  =========  ===============  ========================
metric                                     type       labels           meaning
=========================================  =========  ===============  ========================
``foliogate_events_total``                 counter    type, result     ingest answers since
                                                                       start: ``accepted``,
                                                                       ``duplicate``,
                                                                       ``conflict`` (409),
                                                                       ``rejected`` (4xx:
                                                                       invalid, unsigned,
                                                                       unknown property...),
                                                                       ``error`` (503: the
                                                                       journal did not commit)
``foliogate_legs``                         gauge      property, state  legs in each state
``foliogate_queue_depth``                  gauge      property         legs still to send
                                                                       (planned + waiting)
``foliogate_exception_queue_depth``        gauge      property         rejected + unknown legs
``foliogate_oldest_waiting_leg_age_seconds`` gauge    property         age of the oldest
                                                                       planned or waiting leg
                                                                       (0 when none)
``foliogate_link_up``                      gauge      property         1 when the PMS link is
                                                                       up (FIAS: alive)
``foliogate_link_state``                   gauge      property, state  1 for the link's state
                                                                       now (FIAS: ``down``,
                                                                       ``connecting``,
                                                                       ``describing``,
                                                                       ``alive``)
``foliogate_link_hold``                    gauge      property, hold   1 while the PMS holds
                                                                       postings
                                                                       (``night_audit``,
                                                                       ``resync``)
``foliogate_posting_latency_seconds``      histogram  property         from a leg journaled
                                                                       ``sent`` to its
                                                                       ``posted`` (the PMS's
                                                                       ``ASOK``)
=========================================  =========  ===============  ========================

``type`` is an event type of DESIGN section 2 or ``unknown`` (a body that named none, or
none we know: the label set stays bounded). The latency histogram is fed from the journal's
history (each scrape reads the postings journaled since the last one), so on start it counts
every posting the journal holds.

**Readiness** (:func:`readiness`, ``GET /readyz``): ready when the journal can take its write
lock and every configured property's link is up or deliberately paused: the PMS holds postings
(FIAS night audit ``NS``..``NE``, resync ``DS``..``DE``), the link service was stopped, or a
runtime says ``paused``. 200 with the details when ready, else 503 with ``reasons``. A property
whose profile this build does not run is not ready (its legs would never post).
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from twisted.logger import Logger

from adapters.domain import EXCEPTION_STATES, PENDING_STATES, EventType, LegState

__all__ = [
    "EVENT_RESULTS",
    "LATENCY_BUCKETS",
    "GatewayMetrics",
    "LinkView",
    "link_views",
    "readiness",
]

log = Logger(namespace="foliogate.metrics")

#: ``result`` label values of ``foliogate_events_total``.
EVENT_RESULTS = ("accepted", "duplicate", "conflict", "rejected", "error")
#: Posting latency buckets, seconds: a FIAS PA comes in tens of milliseconds; 60 s is the
#: default answer timeout.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
#: FIAS link states, in the order the gauge lists them.
FIAS_LINK_STATES = ("down", "connecting", "describing", "alive")
HOLDS = ("night_audit", "resync")

_EVENT_TYPES = frozenset(t.value for t in EventType)


@dataclass(frozen=True)
class LinkView:
    """A property's link as metrics and readiness see it."""

    property: str
    state: str  # FIAS: down/connecting/describing/alive; others: up/held; "not running"
    up: bool
    holds: tuple[str, ...] = ()  # "night_audit", "resync"
    paused: bool = False  # deliberately not posting: a PMS hold, a stopped link
    reason: str | None = None  # why it is not up

    @builtins.property  # the field ``property`` shadows the builtin in this class body
    def ready(self) -> bool:
        return self.up or self.paused


def _view(name: str, runtime: Any) -> LinkView:
    if runtime is None:
        return LinkView(
            name, "not running", False, reason="no link: this build does not run its profile"
        )
    link = getattr(runtime, "link", None)
    status = getattr(link, "status", None)
    stopped = link is not None and not getattr(link, "running", True)
    deliberate = bool(getattr(runtime, "paused", False)) or stopped
    if status is not None and hasattr(status, "state"):
        state = str(getattr(status.state, "value", status.state))
        holds = tuple(hold for hold in HOLDS if getattr(status, hold, False))
        up = state == "alive"
        reason = None
        if stopped:
            reason = "the link is stopped"
        elif not up:
            reason = f"link {state}"
        elif holds:
            reason = "the PMS holds postings (" + ", ".join(holds) + ")"
        return LinkView(name, state, up, holds, deliberate or bool(holds), reason)
    channel = getattr(getattr(runtime, "dispatcher", None), "channel", None)
    hold_reason = getattr(channel, "hold_reason", None)
    held = hold_reason() if callable(hold_reason) else None
    return LinkView(name, "held" if held else "up", held is None, (), deliberate, held)


def link_views(properties: Iterable[str], runtimes: Mapping[str, Any]) -> list[LinkView]:
    """Each property's link: FIAS runtimes by their ``link.status``, other runtimes by their
    channel's ``hold_reason()``, properties without a runtime as ``not running``."""
    return [_view(name, runtimes.get(name)) for name in properties]


class GatewayMetrics:
    """The metrics of one gateway (see the module docstring for what is measured).

    ``properties`` are the configured property names; ``runtimes()`` returns the running ones
    (``Gateway.properties``: objects with ``link`` and ``dispatcher``); ``now()`` is the
    gateway's injected clock (aware), which ages are measured with.
    """

    def __init__(
        self,
        journal: Any,
        properties: Iterable[str],
        runtimes: Callable[[], Mapping[str, Any]],
        now: Callable[[], dt.datetime],
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.journal = journal
        self.properties = tuple(properties)
        self._runtimes = runtimes
        self._now = now
        self.registry = registry if registry is not None else CollectorRegistry()
        self.events = Counter(
            "foliogate_events",
            "Payment events answered by the ingest API, by event type and result.",
            ["type", "result"],
            registry=self.registry,
        )
        for event_type in sorted(_EVENT_TYPES):
            for result in EVENT_RESULTS:
                self.events.labels(event_type, result)
        self.latency = Histogram(
            "foliogate_posting_latency_seconds",
            "Seconds from a leg journaled sent to the PMS answering that it posted.",
            ["property"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        for name in self.properties:
            self.latency.labels(name)
        self._latency_after = 0
        self.registry.register(_ScrapeCollector(self))

    # -- counted as it happens -----------------------------------------------------------------

    def event_result(self, event_type: str | None, result: str) -> None:
        """Count one ingest answer (called by the API)."""
        label = event_type if event_type in _EVENT_TYPES else "unknown"
        self.events.labels(label, result if result in EVENT_RESULTS else "error").inc()

    # -- read at scrape time -------------------------------------------------------------------

    def link_views(self) -> list[LinkView]:
        return link_views(self.properties, self._runtimes())

    def refresh(self) -> None:
        """Feed the latency histogram with the postings journaled since the last scrape."""
        for history_id, prop, seconds in self.journal.posting_latencies(self._latency_after):
            self.latency.labels(prop).observe(seconds)
            self._latency_after = history_id

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        try:
            self.refresh()
        except Exception:
            log.failure("reading posting latencies from the journal failed")
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _ScrapeCollector:
    """Gauges read from the journal and the links when Prometheus scrapes."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self.metrics
        yield from self._journal_gauges(metrics)
        views = metrics.link_views()
        up = GaugeMetricFamily(
            "foliogate_link_up", "1 when the property's PMS link is up.", labels=["property"]
        )
        state = GaugeMetricFamily(
            "foliogate_link_state",
            "1 for the state the property's PMS link is in now.",
            labels=["property", "state"],
        )
        hold = GaugeMetricFamily(
            "foliogate_link_hold",
            "1 while the PMS holds postings (night audit, resync).",
            labels=["property", "hold"],
        )
        for view in views:
            up.add_metric([view.property], 1.0 if view.up else 0.0)
            states = FIAS_LINK_STATES if view.state in FIAS_LINK_STATES else (view.state,)
            for name in states:
                state.add_metric([view.property, name], 1.0 if name == view.state else 0.0)
            for name in HOLDS:
                hold.add_metric([view.property, name], 1.0 if name in view.holds else 0.0)
        yield up
        yield state
        yield hold

    def _journal_gauges(self, metrics: GatewayMetrics) -> Iterator[Metric]:
        try:
            stats = metrics.journal.leg_stats()
        except Exception:
            log.failure("reading leg counts from the journal failed")
            return
        now = metrics._now()
        names = list(dict.fromkeys([*metrics.properties, *(s.property for s in stats)]))
        counts = {(s.property, s.state): s.count for s in stats}
        legs = GaugeMetricFamily(
            "foliogate_legs", "Posting legs in each state.", labels=["property", "state"]
        )
        depth = GaugeMetricFamily(
            "foliogate_queue_depth",
            "Legs still to send (planned + waiting).",
            labels=["property"],
        )
        exceptions = GaugeMetricFamily(
            "foliogate_exception_queue_depth",
            "Legs in the exception queue (rejected + unknown).",
            labels=["property"],
        )
        oldest = GaugeMetricFamily(
            "foliogate_oldest_waiting_leg_age_seconds",
            "Age of the oldest leg still to send (planned or waiting); 0 when none.",
            labels=["property"],
        )
        for name in names:
            for leg_state in LegState:
                legs.add_metric([name, leg_state.value], counts.get((name, leg_state), 0))
            depth.add_metric([name], sum(counts.get((name, s), 0) for s in PENDING_STATES))
            exceptions.add_metric([name], sum(counts.get((name, s), 0) for s in EXCEPTION_STATES))
            created = [
                s.oldest_created_at
                for s in stats
                if s.property == name and s.state in PENDING_STATES and s.oldest_created_at
            ]
            age = (now - min(created)).total_seconds() if created else 0.0
            oldest.add_metric([name], max(0.0, age))
        yield legs
        yield depth
        yield exceptions
        yield oldest


def readiness(journal: Any, metrics: GatewayMetrics | None = None) -> tuple[bool, dict[str, Any]]:
    """``(ready, body)`` for ``GET /readyz`` (see the module docstring)."""
    reasons: list[str] = []
    try:
        writable = bool(journal.writable())
    except Exception:
        writable = False
    if not writable:
        reasons.append("the journal cannot be written")
    views = metrics.link_views() if metrics is not None else []
    for view in views:
        if not view.ready:
            reasons.append(f"link {view.property}: {view.reason or view.state}")
    body = {
        "ready": not reasons,
        "journal": "writable" if writable else "not writable",
        "links": [
            {
                "property": v.property,
                "state": v.state,
                "up": v.up,
                "paused": v.paused,
                "holds": list(v.holds),
                "reason": v.reason,
            }
            for v in views
        ],
        "reasons": reasons,
    }
    return not reasons, body
