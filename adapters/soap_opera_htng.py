"""The opera-htng poster: synchronous SOAP 1.1, WS-Addressing 2004/08, UsernameToken.

A charge leg (a transaction code) is one ``PostCharge``, a payment leg (a payment type) one
``PostPayment``, on folio window 1 of the reservation named by the confirmation number, with
the leg's signed amount in minor units and its currency, and the leg's reference as
``Reference`` (the same on every retry). The answer is in-band: ``Result@resultStatusFlag``
SUCCESS, or FAIL with ``ErrorCode`` and ``Text``, classified by
:data:`protocols.htng.opera_htng.RESULT_CODES` (see :mod:`adapters.soap_channel`). After a
journey, ``FetchFolio`` (every window) gives the balance.

A leg to an A/R account (the event's ``payment.kind`` is ``account``: the confirmation number
is the account number; :meth:`SoapChannel.account_invoices` asks the journal, as the FIAS
channel does) is one ``PostAccountPayment`` instead: AccountNumber, PaymentType, the positive
Amount, Reference and the invoices the payment names (``InvoiceID``, in order; none: the PMS
pays the oldest open invoices first and keeps the rest as prepaid). A charge to an account is a
mapping error. No folio is read back after an account payment.

A candidate search (:meth:`OperaHtngChannel.search_guests`) is one ``SearchReservations`` by
guest name prefix; each ``Reservation`` summary becomes a
:class:`~adapters.matching.PmsGuest` (ConfirmationNumber, GuestName, Room, ArrivalDate,
DepartureDate; the summary carries no balance).
"""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.internet.defer import Deferred, inlineCallbacks

from adapters.config import Profile
from adapters.dispatcher import LegMappingError
from adapters.domain import Leg
from adapters.fias_postings import PostingOutcome, PostingResult
from adapters.matching import PmsGuest
from adapters.soap_channel import AnswerUnknown, RequestNotSent, SoapChannel, log, wire_reference
from protocols.htng import opera_htng
from protocols.htng.money import minor_unit_exponent
from protocols.soap import SoapVersion, WsaVersion

__all__ = ["FOLIO_WINDOW", "OperaHtngChannel"]

#: Every leg posts to the reservation's first folio window.
FOLIO_WINDOW = 1
#: The longest transaction code or payment type the profile's schema takes.
CODE_LENGTH = 20


class OperaHtngChannel(SoapChannel):
    """Posts legs to an opera-htng PMS (see the module docstring)."""

    profile: ClassVar[Profile] = Profile.OPERA_HTNG
    soap_version: ClassVar[SoapVersion] = SoapVersion.SOAP11
    wsa_version: ClassVar[WsaVersion | None] = WsaVersion.WSA_2004_08
    binding: ClassVar[str] = opera_htng.BINDING

    def request_for(self, leg: Leg) -> tuple[str, dict[str, Any]]:
        """The operation and its zeep arguments for ``leg`` (LegMappingError if none fits)."""
        plan = leg.plan
        invoices = self.account_invoices(leg)
        if invoices is not None:
            return self._account_request(leg, invoices)
        if plan.transaction_code is not None and plan.payment_type is not None:
            raise LegMappingError(
                f"leg {leg.reference} carries a charge and its settlement; the {self.protocol} "
                "profile posts them as separate legs (PostCharge, PostPayment)"
            )
        self.check_codes(
            leg,
            ("transaction code", plan.transaction_code, CODE_LENGTH),
            ("payment type", plan.payment_type, CODE_LENGTH),
        )
        common: dict[str, Any] = {
            "ReservationID": leg.confirmation_number,
            "FolioWindow": FOLIO_WINDOW,
            "Amount": {
                "_value_1": plan.amount,
                "currencyCode": plan.currency,
                "decimals": minor_unit_exponent(plan.currency),
            },
            "Reference": wire_reference(leg.reference),
            "BusinessDate": self.business_date(),
            "Description": self.description(leg),
        }
        if plan.transaction_code is not None:
            return opera_htng.Operation.POST_CHARGE.value, {
                **common,
                "TransactionCode": plan.transaction_code,
            }
        if plan.payment_type is not None:
            return opera_htng.Operation.POST_PAYMENT.value, {
                **common,
                "PaymentType": plan.payment_type,
            }
        raise LegMappingError(f"leg {leg.reference} names neither a transaction code nor a "
                              "payment type")  # fmt: skip

    def _account_request(self, leg: Leg, invoices: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
        """``PostAccountPayment`` for a leg to A/R account ``leg.confirmation_number``."""
        plan = leg.plan
        payment_type = self.account_payment_type(leg, CODE_LENGTH)
        return opera_htng.Operation.POST_ACCOUNT_PAYMENT.value, {
            "AccountNumber": leg.confirmation_number,
            "PaymentType": payment_type,
            "Amount": {
                "_value_1": plan.amount,
                "currencyCode": plan.currency,
                "decimals": minor_unit_exponent(plan.currency),
            },
            "Reference": wire_reference(leg.reference),
            "InvoiceID": list(invoices),
            "BusinessDate": self.business_date(),
            "Description": self.description(leg),
        }

    def post(self, leg: Leg) -> Deferred[PostingOutcome]:
        operation, kwargs = self.request_for(leg)
        data, headers = self.build(operation, leg.reference, **kwargs)
        return self._post(leg, operation, data, headers)

    @inlineCallbacks
    def _post(self, leg: Leg, operation: str, data: bytes, headers: dict[str, str]) -> Any:
        sent = False
        try:
            refused = yield self.written(leg)
            if refused is not None:
                return self.outcome(leg, PostingResult.NOT_SENT, refused)
            sent = True
            try:
                # Only the result is read (not the posting number nor anything else).
                reply = yield self.exchange(operation, data, headers, leg.reference,
                                            only=("Result",))  # fmt: skip
            except (RequestNotSent, AnswerUnknown) as exc:
                return self.transport_outcome(leg, exc)
            outcome = self.reply_outcome(leg, reply)
            if outcome is not None:
                return outcome
            result = _result(reply.result)
            status = result.error_code or result.status.value
            return self.disposition_outcome(leg, result.disposition, status, result.text)
        except Exception:
            return self.failed_outcome(leg, sent)

    @inlineCallbacks
    def folio_balance(self, leg: Leg, outcome: PostingOutcome) -> Any:
        """The balance of every folio window of the reservation (FetchFolio), or None
        (always None for an A/R account leg: an account has no folio)."""
        if self.account_invoices(leg) is not None:
            return None
        operation = opera_htng.Operation.FETCH_FOLIO.value
        data, headers = self.build(operation, leg.reference,
                                   ReservationID=leg.confirmation_number)  # fmt: skip
        # Only the result and the balance are read: not every line of the folio.
        reply = yield self.exchange(operation, data, headers, leg.reference,
                                    only=("Result", "Folio/Balance"))  # fmt: skip
        if reply.result is None:
            log.warn("FetchFolio for {conf}: {problem}", conf=leg.confirmation_number,
                     problem=reply.problem or reply.fault)  # fmt: skip
            return None
        result = _result(reply.result)
        folio = reply.result.Folio
        if not result.ok or folio is None:
            log.warn("FetchFolio for {conf}: {code} {text}", conf=leg.confirmation_number,
                     code=result.error_code, text=result.text)  # fmt: skip
            return None
        balance = folio.Balance
        if balance is None:
            log.warn("FetchFolio for {conf}: no balance", conf=leg.confirmation_number)
            return None
        if balance.currencyCode != self.prop.currency or balance.decimals != self.decimals:
            log.warn(
                "FetchFolio for {conf}: balance in {currency}/{decimals}, not {expected}",
                conf=leg.confirmation_number,
                currency=balance.currencyCode,
                decimals=balance.decimals,
                expected=self.prop.currency,
            )
            return None
        return int(balance._value_1)

    @inlineCallbacks
    def search_guests(self, text: str) -> Any:
        """Reservations whose guest name starts with ``text`` (``SearchReservations``), as
        :class:`PmsGuest` records; None when the PMS cannot answer now; raises
        :class:`~adapters.soap_channel.SearchRefused` when it refuses the search."""
        operation = opera_htng.Operation.SEARCH_RESERVATIONS.value
        data, headers = self.build(operation, f"search {text!r}", GuestName=text)
        try:
            reply = yield self.exchange(operation, data, headers, None)
        except (RequestNotSent, AnswerUnknown) as exc:
            log.warn("SearchReservations for {text!r}: {error}; trying again later",
                     text=text, error=str(exc))  # fmt: skip
            return None
        if reply.result is None:
            return self.search_problem(operation, text, reply)
        result = _result(reply.result)
        if not result.ok:
            return self.search_result(operation, text, result.disposition,
                                      result.error_code or result.status.value,
                                      result.text)  # fmt: skip
        return [
            PmsGuest(
                confirmation_number=str(r.ConfirmationNumber),
                guest_name=str(r.GuestName),
                room=str(r.Room) if r.Room else None,
                arrival=r.ArrivalDate,
                departure=r.DepartureDate,
            )
            for r in (reply.result.Reservation or ())
        ]


def _result(reply: Any) -> opera_htng.Result:
    """zeep's ``Result`` element as the profile's record (its disposition looks up the code)."""
    block = reply.Result
    return opera_htng.Result(
        opera_htng.ResultStatus(block.resultStatusFlag), block.Text, block.ErrorCode
    )
