"""The rezlynx poster: a SOAP 1.1 session API (``LogIn`` -> SessionID, ExceptionCode results).

- ``LogIn`` (SiteID = the property's ``hotel_code``, OperatorCode and Password from the
  environment) once; the SessionID then rides in every call's body. Concurrent callers share
  one login.
- A charge leg is one ``PostToRoom`` (BookingRef = the confirmation number, FolioID 1, the sales
  analysis code = the transaction code, GrossTotal = the signed amount as decimal text in the
  site currency); a payment leg is one ``AddPayment`` (PaymentCode = the payment type) on a
  resident booking, or ``AddDeposit`` before arrival: when AddPayment answers 8002 (booking not
  resident), the same leg goes again at once as AddDeposit, same reference.
- A leg to an A/R account (the event's ``payment.kind`` is ``account``: the confirmation number
  is the account; :meth:`SoapChannel.account_invoices` asks the journal) is one
  ``AddAccountPayment``: AccountRef, PaymentCode = the payment type, the amount as decimal text,
  CurrencyCode = the site currency, Reference, and the invoices the payment names
  (``Invoices/InvoiceRef``, in order; none: the PMS pays the oldest open invoices first and
  keeps the rest as prepaid). A charge to an account is a mapping error; an unknown account is
  8010 (terminal, the PMS's text in the exception queue). No folio is read back after it.
- ExceptionCode 7007 (session expired): log in again and send the same call once more; a second
  7007 is retryable. Everything else is classified by
  :data:`protocols.htng.rezlynx.RESULT_CODES` (see :mod:`adapters.soap_channel`). A refused
  LogIn (7001) rejects the leg with the PMS's text: the credentials need an operator.
- After a journey, ``GetFolio`` (every folio of the booking) gives the balance.
- A candidate search (:meth:`RezlynxChannel.search_guests`) is one ``SearchBookings`` by guest
  name prefix with the session (a 7007 logs in again like a posting); each ``Booking`` becomes a
  :class:`~adapters.matching.PmsGuest` (BookingRef, GuestName, RoomID, ArrivalDate,
  DepartureDate; a booking summary carries no balance).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.python.failure import Failure

from adapters.config import Profile, PropertyConfig
from adapters.dispatcher import LegMappingError
from adapters.domain import Leg
from adapters.fias_postings import PostingOutcome, PostingResult
from adapters.matching import PmsGuest
from adapters.soap_channel import (
    AnswerUnknown,
    RequestNotSent,
    SearchRefused,
    SoapChannel,
    _Reply,
    log,
    wire_reference,
)
from protocols.htng import rezlynx
from protocols.htng.codes import Disposition
from protocols.htng.money import from_decimal_text, to_decimal_text
from protocols.soap import SoapVersion, WsaVersion

__all__ = ["FOLIO_ID", "RezlynxChannel"]

#: Charges and payments go to the booking's primary guest folio.
FOLIO_ID = 1
#: The longest sales analysis or payment code the profile's schema takes.
CODE_LENGTH = 20
#: Stands in for the SessionID when a request is checked against the schema before login.
_SCHEMA_CHECK_SESSION = "schema-check"

_OK = int(rezlynx.ExceptionCode.OK)
_SESSION_EXPIRED = int(rezlynx.ExceptionCode.SESSION_EXPIRED)
_NOT_IN_HOUSE = int(rezlynx.ExceptionCode.NOT_IN_HOUSE)


class _LogInAnswered(Exception):
    """The PMS answered LogIn with an error (or a fault): no session."""

    def __init__(self, outcome_of: Any, said: str) -> None:
        super().__init__(f"LogIn refused: {said}")
        self.outcome_of = outcome_of  # Callable[[Leg], PostingOutcome]
        #: What the PMS said (for a search, which has no leg to carry an outcome).
        self.said = said


class RezlynxChannel(SoapChannel):
    """Posts legs to a rezlynx PMS (see the module docstring)."""

    profile: ClassVar[Profile] = Profile.REZLYNX
    soap_version: ClassVar[SoapVersion] = SoapVersion.SOAP11
    wsa_version: ClassVar[WsaVersion | None] = None
    uses_ws_security: ClassVar[bool] = False
    binding: ClassVar[str] = rezlynx.BINDING

    def __init__(self, prop: PropertyConfig, **kwargs: Any) -> None:
        super().__init__(prop, **kwargs)
        soap = prop.soap
        self.site_id = (getattr(soap, "hotel_code", None) if soap else None) or prop.name
        self.session_id: str | None = None
        #: reference -> (operation, session, envelope, headers) built by post()'s schema check
        #: with the session then current: the first call sends it rather than build it again
        #: (a rezlynx envelope holds nothing but the session and the arguments).
        self._prebuilt: dict[str, tuple[str, str, bytes, dict[str, str]]] = {}
        self._login_waiters: list[Deferred[str]] | None = None
        #: How many LogIn calls went out (for tests and the log).
        self.logins = 0

    # -- mapping -------------------------------------------------------------------------------

    def request_for(self, leg: Leg) -> tuple[str, dict[str, Any]]:
        """The operation and its zeep arguments (without SessionID) for ``leg`` (an A/R
        account leg: ``AddAccountPayment``)."""
        invoices = self.account_invoices(leg)
        if invoices is not None:
            return self._account_request(leg, invoices)
        plan = leg.plan
        if plan.transaction_code is not None and plan.payment_type is not None:
            raise LegMappingError(
                f"leg {leg.reference} carries a charge and its settlement; the {self.protocol} "
                "profile posts them as separate legs (PostToRoom, AddPayment)"
            )
        self.check_codes(
            leg,
            ("sales analysis code", plan.transaction_code, CODE_LENGTH),
            ("payment code", plan.payment_type, CODE_LENGTH),
        )
        money = Decimal(to_decimal_text(plan.amount, self.decimals))
        common: dict[str, Any] = {
            "BookingRef": leg.confirmation_number,
            "Description": self.description(leg),
            "Reference": wire_reference(leg.reference),
        }
        if plan.transaction_code is not None:
            return rezlynx.Operation.POST_TO_ROOM.value, {
                **common,
                "FolioID": FOLIO_ID,
                "SalesAnalysisCode": plan.transaction_code,
                "GrossTotal": money,
            }
        if plan.payment_type is not None:
            return rezlynx.Operation.ADD_PAYMENT.value, {
                **common,
                "FolioID": FOLIO_ID,
                "PaymentCode": plan.payment_type,
                "Amount": money,
            }
        raise LegMappingError(f"leg {leg.reference} names neither a sales analysis code nor a "
                              "payment code")  # fmt: skip

    def _account_request(self, leg: Leg, invoices: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
        """``AddAccountPayment`` for a leg to A/R account ``leg.confirmation_number``."""
        plan = leg.plan
        payment_code = self.account_payment_type(
            leg, CODE_LENGTH, payment="payment code", charge="sales analysis code"
        )
        kwargs: dict[str, Any] = {
            "AccountRef": leg.confirmation_number,
            "PaymentCode": payment_code,
            "Description": self.description(leg),
            "Amount": Decimal(to_decimal_text(plan.amount, self.decimals)),
            "CurrencyCode": plan.currency,
            "Reference": wire_reference(leg.reference),
        }
        if invoices:
            kwargs["Invoices"] = {"InvoiceRef": list(invoices)}
        return rezlynx.Operation.ADD_ACCOUNT_PAYMENT.value, kwargs

    def post(self, leg: Leg) -> Deferred[PostingOutcome]:
        if leg.plan.currency != self.prop.currency:
            raise LegMappingError(
                f"leg {leg.reference} is in {leg.plan.currency}; a {self.protocol} site posts "
                f"in its own currency ({self.prop.currency})"
            )
        operation, kwargs = self.request_for(leg)
        # Check against the schema now, so a mapping error is raised before anything happens.
        session = self.session_id
        data, headers = self.build(
            operation, leg.reference, SessionID=session or _SCHEMA_CHECK_SESSION, **kwargs
        )
        if session is not None:
            self._prebuilt[leg.reference] = (operation, session, data, headers)
        return self._post(leg, operation, kwargs)

    # -- posting -------------------------------------------------------------------------------

    @inlineCallbacks
    def _post(self, leg: Leg, operation: str, kwargs: dict[str, Any]) -> Any:
        sent = False
        try:
            try:
                if self.session_id is None:  # else nothing to wait for
                    yield self.session(leg.reference)
            except _LogInAnswered as exc:
                return exc.outcome_of(leg)
            except (RequestNotSent, AnswerUnknown) as exc:
                return self.outcome(leg, PostingResult.NOT_SENT, f"LogIn failed: {exc}")
            refused = yield self.written(leg)
            if refused is not None:
                return self.outcome(leg, PostingResult.NOT_SENT, refused)
            sent = True
            try:
                reply, result = yield self.call(operation, kwargs, leg.reference, only=())
                if (
                    result is not None
                    and operation == rezlynx.Operation.ADD_PAYMENT.value
                    and result.exception_code == _NOT_IN_HOUSE
                ):
                    # Not resident yet: the same money is a deposit on the booking.
                    operation = rezlynx.Operation.ADD_DEPOSIT.value
                    deposit = {k: v for k, v in kwargs.items() if k != "FolioID"}
                    reply, result = yield self.call(operation, deposit, leg.reference, only=())
            except _LogInAnswered as exc:
                return exc.outcome_of(leg)
            except (RequestNotSent, AnswerUnknown) as exc:
                return self.transport_outcome(leg, exc)
            outcome = self.reply_outcome(leg, reply)
            if outcome is not None:
                return outcome
            return self._result_outcome(leg, result)
        except Exception:
            return self.failed_outcome(leg, sent)
        finally:
            self._prebuilt.pop(leg.reference, None)

    def _result_outcome(self, leg: Leg, result: rezlynx.CallResult) -> PostingOutcome:
        disposition = result.disposition
        text = result.exception_description or None
        if disposition is Disposition.RELOGIN:
            text = f"{text or 'session expired'} (again, after logging in anew)"
        return self.disposition_outcome(leg, disposition, str(result.exception_code), text)

    @inlineCallbacks
    def call(
        self,
        operation: str,
        kwargs: dict[str, Any],
        reference: str,
        *,
        only: tuple[str, ...] | None = None,
    ) -> Any:
        """One operation with the current session; on 7007 log in again and call once more.

        Returns ``(reply, CallResult or None)``; None when the reply holds no result (a fault
        or an unreadable answer: see ``reply_outcome``). ``only``: None reads the whole
        answer; a tuple reads just the call's result and the answer's elements it names
        (:meth:`SoapChannel.read_reply`; a posting reads its result alone).
        """
        parts = () if only is None else (f"{operation}Result", *only)
        relogged = False
        while True:
            session = self.session_id
            if session is None:
                session = yield self.session(reference)
            prebuilt = self._prebuilt.pop(reference, None)
            if prebuilt is not None and prebuilt[:2] == (operation, session):
                data, headers = prebuilt[2], prebuilt[3]
            else:
                data, headers = self.build(operation, reference, SessionID=session, **kwargs)
            reply = yield self.exchange(operation, data, headers, reference, only=parts)
            result = _call_result(reply, operation)
            if result is None or result.exception_code != _SESSION_EXPIRED or relogged:
                return reply, result
            log.info(
                "{property}: session expired (7007) on {operation} for {reference}; "
                "logging in again",
                property=self.prop.name,
                operation=operation,
                reference=reference,
            )
            if self.session_id == session:
                self.session_id = None
            relogged = True

    # -- the session ---------------------------------------------------------------------------

    def session(self, reference: str | None) -> Deferred[str]:
        """The current SessionID, logging in first if there is none (one login at a time)."""
        if self.session_id is not None:
            return succeed(self.session_id)
        waiter: Deferred[str] = Deferred()
        if self._login_waiters is not None:
            self._login_waiters.append(waiter)
            return waiter
        self._login_waiters = [waiter]

        def settle(result: Any) -> None:
            waiters, self._login_waiters = self._login_waiters or [], None
            for d in waiters:
                if isinstance(result, Failure):
                    d.errback(result)
                else:
                    d.callback(result)

        self._log_in(reference).addBoth(settle)
        return waiter

    @inlineCallbacks
    def _log_in(self, reference: str | None) -> Any:
        operation = rezlynx.Operation.LOG_IN.value
        data, headers = self.build(
            operation,
            reference or "LogIn",
            SiteID=self.site_id,
            OperatorCode=self.credentials.username,
            Password=self.credentials.password,
        )
        self.logins += 1
        reply = yield self.exchange(operation, data, headers, reference)
        result = _call_result(reply, operation)
        if result is None:
            if reply.fault is not None:
                fault = reply.fault
                raise _LogInAnswered(
                    lambda leg: self.fault_outcome(leg, fault, 500),
                    f"SOAP fault {fault.code.value}: {fault.reason}",
                )
            raise RequestNotSent(f"LogIn answer unreadable: {reply.problem}")
        session = getattr(reply.result, "SessionID", None)
        if result.ok and session:
            self.session_id = str(session)
            return self.session_id

        def refused(leg: Leg) -> PostingOutcome:
            status = str(result.exception_code)
            text = f"LogIn refused: {result.exception_description}"
            if result.disposition is Disposition.POSTED:  # OK without a SessionID
                return self.outcome(leg, PostingResult.NOT_SENT, "LogIn gave no SessionID")
            return self.disposition_outcome(leg, result.disposition, status, text)

        log.warn(
            "{property}: LogIn refused: {code} {text}",
            property=self.prop.name,
            code=result.exception_code,
            text=result.exception_description,
        )
        raise _LogInAnswered(refused, f"{result.exception_code}: {result.exception_description}")

    # -- the folio -----------------------------------------------------------------------------

    @inlineCallbacks
    def folio_balance(self, leg: Leg, outcome: PostingOutcome) -> Any:
        """The balance of every folio of the booking (GetFolio), or None (always None for an
        A/R account leg: an account has no folio)."""
        if self.account_invoices(leg) is not None:
            return None
        operation = rezlynx.Operation.GET_FOLIO.value
        # Only the call's result and the balance are read: not every transaction.
        reply, result = yield self.call(
            operation, {"BookingRef": leg.confirmation_number}, leg.reference,
            only=("Folio/Balance",),
        )  # fmt: skip
        folio = reply.result.Folio if result is not None else None
        if result is None or not result.ok or folio is None or folio.Balance is None:
            log.warn("GetFolio for {conf}: {problem}", conf=leg.confirmation_number,
                     problem=reply.problem or reply.fault or result)  # fmt: skip
            return None
        balance = reply.result.Folio.Balance
        return from_decimal_text(format(Decimal(balance), "f"), self.decimals)

    # -- the candidate search ------------------------------------------------------------------

    @inlineCallbacks
    def search_guests(self, text: str) -> Any:
        """Bookings whose guest name starts with ``text`` (``SearchBookings``), as
        :class:`PmsGuest` records; None when the PMS cannot answer now; raises
        :class:`~adapters.soap_channel.SearchRefused` when it refuses the search (a refused
        LogIn included)."""
        operation = rezlynx.Operation.SEARCH_BOOKINGS.value
        reference = f"search {text!r}"
        # Check against the schema first, so a name the PMS cannot take fails before login.
        self.build(operation, reference,
                   SessionID=self.session_id or _SCHEMA_CHECK_SESSION, GuestName=text)  # fmt: skip
        try:
            reply, result = yield self.call(operation, {"GuestName": text}, reference)
        except _LogInAnswered as exc:
            raise SearchRefused(f"the {self.protocol} PMS refused LogIn ({exc.said})") from exc
        except (RequestNotSent, AnswerUnknown) as exc:
            log.warn("SearchBookings for {text!r}: {error}; trying again later",
                     text=text, error=str(exc))  # fmt: skip
            return None
        if result is None:
            return self.search_problem(operation, text, reply)
        if not result.ok:
            return self.search_result(operation, text, result.disposition,
                                      str(result.exception_code),
                                      result.exception_description or None)  # fmt: skip
        bookings = reply.result.Bookings
        return [
            PmsGuest(
                confirmation_number=str(b.BookingRef),
                guest_name=str(b.GuestName),
                room=str(b.RoomID) if b.RoomID else None,
                arrival=b.ArrivalDate,
                departure=b.DepartureDate,
            )
            for b in ((bookings.Booking or ()) if bookings is not None else ())
        ]


def _call_result(reply: _Reply, operation: str) -> rezlynx.CallResult | None:
    if reply.result is None:
        return None
    block = getattr(reply.result, f"{operation}Result")
    return rezlynx.CallResult(int(block.ExceptionCode), block.ExceptionDescription or "")
