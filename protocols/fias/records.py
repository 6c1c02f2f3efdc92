"""FIAS records: ordered (field id, value) pairs underneath, typed frozen dataclasses on top.

A :class:`Record` keeps every field in wire order, because ids repeat and their order matters
(``PL`` guest triplets, the two ``GS`` of a ``GC`` room move, ``PS`` minibar ``MA``/``M#`` pairs).
The typed messages (:class:`PostingRequest`, :class:`GuestCheckIn`, ...) give the same data full
names and Python types: amounts are ``int`` minor units, dates ``datetime.date``, times
``datetime.time``, N fields ``int``; ``None`` means the field is absent. Fields a typed message
has no attribute for are kept, in order, in ``extra_fields``.

Each attribute names its wire field in its dataclass metadata; the plans built from that metadata
drive :meth:`from_record` and :meth:`to_record` here, and the fast paths in ``fastpath.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Self, TypeAlias, cast

from .errors import FiasDecodeError, FiasEncodeError
from .formats import format_date, format_time, parse_amount, parse_date, parse_time, value_problem
from .spec import FIELDS, RECORD_TYPES, Direction, FieldSpec, Format, RecordSpec

Fields: TypeAlias = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Record:
    """A FIAS record as its type and the ordered (field id, value) pairs, exactly as on the wire."""

    record_type: str
    fields: Fields = ()

    def get(self, field_id: str, default: str | None = None) -> str | None:
        """The value of the first ``field_id`` field, or ``default``."""
        for fid, value in self.fields:
            if fid == field_id:
                return value
        return default

    def get_all(self, field_id: str) -> list[str]:
        """The values of every ``field_id`` field, in wire order."""
        return [value for fid, value in self.fields if fid == field_id]

    def __contains__(self, field_id: object) -> bool:
        return any(fid == field_id for fid, _ in self.fields)

    @property
    def field_ids(self) -> tuple[str, ...]:
        return tuple(fid for fid, _ in self.fields)


class Kind(Enum):
    """How a wire value maps to a Python value."""

    TEXT = "str"
    INT = "int"
    AMOUNT = "int (minor units)"
    DIGITS = "str of digits"  # an N field whose leading zeros matter (dialled digits)
    DATE = "date"
    TIME = "time"
    DURATION = "timedelta"  # DU: a T value that is a duration
    YESNO = "bool (Y/N)"
    FLAG = "bool (field present)"  # SF: no value, its presence is the signal
    LIST = "tuple of str (comma list)"
    FIELD_LIST = "tuple of 2-character field ids"


_DEFAULT_KINDS = {
    Format.AN: Kind.TEXT,
    Format.ANS: Kind.TEXT,
    Format.N: Kind.INT,
    Format.M: Kind.AMOUNT,
    Format.D: Kind.DATE,
    Format.T: Kind.TIME,
}


def _wire(
    field_id: str, kind: Kind | None = None, *, required: bool = False, default: Any = None
) -> Any:
    metadata = {"fias": field_id, "fias_kind": kind or _DEFAULT_KINDS[FIELDS[field_id].format]}
    if required:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _group(prefix: str, first: int = 1, kind: Kind = Kind.AMOUNT) -> Any:
    """Numbered fields (S1-S9, A0-A9) as one tuple; index 0 is the first number."""
    return dataclasses.field(
        default=(), metadata={"fias_group": prefix, "fias_first": first, "fias_kind": kind}
    )


def _collection() -> Any:
    """Repeated groups of fields (minibar articles, posting-list guests)."""
    return dataclasses.field(default=(), metadata={"fias_collection": True})


def _extra() -> Any:
    return dataclasses.field(default=(), metadata={"fias_extra": True})


class _Message:
    """Base of the typed records: conversion to and from :class:`Record`."""

    RECORD_TYPE: ClassVar[str]
    #: Attribute names in the order :meth:`to_record` puts their fields on the wire.
    WIRE_ORDER: ClassVar[tuple[str, ...]]

    @classmethod
    def from_record(cls, record: Record) -> Self:
        """The typed message for ``record``. Raises :class:`FiasDecodeError`."""
        if record.record_type != cls.RECORD_TYPE:
            raise FiasDecodeError(
                f"{record.record_type!r} is not a {cls.RECORD_TYPE} record",
                record_type=record.record_type,
                field_id=None,
                offset=0,
                raw=_canonical_payload(record, "cp1252"),
            )
        return cast(
            Self, message_from_fields(PLANS[cls.RECORD_TYPE], record.fields, None, "cp1252")
        )

    def to_record(self) -> Record:
        """The ordered pairs for this message. Raises :class:`FiasEncodeError` for a value of the
        wrong type; the spec table is checked when the record is encoded."""
        return Record(self.RECORD_TYPE, message_to_fields(PLANS[self.RECORD_TYPE], self))


# --- Link control ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stamped(_Message):
    """Records that carry only a date and a time."""

    WIRE_ORDER = ("date", "time")
    date: dt.date | None = _wire("DA")
    time: dt.time | None = _wire("TI")
    extra_fields: Fields = _extra()


@dataclass(frozen=True)
class LinkStart(_Stamped):
    RECORD_TYPE = "LS"


@dataclass(frozen=True)
class LinkAlive(_Stamped):
    RECORD_TYPE = "LA"


@dataclass(frozen=True)
class LinkEnd(_Stamped):
    RECORD_TYPE = "LE"


@dataclass(frozen=True)
class DatabaseResyncRequest(_Stamped):
    RECORD_TYPE = "DR"


@dataclass(frozen=True)
class DatabaseResyncStart(_Stamped):
    RECORD_TYPE = "DS"


@dataclass(frozen=True)
class DatabaseResyncEnd(_Stamped):
    RECORD_TYPE = "DE"


@dataclass(frozen=True)
class NightAuditStart(_Stamped):
    RECORD_TYPE = "NS"


@dataclass(frozen=True)
class NightAuditEnd(_Stamped):
    RECORD_TYPE = "NE"


@dataclass(frozen=True)
class LinkDescription(_Message):
    RECORD_TYPE = "LD"
    WIRE_ORDER = (
        "date",
        "time",
        "vendor_version",
        "interface_family",
        "request_type",
        "max_record_length",
        "cryptogram",
    )
    date: dt.date | None = _wire("DA", required=True)
    time: dt.time | None = _wire("TI", required=True)
    interface_family: str = _wire("IF", required=True)
    vendor_version: str = _wire("V#", required=True)
    request_type: int | None = _wire("RT")  # bit mask: 1 RP, 4 A1, 16/32 A2/A3, 128 A0
    max_record_length: int | None = _wire("RL")
    cryptogram: str | None = _wire("CG")
    extra_fields: Fields = _extra()


@dataclass(frozen=True)
class LinkRecord(_Message):
    """``LR|RIPR|FLP#WSPM...|``: the fields the vendor sends or wants in one record type."""

    RECORD_TYPE = "LR"
    WIRE_ORDER = ("record_id", "field_ids")
    record_id: str = _wire("RI", required=True)
    field_ids: tuple[str, ...] = _wire("FL", Kind.FIELD_LIST, required=True)
    extra_fields: Fields = _extra()


@dataclass(frozen=True)
class LinkConfiguration(_Message):
    RECORD_TYPE = "LC"
    WIRE_ORDER = (
        "room_payment_methods",
        "timeouts",
        "pms_version",
        "interface_version",
        "driver_version",
        "hotel_id",
        "cryptogram",
    )
    room_payment_methods: tuple[str, ...] | None = _wire("RP", Kind.LIST)
    timeouts: str | None = _wire("A0")  # "EFT;DLS" seconds, e.g. "60;10"
    pms_version: str | None = _wire("A1")
    interface_version: str | None = _wire("A2")  # A2/A3: see spec.py (reference section 9.1)
    driver_version: str | None = _wire("A3")
    hotel_id: str | None = _wire("PH")
    cryptogram: str | None = _wire("CG")
    extra_fields: Fields = _extra()


# --- Guest data ------------------------------------------------------------------------------

_GUEST_TAIL_ORDER = (
    "first_name",
    "title",
    "language",
    "vip",
    "group",
    "arrival",
    "departure",
    "profile_number",
    "no_post",
    "class_of_service",
    "minibar_rights",
    "tv_rights",
    "video_rights",
    "equipment_numbers",
    "equipment_pool",
    "equipment_status",
)


@dataclass(frozen=True)
class GuestCheckIn(_Message):
    RECORD_TYPE = "GI"
    WIRE_ORDER = (
        ("room", "reservation_number", "guest_name")
        + _GUEST_TAIL_ORDER
        + ("user_fields", "workstation", "date", "time", "share_flag", "swap")
    )
    room: str = _wire("RN", required=True)
    reservation_number: int | None = _wire("G#")
    share_flag: bool | None = _wire("GS", Kind.YESNO)
    guest_name: str | None = _wire("GN")
    first_name: str | None = _wire("GF")
    title: str | None = _wire("GT")
    language: str | None = _wire("GL")
    vip: str | None = _wire("GV")
    group: str | None = _wire("GG")
    arrival: dt.date | None = _wire("GA")
    departure: dt.date | None = _wire("GD")
    no_post: bool | None = _wire("NP", Kind.YESNO)
    swap: bool = _wire("SF", Kind.FLAG, default=False)  # SF present: sent during a resync
    date: dt.date | None = _wire("DA")
    time: dt.time | None = _wire("TI")
    workstation: str | None = _wire("WS")
    profile_number: str | None = _wire("G+")
    class_of_service: str | None = _wire("CS")
    minibar_rights: str | None = _wire("MR")
    tv_rights: str | None = _wire("TV")
    video_rights: str | None = _wire("VR")
    equipment_numbers: str | None = _wire("EN")
    equipment_pool: str | None = _wire("EP")
    equipment_status: str | None = _wire("ES")
    user_fields: tuple[str | None, ...] = _group("A", first=0, kind=Kind.TEXT)
    extra_fields: Fields = _extra()


@dataclass(frozen=True)
class GuestCheckOut(_Message):
    RECORD_TYPE = "GO"
    WIRE_ORDER = (
        "room",
        "reservation_number",
        "share_flag",
        "equipment_numbers",
        "equipment_pool",
        "equipment_status",
        "workstation",
        "date",
        "time",
        "swap",
    )
    room: str = _wire("RN", required=True)
    reservation_number: int | None = _wire("G#")
    share_flag: bool | None = _wire("GS", Kind.YESNO)
    swap: bool = _wire("SF", Kind.FLAG, default=False)
    date: dt.date | None = _wire("DA")
    time: dt.time | None = _wire("TI")
    workstation: str | None = _wire("WS")
    equipment_numbers: str | None = _wire("EN")
    equipment_pool: str | None = _wire("EP")
    equipment_status: str | None = _wire("ES")
    extra_fields: Fields = _extra()


@dataclass(frozen=True)
class GuestChange(_Message):
    """``GC``: a data change or a room move. On a move ``GS`` comes twice, each right after the
    room it belongs to: after ``RN`` (the new room) it is ``share_flag``, after ``RO`` (the old
    room) it is ``old_share_flag``."""

    RECORD_TYPE = "GC"
    WIRE_ORDER = (
        ("room", "share_flag", "reservation_number", "guest_name")
        + _GUEST_TAIL_ORDER
        + (
            "old_equipment_numbers",
            "old_equipment_pool",
            "old_equipment_status",
            "user_fields",
            "workstation",
            "date",
            "time",
            "old_room",
            "old_share_flag",
        )
    )
    room: str = _wire("RN", required=True)
    reservation_number: int | None = _wire("G#")
    share_flag: bool | None = _wire("GS", Kind.YESNO)
    old_room: str | None = _wire("RO")
    old_share_flag: bool | None = _wire("GS", Kind.YESNO)
    guest_name: str | None = _wire("GN")
    first_name: str | None = _wire("GF")
    title: str | None = _wire("GT")
    language: str | None = _wire("GL")
    vip: str | None = _wire("GV")
    group: str | None = _wire("GG")
    arrival: dt.date | None = _wire("GA")
    departure: dt.date | None = _wire("GD")
    no_post: bool | None = _wire("NP", Kind.YESNO)
    date: dt.date | None = _wire("DA")
    time: dt.time | None = _wire("TI")
    workstation: str | None = _wire("WS")
    profile_number: str | None = _wire("G+")
    class_of_service: str | None = _wire("CS")
    minibar_rights: str | None = _wire("MR")
    tv_rights: str | None = _wire("TV")
    video_rights: str | None = _wire("VR")
    equipment_numbers: str | None = _wire("EN")
    equipment_pool: str | None = _wire("EP")
    equipment_status: str | None = _wire("ES")
    old_equipment_numbers: str | None = _wire("EO")
    old_equipment_pool: str | None = _wire("EI")
    old_equipment_status: str | None = _wire("ET")
    user_fields: tuple[str | None, ...] = _group("A", first=0, kind=Kind.TEXT)
    extra_fields: Fields = _extra()


# --- Postings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MinibarArticle:
    """One ``MA`` (article number) with its ``M#`` (count; absent means 1)."""

    article: int
    count: int | None = None


_AMOUNT_ORDER = (
    "total_amount",
    "subtotals",
    "taxes",
    "discounts",
    "tip",
    "service_charge",
    "rounding",
)


@dataclass(frozen=True)
class PostingSimple(_Message):
    """``PS``: a room charge that does not verify the guest (telephone, minibar, pay TV)."""

    RECORD_TYPE = "PS"
    WIRE_ORDER = (
        ("room", "reservation_number", "posting_type", "sales_outlet")
        + _AMOUNT_ORDER
        + ("meter_pulses", "articles", "duration", "cross_reference", "date", "time")
        + ("posting_number", "dialled_digits", "posting_call_type", "clear_text")
        + ("workstation", "user_id", "payment_method", "posting_route", "check_number")
        + ("credit_limit_override", "covers", "serving_time", "table_number")
    )
    room: str = _wire("RN", required=True)
    posting_type: str = _wire("PT", required=True)  # C charge, M minibar, T telephone
    date: dt.date | None = _wire("DA", required=True)
    time: dt.time | None = _wire("TI", required=True)
    total_amount: int | None = _wire("TA")
    sales_outlet: int | None = _wire("SO")
    posting_number: int | None = _wire("P#")
    workstation: str | None = _wire("WS")
    clear_text: str | None = _wire("CT")
    cross_reference: str | None = _wire("X1")
    articles: tuple[MinibarArticle, ...] = _collection()
    meter_pulses: int | None = _wire("MP")
    duration: dt.timedelta | None = _wire("DU", Kind.DURATION)
    dialled_digits: str | None = _wire("DD", Kind.DIGITS)
    posting_call_type: str | None = _wire("PC")
    payment_method: str | None = _wire("PM")
    posting_route: int | None = _wire("PX")
    check_number: int | None = _wire("C#")
    credit_limit_override: bool | None = _wire("CO", Kind.YESNO)
    covers: int | None = _wire("CV")
    user_id: str | None = _wire("ID")
    subtotals: tuple[int | None, ...] = _group("S")
    taxes: tuple[int | None, ...] = _group("T")
    discounts: tuple[int | None, ...] = _group("D")
    service_charge: int | None = _wire("SC")
    tip: int | None = _wire("TP")
    rounding: int | None = _wire("+0")
    serving_time: int | None = _wire("ST")
    table_number: int | None = _wire("T#")
    reservation_number: int | None = _wire("G#")  # not in Oracle's PS; Protel accepts it
    extra_fields: Fields = _extra()


@dataclass(frozen=True)
class PostingRequest(_Message):
    """``PR``: an inquiry (find the in-house guest) or a posting (after the inquiry's ``PL``)."""

    RECORD_TYPE = "PR"
    WIRE_ORDER = (
        ("sales_outlet", "workstation", "user_id", "inquiry", "max_matches")
        + ("room", "reservation_number", "guest_name")
        + _AMOUNT_ORDER
        + ("check_number", "covers", "serving_time", "table_number", "posting_type")
        + ("posting_call_type", "credit_limit_override", "clear_text", "cross_reference")
        + ("dialled_digits", "duration", "articles", "track2", "profile_number")
        + ("date", "time", "posting_number", "payment_method")
    )
    posting_number: int | None = _wire("P#", required=True)
    workstation: str | None = _wire("WS", required=True)
    payment_method: str | None = _wire("PM", required=True)
    inquiry: str | None = _wire("PI")  # room number or the start of a name
    room: str | None = _wire("RN")
    reservation_number: int | None = _wire("G#")
    guest_name: str | None = _wire("GN")
    total_amount: int | None = _wire("TA")
    sales_outlet: int | None = _wire("SO")
    date: dt.date | None = _wire("DA")
    time: dt.time | None = _wire("TI")
    user_id: str | None = _wire("ID")
    clear_text: str | None = _wire("CT")
    check_number: int | None = _wire("C#")
    max_matches: int | None = _wire("MX")
    subtotals: tuple[int | None, ...] = _group("S")
    taxes: tuple[int | None, ...] = _group("T")
    discounts: tuple[int | None, ...] = _group("D")
    tip: int | None = _wire("TP")
    service_charge: int | None = _wire("SC")
    rounding: int | None = _wire("+0")
    covers: int | None = _wire("CV")
    serving_time: int | None = _wire("ST")
    table_number: int | None = _wire("T#")
    posting_type: str | None = _wire("PT")
    posting_call_type: str | None = _wire("PC")
    credit_limit_override: bool | None = _wire("CO", Kind.YESNO)
    cross_reference: str | None = _wire("X1")
    dialled_digits: str | None = _wire("DD", Kind.DIGITS)
    duration: dt.timedelta | None = _wire("DU", Kind.DURATION)
    articles: tuple[MinibarArticle, ...] = _collection()
    track2: str | None = _wire("$2")
    profile_number: str | None = _wire("G+")
    extra_fields: Fields = _extra()

    @property
    def is_inquiry(self) -> bool:
        """The spec's rule: no (or an empty) ``G#``, no ``TA``, and inquiry data. The inquiry data
        is ``PI``, or track 2 (``$2``): the spec's card inquiry example carries no ``PI``."""
        return (
            self.reservation_number is None
            and self.total_amount is None
            and bool(self.inquiry or self.track2)
        )


@dataclass(frozen=True)
class PostingListGuest:
    """One guest of a ``PL``: a block that starts with ``RN``, ``G#`` and ``GN``."""

    room: str = _wire("RN", required=True)
    reservation_number: int = _wire("G#", required=True)
    guest_name: str = _wire("GN", required=True)
    first_name: str | None = _wire("GF")
    title: str | None = _wire("GT")
    language: str | None = _wire("GL")
    vip: str | None = _wire("GV")
    group: str | None = _wire("GG")
    arrival: dt.date | None = _wire("GA")
    departure: dt.date | None = _wire("GD")
    profile_number: str | None = _wire("G+")
    no_post: bool | None = _wire("NP", Kind.YESNO)
    balance: int | None = _wire("BA")
    credit_limit: int | None = _wire("CL")
    user_fields: tuple[str | None, ...] = _group("A", first=0, kind=Kind.TEXT)


@dataclass(frozen=True)
class PostingList(_Message):
    """``PL``: the guests an inquiry found.

    ``BA`` (balance) and ``CL`` (credit limit) may come with a decimal point from the PMS; they
    are decoded to minor units (two decimals). Where they sit decides whose they are: before the
    first guest they are the list's (``balance``, ``credit_limit``), after a guest's ``RN`` they
    are that guest's. A list with one guest and no list-level value lifts the guest's value to
    the list, so ``PostingList.balance`` is the balance whether the PMS writes
    ``BA|RN|G#|GN`` or ``RN|G#|GN|BA``; with several guests each keeps its own.
    """

    RECORD_TYPE = "PL"
    WIRE_ORDER = ("sales_outlet", "workstation", "user_id", "balance", "credit_limit", "guests") + (
        "check_number",
        "payment_method",
        "date",
        "time",
        "posting_number",
    )
    posting_number: int | None = _wire("P#", required=True)
    workstation: str | None = _wire("WS")
    guests: tuple[PostingListGuest, ...] = _collection()
    balance: int | None = _wire("BA")
    sales_outlet: int | None = _wire("SO")
    user_id: str | None = _wire("ID")
    date: dt.date | None = _wire("DA")
    time: dt.time | None = _wire("TI")
    credit_limit: int | None = _wire("CL")
    check_number: int | None = _wire("C#")
    payment_method: str | None = _wire("PM")
    extra_fields: Fields = _extra()


@dataclass(frozen=True)
class PostingAnswer(_Message):
    """``PA``: the answer to every ``PS`` and ``PR``. Only ``answer_status == "OK"`` is posted."""

    RECORD_TYPE = "PA"
    WIRE_ORDER = (
        "sales_outlet",
        "workstation",
        "user_id",
        "room",
        "reservation_number",
        "guest_name",
    ) + ("answer_status", "clear_text", "check_number", "date", "time", "posting_number")
    answer_status: str = _wire("AS", required=True)
    room: str | None = _wire("RN")
    posting_number: int | None = _wire("P#")
    workstation: str | None = _wire("WS")
    clear_text: str | None = _wire("CT")
    reservation_number: int | None = _wire("G#")
    guest_name: str | None = _wire("GN")
    sales_outlet: int | None = _wire("SO")
    user_id: str | None = _wire("ID")
    date: dt.date | None = _wire("DA")
    time: dt.time | None = _wire("TI")
    check_number: int | None = _wire("C#")
    extra_fields: Fields = _extra()


Message: TypeAlias = (
    LinkStart
    | LinkDescription
    | LinkRecord
    | LinkAlive
    | LinkEnd
    | LinkConfiguration
    | DatabaseResyncRequest
    | DatabaseResyncStart
    | DatabaseResyncEnd
    | NightAuditStart
    | NightAuditEnd
    | GuestCheckIn
    | GuestCheckOut
    | GuestChange
    | PostingSimple
    | PostingRequest
    | PostingList
    | PostingAnswer
)

#: The typed class for each record type.
MESSAGE_TYPES: dict[str, type[_Message]] = {
    cls.RECORD_TYPE: cls
    for cls in (
        LinkStart,
        LinkDescription,
        LinkRecord,
        LinkAlive,
        LinkEnd,
        LinkConfiguration,
        DatabaseResyncRequest,
        DatabaseResyncStart,
        DatabaseResyncEnd,
        NightAuditStart,
        NightAuditEnd,
        GuestCheckIn,
        GuestCheckOut,
        GuestChange,
        PostingSimple,
        PostingRequest,
        PostingList,
        PostingAnswer,
    )
}


# --- Value conversions -----------------------------------------------------------------------


class Invalid(Exception):
    """A problem with one field, raised inside the conversions and turned into a codec error
    that names the record, the field and the offset."""

    def __init__(self, problem: str, field_id: str | None = None, index: int | None = None):
        super().__init__(problem)
        self.problem = problem
        self.field_id = field_id
        self.index = index


def decode_value(kind: Kind, field_id: str, value: str) -> Any:
    """A wire value (already checked against the field table) as its Python value."""
    if kind is Kind.TEXT or kind is Kind.DIGITS:
        return value
    if kind is Kind.FLAG:
        return True
    if kind is Kind.YESNO:
        if value == "Y":
            return True
        if value == "N":
            return False
        if not value:
            return None
        raise Invalid(f"{field_id + value!r} is not Y or N")
    if kind is Kind.LIST:
        return tuple(item for item in value.split(",") if item)
    if kind is Kind.FIELD_LIST:
        if len(value) % 2:
            raise Invalid(
                f"{field_id + value!r} has an odd length; a field list is 2-character ids"
            )
        return tuple(value[i : i + 2] for i in range(0, len(value), 2))
    if not value:
        return None
    if kind is Kind.INT:
        return int(value)
    if kind is Kind.AMOUNT:
        try:
            return parse_amount(value)
        except ValueError as exc:
            raise Invalid(f"{field_id + value!r} {exc}") from None
    if kind is Kind.DATE:
        return parse_date(value)
    parsed = parse_time(value)
    if kind is Kind.DURATION and parsed is not None:
        return dt.timedelta(hours=parsed.hour, minutes=parsed.minute, seconds=parsed.second)
    return parsed


def encode_value(kind: Kind, value: Any) -> str | None:
    """A Python value as its wire text (``None``: leave the field out). Raises ``Invalid``."""
    if kind is Kind.TEXT or kind is Kind.DIGITS:
        if isinstance(value, str):
            return value
        problem = "is not a str"
    elif kind is Kind.INT or kind is Kind.AMOUNT:
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:d}"
        problem = "is not an int" + (" (amounts are minor units)" if kind is Kind.AMOUNT else "")
    elif kind is Kind.DATE:
        if isinstance(value, dt.date):
            try:
                return format_date(value)
            except ValueError as exc:
                problem = str(exc)
        else:
            problem = "is not a date"
    elif kind is Kind.TIME:
        if isinstance(value, (dt.time, dt.datetime)):
            return format_time(value)
        problem = "is not a time"
    elif kind is Kind.DURATION:
        if isinstance(value, dt.timedelta) and 0 <= value.total_seconds() < 86400:
            seconds = int(value.total_seconds())
            return f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"
        problem = "is not a duration from 0 to 24 hours"
    elif kind is Kind.YESNO:
        if isinstance(value, bool):
            return "Y" if value else "N"
        problem = "is not a bool (Y/N)"
    elif kind is Kind.FLAG:
        if isinstance(value, bool):
            return "" if value else None
        problem = "is not a bool"
    elif kind is Kind.LIST:
        if isinstance(value, (tuple, list)) and all(
            isinstance(item, str) and item and "," not in item for item in value
        ):
            return ",".join(value)
        problem = "is not a sequence of non-empty str without ','"
    else:
        if isinstance(value, (tuple, list)) and all(
            isinstance(item, str) and len(item) == 2 for item in value
        ):
            return "".join(value)
        problem = "is not a sequence of 2-character field ids"
    raise Invalid(f"{value!r} {problem}")


# --- Plans: what each typed class maps to on the wire ----------------------------------------


@dataclass(frozen=True)
class Scalar:
    field_id: str
    attr: str
    kind: Kind


@dataclass(frozen=True)
class Group:
    prefix: str
    first: int
    attr: str
    kind: Kind

    @property
    def field_ids(self) -> tuple[str, ...]:
        return tuple(f"{self.prefix}{n}" for n in range(self.first, 10))


@dataclass(frozen=True)
class Collection:
    attr: str


@dataclass(frozen=True)
class Plan:
    """A typed class's wire mapping, built once from its dataclass metadata."""

    cls: type[Any]
    spec: RecordSpec
    decimals: bool  # may M values carry a decimal point (records from the PMS)
    #: field id -> attribute for plain one-field attributes (not those a Special decodes)
    scalars: dict[str, Scalar]
    #: numbered field id (S1) -> (group, index in the tuple)
    groups: dict[str, tuple[Group, int]]
    #: the encode order
    order: tuple[Scalar | Group | Collection, ...]
    special: Special | None
    #: every field id the class has an attribute for (extra_fields may not hold these)
    mapped_ids: frozenset[str]
    defaults: dict[str, Any]
    required: tuple[str, ...]  # dataclass attributes without a default


class Special:
    """Decoding of fields whose meaning depends on their neighbours."""

    field_ids: frozenset[str] = frozenset()

    def start(self) -> Any:
        raise NotImplementedError

    def take(self, state: Any, acc: dict[str, Any], field_id: str, value: str, index: int) -> None:
        raise NotImplementedError

    def finish(self, state: Any, acc: dict[str, Any]) -> None:
        raise NotImplementedError

    def encode(self, attr: str, value: Any) -> list[tuple[str, str]]:
        raise NotImplementedError


def _take_once(
    acc: dict[str, Any], attr: str, kind: Kind, field_id: str, value: str, rt: str
) -> None:
    if attr in acc:
        raise Invalid(f"{field_id + value!r} repeats {field_id}, which {rt} allows once")
    acc[attr] = decode_value(kind, field_id, value)


class _RoomMove(Special):
    """``GC``: each ``GS`` belongs to the room field (``RN`` or ``RO``) before it. A ``GS`` before
    any room field goes with ``RN``."""

    field_ids = frozenset({"RN", "RO", "GS"})

    def start(self) -> Any:
        return {"last_room": None}

    def take(self, state: Any, acc: dict[str, Any], field_id: str, value: str, index: int) -> None:
        if field_id == "GS":
            attr = "old_share_flag" if state["last_room"] == "RO" else "share_flag"
            _take_once(acc, attr, Kind.YESNO, field_id, value, "GC (after each room)")
            return
        attr = "room" if field_id == "RN" else "old_room"
        _take_once(acc, attr, Kind.TEXT, field_id, value, "GC")
        state["last_room"] = field_id

    def finish(self, state: Any, acc: dict[str, Any]) -> None:
        pass

    def encode(self, attr: str, value: Any) -> list[tuple[str, str]]:
        raise AssertionError("GC has no collection")  # pragma: no cover


class _Articles(Special):
    """``MA``/``M#`` pairs. An ``M#`` belongs to the latest ``MA`` that has none yet; an ``M#``
    before its ``MA`` waits for the next ``MA``."""

    field_ids = frozenset({"MA", "M#"})

    def start(self) -> Any:
        return {"items": [], "pending": None}

    def take(self, state: Any, acc: dict[str, Any], field_id: str, value: str, index: int) -> None:
        items: list[list[Any]] = state["items"]
        if field_id == "MA":
            if not value:
                raise Invalid("'MA' is empty; an article number is needed")
            item = [int(value), None, False]
            pending = state["pending"]
            if pending is not None:
                item[1], item[2] = pending[0], True
                state["pending"] = None
            items.append(item)
            return
        count = int(value) if value else None
        if items and not items[-1][2]:
            items[-1][1], items[-1][2] = count, True
        elif state["pending"] is None:
            state["pending"] = (count, index)
        else:
            raise Invalid(f"{field_id + value!r} follows another M# with no MA between them")

    def finish(self, state: Any, acc: dict[str, Any]) -> None:
        pending = state["pending"]
        if pending is not None:
            raise Invalid("M# has no MA to count", field_id="M#", index=pending[1])
        if state["items"]:
            acc["articles"] = tuple(MinibarArticle(a, c) for a, c, _ in state["items"])

    def encode(self, attr: str, value: Any) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for article in _sequence(value, MinibarArticle):
            pairs.append(("MA", _encode_as(Kind.INT, article.article)))
            if article.count is not None:
                pairs.append(("M#", _encode_as(Kind.INT, article.count)))
        return pairs


def _guest_attributes() -> dict[str, tuple[str, Kind]]:
    out: dict[str, tuple[str, Kind]] = {}
    for f in dataclasses.fields(PostingListGuest):
        if "fias" in f.metadata:
            out[f.metadata["fias"]] = (f.name, f.metadata["fias_kind"])
        else:
            for n in range(f.metadata["fias_first"], 10):
                out[f"{f.metadata['fias_group']}{n}"] = (f.name, Kind.TEXT)
    return out


class _Guests(Special):
    """``PL`` guests. A guest field the current guest already has starts the next guest, so
    ``RN|G#|GN|RN|G#|GN`` is two guests whatever the order inside each block. ``BA`` and ``CL``
    before the first guest belong to the list (see :class:`PostingList`)."""

    _LIST_LEVEL = {"BA": "balance", "CL": "credit_limit"}

    def __init__(self) -> None:
        self.attributes = _guest_attributes()
        self.field_ids = frozenset(self.attributes)

    def start(self) -> Any:
        return []

    def take(self, state: Any, acc: dict[str, Any], field_id: str, value: str, index: int) -> None:
        blocks: list[dict[str, tuple[str, int]]] = state
        if not blocks and field_id in self._LIST_LEVEL:
            _take_once(acc, self._LIST_LEVEL[field_id], Kind.AMOUNT, field_id, value, "PL")
            return
        if not blocks or field_id in blocks[-1]:
            blocks.append({})
        blocks[-1][field_id] = (value, index)

    def finish(self, state: Any, acc: dict[str, Any]) -> None:
        guests = []
        for block in state:
            start = min(index for _, index in block.values())
            kwargs: dict[str, Any] = {}
            groups: dict[str, dict[int, Any]] = {}
            for fid in ("RN", "G#", "GN"):
                if fid not in block or (fid == "G#" and not block[fid][0]):
                    raise Invalid(
                        f"the guest that starts here has no {fid} "
                        "(a PL guest needs RN, a G# number and GN)",
                        field_id=fid,
                        index=start,
                    )
            for fid, (value, index) in block.items():
                attr, kind = self.attributes[fid]
                try:
                    converted = decode_value(kind, fid, value)
                except Invalid as exc:
                    raise Invalid(exc.problem, field_id=fid, index=index) from None
                if attr == "user_fields":
                    groups.setdefault(attr, {})[int(fid[1])] = converted
                else:
                    kwargs[attr] = converted
            for attr, by_index in groups.items():
                kwargs[attr] = _group_tuple(by_index, 0)
            guests.append(PostingListGuest(**kwargs))
        if len(guests) == 1:
            lifted: dict[str, Any] = {}
            for attr in self._LIST_LEVEL.values():
                if attr not in acc and getattr(guests[0], attr) is not None:
                    acc[attr] = getattr(guests[0], attr)
                    lifted[attr] = None
            guests[0] = dataclasses.replace(guests[0], **lifted)
        if guests:
            acc["guests"] = tuple(guests)

    def encode(self, attr: str, value: Any) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for guest in _sequence(value, PostingListGuest):
            for f in dataclasses.fields(PostingListGuest):
                item = getattr(guest, f.name)
                if "fias_group" in f.metadata:
                    pairs.extend(_encode_group(f.metadata["fias_group"], 0, Kind.TEXT, item))
                elif item is not None:
                    text = _encode_as(f.metadata["fias_kind"], item)
                    pairs.append((f.metadata["fias"], text))
        return pairs


def _sequence(value: Any, item_type: type[Any]) -> Sequence[Any]:
    if isinstance(value, (tuple, list)) and all(isinstance(item, item_type) for item in value):
        return value
    raise Invalid(f"{value!r} is not a sequence of {item_type.__name__}")


def _encode_as(kind: Kind, value: Any) -> str:
    text = encode_value(kind, value)
    assert text is not None
    return text


def _group_tuple(by_index: dict[int, Any], first: int) -> tuple[Any, ...]:
    if not by_index:
        return ()
    last = max(by_index)
    return tuple(by_index.get(n) for n in range(first, last + 1))


def _encode_group(prefix: str, first: int, kind: Kind, value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, tuple) or len(value) > 10 - first:
        raise Invalid(f"{value!r} is not a tuple of at most {10 - first} values")
    return [
        (f"{prefix}{first + i}", _encode_as(kind, item))
        for i, item in enumerate(value)
        if item is not None
    ]


_SPECIALS: dict[str, Callable[[], Special]] = {
    "GC": _RoomMove,
    "PS": _Articles,
    "PR": _Articles,
    "PL": _Guests,
}


def _build_plan(cls: type[Any]) -> Plan:
    spec = RECORD_TYPES[cls.RECORD_TYPE]
    special = _SPECIALS[cls.RECORD_TYPE]() if cls.RECORD_TYPE in _SPECIALS else None
    by_attr: dict[str, Scalar | Group | Collection] = {}
    scalars: dict[str, Scalar] = {}
    groups: dict[str, tuple[Group, int]] = {}
    mapped: set[str] = set()
    defaults: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING:
            required.append(f.name)
            defaults[f.name] = None
        else:
            defaults[f.name] = f.default
        meta = f.metadata
        if "fias" in meta:
            scalar = Scalar(meta["fias"], f.name, meta["fias_kind"])
            _check_kind(FIELDS[scalar.field_id], scalar.kind)
            by_attr[f.name] = scalar
            mapped.add(scalar.field_id)
            if special is None or scalar.field_id not in special.field_ids:
                assert scalar.field_id not in scalars, (cls, scalar)
                scalars[scalar.field_id] = scalar
        elif "fias_group" in meta:
            group = Group(meta["fias_group"], meta["fias_first"], f.name, meta["fias_kind"])
            by_attr[f.name] = group
            for index, fid in enumerate(group.field_ids):
                groups[fid] = (group, index)
                mapped.add(fid)
        elif "fias_collection" in meta:
            by_attr[f.name] = Collection(f.name)
    if special is not None:
        mapped |= special.field_ids
    assert sorted(cls.WIRE_ORDER) == sorted(by_attr), (cls, set(cls.WIRE_ORDER) ^ set(by_attr))
    return Plan(
        cls=cls,
        spec=spec,
        decimals=spec.direction is Direction.FROM_PMS,
        scalars=scalars,
        groups=groups,
        order=tuple(by_attr[name] for name in cls.WIRE_ORDER),
        special=special,
        mapped_ids=frozenset(mapped),
        defaults=defaults,
        required=tuple(required),
    )


_COMPATIBLE = {
    Kind.TEXT: {Format.AN, Format.ANS},
    Kind.INT: {Format.N},
    Kind.DIGITS: {Format.N},
    Kind.AMOUNT: {Format.M},
    Kind.DATE: {Format.D},
    Kind.TIME: {Format.T},
    Kind.DURATION: {Format.T},
    Kind.YESNO: {Format.AN},
    Kind.FLAG: set(Format),
    Kind.LIST: {Format.ANS},
    Kind.FIELD_LIST: {Format.ANS},
}


def _check_kind(spec: FieldSpec, kind: Kind) -> None:
    assert spec.format in _COMPATIBLE[kind], (spec, kind)


#: The plan of every typed record type.
PLANS: dict[str, Plan] = {rt: _build_plan(cls) for rt, cls in MESSAGE_TYPES.items()}


# --- The reference conversions (fast paths in fastpath.py must agree with these) -------------


def message_from_fields(
    plan: Plan, fields: Iterable[tuple[str, str]], raw: bytes | None, encoding: str
) -> Any:
    """Build ``plan.cls`` from wire pairs, checking every field against the spec table.

    ``raw`` is the payload the pairs came from (for error offsets); without it the offsets are
    those of the record as :func:`encode_record` would write it.
    """
    fields = tuple(fields)
    rt = plan.spec.record_type
    acc: dict[str, Any] = {}
    by_group: dict[str, dict[int, Any]] = {}
    extra: list[tuple[str, str]] = []
    special = plan.special
    state = special.start() if special is not None else None
    index = 0
    field_id: str | None = None
    try:
        for index, (field_id, value) in enumerate(fields):
            if not isinstance(field_id, str) or len(field_id) != 2:
                raise Invalid(f"{field_id!r} is not a 2-character field id")
            spec = FIELDS.get(field_id)
            if spec is not None:
                problem = value_problem(spec, value, decimals=plan.decimals)
                if problem is not None:
                    raise Invalid(f"{field_id + value!r} {problem}")
            if special is not None and field_id in special.field_ids:
                special.take(state, acc, field_id, value, index)
                continue
            scalar = plan.scalars.get(field_id)
            if scalar is not None:
                _take_once(acc, scalar.attr, scalar.kind, field_id, value, rt)
                continue
            grouped = plan.groups.get(field_id)
            if grouped is not None:
                group, position = grouped
                slots = by_group.setdefault(group.attr, {})
                if position in slots:
                    raise Invalid(
                        f"{field_id + value!r} repeats {field_id}, which {rt} allows once"
                    )
                slots[position] = decode_value(group.kind, field_id, value)
                continue
            extra.append((field_id, value))
        index = len(fields)
        field_id = None
        present = {fid for fid, _ in fields}
        for fid in plan.spec.mandatory:
            if fid not in present:
                raise Invalid("mandatory field is missing", field_id=fid)
        if special is not None:
            special.finish(state, acc)
    except Invalid as exc:
        where = exc.index if exc.index is not None else index
        payload = raw if raw is not None else _canonical_payload(Record(rt, fields), encoding)
        raise FiasDecodeError(
            exc.problem,
            record_type=rt,
            field_id=exc.field_id if exc.field_id is not None else field_id,
            offset=field_offset(payload, where + 1),
            raw=payload,
        ) from None
    for attr, slots in by_group.items():
        acc[attr] = _group_tuple(slots, 0)
    for attr in plan.required:
        acc.setdefault(attr, None)
    acc["extra_fields"] = tuple(extra)
    return plan.cls(**acc)


def message_to_fields(plan: Plan, message: Any) -> Fields:
    """The wire pairs of a typed message, in its ``WIRE_ORDER``, then its ``extra_fields``."""
    rt = plan.spec.record_type
    pairs: list[tuple[str, str]] = []
    for item in plan.order:
        value = getattr(message, item.attr)
        field_id = item.field_id if isinstance(item, Scalar) else None
        try:
            if isinstance(item, Scalar):
                if value is None:
                    continue
                text = encode_value(item.kind, value)
                if text is not None:
                    pairs.append((item.field_id, text))
            elif isinstance(item, Group):
                pairs.extend(_encode_group(item.prefix, item.first, item.kind, value))
            elif value:
                assert plan.special is not None
                pairs.extend(plan.special.encode(item.attr, value))
        except Invalid as exc:
            raise FiasEncodeError(
                exc.problem, record_type=rt, field_id=field_id, attribute=item.attr
            ) from None
    if rt == "GC" and message.old_share_flag is not None and message.old_room is None:
        raise FiasEncodeError(
            "old_share_flag needs old_room: a GS belongs to the room field before it",
            record_type=rt,
            field_id="GS",
            attribute="old_share_flag",
        )
    extra = message.extra_fields
    if not isinstance(extra, tuple) or not all(
        isinstance(p, tuple) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in extra
    ):
        raise FiasEncodeError(
            f"{extra!r} is not a tuple of (field id, value) pairs",
            record_type=rt,
            attribute="extra_fields",
        )
    for fid, value in extra:
        if fid in plan.mapped_ids:
            raise FiasEncodeError(
                f"{fid + value!r} belongs in an attribute of {plan.cls.__name__}, "
                "not in extra_fields",
                record_type=rt,
                field_id=fid,
                attribute="extra_fields",
            )
        pairs.append((fid, value))
    return tuple(pairs)


def _canonical_payload(record: Record, encoding: str) -> bytes:
    text = "|".join([record.record_type, *(fid + value for fid, value in record.fields)]) + "|"
    return text.encode(encoding, "replace")


def field_offset(payload: bytes, segment: int) -> int:
    """The byte offset of segment ``segment`` (0: the record type, 1: the first field ...);
    past the last segment: the payload's length."""
    offset = 0
    for index, part in enumerate(payload.split(b"|")):
        if index == segment:
            return offset
        offset += len(part) + 1
    return len(payload)
