"""The rezlynx profile's messages: records, envelope builders and parsers.

A Rezlynx-like session API in foliogate's own namespace (``urn:foliogate:rezlynx:1``): SOAP
1.1, no WS-Addressing, no WS-Security header. ``LogIn`` returns a ``SessionID`` that every
other call carries in its body; when the session has expired the PMS answers ExceptionCode
7007 and the client logs in again and retries once. Contract files: :func:`wsdl_path`,
:func:`xsd_path`; body validation: :func:`xsd_validator`. SOAPAction is
``urn:foliogate:rezlynx:1/<Operation>``; body elements are ASMX-style: ``<Op>`` in,
``<Op>Response`` out, whose first child is ``<Op>Result`` (ExceptionCode, ExceptionDescription).

====================  ==================  ===================  ==============================
operation             request record      response record      notes
====================  ==================  ===================  ==============================
LogIn                 LogInRequest        LogInResponse        session_id on success
PostToRoom            PostToRoomRequest   PostToRoomResponse   charge by sales analysis code
AddDeposit            AddDepositRequest   AddDepositResponse   deposit; may precede arrival
AddPayment            AddPaymentRequest   AddPaymentResponse   payment on a resident's folio
GetFolio              GetFolioRequest     GetFolioResponse     transactions and balance
SearchBookings        SearchBookingsReq.  SearchBookingsResp.  by guest name / dates / ref
AddAccountPayment     AddAccountPaym.Req. AddAccountPaym.Resp. payment on an A/R account
====================  ==================  ===================  ==============================

For each operation ``<op>`` (snake_case)::

    build_<op>_request(request[, *, decimals]) -> bytes
    parse_<op>_request(root[, *, decimals]) -> <Op>Request
    build_<op>_response(response[, *, decimals]) -> bytes
    parse_<op>_response(root[, *, decimals]) -> <Op>Response      # raises SoapFault on a fault

``decimals`` (keyword, required) appears exactly where money does: PostToRoom, AddDeposit,
AddPayment and AddAccountPayment requests and the GetFolio and AddAccountPayment responses.
This wire has no currency, as on the API it is modelled on (AddAccountPayment excepted: see
below): amounts are decimal text in the *site* currency (``50.00``), while records hold
integer minor units, so both sides pass the site currency's exponent (2 for GBP) and the
conversion is exact; a value that is not a whole number of minor units is a
:class:`protocols.soap.MessageError`. ``root`` is the Envelope element from
:func:`protocols.soap.parse_xml` or the Body's payload; ``parse_request(root, decimals=...)``
reads whichever request arrived.

Signs: PostToRoom ``gross_total`` is the charge (negative: a negative sale or reversal);
AddDeposit/AddPayment ``amount`` is the money received (negative: a refund). Folio
transactions carry their signed effect on the balance (payments and deposits negated), and
``balance`` is their sum. ``folio_id`` defaults to 1 (the primary guest folio).

AddAccountPayment is money received on an A/R (sales ledger) account ``AccountRef``
(positive): it pays the invoices ``Invoices/InvoiceRef`` names, in that order, else the
account's open invoices oldest first; the rest stays on the account as prepaid. The answer
lists the allocation (``Allocations/Allocation``: InvoiceRef, Amount) and ``Prepaid``. It is
the one request that may carry ``CurrencyCode`` (ISO 4217): a company settling invoices may
pay from abroad, and an amount the PMS would read in the wrong currency must be refused, not
booked; when given it must be the site currency. An unknown account is 8010.

Result codes (``ExceptionCode``; 7007 is the real API's session-expiry code, the others are
foliogate's own choice):

=====  =====================  ===========  ===================================================
code   ExceptionCode          disposition  meaning
=====  =====================  ===========  ===================================================
0      OK                     posted       no error
7001   LOGIN_FAILED           terminal     unknown site or operator, or wrong password
7007   SESSION_EXPIRED        relogin      session expired or unknown: log in, retry once
8001   BOOKING_NOT_FOUND      terminal     no booking has this BookingRef
8002   NOT_IN_HOUSE           deferred     a charge or payment needs a resident booking
8003   UNKNOWN_ANALYSIS_CODE  terminal     SalesAnalysisCode unknown (mapping; text names it)
8004   UNKNOWN_PAYMENT_CODE   terminal     PaymentCode unknown (mapping; text names it)
8005   FOLIO_CLOSED           terminal     the booking has departed or the folio is closed
8006   AMOUNT_NOT_ALLOWED     terminal     zero, a negative amount this code refuses, too big
8007   POSTING_BLOCKED        terminal     postings are blocked on this booking (no-post)
8008   END_OF_DAY             retryable    the end-of-day (night audit) is running
8009   UNKNOWN_FOLIO          terminal     the FolioID does not exist on this booking
8010   ACCOUNT_NOT_FOUND      terminal     no A/R account has this AccountRef
9999   INTERNAL_ERROR         retryable    the PMS failed; nothing was posted
=====  =====================  ===========  ===================================================

The table is :data:`RESULT_CODES`; ``CallResult.disposition`` looks it up (unknown codes are
terminal).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any, Final

from protocols.htng import _wire as w
from protocols.htng.codes import Disposition, ResultCode, disposition_of, result_codes
from protocols.htng.money import from_decimal_text, to_decimal_text
from protocols.soap.envelope import build_envelope
from protocols.soap.schema import XsdValidator
from protocols.soap.versions import SoapVersion

PROFILE: Final = "rezlynx"
NAMESPACE: Final = "urn:foliogate:rezlynx:1"
WSDL_NAMESPACE: Final = "urn:foliogate:rezlynx:wsdl:1"
SOAP_VERSION: Final = SoapVersion.SOAP11
SERVICE_NAME: Final = "RezlynxService"
PORT_NAME: Final = "RezlynxSoap11"
BINDING: Final = f"{{{WSDL_NAMESPACE}}}RezlynxSoap11"

_PACKAGE: Final = "protocols.htng.rezlynx"


def wsdl_path() -> Path:
    """The profile's WSDL (imports :func:`xsd_path` by relative ``schemaLocation``)."""
    return w.package_file(_PACKAGE, "rezlynx.wsdl")


def xsd_path() -> Path:
    return w.package_file(_PACKAGE, "rezlynx.xsd")


@functools.cache
def xsd_validator() -> XsdValidator:
    """The profile's body validator (loaded once)."""
    return XsdValidator(xsd_path())


class Operation(StrEnum):
    LOG_IN = "LogIn"
    POST_TO_ROOM = "PostToRoom"
    ADD_DEPOSIT = "AddDeposit"
    ADD_PAYMENT = "AddPayment"
    GET_FOLIO = "GetFolio"
    SEARCH_BOOKINGS = "SearchBookings"
    ADD_ACCOUNT_PAYMENT = "AddAccountPayment"

    @property
    def action(self) -> str:
        """The SOAPAction HTTP header value (unquoted)."""
        return f"{NAMESPACE}/{self.value}"

    @classmethod
    def from_action(cls, action: str | None) -> Operation | None:
        """The operation whose request ``action`` names (SOAPAction or ``wsa:Action``)."""
        return next((operation for operation in cls if operation.action == action), None)

    @property
    def request_element(self) -> str:
        return self.value

    @property
    def response_element(self) -> str:
        return f"{self.value}Response"

    @property
    def result_element(self) -> str:
        return f"{self.value}Result"


class ExceptionCode(IntEnum):
    """The ExceptionCode values foliogate's simulator answers (see the module table)."""

    OK = 0
    LOGIN_FAILED = 7001
    SESSION_EXPIRED = 7007
    BOOKING_NOT_FOUND = 8001
    NOT_IN_HOUSE = 8002
    UNKNOWN_ANALYSIS_CODE = 8003
    UNKNOWN_PAYMENT_CODE = 8004
    FOLIO_CLOSED = 8005
    AMOUNT_NOT_ALLOWED = 8006
    POSTING_BLOCKED = 8007
    END_OF_DAY = 8008
    UNKNOWN_FOLIO = 8009
    ACCOUNT_NOT_FOUND = 8010
    INTERNAL_ERROR = 9999


#: Every ExceptionCode: meaning and what a gateway does with it.
RESULT_CODES: Final[Mapping[int, ResultCode]] = result_codes(
    [
        (ExceptionCode.OK, Disposition.POSTED, "No error"),
        (ExceptionCode.LOGIN_FAILED, Disposition.TERMINAL, "login failed"),
        (ExceptionCode.SESSION_EXPIRED, Disposition.RELOGIN, "session expired"),
        (ExceptionCode.BOOKING_NOT_FOUND, Disposition.TERMINAL, "booking not found"),
        (ExceptionCode.NOT_IN_HOUSE, Disposition.DEFERRED, "booking not resident"),
        (ExceptionCode.UNKNOWN_ANALYSIS_CODE, Disposition.TERMINAL, "unknown analysis code"),
        (ExceptionCode.UNKNOWN_PAYMENT_CODE, Disposition.TERMINAL, "unknown payment code"),
        (ExceptionCode.FOLIO_CLOSED, Disposition.TERMINAL, "folio closed"),
        (ExceptionCode.AMOUNT_NOT_ALLOWED, Disposition.TERMINAL, "amount not allowed"),
        (ExceptionCode.POSTING_BLOCKED, Disposition.TERMINAL, "postings blocked"),
        (ExceptionCode.END_OF_DAY, Disposition.RETRYABLE, "end of day running"),
        (ExceptionCode.UNKNOWN_FOLIO, Disposition.TERMINAL, "unknown folio"),
        (ExceptionCode.ACCOUNT_NOT_FOUND, Disposition.TERMINAL, "A/R account not found"),
        (ExceptionCode.INTERNAL_ERROR, Disposition.RETRYABLE, "internal error"),
    ]
)


class TransactionType(StrEnum):
    CHARGE = "Charge"
    PAYMENT = "Payment"
    DEPOSIT = "Deposit"


class BookingStatus(StrEnum):
    RESERVED = "Reserved"
    RESIDENT = "Resident"
    DEPARTED = "Departed"
    CANCELLED = "Cancelled"


# Records


@dataclass(frozen=True)
class CallResult:
    """The ``<Op>Result`` block every response starts with."""

    exception_code: int
    exception_description: str

    @classmethod
    def success(cls) -> CallResult:
        return cls(int(ExceptionCode.OK), "No error")

    @classmethod
    def failure(cls, code: ExceptionCode, description: str) -> CallResult:
        return cls(int(code), description)

    @property
    def ok(self) -> bool:
        return self.exception_code == ExceptionCode.OK

    @property
    def disposition(self) -> Disposition:
        return disposition_of(RESULT_CODES, self.exception_code)


@dataclass(frozen=True)
class LogInRequest:
    site_id: str
    operator_code: str  # the interface user
    password: str = field(repr=False)
    interface_id: str | None = None


@dataclass(frozen=True)
class LogInResponse:
    result: CallResult
    session_id: str | None = None  # present when the result is OK


@dataclass(frozen=True)
class PostToRoomRequest:
    """A charge on a booking's folio by sales analysis code."""

    session_id: str
    booking_ref: str
    sales_analysis_code: str
    gross_total: int  # minor units of the site currency; negative: negative sale/reversal
    reference: str  # our idempotency reference, reused on retry
    folio_id: int = 1
    description: str | None = None


@dataclass(frozen=True)
class PostToRoomResponse:
    result: CallResult
    transaction_id: int | None = None


@dataclass(frozen=True)
class AddDepositRequest:
    """A deposit received on a booking (before arrival too)."""

    session_id: str
    booking_ref: str
    payment_code: str
    amount: int  # minor units of the site currency received; negative: a refund
    reference: str
    description: str | None = None


@dataclass(frozen=True)
class AddDepositResponse:
    result: CallResult
    transaction_id: int | None = None


@dataclass(frozen=True)
class AddPaymentRequest:
    """A payment received on a resident booking's folio."""

    session_id: str
    booking_ref: str
    payment_code: str
    amount: int  # minor units of the site currency received; negative: a refund
    reference: str
    folio_id: int = 1
    description: str | None = None


@dataclass(frozen=True)
class AddPaymentResponse:
    result: CallResult
    transaction_id: int | None = None


@dataclass(frozen=True)
class GetFolioRequest:
    session_id: str
    booking_ref: str
    folio_id: int | None = None  # None: every folio of the booking


@dataclass(frozen=True)
class FolioTransaction:
    transaction_id: int
    folio_id: int
    type: TransactionType
    code: str  # sales analysis code (Charge) or payment code (Payment, Deposit)
    gross_total: int  # minor units; signed effect on the balance (payments negative)
    date: dt.date
    reference: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Folio:
    booking_ref: str
    transactions: tuple[FolioTransaction, ...]
    balance: int  # minor units


@dataclass(frozen=True)
class GetFolioResponse:
    result: CallResult
    folio: Folio | None = None


@dataclass(frozen=True)
class SearchBookingsRequest:
    """Every given criterion must match; none given: every booking."""

    session_id: str
    guest_name: str | None = None
    arrival_date: dt.date | None = None
    departure_date: dt.date | None = None
    booking_ref: str | None = None


@dataclass(frozen=True)
class BookingSummary:
    booking_ref: str
    guest_name: str
    arrival_date: dt.date
    departure_date: dt.date
    status: BookingStatus
    room_id: str | None = None


@dataclass(frozen=True)
class SearchBookingsResponse:
    result: CallResult
    bookings: tuple[BookingSummary, ...] = ()


@dataclass(frozen=True)
class AddAccountPaymentRequest:
    """Money received on A/R account ``account_ref`` by ``payment_code`` (positive), for the
    invoices ``invoice_refs`` names (in that order; none: the oldest open invoices first)."""

    session_id: str
    account_ref: str
    payment_code: str
    amount: int  # minor units of the site currency received; must be positive
    reference: str  # our idempotency reference, reused on retry
    invoice_refs: tuple[str, ...] = ()
    currency: str | None = None  # ISO 4217; when given, the site currency
    description: str | None = None


@dataclass(frozen=True)
class InvoiceAllocation:
    """What a payment paid on one invoice (minor units of the site currency)."""

    invoice_ref: str
    amount: int


@dataclass(frozen=True)
class AddAccountPaymentResponse:
    result: CallResult
    transaction_id: int | None = None
    allocations: tuple[InvoiceAllocation, ...] = ()
    prepaid: int | None = None  # what stays on the account as a credit (minor units)


Request = (
    LogInRequest
    | PostToRoomRequest
    | AddDepositRequest
    | AddPaymentRequest
    | GetFolioRequest
    | SearchBookingsRequest
    | AddAccountPaymentRequest
)
Response = (
    LogInResponse
    | PostToRoomResponse
    | AddDepositResponse
    | AddPaymentResponse
    | GetFolioResponse
    | SearchBookingsResponse
    | AddAccountPaymentResponse
)


# Helpers


def _envelope(payload: Any) -> bytes:
    return build_envelope(SOAP_VERSION, payload)


def _read_money(node: w.Node, name: str, decimals: int) -> int:
    return node.convert(
        name,
        lambda text: from_decimal_text(text, decimals),
        f"an amount with at most {decimals} decimal places",
    )


def _result_payload(operation: Operation, result: CallResult) -> Any:
    element = w.payload(NAMESPACE, operation.response_element)
    block = w.add(element, operation.result_element)
    w.add(block, "ExceptionCode", str(result.exception_code))
    w.add(block, "ExceptionDescription", result.exception_description)
    return element


def _read_result(node: w.Node, operation: Operation) -> CallResult:
    block = node.child(operation.result_element)
    return CallResult(
        block.integer("ExceptionCode"), block.optional_text("ExceptionDescription") or ""
    )


def _transaction_response(
    operation: Operation, result: CallResult, transaction_id: int | None
) -> bytes:
    payload = _result_payload(operation, result)
    if transaction_id is not None:
        w.add(payload, "TransactionID", str(transaction_id))
    return _envelope(payload)


def _read_transaction_response(root: Any, operation: Operation) -> tuple[CallResult, int | None]:
    node = w.open_payload(root, NAMESPACE, operation.response_element)
    return _read_result(node, operation), node.optional_integer("TransactionID")


def _posting_payload(
    operation: Operation,
    request: PostToRoomRequest | AddDepositRequest | AddPaymentRequest,
    code: tuple[str, str],
    amount: tuple[str, int],
    decimals: int,
) -> Any:
    """A charge, deposit or payment body; ``code`` and ``amount`` are (element name, value)."""
    payload = w.payload(NAMESPACE, operation.request_element)
    w.add(payload, "SessionID", request.session_id)
    w.add(payload, "BookingRef", request.booking_ref)
    if not isinstance(request, AddDepositRequest):  # a deposit has no FolioID
        w.add(payload, "FolioID", str(request.folio_id))
    w.add(payload, *code)
    w.add_optional(payload, "Description", request.description)
    w.add(payload, amount[0], to_decimal_text(amount[1], decimals))
    w.add(payload, "Reference", request.reference)
    return payload


def _folio_id(node: w.Node) -> int:
    folio_id = node.optional_integer("FolioID")
    return 1 if folio_id is None else folio_id


# LogIn


def build_log_in_request(request: LogInRequest) -> bytes:
    payload = w.payload(NAMESPACE, Operation.LOG_IN.request_element)
    w.add(payload, "SiteID", request.site_id)
    w.add_optional(payload, "InterfaceID", request.interface_id)
    w.add(payload, "OperatorCode", request.operator_code)
    w.add(payload, "Password", request.password)
    return _envelope(payload)


def _read_log_in_request(node: w.Node) -> LogInRequest:
    return LogInRequest(
        site_id=node.text("SiteID"),
        operator_code=node.text("OperatorCode"),
        password=node.child("Password").raw_text(),
        interface_id=node.optional_text("InterfaceID"),
    )


def parse_log_in_request(root: Any) -> LogInRequest:
    return _read_log_in_request(w.open_payload(root, NAMESPACE, Operation.LOG_IN.request_element))


def build_log_in_response(response: LogInResponse) -> bytes:
    payload = _result_payload(Operation.LOG_IN, response.result)
    w.add_optional(payload, "SessionID", response.session_id)
    return _envelope(payload)


def parse_log_in_response(root: Any) -> LogInResponse:
    node = w.open_payload(root, NAMESPACE, Operation.LOG_IN.response_element)
    return LogInResponse(_read_result(node, Operation.LOG_IN), node.optional_text("SessionID"))


# PostToRoom


def build_post_to_room_request(request: PostToRoomRequest, *, decimals: int) -> bytes:
    code = ("SalesAnalysisCode", request.sales_analysis_code)
    amount = ("GrossTotal", request.gross_total)
    return _envelope(_posting_payload(Operation.POST_TO_ROOM, request, code, amount, decimals))


def _read_post_to_room_request(node: w.Node, decimals: int) -> PostToRoomRequest:
    return PostToRoomRequest(
        session_id=node.text("SessionID"),
        booking_ref=node.text("BookingRef"),
        sales_analysis_code=node.text("SalesAnalysisCode"),
        gross_total=_read_money(node, "GrossTotal", decimals),
        reference=node.text("Reference"),
        folio_id=_folio_id(node),
        description=node.optional_text("Description"),
    )


def parse_post_to_room_request(root: Any, *, decimals: int) -> PostToRoomRequest:
    node = w.open_payload(root, NAMESPACE, Operation.POST_TO_ROOM.request_element)
    return _read_post_to_room_request(node, decimals)


def build_post_to_room_response(response: PostToRoomResponse) -> bytes:
    return _transaction_response(Operation.POST_TO_ROOM, response.result, response.transaction_id)


def parse_post_to_room_response(root: Any) -> PostToRoomResponse:
    return PostToRoomResponse(*_read_transaction_response(root, Operation.POST_TO_ROOM))


# AddDeposit


def build_add_deposit_request(request: AddDepositRequest, *, decimals: int) -> bytes:
    code, amount = ("PaymentCode", request.payment_code), ("Amount", request.amount)
    return _envelope(_posting_payload(Operation.ADD_DEPOSIT, request, code, amount, decimals))


def _read_add_deposit_request(node: w.Node, decimals: int) -> AddDepositRequest:
    return AddDepositRequest(
        session_id=node.text("SessionID"),
        booking_ref=node.text("BookingRef"),
        payment_code=node.text("PaymentCode"),
        amount=_read_money(node, "Amount", decimals),
        reference=node.text("Reference"),
        description=node.optional_text("Description"),
    )


def parse_add_deposit_request(root: Any, *, decimals: int) -> AddDepositRequest:
    node = w.open_payload(root, NAMESPACE, Operation.ADD_DEPOSIT.request_element)
    return _read_add_deposit_request(node, decimals)


def build_add_deposit_response(response: AddDepositResponse) -> bytes:
    return _transaction_response(Operation.ADD_DEPOSIT, response.result, response.transaction_id)


def parse_add_deposit_response(root: Any) -> AddDepositResponse:
    return AddDepositResponse(*_read_transaction_response(root, Operation.ADD_DEPOSIT))


# AddPayment


def build_add_payment_request(request: AddPaymentRequest, *, decimals: int) -> bytes:
    code, amount = ("PaymentCode", request.payment_code), ("Amount", request.amount)
    return _envelope(_posting_payload(Operation.ADD_PAYMENT, request, code, amount, decimals))


def _read_add_payment_request(node: w.Node, decimals: int) -> AddPaymentRequest:
    return AddPaymentRequest(
        session_id=node.text("SessionID"),
        booking_ref=node.text("BookingRef"),
        payment_code=node.text("PaymentCode"),
        amount=_read_money(node, "Amount", decimals),
        reference=node.text("Reference"),
        folio_id=_folio_id(node),
        description=node.optional_text("Description"),
    )


def parse_add_payment_request(root: Any, *, decimals: int) -> AddPaymentRequest:
    node = w.open_payload(root, NAMESPACE, Operation.ADD_PAYMENT.request_element)
    return _read_add_payment_request(node, decimals)


def build_add_payment_response(response: AddPaymentResponse) -> bytes:
    return _transaction_response(Operation.ADD_PAYMENT, response.result, response.transaction_id)


def parse_add_payment_response(root: Any) -> AddPaymentResponse:
    return AddPaymentResponse(*_read_transaction_response(root, Operation.ADD_PAYMENT))


# GetFolio


def build_get_folio_request(request: GetFolioRequest) -> bytes:
    payload = w.payload(NAMESPACE, Operation.GET_FOLIO.request_element)
    w.add(payload, "SessionID", request.session_id)
    w.add(payload, "BookingRef", request.booking_ref)
    if request.folio_id is not None:
        w.add(payload, "FolioID", str(request.folio_id))
    return _envelope(payload)


def _read_get_folio_request(node: w.Node) -> GetFolioRequest:
    return GetFolioRequest(
        node.text("SessionID"), node.text("BookingRef"), node.optional_integer("FolioID")
    )


def parse_get_folio_request(root: Any) -> GetFolioRequest:
    node = w.open_payload(root, NAMESPACE, Operation.GET_FOLIO.request_element)
    return _read_get_folio_request(node)


def build_get_folio_response(response: GetFolioResponse, *, decimals: int) -> bytes:
    payload = _result_payload(Operation.GET_FOLIO, response.result)
    if response.folio is not None:
        folio = w.add(payload, "Folio")
        w.add(folio, "BookingRef", response.folio.booking_ref)
        transactions = w.add(folio, "Transactions")
        for item in response.folio.transactions:
            element = w.add(transactions, "Transaction")
            w.add(element, "TransactionID", str(item.transaction_id))
            w.add(element, "FolioID", str(item.folio_id))
            w.add(element, "Type", item.type.value)
            w.add(element, "Code", item.code)
            w.add_optional(element, "Description", item.description)
            w.add(element, "GrossTotal", to_decimal_text(item.gross_total, decimals))
            w.add(element, "Date", w.date_text(item.date))
            w.add_optional(element, "Reference", item.reference)
        w.add(folio, "Balance", to_decimal_text(response.folio.balance, decimals))
    return _envelope(payload)


def parse_get_folio_response(root: Any, *, decimals: int) -> GetFolioResponse:
    node = w.open_payload(root, NAMESPACE, Operation.GET_FOLIO.response_element)
    folio_node = node.optional_child("Folio")
    folio = None
    if folio_node is not None:
        transactions = tuple(
            FolioTransaction(
                transaction_id=item.integer("TransactionID"),
                folio_id=item.integer("FolioID"),
                type=item.convert("Type", TransactionType, "Charge, Payment or Deposit"),
                code=item.text("Code"),
                gross_total=_read_money(item, "GrossTotal", decimals),
                date=item.date("Date"),
                reference=item.optional_text("Reference"),
                description=item.optional_text("Description"),
            )
            for item in folio_node.child("Transactions").children("Transaction")
        )
        folio = Folio(
            folio_node.text("BookingRef"),
            transactions,
            _read_money(folio_node, "Balance", decimals),
        )
    return GetFolioResponse(_read_result(node, Operation.GET_FOLIO), folio)


# SearchBookings


def build_search_bookings_request(request: SearchBookingsRequest) -> bytes:
    payload = w.payload(NAMESPACE, Operation.SEARCH_BOOKINGS.request_element)
    w.add(payload, "SessionID", request.session_id)
    w.add_optional(payload, "GuestName", request.guest_name)
    if request.arrival_date is not None:
        w.add(payload, "ArrivalDate", w.date_text(request.arrival_date))
    if request.departure_date is not None:
        w.add(payload, "DepartureDate", w.date_text(request.departure_date))
    w.add_optional(payload, "BookingRef", request.booking_ref)
    return _envelope(payload)


def _read_search_bookings_request(node: w.Node) -> SearchBookingsRequest:
    return SearchBookingsRequest(
        session_id=node.text("SessionID"),
        guest_name=node.optional_text("GuestName"),
        arrival_date=node.optional_date("ArrivalDate"),
        departure_date=node.optional_date("DepartureDate"),
        booking_ref=node.optional_text("BookingRef"),
    )


def parse_search_bookings_request(root: Any) -> SearchBookingsRequest:
    node = w.open_payload(root, NAMESPACE, Operation.SEARCH_BOOKINGS.request_element)
    return _read_search_bookings_request(node)


def build_search_bookings_response(response: SearchBookingsResponse) -> bytes:
    payload = _result_payload(Operation.SEARCH_BOOKINGS, response.result)
    if response.result.ok:
        bookings = w.add(payload, "Bookings")
        for booking in response.bookings:
            element = w.add(bookings, "Booking")
            w.add(element, "BookingRef", booking.booking_ref)
            w.add(element, "GuestName", booking.guest_name)
            w.add(element, "ArrivalDate", w.date_text(booking.arrival_date))
            w.add(element, "DepartureDate", w.date_text(booking.departure_date))
            w.add(element, "Status", booking.status.value)
            w.add_optional(element, "RoomID", booking.room_id)
    return _envelope(payload)


def parse_search_bookings_response(root: Any) -> SearchBookingsResponse:
    node = w.open_payload(root, NAMESPACE, Operation.SEARCH_BOOKINGS.response_element)
    bookings_node = node.optional_child("Bookings")
    items = bookings_node.children("Booking") if bookings_node is not None else []
    bookings = tuple(
        BookingSummary(
            booking_ref=item.text("BookingRef"),
            guest_name=item.text("GuestName"),
            arrival_date=item.date("ArrivalDate"),
            departure_date=item.date("DepartureDate"),
            status=item.convert("Status", BookingStatus, "a booking status"),
            room_id=item.optional_text("RoomID"),
        )
        for item in items
    )
    return SearchBookingsResponse(_read_result(node, Operation.SEARCH_BOOKINGS), bookings)


# AddAccountPayment


def build_add_account_payment_request(request: AddAccountPaymentRequest, *, decimals: int) -> bytes:
    payload = w.payload(NAMESPACE, Operation.ADD_ACCOUNT_PAYMENT.request_element)
    w.add(payload, "SessionID", request.session_id)
    w.add(payload, "AccountRef", request.account_ref)
    w.add(payload, "PaymentCode", request.payment_code)
    w.add_optional(payload, "Description", request.description)
    w.add(payload, "Amount", to_decimal_text(request.amount, decimals))
    w.add_optional(payload, "CurrencyCode", request.currency)
    w.add(payload, "Reference", request.reference)
    if request.invoice_refs:
        invoices = w.add(payload, "Invoices")
        for invoice_ref in request.invoice_refs:
            w.add(invoices, "InvoiceRef", invoice_ref)
    return _envelope(payload)


def _read_add_account_payment_request(node: w.Node, decimals: int) -> AddAccountPaymentRequest:
    invoices = node.optional_child("Invoices")
    return AddAccountPaymentRequest(
        session_id=node.text("SessionID"),
        account_ref=node.text("AccountRef"),
        payment_code=node.text("PaymentCode"),
        amount=_read_money(node, "Amount", decimals),
        reference=node.text("Reference"),
        invoice_refs=tuple(
            item.own_text()
            for item in (invoices.children("InvoiceRef") if invoices is not None else ())
        ),
        currency=node.optional_text("CurrencyCode"),
        description=node.optional_text("Description"),
    )


def parse_add_account_payment_request(root: Any, *, decimals: int) -> AddAccountPaymentRequest:
    node = w.open_payload(root, NAMESPACE, Operation.ADD_ACCOUNT_PAYMENT.request_element)
    return _read_add_account_payment_request(node, decimals)


def build_add_account_payment_response(
    response: AddAccountPaymentResponse, *, decimals: int
) -> bytes:
    payload = _result_payload(Operation.ADD_ACCOUNT_PAYMENT, response.result)
    if response.transaction_id is not None:
        w.add(payload, "TransactionID", str(response.transaction_id))
    if response.result.ok:
        allocations = w.add(payload, "Allocations")
        for allocation in response.allocations:
            element = w.add(allocations, "Allocation")
            w.add(element, "InvoiceRef", allocation.invoice_ref)
            w.add(element, "Amount", to_decimal_text(allocation.amount, decimals))
    if response.prepaid is not None:
        w.add(payload, "Prepaid", to_decimal_text(response.prepaid, decimals))
    return _envelope(payload)


def parse_add_account_payment_response(root: Any, *, decimals: int) -> AddAccountPaymentResponse:
    node = w.open_payload(root, NAMESPACE, Operation.ADD_ACCOUNT_PAYMENT.response_element)
    allocations_node = node.optional_child("Allocations")
    items = allocations_node.children("Allocation") if allocations_node is not None else []
    prepaid = (
        _read_money(node, "Prepaid", decimals)
        if node.optional_child("Prepaid") is not None
        else None
    )
    return AddAccountPaymentResponse(
        _read_result(node, Operation.ADD_ACCOUNT_PAYMENT),
        node.optional_integer("TransactionID"),
        tuple(
            InvoiceAllocation(item.text("InvoiceRef"), _read_money(item, "Amount", decimals))
            for item in items
        ),
        prepaid,
    )


# Dispatch (simulators)


def operation_of(request: Request) -> Operation:
    """The operation a request record belongs to."""
    return {
        LogInRequest: Operation.LOG_IN,
        PostToRoomRequest: Operation.POST_TO_ROOM,
        AddDepositRequest: Operation.ADD_DEPOSIT,
        AddPaymentRequest: Operation.ADD_PAYMENT,
        GetFolioRequest: Operation.GET_FOLIO,
        SearchBookingsRequest: Operation.SEARCH_BOOKINGS,
        AddAccountPaymentRequest: Operation.ADD_ACCOUNT_PAYMENT,
    }[type(request)]


def parse_request(root: Any, *, decimals: int) -> Request:
    """Whichever request ``root`` holds; :class:`protocols.soap.MessageError` otherwise."""
    readers: Mapping[str, Callable[[w.Node], Request]] = {
        Operation.LOG_IN.request_element: _read_log_in_request,
        Operation.POST_TO_ROOM.request_element: lambda n: _read_post_to_room_request(n, decimals),
        Operation.ADD_DEPOSIT.request_element: lambda n: _read_add_deposit_request(n, decimals),
        Operation.ADD_PAYMENT.request_element: lambda n: _read_add_payment_request(n, decimals),
        Operation.GET_FOLIO.request_element: _read_get_folio_request,
        Operation.SEARCH_BOOKINGS.request_element: _read_search_bookings_request,
        Operation.ADD_ACCOUNT_PAYMENT.request_element: (
            lambda n: _read_add_account_payment_request(n, decimals)
        ),
    }
    return w.dispatch(root, NAMESPACE, readers, PROFILE)
