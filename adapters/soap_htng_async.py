"""The htng-async poster (Hotel Perfect): SOAP 1.2, WS-Addressing 2005/08, result by callback.

The exchange for one leg::

    gateway --ChargePostingRQ (CorrelationID, EchoToken, wsa:ReplyTo = our callback URL)--> PMS
    gateway <--AcknowledgeReceipt----------------------------------------------------- PMS
    gateway <--ChargePostingResultRQ (POST /v1/callbacks/htng-async/<property>)--------- PMS
    gateway --AcknowledgeReceipt-------------------------------------------------------> PMS

- A charge leg is one ``RevenueLine`` (PMSRevenueCode = the transaction code), a payment leg
  one ``PaymentLine``, on folio window 1 of the reservation; HotelCode is the property's
  ``hotel_code``. ``CorrelationID``, ``EchoToken`` and the line's ``ReferenceID`` are the leg's
  wire reference (:func:`adapters.soap_channel.wire_reference`), so a retry carries the same
  ones and a PMS that deduplicates can.
- The leg is registered as pending *before* the request leaves, because the result may arrive
  before the acknowledgement is read. The acknowledgement only says "received": the outcome is
  the result callback, matched by CorrelationID (and, when the callback carries one, by
  ``RelatesTo`` = our request's MessageID, so a stray result of an earlier attempt is not taken
  for this one). ``Success`` is POSTED; ``Errors`` are classified by the most severe
  disposition of :data:`protocols.htng.htng_async.RESULT_CODES`, with the PMS's code and text.
- No result within ``callback_timeout_seconds`` (default: the property's answer timeout) after
  the acknowledgement: UNKNOWN. A fault or HTTP error instead of the acknowledgement is
  classified as on the other profiles.
- A duplicate result (same CorrelationID, after the leg was settled) is acknowledged and
  wire-logged; nothing else happens. A late result (after the leg went ``unknown``) is
  acknowledged, wire-logged against the leg, noted on the leg for the operator and reported in
  the log; the leg stays ``unknown`` (the operator resolves it, knowing what the PMS said).

**A/R account payments** (the event's ``payment.kind`` is ``account``: the confirmation number
is the account number; :meth:`SoapChannel.account_invoices` asks the journal, as the FIAS
channel does) go out as the same ``ChargePostingRQ`` with an ``AccountPosting`` instead of a
``Posting``: AccountNumber, one ``PaymentLine`` (the payment type, the positive amount, the
leg's reference) and one ``InvoiceRef`` per invoice the payment names, in order (none: the PMS
pays the oldest open invoices first and keeps the rest as prepaid). Everything above applies
unchanged: the acknowledgement, the result by callback, the timeout to ``unknown``, duplicate
and late results, the same CorrelationID on a retry. The ``Success`` result's
``AccountAllocation`` (invoices paid, prepaid) is written into the outcome's text; an unknown
account (``1012``) is terminal with the PMS's text. A charge to an account is a mapping error.
This profile reads no folio back after any leg, and an account has none anyway.

**Candidate searches** (:meth:`HtngAsyncChannel.search_guests`, issue 5 section 1) are one
``ReservationSearchRQ`` by guest name prefix, and **synchronous**: the answer comes on the HTTP
back-channel (``wsa:ReplyTo`` anonymous), not by callback. A search posts nothing, so there is
no outcome that could be lost and would have to be correlated later; the asynchronous pattern
exists so the PMS can acknowledge a posting before it has finished booking, which a read does
not need; and the candidate finder waits for the answer in the dispatcher's pass, which a
callback would only turn into a second waiting path. No answer, a retryable code or a Receiver
fault postpones the search; a refusal raises
:class:`~adapters.soap_channel.SearchRefused`. Each ``HotelReservation`` becomes a
:class:`~adapters.matching.PmsGuest` (ReservationID, GuestName, RoomNumber, ArrivalDate,
DepartureDate, and the folio's open ``Balance``, which the ranking compares with the payment).

:class:`HtngAsyncCallbackResource` is the callback endpoint: the hardened parser
(:func:`protocols.soap.parse_xml`; an XML bomb or an external entity is answered with a Sender
fault and nothing else happens), SOAP 1.2 only, the property's UsernameToken and a current
Timestamp, the XSD, then the channel. Refusals are SOAP faults and are logged, never
journaled: an unauthenticated document never reaches the journal.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IDelayedCall
from twisted.web import server
from twisted.web.resource import Resource
from zeep import xsd

from adapters.config import Profile, PropertyConfig
from adapters.dispatcher import LegMappingError
from adapters.domain import Leg
from adapters.fias_postings import PostingOutcome, PostingResult
from adapters.matching import PmsGuest
from adapters.money import format_minor
from adapters.soap_channel import (
    AnswerUnknown,
    RequestNotSent,
    SearchRefused,
    SoapChannel,
    log,
    wire_reference,
)
from protocols.htng import htng_async
from protocols.htng.money import Money, minor_unit_exponent
from protocols.soap import (
    DEFAULT_MAX_BYTES,
    EnvelopeError,
    Fault,
    FaultCode,
    HostileXml,
    MessageError,
    SoapVersion,
    Stamp,
    WsaVersion,
    XmlRejected,
    build_fault_envelope,
    fault_http_status,
    format_datetime,
    parse_envelope,
    parse_xml,
)

__all__ = [
    "CALLBACK_PATH",
    "CallbackMatch",
    "HtngAsyncCallbackResource",
    "HtngAsyncChannel",
    "JournalLegLog",
    "LegLog",
    "callback_path",
]

#: Where the PMS POSTs results, under the gateway's API (``{property}`` URL-quoted).
CALLBACK_PATH = "/v1/callbacks/htng-async/{property}"
#: Every leg posts to the reservation's first folio window.
FOLIO_WINDOW = 1
#: The longest revenue code or payment type, and hotel code, the profile's schema takes.
CODE_LENGTH = 20
HOTEL_CODE_LENGTH = 40
#: How many settled CorrelationIDs are remembered to tell duplicates and late results apart.
SETTLED_MEMORY = 4096


def callback_path(property_name: str) -> str:
    """The callback path of a property on the gateway's API site."""
    from urllib.parse import quote

    return CALLBACK_PATH.format(property=quote(property_name, safe=""))


class CallbackMatch(StrEnum):
    """What a result callback turned out to be."""

    MATCHED = "matched"  # settled a pending leg
    DUPLICATE = "duplicate"  # the leg was already settled: no-op
    LATE = "late"  # the leg had gone unknown: journaled and reported, not acted on
    UNMATCHED = "unmatched"  # no leg of ours has this CorrelationID


class LegLog(Protocol):
    """The journal, for results that arrive when their leg is no longer in flight."""

    def wire(self, reference: str | None, direction: str, payload: bytes, protocol: str) -> None:
        """Keep a message in the wire log, keyed by the leg of ``reference`` if it exists."""

    def note(self, reference: str, note: str) -> bool:
        """Note something on the leg of ``reference`` (its history); False if no such leg."""

    def is_unknown(self, reference: str) -> bool | None:
        """True/False for the leg's state being ``unknown``; None when there is no such leg."""


@dataclass
class _Pending:
    leg: Leg
    correlation_id: str
    message_id: str | None
    deferred: Deferred[PostingOutcome] = field(default_factory=Deferred)
    outcome: PostingOutcome | None = None
    acknowledged: bool = False
    timer: IDelayedCall | None = None


@dataclass(frozen=True)
class _Settled:
    reference: str
    result: PostingResult


class HtngAsyncChannel(SoapChannel):
    """Posts legs to an htng-async PMS and takes their results by callback (module doc)."""

    profile: ClassVar[Profile] = Profile.HTNG_ASYNC
    soap_version: ClassVar[SoapVersion] = SoapVersion.SOAP12
    wsa_version: ClassVar[WsaVersion | None] = WsaVersion.WSA_2005_08
    binding: ClassVar[str] = htng_async.BINDING

    def __init__(
        self,
        prop: PropertyConfig,
        *,
        callback_url: Callable[[], str],
        leg_log: LegLog | None = None,
        callback_timeout_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        #: True while a synchronous request (a search) is built: its ReplyTo is anonymous.
        self._synchronous = False
        super().__init__(
            prop, reply_to=lambda: None if self._synchronous else callback_url(), **kwargs
        )
        soap = prop.soap
        self.hotel_code = (getattr(soap, "hotel_code", None) if soap else None) or prop.name
        self.callback_url = callback_url
        self.callback_timeout_seconds = (
            prop.answer_timeout_seconds if callback_timeout_seconds is None
            else callback_timeout_seconds
        )  # fmt: skip
        self.leg_log = leg_log
        self._pending: dict[str, _Pending] = {}
        #: CorrelationIDs whose leg is being marked sent (the journal's commit is awaited).
        self._marking: set[str] = set()
        self._settled: collections.OrderedDict[str, _Settled] = collections.OrderedDict()
        #: Callbacks by what they turned out to be (for the log and tests).
        self.callbacks: collections.Counter[CallbackMatch] = collections.Counter()

    # -- posting -------------------------------------------------------------------------------

    def request_for(self, leg: Leg) -> dict[str, Any]:
        """The zeep arguments of the ChargePostingRQ for ``leg`` (LegMappingError if none):
        a ``Posting`` to the reservation, or an ``AccountPosting`` for an A/R account leg."""
        invoices = self.account_invoices(leg)
        if invoices is not None:
            return self._account_request(leg, invoices)
        plan = leg.plan
        if plan.transaction_code is not None and plan.payment_type is not None:
            raise LegMappingError(
                f"leg {leg.reference} carries a charge and its settlement; SOAP profiles post "
                "them as separate legs"
            )
        self.check_codes(
            leg,
            ("revenue code", plan.transaction_code, CODE_LENGTH),
            ("payment type", plan.payment_type, CODE_LENGTH),
            ("hotel code", self.hotel_code, HOTEL_CODE_LENGTH),
        )
        reference = wire_reference(leg.reference)
        line: dict[str, Any] = {
            "Amount": plan.amount,
            "CurrencyCode": plan.currency,
            "DecimalPlaces": minor_unit_exponent(plan.currency),
            "ReferenceID": reference,
            "Description": self.description(leg),
        }
        posting: dict[str, Any] = {
            "ReservationID": leg.confirmation_number,
            "FolioWindow": FOLIO_WINDOW,
        }
        business_date = self.business_date()
        if business_date is not None:
            posting["BusinessDate"] = business_date
        if plan.transaction_code is not None:
            posting["RevenueLine"] = [{"PMSRevenueCode": plan.transaction_code, **line}]
        elif plan.payment_type is not None:
            # The schema's choice is (RevenueLine+, PaymentLine*) | PaymentLine+. zeep 4.3
            # cannot render the second branch by its name (PaymentLine__1 is dropped), so the
            # first branch is rendered without its RevenueLine: the XML is the second branch
            # exactly, and the XSD check below proves it.
            posting["RevenueLine"] = xsd.SkipValue
            posting["PaymentLine"] = [{"PaymentType": plan.payment_type, **line}]
        else:
            raise LegMappingError(f"leg {leg.reference} names neither a revenue code nor a "
                                  "payment type")  # fmt: skip
        return {
            "EchoToken": reference,
            "TimeStamp": format_datetime(self._now()),
            "Version": htng_async.MESSAGE_VERSION,
            "CorrelationID": reference,
            "Property": {"HotelCode": self.hotel_code},
            "Posting": posting,
        }

    def _account_request(self, leg: Leg, invoices: tuple[str, ...]) -> dict[str, Any]:
        """The ChargePostingRQ arguments for a payment on A/R account
        ``leg.confirmation_number``, naming ``invoices``."""
        plan = leg.plan
        payment_type = self.account_payment_type(
            leg, CODE_LENGTH, ("hotel code", self.hotel_code, HOTEL_CODE_LENGTH),
            charge="revenue code",
        )  # fmt: skip
        reference = wire_reference(leg.reference)
        account: dict[str, Any] = {
            "AccountNumber": leg.confirmation_number,
            "PaymentLine": {
                "PaymentType": payment_type,
                "Amount": plan.amount,
                "CurrencyCode": plan.currency,
                "DecimalPlaces": minor_unit_exponent(plan.currency),
                "ReferenceID": reference,
                "Description": self.description(leg),
            },
            "InvoiceRef": [{"InvoiceID": invoice} for invoice in invoices],
        }
        business_date = self.business_date()
        if business_date is not None:
            account["BusinessDate"] = business_date
        return {
            "EchoToken": reference,
            "TimeStamp": format_datetime(self._now()),
            "Version": htng_async.MESSAGE_VERSION,
            "CorrelationID": reference,
            "Property": {"HotelCode": self.hotel_code},
            "AccountPosting": account,
        }

    def post(self, leg: Leg) -> Deferred[PostingOutcome]:
        kwargs = self.request_for(leg)
        operation = htng_async.Operation.CHARGE_POSTING.value
        data, headers = self.build(operation, leg.reference, **kwargs)
        return self._post(leg, kwargs["CorrelationID"], self.last_message_id, data, headers)

    @inlineCallbacks
    def _post(
        self,
        leg: Leg,
        correlation_id: str,
        message_id: str | None,
        data: bytes,
        headers: dict[str, str],
    ) -> Any:
        sent = False
        pending = _Pending(leg, correlation_id, message_id)
        try:
            if correlation_id in self._pending or correlation_id in self._marking:
                return self.outcome(
                    leg, PostingResult.NOT_SENT,
                    f"CorrelationID {correlation_id} is already waiting for its result",
                )  # fmt: skip
            self._marking.add(correlation_id)
            try:
                refused = yield self.written(leg)
            finally:
                self._marking.discard(correlation_id)
            if refused is not None:
                return self.outcome(leg, PostingResult.NOT_SENT, refused)
            # Registered before the request leaves: the result may beat the acknowledgement.
            self._pending[correlation_id] = pending
            sent = True
            operation = htng_async.Operation.CHARGE_POSTING.value
            try:
                reply = yield self.exchange(operation, data, headers, leg.reference)
            except (RequestNotSent, AnswerUnknown) as exc:
                if pending.outcome is not None:
                    return pending.outcome  # the result came first; it is what counts
                outcome = self.transport_outcome(leg, exc)
                self._settle(pending, outcome)
                return outcome
            if pending.outcome is not None:
                return pending.outcome
            refused_outcome = self.reply_outcome(leg, reply)
            if refused_outcome is not None:
                self._settle(pending, refused_outcome)
                return refused_outcome
            ack = reply.result
            if getattr(ack, "CorrelationID", None) != correlation_id:
                log.warn(
                    "{property}: acknowledgement for {reference} names CorrelationID {got}, "
                    "not {want}; waiting for the result anyway",
                    property=self.prop.name,
                    reference=leg.reference,
                    got=getattr(ack, "CorrelationID", None),
                    want=correlation_id,
                )
            pending.acknowledged = True
            pending.timer = self.call_later(
                self.callback_timeout_seconds, lambda: self._timed_out(pending)
            )
            outcome = yield pending.deferred
            return outcome
        except Exception:
            outcome = self.failed_outcome(leg, sent)
            if self._pending.get(correlation_id) is pending:
                self._settle(pending, outcome)
            return outcome

    def _timed_out(self, pending: _Pending) -> None:
        pending.timer = None
        if pending.outcome is not None:
            return
        seconds = self.callback_timeout_seconds
        outcome = self.outcome(
            pending.leg,
            PostingResult.UNKNOWN,
            f"acknowledged, but no result callback within {seconds:g} s",
        )
        log.warn(
            "{property}: no result for {reference} (CorrelationID {correlation}) within "
            "{seconds} s; the outcome is unknown",
            property=self.prop.name,
            reference=pending.leg.reference,
            correlation=pending.correlation_id,
            seconds=seconds,
        )
        self._settle(pending, outcome)

    def _settle(self, pending: _Pending, outcome: PostingOutcome) -> None:
        """End a pending leg with ``outcome`` and remember how it ended."""
        if pending.outcome is not None:
            return
        pending.outcome = outcome
        if pending.timer is not None and pending.timer.active():
            pending.timer.cancel()
        pending.timer = None
        if self._pending.get(pending.correlation_id) is pending:
            del self._pending[pending.correlation_id]
        if outcome.result is not PostingResult.NOT_SENT:
            self._settled[pending.correlation_id] = _Settled(pending.leg.reference, outcome.result)
            self._settled.move_to_end(pending.correlation_id)
            while len(self._settled) > SETTLED_MEMORY:
                self._settled.popitem(last=False)
        if pending.acknowledged and not pending.deferred.called:
            pending.deferred.callback(outcome)

    # -- results -------------------------------------------------------------------------------

    def result_outcome(
        self, leg: Leg, result: htng_async.ChargePostingResultRequest
    ) -> PostingOutcome:
        """The outcome a result callback gives a leg."""
        if result.success:
            numbers = ", ".join(str(line.transaction_number) for line in result.posted_lines)
            text = f"posted (transaction {numbers})" if numbers else "posted"
            if result.allocation is not None:
                text += "; " + _allocation_text(result.allocation)
            return self.outcome(leg, PostingResult.POSTED, f"the PMS answered Success: {text}",
                                status="Success", text=text)  # fmt: skip
        disposition = result.disposition
        worst = next(
            (error for error in result.errors if error.disposition is disposition),
            result.errors[0],
        )
        text = "; ".join(f"{error.code} {error.text}".strip() for error in result.errors)
        return self.disposition_outcome(leg, disposition, worst.code, text)

    def result_arrived(
        self,
        result: htng_async.ChargePostingResultRequest,
        *,
        relates_to: str | None,
        raw: bytes,
        acknowledgement: bytes,
    ) -> CallbackMatch:
        """A result callback passed every check: settle its leg, or say why not.

        ``raw`` (the callback) and ``acknowledgement`` (our answer) go into the wire log first,
        keyed by the leg while it is still in flight.
        """
        correlation_id = result.correlation_id
        pending = self._pending.get(correlation_id)
        if pending is not None and relates_to not in (None, pending.message_id):
            log.warn(
                "{property}: result for CorrelationID {correlation} relates to {relates_to}, "
                "an earlier attempt; ignored",
                property=self.prop.name,
                correlation=correlation_id,
                relates_to=relates_to,
            )
            return self._out_of_band(CallbackMatch.DUPLICATE, pending.leg.reference, result,
                                     raw, acknowledgement)  # fmt: skip
        if pending is not None:
            self.frame("in", raw, pending.leg.reference)
            self.frame("out", acknowledgement, pending.leg.reference)
            self.callbacks[CallbackMatch.MATCHED] += 1
            self._settle(pending, self.result_outcome(pending.leg, result))
            return CallbackMatch.MATCHED
        settled = self._settled.get(correlation_id)
        if settled is not None:
            kind = (
                CallbackMatch.LATE if settled.result is PostingResult.UNKNOWN
                else CallbackMatch.DUPLICATE
            )  # fmt: skip
            return self._out_of_band(kind, settled.reference, result, raw, acknowledgement)
        # Not in memory (e.g. the gateway restarted): the CorrelationID is the leg reference.
        unknown = self.leg_log.is_unknown(correlation_id) if self.leg_log is not None else None
        if unknown is None:
            return self._out_of_band(CallbackMatch.UNMATCHED, None, result, raw, acknowledgement)
        kind = CallbackMatch.LATE if unknown else CallbackMatch.DUPLICATE
        return self._out_of_band(kind, correlation_id, result, raw, acknowledgement)

    def _out_of_band(
        self,
        kind: CallbackMatch,
        reference: str | None,
        result: htng_async.ChargePostingResultRequest,
        raw: bytes,
        acknowledgement: bytes,
    ) -> CallbackMatch:
        self.callbacks[kind] += 1
        if self.leg_log is not None:
            self.leg_log.wire(reference, "in", _masked(raw), self.protocol)
            self.leg_log.wire(reference, "out", _masked(acknowledgement), self.protocol)
        said = _summary(result)
        if kind is CallbackMatch.LATE and reference is not None:
            note = (
                f"late result from the PMS after the leg went unknown (CorrelationID "
                f"{result.correlation_id}): {said}; not acted on, resolve the leg accordingly"
            )
            noted = self.leg_log.note(reference, note) if self.leg_log is not None else False
            log.warn(
                "{property}: LATE result for {reference}: {said}; the leg stays unknown "
                "(noted on the leg: {noted})",
                property=self.prop.name,
                reference=reference,
                said=said,
                noted=noted,
            )
        elif kind is CallbackMatch.DUPLICATE:
            log.info("{property}: duplicate result for {reference} ignored: {said}",
                     property=self.prop.name, reference=reference, said=said)  # fmt: skip
        else:
            log.warn(
                "{property}: result for unknown CorrelationID {correlation} ignored: {said}",
                property=self.prop.name,
                correlation=result.correlation_id,
                said=said,
            )
        return kind

    # -- the candidate search (synchronous) --------------------------------------------------

    @inlineCallbacks
    def search_guests(self, text: str) -> Any:
        """Reservations whose guest name starts with ``text`` (``ReservationSearchRQ``,
        answered in-band), as :class:`PmsGuest` records; None when the PMS cannot answer now;
        raises :class:`SearchRefused` when it refuses the search."""
        operation = htng_async.Operation.RESERVATION_SEARCH.value
        echo_token = self._new_message_id()
        self._synchronous = True
        try:
            data, headers = self.build(
                operation,
                f"search {text!r}",
                EchoToken=echo_token,
                TimeStamp=format_datetime(self._now()),
                Version=htng_async.MESSAGE_VERSION,
                Property={"HotelCode": self.hotel_code},
                SelectionCriteria={"GuestName": text},
            )
        finally:
            self._synchronous = False
        try:
            reply = yield self.exchange(operation, data, headers, None)
        except (RequestNotSent, AnswerUnknown) as exc:
            log.warn("ReservationSearch for {text!r}: {error}; trying again later",
                     text=text, error=str(exc))  # fmt: skip
            return None
        if reply.result is None:
            return self.search_problem(operation, text, reply)
        answer = reply.result
        if answer.EchoToken != echo_token:
            raise SearchRefused(
                f"the {self.protocol} PMS answered {operation} with EchoToken "
                f"{answer.EchoToken!r}, not ours ({echo_token!r})"
            )
        # zeep leaves out the choice's branch that is not there (an empty success: both).
        refused = getattr(answer, "Errors", None)
        if refused is not None:
            errors = tuple(
                htng_async.PostingError(str(error.Code), str(error._value_1 or ""))
                for error in refused.Error
            )
            disposition = htng_async.ReservationSearchResponse(
                echo_token, self._now(), errors=errors
            ).disposition
            code = next(e.code for e in errors if e.disposition is disposition)
            said = "; ".join(f"{error.code} {error.text}".strip() for error in errors)
            return self.search_result(operation, text, disposition, code, said)
        found = getattr(answer, "ReservationsList", None)
        return [
            PmsGuest(
                confirmation_number=str(r.ReservationID),
                guest_name=str(r.GuestName),
                room=str(r.RoomNumber) if r.RoomNumber else None,
                arrival=r.ArrivalDate,
                departure=r.DepartureDate,
                balance=self._balance(r.Balance),
            )
            for r in (found.HotelReservation if found is not None else ())
        ]

    def _balance(self, balance: Any) -> int | None:
        """A search's Balance in minor units of the property's currency (None: none given,
        or in another currency)."""
        if balance is None:
            return None
        if balance.CurrencyCode != self.prop.currency or balance.DecimalPlaces != self.decimals:
            return None
        return int(balance.Amount)

    # -- lifecycle -----------------------------------------------------------------------------

    def stopService(self) -> Deferred[None]:  # noqa: N802
        for pending in list(self._pending.values()):
            self._settle(
                pending,
                self.outcome(
                    pending.leg,
                    PostingResult.UNKNOWN,
                    "the gateway stopped before the PMS's result arrived",
                ),
            )
        return super().stopService()


def _summary(result: htng_async.ChargePostingResultRequest) -> str:
    if result.success:
        numbers = ", ".join(f"{p.reference}={p.transaction_number}" for p in result.posted_lines)
        return "Success" + (f" ({numbers})" if numbers else "")
    errors = "; ".join(f"{e.code} {e.text}" for e in result.errors)
    return f"Errors: {errors}"


def _allocation_text(allocation: htng_async.AccountAllocation) -> str:
    """``allocated A3 150.00 GBP, A1 250.00 GBP; prepaid 0.00 GBP`` (for the outcome's text)."""
    paid = ", ".join(f"{item.invoice_id} {_shown(item.amount)}" for item in allocation.allocations)
    prepaid = _shown(allocation.prepaid)
    return f"A/R {allocation.account_number}: allocated {paid or 'nothing'}; prepaid {prepaid}"


def _shown(money: Money) -> str:
    try:
        return format_minor(money.amount, money.currency)
    except ValueError:  # a currency foliogate does not know: show what the PMS sent
        return f"{money.amount} minor units of {money.currency}"


def _masked(data: bytes) -> bytes:
    from protocols.soap import mask_secrets

    return mask_secrets(data)


# ---------------------------------------------------------------------------------------------
# The callback endpoint
# ---------------------------------------------------------------------------------------------


class HtngAsyncCallbackResource(Resource):
    """``POST`` a ChargePostingResultRQ for one htng-async property (module docstring).

    Usable on its own (a leaf resource) or routed to by the gateway's API
    (``POST /v1/callbacks/htng-async/{property}``).
    """

    isLeaf = True

    def __init__(
        self,
        channel: HtngAsyncChannel,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        super().__init__()
        self.channel = channel
        self.max_bytes = max_bytes
        #: Callbacks refused, by reason (for the log and tests).
        self.refused: collections.Counter[str] = collections.Counter()

    def render_POST(self, request: server.Request) -> bytes:  # noqa: N802
        channel = self.channel
        version = channel.soap_version
        if getattr(request, "body_too_large", False):
            return self._refuse(request, "too-large", Fault(FaultCode.SENDER,
                                "the callback is larger than the gateway accepts"))  # fmt: skip
        assert request.content is not None
        raw = request.content.read()
        try:
            root = parse_xml(raw, max_bytes=self.max_bytes)
        except HostileXml as exc:
            return self._refuse(request, "hostile", Fault(FaultCode.SENDER, str(exc), "HostileXml"))
        except XmlRejected as exc:
            return self._refuse(request, exc.reason,
                                Fault(FaultCode.SENDER, str(exc), "XmlRejected"))  # fmt: skip
        try:
            envelope = parse_envelope(root)
        except EnvelopeError as exc:
            return self._refuse(request, "envelope", Fault(exc.fault_code, str(exc)))
        if envelope.version is not version:
            return self._refuse(request, "version", Fault(FaultCode.VERSION_MISMATCH,
                                "the htng-async profile speaks SOAP 1.2 only"))  # fmt: skip
        security = envelope.security
        if security is None or not security.matches(channel.credentials):
            return self._refuse(request, "authentication", Fault(FaultCode.SENDER,
                                "Authentication failed", "FailedAuthentication"))  # fmt: skip
        now = channel._now()
        stale = security.timestamp_problem(now)
        if stale is not None:
            return self._refuse(request, "timestamp",
                                Fault(FaultCode.SENDER, stale, "MessageExpired"))  # fmt: skip
        if envelope.not_understood:
            return self._refuse(
                request,
                "must-understand",
                Fault(
                    FaultCode.MUST_UNDERSTAND,
                    f"not understood: {', '.join(envelope.not_understood)}",
                ),
            )
        errors = channel.validator.validate_body(envelope.payload)
        if errors:
            return self._refuse(request, "schema", Fault(FaultCode.SENDER,
                                "the body does not match the schema", "SchemaInvalid",
                                tuple(errors)))  # fmt: skip
        try:
            result = htng_async.parse_charge_posting_result_request(envelope.payload)
        except (MessageError, ValueError) as exc:
            return self._refuse(request, "message", Fault(FaultCode.SENDER, str(exc),
                                "SchemaInvalid"))  # fmt: skip
        addressing = envelope.addressing
        acknowledgement = htng_async.build_charge_posting_result_response(
            htng_async.acknowledge(result, now),
            relates_to=addressing.message_id if addressing else None,
            stamp=Stamp.fresh(lambda: now, channel._new_message_id),
        )
        channel.result_arrived(
            result,
            relates_to=addressing.relates_to if addressing else None,
            raw=raw,
            acknowledgement=acknowledgement,
        )
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", b"application/soap+xml; charset=utf-8")
        return acknowledgement

    def _refuse(self, request: server.Request, reason: str, fault: Fault) -> bytes:
        self.refused[reason] += 1
        log.warn(
            "{property}: callback from {peer} refused ({reason}): {text}",
            property=self.channel.prop.name,
            peer=str(request.getClientAddress()),
            reason=reason,
            text=fault.reason,
        )
        version = self.channel.soap_version
        request.setResponseCode(fault_http_status(fault, version))
        request.setHeader(b"Content-Type", f"{version.media_type}; charset=utf-8".encode())
        return build_fault_envelope(fault, version)


# ---------------------------------------------------------------------------------------------
# The journal side of out-of-band results
# ---------------------------------------------------------------------------------------------


class JournalLegLog:
    """:class:`LegLog` over the gateway's journal, for one property."""

    def __init__(self, journal: Any, property_name: str, now: Callable[[], dt.datetime]) -> None:
        self.journal = journal
        self.property = property_name
        self._now = now

    def _leg(self, reference: str | None) -> Leg | None:
        if not reference:
            return None
        event_id, sep, index = reference.rpartition("/")
        if not sep or not index.isdigit():
            return None
        record = self.journal.event(event_id)
        if record is None:
            return None
        for leg in getattr(record, "legs", ()):
            if leg.leg_index == int(index) and leg.property == self.property:
                return leg  # type: ignore[no-any-return]
        return None

    def wire(self, reference: str | None, direction: str, payload: bytes, protocol: str) -> None:
        leg = self._leg(reference)
        self.journal.log_wire(direction, protocol, payload, property=self.property,
                              leg_id=None if leg is None else leg.leg_id)  # fmt: skip

    def is_unknown(self, reference: str) -> bool | None:
        from adapters.domain import LegState

        leg = self._leg(reference)
        return None if leg is None else leg.state is LegState.UNKNOWN

    def note(self, reference: str, note: str) -> bool:
        leg = self._leg(reference)
        if leg is None:
            return False
        self.journal.add_note(leg.leg_id, note, action="late-result")
        return True
