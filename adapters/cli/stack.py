"""A whole foliogate on loopback: the PMS simulator and the gateway wired together.

This is the composition root that ``foliogate demo``, the end-to-end tests and the benchmarks
share (the only place besides the CLI verbs where ``adapters`` meets ``simulators``). Everything
listens on ephemeral 127.0.0.1 ports; the journal is a real SQLite file in ``workdir``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import treq
from twisted.internet import task
from twisted.internet.defer import inlineCallbacks

from adapters.api import sign
from adapters.config import GatewayConfig, load_config
from adapters.domain import Leg
from adapters.gateway import Gateway
from simulators.ledger import DEMO_HOTEL
from simulators.service import RunningSimulator, start_simulator

#: The example configuration that matches the demo hotel.
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "gateway.toml"
#: The example with one property per SOAP profile (start the Stack with ``soap_profiles``).
EXAMPLE_SOAP_CONFIG = EXAMPLE_CONFIG.with_name("gateway-soap.toml")
#: SOAP profile -> the ``start_simulator`` keyword that serves it.
SOAP_SIMULATORS = {"opera-htng": "opera_htng", "rezlynx": "rezlynx", "htng-async": "htng_async"}
LOOPBACK_ANY_PORT = "tcp:port=0:interface=127.0.0.1"


class StackTimeout(AssertionError):
    """A wait for the gateway or the simulator did not finish in time."""


def loopback_config(
    config: GatewayConfig, journal: Path, fias_port: int, property_name: str | None = None
) -> GatewayConfig:
    """``config`` with the API on an ephemeral loopback port, ``journal`` as its file and every
    FIAS property (or only ``property_name``) pointed at the simulator's port."""
    gateway = dataclasses.replace(config.gateway, journal=journal, listen=LOOPBACK_ANY_PORT)
    properties = {
        name: (
            dataclasses.replace(prop, endpoint=f"tcp:host=127.0.0.1:port={fias_port}")
            if prop.fias is not None and property_name in (None, name)
            else prop
        )
        for name, prop in config.properties.items()
    }
    return dataclasses.replace(config, gateway=gateway, properties=properties)


def soap_loopback(
    config: GatewayConfig, sim: RunningSimulator
) -> tuple[GatewayConfig, dict[str, str]]:
    """``config`` with every SOAP property whose profile ``sim`` serves pointed at it, and the
    environment that gives those properties the simulator's credentials."""
    urls = sim.soap_urls
    environ: dict[str, str] = {}
    properties = {}
    for name, prop in config.properties.items():
        profile = prop.profile.value
        if prop.soap is not None and profile in urls:
            prop = dataclasses.replace(prop, endpoint=urls[profile])
            access = sim.soap_resources[profile].access
            environ[prop.soap.username_env] = access.credentials.username
            environ[prop.soap.password_env] = access.credentials.password
        properties[name] = prop
    return dataclasses.replace(config, properties=properties), environ


class Stack:
    """Simulator + gateway; ``yield stack.start()`` then post events and drive the hotel.

    ``soap_profiles`` (e.g. ``("opera-htng", "rezlynx", "htng-async")``) also starts those SOAP
    PMS simulators on ephemeral ports (with the hotel file's ``[soap]`` credentials) and points
    the configuration's properties of those profiles at them (:func:`soap_loopback`).
    """

    def __init__(
        self,
        reactor: Any,
        workdir: Path,
        *,
        hotel: Any = DEMO_HOTEL,
        config_path: Path = EXAMPLE_CONFIG,
        source: str = "payments",
        now: Callable[[], dt.datetime] | None = None,
        configure: Callable[[GatewayConfig], GatewayConfig] | None = None,
        gateway_options: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        soap_profiles: Iterable[str] = (),
    ) -> None:
        self.reactor = reactor
        self.soap_profiles = tuple(soap_profiles)
        self.workdir = Path(workdir)
        self.hotel_source = hotel
        self.config_path = config_path
        self.source = source
        self._now = now
        self._configure = configure
        #: Extra keyword arguments for :class:`Gateway` (e.g. ``jitter``, ``backoff``).
        self._gateway_options = dict(gateway_options or {})
        #: More environment for the gateway (e.g. the operator console's token).
        self._environ = dict(environ or {})
        self.secret = secrets.token_hex(16).encode()
        self.sim: RunningSimulator | None = None
        self.gateway: Gateway | None = None
        self.config: GatewayConfig | None = None

    @property
    def journal(self) -> Any:
        assert self.gateway is not None and self.gateway.journal is not None
        return self.gateway.journal

    @inlineCallbacks
    def start(self) -> Any:
        soap = {SOAP_SIMULATORS[profile]: LOOPBACK_ANY_PORT for profile in self.soap_profiles}
        self.sim = yield start_simulator(
            self.reactor, self.hotel_source, LOOPBACK_ANY_PORT, LOOPBACK_ANY_PORT,
            **({**soap, "environ": {}} if soap else {}),
        )  # fmt: skip
        yield self.start_gateway()

    @inlineCallbacks
    def start_gateway(self) -> Any:
        assert self.sim is not None
        base = load_config(self.config_path)
        config = loopback_config(
            base, self.workdir / "journal.sqlite", self.sim.fias_address[1]
        )
        config, soap_environ = soap_loopback(config, self.sim)
        if self._configure is not None:
            config = self._configure(config)
        self.config = config
        environ = {**soap_environ, **self._environ}
        environ.update({src.secret_env: self.secret.decode() for src in config.sources.values()})
        self.gateway = Gateway(
            config, reactor=self.reactor, environ=environ, now=self._now, **self._gateway_options
        )
        yield self.gateway.start()

    @inlineCallbacks
    def stop(self) -> Any:
        if self.gateway is not None:
            yield self.gateway.stop()
            self.gateway = None
        if self.sim is not None:
            yield self.sim.stop()
            self.sim = None

    # -- the payment platform's side ----------------------------------------------------------

    @inlineCallbacks
    def post_event(self, event: Mapping[str, Any]) -> Any:
        """POST one signed event; returns (status code, JSON answer)."""
        assert self.gateway is not None
        body = json.dumps(event).encode()
        t = int(self.reactor.seconds())
        response = yield treq.post(
            self.gateway.api_url + "/v1/events",
            data=body,
            headers={
                "Content-Type": ["application/json"],
                "Foliogate-Signature": [sign(self.secret, body, t)],
                "Foliogate-Source": [self.source],
            },
        )
        answer = yield response.json()
        return response.code, answer

    # -- the hotel's side (the simulator's control API) ----------------------------------------

    @inlineCallbacks
    def control(self, method: str, path: str, body: Any = None) -> Any:
        assert self.sim is not None
        data = None if body is None else json.dumps(body).encode()
        response = yield treq.request(
            method,
            self.sim.control_url + path,
            data=data,
            headers={"Content-Type": ["application/json"]},
        )
        answer = yield response.json()
        if response.code >= 400:
            raise RuntimeError(f"{method} {path}: {response.code} {answer}")
        return answer

    # -- waiting ------------------------------------------------------------------------------

    @inlineCallbacks
    def wait_for(
        self, predicate: Callable[[], Any], what: str, timeout: float = 20.0, step: float = 0.02
    ) -> Any:
        """Poll ``predicate`` until it returns something truthy; that value is returned."""
        deadline = self.reactor.seconds() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if self.reactor.seconds() > deadline:
                raise StackTimeout(f"timed out after {timeout} s waiting for {what}")
            yield task.deferLater(self.reactor, step, lambda: None)

    def legs_of(self, event_id: str) -> tuple[Leg, ...]:
        record = self.journal.event(event_id)
        return () if record is None else tuple(record.legs)

    def wait_for_legs(
        self, event_id: str, states: set[str], timeout: float = 20.0
    ) -> Any:
        """Wait until every leg of ``event_id`` is in one of ``states``; returns the legs."""

        def done() -> tuple[Leg, ...] | None:
            legs = self.legs_of(event_id)
            return legs if legs and all(leg.state.value in states for leg in legs) else None

        return self.wait_for(done, f"legs of {event_id} to be {sorted(states)}", timeout)
