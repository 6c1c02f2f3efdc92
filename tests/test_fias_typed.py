"""Typed messages: property-based round trips for every record type, and the fast paths
checked against the reference path on random (good and broken) records."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.fias import (
    FIELDS,
    MESSAGE_TYPES,
    RECORD_TYPES,
    FiasDecodeError,
    FiasEncodeError,
    Format,
    Kind,
    MinibarArticle,
    PostingList,
    PostingListGuest,
    Record,
    decode,
    encode,
)
from protocols.fias.codec import decode_reference, encode_reference
from protocols.fias.records import PLANS

ENCODING = "cp1252"
# Characters cp1252 can hold, minus the reserved control bytes and '|'.
_CP1252 = [chr(b) for b in range(256) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)]
_CP1252 = [bytes([ord(c)]).decode(ENCODING) if ord(c) >= 0x80 else c for c in _CP1252]
ANS_ALPHABET = [c for c in _CP1252 if c >= " " and c not in "|\x7f"] + ["\r", "\n", "\x0c"]
AN_ALPHABET = [chr(c) for c in range(0x20, 0x7F) if chr(c) != "|"]
UNLIMITED = 30  # for fields without a length of their own
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _integer(limit: int | None) -> st.SearchStrategy[int]:
    limit = limit or 9
    return st.integers(-(10 ** (limit - 1) - 1), 10**limit - 1)


def value_strategy(field_id: str, kind: Kind) -> st.SearchStrategy[Any]:
    spec = FIELDS[field_id]
    size = spec.max_length if spec.max_length is not None else UNLIMITED
    if kind is Kind.TEXT:
        alphabet = AN_ALPHABET if spec.format is Format.AN else ANS_ALPHABET
        return st.text(alphabet=alphabet, max_size=size)
    if kind is Kind.INT or kind is Kind.AMOUNT:
        return _integer(spec.max_length)
    if kind is Kind.DIGITS:
        return st.text(alphabet="0123456789", max_size=size)
    if kind is Kind.DATE:
        return st.dates(dt.date(1969, 1, 1), dt.date(2068, 12, 31))
    if kind is Kind.TIME:
        return st.times().map(lambda t: t.replace(microsecond=0))
    if kind is Kind.DURATION:
        return st.integers(0, 86399).map(lambda s: dt.timedelta(seconds=s))
    if kind is Kind.YESNO or kind is Kind.FLAG:
        return st.booleans()
    if kind is Kind.LIST:
        item = st.text(alphabet=[c for c in ANS_ALPHABET if c != ","], min_size=1, max_size=5)
        return st.lists(item, max_size=4).map(tuple)
    assert kind is Kind.FIELD_LIST
    return st.lists(st.sampled_from(sorted(FIELDS)), max_size=12).map(tuple)


def _trimmed(values: list[Any]) -> tuple[Any, ...]:
    while values and values[-1] is None:
        values.pop()
    return tuple(values)


def attribute_strategies(cls: type[Any], mandatory: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "fias" in meta:
            value = value_strategy(meta["fias"], meta["fias_kind"])
            # Never None: mandatory fields and attributes typed without None (swap: bool).
            never_none = meta["fias"] in mandatory or "None" not in str(f.type)
            out[f.name] = value if never_none else st.none() | value
        elif "fias_group" in meta:
            first_id = f"{meta['fias_group']}{meta['fias_first']}"
            member = st.none() | value_strategy(first_id, meta["fias_kind"])
            out[f.name] = st.lists(member, max_size=10 - meta["fias_first"]).map(_trimmed)
    return out


ARTICLES = st.lists(
    st.builds(MinibarArticle, _integer(4), st.none() | _integer(2)), max_size=3
).map(tuple)
GUESTS = st.lists(
    st.builds(PostingListGuest, **attribute_strategies(PostingListGuest, frozenset())), max_size=3
).map(tuple)
EXTRA_IDS = [a + b for a in "QXZ" for b in "Q0Z"]  # ids the field table does not know
EXTRA = st.lists(
    st.tuples(
        st.sampled_from(EXTRA_IDS),
        st.text(alphabet=[c for c in ANS_ALPHABET if c not in "\x02\x03"], max_size=10),
    ),
    max_size=3,
).map(tuple)


def message_strategy(record_type: str) -> st.SearchStrategy[Any]:
    cls = MESSAGE_TYPES[record_type]
    strategies = attribute_strategies(cls, frozenset(RECORD_TYPES[record_type].mandatory))
    strategies["extra_fields"] = EXTRA
    if record_type in ("PS", "PR"):
        strategies["articles"] = ARTICLES
    if record_type == "PL":
        strategies["guests"] = GUESTS
    messages = st.builds(cls, **strategies)
    if record_type == "GC":  # a second GS needs its RO before it
        messages = messages.filter(lambda m: m.old_room is not None or m.old_share_flag is None)
    return messages


def expected_after_round_trip(message: Any) -> Any:
    """What decode(encode(message)) gives: a PL whose only guest carries BA/CL and the list
    none lifts them to the list (documented on PostingList)."""
    if isinstance(message, PostingList) and len(message.guests) == 1:
        guest = message.guests[0]
        lifted: dict[str, Any] = {}
        for attr in ("balance", "credit_limit"):
            if getattr(message, attr) is None and getattr(guest, attr) is not None:
                lifted[attr] = getattr(guest, attr)
        if lifted:
            guest = dataclasses.replace(guest, **dict.fromkeys(lifted))
            return dataclasses.replace(message, guests=(guest,), **lifted)
    return message


ALL_TYPES = sorted(MESSAGE_TYPES)


def test_every_record_type_in_the_table_has_a_typed_class() -> None:
    assert sorted(RECORD_TYPES) == ALL_TYPES


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_round_trip_for_every_record_type(record_type: str) -> None:
    """encode then decode gives the same message (hypothesis), through the fast paths and
    through the reference path, and both paths write the same bytes."""

    @SETTINGS
    @given(message=message_strategy(record_type))
    def check(message: Any) -> None:
        frame = encode(message, ENCODING)
        assert frame == encode_reference(message, ENCODING)
        payload = frame[1:-1]
        expected = expected_after_round_trip(message)
        assert decode(payload, ENCODING) == expected
        assert decode_reference(payload, ENCODING) == expected

    check()


# --- the fast paths against the reference path on random records -------------------------

_GARBAGE = st.text(alphabet="0123456789-.YNAZaz ÄÉ\x07\r\n\x7f,", max_size=8)


@st.composite
def random_payloads(draw: st.DrawFn) -> bytes:
    """Records of a typed type, mostly near-valid: known fields with good values, sometimes a
    repeated, unknown, empty or broken field, or a mandatory field left out."""
    record_type = draw(st.sampled_from(ALL_TYPES))
    spec = RECORD_TYPES[record_type]
    plan = PLANS[record_type]
    chosen = draw(st.lists(st.sampled_from(spec.fields), unique=True, max_size=10))
    if draw(st.integers(0, 3)):
        chosen += [fid for fid in spec.mandatory if fid not in chosen]
    if not draw(st.integers(0, 3)):  # now and then a repeated, unknown or broken field id
        chosen.append(draw(st.sampled_from([*chosen, "ZZ", "RT", "T", ""])))
    chosen = draw(st.permutations(chosen))
    fields = []
    for fid in chosen:
        kind = None
        if fid in plan.scalars:
            kind = plan.scalars[fid].kind
        elif fid in plan.groups:
            kind = plan.groups[fid][0].kind
        if kind is None:
            value = draw(st.one_of(_GARBAGE, st.just("")))
        else:
            good = value_strategy(fid, kind).map(_wire_text(kind))
            odd = draw(st.integers(0, 9)) == 0
            value = draw(st.one_of(_GARBAGE, st.just("")) if odd else good)
        fields.append(fid + value)
    text = "|".join([record_type, *fields]) + draw(st.sampled_from(["|", ""]))
    return text.encode(ENCODING, "replace")


def _wire_text(kind: Kind | None) -> Any:
    from protocols.fias.records import encode_value

    def convert(value: Any) -> str:
        assert kind is not None
        return encode_value(kind, value) or ""

    return convert


def _outcome(function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except (FiasDecodeError, FiasEncodeError) as exc:
        return (type(exc).__name__, str(exc))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=random_payloads())
def test_fast_decode_agrees_with_the_reference_decode(payload: bytes) -> None:
    """On any record the fast path gives exactly the reference path's message or error."""
    assert _outcome(decode, payload) == _outcome(decode_reference, payload)
    # and a second time, now that the record's shape is cached
    assert _outcome(decode, payload) == _outcome(decode_reference, payload)


@st.composite
def guest_lists(draw: st.DrawFn) -> bytes:
    """``PL`` records with guest blocks (RN, G#, GN and more, in any order; ``BA``/``CL`` before
    the first guest or inside one), sometimes with a block missing a field, a decimal or
    broken value, or a repeated list-level field: the cases the guest-list fast path must
    either decode exactly as the reference does or leave to it."""
    from protocols.fias.records import _Guests

    attributes = _Guests().attributes
    guest_ids = [fid for fid in attributes if not fid.startswith("A")]
    fields: list[str] = []

    def good(fid: str, kind: Kind) -> str:
        return draw(value_strategy(fid, kind).map(_wire_text(kind)))

    for fid in draw(st.lists(st.sampled_from(["BA", "CL", "WS", "BA"]), max_size=2)):
        fields.append(fid + good(fid, attributes[fid][1] if fid in attributes else Kind.TEXT))
    for _ in range(draw(st.integers(0, 3))):
        block = ["RN", "G#", "GN"]
        block += draw(st.lists(st.sampled_from(guest_ids), unique=True, max_size=4))
        block = list(dict.fromkeys(block))
        if not draw(st.integers(0, 5)):
            block.remove(draw(st.sampled_from(["RN", "G#", "GN"])))
        for fid in draw(st.permutations(block)):
            kind = attributes[fid][1]
            odd = draw(st.integers(0, 9)) == 0
            value = draw(st.one_of(_GARBAGE, st.just("12.50"))) if odd else good(fid, kind)
            fields.append(fid + value)
    fields.append("P#" + str(draw(st.integers(1, 99_999_999))))
    if draw(st.booleans()):
        fields.insert(draw(st.integers(0, len(fields))), "WSPOS1")
    return ("|".join(["PL", *fields]) + draw(st.sampled_from(["|", ""]))).encode(ENCODING)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=guest_lists())
def test_guest_list_fast_decode_agrees_with_the_reference_decode(payload: bytes) -> None:
    """A PL with guests (the answer to every inquiry) decodes on the fast path to exactly the
    reference path's message, or the reference path's error."""
    assert _outcome(decode, payload) == _outcome(decode_reference, payload)
    assert _outcome(decode, payload) == _outcome(decode_reference, payload)


_ODD_VALUES = st.sampled_from(
    [
        None,
        "",
        "x|y",
        "a\x02",
        "Ł",
        "\r\n",
        1.5,
        True,
        -1,
        10**20,
        dt.datetime(2026, 1, 1, 1, 2, 3),
        (1, None),
        (None,),
        ("x",),
        dt.date(2099, 1, 1),
        dt.time(1, 2, 3, 4),
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), record_type=st.sampled_from(ALL_TYPES))
def test_fast_encode_agrees_with_the_reference_encode(
    data: st.DataObject, record_type: str
) -> None:
    """Messages with odd attribute values (wrong types, framing characters, out-of-range numbers)
    get the same bytes or the same error from both encode paths."""
    message = data.draw(message_strategy(record_type))
    names = [f.name for f in dataclasses.fields(message) if f.name != "extra_fields"]
    for name in data.draw(st.lists(st.sampled_from(names), max_size=2)):
        message = dataclasses.replace(message, **{name: data.draw(_ODD_VALUES)})
    assert _outcome(encode, message) == _outcome(encode_reference, message)


def test_records_without_a_typed_class_stay_records() -> None:
    assert decode(b"RE|RN1|ML1|") == Record("RE", (("RN", "1"), ("ML", "1")))
    assert encode(Record("RE", (("RN", "1"), ("ML", "1")))) == b"\x02RE|RN1|ML1|\x03"
