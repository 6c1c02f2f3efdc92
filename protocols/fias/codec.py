"""Decode and encode FIAS records: payload bytes to records and typed messages, and back.

- :func:`decode_record` / :func:`encode_record`: the generic ordered pairs, checked against the
  spec table (format, maximum length, mandatory fields).
- :func:`decode` / :func:`encode`: the typed messages (``PostingRequest``, ``GuestCheckIn``...).

The encoding is a parameter (default cp1252: the spec speaks only of "the used code page").
A character the code page cannot hold is an error, never replaced. STX, ETX and ``|`` can never
be inside a value: decoding cannot produce one (the framer and the split see to that) and
encoding refuses one.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any

from .errors import FiasDecodeError, FiasEncodeError
from .fastpath import ENCODERS, RECENT, Slow, compile_fields_encoder, learn_shape
from .formats import FRAMING_CHARACTERS, value_check, value_problem
from .records import PLANS, Message, Record, _Message, field_offset, message_from_fields
from .spec import FIELDS, MAX_RECORD_LENGTH, RECORD_TYPES, Direction

# Multi-byte code pages whose second bytes can be 0x7C ('|'): splitting on '|' would cut
# characters in half.
_UNSAFE_ENCODINGS = frozenset(
    {
        "shift_jis",
        "cp932",
        "shift_jis_2004",
        "shift_jisx0213",
        "big5",
        "big5hkscs",
        "cp950",
        "gbk",
        "cp936",
        "gb18030",
        "johab",
        "cp949",
        "hz",
    }
)
_checked_encodings: set[str] = set()


def check_encoding(encoding: str) -> None:
    """Refuse a code page FIAS framing cannot travel in. Raises ``LookupError`` / ``ValueError``."""
    if encoding in _checked_encodings:
        return
    name = codecs.lookup(encoding).name
    probe = "\x02\x03" + "".join(map(chr, range(0x20, 0x7F)))
    try:
        compatible = probe.encode(encoding) == probe.encode("ascii")
    except UnicodeEncodeError:
        compatible = False
    if not compatible or name in _UNSAFE_ENCODINGS:
        raise ValueError(
            f"encoding {encoding!r} cannot carry FIAS: it must be ASCII-compatible and never "
            "use 0x02, 0x03 or 0x7C inside a character"
        )
    _checked_encodings.add(encoding)


# Per record type: field id -> fast value check (only the record types in the table).
_CHECKS = {
    rt: {
        fid: value_check(spec, decimals=rspec.direction is Direction.FROM_PMS)
        for fid, spec in FIELDS.items()
    }
    for rt, rspec in RECORD_TYPES.items()
}


def _error(
    payload: bytes, problem: str, record_type: str, field_id: str | None, segment: int
) -> FiasDecodeError:
    return FiasDecodeError(
        problem,
        record_type=record_type,
        field_id=field_id,
        offset=field_offset(payload, segment),
        raw=payload,
    )


def _undecodable(payload: bytes, exc: UnicodeDecodeError, encoding: str) -> FiasDecodeError:
    start = 0
    field_id = None
    for index, part in enumerate(payload.split(b"|")):
        if start + len(part) >= exc.start:
            if index:
                field_id = part[:2].decode(encoding, "replace")
            break
        start += len(part) + 1
    return FiasDecodeError(
        f"byte 0x{payload[exc.start]:02x} is not {encoding}",
        record_type=payload[:2].decode(encoding, "replace"),
        field_id=field_id,
        offset=exc.start,
        raw=payload,
    )


def decode_record(payload: bytes, encoding: str = "cp1252") -> Record:
    """The record in ``payload`` (the bytes between STX and ETX), every field checked.

    For the record types in :data:`RECORD_TYPES` every known field is checked against the field
    table and the mandatory fields must be present. Unknown field ids are kept unchecked, and so
    is every field of an unknown record type (ids like ``RT`` mean other things there).
    A missing trailing ``|`` is accepted. Raises :class:`FiasDecodeError`.
    """
    check_encoding(encoding)
    try:
        text = payload.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _undecodable(payload, exc, encoding) from None
    parts = text.split("|")
    if len(parts) > 1 and not parts[-1]:
        parts.pop()
    rt = parts[0]
    if len(rt) != 2 or not (rt.isascii() and rt.isprintable()):
        problem = (
            "the record is empty"
            if not payload
            else "the record does not start with a 2-character record type and '|'"
        )
        raise _error(payload, problem, "", None, 0)
    checks = _CHECKS.get(rt)
    fields = []
    for segment in range(1, len(parts)):
        part = parts[segment]
        if len(part) < 2:
            problem = (
                f"{part!r} is too short for a 2-character field id"
                if part
                else "empty field (two '|' in a row)"
            )
            raise _error(payload, problem, rt, None, segment)
        fid = part[:2]
        value = part[2:]
        if checks is not None:
            check = checks.get(fid)
            if check is not None and not check(value):
                decimals = RECORD_TYPES[rt].direction is Direction.FROM_PMS
                why = value_problem(FIELDS[fid], value, decimals=decimals)
                raise _error(payload, f"{part!r} {why}", rt, fid, segment)
        fields.append((fid, value))
    spec = RECORD_TYPES.get(rt)
    if spec is not None:
        present = {fid for fid, _ in fields}
        for fid in spec.mandatory:
            if fid not in present:
                raise _error(payload, "mandatory field is missing", rt, fid, len(parts))
    return Record(rt, tuple(fields))


def encode_record(
    record: Record, encoding: str = "cp1252", *, max_length: int = MAX_RECORD_LENGTH
) -> bytes:
    """The full frame: STX + ``RI|`` + ``IDvalue|``... + ETX, always with the trailing ``|``.

    Raises :class:`FiasEncodeError` for a value holding STX, ETX or ``|``, a character the code
    page cannot hold, a value that breaks the field table (for the record types in the table;
    amounts sent to the PMS may not carry a decimal point), a missing mandatory field, or a
    record longer than ``max_length`` bytes.
    """
    check_encoding(encoding)
    rt = record.record_type
    if not (
        isinstance(rt, str) and len(rt) == 2 and rt.isascii() and rt.isprintable() and "|" not in rt
    ):
        raise FiasEncodeError(f"{rt!r} is not a 2-character record type", record_type=str(rt))
    spec = RECORD_TYPES.get(rt)
    decimals = spec is not None and spec.direction is Direction.FROM_PMS
    parts = [rt]
    for pair in record.fields:
        if not (
            isinstance(pair, tuple)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and isinstance(pair[1], str)
        ):
            raise FiasEncodeError(
                f"{pair!r} is not a (field id, value) pair of str", record_type=rt
            )
        fid, value = pair
        if len(fid) != 2 or not fid.isprintable() or "|" in fid:
            raise FiasEncodeError(f"{fid!r} is not a 2-character field id", record_type=rt)
        framing = FRAMING_CHARACTERS.search(value)
        if framing is not None:
            raise FiasEncodeError(
                f"{fid + value!r} holds {framing.group()!r}, which would break the record",
                record_type=rt,
                field_id=fid,
            )
        if spec is not None:
            field_spec = FIELDS.get(fid)
            if field_spec is not None:
                problem = value_problem(field_spec, value, decimals=decimals)
                if problem is not None:
                    raise FiasEncodeError(
                        f"{fid + value!r} {problem}", record_type=rt, field_id=fid
                    )
        parts.append(fid + value)
    if spec is not None:
        present = {fid for fid, _ in record.fields}
        for fid in spec.mandatory:
            if fid not in present:
                raise FiasEncodeError("mandatory field is missing", record_type=rt, field_id=fid)
    parts.append("")
    text = "|".join(parts)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        for part in parts:
            try:
                part.encode(encoding)
            except UnicodeEncodeError as exc:
                raise FiasEncodeError(
                    f"{part!r} holds {part[exc.start]!r}, which {encoding} cannot encode",
                    record_type=rt,
                    field_id=part[:2] if part is not rt else None,
                ) from None
        raise  # pragma: no cover - the loop finds the part
    if len(data) > max_length:
        raise FiasEncodeError(
            f"the record is {len(data)} bytes, over the {max_length}-byte limit", record_type=rt
        )
    return b"\x02" + data + b"\x03"


def decode(payload: bytes, encoding: str = "cp1252") -> Message | Record:
    """The typed message in ``payload`` (a :class:`Record` for record types without a typed
    class). Raises :class:`FiasDecodeError` naming the record type, field, offset and payload."""
    if encoding not in _checked_encodings:
        check_encoding(encoding)
    try:
        # Every accepted code page is ASCII-compatible, and the ascii codec is the fast one.
        text = payload.decode("ascii" if payload.isascii() else encoding)
    except UnicodeDecodeError:
        return decode_reference(payload, encoding)
    recent = RECENT.get(text[:2])
    if recent is not None:
        for shape in recent:
            match = shape.fullmatch(text)
            if match is not None:
                break
        else:
            shape = learn_shape(text)  # type: ignore[assignment]
            match = shape.fullmatch(text) if shape is not None else None
        if match is not None:
            try:
                return shape.build(match.groups())  # type: ignore[no-any-return]
            except Slow:
                pass
    return decode_reference(payload, encoding)


def decode_reference(payload: bytes, encoding: str = "cp1252") -> Message | Record:
    """:func:`decode` without the fast path (the tests compare the two)."""
    record = decode_record(payload, encoding)
    plan = PLANS.get(record.record_type)
    if plan is None:
        return record
    return message_from_fields(plan, record.fields, payload, encoding)  # type: ignore[no-any-return]


def encode(
    message: Message | Record, encoding: str = "cp1252", *, max_length: int = MAX_RECORD_LENGTH
) -> bytes:
    """The full frame for a typed message or a :class:`Record` (see :func:`encode_record`)."""
    if encoding not in _checked_encodings:
        check_encoding(encoding)
    encoder = ENCODERS.get(message.__class__)
    if encoder is not None:
        try:
            return encoder(message, encoding, max_length)
        except (Slow, UnicodeEncodeError):
            pass
    return encode_reference(message, encoding, max_length=max_length)


def message_encoder(
    cls: type[Message],
    attrs: tuple[str, ...],
    encoding: str = "cp1252",
    *,
    max_length: int = MAX_RECORD_LENGTH,
) -> Callable[..., bytes]:
    """An encoder for messages of ``cls`` that set only ``attrs``: called with their values
    (positional, in the order of ``attrs``), it returns
    ``encode(cls(**dict(zip(attrs, values))), encoding, max_length=max_length)``, the same
    frame and the same errors, without building the message when the fast path takes it.

    For a writer that sends one kind of record over and over (the gateway's inquiry and
    posting ``PR``). The other attributes keep their defaults; ``ValueError`` for an attribute
    ``cls`` does not have, or for leaving out one whose default would be sent."""
    plan = PLANS.get(getattr(cls, "RECORD_TYPE", ""))
    if plan is None or plan.cls is not cls:
        raise TypeError(f"{cls!r} is not a typed FIAS message class")
    key = (plan.spec.record_type, tuple(attrs), encoding, max_length)
    encoder = _message_encoders.get(key)
    if encoder is None:

        def fallback(message: Message) -> bytes:
            return encode(message, encoding, max_length=max_length)

        encoder = compile_fields_encoder(
            plan, key[1], encoding, max_length, _checked_encodings, fallback
        )
        if len(_message_encoders) < 64:
            _message_encoders[key] = encoder
    return encoder


_message_encoders: dict[tuple[str, tuple[str, ...], str, int], Callable[..., bytes]] = {}


def encode_reference(
    message: Message | Record, encoding: str = "cp1252", *, max_length: int = MAX_RECORD_LENGTH
) -> bytes:
    """:func:`encode` without the fast path (the tests compare the two)."""
    if isinstance(message, Record):
        return encode_record(message, encoding, max_length=max_length)
    if not isinstance(message, _Message):
        raise TypeError(f"cannot encode {message!r}: not a FIAS message or Record")
    record: Any = message.to_record()
    return encode_record(record, encoding, max_length=max_length)
