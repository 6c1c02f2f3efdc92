"""Payment events in: validate a decoded JSON event, list every problem, build a PaymentEvent.

The format is DESIGN section 2, published as the JSON Schema ``adapters/event.schema.json``
(:data:`SCHEMA_PATH`). This module is a small hand-written validator of the same rules, so
the gateway needs no schema library and its reasons can say what to do
("must be an integer number of minor units"). ``tests/test_events.py`` parses the schema
file and checks that both accept and refuse the same samples.

The validator is stricter than the schema where JSON Schema cannot say what we mean:

- ``5000.0`` is refused: JSON Schema's data model makes it equal to ``5000``, but a decimal
  point on the wire usually means someone sent major units.
- Dates must exist on the calendar (``format`` only annotates in draft 2020-12), arrival
  must not be after departure, ``refund_of`` must name another event, and an invoice may be
  named only once.
- Anything that looks like a full card number is refused wherever it appears: a key such as
  ``card_number`` (also inside ``metadata``), 13 to 19 digits in a card field, or a
  Luhn-valid run of 13 to 19 digits in free text. The number itself never appears in a
  reason or a path.

Rules that are the same in both: unknown keys are refused (except inside ``metadata``);
``null`` counts as absent; ``payment`` is required for ``payment.*`` types; ``booking`` for
the posting types (``payment.succeeded``, ``payment.refunded``, ``deposit.redeemed``);
``booking.confirmation_number`` may be blank (absent, null or ``""``: adapters.matching
searches the PMS for candidates), except for an ``account`` payment, where it is the A/R
account and required; ``payment.invoices`` (the invoices an account payment pays) only on
``account`` payments; ``items`` (at least one) for ``deposit.redeemed``; ``refund_of`` for
``payment.refunded`` and only there.

Problems come in a fixed order: the fields of each object in the order of the format
(event_id, type, property, occurred_at, payment, booking, items, refund_of, metadata), each
object's unknown keys after its known fields.

>>> for problem in validate_event({"event_id": "e1", "type": "payment.succeeded"}):
...     print(problem)
property: is required
occurred_at: is required
payment: is required for payment.succeeded events
booking: is required for payment.succeeded events
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.domain import (
    Booking,
    EventType,
    Item,
    Payment,
    PaymentEvent,
    PaymentKind,
)
from adapters.money import is_known_currency
from protocols.soap.masking import luhn_valid

__all__ = [
    "MAX_AMOUNT",
    "MAX_ITEMS",
    "SCHEMA_PATH",
    "EventInvalid",
    "Problem",
    "canonical_body",
    "decode_event_json",
    "invoices_of",
    "load_schema",
    "parse_event",
    "validate_event",
]

#: The published JSON Schema of the event format (draft 2020-12).
SCHEMA_PATH = Path(__file__).with_name("event.schema.json")

#: Largest amount in minor units (12 digits: fits FIAS TA and every PMS we know).
MAX_AMOUNT = 999_999_999_999
MAX_ITEMS = 100
#: An account payment names at most this many invoices, each id at most this long.
MAX_INVOICES = 20
MAX_INVOICE_ID = 20

PAYMENT_TYPES = frozenset(t for t in EventType if t.value.startswith("payment."))
POSTING_TYPES = frozenset(
    {EventType.PAYMENT_SUCCEEDED, EventType.PAYMENT_REFUNDED, EventType.DEPOSIT_REDEEMED}
)
#: The allowed values, in declaration order (the reason lists them so), and each value's
#: member (a dict lookup costs less than calling the enum with the value).
_EVENT_TYPE_VALUES = [t.value for t in EventType]
_PAYMENT_KIND_VALUES = [k.value for k in PaymentKind]
_EVENT_TYPES = {t.value: t for t in EventType}
_PAYMENT_KINDS = {k.value: k for k in PaymentKind}
_ACCOUNT = PaymentKind.ACCOUNT.value


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an event: where (``payment.amount``, ``items[1].code``) and why.

    The path of the event itself (not an object, invalid JSON) is ``""``.
    """

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path or '(event)'}: {self.reason}"


class EventInvalid(ValueError):
    """The event breaks the format; ``problems`` lists every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def load_schema() -> dict[str, Any]:
    """The published JSON Schema, parsed (to serve it or feed a schema library)."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def canonical_body(obj: object) -> bytes:
    """Stable JSON bytes of a decoded event: sorted keys, no spaces, UTF-8.

    The journal compares the canonical bodies of two events with the same ``event_id``:
    equal means an exact repeat (a no-op), different means a conflict. Key order and
    whitespace do not matter; values do (``5000`` and ``5000.0`` differ).
    """
    return _CANONICAL.encode(obj).encode("utf-8")


#: What ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
#: allow_nan=False)`` builds on every call, built once.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def decode_event_json(body: bytes) -> object:
    """Decode a request body as strict JSON, or raise :class:`EventInvalid`.

    Stricter than :func:`json.loads`: UTF-8 only, no ``NaN``/``Infinity``, and no key twice
    in one object (two ``amount`` keys must not mean "the last one wins").
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventInvalid([Problem("", f"not UTF-8 text (byte {exc.start})")]) from None
    try:
        if text.startswith("\ufeff"):  # as json.loads refuses it (the decoder alone would not)
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text)
    except _DuplicateKey as exc:
        raise EventInvalid([Problem("", f"key {exc.key} appears twice in one object")]) from None
    except ValueError as exc:  # JSONDecodeError and _no_constant
        raise EventInvalid([Problem("", f"not valid JSON: {exc}")]) from None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = json.dumps(_mask_digits(key))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result  # the usual case, found at C speed: no key twice
    result = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


#: What ``json.loads(text, object_pairs_hook=..., parse_constant=...)`` builds on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)


def validate_event(obj: object) -> list[Problem]:
    """Every problem with a decoded JSON event (``[]`` when it is valid)."""
    return _Validation().event(obj)


def parse_event(obj: object) -> PaymentEvent:
    """A :class:`PaymentEvent` from a decoded JSON event; :class:`EventInvalid` lists all problems.

    ``metadata`` is validated but not carried: the journal keeps the raw body for audit.
    """
    problems = validate_event(obj)
    if problems:
        raise EventInvalid(problems)
    return parse_valid_event(obj)


def parse_valid_event(obj: object) -> PaymentEvent:
    """:func:`parse_event` for an object :func:`validate_event` has just accepted (the ingest
    API validates first, to answer 400 or 404; it need not validate twice)."""
    assert isinstance(obj, dict)  # validate_event refuses anything else
    payment = obj.get("payment")
    booking = obj.get("booking")
    items = obj.get("items")
    event_type = obj["type"]
    return PaymentEvent(
        event_id=obj["event_id"],
        type=_EVENT_TYPES.get(event_type) or EventType(event_type),
        property=obj["property"],
        occurred_at=_parse_datetime(obj["occurred_at"]),
        payment=None if payment is None else _payment(payment),
        booking=None if booking is None else _booking(booking),
        items=tuple(
            Item(code=i["code"], amount=i["amount"], description=i.get("description") or "")
            for i in items
        )
        if items
        else (),
        refund_of=obj.get("refund_of"),
    )


def _payment(p: dict[str, Any]) -> Payment:
    kind = p["kind"]
    return Payment(
        kind=_PAYMENT_KINDS.get(kind) or PaymentKind(kind),
        amount=p["amount"],
        currency=p["currency"],
        transaction_id=p["transaction_id"],
        method=p["method"],
        status=p["status"],
        card_type=p.get("card_type"),
        card_last4=p.get("card_last4"),
    )


def _booking(b: dict[str, Any]) -> Booking:
    arrival = b.get("arrival")  # null reads as absent
    departure = b.get("departure")
    return Booking(
        confirmation_number=b.get("confirmation_number") or "",  # blank: matching finds it
        guest_name=b.get("guest_name"),
        arrival=None if arrival is None else dt.date.fromisoformat(arrival),
        departure=None if departure is None else dt.date.fromisoformat(departure),
    )


def _is_account_payment(obj: Mapping[str, Any]) -> bool:
    payment = obj.get("payment")
    return isinstance(payment, dict) and payment.get("kind") == _ACCOUNT


def invoices_of(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The invoices an account payment names (``payment.invoices``; ``()`` when none).

    ``obj`` is a decoded (valid) event, e.g. the body the journal keeps. The domain's
    :class:`~adapters.domain.Payment` does not carry them yet, so this reads the body.
    """
    payment = obj.get("payment")
    invoices = payment.get("invoices") if isinstance(payment, dict) else None
    return tuple(invoices) if isinstance(invoices, list) else ()


# --- the rules ---------------------------------------------------------------------------

_VISIBLE_ASCII = re.compile(r"[!-~]+")
_VISIBLE_REASON = "must be printable ASCII without spaces"
_NOT_BLANK = re.compile(r"\S")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
_DATETIME_REASON = "must be an RFC 3339 date-time with a time zone, e.g. 2026-11-21T10:04:05Z"
_LAST4 = re.compile(r"[0-9]{4}")

_EVENT_FIELDS = (
    "event_id", "type", "property", "occurred_at", "payment", "booking", "items",
    "refund_of", "metadata",
)  # fmt: skip
_PAYMENT_FIELDS = (
    "kind", "amount", "currency", "transaction_id", "method", "status", "card_type",
    "card_last4", "invoices",
)  # fmt: skip
_INVOICE_ID = re.compile(r"[!-+\--{}~]+")  # printable ASCII but the separators , and |
_BOOKING_FIELDS = ("confirmation_number", "guest_name", "arrival", "departure")
_ITEM_FIELDS = ("code", "description", "amount")

# Card data (PCI DSS): the event may carry the card type and last four digits, nothing more.
_CARD_KEY = re.compile(r"(credit)?(card|cc)(number|num|no|pan)|pan|primaryaccountnumber")
_CARD_KEY_REASON = "card numbers are refused: send only card_type and card_last4"
_CARD_VALUE_REASON = "looks like a full card number and is refused: send only card_last4"
# 13 to 19 digits, optionally split by single spaces or dashes (4242 4242 4242 4242).
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_LONG_DIGITS = re.compile(r"[0-9]{13,}")


def _mask_digits(text: str) -> str:
    """Hide long digit runs (possible card numbers) in text that is echoed back (keys)."""
    return _LONG_DIGITS.sub("[digits]", text)


def _is_card_key(key: str) -> bool:
    return _CARD_KEY.fullmatch(re.sub(r"[^a-z]", "", key.lower())) is not None


def _has_card_number(text: str, *, card_field: bool) -> bool:
    """True if ``text`` holds 13-19 digits; outside card fields only Luhn-valid runs count."""
    for match in _DIGIT_RUN.finditer(text):
        if card_field or luhn_valid(re.sub(r"[ -]", "", match.group())):
            return True
    return False


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _a(json_type: str) -> str:
    if json_type == "null":
        return "null"
    return f"an {json_type}" if json_type[0] in "aeiou" else f"a {json_type}"


def _child(path: str, key: str) -> str:
    key = _mask_digits(key)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key[:64])}]"


@functools.lru_cache(maxsize=256)
def _parse_datetime(text: str) -> dt.datetime:
    """An RFC 3339 date-time (already checked by the pattern) as an aware datetime.

    Cached (the result is immutable; a ValueError is not cached): the ingest API validates
    an event (which parses ``occurred_at``) and then parses it, so each is parsed once."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise ValueError(_DATETIME_REASON)
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    micro = int((match[7] or ".0")[1:7].ljust(6, "0"))
    if second == 60:  # a leap second: Python has none; keep it inside the same minute
        second, micro = 59, 999_999
    if match[8]:
        tz = dt.UTC
    else:
        offset_h, offset_m = int(match[10]), int(match[11])
        if offset_h > 23 or offset_m > 59:
            raise ValueError("time zone offset out of range")
        sign = -1 if match[9] == "-" else 1
        tz = dt.timezone(sign * dt.timedelta(hours=offset_h, minutes=offset_m))
    return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


class _Validation:
    """One pass over one event, collecting problems in format order."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, reason: str) -> None:
        self.problems.append(Problem(path, reason))

    # -- objects --

    def event(self, obj: object) -> list[Problem]:
        if not isinstance(obj, dict):
            self.add("", f"must be a JSON object, not {_a(_json_type(obj))}")
            return self.problems
        event_id = self.identifier(obj, "event_id", "event_id", required=True)
        event_type = self.enum(obj, "type", "type", _EVENT_TYPE_VALUES, required=True)
        etype = _EVENT_TYPES[event_type] if event_type is not None else None
        self.string(
            obj, "property", "property", required=True, max_length=64,
            pattern=_VISIBLE_ASCII, pattern_reason=_VISIBLE_REASON,
        )  # fmt: skip
        self.occurred_at(obj)
        self.payment(obj, etype)
        self.booking(obj, etype)
        self.items(obj, etype)
        self.refund_of(obj, etype, event_id)
        self.metadata(obj)
        self.unknown_keys(obj, "", _EVENT_FIELDS)
        return self.problems

    def payment(self, obj: dict[str, Any], etype: EventType | None) -> None:
        value = obj.get("payment")
        if value is None:
            if etype in PAYMENT_TYPES:
                self.add("payment", f"is required for {etype} events")
            return
        if not isinstance(value, dict):
            self.add("payment", f"must be an object, not {_a(_json_type(value))}")
            return
        self.enum(value, "kind", "payment.kind", _PAYMENT_KIND_VALUES, required=True)
        self.amount(value, "payment.amount")
        self.currency(value, "payment.currency")
        self.identifier(value, "transaction_id", "payment.transaction_id", required=True)
        self.string(
            value, "method", "payment.method", required=True, max_length=64,
            pattern=_NOT_BLANK, pattern_reason="must not be blank",
        )  # fmt: skip
        self.string(
            value, "status", "payment.status", required=True, max_length=128,
            pattern=_NOT_BLANK, pattern_reason="must not be blank", free_text=True,
        )  # fmt: skip
        self.string(value, "card_type", "payment.card_type", max_length=32, card_field=True)
        self.card_last4(value)
        self.invoices(value)
        self.unknown_keys(value, "payment", _PAYMENT_FIELDS)

    def booking(self, obj: dict[str, Any], etype: EventType | None) -> None:
        value = obj.get("booking")
        if value is None:
            if etype in POSTING_TYPES:
                self.add("booking", f"is required for {etype} events")
            return
        if not isinstance(value, dict):
            self.add("booking", f"must be an object, not {_a(_json_type(value))}")
            return
        self.confirmation_number(value, _is_account_payment(obj))
        self.string(
            value, "guest_name", "booking.guest_name", max_length=200, min_length=0,
            free_text=True,
        )  # fmt: skip
        arrival = self.date(value, "arrival", "booking.arrival")
        departure = self.date(value, "departure", "booking.departure")
        if arrival is not None and departure is not None and departure < arrival:
            self.add("booking.departure", "must not be before arrival")
        self.unknown_keys(value, "booking", _BOOKING_FIELDS)

    def confirmation_number(self, booking: dict[str, Any], account: bool) -> None:
        """Blank (absent, null or "") means "unknown": matching searches the PMS for it. An
        A/R account payment must name its account (nothing searches A/R by name)."""
        path = "booking.confirmation_number"
        value = booking.get("confirmation_number")
        if value is None or value == "":
            if account:
                self.add(path, "is required" if value is None else "must name the A/R account")
            return
        self.string(
            booking, "confirmation_number", path, max_length=64, pattern=_VISIBLE_ASCII,
            pattern_reason=_VISIBLE_REASON,
        )  # fmt: skip

    def invoices(self, payment: dict[str, Any]) -> None:
        value = payment.get("invoices")
        path = "payment.invoices"
        if value is None:
            return
        if payment.get("kind") != PaymentKind.ACCOUNT.value:
            self.add(path, "is only allowed for account payments")
            return
        if not isinstance(value, list):
            self.add(path, f"must be an array of invoice ids, not {_a(_json_type(value))}")
            return
        if len(value) > MAX_INVOICES:
            self.add(path, f"must name at most {MAX_INVOICES} invoices")
            return
        for index, invoice in enumerate(value):
            at = f"{path}[{index}]"
            if not isinstance(invoice, str):
                self.add(at, f"must be a string, not {_a(_json_type(invoice))}")
            elif not 1 <= len(invoice) <= MAX_INVOICE_ID:
                self.add(at, f"must be 1 to {MAX_INVOICE_ID} characters")
            elif not _INVOICE_ID.fullmatch(invoice):
                self.add(at, "must be printable ASCII without spaces, commas or |")
            elif invoice in value[:index]:
                self.add(at, f"names invoice {invoice} twice")

    def items(self, obj: dict[str, Any], etype: EventType | None) -> None:
        value = obj.get("items")
        redeemed = etype is EventType.DEPOSIT_REDEEMED
        if value is None:
            if redeemed:
                self.add("items", f"is required for {etype} events")
            return
        if not isinstance(value, list):
            self.add("items", f"must be an array, not {_a(_json_type(value))}")
            return
        if redeemed and not value:
            self.add("items", f"must list at least one item for {etype} events")
        if len(value) > MAX_ITEMS:
            self.add("items", f"must have at most {MAX_ITEMS} items")
            return
        for index, item in enumerate(value):
            path = f"items[{index}]"
            if not isinstance(item, dict):
                self.add(path, f"must be an object, not {_a(_json_type(item))}")
                continue
            self.string(
                item, "code", f"{path}.code", required=True, max_length=64,
                pattern=_VISIBLE_ASCII, pattern_reason=_VISIBLE_REASON,
            )  # fmt: skip
            self.string(
                item, "description", f"{path}.description", max_length=200, min_length=0,
                free_text=True,
            )  # fmt: skip
            self.amount(item, f"{path}.amount")
            self.unknown_keys(item, path, _ITEM_FIELDS)

    def refund_of(
        self,
        obj: dict[str, Any],
        etype: EventType | None,
        event_id: str | None,
    ) -> None:
        value = obj.get("refund_of")
        if etype is EventType.PAYMENT_REFUNDED:
            if value is None:
                self.add("refund_of", f"is required for {etype} events")
                return
            refund_of = self.identifier(obj, "refund_of", "refund_of", required=True)
            if refund_of is not None and refund_of == event_id:
                self.add("refund_of", "must name another event, not this one")
        elif value is not None:
            if etype is None:
                self.identifier(obj, "refund_of", "refund_of", required=True)
            else:
                self.add("refund_of", f"is only allowed for payment.refunded events, not {etype}")

    def metadata(self, obj: dict[str, Any]) -> None:
        value = obj.get("metadata")
        if value is None:
            return
        if not isinstance(value, dict):
            self.add("metadata", f"must be an object, not {_a(_json_type(value))}")
            return
        self.scan_for_cards(value, "metadata", card_field=False)

    def scan_for_cards(self, value: object, path: str, *, card_field: bool) -> None:
        """Refuse card numbers anywhere inside free-form data (keys and values)."""
        if isinstance(value, dict):
            for key, child in value.items():
                child_path = _child(path, str(key))
                if _is_card_key(str(key)):
                    self.add(child_path, _CARD_KEY_REASON)
                else:
                    is_card = card_field or "card" in str(key).lower()
                    self.scan_for_cards(child, child_path, card_field=is_card)
        elif isinstance(value, list):
            for index, child in enumerate(value):
                self.scan_for_cards(child, f"{path}[{index}]", card_field=card_field)
        elif isinstance(value, str) and _has_card_number(value, card_field=card_field):
            self.add(path, _CARD_VALUE_REASON)

    def unknown_keys(self, obj: dict[str, Any], path: str, known: tuple[str, ...]) -> None:
        for key in obj:
            if key in known:
                continue
            key_path = _child(path, str(key))
            if _is_card_key(str(key)):
                self.add(key_path, _CARD_KEY_REASON)
                continue
            reason = "unknown field"
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.75)
            if close:
                reason += f" (did you mean {close[0]}?)"
            self.add(key_path, reason)

    # -- values --

    def string(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        *,
        required: bool = False,
        max_length: int,
        min_length: int = 1,
        pattern: re.Pattern[str] | None = None,
        pattern_reason: str = "",
        free_text: bool = False,
        card_field: bool = False,
    ) -> str | None:
        value = obj.get(key)
        if value is None:
            if required:
                self.add(path, "is required" if key not in obj else "must be a string, not null")
            return None
        if not isinstance(value, str):
            self.add(path, f"must be a string, not {_a(_json_type(value))}")
            return None
        # Card data first: a reason about the length must not hint at the number either.
        if (free_text or card_field) and _has_card_number(value, card_field=card_field):
            self.add(path, _CARD_VALUE_REASON)
            return None
        if len(value) < min_length:
            self.add(path, "must not be empty")
        elif len(value) > max_length:
            self.add(path, f"must be at most {max_length} characters")
        elif pattern is not None and not (
            pattern.search(value) if pattern is _NOT_BLANK else pattern.fullmatch(value)
        ):
            self.add(path, pattern_reason)
        else:
            return value
        return None

    def identifier(self, obj: dict[str, Any], key: str, path: str, *, required: bool) -> str | None:
        return self.string(
            obj, key, path, required=required, max_length=128,
            pattern=_VISIBLE_ASCII, pattern_reason=_VISIBLE_REASON,
        )  # fmt: skip

    def enum(
        self, obj: dict[str, Any], key: str, path: str, allowed: list[str], *, required: bool
    ) -> str | None:
        value = obj.get(key)
        if value is None:
            if required:
                self.add(path, "is required" if key not in obj else "must be a string, not null")
            return None
        if not isinstance(value, str):
            self.add(path, f"must be a string, not {_a(_json_type(value))}")
            return None
        if value not in allowed:
            self.add(path, "must be one of " + ", ".join(allowed))
            return None
        return value

    def amount(self, obj: dict[str, Any], path: str) -> None:
        value = obj.get("amount")
        if "amount" not in obj:
            self.add(path, "is required")
        elif isinstance(value, float):
            self.add(
                path,
                "must be an integer number of minor units (5000 for 50.00), not a decimal number",
            )
        elif isinstance(value, bool) or not isinstance(value, int):
            self.add(path, f"must be an integer number of minor units, not {_a(_json_type(value))}")
        elif value <= 0:
            self.add(path, "must be greater than 0")
        elif value > MAX_AMOUNT:
            self.add(path, f"must be at most {MAX_AMOUNT}")

    def currency(self, obj: dict[str, Any], path: str) -> None:
        value = self.string(obj, "currency", path, required=True, max_length=64)
        if value is None:
            return
        if not _CURRENCY.fullmatch(value):
            self.add(path, "must be 3 upper-case letters (ISO 4217), e.g. GBP")
        elif not is_known_currency(value):
            self.add(path, f"{value} is not a known ISO 4217 currency code")

    def card_last4(self, obj: dict[str, Any]) -> None:
        value = obj.get("card_last4")
        path = "payment.card_last4"
        if value is None:
            return
        if not isinstance(value, str):
            self.add(path, f"must be a string, not {_a(_json_type(value))}")
        elif _has_card_number(value, card_field=True):
            self.add(path, _CARD_VALUE_REASON)
        elif not _LAST4.fullmatch(value):
            self.add(path, "must be exactly 4 digits")

    def occurred_at(self, obj: dict[str, Any]) -> None:
        value = self.string(obj, "occurred_at", "occurred_at", required=True, max_length=64)
        if value is None:
            return
        if not _DATETIME.fullmatch(value):
            self.add("occurred_at", _DATETIME_REASON)
            return
        try:
            _parse_datetime(value)
        except ValueError:
            self.add("occurred_at", "is not a valid calendar date and time")

    def date(self, obj: dict[str, Any], key: str, path: str) -> dt.date | None:
        value = self.string(obj, key, path, max_length=64)
        if value is None:
            return None
        match = _DATE.fullmatch(value)
        if match is None:
            self.add(path, "must be a date YYYY-MM-DD")
            return None
        try:
            return dt.date(*(int(g) for g in match.groups()))
        except ValueError:
            self.add(path, "is not a valid calendar date")
            return None
