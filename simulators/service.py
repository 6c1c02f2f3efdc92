"""Start the whole simulator (hotel, FIAS server, control API) inside a running reactor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.web.server import Site

from simulators.cli import DEFAULT_CONTROL_ENDPOINT, DEFAULT_FIAS_ENDPOINT
from simulators.control import ControlResource, hold_night_audit
from simulators.faults import FaultKnobs
from simulators.fias import FiasPmsFactory
from simulators.ledger import DEMO_HOTEL, Hotel, HotelConfig, load_hotel_config

log = Logger()


@dataclass
class RunningSimulator:
    """A started simulator: its hotel, fault knobs, FIAS factory and listening ports."""

    hotel: Hotel
    knobs: FaultKnobs
    fias_factory: FiasPmsFactory
    fias_port: IListeningPort
    control_port: IListeningPort
    _stopped: bool = field(default=False, repr=False)

    @property
    def fias_address(self) -> tuple[str, int]:
        host = self.fias_port.getHost()
        return host.host, host.port

    @property
    def control_url(self) -> str:
        host = self.control_port.getHost()
        return f"http://{host.host}:{host.port}"

    def stop(self) -> defer.Deferred[Any]:
        """Stop listening and drop the FIAS link; fires when both ports are closed."""
        if self._stopped:
            return defer.succeed(None)
        self._stopped = True
        self.fias_factory.stop()
        return defer.gatherResults(
            [
                defer.maybeDeferred(self.fias_port.stopListening),
                defer.maybeDeferred(self.control_port.stopListening),
            ],
            consumeErrors=True,
        )


def start_simulator(
    reactor: Any,
    hotel: Hotel | HotelConfig | str | Path = DEMO_HOTEL,
    fias_endpoint: str = DEFAULT_FIAS_ENDPOINT,
    control_endpoint: str = DEFAULT_CONTROL_ENDPOINT,
    now: Callable[[], dt.datetime] | None = None,
) -> defer.Deferred[RunningSimulator]:
    """Listen on both endpoints (Twisted endpoint strings) and fire with the running simulator.

    ``hotel`` is a ``Hotel``, a ``HotelConfig`` or a hotel file path (``HotelConfigError`` if it
    is invalid). ``now`` is the wall clock for folio lines and FIAS DA/TI (default: the
    reactor's). If the control endpoint fails to listen, the FIAS port is closed again.
    """
    clock_now = now or (lambda: dt.datetime.fromtimestamp(reactor.seconds()))
    if isinstance(hotel, Hotel):
        the_hotel = hotel
    else:
        config = hotel if isinstance(hotel, HotelConfig) else load_hotel_config(hotel)
        the_hotel = Hotel(config, now=clock_now)
    knobs = FaultKnobs(the_hotel.config.faults)
    factory = FiasPmsFactory(the_hotel, knobs, clock=reactor, now=clock_now)
    control = Site(ControlResource(the_hotel, knobs, link_status=factory.link_status))

    @defer.inlineCallbacks
    def listen() -> Any:
        fias_port = yield serverFromString(reactor, fias_endpoint).listen(factory)
        try:
            control_port = yield serverFromString(reactor, control_endpoint).listen(control)
        except Exception:
            factory.stop()
            yield fias_port.stopListening()
            raise
        hold_night_audit(the_hotel, knobs.current)
        running = RunningSimulator(the_hotel, knobs, factory, fias_port, control_port)
        log.info(
            "simulator {hotel}: FIAS on {fias}, control API on {control}",
            hotel=the_hotel.config.name,
            fias="{0.host}:{0.port}".format(fias_port.getHost()),
            control=running.control_url,
        )
        return running

    return listen()
