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

===================  ==========================  ===============
operation            request record              response record
===================  ==========================  ===============
ChargePosting        ChargePostingRequest        Acknowledgement
ChargePostingResult  ChargePostingResultRequest  Acknowledgement
===================  ==========================  ===============

Actions (``wsa:Action`` and the Content-Type ``action``): ``urn:foliogate:htng-async:1/``
``ChargePosting_SubmitRequest`` and ``ChargePosting_SubmitResult``; each acknowledgement's
action is its request's with ``Ack`` appended.

For each operation ``<op>`` (``charge_posting``, ``charge_posting_result``)::

    build_<op>_request(request, *, caller: Caller, stamp: Stamp, relates_to=None) -> bytes
    parse_<op>_request(root) -> <Op>Request
    build_<op>_response(ack: Acknowledgement, *, relates_to: str | None, stamp: Stamp) -> bytes
    parse_<op>_response(root) -> Acknowledgement           # raises SoapFault on a fault

``build_charge_posting_request`` needs ``caller.reply_to`` (the callback URL). For the
result, the PMS's ``caller.to`` is that URL and ``relates_to`` the request's MessageID.
``acknowledge(request, timestamp)`` makes the acknowledgement of either request.
``parse_request(root)`` reads whichever request arrived. ``root`` is the Envelope element from
:func:`protocols.soap.parse_xml` or the Body's payload.

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
1099   SYSTEM_ERROR           retryable    the PMS failed; nothing was posted
=====  =====================  ===========  ==================================================

The table is :data:`RESULT_CODES`; ``ChargePostingResultRequest.disposition`` is the most
severe disposition among its errors (terminal, then deferred, then retryable; an unknown code
is terminal).
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

    @property
    def action(self) -> str:
        """``wsa:Action`` and the Content-Type ``action`` parameter of the request."""
        suffix = "SubmitRequest" if self is Operation.CHARGE_POSTING else "SubmitResult"
        return f"{NAMESPACE}/ChargePosting_{suffix}"

    @property
    def response_action(self) -> str:
        return f"{self.action}Ack"

    @classmethod
    def from_action(cls, action: str | None) -> Operation | None:
        """The operation whose request ``action`` names (SOAPAction or ``wsa:Action``)."""
        return next((operation for operation in cls if operation.action == action), None)

    @property
    def request_element(self) -> str:
        return f"{self.value}RQ"

    @property
    def response_element(self) -> str:
        return "AcknowledgeReceipt"


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
class ChargePostingResultRequest:
    """The outcome the PMS POSTs to ReplyTo: success (``errors == ()``) or the errors."""

    echo_token: str
    correlation_id: str
    timestamp: dt.datetime
    errors: tuple[PostingError, ...] = ()
    posted_lines: tuple[PostedLine, ...] = ()
    version: str = MESSAGE_VERSION

    def __post_init__(self) -> None:
        if self.errors and self.posted_lines:
            raise ValueError("a failed posting has no posted lines (all or nothing)")

    @property
    def success(self) -> bool:
        return not self.errors

    @property
    def disposition(self) -> Disposition:
        if not self.errors:
            return Disposition.POSTED
        found = {error.disposition for error in self.errors}
        return next((d for d in _SEVERITY if d in found), Disposition.TERMINAL)


Request = ChargePostingRequest | ChargePostingResultRequest


def acknowledge(request: Request, timestamp: dt.datetime) -> Acknowledgement:
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
        element = w.add(posting, "PaymentLine", attrs={"PaymentType": payment.payment_type})
        _money_attrs(element, payment.amount)
        element.set("ReferenceID", payment.reference)
        w.set_optional(element, "Description", payment.description)
    return _request(Operation.CHARGE_POSTING, payload, caller, stamp, relates_to)


def _read_charge_posting_request(node: w.Node) -> ChargePostingRequest:
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
    payment_lines = tuple(
        PaymentLine(
            payment_type=line.attr("PaymentType"),
            amount=_read_money(line),
            reference=line.attr("ReferenceID"),
            description=line.optional_attr("Description"),
        )
        for line in posting.children("PaymentLine")
    )
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


def parse_charge_posting_request(root: Any) -> ChargePostingRequest:
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
    else:
        errors = w.add(payload, "Errors")
        for error in result.errors:
            element = w.add(
                errors, "Error", error.text, {"Type": error.type.value, "Code": error.code}
            )
            w.set_optional(element, "ReferenceID", error.reference)
    return _request(Operation.CHARGE_POSTING_RESULT, payload, caller, stamp, relates_to)


def _read_charge_posting_result_request(node: w.Node) -> ChargePostingResultRequest:
    errors_node = node.optional_child("Errors")
    errors: tuple[PostingError, ...] = ()
    if errors_node is not None:
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
    elif node.optional_child("Success") is None:
        raise MessageError(node.path, "holds neither Success nor Errors")
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


# Dispatch


_REQUEST_READERS: Final[Mapping[str, Callable[[w.Node], Request]]] = {
    Operation.CHARGE_POSTING.request_element: _read_charge_posting_request,
    Operation.CHARGE_POSTING_RESULT.request_element: _read_charge_posting_result_request,
}


def operation_of(request: Request) -> Operation:
    """The operation a request record belongs to."""
    if isinstance(request, ChargePostingRequest):
        return Operation.CHARGE_POSTING
    return Operation.CHARGE_POSTING_RESULT


def parse_request(root: Any) -> Request:
    """Whichever request ``root`` holds; :class:`protocols.soap.MessageError` otherwise."""
    return w.dispatch(root, NAMESPACE, _REQUEST_READERS, PROFILE)
