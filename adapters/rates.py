"""Exchange rates: a rates file read into exact decimals, and conversions between minor units.

An event in a currency other than its property's is converted at the rate valid at the
payment time (``occurred_at``), taken from the CSV file the configuration names
(``[gateway] rates = "rates.csv"``). Nothing is guessed: no valid rate means no conversion
(:class:`NoRate`), and the event goes to the exception queue.

**The file.** UTF-8 CSV with a header row naming the columns ``base``, ``quote``, ``rate``,
``valid_from``, ``valid_to`` (in any order; other columns are refused). Blank lines and lines
starting with ``#`` are skipped. One row says: from ``valid_from`` (inclusive) until
``valid_to`` (exclusive; empty = open-ended), one unit of ``base`` buys ``rate`` units of
``quote``::

    base,quote,rate,valid_from,valid_to
    JPY,GBP,0.0052,2026-11-01,2026-12-01
    BHD,GBP,2.1034,2026-11-01T00:00:00Z,

- ``rate`` is a positive decimal string (``0.0052``, ``2.1034``); no exponent, no sign.
- ``valid_from``/``valid_to`` are ISO dates (midnight UTC) or RFC 3339 date-times with an
  offset.
- Two rows of the same pair must not overlap (which one would apply is a guess).

Every problem is reported at once with its line number (:class:`RatesInvalid`).

**Which row.** To convert ``X`` into ``P`` at time ``t`` the row ``X,P`` valid at ``t`` is
used (``amount * rate``). Without one, the row ``P,X`` valid at ``t`` is used inverted
(``amount / rate``); the journal records which (``inverted``).

**Arithmetic and rounding.** Exact decimals (:mod:`decimal`, 60 significant digits, so a
product of a 12-digit amount and any rate in the file is exact): the amount in minor units
is scaled to major units by its currency's exponent, multiplied (or divided) by the rate,
scaled to the target currency's minor units by *its* exponent, and rounded once, to a whole
minor unit, half to even (``ROUND_HALF_EVEN``, banker's rounding: ``0.5`` -> ``0``, ``1.5`` ->
``2``). JPY has 0 minor digits, GBP 2, BHD 3 (:mod:`adapters.money`).

>>> table = RateTable.from_text("base,quote,rate,valid_from,valid_to\\n"
...                             "JPY,GBP,0.0052,2026-11-01,2026-12-01\\n")
>>> at = dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC)
>>> c = table.convert(150_000, "JPY", "GBP", at)
>>> (c.amount, c.currency, str(c.rate))
(78000, 'GBP', '0.0052')
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

from adapters.money import format_minor, is_known_currency, minor_unit_exponent

__all__ = [
    "COLUMNS",
    "ROUNDING",
    "Conversion",
    "NoRate",
    "Rate",
    "RateTable",
    "RatesFile",
    "RatesInvalid",
    "convert_at",
    "split_amount",
]

#: The columns a rates file must name in its header row.
COLUMNS = ("base", "quote", "rate", "valid_from", "valid_to")
#: The one rounding rule: to a whole minor unit of the target currency, half to even.
ROUNDING = "ROUND_HALF_EVEN"
#: Significant digits of every intermediate result (exact for every product we form).
PRECISION = 60

_RATE = re.compile(r"[0-9]{1,18}(\.[0-9]{1,18})?")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9:.]+([Zz]|[+-][0-9]{2}:[0-9]{2})")


class RatesInvalid(ValueError):
    """The rates file cannot be used; ``errors`` lists every problem with its line."""

    def __init__(self, errors: Iterable[str], source: str = "rates") -> None:
        self.errors = list(errors)
        self.source = source
        super().__init__(f"{source}: " + "; ".join(self.errors))


class NoRate(LookupError):
    """No rate converts ``base`` into ``quote`` at that time (the reason says what exists)."""


@dataclass(frozen=True)
class Rate:
    """One row: from ``valid_from`` to ``valid_to`` (exclusive), 1 ``base`` = ``rate`` ``quote``."""

    base: str
    quote: str
    rate: Decimal
    valid_from: dt.datetime
    valid_to: dt.datetime | None  # None: open-ended
    line: int = 0  # where it is in the file, for messages

    def valid_at(self, at: dt.datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)

    def overlaps(self, other: Rate) -> bool:
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        return self.valid_from < (other.valid_to or far) and other.valid_from < (
            self.valid_to or far
        )

    @property
    def period(self) -> str:
        end = _show_time(self.valid_to) if self.valid_to else "open-ended"
        return f"{_show_time(self.valid_from)} .. {end}"


@dataclass(frozen=True)
class Conversion:
    """One conversion, with everything the journal keeps about it."""

    original_amount: int  # minor units of original_currency
    original_currency: str
    amount: int  # minor units of currency, rounded half to even
    currency: str
    rate: Decimal  # as written in the file
    base: str  # the row used: 1 base = rate quote
    quote: str
    inverted: bool  # True: the row was quote->base, so amount = original / rate
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    source: str = ""  # the rates file
    rounding: str = ROUNDING

    def describe(self) -> str:
        """``150000 JPY at JPY/GBP 0.0052 = 780.00 GBP``."""
        pair = f"{self.base}/{self.quote} {self.rate}"
        how = f"{pair} inverted" if self.inverted else pair
        return (
            f"{format_minor(self.original_amount, self.original_currency)} at {how} = "
            f"{format_minor(self.amount, self.currency)}"
        )


def convert_at(
    amount: int,
    currency: str,
    target: str,
    rate: Decimal,
    *,
    inverted: bool = False,
) -> int:
    """``amount`` minor units of ``currency`` in minor units of ``target`` at ``rate``.

    ``rate`` is target units per ``currency`` unit (``inverted``: ``currency`` units per
    target unit). Exact until the one rounding, half to even, to a whole minor unit.

    >>> convert_at(1000, "BHD", "GBP", Decimal("2.1034"))  # 1.000 BHD
    210
    >>> convert_at(5, "GBP", "JPY", Decimal("0.0052"), inverted=True)  # 0.05 GBP
    10
    >>> convert_at(3, "JPY", "GBP", Decimal("0.005"))  # 1.5 pence: half to even -> 2
    2
    >>> convert_at(5, "JPY", "GBP", Decimal("0.005"))  # 2.5 pence: half to even -> 2
    2
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amount must be an int number of minor units")
    if rate <= 0:
        raise ValueError("a rate must be positive")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        major = Decimal(amount).scaleb(-minor_unit_exponent(currency))
        converted = major / rate if inverted else major * rate
        minor = converted.scaleb(minor_unit_exponent(target))
        return int(minor.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def split_amount(total: int, parts: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``parts`` so that the shares add up to ``total`` exactly.

    Largest remainder: each share is rounded down, then the minor units left over go one each
    to the shares with the largest fractions (ties: the earlier part). Used for an event's
    items after its payment was converted, so the items still add up to the payment.

    >>> split_amount(100, [1, 1, 1])
    [34, 33, 33]
    >>> split_amount(78000, [100000, 50000])
    [52000, 26000]
    """
    weight = sum(parts)
    if weight <= 0 or any(p < 0 for p in parts):
        raise ValueError("parts must be non-negative with a positive sum")
    floors = [total * p // weight for p in parts]
    fractions = [total * p % weight for p in parts]
    left = total - sum(floors)
    order = sorted(range(len(parts)), key=lambda i: (-fractions[i], i))
    for i in order[:left]:
        floors[i] += 1
    return floors


class RateTable:
    """The rows of one rates file, validated; look rates up and convert with them."""

    def __init__(self, rates: Iterable[Rate], source: str = "rates") -> None:
        self.rates: tuple[Rate, ...] = tuple(rates)
        self.source = source
        errors = []
        by_pair: dict[tuple[str, str], list[Rate]] = {}
        for rate in self.rates:
            for other in by_pair.get((rate.base, rate.quote), []):
                if rate.overlaps(other):
                    errors.append(
                        f"line {rate.line}: {rate.base},{rate.quote} {rate.period} overlaps "
                        f"line {other.line} ({other.period}); which one applies would be a guess"
                    )
            by_pair.setdefault((rate.base, rate.quote), []).append(rate)
        if errors:
            raise RatesInvalid(errors, source)

    @classmethod
    def from_text(cls, text: str, source: str = "rates") -> RateTable:
        return cls(_parse(text, source), source)

    @classmethod
    def from_file(cls, path: str | Path) -> RateTable:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RatesInvalid([f"cannot read the file: {exc.strerror}"], str(path)) from None
        except UnicodeDecodeError:
            raise RatesInvalid(["the file is not UTF-8 text"], str(path)) from None
        return cls.from_text(text, str(path))

    def find(self, currency: str, target: str, at: dt.datetime) -> tuple[Rate, bool]:
        """The row that converts ``currency`` into ``target`` at ``at``, and whether it is
        used inverted. Raises :class:`NoRate` saying what the file has for the pair."""
        _check_aware(at)
        for base, quote, inverted in ((currency, target, False), (target, currency, True)):
            for rate in self.rates:
                if (rate.base, rate.quote) == (base, quote) and rate.valid_at(at):
                    return rate, inverted
        known = [r for r in self.rates if {r.base, r.quote} == {currency, target}]
        have = (
            "its rows for the pair cover "
            + "; ".join(f"{r.base},{r.quote} {r.period}" for r in known)
            if known
            else "it has no row for the pair"
        )
        raise NoRate(
            f"no {currency}->{target} rate valid at {_show_time(at)} in {self.source} ({have})"
        )

    def convert(self, amount: int, currency: str, target: str, at: dt.datetime) -> Conversion:
        """Convert ``amount`` minor units of ``currency`` into ``target`` at the rate valid at
        ``at``; :class:`NoRate` when the file has none."""
        rate, inverted = self.find(currency, target, at)
        return self.conversion(amount, currency, target, rate, inverted)

    def conversion(
        self, amount: int, currency: str, target: str, rate: Rate, inverted: bool
    ) -> Conversion:
        return Conversion(
            original_amount=amount,
            original_currency=currency,
            amount=convert_at(amount, currency, target, rate.rate, inverted=inverted),
            currency=target,
            rate=rate.rate,
            base=rate.base,
            quote=rate.quote,
            inverted=inverted,
            valid_from=rate.valid_from,
            valid_to=rate.valid_to,
            source=self.source,
        )


class RatesFile:
    """A rates file read when first needed and again whenever it changes on disk.

    Finance replaces the file (daily rates); the gateway picks the new rows up without a
    restart. A file that became invalid raises :class:`RatesInvalid` (never the old rows).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._table: RateTable | None = None

    def table(self) -> RateTable:
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise RatesInvalid([f"cannot read the file: {exc.strerror}"], str(self.path)) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._table is None or stamp != self._stamp:
            self._table = None
            self._table = RateTable.from_file(self.path)
            self._stamp = stamp
        return self._table


# --- parsing ------------------------------------------------------------------------------


def _show_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _check_aware(at: dt.datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("a conversion time must be timezone-aware")


def _parse_time(text: str) -> dt.datetime:
    text = text.strip()
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
    if not _DATETIME.fullmatch(text):
        raise ValueError("must be a date (2026-11-01) or a date-time with an offset")
    return dt.datetime.fromisoformat(text.upper())


def _parse(text: str, source: str) -> list[Rate]:
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise RatesInvalid(["empty: want a header row " + ",".join(COLUMNS)], source)
    header_line, header_text = lines[0]
    header = [h.strip().lower() for h in next(csv.reader([header_text]))]
    errors = []
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing:
        errors.append(f"line {header_line}: header lacks {', '.join(missing)}")
    if unknown:
        errors.append(f"line {header_line}: unknown column(s) {', '.join(unknown)}")
    if len(set(header)) != len(header):
        errors.append(f"line {header_line}: a column is named twice")
    if errors:
        raise RatesInvalid(errors, source)
    rates = []
    for number, line in lines[1:]:
        (cells,) = list(csv.reader(io.StringIO(line)))
        if len(cells) != len(header):
            errors.append(f"line {number}: {len(cells)} values for {len(header)} columns")
            continue
        row = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
        before = len(errors)
        for column in ("base", "quote"):
            if not is_known_currency(row[column]):
                errors.append(f"line {number}: {column} {row[column]!r} is not an ISO 4217 code")
        if row["base"] == row["quote"]:
            errors.append(f"line {number}: base and quote are both {row['base']}")
        if not _RATE.fullmatch(row["rate"]) or Decimal(row["rate"]) == 0:
            errors.append(
                f"line {number}: rate {row['rate']!r} must be a positive decimal like 0.0052"
            )
        times: list[dt.datetime | None] = []
        for column in ("valid_from", "valid_to"):
            if column == "valid_to" and not row[column]:
                times.append(None)
                continue
            try:
                times.append(_parse_time(row[column]))
            except ValueError as exc:
                errors.append(f"line {number}: {column} {row[column]!r}: {exc}")
                times.append(None)
        if len(errors) > before:
            continue
        valid_from, valid_to = times
        assert valid_from is not None
        if valid_to is not None and valid_to <= valid_from:
            errors.append(f"line {number}: valid_to is not after valid_from")
            continue
        rates.append(
            Rate(row["base"], row["quote"], Decimal(row["rate"]), valid_from, valid_to, number)
        )
    if errors:
        raise RatesInvalid(errors, source)
    return rates
