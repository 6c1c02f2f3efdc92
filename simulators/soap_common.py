"""What the three SOAP PMS simulators share: credentials, the request pipeline, fault knobs.

Each profile (``soap_opera_htng``, ``soap_rezlynx``, ``soap_htng_async``) is a
:class:`SoapPmsResource` subclass that only reads its requests and answers them; this module
does the rest, in this order, for every ``POST``:

1. fault knobs that act before anything is read: ``drop_requests`` (close the connection),
   ``http_500_count`` (HTTP 500, plain text);
2. the hardened parser (:func:`protocols.soap.parse_xml`): a DOCTYPE, an entity, an oversize
   or too deep document is a ``Sender`` fault (subcode ``HostileXml`` or ``XmlRejected``) and
   nothing else happens;
3. the envelope (:func:`protocols.soap.parse_envelope`): the profile's SOAP version (else
   ``VersionMismatch``), no unknown ``mustUnderstand`` header (``MustUnderstand``);
4. the WS-Security header on the profiles that use one: a UsernameToken with the configured
   credentials (``InvalidSecurity`` if absent, ``FailedAuthentication`` if wrong) and a fresh
   ``wsu:Timestamp`` (``MessageExpired``);
5. the body against the profile's XSD (``SchemaInvalid``; the reason and every detail entry
   name the path, e.g. ``/PostChargeRequest/TransactionCode: ...``);
6. the operation: the body element must be a request this PMS handles and agree with the
   SOAPAction / ``wsa:Action`` if one is given (``ActionNotSupported``, ``ActionMismatch``);
7. the subclass's ``handle``: business errors travel in-band with the profile's own codes;
8. the answer through the knobs ``drop_answers`` / ``drop_posting_answers`` (close the
   connection without an answer: the request *was* handled) and ``delay_ms``.

Postings go to the shared :class:`simulators.ledger.Hotel` with ``Hotel.post_coded``.
A posting whose reference was booked before is answered with the original result and books
nothing (only successes are remembered: a refused posting may be retried once its cause is
gone). The memory is per profile and operation and is cleared by a hotel reset.

``GET <path>?wsdl`` serves the profile's WSDL with the service address set to the URL it was
fetched from and the schema import pointing at ``<path>?xsd``, so ``zeep.Client(url + "?wsdl")``
works against a running simulator.

Credentials come from the hotel file's ``[soap]`` table, overridden by the environment
(:func:`soap_access`): ``FOLIOGATE_SIM_SOAP_USERNAME``, ``FOLIOGATE_SIM_SOAP_PASSWORD`` (what
the simulators accept) and ``FOLIOGATE_SIM_SOAP_CALLBACK_USERNAME``,
``FOLIOGATE_SIM_SOAP_CALLBACK_PASSWORD`` (the UsernameToken htng-async puts on its result
callbacks; default: the same credentials).
"""

from __future__ import annotations

import collections
import datetime as dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Final

from lxml import etree
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from protocols.htng.money import Money, minor_unit_exponent
from protocols.soap import (
    DEFAULT_MAX_BYTES,
    Credentials,
    Envelope,
    EnvelopeError,
    Fault,
    FaultCode,
    HostileXml,
    MessageError,
    SoapVersion,
    Stamp,
    XmlRejected,
    XsdValidator,
    action_from_http,
    build_fault_envelope,
    fault_http_status,
    mask_secrets,
    parse_envelope,
    parse_xml,
    random_message_id,
)
from simulators.accounts import AccountPayment
from simulators.faults import FaultKnobs
from simulators.ledger import (
    CodedLine,
    CodedOutcome,
    CodedPosting,
    Hotel,
    HotelConfig,
    HotelEvent,
    HotelReset,
    PostingOutcome,
    Refusal,
    Reservation,
)

log = Logger()

ENV_USERNAME: Final = "FOLIOGATE_SIM_SOAP_USERNAME"
ENV_PASSWORD: Final = "FOLIOGATE_SIM_SOAP_PASSWORD"  # noqa: S105 (a variable name)
ENV_CALLBACK_USERNAME: Final = "FOLIOGATE_SIM_SOAP_CALLBACK_USERNAME"
ENV_CALLBACK_PASSWORD: Final = "FOLIOGATE_SIM_SOAP_CALLBACK_PASSWORD"  # noqa: S105

_WSDL: Final = "http://schemas.xmlsoap.org/wsdl/"
_SOAP11_BINDING: Final = "http://schemas.xmlsoap.org/wsdl/soap/"
_SOAP12_BINDING: Final = "http://schemas.xmlsoap.org/wsdl/soap12/"
_XS: Final = "http://www.w3.org/2001/XMLSchema"
#: Result and error texts fit every profile's ``Text`` type (at most 200 characters).
MAX_TEXT: Final = 200


# --------------------------------------------------------------------------------------------
# Credentials and settings


@dataclass(frozen=True)
class SoapAccess:
    """What the SOAP simulators accept and send, resolved from the hotel file and environment."""

    credentials: Credentials  # UsernameToken (opera-htng, htng-async) and rezlynx LogIn
    callback_credentials: Credentials  # the UsernameToken on htng-async result callbacks
    site_id: str | None = None  # rezlynx SiteID accepted (None: any)
    hotel_code: str | None = None  # htng-async HotelCode accepted (None: any)
    session_timeout_seconds: int = 1200
    allow_negative_amounts: bool = True


class SoapAccessError(ValueError):
    """The SOAP simulators cannot start: no credentials configured."""


def soap_access(config: HotelConfig, environ: Mapping[str, str] | None = None) -> SoapAccess:
    """The hotel file's ``[soap]`` table with the environment's overrides (module docstring)."""
    env = os.environ if environ is None else environ
    soap = config.soap
    username = env.get(ENV_USERNAME) or soap.username
    password = env.get(ENV_PASSWORD) or soap.password
    if not username or not password:
        raise SoapAccessError(
            "the SOAP simulators need credentials: set username and password in the hotel "
            f"file's [soap] table, or {ENV_USERNAME} and {ENV_PASSWORD}"
        )
    callback_username = env.get(ENV_CALLBACK_USERNAME) or soap.callback_username or username
    callback_password = env.get(ENV_CALLBACK_PASSWORD) or soap.callback_password or password
    return SoapAccess(
        credentials=Credentials(username, password),
        callback_credentials=Credentials(callback_username, callback_password),
        site_id=soap.site_id,
        hotel_code=soap.hotel_code,
        session_timeout_seconds=soap.session_timeout_seconds,
        allow_negative_amounts=soap.allow_negative_amounts,
    )


# --------------------------------------------------------------------------------------------
# Business problems, whatever the profile calls them


class Problem(StrEnum):
    """Why a posting or a read was refused; each profile maps these to its own codes."""

    NIGHT_AUDIT = Refusal.NIGHT_AUDIT.value
    UNKNOWN_RESERVATION = Refusal.UNKNOWN_RESERVATION.value
    FOLIO_CLOSED = Refusal.FOLIO_CLOSED.value
    NO_POST = Refusal.NO_POST.value
    UNKNOWN_TRANSACTION_CODE = Refusal.UNKNOWN_TRANSACTION_CODE.value
    UNKNOWN_PAYMENT_TYPE = Refusal.UNKNOWN_PAYMENT_TYPE.value
    AMOUNT_NOT_ALLOWED = Refusal.AMOUNT_NOT_ALLOWED.value
    NOT_IN_HOUSE = Refusal.NOT_IN_HOUSE.value
    CURRENCY_MISMATCH = "currency_mismatch"
    INVALID_FOLIO_WINDOW = "invalid_folio_window"
    UNKNOWN_HOTEL = "unknown_hotel"
    SYSTEM_ERROR = "system_error"


@dataclass(frozen=True)
class Rejection:
    """A refused request: the problem, a text that names what is wrong, the line to blame."""

    problem: Problem
    text: str
    line_index: int | None = None


#: What the FIAS-style ``reject_status`` knob means on a SOAP profile.
FORCED_REJECTIONS: Final[Mapping[str, Rejection]] = {
    "RY": Rejection(Problem.SYSTEM_ERROR, "system error (fault knob reject_status RY); retry"),
    "NA": Rejection(Problem.NIGHT_AUDIT, "night audit in progress (fault knob reject_status NA)"),
    "UR": Rejection(Problem.AMOUNT_NOT_ALLOWED, "posting refused (fault knob reject_status UR)"),
}


def clip(text: str) -> str:
    """``text`` cut to :data:`MAX_TEXT` characters (the profiles' Text types)."""
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def reservation_number(text: str) -> int | None:
    """The ledger's confirmation number for a wire reservation id, ``None`` if it cannot be."""
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) <= 10 and int(text) > 0:
        return int(text)
    return None


# --------------------------------------------------------------------------------------------
# The resource


@dataclass(frozen=True)
class SoapAnswer:
    """An answer ready to send: its bytes, HTTP status, and what the knobs may do with it."""

    body: bytes
    status: int = 200
    posting: bool = False  # an answer to a posting: drop_posting_answers applies
    fault: bool = False  # a fault: the drop knobs do not apply


class Refused(Exception):
    """Raised inside the pipeline to answer with a SOAP fault."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.reason)
        self.fault = fault


class SoapPmsResource(Resource):
    """One SOAP profile's PMS endpoint (a leaf): the shared pipeline of the module docstring.

    Subclasses set the class attributes and implement :meth:`handle`; the contract files and
    the actions come from :attr:`messages`, the profile's package. ``clock`` is the
    reactor (``callLater``), ``now`` an aware UTC clock for timestamps, ``new_message_id`` the
    MessageID generator of answers.
    """

    isLeaf = True

    #: The profile's message package (``protocols.htng.<profile>``): WSDL, XSD, operations.
    messages: ModuleType
    profile: ClassVar[str]
    soap_version: ClassVar[SoapVersion]
    #: Operations this PMS handles: request element local name -> operation name.
    request_elements: ClassVar[Mapping[str, str]]
    #: Operations whose answers are answers to postings (drop_posting_answers).
    posting_operations: ClassVar[frozenset[str]]
    namespace: ClassVar[str]
    uses_ws_security: ClassVar[bool] = True
    service_name: ClassVar[str]

    def __init__(
        self,
        hotel: Hotel,
        knobs: FaultKnobs,
        access: SoapAccess,
        *,
        clock: Any,
        now: Callable[[], dt.datetime],
        new_message_id: Callable[[], str] = random_message_id,
        max_bytes: int = DEFAULT_MAX_BYTES,
        one_per_turn: bool = False,
    ) -> None:
        super().__init__()
        #: Answer at most one request per reactor turn (``foliogate sim``): requests that
        #: arrive together are answered one after the other, each answer going out before the
        #: next request is handled, as a PMS that works through its requests one by one.
        self.one_per_turn = one_per_turn
        self._turn_taken = False
        self._queued: collections.deque[Request] = collections.deque()
        self.hotel = hotel
        self.knobs = knobs
        self.access = access
        self.clock = clock
        self.now = now
        self.new_message_id = new_message_id
        self.max_bytes = max_bytes
        self._replays: dict[tuple[str, str], Any] = {}
        self._delayed: set[Any] = set()  # IDelayedCall
        self._unsubscribe = hotel.subscribe(self._on_hotel_event)

    # -- what subclasses provide ----------------------------------------------------------

    def handle(self, envelope: Envelope, operation: str) -> SoapAnswer:
        """Answer a valid, authenticated request for ``operation``."""
        raise NotImplementedError

    def on_reset(self) -> None:
        """The hotel was reset (subclasses forget their own per-hotel state)."""

    # -- the profile's contract -----------------------------------------------------------

    def validator(self) -> XsdValidator:
        return self.messages.xsd_validator()  # type: ignore[no-any-return]

    def wsdl_path(self) -> Path:
        return self.messages.wsdl_path()  # type: ignore[no-any-return]

    def xsd_path(self) -> Path:
        return self.messages.xsd_path()  # type: ignore[no-any-return]

    def action_operation(self, action: str) -> str | None:
        """The operation an HTTP or WS-Addressing action names (``None``: not one of ours)."""
        operation = self.messages.Operation.from_action(action)
        return operation.value if operation else None

    # -- shared helpers for subclasses ----------------------------------------------------

    def stamp(self) -> Stamp:
        return Stamp.fresh(self.now, self.new_message_id)

    @property
    def currency(self) -> str:
        return self.hotel.config.currency

    @property
    def decimals(self) -> int:
        return minor_unit_exponent(self.currency)

    def replayed(self, operation: str, reference: str) -> Any | None:
        """The remembered answer to an earlier successful posting with this reference."""
        return self._replays.get((operation, reference))

    def remember(self, operation: str, reference: str, answer: Any) -> None:
        self._replays[(operation, reference)] = answer

    def known_reservation(self, reservation_id: str) -> int | None:
        """The confirmation number of an existing reservation, ``None`` if there is none."""
        conf = reservation_number(reservation_id)
        if conf is None or conf not in {r.confirmation_number for r in self.hotel.reservations()}:
            return None
        return conf

    def take_forced_rejection(self) -> Rejection | None:
        """The ``reject_status`` knob's rejection for this posting, if it fires (counts down)."""
        status = self.knobs.take_reject()
        return FORCED_REJECTIONS.get(status) if status else None

    def money_rejection(self, money: Money, line_index: int | None = None) -> Rejection | None:
        """Refuse an amount in another currency or with other decimal places than the hotel's."""
        if money.currency != self.currency:
            return Rejection(
                Problem.CURRENCY_MISMATCH,
                f"currency {money.currency} is not the property currency {self.currency}",
                line_index,
            )
        if money.decimals != self.decimals:
            return Rejection(
                Problem.AMOUNT_NOT_ALLOWED,
                f"amount has {money.decimals} decimal places; {self.currency} has {self.decimals}",
                line_index,
            )
        return None

    @staticmethod
    def account_amount_rejection(amount: int, line_index: int | None = None) -> Rejection | None:
        """Refuse an A/R payment that is not positive (the ledger says the same, as ``UR``;
        the SOAP PMSs answer it as an amount they do not allow)."""
        if amount > 0:
            return None
        return Rejection(
            Problem.AMOUNT_NOT_ALLOWED,
            f"A/R payments must be positive, not {amount}; a correction is a reversal",
            line_index,
        )

    def book_account_payment(
        self, account: str, amount: int, payment_type: str, *, invoices: tuple[str, ...],
        reference: str, source: str,
    ) -> tuple[PostingOutcome, AccountPayment | None]:  # fmt: skip
        """Book a payment on A/R account ``account`` in the hotel's ledger: its outcome and,
        when it is booked, the payment with its allocation to the invoices."""
        outcome = self.hotel.post_to_account(
            account, amount, payment_type, invoices=invoices, reference=reference, source=source
        )
        if not outcome.ok:
            return outcome, None
        return outcome, self.hotel.accounts.payments(account)[-1]

    def window_rejection(self, folio_window: int | None) -> Rejection | None:
        """Refuse a folio window other than 1, the ledger's only one (``None``: every window)."""
        if folio_window in (None, 1):
            return None
        return Rejection(
            Problem.INVALID_FOLIO_WINDOW,
            f"folio window {folio_window} does not exist; this PMS has window 1",
        )

    def matching_reservations(
        self,
        guest_name: str | None,
        arrival: dt.date | None,
        departure: dt.date | None,
        confirmation_number: str | None,
    ) -> list[Reservation]:
        """A search: every given criterion must match (the guest name as a prefix, any case)."""
        prefix = (guest_name or "").casefold()
        return [
            r
            for r in self.hotel.reservations()
            if r.guest_name.casefold().startswith(prefix)
            and arrival in (None, r.arrival)
            and departure in (None, r.departure)
            and confirmation_number in (None, str(r.confirmation_number))
        ]

    def book(
        self,
        reservation_id: str,
        lines: tuple[CodedLine, ...],
        source: str,
        *,
        needs_in_house: bool = False,
    ) -> CodedOutcome | Rejection:
        """Post ``lines`` to the reservation's folio, all or nothing."""
        conf = reservation_number(reservation_id)
        if conf is None:
            return Rejection(Problem.UNKNOWN_RESERVATION, f"no reservation {reservation_id}")
        outcome = self.hotel.post_coded(
            CodedPosting(
                conf,
                lines,
                source,
                allow_negative=self.access.allow_negative_amounts,
                needs_in_house=needs_in_house,
            )
        )
        if outcome.refusal is not None:
            return Rejection(Problem(outcome.refusal.value), outcome.text, outcome.line_index)
        log.info(
            "{profile}: {source}: booked {count} line(s) on reservation {conf}",
            profile=self.profile,
            source=source,
            count=len(outcome.lines),
            conf=conf,
        )
        return outcome

    def fault_answer(self, fault: Fault) -> SoapAnswer:
        log.info(
            "{profile}: SOAP fault {code} {subcode}: {reason}",
            profile=self.profile,
            code=fault.code.value,
            subcode=fault.subcode,
            reason=fault.reason,
        )
        return SoapAnswer(
            build_fault_envelope(fault, self.soap_version),
            fault_http_status(fault, self.soap_version),
            fault=True,
        )

    def stop(self) -> None:
        """Cancel delayed answers and stop following the hotel (the port is closing)."""
        self._unsubscribe()
        for call in list(self._delayed):
            if call.active():
                call.cancel()
        self._delayed.clear()

    def _on_hotel_event(self, event: HotelEvent) -> None:
        if isinstance(event, HotelReset):
            self._replays.clear()
            self.on_reset()

    # -- GET: the WSDL and the XSD --------------------------------------------------------

    def render_GET(self, request: Request) -> bytes:
        url = _request_url(request)
        query = _query_names(request)
        if "wsdl" in query:
            request.setHeader(b"content-type", b"text/xml; charset=utf-8")
            return self._wsdl(url)
        if "xsd" in query:
            request.setHeader(b"content-type", b"text/xml; charset=utf-8")
            return self.xsd_path().read_bytes()
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return (
            f"{self.profile} PMS simulator of {self.hotel.config.name}: POST SOAP "
            f"{self.soap_version.value} requests here; WSDL at {url}?wsdl\n"
        ).encode()

    def _wsdl(self, url: str) -> bytes:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        tree = etree.parse(str(self.wsdl_path()), parser)
        root = tree.getroot()
        for service in root.iterfind(f"{{{_WSDL}}}service"):
            if service.get("name") != self.service_name:
                continue
            for address in service.iter(
                f"{{{_SOAP11_BINDING}}}address", f"{{{_SOAP12_BINDING}}}address"
            ):
                address.set("location", url)
        for schema_import in root.iter(f"{{{_XS}}}import"):
            if schema_import.get("schemaLocation"):
                schema_import.set("schemaLocation", f"{url}?xsd")
        return bytes(etree.tostring(tree, xml_declaration=True, encoding="utf-8"))

    # -- POST: the pipeline ---------------------------------------------------------------

    def render_POST(self, request: Request) -> bytes | int:
        if not self.one_per_turn:
            return self._render_post(request)
        if self._turn_taken:
            self._queued.append(request)
            return NOT_DONE_YET
        self._turn_taken = True
        self.clock.callLater(0, self._next_turn)
        return self._render_post(request)

    def _next_turn(self) -> None:
        """A new reactor turn: answer the next queued request, if any (its answer goes out
        at the end of this turn), and keep the turn taken until the next one."""
        self._turn_taken = False
        while self._queued:
            request = self._queued.popleft()
            if request.finished or getattr(request, "_disconnected", False):
                continue  # the client went away while it waited
            self._turn_taken = True
            self.clock.callLater(0, self._next_turn)
            body = self._render_post(request)
            if body is not NOT_DONE_YET:
                assert isinstance(body, bytes)
                request.write(body)
                request.finish()
            return

    def _render_post(self, request: Request) -> bytes | int:
        if self.knobs.take_request_drop():
            log.info("{profile}: fault drop_requests: connection closed", profile=self.profile)
            _close_connection(request)
            return NOT_DONE_YET
        if self.knobs.take_http_500():
            log.info("{profile}: fault http_500_count: HTTP 500", profile=self.profile)
            request.setResponseCode(500)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"500 Internal Server Error (simulated: fault knob http_500_count)\n"
        size = _body_size(request)
        if size > self.max_bytes:
            # Twisted has buffered the body already; reading it into memory would not help.
            return self._send(
                request,
                self.fault_answer(
                    Fault(
                        FaultCode.SENDER,
                        f"XML refused (too-large): document is {size} bytes; "
                        f"the limit is {self.max_bytes}",
                        "XmlRejected",
                    )
                ),
            )
        data = request.content.read() if request.content is not None else b""
        log.debug("{profile} <- {raw}", profile=self.profile, raw=mask_secrets(data))
        try:
            answer = self._answer(data, request)
        except Exception:
            log.failure("{profile}: request failed", profile=self.profile)
            answer = self.fault_answer(
                Fault(FaultCode.RECEIVER, "the PMS simulator failed on this request; see its log")
            )
        return self._send(request, answer)

    def _answer(self, data: bytes, request: Request) -> SoapAnswer:
        try:
            root = parse_xml(data, max_bytes=self.max_bytes)
            envelope = parse_envelope(root)
            self._check_envelope(envelope)
            if self.uses_ws_security:
                self._authenticate(envelope)
            errors = self.validator().validate_body(envelope.payload)
            if errors:
                raise Refused(
                    Fault(
                        FaultCode.SENDER,
                        clip(f"the body does not match the {self.profile} schema: {errors[0]}"),
                        "SchemaInvalid",
                        tuple(errors),
                    )
                )
            operation = self._operation(envelope, request)
            return self.handle(envelope, operation)
        except HostileXml as exc:
            return self.fault_answer(
                Fault(FaultCode.SENDER, f"XML refused ({exc.reason}): {exc}", "HostileXml")
            )
        except XmlRejected as exc:
            return self.fault_answer(
                Fault(FaultCode.SENDER, f"XML refused ({exc.reason}): {exc}", "XmlRejected")
            )
        except EnvelopeError as exc:
            return self.fault_answer(Fault(exc.fault_code, str(exc), "InvalidEnvelope"))
        except MessageError as exc:
            return self.fault_answer(Fault(FaultCode.SENDER, str(exc), "InvalidMessage"))
        except Refused as exc:
            return self.fault_answer(exc.fault)

    def _check_envelope(self, envelope: Envelope) -> None:
        if envelope.version is not self.soap_version:
            raise EnvelopeError(
                f"this {self.profile} endpoint speaks SOAP {self.soap_version.value}, "
                f"not SOAP {envelope.version.value}",
                fault_code=FaultCode.VERSION_MISMATCH,
            )
        if envelope.not_understood:
            raise Refused(
                Fault(
                    FaultCode.MUST_UNDERSTAND,
                    "mustUnderstand header(s) not processed: " + ", ".join(envelope.not_understood),
                )
            )
        if envelope.is_fault:
            raise Refused(Fault(FaultCode.SENDER, "a Fault is not a request", "InvalidMessage"))

    def _authenticate(self, envelope: Envelope) -> None:
        security = envelope.security
        if security is None or security.username is None:
            raise Refused(
                Fault(
                    FaultCode.SENDER,
                    "no wsse:Security UsernameToken: credentials are required",
                    "InvalidSecurity",
                )
            )
        if not security.matches(self.access.credentials):
            raise Refused(
                Fault(
                    FaultCode.SENDER,
                    "authentication failed: unknown user name or wrong password",
                    "FailedAuthentication",
                )
            )
        problem = security.timestamp_problem(self.now())
        if problem is not None:
            raise Refused(Fault(FaultCode.SENDER, problem, "MessageExpired"))

    def _operation(self, envelope: Envelope, request: Request) -> str:
        qname = etree.QName(envelope.payload)
        operation = (
            self.request_elements.get(qname.localname)
            if qname.namespace == self.namespace
            else None
        )
        if operation is None:
            raise Refused(
                Fault(
                    FaultCode.SENDER,
                    f"{envelope.payload.tag} is not a request this {self.profile} PMS handles",
                    "ActionNotSupported",
                )
            )
        actions = [
            action_from_http(_header(request, b"content-type"), _header(request, b"soapaction")),
            envelope.addressing.action if envelope.addressing is not None else None,
        ]
        for action in actions:
            if action and self.action_operation(action) != operation:
                raise Refused(
                    Fault(
                        FaultCode.SENDER,
                        f"action {action!r} does not name the body's operation {operation}",
                        "ActionMismatch",
                    )
                )
        return operation

    # -- sending, through the knobs -------------------------------------------------------

    def _send(self, request: Request, answer: SoapAnswer) -> bytes | int:
        if not answer.fault and (
            self.knobs.take_drop() or (answer.posting and self.knobs.take_posting_drop())
        ):
            log.info(
                "{profile}: fault drop_answers: handled, connection closed without an answer",
                profile=self.profile,
            )
            _close_connection(request)
            return NOT_DONE_YET
        delay_ms = self.knobs.current.delay_ms
        if not delay_ms:
            return self._write(request, answer)

        def deliver() -> None:
            self._delayed.discard(call)
            if not finished:
                request.write(self._write(request, answer))
                request.finish()

        finished: list[bool] = []
        call = self.clock.callLater(delay_ms / 1000, deliver)
        self._delayed.add(call)

        def gone(_: Any) -> None:
            finished.append(True)
            if call.active():
                call.cancel()
            self._delayed.discard(call)

        request.notifyFinish().addErrback(gone)
        return NOT_DONE_YET

    def _write(self, request: Request, answer: SoapAnswer) -> bytes:
        request.setResponseCode(answer.status)
        request.setHeader(
            b"content-type", f"{self.soap_version.media_type}; charset=utf-8".encode()
        )
        log.debug("{profile} -> {raw}", profile=self.profile, raw=mask_secrets(answer.body))
        return answer.body


def _header(request: Request, name: bytes) -> str | None:
    value = request.getHeader(name)
    if value is None:
        return None
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _body_size(request: Request) -> int:
    content = request.content
    if content is None:
        return 0
    content.seek(0, 2)
    size = int(content.tell())
    content.seek(0)
    return size


def _query_names(request: Request) -> set[str]:
    """The names in the query string, any case (``?wsdl`` has no ``=``, so ``request.args``
    leaves it out)."""
    _, _, query = request.uri.partition(b"?")
    names = (item.partition(b"=")[0] for item in query.split(b"&"))
    return {name.decode("latin-1").lower() for name in names if name}


def _request_url(request: Request) -> str:
    host = _header(request, b"host")
    if not host:
        address = request.getHost()
        host = f"{address.host}:{address.port}"
    scheme = "https" if request.isSecure() else "http"
    return f"{scheme}://{host}{request.path.decode('utf-8', 'replace')}"


def _close_connection(request: Request) -> None:
    """Close the HTTP connection without writing an answer."""
    transport = request.channel.transport if request.channel is not None else None
    if transport is not None:
        transport.loseConnection()
