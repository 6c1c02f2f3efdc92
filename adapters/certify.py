"""Certification: prove that a property's code mapping posts correctly on its PMS profile.

``foliogate certify --config FILE [--property P] [--pms-codes EXPORT.csv] --report DIR`` runs
the standard certification suite (:func:`certification_suite`) for each property of the
configuration against the simulator of its profile (FIAS or a SOAP profile), with a hotel
generated from the mapping (:func:`generate_hotel`), or from the PMS's own code export when one
is given, so that drift between the two is caught twice: statically (:func:`code_drift`: every
code the mapping posts must exist in the PMS with the right kind, group and FIAS number) and
by the postings themselves. Each suite entry is a scenario (:mod:`adapters.scenario`): it runs
the real gateway against the simulator over loopback and checks the DESIGN section 3
invariants in the simulator's ledger.

The report directory gets (:func:`write_reports`):

- ``junit.xml``: one test suite per property, one test case per check (CI systems);
- ``report.html``: self-contained (no external assets), per check: the steps, the folio
  tables, the invariants, the exception queue and the wire excerpts, for a finance controller;
- ``summary.json``: the same figures for machines;
- ``conformance.md``: per property, which journeys and features the mapping supports on that
  profile, and how;
- ``hotels/<PROPERTY>.toml`` and ``scenarios/<PROPERTY>/NN-<check>.toml``: the generated hotel
  and each check as a scenario file, so one can be re-run alone with ``foliogate scenario run``.

**The PMS code export** (``--pms-codes``): CSV, UTF-8 (a BOM is fine), comma separated, one
header row; column names are compared without case or surrounding spaces::

    code,description,group,kind,fias_so,fias_pm
    SPA_DEPOSIT,Spa Deposit,deposit,charge,210,
    DEPOSIT_REDEMPTION,Deposit Redemption,deposit,payment_type,,DR
    SPA_TREATMENT,Spa Treatment,revenue,charge,220,
    ONEJOURNEY,onejourney,payment,payment_type,,OJ
    ROOM,Room posting,,room,,ROOM

- ``code`` (required; also ``transaction_code``): the PMS's code, as the mapping names it;
- ``group`` (required for charges and payment types): ``revenue``, ``payment`` or ``deposit``;
- ``kind`` (default ``charge``; also ``type``): ``charge`` (a transaction code booked by a
  sales outlet), ``payment_type`` (a tender), or ``room`` (not a code: the FIAS payment method
  that leaves a charge on the room folio; default: the mapping's ``room_payment_method``);
- ``description`` (optional);
- ``fias_so`` (also ``sales_outlet``): the FIAS sales outlet of a charge (1-99999), blank if
  none; ``fias_pm`` (also ``payment_method``): the FIAS payment method of a payment type (1-5
  characters), blank if none. Both columns may be left out for the SOAP profiles.

Every error of the file is listed at once with its line (:class:`PmsCodesInvalid`).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import html
import io
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import inlineCallbacks

from adapters.config import GatewayConfig, Profile, PropertyConfig, load_config
from adapters.domain import PostingMode
from adapters.money import format_minor, minor_unit_exponent
from adapters.scenario import (
    FolioView,
    ScenarioResult,
    dumps_toml,
    format_failure,
    load_scenario,
    run_scenario,
)

__all__ = [
    "BUSINESS_DATE",
    "CaseResult",
    "CertificationReport",
    "DriftItem",
    "PmsCode",
    "PmsCodesInvalid",
    "PropertyReport",
    "SuiteEntry",
    "certification_suite",
    "certify",
    "code_drift",
    "generate_hotel",
    "load_pms_codes",
    "read_pms_codes",
    "write_reports",
]

#: The business date of every generated hotel (fixed, so reports compare run to run).
BUSINESS_DATE = dt.date(2026, 11, 27)
#: Reservations of the generated hotel (confirmation number, guest, state, room, arrival offset).
ARRIVING = "810001"  # arrives tomorrow: deposits before arrival
IN_HOUSE = "810002"  # in house: balance payments, faults
SHARER_A = "810003"  # two guests sharing room 201
SHARER_B = "810004"
DEPARTING = "810005"  # in house, checks out during a check
NO_SHOW = "810006"  # due today, never arrives
#: A revenue code the generated hotel adds for front-desk charges (a room night).
HOTEL_ROOM_CODE = "CERT_ROOM_NIGHT"
#: Simulator-only credentials of the generated hotel's SOAP services.
SIM_USERNAME, SIM_PASSWORD = "foliogate-certify", "certify-only-password"


# ------------------------------------------------------------------------------------------
# The PMS's code export


@dataclass(frozen=True)
class PmsCode:
    """One row of the PMS's code export."""

    code: str
    description: str
    group: str  # revenue | payment | deposit ("" for a room row)
    kind: str  # charge | payment_type | room
    fias_so: int | None
    fias_pm: str | None
    line: int


class PmsCodesInvalid(ValueError):
    """The export cannot be used; ``errors`` lists every problem with its line."""

    def __init__(self, source: str, errors: Sequence[str]) -> None:
        self.source = source
        self.errors = list(errors)
        super().__init__(
            f"{source}: {len(self.errors)} error(s):\n" + "\n".join(f"  - {e}" for e in errors)
        )


_COLUMNS = {
    "code": "code",
    "transaction_code": "code",
    "description": "description",
    "group": "group",
    "kind": "kind",
    "type": "kind",
    "fias_so": "fias_so",
    "sales_outlet": "fias_so",
    "fias_pm": "fias_pm",
    "payment_method": "fias_pm",
}
_GROUPS = ("revenue", "payment", "deposit")
_KINDS = ("charge", "payment_type", "room")


def load_pms_codes(path: str | Path) -> tuple[PmsCode, ...]:
    """Read the PMS's code export (see the module docstring for the format)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise PmsCodesInvalid(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise PmsCodesInvalid(str(path), ["the file is not UTF-8 text"]) from None
    return read_pms_codes(text, str(path))


def read_pms_codes(text: str, source: str = "pms codes") -> tuple[PmsCode, ...]:
    """Parse export text; :class:`PmsCodesInvalid` lists every error with its line."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    errors: list[str] = []
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise PmsCodesInvalid(source, ["line 1: the header row is missing (code,group,kind,...)"])
    columns: dict[str, int] = {}
    for index, name in enumerate(rows[0]):
        key = " ".join(name.split()).lower()
        if key not in _COLUMNS:
            errors.append(
                f"line 1: unknown column {name!r} (known: code, description, group, kind, "
                "fias_so, fias_pm)"
            )
        elif _COLUMNS[key] in columns:
            errors.append(f"line 1: column {_COLUMNS[key]} is given twice")
        else:
            columns[_COLUMNS[key]] = index
    if "code" not in columns:
        errors.append("line 1: the code column is required")
    if errors:
        raise PmsCodesInvalid(source, errors)
    codes: list[PmsCode] = []
    seen: dict[str, int] = {}
    outlets: dict[int, str] = {}
    methods: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue

        def cell(name: str, row: list[str] = row) -> str:
            index = columns.get(name)
            return row[index].strip() if index is not None and index < len(row) else ""

        at = f"line {number}"
        code = cell("code")
        kind = cell("kind").lower() or "charge"
        group = cell("group").lower()
        before = len(errors)
        if not code:
            errors.append(f"{at}: code is empty")
        elif code in seen:
            errors.append(f"{at}: code {code} is listed twice (also line {seen[code]})")
        if kind not in _KINDS:
            errors.append(f"{at}: kind {kind!r} is not one of {', '.join(_KINDS)}")
        if kind != "room" and group not in _GROUPS:
            errors.append(f"{at}: group {group!r} is not one of {', '.join(_GROUPS)}")
        so_text, pm = cell("fias_so"), cell("fias_pm") or None
        so: int | None = None
        if so_text:
            if not so_text.isdigit() or not 0 < int(so_text) < 100000:
                errors.append(f"{at}: fias_so {so_text!r} is not a sales outlet (1-99999)")
            elif kind != "charge":
                errors.append(f"{at}: fias_so is for charges; {code} is a {kind}")
            elif int(so_text) in outlets:
                errors.append(f"{at}: sales outlet {so_text} is also {outlets[int(so_text)]}'s")
            else:
                so = int(so_text)
                outlets[so] = code
        if pm is not None:
            if not 0 < len(pm) <= 5 or "|" in pm:
                errors.append(f"{at}: fias_pm {pm!r} is not a FIAS payment method (1-5 chars)")
            elif kind == "charge":
                errors.append(
                    f"{at}: fias_pm is for payment types and the room; {code} is a charge"
                )
            elif pm in methods:
                errors.append(f"{at}: payment method {pm} is also {methods[pm]}'s")
            else:
                methods[pm] = code
        if kind == "room" and pm is None:
            errors.append(f"{at}: a room row names the room's FIAS payment method in fias_pm")
        if len(errors) == before:
            seen[code] = number
            codes.append(
                PmsCode(
                    code,
                    cell("description") or code,
                    group if kind != "room" else "",
                    kind,
                    so,
                    pm,
                    number,
                )
            )
    if not codes and not errors:
        errors.append("the export lists no codes")
    if errors:
        raise PmsCodesInvalid(source, errors)
    return tuple(codes)


# ------------------------------------------------------------------------------------------
# The mapping against the PMS's codes


@dataclass(frozen=True)
class DriftItem:
    """A code the mapping posts that the PMS does not have as the mapping expects."""

    where: str  # the configuration key, e.g. properties.GRAND-LONDON.codes.deposit
    code: str
    problem: str


def _uses(prop: PropertyConfig) -> list[tuple[str, str, str, str]]:
    """(configuration key, code, kind, group) for every code the mapping posts."""
    base = f"properties.{prop.name}.codes"
    codes = prop.codes
    uses = [(f"{base}.deposit", codes.deposit, "charge", "deposit")]
    if codes.redemption_payment_type:
        uses.append(
            (
                f"{base}.redemption_payment_type",
                codes.redemption_payment_type,
                "payment_type",
                "deposit",
            )
        )
    uses += [
        (f"{base}.revenue.{item}", code, "charge", "revenue")
        for item, code in codes.revenue.items()
    ]
    uses += [
        (f"{base}.payment_types.{method}", code, "payment_type", "payment")
        for method, code in codes.payment_types.items()
    ]
    return uses


def code_drift(prop: PropertyConfig, pms_codes: Sequence[PmsCode]) -> list[DriftItem]:
    """Every way the property's mapping differs from the PMS's code table (empty: none).

    Each code the mapping posts must be in the PMS's table, of the kind it is posted as and in
    the group DESIGN section 3 needs (the deposit code and the redemption payment type in the
    deposit group, so it nets to 0); on FIAS its sales outlet or payment method must be the one
    the mapping sends, and the room's payment method too.
    """
    table = {c.code: c for c in pms_codes if c.kind != "room"}
    by_so = {c.fias_so: c for c in pms_codes if c.fias_so is not None}
    by_pm = {c.fias_pm: c for c in pms_codes if c.fias_pm is not None}
    used = {code for _, code, _, _ in _uses(prop)}
    items: list[DriftItem] = []
    for where, code, kind, group in _uses(prop):
        row = table.get(code)
        fias = prop.fias if prop.profile is Profile.FIAS else None
        number = None
        if fias is not None:
            number = (
                fias.sales_outlets.get(code) if kind == "charge" else fias.payment_methods.get(code)
            )
        if row is None:
            hint = ""
            twin = (
                (by_so.get(number) if kind == "charge" else by_pm.get(number)) if number else None
            )
            if twin is not None:
                what = "sales outlet" if kind == "charge" else "payment method"
                hint = f"; the PMS books {what} {number} as {twin.code} (renamed?)"
            else:
                same = [
                    c.code
                    for c in pms_codes
                    if c.kind == kind and c.group == group and c.code not in used
                ]
                if same:
                    hint = f"; unused {group} {kind.replace('_', ' ')}s in the PMS: " + ", ".join(
                        same
                    )
            items.append(DriftItem(where, code, f"the PMS has no code {code}{hint}"))
            continue
        if row.kind != kind:
            items.append(
                DriftItem(
                    where,
                    code,
                    f"{code} is a {row.kind.replace('_', ' ')} in "
                    f"the PMS; the mapping posts it as a {kind.replace('_', ' ')}",
                )
            )
        if row.group != group:
            items.append(
                DriftItem(
                    where,
                    code,
                    f"{code} is in the PMS's {row.group} group; the "
                    f"mapping needs it in the {group} group",
                )
            )
        if fias is not None and kind == "charge" and row.fias_so != number:
            items.append(
                DriftItem(
                    f"properties.{prop.name}.fias.sales_outlets.{code}",
                    code,
                    f"the mapping sends sales outlet {number}; the PMS has {code} on "
                    + (f"sales outlet {row.fias_so}" if row.fias_so else "no sales outlet"),
                )
            )
        if fias is not None and kind == "payment_type" and row.fias_pm != number:
            items.append(
                DriftItem(
                    f"properties.{prop.name}.fias.payment_methods.{code}",
                    code,
                    f"the mapping sends payment method {number}; the PMS has {code} on "
                    + (f"payment method {row.fias_pm}" if row.fias_pm else "no payment method"),
                )
            )
    if prop.profile is Profile.FIAS and prop.fias is not None:
        rooms = [c for c in pms_codes if c.kind == "room"]
        room_pm = prop.fias.room_payment_method
        if rooms and room_pm not in {c.fias_pm for c in rooms}:
            items.append(
                DriftItem(
                    f"properties.{prop.name}.fias.room_payment_method",
                    room_pm,
                    f"the mapping charges the room with payment method {room_pm}; the PMS's room "
                    f"payment method is {', '.join(str(c.fias_pm) for c in rooms)}",
                )
            )
    return items


# ------------------------------------------------------------------------------------------
# The generated hotel


def generate_hotel(
    prop: PropertyConfig, pms_codes: Sequence[PmsCode] | None = None
) -> dict[str, Any]:
    """A hotel file (decoded TOML) for the simulator: the PMS's codes (from the mapping, or
    from ``pms_codes``), their FIAS sales outlets and payment methods, rooms, and the
    reservations the suite needs. A front-desk revenue code for room nights is added when the
    codes have none to charge."""
    codes: dict[str, dict[str, Any]] = {}
    outlets: dict[int, str] = {}
    methods: dict[str, str] = {}
    room_pm = prop.fias.room_payment_method if prop.fias is not None else "ROOM"
    if pms_codes is None:
        for _, code, kind, group in _uses(prop):
            codes.setdefault(code, {"description": code, "group": group, "kind": kind})
        if prop.fias is not None:
            outlets = {so: code for code, so in prop.fias.sales_outlets.items() if code in codes}
            methods = {pm: code for code, pm in prop.fias.payment_methods.items() if code in codes}
    else:
        for row in pms_codes:
            if row.kind == "room":
                room_pm = row.fias_pm or room_pm
                continue
            codes[row.code] = {"description": row.description, "group": row.group, "kind": row.kind}
            if row.fias_so is not None:
                outlets[row.fias_so] = row.code
            if row.fias_pm is not None:
                methods[row.fias_pm] = row.code
    if prop.profile is not Profile.FIAS:
        # The SOAP profiles post codes by name; the simulator's FIAS tables only serve its
        # front-desk charges, so every charge gets an outlet and every tender a method.
        free_so = iter(n for n in range(100, 100000) if n not in outlets)
        for code, spec in codes.items():
            if spec["kind"] == "charge" and code not in outlets.values():
                outlets[next(free_so)] = code
        free_pm = iter(f"P{n}" for n in range(1, 10000) if f"P{n}" not in methods)
        for code, spec in codes.items():
            if spec["kind"] == "payment_type" and code not in methods.values():
                methods[next(free_pm)] = code
    if HOTEL_ROOM_CODE not in codes:
        codes[HOTEL_ROOM_CODE] = {
            "description": "Room night (certification)",
            "group": "revenue",
            "kind": "charge",
        }
        outlets[next(n for n in range(99000, 100000) if n not in outlets)] = HOTEL_ROOM_CODE
    methods[room_pm] = "ROOM"
    day = dt.timedelta(days=1)
    bd = BUSINESS_DATE
    reservations = [
        (ARRIVING, "Certify, Arriving", bd + day, bd + 3 * day, "reserved", "102"),
        (IN_HOUSE, "Certify, Inhouse", bd - day, bd + 2 * day, "in_house", "101"),
        (SHARER_A, "Certify, Sharer A", bd - day, bd + 2 * day, "in_house", "201"),
        (SHARER_B, "Certify, Sharer B", bd - day, bd + 2 * day, "in_house", "201"),
        (DEPARTING, "Certify, Departing", bd - 2 * day, bd, "in_house", "103"),
        (NO_SHOW, "Certify, Noshow", bd, bd + 2 * day, "reserved", "104"),
    ]
    return {
        "hotel": {
            "name": f"Certification hotel for {prop.name} ({prop.profile.value})",
            "currency": prop.currency,
            "business_date": bd,
            "allow_negative_amounts": prop.allow_negative,
            "rooms": ["101", "102", "103", "104", "201"],
        },
        "codes": codes,
        "fias": {
            "sales_outlets": {str(so): code for so, code in sorted(outlets.items())},
            "payment_methods": dict(sorted(methods.items())),
        },
        "soap": {
            "username": SIM_USERNAME,
            "password": SIM_PASSWORD,
            "allow_negative_amounts": prop.allow_negative,
        },
        "reservations": [
            {
                "confirmation_number": int(conf),
                "guest_name": name,
                "arrival": arrival,
                "departure": departure,
                "state": state,
                "room": room,
            }
            for conf, name, arrival, departure, state, room in reservations
        ],
    }


# ------------------------------------------------------------------------------------------
# The suite


@dataclass(frozen=True)
class SuiteEntry:
    """One certification check: a scenario (as data), or why it does not apply here."""

    id: str
    feature: str  # the journey or feature it certifies (the conformance statement's line)
    title: str
    description: str
    steps: tuple[Mapping[str, Any], ...] = ()
    not_applicable: str | None = None  # why the check does not apply to this property
    gateway_set: Mapping[str, Any] = field(default_factory=dict)
    supports: str = ""  # how the feature works on this profile, for the conformance statement


FEATURES = (
    ("deposit-journey", "Deposit paid before arrival, check-in, redemption at departure"),
    ("balance-payment", "Balance payment"),
    ("refund-before-posting", "Refund before the payment posted"),
    ("refund-after-posting", "Refund after the payment posted"),
    ("several-items", "A deposit redeemed for several items"),
    ("sharers", "Sharers in one room"),
    ("no-show", "Deposit never redeemed (no-show)"),
    ("guest-checked-out", "Payment for a guest already checked out"),
    ("unknown-code", "A code the PMS does not know: a mapping error, not a retry loop"),
    ("night-audit", "Night audit in the middle of a journey"),
    ("link-drop", "PMS link drop"),
    ("retry-then-success", "Retryable PMS answer (RY) then success"),
    ("duplicate-event", "Duplicate event"),
    ("late-callback", "Late result callback (asynchronous profile)"),
    ("duplicate-callback", "Duplicate result callback (asynchronous profile)"),
)
FEATURE_NAMES = dict(FEATURES)


def certification_suite(prop: PropertyConfig) -> list[SuiteEntry]:
    """The standard checks for ``prop`` on its profile (issue 6's list), in order."""
    return _Suite(prop).entries()


class _Suite:
    def __init__(self, prop: PropertyConfig) -> None:
        self.prop = prop
        self.fias = prop.profile is Profile.FIAS
        self.normal = prop.posting_mode is PostingMode.NORMAL
        self.one_leg = prop.traits.charge_and_settlement_in_one_leg
        codes = prop.codes
        self.deposit = codes.deposit
        self.redemption = codes.redemption_payment_type
        self.method, self.payment_type = next(iter(codes.payment_types.items()))
        self.items = list(codes.revenue.items())  # (platform item code, PMS revenue code)
        self.amount = 5 * 10 ** (minor_unit_exponent(prop.currency) + 1)  # 50.00 / 500 JPY
        self.small = self.amount * 3 // 5

    def money(self, amount: int) -> str:
        return format_minor(amount, self.prop.currency)

    # -- building blocks --

    def event(
        self, kind: str, sid: str, conf: str, amount: int | None = None, **extra: Any
    ) -> dict[str, Any]:
        step: dict[str, Any] = {"event": kind, "id": sid, "confirmation": conf}
        if amount is not None:
            step["amount"] = amount
        if kind in ("deposit", "balance", "order", "account", "event_settlement"):
            step.setdefault("method", self.method)
        step.update(extra)
        return step

    def redeem(self, sid: str, conf: str, items: list[tuple[str, int]]) -> dict[str, Any]:
        return self.event(
            "redemption",
            sid,
            conf,
            items=[
                {"code": item, "description": f"{item} (certification)", "amount": amount}
                for item, amount in items
            ],
        )

    @staticmethod
    def wait(sid: str, until: str | None = None) -> dict[str, Any]:
        step: dict[str, Any] = {"wait": "legs", "of": sid}
        if until:
            step["until"] = until
        return step

    @staticmethod
    def legs(sid: str, **expect: Any) -> dict[str, Any]:
        return {"expect": "legs", "of": sid, **expect}

    @staticmethod
    def pms(action: str, **params: Any) -> dict[str, Any]:
        return {"pms": action, **params}

    def deposit_lines(self, amount: int) -> list[dict[str, Any]]:
        return [
            {"code": self.deposit, "amount": amount, "payment_type": ""},
            {"code": self.payment_type, "amount": -amount, "payment_type": self.payment_type},
        ]

    def redemption_lines(self, items: list[tuple[str, int]]) -> list[dict[str, Any]]:
        revenue = dict(self.items)
        total = sum(amount for _, amount in items)
        if self.normal and self.one_leg:  # FIAS: one PR per item, each settled
            lines = []
            for item, amount in items:
                lines.append({"code": revenue[item], "amount": amount, "payment_type": ""})
                lines.append(
                    {"code": self.redemption, "amount": -amount, "payment_type": self.redemption}
                )
            return lines
        lines = [
            {"code": revenue[item], "amount": amount, "payment_type": ""} for item, amount in items
        ]
        if self.normal:
            lines.append(
                {"code": self.redemption, "amount": -total, "payment_type": self.redemption}
            )
        else:
            lines.append({"code": self.deposit, "amount": -total, "payment_type": ""})
        return lines

    def reversal_lines(self, amount: int) -> list[dict[str, Any]]:
        return [
            {"code": self.deposit, "amount": -amount, "payment_type": ""},
            {"code": self.payment_type, "amount": amount, "payment_type": self.payment_type},
        ]

    def folio(self, conf: str, **expect: Any) -> dict[str, Any]:
        return {"expect": "folio", "confirmation": conf, **expect}

    def closing(self, conf: str) -> list[dict[str, Any]]:
        """Check the guest out, then the folio is 0 and the invariants hold (not vacuously)."""
        return [
            self.pms("check-out", confirmation=conf),
            self.folio(conf, balance=0),
            {"expect": "invariants", "confirmation": [conf]},
        ]

    def refund_by_hand(self, sid: str) -> list[dict[str, Any]]:
        return [
            {"expect": "event", "of": sid, "status": "exception", "outcome": "post by hand"},
            {
                "expect": "exceptions",
                "entries": [
                    {"of": sid, "leg": index, "state": "rejected", "by_hand": True}
                    for index in range(1 if self.one_leg else 2)
                ],  # the event itself is not listed apart: its legs are the work to do
            },
        ]

    # -- the checks --

    def entries(self) -> list[SuiteEntry]:
        checks = [
            self.deposit_journey,
            self.balance_payment,
            self.refund_before_posting,
            self.refund_after_posting,
            self.several_items,
            self.sharers,
            self.no_show,
            self.guest_checked_out,
            self.unknown_code,
            self.night_audit,
            self.link_drop,
            self.retry_then_success,
            self.duplicate_event,
            self.late_callback,
            self.duplicate_callback,
        ]
        return [check() for check in checks]

    def entry(
        self, id: str, description: str, steps: list[dict[str, Any]], supports: str, **extra: Any
    ) -> SuiteEntry:
        return SuiteEntry(
            id,
            FEATURE_NAMES[id],
            FEATURE_NAMES[id],
            description,
            tuple(steps),
            supports=supports,
            **extra,
        )

    def not_applicable(self, id: str, why: str) -> SuiteEntry:
        return SuiteEntry(id, FEATURE_NAMES[id], FEATURE_NAMES[id], why, not_applicable=why)

    def deposit_journey(self) -> SuiteEntry:
        if not self.items:
            return self.not_applicable(
                "deposit-journey",
                "the mapping has no revenue codes (codes.revenue) for a deposit to pay for",
            )
        a, item = self.amount, self.items[0][0]
        steps = [self.event("deposit", "dep", ARRIVING, a)]
        if self.fias:
            steps += [
                self.wait("dep", "waiting"),
                self.legs("dep", states="waiting", reason="guest not in house"),
                {"expect": "wire", "of": "dep", "postings": 0},
            ]
        else:
            steps += [self.wait("dep"), self.legs("dep", states="posted")]
        steps += [
            self.pms("check-in", confirmation=ARRIVING, room="102"),
            self.wait("dep"),
            self.legs("dep", states="posted"),
            self.redeem("redeem", ARRIVING, [(item, a)]),
            self.wait("redeem"),
            self.legs("redeem", states="posted"),
            self.pms("check-out", confirmation=ARRIVING),
            self.folio(
                ARRIVING,
                balance=0,
                lines=self.deposit_lines(a) + self.redemption_lines([(item, a)]),
                totals={"revenue": a, "deposit": 0, "payment": -a},
            ),
            {"expect": "invariants", "confirmation": [ARRIVING]},
        ]
        how = (
            "the deposit waits for the guest's check-in (FIAS posts only to in-house guests), "
            if self.fias
            else "the deposit posts to the reservation before arrival, "
        ) + (
            f"the redemption posts each item's revenue settled by {self.redemption}"
            if self.normal
            else f"the redemption posts the revenue and a negative sale on {self.deposit}"
        )
        return self.entry(
            "deposit-journey",
            (
                f"A {self.money(a)} deposit is paid online the day before arrival; the guest "
                f"checks in; at departure the deposit pays for {item}. The folio ends at 0 and "
                "DESIGN section 3's invariants hold."
            ),
            steps,
            how,
        )

    def balance_payment(self) -> SuiteEntry:
        a = self.amount
        steps = [
            self.pms("charge", confirmation=IN_HOUSE, code=HOTEL_ROOM_CODE, amount=a),
            self.event("balance", "pay", IN_HOUSE, a),
            self.wait("pay"),
            self.legs("pay", count=1, states="posted", attempts=1),
            {"expect": "wire", "of": "pay", "postings": 1},
            *self.closing(IN_HOUSE),
        ]
        return self.entry(
            "balance-payment",
            (
                f"The front desk charges a room night of {self.money(a)}; the guest pays the "
                f"balance online ({self.method} -> {self.payment_type}); the folio closes at 0."
            ),
            steps,
            f"one payment leg on {self.payment_type}",
        )

    def refund_before_posting(self) -> SuiteEntry:
        a = self.amount
        steps: list[dict[str, Any]] = []
        if not self.fias:
            steps.append({"link": "down"})
        steps += [
            self.event("deposit", "dep", ARRIVING, a),
            self.wait("dep", "waiting"),
            self.event("refund", "refund", ARRIVING, refund_of="dep"),
        ]
        if self.prop.allow_negative:
            # FIAS: the reversal waits behind the deposit; SOAP: both wait for the endpoint.
            reason = {"reason": "behind an earlier leg"} if self.fias else {}
            steps += [
                self.wait("refund", "waiting"),
                self.legs("refund", states="waiting", **reason),
            ]
        else:
            steps += self.refund_by_hand("refund")
        steps.append(
            {"link": "up"}
            if not self.fias
            else self.pms("check-in", confirmation=ARRIVING, room="102")
        )
        steps += [self.wait("dep"), self.legs("dep", states="posted")]
        if not self.fias:
            steps.append(self.pms("check-in", confirmation=ARRIVING, room="102"))
        if self.prop.allow_negative:
            steps += [
                self.wait("refund"),
                self.legs("refund", states="posted"),
                self.folio(ARRIVING, lines=self.deposit_lines(a) + self.reversal_lines(a)),
                *self.closing(ARRIVING),
            ]
            how = "posted as the reversal of the payment's legs, after them"
        else:
            steps.append(self.folio(ARRIVING, lines=self.deposit_lines(a)))
            how = (
                "not posted: allow_negative = false, so the refund goes to the exception "
                "queue to post by hand, with the amounts"
            )
        return self.entry(
            "refund-before-posting",
            (
                "The deposit is refunded while it still waits to post "
                + (
                    "(the guest has not checked in). "
                    if self.fias
                    else "(the PMS is unreachable). "
                )
                + (
                    "Its reversal waits behind it and both post in order; the folio nets to 0."
                    if self.prop.allow_negative
                    else "The property does not allow negative postings: the refund is an "
                    "exception to post by hand; the deposit itself still posts."
                )
            ),
            steps,
            how,
        )

    def refund_after_posting(self) -> SuiteEntry:
        a = self.amount
        steps = [
            self.pms("check-in", confirmation=ARRIVING, room="102"),
            self.event("deposit", "dep", ARRIVING, a),
            self.wait("dep"),
            self.legs("dep", states="posted"),
            self.event("refund", "refund", ARRIVING, refund_of="dep"),
        ]
        if self.prop.allow_negative:
            steps += [
                self.wait("refund"),
                self.legs("refund", states="posted"),
                self.folio(
                    ARRIVING,
                    lines=self.deposit_lines(a) + self.reversal_lines(a),
                    payment_types={self.payment_type: 0},
                ),
                *self.closing(ARRIVING),
            ]
            how = "posted as the reversal of the payment's legs"
        else:
            steps += [
                *self.refund_by_hand("refund"),
                {"expect": "wire", "of": "refund", "postings": 0},
                self.folio(ARRIVING, lines=self.deposit_lines(a)),
            ]
            how = (
                "not posted: allow_negative = false, so the refund goes to the exception "
                "queue to post by hand, with the amounts"
            )
        return self.entry(
            "refund-after-posting",
            (
                "The deposit posted; then the payment platform refunds it. "
                + (
                    "The reversal posts; the folio nets to 0 and the payment type totals nothing."
                    if self.prop.allow_negative
                    else "The property does not allow negative postings: the refund is an "
                    "exception to post by hand, and nothing more reaches the PMS."
                )
            ),
            steps,
            how,
        )

    def several_items(self) -> SuiteEntry:
        if not self.items:
            return self.not_applicable("several-items", "the mapping has no revenue codes")
        first = self.items[0][0]
        second = self.items[1][0] if len(self.items) > 1 else first
        items = [(first, self.amount), (second, self.small)]
        total = self.amount + self.small
        legs = len(items) + (0 if self.one_leg else 1)
        steps = [
            self.pms("check-in", confirmation=ARRIVING, room="102"),
            self.event("deposit", "dep", ARRIVING, total),
            self.wait("dep"),
            self.redeem("redeem", ARRIVING, items),
            self.wait("redeem"),
            self.legs("redeem", count=legs, states="posted"),
            self.folio(
                ARRIVING,
                lines=self.deposit_lines(total) + self.redemption_lines(items),
                totals={"revenue": total, "deposit": 0},
            ),
            *self.closing(ARRIVING),
        ]
        return self.entry(
            "several-items",
            (
                f"A {self.money(total)} deposit pays for {first} {self.money(self.amount)} and "
                f"{second} {self.money(self.small)}: one revenue posting per item; revenue equals "
                "the redeemed items."
            ),
            steps,
            f"{legs} legs for 2 items",
        )

    def sharers(self) -> SuiteEntry:
        a, b = self.amount, self.small
        steps = [
            self.pms("charge", confirmation=SHARER_A, code=HOTEL_ROOM_CODE, amount=a),
            self.pms("charge", confirmation=SHARER_B, code=HOTEL_ROOM_CODE, amount=b),
            self.event("balance", "pay_b", SHARER_B, b),
            self.event("balance", "pay_a", SHARER_A, a),
            self.wait("pay_a"),
            self.wait("pay_b"),
            self.legs("pay_a", states="posted"),
            self.legs("pay_b", states="posted"),
        ]
        if self.fias:
            steps += [
                {"expect": "wire", "of": "pay_a", "contains": [f"|G#{SHARER_A}|"]},
                {"expect": "wire", "of": "pay_b", "contains": [f"|G#{SHARER_B}|"]},
            ]
        pay = {"code": self.payment_type, "payment_type": self.payment_type}
        steps += [
            self.folio(
                SHARER_A, lines=[{"code": HOTEL_ROOM_CODE, "amount": a}, {**pay, "amount": -a}]
            ),
            self.folio(
                SHARER_B, lines=[{"code": HOTEL_ROOM_CODE, "amount": b}, {**pay, "amount": -b}]
            ),
            *self.closing(SHARER_A),
            *self.closing(SHARER_B),
        ]
        return self.entry(
            "sharers",
            (
                "Two guests share room 201 and each pays their own folio: each payment lands on "
                "the folio of the reservation the event names, never on the room's first guest."
            ),
            steps,
            "by confirmation number" + (" (G#), after an inquiry by room" if self.fias else ""),
        )

    def no_show(self) -> SuiteEntry:
        a, hours = self.amount, self.prop.deposit_wait_hours
        steps = [self.event("deposit", "dep", NO_SHOW, a)]
        if self.fias:
            steps += [
                self.wait("dep", "waiting"),
                {"clock": "advance", "hours": hours + 1},
                self.wait("dep", "rejected"),
                {
                    "expect": "exceptions",
                    "entries": [
                        {
                            "of": "dep",
                            "leg": 0,
                            "state": "rejected",
                            "reason": f"did not check in within {hours} h",
                        }
                    ],
                },
                {"expect": "wire", "of": "dep", "postings": 0},
                self.folio(NO_SHOW, lines=[]),
            ]
            how = (
                f"the deposit waits for check-in for deposit_wait_hours ({hours} h), then "
                "goes to the exception queue with the reason; nothing reaches the PMS"
            )
        else:
            steps += [
                self.wait("dep"),
                self.legs("dep", states="posted"),
                {"clock": "advance", "hours": hours + 1},
                self.legs("dep", states="posted"),
                {"expect": "exceptions", "count": 0},
                self.folio(NO_SHOW, lines=self.deposit_lines(a)),
            ]
            how = (
                "the deposit posts to the reservation before arrival and stays there; the "
                "PMS's own no-show rules apply (foliogate raises no exception)"
            )
        return self.entry(
            "no-show",
            (f"A {self.money(a)} deposit is paid for a guest who never arrives."),
            steps,
            how,
        )

    def guest_checked_out(self) -> SuiteEntry:
        steps = [
            self.pms("check-out", confirmation=DEPARTING),
            self.event("balance", "late", DEPARTING, self.small),
        ]
        if self.fias:
            steps += [
                self.wait("late", "rejected"),
                self.legs("late", states="rejected", attempts=0, reason="has checked out (GO"),
                {
                    "expect": "exceptions",
                    "entries": [
                        {
                            "of": "late",
                            "leg": 0,
                            "state": "rejected",
                            "reason": f"guest {DEPARTING} has checked out",
                        }
                    ],
                },
                {"expect": "wire", "of": "late", "postings": 0},
            ]
            how = (
                "the link saw the guest's GO: the exception queue at once with the reason, "
                "nothing sent (FIAS posts only to in-house guests)"
            )
        else:
            steps += [
                self.wait("late"),
                self.legs("late", states="rejected", attempts=1, reason="has checked out"),
                {
                    "expect": "exceptions",
                    "entries": [
                        {"of": "late", "leg": 0, "state": "rejected", "reason": "checked out"}
                    ],
                },
            ]
            how = "the PMS refuses it at once (folio closed): exception queue with its text"
        steps.append(self.folio(DEPARTING, balance=0, lines=[]))
        return self.entry(
            "guest-checked-out",
            (
                "The guest checks out; a payment arrives afterwards. It is never posted to the "
                "closed folio and reaches the exception queue with the reason."
            ),
            steps,
            how,
        )

    def unknown_code(self) -> SuiteEntry:
        if not self.items:
            return self.not_applicable("unknown-code", "the mapping has no revenue codes")
        item, code = self.items[0]
        a = self.amount
        reason = (
            f"unknown sales outlet SO {self.prop.fias.sales_outlets[code]}"
            if self.fias and self.prop.fias is not None
            else code
        )
        steps = [
            self.pms("check-in", confirmation=ARRIVING, room="102"),
            self.event("deposit", "dep", ARRIVING, a),
            self.wait("dep"),
            self.legs("dep", states="posted"),
            self.pms("remove-code", code=code),
            self.redeem("redeem", ARRIVING, [(item, a)]),
            self.wait("redeem"),
            self.legs("redeem", leg=0, states="rejected", attempts=1, reason=reason),
            {"expect": "wire", "of": "redeem", "leg": 0, "postings": 1},
        ]
        entries = [{"of": "redeem", "leg": 0, "state": "rejected", "reason": reason}]
        if not self.one_leg:
            # The negative sale on the deposit code must not post without the revenue it
            # balances: it joins the rejected leg in the exception queue, unsent.
            waits = "of the same journey is rejected"
            steps += [
                self.legs("redeem", leg=1, states="rejected", attempts=0, reason=waits),
                {"expect": "wire", "of": "redeem", "leg": 1, "postings": 0},
            ]
            entries.append({"of": "redeem", "leg": 1, "state": "rejected", "reason": waits})
        steps.append({"expect": "exceptions", "entries": entries})
        return self.entry(
            "unknown-code",
            (
                f"The PMS no longer knows the revenue code {code}: the posting is rejected once "
                "with the PMS's text and waits in the exception queue (the journey's later legs "
                "join it there, unsent); it is never retried on its own."
            ),
            steps,
            "rejected once with the PMS's text (" + reason + ")",
        )

    def night_audit(self) -> SuiteEntry:
        if not self.items:
            return self.not_applicable("night-audit", "the mapping has no revenue codes")
        item, a = self.items[0][0], self.amount
        next_day = (BUSINESS_DATE + dt.timedelta(days=1)).isoformat()
        steps = [
            self.pms("check-in", confirmation=ARRIVING, room="102"),
            self.event("deposit", "dep", ARRIVING, a),
            self.wait("dep"),
            self.legs("dep", states="posted"),
            self.pms("night-audit-start"),
            self.redeem("redeem", ARRIVING, [(item, a)]),
            self.wait("redeem", "waiting"),
            self.legs("redeem", leg=0, reason="night audit in progress"),
            self.pms("night-audit-end"),
            self.wait("redeem"),
            self.legs("redeem", states="posted"),
            self.folio(
                ARRIVING,
                lines=self.deposit_lines(a)
                + [
                    {**line, "business_date": next_day}
                    for line in self.redemption_lines([(item, a)])
                ],
            ),
            *self.closing(ARRIVING),
        ]
        how = (
            "held between NS and NE (nothing on the wire), posted after NE"
            if self.fias
            else "the PMS answers its night-audit code; the leg waits and posts after the audit"
        )
        return self.entry(
            "night-audit",
            (
                "The PMS starts its night audit between the deposit and the redemption: the "
                "redemption waits and posts after the audit, on the new business date."
            ),
            steps,
            how,
        )

    def link_drop(self) -> SuiteEntry:
        amounts = [self.small + n for n in range(3)]
        if self.fias:
            steps: list[dict[str, Any]] = [{"faults": {"close_after_records": 4}}]
            how = "reconnects (LS, LD/LR/LA) and sends what was not posted; each posts once"
            text = (
                "The PMS closes the FIAS connection in the middle of a stream of payments "
                "(on the second payment's inquiry)."
            )
        else:
            steps = [{"link": "down"}]
            how = "requests that could not be sent wait and are sent again; each posts once"
            text = "The PMS's web service is unreachable while payments arrive, then comes back."
        for n, amount in enumerate(amounts, start=1):
            steps.append(self.event("balance", f"p{n}", IN_HOUSE, amount))
        if not self.fias:
            steps += [self.wait("p1", "waiting"), {"link": "up"}]
        steps += [self.wait("p3"), self.wait("p1"), self.wait("p2")]
        for n in range(1, 4):
            steps.append(self.legs(f"p{n}", states="posted"))
            if self.fias:  # on SOAP the refused attempts are in the wire log too
                steps.append({"expect": "wire", "of": f"p{n}", "postings": 1})
        pay = {"code": self.payment_type, "payment_type": self.payment_type}
        lines = [{**pay, "amount": -x} for x in amounts]
        if not self.fias:  # each reference once: nothing was booked twice
            lines = [{**line, "reference": f"evt_p{n}/0"} for n, line in enumerate(lines, 1)]
        steps.append(self.folio(IN_HOUSE, lines=lines))
        return self.entry("link-drop", text + " Every payment is booked exactly once.", steps, how)

    def retry_then_success(self) -> SuiteEntry:
        steps = [
            {"faults": {"reject_status": "RY", "reject_count": 1}},
            self.event("balance", "pay", IN_HOUSE, self.small),
            self.wait("pay"),
            self.legs("pay", states="posted", attempts=2),
            {"expect": "wire", "of": "pay", "postings": 2},
            self.folio(IN_HOUSE, lines=[{"code": self.payment_type, "amount": -self.small}]),
        ]
        return self.entry(
            "retry-then-success",
            (
                "The PMS answers once that it cannot post now and the client should retry (FIAS "
                "RY, or the profile's system error): the leg backs off and posts once."
            ),
            steps,
            "backs off and sends again; posted once",
        )

    def duplicate_event(self) -> SuiteEntry:
        steps = [
            self.event("balance", "pay", IN_HOUSE, self.small),
            self.wait("pay"),
            {"repeat": "pay"},
            {"repeat": "pay", "body": {"payment": {"amount": self.small + 1}}},
            self.legs("pay", count=1, states="posted"),
            {"expect": "wire", "of": "pay", "postings": 1},
            self.folio(IN_HOUSE, lines=[{"code": self.payment_type, "amount": -self.small}]),
        ]
        return self.entry(
            "duplicate-event",
            (
                "The payment platform delivers the same event twice (a no-op, HTTP 200) and once "
                "more with a different body under the same event id (refused, HTTP 409)."
            ),
            steps,
            "a repeat is a no-op; a conflicting repeat is refused; posted once",
        )

    def late_callback(self) -> SuiteEntry:
        if self.prop.profile is not Profile.HTNG_ASYNC:
            return self.not_applicable(
                "late-callback",
                f"the {self.prop.profile.value} profile "
                "answers synchronously: there are no result callbacks",
            )
        steps = [
            {"faults": {"callback_delay_ms": 2500}},
            self.event("balance", "pay", IN_HOUSE, self.small),
            self.wait("pay"),
            self.legs("pay", states="unknown", reason="no result callback within 1 s"),
            {"expect": "exceptions", "entries": [{"of": "pay", "leg": 0, "state": "unknown"}]},
        ]
        return self.entry(
            "late-callback",
            (
                "The PMS acknowledges the posting but its result arrives after the answer timeout: "
                "the leg is unknown and goes to the exception queue; the late result is journaled, "
                "not acted on."
            ),
            steps,
            "unknown after the answer timeout; the late result is journaled",
            gateway_set={"answer_timeout_seconds": 1.0},
        )

    def duplicate_callback(self) -> SuiteEntry:
        if self.prop.profile is not Profile.HTNG_ASYNC:
            return self.not_applicable(
                "duplicate-callback",
                f"the {self.prop.profile.value} "
                "profile answers synchronously: there are no result "
                "callbacks",
            )
        steps = [
            {"faults": {"duplicate_callbacks": 1}},
            self.event("balance", "pay", IN_HOUSE, self.small),
            self.wait("pay"),
            self.legs("pay", states="posted", attempts=1),
            self.folio(IN_HOUSE, lines=[{"code": self.payment_type, "amount": -self.small}]),
        ]
        return self.entry(
            "duplicate-callback",
            (
                "The PMS posts its result twice: the first posts the leg, the second changes "
                "nothing."
            ),
            steps,
            "the second result is a no-op",
        )


# ------------------------------------------------------------------------------------------
# Running


@dataclass
class CaseResult:
    entry: SuiteEntry
    status: str  # passed | failed | not applicable
    result: ScenarioResult | None = None
    scenario_file: Path | None = None
    error: str | None = None  # the scenario could not even be loaded (a suite bug)

    @property
    def seconds(self) -> float:
        return self.result.seconds if self.result is not None else 0.0


@dataclass
class PropertyReport:
    prop: PropertyConfig
    hotel_source: str  # "the mapping" or the export's path
    hotel_file: Path
    drift: list[DriftItem]
    cases: list[CaseResult]

    @property
    def ok(self) -> bool:
        return not self.drift and all(c.status != "failed" for c in self.cases)

    def count(self, status: str) -> int:
        return sum(1 for c in self.cases if c.status == status)


@dataclass
class CertificationReport:
    config_path: Path
    pms_codes: Path | None
    started_at: dt.datetime
    properties: list[PropertyReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.properties) and all(p.ok for p in self.properties)


def certify(
    reactor: Any,
    config: GatewayConfig | str | Path,
    report_dir: Path,
    *,
    property: str | None = None,
    pms_codes: Sequence[PmsCode] | None = None,
    pms_codes_path: Path | None = None,
    progress: Callable[[str], None] | None = None,
    parallel: int = 4,
    now: Callable[[], dt.datetime] | None = None,
) -> Any:
    """Certify every property of ``config`` (or only ``property``); fires with the
    :class:`CertificationReport` (the report files are written by :func:`write_reports`)."""
    return _certify(
        reactor,
        config,
        Path(report_dir),
        property,
        pms_codes,
        pms_codes_path,
        progress or (lambda text: None),
        max(1, parallel),
        now or (lambda: dt.datetime.now(dt.UTC)),
    )


@inlineCallbacks
def _certify(
    reactor: Any,
    config: GatewayConfig | str | Path,
    report_dir: Path,
    only: str | None,
    pms_codes: Sequence[PmsCode] | None,
    pms_codes_path: Path | None,
    say: Callable[[str], None],
    parallel: int,
    now: Callable[[], dt.datetime],
) -> Any:
    started = time.monotonic()
    if not isinstance(config, GatewayConfig):
        config = load_config(config)
    if only is not None and only not in config.properties:
        raise KeyError(
            f"no property {only} in {config.path} (it has {', '.join(config.properties)})"
        )
    report = CertificationReport(Path(config.path).absolute(), pms_codes_path, now())
    report_dir.mkdir(parents=True, exist_ok=True)
    props = [p for name, p in config.properties.items() if only in (None, name)]
    plans = [(prop, certification_suite(prop)) for prop in props]
    total = sum(len(entries) for _, entries in plans)
    done = [0]
    semaphore = defer.DeferredSemaphore(parallel)
    for prop, entries in plans:
        hotel_file = report_dir / "hotels" / f"{prop.name}.toml"
        hotel_file.parent.mkdir(parents=True, exist_ok=True)
        hotel_file.write_text(
            _hotel_header(prop, pms_codes_path) + dumps_toml(generate_hotel(prop, pms_codes)),
            encoding="utf-8",
        )
        drift = code_drift(prop, pms_codes) if pms_codes is not None else []
        source = str(pms_codes_path) if pms_codes is not None else "the mapping"
        prop_report = PropertyReport(prop, source, hotel_file, drift, [])
        report.properties.append(prop_report)
        say(
            f"{prop.name} ({prop.profile.value}, {prop.posting_mode.value} posting): "
            f"{len(entries)} checks, codes from {source}"
        )
        if pms_codes is not None:
            if drift:
                say(f"  code table: FAILED, {len(drift)} difference(s) from the PMS's codes")
                for item in drift:
                    say(f"    {item.where}: {item.problem}")
            else:
                say("  code table: matches the PMS's codes")
        runs = []
        for number, entry in enumerate(entries, start=1):
            runs.append(
                semaphore.run(
                    _run_case,
                    reactor,
                    prop,
                    entry,
                    number,
                    config.path,
                    hotel_file,
                    report_dir,
                    say,
                    done,
                    total,
                )
            )
        cases = yield defer.gatherResults(runs, consumeErrors=True)
        prop_report.cases.extend(cases)
    report.seconds = time.monotonic() - started
    return report


def _hotel_header(prop: PropertyConfig, pms_codes_path: Path | None) -> str:
    source = f"the PMS code export {pms_codes_path}" if pms_codes_path else "its code mapping"
    return (
        f"# Generated by foliogate certify for property {prop.name} "
        f"({prop.profile.value}) from {source}.\n"
        "# Simulator-only credentials; the reservations are the ones the suite needs.\n\n"
    )


@inlineCallbacks
def _run_case(
    reactor: Any,
    prop: PropertyConfig,
    entry: SuiteEntry,
    number: int,
    config_path: Path,
    hotel_file: Path,
    report_dir: Path,
    say: Callable[[str], None],
    done: list[int],
    total: int,
) -> Any:
    label = f"{prop.name} {entry.id}"
    if entry.not_applicable is not None:
        done[0] += 1
        say(f"  [{done[0]:>2}/{total}] {label} ... not applicable: {entry.not_applicable}")
        return CaseResult(entry, "not applicable")
    folder = report_dir / "scenarios" / prop.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{number:02d}-{entry.id}.toml"
    data: dict[str, Any] = {
        "title": f"{prop.name}: {entry.title}",
        "description": entry.description,
        "tags": ["certification", prop.profile.value, entry.id],
        "hotel": Path("..", "..", "hotels", hotel_file.name).as_posix(),
        "gateway": {"config": str(Path(config_path).absolute()), "property": prop.name},
        "steps": [dict(step) for step in entry.steps],
    }
    if entry.gateway_set:
        data["gateway"]["set"] = dict(entry.gateway_set)
    path.write_text(
        f"# foliogate certify: check {entry.id} for {prop.name}; re-run it with\n"
        f"#   foliogate scenario run {path}\n\n" + dumps_toml(data),
        encoding="utf-8",
    )
    try:
        scenario = load_scenario(path)
    except Exception as exc:  # a suite that cannot express this mapping: report, never crash
        done[0] += 1
        say(f"  [{done[0]:>2}/{total}] {label} ... FAILED: {exc}")
        return CaseResult(entry, "failed", None, path, str(exc))
    workdir = report_dir / "work" / prop.name / f"{number:02d}-{entry.id}"
    result = yield run_scenario(reactor, scenario, workdir)
    done[0] += 1
    if result.ok:
        say(f"  [{done[0]:>2}/{total}] {label} ... passed ({result.seconds:.2f} s)")
        return CaseResult(entry, "passed", result, path)
    failure = result.failure
    say(f"  [{done[0]:>2}/{total}] {label} ... FAILED: {failure.title if failure else '?'}")
    return CaseResult(entry, "failed", result, path)


# ------------------------------------------------------------------------------------------
# Reports


def write_reports(report: CertificationReport, report_dir: Path) -> dict[str, Path]:
    """Write the JUnit XML, HTML, JSON and conformance files; returns kind -> path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "junit": report_dir / "junit.xml",
        "html": report_dir / "report.html",
        "json": report_dir / "summary.json",
        "conformance": report_dir / "conformance.md",
    }
    files["junit"].write_bytes(junit_xml(report))
    files["html"].write_text(html_report(report), encoding="utf-8")
    files["json"].write_text(json.dumps(summary(report), indent=2) + "\n", encoding="utf-8")
    files["conformance"].write_text(conformance(report), encoding="utf-8")
    return files


def _money(amount: int | None, currency: str) -> str:
    return "" if amount is None else format_minor(int(amount), currency)


def _case_account(case: CaseResult) -> str:
    if case.error is not None:
        return case.error
    if case.result is not None and case.result.failure is not None:
        return format_failure(case.result)
    return ""


def why_failed(case: CaseResult) -> str:
    """One line: what went wrong first (the step's title and its first mismatch)."""
    if case.error is not None:
        return case.error.splitlines()[0]
    failure = case.result.failure if case.result is not None else None
    if failure is None:
        return ""
    text = failure.title
    if failure.mismatches:
        m = failure.mismatches[0]
        expected = m.expected.splitlines()[0] if m.expected else ""
        actual = m.actual.splitlines()[0] if m.actual else ""
        text += f" ({m.what}: expected {expected}; actual {actual})"
    return text


# -- JSON --


def summary(report: CertificationReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "config": str(report.config_path),
        "pms_codes": str(report.pms_codes) if report.pms_codes else None,
        "started_at": report.started_at.isoformat(timespec="seconds"),
        "seconds": round(report.seconds, 3),
        "properties": [_property_summary(p) for p in report.properties],
    }


def _property_summary(p: PropertyReport) -> dict[str, Any]:
    prop = p.prop
    return {
        "property": prop.name,
        "profile": prop.profile.value,
        "posting_mode": prop.posting_mode.value,
        "currency": prop.currency,
        "ok": p.ok,
        "codes_from": p.hotel_source,
        "passed": p.count("passed"),
        "failed": p.count("failed"),
        "not_applicable": p.count("not applicable"),
        "drift": [dataclasses.asdict(item) for item in p.drift],
        "checks": [_case_summary(c) for c in p.cases],
    }


def _case_summary(case: CaseResult) -> dict[str, Any]:
    result = case.result
    failure = result.failure if result is not None else None
    return {
        "id": case.entry.id,
        "feature": case.entry.feature,
        "status": case.status,
        "supports": case.entry.supports or None,
        "reason": case.entry.not_applicable,
        "seconds": round(case.seconds, 3),
        "scenario": str(case.scenario_file) if case.scenario_file else None,
        "failure": None
        if failure is None and case.error is None
        else {
            "step": failure.step if failure else None,
            "title": failure.title if failure else case.error,
            "summary": why_failed(case),
            "mismatches": [dataclasses.asdict(m) for m in failure.mismatches] if failure else [],
            "account": _case_account(case),
        },
        "steps": [
            {"number": s.number, "label": s.label, "ok": s.ok, "detail": s.detail}
            for s in (result.steps if result else [])
        ],
        "folios": [_folio_summary(f) for f in (result.folios if result else [])],
        "exceptions": result.exceptions if result else [],
    }


def _folio_summary(folio: FolioView) -> dict[str, Any]:
    return {
        "confirmation_number": folio.confirmation_number,
        "state": folio.state,
        "currency": folio.currency,
        "balance": folio.balance,
        "lines": [
            {
                k: line.get(k)
                for k in ("code", "amount", "payment_type", "business_date", "reference")
            }
            for line in folio.lines
        ],
        "totals": folio.totals,
        "payment_types": folio.payment_types,
        "invariants": {
            name: {"holds": holds, "detail": detail}
            for name, (holds, detail) in folio.invariants.items()
        },
    }


# -- JUnit XML --


def junit_xml(report: CertificationReport) -> bytes:
    suites = ET.Element("testsuites", name="foliogate certify")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for p in report.properties:
        cases = list(p.cases)
        failures = p.count("failed") + (1 if p.drift else 0)
        tests = len(cases) + (1 if report.pms_codes else 0)
        skipped = p.count("not applicable")
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"certify.{p.prop.name}.{p.prop.profile.value}",
            tests=str(tests),
            failures=str(failures),
            errors="0",
            skipped=str(skipped),
            time=f"{sum(c.seconds for c in cases):.3f}",
            timestamp=report.started_at.isoformat(timespec="seconds"),
        )
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("profile", p.prop.profile.value),
            ("posting_mode", p.prop.posting_mode.value),
            ("currency", p.prop.currency),
            ("codes_from", p.hotel_source),
        ):
            ET.SubElement(props, "property", name=name, value=value)
        if report.pms_codes:
            case = ET.SubElement(
                suite, "testcase", classname=f"certify.{p.prop.name}", name="code-table", time="0"
            )
            if p.drift:
                failure = ET.SubElement(
                    case,
                    "failure",
                    type="drift",
                    message=f"{len(p.drift)} code(s) differ from the PMS: "
                    + ", ".join(sorted({d.code for d in p.drift})),
                )
                failure.text = "\n".join(f"{d.where}: {d.problem}" for d in p.drift)
        for c in cases:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"certify.{p.prop.name}",
                name=c.entry.id,
                time=f"{c.seconds:.3f}",
            )
            if c.status == "not applicable":
                ET.SubElement(case, "skipped", message=c.entry.not_applicable or "")
            elif c.status == "failed":
                failure_el = ET.SubElement(
                    case, "failure", type="expectation", message=why_failed(c)
                )
                failure_el.text = _case_account(c)
            if c.result is not None:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(
                    f"[{s.number}] {s.label}: {'ok' if s.ok else 'FAILED'} {s.detail}"
                    for s in c.result.steps
                )
        totals["tests"] += tests
        totals["failures"] += failures
        totals["skipped"] += skipped
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", f"{report.seconds:.3f}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


# -- the conformance statement --


def conformance(report: CertificationReport) -> str:
    lines = ["# foliogate conformance statement", ""]
    lines.append(f"- Configuration: `{report.config_path}`")
    lines.append(
        "- PMS codes: "
        + (
            f"the PMS's code export `{report.pms_codes}`"
            if report.pms_codes
            else "generated from the mapping"
        )
    )
    lines.append(
        f"- Certified on: {report.started_at:%Y-%m-%d %H:%M} UTC, against foliogate's "
        "PMS simulator of each property's profile"
    )
    lines.append(f"- Result: {'PASSED' if report.ok else 'FAILED'}")
    lines.append("")
    for p in report.properties:
        prop = p.prop
        verdict = "CERTIFIED" if p.ok else "NOT CERTIFIED"
        lines += [
            f"## {prop.name}: {verdict}",
            "",
            f"Profile `{prop.profile.value}`, {prop.posting_mode.value} posting, currency "
            f"{prop.currency}; negative amounts {'allowed' if prop.allow_negative else 'refused'}"
            f"; deposits wait for check-in up to {prop.deposit_wait_hours} h. "
            f"{p.count('passed')} checks passed, {p.count('failed')} failed, "
            f"{p.count('not applicable')} not applicable.",
            "",
            "### The mapping",
            "",
            "| role | PMS code | " + ("FIAS |" if prop.fias else "|"),
            "|---|---|" + ("---|" if prop.fias else ""),
        ]
        for where, code, kind, _group in _uses(prop):
            role = where.split(".codes.", 1)[1]
            wire = ""
            if prop.fias is not None:
                number = (
                    prop.fias.sales_outlets.get(code)
                    if kind == "charge"
                    else prop.fias.payment_methods.get(code)
                )
                wire = f" {'SO' if kind == 'charge' else 'PM'} {number} |"
            lines.append(f"| {role} | {code} |{wire}")
        lines.append("")
        if report.pms_codes:
            lines += ["### The mapping against the PMS's codes", ""]
            if p.drift:
                lines += [f"- **{d.code}** (`{d.where}`): {d.problem}" for d in p.drift]
            else:
                lines.append("Every code the mapping posts is in the PMS's code table as expected.")
            lines.append("")
        lines += [
            "### Journeys and features",
            "",
            "[x]: certified, foliogate behaves as described with this mapping on this profile; "
            "[ ]: not applicable, or not certified.",
            "",
        ]
        for c in p.cases:
            if c.status == "passed":
                lines.append(f"- [x] **{c.entry.feature}**: {c.entry.supports}.")
            elif c.status == "not applicable":
                lines.append(f"- [ ] {c.entry.feature}: not applicable; {c.entry.not_applicable}.")
            else:
                why = why_failed(c)
                lines.append(
                    f"- [ ] **{c.entry.feature}**: NOT supported as configured: {why} "
                    f"(see the report; re-run `{c.scenario_file}`)."
                )
        lines.append("")
    return "\n".join(lines)


# -- HTML --

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 margin:2rem;color:#1d2430;line-height:1.4;max-width:75rem}
h1{font-size:1.6rem}h2{font-size:1.3rem;border-bottom:2px solid #c9d2de;padding-bottom:.2rem;
 margin-top:2.5rem}h3{font-size:1.05rem;margin:1.6rem 0 .4rem}
h4{font-size:.95rem;margin:.8rem 0 .3rem}
table{border-collapse:collapse;margin:.3rem 0 1rem}th,td{border:1px solid #c9d2de;
 padding:.25rem .55rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#eef2f7}td.amount,th.amount{text-align:right;font-variant-numeric:tabular-nums;
 white-space:nowrap}
.passed{color:#146c2e;font-weight:600}.failed{color:#a4161a;font-weight:600}
.na{color:#6b7280}.verdict{font-size:1.1rem;padding:.4rem .8rem;display:inline-block;
 border-radius:.3rem}.verdict.passed{background:#e3f4e8}.verdict.failed{background:#fbe4e4}
pre{background:#f6f8fa;border:1px solid #d8dee6;padding:.6rem;overflow-x:auto;font-size:.8rem;
 white-space:pre-wrap}section.check{border-left:4px solid #c9d2de;padding-left:1rem;
 margin:1.4rem 0}section.check-failed{border-left-color:#a4161a}
section.check-passed{border-left-color:#146c2e}.muted{color:#6b7280;font-size:.85rem}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower()


def html_report(report: CertificationReport) -> str:
    """The whole report as one self-contained HTML page (inline CSS, no scripts, no links
    outside the page); every text from configurations, PMSs and wire logs is escaped."""
    out: list[str] = []
    w = out.append
    verdict = "passed" if report.ok else "failed"
    w("<!DOCTYPE html>")
    w('<html lang="en"><head><meta charset="utf-8">')
    w('<meta name="viewport" content="width=device-width, initial-scale=1">')
    w(f"<title>foliogate certification: {'PASSED' if report.ok else 'FAILED'}</title>")
    w(f"<style>{_CSS}</style></head><body>")
    w("<h1>foliogate certification report</h1>")
    w(f'<p id="verdict" class="verdict {verdict}">{"PASSED" if report.ok else "FAILED"}</p>')
    w('<table class="meta"><tbody>')
    w(f"<tr><th>Configuration</th><td>{_e(report.config_path)}</td></tr>")
    w(
        "<tr><th>PMS codes</th><td>"
        + (_e(report.pms_codes) if report.pms_codes else "generated from the mapping")
        + "</td></tr>"
    )
    w(
        f"<tr><th>Run at</th><td>{_e(report.started_at.strftime('%Y-%m-%d %H:%M:%S'))} UTC"
        f" ({report.seconds:.1f} s)</td></tr>"
    )
    w("</tbody></table>")
    w(
        '<table id="summary"><thead><tr><th>Property</th><th>Profile</th><th>Posting</th>'
        '<th>Result</th><th class="amount">Passed</th><th class="amount">Failed</th>'
        '<th class="amount">Not applicable</th></tr></thead><tbody>'
    )
    for p in report.properties:
        status = "passed" if p.ok else "failed"
        w(
            f'<tr data-property="{_e(p.prop.name)}"><td><a href="#{_slug(p.prop.name)}">'
            f"{_e(p.prop.name)}</a></td><td>{_e(p.prop.profile.value)}</td>"
            f"<td>{_e(p.prop.posting_mode.value)}</td>"
            f'<td class="{status}">{"certified" if p.ok else "NOT certified"}</td>'
            f'<td class="amount">{p.count("passed")}</td><td class="amount">{p.count("failed")}'
            f'</td><td class="amount">{p.count("not applicable")}</td></tr>'
        )
    w("</tbody></table>")
    for p in report.properties:
        _html_property(w, report, p)
    w("</body></html>")
    return "\n".join(out) + "\n"


def _html_property(
    w: Callable[[str], None], report: CertificationReport, p: PropertyReport
) -> None:
    prop = p.prop
    w(
        f'<h2 id="{_slug(prop.name)}">{_e(prop.name)}: {_e(prop.profile.value)}, '
        f"{_e(prop.posting_mode.value)} posting, {_e(prop.currency)}</h2>"
    )
    w(f"<p>Codes from {_e(p.hotel_source)}; generated hotel: {_e(p.hotel_file)}.</p>")
    w(
        f'<h3>The mapping</h3><table class="mapping" data-property="{_e(prop.name)}"><thead><tr>'
        "<th>Role</th><th>PMS code</th><th>Kind</th><th>Group</th>"
        + ("<th>FIAS</th>" if prop.fias else "")
        + "</tr></thead><tbody>"
    )
    for where, code, kind, group in _uses(prop):
        wire = ""
        if prop.fias is not None:
            number = (
                prop.fias.sales_outlets.get(code)
                if kind == "charge"
                else prop.fias.payment_methods.get(code)
            )
            wire = f"<td>{'SO' if kind == 'charge' else 'PM'} {_e(number)}</td>"
        w(
            f"<tr><td>{_e(where.split('.codes.', 1)[1])}</td><td>{_e(code)}</td>"
            f"<td>{_e(kind.replace('_', ' '))}</td><td>{_e(group)}</td>{wire}</tr>"
        )
    w("</tbody></table>")
    if report.pms_codes:
        status = "failed" if p.drift else "passed"
        w(f'<section class="check check-{status}" id="{_slug(prop.name)}-code-table">')
        w(
            f'<h3>Code table against the PMS: <span class="{status}">'
            f"{'FAILED' if p.drift else 'passed'}</span></h3>"
        )
        if p.drift:
            w(
                f'<table class="drift" data-property="{_e(prop.name)}"><thead><tr>'
                "<th>Code</th><th>Configuration key</th><th>Problem</th></tr></thead><tbody>"
            )
            for d in p.drift:
                w(f"<tr><td>{_e(d.code)}</td><td>{_e(d.where)}</td><td>{_e(d.problem)}</td></tr>")
            w("</tbody></table>")
        else:
            w("<p>Every code the mapping posts is in the PMS's code table as expected.</p>")
        w("</section>")
    w(
        f'<h3>Checks</h3><table class="checks" data-property="{_e(prop.name)}"><thead><tr>'
        '<th>Check</th><th>Result</th><th>How it works here</th><th class="amount">Seconds</th>'
        "</tr></thead><tbody>"
    )
    for c in p.cases:
        css = {"passed": "passed", "failed": "failed"}.get(c.status, "na")
        how = {"passed": c.entry.supports, "not applicable": c.entry.not_applicable}.get(
            c.status, why_failed(c)
        )
        w(
            f'<tr data-check="{_e(c.entry.id)}"><td><a href="#{_slug(prop.name)}-{c.entry.id}">'
            f'{_e(c.entry.feature)}</a></td><td class="{css}">{_e(c.status)}</td>'
            f'<td>{_e(how)}</td><td class="amount">{c.seconds:.2f}</td></tr>'
        )
    w("</tbody></table>")
    for c in p.cases:
        _html_case(w, p, c)


def _html_case(w: Callable[[str], None], p: PropertyReport, c: CaseResult) -> None:
    prop = p.prop
    css = {"passed": "passed", "failed": "failed"}.get(c.status, "na")
    w(
        f'<section class="check check-{css}" id="{_slug(prop.name)}-{c.entry.id}" '
        f'data-check="{_e(c.entry.id)}" data-status="{_e(c.status)}">'
    )
    w(f'<h3>{_e(c.entry.feature)}: <span class="{css}">{_e(c.status)}</span></h3>')
    w(f"<p>{_e(c.entry.description)}</p>")
    if c.status == "not applicable":
        w("</section>")
        return
    if c.scenario_file is not None:
        w(f'<p class="muted">Scenario file: {_e(c.scenario_file)}</p>')
    result = c.result
    if c.error is not None:
        w(f'<pre class="failure">{_e(c.error)}</pre></section>')
        return
    assert result is not None
    if result.failure is not None:
        w("<h4>Why it failed: expected versus actual</h4>")
        w(f'<pre class="failure">{_e(format_failure(result))}</pre>')
    w(
        '<h4>Steps</h4><table class="steps"><thead><tr><th>#</th><th>Step</th><th>Result</th>'
        "<th>Detail</th></tr></thead><tbody>"
    )
    for s in result.steps:
        w(
            f"<tr><td>{s.number}</td><td>{_e(s.label)}</td>"
            f'<td class="{"passed" if s.ok else "failed"}">{"ok" if s.ok else "FAILED"}</td>'
            f"<td>{_e(s.detail)}</td></tr>"
        )
    skipped = len(result.scenario.steps) - len(result.steps)
    if skipped:
        w(f'<tr><td colspan="4" class="muted">{skipped} later step(s) not run</td></tr>')
    w("</tbody></table>")
    for folio in result.folios:
        _html_folio(w, c, folio)
    if result.exceptions:
        w(
            '<h4>Exception queue</h4><table class="exceptions"><thead><tr><th>Event</th>'
            "<th>Leg</th><th>State</th><th>Reason</th></tr></thead><tbody>"
        )
        for e in result.exceptions:
            leg = "the event" if e.get("leg") is None else e["leg"]
            state = e["state"] + (" (post by hand)" if e.get("by_hand") else "")
            w(
                f"<tr><td>{_e(e['of'])}</td><td>{_e(leg)}</td><td>{_e(state)}</td>"
                f"<td>{_e(e['reason'])}</td></tr>"
            )
        w("</tbody></table>")
    if any(result.wire.values()):
        w("<h4>Wire excerpts</h4>")
        for sid, lines in result.wire.items():
            if lines:
                w(
                    f"<details><summary>{_e(sid)}: {len(lines)} message(s)</summary>"
                    f'<pre class="wire">{_e(chr(10).join(lines))}</pre></details>'
                )
    w("</section>")


def _html_folio(w: Callable[[str], None], c: CaseResult, folio: FolioView) -> None:
    cur = folio.currency
    w(
        f"<h4>Folio of reservation {_e(folio.confirmation_number)} ({_e(folio.state)}"
        + (f", room {_e(folio.room)}" if folio.room else "")
        + ")</h4>"
    )
    w(
        f'<table class="folio" data-check="{_e(c.entry.id)}" '
        f'data-confirmation="{_e(folio.confirmation_number)}"><thead><tr><th>Code</th>'
        '<th>Payment type</th><th class="amount">Amount</th><th>Business date</th>'
        "<th>Reference</th></tr></thead><tbody>"
    )
    for line in folio.lines:
        w(
            f"<tr><td>{_e(line.get('code'))}</td><td>{_e(line.get('payment_type') or '')}</td>"
            f'<td class="amount">{_e(_money(line.get("amount"), cur))}</td>'
            f"<td>{_e(line.get('business_date'))}</td><td>{_e(line.get('reference'))}</td></tr>"
        )
    if not folio.lines:
        w('<tr><td colspan="5" class="muted">no lines</td></tr>')
    w("</tbody><tfoot>")
    w(
        f'<tr class="balance"><th colspan="2">Balance</th><td class="amount">'
        f'{_e(_money(folio.balance, cur))}</td><td colspan="2"></td></tr>'
    )
    for group, amount in folio.totals.items():
        w(
            f'<tr class="total"><th colspan="2">{_e(group)} group</th><td class="amount">'
            f'{_e(_money(amount, cur))}</td><td colspan="2"></td></tr>'
        )
    w("</tfoot></table>")
    w(
        f'<table class="invariants" data-check="{_e(c.entry.id)}" '
        f'data-confirmation="{_e(folio.confirmation_number)}"><thead><tr><th>DESIGN section 3 '
        "invariant</th><th>Holds</th><th>Figures</th></tr></thead><tbody>"
    )
    for name, (holds, detail) in folio.invariants.items():
        w(
            f"<tr><td>{_e(name.replace('_', ' '))}</td>"
            f'<td class="{"passed" if holds else "failed"}">{"yes" if holds else "NO"}</td>'
            f"<td>{_e(detail)}</td></tr>"
        )
    w("</tbody></table>")
