"""Start the whole simulator (hotel, FIAS server, control API, SOAP PMSs) inside a reactor.

The SOAP PMS simulators are optional: ``start_simulator(..., opera_htng=endpoint,
rezlynx=endpoint, htng_async=endpoint)`` serves each profile on its own port (its own
``Site``) at the path ``/opera-htng``, ``/rezlynx`` or ``/htng-async``, all sharing the one
hotel ledger and fault knobs with the FIAS server. Their credentials come from the hotel
file's ``[soap]`` table or the environment (``simulators.soap_common.soap_access``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Site

from simulators.cli import DEFAULT_CONTROL_ENDPOINT, DEFAULT_FIAS_ENDPOINT
from simulators.control import ControlResource, hold_night_audit
from simulators.faults import FaultKnobs
from simulators.fias import FiasPmsFactory
from simulators.ledger import DEMO_HOTEL, Hotel, HotelConfig, load_hotel_config
from simulators.soap_common import SoapPmsResource, soap_access

#: SOAP profile -> the path its resource is served at (each on its own port).
SOAP_PATHS = {"opera-htng": "opera-htng", "rezlynx": "rezlynx", "htng-async": "htng-async"}

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
    #: SOAP profile -> its resource and listening port (only the profiles asked for).
    soap_resources: dict[str, SoapPmsResource] = field(default_factory=dict)
    soap_ports: dict[str, IListeningPort] = field(default_factory=dict)

    @property
    def fias_address(self) -> tuple[str, int]:
        host = self.fias_port.getHost()
        return host.host, host.port

    @property
    def control_url(self) -> str:
        host = self.control_port.getHost()
        return f"http://{host.host}:{host.port}"

    @property
    def soap_urls(self) -> dict[str, str]:
        """SOAP profile -> the URL to POST to (``?wsdl`` for its WSDL)."""
        urls = {}
        for profile, port in self.soap_ports.items():
            host = port.getHost()
            urls[profile] = f"http://{host.host}:{host.port}/{SOAP_PATHS[profile]}"
        return urls

    def stop(self) -> defer.Deferred[Any]:
        """Stop listening and drop the FIAS link; fires when every port is closed."""
        if self._stopped:
            return defer.succeed(None)
        self._stopped = True
        self.fias_factory.stop()
        for resource in self.soap_resources.values():
            resource.stop()
        return defer.gatherResults(
            [
                defer.maybeDeferred(self.fias_port.stopListening),
                defer.maybeDeferred(self.control_port.stopListening),
                *(defer.maybeDeferred(port.stopListening) for port in self.soap_ports.values()),
            ],
            consumeErrors=True,
        )


def start_simulator(
    reactor: Any,
    hotel: Hotel | HotelConfig | str | Path = DEMO_HOTEL,
    fias_endpoint: str = DEFAULT_FIAS_ENDPOINT,
    control_endpoint: str = DEFAULT_CONTROL_ENDPOINT,
    now: Callable[[], dt.datetime] | None = None,
    *,
    opera_htng: str | None = None,
    rezlynx: str | None = None,
    htng_async: str | None = None,
    soap_now: Callable[[], dt.datetime] | None = None,
    environ: Mapping[str, str] | None = None,
) -> defer.Deferred[RunningSimulator]:
    """Listen on the endpoints (Twisted endpoint strings) and fire with the running simulator.

    ``hotel`` is a ``Hotel``, a ``HotelConfig`` or a hotel file path (``HotelConfigError`` if it
    is invalid). ``now`` is the wall clock for folio lines and FIAS DA/TI (default: the
    reactor's). If an endpoint fails to listen, the ports already listening are closed again.

    ``opera_htng``, ``rezlynx``, ``htng_async``: endpoints for the SOAP PMS simulators (``None``:
    not served). ``soap_now`` is their timezone-aware clock for WS-Security timestamps
    (default: the reactor's, in UTC); ``environ`` overrides ``os.environ`` for their
    credentials (``SoapAccessError``, raised at once, if a SOAP endpoint is given and there
    are none).
    """
    clock_now = now or (lambda: dt.datetime.fromtimestamp(reactor.seconds()))
    if isinstance(hotel, Hotel):
        the_hotel = hotel
    else:
        config = hotel if isinstance(hotel, HotelConfig) else load_hotel_config(hotel)
        the_hotel = Hotel(config, now=clock_now)
    knobs = FaultKnobs(the_hotel.config.faults)
    factory = FiasPmsFactory(the_hotel, knobs, clock=reactor, now=clock_now, records_per_turn=1)
    control = Site(ControlResource(the_hotel, knobs, link_status=factory.link_status))
    soap_sites = _soap_sites(
        reactor,
        the_hotel,
        knobs,
        {"opera-htng": opera_htng, "rezlynx": rezlynx, "htng-async": htng_async},
        soap_now or (lambda: dt.datetime.fromtimestamp(reactor.seconds(), dt.UTC)),
        environ,
    )

    @defer.inlineCallbacks
    def listen() -> Any:
        fias_port = yield serverFromString(reactor, fias_endpoint).listen(factory)
        try:
            control_port = yield serverFromString(reactor, control_endpoint).listen(control)
        except Exception:
            factory.stop()
            for _, resource in soap_sites.values():
                resource.stop()
            yield fias_port.stopListening()
            raise
        soap_ports: dict[str, IListeningPort] = {}
        for profile, (endpoint, resource) in soap_sites.items():
            try:
                soap_ports[profile] = yield serverFromString(reactor, endpoint).listen(
                    _site(profile, resource)
                )
            except Exception:
                factory.stop()
                for _, started in soap_sites.values():
                    started.stop()
                for port in (fias_port, control_port, *soap_ports.values()):
                    yield port.stopListening()
                raise
        hold_night_audit(the_hotel, knobs.current)
        running = RunningSimulator(
            the_hotel,
            knobs,
            factory,
            fias_port,
            control_port,
            soap_resources={profile: resource for profile, (_, resource) in soap_sites.items()},
            soap_ports=soap_ports,
        )
        log.info(
            "simulator {hotel}: FIAS on {fias}, control API on {control}",
            hotel=the_hotel.config.name,
            fias="{0.host}:{0.port}".format(fias_port.getHost()),
            control=running.control_url,
        )
        for profile, url in running.soap_urls.items():
            log.info("simulator: {profile} PMS on {url}", profile=profile, url=url)
        return running

    return listen()


def _soap_sites(
    reactor: Any,
    hotel: Hotel,
    knobs: FaultKnobs,
    endpoints: Mapping[str, str | None],
    now: Callable[[], dt.datetime],
    environ: Mapping[str, str] | None,
) -> dict[str, tuple[str, SoapPmsResource]]:
    """profile -> (endpoint, resource), for the profiles asked for."""
    wanted = {profile: endpoint for profile, endpoint in endpoints.items() if endpoint}
    if not wanted:
        return {}
    from simulators.soap_htng_async import HtngAsyncResource
    from simulators.soap_opera_htng import OperaHtngResource
    from simulators.soap_rezlynx import RezlynxResource

    kinds: dict[str, type[SoapPmsResource]] = {
        "opera-htng": OperaHtngResource,
        "rezlynx": RezlynxResource,
        "htng-async": HtngAsyncResource,
    }
    access = soap_access(hotel.config, environ)
    return {
        profile: (
            endpoint,
            kinds[profile](hotel, knobs, access, clock=reactor, now=now, one_per_turn=True),
        )
        for profile, endpoint in wanted.items()
    }


def _site(profile: str, resource: SoapPmsResource) -> Site:
    """A site of its own for one profile: the resource at ``/<profile>``."""
    root = Resource()
    root.putChild(SOAP_PATHS[profile].encode(), resource)
    return Site(root)
