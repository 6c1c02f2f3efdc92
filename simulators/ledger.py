"""The simulated hotel: rooms, reservations, folios, transaction codes, business date, night audit.

Pure Python (no Twisted, no sockets): the FIAS server and the control API both drive one
``Hotel``; the clock is injected as ``now()``.

The accounting model is DESIGN section 3. A posting names a payment method (FIAS ``PM``), an
optional sales outlet (``SO``) and a total (``TA``):

- a *room* payment method adds one charge line: the sales outlet's transaction code, ``+TA``;
- a *payment-type* payment method adds the charge line (only if a sales outlet is given: its
  code, ``+TA``) and the settling payment line (the payment type, ``-TA``).

So a spa deposit (SO Spa Deposit, PM onejourney, TA 5000) books ``SPA_DEPOSIT +5000`` and
``ONEJOURNEY -5000``; its redemption (SO Spa treatment, PM Deposit Redemption) books
``SPA_TREATMENT +5000`` and ``DEPOSIT_REDEMPTION -5000``. Both ``SPA_DEPOSIT`` (a charge code) and
``DEPOSIT_REDEMPTION`` (a payment type) belong to the *deposit* group, which therefore nets to 0
once the deposit is redeemed.

Decisions the FIAS reference leaves open, made here and documented once:

- The no-post flag refuses *every* interface posting to that guest's folio (answer ``NP``), tender
  postings included: nothing reaches a no-post folio through the interface.
- Postings need an in-house guest (FIAS posts only to checked-in guests; DESIGN section 4).
- Postings during a night audit are answered ``NA`` and book nothing.
- A tender posting (payment-type PM) that names no guest and no room books on the hotel's house
  account, which the trial balance includes (FIAS: "posts to a preconfigured account").
- Check-out is allowed with an open balance: the invariants then report it.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from simulators.accounts import Account, AccountsLedger, UnknownAccount, parse_accounts
from simulators.faults import Faults, FaultsError, parse_faults

_E = TypeVar("_E", bound=StrEnum)

#: The value of a payment-method mapping that charges the guest's room (the folio) itself.
ROOM = "ROOM"

#: Path of the shipped demo hotel.
DEMO_HOTEL = Path(__file__).with_name("hotels") / "demo.toml"


class CodeGroup(StrEnum):
    REVENUE = "revenue"
    PAYMENT = "payment"
    DEPOSIT = "deposit"


class CodeKind(StrEnum):
    CHARGE = "charge"  # booked with a positive amount by a sales outlet
    PAYMENT_TYPE = "payment_type"  # a tender: settles with a negative amount


class ReservationState(StrEnum):
    RESERVED = "reserved"
    IN_HOUSE = "in_house"
    CHECKED_OUT = "checked_out"


class UnqueriedPosting(StrEnum):
    """What the FIAS server does with a room posting whose guest no inquiry returned."""

    REJECT = "reject"  # answer PA ASUR with a CT that says so (default: easy to diagnose)
    IGNORE = "ignore"  # send nothing, as the FIAS spec says IFC does


# --------------------------------------------------------------------------------------------
# Configuration: the hotel file, read once into frozen dataclasses


@dataclass(frozen=True)
class TransactionCode:
    code: str
    description: str
    group: CodeGroup
    kind: CodeKind


@dataclass(frozen=True)
class Reservation:
    """One reservation as it stands; the ``Hotel`` replaces it on every change."""

    confirmation_number: int  # the FIAS G#
    guest_name: str
    arrival: dt.date
    departure: dt.date
    state: ReservationState = ReservationState.RESERVED
    room: str | None = None
    no_post: bool = False


@dataclass(frozen=True)
class FiasSettings:
    """The hotel file's ``[fias]`` table: the PMS side's interface configuration."""

    sales_outlets: Mapping[int, str]  # SO -> charge code
    payment_methods: Mapping[str, str]  # PM -> ROOM or a payment-type code
    replace_connections: bool = True  # False: refuse a second client (Protel), not replace
    unqueried_posting: UnqueriedPosting = UnqueriedPosting.REJECT
    encoding: str = "cp1252"
    hotel_id: str = "1"

    @property
    def room_payment_methods(self) -> tuple[str, ...]:
        return tuple(pm for pm, target in self.payment_methods.items() if target == ROOM)


@dataclass(frozen=True)
class SoapSettings:
    """The hotel file's ``[soap]`` table: what the SOAP simulators accept and send.

    Credentials here are for simulators only (the demo hotel's are public); the environment
    overrides them (``simulators.soap_common.soap_access``). ``None``: not set in the file.
    """

    username: str | None = None  # UsernameToken / rezlynx LogIn operator the PMS accepts
    password: str | None = field(default=None, repr=False)
    callback_username: str | None = None  # htng-async result callbacks (default: username)
    callback_password: str | None = field(default=None, repr=False)
    site_id: str | None = None  # rezlynx SiteID accepted (None: any)
    hotel_code: str | None = None  # htng-async HotelCode accepted (None: any)
    session_timeout_seconds: int = 1200  # an idle rezlynx session expires after this
    allow_negative_amounts: bool = True  # negative sales and refunds (the negative profiles)


@dataclass(frozen=True)
class HotelConfig:
    name: str
    currency: str
    business_date: dt.date
    rooms: tuple[str, ...]
    codes: Mapping[str, TransactionCode]
    fias: FiasSettings
    reservations: tuple[Reservation, ...] = ()
    allow_negative_amounts: bool = False
    faults: Faults = Faults()
    soap: SoapSettings = SoapSettings()
    accounts: tuple[Account, ...] = ()  # A/R accounts with their open invoices


class HotelConfigError(ValueError):
    """The hotel file is invalid; ``errors`` lists every problem found."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(
            f"{source}: {len(errors)} error(s):\n" + "\n".join(f"  - {e}" for e in errors)
        )


def load_hotel_config(path: str | Path = DEMO_HOTEL) -> HotelConfig:
    """Read and validate a hotel TOML file. Raises ``HotelConfigError`` listing every error."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HotelConfigError(str(path), [f"cannot read the file: {exc.strerror}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise HotelConfigError(str(path), [f"not valid TOML: {exc}"]) from exc
    return parse_hotel_config(data, source=str(path))


def parse_hotel_config(data: Mapping[str, Any], source: str = "hotel") -> HotelConfig:
    """Validate a decoded hotel file (see ``hotels/demo.toml`` for the layout)."""
    errors: list[str] = []
    hotel = _table(data, "hotel", errors)
    name = _str(hotel, "name", "hotel", errors, default="Hotel")
    currency = _str(hotel, "currency", "hotel", errors, default="GBP")
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        errors.append(f"hotel.currency: {currency!r} is not an ISO 4217 code like 'GBP'")
    business_date = _date(hotel.get("business_date"), "hotel.business_date", errors)
    allow_negative = hotel.get("allow_negative_amounts", False)
    if not isinstance(allow_negative, bool):
        errors.append("hotel.allow_negative_amounts: must be true or false")
        allow_negative = False
    rooms_raw = hotel.get("rooms", [])
    rooms: list[str] = []
    if not isinstance(rooms_raw, list) or not all(isinstance(r, str) and r for r in rooms_raw):
        errors.append('hotel.rooms: must be a list of room numbers as strings, e.g. ["101"]')
    else:
        rooms = list(rooms_raw)
        if len(set(rooms)) != len(rooms):
            errors.append("hotel.rooms: a room is listed twice")

    codes: dict[str, TransactionCode] = {}
    for code, spec in _table(data, "codes", errors).items():
        where = f"codes.{code}"
        if not isinstance(spec, Mapping):
            errors.append(f"{where}: must be a table with group and kind")
            continue
        group = _enum(CodeGroup, spec.get("group"), f"{where}.group", errors)
        kind = _enum(CodeKind, spec.get("kind", "charge"), f"{where}.kind", errors)
        description = _str(spec, "description", where, errors, default=code)
        if group is not None and kind is not None:
            codes[code] = TransactionCode(code, description, group, kind)
    if not codes:
        errors.append("codes: the hotel needs at least one transaction code")

    fias = _fias_settings(_table(data, "fias", errors), codes, errors)

    reservations: list[Reservation] = []
    seen: set[int] = set()
    raw_reservations = data.get("reservations", [])
    if not isinstance(raw_reservations, list):
        errors.append("reservations: must be an array of tables ([[reservations]])")
        raw_reservations = []
    for index, spec in enumerate(raw_reservations):
        where = f"reservations[{index}]"
        reservation = _reservation(spec, where, set(rooms), errors)
        if reservation is None:
            continue
        if reservation.confirmation_number in seen:
            errors.append(f"{where}: confirmation_number {reservation.confirmation_number} repeats")
        seen.add(reservation.confirmation_number)
        reservations.append(reservation)

    try:
        faults = parse_faults(data.get("faults", {}))
    except FaultsError as exc:
        errors.extend(f"faults.{e}" for e in exc.errors)
        faults = Faults()

    soap = _soap_settings(_table(data, "soap", errors), errors)
    accounts = parse_accounts(data.get("accounts"), errors)

    if errors or business_date is None or fias is None:
        raise HotelConfigError(source, errors or ["incomplete hotel file"])
    return HotelConfig(
        name=name,
        currency=currency,
        business_date=business_date,
        rooms=tuple(rooms),
        codes=codes,
        fias=fias,
        reservations=tuple(reservations),
        allow_negative_amounts=allow_negative,
        faults=faults,
        soap=soap,
        accounts=accounts,
    )


def _table(data: Mapping[str, Any], key: str, errors: list[str]) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        errors.append(f"{key}: must be a table")
        return {}
    return value


def _str(table: Mapping[str, Any], key: str, where: str, errors: list[str], default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        errors.append(f"{where}.{key}: must be a non-empty string")
        return default
    return value


def _date(value: Any, where: str, errors: list[str]) -> dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    errors.append(f"{where}: must be a date like 2026-11-27, got {value!r}")
    return None


def _enum(kind: type[_E], value: Any, where: str, errors: list[str]) -> _E | None:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        errors.append(f"{where}: {value!r} is not one of {allowed}")
        return None


def _fias_settings(
    table: Mapping[str, Any], codes: Mapping[str, TransactionCode], errors: list[str]
) -> FiasSettings | None:
    sales_outlets: dict[int, str] = {}
    for so, code in _table(table, "sales_outlets", errors).items():
        where = f"fias.sales_outlets.{so}"
        if not (str(so).isdigit() and len(str(so)) <= 5):
            errors.append(f"{where}: a sales outlet is a number of at most 5 digits")
            continue
        target = codes.get(code) if isinstance(code, str) else None
        if target is None:
            errors.append(f"{where}: {code!r} is not a code in [codes]")
        elif target.kind is not CodeKind.CHARGE:
            errors.append(
                f"{where}: {code!r} is a payment type; a sales outlet needs a charge code"
            )
        else:
            sales_outlets[int(so)] = code
    payment_methods: dict[str, str] = {}
    for pm, target_code in _table(table, "payment_methods", errors).items():
        where = f"fias.payment_methods.{pm}"
        if not (0 < len(pm) <= 5) or any(c in pm for c in "|\x02\x03"):
            errors.append(f"{where}: a payment method is 1 to 5 characters")
            continue
        if target_code == ROOM:
            payment_methods[pm] = ROOM
            continue
        target = codes.get(target_code) if isinstance(target_code, str) else None
        if target is None:
            errors.append(f'{where}: {target_code!r} is neither "ROOM" nor a code in [codes]')
        elif target.kind is not CodeKind.PAYMENT_TYPE:
            errors.append(f"{where}: {target_code!r} is a charge code; a PM needs a payment type")
        else:
            payment_methods[pm] = target_code
    if not any(t == ROOM for t in payment_methods.values()):
        errors.append('fias.payment_methods: at least one PM must map to "ROOM"')
    replace_connections = table.get("replace_connections", True)
    if not isinstance(replace_connections, bool):
        errors.append("fias.replace_connections: must be true or false")
        replace_connections = True
    unqueried = _enum(
        UnqueriedPosting, table.get("unqueried_posting", "reject"), "fias.unqueried_posting", errors
    )
    encoding = table.get("encoding", "cp1252")
    try:
        "".encode(encoding)
    except (LookupError, TypeError):
        errors.append(f"fias.encoding: {encoding!r} is not a Python codec name")
        encoding = "cp1252"
    hotel_id = table.get("hotel_id", "1")
    if not isinstance(hotel_id, str):
        errors.append("fias.hotel_id: must be a string")
        hotel_id = "1"
    return FiasSettings(
        sales_outlets=sales_outlets,
        payment_methods=payment_methods,
        replace_connections=replace_connections,
        unqueried_posting=unqueried or UnqueriedPosting.REJECT,
        encoding=encoding,
        hotel_id=hotel_id,
    )


_SOAP_TEXT_KEYS = (
    "username",
    "password",
    "callback_username",
    "callback_password",
    "site_id",
    "hotel_code",
)


def _soap_settings(table: Mapping[str, Any], errors: list[str]) -> SoapSettings:
    known = (*_SOAP_TEXT_KEYS, "session_timeout_seconds", "allow_negative_amounts")
    for key in table:
        if key not in known:
            errors.append(f"soap.{key}: unknown key (known: {', '.join(sorted(known))})")
    texts: dict[str, str | None] = {}
    for key in _SOAP_TEXT_KEYS:
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            errors.append(f"soap.{key}: must be a non-empty string")
            value = None
        texts[key] = value
    timeout = table.get("session_timeout_seconds", 1200)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        errors.append("soap.session_timeout_seconds: must be a whole number > 0")
        timeout = 1200
    allow_negative = table.get("allow_negative_amounts", True)
    if not isinstance(allow_negative, bool):
        errors.append("soap.allow_negative_amounts: must be true or false")
        allow_negative = True
    return SoapSettings(
        **texts, session_timeout_seconds=timeout, allow_negative_amounts=allow_negative
    )


def _reservation(spec: Any, where: str, rooms: set[str], errors: list[str]) -> Reservation | None:
    if not isinstance(spec, Mapping):
        errors.append(f"{where}: must be a table")
        return None
    before = len(errors)
    conf = spec.get("confirmation_number")
    if isinstance(conf, str) and conf.isdigit():
        conf = int(conf)
    if not isinstance(conf, int) or isinstance(conf, bool) or not 0 < conf < 10**10:
        errors.append(f"{where}.confirmation_number: a FIAS G# is a number of 1 to 10 digits")
    guest_name = spec.get("guest_name")
    if not isinstance(guest_name, str) or not guest_name.strip():
        errors.append(f"{where}.guest_name: must be a non-empty string")
    arrival = _date(spec.get("arrival"), f"{where}.arrival", errors)
    departure = _date(spec.get("departure"), f"{where}.departure", errors)
    if arrival and departure and departure < arrival:
        errors.append(f"{where}: departure {departure} is before arrival {arrival}")
    state = _enum(ReservationState, spec.get("state", "reserved"), f"{where}.state", errors)
    room = spec.get("room")
    if room is not None and room not in rooms:
        errors.append(f"{where}.room: {room!r} is not in hotel.rooms")
    if state is not None and state is not ReservationState.RESERVED and room is None:
        errors.append(f"{where}: a reservation that is {state.value} needs a room")
    no_post = spec.get("no_post", False)
    if not isinstance(no_post, bool):
        errors.append(f"{where}.no_post: must be true or false")
    if len(errors) > before:
        return None
    assert arrival is not None and departure is not None and state is not None
    return Reservation(conf, guest_name, arrival, departure, state, room, no_post)


# --------------------------------------------------------------------------------------------
# Folios


@dataclass(frozen=True)
class FolioLine:
    code: str  # the transaction code (for a payment line: the payment type's code)
    amount: int  # signed, minor units
    payment_type: str | None  # the payment type on a payment line; None on a charge line
    reference: str
    business_date: dt.date
    time: dt.datetime  # wall-clock time of the posting
    source: str  # the record that booked it, e.g. "FIAS PR P#1737 WS456"
    posting_id: int  # lines booked by one posting share it
    # Hotel-wide, one per line: the SOAP profiles' transaction number. Left out of ==, so a
    # line compares by what it books.
    line_number: int = field(default=0, compare=False)


@dataclass(frozen=True)
class GroupTotals:
    revenue: int = 0
    deposit: int = 0
    payment: int = 0


@dataclass(frozen=True)
class Invariant:
    holds: bool
    detail: str


@dataclass(frozen=True)
class TrialBalance:
    business_date: dt.date | None  # None: every business date
    codes: Mapping[str, int]  # charge lines per transaction code
    payment_types: Mapping[str, int]  # payment lines per payment type
    groups: GroupTotals
    net: int  # the sum of every line (0 when every charge is settled)


#: Number used as the confirmation number of the house account (tender postings without a guest).
HOUSE_ACCOUNT = 0


# --------------------------------------------------------------------------------------------
# Postings and their outcomes


@dataclass(frozen=True)
class FolioPosting:
    """One posting as the ledger sees it (the FIAS server builds it from PR or PS)."""

    payment_method: str  # FIAS PM
    total_amount: int  # FIAS TA, minor units
    sales_outlet: int | None = None  # FIAS SO
    confirmation_number: int | None = None  # FIAS G#
    room: str | None = None  # FIAS RN
    components: tuple[int, ...] = ()  # S1-S9, T1-T9, D1-D9, TP, SC, +0 as sent
    reference: str = ""
    source: str = ""
    account: str | None = None  # an A/R account number (FIAS: RN with G#0)
    invoices: tuple[str, ...] = ()  # A/R: the invoices the payment names (FIAS: CT)


class Status(StrEnum):
    """Posting outcomes; the FIAS server sends the value as the answer status (AS)."""

    OK = "OK"
    NG = "NG"  # guest not found: unknown, not in house, checked out
    NP = "NP"  # no-post flag
    UR = "UR"  # unprocessable: unknown SO or PM, forbidden negative amount
    DM = "DM"  # subtotals do not add up to the total
    NA = "NA"  # night audit in progress


@dataclass(frozen=True)
class PostingOutcome:
    status: Status
    text: str  # says why; the FIAS server sends it as CT
    lines: tuple[FolioLine, ...] = ()
    reservation: Reservation | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


# --------------------------------------------------------------------------------------------
# Postings that name their codes (the SOAP profiles)


@dataclass(frozen=True)
class CodedLine:
    """One line of a :class:`CodedPosting`: a transaction code or a payment type, by name.

    ``CHARGE``: ``amount`` is the charge, booked as is (negative: a negative sale or a
    reversal). ``PAYMENT_TYPE``: ``amount`` is the money received, booked negated (negative: a
    refund).
    """

    kind: CodeKind
    code: str
    amount: int  # minor units
    reference: str = ""


@dataclass(frozen=True)
class CodedPosting:
    """Lines for one reservation's folio, booked all or nothing (``Hotel.post_coded``)."""

    confirmation_number: int
    lines: tuple[CodedLine, ...]
    source: str = ""
    allow_negative: bool = True
    #: Every line needs an in-house guest, deposits and payments too (e.g. a rezlynx
    #: AddPayment, whose pre-arrival counterpart is AddDeposit).
    needs_in_house: bool = False


class Refusal(StrEnum):
    """Why ``Hotel.post_coded`` booked nothing; each SOAP profile maps it to its own code."""

    NIGHT_AUDIT = "night_audit"
    UNKNOWN_RESERVATION = "unknown_reservation"
    FOLIO_CLOSED = "folio_closed"  # checked out
    NO_POST = "no_post"
    UNKNOWN_TRANSACTION_CODE = "unknown_transaction_code"  # unknown, or a payment type
    UNKNOWN_PAYMENT_TYPE = "unknown_payment_type"  # unknown, or a charge code
    AMOUNT_NOT_ALLOWED = "amount_not_allowed"  # zero, or negative where refused
    NOT_IN_HOUSE = "not_in_house"  # revenue before check-in


@dataclass(frozen=True)
class CodedOutcome:
    """What ``Hotel.post_coded`` did: the booked lines, or the refusal and its text."""

    refusal: Refusal | None
    text: str
    lines: tuple[FolioLine, ...] = ()
    reservation: Reservation | None = None
    line_index: int | None = None  # the refused CodedLine (0-based), when one is to blame

    @property
    def ok(self) -> bool:
        return self.refusal is None


# --------------------------------------------------------------------------------------------
# Events for listeners (the FIAS server broadcasts them as GI/GO/GC and NS/NE)


@dataclass(frozen=True)
class GuestCheckedIn:
    reservation: Reservation
    shared: bool  # another guest is in the room too


@dataclass(frozen=True)
class GuestCheckedOut:
    reservation: Reservation  # already checked out; .room is the room left
    shared: bool  # guests remain in the room


@dataclass(frozen=True)
class GuestMoved:
    reservation: Reservation  # .room is the new room
    old_room: str
    shared: bool  # the new room is shared
    old_room_shared: bool  # guests remain in the old room


@dataclass(frozen=True)
class NightAuditStarted:
    business_date: dt.date


@dataclass(frozen=True)
class NightAuditEnded:
    business_date: dt.date  # the new business date


@dataclass(frozen=True)
class HotelReset:
    pass


HotelEvent = (
    GuestCheckedIn | GuestCheckedOut | GuestMoved | NightAuditStarted | NightAuditEnded | HotelReset
)


# --------------------------------------------------------------------------------------------
# Errors for front-desk operations (the control API maps them to HTTP statuses)


class LedgerError(Exception):
    """A front-desk operation that cannot be done; the message says why."""


class UnknownReservation(LedgerError):
    pass


class DuplicateReservation(LedgerError):
    pass


class UnknownRoom(LedgerError):
    pass


class InvalidState(LedgerError):
    pass


class InvalidRequest(LedgerError):
    pass


# --------------------------------------------------------------------------------------------
# The hotel


def _system_now() -> dt.datetime:
    return dt.datetime.now()


@dataclass
class _State:
    business_date: dt.date
    reservations: dict[int, Reservation]
    folios: dict[int, list[FolioLine]]
    night_audit_running: bool = False
    next_posting_id: int = 1
    checked_in_at: dict[int, int] = field(default_factory=dict)  # check-in order, for PS
    check_ins: int = 0
    next_line_number: int = 1
    accounts: AccountsLedger = field(default_factory=lambda: AccountsLedger(()))
    account_lines: list[FolioLine] = field(default_factory=list)  # A/R payments, booked


class Hotel:
    """The hotel's state, driven by the FIAS server and the control API."""

    def __init__(self, config: HotelConfig, now: Callable[[], dt.datetime] | None = None) -> None:
        self.config = config
        self._now = now or _system_now
        self._listeners: list[Callable[[HotelEvent], None]] = []
        self._state = self._initial_state()

    @classmethod
    def from_file(
        cls, path: str | Path = DEMO_HOTEL, now: Callable[[], dt.datetime] | None = None
    ) -> Hotel:
        return cls(load_hotel_config(path), now=now)

    def _initial_state(self) -> _State:
        state = _State(
            business_date=self.config.business_date,
            reservations={r.confirmation_number: r for r in self.config.reservations},
            folios={HOUSE_ACCOUNT: []},
            accounts=AccountsLedger(self.config.accounts),
        )
        for r in self.config.reservations:
            state.folios[r.confirmation_number] = []
            if r.state is ReservationState.IN_HOUSE:
                state.checked_in_at[r.confirmation_number] = state.check_ins
                state.check_ins += 1
        return state

    # -- listeners ------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[HotelEvent], None]) -> Callable[[], None]:
        """Call ``listener(event)`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: HotelEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def reset(self) -> None:
        """Back to the hotel file's state (reservations, folios, business date)."""
        self._state = self._initial_state()
        self._emit(HotelReset())

    # -- reading --------------------------------------------------------------------------

    @property
    def business_date(self) -> dt.date:
        return self._state.business_date

    @property
    def night_audit_running(self) -> bool:
        return self._state.night_audit_running

    @property
    def codes(self) -> Mapping[str, TransactionCode]:
        return self.config.codes

    @property
    def accounts(self) -> AccountsLedger:
        """The A/R accounts, their invoices and payments (``simulators.accounts``)."""
        return self._state.accounts

    def reservation(self, confirmation_number: int) -> Reservation:
        try:
            return self._state.reservations[confirmation_number]
        except KeyError:
            raise UnknownReservation(f"no reservation {confirmation_number}") from None

    def reservations(self) -> list[Reservation]:
        return sorted(self._state.reservations.values(), key=lambda r: r.confirmation_number)

    def in_house(self) -> list[Reservation]:
        """In-house guests, in check-in order."""
        order = self._state.checked_in_at
        return sorted(
            (r for r in self._state.reservations.values() if r.state is ReservationState.IN_HOUSE),
            key=lambda r: order.get(r.confirmation_number, 0),
        )

    def guests_in_room(self, room: str) -> list[Reservation]:
        """In-house guests of a room (sharers), in check-in order."""
        return [r for r in self.in_house() if r.room == room]

    def sharers(self, confirmation_number: int) -> list[Reservation]:
        """The other in-house guests in this reservation's room."""
        r = self.reservation(confirmation_number)
        if r.state is not ReservationState.IN_HOUSE or r.room is None:
            return []
        return [
            g for g in self.guests_in_room(r.room) if g.confirmation_number != r.confirmation_number
        ]

    def folio(self, confirmation_number: int) -> tuple[FolioLine, ...]:
        if confirmation_number != HOUSE_ACCOUNT:
            self.reservation(confirmation_number)
        return tuple(self._state.folios[confirmation_number])

    def balance(self, confirmation_number: int) -> int:
        return sum(line.amount for line in self.folio(confirmation_number))

    def totals(self, confirmation_number: int) -> GroupTotals:
        return self._group_totals(self.folio(confirmation_number))

    def payment_type_totals(self, confirmation_number: int) -> dict[str, int]:
        totals: dict[str, int] = {}
        for line in self.folio(confirmation_number):
            if line.payment_type is not None:
                totals[line.payment_type] = totals.get(line.payment_type, 0) + line.amount
        return totals

    def _group_totals(self, lines: Iterable[FolioLine]) -> GroupTotals:
        sums = {group: 0 for group in CodeGroup}
        for line in lines:
            sums[self.config.codes[line.code].group] += line.amount
        return GroupTotals(
            revenue=sums[CodeGroup.REVENUE],
            deposit=sums[CodeGroup.DEPOSIT],
            payment=sums[CodeGroup.PAYMENT],
        )

    def invariants(self, confirmation_number: int) -> dict[str, Invariant]:
        """DESIGN section 3's checks for one reservation, as far as the ledger can compute them.

        They are stated for *after departure*: before check-out each holds vacuously and its
        detail shows the current figure. "Redeemed" is what the deposit group paid out: the
        negative deposit-group lines (the ``Deposit Redemption`` payment, or a negative sale on
        the deposit code) less the payments handed back (positive payment-group lines, i.e.
        refunds). That makes "revenue equals redeemed items" exact for a deposit folio; a folio
        that also carries revenue paid by other tenders reports it as not holding.
        The payment-type totals (e.g. ``onejourney`` against the captured payments) need the
        payment platform's figures, so the ledger reports them (``payment_type_totals``) and
        leaves the comparison to the caller.
        """
        reservation = self.reservation(confirmation_number)
        lines = self.folio(confirmation_number)
        departed = reservation.state is ReservationState.CHECKED_OUT
        pending = f"applies after departure (reservation is {reservation.state.value}); "
        balance = sum(line.amount for line in lines)
        totals = self._group_totals(lines)
        deposit_lines = [
            line for line in lines if self.config.codes[line.code].group is CodeGroup.DEPOSIT
        ]
        drawn = -sum(line.amount for line in deposit_lines if line.amount < 0)
        refunded = sum(
            line.amount
            for line in lines
            if line.amount > 0 and self.config.codes[line.code].group is CodeGroup.PAYMENT
        )
        redeemed = drawn - refunded

        def check(holds_now: bool, figures: str) -> Invariant:
            if not departed:
                return Invariant(True, pending + "now " + figures)
            return Invariant(holds_now, figures)

        if deposit_lines:
            revenue = check(
                totals.revenue == redeemed,
                f"revenue {totals.revenue}, deposit redeemed {redeemed}",
            )
        else:
            revenue = Invariant(True, f"no deposit on this folio; revenue {totals.revenue}")
        return {
            "balance_zero_after_departure": check(balance == 0, f"balance {balance}"),
            "deposit_group_nets_zero": check(
                totals.deposit == 0, f"deposit group nets {totals.deposit}"
            ),
            "revenue_equals_redeemed_items": revenue,
        }

    def trial_balance(self, business_date: dt.date | None = None) -> TrialBalance:
        """Totals per charge code and per payment type, for one business date (None: all)."""
        codes: dict[str, int] = {}
        payment_types: dict[str, int] = {}
        selected: list[FolioLine] = []
        for lines in [*self._state.folios.values(), self._state.account_lines]:
            for line in lines:
                if business_date is not None and line.business_date != business_date:
                    continue
                selected.append(line)
                if line.payment_type is None:
                    codes[line.code] = codes.get(line.code, 0) + line.amount
                else:
                    payment_types[line.payment_type] = (
                        payment_types.get(line.payment_type, 0) + line.amount
                    )
        return TrialBalance(
            business_date=business_date,
            codes=dict(sorted(codes.items())),
            payment_types=dict(sorted(payment_types.items())),
            groups=self._group_totals(selected),
            net=sum(line.amount for line in selected),
        )

    # -- front desk -----------------------------------------------------------------------

    def add_reservation(
        self,
        confirmation_number: int,
        guest_name: str,
        arrival: dt.date,
        departure: dt.date,
        room: str | None = None,
        no_post: bool = False,
    ) -> Reservation:
        """A new reservation in state *reserved* (``room`` only pre-assigns the room)."""
        if not 0 < confirmation_number < 10**10:
            raise InvalidRequest("confirmation_number must be a FIAS G#: 1 to 10 digits")
        if confirmation_number in self._state.reservations:
            raise DuplicateReservation(f"reservation {confirmation_number} exists already")
        if not guest_name.strip():
            raise InvalidRequest("guest_name must not be empty")
        if departure < arrival:
            raise InvalidRequest(f"departure {departure} is before arrival {arrival}")
        if room is not None:
            self._check_room(room)
        reservation = Reservation(
            confirmation_number, guest_name, arrival, departure, room=room, no_post=no_post
        )
        self._state.reservations[confirmation_number] = reservation
        self._state.folios[confirmation_number] = []
        return reservation

    def _check_room(self, room: str) -> None:
        if room not in self.config.rooms:
            raise UnknownRoom(f"no room {room!r} in this hotel")

    def check_in(self, confirmation_number: int, room: str | None = None) -> Reservation:
        """Check a reserved guest in; a room with guests in it makes them sharers."""
        reservation = self.reservation(confirmation_number)
        if reservation.state is not ReservationState.RESERVED:
            raise InvalidState(
                f"reservation {confirmation_number} is {reservation.state.value}, not reserved"
            )
        room = room or reservation.room
        if room is None:
            raise InvalidRequest(f"reservation {confirmation_number} has no room: give one")
        self._check_room(room)
        shared = bool(self.guests_in_room(room))
        reservation = replace(reservation, state=ReservationState.IN_HOUSE, room=room)
        self._state.reservations[confirmation_number] = reservation
        self._state.checked_in_at[confirmation_number] = self._state.check_ins
        self._state.check_ins += 1
        self._emit(GuestCheckedIn(reservation, shared))
        return reservation

    def check_out(self, confirmation_number: int) -> Reservation:
        """Check an in-house guest out (an open balance is allowed; the invariants show it)."""
        reservation = self._in_house(confirmation_number)
        reservation = replace(reservation, state=ReservationState.CHECKED_OUT)
        self._state.reservations[confirmation_number] = reservation
        self._state.checked_in_at.pop(confirmation_number, None)
        assert reservation.room is not None
        self._emit(GuestCheckedOut(reservation, bool(self.guests_in_room(reservation.room))))
        return reservation

    def move(self, confirmation_number: int, room: str) -> Reservation:
        """Move an in-house guest to another room."""
        reservation = self._in_house(confirmation_number)
        self._check_room(room)
        old_room = reservation.room
        assert old_room is not None
        if room == old_room:
            raise InvalidRequest(f"reservation {confirmation_number} is in room {room} already")
        shared = bool(self.guests_in_room(room))
        reservation = replace(reservation, room=room)
        self._state.reservations[confirmation_number] = reservation
        self._emit(GuestMoved(reservation, old_room, shared, bool(self.guests_in_room(old_room))))
        return reservation

    def _in_house(self, confirmation_number: int) -> Reservation:
        reservation = self.reservation(confirmation_number)
        if reservation.state is not ReservationState.IN_HOUSE:
            raise InvalidState(
                f"reservation {confirmation_number} is {reservation.state.value}, not in_house"
            )
        return reservation

    # -- night audit ----------------------------------------------------------------------

    def start_night_audit(self) -> None:
        if self._state.night_audit_running:
            raise InvalidState("a night audit is running already")
        self._state.night_audit_running = True
        self._emit(NightAuditStarted(self._state.business_date))

    def end_night_audit(self) -> dt.date:
        """Close the audit and roll the business date one day; returns the new date."""
        if not self._state.night_audit_running:
            raise InvalidState("no night audit is running")
        self._state.night_audit_running = False
        self._state.business_date += dt.timedelta(days=1)
        self._emit(NightAuditEnded(self._state.business_date))
        return self._state.business_date

    # -- inquiries and postings -----------------------------------------------------------

    def inquire(self, text: str, max_matches: int | None = None) -> list[Reservation]:
        """In-house guests matching a room number exactly, or else a name prefix (any case)."""
        if text in self.config.rooms:
            matches = self.guests_in_room(text)
        else:
            prefix = text.casefold()
            matches = [r for r in self.in_house() if r.guest_name.casefold().startswith(prefix)]
        if max_matches:
            matches = matches[:max_matches]
        return matches

    def post(self, posting: FolioPosting) -> PostingOutcome:
        """Book a posting on a folio, or say why not (see the module docstring)."""
        if self._state.night_audit_running:
            return PostingOutcome(Status.NA, "night audit in progress; post after it ends")
        fias = self.config.fias
        pm = posting.payment_method
        target = fias.payment_methods.get(pm)
        if target is None:
            return PostingOutcome(Status.UR, f"unknown payment method PM {pm!r}")
        charge_code: str | None = None
        if posting.sales_outlet is not None:
            charge_code = fias.sales_outlets.get(posting.sales_outlet)
            if charge_code is None:
                return PostingOutcome(Status.UR, f"unknown sales outlet SO {posting.sales_outlet}")
        elif target == ROOM:
            return PostingOutcome(Status.UR, f"a room posting (PM {pm}) needs a sales outlet SO")
        ta = posting.total_amount
        if ta < 0 and not self.config.allow_negative_amounts:
            return PostingOutcome(Status.UR, f"negative amount TA{ta} is not allowed here")
        if posting.components and sum(posting.components) != ta:
            return PostingOutcome(
                Status.DM, f"subtotals add up to {sum(posting.components)}, not TA {ta}"
            )
        if posting.account is not None:
            if target == ROOM or charge_code is not None:
                return PostingOutcome(
                    Status.UR,
                    f"A/R account {posting.account} takes payments only: a payment-type PM, no SO",
                )
            return self.post_to_account(
                posting.account,
                ta,
                target,
                invoices=posting.invoices,
                reference=posting.reference,
                source=posting.source,
            )

        reservation: Reservation | None = None
        if posting.confirmation_number is None and posting.room is None:
            if target == ROOM:
                return PostingOutcome(Status.NG, "no guest given: a room posting needs RN or G#")
            folio_number = HOUSE_ACCOUNT
        else:
            found = self._posting_guest(posting)
            if isinstance(found, PostingOutcome):
                return found
            reservation = found
            if reservation.no_post:
                return PostingOutcome(
                    Status.NP,
                    f"no-post flag set for G#{reservation.confirmation_number}",
                    reservation=reservation,
                )
            folio_number = reservation.confirmation_number

        posting_id = self._state.next_posting_id
        self._state.next_posting_id += 1
        now = self._now()

        def line(code: str, amount: int, payment_type: str | None) -> FolioLine:
            return FolioLine(
                code,
                amount,
                payment_type,
                posting.reference,
                self._state.business_date,
                now,
                posting.source,
                posting_id,
                self._take_line_number(),
            )

        lines: list[FolioLine] = []
        if charge_code is not None:
            lines.append(line(charge_code, ta, None))
        if target != ROOM:
            lines.append(line(target, -ta, target))
        self._state.folios[folio_number].extend(lines)
        where = f"G#{folio_number}" if reservation else "the house account"
        return PostingOutcome(Status.OK, f"posted to {where}", tuple(lines), reservation)

    def post_to_account(
        self,
        number: str,
        amount: int,
        payment_type: str,
        *,
        invoices: tuple[str, ...] = (),
        reference: str = "",
        source: str = "",
    ) -> PostingOutcome:
        """Book a payment on A/R account ``number`` and allocate it to its invoices.

        ``NG`` for an unknown account, ``UR`` for an amount that is not positive (a correction
        is a reversal by the accounts team), ``NA`` during a night audit. The payment line
        (``payment_type``, ``-amount``) counts in the trial balance; the allocation is in
        ``hotel.accounts`` (see :mod:`simulators.accounts`).
        """
        if self._state.night_audit_running:
            return PostingOutcome(Status.NA, "night audit in progress; post after it ends")
        try:
            self.accounts.account(number)
        except UnknownAccount:
            return PostingOutcome(Status.NG, f"no A/R account {number}")
        code = self.config.codes.get(payment_type)
        if code is None or code.kind is not CodeKind.PAYMENT_TYPE:
            return PostingOutcome(Status.UR, f"{payment_type!r} is not a payment type")
        if amount <= 0:
            return PostingOutcome(
                Status.UR,
                f"A/R payments must be positive, not {amount}; a correction is a reversal",
            )
        now = self._now()
        payment = self.accounts.pay(
            number, amount, payment_type, named=invoices, reference=reference,
            business_date=self._state.business_date, now=now, source=source,
        )  # fmt: skip
        posting_id = self._state.next_posting_id
        self._state.next_posting_id += 1
        line = FolioLine(
            payment_type, -amount, payment_type, reference, self._state.business_date, now,
            source, posting_id, self._take_line_number(),
        )  # fmt: skip
        self._state.account_lines.append(line)
        paid = ", ".join(f"{a.invoice_id} {a.amount}" for a in payment.allocations) or "nothing"
        return PostingOutcome(
            Status.OK,
            f"posted to A/R account {number}: paid {paid}; prepaid {payment.prepaid}",
            (line,),
        )

    def _posting_guest(self, posting: FolioPosting) -> Reservation | PostingOutcome:
        """The in-house reservation a posting targets (by G#, checked against RN), or NG."""
        conf, room = posting.confirmation_number, posting.room
        if conf is not None:
            reservation = self._state.reservations.get(conf)
            if reservation is None:
                return PostingOutcome(Status.NG, f"no reservation G#{conf}")
            if reservation.state is ReservationState.CHECKED_OUT:
                return PostingOutcome(
                    Status.NG, f"guest G#{conf} has checked out", reservation=reservation
                )
            if reservation.state is not ReservationState.IN_HOUSE:
                return PostingOutcome(
                    Status.NG, f"guest G#{conf} is not checked in", reservation=reservation
                )
            if room is not None and reservation.room != room:
                return PostingOutcome(
                    Status.NG, f"guest G#{conf} is not in room {room}", reservation=reservation
                )
            return reservation
        assert room is not None
        if room not in self.config.rooms:
            return PostingOutcome(Status.NG, f"no room {room}")
        guests = self.guests_in_room(room)
        if not guests:
            return PostingOutcome(Status.NG, f"no guest in house in room {room}")
        return guests[0]  # room-based posting (PS): the room's first guest

    def _take_line_number(self) -> int:
        number = self._state.next_line_number
        self._state.next_line_number += 1
        return number

    def post_coded(self, posting: CodedPosting) -> CodedOutcome:
        """Book lines that name their codes (the SOAP profiles), all or nothing.

        Unlike FIAS (``post``), a deposit may be booked before arrival: charges on a
        *deposit*-group code and payment lines may post to a *reserved* reservation; revenue
        needs an in-house guest (every line does with ``needs_in_house``). A checked-out folio
        is closed; a night audit or the no-post flag refuses everything. Each line's code must
        exist and be of the line's kind, and its amount must not be 0 (nor negative unless
        ``allow_negative``). The refusal text names the reservation, the code or the amount at
        fault.
        """
        if not posting.lines:
            raise InvalidRequest("a coded posting needs at least one line")
        conf = posting.confirmation_number
        if self._state.night_audit_running:
            return CodedOutcome(Refusal.NIGHT_AUDIT, "night audit in progress; post after it ends")
        reservation = self._state.reservations.get(conf)
        if reservation is None:
            return CodedOutcome(Refusal.UNKNOWN_RESERVATION, f"no reservation {conf}")
        if reservation.state is ReservationState.CHECKED_OUT:
            return CodedOutcome(
                Refusal.FOLIO_CLOSED,
                f"reservation {conf} has checked out; its folio is closed",
                reservation=reservation,
            )
        if reservation.no_post:
            return CodedOutcome(
                Refusal.NO_POST, f"no-post flag set for reservation {conf}", reservation=reservation
            )
        for index, item in enumerate(posting.lines):
            refusal = self._coded_line_refusal(item, reservation, posting)
            if refusal is not None:
                reason, text = refusal
                return CodedOutcome(reason, text, reservation=reservation, line_index=index)

        posting_id = self._state.next_posting_id
        self._state.next_posting_id += 1
        now = self._now()
        lines = tuple(
            FolioLine(
                item.code,
                item.amount if item.kind is CodeKind.CHARGE else -item.amount,
                None if item.kind is CodeKind.CHARGE else item.code,
                item.reference,
                self._state.business_date,
                now,
                posting.source,
                posting_id,
                self._take_line_number(),
            )
            for item in posting.lines
        )
        self._state.folios[conf].extend(lines)
        return CodedOutcome(None, f"posted to reservation {conf}", lines, reservation)

    def _coded_line_refusal(
        self, item: CodedLine, reservation: Reservation, posting: CodedPosting
    ) -> tuple[Refusal, str] | None:
        code = self.config.codes.get(item.code)
        if item.kind is CodeKind.CHARGE:
            if code is None:
                return Refusal.UNKNOWN_TRANSACTION_CODE, f"unknown transaction code {item.code!r}"
            if code.kind is not CodeKind.CHARGE:
                return (
                    Refusal.UNKNOWN_TRANSACTION_CODE,
                    f"{item.code!r} is a payment type, not a transaction code",
                )
        else:
            if code is None:
                return Refusal.UNKNOWN_PAYMENT_TYPE, f"unknown payment type {item.code!r}"
            if code.kind is not CodeKind.PAYMENT_TYPE:
                return (
                    Refusal.UNKNOWN_PAYMENT_TYPE,
                    f"{item.code!r} is a transaction code, not a payment type",
                )
        if item.amount == 0:
            return Refusal.AMOUNT_NOT_ALLOWED, f"amount 0 is not allowed ({item.code})"
        if item.amount < 0 and not posting.allow_negative:
            return (
                Refusal.AMOUNT_NOT_ALLOWED,
                f"negative amount {item.amount} is not allowed here ({item.code})",
            )
        revenue = item.kind is CodeKind.CHARGE and code.group is CodeGroup.REVENUE
        if reservation.state is not ReservationState.IN_HOUSE and (
            revenue or posting.needs_in_house
        ):
            if revenue:
                needs = f"revenue code {item.code} needs an in-house guest"
            else:
                what = "transaction code" if item.kind is CodeKind.CHARGE else "payment type"
                needs = f"{what} {item.code} needs an in-house guest here"
            return (
                Refusal.NOT_IN_HOUSE,
                f"reservation {reservation.confirmation_number} is not checked in; {needs}",
            )
        return None
