"""ISO 4217 currencies and their minor units: how the gateway reads and shows money.

foliogate carries every amount as an integer number of minor units plus an ISO 4217 code
(``5000`` + ``GBP`` is 50.00 pounds, ``5000`` + ``JPY`` is 5000 yen, ``5000`` + ``BHD`` is
5.000 dinars). Floats never hold money. The table of how many minor units each code has is
:data:`protocols.iso4217.CURRENCY_EXPONENTS` (shared with the SOAP wire codecs); this module
refuses a code not in it, so amounts can be shown (:func:`format_minor`) and typed in
(:func:`parse_major`) without guessing.

>>> format_minor(5000, "GBP")
'50.00 GBP'
>>> format_minor(-5000, "JPY")
'-5000 JPY'
>>> format_minor(1234, "KWD")
'1.234 KWD'
>>> parse_major("50.5", "GBP")
5050
"""

from __future__ import annotations

import re

from protocols.iso4217 import CURRENCY_EXPONENTS

__all__ = [
    "CURRENCY_EXPONENTS",
    "UnknownCurrency",
    "format_minor",
    "is_known_currency",
    "minor_unit_exponent",
    "parse_major",
]


class UnknownCurrency(ValueError):
    """The code is not an ISO 4217 currency foliogate can post in."""

    def __init__(self, currency: object) -> None:
        super().__init__(f"unknown ISO 4217 currency code {currency!r}")
        self.currency = currency


def is_known_currency(currency: object) -> bool:
    """True for an upper-case ISO 4217 code listed in :data:`CURRENCY_EXPONENTS`."""
    return isinstance(currency, str) and currency in CURRENCY_EXPONENTS


def minor_unit_exponent(currency: str) -> int:
    """How many minor-unit digits ``currency`` has (GBP 2, JPY 0, KWD 3).

    Raises :class:`UnknownCurrency` for a code not in the table.
    """
    try:
        return CURRENCY_EXPONENTS[currency]
    except (KeyError, TypeError):
        raise UnknownCurrency(currency) from None


def format_minor(amount: int, currency: str) -> str:
    """Show ``amount`` minor units of ``currency`` for people: ``'-50.00 GBP'``.

    For display and reasons only; wire formats have their own rules (FIAS sends minor
    units without a decimal point).
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be an int number of minor units, not {type(amount).__name__}")
    exponent = minor_unit_exponent(currency)
    sign = "-" if amount < 0 else ""
    digits = str(abs(amount))
    if exponent:
        digits = digits.rjust(exponent + 1, "0")
        digits = f"{digits[:-exponent]}.{digits[-exponent:]}"
    return f"{sign}{digits} {currency}"


_MAJOR = re.compile(r"(?P<sign>-?)(?P<units>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")


def parse_major(text: str, currency: str) -> int:
    """Read an amount typed in major units (``"50.00"``) as minor units (``5000``).

    Exact: more fraction digits than the currency has is an error, never a rounding.
    """
    exponent = minor_unit_exponent(currency)
    match = _MAJOR.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an amount (digits, optionally '.' and the fraction)")
    fraction = match["fraction"] or ""
    if len(fraction) > exponent:
        raise ValueError(f"{text!r} has {len(fraction)} decimal places; {currency} has {exponent}")
    minor: int = int(match["units"]) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
    return -minor if match["sign"] else minor
