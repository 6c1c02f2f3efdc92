"""The rezlynx PMS simulator: a session-based SOAP 1.1 resource posting to the shared ledger.

No WS-Security header: ``LogIn`` checks the operator and password (wrong ones: a SOAP fault
``FailedAuthentication``, as on every profile: security errors are faults) and the SiteID
when the hotel file's ``[soap] site_id`` is set (another site: in-band 7001 LOGIN_FAILED).
It answers a ``SessionID`` that every later call carries; a session unknown, idle for longer
than ``[soap] session_timeout_seconds`` or expired by the ``expire_sessions`` knob is answered
7007 SESSION_EXPIRED, and the client logs in again. The pipeline, faults and knobs are
:mod:`simulators.soap_common`. Operations:

- ``PostToRoom``: one charge line, the sales analysis code and the signed gross total (a
  negative total is a negative sale, e.g. ``SPA_DEPOSIT -50.00`` when a deposit is redeemed).
- ``AddDeposit``: one payment line (payment code, booked as ``-amount``); may precede arrival.
- ``AddPayment``: the same on folio ``FolioID`` (1, the only one) of a *resident* booking, as
  the profile documents (8002 otherwise): money received before arrival is a deposit, and
  goes through AddDeposit. ``PostToRoom`` of a deposit-group code (the spa deposit) may
  precede arrival; revenue needs a resident booking.
- ``GetFolio``: the transactions (id = the ledger's line number; type ``Deposit`` for lines
  booked by AddDeposit, ``Payment`` for other payment lines, ``Charge`` for charges) and the
  balance.
- ``SearchBookings``: guest name prefix (any case), arrival and departure dates, booking ref.
- ``AddAccountPayment``: a payment on an A/R account of the hotel
  (:meth:`simulators.ledger.Hotel.post_to_account`), allocated to the invoices it names (in
  that order), else to the open invoices oldest first, the remainder kept as prepaid; the
  answer lists the allocation and the prepaid rest. An unknown account is 8010
  ACCOUNT_NOT_FOUND, a payment code the hotel does not know 8004, an amount that is not
  positive or a ``CurrencyCode`` other than the hotel's 8006 AMOUNT_NOT_ALLOWED (the text
  says which), a running night audit 8008.

Amounts are decimal text in the hotel's currency. ``BookingRef`` is the ledger's confirmation
number. A ``Reference`` already booked by the same operation is answered with the original
result. Errors map to :class:`protocols.htng.rezlynx.ExceptionCode` (:data:`EXCEPTION_CODES`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

from protocols.htng import rezlynx as rz
from protocols.soap import Envelope, Fault, FaultCode
from simulators.ledger import CodedLine, CodeKind, ReservationState, Status
from simulators.soap_common import (
    Problem,
    Refused,
    Rejection,
    SoapAnswer,
    SoapPmsResource,
    clip,
    log,
)

#: Problem -> the ExceptionCode the simulator answers.
EXCEPTION_CODES: Final[Mapping[Problem, rz.ExceptionCode]] = {
    Problem.NIGHT_AUDIT: rz.ExceptionCode.END_OF_DAY,
    Problem.UNKNOWN_RESERVATION: rz.ExceptionCode.BOOKING_NOT_FOUND,
    Problem.FOLIO_CLOSED: rz.ExceptionCode.FOLIO_CLOSED,
    Problem.NO_POST: rz.ExceptionCode.POSTING_BLOCKED,
    Problem.UNKNOWN_TRANSACTION_CODE: rz.ExceptionCode.UNKNOWN_ANALYSIS_CODE,
    Problem.UNKNOWN_PAYMENT_TYPE: rz.ExceptionCode.UNKNOWN_PAYMENT_CODE,
    Problem.AMOUNT_NOT_ALLOWED: rz.ExceptionCode.AMOUNT_NOT_ALLOWED,
    Problem.NOT_IN_HOUSE: rz.ExceptionCode.NOT_IN_HOUSE,
    # Only AddAccountPayment names a currency; the profile has no code of its own for it.
    Problem.CURRENCY_MISMATCH: rz.ExceptionCode.AMOUNT_NOT_ALLOWED,
    Problem.INVALID_FOLIO_WINDOW: rz.ExceptionCode.UNKNOWN_FOLIO,
    Problem.UNKNOWN_HOTEL: rz.ExceptionCode.LOGIN_FAILED,
    Problem.SYSTEM_ERROR: rz.ExceptionCode.INTERNAL_ERROR,
}

_STATUS: Final = {
    ReservationState.RESERVED: rz.BookingStatus.RESERVED,
    ReservationState.IN_HOUSE: rz.BookingStatus.RESIDENT,
    ReservationState.CHECKED_OUT: rz.BookingStatus.DEPARTED,
}

_POSTINGS: Final = frozenset(
    {
        rz.Operation.POST_TO_ROOM,
        rz.Operation.ADD_DEPOSIT,
        rz.Operation.ADD_PAYMENT,
        rz.Operation.ADD_ACCOUNT_PAYMENT,
    }
)

#: The ledger's refusal of an A/R payment -> the ExceptionCode the simulator answers.
_ACCOUNT_REFUSALS: Final = {
    Status.NA: rz.ExceptionCode.END_OF_DAY,
    Status.NG: rz.ExceptionCode.ACCOUNT_NOT_FOUND,
    Status.UR: rz.ExceptionCode.UNKNOWN_PAYMENT_CODE,
}


def _fail(rejection: Rejection) -> rz.CallResult:
    return rz.CallResult.failure(EXCEPTION_CODES[rejection.problem], clip(rejection.text))


def _payment_line(request: rz.AddDepositRequest | rz.AddPaymentRequest) -> CodedLine:
    return CodedLine(CodeKind.PAYMENT_TYPE, request.payment_code, request.amount, request.reference)


def new_session_id() -> str:
    """A fresh, unguessable session id (the runtime default generator)."""
    return secrets.token_hex(16)


class Sessions:
    """Open sessions: issued at LogIn, expired after ``timeout_seconds`` idle or all at once."""

    def __init__(
        self,
        clock: Any,
        timeout_seconds: float,
        new_id: Callable[[], str] = new_session_id,
    ) -> None:
        self.clock = clock
        self.timeout_seconds = timeout_seconds
        self.new_id = new_id
        self._last_used: dict[str, float] = {}

    def open(self) -> str:
        session_id = self.new_id()
        self._last_used[session_id] = self.clock.seconds()
        return session_id

    def use(self, session_id: str) -> bool:
        """True if the session is open (and counts as used now); an idle one expires here."""
        last = self._last_used.get(session_id)
        now = self.clock.seconds()
        if last is None:
            return False
        if now - last > self.timeout_seconds:
            del self._last_used[session_id]
            return False
        self._last_used[session_id] = now
        return True

    def expire_all(self) -> int:
        """Expire every open session; returns how many there were."""
        count = len(self._last_used)
        self._last_used.clear()
        return count

    def __len__(self) -> int:
        return len(self._last_used)


class RezlynxResource(SoapPmsResource):
    """``POST`` rezlynx requests; ``GET ?wsdl`` for the WSDL."""

    messages = rz
    profile = rz.PROFILE
    soap_version = rz.SOAP_VERSION
    namespace = rz.NAMESPACE
    service_name = rz.SERVICE_NAME
    uses_ws_security = False
    request_elements = {op.request_element: op.value for op in rz.Operation}
    posting_operations = frozenset(op.value for op in _POSTINGS)

    def __init__(
        self, *args: Any, new_session_id: Callable[[], str] = new_session_id, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sessions = Sessions(self.clock, self.access.session_timeout_seconds, new_session_id)
        self._deposit_lines: set[int] = set()  # line numbers booked by AddDeposit

    def on_reset(self) -> None:
        self._deposit_lines.clear()

    def handle(self, envelope: Envelope, operation: str) -> SoapAnswer:
        if self.knobs.take_session_expiry():
            expired = self.sessions.expire_all()
            log.info("rezlynx: fault expire_sessions: {count} session(s) expired", count=expired)
        request = rz.parse_request(envelope.payload, decimals=self.decimals)
        posting = operation in self.posting_operations
        if isinstance(request, rz.LogInRequest):
            return SoapAnswer(rz.build_log_in_response(self._log_in(request)))
        if not self.sessions.use(request.session_id):
            expired_result = rz.CallResult.failure(
                rz.ExceptionCode.SESSION_EXPIRED,
                "session expired or unknown; log in again",
            )
            return SoapAnswer(
                self._failure(rz.Operation(operation), expired_result), posting=posting
            )
        body: bytes
        match request:
            case rz.PostToRoomRequest():
                charge = CodedLine(
                    CodeKind.CHARGE,
                    request.sales_analysis_code,
                    request.gross_total,
                    request.reference,
                )
                posted = self._post(
                    rz.Operation.POST_TO_ROOM, request.booking_ref, charge, request.folio_id
                )
                body = rz.build_post_to_room_response(rz.PostToRoomResponse(*posted))
            case rz.AddDepositRequest():
                posted = self._post(
                    rz.Operation.ADD_DEPOSIT, request.booking_ref, _payment_line(request), 1
                )
                body = rz.build_add_deposit_response(rz.AddDepositResponse(*posted))
            case rz.AddPaymentRequest():
                posted = self._post(
                    rz.Operation.ADD_PAYMENT,
                    request.booking_ref,
                    _payment_line(request),
                    request.folio_id,
                )
                body = rz.build_add_payment_response(rz.AddPaymentResponse(*posted))
            case rz.GetFolioRequest():
                body = rz.build_get_folio_response(self._get_folio(request), decimals=self.decimals)
            case rz.SearchBookingsRequest():
                body = rz.build_search_bookings_response(self._search(request))
            case rz.AddAccountPaymentRequest():
                body = rz.build_add_account_payment_response(
                    self._add_account_payment(request), decimals=self.decimals
                )
        return SoapAnswer(body, posting=posting)

    def _log_in(self, request: rz.LogInRequest) -> rz.LogInResponse:
        expected = self.access.credentials
        supplied = (request.operator_code, request.password)
        if not _same(supplied, (expected.username, expected.password)):
            raise Refused(
                Fault(
                    FaultCode.SENDER,
                    "authentication failed: unknown operator or wrong password",
                    "FailedAuthentication",
                )
            )
        if self.access.site_id is not None and request.site_id != self.access.site_id:
            return rz.LogInResponse(
                rz.CallResult.failure(
                    rz.ExceptionCode.LOGIN_FAILED, clip(f"unknown SiteID {request.site_id!r}")
                )
            )
        return rz.LogInResponse(rz.CallResult.success(), self.sessions.open())

    def _failure(self, operation: rz.Operation, result: rz.CallResult) -> bytes:
        match operation:
            case rz.Operation.POST_TO_ROOM:
                return rz.build_post_to_room_response(rz.PostToRoomResponse(result))
            case rz.Operation.ADD_DEPOSIT:
                return rz.build_add_deposit_response(rz.AddDepositResponse(result))
            case rz.Operation.ADD_PAYMENT:
                return rz.build_add_payment_response(rz.AddPaymentResponse(result))
            case rz.Operation.GET_FOLIO:
                return rz.build_get_folio_response(
                    rz.GetFolioResponse(result), decimals=self.decimals
                )
            case rz.Operation.SEARCH_BOOKINGS:
                return rz.build_search_bookings_response(rz.SearchBookingsResponse(result))
            case rz.Operation.ADD_ACCOUNT_PAYMENT:
                return rz.build_add_account_payment_response(
                    rz.AddAccountPaymentResponse(result), decimals=self.decimals
                )
            case _:
                return rz.build_log_in_response(rz.LogInResponse(result))

    def _post(
        self, operation: rz.Operation, booking_ref: str, line: CodedLine, folio_id: int
    ) -> tuple[rz.CallResult, int | None]:
        """(result, transaction id) of a charge, deposit or payment; replays a known reference."""
        remembered = self.replayed(operation.value, line.reference)
        if remembered is not None:
            return remembered  # type: ignore[no-any-return]
        rejection = self.take_forced_rejection()
        if rejection is None and folio_id != 1:
            rejection = Rejection(
                Problem.INVALID_FOLIO_WINDOW,
                f"folio {folio_id} does not exist on booking {booking_ref}; it has folio 1",
            )
        if rejection is None:
            source = f"{self.profile} {operation.value} {line.reference}"
            booked = self.book(
                booking_ref,
                (line,),
                source,
                needs_in_house=operation is rz.Operation.ADD_PAYMENT,
            )
            if isinstance(booked, Rejection):
                rejection = booked
            else:
                number = booked.lines[0].line_number
                if operation is rz.Operation.ADD_DEPOSIT:
                    self._deposit_lines.add(number)
                answer = (rz.CallResult.success(), number)
                self.remember(operation.value, line.reference, answer)
                return answer
        return _fail(rejection), None

    def _add_account_payment(
        self, request: rz.AddAccountPaymentRequest
    ) -> rz.AddAccountPaymentResponse:
        """Book a payment on an A/R account and answer its allocation; replays a known
        reference with the original answer."""
        operation = rz.Operation.ADD_ACCOUNT_PAYMENT.value
        remembered = self.replayed(operation, request.reference)
        if remembered is not None:
            return remembered  # type: ignore[no-any-return]
        rejection = self.take_forced_rejection()
        if rejection is None and request.currency not in (None, self.currency):
            rejection = Rejection(
                Problem.CURRENCY_MISMATCH,
                f"currency {request.currency} is not the site currency {self.currency}",
            )
        rejection = rejection or self.account_amount_rejection(request.amount)
        if rejection is not None:
            return rz.AddAccountPaymentResponse(_fail(rejection))
        outcome, payment = self.book_account_payment(
            request.account_ref, request.amount, request.payment_code,
            invoices=request.invoice_refs, reference=request.reference,
            source=f"{self.profile} {operation} {request.reference}",
        )  # fmt: skip
        if payment is None:
            code = _ACCOUNT_REFUSALS.get(outcome.status, rz.ExceptionCode.INTERNAL_ERROR)
            return rz.AddAccountPaymentResponse(rz.CallResult.failure(code, clip(outcome.text)))
        log.info(
            "{profile}: {source}: {text}",
            profile=self.profile,
            source=payment.source,
            text=outcome.text,
        )
        answer = rz.AddAccountPaymentResponse(
            rz.CallResult.success(),
            outcome.lines[0].line_number,
            tuple(rz.InvoiceAllocation(a.invoice_id, a.amount) for a in payment.allocations),
            payment.prepaid,
        )
        self.remember(operation, request.reference, answer)
        return answer

    def _get_folio(self, request: rz.GetFolioRequest) -> rz.GetFolioResponse:
        conf = self.known_reservation(request.booking_ref)
        if conf is None:
            unknown = Rejection(Problem.UNKNOWN_RESERVATION, f"no booking {request.booking_ref}")
            return rz.GetFolioResponse(_fail(unknown))
        if request.folio_id not in (None, 1):
            missing = Rejection(
                Problem.INVALID_FOLIO_WINDOW,
                f"folio {request.folio_id} does not exist on booking {request.booking_ref}",
            )
            return rz.GetFolioResponse(_fail(missing))
        codes = self.hotel.codes
        transactions = tuple(
            rz.FolioTransaction(
                transaction_id=line.line_number,
                folio_id=1,
                type=self._transaction_type(line.payment_type, line.line_number),
                code=line.code,
                gross_total=line.amount,
                date=line.business_date,
                reference=line.reference or None,
                description=clip(codes[line.code].description),
            )
            for line in self.hotel.folio(conf)
        )
        folio = rz.Folio(request.booking_ref, transactions, self.hotel.balance(conf))
        return rz.GetFolioResponse(rz.CallResult.success(), folio)

    def _transaction_type(self, payment_type: str | None, number: int) -> rz.TransactionType:
        if payment_type is None:
            return rz.TransactionType.CHARGE
        if number in self._deposit_lines:
            return rz.TransactionType.DEPOSIT
        return rz.TransactionType.PAYMENT

    def _search(self, request: rz.SearchBookingsRequest) -> rz.SearchBookingsResponse:
        found = tuple(
            rz.BookingSummary(
                booking_ref=str(r.confirmation_number),
                guest_name=r.guest_name,
                arrival_date=r.arrival,
                departure_date=r.departure,
                status=_STATUS[r.state],
                room_id=r.room,
            )
            for r in self.matching_reservations(
                request.guest_name,
                request.arrival_date,
                request.departure_date,
                request.booking_ref,
            )
        )
        return rz.SearchBookingsResponse(rz.CallResult.success(), found)


def _same(supplied: tuple[str, str], expected: tuple[str, str]) -> bool:
    """Compare credentials in constant time."""
    user = hmac.compare_digest(supplied[0].encode(), expected[0].encode())
    password = hmac.compare_digest(supplied[1].encode(), expected[1].encode())
    return user and password
