"""A field-by-field listing of a FIAS record, with the names from the spec table."""

from __future__ import annotations

from .codec import decode_record
from .formats import parse_date, parse_time
from .framing import ETX, STX
from .records import Message, Record
from .spec import FIELDS, RECORD_TYPES, Format, answer_status


def _shown(value: str) -> str:
    if not value:
        return "(empty)"
    if value != value.strip() or not value.isprintable():
        return repr(value)
    return value


def _note(record_type: str, field_id: str, value: str) -> str:
    """A reading of the value where the raw text is not obvious (dates, times, statuses)."""
    spec = FIELDS.get(field_id) if record_type in RECORD_TYPES else None
    if spec is None or not value:
        return ""
    if spec.format is Format.D:
        date = parse_date(value)
        return f"  ({date.isoformat()})" if date is not None else ""
    if spec.format is Format.T:
        time = parse_time(value)
        return f"  ({time.isoformat()})" if time is not None else ""
    if field_id == "AS":
        status = answer_status(value)
        return f"  ({status.meaning}; {status.retry_class.value})"
    if field_id == "FL" and len(value) % 2 == 0:
        return "  (" + " ".join(value[i : i + 2] for i in range(0, len(value), 2)) + ")"
    return ""


def pretty(item: bytes | Record | Message, encoding: str = "cp1252") -> str:
    """The record as text: a title line, then one line per field (id, name, value, reading).

    ``item`` is a payload (a full STX...ETX frame is accepted too), a :class:`Record` or a typed
    message. A payload that does not decode raises :class:`FiasDecodeError`.

    >>> print(pretty(b"LS|DA001015|TI123045|"))
    LS Link Start (both ways)
      DA  Date  001015  (2000-10-15)
      TI  Time  123045  (12:30:45)
    """
    if isinstance(item, (bytes, bytearray)):
        data = bytes(item)
        if data[:1] == STX and data[-1:] == ETX:
            data = data[1:-1]
        record = decode_record(data, encoding)
    elif isinstance(item, Record):
        record = item
    else:
        record = item.to_record()
    rt = record.record_type
    spec = RECORD_TYPES.get(rt)
    if spec is not None:
        lines = [f"{rt} {spec.name} ({spec.direction.value})"]
        names = [spec.field_name(fid) for fid, _ in record.fields]
    else:
        lines = [f"{rt} (record type not in the spec table)"]
        names = [FIELDS[fid].name if fid in FIELDS else "unknown field" for fid, _ in record.fields]
    width = max((len(name) for name in names), default=0)
    for (fid, value), name in zip(record.fields, names, strict=True):
        lines.append(f"  {fid}  {name:<{width}}  {_shown(value)}{_note(rt, fid, value)}")
    return "\n".join(lines)
