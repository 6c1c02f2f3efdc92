"""Events in (adapters.events, adapters.money): every problem at once with its path, card data
never accepted nor echoed, the published JSON Schema agreeing with the validator, the
canonical body, and money in minor units."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from typing import Any

import pytest

from adapters.domain import Booking, EventType, Item, Payment, PaymentEvent, PaymentKind
from adapters.events import (
    MAX_AMOUNT,
    SCHEMA_PATH,
    EventInvalid,
    Problem,
    canonical_body,
    decode_event_json,
    invoices_of,
    load_schema,
    parse_event,
    validate_event,
)
from adapters.money import (
    CURRENCY_EXPONENTS,
    UnknownCurrency,
    format_minor,
    minor_unit_exponent,
    parse_major,
)

# The DESIGN §2 example, as a platform would send it.
DEPOSIT: dict[str, Any] = {
    "event_id": "evt_7f3a9c",
    "type": "payment.succeeded",
    "property": "GRAND-LONDON",
    "occurred_at": "2026-11-21T10:04:05Z",
    "payment": {
        "kind": "deposit",
        "amount": 5000,
        "currency": "GBP",
        "transaction_id": "pi_3Nx",
        "method": "onejourney",
        "card_type": "VISA",
        "card_last4": "4242",
        "status": "Payment Success",
    },
    "booking": {
        "confirmation_number": "123456",
        "guest_name": "Jane Doe",
        "arrival": "2026-11-27",
        "departure": "2026-11-29",
    },
}
REDEEMED: dict[str, Any] = {
    "event_id": "evt_red",
    "type": "deposit.redeemed",
    "property": "GRAND-LONDON",
    "occurred_at": "2026-11-29T11:00:00+01:00",
    "booking": {"confirmation_number": "123456"},
    "items": [{"code": "SPA_TREATMENT", "description": "Massage 60", "amount": 5000}],
}
REFUNDED: dict[str, Any] = {
    **copy.deepcopy(DEPOSIT),
    "event_id": "evt_ref",
    "type": "payment.refunded",
    "refund_of": "evt_7f3a9c",
    "metadata": {"ticket": "CS-1", "agent": {"name": "Ann"}},
}
PENDING: dict[str, Any] = {
    "event_id": "evt_pend",
    "type": "payment.pending",
    "property": "GRAND-LONDON",
    "occurred_at": "2026-11-21T10:04:05.123456789-05:30",
    "payment": {**DEPOSIT["payment"], "status": "pending"},
}
ACCOUNT: dict[str, Any] = {
    "event_id": "evt_ar",
    "type": "payment.succeeded",
    "property": "GRAND-LONDON",
    "occurred_at": "2026-11-21T10:04:05Z",
    "payment": {**DEPOSIT["payment"], "kind": "account", "invoices": ["A1", "A-2"]},
    "booking": {"confirmation_number": "AR1001", "guest_name": "ACME Travel Ltd"},
}
GOOD = {
    "deposit": DEPOSIT,
    "redeemed": REDEEMED,
    "refunded": REFUNDED,
    "pending": PENDING,
    "account": ACCOUNT,
}


def changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``base``; ``a__b=`` sets nested key b of a, a value of ``DROP`` removes it."""
    obj = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        target = obj
        for parent in parents:
            target = target[parent]
        if value is DROP:
            target.pop(key, None)
        else:
            target[key] = value
    return obj


DROP = object()


def problems(obj: object) -> list[tuple[str, str]]:
    return [(p.path, p.reason) for p in validate_event(obj)]


# --- valid events -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOOD))
def test_valid_samples_have_no_problems(name):
    assert validate_event(GOOD[name]) == []


def test_the_design_example_parses_into_the_domain_event():
    assert parse_event(DEPOSIT) == PaymentEvent(
        event_id="evt_7f3a9c",
        type=EventType.PAYMENT_SUCCEEDED,
        property="GRAND-LONDON",
        occurred_at=dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC),
        payment=Payment(
            kind=PaymentKind.DEPOSIT,
            amount=5000,
            currency="GBP",
            transaction_id="pi_3Nx",
            method="onejourney",
            status="Payment Success",
            card_type="VISA",
            card_last4="4242",
        ),
        booking=Booking(
            confirmation_number="123456",
            guest_name="Jane Doe",
            arrival=dt.date(2026, 11, 27),
            departure=dt.date(2026, 11, 29),
        ),
    )


def test_redemption_items_and_offsets_parse_exactly():
    event = parse_event(REDEEMED)
    assert event.items == (Item(code="SPA_TREATMENT", amount=5000, description="Massage 60"),)
    assert event.occurred_at == dt.datetime(
        2026, 11, 29, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    assert event.payment is None
    pending = parse_event(PENDING)
    assert pending.occurred_at.utcoffset() == -dt.timedelta(hours=5, minutes=30)
    assert pending.occurred_at.microsecond == 123456  # nanoseconds truncated, never rounded up


def test_null_optional_fields_count_as_absent():
    obj = changed(
        DEPOSIT, payment__card_type=None, payment__card_last4=None, booking__arrival=None,
        items=None, refund_of=None, metadata=None,
    )  # fmt: skip
    event = parse_event(obj)
    assert (event.payment.card_type, event.payment.card_last4, event.booking.arrival) == (
        None,
        None,
        None,
    )
    assert (event.items, event.refund_of) == ((), None)


def test_account_payments_still_need_the_confirmation_number_of_the_ar_account():
    obj = changed(DEPOSIT, payment__kind="account", booking={"guest_name": "ACME Ltd"})
    assert problems(obj) == [("booking.confirmation_number", "is required")]
    blank = changed(obj, booking__confirmation_number="")
    assert problems(blank) == [("booking.confirmation_number", "must name the A/R account")]
    assert not schema_ok(obj) and not schema_ok(blank)


@pytest.mark.parametrize("blank", [DROP, None, ""], ids=["absent", "null", "empty"])
def test_a_blank_confirmation_number_is_accepted_and_parses_as_empty(blank):
    """Blank means unknown: adapters.matching searches the PMS for it (issue 5 section 1)."""
    obj = changed(DEPOSIT, booking__confirmation_number=blank)
    assert problems(obj) == [] and schema_ok(obj)
    assert parse_event(obj).booking.confirmation_number == ""


def test_a_confirmation_number_of_spaces_is_not_blank_but_wrong():
    obj = changed(DEPOSIT, booking__confirmation_number=" ")
    assert problems(obj) == [
        ("booking.confirmation_number", "must be printable ASCII without spaces")
    ]


def test_account_payments_may_name_the_invoices_they_pay():
    assert problems(ACCOUNT) == []
    assert invoices_of(ACCOUNT) == ("A1", "A-2")
    assert invoices_of(DEPOSIT) == ()


@pytest.mark.parametrize(
    ("invoices", "expected"),
    [
        ("A1", [("payment.invoices", "must be an array of invoice ids, not a string")]),
        (["A1", "A1"], [("payment.invoices[1]", "names invoice A1 twice")]),
        (["A,1"], [("payment.invoices[0]", "must be printable ASCII without spaces, commas or |")]),
        (["A 1"], [("payment.invoices[0]", "must be printable ASCII without spaces, commas or |")]),
        (["x" * 21], [("payment.invoices[0]", "must be 1 to 20 characters")]),
        ([7], [("payment.invoices[0]", "must be a string, not an integer")]),
        ([f"I{n}" for n in range(21)], [("payment.invoices", "must name at most 20 invoices")]),
    ],
    ids=["not a list", "twice", "comma", "space", "long", "number", "too many"],
)
def test_invoice_lists_the_validator_refuses(invoices, expected):
    assert problems(changed(ACCOUNT, payment__invoices=invoices)) == expected


def test_only_account_payments_name_invoices():
    obj = changed(DEPOSIT, payment__invoices=["A1"])
    assert problems(obj) == [("payment.invoices", "is only allowed for account payments")]
    assert not schema_ok(obj)


# --- every problem at once ----------------------------------------------------------------


def test_a_bad_event_lists_every_problem_with_its_path_in_format_order():
    obj = {
        "event_id": "",
        "type": "payment.refunded",
        "property": "GRAND LONDON",
        "occurred_at": "2026-11-21 10:04:05",
        "payment": {
            "kind": "tip",
            "amount": 50.0,
            "currency": "gbp",
            "transaction_id": "pi_1",
            "method": " ",
            "status": "succeeded",
            "card_last4": "42",
            "curency": "GBP",
        },
        "booking": {"arrival": "2026-11-29", "departure": "2026-11-27"},
        "items": [{"code": "SPA", "amount": "50"}, "massage"],
        "colour": "blue",
    }
    assert problems(obj) == [
        ("event_id", "must not be empty"),
        ("property", "must be printable ASCII without spaces"),
        ("occurred_at", "must be an RFC 3339 date-time with a time zone, e.g. "
                        "2026-11-21T10:04:05Z"),
        ("payment.kind", "must be one of deposit, balance, account, order, event_settlement"),
        ("payment.amount", "must be an integer number of minor units (5000 for 50.00), not a "
                           "decimal number"),
        ("payment.currency", "must be 3 upper-case letters (ISO 4217), e.g. GBP"),
        ("payment.method", "must not be blank"),
        ("payment.card_last4", "must be exactly 4 digits"),
        ("payment.curency", "unknown field (did you mean currency?)"),
        ("booking.departure", "must not be before arrival"),
        ("items[0].amount", "must be an integer number of minor units, not a string"),
        ("items[1]", "must be an object, not a string"),
        ("refund_of", "is required for payment.refunded events"),
        ("colour", "unknown field"),
    ]  # fmt: skip


def test_parse_event_raises_with_every_problem():
    with pytest.raises(EventInvalid) as caught:
        parse_event(changed(DEPOSIT, event_id=DROP, payment__amount=0))
    assert caught.value.problems == (
        Problem("event_id", "is required"),
        Problem("payment.amount", "must be greater than 0"),
    )
    assert str(caught.value) == "event_id: is required; payment.amount: must be greater than 0"


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (50.0, "must be an integer number of minor units (5000 for 50.00), not a decimal number"),
        (49.99, "must be an integer number of minor units (5000 for 50.00), not a decimal number"),
        ("5000", "must be an integer number of minor units, not a string"),
        (True, "must be an integer number of minor units, not a boolean"),
        (None, "must be an integer number of minor units, not null"),
        (0, "must be greater than 0"),
        (-5000, "must be greater than 0"),
        (MAX_AMOUNT + 1, "must be at most 999999999999"),
    ],
)
def test_amounts_must_be_positive_integer_minor_units(amount, reason):
    assert problems(changed(DEPOSIT, payment__amount=amount)) == [("payment.amount", reason)]


@pytest.mark.parametrize(
    ("currency", "reason"),
    [
        ("gbp", "must be 3 upper-case letters (ISO 4217), e.g. GBP"),
        ("POUND", "must be 3 upper-case letters (ISO 4217), e.g. GBP"),
        ("XYZ", "XYZ is not a known ISO 4217 currency code"),
        ("XAU", "XAU is not a known ISO 4217 currency code"),  # gold has no minor unit
        (826, "must be a string, not an integer"),
    ],
)
def test_currency_must_be_a_known_iso_4217_code(currency, reason):
    assert problems(changed(DEPOSIT, payment__currency=currency)) == [("payment.currency", reason)]


def test_conditional_fields_are_required_by_type():
    bare = {"event_id": "e", "property": "P", "occurred_at": "2026-11-21T10:04:05Z"}
    assert problems({**bare, "type": "payment.failed"}) == [
        ("payment", "is required for payment.failed events"),
    ]
    assert problems({**bare, "type": "deposit.redeemed"}) == [
        ("booking", "is required for deposit.redeemed events"),
        ("items", "is required for deposit.redeemed events"),
    ]
    assert problems(changed(REDEEMED, items=[])) == [
        ("items", "must list at least one item for deposit.redeemed events"),
    ]
    assert problems(changed(DEPOSIT, refund_of="evt_x")) == [
        ("refund_of", "is only allowed for payment.refunded events, not payment.succeeded"),
    ]
    assert problems(changed(REFUNDED, refund_of="evt_ref")) == [
        ("refund_of", "must name another event, not this one"),
    ]


def test_pending_and_failed_payments_need_no_booking():
    assert validate_event(changed(PENDING, type="payment.failed")) == []


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("occurred_at", "2026-11-21T10:04:05", "must be an RFC 3339 date-time with a time zone, "
         "e.g. 2026-11-21T10:04:05Z"),
        ("occurred_at", "2026-02-30T10:04:05Z", "is not a valid calendar date and time"),
        ("occurred_at", "2026-11-21T10:04:05+24:00", "is not a valid calendar date and time"),
        ("type", "payment.captured", "must be one of payment.succeeded, payment.refunded, "
         "deposit.redeemed, payment.pending, payment.failed"),
        ("event_id", "x" * 129, "must be at most 128 characters"),
        ("event_id", "evt 1", "must be printable ASCII without spaces"),
        ("event_id", 7, "must be a string, not an integer"),
    ],
)  # fmt: skip
def test_top_level_field_rules(field, value, reason):
    assert problems(changed(DEPOSIT, **{field: value})) == [(field, reason)]


def test_booking_dates_must_be_real_calendar_dates():
    assert problems(
        changed(DEPOSIT, booking__arrival="2026-02-30", booking__departure="27/11")
    ) == [
        ("booking.arrival", "is not a valid calendar date"),
        ("booking.departure", "must be a date YYYY-MM-DD"),
    ]


def test_leap_seconds_are_kept_inside_their_minute():
    event = parse_event(changed(DEPOSIT, occurred_at="2016-12-31T23:59:60Z"))
    assert event.occurred_at == dt.datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)


def test_the_event_must_be_an_object():
    assert problems([DEPOSIT]) == [("", "must be a JSON object, not an array")]
    assert str(Problem("", "must be a JSON object, not an array")) == (
        "(event): must be a JSON object, not an array"
    )


def test_metadata_is_free_form_but_must_be_an_object():
    assert validate_event(changed(DEPOSIT, metadata={"a": [1, {"b": None}], "c.d": True})) == []
    assert problems(changed(DEPOSIT, metadata="note")) == [
        ("metadata", "must be an object, not a string"),
    ]


# --- card data ------------------------------------------------------------------------------

CARD = "4111111111111111"  # a Luhn-valid test PAN
CARD_KEY = "card numbers are refused: send only card_type and card_last4"
CARD_VALUE = "looks like a full card number and is refused: send only card_last4"


def test_card_numbers_are_refused_wherever_they_appear():
    obj = changed(
        DEPOSIT,
        card_number=CARD,
        payment__card_last4=CARD,
        payment__card_type=f"VISA {CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}",
        payment__PAN=CARD,
        booking__guest_name=f"Jane {CARD}",
        metadata={
            "note": f"paid with {CARD}",
            "cardNo": "x",
            "card": {"number": "4000000000000002"},
        },
    )
    assert problems(obj) == [
        ("payment.card_type", CARD_VALUE),
        ("payment.card_last4", CARD_VALUE),
        ("payment.PAN", CARD_KEY),
        ("booking.guest_name", CARD_VALUE),
        ("metadata.note", CARD_VALUE),
        ("metadata.cardNo", CARD_KEY),
        ("metadata.card.number", CARD_VALUE),
        ("card_number", CARD_KEY),
    ]


def test_no_problem_ever_echoes_a_card_number():
    keyed = {CARD: "x", f"ref-{CARD}": "y"}
    obj = changed(DEPOSIT, payment__card_last4=CARD, metadata=keyed, **{CARD: 1})
    text = " ".join(f"{p.path} {p.reason}" for p in validate_event(obj))
    assert re.search(r"[0-9]{13}", text) is None
    assert "[digits]" in text  # the keys are named, their digits masked


def test_long_numbers_that_are_not_card_numbers_are_accepted_outside_card_fields():
    # 16 digits failing the Luhn check: an order reference, not a card.
    assert validate_event(changed(DEPOSIT, metadata={"order_ref": "4111111111111112"})) == []
    assert validate_event(changed(DEPOSIT, payment__transaction_id=CARD)) == []  # an id


def test_card_fields_refuse_any_13_to_19_digit_run_even_without_luhn():
    obj = changed(DEPOSIT, metadata={"card_token": "1234567890123"})
    assert problems(obj) == [("metadata.card_token", CARD_VALUE)]


# --- JSON decoding and the canonical body -------------------------------------------------


def test_canonical_body_ignores_key_order_and_whitespace_but_not_values():
    a = json.loads('{"b": 1, "a": {"y": "é", "x": [1, 2]}}')
    b = json.loads('{ "a" : { "x" : [1,2], "y" : "\\u00e9" } , "b" : 1 }')
    assert canonical_body(a) == canonical_body(b) == '{"a":{"x":[1,2],"y":"é"},"b":1}'.encode()
    assert canonical_body({"amount": 5000}) != canonical_body({"amount": 5000.0})


def test_decode_refuses_duplicate_keys_constants_and_bad_bytes():
    def reasons(body: bytes) -> list[str]:
        with pytest.raises(EventInvalid) as caught:
            decode_event_json(body)
        return [str(p) for p in caught.value.problems]

    assert decode_event_json(b'{"a": 1}') == {"a": 1}
    assert reasons(b'{"amount": 1, "amount": 5000}') == [
        '(event): key "amount" appears twice in one object'
    ]
    assert reasons(b'{"amount": NaN}') == ["(event): not valid JSON: NaN is not a JSON number"]
    assert reasons(b"\xff{}") == ["(event): not UTF-8 text (byte 0)"]
    assert reasons(b'{"a": }') == [
        "(event): not valid JSON: Expecting value: line 1 column 7 (char 6)"
    ]


# --- the published JSON Schema agrees with the validator -----------------------------------

_ANNOTATIONS = {"$schema", "$id", "title", "description", "$defs", "format", "examples"}


def _is_type(value: object, name: str) -> bool:
    if name == "integer":  # JSON Schema: any number with a zero fractional part
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    checks = {
        "null": lambda v: v is None,
        "boolean": lambda v: isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    return checks[name](value)


def schema_accepts(instance: object, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    """A small, independent draft 2020-12 evaluator for the keywords the schema file uses.

    Written apart from adapters.events so that the two can disagree; any keyword it does not
    know fails the test rather than being skipped.
    """
    number = isinstance(instance, int | float) and not isinstance(instance, bool)
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS or keyword in ("then", "else"):
            continue
        if keyword == "$ref":
            assert value.startswith("#/$defs/"), value
            ok = schema_accepts(instance, root["$defs"][value.removeprefix("#/$defs/")], root)
        elif keyword == "type":
            ok = any(_is_type(instance, t) for t in ([value] if isinstance(value, str) else value))
        elif keyword == "enum":
            ok = instance in value
        elif keyword == "const":
            ok = instance == value
        elif keyword == "pattern":
            ok = not isinstance(instance, str) or re.search(value, instance) is not None
        elif keyword == "minLength":
            ok = not isinstance(instance, str) or len(instance) >= value
        elif keyword == "maxLength":
            ok = not isinstance(instance, str) or len(instance) <= value
        elif keyword == "exclusiveMinimum":
            ok = not number or instance > value
        elif keyword == "maximum":
            ok = not number or instance <= value
        elif keyword == "required":
            ok = not isinstance(instance, dict) or all(k in instance for k in value)
        elif keyword == "properties":
            ok = not isinstance(instance, dict) or all(
                schema_accepts(instance[k], sub, root) for k, sub in value.items() if k in instance
            )
        elif keyword == "additionalProperties":
            assert value is False
            ok = not isinstance(instance, dict) or set(instance) <= set(schema["properties"])
        elif keyword == "items":
            ok = not isinstance(instance, list) or all(
                schema_accepts(i, value, root) for i in instance
            )
        elif keyword == "minItems":
            ok = not isinstance(instance, list) or len(instance) >= value
        elif keyword == "maxItems":
            ok = not isinstance(instance, list) or len(instance) <= value
        elif keyword == "allOf":
            ok = all(schema_accepts(instance, sub, root) for sub in value)
        elif keyword == "anyOf":
            ok = any(schema_accepts(instance, sub, root) for sub in value)
        elif keyword == "if":
            branch = "then" if schema_accepts(instance, value, root) else "else"
            ok = branch not in schema or schema_accepts(instance, schema[branch], root)
        else:
            raise AssertionError(f"the test's evaluator does not know {keyword!r}")
        if not ok:
            return False
    return True


SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def schema_ok(obj: object) -> bool:
    return schema_accepts(obj, SCHEMA, SCHEMA)


def _mutations():
    """Every field of every good sample, replaced by each value of a pool, or dropped."""
    pool = [
        DROP, None, "", " ", "x", "GBP", "gbp", "XYZ", "deposit", "payment.succeeded",
        "2026-11-27", "2026-11-21T10:04:05Z", "4242", "x" * 129, 0, 1, 5000, -1, True, [], {},
        [{"code": "SPA_TREATMENT", "amount": 1}], {"confirmation_number": "1"},
    ]  # fmt: skip

    def paths(obj: Any, prefix: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        found = []
        keys = obj.keys() if isinstance(obj, dict) else range(len(obj))
        for key in keys:
            found.append((*prefix, key))
            if isinstance(obj[key], dict | list):
                found += paths(obj[key], (*prefix, key))
        if isinstance(obj, dict):
            found.append((*prefix, "unexpected"))
        return found

    for name, base in GOOD.items():
        for path in paths(base, ()):
            for value in pool:
                obj = copy.deepcopy(base)
                target = obj
                for key in path[:-1]:
                    target = target[key]
                if value is DROP:
                    if isinstance(target, dict):
                        target.pop(path[-1], None)
                    else:
                        del target[path[-1]]
                else:
                    target[path[-1]] = copy.deepcopy(value)
                yield f"{name}:{'.'.join(map(str, path))}={value!r:.20}", obj


def test_schema_and_validator_give_the_same_verdict_on_every_single_field_mutation():
    checked, disagreements = 0, []
    for label, obj in _mutations():
        checked += 1
        if schema_ok(obj) != (validate_event(obj) == []):
            disagreements.append((label, schema_ok(obj), validate_event(obj)))
    assert disagreements == []
    assert checked > 1500  # 1794 today: the samples' fields x the pool, plus dropped keys


@pytest.mark.parametrize(
    "obj",
    [
        changed(DEPOSIT, payment__amount=5000.0),
        changed(DEPOSIT, booking__arrival="2026-11-30"),
        changed(DEPOSIT, booking__arrival="2026-02-30"),
        changed(DEPOSIT, occurred_at="2026-02-30T10:00:00Z"),
        changed(REFUNDED, refund_of="evt_ref"),
        changed(DEPOSIT, metadata={"card_number": "x"}),
        changed(DEPOSIT, booking__guest_name=f"Jane {CARD}"),
        changed(DEPOSIT, payment__card_type=CARD),
        changed(ACCOUNT, payment__invoices=["A1", "A1"]),
    ],
    ids=["5000.0", "arrival>departure", "30 Feb", "30 Feb time", "refunds itself",
         "card key in metadata", "card in name", "card in card_type", "invoice twice"],
)  # fmt: skip
def test_where_the_validator_is_deliberately_stricter_than_the_schema(obj):
    """Rules JSON Schema cannot state (documented in the schema's description)."""
    assert schema_ok(obj)
    assert validate_event(obj) != []


def test_schema_lists_the_same_enums_fields_and_currencies_as_the_code():
    props = SCHEMA["properties"]
    defs = SCHEMA["$defs"]
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert props["type"]["enum"] == [t.value for t in EventType]
    assert defs["payment"]["properties"]["kind"]["enum"] == [k.value for k in PaymentKind]
    assert defs["currency"]["enum"] == sorted(CURRENCY_EXPONENTS)
    assert defs["amount"]["maximum"] == MAX_AMOUNT
    assert list(props) == [
        "event_id", "type", "property", "occurred_at", "payment", "booking", "items",
        "refund_of", "metadata",
    ]  # fmt: skip
    # payment.invoices is read from the stored body (adapters.events.invoices_of) until the
    # domain's Payment carries it.
    assert set(defs["payment"]["properties"]) == set(Payment.__dataclass_fields__) | {"invoices"}
    assert set(defs["booking"]["properties"]) == set(Booking.__dataclass_fields__)
    assert set(defs["item"]["properties"]) == set(Item.__dataclass_fields__)
    assert load_schema() == SCHEMA


def test_the_schema_library_agrees_too_when_it_is_installed():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for label, obj in _mutations():
        assert validator.is_valid(obj) == schema_ok(obj), label


# --- money ----------------------------------------------------------------------------------


def test_minor_unit_exponents_of_iso_4217_currencies():
    assert {c: minor_unit_exponent(c) for c in ("GBP", "EUR", "USD", "JPY", "KRW", "BHD", "KWD",
                                                "TND", "CLF", "UYW")} == {
        "GBP": 2, "EUR": 2, "USD": 2, "JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3, "TND": 3,
        "CLF": 4, "UYW": 4,
    }  # fmt: skip
    assert len(CURRENCY_EXPONENTS) == 164
    assert all(re.fullmatch("[A-Z]{3}", code) for code in CURRENCY_EXPONENTS)
    for withdrawn in ("HRK", "ANG", "SLL", "ZWL", "CUC", "XAU", "XXX"):
        assert withdrawn not in CURRENCY_EXPONENTS


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [(5000, "GBP", "50.00 GBP"), (5, "GBP", "0.05 GBP"), (-5000, "GBP", "-50.00 GBP"),
     (5000, "JPY", "5000 JPY"), (1234, "BHD", "1.234 BHD"), (0, "KWD", "0.000 KWD"),
     (12345, "CLF", "1.2345 CLF")],
)  # fmt: skip
def test_format_minor_shows_the_currency_s_minor_units(amount, currency, shown):
    assert format_minor(amount, currency) == shown


def test_format_minor_refuses_floats_and_unknown_currencies():
    with pytest.raises(TypeError):
        format_minor(50.0, "GBP")  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrency, match="unknown ISO 4217 currency code 'XYZ'"):
        format_minor(1, "XYZ")


def test_parse_major_is_exact_and_never_rounds():
    assert [parse_major(t, c) for t, c in [("50", "GBP"), ("50.5", "GBP"), ("-0.01", "GBP"),
                                          ("1.234", "KWD"), ("5000", "JPY")]] == [
        5000, 5050, -1, 1234, 5000,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="has 3 decimal places; GBP has 2"):
        parse_major("1.005", "GBP")
    with pytest.raises(ValueError, match="is not an amount"):
        parse_major("1e3", "GBP")
