"""The running gateway: journal + ingest API + one link and dispatcher per property.

:class:`Gateway` wires the parts the rest of ``adapters/`` builds and owns their lifecycle; it is
what ``foliogate run`` and ``foliogate demo`` start. Everything that varies (reactor, clock,
``now()``, jitter, the retry backoff, environment) is passed in.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import random
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.logger import Logger

from adapters.api import make_site, with_default_backlog
from adapters.config import GatewayConfig, Profile, PropertyConfig
from adapters.dispatcher import Backoff, Dispatcher, FiasChannel
from adapters.fias_link import FiasLink, GuestEventKind, LinkStatus, LocalClock
from adapters.journal import Journal
from adapters.metrics import GatewayMetrics

log = Logger(namespace="foliogate.gateway")

#: Legs a property's dispatcher may have on their way at once (never two of one reservation).
#: SOAP: one HTTP exchange per leg, so legs of different reservations overlap.
SOAP_MAX_IN_FLIGHT = 8
#: FIAS: legs in flight overlap their inquiries (matched by P#) with the postings on the wire
#: (``postings_in_flight`` of them, one by default), so the next posting is ready when a PA
#: comes. A few more than the posting lanes keep the PMS busy: the default is this or twice
#: the lanes, whichever is more.
FIAS_MAX_IN_FLIGHT = 4


class PropertyRuntime:
    """One property's link and dispatcher."""

    def __init__(self, prop: PropertyConfig, link: FiasLink, dispatcher: Dispatcher) -> None:
        self.prop = prop
        self.link = link
        self.dispatcher = dispatcher


class Gateway:
    """The service: ``start()`` opens the journal, listens and connects; ``stop()`` undoes it."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        reactor: Any,
        now: Callable[[], dt.datetime] | None = None,
        environ: Mapping[str, str] | None = None,
        jitter: Callable[[], float] = random.random,
        backoff: Backoff | None = None,
        max_in_flight: Mapping[str, int] | None = None,
        log_format: str = "text",
    ) -> None:
        self.config = config
        self._log_format = log_format  # the acceptor processes log as the gateway does
        #: profile value ("fias", "opera-htng", ...) -> legs in flight per property.
        self.max_in_flight = dict(max_in_flight or {})
        self.reactor = reactor
        self._now = now or functools.partial(dt.datetime.now, dt.UTC)  # no Python frame
        self._environ = os.environ if environ is None else environ
        self._jitter = jitter
        self._backoff = backoff  # the dispatchers' retry policy (None: Backoff() defaults)
        self.journal: Journal | None = None
        self.api_port: Any = None
        self.properties: dict[str, PropertyRuntime] = {}
        #: (profile, property) -> the resource its PMS POSTs asynchronous results to.
        self.soap_callbacks: dict[tuple[str, str], Any] = {}
        #: ``/metrics`` and ``/readyz`` of the running gateway (set by :meth:`start`).
        self.metrics: GatewayMetrics | None = None
        self._rescan: task.LoopingCall | None = None
        #: The acceptor processes (``[gateway] acceptors``), once started.
        self.acceptors: Any = None

    #: Seconds between journal rescans (legs changed by another process, e.g. the CLI).
    rescan_interval = 5.0

    @property
    def api_url(self) -> str:
        host = self.api_port.getHost()
        return f"http://{host.host}:{host.port}"

    @property
    def ingest_url(self) -> str:
        """Where events are POSTed: the acceptors' port, or the API's own."""
        if self.acceptors is None:
            return self.api_url
        host = self.acceptors.host
        return f"http://[{host}]:{self.acceptors.port}" if ":" in host else (
            f"http://{host}:{self.acceptors.port}"
        )

    @inlineCallbacks
    def start(self) -> Any:
        self.config.gateway.journal.parent.mkdir(parents=True, exist_ok=True)
        journal = self.journal = Journal(
            str(self.config.gateway.journal), reactor=self.reactor, now=self._now
        )
        for prop in self.config.properties.values():
            if prop.profile is not Profile.FIAS:
                self.properties[prop.name] = self._soap_runtime(journal, prop)
                continue
            self.properties[prop.name] = self._fias_runtime(journal, prop)
        site = make_site(journal, self.config, self.reactor, self._event_accepted,
                         environ=self._environ, link_status=self.link_statuses,
                         callbacks=self.soap_callbacks)  # fmt: skip
        self.metrics = GatewayMetrics(
            journal, self.config.properties, runtimes=lambda: self.properties, now=self._now
        )
        site.resource.metrics = self.metrics  # /metrics, /readyz, ingest counts
        self._api = site.resource
        listen = with_default_backlog(self.config.gateway.listen)
        self.api_port = yield serverFromString(self.reactor, listen).listen(
            site
        )
        if self.config.gateway.acceptors:
            self._start_acceptors()
        for runtime in self.properties.values():
            runtime.link.startService()
            runtime.dispatcher.wake()
        # Another process (``foliogate exceptions retry`` beside the running gateway) may
        # change legs in the journal: look again now and then, not only on our own events.
        self._rescan = task.LoopingCall(self._wake_all)
        self._rescan.clock = self.reactor
        self._rescan.start(self.rescan_interval, now=False)
        log.info("foliogate listening on {url}", url=self.api_url)

    def _start_acceptors(self) -> None:
        """``[gateway] acceptors``: processes that take ``POST /v1/events`` on
        ``ingest_listen`` (:mod:`adapters.acceptor`) and hand us each event they checked:
        we journal it (:meth:`GatewayAPI.ingest`) and give them the answer."""
        from adapters.acceptor import AcceptorPool, acceptor_argv, ingest_socket
        from adapters.api import loopback_by_default

        settings = self.config.gateway
        assert settings.ingest_listen is not None  # the config refuses acceptors without it
        sock = ingest_socket(loopback_by_default(settings.ingest_listen))
        config_path = str(self.config.path.resolve())
        journal_path = str(self.config.gateway.journal)
        self.acceptors = AcceptorPool(
            self.reactor, sock, settings.acceptors,
            lambda index: acceptor_argv(config_path, journal_path, self._log_format),
            env={**os.environ, **self._environ},
            on_submit=self._api.ingest, on_count=self._acceptor_counted,
        )  # fmt: skip
        self.acceptors.start()
        log.info("events accepted by {n} acceptor process(es) on {url}",
                 n=settings.acceptors, url=self.ingest_url)  # fmt: skip

    def _acceptor_counted(self, event_type: str | None, result: str) -> None:
        if self.metrics is not None:
            self.metrics.event_result(event_type, result)

    def _max_in_flight(self, prop: PropertyConfig) -> int:
        configured = getattr(prop, "max_in_flight", None)  # a per-property setting, if any
        if configured:
            return int(configured)
        if prop.profile is Profile.FIAS:
            lanes = prop.fias.postings_in_flight if prop.fias is not None else 1
            default = max(FIAS_MAX_IN_FLIGHT, 2 * lanes)
        else:
            default = SOAP_MAX_IN_FLIGHT
        return int(self.max_in_flight.get(prop.profile.value, default))

    def _fias_runtime(self, journal: Journal, prop: PropertyConfig) -> PropertyRuntime:
        assert prop.fias is not None
        holder: dict[str, Dispatcher] = {}
        in_resync = [False]

        def state(status: LinkStatus) -> None:
            if in_resync[0] and not status.resync:
                journal.mark_guest_list_complete(prop.name)  # DS..DE listed everyone
            in_resync[0] = status.resync
            log.info(
                "link {property}: {state}{holds}",
                property=prop.name,
                state=status.state.value,
                holds=(" (resync)" if status.resync else "")
                + (" (night audit)" if status.night_audit else ""),
            )
            holder["d"].on_link_state(status)

        def guest(kind: GuestEventKind, number: int, room: str) -> None:
            if kind is GuestEventKind.CHECK_OUT:
                journal.set_guest(prop.name, number, None, departed_from=room)
            else:
                journal.set_guest(prop.name, number, room)
            holder["d"].on_guest_event(kind, number, room)

        link = FiasLink(
            clientFromString(self.reactor, prop.endpoint),
            workstation=prop.workstation,
            next_posting_number=lambda: journal.next_posting_number(prop.name),
            clock=self.reactor,
            now=LocalClock(self._now),  # the PMS's wall clock
            room_payment_method=prop.fias.room_payment_method,
            alive_interval=prop.alive_interval_seconds,
            posting_timeout=prop.answer_timeout_seconds,
            jitter=self._jitter,
            on_state_change=state,
            on_guest_event=guest,
            on_frame=lambda direction, payload, ref: holder["d"].on_frame(direction, payload, ref),
            on_posting_written=lambda ref, number: holder["d"].on_posting_written(ref, number),
            on_read_done=journal.commit_sent,
            on_late_answer=lambda ref, n, pa: holder["d"].on_late_answer(ref, n, pa),
            pipeline=2 * self._max_in_flight(prop),
            posting_lanes=prop.fias.postings_in_flight,
        )
        known = journal.guests(prop.name)
        if known is None:
            # A journal that never saw this property's guests (new, or lost): ask the PMS once.
            link.request_resync()
        else:
            link.seed_guests(known)
        dispatcher = holder["d"] = Dispatcher(
            journal=journal,
            prop=prop,
            channel=FiasChannel(link, prop, journal),
            clock=self.reactor,
            now=self._now,
            jitter=self._jitter,
            backoff=self._backoff,
            max_in_flight=self._max_in_flight(prop),
        )
        return PropertyRuntime(prop, link, dispatcher)

    def _soap_runtime(self, journal: Journal, prop: PropertyConfig) -> PropertyRuntime:
        """A SOAP property: its channel (:mod:`adapters.soap_channel`) stands where a FIAS link
        does (``startService``/``stopService``/``status``); htng-async also gets a callback."""
        from adapters.soap_channel import gateway_channel
        from adapters.soap_htng_async import HtngAsyncCallbackResource

        holder: dict[str, Dispatcher] = {}
        in_flight = self._max_in_flight(prop)
        channel = gateway_channel(
            prop, journal=journal, reactor=self.reactor, now=self._now, environ=self._environ,
            dispatcher=lambda: holder["d"], api_url=lambda: self.api_url,
            connections=in_flight,
        )  # fmt: skip
        dispatcher = holder["d"] = Dispatcher(
            journal=journal,
            prop=prop,
            channel=channel,
            clock=self.reactor,
            now=self._now,
            jitter=self._jitter,
            backoff=self._backoff,
            max_in_flight=in_flight,
        )
        if prop.profile is Profile.HTNG_ASYNC:
            resource = HtngAsyncCallbackResource(channel)  # type: ignore[arg-type]
            self.soap_callbacks[(prop.profile.value, prop.name)] = resource
        return PropertyRuntime(prop, channel, dispatcher)  # type: ignore[arg-type]

    def link_statuses(self) -> dict[str, LinkStatus]:
        """Each running property's link status (``GET /v1/links``, the operator console)."""
        return {name: runtime.link.status for name, runtime in self.properties.items()}

    def _event_accepted(self, event_id: str) -> None:
        self._wake_all()

    def _wake_all(self) -> None:
        for runtime in self.properties.values():
            runtime.dispatcher.wake()

    @inlineCallbacks
    def stop(self) -> Any:
        """Stop dispatching, end the links with ``LE``, stop listening, close the journal."""
        if self._rescan is not None and self._rescan.running:
            self._rescan.stop()
        if self.acceptors is not None:
            yield self.acceptors.stop()  # what they accepted is committed before they exit
        for runtime in self.properties.values():
            runtime.dispatcher.stop()
        for runtime in self.properties.values():
            yield runtime.dispatcher.idle()
        stops: list[Deferred[Any]] = []
        for runtime in self.properties.values():
            d = runtime.link.stopService()
            if d is not None:
                stops.append(d)
        for d in stops:
            yield d
        if self.api_port is not None:
            yield self.api_port.stopListening()
        if self.journal is not None:
            self.journal.close()
