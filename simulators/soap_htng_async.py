"""The htng-async PMS simulator (Hotel Perfect): acknowledge at once, POST the result later.

SOAP 1.2 with WS-Addressing 2005/08 and a UsernameToken on every request (the pipeline,
faults and knobs are :mod:`simulators.soap_common`). A ``ChargePostingRQ`` carries revenue
lines (transaction code, signed amount: a negative amount is a negative sale) and payment
lines (payment type, booked as ``-amount``) for one reservation. The simulator:

1. refuses a request whose ``wsa:ReplyTo`` is not an http(s) URL, or is the anonymous or
   none address (a ``Sender`` fault ``InvalidAddressingHeader``: there would be nowhere to
   send the result);
2. posts every line to the shared ledger, all or nothing, at once (deposits and payments may
   post to a reserved reservation, revenue needs an in-house guest);
3. answers ``AcknowledgeReceipt`` (same CorrelationID and EchoToken, ``RelatesTo`` the
   request's MessageID);
4. POSTs ``ChargePostingResultRQ`` to the ReplyTo address with treq: ``Success`` and one
   ``PostedLine`` per line (its ReferenceID and the ledger's line number), or ``Errors`` with
   the profile's code, the text naming what is wrong and the ``ReferenceID`` of the line at
   fault. The callback carries the simulator's own UsernameToken (``[soap]``
   ``callback_username``/``callback_password``, default the same credentials) and
   ``RelatesTo`` the request's MessageID. It is sent once; a failure is logged, not retried.

A ``ChargePostingRQ`` addressed to an A/R account (``AccountPosting``: AccountNumber, one
payment line, the invoices it names) goes through the same steps 1, 3 and 4; step 2 books it
with :meth:`simulators.ledger.Hotel.post_to_account`: the invoices named (in that order), else
the open invoices oldest first, the remainder kept as prepaid; the ``Success`` result adds the
``AccountAllocation``. An unknown account is ``ACCOUNT_NOT_FOUND`` (1012); the amount must be
positive (``AMOUNT_NOT_ALLOWED``); a payment type the hotel does not know is
``UNKNOWN_PAYMENT_TYPE``; the night audit is ``NIGHT_AUDIT``.

``ReservationSearchRQ`` is answered at once, in-band, with ``ReservationSearchRS`` (a read
posts nothing, so it needs no callback; whatever ``wsa:ReplyTo`` says): every criterion given
must match (guest name as a prefix, any case; arrival, departure, reservation id), and each
reservation found carries its status, room and folio balance. A HotelCode that is not this
hotel's is ``UNKNOWN_HOTEL``; a search without any criterion is ``INVALID_SEARCH``.

A CorrelationID already posted successfully is acknowledged and answered with the original
result again (a new callback), booking nothing. Knobs: ``callback_delay_ms``,
``duplicate_callbacks`` (the same callback message POSTed twice), ``drop_callbacks`` (never
POSTed); ``delay_ms`` and the drop knobs act on the acknowledgement; ``reject_*`` on the result.
Errors map to :class:`protocols.htng.htng_async.ErrorCode` (:data:`ERROR_CODES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from twisted.internet import defer

from protocols.htng import htng_async as ha
from protocols.htng.money import Money
from protocols.soap import (
    Caller,
    Envelope,
    Fault,
    FaultCode,
    SoapFault,
    http_headers,
    parse_xml,
)
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

#: Problem -> the Error@Code the simulator answers.
ERROR_CODES: Final[Mapping[Problem, ha.ErrorCode]] = {
    Problem.NIGHT_AUDIT: ha.ErrorCode.NIGHT_AUDIT,
    Problem.UNKNOWN_RESERVATION: ha.ErrorCode.RESERVATION_NOT_FOUND,
    Problem.FOLIO_CLOSED: ha.ErrorCode.FOLIO_CLOSED,
    Problem.NO_POST: ha.ErrorCode.NO_POST,
    Problem.UNKNOWN_TRANSACTION_CODE: ha.ErrorCode.UNKNOWN_REVENUE_CODE,
    Problem.UNKNOWN_PAYMENT_TYPE: ha.ErrorCode.UNKNOWN_PAYMENT_TYPE,
    Problem.AMOUNT_NOT_ALLOWED: ha.ErrorCode.AMOUNT_NOT_ALLOWED,
    Problem.NOT_IN_HOUSE: ha.ErrorCode.NOT_IN_HOUSE,
    Problem.CURRENCY_MISMATCH: ha.ErrorCode.CURRENCY_MISMATCH,
    Problem.INVALID_FOLIO_WINDOW: ha.ErrorCode.INVALID_FOLIO_WINDOW,
    Problem.UNKNOWN_HOTEL: ha.ErrorCode.UNKNOWN_HOTEL,
    Problem.SYSTEM_ERROR: ha.ErrorCode.SYSTEM_ERROR,
}

_PROCESSING: Final = frozenset({Problem.SYSTEM_ERROR, Problem.NIGHT_AUDIT})
#: ``wsa:From`` on result callbacks.
FROM_ADDRESS: Final = "urn:foliogate:pms-simulator:htng-async"
_OPERATION: Final = ha.Operation.CHARGE_POSTING.value
_SEARCH: Final = ha.Operation.RESERVATION_SEARCH.value
#: post_to_account's refusals -> the Error@Code answered.
_ACCOUNT_ERRORS: Final[Mapping[Status, ha.ErrorCode]] = {
    Status.NA: ha.ErrorCode.NIGHT_AUDIT,
    Status.NG: ha.ErrorCode.ACCOUNT_NOT_FOUND,
    Status.UR: ha.ErrorCode.UNKNOWN_PAYMENT_TYPE,
}
_STATUS: Final[Mapping[ReservationState, ha.ReservationStatus]] = {
    ReservationState.RESERVED: ha.ReservationStatus.RESERVED,
    ReservationState.IN_HOUSE: ha.ReservationStatus.IN_HOUSE,
    ReservationState.CHECKED_OUT: ha.ReservationStatus.CHECKED_OUT,
}
#: ReplyTo values that name no callback address (answer on the back-channel, or nowhere).
_NO_ADDRESS: Final = frozenset({None, ha.WSA_VERSION.anonymous, f"{ha.WSA_VERSION.namespace}/none"})



def _posting_error(rejection: Rejection, reference: str | None) -> ha.PostingError:
    """A rejection as the result callback's error (``reference``: the line it names)."""
    return ha.PostingError(
        code=ERROR_CODES[rejection.problem].value,
        text=clip(rejection.text),
        type=(
            ha.ErrorType.PROCESSING
            if rejection.problem in _PROCESSING
            else ha.ErrorType.BUSINESS_RULE
        ),
        reference=reference,
    )

class HtngAsyncResource(SoapPmsResource):
    """``POST`` ChargePostingRQ (results go out by callback) or ReservationSearchRQ
    (answered in-band); ``GET ?wsdl`` for the WSDL.

    ``http_client`` (a treq ``HTTPClient``) sends the callbacks; by default one is made on
    the reactor with a non-persistent connection pool. ``callback_timeout`` bounds each POST.
    """

    messages = ha
    profile = ha.PROFILE
    soap_version = ha.SOAP_VERSION
    namespace = ha.NAMESPACE
    service_name = ha.SERVICE_NAME
    # Only the request direction: a result sent *to* the PMS is not something it handles.
    request_elements = {
        ha.Operation.CHARGE_POSTING.request_element: _OPERATION,
        ha.Operation.RESERVATION_SEARCH.request_element: _SEARCH,
    }
    posting_operations = frozenset({_OPERATION})

    def __init__(
        self,
        *args: Any,
        http_client: Any = None,
        callback_timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._http = http_client
        self.callback_timeout = callback_timeout
        self._scheduled: set[Any] = set()  # IDelayedCall
        self._in_flight: set[defer.Deferred[Any]] = set()

    @property
    def pending_callbacks(self) -> int:
        """Callbacks scheduled or being POSTed (0: every result has gone out or was dropped)."""
        return len(self._scheduled) + len(self._in_flight)

    def stop(self) -> None:
        super().stop()
        for call in list(self._scheduled):
            if call.active():
                call.cancel()
        self._scheduled.clear()
        for deferred in list(self._in_flight):
            deferred.cancel()

    # -- the request ----------------------------------------------------------------------

    def handle(self, envelope: Envelope, operation: str) -> SoapAnswer:
        addressing = envelope.addressing
        message_id = addressing.message_id if addressing is not None else None
        if operation == _SEARCH:
            search = ha.parse_reservation_search_request(envelope.payload)
            body = ha.build_reservation_search_response(
                self._search(search), relates_to=message_id, stamp=self.stamp()
            )
            return SoapAnswer(body)
        request = ha.parse_charge_posting_request(envelope.payload)
        reply_to = addressing.reply_to if addressing is not None else None
        if reply_to in _NO_ADDRESS or not reply_to.startswith(("http://", "https://")):
            raise Refused(
                Fault(
                    FaultCode.SENDER,
                    "wsa:ReplyTo must be the http(s) URL the result is POSTed to, "
                    f"got {reply_to!r}",
                    "InvalidAddressingHeader",
                )
            )
        if isinstance(request, ha.AccountPaymentRequest):
            result = self._process_account(request)
        else:
            result = self._process(request)
        self._schedule_callback(result, reply_to, message_id)
        ack = ha.acknowledge(request, self.now())
        body = ha.build_charge_posting_response(ack, relates_to=message_id, stamp=self.stamp())
        return SoapAnswer(body, posting=True)

    def _process(self, request: ha.ChargePostingRequest) -> ha.ChargePostingResultRequest:
        remembered = self._replayed(request)
        if remembered is not None:
            return remembered
        lines = tuple(
            CodedLine(CodeKind.CHARGE, line.revenue_code, line.amount.amount, line.reference)
            for line in request.revenue_lines
        ) + tuple(
            CodedLine(CodeKind.PAYMENT_TYPE, line.payment_type, line.amount.amount, line.reference)
            for line in request.payment_lines
        )
        rejection = self._rejection(request)
        if rejection is None:
            source = f"{self.profile} ChargePosting {request.correlation_id}"
            booked = self.book(request.reservation_id, lines, source)
            if isinstance(booked, Rejection):
                rejection = booked
            else:
                result = ha.ChargePostingResultRequest(
                    echo_token=request.echo_token,
                    correlation_id=request.correlation_id,
                    timestamp=self.now(),
                    posted_lines=tuple(
                        ha.PostedLine(line.reference, folio_line.line_number)
                        for line, folio_line in zip(lines, booked.lines, strict=True)
                    ),
                )
                self.remember(_OPERATION, request.correlation_id, result)
                return result
        index = rejection.line_index
        reference = lines[index].reference if index is not None else None
        return self._failed(request, _posting_error(rejection, reference))

    def _replayed(
        self, request: ha.ChargePostingRequest | ha.AccountPaymentRequest
    ) -> ha.ChargePostingResultRequest | None:
        """The result already given for this CorrelationID (posted once, answered again)."""
        remembered = self.replayed(_OPERATION, request.correlation_id)
        if remembered is not None:
            log.info(
                "htng-async: CorrelationID {id} posted before: original result again",
                id=request.correlation_id,
            )
        return remembered  # type: ignore[no-any-return]

    def _failed(
        self, request: ha.ChargePostingRequest | ha.AccountPaymentRequest, error: ha.PostingError
    ) -> ha.ChargePostingResultRequest:
        return ha.ChargePostingResultRequest(
            echo_token=request.echo_token,
            correlation_id=request.correlation_id,
            timestamp=self.now(),
            errors=(error,),
        )

    def _process_account(self, request: ha.AccountPaymentRequest) -> ha.ChargePostingResultRequest:
        """Book a payment on an A/R account and answer its allocation (module docstring)."""
        remembered = self._replayed(request)
        if remembered is not None:
            return remembered
        line = request.payment_line
        rejection = (
            self.take_forced_rejection()
            or self._hotel_rejection(request.hotel_code)
            or self.money_rejection(line.amount, 0)
            or self.account_amount_rejection(line.amount.amount, 0)
        )
        if rejection is not None:
            reference = line.reference if rejection.line_index is not None else None
            return self._failed(request, _posting_error(rejection, reference))
        outcome, payment = self.book_account_payment(
            request.account_number, line.amount.amount, line.payment_type,
            invoices=request.invoice_ids, reference=line.reference,
            source=f"{self.profile} ChargePosting {request.correlation_id}",
        )  # fmt: skip
        if payment is None:
            code = _ACCOUNT_ERRORS.get(outcome.status, ha.ErrorCode.SYSTEM_ERROR)
            processing = code in (ha.ErrorCode.NIGHT_AUDIT, ha.ErrorCode.SYSTEM_ERROR)
            return self._failed(
                request,
                ha.PostingError(
                    code=code.value,
                    text=clip(outcome.text),
                    type=ha.ErrorType.PROCESSING if processing else ha.ErrorType.BUSINESS_RULE,
                    reference=line.reference,
                ),
            )
        log.info(
            "htng-async: ChargePosting {id}: {text}", id=request.correlation_id, text=outcome.text
        )
        result = ha.ChargePostingResultRequest(
            echo_token=request.echo_token,
            correlation_id=request.correlation_id,
            timestamp=self.now(),
            posted_lines=(ha.PostedLine(line.reference, outcome.lines[0].line_number),),
            allocation=ha.AccountAllocation(
                request.account_number,
                tuple(
                    ha.InvoiceAllocation(paid.invoice_id, self._money(paid.amount))
                    for paid in payment.allocations
                ),
                self._money(payment.prepaid),
            ),
        )
        self.remember(_OPERATION, request.correlation_id, result)
        return result

    def _money(self, amount: int) -> Money:
        return Money(amount, self.currency, self.decimals)

    def _hotel_rejection(self, hotel_code: str) -> Rejection | None:
        expected = self.access.hotel_code
        if expected is not None and hotel_code != expected:
            return Rejection(
                Problem.UNKNOWN_HOTEL, f"unknown HotelCode {hotel_code!r}; this is {expected}"
            )
        return None

    def _rejection(self, request: ha.ChargePostingRequest) -> Rejection | None:
        forced = self.take_forced_rejection()
        if forced is not None:
            return forced
        hotel = self._hotel_rejection(request.hotel_code)
        if hotel is not None:
            return hotel
        window = self.window_rejection(request.folio_window)
        if window is not None:
            return window
        amounts = [line.amount for line in request.revenue_lines] + [
            line.amount for line in request.payment_lines
        ]
        for index, money in enumerate(amounts):
            rejection = self.money_rejection(money, index)
            if rejection is not None:
                return rejection
        return None

    # -- the search (synchronous) ---------------------------------------------------------

    def _search(self, request: ha.ReservationSearchRequest) -> ha.ReservationSearchResponse:
        """The reservations matching every criterion given, or the error."""
        hotel = self._hotel_rejection(request.hotel_code)
        error = None
        if hotel is not None:
            error = ha.PostingError(ha.ErrorCode.UNKNOWN_HOTEL.value, clip(hotel.text))
        elif not request.has_criteria:
            error = ha.PostingError(
                ha.ErrorCode.INVALID_SEARCH.value,
                "a search needs at least one of GuestName, ArrivalDate, DepartureDate, "
                "ReservationID",
            )
        if error is not None:
            return ha.ReservationSearchResponse(request.echo_token, self.now(), errors=(error,))
        found = tuple(
            ha.HotelReservation(
                reservation_id=str(r.confirmation_number),
                guest_name=r.guest_name,
                arrival=r.arrival,
                departure=r.departure,
                status=_STATUS[r.state],
                room=r.room,
                balance=self._money(self.hotel.balance(r.confirmation_number)),
            )
            for r in self.matching_reservations(
                request.guest_name, request.arrival, request.departure, request.reservation_id
            )
        )
        log.info(
            "htng-async: ReservationSearch {criteria}: {count} reservation(s)",
            criteria=request,
            count=len(found),
        )
        return ha.ReservationSearchResponse(request.echo_token, self.now(), found)

    # -- the callback ---------------------------------------------------------------------

    def _schedule_callback(
        self, result: ha.ChargePostingResultRequest, reply_to: str, relates_to: str | None
    ) -> None:
        if self.knobs.take_callback_drop():
            log.info(
                "htng-async: fault drop_callbacks: result of {id} never sent",
                id=result.correlation_id,
            )
            return
        copies = 2 if self.knobs.take_callback_duplicate() else 1

        def fire() -> None:
            self._scheduled.discard(call)
            deferred = self._deliver(result, reply_to, relates_to, copies)
            self._in_flight.add(deferred)
            deferred.addBoth(lambda _: self._in_flight.discard(deferred))

        call = self.clock.callLater(self.knobs.current.callback_delay_ms / 1000, fire)
        self._scheduled.add(call)

    def _http_client(self) -> Any:
        if self._http is None:
            import treq.client
            from twisted.web.client import Agent, HTTPConnectionPool

            pool = HTTPConnectionPool(self.clock, persistent=False)
            self._http = treq.client.HTTPClient(Agent(self.clock, pool=pool))
        return self._http

    @defer.inlineCallbacks
    def _deliver(
        self,
        result: ha.ChargePostingResultRequest,
        reply_to: str,
        relates_to: str | None,
        copies: int,
    ) -> Any:
        caller = Caller(
            to=reply_to, credentials=self.access.callback_credentials, from_address=FROM_ADDRESS
        )
        body = ha.build_charge_posting_result_request(
            result, caller=caller, stamp=self.stamp(), relates_to=relates_to
        )
        headers = http_headers(self.soap_version, ha.Operation.CHARGE_POSTING_RESULT.action)
        for copy in range(1, copies + 1):
            try:
                response = yield self._http_client().post(
                    reply_to, data=body, headers=headers, timeout=self.callback_timeout
                )
                content = yield response.content()
            except defer.CancelledError:
                raise
            except Exception as exc:
                log.warn(
                    "htng-async: result callback {copy}/{copies} of {id} to {url} failed: {error}",
                    copy=copy,
                    copies=copies,
                    id=result.correlation_id,
                    url=reply_to,
                    error=str(exc) or type(exc).__name__,
                )
                continue
            log.info(
                "htng-async: result callback {copy}/{copies} of {id} to {url}: "
                "HTTP {status}, {ack}",
                copy=copy,
                copies=copies,
                id=result.correlation_id,
                url=reply_to,
                status=response.code,
                ack=_acknowledged(content, result.correlation_id),
            )


def _acknowledged(content: bytes, correlation_id: str) -> str:
    """How the gateway answered a callback, in a few words for the log."""
    try:
        ack = ha.parse_charge_posting_result_response(parse_xml(content))
    except SoapFault as exc:
        return f"fault: {exc.fault.reason}"
    except ValueError as exc:
        return f"no acknowledgement ({exc})"
    if ack.correlation_id != correlation_id:
        return f"acknowledged the wrong CorrelationID {ack.correlation_id!r}"
    return "acknowledged"
