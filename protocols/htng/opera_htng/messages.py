"""The opera-htng profile's messages: records, envelope builders and parsers.

An OPERA-HTNG-like synchronous posting interface, in foliogate's own namespace
(``urn:foliogate:opera-htng:1``): SOAP 1.1, WS-Addressing 2004/08, WS-Security UsernameToken
(PasswordText) with a fresh ``wsu:Timestamp`` on every request. Contract files:
:func:`wsdl_path` and :func:`xsd_path`; body validation: :func:`xsd_validator`.

Operations (``Operation``; SOAPAction and ``wsa:Action`` are ``urn:foliogate:opera-htng:1#<Op>``,
responses ``...#<Op>Response`` with ``RelatesTo`` = the request's MessageID):

============================  =============================  ==============================
operation                     request record                 response record
============================  =============================  ==============================
PostCharge                    PostChargeRequest              PostChargeResponse
PostPayment                   PostPaymentRequest             PostPaymentResponse
FetchFolio                    FetchFolioRequest              FetchFolioResponse
SearchReservations            SearchReservationsRequest      SearchReservationsResponse
PostAccountPayment            PostAccountPaymentRequest      PostAccountPaymentResponse
============================  =============================  ==============================

For each operation ``<op>`` (snake_case)::

    build_<op>_request(request, *, caller: Caller, stamp: Stamp) -> bytes
    parse_<op>_request(root) -> <Op>Request
    build_<op>_response(response, *, relates_to: str | None, stamp: Stamp) -> bytes
    parse_<op>_response(root) -> <Op>Response        # raises SoapFault on a fault

``root`` is the element :func:`protocols.soap.parse_xml` returned (the Envelope) or the Body's
payload element. ``parse_request(root)`` reads whichever request arrived (for a simulator).
Parsers raise :class:`protocols.soap.MessageError` naming the path of what is missing or wrong.

Money is :class:`protocols.htng.money.Money`: integer minor units + ``currencyCode`` +
``decimals`` on the wire (``<Amount currencyCode="GBP" decimals="2">5000</Amount>``), never a
decimal fraction, so nothing is ever rounded. PostCharge ``amount`` is the charge (negative:
a negative sale or a reversal); PostPayment ``amount`` is the money received (negative: a
refund). PostAccountPayment ``amount`` is money received on an A/R account (positive); the
answer lists how the PMS allocated it to the account's invoices and what stays prepaid. Folio
lines carry their signed effect on the balance (charges as posted, payments
negated) and ``balance`` is their sum. ``folio_window`` defaults to 1.

Business errors come back in-band: ``Result@resultStatusFlag`` SUCCESS or FAIL, with ``Text``
and ``ErrorCode``. SOAP faults are for envelope, security and schema errors only.

=======================  ===========  ==========================================================
ErrorCode                disposition  meaning
=======================  ===========  ==========================================================
RESV_NOT_FOUND           terminal     no reservation has this ReservationID
ACCOUNT_NOT_FOUND        terminal     no A/R account has this AccountNumber
RESV_NOT_IN_HOUSE        deferred     a charge needs a checked-in guest; not yet in house
FOLIO_CLOSED             terminal     the guest has checked out or the folio window is closed
INVALID_TRX_CODE         terminal     the TransactionCode is unknown (mapping; Text names it)
INVALID_PAYMENT_TYPE     terminal     the PaymentType is unknown (mapping; Text names it)
AMOUNT_NOT_ALLOWED       terminal     zero, a negative amount this code refuses, or over limit
CURRENCY_MISMATCH        terminal     the currency is not the property's currency
INVALID_FOLIO_WINDOW     terminal     the folio window does not exist on this reservation
NO_POST                  terminal     the reservation is flagged no-post
NIGHT_AUDIT_IN_PROGRESS  retryable    the night audit is running; post after it ends
SYSTEM_ERROR             retryable    the PMS failed; nothing was posted
=======================  ===========  ==========================================================

The table is :data:`RESULT_CODES` (``{code: ResultCode}``); ``Result.disposition`` looks it up
(an unknown code is terminal).
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
from protocols.soap.message import Caller, Stamp
from protocols.soap.schema import XsdValidator
from protocols.soap.versions import SoapVersion, WsaVersion

PROFILE: Final = "opera-htng"
NAMESPACE: Final = "urn:foliogate:opera-htng:1"
WSDL_NAMESPACE: Final = "urn:foliogate:opera-htng:wsdl:1"
SOAP_VERSION: Final = SoapVersion.SOAP11
WSA_VERSION: Final = WsaVersion.WSA_2004_08
#: zeep: ``client.bind(SERVICE_NAME, PORT_NAME)`` or ``client.create_service(BINDING, url)``.
SERVICE_NAME: Final = "OperaHtngService"
PORT_NAME: Final = "OperaHtngSoap11"
BINDING: Final = f"{{{WSDL_NAMESPACE}}}OperaHtngSoap11"

_PACKAGE: Final = "protocols.htng.opera_htng"


def wsdl_path() -> Path:
    """The profile's WSDL (imports :func:`xsd_path` by relative ``schemaLocation``)."""
    return w.package_file(_PACKAGE, "opera_htng.wsdl")


def xsd_path() -> Path:
    return w.package_file(_PACKAGE, "opera_htng.xsd")


@functools.cache
def xsd_validator() -> XsdValidator:
    """The profile's body validator (loaded once)."""
    return XsdValidator(xsd_path())


class Operation(StrEnum):
    POST_CHARGE = "PostCharge"
    POST_PAYMENT = "PostPayment"
    FETCH_FOLIO = "FetchFolio"
    SEARCH_RESERVATIONS = "SearchReservations"
    POST_ACCOUNT_PAYMENT = "PostAccountPayment"

    @property
    def action(self) -> str:
        """SOAPAction and ``wsa:Action`` of the request."""
        return f"{NAMESPACE}#{self.value}"

    @property
    def response_action(self) -> str:
        return f"{NAMESPACE}#{self.value}Response"

    @classmethod
    def from_action(cls, action: str | None) -> Operation | None:
        """The operation whose request ``action`` names (SOAPAction or ``wsa:Action``)."""
        return next((operation for operation in cls if operation.action == action), None)

    @property
    def request_element(self) -> str:
        return f"{self.value}Request"

    @property
    def response_element(self) -> str:
        return f"{self.value}Response"


class ResultStatus(StrEnum):
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"


class ErrorCode(StrEnum):
    """The ``Result/ErrorCode`` values foliogate's simulator answers (see the module table)."""

    RESERVATION_NOT_FOUND = "RESV_NOT_FOUND"
    ACCOUNT_NOT_FOUND = "ACCOUNT_NOT_FOUND"
    NOT_IN_HOUSE = "RESV_NOT_IN_HOUSE"
    FOLIO_CLOSED = "FOLIO_CLOSED"
    INVALID_TRANSACTION_CODE = "INVALID_TRX_CODE"
    INVALID_PAYMENT_TYPE = "INVALID_PAYMENT_TYPE"
    AMOUNT_NOT_ALLOWED = "AMOUNT_NOT_ALLOWED"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    INVALID_FOLIO_WINDOW = "INVALID_FOLIO_WINDOW"
    NO_POST = "NO_POST"
    NIGHT_AUDIT = "NIGHT_AUDIT_IN_PROGRESS"
    SYSTEM_ERROR = "SYSTEM_ERROR"


#: Every error code: meaning and what a gateway does with it.
RESULT_CODES: Final[Mapping[str, ResultCode]] = result_codes(
    [
        (ErrorCode.RESERVATION_NOT_FOUND, Disposition.TERMINAL, "no such reservation"),
        (ErrorCode.ACCOUNT_NOT_FOUND, Disposition.TERMINAL, "no such A/R account"),
        (ErrorCode.NOT_IN_HOUSE, Disposition.DEFERRED, "reservation not checked in"),
        (ErrorCode.FOLIO_CLOSED, Disposition.TERMINAL, "checked out or folio closed"),
        (ErrorCode.INVALID_TRANSACTION_CODE, Disposition.TERMINAL, "unknown transaction code"),
        (ErrorCode.INVALID_PAYMENT_TYPE, Disposition.TERMINAL, "unknown payment type"),
        (ErrorCode.AMOUNT_NOT_ALLOWED, Disposition.TERMINAL, "amount not allowed"),
        (ErrorCode.CURRENCY_MISMATCH, Disposition.TERMINAL, "not the property currency"),
        (ErrorCode.INVALID_FOLIO_WINDOW, Disposition.TERMINAL, "no such folio window"),
        (ErrorCode.NO_POST, Disposition.TERMINAL, "reservation flagged no-post"),
        (ErrorCode.NIGHT_AUDIT, Disposition.RETRYABLE, "night audit in progress"),
        (ErrorCode.SYSTEM_ERROR, Disposition.RETRYABLE, "PMS failure; nothing posted"),
    ]
)


class LineKind(StrEnum):
    CHARGE = "CHARGE"
    PAYMENT = "PAYMENT"


class ReservationStatus(StrEnum):
    RESERVED = "RESERVED"
    IN_HOUSE = "IN_HOUSE"
    CHECKED_OUT = "CHECKED_OUT"
    CANCELLED = "CANCELLED"


# Records


@dataclass(frozen=True)
class Result:
    """The in-band outcome of every operation."""

    status: ResultStatus
    text: str | None = None
    error_code: str | None = None  # an ErrorCode value, or whatever a real PMS sent

    @classmethod
    def success(cls, text: str | None = None) -> Result:
        return cls(ResultStatus.SUCCESS, text)

    @classmethod
    def fail(cls, error_code: str, text: str) -> Result:
        return cls(ResultStatus.FAIL, text, error_code)

    @property
    def ok(self) -> bool:
        return self.status is ResultStatus.SUCCESS

    @property
    def disposition(self) -> Disposition:
        if self.ok:
            return Disposition.POSTED
        return disposition_of(RESULT_CODES, self.error_code)


@dataclass(frozen=True)
class PostChargeRequest:
    """Revenue (or a negative sale) on a reservation's folio window."""

    reservation_id: str
    transaction_code: str
    amount: Money  # the charge; negative for a negative sale or reversal
    reference: str  # our idempotency reference, reused on retry
    folio_window: int = 1
    business_date: dt.date | None = None
    description: str | None = None


@dataclass(frozen=True)
class PostChargeResponse:
    result: Result
    transaction_number: int | None = None  # the PMS's number for the posted line


@dataclass(frozen=True)
class PostPaymentRequest:
    """Money received by ``payment_type`` (negative: a refund)."""

    reservation_id: str
    payment_type: str
    amount: Money
    reference: str
    folio_window: int = 1
    business_date: dt.date | None = None
    description: str | None = None


@dataclass(frozen=True)
class PostPaymentResponse:
    result: Result
    transaction_number: int | None = None


@dataclass(frozen=True)
class FetchFolioRequest:
    reservation_id: str
    folio_window: int | None = None  # None: every window


@dataclass(frozen=True)
class FolioLine:
    transaction_number: int
    folio_window: int
    kind: LineKind
    code: str  # transaction code (CHARGE) or payment type (PAYMENT)
    amount: Money  # signed effect on the balance: payments are negative
    business_date: dt.date
    reference: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Folio:
    reservation_id: str
    lines: tuple[FolioLine, ...]
    balance: Money


@dataclass(frozen=True)
class FetchFolioResponse:
    result: Result
    folio: Folio | None = None  # None when the result is FAIL


@dataclass(frozen=True)
class SearchReservationsRequest:
    """Every given criterion must match; none given: every reservation."""

    guest_name: str | None = None
    arrival_date: dt.date | None = None
    departure_date: dt.date | None = None
    confirmation_number: str | None = None


@dataclass(frozen=True)
class ReservationSummary:
    reservation_id: str
    confirmation_number: str
    guest_name: str
    arrival_date: dt.date
    departure_date: dt.date
    status: ReservationStatus
    room: str | None = None


@dataclass(frozen=True)
class SearchReservationsResponse:
    result: Result
    reservations: tuple[ReservationSummary, ...] = ()


@dataclass(frozen=True)
class PostAccountPaymentRequest:
    """Money received on A/R account ``account_number`` by ``payment_type`` (positive), for
    the invoices ``invoice_ids`` names (in that order; none: the oldest open invoices first)."""

    account_number: str
    payment_type: str
    amount: Money
    reference: str  # our idempotency reference, reused on retry
    invoice_ids: tuple[str, ...] = ()
    business_date: dt.date | None = None
    description: str | None = None


@dataclass(frozen=True)
class InvoiceAllocation:
    invoice_id: str
    amount: Money


@dataclass(frozen=True)
class PostAccountPaymentResponse:
    result: Result
    transaction_number: int | None = None
    allocations: tuple[InvoiceAllocation, ...] = ()
    prepaid: Money | None = None  # what stays on the account as a credit


Request = (
    PostChargeRequest
    | PostPaymentRequest
    | FetchFolioRequest
    | SearchReservationsRequest
    | PostAccountPaymentRequest
)
Response = (
    PostChargeResponse
    | PostPaymentResponse
    | FetchFolioResponse
    | SearchReservationsResponse
    | PostAccountPaymentResponse
)


# Envelopes


def _request(operation: Operation, payload: Any, caller: Caller, stamp: Stamp) -> bytes:
    return build_request(
        SOAP_VERSION, WSA_VERSION, payload, action=operation.action, caller=caller, stamp=stamp
    )


def _response(operation: Operation, payload: Any, relates_to: str | None, stamp: Stamp) -> bytes:
    return build_response(
        SOAP_VERSION,
        WSA_VERSION,
        payload,
        action=operation.response_action,
        relates_to=relates_to,
        stamp=stamp,
    )


def _posting_payload(
    operation: Operation,
    request: PostChargeRequest | PostPaymentRequest,
    code_element: str,
    code: str,
) -> Any:
    element = w.payload(NAMESPACE, operation.request_element)
    w.add(element, "ReservationID", request.reservation_id)
    w.add(element, "FolioWindow", str(request.folio_window))
    w.add(element, code_element, code)
    w.add_money(element, "Amount", request.amount)
    w.add(element, "Reference", request.reference)
    if request.business_date is not None:
        w.add(element, "BusinessDate", w.date_text(request.business_date))
    w.add_optional(element, "Description", request.description)
    return element


def _result_payload(operation: Operation, result: Result) -> Any:
    element = w.payload(NAMESPACE, operation.response_element)
    result_element = w.add(element, "Result", attrs={"resultStatusFlag": result.status.value})
    w.add_optional(result_element, "Text", result.text)
    w.add_optional(result_element, "ErrorCode", result.error_code)
    return element


def _parse_result(node: w.Node) -> Result:
    result = node.child("Result")
    status = result.convert_attr("resultStatusFlag", ResultStatus, "SUCCESS or FAIL")
    return Result(status, result.optional_text("Text"), result.optional_text("ErrorCode"))


def _folio_window(node: w.Node) -> int:
    window = node.optional_integer("FolioWindow")
    return 1 if window is None else window


# PostCharge


def build_post_charge_request(request: PostChargeRequest, *, caller: Caller, stamp: Stamp) -> bytes:
    payload = _posting_payload(
        Operation.POST_CHARGE, request, "TransactionCode", request.transaction_code
    )
    return _request(Operation.POST_CHARGE, payload, caller, stamp)


def _read_post_charge_request(node: w.Node) -> PostChargeRequest:
    return PostChargeRequest(
        reservation_id=node.text("ReservationID"),
        transaction_code=node.text("TransactionCode"),
        amount=node.money("Amount"),
        reference=node.text("Reference"),
        folio_window=_folio_window(node),
        business_date=node.optional_date("BusinessDate"),
        description=node.optional_text("Description"),
    )


def parse_post_charge_request(root: Any) -> PostChargeRequest:
    node = w.open_payload(root, NAMESPACE, Operation.POST_CHARGE.request_element)
    return _read_post_charge_request(node)


def build_post_charge_response(
    response: PostChargeResponse, *, relates_to: str | None, stamp: Stamp
) -> bytes:
    payload = _result_payload(Operation.POST_CHARGE, response.result)
    if response.transaction_number is not None:
        w.add(payload, "TransactionNumber", str(response.transaction_number))
    return _response(Operation.POST_CHARGE, payload, relates_to, stamp)


def parse_post_charge_response(root: Any) -> PostChargeResponse:
    node = w.open_payload(root, NAMESPACE, Operation.POST_CHARGE.response_element)
    return PostChargeResponse(_parse_result(node), node.optional_integer("TransactionNumber"))


# PostPayment


def build_post_payment_request(
    request: PostPaymentRequest, *, caller: Caller, stamp: Stamp
) -> bytes:
    payload = _posting_payload(Operation.POST_PAYMENT, request, "PaymentType", request.payment_type)
    return _request(Operation.POST_PAYMENT, payload, caller, stamp)


def _read_post_payment_request(node: w.Node) -> PostPaymentRequest:
    return PostPaymentRequest(
        reservation_id=node.text("ReservationID"),
        payment_type=node.text("PaymentType"),
        amount=node.money("Amount"),
        reference=node.text("Reference"),
        folio_window=_folio_window(node),
        business_date=node.optional_date("BusinessDate"),
        description=node.optional_text("Description"),
    )


def parse_post_payment_request(root: Any) -> PostPaymentRequest:
    node = w.open_payload(root, NAMESPACE, Operation.POST_PAYMENT.request_element)
    return _read_post_payment_request(node)


def build_post_payment_response(
    response: PostPaymentResponse, *, relates_to: str | None, stamp: Stamp
) -> bytes:
    payload = _result_payload(Operation.POST_PAYMENT, response.result)
    if response.transaction_number is not None:
        w.add(payload, "TransactionNumber", str(response.transaction_number))
    return _response(Operation.POST_PAYMENT, payload, relates_to, stamp)


def parse_post_payment_response(root: Any) -> PostPaymentResponse:
    node = w.open_payload(root, NAMESPACE, Operation.POST_PAYMENT.response_element)
    return PostPaymentResponse(_parse_result(node), node.optional_integer("TransactionNumber"))


# FetchFolio


def build_fetch_folio_request(request: FetchFolioRequest, *, caller: Caller, stamp: Stamp) -> bytes:
    payload = w.payload(NAMESPACE, Operation.FETCH_FOLIO.request_element)
    w.add(payload, "ReservationID", request.reservation_id)
    if request.folio_window is not None:
        w.add(payload, "FolioWindow", str(request.folio_window))
    return _request(Operation.FETCH_FOLIO, payload, caller, stamp)


def _read_fetch_folio_request(node: w.Node) -> FetchFolioRequest:
    return FetchFolioRequest(node.text("ReservationID"), node.optional_integer("FolioWindow"))


def parse_fetch_folio_request(root: Any) -> FetchFolioRequest:
    node = w.open_payload(root, NAMESPACE, Operation.FETCH_FOLIO.request_element)
    return _read_fetch_folio_request(node)


def build_fetch_folio_response(
    response: FetchFolioResponse, *, relates_to: str | None, stamp: Stamp
) -> bytes:
    payload = _result_payload(Operation.FETCH_FOLIO, response.result)
    if response.folio is not None:
        folio = w.add(payload, "Folio")
        w.add(folio, "ReservationID", response.folio.reservation_id)
        for line in response.folio.lines:
            element = w.add(folio, "Line")
            w.add(element, "TransactionNumber", str(line.transaction_number))
            w.add(element, "FolioWindow", str(line.folio_window))
            w.add(element, "Kind", line.kind.value)
            w.add(element, "Code", line.code)
            w.add_money(element, "Amount", line.amount)
            w.add(element, "BusinessDate", w.date_text(line.business_date))
            w.add_optional(element, "Reference", line.reference)
            w.add_optional(element, "Description", line.description)
        w.add_money(folio, "Balance", response.folio.balance)
    return _response(Operation.FETCH_FOLIO, payload, relates_to, stamp)


def parse_fetch_folio_response(root: Any) -> FetchFolioResponse:
    node = w.open_payload(root, NAMESPACE, Operation.FETCH_FOLIO.response_element)
    folio_node = node.optional_child("Folio")
    folio = None
    if folio_node is not None:
        lines = tuple(
            FolioLine(
                transaction_number=line.integer("TransactionNumber"),
                folio_window=line.integer("FolioWindow"),
                kind=line.convert("Kind", LineKind, "CHARGE or PAYMENT"),
                code=line.text("Code"),
                amount=line.money("Amount"),
                business_date=line.date("BusinessDate"),
                reference=line.optional_text("Reference"),
                description=line.optional_text("Description"),
            )
            for line in folio_node.children("Line")
        )
        folio = Folio(folio_node.text("ReservationID"), lines, folio_node.money("Balance"))
    return FetchFolioResponse(_parse_result(node), folio)


# SearchReservations


def build_search_reservations_request(
    request: SearchReservationsRequest, *, caller: Caller, stamp: Stamp
) -> bytes:
    payload = w.payload(NAMESPACE, Operation.SEARCH_RESERVATIONS.request_element)
    w.add_optional(payload, "GuestName", request.guest_name)
    if request.arrival_date is not None:
        w.add(payload, "ArrivalDate", w.date_text(request.arrival_date))
    if request.departure_date is not None:
        w.add(payload, "DepartureDate", w.date_text(request.departure_date))
    w.add_optional(payload, "ConfirmationNumber", request.confirmation_number)
    return _request(Operation.SEARCH_RESERVATIONS, payload, caller, stamp)


def _read_search_reservations_request(node: w.Node) -> SearchReservationsRequest:
    return SearchReservationsRequest(
        guest_name=node.optional_text("GuestName"),
        arrival_date=node.optional_date("ArrivalDate"),
        departure_date=node.optional_date("DepartureDate"),
        confirmation_number=node.optional_text("ConfirmationNumber"),
    )


def parse_search_reservations_request(root: Any) -> SearchReservationsRequest:
    node = w.open_payload(root, NAMESPACE, Operation.SEARCH_RESERVATIONS.request_element)
    return _read_search_reservations_request(node)


def build_search_reservations_response(
    response: SearchReservationsResponse, *, relates_to: str | None, stamp: Stamp
) -> bytes:
    payload = _result_payload(Operation.SEARCH_RESERVATIONS, response.result)
    for reservation in response.reservations:
        element = w.add(payload, "Reservation")
        w.add(element, "ReservationID", reservation.reservation_id)
        w.add(element, "ConfirmationNumber", reservation.confirmation_number)
        w.add(element, "GuestName", reservation.guest_name)
        w.add(element, "ArrivalDate", w.date_text(reservation.arrival_date))
        w.add(element, "DepartureDate", w.date_text(reservation.departure_date))
        w.add(element, "Status", reservation.status.value)
        w.add_optional(element, "Room", reservation.room)
    return _response(Operation.SEARCH_RESERVATIONS, payload, relates_to, stamp)


def parse_search_reservations_response(root: Any) -> SearchReservationsResponse:
    node = w.open_payload(root, NAMESPACE, Operation.SEARCH_RESERVATIONS.response_element)
    reservations = tuple(
        ReservationSummary(
            reservation_id=item.text("ReservationID"),
            confirmation_number=item.text("ConfirmationNumber"),
            guest_name=item.text("GuestName"),
            arrival_date=item.date("ArrivalDate"),
            departure_date=item.date("DepartureDate"),
            status=item.convert("Status", ReservationStatus, "a reservation status"),
            room=item.optional_text("Room"),
        )
        for item in node.children("Reservation")
    )
    return SearchReservationsResponse(_parse_result(node), reservations)


# PostAccountPayment


def build_post_account_payment_request(
    request: PostAccountPaymentRequest, *, caller: Caller, stamp: Stamp
) -> bytes:
    payload = w.payload(NAMESPACE, Operation.POST_ACCOUNT_PAYMENT.request_element)
    w.add(payload, "AccountNumber", request.account_number)
    w.add(payload, "PaymentType", request.payment_type)
    w.add_money(payload, "Amount", request.amount)
    w.add(payload, "Reference", request.reference)
    for invoice_id in request.invoice_ids:
        w.add(payload, "InvoiceID", invoice_id)
    if request.business_date is not None:
        w.add(payload, "BusinessDate", w.date_text(request.business_date))
    w.add_optional(payload, "Description", request.description)
    return _request(Operation.POST_ACCOUNT_PAYMENT, payload, caller, stamp)


def _read_post_account_payment_request(node: w.Node) -> PostAccountPaymentRequest:
    return PostAccountPaymentRequest(
        account_number=node.text("AccountNumber"),
        payment_type=node.text("PaymentType"),
        amount=node.money("Amount"),
        reference=node.text("Reference"),
        invoice_ids=tuple(item.own_text() for item in node.children("InvoiceID")),
        business_date=node.optional_date("BusinessDate"),
        description=node.optional_text("Description"),
    )


def parse_post_account_payment_request(root: Any) -> PostAccountPaymentRequest:
    node = w.open_payload(root, NAMESPACE, Operation.POST_ACCOUNT_PAYMENT.request_element)
    return _read_post_account_payment_request(node)


def build_post_account_payment_response(
    response: PostAccountPaymentResponse, *, relates_to: str | None, stamp: Stamp
) -> bytes:
    payload = _result_payload(Operation.POST_ACCOUNT_PAYMENT, response.result)
    if response.transaction_number is not None:
        w.add(payload, "TransactionNumber", str(response.transaction_number))
    for allocation in response.allocations:
        element = w.add(payload, "Allocation")
        w.add(element, "InvoiceID", allocation.invoice_id)
        w.add_money(element, "Amount", allocation.amount)
    if response.prepaid is not None:
        w.add_money(payload, "Prepaid", response.prepaid)
    return _response(Operation.POST_ACCOUNT_PAYMENT, payload, relates_to, stamp)


def parse_post_account_payment_response(root: Any) -> PostAccountPaymentResponse:
    node = w.open_payload(root, NAMESPACE, Operation.POST_ACCOUNT_PAYMENT.response_element)
    prepaid = node.money("Prepaid") if node.optional_child("Prepaid") is not None else None
    return PostAccountPaymentResponse(
        _parse_result(node),
        node.optional_integer("TransactionNumber"),
        tuple(
            InvoiceAllocation(item.text("InvoiceID"), item.money("Amount"))
            for item in node.children("Allocation")
        ),
        prepaid,
    )


# Dispatch (simulators)

_REQUEST_READERS: Final[Mapping[str, Callable[[w.Node], Request]]] = {
    Operation.POST_CHARGE.request_element: _read_post_charge_request,
    Operation.POST_PAYMENT.request_element: _read_post_payment_request,
    Operation.FETCH_FOLIO.request_element: _read_fetch_folio_request,
    Operation.SEARCH_RESERVATIONS.request_element: _read_search_reservations_request,
    Operation.POST_ACCOUNT_PAYMENT.request_element: _read_post_account_payment_request,
}


def operation_of(request: Request) -> Operation:
    """The operation a request record belongs to."""
    return {
        PostChargeRequest: Operation.POST_CHARGE,
        PostPaymentRequest: Operation.POST_PAYMENT,
        FetchFolioRequest: Operation.FETCH_FOLIO,
        SearchReservationsRequest: Operation.SEARCH_RESERVATIONS,
        PostAccountPaymentRequest: Operation.POST_ACCOUNT_PAYMENT,
    }[type(request)]


def parse_request(root: Any) -> Request:
    """Whichever request ``root`` holds; :class:`MessageError` for anything else."""
    return w.dispatch(root, NAMESPACE, _REQUEST_READERS, PROFILE)
