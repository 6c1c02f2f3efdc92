"""Helpers for the SOAP poster unit tests: a scripted PMS on loopback, legs and properties.

Not a simulator: a ``twisted.web`` resource that records every request exactly as it arrived
and answers from a script (an envelope built with ``protocols``' builders, a status, a hang, a
dropped connection), so each test pins the exchange it is about.
"""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from twisted.internet import defer
from twisted.web import server
from twisted.web.resource import Resource

from adapters.config import config_from_toml
from adapters.domain import Leg, LegState, PlannedLeg
from protocols.soap import Stamp

NOW = dt.datetime(2026, 11, 27, 10, 4, 5, tzinfo=dt.UTC)
ANSWER_STAMP = Stamp("urn:uuid:00000000-0000-4000-8000-0000000000aa", NOW)
USER, PASSWORD = "FOLIOGATE", "s3cret-pw"
ENVIRON = {"PMS_USER": USER, "PMS_PASSWORD": PASSWORD}


def message_ids(prefix: str = "urn:uuid:00000000-0000-4000-8000-") -> Any:
    """A MessageID generator: ...000000000001, ...000000000002, ..."""
    counter = iter(range(1, 10**9))
    return lambda: f"{prefix}{next(counter):012d}"


def property_config(profile: str, endpoint: str, *, timeout: float = 5.0, extra_soap: str = ""):
    """One property of ``profile`` on ``endpoint`` (negative mode, GBP, the demo codes)."""
    text = f"""
[sources.payments]
secret_env = "SECRET"
[properties.PMS-{profile}]
profile = "{profile}"
endpoint = "{endpoint}"
posting_mode = "negative"
currency = "GBP"
answer_timeout_seconds = {timeout}
[properties.PMS-{profile}.codes]
deposit = "SPA_DEPOSIT"
revenue = {{ SPA_TREATMENT = "SPA_TREATMENT" }}
payment_types = {{ onejourney = "ONEJOURNEY" }}
[properties.PMS-{profile}.soap]
username_env = "PMS_USER"
password_env = "PMS_PASSWORD"
{extra_soap}
"""
    config = config_from_toml(text, base_dir=Path("/tmp"))
    return config.properties[f"PMS-{profile}"]


def leg(
    *,
    code: str | None = None,
    payment: str | None = None,
    amount: int = 5000,
    reference: str = "evt_1/0",
    conf: str = "123456",
    needs_in_house: bool = True,
    description: str = "Spa deposit",
    leg_id: int = 1,
) -> Leg:
    event_id, _, index = reference.rpartition("/")
    return Leg(
        leg_id=leg_id,
        event_id=event_id,
        leg_index=int(index),
        property="PMS",
        confirmation_number=conf,
        plan=PlannedLeg(
            leg_index=int(index),
            transaction_code=code,
            payment_type=payment,
            amount=amount,
            currency="GBP",
            description=description,
            needs_in_house=needs_in_house,
        ),
        state=LegState.PLANNED,
        reference=reference,
    )


@dataclass
class Received:
    """One request as the PMS received it."""

    body: bytes
    headers: dict[str, str]

    @property
    def root(self) -> Any:
        return etree.fromstring(self.body)


# Scripted behaviours: each takes (pms, request, body) and returns what render_POST returns.


def answer(data: bytes, status: int = 200, content_type: str = "text/xml; charset=utf-8"):
    def behave(pms: ScriptedPms, request: Any, body: bytes) -> bytes:
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", content_type.encode())
        return data

    return behave


def hang(pms: ScriptedPms, request: Any, body: bytes) -> Any:
    """Never answer (the gateway's deadline must end the exchange)."""
    pms.hanging.append(request)
    return server.NOT_DONE_YET


def drop(pms: ScriptedPms, request: Any, body: bytes) -> Any:
    """Read the request, then drop the connection without a word."""
    request.channel.transport.abortConnection()
    return server.NOT_DONE_YET


@dataclass
class ScriptedPms(Resource):
    """Answers each POST with the next scripted behaviour (``default`` when the script is out)."""

    default: Any = None
    script: collections.deque[Any] = field(default_factory=collections.deque)
    received: list[Received] = field(default_factory=list)
    hanging: list[Any] = field(default_factory=list)
    isLeaf = True

    def __post_init__(self) -> None:
        Resource.__init__(self)

    def then(self, *behaviours: Any) -> ScriptedPms:
        self.script.extend(behaviours)
        return self

    def render_POST(self, request: Any) -> Any:  # noqa: N802
        body = request.content.read()
        raw = request.requestHeaders.getAllRawHeaders()
        headers = {k.decode().lower(): v[-1].decode() for k, v in raw}
        self.received.append(Received(body, headers))
        behaviour = self.script.popleft() if self.script else self.default
        if behaviour is None:
            request.setResponseCode(500)
            return b"no scripted answer"
        return behaviour(self, request, body)


@defer.inlineCallbacks
def listen(reactor: Any, pms: ScriptedPms, path: str = "/pms") -> Any:
    """Serve ``pms`` on an ephemeral loopback port; returns (port, url)."""
    site = server.Site(pms)
    site.noisy = False
    port = yield defer.maybeDeferred(reactor.listenTCP, 0, site, interface="127.0.0.1")
    return port, f"http://127.0.0.1:{port.getHost().port}{path}"


@dataclass
class Hooks:
    """The dispatcher's side of a channel: what it was told."""

    written: list[str] = field(default_factory=list)
    frames: list[tuple[str, bytes, str | None, str]] = field(default_factory=list)
    wakes: int = 0
    refuse_written: bool = False

    def on_posting_written(self, reference: str, number: Any) -> None:
        if self.refuse_written:
            raise RuntimeError("journal refused")
        self.written.append(reference)

    def on_frame(self, direction: str, payload: bytes, reference: str | None, protocol: str):
        self.frames.append((direction, payload, reference, protocol))

    def on_available(self) -> None:
        self.wakes += 1


def canonical(data: bytes) -> str:
    """C14N 2.0 with prefixes rewritten: two envelopes with the same elements, names, values
    and order compare equal whatever prefixes their writers chose."""
    return etree.canonicalize(etree.fromstring(data), rewrite_prefixes=True, strip_text=True)


def body_payload(data: bytes) -> Any:
    root = etree.fromstring(data)
    body = root.find("{*}Body")
    return next(child for child in body if isinstance(child.tag, str))
