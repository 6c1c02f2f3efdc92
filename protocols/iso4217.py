"""ISO 4217 currencies and their minor units: the one table every wire and the gateway use.

``CURRENCY_EXPONENTS`` maps an alphabetic code to its number of minor-unit digits (GBP 2,
JPY 0, BHD 3, CLF 4). What a code *missing* from the table means is the reader's choice:
:func:`protocols.htng.money.minor_unit_exponent` takes 2, ``adapters.money`` refuses it.

>>> CURRENCY_EXPONENTS["GBP"], CURRENCY_EXPONENTS["JPY"], CURRENCY_EXPONENTS["KWD"]
(2, 0, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# ISO 4217 List One as amended to 2026-01-01: every country currency and fund code that has
# a minor unit. Left out on purpose: precious metals (XAU, XAG, XPD, XPT), units of account
# (XDR, XSU, XUA, XAD, XBA-XBD), the test and "no currency" codes (XTS, XXX), and withdrawn
# codes (HRK, ANG, SLL, ZWL, CUC...): none of them can pay a hotel bill.
# Grouped by exponent so a wrong digit stands out in review.
_BY_EXPONENT: Final[Mapping[int, str]] = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    2: (
        "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP "
        "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB "
        "EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES "
        "KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR "
        "MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD "
        "RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP "
        "TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
    ),
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}

#: ISO 4217 alphabetic code -> number of minor-unit digits (GBP 2, JPY 0, BHD 3, CLF 4).
CURRENCY_EXPONENTS: Final[Mapping[str, int]] = MappingProxyType(
    {code: exponent for exponent, codes in sorted(_BY_EXPONENT.items()) for code in codes.split()}
)
