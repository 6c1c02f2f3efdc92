"""Value checks and conversions for the FIAS data types (AN, ANS, N, M, D, T).

Every check returns ``None`` for a good value or a short problem text that the codec puts into
its error message, e.g. ``"is not monetary (M)"``. An empty value is always well formed: empty
fields are legal and meaningful in FIAS (``SF|``, ``DA|TI|``, ``CT|``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from .spec import FieldSpec, Format

_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
# Reserved control bytes. CR, LF, FF and 0x1C-0x1F are allowed in text: the spec allows them in
# formatted text (section 3 of the spec) and does not agree whether 0x1C-0x1F are reserved
# (reference section 9.2); lenient reading.
_ANS_FORBIDDEN = re.compile(r"[\x00-\x09\x0b\x0e-\x1b\x7f]")
#: The control bytes no value may hold on the wire, whatever its type: STX, ETX and '|'.
FRAMING_CHARACTERS = re.compile(r"[\x02\x03|]")

# Two-digit years: 69-99 are 1969-1999, 00-68 are 2000-2068 (the POSIX %y pivot).
FIRST_YEAR = 1969
LAST_YEAR = 2068

# Decoded dates and times are cached by their text: a link carries few distinct values.
_CACHE_LIMIT = 4096
_DATES: dict[str, dt.date] = {}
_TIMES: dict[str, dt.time] = {}


def parse_date(text: str) -> dt.date | None:
    """``YYMMDD`` as a date, or ``None`` when it is not one."""
    cached = _DATES.get(text)
    if cached is not None:
        return cached
    if len(text) != 6 or not (text.isascii() and text.isdigit()):
        return None
    try:  # fromisoformat reads the basic form YYYYMMDD in C
        value = dt.date.fromisoformat(("19" if text >= "69" else "20") + text)
    except ValueError:
        return None
    if len(_DATES) >= _CACHE_LIMIT:
        _DATES.clear()
    _DATES[text] = value
    return value


def parse_time(text: str) -> dt.time | None:
    """``HHMMSS`` as a time, or ``None`` when it is not one."""
    cached = _TIMES.get(text)
    if cached is not None:
        return cached
    if len(text) != 6 or not (text.isascii() and text.isdigit()):
        return None
    try:  # fromisoformat reads the basic form HHMMSS in C
        value = dt.time.fromisoformat(text)
    except ValueError:
        return None
    if len(_TIMES) >= _CACHE_LIMIT:
        _TIMES.clear()
    _TIMES[text] = value
    return value


def format_date(value: dt.date) -> str:
    """A date as ``YYMMDD``. Raises ``ValueError`` outside the two-digit-year window."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"has a year outside {FIRST_YEAR}-{LAST_YEAR} (D, YYMMDD)")
    return f"{value.year % 100:02d}{value.month:02d}{value.day:02d}"


def format_time(value: dt.time | dt.datetime) -> str:
    """A time as ``HHMMSS``; FIAS has whole seconds, so microseconds are dropped."""
    return f"{value.hour:02d}{value.minute:02d}{value.second:02d}"


def parse_amount(text: str) -> int:
    """An M value as minor units. Raises ``ValueError`` with a problem text.

    Amounts from the PMS may carry a decimal point (``BA``, ``CL``). FIAS amounts without one
    are minor units with two decimals (``TA1050`` is 10.50), so a decimal amount is read with two
    decimals: ``"12.5"`` is 1250. More significant decimals than that cannot be minor units.
    """
    if "." not in text:
        return int(text)
    whole, _, fraction = text.partition(".")
    negative = whole.startswith("-")
    whole = whole.lstrip("-") or "0"
    if len(fraction) > 2:
        if fraction[2:].strip("0"):
            raise ValueError("has more than 2 decimal places")
        fraction = fraction[:2]
    units = int(whole) * 100 + int(fraction.ljust(2, "0"))
    return -units if negative else units


def value_problem(spec: FieldSpec, value: str, *, decimals: bool) -> str | None:
    """Why ``value`` is not a valid ``spec`` field, or ``None`` when it is.

    ``decimals``: whether an M value may carry a decimal point (only amounts from the PMS).
    """
    if not value:
        return None
    fmt = spec.format
    if fmt is Format.N:
        if not _INTEGER.fullmatch(value):
            return "is not numeric (N)"
    elif fmt is Format.M:
        if not _INTEGER.fullmatch(value):
            if "." in value and _DECIMAL.fullmatch(value):
                if not decimals:
                    return "has a decimal point; amounts sent to the PMS are whole minor units (M)"
            else:
                return "is not monetary (M)"
    elif fmt is Format.D:
        if parse_date(value) is None:
            return "is not a date (D, YYMMDD)"
    elif fmt is Format.T:
        if parse_time(value) is None:
            return "is not a time (T, HHMMSS)"
    elif fmt is Format.AN:
        if not _PRINTABLE_ASCII.fullmatch(value):
            return "is not printable ASCII (AN)"
    else:
        bad = _ANS_FORBIDDEN.search(value)
        if bad is not None:
            return f"holds the control character 0x{ord(bad.group()):02x} (ANS)"
    if spec.max_length is not None and len(value) > spec.max_length:
        return f"is longer than {spec.max_length} characters ({fmt.value} max {spec.max_length})"
    return None


def value_check(spec: FieldSpec, *, decimals: bool) -> Callable[[str], bool]:
    """A fast ``value -> bool`` check that agrees with :func:`value_problem`.

    Each check tries the common case with ``str`` methods (C speed) and falls back to
    :func:`value_problem` for anything else, so both always give the same verdict.
    """
    limit = spec.max_length if spec.max_length is not None else 1 << 62
    fmt = spec.format

    def slow(value: str) -> bool:
        return value_problem(spec, value, decimals=decimals) is None

    if fmt is Format.N or fmt is Format.M:

        def check_number(value: str) -> bool:
            if value.isdigit() and value.isascii() and len(value) <= limit:
                return True
            return slow(value)

        return check_number
    if fmt is Format.D:

        def check_date(value: str) -> bool:
            return value in _DATES or slow(value)

        return check_date
    if fmt is Format.T:

        def check_time(value: str) -> bool:
            return value in _TIMES or slow(value)

        return check_time
    if fmt is Format.AN:

        def check_an(value: str) -> bool:
            if len(value) <= limit and value.isascii() and value.isprintable():
                return True
            return slow(value)

        return check_an

    def check_ans(value: str) -> bool:
        if len(value) <= limit and value.isprintable():
            return True
        return slow(value)

    return check_ans
