"""Exchange rates (adapters.rates): the rates file, the rate valid at a time, exact conversion
with one half-to-even rounding per currency exponent, and the config key that names the file."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.config import ConfigInvalid, config_from_toml
from adapters.rates import (
    NoRate,
    RatesFile,
    RatesInvalid,
    RateTable,
    convert_at,
    split_amount,
)

HEADER = "base,quote,rate,valid_from,valid_to\n"
RATES = HEADER + (
    "# November rates from the bank\n"
    "JPY,GBP,0.0052,2026-11-01,2026-12-01\n"
    "JPY,GBP,0.0050,2026-12-01,\n"
    "GBP,BHD,0.4700,2026-11-01T00:00:00Z,2026-11-21T11:00:00+02:00\n"
    "\n"
    "GBP,BHD,0.4754,2026-11-21T09:00:00Z,\n"
    "EUR,GBP,0.8612345678,2026-11-01,\n"
)
NOV_21 = dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC)


def table() -> RateTable:
    return RateTable.from_text(RATES, "rates.csv")


# -- lookup ---------------------------------------------------------------------------------------


def test_the_row_valid_at_the_payment_time_is_used():
    rate, inverted = table().find("JPY", "GBP", NOV_21)
    assert (rate.rate, rate.line, inverted) == (Decimal("0.0052"), 3, False)
    later, _ = table().find("JPY", "GBP", dt.datetime(2027, 1, 5, tzinfo=dt.UTC))
    assert later.rate == Decimal("0.0050")


def test_valid_from_is_inclusive_and_valid_to_exclusive():
    at_change = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert table().find("JPY", "GBP", at_change)[0].rate == Decimal("0.0050")
    just_before = at_change - dt.timedelta(microseconds=1)
    assert table().find("JPY", "GBP", just_before)[0].rate == Decimal("0.0052")


def test_a_row_for_the_other_direction_is_used_inverted():
    rate, inverted = table().find("BHD", "GBP", NOV_21)
    assert (rate.base, rate.quote, rate.rate, inverted) == ("GBP", "BHD", Decimal("0.4754"), True)
    assert rate.line == 7


def test_offsets_in_validity_times_are_honoured():
    """The first GBP/BHD row ends at 11:00+02:00, i.e. 09:00Z, where the next one starts."""
    early = dt.datetime(2026, 11, 21, 8, 59, 59, tzinfo=dt.UTC)
    assert table().find("BHD", "GBP", early)[0].rate == Decimal("0.4700")
    nine = dt.datetime(2026, 11, 21, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert table().find("BHD", "GBP", nine)[0].rate == Decimal("0.4754")
    with pytest.raises(NoRate) as caught:
        table().find("BHD", "GBP", dt.datetime(2026, 10, 31, tzinfo=dt.UTC))
    assert str(caught.value) == (
        "no BHD->GBP rate valid at 2026-10-31T00:00:00Z in rates.csv (its rows for the pair "
        "cover GBP,BHD 2026-11-01T00:00:00Z .. 2026-11-21T09:00:00Z; GBP,BHD "
        "2026-11-21T09:00:00Z .. open-ended)"
    )


def test_no_rate_says_so_instead_of_guessing():
    with pytest.raises(NoRate, match="no USD->GBP rate valid at 2026-11-21T10:04:05Z in "
                       r"rates.csv \(it has no row for the pair\)"):  # fmt: skip
        table().convert(100, "USD", "GBP", NOV_21)
    with pytest.raises(NoRate, match="cover JPY,GBP 2026-11-01T00:00:00Z .. 2026-12-01"):
        table().convert(100, "JPY", "GBP", dt.datetime(2026, 10, 31, 23, 59, tzinfo=dt.UTC))


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        table().find("JPY", "GBP", dt.datetime(2026, 11, 21))


# -- arithmetic -----------------------------------------------------------------------------------


def test_jpy_to_gbp_uses_each_currency_s_own_exponent():
    """12345 JPY (no minor units) x 0.0052 = 64.194 GBP = 6419.4 pence -> 6419."""
    conversion = table().convert(12345, "JPY", "GBP", NOV_21)
    assert (conversion.amount, conversion.currency, conversion.rate) == (
        6419,
        "GBP",
        Decimal("0.0052"),
    )
    assert conversion.describe() == "12345 JPY at JPY/GBP 0.0052 = 64.19 GBP"


def test_bhd_to_gbp_inverted_divides_exactly_then_rounds_once():
    """1.234 BHD (1234 fils) / 0.4754 = 2.59571... GBP -> 260 pence."""
    conversion = table().convert(1234, "BHD", "GBP", NOV_21)
    assert (conversion.amount, conversion.inverted) == (260, True)
    assert conversion.describe() == "1.234 BHD at GBP/BHD 0.4754 inverted = 2.60 GBP"


@pytest.mark.parametrize(
    ("amount", "currency", "target", "rate", "expected"),
    [
        (1, "GBP", "JPY", "150.5", 2),  # 1.505 yen -> 2
        (3, "GBP", "JPY", "150.5", 5),  # 4.515 -> 5
        (2, "GBP", "JPY", "125", 2),  # 2.5 yen: half to even -> 2
        (6, "GBP", "JPY", "125", 8),  # 7.5 yen: half to even -> 8
        (5, "JPY", "BHD", "0.0001", 0),  # 0.0005 BHD = 0.5 fils -> 0
        (15, "JPY", "BHD", "0.0001", 2),  # 1.5 fils -> 2
        (999_999_999_999, "GBP", "EUR", "1.1612345678", 1_161_234_567_799),  # ...798.84
    ],
)
def test_rounding_is_half_to_even_to_a_whole_minor_unit(amount, currency, target, rate, expected):
    assert convert_at(amount, currency, target, Decimal(rate)) == expected


def test_the_largest_amount_times_a_long_rate_stays_exact():
    """12-digit amount x 10-decimal rate: no intermediate rounding (60 significant digits)."""
    exact = Decimal(999_999_999_999) / 100 * Decimal("0.8612345678") * 100
    assert convert_at(999_999_999_999, "EUR", "GBP", Decimal("0.8612345678")) == int(
        exact.to_integral_value()
    )


def test_split_keeps_the_total_exact():
    assert split_amount(6419, [5000, 5000, 2345]) == [2600, 2600, 1219]
    assert sum(split_amount(1001, [1, 1, 1, 1, 1, 1, 1])) == 1001
    with pytest.raises(ValueError):
        split_amount(10, [0, 0])


# -- the file -------------------------------------------------------------------------------------


def test_every_problem_in_a_rates_file_is_reported_with_its_line():
    text = HEADER + (
        "JPY,GBP,0.0052,2026-11-01,2026-12-01\n"
        "JPY,GBP,0.0053,2026-11-15,\n"
        "XYZ,GBP,1,2026-11-01,\n"
        "EUR,EUR,1,2026-11-01,\n"
        "EUR,GBP,-0.86,2026-11-01,\n"
        "EUR,GBP,1e3,2026-11-01,\n"
        "USD,GBP,0.79,yesterday,\n"
        "USD,GBP,0.79,2026-11-02,2026-11-01\n"
        "USD,GBP,0.79\n"
    )
    with pytest.raises(RatesInvalid) as caught:
        RateTable.from_text(text, "rates.csv")
    assert caught.value.errors == [
        "line 4: base 'XYZ' is not an ISO 4217 code",
        "line 5: base and quote are both EUR",
        "line 6: rate '-0.86' must be a positive decimal like 0.0052",
        "line 7: rate '1e3' must be a positive decimal like 0.0052",
        "line 8: valid_from 'yesterday': must be a date (2026-11-01) or a date-time with an offset",
        "line 9: valid_to is not after valid_from",
        "line 10: 3 values for 5 columns",
    ]
    with pytest.raises(RatesInvalid) as overlap:
        RateTable.from_text(HEADER + text.splitlines(keepends=True)[1] + text.splitlines()[2])
    assert overlap.value.errors == [
        "line 3: JPY,GBP 2026-11-15T00:00:00Z .. open-ended overlaps line 2 "
        "(2026-11-01T00:00:00Z .. 2026-12-01T00:00:00Z); which one applies would be a guess"
    ]


def test_the_header_must_name_the_columns():
    with pytest.raises(RatesInvalid) as caught:
        RateTable.from_text("base,quote,price,valid_from\n")
    assert caught.value.errors == [
        "line 1: header lacks rate, valid_to",
        "line 1: unknown column(s) price",
    ]
    with pytest.raises(RatesInvalid, match="empty"):
        RateTable.from_text("# nothing\n")


def test_a_rates_file_is_read_again_when_it_changes(tmp_path: Path):
    path = tmp_path / "rates.csv"
    path.write_text(HEADER + "JPY,GBP,0.0052,2026-11-01,\n", encoding="utf-8")
    rates = RatesFile(path)
    assert rates.table().convert(1000, "JPY", "GBP", NOV_21).amount == 520
    path.write_text(HEADER + "JPY,GBP,0.0060,2026-11-01,\n", encoding="utf-8")
    os.utime(path, ns=(1, 10**18))  # a new modification time, whatever the clock's resolution
    assert rates.table().convert(1000, "JPY", "GBP", NOV_21).amount == 600
    path.write_text("base,quote\n", encoding="utf-8")
    with pytest.raises(RatesInvalid):  # never the old rows once the file is broken
        rates.table()


# -- configuration --------------------------------------------------------------------------------

CONFIG = """
[gateway]
rates = "rates.csv"

[sources.payments]
secret_env = "SECRET"

[properties.GRAND-LONDON]
profile = "fias"
endpoint = "tcp:host=127.0.0.1:port=5010"
posting_mode = "normal"
currency = "GBP"
approval_threshold = 100000

[properties.GRAND-LONDON.codes]
deposit = "SPA_DEPOSIT"
redemption_payment_type = "DEPOSIT_REDEMPTION"
payment_types = { onejourney = "ONEJOURNEY" }

[properties.GRAND-LONDON.fias]
sales_outlets = { SPA_DEPOSIT = 210 }
payment_methods = { ONEJOURNEY = "OJ", DEPOSIT_REDEMPTION = "DR" }
room_payment_method = "ROOM"
"""


def test_config_names_the_rates_file_and_the_approval_threshold(tmp_path: Path):
    (tmp_path / "rates.csv").write_text(RATES, encoding="utf-8")
    config = config_from_toml(CONFIG, base_dir=tmp_path)
    assert config.gateway.rates == tmp_path / "rates.csv"
    assert config.properties["GRAND-LONDON"].approval_threshold == 100000


def test_config_without_them_has_neither(tmp_path: Path):
    text = CONFIG.replace('rates = "rates.csv"\n', "").replace("approval_threshold = 100000\n", "")
    config = config_from_toml(text, base_dir=tmp_path)
    assert (config.gateway.rates, config.properties["GRAND-LONDON"].approval_threshold) == (
        None,
        None,
    )


def test_check_config_reports_a_missing_or_broken_rates_file_and_a_bad_threshold(tmp_path: Path):
    text = CONFIG.replace("approval_threshold = 100000", "approval_threshold = 0")
    with pytest.raises(ConfigInvalid) as caught:
        config_from_toml(text, base_dir=tmp_path)
    assert caught.value.errors == [
        "gateway.rates: rates.csv: cannot read the file: No such file or directory",
        "properties.GRAND-LONDON.approval_threshold: must be from 1 to 999999999999",
    ]
    (tmp_path / "rates.csv").write_text(HEADER + "JPY,GBP,x,2026-11-01,\n", encoding="utf-8")
    with pytest.raises(ConfigInvalid) as broken:
        config_from_toml(CONFIG, base_dir=tmp_path)
    assert broken.value.errors == [
        "gateway.rates: rates.csv: line 2: rate 'x' must be a positive decimal like 0.0052"
    ]


def test_check_config_summary_names_the_rates_and_the_threshold(tmp_path: Path, capsys):
    from adapters.cli import main

    (tmp_path / "rates.csv").write_text(RATES, encoding="utf-8")
    (tmp_path / "gateway.toml").write_text(CONFIG, encoding="utf-8")
    assert main(["check-config", str(tmp_path / "gateway.toml"), "--no-secrets"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2] == f"  rates {tmp_path / 'rates.csv'}: 5 rows (EUR/GBP, GBP/BHD, JPY/GBP)"
    assert out[-1].endswith(", approval over 1000.00 GBP")


def test_the_example_rates_file_is_valid():
    example = Path(__file__).resolve().parent.parent / "examples" / "rates.csv"
    table = RateTable.from_file(example)
    assert table.convert(12345, "JPY", "GBP", NOV_21).amount == 6419
