"""The htng-async profile's messages (used for Hotel Perfect): records, builders and parsers.

An HTNG-2011B-like asynchronous charge-posting interface in foliogate's own namespace
(``urn:foliogate:htng-async:1``): SOAP 1.2, WS-Addressing 2005/08, WS-Security UsernameToken
(PasswordText) with a fresh ``wsu:Timestamp`` on every request, in both directions. Contract
files: :func:`wsdl_path` (two services, one per direction), :func:`xsd_path`; body validation:
:func:`xsd_validator`.

The exchange::

    gateway --ChargePostingRQ (wsa:ReplyTo = callback URL)--> PMS
    gateway <--AcknowledgeReceipt (RelatesTo, same CorrelationID/EchoToken)-- PMS   (at once)
    ... the PMS posts ...
    gateway <--ChargePostingResultRQ (to ReplyTo; RelatesTo = the request's MessageID)-- PMS
    gateway --AcknowledgeReceipt-->  PMS

``CorrelationID`` is mandatory and ties the result to the request; ``EchoToken`` is echoed
unchanged in the acknowledgement and the result. A posting is all or nothing: ``Success``
means every line was posted (``PostedLine`` gives each line's PMS transaction number),
``Errors`` means none was. A retry of the same leg reuses the same CorrelationID and EchoToken.

**A/R account payments** travel in the same ``ChargePostingRQ`` (the same action, the same
acknowledgement and callback), addressed to an account instead of a reservation: its
``AccountPosting`` (``AccountNumber``, one ``PaymentLine`` with a positive amount, the
``InvoiceRef`` invoices it pays in order; none: the oldest open invoices first) replaces
``Posting``. The record is :class:`AccountPaymentRequest`; the ``Success`` result adds an
``AccountAllocation`` (each invoice paid and the part kept on the account as ``Prepaid``).
Posting money is what the asynchronous pattern is for, whatever the target, and HTNG's
charge-posting message addresses guest folios and A/R accounts alike, so the profile has no
second posting operation.

**Reservation searches are synchronous.** ``ReservationSearchRQ`` (guest name prefix, arrival,
departure, reservation id; every criterion given must match) is answered with
``ReservationSearchRS`` on the HTTP back-channel, like the HTNG 2011B folio read: a search
posts nothing, so there is no outcome to correlate later and a lost answer is just asked again.
It carries ``EchoToken`` (echoed), ``TimeStamp`` and ``Version``, but no ``CorrelationID``.
Each ``HotelReservation`` found gives the id, guest name, stay dates, status, room and the
folio's open ``Balance``.

===================  ===========================  =========================
operation            request record               response record
===================  ===========================  =========================
ChargePosting        ChargePostingRequest or      Acknowledgement
                     AccountPaymentRequest
ChargePostingResult  ChargePostingResultRequest   Acknowledgement
ReservationSearch    ReservationSearchRequest     ReservationSearchResponse
===================  ===========================  =========================

Actions (``wsa:Action`` and the Content-Type ``action``), under ``urn:foliogate:htng-async:1/``:
``ChargePosting_SubmitRequest`` and ``ChargePosting_SubmitResult``, each acknowledgement's
action being its request's with ``Ack`` appended; ``ReservationSearch_Request`` answered by
``ReservationSearch_Response``.

For each operation ``<op>`` (``charge_posting``, ``charge_posting_result``)::

    build_<op>_request(request, *, caller: Caller, stamp: Stamp, relates_to=None) -> bytes
    parse_<op>_request(root) -> <Op>Request
    build_<op>_response(ack: Acknowledgement, *, relates_to: str | None, stamp: Stamp) -> bytes
    parse_<op>_response(root) -> Acknowledgement           # raises SoapFault on a fault

``parse_charge_posting_request`` returns a :class:`ChargePostingRequest` or an
:class:`AccountPaymentRequest`, whichever the body addresses; the latter is built by
``build_account_payment_request(request, *, caller, stamp, relates_to=None)``. The search::

    build_reservation_search_request(request, *, caller: Caller, stamp: Stamp) -> bytes
    parse_reservation_search_request(root) -> ReservationSearchRequest
    build_reservation_search_response(response, *, relates_to: str | None, stamp) -> bytes
    parse_reservation_search_response(root) -> ReservationSearchResponse

``build_charge_posting_request`` and ``build_account_payment_request`` need
``caller.reply_to`` (the callback URL); a search's ``caller.reply_to`` is None (anonymous).
For the result, the PMS's ``caller.to`` is that URL and ``relates_to`` the request's
MessageID. ``acknowledge(request, timestamp)`` makes the acknowledgement of a posting or a
result. ``parse_request(root)`` reads whichever request arrived. ``root`` is the Envelope
element from :func:`protocols.soap.parse_xml` or the Body's payload.

Money is :class:`protocols.htng.money.Money`, written OTA-style as ``Amount`` (integer minor
units), ``CurrencyCode`` and ``DecimalPlaces`` attributes: never a decimal fraction. A revenue
line's amount is the charge (negative: a negative sale or reversal); a payment line's amount is
the money received (negative: a refund).

Errors (``Errors/Error@Code``, numeric codes of foliogate's own choice; ``@Type`` is
``BusinessRule`` or ``Processing``; ``@ReferenceID`` names the offending line if one):

=====  =====================  ===========  ==================================================
Code   ErrorCode              disposition  meaning
=====  =====================  ===========  ==================================================
1001   RESERVATION_NOT_FOUND  terminal     no reservation has this ReservationID
1002   NOT_IN_HOUSE           deferred     revenue needs a checked-in guest; not in house
1003   UNKNOWN_REVENUE_CODE   terminal     PMSRevenueCode unknown (mapping; text names it)
1004   UNKNOWN_PAYMENT_TYPE   terminal     PaymentType unknown (mapping; text names it)
1005   FOLIO_CLOSED           terminal     the guest has checked out or the window is closed
1006   AMOUNT_NOT_ALLOWED     terminal     zero, a negative amount this code refuses, too big
1007   UNKNOWN_HOTEL          terminal     HotelCode is not this property
1008   CURRENCY_MISMATCH      terminal     the currency is not the property's currency
1009   NO_POST                terminal     the reservation is flagged no-post
1010   NIGHT_AUDIT            retryable    the night audit is running; post after it ends
1011   INVALID_FOLIO_WINDOW   terminal     the folio window does not exist
1012   ACCOUNT_NOT_FOUND      terminal     no A/R account has this AccountNumber
1013   INVALID_SEARCH         terminal     a search that names no criterion
1099   SYSTEM_ERROR           retryable    the PMS failed; nothing was posted
=====  =====================  ===========  ==================================================

The table is :data:`RESULT_CODES`; ``ChargePostingResultRequest.disposition`` (and
``ReservationSearchResponse.disposition``) is the most severe disposition among its errors
(terminal, then deferred, then retryable; an unknown code is terminal).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from protocols.htng import _wire as w
from protocols.htng.codes import Disposition, ResultCode, disposition_of, result_codes
from protocols.htng.money import Money
from protocols.soap.envelope import build_request, build_response
from protocols.soap.errors import MessageError
from protocols.soap.message import Caller, Stamp
from protocols.soap.schema import XsdValidator
from protocols.soap.versions import SoapVersion, WsaVersion

PROFILE: Final = "htng-async"
NAMESPACE: Final = "urn:foliogate:htng-async:1"
WSDL_NAMESPACE: Final = "urn:foliogate:htng-async:wsdl:1"
SOAP_VERSION: Final = SoapVersion.SOAP12
WSA_VERSION: Final = WsaVersion.WSA_2005_08
#: The ``Version`` attribute foliogate writes.
MESSAGE_VERSION: Final = "1.0"
#: zeep: ``client.bind(SERVICE_NAME, PORT_NAME)`` (the PMS side) and the callback side.
SERVICE_NAME: Final = "ChargePostingService"
PORT_NAME: Final = "ChargePostingSoap12"
BINDING: Final = f"{{{WSDL_NAMESPACE}}}ChargePostingSoap12"
RESULT_SERVICE_NAME: Final = "ChargePostingResultService"
RESULT_PORT_NAME: Final = "ChargePostingResultSoap12"
RESULT_BINDING: Final = f"{{{WSDL_NAMESPACE}}}ChargePostingResultSoap12"

_PACKAGE: Final = "protocols.htng.htng_async"


def wsdl_path() -> Path:
    """The profile's WSDL (imports :func:`xsd_path` by relative ``schemaLocation``)."""
    return w.package_file(_PACKAGE, "htng_async.wsdl")


def xsd_path() -> Path:
    return w.package_file(_PACKAGE, "htng_async.xsd")


@functools.cache
def xsd_validator() -> XsdValidator:
    """The profile's body validator (loaded once)."""
    return XsdValidator(xsd_path())


class Operation(StrEnum):
    CHARGE_POSTING = "ChargePosting"
    CHARGE_POSTING_RESULT = "ChargePostingResult"
    RESERVATION_SEARCH = "ReservationSearch"

    @property
    def action(self) -> str:
        """``wsa:Action`` and the Content-Type ``action`` parameter of the request."""
        return f"{NAMESPACE}/{_ACTIONS[self][0]}"

    @property
    def response_action(self) -> str:
        return f"{NAMESPACE}/{_ACTIONS[self][1]}"

    @classmethod
    def from_action(cls, action: str | None) -> Operation | None:
        """The operation whose request ``action`` names (SOAPAction or ``wsa:Action``)."""
        return next((operation for operation in cls if operation.action == action), None)

    @property
    def request_element(self) -> str:
        return f"{self.value}RQ"

    @property
    def response_element(self) -> str:
        if self is Operation.RESERVATION_SEARCH:
            return "ReservationSearchRS"
        return "AcknowledgeReceipt"


#: Each operation's request and answer action, after ``NAMESPACE/``.
_ACTIONS: Final[Mapping[Operation, tuple[str, str]]] = {
    Operation.CHARGE_POSTING: ("ChargePosting_SubmitRequest", "ChargePosting_SubmitRequestAck"),
    Operation.CHARGE_POSTING_RESULT: (
        "ChargePosting_SubmitResult",
        "ChargePosting_SubmitResultAck",
    ),
    Operation.RESERVATION_SEARCH: ("ReservationSearch_Request", "ReservationSearch_Response"),
}


class ErrorType(StrEnum):
    BUSINESS_RULE = "BusinessRule"
    PROCESSING = "Processing"


class ErrorCode(StrEnum):
    """The ``Error@Code`` values foliogate's simulator answers (see the module table)."""

    RESERVATION_NOT_FOUND = "1001"
    NOT_IN_HOUSE = "1002"
    UNKNOWN_REVENUE_CODE = "1003"
    UNKNOWN_PAYMENT_TYPE = "1004"
    FOLIO_CLOSED = "1005"
    AMOUNT_NOT_ALLOWED = "1006"
    UNKNOWN_HOTEL = "1007"
    CURRENCY_MISMATCH = "1008"
    NO_POST = "1009"
    NIGHT_AUDIT = "1010"
    INVALID_FOLIO_WINDOW = "1011"
    ACCOUNT_NOT_FOUND = "1012"
    INVALID_SEARCH = "1013"
    SYSTEM_ERROR = "1099"


#: Every error code: meaning and what a gateway does with it.
RESULT_CODES: Final[Mapping[str, ResultCode]] = result_codes(
    [
        (ErrorCode.RESERVATION_NOT_FOUND, Disposition.TERMINAL, "no such reservation"),
        (ErrorCode.NOT_IN_HOUSE, Disposition.DEFERRED, "reservation not checked in"),
        (ErrorCode.UNKNOWN_REVENUE_CODE, Disposition.TERMINAL, "unknown revenue code"),
        (ErrorCode.UNKNOWN_PAYMENT_TYPE, Disposition.TERMINAL, "unknown payment type"),
        (ErrorCode.FOLIO_CLOSED, Disposition.TERMINAL, "checked out or folio closed"),
        (ErrorCode.AMOUNT_NOT_ALLOWED, Disposition.TERMINAL, "amount not allowed"),
        (ErrorCode.UNKNOWN_HOTEL, Disposition.TERMINAL, "unknown hotel code"),
        (ErrorCode.CURRENCY_MISMATCH, Disposition.TERMINAL, "not the property currency"),
        (ErrorCode.NO_POST, Disposition.TERMINAL, "reservation flagged no-post"),
        (ErrorCode.NIGHT_AUDIT, Disposition.RETRYABLE, "night audit in progress"),
        (ErrorCode.INVALID_FOLIO_WINDOW, Disposition.TERMINAL, "no such folio window"),
        (ErrorCode.ACCOUNT_NOT_FOUND, Disposition.TERMINAL, "no such A/R account"),
        (ErrorCode.INVALID_SEARCH, Disposition.TERMINAL, "a search without criteria"),
        (ErrorCode.SYSTEM_ERROR, Disposition.RETRYABLE, "PMS failure; nothing posted"),
    ]
)

_SEVERITY: Final = (Disposition.TERMINAL, Disposition.DEFERRED, Disposition.RETRYABLE)


# Records


@dataclass(frozen=True)
class RevenueLine:
    revenue_code: str  # PMSRevenueCode: the property's transaction code
    amount: Money  # the charge; negative for a negative sale or reversal
    reference: str  # ReferenceID
    description: str | None = None


@dataclass(frozen=True)
class PaymentLine:
    payment_type: str
    amount: Money  # the money received; negative for a refund
    reference: str
    description: str | None = None


@dataclass(frozen=True)
class ChargePostingRequest:
    """Revenue and/or payment lines for one reservation, posted all or nothing."""

    echo_token: str
    correlation_id: str
    timestamp: dt.datetime
    hotel_code: str
    reservation_id: str
    revenue_lines: tuple[RevenueLine, ...] = ()
    payment_lines: tuple[PaymentLine, ...] = ()
    folio_window: int = 1
    business_date: dt.date | None = None
    version: str = MESSAGE_VERSION

    def __post_init__(self) -> None:
        if not self.revenue_lines and not self.payment_lines:
            raise ValueError("a ChargePostingRequest needs at least one revenue or payment line")


@dataclass(frozen=True)
class AccountPaymentRequest:
    """One payment on A/R account ``account_number`` (a ChargePostingRQ's AccountPosting),
    for the invoices ``invoice_ids`` names (in that order; none: the oldest open first)."""

    echo_token: str
    correlation_id: str
    timestamp: dt.datetime
    hotel_code: str
    account_number: str
    payment_line: PaymentLine  # the money received: positive (a correction is a reversal)
    invoice_ids: tuple[str, ...] = ()
    business_date: dt.date | None = None
    version: str = MESSAGE_VERSION


@dataclass(frozen=True)
class Acknowledgement:
    """Received, not yet processed: the immediate answer to either request."""

    correlation_id: str
    timestamp: dt.datetime
    echo_token: str | None = None


@dataclass(frozen=True)
class PostingError:
    code: str  # an ErrorCode value, or whatever a real PMS sent
    text: str
    type: ErrorType = ErrorType.BUSINESS_RULE
    reference: str | None = None  # the ReferenceID of the offending line, if one

    @property
    def disposition(self) -> Disposition:
        return disposition_of(RESULT_CODES, self.code)


@dataclass(frozen=True)
class PostedLine:
    reference: str  # the line's ReferenceID
    transaction_number: int  # the PMS's number for the posted line


@dataclass(frozen=True)
class InvoiceAllocation:
    invoice_id: str
    amount: Money  # the part of the payment that went to this invoice


@dataclass(frozen=True)
class AccountAllocation:
    """How an A/R account payment was allocated: the invoices paid, in order, and the rest
    kept on the account as a credit."""

    account_number: str
    allocations: tuple[InvoiceAllocation, ...]
    prepaid: Money


@dataclass(frozen=True)
class ChargePostingResultRequest:
    """The outcome the PMS POSTs to ReplyTo: success (``errors == ()``) or the errors; the
    success of an A/R account payment carries its ``allocation``."""

    echo_token: str
    correlation_id: str
    timestamp: dt.datetime
    errors: tuple[PostingError, ...] = ()
    posted_lines: tuple[PostedLine, ...] = ()
    version: str = MESSAGE_VERSION
    allocation: AccountAllocation | None = None

    def __post_init__(self) -> None:
        if self.errors and (self.posted_lines or self.allocation is not None):
            raise ValueError("a failed posting has no posted lines (all or nothing)")

    @property
    def success(self) -> bool:
        return not self.errors

    @property
    def disposition(self) -> Disposition:
        return _worst(self.errors)


class ReservationStatus(StrEnum):
    RESERVED = "Reserved"
    IN_HOUSE = "InHouse"
    CHECKED_OUT = "CheckedOut"


@dataclass(frozen=True)
class ReservationSearchRequest:
    """A synchronous search: every criterion given must match (``guest_name``: a prefix of
    the guest's name, any case); at least one is needed."""

    echo_token: str
    timestamp: dt.datetime
    hotel_code: str
    guest_name: str | None = None
    arrival: dt.date | None = None
    departure: dt.date | None = None
    reservation_id: str | None = None
    version: str = MESSAGE_VERSION

    @property
    def has_criteria(self) -> bool:
        return any(
            value is not None
            for value in (self.guest_name, self.arrival, self.departure, self.reservation_id)
        )


@dataclass(frozen=True)
class HotelReservation:
    """One reservation a search found."""

    reservation_id: str
    guest_name: str
    arrival: dt.date
    departure: dt.date
    status: ReservationStatus
    room: str | None = None
    balance: Money | None = None  # the folio's open balance: what the guest owes


@dataclass(frozen=True)
class ReservationSearchResponse:
    """The search's answer: the reservations found (``errors == ()``) or the errors."""

    echo_token: str
    timestamp: dt.datetime
    reservations: tuple[HotelReservation, ...] = ()
    errors: tuple[PostingError, ...] = ()
    version: str = MESSAGE_VERSION

    def __post_init__(self) -> None:
        if self.errors and self.reservations:
            raise ValueError("a refused search finds no reservations")

    @property
    def success(self) -> bool:
        return not self.errors

    @property
    def disposition(self) -> Disposition:
        return _worst(self.errors)


def _worst(errors: tuple[PostingError, ...]) -> Disposition:
    if not errors:
        return Disposition.POSTED
    found = {error.disposition for error in errors}
    return next((d for d in _SEVERITY if d in found), Disposition.TERMINAL)


#: The requests that are acknowledged (and carry a CorrelationID).
Acknowledged = ChargePostingRequest | AccountPaymentRequest | ChargePostingResultRequest
Request = Acknowledged | ReservationSearchRequest


def acknowledge(request: Acknowledged, timestamp: dt.datetime) -> Acknowledgement:
    """The acknowledgement of ``request``: its CorrelationID and EchoToken, echoed."""
    return Acknowledgement(request.correlation_id, timestamp, request.echo_token)


# Helpers


def _money_attrs(element: Any, money: Money) -> None:
    element.set("Amount", str(money.amount))
    element.set("CurrencyCode", money.currency)
    element.set("DecimalPlaces", str(money.decimals))


def _read_money(node: w.Node) -> Money:
    amount = node.convert_attr("Amount", w.strict_int, "an integer of minor units")
    currency = node.attr("CurrencyCode")
    decimals = node.convert_attr("DecimalPlaces", w.strict_int, "an integer")
    return w.money_at(node.path, amount, currency, decimals)


def _payload_attrs(
    element: Any, echo_token: str, timestamp: dt.datetime, version: str, correlation_id: str
) -> None:
    element.set("EchoToken", echo_token)
    element.set("TimeStamp", w.datetime_text(timestamp))
    element.set("Version", version)
    element.set("CorrelationID", correlation_id)


def _request(
    operation: Operation, payload: Any, caller: Caller, stamp: Stamp, relates_to: str | None
) -> bytes:
    return build_request(
        SOAP_VERSION,
        WSA_VERSION,
        payload,
        action=operation.action,
        caller=caller,
        stamp=stamp,
        relates_to=relates_to,
    )


def _acknowledgement(
    operation: Operation, ack: Acknowledgement, relates_to: str | None, stamp: Stamp
) -> bytes:
    payload = w.payload(NAMESPACE, operation.response_element)
    payload.set("CorrelationID", ack.correlation_id)
    w.set_optional(payload, "EchoToken", ack.echo_token)
    payload.set("TimeStamp", w.datetime_text(ack.timestamp))
    return build_response(
        SOAP_VERSION,
        WSA_VERSION,
        payload,
        action=operation.response_action,
        relates_to=relates_to,
        stamp=stamp,
    )


def _read_acknowledgement(root: Any) -> Acknowledgement:
    node = w.open_payload(root, NAMESPACE, "AcknowledgeReceipt")
    return Acknowledgement(
        correlation_id=node.attr("CorrelationID"),
        timestamp=node.datetime_attr("TimeStamp"),
        echo_token=node.optional_attr("EchoToken"),
    )


# ChargePosting


def build_charge_posting_request(
    request: ChargePostingRequest,
    *,
    caller: Caller,
    stamp: Stamp,
    relates_to: str | None = None,
) -> bytes:
    """The request envelope; ``caller.reply_to`` must be the gateway's callback URL."""
    if caller.reply_to is None:
        raise ValueError("htng-async needs caller.reply_to: the URL the result is POSTed to")
    payload = w.payload(NAMESPACE, Operation.CHARGE_POSTING.request_element)
    _payload_attrs(
        payload, request.echo_token, request.timestamp, request.version, request.correlation_id
    )
    w.add(payload, "Property", attrs={"HotelCode": request.hotel_code})
    posting = w.add(
        payload,
        "Posting",
        attrs={"ReservationID": request.reservation_id, "FolioWindow": str(request.folio_window)},
    )
    if request.business_date is not None:
        posting.set("BusinessDate", w.date_text(request.business_date))
    for revenue in request.revenue_lines:
        element = w.add(posting, "RevenueLine", attrs={"PMSRevenueCode": revenue.revenue_code})
        _money_attrs(element, revenue.amount)
        element.set("ReferenceID", revenue.reference)
        w.set_optional(element, "Description", revenue.description)
    for payment in request.payment_lines:
        _add_payment_line(posting, payment)
    return _request(Operation.CHARGE_POSTING, payload, caller, stamp, relates_to)


def build_account_payment_request(
    request: AccountPaymentRequest,
    *,
    caller: Caller,
    stamp: Stamp,
    relates_to: str | None = None,
) -> bytes:
    """A ChargePostingRQ addressed to an A/R account; ``caller.reply_to`` must be the
    gateway's callback URL."""
    if caller.reply_to is None:
        raise ValueError("htng-async needs caller.reply_to: the URL the result is POSTed to")
    payload = w.payload(NAMESPACE, Operation.CHARGE_POSTING.request_element)
    _payload_attrs(
        payload, request.echo_token, request.timestamp, request.version, request.correlation_id
    )
    w.add(payload, "Property", attrs={"HotelCode": request.hotel_code})
    posting = w.add(payload, "AccountPosting", attrs={"AccountNumber": request.account_number})
    if request.business_date is not None:
        posting.set("BusinessDate", w.date_text(request.business_date))
    _add_payment_line(posting, request.payment_line)
    for invoice_id in request.invoice_ids:
        w.add(posting, "InvoiceRef", attrs={"InvoiceID": invoice_id})
    return _request(Operation.CHARGE_POSTING, payload, caller, stamp, relates_to)


def _add_payment_line(parent: Any, payment: PaymentLine) -> None:
    element = w.add(parent, "PaymentLine", attrs={"PaymentType": payment.payment_type})
    _money_attrs(element, payment.amount)
    element.set("ReferenceID", payment.reference)
    w.set_optional(element, "Description", payment.description)


def _read_payment_line(line: w.Node) -> PaymentLine:
    return PaymentLine(
        payment_type=line.attr("PaymentType"),
        amount=_read_money(line),
        reference=line.attr("ReferenceID"),
        description=line.optional_attr("Description"),
    )


def _read_charge_posting_request(node: w.Node) -> ChargePostingRequest | AccountPaymentRequest:
    account = node.optional_child("AccountPosting")
    if account is not None:
        return _read_account_payment_request(node, account)
    posting = node.child("Posting")
    revenue_lines = tuple(
        RevenueLine(
            revenue_code=line.attr("PMSRevenueCode"),
            amount=_read_money(line),
            reference=line.attr("ReferenceID"),
            description=line.optional_attr("Description"),
        )
        for line in posting.children("RevenueLine")
    )
    payment_lines = tuple(_read_payment_line(line) for line in posting.children("PaymentLine"))
    if not revenue_lines and not payment_lines:
        raise MessageError(posting.path, "holds no RevenueLine and no PaymentLine")
    window = posting.optional_convert_attr("FolioWindow", w.strict_int, "an integer")
    return ChargePostingRequest(
        echo_token=node.attr("EchoToken"),
        correlation_id=node.attr("CorrelationID"),
        timestamp=node.datetime_attr("TimeStamp"),
        hotel_code=node.child("Property").attr("HotelCode"),
        reservation_id=posting.attr("ReservationID"),
        revenue_lines=revenue_lines,
        payment_lines=payment_lines,
        folio_window=1 if window is None else window,
        business_date=posting.optional_convert_attr(
            "BusinessDate", dt.date.fromisoformat, "an xs:date"
        ),
        version=node.attr("Version"),
    )


def _read_account_payment_request(node: w.Node, account: w.Node) -> AccountPaymentRequest:
    return AccountPaymentRequest(
        echo_token=node.attr("EchoToken"),
        correlation_id=node.attr("CorrelationID"),
        timestamp=node.datetime_attr("TimeStamp"),
        hotel_code=node.child("Property").attr("HotelCode"),
        account_number=account.attr("AccountNumber"),
        payment_line=_read_payment_line(account.child("PaymentLine")),
        invoice_ids=tuple(ref.attr("InvoiceID") for ref in account.children("InvoiceRef")),
        business_date=account.optional_convert_attr(
            "BusinessDate", dt.date.fromisoformat, "an xs:date"
        ),
        version=node.attr("Version"),
    )


def parse_charge_posting_request(root: Any) -> ChargePostingRequest | AccountPaymentRequest:
    """The posting ``root`` holds: to a reservation (``Posting``) or to an A/R account
    (``AccountPosting``)."""
    node = w.open_payload(root, NAMESPACE, Operation.CHARGE_POSTING.request_element)
    return _read_charge_posting_request(node)


def build_charge_posting_response(
    ack: Acknowledgement, *, relates_to: str | None, stamp: Stamp
) -> bytes:
    """The immediate acknowledgement (``relates_to``: the request's MessageID)."""
    return _acknowledgement(Operation.CHARGE_POSTING, ack, relates_to, stamp)


def parse_charge_posting_response(root: Any) -> Acknowledgement:
    return _read_acknowledgement(root)


# ChargePostingResult (the callback)


def build_charge_posting_result_request(
    result: ChargePostingResultRequest,
    *,
    caller: Caller,
    stamp: Stamp,
    relates_to: str | None = None,
) -> bytes:
    """The callback envelope: ``caller.to`` is the request's ReplyTo address and
    ``relates_to`` the request's MessageID."""
    payload = w.payload(NAMESPACE, Operation.CHARGE_POSTING_RESULT.request_element)
    _payload_attrs(
        payload, result.echo_token, result.timestamp, result.version, result.correlation_id
    )
    if result.success:
        w.add(payload, "Success")
        for line in result.posted_lines:
            w.add(
                payload,
                "PostedLine",
                attrs={
                    "ReferenceID": line.reference,
                    "TransactionNumber": str(line.transaction_number),
                },
            )
        if result.allocation is not None:
            allocation = w.add(
                payload,
                "AccountAllocation",
                attrs={"AccountNumber": result.allocation.account_number},
            )
            for paid in result.allocation.allocations:
                element = w.add(allocation, "Allocation", attrs={"InvoiceID": paid.invoice_id})
                _money_attrs(element, paid.amount)
            _money_attrs(w.add(allocation, "Prepaid"), result.allocation.prepaid)
    else:
        _add_errors(payload, result.errors)
    return _request(Operation.CHARGE_POSTING_RESULT, payload, caller, stamp, relates_to)


def _add_errors(parent: Any, errors: tuple[PostingError, ...]) -> None:
    holder = w.add(parent, "Errors")
    for error in errors:
        element = w.add(holder, "Error", error.text, {"Type": error.type.value, "Code": error.code})
        w.set_optional(element, "ReferenceID", error.reference)


def _read_errors(node: w.Node) -> tuple[PostingError, ...] | None:
    """The ``Errors`` of a result or a read; None when it has none (a success)."""
    errors_node = node.optional_child("Errors")
    if errors_node is None:
        if node.optional_child("Success") is None:
            raise MessageError(node.path, "holds neither Success nor Errors")
        return None
    errors = tuple(
        PostingError(
            code=error.attr("Code"),
            text=error.own_text(),
            type=error.convert_attr("Type", ErrorType, "BusinessRule or Processing"),
            reference=error.optional_attr("ReferenceID"),
        )
        for error in errors_node.children("Error")
    )
    if not errors:
        raise MessageError(errors_node.path, "holds no Error")
    return errors


def _read_charge_posting_result_request(node: w.Node) -> ChargePostingResultRequest:
    errors = _read_errors(node) or ()
    allocation_node = node.optional_child("AccountAllocation")
    allocation = None
    if allocation_node is not None:
        allocation = AccountAllocation(
            account_number=allocation_node.attr("AccountNumber"),
            allocations=tuple(
                InvoiceAllocation(paid.attr("InvoiceID"), _read_money(paid))
                for paid in allocation_node.children("Allocation")
            ),
            prepaid=_read_money(allocation_node.child("Prepaid")),
        )
    posted = tuple(
        PostedLine(
            line.attr("ReferenceID"),
            line.convert_attr("TransactionNumber", w.strict_int, "an integer"),
        )
        for line in node.children("PostedLine")
    )
    return ChargePostingResultRequest(
        echo_token=node.attr("EchoToken"),
        correlation_id=node.attr("CorrelationID"),
        timestamp=node.datetime_attr("TimeStamp"),
        errors=errors,
        posted_lines=posted,
        version=node.attr("Version"),
        allocation=allocation,
    )


def parse_charge_posting_result_request(root: Any) -> ChargePostingResultRequest:
    node = w.open_payload(root, NAMESPACE, Operation.CHARGE_POSTING_RESULT.request_element)
    return _read_charge_posting_result_request(node)


def build_charge_posting_result_response(
    ack: Acknowledgement, *, relates_to: str | None, stamp: Stamp
) -> bytes:
    """The gateway's acknowledgement of a result callback."""
    return _acknowledgement(Operation.CHARGE_POSTING_RESULT, ack, relates_to, stamp)


def parse_charge_posting_result_response(root: Any) -> Acknowledgement:
    return _read_acknowledgement(root)


# ReservationSearch (synchronous)


def _read_attrs(element: Any, echo_token: str, timestamp: dt.datetime, version: str) -> None:
    element.set("EchoToken", echo_token)
    element.set("TimeStamp", w.datetime_text(timestamp))
    element.set("Version", version)


def build_reservation_search_request(
    request: ReservationSearchRequest, *, caller: Caller, stamp: Stamp
) -> bytes:
    """The search envelope (answered on the back-channel: ``caller.reply_to`` None)."""
    payload = w.payload(NAMESPACE, Operation.RESERVATION_SEARCH.request_element)
    _read_attrs(payload, request.echo_token, request.timestamp, request.version)
    w.add(payload, "Property", attrs={"HotelCode": request.hotel_code})
    criteria = w.add(payload, "SelectionCriteria")
    w.set_optional(criteria, "GuestName", request.guest_name)
    if request.arrival is not None:
        criteria.set("ArrivalDate", w.date_text(request.arrival))
    if request.departure is not None:
        criteria.set("DepartureDate", w.date_text(request.departure))
    w.set_optional(criteria, "ReservationID", request.reservation_id)
    return _request(Operation.RESERVATION_SEARCH, payload, caller, stamp, None)


def _optional_date(node: w.Node, name: str) -> dt.date | None:
    return node.optional_convert_attr(name, dt.date.fromisoformat, "an xs:date")


def _read_reservation_search_request(node: w.Node) -> ReservationSearchRequest:
    criteria = node.child("SelectionCriteria")
    return ReservationSearchRequest(
        echo_token=node.attr("EchoToken"),
        timestamp=node.datetime_attr("TimeStamp"),
        hotel_code=node.child("Property").attr("HotelCode"),
        guest_name=criteria.optional_attr("GuestName"),
        arrival=_optional_date(criteria, "ArrivalDate"),
        departure=_optional_date(criteria, "DepartureDate"),
        reservation_id=criteria.optional_attr("ReservationID"),
        version=node.attr("Version"),
    )


def parse_reservation_search_request(root: Any) -> ReservationSearchRequest:
    node = w.open_payload(root, NAMESPACE, Operation.RESERVATION_SEARCH.request_element)
    return _read_reservation_search_request(node)


def build_reservation_search_response(
    response: ReservationSearchResponse, *, relates_to: str | None, stamp: Stamp
) -> bytes:
    """The search's answer (``relates_to``: the request's MessageID)."""
    payload = w.payload(NAMESPACE, Operation.RESERVATION_SEARCH.response_element)
    _read_attrs(payload, response.echo_token, response.timestamp, response.version)
    if response.success:
        w.add(payload, "Success")
        if response.reservations:
            found = w.add(payload, "ReservationsList")
            for reservation in response.reservations:
                element = w.add(
                    found,
                    "HotelReservation",
                    attrs={
                        "ReservationID": reservation.reservation_id,
                        "GuestName": reservation.guest_name,
                        "ArrivalDate": w.date_text(reservation.arrival),
                        "DepartureDate": w.date_text(reservation.departure),
                        "ResStatus": reservation.status.value,
                    },
                )
                w.set_optional(element, "RoomNumber", reservation.room)
                if reservation.balance is not None:
                    _money_attrs(w.add(element, "Balance"), reservation.balance)
    else:
        _add_errors(payload, response.errors)
    return build_response(
        SOAP_VERSION,
        WSA_VERSION,
        payload,
        action=Operation.RESERVATION_SEARCH.response_action,
        relates_to=relates_to,
        stamp=stamp,
    )


def parse_reservation_search_response(root: Any) -> ReservationSearchResponse:
    """The search's answer; raises :class:`protocols.soap.SoapFault` on a fault."""
    node = w.open_payload(root, NAMESPACE, Operation.RESERVATION_SEARCH.response_element)
    errors = _read_errors(node)
    found = node.optional_child("ReservationsList")
    reservations = tuple(
        HotelReservation(
            reservation_id=item.attr("ReservationID"),
            guest_name=item.attr("GuestName"),
            arrival=item.convert_attr("ArrivalDate", dt.date.fromisoformat, "an xs:date"),
            departure=item.convert_attr("DepartureDate", dt.date.fromisoformat, "an xs:date"),
            status=item.convert_attr("ResStatus", ReservationStatus, "a reservation status"),
            room=item.optional_attr("RoomNumber"),
            balance=(
                _read_money(balance)
                if (balance := item.optional_child("Balance")) is not None
                else None
            ),
        )
        for item in (found.children("HotelReservation") if found is not None else ())
    )
    return ReservationSearchResponse(
        echo_token=node.attr("EchoToken"),
        timestamp=node.datetime_attr("TimeStamp"),
        reservations=reservations,
        errors=errors or (),
        version=node.attr("Version"),
    )


# Dispatch


_REQUEST_READERS: Final[Mapping[str, Callable[[w.Node], Request]]] = {
    Operation.CHARGE_POSTING.request_element: _read_charge_posting_request,
    Operation.CHARGE_POSTING_RESULT.request_element: _read_charge_posting_result_request,
    Operation.RESERVATION_SEARCH.request_element: _read_reservation_search_request,
}


def operation_of(request: Request) -> Operation:
    """The operation a request record belongs to."""
    if isinstance(request, ChargePostingRequest | AccountPaymentRequest):
        return Operation.CHARGE_POSTING
    if isinstance(request, ReservationSearchRequest):
        return Operation.RESERVATION_SEARCH
    return Operation.CHARGE_POSTING_RESULT


def parse_request(root: Any) -> Request:
    """Whichever request ``root`` holds; :class:`protocols.soap.MessageError` otherwise."""
    return w.dispatch(root, NAMESPACE, _REQUEST_READERS, PROFILE)
