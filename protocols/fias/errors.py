"""Errors of the FIAS codec: they name the record type, the field, the offset and the raw frame."""

from __future__ import annotations


class FiasDecodeError(ValueError):
    """A record payload that breaks the spec table.

    ``offset`` is the byte offset in the payload (the bytes between STX and ETX) where the
    problem is: the start of the offending field, the offending byte, or the end of the payload
    for a missing mandatory field. ``str()`` reads, for example::

        PR field TA at offset 23: 'TA12x5' is not monetary (M): raw b'PR|SO123|...'
    """

    def __init__(
        self,
        problem: str,
        *,
        record_type: str,
        field_id: str | None,
        offset: int,
        raw: bytes,
    ) -> None:
        self.problem = problem
        self.record_type = record_type
        self.field_id = field_id
        self.offset = offset
        self.raw = raw
        where = record_type or "record"
        if field_id is not None:
            where = f"{where} field {field_id}"
        super().__init__(f"{where} at offset {offset}: {problem}: raw {raw!r}")


class FiasEncodeError(ValueError):
    """A record or typed message that cannot be put on the wire.

    ``str()`` reads, for example::

        PR field GN (guest_name): 'Łukasz' holds 'Ł', which cp1252 cannot encode
    """

    def __init__(
        self,
        problem: str,
        *,
        record_type: str,
        field_id: str | None = None,
        attribute: str | None = None,
    ) -> None:
        self.problem = problem
        self.record_type = record_type
        self.field_id = field_id
        self.attribute = attribute
        where = record_type or "record"
        if field_id is not None:
            where = f"{where} field {field_id}"
        if attribute is not None:
            where = f"{where} ({attribute})"
        super().__init__(f"{where}: {problem}")
