"""Fast paths for typed decode and encode, compiled from the same plans as the reference path.

Decoding: records of one type from one peer nearly always have the same *shape* (the same field
ids in the same order). For each shape seen, one regular expression checks every field's format
and length and captures the values in a single C-level pass, and a small function generated from
the plan turns the captures into the dataclass. Encoding: one function per typed class, generated
from the plan, checks and formats each attribute without per-field lookups or calls.

A fast path only ever *declines* (raises :class:`Slow`), it never rejects: anything unusual (a
repeated field, an empty number, a decimal amount, a control character in text, a room move, a
field the shape does not know) goes to the reference path in ``records.py`` and ``codec.py``,
which decides and words the error. The tests compare both paths on random records.

The generated source holds only names from the spec tables and the dataclasses, never bytes from
the wire.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from .formats import FIRST_YEAR, LAST_YEAR, parse_date, parse_time
from .records import PLANS, Collection, Group, Kind, Plan, PostingListGuest, Scalar, _Guests
from .spec import FIELDS, FieldSpec, Format


class Slow(Exception):
    """The fast path declines this value; the reference path decides."""


# --- decode ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shape:
    """One record layout: a pattern that checks and captures every value, and a builder."""

    fullmatch: Callable[[str], re.Match[str] | None]
    build: Callable[[tuple[str, ...]], Any]


_AN_CHARACTER = r"[\x20-\x7b\x7d\x7e]"  # printable ASCII without '|'
_ANS_CHARACTER = r"[^\x00-\x1f\x7f|]"  # no control character, no '|'


def _value_pattern(spec: FieldSpec, kind: Kind) -> str | None:
    """A capture group accepting a subset of what the reference check accepts."""
    limit = spec.max_length
    if spec.format is Format.N or spec.format is Format.M:
        # Non-empty integers only: empty values and decimal points take the reference path.
        if limit is None:
            return r"(-?[0-9]+)"
        if limit == 1:
            return r"([0-9])"
        return rf"([0-9]{{1,{limit}}}|-[0-9]{{1,{limit - 1}}})"
    if spec.format is Format.D or spec.format is Format.T:
        return r"([0-9]{6})"
    if kind is Kind.YESNO:
        return r"([YN])"
    repeat = "*" if limit is None else f"{{0,{limit}}}"
    character = _AN_CHARACTER if spec.format is Format.AN else _ANS_CHARACTER
    return f"({character}{repeat})"


def _value_expression(kind: Kind, capture: str) -> str | None:
    if kind is Kind.INT or kind is Kind.AMOUNT:
        return f"int({capture})"
    if kind is Kind.TEXT or kind is Kind.DIGITS:
        return capture
    if kind is Kind.DATE:
        return f"(DATES.get({capture}) or DATE({capture}))"
    if kind is Kind.TIME:
        return f"(TIMES.get({capture}) or TIME({capture}))"
    if kind is Kind.YESNO:
        return f"{capture} == 'Y'"
    if kind is Kind.FLAG:
        return "True"
    return None  # durations and lists: rare, left to the reference path


def _date(text: str) -> dt.date:
    value = parse_date(text)
    if value is None:
        raise Slow
    return value


def _time(text: str) -> dt.time:
    value = parse_time(text)
    if value is None:
        raise Slow
    return value


def _compile(source: str, name: str, namespace: dict[str, Any]) -> Any:
    # Code generation as dataclasses does it: the source is built only from the spec tables.
    exec(compile(source, f"<fias fastpath {name}>", "exec"), namespace)  # noqa: S102
    return namespace[name]


def compile_shape(plan: Plan, field_ids: tuple[str, ...]) -> Shape | None:
    """The fast decoder for records of ``plan``'s type with exactly these fields in this order,
    or ``None`` if such records always take the reference path."""
    if plan.special is not None and isinstance(plan.special, _Guests):
        return _compile_guest_list(plan, plan.special, field_ids)
    if len(set(field_ids)) != len(field_ids):
        return None  # repeated ids: repeats are errors or specials, never the fast path
    if not set(plan.spec.mandatory) <= set(field_ids):
        return None
    special_ids = plan.special.field_ids if plan.special is not None else frozenset()
    patterns = [re.escape(plan.spec.record_type)]
    lines: list[str] = []
    group_slots: dict[str, dict[int, str]] = {}
    for position, fid in enumerate(field_ids):
        if fid in special_ids:
            return None
        scalar = plan.scalars.get(fid)
        if scalar is not None:
            kind = scalar.kind
        elif fid in plan.groups:
            group, index = plan.groups[fid]
            kind = group.kind
        else:
            return None  # unknown ids go to extra_fields on the reference path
        pattern = _value_pattern(FIELDS[fid], kind)
        expression = _value_expression(kind, f"g[{position}]")
        if pattern is None or expression is None:
            return None
        patterns.append(re.escape(fid) + pattern)
        if scalar is not None:
            lines.append(f"    d[{scalar.attr!r}] = {expression}")
        else:
            group_slots.setdefault(group.attr, {})[index] = expression
    for attr, slots in group_slots.items():
        items = ", ".join(slots.get(i, "None") for i in range(max(slots) + 1))
        lines.append(f"    d[{attr!r}] = ({items},)")
    return _shape(plan, patterns, lines)


def _shape(
    plan: Plan, patterns: list[str], lines: list[str], names: dict[str, Any] | None = None
) -> Shape:
    """The :class:`Shape` of ``patterns`` (one per field, in order) and ``lines`` (the body of
    ``build(g)``, which fill ``d``); ``names``: more the lines may use."""
    source = "\n".join(
        ["def build(g):", "    d = DEFAULTS.copy()", *lines,
         "    obj = NEW(CLS)", "    SET(obj, '__dict__', d)", "    return obj", ""]
    )  # fmt: skip
    namespace: dict[str, Any] = {
        "DEFAULTS": plan.defaults,
        "CLS": plan.cls,
        "NEW": object.__new__,
        "SET": object.__setattr__,
        "DATES": _date_cache(),
        "TIMES": _time_cache(),
        "DATE": _date,
        "TIME": _time,
        **(names or {}),
    }
    build = _compile(source, "build", namespace)
    regex = re.compile(r"\|".join(patterns) + r"\|?")
    return Shape(regex.fullmatch, build)


def _compile_guest_list(plan: Plan, special: _Guests, field_ids: tuple[str, ...]) -> Shape | None:
    """The fast decoder of one ``PL`` shape: the guest blocks are known from the field ids
    alone, by the rule of :class:`~protocols.fias.records._Guests` (a guest field the current
    guest already has starts the next guest; ``BA``/``CL`` before the first guest are the
    list's; one guest's ``BA``/``CL`` are lifted to the list when it has none)."""
    if not set(plan.spec.mandatory) <= set(field_ids):
        return None
    patterns = [re.escape(plan.spec.record_type)]
    lines: list[str] = []
    seen: set[str] = set()
    blocks: list[dict[str, str]] = []  # per guest: attribute -> expression
    block_ids: list[set[str]] = []
    list_level: dict[str, str] = {}  # list attribute -> expression (before the first guest)
    for position, fid in enumerate(field_ids):
        if fid in special.field_ids:
            attr, kind = special.attributes[fid]
            if attr == "user_fields":
                return None  # numbered user fields: rare, left to the reference path
            at_list_level = not blocks and fid in special._LIST_LEVEL
        else:
            scalar = plan.scalars.get(fid)
            if scalar is None or fid in seen:
                return None  # unknown ids, groups and repeats: the reference path decides
            seen.add(fid)
            attr, kind, at_list_level = scalar.attr, scalar.kind, False
        pattern = _value_pattern(FIELDS[fid], kind)
        expression = _value_expression(kind, f"g[{position}]")
        if pattern is None or expression is None:
            return None
        patterns.append(re.escape(fid) + pattern)
        if fid not in special.field_ids:
            lines.append(f"    d[{attr!r}] = {expression}")
        elif at_list_level:
            list_attr = special._LIST_LEVEL[fid]
            if list_attr in list_level:
                return None  # a repeated list-level value is an error: reference path
            list_level[list_attr] = expression
        else:
            if not blocks or fid in block_ids[-1]:
                blocks.append({})
                block_ids.append(set())
            blocks[-1][attr] = expression
            block_ids[-1].add(fid)
    for ids in block_ids:
        if not {"RN", "G#", "GN"} <= ids:
            return None  # a guest without RN, G# or GN is an error: reference path
    if len(blocks) == 1:
        for list_attr in special._LIST_LEVEL.values():
            if list_attr not in list_level and list_attr in blocks[0]:
                list_level[list_attr] = blocks[0].pop(list_attr)
    for list_attr, expression in list_level.items():
        lines.append(f"    d[{list_attr!r}] = {expression}")
    if blocks:
        # Each guest as the class's __init__ would make it: its defaults, then the values.
        for n, block in enumerate(blocks):
            lines.append(f"    guest{n} = GUEST_DEFAULTS.copy()")
            lines += [f"    guest{n}[{a!r}] = {e}" for a, e in block.items()]
            lines += [f"    g{n} = NEW(GUEST)", f"    SET(g{n}, '__dict__', guest{n})"]
        guests = ", ".join(f"g{n}" for n in range(len(blocks)))
        lines.append(f"    d['guests'] = ({guests},)")
    names = {"GUEST": PostingListGuest, "GUEST_DEFAULTS": _GUEST_DEFAULTS}
    return _shape(plan, patterns, lines, names)


#: PostingListGuest's attributes and their defaults, in field order (its __init__ sets them
#: in that order; a field without a default is always set by the block).
_GUEST_DEFAULTS: dict[str, Any] = {
    f.name: None if f.default is dataclasses.MISSING else f.default
    for f in dataclasses.fields(PostingListGuest)
}


def _date_cache() -> dict[str, dt.date]:
    from . import formats

    return formats._DATES


def _time_cache() -> dict[str, dt.time]:
    from . import formats

    return formats._TIMES


_SHAPE_LIMIT = 512  # distinct shapes compiled; past that, new shapes take the reference path
_RECENT_LIMIT = 4  # shapes tried, most recent first, before the record is split
_shapes: dict[tuple[str, tuple[str, ...]], Shape | None] = {}
#: The shapes to try first, per typed record type.
RECENT: dict[str, list[Shape]] = {rt: [] for rt in PLANS}


def learn_shape(text: str) -> Shape | None:
    """Find (or compile) the shape of a record whose cached shapes did not match."""
    parts = text.split("|")
    if len(parts) > 1 and not parts[-1]:
        parts.pop()
    rt = parts[0]
    if rt not in PLANS or any(len(part) < 2 for part in parts[1:]):
        return None
    key = (rt, tuple(part[:2] for part in parts[1:]))
    if key in _shapes:
        shape = _shapes[key]
    else:
        if len(_shapes) >= _SHAPE_LIMIT:
            return None
        shape = _shapes[key] = compile_shape(PLANS[rt], key[1])
    if shape is not None:
        recent = RECENT[rt]
        if shape in recent:
            recent.remove(shape)
        recent.insert(0, shape)
        del recent[_RECENT_LIMIT:]
    return shape


# --- encode ----------------------------------------------------------------------------------

_BAD_CHARACTER = re.compile(r"[\x00-\x1f\x7f]").search


def _remember_two(text_of: Callable[[Any], str]) -> Callable[[Any], str]:
    """``text_of``, remembering the texts of the last two values it was given, found again by
    identity: a writer stamps every record of one second with the same date and time objects.
    (Values and texts live in one tuple, so they are always swapped together.)"""
    last: tuple[Any, str, Any, str] = (None, "", None, "")

    def cached(value: Any) -> str:
        nonlocal last
        if value is last[0]:
            return last[1]
        if value is last[2]:
            return last[3]
        text = text_of(value)
        last = (value, text, last[0], last[1])
        return text

    return cached


def _date_text(value: Any) -> str:
    if value.__class__ is not dt.date or not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise Slow
    return f"{value.year % 100:02d}{value.month:02d}{value.day:02d}"


def _time_text(value: Any) -> str:
    if value.__class__ is not dt.time:
        raise Slow
    return f"{value.hour:02d}{value.minute:02d}{value.second:02d}"


_format_date = _remember_two(_date_text)
_format_time = _remember_two(_time_text)


def _integer_guard(name: str, limit: int | None) -> str:
    if limit is None:
        return f"{name}.__class__ is not int"
    return f"{name}.__class__ is not int or not {-(10 ** (limit - 1))} < {name} < {10**limit}"


def _text_guard(name: str, spec: FieldSpec, kind: Kind) -> str:
    guard = f"{name}.__class__ is not str"
    if spec.max_length is not None:
        guard += f" or len({name}) > {spec.max_length}"
    if kind is Kind.DIGITS:
        guard += f" or not ({name}.isdigit() and {name}.isascii())"
    elif spec.format is Format.AN:
        guard += f" or not {name}.isascii()"
    return guard


def _scalar_lines(item: Scalar, value: str) -> list[str]:
    """Lines that append ``item``'s field for the attribute value ``value`` (an expression)."""
    fid, kind, spec = item.field_id, item.kind, FIELDS[item.field_id]
    lines = [f"    v = {value}"]
    if kind is Kind.INT or kind is Kind.AMOUNT:
        lines += [
            "    if v is not None:",
            f"        if {_integer_guard('v', spec.max_length)}: raise SLOW",
            f"        app({fid + '%d'!r} % v)",
        ]
    elif kind is Kind.TEXT or kind is Kind.DIGITS:
        lines += [
            "    if v is not None:",
            f"        if {_text_guard('v', spec, kind)}: raise SLOW",
            f"        app({fid!r} + v)",
        ]
    elif kind is Kind.DATE:
        lines += ["    if v is not None:", f"        app({fid!r} + DATE(v))"]
    elif kind is Kind.TIME:
        lines += ["    if v is not None:", f"        app({fid!r} + TIME(v))"]
    elif kind is Kind.YESNO:
        lines += [
            f"    if v is True: app({fid + 'Y'!r})",
            f"    elif v is False: app({fid + 'N'!r})",
            "    elif v is not None: raise SLOW",
        ]
    elif kind is Kind.FLAG:
        lines += [f"    if v is True: app({fid!r})", "    elif v is not False: raise SLOW"]
    else:
        lines += ["    if v is not None: raise SLOW"]
    return lines


def _group_lines(item: Group, value: str) -> list[str]:
    ids = item.field_ids
    spec = FIELDS[ids[0]]
    if item.kind is Kind.AMOUNT or item.kind is Kind.INT:
        guard, text = _integer_guard("x", spec.max_length), "'%d' % x"
    else:
        guard, text = _text_guard("x", spec, item.kind), "x"
    return [
        f"    v = {value}",
        "    if v:",
        f"        if v.__class__ is not tuple or len(v) > {len(ids)}: raise SLOW",
        "        for i, x in enumerate(v):",
        "            if x is not None:",
        f"                if {guard}: raise SLOW",
        f"                app({ids!r}[i] + {text})",
    ]


def _body_lines(plan: Plan, value: Callable[[str], str | None]) -> list[str]:
    """The fast encoder's checks and appends; ``value(attr)`` is the expression of an
    attribute's value, or None for one left at its default (which puts nothing on the wire)."""
    lines: list[str] = []
    if value("extra_fields") is not None:
        lines.append(f"    if {value('extra_fields')}: raise SLOW")
    for fid in plan.spec.mandatory:
        attr = next(i.attr for i in plan.order if isinstance(i, Scalar) and i.field_id == fid)
        expression = value(attr)
        lines.append(f"    if {'None' if expression is None else expression} is None: raise SLOW")
    lines += [f"    out = [{plan.spec.record_type!r}]", "    app = out.append"]
    for item in plan.order:
        expression = value(item.attr)
        if expression is None:
            continue
        if isinstance(item, Collection):
            # Minibar articles and PL guests take the reference path.
            lines.append(f"    if {expression}: raise SLOW")
        elif item.attr == "old_share_flag":
            # So does a GC room move (its second GS needs RO before it).
            lines.append(f"    if {expression} is not None: raise SLOW")
        elif isinstance(item, Scalar):
            lines += _scalar_lines(item, expression)
        else:
            lines += _group_lines(item, expression)
    lines += [
        "    out.append('')",
        "    s = '|'.join(out)",
        "    if s.count('|') != len(out) - 1: raise SLOW",
        # isprintable() and encode('ascii') are the C fast lanes for the usual ASCII record.
        "    if not s.isprintable() and BAD(s) is not None: raise SLOW",
        "    b = s.encode('ascii') if s.isascii() else s.encode(encoding)",
        "    if len(b) > max_length: raise SLOW",
        "    return b'\\x02' + b + b'\\x03'",
    ]
    return lines


_ENCODER_NAMES: dict[str, Any] = {
    "SLOW": Slow,
    "BAD": _BAD_CHARACTER,
    "DATE": _format_date,
    "TIME": _format_time,
}


def compile_encoder(plan: Plan) -> Callable[[Any, str, int], bytes]:
    """The fast encoder of ``plan``'s class: ``encode(message, encoding, max_length)``."""
    lines = ["def encode(msg, encoding, max_length):", "    d = msg.__dict__"]
    lines += _body_lines(plan, lambda attr: f"d[{attr!r}]")
    encoder = _compile("\n".join(lines) + "\n", "encode", dict(_ENCODER_NAMES))
    return cast(Callable[[Any, str, int], bytes], encoder)


#: Attribute defaults that put nothing on the wire (and never make the fast path decline).
_SILENT_DEFAULTS: tuple[Any, ...] = (None, (), False)


def compile_fields_encoder(
    plan: Plan,
    attrs: tuple[str, ...],
    encoding: str,
    max_length: int,
    checked: set[str],
    fallback: Callable[[Any], bytes],
) -> Callable[..., bytes]:
    """A function of the values of ``attrs`` (positional, in that order) returning what the
    fast encoder returns for ``plan.cls(**dict(zip(attrs, values)))``, ``encoding`` and
    ``max_length``, without building the message; when ``encoding`` is not in ``checked`` or
    the fast path declines, it builds the message and returns ``fallback(message)``. The
    other attributes must have defaults that put nothing on the wire (None, (), False)."""
    known = {f.name for f in dataclasses.fields(plan.cls)}
    if len(set(attrs)) != len(attrs) or not set(attrs) <= known:
        raise ValueError(f"{attrs!r} are not distinct attributes of {plan.cls.__name__}")
    for attr in known - set(attrs):
        if not any(plan.defaults[attr] is silent for silent in _SILENT_DEFAULTS):
            raise ValueError(f"{plan.cls.__name__}.{attr} has a default that is sent")
    params = [f"a_{attr}" for attr in attrs]
    mapping = dict(zip(attrs, params, strict=True))
    body = _body_lines(plan, mapping.get)
    keywords = ", ".join(f"{attr}={param}" for attr, param in mapping.items())
    lines = [f"def encode_fields({', '.join(params)}):", "    if encoding in CHECKED:"]
    lines += ["        try:"]
    lines += ["        " + line for line in body]
    lines += [
        "        except (SLOW, UnicodeEncodeError):",
        "            pass",
        f"    return FALLBACK(CLS({keywords}))",
    ]
    namespace = dict(_ENCODER_NAMES)
    namespace.update(
        CHECKED=checked, FALLBACK=fallback, CLS=plan.cls, encoding=encoding, max_length=max_length
    )
    source = "\n".join(lines) + "\n"
    return cast(Callable[..., bytes], _compile(source, "encode_fields", namespace))


#: The fast encoder of each typed class.
ENCODERS: dict[type[Any], Callable[[Any, str, int], bytes]] = {
    plan.cls: compile_encoder(plan) for plan in PLANS.values()
}
