"""Re-send a leg's recorded SOAP posting to a PMS (a simulator) to see what it answers now.

The SOAP counterpart of :mod:`adapters.replay` (FIAS), for the two synchronous profiles:

- :func:`plan_soap_replay` picks from the leg's wire log the LAST posting request the gateway
  sent (opera-htng ``PostCharge``/``PostPayment``/``PostAccountPayment``; rezlynx
  ``PostToRoom``/``AddPayment``/``AddDeposit``/``AddAccountPayment``: never a ``LogIn``, a
  folio read or a search), reads it with the hardened parser and keeps its Body payload and
  action. The answer that followed it is kept too (``recorded_answer``).
- :func:`replay_soap` sends that payload in a FRESH envelope to ``url`` (HTTP POST, with
  :class:`adapters.soap_channel.SoapHttp`):

  - **opera-htng**: SOAP 1.1, WS-Addressing 2004/08 (a new MessageID, the recorded
    ``wsa:Action`` and ``wsa:From``, ``wsa:To`` = ``url``) and a WS-Security UsernameToken with a
    fresh ``wsu:Timestamp`` (the credentials given: the property's environment variables);
  - **rezlynx**: SOAP 1.1 without WS-Security: first a ``LogIn`` (SiteID, operator, password),
    then the payload with the new session's ``SessionID`` in place of the recorded one, with the
    operation's ``SOAPAction``.

  It fires with a :class:`SoapReplayResult`: every message exchanged (unmasked: mask with
  :func:`protocols.soap.mask_secrets` before showing), the answer to the posting read into an
  :class:`Outcome` (opera-htng ``Result@resultStatusFlag`` with ``ErrorCode`` and ``Text``;
  rezlynx ``ExceptionCode`` and ``ExceptionDescription``; a SOAP fault), or the problem.

Refused (:class:`adapters.replay.ReplayRefused`): an **htng-async** leg (the PMS only
acknowledges the request; the result comes later by callback to the gateway's own address,
where no replay can read it: ``foliogate wire --leg ID`` shows the recorded exchange); a leg
with no posting request; a request whose payload was masked in the wire log (a 13-19 digit
Luhn run, which could be a card number, keeps only its last four digits there: it would not be
the message that was sent). Passwords are masked in the wire log too, but they live in the
headers (and the rezlynx ``LogIn``), which are rebuilt, never replayed.

**Replaying a posting posts it again** unless the PMS deduplicates by ``Reference`` (the
simulators answer an already *booked* reference with the original result and book nothing; a
reference the PMS rejected before is booked now). ``foliogate replay`` refuses a non-loopback
URL unless ``--force`` (:func:`is_loopback_url`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from twisted.internet.defer import Deferred, inlineCallbacks

from adapters.replay import ReplayRefused, is_loopback_host
from protocols.htng import opera_htng as oh
from protocols.htng import rezlynx as rz
from protocols.soap import (
    Caller,
    Credentials,
    EnvelopeError,
    SoapVersion,
    Stamp,
    WsaVersion,
    XmlRejected,
    build_envelope,
    build_request,
    http_headers,
    parse_envelope,
    parse_fault,
    parse_xml,
    random_message_id,
)

__all__ = [
    "ASYNC_REFUSAL",
    "REPLAYABLE_PROFILES",
    "SOAP_PROFILES",
    "Outcome",
    "SoapReplayPlan",
    "SoapReplayResult",
    "is_loopback_url",
    "is_url",
    "plan_soap_replay",
    "read_outcome",
    "replay_soap",
]

#: Every SOAP profile a wire log can name (``WireRecord.protocol``).
SOAP_PROFILES = ("opera-htng", "rezlynx", "htng-async")
#: The profiles :func:`replay_soap` can replay (synchronous: the answer is on the HTTP reply).
REPLAYABLE_PROFILES = ("opera-htng", "rezlynx")

ASYNC_REFUSAL = (
    "htng-async postings cannot be replayed: the PMS only acknowledges the request, and its "
    "result comes later by callback to the gateway's own address, where a replay cannot read "
    "it; use foliogate wire --leg ID to read the recorded request, acknowledgement and callback"
)

#: Request payload element (Clark name) -> operation, for the postings of each profile.
_POSTINGS: dict[str, dict[str, str]] = {
    "opera-htng": {
        f"{{{oh.NAMESPACE}}}{op.request_element}": op.value
        for op in (
            oh.Operation.POST_CHARGE,
            oh.Operation.POST_PAYMENT,
            oh.Operation.POST_ACCOUNT_PAYMENT,
        )  # fmt: skip
    },
    "rezlynx": {
        f"{{{rz.NAMESPACE}}}{op.request_element}": op.value
        for op in (
            rz.Operation.POST_TO_ROOM,
            rz.Operation.ADD_PAYMENT,
            rz.Operation.ADD_DEPOSIT,
            rz.Operation.ADD_ACCOUNT_PAYMENT,
        )  # fmt: skip
    },
}

#: What the wire log's masking leaves of a card-like run: 9+ '*' (separators kept), 4 digits.
_MASKED_CARD = re.compile(rb"\*(?:[ -]?\*){8,}(?:[ -]?[0-9]){4}")


@dataclass(frozen=True)
class SoapReplayPlan:
    profile: str  # "opera-htng" or "rezlynx"
    operation: str  # "PostPayment", "AddDeposit", ...
    action: str  # wsa:Action / SOAPAction of the request
    payload: bytes  # the Body payload element as recorded (serialized)
    from_address: str | None = None  # the recorded wsa:From (opera-htng)
    recorded_answer: bytes | None = None  # the PMS's answer to it then, as logged (masked)


@dataclass(frozen=True)
class Outcome:
    """What the PMS answered a posting: ``ok`` is the PMS's success; ``summary`` says it."""

    ok: bool
    summary: str


@dataclass
class SoapReplayResult:
    #: Every message of the replay: (direction "out"/"in", text: "POST url" / "HTTP 200",
    #: the envelope as sent or received, unmasked).
    messages: list[tuple[str, str, bytes]] = field(default_factory=list)
    outcome: Outcome | None = None  # the answer to the replayed posting; None: no answer
    problem: str | None = None  # why there is no outcome

    @property
    def ok(self) -> bool:
        return self.outcome is not None and self.outcome.ok


# -- planning ------------------------------------------------------------------------------------


def plan_soap_replay(wire: Sequence[Any]) -> SoapReplayPlan:
    """The last posting request of a SOAP leg, from its wire log (oldest first)."""
    profiles = sorted({w.protocol for w in wire if w.protocol in SOAP_PROFILES})
    if "htng-async" in profiles:
        raise ReplayRefused(ASYNC_REFUSAL)
    if not profiles:
        kinds = sorted({w.protocol for w in wire}) or ["nothing"]
        raise ReplayRefused(f"the leg's wire log holds {', '.join(kinds)}: no SOAP request "
                            "to replay")  # fmt: skip
    if len(profiles) > 1:
        raise ReplayRefused(f"the leg's wire log mixes {' and '.join(profiles)}")
    (profile,) = profiles
    postings = _POSTINGS[profile]
    records = [w for w in wire if w.protocol == profile]
    found: tuple[int, Any, Any] | None = None
    for index, record in enumerate(records):
        if record.direction != "out":
            continue
        try:
            envelope = parse_envelope(parse_xml(record.raw))
        except (XmlRejected, EnvelopeError):
            continue  # not an envelope we could have built; nothing to re-send
        if envelope.payload.tag in postings:
            found = (index, record, envelope)
    if found is None:
        raise ReplayRefused(f"no {profile} posting request was sent for this leg "
                            "(nothing to replay)")  # fmt: skip
    index, record, envelope = found
    operation = postings[envelope.payload.tag]
    payload = etree.tostring(envelope.payload)
    if _MASKED_CARD.search(payload):
        raise ReplayRefused(
            f"the {operation} request was masked in the wire log (a card-like digit run): "
            "it cannot be re-sent as it was"
        )
    addressing = envelope.addressing
    if profile == "opera-htng":
        action = (addressing.action if addressing else None) or oh.Operation(operation).action
        from_address = addressing.from_address if addressing else None
    else:
        action = rz.Operation(operation).action
        from_address = None
        if envelope.payload.find(f"{{{rz.NAMESPACE}}}SessionID") is None:
            raise ReplayRefused(f"the recorded {operation} request has no SessionID to replace")
    answer = next(
        (w.raw for w in records[index + 1 :] if w.direction == "in"), None
    )  # fmt: skip
    return SoapReplayPlan(profile, operation, action, payload, from_address, answer)


# -- answers -------------------------------------------------------------------------------------


def read_outcome(profile: str, data: bytes, http_status: int | None = None) -> Outcome:
    """What an answer envelope says (a fault, the in-band result); never raises."""
    where = f"HTTP {http_status}, " if http_status is not None else ""
    try:
        envelope = parse_envelope(parse_xml(data))
    except (XmlRejected, EnvelopeError) as exc:
        return Outcome(False, f"{where}unreadable answer: {exc}")
    if envelope.is_fault:
        fault = parse_fault(envelope.payload)
        sub = f".{fault.subcode}" if fault.subcode else ""
        return Outcome(False, f"SOAP fault {fault.code.value}{sub}: {fault.reason}")
    payload = envelope.payload
    if profile == "opera-htng":
        result = payload.find(f"{{{oh.NAMESPACE}}}Result")
        if result is None:
            return Outcome(False, f"{where}no Result in {etree.QName(payload).localname}")
        status = result.get("resultStatusFlag") or "?"
        code = result.findtext(f"{{{oh.NAMESPACE}}}ErrorCode")
        text = result.findtext(f"{{{oh.NAMESPACE}}}Text")
        summary = status + (f" {code}" if code else "") + (f" ({text})" if text else "")
        return Outcome(status == oh.ResultStatus.SUCCESS.value, summary)
    block = next((child for child in payload if isinstance(child.tag, str)
                  and child.tag.endswith("Result")), None)  # fmt: skip
    code = block.findtext(f"{{{rz.NAMESPACE}}}ExceptionCode") if block is not None else None
    if code is None:
        return Outcome(False, f"{where}no ExceptionCode in {etree.QName(payload).localname}")
    text = block.findtext(f"{{{rz.NAMESPACE}}}ExceptionDescription") if block is not None else None
    summary = f"ExceptionCode {code.strip()}" + (f" ({text})" if text else "")
    return Outcome(code.strip() == str(int(rz.ExceptionCode.OK)), summary)


# -- URLs ----------------------------------------------------------------------------------------


def is_url(text: str) -> bool:
    """True for an ``http://`` or ``https://`` URL (a SOAP endpoint)."""
    return text.lower().startswith(("http://", "https://"))


def is_loopback_url(url: str) -> bool:
    """True only for an http(s) URL on this machine (127.0.0.0/8, ``[::1]``, ``localhost``).

    >>> is_loopback_url("http://127.0.0.1:8611/opera-htng"), is_loopback_url("https://pms.example")
    (True, False)
    """
    if not is_url(url):
        return False
    try:
        return is_loopback_host(urlsplit(url).hostname)
    except ValueError:
        return False


# -- sending -------------------------------------------------------------------------------------


def replay_soap(
    reactor: Any,
    url: str,
    plan: SoapReplayPlan,
    *,
    credentials: Credentials,
    site_id: str | None = None,
    timeout: float = 10.0,
    now: Callable[[], dt.datetime] | None = None,
    new_message_id: Callable[[], str] = random_message_id,
) -> Deferred[SoapReplayResult]:
    """POST ``plan`` to ``url`` in a fresh envelope (rezlynx: after a ``LogIn`` to
    ``site_id``) and fire with what happened. Never fails for what the PMS does: a refused
    connection, no answer within ``timeout`` seconds per exchange or a refused LogIn end up in
    ``SoapReplayResult.problem``."""
    if plan.profile not in REPLAYABLE_PROFILES:
        raise ValueError(f"{plan.profile} legs cannot be replayed")
    if plan.profile == "rezlynx" and not site_id:
        raise ValueError("a rezlynx replay logs in: give the site id")
    return _replay(reactor, url, plan, credentials, site_id, timeout,
                   now or (lambda: dt.datetime.now(dt.UTC)), new_message_id)  # fmt: skip


@inlineCallbacks
def _replay(
    reactor: Any,
    url: str,
    plan: SoapReplayPlan,
    credentials: Credentials,
    site_id: str | None,
    timeout: float,
    now: Callable[[], dt.datetime],
    new_message_id: Callable[[], str],
) -> Any:
    from adapters.soap_channel import AnswerUnknown, RequestNotSent, SoapHttp

    result = SoapReplayResult()
    http = SoapHttp(reactor, url, timeout=timeout, connections=1)

    @inlineCallbacks
    def exchange(data: bytes, action: str) -> Any:
        result.messages.append(("out", f'POST {url}  SOAPAction "{action}"', data))
        answer = yield http.post(data, http_headers(SoapVersion.SOAP11, action))
        result.messages.append(("in", f"HTTP {answer.status_code}", answer.content))
        return answer

    try:
        payload = parse_xml(plan.payload)
        if plan.profile == "opera-htng":
            caller = Caller(to=url, credentials=credentials, from_address=plan.from_address)
            data = build_request(SoapVersion.SOAP11, WsaVersion.WSA_2004_08, payload,
                                 action=plan.action, caller=caller,
                                 stamp=Stamp.fresh(now, new_message_id))  # fmt: skip
        else:
            log_in = rz.build_log_in_request(
                rz.LogInRequest(site_id or "", credentials.username, credentials.password)
            )
            answer = yield exchange(log_in, rz.Operation.LOG_IN.action)
            session = _session_id(answer.content)
            if session is None:
                login = read_outcome("rezlynx", answer.content, answer.status_code)
                result.problem = f"LogIn refused ({login.summary}); the posting was not sent"
                return result
            payload.find(f"{{{rz.NAMESPACE}}}SessionID").text = session
            data = build_envelope(SoapVersion.SOAP11, payload)
        answer = yield exchange(data, plan.action)
        result.outcome = read_outcome(plan.profile, answer.content, answer.status_code)
    except RequestNotSent as exc:
        result.problem = f"nothing reached {url}: {exc}"
    except AnswerUnknown as exc:
        result.problem = str(exc)
    finally:
        yield http.close()
    return result


def _session_id(data: bytes) -> str | None:
    try:
        response = rz.parse_log_in_response(parse_xml(data))
    except Exception:  # a fault, an unreadable answer: read_outcome says which
        return None
    return response.session_id if response.result.ok and response.session_id else None
