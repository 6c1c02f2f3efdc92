"""The gateway's HTTP API: signed payment events in, journal state and the exception queue out.

Endpoints (issue 3 sections 1 and 4); every ``/v1/`` request is signed, ``/healthz`` is open:

``POST /v1/events``
    202 ``{"event_id", "status": "accepted", "legs": [...]}`` only once the event and its legs
    are committed to the journal; 200 for an exact repeat (``"status": "duplicate"``); 409 for
    an ``event_id`` repeated with a different body; 400 ``{"errors": [{"path", "reason"}]}``
    listing every problem; 413 over the size limit; 401 when authentication fails; 404 for a
    property the configuration does not have; 415 for a body that is not JSON; 503 when the
    journal could not commit (the caller retries; repeats are safe).
``GET /v1/events/{event_id}``
    The event (card data never stored), its legs with states and outcomes (``hold``: held for
    approval), balances; issue 5: ``conversion`` (both amounts and the rate), ``flags``
    (e.g. ``amount_mismatch``), ``match`` and ``candidates`` (the ranked PMS records found
    when the confirmation number found nothing).
``POST /v1/events/{id}/assign``, ``POST /v1/legs/{id}/assign``
    Body ``{"operator", "note", "confirmation_number"}``: an operator names the PMS record of
    an event (planned again; its legs post) or of a leg the PMS did not find (its event's
    unsent legs take the number; rejected ones go back to ``planned``). 409 when the state
    does not allow it (a posting is never edited).
``POST /v1/legs/{id}/approve``
    Releases a payment held for approval (every held leg of its event) to the dispatcher.
``POST /v1/events/{id}/retry``
    Plans an event-level exception again (e.g. after the missing rate was added).
``GET /v1/legs?state=...&property=...``, ``GET /v1/legs/{id}``, ``GET /v1/exceptions``
``POST /v1/legs/{id}/retry``, ``POST /v1/legs/{id}/resolve``, ``POST /v1/events/{id}/resolve``
    Operator actions, body ``{"operator", "note"}``; journaled with who, what, when and the note.
    ``GET /v1/exceptions`` lists, per leg and event, the ``actions`` an operator may take now.
``GET /v1/links``
    Per configured property: profile and link state (``alive``, ``down``... or ``not running``
    for a profile this build does not run), the PMS holds, and whether it can post now.
``GET /v1/reservations/{confirmation_number}``
    Every event for that record (events with legs to it, or whose booking names it).
``GET /v1/legs/{id}/wire``, ``GET /v1/legs/{id}/history``
    A leg's wire log (masked; text with control characters named) and its transitions and
    operator actions.
``GET /healthz``; ``/console/`` (the operator console, :mod:`adapters.console`)
``POST /v1/callbacks/{profile}/{property}``
    Where an asynchronous PMS POSTs its results (htng-async: :mod:`adapters.soap_htng_async`).
    Not signed like the rest of ``/v1/``: the resource the gateway registers for the property
    authenticates the SOAP message itself (UsernameToken) and answers SOAP, faults included.

``GET /v1/reconcile?property=P&date=YYYY-MM-DD[&timezone=ZONE]``
    The reconciliation of a business date as JSON (:mod:`adapters.reconcile`): captured
    payments and what became of them, open items with reason and age, totals per transaction
    code and payment type. 400 for a bad date or zone, 404 for an unknown property.
``GET /metrics``, ``GET /readyz``
    Prometheus metrics and readiness (:mod:`adapters.metrics`); open, like ``/healthz``.
Authentication, as payment platforms sign their webhooks: header
``Foliogate-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`` where each ``v1`` is
HMAC-SHA256 of ``f"{t}.".encode() + raw_body`` under the source's secret (several ``v1`` let a
sender sign with an old and a new secret while rotating). ``Foliogate-Source: <name>`` names the
source; it may be left out when only one source is configured. Signatures are compared in
constant time and refused when ``t`` is more than 5 minutes away from the injected clock.

The operator console's session cookie, or ``Authorization: Bearer <console token>``, is
accepted instead of a signature on every ``/v1/`` request except the ingest ``POST /v1/events``
(see :mod:`adapters.console`); with a session, the operator of an action is the logged-in
operator, whatever the body says.

Checks run in this order, so nothing about the configuration leaks to an unauthenticated
caller: size (413, decided while the body arrives: never buffered beyond the limit), signature
(401), content type (415), JSON and event validation (400), property (404), journal (202, 200,
409).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import inspect
import io
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import parse_qs, unquote, unquote_to_bytes

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http, server
from twisted.web.resource import Resource, _IEncodingResource

from adapters.console import Console, ConsoleTokenInvalid, LoginRefused, make_console, same_origin
from adapters.domain import EXCEPTION_STATES, Leg, LegState, PaymentEvent
from adapters.events import invoices_of
from adapters.intake import Intake, OperatorActions
from adapters.journal import (
    ByHand,
    EventRecord,
    Held,
    IllegalTransition,
    IngestResult,
    IngestStatus,
    Journal,
    JournalError,
    UnknownEvent,
    UnknownLeg,
)

log = Logger(namespace="foliogate.api")

DEFAULT_MAX_BODY_BYTES = 64 * 1024
#: How far a signature's timestamp may be from our clock, either way.
SIGNATURE_TOLERANCE_SECONDS = 300
#: More ``v1`` values than this in one header is abuse, not key rotation.
MAX_SIGNATURES = 8
SIGNATURE_HEADER = b"Foliogate-Signature"
SOURCE_HEADER = b"Foliogate-Source"
#: The leg states ``/healthz`` counts: pending (planned, waiting, sent) and exceptions
#: (rejected, unknown).
_HEALTH_STATES = ("planned", "waiting", "sent", "rejected", "unknown")
#: The ingest API listens on loopback unless the configuration names an interface.
DEFAULT_LISTEN = "tcp:port=8600:interface=127.0.0.1"

OnEventAccepted = Callable[[str], object]
#: ``{property: LinkStatus-like}`` (``state``, ``resync``, ``night_audit``, ``can_post``).
LinkStatuses = Callable[[], Mapping[str, Any]]


class MissingSecret(ValueError):
    """A configured source's secret is not in the environment."""


# ---------------------------------------------------------------------------------------------
# Signatures (shared with ``foliogate post``)
# ---------------------------------------------------------------------------------------------


def _mac(secret: bytes, body: bytes, t: int) -> str:
    return hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, t: int) -> str:
    """The ``Foliogate-Signature`` header value for ``body`` sent at unix time ``t``.

    >>> sign(b"s3cret", b"{}", 1700000000)
    't=1700000000,v1=97926816e98fbb41ccb1673225ff29a2f35369099990e1b1561651e7bd097ebf'
    """
    return f"t={t},v1={_mac(secret, body, t)}"


def verify_signature(
    header: str | None,
    body: bytes,
    secret: bytes,
    now: float,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> str | None:
    """None if ``header`` signs ``body`` under ``secret`` at a time near ``now``; else why not."""
    if not header:
        return "missing Foliogate-Signature header"
    timestamps: list[str] = []
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return "malformed Foliogate-Signature header (want t=<unix>,v1=<hex>)"
        if key == "t":
            timestamps.append(value.strip())
        elif key == "v1":
            candidates.append(value.strip())
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        return "Foliogate-Signature needs exactly one t=<unix seconds>"
    if not candidates:
        return "Foliogate-Signature has no v1 signature"
    if len(candidates) > MAX_SIGNATURES:
        return f"Foliogate-Signature has more than {MAX_SIGNATURES} v1 signatures"
    t = int(timestamps[0])
    if abs(now - t) > tolerance:
        return f"signature timestamp is more than {tolerance // 60} minutes from our clock"
    expected = _mac(secret, body, t).encode()
    matched = False
    for candidate in candidates:
        # Every candidate is compared (no early exit), each in constant time.
        matched |= hmac.compare_digest(expected, candidate.lower().encode("ascii", "replace"))
    return None if matched else "signature does not match"


# ---------------------------------------------------------------------------------------------
# What the API needs from adapters.events and adapters.journeys
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRules:
    """Validation, parsing, canonical form and journey planning of events.

    ``EventRules.default()`` takes them from ``adapters.events`` and ``adapters.journeys``;
    tests may pass their own.
    """

    validate: Callable[[Any], Sequence[Any]]  # -> [Problem(path, reason)], empty when valid
    parse: Callable[[Any], PaymentEvent]
    canonical: Callable[[Any], bytes]
    plan: Callable[[PaymentEvent, Any, Sequence[Leg]], Any]  # -> JourneyPlan
    #: Strict JSON decoding; raises an exception with ``problems`` (or ValueError).
    decode: Callable[[bytes], Any] | None = None

    @classmethod
    def default(cls) -> EventRules:
        from adapters import events, journeys  # type: ignore[attr-defined,unused-ignore]

        return cls(
            validate=events.validate_event,
            parse=events.parse_valid_event,  # _post_event validates first
            canonical=events.canonical_body,
            plan=journeys.plan_legs,
            decode=events.decode_event_json,
        )


# ---------------------------------------------------------------------------------------------
# JSON views
# ---------------------------------------------------------------------------------------------


def _time(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def leg_json(leg: Leg) -> dict[str, Any]:
    """A leg as the API (and ``foliogate exceptions --json``) shows it."""
    plan = leg.plan
    created = _time(leg.created_at)
    updated = created if leg.updated_at is leg.created_at else _time(leg.updated_at)
    return {
        "leg_id": leg.leg_id,
        "event_id": leg.event_id,
        "leg_index": leg.leg_index,
        "reference": leg.reference,
        "property": leg.property,
        "confirmation_number": leg.confirmation_number,
        "transaction_code": plan.transaction_code,
        "payment_type": plan.payment_type,
        "amount": plan.amount,
        "currency": plan.currency,
        "description": plan.description,
        "needs_in_house": plan.needs_in_house,
        "state": leg.state.value,
        "attempts": leg.attempts,
        "reason": leg.reason,
        "answer_status": leg.answer_status,
        "posting_number": leg.posting_number,
        "not_before": _time(leg.not_before),
        "created_at": created,
        "updated_at": updated,
        "notes": list(leg.notes),
    }


def event_json(record: EventRecord) -> dict[str, Any]:
    """An event as the API shows it: the stored body (card data stripped), legs, balances."""
    try:
        body = record.body_json()
    except ValueError:
        body = None
    return {
        "event_id": record.event_id,
        "property": record.property,
        "type": record.type,
        "source": record.source,
        "status": record.status.value,
        "outcome": record.outcome,
        "occurred_at": record.occurred_at,
        "received_at": _time(record.received_at),
        "event": body,
        "legs": [
            {**leg_json(leg), "hold": record.holds.get(leg.leg_id)} for leg in record.legs
        ],
        # Issue 5: the conversion (both amounts, the rate), flags, the candidate search.
        "conversion": conversion_json(record.conversion),
        "flags": [flag_json(f) for f in record.flags],
        "match": match_json(record.match),
        "candidates": [candidate_json(c) for c in record.match.candidates]
        if record.match is not None
        else [],
        "balances": [
            {
                "leg_id": b.leg_id,
                "confirmation_number": b.confirmation_number,
                "balance": b.balance,
                "currency": b.currency,
                "recorded_at": _time(b.recorded_at),
            }
            for b in record.balances
        ],
    }


def flag_json(flag: Any) -> dict[str, Any]:
    return {
        "kind": flag.kind,
        "detail": flag.detail,
        "related_event_id": flag.related_event_id,
        "created_at": _time(flag.created_at),
    }


def conversion_json(conversion: Any) -> dict[str, Any] | None:
    """Both amounts and the rate of a converted event (``rate`` as the file wrote it)."""
    if conversion is None:
        return None
    return {
        "original_amount": conversion.original_amount,
        "original_currency": conversion.original_currency,
        "amount": conversion.amount,
        "currency": conversion.currency,
        "rate": str(conversion.rate),
        "pair": f"{conversion.base}/{conversion.quote}",
        "inverted": conversion.inverted,
        "valid_from": _time(conversion.valid_from),
        "valid_to": _time(conversion.valid_to),
        "rates_file": conversion.source,
        "rounding": conversion.rounding,
    }


def candidate_json(candidate: Any) -> dict[str, Any]:
    return {
        "rank": candidate.rank,
        "confirmation_number": candidate.confirmation_number,
        "guest_name": candidate.guest_name,
        "room": candidate.room,
        "arrival": candidate.arrival.isoformat() if candidate.arrival else None,
        "departure": candidate.departure.isoformat() if candidate.departure else None,
        "balance": candidate.balance,
        "score": candidate.score,
        "reasons": list(candidate.reasons),
    }


def match_json(match: Any) -> dict[str, Any] | None:
    if match is None:
        return None
    return {
        "status": match.status.value,
        "reason": match.reason,
        "leg_id": match.leg_id,
        "requested_at": _time(match.requested_at),
        "searched_at": _time(match.searched_at),
        "search_note": match.search_note,
        "candidates": [candidate_json(c) for c in match.candidates],
        "assigned": None
        if match.assigned_to is None
        else {
            "confirmation_number": match.assigned_to,
            "operator": match.assigned_by,
            "at": _time(match.assigned_at),
            "note": match.assign_note,
        },
    }


def _legs_answer(leg_id: int, legs: Sequence[Leg]) -> dict[str, Any]:
    """An operator action on one leg that changed its event's legs: that leg, and all of them."""
    (leg,) = [leg for leg in legs if leg.leg_id == leg_id]
    return {**leg_json(leg), "legs": [leg_json(other) for other in legs]}


def _errors(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"errors": [{"path": path, "reason": reason} for path, reason in pairs]}


# ---------------------------------------------------------------------------------------------
# Body size: decided while the body arrives
# ---------------------------------------------------------------------------------------------


def _twisted_process_source_digest() -> str | None:
    try:
        source = inspect.getsource(server.Request.process)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()


#: ``BoundedRequest.process`` is Twisted's ``Request.process`` as of Twisted 26.10 (this is the
#: SHA-256 of its source) but for the ``Date`` header; with any other version of it, Twisted's
#: own runs.
_PROCESS_FOLLOWED = "f75c1431d226a2298ad3aaa14130a9ad7c9b4e4a5f435cf63b46586e5a35563d"
_FOLLOWS_TWISTED_PROCESS = _twisted_process_source_digest() == _PROCESS_FOLLOWED


class _HttpDate:
    """``twisted.web.http.datetimeToString()``, formatted once per second (the text names the
    second only; formatting it cost more than anything else Twisted does per response)."""

    def __init__(self) -> None:
        self._second: int | None = None
        self._text = b""

    def __call__(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._text = http.datetimeToString(second)
            self._second = second
        return self._text


_http_date = _HttpDate()


class BoundedRequest(server.Request):
    """A request that keeps at most ``site.max_body_bytes`` of body in memory.

    A ``Content-Length`` over the limit, or a chunked body that grows past it, marks the
    request ``body_too_large``; the rest of the body is read and dropped (so the connection
    stays usable and the caller reads a clean 413) and the resource answers 413.
    """

    def process(self) -> None:
        """Twisted's ``Request.process`` (26.10, see :data:`_PROCESS_FOLLOWED`), with the
        ``Date`` header's text made once per second instead of once per request."""
        if not _FOLLOWS_TWISTED_PROCESS:
            super().process()
            return
        self.site = self.channel.site
        self.setHeader(b"Server", server.version)
        self.setHeader(b"Date", _http_date())
        self.prepath = []
        self.postpath = list(map(unquote_to_bytes, self.path[1:].split(b"/")))
        if self.path == b"*":
            self._handleStar()  # type: ignore[attr-defined]
            return
        try:
            resrc = self.site.getResourceFor(self)
            if _IEncodingResource.providedBy(resrc):
                encoder = resrc.getEncoder(self)
                if encoder is not None:
                    self._encoder = encoder
            self.render(resrc)
        except BaseException:
            self.processingFailed(Failure())

    body_too_large = False
    _body_bytes = 0
    _max_body_bytes: int | None = None

    def _limit(self) -> int:
        """The site's limit, read once per request (gotLength, then each body chunk)."""
        limit = self._max_body_bytes
        if limit is None:
            site = getattr(self.channel, "site", None)
            limit = self._max_body_bytes = int(
                getattr(site, "max_body_bytes", DEFAULT_MAX_BODY_BYTES)
            )
        return limit

    def gotLength(self, length: int | None) -> None:
        self.content = io.BytesIO()
        if length is not None and length > self._limit():
            self.body_too_large = True

    def handleContentChunk(self, data: bytes) -> None:
        if self.body_too_large:
            return
        self._body_bytes += len(data)
        if self._body_bytes > self._limit():
            self.body_too_large = True
            self.content = io.BytesIO()  # drop what was kept; keep nothing more
            return
        assert self.content is not None
        self.content.write(data)


class GatewaySite(server.Site):
    requestFactory = BoundedRequest
    displayTracebacks = False

    def __init__(self, resource: Resource, max_body_bytes: int) -> None:
        super().__init__(resource, parsePOSTFormSubmission=False)
        self.max_body_bytes = max_body_bytes

    def getResourceFor(self, request: server.Request) -> Resource:
        """``Site.getResourceFor`` for a site whose root is a leaf (the API is one resource):
        the root, with ``site`` and ``sitepath`` set as Twisted sets them, without its
        ``copy.copy`` and traversal."""
        root = self.resource
        if not root.isLeaf:
            return super().getResourceFor(request)  # type: ignore[no-any-return]
        request.site = self
        request.sitepath = list(request.prepath)
        return root

    def log(self, request: server.Request) -> None:
        """The access log line, except for an ingest the API has logged itself (its line
        names the event, the property and the outcome): one line per event, not two."""
        if getattr(request, "foliogate_logged", False):
            return
        super().log(request)


# ---------------------------------------------------------------------------------------------
# The resource
# ---------------------------------------------------------------------------------------------


class _Answer(Exception):
    """Raised inside a handler to answer at once with ``code`` and a JSON body."""

    def __init__(self, code: int, body: dict[str, Any], headers: Mapping[str, str] = {}):
        super().__init__(code)
        self.code = code
        self.body = body
        self.headers = dict(headers)


def _matches(pattern: Sequence[str | None], seg: Sequence[str | None]) -> bool:
    """Whether the path ``seg`` matches ``pattern`` (None in it: any one segment)."""
    if len(pattern) != len(seg):
        return False
    return all(p is None or p == s for p, s in zip(pattern, seg, strict=True))


@functools.lru_cache(maxsize=64)
def _json_content_type(value: bytes | None) -> bool:
    """Whether a ``Content-Type`` header names JSON in UTF-8 (cached: a pure function of the
    header's bytes, and callers send the same few values)."""
    if not value:
        return False
    media, *params = value.decode("latin-1").split(";")
    media = media.strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        return False
    for param in params:
        key, _, val = param.strip().partition("=")
        if key.lower() == "charset" and val.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Answer(400, _errors(("", f"malformed JSON: {exc}"))) from exc


#: ``json.dumps(body, ensure_ascii=False)``'s encoder, built once instead of on every answer.
_JSON = json.JSONEncoder(ensure_ascii=False)
#: How ``_JSON`` quotes a string (see :func:`_plain`).
_quote = json.encoder.encode_basestring

#: What ``POST /v1/events`` answers: status, JSON body, extra headers.
Answer = tuple[int, dict[str, Any], Mapping[str, str]]

#: What an acceptor process serves (the rest of the API is the gateway's own process's).
_INGEST_ROUTES = (("POST", ["v1", "events"]), ("GET", ["healthz"]))
_INGEST_ONLY = (
    "this port takes POST /v1/events only (the gateway's acceptors); the rest of the API is"
    " on the gateway's listen address"
)


class GatewayAPI(Resource):
    """Routes requests by method and path; one leaf resource for the whole API."""

    isLeaf = True
    #: The gateway's :class:`adapters.metrics.GatewayMetrics` (set by ``Gateway.start``): it
    #: serves ``/metrics``, counts ingest answers and gives ``/readyz`` the links. None: no
    #: ``/metrics``, and ``/readyz`` checks the journal alone.
    metrics: Any = None
    #: In an acceptor process (adapters.acceptor): hands an event that passed the checks
    #: of ``POST /v1/events`` to the gateway's process, which answers as :meth:`ingest` does.
    forward: Callable[[dict[str, Any], str], Deferred[Answer]] | None = None

    def __init__(
        self,
        journal: Journal,
        config: Any,
        clock: Any,
        on_event_accepted: OnEventAccepted | None,
        secrets: Mapping[str, bytes],
        rules: EventRules,
        *,
        console: Console | None = None,
        link_status: LinkStatuses | None = None,
        callbacks: Mapping[tuple[str, str], Resource] | None = None,
        ingest_only: bool = False,
    ) -> None:
        super().__init__()
        self._callbacks = dict(callbacks or {})
        #: An acceptor process's API (adapters.acceptor): POST /v1/events and GET /healthz.
        self._ingest_only = ingest_only
        self._journal = journal
        self._config = config
        self._clock = clock
        self._on_event_accepted = on_event_accepted
        self._secrets = dict(secrets)
        self._rules = rules
        self._console = console
        self._link_status = link_status
        # Issue 5: currencies, matching, approval around the journeys; operator decisions.
        self._intake = Intake.from_config(config, journal, plan=rules.plan)
        self._actions = OperatorActions(journal, config, self._intake)
        self._routes = self._route_table()
        #: The routes without a path parameter, by path: found without trying each pattern
        #: (no pattern with a parameter matches one of these paths: see _route_table).
        self._exact_routes = {
            tuple(pattern): (pattern, methods)
            for pattern, methods in self._routes
            if None not in pattern
        }

    # -- plumbing ------------------------------------------------------------------------------

    def render(self, request: server.Request) -> bytes | int:
        method = request.method.decode("ascii", "replace").upper()
        if method == "HEAD":
            method = "GET"
        raw_path = request.path.decode("ascii", "replace")
        segments = raw_path.split("/")[1:]
        if "%" in raw_path:  # unquote() leaves a segment without % as it is
            segments = [unquote(s) for s in segments]
        if len(segments) > 1 and segments[-1] == "":
            segments.pop()
        if self._ingest_only and (method, segments) not in _INGEST_ROUTES:
            return self._answer(request, 404, _errors(("", _INGEST_ONLY)))
        if segments[0] == "console" and self._console is not None:
            return self._console.render(request, method, segments[1:])
        if len(segments) == 4 and segments[:2] == ["v1", "callbacks"]:
            callback = self._callbacks.get((segments[2], segments[3]))
            if callback is not None and method == "POST":
                return callback.render(request)  # type: ignore[no-any-return]
        try:
            if segments[0] == "console":
                raise _Answer(404, _errors(("", "the console is off: configure [console]")))
            return self._route(request, method, segments)
        except _Answer as answer:
            if method == "POST" and segments == ["v1", "events"]:
                self._count_event(getattr(request, "foliogate_event_type", None), "rejected")
            return self._answer(request, answer.code, answer.body, answer.headers)
        except Exception:
            log.failure("{method} {path} failed", method=method, path=raw_path)
            return self._answer(request, 500, _errors(("", "internal error; see the gateway log")))

    def _answer(
        self,
        request: server.Request,
        code: int,
        body: dict[str, Any],
        headers: Mapping[str, str] = {},
    ) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        for name, value in headers.items():
            request.setHeader(name.encode(), value.encode())
        text = body.text() if type(body) is _IngestAnswer else None
        if text is None:
            text = _JSON.encode(body)
        return text.encode() + b"\n"

    def _route_table(self) -> list[tuple[list[str | None], dict[str, Callable[..., bytes | int]]]]:
        """Path patterns (None: a path parameter) and the handler of each method, in the
        order they are tried. No pattern with a parameter may match the path of one without
        (``_exact_routes`` finds those first)."""
        routes: list[tuple[list[str | None], dict[str, Callable[..., bytes | int]]]] = [
            (["healthz"], {"GET": self._healthz}),
            (["readyz"], {"GET": self._readyz}),
            (["metrics"], {"GET": self._metrics_text}),
            (["v1", "events"], {"POST": self._post_event}),
            (["v1", "events", None], {"GET": self._get_event}),
            (["v1", "events", None, "resolve"], {"POST": self._resolve_event}),
            (["v1", "events", None, "assign"], {"POST": self._assign_event}),
            (["v1", "events", None, "retry"], {"POST": self._retry_event}),
            (["v1", "legs", None, "assign"], {"POST": self._assign_leg}),
            (["v1", "legs", None, "approve"], {"POST": self._approve_leg}),
            (["v1", "legs"], {"GET": self._get_legs}),
            (["v1", "legs", None], {"GET": self._get_leg}),
            (["v1", "legs", None, "retry"], {"POST": self._retry_leg}),
            (["v1", "legs", None, "resolve"], {"POST": self._resolve_leg}),
            (["v1", "exceptions"], {"GET": self._get_exceptions}),
            (["v1", "reconcile"], {"GET": self._get_reconcile}),
            (["v1", "links"], {"GET": self._get_links}),
            (["v1", "reservations", None], {"GET": self._get_reservation}),
            (["v1", "legs", None, "wire"], {"GET": self._get_leg_wire}),
            (["v1", "legs", None, "history"], {"GET": self._get_leg_history}),
        ]
        exact = [pattern for pattern, _ in routes if None not in pattern]
        for pattern, _ in routes:
            if None in pattern:
                assert not any(_matches(pattern, other) for other in exact), pattern
        return routes

    def _route(
        self, request: server.Request | None, method: str, seg: list[str], *, probe: bool = False
    ) -> bytes | int:
        """Answer the request; with ``probe``, only say (1/0) whether ``method`` is routed."""
        found = self._exact_routes.get(tuple(seg))
        routes = self._routes if found is None else (found,)
        for pattern, methods in routes:
            if found is None and not _matches(pattern, seg):
                continue
            handler = methods.get(method)
            if probe:
                return int(handler is not None)
            assert request is not None
            if handler is None:
                raise _Answer(
                    405,
                    _errors(("", f"{method} is not allowed here")),
                    {"Allow": ", ".join(methods)},
                )
            args = () if found is not None else [
                s for p, s in zip(pattern, seg, strict=True) if p is None
            ]
            if seg[0] == "v1":
                source = self._authenticate_v1(request, method, seg)
                return handler(request, source, *args)
            return handler(request, *args)
        if probe:
            return 0
        raise _Answer(404, _errors(("", "no such endpoint")))

    def _body(self, request: Any) -> bytes:
        if getattr(request, "body_too_large", False):
            raise _Answer(
                413,
                _errors(("", f"body larger than {self._max_body_bytes()} bytes")),
            )
        return bytes(request.content.getvalue())

    def _max_body_bytes(self) -> int:
        return int(getattr(self._config.gateway, "max_body_bytes", DEFAULT_MAX_BODY_BYTES))

    def _authenticate_v1(self, request: server.Request, method: str, seg: list[str]) -> str:
        """The source of a ``/v1/`` request: ``"console"`` for an operator console session or
        bearer token (not for ingest), else the HMAC-signed source."""
        ingest = method == "POST" and seg == ["v1", "events"]
        if self._console is None or ingest or request.getHeader(SIGNATURE_HEADER) is not None:
            return self._authenticate(request)
        self._body(request)  # a body over the limit is 413 before anything else
        try:
            how, operator = self._console.operator_of(request)
        except LoginRefused as refused:
            self._refuse(request, refused.reason, "console", refused.path)
        if how is None:
            return self._authenticate(request)  # neither: the signature check says what to do
        if how == "session" and method != "GET" and not same_origin(request):
            raise _Answer(403, _errors(("header:Origin", "cross-origin request refused")))
        request.foliogate_operator = operator  # type: ignore[attr-defined]
        return "console"

    def _authenticate(self, request: server.Request) -> str:
        body = self._body(request)  # a body over the limit is 413 before anything else
        raw_source = request.getHeader(SOURCE_HEADER)
        if raw_source is not None:
            source = raw_source.decode("latin-1").strip()
            if source not in self._secrets:
                self._refuse(request, "unknown source", source, "header:Foliogate-Source")
        elif len(self._secrets) == 1:
            (source,) = self._secrets
        else:
            self._refuse(
                request,
                "name the source in the Foliogate-Source header",
                None,
                "header:Foliogate-Source",
            )
        raw_signature = request.getHeader(SIGNATURE_HEADER)
        problem = verify_signature(
            None if raw_signature is None else raw_signature.decode("latin-1"),
            body,
            self._secrets[source],
            self._clock.seconds(),
        )
        if problem is not None:
            self._refuse(request, problem, source)
        return source

    def _refuse(
        self,
        request: server.Request,
        reason: str,
        source: str | None,
        where: str = "header:Foliogate-Signature",
    ) -> NoReturn:
        log.warn(
            "refused {method} {path} from {peer}: {reason} (source {source})",
            method=request.method.decode("ascii", "replace"),
            path=request.path.decode("ascii", "replace"),
            peer=str(request.getClientAddress()),
            reason=reason,
            source=source,
        )
        raise _Answer(
            401,
            _errors((where, reason)),
            {"WWW-Authenticate": 'Foliogate-Signature realm="foliogate"'},
        )

    def _json_body(self, request: server.Request) -> Any:
        if not _json_content_type(request.getHeader(b"Content-Type")):
            raise _Answer(415, _errors(("header:Content-Type", "send application/json")))
        body = self._body(request)
        if self._rules.decode is None:
            return _parse_json(body)
        try:
            return self._rules.decode(body)
        except ValueError as exc:
            problems = list(getattr(exc, "problems", ()) or ())
            if not problems:
                raise _Answer(400, _errors(("", f"malformed JSON: {exc}"))) from exc
            raise _Answer(400, {"errors": [_problem_json(p) for p in problems]}) from exc

    def _wake_dispatcher(self, event_id: str) -> None:
        if self._on_event_accepted is None:
            return
        try:
            self._on_event_accepted(event_id)
        except Exception:
            log.failure("on_event_accepted({event_id}) raised", event_id=event_id)

    # -- handlers ------------------------------------------------------------------------------

    def _healthz(self, request: server.Request) -> bytes:
        # Monitoring polls this often: only the legs still at work are counted.
        if not self._journal.healthy():
            return self._answer(request, 503, {"status": "journal unavailable"})
        counts = self._journal.counts(_HEALTH_STATES)
        return self._answer(
            request,
            200,
            {
                "status": "ok",
                "pending": sum(counts.get(s, 0) for s in _HEALTH_STATES[:3]),
                "exceptions": sum(counts.get(s, 0) for s in _HEALTH_STATES[3:]),
            },
        )

    # -- observability and reconciliation (adapters.metrics, adapters.reconcile) ---------------

    def _count_event(self, event_type: Any, result: str) -> None:
        if self.metrics is not None:
            self.metrics.event_result(event_type if isinstance(event_type, str) else None, result)

    def _readyz(self, request: server.Request) -> bytes:
        from adapters.metrics import readiness

        ready, body = readiness(self._journal, self.metrics)
        return self._answer(request, 200 if ready else 503, body)

    def _metrics_text(self, request: server.Request) -> bytes:
        if self.metrics is None:
            raise _Answer(404, _errors(("", "metrics are served by a running gateway")))
        body, content_type = self.metrics.exposition()
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", content_type.encode())
        request.setHeader(b"Cache-Control", b"no-store")
        return bytes(body)

    def _get_reconcile(self, request: server.Request, source: str) -> bytes:
        from adapters.reconcile import QueryError, reconcile_query, report_json

        query = parse_qs(request.uri.partition(b"?")[2].decode("utf-8", "replace"))
        properties = getattr(self._config, "properties", {}) or {}
        try:
            report = reconcile_query(self._journal, properties, query, self._clock.seconds())
        except QueryError as exc:
            raise _Answer(exc.status, _errors((exc.path, str(exc)))) from exc
        return self._answer(request, 200, report_json(report))

    def _post_event(self, request: server.Request, source: str) -> bytes | int:
        obj = self._json_body(request)
        if isinstance(obj, dict):
            request.foliogate_event_type = obj.get("type")  # type: ignore[attr-defined]
        if not isinstance(obj, dict):
            raise _Answer(400, _errors(("", "an event is a JSON object")))
        problems = list(self._rules.validate(obj))
        if problems:
            raise _Answer(400, {"errors": [_problem_json(p) for p in problems]})
        prop = obj.get("property")
        properties = getattr(self._config, "properties", {}) or {}
        if prop not in properties:
            raise _Answer(404, _errors(("property", f"unknown property {prop!r}")))
        # Every outcome from here is logged with the event: _after_ingest, or the failure.
        request.foliogate_logged = True  # type: ignore[attr-defined]  # see GatewaySite.log
        if self.forward is not None:
            # An acceptor process: the gateway's process plans and journals the event and
            # says what to answer (adapters.acceptor).
            return self._answer_later(request, self.forward(obj, source))
        return self._answer_later(request, self.ingest(obj, source))

    def ingest(self, obj: dict[str, Any], source: str) -> Deferred[Answer]:
        """Plan and journal an event that passed the checks of ``POST /v1/events`` (signed,
        a JSON object, valid, for a known property); fires with the answer to give once it
        is committed: (status, JSON body, headers). The journal failing is a 503 answer."""
        try:
            event = self._rules.parse(obj)
        except Exception as exc:  # validate() accepted it; parse() should too
            problems = list(getattr(exc, "problems", ()) or ())
            if not problems:
                raise
            self._count_event(obj.get("type"), "rejected")
            body: dict[str, Any] = {"errors": [_problem_json(p) for p in problems]}
            return succeed((400, body, {}))
        canonical = self._rules.canonical(obj)
        original_legs: Sequence[Leg] = ()
        if event.refund_of:
            original = self._journal.event(event.refund_of)
            original_legs = original.legs if original is not None else ()
        prop = self._config.properties[event.property]
        plan = self._intake.plan(event, prop, original_legs, invoices=invoices_of(obj))
        d = self._journal.submit_event(event, canonical, plan, source=source)
        event_type, prop_name = str(event.type), event.property

        def committed(result: IngestResult) -> Answer:
            code, answer = _ingest_answer(result)
            self._after_ingest(result, event_type, prop_name)
            return code, answer, {}

        def failed(failure: Failure) -> Answer:
            self._count_event(event_type, "error")
            log.failure("journal commit failed; answering 503", failure)
            return 503, _errors(("", "the journal could not commit the event; retry")), {
                "Retry-After": "1"
            }

        return d.addCallbacks(committed, failed)

    def _answer_later(self, request: server.Request, d: Deferred[Answer]) -> int:
        def ok(answer: Answer) -> None:
            # A request whose connection was lost has no channel (Request.connectionLost):
            # nobody to answer. (Asking notifyFinish() cost a Deferred per request.)
            if getattr(request, "channel", None) is None:
                return
            try:
                body = self._answer(request, *answer)
                # Said up front, as a synchronous answer does: one plain body, not chunked.
                request.setHeader(b"Content-Length", b"%d" % len(body))
                request.write(body)
                request.finish()
            except Exception:
                log.failure("answering {path} failed", path=request.path)

        d.addCallbacks(
            ok, lambda f: log.failure("answering {path} failed", f, path=request.path)
        )
        return server.NOT_DONE_YET

    def _after_ingest(
        self, result: IngestResult, event_type: str | None = None, property: str | None = None
    ) -> None:
        status = result.status.value
        log.info(
            "event {event_id} for {property}: {status}",
            event_id=result.event_id,
            property=property,
            status=status,
        )
        self._count_event(event_type, status)
        if result.status is IngestStatus.ACCEPTED:
            self._wake_dispatcher(result.event_id)

    def _get_event(self, request: server.Request, source: str, event_id: str) -> bytes:
        record = self._journal.event(event_id)
        if record is None:
            raise _Answer(404, _errors(("event_id", f"no event {event_id!r}")))
        return self._answer(request, 200, event_json(record))

    def _get_legs(self, request: server.Request, source: str) -> bytes:
        query = parse_qs(request.uri.partition(b"?")[2].decode("utf-8", "replace"))
        states = [s for value in query.get("state", []) for s in value.split(",") if s]
        bad = [s for s in states if s not in {st.value for st in LegState}]
        if bad:
            allowed = ", ".join(s.value for s in LegState)
            raise _Answer(
                400, _errors(*(("state", f"unknown state {s!r} (one of {allowed})") for s in bad))
            )
        props = query.get("property", [])
        legs = self._journal.legs(state=states or None, property=props[0] if props else None)
        return self._answer(request, 200, {"legs": [leg_json(leg) for leg in legs]})

    def _get_leg(self, request: server.Request, source: str, leg_id: str) -> bytes:
        leg = self._find_leg(leg_id)
        return self._answer(
            request, 200, {**leg_json(leg), "hold": self._journal.hold_of(leg.leg_id)}
        )

    def _get_exceptions(self, request: server.Request, source: str) -> bytes:
        return self._answer(
            request,
            200,
            {
                "legs": [
                    {
                        **leg_json(leg),
                        "by_hand": (by_hand := self._journal.is_by_hand(leg.leg_id)),
                        "hold": (hold := self._journal.hold_of(leg.leg_id)),
                        "needs_approval": hold is not None,
                        "flags": [flag_json(f) for f in self._journal.flags(leg.event_id)],
                        "actions": self._leg_actions(leg, by_hand),
                    }
                    for leg in self._journal.exceptions()
                ],
                "events": [
                    {**event_json(e), "actions": self._event_actions(e)}
                    for e in self._journal.exception_events()
                ],
            },
        )

    def _routed(self, method: str, pattern: list[str | None]) -> bool:
        """True if this API serves ``method`` on ``pattern`` (None: any segment)."""
        return bool(self._route(None, method, [p or "x" for p in pattern], probe=True))

    def _leg_actions(self, leg: Leg, by_hand: bool) -> list[str]:
        """What an operator may do with a listed leg now; the console shows these buttons.

        ``approve`` is offered once the API serves ``POST /v1/legs/{id}/approve`` and the leg
        says it waits for approval (``needs_approval``)."""
        actions: list[str] = []
        held = self._journal.hold_of(leg.leg_id) is not None
        if leg.state in EXCEPTION_STATES:
            actions += [] if by_hand or held else ["retry"]
            actions.append("resolve")
        if self._journal.hold_of(leg.leg_id) is not None and self._routed(
            "POST", ["v1", "legs", None, "approve"]
        ):
            actions.append("approve")
        return actions

    def _event_actions(self, record: EventRecord) -> list[str]:
        """What an operator may do with an event-level exception now: assign it a record (once
        the API serves ``POST /v1/events/{id}/assign``) or resolve it with a note."""
        actions = []
        if self._routed("POST", ["v1", "events", None, "assign"]):
            actions.append("assign")
        actions.append("resolve")
        return actions

    def _get_links(self, request: server.Request, source: str) -> bytes:
        statuses = dict(self._link_status()) if self._link_status is not None else {}
        links = []
        for name, prop in (getattr(self._config, "properties", {}) or {}).items():
            status = statuses.get(name)
            profile = getattr(prop, "profile", None)
            entry: dict[str, Any] = {
                "property": name,
                "profile": None if profile is None else str(getattr(profile, "value", profile)),
                "state": "not running",
                "resync": False,
                "night_audit": False,
                "can_post": False,
            }
            if status is not None:
                state = status.state
                entry.update(
                    state=str(getattr(state, "value", state)),
                    resync=bool(status.resync),
                    night_audit=bool(status.night_audit),
                    can_post=bool(status.can_post),
                )
            links.append(entry)
        return self._answer(request, 200, {"links": links})

    def _get_reservation(self, request: server.Request, source: str, conf: str) -> bytes:
        records = self._journal.events_for_confirmation(conf)
        if not records:
            raise _Answer(404, _errors(("confirmation_number", f"no events for {conf!r}")))
        return self._answer(
            request,
            200,
            {"confirmation_number": conf, "events": [event_json(r) for r in records]},
        )

    def _get_leg_wire(self, request: server.Request, source: str, leg_id: str) -> bytes:
        leg = self._find_leg(leg_id)
        frames = [
            {
                "id": w.id,
                "time": _time(w.time),
                "direction": w.direction,
                "protocol": w.protocol,
                "text": wire_text(w.raw),
            }
            for w in self._journal.wire_log(leg_id=leg.leg_id)
        ]
        return self._answer(request, 200, {"leg_id": leg.leg_id, "frames": frames})

    def _get_leg_history(self, request: server.Request, source: str, leg_id: str) -> bytes:
        leg = self._find_leg(leg_id)
        history = [
            {
                "time": _time(a.time),
                "from_state": a.from_state,
                "to_state": a.to_state,
                "actor": a.actor,
                "action": a.action,
                "note": a.note,
            }
            for a in self._journal.history(leg_id=leg.leg_id)
        ]
        return self._answer(request, 200, {"leg_id": leg.leg_id, "history": history})

    def _find_leg(self, leg_id: str) -> Leg:
        try:
            return self._journal.leg(int(leg_id))
        except (ValueError, UnknownLeg) as exc:
            raise _Answer(404, _errors(("leg_id", f"no leg {leg_id!r}"))) from exc

    def _operator_request(self, request: server.Request) -> tuple[str, str]:
        obj = self._json_body(request)
        problems = []
        if not isinstance(obj, dict):
            raise _Answer(400, _errors(("", 'send {"operator": ..., "note": ...}')))
        # A console session names the operator at login; the body cannot speak for someone else.
        session_operator = getattr(request, "foliogate_operator", None)
        for name in ("note",) if session_operator else ("operator", "note"):
            value = obj.get(name)
            if not isinstance(value, str) or not value.strip():
                problems.append((name, "required: a non-empty string"))
        if problems:
            raise _Answer(400, _errors(*problems))
        return session_operator or obj["operator"].strip(), obj["note"].strip()

    def _operator_action(
        self, request: server.Request, source: str, leg_id: str, action: str
    ) -> bytes:
        leg = self._find_leg(leg_id)
        operator, note = self._operator_request(request)
        act = self._journal.retry if action == "retry" else self._journal.resolve
        try:
            leg = act(leg.leg_id, operator, note)
        except (IllegalTransition, ByHand, Held) as exc:
            raise _Answer(409, _errors(("state", str(exc)))) from exc
        log.info(
            "leg {leg_id} {action} by {operator} (source {source}): {note}",
            leg_id=leg.leg_id,
            leg=leg.reference,
            event_id=leg.event_id,
            property=leg.property,
            action=action,
            operator=operator,
            source=source,
            note=note,
        )
        if action == "retry":
            self._wake_dispatcher(leg.event_id)
        return self._answer(request, 200, leg_json(leg))

    def _retry_leg(self, request: server.Request, source: str, leg_id: str) -> bytes:
        return self._operator_action(request, source, leg_id, "retry")

    def _resolve_leg(self, request: server.Request, source: str, leg_id: str) -> bytes:
        return self._operator_action(request, source, leg_id, "resolve")

    # -- issue 5: assign a record, approve a held payment, retry an event ---------------------

    def _confirmation_request(self, request: server.Request) -> tuple[str, str, str]:
        operator, note = self._operator_request(request)
        number = self._json_body(request).get("confirmation_number")
        if not isinstance(number, str) or not number.strip():
            raise _Answer(400, _errors(("confirmation_number", "required: the record to assign")))
        return number.strip(), operator, note

    def _act(self, action: Callable[[], Any], what: str) -> Any:
        try:
            return action()
        except (UnknownEvent, UnknownLeg) as exc:
            raise _Answer(404, _errors((what, str(exc)))) from exc
        except JournalError as exc:  # NotAssignable, Held, IllegalTransition
            raise _Answer(409, _errors(("state", str(exc)))) from exc
        except ValueError as exc:
            raise _Answer(400, _errors(("", str(exc)))) from exc

    def _assign_event(self, request: server.Request, source: str, event_id: str) -> bytes:
        number, operator, note = self._confirmation_request(request)
        record = self._act(
            lambda: self._actions.assign_event(event_id, number, operator, note), "event_id"
        )
        log.info(
            "event {event_id} assigned {number} by {operator}: {note}",
            event_id=event_id, number=number, operator=operator, note=note,
        )  # fmt: skip
        self._wake_dispatcher(event_id)
        return self._answer(request, 200, event_json(record))

    def _retry_event(self, request: server.Request, source: str, event_id: str) -> bytes:
        operator, note = self._operator_request(request)
        record = self._act(lambda: self._actions.retry_event(event_id, operator, note), "event_id")
        self._wake_dispatcher(event_id)
        return self._answer(request, 200, event_json(record))

    def _assign_leg(self, request: server.Request, source: str, leg_id: str) -> bytes:
        leg = self._find_leg(leg_id)
        number, operator, note = self._confirmation_request(request)
        legs = self._act(
            lambda: self._actions.assign_leg(leg.leg_id, number, operator, note), "leg_id"
        )
        self._wake_dispatcher(leg.event_id)
        return self._answer(request, 200, _legs_answer(leg.leg_id, legs))

    def _approve_leg(self, request: server.Request, source: str, leg_id: str) -> bytes:
        leg = self._find_leg(leg_id)
        operator, note = self._operator_request(request)
        legs = self._act(lambda: self._actions.approve(leg.leg_id, operator, note), "leg_id")
        log.info(
            "payment of {event_id} approved by {operator} (leg {leg_id}): {note}",
            event_id=leg.event_id, leg_id=leg.leg_id, operator=operator, note=note,
        )  # fmt: skip
        self._wake_dispatcher(leg.event_id)
        return self._answer(request, 200, _legs_answer(leg.leg_id, legs))

    def _resolve_event(self, request: server.Request, source: str, event_id: str) -> bytes:
        operator, note = self._operator_request(request)
        try:
            record = self._journal.resolve_event(event_id, operator, note)
        except UnknownEvent as exc:
            raise _Answer(404, _errors(("event_id", f"no event {event_id!r}"))) from exc
        except JournalError as exc:
            raise _Answer(409, _errors(("status", str(exc)))) from exc
        return self._answer(request, 200, event_json(record))


_CONTROL_NAMES = {0x02: "<STX>", 0x03: "<ETX>", 0x04: "<EOT>", 0x06: "<ACK>", 0x15: "<NAK>"}


def wire_text(raw: bytes) -> str:
    """A logged frame as readable text: UTF-8 (else cp1252), control characters named.

    >>> wire_text(b"\x02PA|AS" + b"OK|P#12|\x03")
    '<STX>PA|ASOK|P#12|<ETX>'
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", "replace")
    return "".join(
        ch
        if ch in "\n\t\r" or (ord(ch) >= 0x20 and ord(ch) != 0x7F)
        else _CONTROL_NAMES.get(ord(ch), f"<{ord(ch):02X}>")
        for ch in text
    )


def _problem_json(problem: Any) -> dict[str, str]:
    return {"path": str(getattr(problem, "path", "")), "reason": str(problem.reason)}


def _ingest_answer(result: IngestResult) -> tuple[int, dict[str, Any]]:
    if result.status is IngestStatus.CONFLICT:
        return 409, {
            "event_id": result.event_id,
            "status": "conflict",
            "errors": [
                {
                    "path": "event_id",
                    "reason": "this event_id was already accepted with a different body",
                }
            ],
        }
    return (202 if result.status is IngestStatus.ACCEPTED else 200), _IngestAnswer(
        event_id=result.event_id,
        status=result.status.value,
        event_status=result.event_status.value if result.event_status else None,
        outcome=result.outcome,
        legs=[leg_json(leg) for leg in result.legs],
    )


class _NotPlain(Exception):
    """A value :func:`_plain` does not write (the JSON encoder then writes the answer)."""


def _plain(value: Any) -> str:
    """``value`` (None, str, int, bool) as ``_JSON`` writes it: ``encode_basestring`` is the
    very function it quotes strings with (``ensure_ascii=False``), ints and bools as it does."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return _quote(value)
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    raise _NotPlain


def _plain_list(values: Any) -> str:
    if type(values) is not list:
        raise _NotPlain
    return "[" + ", ".join([_plain(v) for v in values]) + "]"


class _IngestAnswer(dict):  # type: ignore[type-arg]
    """The body of a 202 or 200 ``POST /v1/events`` answer: a plain dict to everyone (it
    is one), which :meth:`text` writes as ``_JSON.encode`` would, from a template of its
    known keys instead of the encoder's walk (about 40 % of that cost). Anything else in it
    (a key added, a value of another type) and :meth:`text` says None: encode it."""

    def text(self) -> str | None:
        try:
            return _object_text(self, _INGEST_TEMPLATE, legs=_legs_text)
        except _NotPlain:
            return None


class _Template:
    """A JSON object's class and keys, in order, each key with the text ``_JSON`` writes
    before its value."""

    __slots__ = ("kind", "keys", "prefixes")

    def __init__(self, kind: type, keys: tuple[str, ...]) -> None:
        self.kind = kind
        self.keys = keys
        self.prefixes = tuple(f"{_quote(key)}: " for key in keys)


def _object_text(obj: Any, template: _Template, **special: Callable[[Any], str]) -> str:
    """The dict ``obj`` as ``_JSON`` writes it, if it is of the template's class with its
    keys, in that order, and its values are plain (``special``: the writer of a key's value
    that is not)."""
    if type(obj) is not template.kind or tuple(obj) != template.keys:
        raise _NotPlain
    parts = [
        prefix + special.get(key, _plain)(obj[key])
        for key, prefix in zip(template.keys, template.prefixes, strict=True)
    ]
    return "{" + ", ".join(parts) + "}"


def _legs_text(legs: Any) -> str:
    if type(legs) is not list:
        raise _NotPlain
    texts = [_object_text(leg, _LEG_TEMPLATE, notes=_plain_list) for leg in legs]
    return "[" + ", ".join(texts) + "]"


_INGEST_KEYS = ("event_id", "status", "event_status", "outcome", "legs")
#: The keys of :func:`leg_json`, in its order.
_LEG_KEYS = (
    "leg_id", "event_id", "leg_index", "reference", "property", "confirmation_number",
    "transaction_code", "payment_type", "amount", "currency", "description", "needs_in_house",
    "state", "attempts", "reason", "answer_status", "posting_number", "not_before",
    "created_at", "updated_at", "notes",
)  # fmt: skip
_INGEST_TEMPLATE = _Template(_IngestAnswer, _INGEST_KEYS)
_LEG_TEMPLATE = _Template(dict, _LEG_KEYS)


# ---------------------------------------------------------------------------------------------
# Wiring
# ---------------------------------------------------------------------------------------------


def source_secrets(config: Any, environ: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """Each configured source's secret, read from the environment variable the config names.

    Raises :class:`MissingSecret` naming every variable that is unset or empty.
    """
    env = os.environ if environ is None else environ
    secrets, missing = {}, []
    for name, source in (getattr(config, "sources", {}) or {}).items():
        value = env.get(source.secret_env, "")
        if not value:
            missing.append(f"{source.secret_env} (source {name})")
        else:
            secrets[name] = value.encode("utf-8")
    if missing:
        raise MissingSecret("secret not set in the environment: " + ", ".join(missing))
    return secrets


def make_site(
    journal: Journal,
    config: Any,
    clock: Any,
    on_event_accepted: OnEventAccepted | None,
    *,
    environ: Mapping[str, str] | None = None,
    rules: EventRules | None = None,
    link_status: LinkStatuses | None = None,
    callbacks: Mapping[tuple[str, str], Resource] | None = None,
    ingest_only: bool = False,
) -> server.Site:
    """The API as a ``twisted.web`` site; listen with :func:`listen` (loopback by default).

    ``clock`` provides ``seconds()`` (the reactor, or a ``task.Clock`` in tests) and judges
    signature timestamps. ``on_event_accepted(event_id)`` is called after an event is
    committed and answered 202, and after an operator retries a leg, so the dispatcher can
    wake up. Secrets are read from ``environ`` (default ``os.environ``) now, once; so is the
    console token when the configuration has a ``[console]`` table. ``link_status()`` gives
    each running property's link status for ``GET /v1/links``. ``callbacks`` maps
    ``(profile, property)`` to the resource that takes ``POST /v1/callbacks/{profile}/{property}``.
    ``ingest_only``: an acceptor process's site (:mod:`adapters.acceptor`): ``POST /v1/events``
    and ``GET /healthz``, no console.
    """
    secrets = source_secrets(config, environ)
    if not secrets:
        log.warn("no sources configured: every /v1/ request will be refused")
    try:
        console = (
            None if ingest_only
            else make_console(config, clock, os.environ if environ is None else environ)
        )  # fmt: skip
    except ConsoleTokenInvalid as exc:
        raise MissingSecret(str(exc)) from None
    resource = GatewayAPI(
        journal, config, clock, on_event_accepted, secrets, rules or EventRules.default(),
        console=console, link_status=link_status, callbacks=callbacks, ingest_only=ingest_only,
    )  # fmt: skip
    max_body = getattr(getattr(config, "gateway", None), "max_body_bytes", None)
    return GatewaySite(resource, int(max_body or DEFAULT_MAX_BODY_BYTES))


def loopback_by_default(description: str) -> str:
    """A server endpoint string that binds loopback unless it names an interface.

    >>> loopback_by_default("tcp:port=8600")
    'tcp:port=8600:interface=127.0.0.1'
    >>> loopback_by_default("8600")
    'tcp:port=8600:interface=127.0.0.1'
    >>> loopback_by_default("tcp:port=8600:interface=0.0.0.0")
    'tcp:port=8600:interface=0.0.0.0'
    """
    if description.isdigit():
        description = f"tcp:port={description}"
    kind = description.split(":", 1)[0]
    if kind in ("tcp", "tcp6", "ssl") and "interface=" not in description:
        return description + (":interface=::1" if kind == "tcp6" else ":interface=127.0.0.1")
    return description


#: The accept queue of the API's listening sockets when the endpoint string names none.
#: Twisted's default is 50: a burst of more new connections than that while the reactor was
#: busy had SYNs dropped, and those callers waited a second for their retransmission
#: (measured: 96 platform connections at once, p99 of the 202 1,011 ms; with 1,024, 37 ms).
#: The kernel caps it at net.core.somaxconn.
DEFAULT_BACKLOG = 1024


def with_default_backlog(description: str, backlog: int = DEFAULT_BACKLOG) -> str:
    """A ``tcp:``/``tcp6:``/``ssl:`` server endpoint string with ``backlog`` added unless it
    names one.

    >>> with_default_backlog("tcp:port=8600:interface=127.0.0.1")
    'tcp:port=8600:interface=127.0.0.1:backlog=1024'
    >>> with_default_backlog("tcp:port=8600:backlog=64:interface=127.0.0.1")
    'tcp:port=8600:backlog=64:interface=127.0.0.1'
    >>> with_default_backlog("unix:/run/foliogate.sock")
    'unix:/run/foliogate.sock'
    """
    from adapters.config import server_endpoint_params

    try:
        _, named = server_endpoint_params(description)
    except ValueError:
        return description  # not a TCP or TLS listener (or not one we know): as it is
    return description if "backlog" in named else f"{description}:backlog={backlog}"


def listen(reactor: Any, site: server.Site, description: str = DEFAULT_LISTEN) -> Deferred[Any]:
    """Listen for ``site`` on a Twisted endpoint string; loopback unless told otherwise."""
    from twisted.internet.endpoints import serverFromString

    endpoint = serverFromString(reactor, with_default_backlog(loopback_by_default(description)))
    result: Deferred[Any] = endpoint.listen(site)
    return result
