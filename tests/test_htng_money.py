"""Money on the SOAP wire is integer minor units with an ISO 4217 code and its exponent; the
decimal-text conversions Rezlynx needs are exact and never round."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.htng.money import (
    Money,
    from_decimal_text,
    minor_unit_exponent,
    to_decimal_text,
)


def test_money_of_uses_the_currency_exponent():
    assert Money.of(5000, "GBP") == Money(5000, "GBP", 2)
    assert Money.of(5000, "JPY") == Money(5000, "JPY", 0)
    assert Money.of(5000, "BHD") == Money(5000, "BHD", 3)
    assert minor_unit_exponent("EUR") == 2


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((50.0, "GBP", 2), TypeError, "Money.amount must be an int of minor units, not 50.0"),
        ((True, "GBP", 2), TypeError, "Money.amount must be an int of minor units, not True"),
        ((1, "gbp", 2), ValueError, "currency 'gbp' is not an ISO 4217 code"),
        ((1, "GBP", 5), ValueError, "decimals 5 is outside 0..4"),
    ],
)
def test_money_refuses_floats_bad_currencies_and_decimals(args, error, message):
    with pytest.raises(error) as caught:
        Money(*args)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("amount", "decimals", "text"),
    [(5000, 2, "50.00"), (-5, 2, "-0.05"), (0, 2, "0.00"), (1234, 0, "1234"), (-1, 3, "-0.001")],
)
def test_to_decimal_text(amount, decimals, text):
    assert to_decimal_text(amount, decimals) == text


@pytest.mark.parametrize(
    ("text", "decimals", "message"),
    [
        ("50.001", 2, "'50.001' has more than 2 decimal places"),
        ("1e3", 2, "'1e3' is not a decimal number"),
        ("Infinity", 2, "'Infinity' is not a decimal number"),
        ("", 2, "'' is not a decimal number"),
    ],
)
def test_from_decimal_text_refuses_what_is_not_whole_minor_units(text, decimals, message):
    with pytest.raises(ValueError) as caught:
        from_decimal_text(text, decimals)
    assert str(caught.value) == message


def test_from_decimal_text_accepts_trailing_zeros_and_signs():
    assert from_decimal_text("50.0000", 2) == 5000
    assert from_decimal_text("+.5", 2) == 50
    assert from_decimal_text(" -12 ", 0) == -12


@given(st.integers(min_value=-(10**17), max_value=10**17), st.integers(min_value=0, max_value=4))
def test_decimal_text_round_trips_exactly(amount, decimals):
    assert from_decimal_text(to_decimal_text(amount, decimals), decimals) == amount
