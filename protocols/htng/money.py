"""Money on the wire: integer minor units, an ISO 4217 code and its decimal places. No floats.

:class:`Money` is what the opera-htng and htng-async profiles carry (``5000`` + ``GBP`` +
``2`` decimals = 50.00 GBP). Rezlynx-style wires carry decimal text in the site currency;
:func:`to_decimal_text` and :func:`from_decimal_text` convert exactly, refusing any value that
is not a whole number of minor units.

>>> Money.of(5000, "GBP")
Money(amount=5000, currency='GBP', decimals=2)
>>> to_decimal_text(-5, 2), from_decimal_text("50.5", 2)
('-0.05', 5050)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from protocols.iso4217 import CURRENCY_EXPONENTS

MAX_DECIMALS: Final = 4
_CURRENCY = re.compile(r"[A-Z]{3}")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def minor_unit_exponent(currency: str) -> int:
    """The number of decimal places of ``currency`` (ISO 4217; 2 for a code not in the table)."""
    return CURRENCY_EXPONENTS.get(currency, 2)


@dataclass(frozen=True)
class Money:
    """A signed amount in minor units of ``currency`` with ``decimals`` decimal places."""

    amount: int
    currency: str
    decimals: int

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"Money.amount must be an int of minor units, not {self.amount!r}")
        if not _CURRENCY.fullmatch(self.currency):
            raise ValueError(f"currency {self.currency!r} is not an ISO 4217 code")
        if not 0 <= self.decimals <= MAX_DECIMALS:
            raise ValueError(f"decimals {self.decimals} is outside 0..{MAX_DECIMALS}")

    @classmethod
    def of(cls, amount: int, currency: str) -> Money:
        """``amount`` minor units of ``currency``, with the currency's ISO 4217 exponent."""
        return cls(amount, currency, minor_unit_exponent(currency))


def to_decimal_text(amount: int, decimals: int) -> str:
    """Minor units as decimal text: ``to_decimal_text(5000, 2) == "50.00"``."""
    if decimals == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**decimals)
    return f"{sign}{whole}.{fraction:0{decimals}d}"


def from_decimal_text(text: str, decimals: int) -> int:
    """Decimal text as minor units; ``ValueError`` if it is not a whole number of them."""
    stripped = text.strip()
    if not _DECIMAL_TEXT.fullmatch(stripped):
        raise ValueError(f"{text!r} is not a decimal number")
    try:
        scaled = Decimal(stripped).scaleb(decimals)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more than {decimals} decimal places")
    return int(scaled)
