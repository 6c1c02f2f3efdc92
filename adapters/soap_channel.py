"""SOAP posting channels: what the dispatcher posts through for the three SOAP profiles.

One :class:`SoapChannel` per property implements the dispatcher's
:class:`~adapters.dispatcher.PostingChannel` (``hold_reason``, ``guest_in_house``, ``post``,
``folio_balance``) for a profile of :mod:`protocols.htng`:

==============  ===============================================  ============================
profile         class (module ``adapters.``...)                  charge leg / payment leg
==============  ===============================================  ============================
``opera-htng``  ``soap_opera_htng.OperaHtngChannel``             PostCharge / PostPayment;
                                                                 an A/R account leg:
                                                                 PostAccountPayment
``rezlynx``     ``soap_rezlynx.RezlynxChannel``                  PostToRoom / AddPayment or
                                                                 AddDeposit (before arrival);
                                                                 an A/R account leg:
                                                                 AddAccountPayment
``htng-async``  ``soap_htng_async.HtngAsyncChannel``             ChargePostingRQ (an A/R
                                                                 account leg: its
                                                                 AccountPosting); the result
                                                                 comes by callback
==============  ===============================================  ============================

:func:`make_soap_channel` picks the class. How a message is made and carried:

- **zeep** builds and reads the envelopes. Each profile's WSDL is parsed once per process
  (:func:`wsdl_document`) with a transport that refuses the network (:class:`OfflineTransport`);
  ``client.create_message`` builds a request; the binding operation's ``process_reply`` reads
  the answer from the tree the hardened parser made (for a posting, zeep reads just its result
  element, and for a folio read-back the result and the balance, through their XSD elements,
  not the rest of the answer or every folio line).
  Two small zeep hooks add what zeep cannot: :class:`AddressingPlugin` writes WS-Addressing
  headers of either version (zeep's own plugin only speaks 2005/08, and gives no ``From`` or
  ``ReplyTo``), and :class:`FreshUsernameToken` writes a ``wsse:Security`` header with a fresh
  ``wsu:Timestamp`` for every message (zeep's ``UsernameToken`` takes a Timestamp built once).
  Both take the MessageID and the time from one :class:`~protocols.soap.Stamp` per message,
  made from the injected ``now()`` and MessageID generator, so tests pin every byte.
- Every request body is validated against the profile's XSD before anything else happens; a
  leg that does not fit (a code longer than the PMS allows...) is a mapping error: ``post``
  raises :class:`~adapters.dispatcher.LegMappingError` at once and nothing is sent.
- **Twisted's HTTP client** carries it (:class:`SoapHttp`): non-blocking, keep-alive, one
  deadline per exchange that cancels the request and drops the connection, answers read up to a
  size limit. The POST goes to :class:`twisted.web.client.Agent`, the agent treq wraps, not
  through ``treq.HTTPClient.request``: treq's per-request work (parsing and IDNA-encoding the
  URL again, cookie, redirect and gzip wrappers, a response wrapper) was about a quarter of the
  exchange's CPU in the posting process and bought nothing for a POST to one fixed endpoint
  (``bench/soap_exchange.py``, best rounds: rezlynx 0.43 -> 0.33 ms per exchange, opera-htng
  0.54 -> 0.44). treq stays for the simulator, scenario and CLI clients.
- Every request and answer goes raw into the wire log through the dispatcher's ``on_frame``,
  with :func:`protocols.soap.mask_secrets` applied (passwords, card numbers). Answers are read
  with the hardened parser (:func:`protocols.soap.parse_xml`) before zeep sees them.

How an answer becomes a :class:`~adapters.fias_postings.PostingOutcome` (DESIGN section 5),
through the profile's ``RESULT_CODES`` disposition:

================================================  ===========================================
what happened                                     result
================================================  ===========================================
disposition ``posted``                            POSTED
disposition ``retryable`` (night audit, system    RETRYABLE (the dispatcher backs off and
error), a Receiver fault, HTTP 500/503/429        sends the same leg, same reference, again)
disposition ``deferred`` (guest not in house)     NOT_IN_HOUSE for a leg that needs the guest
                                                  (the channel then reports the guest not in
                                                  house for ``in_house_recheck_seconds`` and
                                                  wakes the dispatcher to try again);
                                                  RETRYABLE for a leg that may post early
disposition ``terminal``, a Sender fault          REJECTED with the PMS's code and text
(schema, security), another HTTP 4xx
connection refused / not made before sending      NOT_SENT; the endpoint counts as down for
                                                  ``endpoint_retry_seconds`` (``hold_reason``)
sent, then no answer in time, the connection      UNKNOWN: never re-sent on its own
dropped, HTTP 502/504, an unreadable answer
================================================  ===========================================

A leg's reference goes on the wire unchanged (``Reference``, ``ReferenceID``, the htng-async
``CorrelationID``) so a retry carries the same one and a PMS that deduplicates can; a reference
longer than the schemas allow (64) becomes a stable digest (:func:`wire_reference`).
``hold_reason()`` is None unless the endpoint is known down; ``guest_in_house()`` is True unless
the PMS just said otherwise (the PMS decides, there are no check-in events on these wires).

Candidate searches (issue 5 section 1): ``search_guests(text)`` asks the PMS for the
reservations whose guest name starts with ``text`` (opera-htng ``SearchReservations``, rezlynx
``SearchBookings``, htng-async ``ReservationSearchRQ``) for
:class:`adapters.matching.CandidateFinder`, through the same ``build``/``exchange`` as a
posting (wire-logged without a leg). It fires with the
:class:`~adapters.matching.PmsGuest` records found, or None when the PMS cannot answer now
(endpoint down, no answer, a retryable code or a Receiver fault: the search is tried again on a
later pass); an answer that refuses the search for good raises :class:`SearchRefused` (the
finder records why and leaves the assignment to an operator). On htng-async the search is
synchronous although its postings are not: the answer comes on the HTTP back-channel, not by
callback (a search posts nothing; see :mod:`adapters.soap_htng_async`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import zeep
import zeep.exceptions
from lxml import etree
from twisted.internet import error as net_error
from twisted.internet.abstract import isIPv6Address
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    fail,
    maybeDeferred,
    succeed,
)
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import _newclient
from twisted.web.client import URI, Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory, IBodyProducer
from zeep.plugins import Plugin
from zeep.transports import Transport
from zeep.wsdl.utils import get_or_create_header
from zope.interface import implementer

from adapters.config import Profile, PropertyConfig, soap_credentials
from adapters.dispatcher import AccountInvoices, LegMappingError
from adapters.domain import Leg
from adapters.fias_link import LinkState, LinkStatus
from adapters.fias_postings import PostingOutcome, PostingResult
from protocols.htng.codes import Disposition
from protocols.htng.money import minor_unit_exponent
from protocols.soap import (
    DEFAULT_MAX_BYTES,
    Addressing,
    Credentials,
    EnvelopeError,
    Fault,
    FaultCode,
    Security,
    SoapVersion,
    Stamp,
    WsaVersion,
    XmlRejected,
    XsdValidator,
    addressing_headers,
    format_datetime,
    http_headers,
    mask_secrets,
    parse_envelope,
    parse_fault,
    parse_xml,
    random_message_id,
    security_header,
)
from protocols.soap.namespaces import WSU

__all__ = [
    "DEFAULT_ENDPOINT_RETRY_SECONDS",
    "DEFAULT_IN_HOUSE_RECHECK_SECONDS",
    "AddressingPlugin",
    "AnswerUnknown",
    "FreshUsernameToken",
    "HttpAnswer",
    "OfflineTransport",
    "RequestNotSent",
    "SearchRefused",
    "SoapChannel",
    "SoapHttp",
    "gateway_channel",
    "make_soap_channel",
    "wire_reference",
    "wsdl_document",
]

log = Logger(namespace="foliogate.soap")

#: How long the endpoint counts as down after a connection could not be made.
DEFAULT_ENDPOINT_RETRY_SECONDS = 5.0
#: How long a guest the PMS said is not in house is reported not in house before a new try.
DEFAULT_IN_HOUSE_RECHECK_SECONDS = 60.0
#: Idle keep-alive connections are dropped well before common server idle timeouts (60 s+), so
#: a POST is not written to a connection the server is about to close (that would be unknown).
CACHED_CONNECTION_SECONDS = 20.0
#: The longest reference the profiles' schemas take (Reference, ReferenceID).
MAX_WIRE_REFERENCE = 64

_WHITESPACE = re.compile(r"\s")


def wire_reference(reference: str) -> str:
    """The reference a leg carries on the wire: the leg reference itself when it fits the
    profiles' schemas (1-64 characters, no spaces), else ``fg-`` and a SHA-256 digest, which is
    just as stable across retries.

    >>> wire_reference("evt_7f3a9c/1")
    'evt_7f3a9c/1'
    >>> len(wire_reference("e" * 130 + "/0"))
    64
    """
    if 1 <= len(reference) <= MAX_WIRE_REFERENCE and not _WHITESPACE.search(reference):
        return reference
    return "fg-" + hashlib.sha256(reference.encode("utf-8")).hexdigest()[: MAX_WIRE_REFERENCE - 3]


# ---------------------------------------------------------------------------------------------
# zeep: WSDL loaded once, offline; headers of our own
# ---------------------------------------------------------------------------------------------


class OfflineTransport(Transport):  # type: ignore[misc]
    """A zeep transport that never touches the network: everything is in our package files,
    and the HTTP exchange is :class:`SoapHttp`'s job, not zeep's."""

    def __init__(self) -> None:
        super().__init__()

    def _load_remote_data(self, url: str) -> bytes:
        raise RuntimeError(f"zeep tried to fetch {url}; foliogate loads WSDL/XSD from disk only")

    def post(self, address: str, message: Any, headers: Any) -> Any:
        raise RuntimeError(f"zeep tried to POST to {address}; SoapHttp does the HTTP")

    def get(self, address: str, params: Any, headers: Any) -> Any:
        raise RuntimeError(f"zeep tried to GET {address}; SoapHttp does the HTTP")


#: zeep settings for our own files and for answers: no DTDs, no external fetches.
ZEEP_SETTINGS = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True,
                              forbid_external=True, xml_huge_tree=False)  # fmt: skip


@functools.cache
def wsdl_document(profile: Profile) -> Any:
    """The profile's parsed WSDL (a ``zeep.wsdl.Document``), loaded once per process."""
    from zeep.wsdl import Document

    module = _profile_module(profile)
    return Document(str(module.wsdl_path()), OfflineTransport(), settings=ZEEP_SETTINGS)


def _profile_module(profile: Profile) -> Any:
    from protocols.htng import htng_async, opera_htng, rezlynx

    modules = {
        Profile.OPERA_HTNG: opera_htng,
        Profile.REZLYNX: rezlynx,
        Profile.HTNG_ASYNC: htng_async,
    }
    if profile not in modules:
        raise ValueError(f"{profile} is not a SOAP profile")
    return modules[profile]


class _StampHolder:
    """The :class:`Stamp` of the message being built (zeep hooks read it synchronously)."""

    current: Stamp | None = None

    def get(self) -> Stamp:
        if self.current is None:  # pragma: no cover - the channel always sets it first
            raise RuntimeError("no stamp for the message being built")
        return self.current


class AddressingPlugin(Plugin):  # type: ignore[misc]
    """WS-Addressing headers (2004/08 or 2005/08) of our own, replacing any zeep added.

    ``Action`` is the operation's soapAction, ``MessageID`` the current stamp's, ``To`` the
    endpoint, ``From`` our URN, ``ReplyTo`` the anonymous address or, for the asynchronous
    profile, the callback URL (``reply_to()`` is called per message: the gateway's listening
    port may only be known after start).
    """

    def __init__(
        self,
        version: WsaVersion,
        stamps: _StampHolder,
        *,
        to: str,
        from_address: str | None = None,
        reply_to: Callable[[], str | None] | None = None,
    ) -> None:
        self.version = version
        self._stamps = stamps
        self.to = to
        self.from_address = from_address
        self._reply_to = reply_to
        #: (action, reply-to) -> the header blocks :func:`addressing_headers` wrote for them
        #: with an empty MessageID, and the MessageID's index: each message gets a copy with
        #: its MessageID filled in (copying the blocks costs less than writing them anew).
        self._templates: dict[tuple[str, str], tuple[list[Any], int]] = {}

    def egress(
        self, envelope: Any, http_headers: Any, operation: Any, binding_options: Any
    ) -> tuple[Any, Any]:
        header = get_or_create_header(envelope)
        for block in list(header):
            if WsaVersion.from_namespace(etree.QName(block).namespace) is not None:
                header.remove(block)  # zeep's own 2005/08 headers (from wsam:Action)
        reply_to = (self._reply_to() if self._reply_to is not None else None) or (
            self.version.anonymous
        )
        blocks, message_id = self._template(operation.soapaction, reply_to)
        copies = [block.__copy__() for block in blocks]  # lxml: a deep copy, no memo dict
        copies[message_id].text = self._stamps.get().message_id
        header.extend(copies)
        return envelope, http_headers

    def _template(self, action: str, reply_to: str) -> tuple[list[Any], int]:
        key = (action, reply_to)
        made = self._templates.get(key)
        if made is None:
            addressing = Addressing(
                version=self.version,
                action=action,
                message_id="",
                to=self.to,
                from_address=self.from_address,
                reply_to=reply_to,
            )
            blocks = addressing_headers(addressing)
            tag = f"{{{self.version.namespace}}}MessageID"
            index = next(i for i, block in enumerate(blocks) if block.tag == tag)
            if len(self._templates) >= _TEMPLATES_KEPT:  # a callback URL that keeps changing
                self._templates.clear()
            made = self._templates[key] = (blocks, index)
        return made


#: Header templates an AddressingPlugin keeps (one per operation and reply-to address).
_TEMPLATES_KEPT = 64
#: Any aware time: the template's Created and Expires are replaced in every message.
_TEMPLATE_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class FreshUsernameToken:
    """A zeep ``wsse`` object: ``wsse:Security`` with a UsernameToken (PasswordText) and a
    Timestamp made from the current stamp, first in the Header (as our golden files have it).

    Built with :func:`protocols.soap.security_header`, so both sides of the wire agree on it.
    """

    def __init__(
        self,
        credentials: Credentials,
        stamps: _StampHolder,
        version: SoapVersion,
        ttl: dt.timedelta | None = None,
    ) -> None:
        self._credentials = credentials
        self._stamps = stamps
        self._version = version
        self._ttl = ttl
        #: The header :func:`security_header` writes, made once: each message gets a copy with
        #: its Created and Expires filled in by the same rules (:meth:`_stamped`).
        self._template = security_header(self._stamped(_TEMPLATE_TIME), version)
        #: Where the Timestamp's Created and Expires are: (index in Security, in Timestamp).
        timestamp = self._template.find(f"{{{WSU}}}Timestamp")
        self._timestamp = self._template.index(timestamp)
        self._created = timestamp.index(timestamp.find(f"{{{WSU}}}Created"))
        self._expires = timestamp.index(timestamp.find(f"{{{WSU}}}Expires"))

    def _stamped(self, now: dt.datetime) -> Security:
        if self._ttl is None:
            return Security.stamped(now, credentials=self._credentials)
        return Security.stamped(now, credentials=self._credentials, ttl=self._ttl)

    def apply(self, envelope: Any, headers: Any) -> tuple[Any, Any]:
        security = self._stamped(self._stamps.get().created)
        block = self._template.__copy__()  # lxml: a deep copy
        timestamp = block[self._timestamp]
        timestamp[self._created].text = format_datetime(security.created)  # type: ignore[arg-type]
        timestamp[self._expires].text = format_datetime(security.expires)  # type: ignore[arg-type]
        get_or_create_header(envelope).insert(0, block)
        return envelope, headers

    def verify(self, envelope: Any) -> Any:
        return envelope  # answers carry a Timestamp only; nothing to check against


# ---------------------------------------------------------------------------------------------
# HTTP: one exchange, a deadline, classified failures
# ---------------------------------------------------------------------------------------------


class RequestNotSent(Exception):
    """The request never reached the PMS (no connection): retrying cannot post twice."""


class AnswerUnknown(Exception):
    """The request went out and no usable answer came back: the outcome is unknown."""


class SearchRefused(Exception):
    """The PMS answered a candidate search with a refusal that asking again will not change."""


@dataclass(frozen=True)
class HttpAnswer:
    """One HTTP answer, in the shape zeep's binding ``process_reply`` takes (``status_code``,
    ``headers``, ``content``, ``encoding``); the wire log keeps ``content``."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    encoding: str = "utf-8"


@implementer(IBodyProducer)
class _BytesBody:
    """The request body, written in one go (no cooperator round trip per request)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer: Any) -> Deferred[None]:  # noqa: N802 - Twisted's name
        consumer.write(self._data)
        return succeed(None)

    def pauseProducing(self) -> None:  # noqa: N802
        pass

    def resumeProducing(self) -> None:  # noqa: N802
        pass

    def stopProducing(self) -> None:  # noqa: N802
        pass


class _BoundedBody(Protocol):
    """Collects an answer body up to ``limit`` bytes; cancelling drops the connection."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0
        self.finished: Deferred[bytes] = Deferred(self._cancel)

    def _cancel(self, d: Deferred[bytes]) -> None:
        if self.transport is not None:
            self.transport.stopProducing()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self.finished.called:
            return
        self.size += len(data)
        if self.size > self.limit:
            if self.transport is not None:
                self.transport.stopProducing()
            self.finished.errback(
                AnswerUnknown(f"the answer is larger than {self.limit} bytes; not read")
            )
            return
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]  # noqa: N802
        if self.finished.called:
            return
        if reason is None or reason.check(ResponseDone, PotentialDataLoss):
            self.finished.callback(b"".join(self.chunks))
        else:
            self.finished.errback(reason)


@implementer(IAgentEndpointFactory)
class _NoDelayEndpoints:
    """Twisted's own endpoints for http/https (as :class:`Agent` makes them), with Nagle's
    algorithm off: the request goes out in two writes (head, then body), and on a keep-alive
    connection the second would wait for the peer's delayed ACK of the first (up to 40 ms)."""

    def __init__(self, reactor: Any, *, connect_timeout: float) -> None:
        from twisted.web.client import BrowserLikePolicyForHTTPS, _StandardEndpointFactory

        self._endpoints = _StandardEndpointFactory(
            reactor, BrowserLikePolicyForHTTPS(), connect_timeout, None
        )
        #: (scheme, host, port) -> endpoint. Agent asks for an endpoint on every request, even
        #: when a kept-alive connection will carry it; making one (IDNA-encoding the host)
        #: cost more than the rest of the request's setup. Endpoints hold no connection state.
        self._made: dict[tuple[bytes, bytes, int], _NoDelayEndpoint] = {}

    def endpointForURI(self, uri: Any) -> Any:  # noqa: N802 - Twisted's interface
        key = (uri.scheme, uri.host, uri.port)
        endpoint = self._made.get(key)
        if endpoint is None:
            endpoint = self._made[key] = _NoDelayEndpoint(self._endpoints.endpointForURI(uri))
        return endpoint


class _NoDelayEndpoint:
    def __init__(self, endpoint: Any) -> None:
        self._endpoint = endpoint

    def connect(self, factory: Any) -> Deferred[Any]:
        def no_delay(protocol: Any) -> Any:
            transport = getattr(protocol, "transport", None)
            while transport is not None:  # through a TLS wrapper down to TCP
                if hasattr(transport, "setTcpNoDelay"):
                    transport.setTcpNoDelay(True)
                    break
                transport = getattr(transport, "transport", None)
            return protocol

        connected: Deferred[Any] = self._endpoint.connect(factory)
        return connected.addCallback(no_delay)


#: Failures that prove the request never left (no connection was made).
_NOT_SENT_FAILURES = (
    net_error.ConnectError,  # refused, no route, DNS lookup failed...
    net_error.ConnectingCancelledError,  # our deadline hit while connecting
    net_error.TimeoutError,  # the connect timeout
    _newclient.RequestNotSent,
)


class SoapHttp:
    """POSTs envelopes to one endpoint with Twisted's HTTP client: keep-alive, a deadline per
    exchange.

    ``post(body, headers)`` fires with an :class:`HttpAnswer` (any status: faults come with
    500) or fails with :class:`RequestNotSent` (nothing reached the PMS) or
    :class:`AnswerUnknown` (sent, no usable answer: deadline, connection dropped, answer too
    large). The deadline covers connecting, sending and reading the whole answer; when it hits,
    the request is cancelled and its connection dropped.

    The POST goes through :class:`twisted.web.client.Agent` (the agent treq wraps: the same
    connection pool, endpoints, cancellation and failures), not through
    ``treq.HTTPClient.request``: treq re-parsed and IDNA-encoded the URL on every request
    (hyperlink ``to_uri``), wrapped the agent for cookies, redirects and gzip decoding, and
    wrapped the response, none of which a SOAP POST to one fixed endpoint uses (the module
    docstring has the measured figures). The URL is encoded once here, as treq encoded it;
    the headers object of each distinct header set (one per SOAP action) is made once, and
    so are the parsed URI and the endpoint ``Agent.request`` would work out per request (see
    ``_direct_request``). No ``Accept-Encoding`` is sent (treq asked for gzip): answers come
    as they are and the size limit counts the bytes on the wire.
    """

    def __init__(
        self,
        reactor: Any,
        url: str,
        *,
        timeout: float,
        max_bytes: int = DEFAULT_MAX_BYTES,
        pool: HTTPConnectionPool | None = None,
        connections: int = 4,
    ) -> None:
        from hyperlink import EncodedURL

        self.reactor = reactor
        self.url = url
        self.timeout = timeout
        self.max_bytes = max_bytes
        if pool is None:
            pool = HTTPConnectionPool(reactor, persistent=True)
            # As many kept-alive connections as exchanges the dispatcher runs at once.
            pool.maxPersistentPerHost = max(1, connections)
            pool.cachedConnectionTimeout = CACHED_CONNECTION_SECONDS
            pool.retryAutomatically = False  # never for POST; say so for every method
        self.pool = pool
        endpoints = _NoDelayEndpoints(reactor, connect_timeout=timeout)
        self._agent = Agent.usingEndpointFactory(reactor, endpoints, pool=pool)
        #: The request URI as treq made it (IDNA host, percent-encoded path), made once.
        self._uri: bytes = EncodedURL.from_text(url).to_uri().to_text().encode("ascii")
        parsed = URI.fromBytes(self._uri)
        self._host = _host_header(parsed.scheme, parsed.host, parsed.port)
        #: Agent.request parses the URI and asks for the endpoint on every request (about 5 %
        #: of an exchange's instructions); with the one fixed endpoint both are done here and
        #: the request goes to the method Agent.request ends in, when this Twisted has it with
        #: the parameters we know (else through Agent.request: slower, the same request).
        self._send_direct = _direct_request(self._agent)
        self._parsed = parsed
        self._key = (parsed.scheme, parsed.host, parsed.port)
        self._endpoints = endpoints  # made on the first request (a dict lookup after it)
        self._path = parsed.originForm
        #: One read-only Headers per distinct header set (the client never changes them).
        self._headers: dict[tuple[tuple[str, str], ...], Headers] = {}

    def _request_headers(self, headers: Mapping[str, str]) -> Headers:
        key = tuple(headers.items())
        made = self._headers.get(key)
        if made is None:
            made = Headers({name: [value] for name, value in key})
            if not made.hasHeader(b"Host"):
                made.addRawHeader(b"Host", self._host)
            if len(self._headers) >= _HEADER_SETS_KEPT:
                self._headers.clear()
            self._headers[key] = made
        return made

    def post(self, body: bytes, headers: Mapping[str, str]) -> Deferred[HttpAnswer]:
        try:
            if self._send_direct is not None:
                exchange: Deferred[Any] = self._send_direct(
                    self._key, self._endpoints.endpointForURI(self._parsed), b"POST", self._parsed,
                    self._request_headers(headers), _BytesBody(body), self._path,
                )  # fmt: skip
            else:
                exchange = self._agent.request(
                    b"POST", self._uri, self._request_headers(headers), _BytesBody(body)
                )
        except Exception:
            return fail(_classify_failure(Failure(), None))
        exchange.addCallback(self._read)
        timed_out: list[bool] = []

        def expire() -> None:
            timed_out.append(True)
            exchange.cancel()

        deadline = self.reactor.callLater(self.timeout, expire)

        def done(result: Any) -> Any:
            if deadline.active():
                deadline.cancel()
            if isinstance(result, Failure):
                raise _classify_failure(result, self.timeout if timed_out else None)
            return result

        return exchange.addBoth(done)

    def _read(self, response: Any) -> Any:
        """The answer of ``response``: at once without a body, else once it is read."""
        if response.length == 0:
            return _answer(response, b"")
        collector = _BoundedBody(self.max_bytes)
        response.deliverBody(collector)
        return collector.finished.addCallback(lambda content: _answer(response, content))

    def close(self) -> Deferred[None]:
        """Drop the idle keep-alive connections."""
        result: Deferred[None] = self.pool.closeCachedConnections()
        return result


#: Distinct header sets a SoapHttp keeps Headers for (one per SOAP action in practice).
_HEADER_SETS_KEPT = 64
#: The parameters of ``Agent._requestWithEndpoint`` (Twisted 15.0 to at least 26.10): what
#: ``Agent.request`` calls once it has parsed the URI and found the endpoint.
_DIRECT_PARAMETERS = ("key", "endpoint", "method", "parsedURI", "headers", "bodyProducer",
                      "requestPath")  # fmt: skip


def _direct_request(agent: Agent) -> Callable[..., Deferred[Any]] | None:
    """``agent._requestWithEndpoint`` if it takes the parameters we know, else None."""
    method = getattr(agent, "_requestWithEndpoint", None)
    if method is None:
        return None
    try:
        names = tuple(inspect.signature(method).parameters)
    except (TypeError, ValueError):
        return None
    return method if names == _DIRECT_PARAMETERS else None


def _host_header(scheme: bytes, host: bytes, port: int) -> bytes:
    """The ``Host`` value :class:`Agent` would add (brackets for IPv6, no default port)."""
    if isIPv6Address(host.decode("ascii")):
        host = b"[" + host + b"]"
    if (scheme, port) in ((b"http", 80), (b"https", 443)):
        return host
    return b"%b:%d" % (host, port)


def _answer(response: Any, content: bytes) -> HttpAnswer:
    headers = {
        name.decode("latin-1").title(): values[-1].decode("latin-1")
        for name, values in response.headers.getAllRawHeaders()
    }
    return HttpAnswer(response.code, headers, content)


def _classify_failure(failure: Failure, timed_out_after: float | None) -> Exception:
    if failure.check(RequestNotSent, AnswerUnknown):
        return failure.value  # type: ignore[return-value]
    if failure.check(*_NOT_SENT_FAILURES):
        if timed_out_after is not None:
            return RequestNotSent(f"no connection within {timed_out_after:g} s")
        return RequestNotSent(_describe(failure.value))
    if timed_out_after is not None:
        return AnswerUnknown(f"no answer within {timed_out_after:g} s")
    if failure.check(CancelledError):
        return AnswerUnknown("the exchange was cancelled after the request was sent")
    reasons = getattr(failure.value, "reasons", None)
    if reasons:
        inner = "; ".join(_describe(reason.value) for reason in reasons)
        return AnswerUnknown(f"the connection failed after the request was sent ({inner})")
    what = _describe(failure.value)
    return AnswerUnknown(f"the exchange failed after the request was sent ({what})")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name


# ---------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    """An HTTP answer read: a zeep result, a SOAP fault, or why it could not be read."""

    answer: HttpAnswer
    result: Any = None
    fault: Fault | None = None
    problem: str | None = None
    relates_to: str | None = None


#: HTTP statuses without a readable SOAP answer: what they prove about the posting.
_RETRYABLE_STATUSES = frozenset({429, 500, 503})  # refused or failed; nothing posted
_UNKNOWN_STATUSES = frozenset({502, 504})  # a proxy may have passed the request on


# ---------------------------------------------------------------------------------------------
# The channel
# ---------------------------------------------------------------------------------------------

OnFrame = Callable[..., object]  # (direction, payload, reference, protocol=...)
OnPostingWritten = Callable[[str, "int | None"], object]


class SoapChannel:
    """What the three profiles share: the zeep client, the HTTP exchange, wire logging, the
    endpoint-down hold, the not-in-house memory and the answer classes (module docstring).

    Subclasses set ``profile``, ``binding`` and ``wsa_version`` and implement ``post``
    (and ``folio_balance`` where the profile can read a folio).
    """

    profile: ClassVar[Profile]
    soap_version: ClassVar[SoapVersion]
    wsa_version: ClassVar[WsaVersion | None] = None
    #: The binding (``{namespace}Name``) requests are sent through.
    binding: ClassVar[str]

    def __init__(
        self,
        prop: PropertyConfig,
        *,
        reactor: Any,
        credentials: Credentials,
        now: Callable[[], dt.datetime],
        on_posting_written: OnPostingWritten,
        on_frame: OnFrame,
        on_available: Callable[[], object] | None = None,
        new_message_id: Callable[[], str] = random_message_id,
        http: SoapHttp | None = None,
        business_date: Callable[[], dt.date | None] | None = None,
        endpoint_retry_seconds: float = DEFAULT_ENDPOINT_RETRY_SECONDS,
        in_house_recheck_seconds: float = DEFAULT_IN_HOUSE_RECHECK_SECONDS,
        reply_to: Callable[[], str | None] | None = None,
        connections: int = 4,
        journal: Any = None,
    ) -> None:
        if prop.profile is not self.profile:
            raise ValueError(f"property {prop.name} is {prop.profile}, not {self.profile}")
        self.prop = prop
        self.reactor = reactor
        self.credentials = credentials
        self.protocol = self.profile.value
        self.decimals = minor_unit_exponent(prop.currency)
        self._now = now
        self._new_message_id = new_message_id
        self._on_posting_written = on_posting_written
        self._on_frame = on_frame
        self._on_available = on_available
        self._business_date = business_date
        self.endpoint_retry_seconds = endpoint_retry_seconds
        self.in_house_recheck_seconds = in_house_recheck_seconds
        self.http = http or SoapHttp(
            reactor, prop.endpoint, timeout=prop.answer_timeout_seconds, connections=connections
        )
        self.module = _profile_module(self.profile)
        self.validator: XsdValidator = self.module.xsd_validator()
        self._stamps = _StampHolder()
        plugins = []
        if self.wsa_version is not None:
            plugins.append(
                AddressingPlugin(
                    self.wsa_version,
                    self._stamps,
                    to=prop.endpoint,
                    from_address=f"urn:foliogate:{prop.name}",
                    reply_to=reply_to,
                )
            )
        wsse = None
        if self.uses_ws_security:
            wsse = FreshUsernameToken(credentials, self._stamps, self.soap_version)
        #: Whether messages carry a MessageID or a Timestamp (rezlynx's carry neither: no
        #: stamp is made for them).
        self._stamped = bool(plugins) or wsse is not None
        self.client = zeep.Client(
            wsdl_document(self.profile),
            transport=OfflineTransport(),
            plugins=plugins,
            wsse=wsse,
            settings=ZEEP_SETTINGS,
        )
        self.service = self.client.create_service(self.binding, prop.endpoint)
        self._down_until: float | None = None
        self._down_reason: str | None = None
        self._down_call: IDelayedCall | None = None
        self._not_in_house: dict[str, float] = {}
        self._timers: set[IDelayedCall] = set()
        self._stopped = False
        #: Where :meth:`account_invoices` reads what an event's confirmation number names.
        self.journal = journal
        self._account_invoices = AccountInvoices(journal)
        #: (answer element, path) -> its steps in the schema (:meth:`_part_steps`).
        self._steps: dict[tuple[str, str], tuple[tuple[str, Any, str], ...]] = {}

    #: Whether requests carry a ``wsse:Security`` header (rezlynx logs in instead).
    uses_ws_security: ClassVar[bool] = True

    # -- the PostingChannel protocol ------------------------------------------------------------

    def hold_reason(self) -> str | None:
        if self._stopped:
            return "the gateway is stopping"
        if self._down_until is not None and self.reactor.seconds() < self._down_until:
            return self._down_reason
        return None

    def guest_in_house(self, confirmation_number: str) -> bool:
        until = self._not_in_house.get(confirmation_number)
        if until is None:
            return True
        if self.reactor.seconds() >= until:
            del self._not_in_house[confirmation_number]
            return True
        return False

    def post(self, leg: Leg) -> Deferred[PostingOutcome]:  # pragma: no cover - abstract
        raise NotImplementedError

    def folio_balance(self, leg: Leg, outcome: PostingOutcome) -> Deferred[int | None]:
        return succeed(None)

    # -- lifecycle (the gateway calls these like a FIAS link's) --------------------------------

    @property
    def status(self) -> LinkStatus:
        """The channel as a link status (``GET /v1/links``, metrics): alive unless the endpoint
        is known down or the channel is stopped."""
        down = self._stopped or self.hold_reason() is not None
        return LinkStatus(state=LinkState.DOWN if down else LinkState.ALIVE)

    @property
    def running(self) -> bool:
        return not self._stopped

    def startService(self) -> None:  # noqa: N802 - the gateway's runtime.link interface
        self._stopped = False

    def stopService(self) -> Deferred[None]:  # noqa: N802
        self._stopped = True
        for call in [*self._timers, self._down_call]:
            if call is not None and call.active():
                call.cancel()
        self._timers.clear()
        return self.http.close()

    # -- building requests ---------------------------------------------------------------------

    def account_invoices(self, leg: Leg) -> tuple[str, ...] | None:
        """For a leg to an A/R account (``payment.kind = "account"``: the confirmation number
        is the account), the invoices its payment names; None for a guest leg (or without a
        journal to ask). The same lookup as the FIAS channel's (:class:`AccountInvoices`)."""
        return self._account_invoices(leg)

    def build(self, operation: str, reference: str, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
        """The request envelope (bytes) and HTTP headers for ``operation``.

        The body is validated against the profile's XSD first: a leg that does not fit raises
        :class:`LegMappingError` naming the reference and every schema error (nothing is sent).
        """
        if self._stamped:
            self._stamps.current = Stamp.fresh(self._now, self._new_message_id)
        try:
            envelope = self.client.create_message(self.service, operation, **kwargs)
        except (zeep.exceptions.Error, TypeError, ValueError) as exc:
            raise LegMappingError(
                f"the {self.protocol} {operation} request for {reference} cannot be built: {exc}"
            ) from None
        payload = _body_payload(envelope)
        errors = self.validator.validate_body(payload)
        if errors:
            raise LegMappingError(
                f"the {self.protocol} {operation} request for {reference} does not fit the "
                f"PMS's schema: {'; '.join(errors)}"
            )
        action = self.service._binding.get(operation).soapaction
        data = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        return bytes(data), http_headers(self.soap_version, action)

    @property
    def last_message_id(self) -> str | None:
        """The MessageID of the envelope built last (None on a profile without
        WS-Addressing or WS-Security: rezlynx)."""
        return self._stamps.current.message_id if self._stamps.current else None

    def business_date(self) -> dt.date | None:
        """The business date to send, or None to let the PMS use its own (the default)."""
        return self._business_date() if self._business_date is not None else None

    def check_codes(self, leg: Leg, *fields: tuple[str, str | None, int]) -> None:
        """Refuse, with a clear message, values the profile's schema cannot carry
        (``fields``: what, value, maximum length); the XSD check after it is the backstop."""
        checks = [("reservation id (confirmation number)", leg.confirmation_number, 40), *fields]
        for what, value, limit in checks:
            if value is None:
                continue
            if not value or len(value) > limit or _WHITESPACE.search(value.strip()):
                raise LegMappingError(
                    f"{what} {value!r} of leg {leg.reference} cannot go to the "
                    f"{self.protocol} PMS: it takes 1-{limit} characters without inner spaces"
                )

    def account_payment_type(
        self, leg: Leg, code_length: int, *fields: tuple[str, str | None, int],
        payment: str = "payment type", charge: str = "transaction code",
    ) -> str:  # fmt: skip
        """The payment type of a leg to an A/R account, checked like every code
        (:meth:`check_codes`, with ``fields``); an account takes a payment only, so a leg with
        a charge code or without a payment type is a :class:`LegMappingError`. ``payment`` and
        ``charge``: what the profile calls the two kinds of code."""
        plan = leg.plan
        if plan.transaction_code is not None or plan.payment_type is None:
            raise LegMappingError(
                f"leg {leg.reference}: an A/R account takes a payment only (a {payment}, "
                f"no {charge})"
            )
        self.check_codes(leg, (payment, plan.payment_type, code_length), *fields)
        return plan.payment_type

    def description(self, leg: Leg) -> str | None:
        text = leg.plan.description.strip()
        return text[:200] or None

    # -- exchanging ----------------------------------------------------------------------------

    def frame(self, direction: str, payload: bytes, reference: str | None) -> None:
        """Keep one message in the wire log, masked."""
        try:
            self._on_frame(direction, mask_secrets(payload), reference, protocol=self.protocol)
        except Exception:
            log.failure("wire log hook failed for {reference}", reference=reference)

    def exchange(
        self,
        operation: str,
        data: bytes,
        headers: Mapping[str, str],
        reference: str | None,
        *,
        only: Sequence[str] = (),
    ) -> Deferred[_Reply]:
        """POST one envelope and read the answer into a :class:`_Reply` (``only``: as
        :meth:`read_reply`).

        Fails with :class:`RequestNotSent` (and marks the endpoint down for a while) or
        :class:`AnswerUnknown`; both are logged. (Plain callbacks, not ``inlineCallbacks``:
        one generator layer less for every message.)
        """
        self.frame("out", data, reference)
        try:
            posted = self.http.post(data, headers)
        except Exception:
            return fail()
        return posted.addCallbacks(
            self._answered,
            self._not_answered,
            callbackArgs=(operation, reference, only),
        )

    def _answered(
        self, answer: HttpAnswer, operation: str, reference: str | None, only: Sequence[str]
    ) -> _Reply:
        self.mark_up()
        self.frame("in", answer.content, reference)
        return self.read_reply(operation, answer, only=only)

    def _not_answered(self, failure: Failure) -> Failure:
        if failure.check(RequestNotSent):
            self.mark_down(str(failure.value))
        return failure

    def read_reply(
        self, operation: str, answer: HttpAnswer, *, only: Sequence[str] = ()
    ) -> _Reply:
        """Read an answer with the hardened parser, then zeep (see :class:`_Reply`).

        zeep reads the tree the hardened parser made (its own ``process_reply`` would parse the
        bytes a second time; faults and HTTP statuses are already told apart here). ``only``:
        paths of the answer's elements to read (``"Result"``, ``"Folio/Balance"``), each
        through the element's own XSD type, when the rest is not used (a folio's lines: zeep
        turning every line of a long folio into objects cost more than the rest of the leg).
        """
        try:
            root = parse_xml(answer.content)
            envelope = parse_envelope(root)
        except (XmlRejected, EnvelopeError) as exc:
            return _Reply(answer, problem=f"HTTP {answer.status_code}, unreadable answer: {exc}")
        relates_to = envelope.addressing.relates_to if envelope.addressing else None
        if envelope.is_fault:
            return _Reply(answer, fault=parse_fault(envelope.payload), relates_to=relates_to)
        if answer.status_code != 200:
            return _Reply(answer, problem=f"HTTP {answer.status_code} without a SOAP fault")
        bound = self.service._binding.get(operation)
        try:
            if only:
                result = self._read_parts(bound, envelope.payload, only)
            else:
                result = bound.process_reply(root)
        except (zeep.exceptions.Error, ValueError, etree.LxmlError) as exc:
            return _Reply(answer, problem=f"the {operation} answer cannot be read: {exc}")
        return _Reply(answer, result=result, relates_to=relates_to)

    def _read_parts(self, bound: Any, payload: Any, paths: Sequence[str]) -> SimpleNamespace:
        """The elements at ``paths`` of the answer ``payload``, each read by zeep through its
        XSD element; a missing element reads as None (and so does everything under it)."""
        body = bound.output.body
        if payload.tag != body.qname.text:
            raise ValueError(f"the answer holds {etree.QName(payload).localname}, not {body.name}")
        schema = self.client.wsdl.types
        result = SimpleNamespace()
        for path in paths:
            node, holder = payload, result
            steps = self._part_steps(body, path)
            last = len(steps) - 1
            for depth, (name, element, tag) in enumerate(steps):
                node = node.find(tag)
                if node is None:
                    setattr(holder, name, None)
                    break
                if depth == last:
                    setattr(holder, name, element.parse(node, schema))
                else:
                    inner = getattr(holder, name, None)
                    if inner is None:
                        inner = SimpleNamespace()
                        setattr(holder, name, inner)
                    holder = inner
        return result

    def _part_steps(self, body: Any, path: str) -> tuple[tuple[str, Any, str], ...]:
        """(name, zeep element, Clark tag) of each step of ``path`` below ``body``, looked up
        in the schema once per answer element and path."""
        key = (body.qname.text, path)
        steps = self._steps.get(key)
        if steps is None:
            element, made = body, []
            for name in path.split("/"):
                element = _child_element(element, name)
                made.append((name, element, element.qname.text))
            steps = self._steps[key] = tuple(made)
        return steps

    def search_problem(self, operation: str, text: str, reply: _Reply) -> None:
        """For a search answer without a result: None (postponed) when asking again later may
        work (a Receiver fault, a retryable HTTP status, no answer proving anything), else
        :class:`SearchRefused` with the reason (a Sender fault, another HTTP 4xx)."""
        if reply.fault is not None:
            fault = reply.fault
            reason = (f"the {self.protocol} PMS refused {operation}: SOAP fault "
                      f"{fault.code.value}: {fault.reason}")  # fmt: skip
            if fault.code is FaultCode.RECEIVER:
                log.warn("{operation} for {text!r}: {reason}; trying again later",
                         operation=operation, text=text, reason=reason)  # fmt: skip
                return None
            raise SearchRefused(reason)
        status = reply.answer.status_code
        if 400 <= status < 500 and status not in _RETRYABLE_STATUSES:
            raise SearchRefused(f"the {self.protocol} PMS refused {operation}: {reply.problem}")
        log.warn("{operation} for {text!r}: {problem}; trying again later",
                 operation=operation, text=text, problem=reply.problem)  # fmt: skip
        return None

    def search_result(
        self, operation: str, text: str, disposition: Disposition, code: str, said: str | None
    ) -> None:
        """For a search the PMS answered with an error code: None (postponed) when the code
        is worth another try later, else :class:`SearchRefused`."""
        reason = f"the {self.protocol} PMS answered {operation} with {code}" + (
            f": {said}" if said else ""
        )
        if disposition in (Disposition.RETRYABLE, Disposition.RELOGIN):
            log.warn("{operation} for {text!r}: {reason}; trying again later",
                     operation=operation, text=text, reason=reason)  # fmt: skip
            return None
        raise SearchRefused(reason)

    def written(self, leg: Leg) -> Deferred[str | None]:
        """Tell the dispatcher the posting is about to leave; fires (with None) once the
        journal has the leg ``sent`` on disk, or with the reason it refused. The hook may
        answer with a Deferred (the dispatcher's group commit): nothing is sent before it
        fires."""
        try:
            marked = maybeDeferred(self._on_posting_written, leg.reference, None)
        except Exception as exc:  # pragma: no cover - maybeDeferred catches
            marked = fail(exc)

        def refused(failure: Failure) -> str:
            log.failure("on_posting_written failed for {leg}; not sent", failure,
                        leg=leg.reference)  # fmt: skip
            return f"the journal could not mark the leg sent: {failure.getErrorMessage()}"

        return marked.addCallbacks(lambda _: None, refused)

    # -- the endpoint-down hold and the not-in-house memory -------------------------------------

    def mark_down(self, reason: str) -> None:
        seconds = self.endpoint_retry_seconds
        self._down_until = self.reactor.seconds() + seconds
        self._down_reason = (
            f"PMS endpoint {self.prop.endpoint} unreachable ({reason}); "
            f"trying again in {seconds:g} s"
        )
        if self._down_call is not None and self._down_call.active():
            self._down_call.cancel()
        self._down_call = self.reactor.callLater(seconds, self._endpoint_retry)

    def mark_up(self) -> None:
        self._down_until = None
        if self._down_call is not None and self._down_call.active():
            self._down_call.cancel()
        self._down_call = None

    def _endpoint_retry(self) -> None:
        self._down_call = None
        self._down_until = None
        self.wake()

    def remember_not_in_house(self, confirmation_number: str) -> None:
        seconds = self.in_house_recheck_seconds
        self._not_in_house[confirmation_number] = self.reactor.seconds() + seconds
        self.call_later(seconds, self.wake)

    def call_later(self, seconds: float, f: Callable[[], object]) -> IDelayedCall:
        call: IDelayedCall

        def run() -> None:
            self._timers.discard(call)
            f()

        call = self.reactor.callLater(seconds, run)
        self._timers.add(call)
        return call

    def wake(self) -> None:
        if self._stopped or self._on_available is None:
            return
        try:
            self._on_available()
        except Exception:
            log.failure("waking the dispatcher of {property} failed", property=self.prop.name)

    # -- outcomes ------------------------------------------------------------------------------

    def outcome(
        self,
        leg: Leg,
        result: PostingResult,
        reason: str,
        *,
        status: str | None = None,
        text: str | None = None,
    ) -> PostingOutcome:
        return PostingOutcome(
            result=result,
            leg_reference=leg.reference,
            answer_status=status,
            clear_text=text,
            reason=reason,
        )

    def disposition_outcome(
        self, leg: Leg, disposition: Disposition, status: str, text: str | None
    ) -> PostingOutcome:
        """The outcome of an in-band answer, by its RESULT_CODES disposition."""
        said = f"the PMS answered {status}" + (f": {text}" if text else "")
        if disposition is Disposition.POSTED:
            return self.outcome(leg, PostingResult.POSTED, said, status=status, text=text)
        if disposition is Disposition.DEFERRED:
            if leg.plan.needs_in_house:
                self.remember_not_in_house(leg.confirmation_number)
                return self.outcome(leg, PostingResult.NOT_IN_HOUSE, said, status=status, text=text)
            # A leg that may post before arrival waits with a backoff, not for a check-in the
            # dispatcher would never wait for.
            return self.outcome(leg, PostingResult.RETRYABLE, said, status=status, text=text)
        if disposition in (Disposition.RETRYABLE, Disposition.RELOGIN):
            return self.outcome(leg, PostingResult.RETRYABLE, said, status=status, text=text)
        return self.outcome(leg, PostingResult.REJECTED, said, status=status, text=text)

    def reply_outcome(self, leg: Leg, reply: _Reply) -> PostingOutcome | None:
        """The outcome of a fault or an unreadable answer; None when ``reply.result`` is set."""
        if reply.fault is not None:
            return self.fault_outcome(leg, reply.fault, reply.answer.status_code)
        if reply.problem is None:
            return None
        status = reply.answer.status_code
        code = f"HTTP {status}"
        if status in _RETRYABLE_STATUSES:
            return self.outcome(leg, PostingResult.RETRYABLE, reply.problem, status=code,
                                text=reply.problem)  # fmt: skip
        if 400 <= status < 500:
            return self.outcome(leg, PostingResult.REJECTED, reply.problem, status=code,
                                text=f"the PMS refused the request: {reply.problem}")  # fmt: skip
        return self.outcome(
            leg,
            PostingResult.UNKNOWN,
            f"the request was sent but the answer proves nothing: {reply.problem}",
            status=code,
        )

    def fault_outcome(self, leg: Leg, fault: Fault, http_status: int) -> PostingOutcome:
        """A Sender fault (our message: schema, security) is terminal; any other is retryable."""
        code = f"fault {fault.code.value}" + (f".{fault.subcode}" if fault.subcode else "")
        text = fault.reason + (f" ({'; '.join(fault.detail)})" if fault.detail else "")
        reason = f"HTTP {http_status}, SOAP {code}: {text}"
        if fault.code in (FaultCode.SENDER, FaultCode.DATA_ENCODING_UNKNOWN,
                          FaultCode.VERSION_MISMATCH, FaultCode.MUST_UNDERSTAND):  # fmt: skip
            return self.outcome(leg, PostingResult.REJECTED, reason, status=code, text=text)
        return self.outcome(leg, PostingResult.RETRYABLE, reason, status=code, text=text)

    def transport_outcome(self, leg: Leg, exc: Exception) -> PostingOutcome:
        if isinstance(exc, RequestNotSent):
            return self.outcome(leg, PostingResult.NOT_SENT, f"nothing reached the PMS: {exc}")
        log.warn(
            "leg {leg} to {property}: {reason}; the outcome is unknown",
            leg=leg.reference,
            property=self.prop.name,
            reason=str(exc),
        )
        return self.outcome(leg, PostingResult.UNKNOWN, str(exc))

    def failed_outcome(self, leg: Leg, sent: bool) -> PostingOutcome:
        """A bug of ours while posting: unknown once the request may have left."""
        log.failure("posting {leg} to {property} failed", leg=leg.reference,
                    property=self.prop.name)  # fmt: skip
        if sent:
            return self.outcome(
                leg, PostingResult.UNKNOWN, "internal error after the request was sent"
            )
        return self.outcome(leg, PostingResult.NOT_SENT, "internal error before sending")


def _child_element(element: Any, name: str) -> Any:
    """The zeep element ``name`` among the children of ``element``'s complex type."""
    for child_name, child in element.type.elements:
        if child_name == name:
            return child
    raise ValueError(f"{element.name} has no element {name} in the schema")


def _body_payload(envelope: Any) -> Any:
    for child in envelope:
        if etree.QName(child).localname == "Body":
            payloads = [element for element in child if isinstance(element.tag, str)]
            if len(payloads) == 1:
                return payloads[0]
    raise LegMappingError("zeep built an envelope without exactly one Body payload")


# ---------------------------------------------------------------------------------------------
# The factory
# ---------------------------------------------------------------------------------------------


def make_soap_channel(prop: PropertyConfig, **kwargs: Any) -> SoapChannel:
    """The channel for ``prop``'s profile; ``kwargs`` as :class:`SoapChannel` (and, for
    htng-async, :class:`~adapters.soap_htng_async.HtngAsyncChannel`) take them."""
    if prop.profile is Profile.OPERA_HTNG:
        from adapters.soap_opera_htng import OperaHtngChannel

        return OperaHtngChannel(prop, **kwargs)
    if prop.profile is Profile.REZLYNX:
        from adapters.soap_rezlynx import RezlynxChannel

        return RezlynxChannel(prop, **kwargs)
    if prop.profile is Profile.HTNG_ASYNC:
        from adapters.soap_htng_async import HtngAsyncChannel

        return HtngAsyncChannel(prop, **kwargs)
    raise ValueError(f"property {prop.name}: {prop.profile} is not a SOAP profile")


def gateway_channel(
    prop: PropertyConfig,
    *,
    journal: Any,
    reactor: Any,
    now: Callable[[], dt.datetime],
    environ: Mapping[str, str] | None,
    dispatcher: Callable[[], Any],
    api_url: Callable[[], str],
    **options: Any,
) -> SoapChannel:
    """The channel of a SOAP property inside a running :class:`adapters.gateway.Gateway`.

    Credentials are read from the environment now (``SecretMissing`` if unset). The hooks go
    to the property's dispatcher (``dispatcher()`` returns it once it exists). An htng-async
    channel's callback URL is the property's ``callback_base_url`` (else the API's own
    address, ``api_url()``) plus :func:`adapters.soap_htng_async.callback_path`; results that
    arrive when their leg is no longer in flight are journaled through
    :class:`adapters.soap_htng_async.JournalLegLog`. ``options`` go to the channel.
    """
    username, password = soap_credentials(prop, environ)
    kwargs: dict[str, Any] = dict(
        reactor=reactor,
        credentials=Credentials(username, password),
        now=now,
        on_posting_written=lambda ref, number: dispatcher().on_posting_written(ref, number),
        on_frame=lambda *args, **kw: dispatcher().on_frame(*args, **kw),
        on_available=lambda: dispatcher().wake(),
        journal=journal,
    )
    if prop.profile is Profile.HTNG_ASYNC:
        from adapters.soap_htng_async import JournalLegLog, callback_path

        base = prop.soap.callback_base_url if prop.soap is not None else None
        path = callback_path(prop.name)
        kwargs["callback_url"] = lambda: (base or api_url()) + path
        kwargs["leg_log"] = JournalLegLog(journal, prop.name, now)
    return make_soap_channel(prop, **{**kwargs, **options})
