"""The FIAS field, record and answer-status tables: the spec as data.

One table drives validation, encoding, decoding, the pretty-printer and the docs. It covers the
records foliogate uses (link control, resync, night audit, guest data and postings) and is written
from ``shared/reference/fias.md`` (Appendix A for fields, sections 2-4 for records and answer
statuses). Where the sources disagree (reference section 9) the table takes the lenient reading on
decode and says so in a comment next to the entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

#: The general maximum record length ("C, 2000", reference section 1.3): bytes between STX and ETX.
MAX_RECORD_LENGTH = 2000


class Format(StrEnum):
    """FIAS data types (reference section 1.3)."""

    AN = "AN"  # printable ASCII 0x20-0x7E
    ANS = "ANS"  # any character of the code page except the reserved control bytes
    N = "N"  # an integer: digits with an optional leading '-'
    M = "M"  # an amount: digits, '-', and a '.' only in amounts that come from the PMS
    D = "D"  # a date, YYMMDD
    T = "T"  # a time (or a duration), HHMMSS


FORMAT_NAMES: Mapping[Format, str] = MappingProxyType(
    {
        Format.AN: "printable ASCII",
        Format.ANS: "text",
        Format.N: "numeric",
        Format.M: "monetary",
        Format.D: "a date",
        Format.T: "a time",
    }
)


class Direction(StrEnum):
    """Who sends a record. It decides whether an amount may carry a decimal point."""

    TO_PMS = "vendor to PMS"
    FROM_PMS = "PMS to vendor"
    BOTH = "both ways"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field id: its name, data type and maximum length (``None``: only the record limit)."""

    field_id: str
    name: str
    format: Format
    max_length: int | None


@dataclass(frozen=True, slots=True)
class RecordSpec:
    """One record type: who sends it and which fields it carries.

    ``mandatory`` is what the codec *enforces* (on decode and on encode). For records we send to
    the PMS that is the spec's mandatory set, so we never send a record IFC would drop and the
    simulator refuses what IFC would. For records that come from the PMS it is only what a
    receiver needs to act on the record, because the spec's own examples and field traces omit
    fields the tables call mandatory (e.g. ``PA`` without ``DA``/``TI``/``RN``, a bare ``LA|``).
    """

    record_type: str
    name: str
    direction: Direction
    mandatory: tuple[str, ...]
    optional: tuple[str, ...]
    #: Names that replace the field table's name inside this record type (``A1`` in ``LC``).
    field_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field id the record type defines, mandatory ones first."""
        return self.mandatory + self.optional

    def field_name(self, field_id: str) -> str:
        """The field's name in this record type (unknown ids: ``"unknown field"``)."""
        name = self.field_names.get(field_id)
        if name is not None:
            return name
        spec = FIELDS.get(field_id)
        return spec.name if spec is not None else "unknown field"


def _numbered(
    prefix: str, name: str, fmt: Format, max_length: int | None, first: int = 1
) -> list[tuple[str, str, Format, int | None]]:
    return [(f"{prefix}{i}", f"{name} {i}", fmt, max_length) for i in range(first, 10)]


_AN, _ANS, _N, _M, _D, _T = Format.AN, Format.ANS, Format.N, Format.M, Format.D, Format.T

_FIELD_ROWS: list[tuple[str, str, Format, int | None]] = [
    # Track 2: the PR table says N 19, Appendix C AN 40 (section 9.10); AN 40 accepts both.
    ("$2", "Track 2 data", _AN, 40),
    ("+0", "Cash-rounding difference", _M, 15),
    *_numbered("A", "User-defined field", _ANS, None, first=0),
    ("AS", "Answer status", _ANS, 2),
    # Balance: N 20 in the PL table, M 20 "may contain a decimal point" in Appendix C
    # (section 9.10); M, and a '.' is accepted because PL comes from the PMS.
    ("BA", "Balance amount", _M, 20),
    ("C#", "Check number", _N, 8),
    ("CG", "Cryptogram", _ANS, 150),
    ("CL", "Credit limit", _M, 15),
    ("CO", "Credit-limit override", _AN, 1),
    ("CS", "Class of service", _ANS, 1),
    # Clear text: 20 in PS/PR, 50 in PA, "no final limitation" on OPERA. The limits differ per
    # record and the PMS sends longer texts than the tables say, so only the record limit applies.
    ("CT", "Clear text", _ANS, None),
    ("CV", "Covers", _N, 5),
    *_numbered("D", "Discount", _M, 15),
    ("DA", "Date", _D, 6),
    ("DD", "Dialled digits", _N, 20),
    ("DU", "Duration", _T, 6),
    # DID / virtual numbers: ';'-separated lists, no length given.
    ("EN", "Equipment number", _AN, None),
    ("EP", "Equipment pool", _AN, None),
    ("ES", "Equipment status", _AN, None),
    ("EO", "Old-room equipment number", _AN, None),
    ("EI", "Old-room equipment pool", _AN, None),
    ("ET", "Old-room equipment status", _AN, None),
    ("FL", "Field list", _ANS, None),
    ("G#", "Reservation number", _N, 10),
    # Profile number: N 10 in Appendix C, AN 10 in the GI table (section 9.10); AN accepts both.
    ("G+", "Profile number", _AN, 10),
    ("GA", "Arrival date", _D, 6),
    ("GD", "Departure date", _D, 6),
    ("GF", "First name", _ANS, 80),
    ("GG", "Group", _AN, 10),
    ("GL", "Language", _ANS, 10),
    ("GN", "Guest name", _ANS, 200),
    ("GS", "Share flag", _AN, 1),
    ("GT", "Title", _ANS, 20),
    ("GV", "VIP status", _AN, 20),
    ("ID", "User ID", _ANS, 16),
    # LD table: AN 2; Appendix C: ANS 2. ANS accepts both.
    ("IF", "Interface family", _ANS, 2),
    ("M#", "Number of articles", _N, 2),
    ("MA", "Minibar article", _N, 4),
    ("MP", "Meter pulses", _N, 10),
    ("MR", "Minibar rights", _ANS, 2),
    ("MX", "Maximum matches", _N, 1),
    ("NP", "No-post flag", _AN, 1),
    ("P#", "Posting sequence number", _N, 8),
    ("PC", "Posting call type", _AN, 1),
    ("PH", "Hotel ID", _ANS, 20),
    ("PI", "Inquiry data", _ANS, 10),
    ("PM", "Payment method", _ANS, 5),
    ("PT", "Posting type", _AN, 1),
    ("PX", "Posting route", _N, 6),
    ("RI", "Record ID", _ANS, 2),
    ("RL", "Maximum message record length", _N, 4),
    # Room: "ANS max 8, can be longer with Suite8/OPERA": no limit of its own.
    ("RN", "Room number", _ANS, None),
    ("RO", "Old room number", _ANS, None),
    ("RP", "Room payment methods", _ANS, None),
    # Request type: N max 4 in the LD table, AN 2 in Appendix C (which means the K*/XM field of
    # the same id). Among our records only LD carries it, so the LD reading applies.
    ("RT", "Request type", _N, 4),
    *_numbered("S", "Subtotal", _M, 15),
    ("SC", "Service charge", _M, 15),
    # Swap flag: always empty. Its presence is the signal; a stray value is tolerated.
    ("SF", "Swap flag", _AN, None),
    ("SO", "Sales outlet", _N, 5),
    ("ST", "Serving time", _N, 4),
    ("T#", "Table number", _N, 4),
    *_numbered("T", "Tax", _M, 15),
    ("TA", "Total amount", _M, 15),
    ("TI", "Time", _T, 6),
    ("TP", "Tip", _M, 15),
    ("TV", "TV rights", _ANS, 2),
    ("V#", "Vendor version", _ANS, 10),
    ("VR", "Video rights", _ANS, 2),
    ("WS", "Workstation ID", _ANS, 16),
    ("X1", "Cross-reference text", _ANS, 25),
]

#: Every field id the record table uses, with its name, format and maximum length.
FIELDS: Mapping[str, FieldSpec] = MappingProxyType(
    {fid: FieldSpec(fid, name, fmt, max_length) for fid, name, fmt, max_length in _FIELD_ROWS}
)


def _ids(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_DATE_TIME = _ids("DA TI")
_USER = tuple(f"A{i}" for i in range(10))
_AMOUNTS = (
    _ids("TA")
    + tuple(f"S{i}" for i in range(1, 10))
    + tuple(f"T{i}" for i in range(1, 10))
    + tuple(f"D{i}" for i in range(1, 10))
    + _ids("SC TP +0")
)
_GUEST_DATA = _USER + _ids("CS DA TI G+ GA GD GF GN GT GG GL GV MR TV VR NP WS EN EP ES")

_RECORD_ROWS: list[RecordSpec] = [
    # Link control. The spec gives DA and TI; Protel answers with a bare "LA|" [F1], so on records
    # that travel both ways nothing is enforced.
    RecordSpec("LS", "Link Start", Direction.BOTH, (), _DATE_TIME),
    RecordSpec("LD", "Link Description", Direction.TO_PMS, _ids("IF V#"), _ids("DA TI RT RL CG")),
    RecordSpec("LR", "Link Record", Direction.TO_PMS, _ids("RI FL"), ()),
    RecordSpec("LA", "Link Alive", Direction.BOTH, (), _DATE_TIME),
    RecordSpec("LE", "Link End", Direction.BOTH, (), _DATE_TIME),
    RecordSpec(
        "LC",
        "Link Configuration",
        Direction.FROM_PMS,
        (),
        _ids("RP A0 A1 A2 A3 PH CG"),
        # A2/A3: section 6 of the spec puts the IFC version in A2 and the driver version in A3,
        # Appendix B the other way round (reference section 9.1). We follow section 6 and the
        # LC example; the values are informational.
        MappingProxyType(
            {
                "A0": "EFT and DLS timeouts",
                "A1": "PMS version",
                "A2": "IFC version",
                "A3": "Driver version",
            }
        ),
    ),
    RecordSpec("DR", "Database Resync Request", Direction.TO_PMS, (), _DATE_TIME),
    RecordSpec("DS", "Database Resync Start", Direction.FROM_PMS, (), _DATE_TIME),
    RecordSpec("DE", "Database Resync End", Direction.FROM_PMS, (), _DATE_TIME),
    RecordSpec("NS", "Night Audit Start", Direction.FROM_PMS, (), _DATE_TIME),
    RecordSpec("NE", "Night Audit End", Direction.FROM_PMS, (), _DATE_TIME),
    # Guest records: G# and GS are mandatory only "for guest-oriented systems"; RN always.
    RecordSpec("GI", "Guest Check-in", Direction.FROM_PMS, ("RN",), _ids("G# GS SF") + _GUEST_DATA),
    RecordSpec(
        "GO", "Guest Check-out", Direction.FROM_PMS, ("RN",), _ids("G# GS DA TI SF WS EN EP ES")
    ),
    RecordSpec(
        "GC",
        "Guest Data Change",
        Direction.FROM_PMS,
        ("RN",),
        _ids("G# GS RO") + _GUEST_DATA + _ids("EO EI ET"),
    ),
    # Postings. PS: the spec says G# is not supported; Protel accepted it and hit the right
    # folio (section 9.4), so it is listed as optional.
    RecordSpec(
        "PS",
        "Posting Simple",
        Direction.TO_PMS,
        _ids("RN PT DA TI"),
        _ids("TA SO MA M# MP DU DD P# WS CT X1 PC PM PX C# CO CV ID ST T# G#") + _AMOUNTS[1:],
    ),
    RecordSpec(
        "PR",
        "Posting Request",
        Direction.TO_PMS,
        _ids("P# WS PM"),
        _ids("PI RN G# GN DA TI $2 C# CO CT CV DD DU G+ ID MA M# MX PC PT SO ST T# X1") + _AMOUNTS,
    ),
    # PL: WS is mandatory in the spec since v2.10, but a list is matched to its inquiry by P#.
    RecordSpec(
        "PL",
        "Posting List",
        Direction.FROM_PMS,
        ("P#",),
        _ids("WS RN G# GN BA C# CL DA G+ GA GD GF GG GL GT GV ID NP PM SO TI") + _USER,
    ),
    # PA: the spec lists AS, DA, TI, RN (and P#/WS after a PR) as mandatory, yet its own
    # examples omit DA/TI/RN and Protel omits DA/TI. Only the answer status is enforced.
    RecordSpec(
        "PA",
        "Posting Answer",
        Direction.FROM_PMS,
        ("AS",),
        _ids("RN P# WS CT G# GN SO ID C# DA TI"),
    ),
]

#: The record types foliogate speaks, with their mandatory and optional fields.
RECORD_TYPES: Mapping[str, RecordSpec] = MappingProxyType({r.record_type: r for r in _RECORD_ROWS})


# --- Answer statuses -------------------------------------------------------------------------


class RetryClass(StrEnum):
    """What a posting's sender does with an answer status."""

    POSTED = "posted"  # done: the PMS booked it
    RETRYABLE = "retryable"  # the PMS asked for a retry
    WAIT_NIGHT_AUDIT = "wait_night_audit"  # hold it until the night audit ends (NE)
    TERMINAL = "terminal"  # refused: an operator has to look at it


@dataclass(frozen=True, slots=True)
class AnswerStatus:
    code: str
    meaning: str
    retry_class: RetryClass


_STATUS_ROWS = [
    ("OK", "Command/request completed successfully", RetryClass.POSTED),
    ("UR", "Unprocessable request; cannot be carried out, no retry", RetryClass.TERMINAL),
    ("RY", "Retry", RetryClass.RETRYABLE),
    ("NA", "Night audit", RetryClass.WAIT_NIGHT_AUDIT),
    ("NG", "Guest not found", RetryClass.TERMINAL),
    ("NP", "Posting denied for this guest (no-post flag set)", RetryClass.TERMINAL),
    ("CO", "Posting denied: credit-limit override not allowed", RetryClass.TERMINAL),
    ("DM", "Sum of subtotals does not match the total amount", RetryClass.TERMINAL),
    ("IA", "Invalid account", RetryClass.TERMINAL),
    ("FX", "Guest not allowed this feature", RetryClass.TERMINAL),
    ("DN", "Request denied", RetryClass.TERMINAL),
    ("BM", "Balance mismatch", RetryClass.TERMINAL),
    ("CD", "Check-out date is not today", RetryClass.TERMINAL),
    ("NF", "Feature not enabled, or check-out process not running", RetryClass.TERMINAL),
    ("NM", "Message/locator not found", RetryClass.TERMINAL),
    # BY means "telephone / encoder busy" and belongs to wakeup and key services. It is transient
    # there, but the spec defines no BY for postings, and only RY is the PMS asking for a retry.
    # Re-sending a posting on a status the PMS never defined for it risks a double charge, so a
    # posting answered BY goes to an operator like any other refusal.
    ("BY", "Telephone / encoder busy", RetryClass.TERMINAL),
    ("NR", "No response", RetryClass.TERMINAL),
    ("DE", "Wakeup/key has been deleted", RetryClass.TERMINAL),
    ("AA", "Virtual number already assigned", RetryClass.TERMINAL),
    ("AN", "Virtual number not found", RetryClass.TERMINAL),
    ("SV", "Internal to IFC; external systems must not send it", RetryClass.TERMINAL),
]

#: Every answer status (AS) code with its meaning and retry class.
ANSWER_STATUSES: Mapping[str, AnswerStatus] = MappingProxyType(
    {code: AnswerStatus(code, meaning, retry) for code, meaning, retry in _STATUS_ROWS}
)


def answer_status(code: str) -> AnswerStatus:
    """The answer status for ``code``; an unknown code is terminal ("unknown answer status")."""
    known = ANSWER_STATUSES.get(code)
    if known is not None:
        return known
    return AnswerStatus(code, "unknown answer status", RetryClass.TERMINAL)
