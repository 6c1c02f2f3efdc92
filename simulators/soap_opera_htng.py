"""The opera-htng PMS simulator: a twisted.web resource posting to the shared hotel ledger.

Synchronous SOAP 1.1 with WS-Addressing 2004/08 and a UsernameToken on every request (the
pipeline, faults and knobs are :mod:`simulators.soap_common`). Operations:

- ``PostCharge``: one charge line, the transaction code and the signed amount (a negative
  amount is a negative sale, e.g. ``SPA_DEPOSIT -5000`` when a deposit is redeemed).
- ``PostPayment``: one payment line, the payment type, booked as ``-amount``.
- ``FetchFolio``: the reservation's lines (transaction number = the ledger's line number;
  payments negative) and balance. The ledger keeps one folio window: window 1.
- ``SearchReservations``: guest name prefix (any case), arrival and departure dates,
  confirmation number; every given criterion must match.
- ``PostAccountPayment``: a payment on an A/R account of the hotel
  (:meth:`simulators.ledger.Hotel.post_to_account`), allocated to the invoices it names (in
  that order), else to the open invoices oldest first, the remainder kept as prepaid; the
  answer lists the allocation. An unknown account is ``ACCOUNT_NOT_FOUND``; the amount must be
  positive (``AMOUNT_NOT_ALLOWED``); a payment type the hotel does not know is
  ``INVALID_PAYMENT_TYPE``.

``ReservationID`` is the ledger's confirmation number. Deposits and payments may post to a
reserved reservation; revenue needs an in-house guest; a checked-out folio is closed
(``Hotel.post_coded``). Amounts must be in the hotel's currency with its decimal places.
A ``Reference`` already booked by the same operation is answered with the original result.

Errors map to :class:`protocols.htng.opera_htng.ErrorCode` (:data:`ERROR_CODES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from protocols.htng import opera_htng as oh
from protocols.htng.money import Money
from protocols.soap import Envelope
from simulators.ledger import CodedLine, CodeKind, ReservationState, Status
from simulators.soap_common import (
    Problem,
    Rejection,
    SoapAnswer,
    SoapPmsResource,
    clip,
)

#: Problem -> the ErrorCode the simulator answers.
ERROR_CODES: Final[Mapping[Problem, oh.ErrorCode]] = {
    Problem.NIGHT_AUDIT: oh.ErrorCode.NIGHT_AUDIT,
    Problem.UNKNOWN_RESERVATION: oh.ErrorCode.RESERVATION_NOT_FOUND,
    Problem.FOLIO_CLOSED: oh.ErrorCode.FOLIO_CLOSED,
    Problem.NO_POST: oh.ErrorCode.NO_POST,
    Problem.UNKNOWN_TRANSACTION_CODE: oh.ErrorCode.INVALID_TRANSACTION_CODE,
    Problem.UNKNOWN_PAYMENT_TYPE: oh.ErrorCode.INVALID_PAYMENT_TYPE,
    Problem.AMOUNT_NOT_ALLOWED: oh.ErrorCode.AMOUNT_NOT_ALLOWED,
    Problem.NOT_IN_HOUSE: oh.ErrorCode.NOT_IN_HOUSE,
    Problem.CURRENCY_MISMATCH: oh.ErrorCode.CURRENCY_MISMATCH,
    Problem.INVALID_FOLIO_WINDOW: oh.ErrorCode.INVALID_FOLIO_WINDOW,
    Problem.UNKNOWN_HOTEL: oh.ErrorCode.SYSTEM_ERROR,  # no hotel code on this wire
    Problem.SYSTEM_ERROR: oh.ErrorCode.SYSTEM_ERROR,
}

_STATUS: Final = {
    ReservationState.RESERVED: oh.ReservationStatus.RESERVED,
    ReservationState.IN_HOUSE: oh.ReservationStatus.IN_HOUSE,
    ReservationState.CHECKED_OUT: oh.ReservationStatus.CHECKED_OUT,
}


def _fail(rejection: Rejection) -> oh.Result:
    return oh.Result.fail(ERROR_CODES[rejection.problem].value, clip(rejection.text))


class OperaHtngResource(SoapPmsResource):
    """``POST`` opera-htng requests; ``GET ?wsdl`` for the WSDL."""

    messages = oh
    profile = oh.PROFILE
    soap_version = oh.SOAP_VERSION
    namespace = oh.NAMESPACE
    service_name = oh.SERVICE_NAME
    request_elements = {op.request_element: op.value for op in oh.Operation}
    posting_operations = frozenset(
        {oh.Operation.POST_CHARGE, oh.Operation.POST_PAYMENT, oh.Operation.POST_ACCOUNT_PAYMENT}
    )

    def handle(self, envelope: Envelope, operation: str) -> SoapAnswer:
        request = oh.parse_request(envelope.payload)
        relates_to = envelope.addressing.message_id if envelope.addressing else None
        stamp = self.stamp()
        body: bytes
        match request:
            case oh.PostChargeRequest():
                charge = self._post(
                    oh.Operation.POST_CHARGE, request, CodeKind.CHARGE, request.transaction_code
                )
                body = oh.build_post_charge_response(
                    oh.PostChargeResponse(*charge), relates_to=relates_to, stamp=stamp
                )
            case oh.PostPaymentRequest():
                payment = self._post(
                    oh.Operation.POST_PAYMENT, request, CodeKind.PAYMENT_TYPE, request.payment_type
                )
                body = oh.build_post_payment_response(
                    oh.PostPaymentResponse(*payment), relates_to=relates_to, stamp=stamp
                )
            case oh.FetchFolioRequest():
                body = oh.build_fetch_folio_response(
                    self._fetch_folio(request), relates_to=relates_to, stamp=stamp
                )
            case oh.SearchReservationsRequest():
                body = oh.build_search_reservations_response(
                    self._search(request), relates_to=relates_to, stamp=stamp
                )
            case oh.PostAccountPaymentRequest():
                body = oh.build_post_account_payment_response(
                    self._post_account_payment(request), relates_to=relates_to, stamp=stamp
                )
        return SoapAnswer(body, posting=operation in self.posting_operations)

    def _post(
        self,
        operation: oh.Operation,
        request: oh.PostChargeRequest | oh.PostPaymentRequest,
        kind: CodeKind,
        code: str,
    ) -> tuple[oh.Result, int | None]:
        """(result, transaction number) of a charge or payment; replays a known reference."""
        remembered = self.replayed(operation.value, request.reference)
        if remembered is not None:
            return remembered  # type: ignore[no-any-return]
        rejection = (
            self.take_forced_rejection()
            or self.money_rejection(request.amount)
            or self.window_rejection(request.folio_window)
        )
        if rejection is None:
            source = f"{self.profile} {operation.value} {request.reference}"
            line = CodedLine(kind, code, request.amount.amount, request.reference)
            booked = self.book(request.reservation_id, (line,), source)
            if isinstance(booked, Rejection):
                rejection = booked
            else:
                number = booked.lines[0].line_number
                answer = (
                    oh.Result.success(
                        f"posted to reservation {request.reservation_id} as transaction {number}"
                    ),
                    number,
                )
                self.remember(operation.value, request.reference, answer)
                return answer
        return _fail(rejection), None

    def _post_account_payment(
        self, request: oh.PostAccountPaymentRequest
    ) -> oh.PostAccountPaymentResponse:
        """Book a payment on an A/R account and answer its allocation; replays a known
        reference with the original answer."""
        operation = oh.Operation.POST_ACCOUNT_PAYMENT.value
        remembered = self.replayed(operation, request.reference)
        if remembered is not None:
            return remembered  # type: ignore[no-any-return]
        rejection = (
            self.take_forced_rejection()
            or self.money_rejection(request.amount)
            or self.account_amount_rejection(request.amount.amount)
        )
        if rejection is not None:
            return oh.PostAccountPaymentResponse(_fail(rejection))
        outcome, payment = self.book_account_payment(
            request.account_number, request.amount.amount, request.payment_type,
            invoices=request.invoice_ids, reference=request.reference,
            source=f"{self.profile} {operation} {request.reference}",
        )  # fmt: skip
        if payment is None:
            code = {
                Status.NA: oh.ErrorCode.NIGHT_AUDIT,
                Status.NG: oh.ErrorCode.ACCOUNT_NOT_FOUND,
                Status.UR: oh.ErrorCode.INVALID_PAYMENT_TYPE,
            }.get(outcome.status, oh.ErrorCode.SYSTEM_ERROR)
            return oh.PostAccountPaymentResponse(oh.Result.fail(code.value, clip(outcome.text)))
        answer = oh.PostAccountPaymentResponse(
            oh.Result.success(clip(outcome.text)),
            outcome.lines[0].line_number,
            tuple(
                oh.InvoiceAllocation(a.invoice_id, self._money(a.amount))
                for a in payment.allocations
            ),
            self._money(payment.prepaid),
        )
        self.remember(operation, request.reference, answer)
        return answer

    def _fetch_folio(self, request: oh.FetchFolioRequest) -> oh.FetchFolioResponse:
        conf = self.known_reservation(request.reservation_id)
        if conf is None:
            unknown = Rejection(
                Problem.UNKNOWN_RESERVATION, f"no reservation {request.reservation_id}"
            )
            return oh.FetchFolioResponse(_fail(unknown))
        missing = self.window_rejection(request.folio_window)
        if missing is not None:
            return oh.FetchFolioResponse(_fail(missing))
        codes = self.hotel.codes
        lines = tuple(
            oh.FolioLine(
                transaction_number=line.line_number,
                folio_window=1,
                kind=oh.LineKind.CHARGE if line.payment_type is None else oh.LineKind.PAYMENT,
                code=line.code,
                amount=self._money(line.amount),
                business_date=line.business_date,
                reference=line.reference or None,
                description=clip(codes[line.code].description),
            )
            for line in self.hotel.folio(conf)
        )
        folio = oh.Folio(request.reservation_id, lines, self._money(self.hotel.balance(conf)))
        return oh.FetchFolioResponse(oh.Result.success(), folio)

    def _search(self, request: oh.SearchReservationsRequest) -> oh.SearchReservationsResponse:
        found = tuple(
            oh.ReservationSummary(
                reservation_id=str(r.confirmation_number),
                confirmation_number=str(r.confirmation_number),
                guest_name=r.guest_name,
                arrival_date=r.arrival,
                departure_date=r.departure,
                status=_STATUS[r.state],
                room=r.room,
            )
            for r in self.matching_reservations(
                request.guest_name,
                request.arrival_date,
                request.departure_date,
                request.confirmation_number,
            )
        )
        return oh.SearchReservationsResponse(
            oh.Result.success(f"{len(found)} reservation(s)"), found
        )

    def _money(self, amount: int) -> Money:
        return Money(amount, self.currency, self.decimals)
