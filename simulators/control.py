"""The simulator's control API: JSON over HTTP to drive the hotel and set fault knobs.

QA scripts depend on these names (issue 2, section 5); keep them stable.

- ``GET /healthz``: status, hotel, business date, night audit, FIAS link state.
- ``GET /reservations``: every reservation.
- ``POST /reservations`` ``{"confirmation_number", "guest_name", "arrival", "departure"}``
  (ISO dates; optional ``"room"``, ``"no_post"``): 201 and the reservation.
- ``GET /reservations/{conf}``: the reservation (state, room, sharers, balance).
- ``POST /reservations/{conf}/check-in`` ``{"room"}`` (optional if a room is pre-assigned),
  ``POST /reservations/{conf}/check-out``, ``POST /reservations/{conf}/move`` ``{"room"}``:
  the reservation; the FIAS link broadcasts GI, GO or GC.
- ``GET /reservations/{conf}/folio``: ``{"balance", "lines": [{"code", "amount",
  "payment_type", "reference", "business_date", "time", "source"}], "totals": {"revenue",
  "deposit", "payment"}, "payment_types": {type: total}, "invariants": {name: {"holds",
  "detail"}}}``.
- ``GET /codes``: ``{"codes": {code: {"description", "group", "kind"}}, "fias":
  {"sales_outlets": {SO: code}, "payment_methods": {PM: code or "ROOM"}}}``.
- ``PUT /codes/{code}`` ``{"description", "group", "kind", "sales_outlet", "payment_method"}``
  (all optional but group for a new code): the PMS's code table changes; with
  ``{"rename_from": OLD}`` the code OLD is renamed: it disappears and its FIAS sales outlet or
  payment method now books the new code. ``DELETE /codes/{code}``: the code is removed with
  the FIAS sales outlets and payment methods that booked it (they answer ``UR`` from now on).
  A code that is on a folio cannot be renamed or removed (409): a PMS keeps used codes.
  ``POST /reset`` restores the hotel file's codes. Both answer like ``GET /codes``.
- ``POST /reservations/{conf}/charges`` ``{"code", "amount"}`` (optional ``"reference"``): the
  front desk charges an in-house guest's folio (a room night, a minibar), booked like a room
  posting on the code's sales outlet; 201 and the folio.
- ``POST /night-audit/start``, ``POST /night-audit/end``: NS / NE on the link; the end rolls
  the business date.
- ``GET /faults``, ``PUT /faults`` (the knobs to change; see ``simulators.faults``): every knob.
- ``POST /reset``: the hotel file's reservations, folios, business date and faults again.
- ``GET /accounts``, ``GET /accounts/{number}``: A/R accounts: ``{"number", "name",
  "currency", "balance" (what it owes), "prepaid" (credit not allocated), "invoices": [{"id",
  "date", "amount", "paid", "remaining"}], "payments": [{"payment_id", "amount",
  "payment_type", "named_invoices", "allocations": [{"invoice", "amount"}], "unmatched",
  "prepaid", "reference", "business_date", "time", "source"}]}``.
- ``GET /trial-balance[?business_date=YYYY-MM-DD|all]`` (default: the current business date):
  totals per code, per payment type, per group, and the net.

Errors are ``{"error": "what is wrong"}`` with 400 (bad request), 404 (unknown reservation or
path), 405 (wrong method), 409 (wrong state: already checked in, audit running ...).
Amounts are integer minor units of the hotel's currency.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Request

from simulators.accounts import UnknownAccount
from simulators.faults import FaultKnobs, Faults, FaultsError
from simulators.ledger import (
    HOUSE_ACCOUNT,
    ROOM,
    CodeGroup,
    CodeKind,
    DuplicateReservation,
    FolioPosting,
    Hotel,
    InvalidRequest,
    InvalidState,
    LedgerError,
    Reservation,
    TransactionCode,
    UnknownReservation,
    UnknownRoom,
)

log = Logger()


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


_LEDGER_STATUS: dict[type[LedgerError], int] = {
    UnknownReservation: 404,
    DuplicateReservation: 409,
    InvalidState: 409,
    UnknownRoom: 400,
    InvalidRequest: 400,
}


def hold_night_audit(hotel: Hotel, faults: Faults) -> None:
    """Make the ``hold_night_audit`` knob true in the hotel: start an audit if none runs."""
    if faults.hold_night_audit and not hotel.night_audit_running:
        hotel.start_night_audit()


class ControlResource(Resource):
    """The whole control API as one leaf resource that routes on method and path."""

    isLeaf = True

    def __init__(
        self,
        hotel: Hotel,
        knobs: FaultKnobs,
        link_status: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.hotel = hotel
        self.knobs = knobs
        self.link_status = link_status or (lambda: {"state": "not running"})
        # What POST /reset restores after PUT/DELETE /codes/{code} changed the code table.
        self._file_config = hotel.config

    # -- dispatch -------------------------------------------------------------------------

    def render(self, request: Request) -> bytes:
        method = request.method.decode("ascii", "replace")
        path = request.path.decode("utf-8", "replace")
        segments = [s for s in path.split("/") if s]
        try:
            status, body = self._route(method, segments, request)
        except HttpError as exc:
            status, body = exc.status, {"error": exc.message}
            for name, value in exc.headers.items():
                request.setHeader(name, value)
        except LedgerError as exc:
            status = _LEDGER_STATUS.get(type(exc), 400)
            body = {"error": str(exc)}
        if status >= 400:
            log.info(
                "control API {method} {path} -> {status}: {error}",
                method=method,
                path=path,
                status=status,
                error=body.get("error"),
            )
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        return json.dumps(body, indent=2).encode("utf-8") + b"\n"

    def _route(
        self, method: str, segments: list[str], request: Request
    ) -> tuple[int, dict[str, Any]]:
        handlers: dict[str, Callable[[], tuple[int, dict[str, Any]]]]
        match segments:
            case ["healthz"]:
                handlers = {"GET": self._healthz}
            case ["reservations"]:
                handlers = {
                    "GET": self._list_reservations,
                    "POST": lambda: self._add_reservation(_json_body(request)),
                }
            case ["reservations", conf]:
                handlers = {"GET": lambda: (200, self._reservation(_conf(conf)))}
            case ["reservations", conf, "check-in"]:
                handlers = {"POST": lambda: self._check_in(_conf(conf), _json_body(request))}
            case ["reservations", conf, "check-out"]:
                handlers = {"POST": lambda: self._check_out(_conf(conf), _json_body(request))}
            case ["reservations", conf, "move"]:
                handlers = {"POST": lambda: self._move(_conf(conf), _json_body(request))}
            case ["reservations", conf, "folio"]:
                handlers = {"GET": lambda: (200, self._folio(_conf(conf)))}
            case ["codes"]:
                handlers = {"GET": self._codes}
            case ["reservations", conf, "charges"]:
                handlers = {"POST": lambda: self._charge(_conf(conf), _json_body(request))}
            case ["codes", code]:
                handlers = {
                    "PUT": lambda: self._put_code(code, _json_body(request)),
                    "DELETE": lambda: self._delete_code(code),
                }
            case ["night-audit", "start"]:
                handlers = {"POST": self._night_audit_start}
            case ["night-audit", "end"]:
                handlers = {"POST": self._night_audit_end}
            case ["faults"]:
                handlers = {
                    "GET": lambda: (200, self.knobs.current.to_json()),
                    "PUT": lambda: self._put_faults(_json_body(request)),
                }
            case ["reset"]:
                handlers = {"POST": self._reset}
            case ["trial-balance"]:
                handlers = {"GET": lambda: self._trial_balance(request)}
            case ["accounts"]:
                handlers = {"GET": self._list_accounts}
            case ["accounts", number]:
                handlers = {"GET": lambda: (200, self._account(number))}
            case _:
                raise HttpError(404, f"no such resource: {method} /{'/'.join(segments)}")
        handler = handlers.get(method)
        if handler is None:
            allowed = ", ".join(sorted(handlers))
            raise HttpError(
                405,
                f"{method} is not allowed on /{'/'.join(segments)}; use {allowed}",
                {"Allow": allowed},
            )
        return handler()

    # -- handlers -------------------------------------------------------------------------

    def _healthz(self) -> tuple[int, dict[str, Any]]:
        return 200, {
            "status": "ok",
            "hotel": self.hotel.config.name,
            "business_date": self.hotel.business_date.isoformat(),
            "night_audit_running": self.hotel.night_audit_running,
            "fias": dict(self.link_status()),
        }

    def _list_reservations(self) -> tuple[int, dict[str, Any]]:
        return 200, {
            "reservations": [
                self._reservation(r.confirmation_number) for r in self.hotel.reservations()
            ]
        }

    def _reservation(self, conf: int) -> dict[str, Any]:
        return self._reservation_json(self.hotel.reservation(conf))

    def _reservation_json(self, r: Reservation) -> dict[str, Any]:
        return {
            "confirmation_number": str(r.confirmation_number),
            "guest_name": r.guest_name,
            "arrival": r.arrival.isoformat(),
            "departure": r.departure.isoformat(),
            "state": r.state.value,
            "room": r.room,
            "no_post": r.no_post,
            "sharers": [
                str(s.confirmation_number) for s in self.hotel.sharers(r.confirmation_number)
            ],
            "balance": self.hotel.balance(r.confirmation_number),
        }

    def _add_reservation(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        _only(
            body, {"confirmation_number", "guest_name", "arrival", "departure", "room", "no_post"}
        )
        conf = body.get("confirmation_number")
        if isinstance(conf, str) and conf.isdigit():
            conf = int(conf)
        if not isinstance(conf, int) or isinstance(conf, bool):
            raise HttpError(400, "confirmation_number: required, digits only (it is the FIAS G#)")
        guest_name = body.get("guest_name")
        if not isinstance(guest_name, str):
            raise HttpError(400, "guest_name: required string")
        arrival = _iso_date(body, "arrival")
        departure = _iso_date(body, "departure")
        room = body.get("room")
        if room is not None and not isinstance(room, str):
            raise HttpError(400, "room: must be a string")
        no_post = body.get("no_post", False)
        if not isinstance(no_post, bool):
            raise HttpError(400, "no_post: must be true or false")
        reservation = self.hotel.add_reservation(
            conf, guest_name, arrival, departure, room=room, no_post=no_post
        )
        return 201, self._reservation_json(reservation)

    def _check_in(self, conf: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        _only(body, {"room"})
        room = body.get("room")
        if room is not None and not isinstance(room, str):
            raise HttpError(400, "room: must be a string")
        return 200, self._reservation_json(self.hotel.check_in(conf, room))

    def _check_out(self, conf: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        _only(body, set())
        return 200, self._reservation_json(self.hotel.check_out(conf))

    def _move(self, conf: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        _only(body, {"room"})
        room = body.get("room")
        if not isinstance(room, str):
            raise HttpError(400, "room: required string, the room to move to")
        return 200, self._reservation_json(self.hotel.move(conf, room))

    def _folio(self, conf: int) -> dict[str, Any]:
        hotel = self.hotel
        lines = hotel.folio(conf)
        totals = hotel.totals(conf)
        return {
            "confirmation_number": str(conf),
            "currency": hotel.config.currency,
            "balance": hotel.balance(conf),
            "lines": [
                {
                    "code": line.code,
                    "amount": line.amount,
                    "payment_type": line.payment_type,
                    "reference": line.reference,
                    "business_date": line.business_date.isoformat(),
                    "time": line.time.isoformat(timespec="seconds"),
                    "source": line.source,
                }
                for line in lines
            ],
            "totals": {
                "revenue": totals.revenue,
                "deposit": totals.deposit,
                "payment": totals.payment,
            },
            "payment_types": hotel.payment_type_totals(conf),
            "invariants": {
                name: {"holds": inv.holds, "detail": inv.detail}
                for name, inv in hotel.invariants(conf).items()
            },
        }

    def _codes(self) -> tuple[int, dict[str, Any]]:
        config = self.hotel.config
        return 200, {
            "codes": {
                code.code: {
                    "description": code.description,
                    "group": code.group.value,
                    "kind": code.kind.value,
                }
                for code in config.codes.values()
            },
            "fias": {
                "sales_outlets": {str(so): code for so, code in config.fias.sales_outlets.items()},
                "payment_methods": dict(config.fias.payment_methods),
            },
        }

    def _charge(self, conf: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        _only(body, {"code", "amount", "reference"})
        code, amount = body.get("code"), body.get("amount")
        if not isinstance(code, str):
            raise HttpError(400, "code: required, the charge's transaction code")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise HttpError(400, "amount: required, a positive integer in minor units")
        reference = body.get("reference", "front desk")
        if not isinstance(reference, str):
            raise HttpError(400, "reference: must be a string")
        fias = self.hotel.config.fias
        outlets = [so for so, c in fias.sales_outlets.items() if c == code]
        if not outlets:
            raise HttpError(400, f"code {code!r} has no sales outlet: not a chargeable code")
        self.hotel.reservation(conf)
        outcome = self.hotel.post(
            FolioPosting(
                payment_method=fias.room_payment_methods[0],
                total_amount=amount,
                sales_outlet=outlets[0],
                confirmation_number=conf,
                reference=reference,
                source="front desk",
            )
        )
        if not outcome.ok:
            raise HttpError(409, outcome.text)
        return 201, self._folio(conf)

    # -- the code table changes under the interface (QA: drift between mapping and PMS) --------

    def _code_on_a_folio(self, code: str) -> bool:
        numbers = [HOUSE_ACCOUNT] + [r.confirmation_number for r in self.hotel.reservations()]
        return any(line.code == code for n in numbers for line in self.hotel.folio(n))

    def _put_code(self, code: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        _only(body, {"description", "group", "kind", "sales_outlet", "payment_method",
                     "rename_from"})  # fmt: skip
        config = self.hotel.config
        codes = dict(config.codes)
        outlets = dict(config.fias.sales_outlets)
        methods = dict(config.fias.payment_methods)
        old_name = body.get("rename_from")
        base = codes.get(code)
        if old_name is not None:
            if not isinstance(old_name, str) or old_name not in codes:
                raise HttpError(404, f"rename_from: no code {old_name!r} to rename")
            if code in codes:
                raise HttpError(409, f"code {code} exists already; cannot rename {old_name} to it")
            if self._code_on_a_folio(old_name):
                raise HttpError(409, f"code {old_name} is on a folio; a PMS cannot rename it")
            base = codes.pop(old_name)
            outlets = {so: (code if c == old_name else c) for so, c in outlets.items()}
            methods = {pm: (code if c == old_name else c) for pm, c in methods.items()}
        elif base is not None and self._code_on_a_folio(code):
            raise HttpError(409, f"code {code} is on a folio; a PMS cannot change it")
        if not code or len(code) > 40 or not code.isprintable() or "/" in code:
            raise HttpError(400, "a code is 1 to 40 printable characters without /")
        try:
            group = CodeGroup(body.get("group", base.group if base else None))
            kind = CodeKind(body.get("kind", base.kind if base else CodeKind.CHARGE))
        except ValueError:
            groups = ", ".join(g.value for g in CodeGroup)
            kinds = ", ".join(k.value for k in CodeKind)
            raise HttpError(400, f"group: one of {groups}; kind: one of {kinds}") from None
        description = body.get("description", base.description if base else code)
        if not isinstance(description, str) or not description:
            raise HttpError(400, "description: must be a non-empty string")
        sales_outlet = body.get("sales_outlet")
        if sales_outlet is not None:
            if kind is not CodeKind.CHARGE:
                raise HttpError(400, "sales_outlet: only a charge code has a sales outlet")
            if isinstance(sales_outlet, bool) or not isinstance(sales_outlet, int) or not (
                0 < sales_outlet < 100000
            ):
                raise HttpError(400, "sales_outlet: a number from 1 to 99999")
            outlets[sales_outlet] = code
        payment_method = body.get("payment_method")
        if payment_method is not None:
            if kind is not CodeKind.PAYMENT_TYPE:
                raise HttpError(400, "payment_method: only a payment type has a payment method")
            if not isinstance(payment_method, str) or not 0 < len(payment_method) <= 5 or (
                methods.get(payment_method) == ROOM
            ):
                raise HttpError(400, "payment_method: 1 to 5 characters, not a room PM")
            methods[payment_method] = code
        codes[code] = TransactionCode(code, description, group, kind)
        self._set_codes(codes, outlets, methods)
        return self._codes()

    def _delete_code(self, code: str) -> tuple[int, dict[str, Any]]:
        config = self.hotel.config
        if code not in config.codes:
            raise HttpError(404, f"no code {code!r}")
        if self._code_on_a_folio(code):
            raise HttpError(409, f"code {code} is on a folio; a PMS cannot remove it")
        codes = {c: t for c, t in config.codes.items() if c != code}
        outlets = {so: c for so, c in config.fias.sales_outlets.items() if c != code}
        methods = {pm: c for pm, c in config.fias.payment_methods.items() if c != code}
        self._set_codes(codes, outlets, methods)
        return self._codes()

    def _set_codes(
        self, codes: dict[str, Any], outlets: dict[int, str], methods: dict[str, str]
    ) -> None:
        config = self.hotel.config
        fias = dataclasses.replace(config.fias, sales_outlets=outlets, payment_methods=methods)
        self.hotel.config = dataclasses.replace(config, codes=codes, fias=fias)
        log.info("control API: the code table now has {codes}", codes=", ".join(sorted(codes)))

    def _night_audit_state(self) -> dict[str, Any]:
        return {
            "business_date": self.hotel.business_date.isoformat(),
            "night_audit_running": self.hotel.night_audit_running,
        }

    def _night_audit_start(self) -> tuple[int, dict[str, Any]]:
        self.hotel.start_night_audit()
        return 200, self._night_audit_state()

    def _night_audit_end(self) -> tuple[int, dict[str, Any]]:
        if self.knobs.current.hold_night_audit and self.hotel.night_audit_running:
            raise HttpError(
                409,
                "the night audit is held open by the fault knob hold_night_audit; "
                'PUT /faults {"hold_night_audit": false} first',
            )
        self.hotel.end_night_audit()
        return 200, self._night_audit_state()

    def _put_faults(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            faults = self.knobs.update(body)
        except FaultsError as exc:
            raise HttpError(400, "; ".join(exc.errors)) from None
        hold_night_audit(self.hotel, faults)
        return 200, faults.to_json()

    def _reset(self) -> tuple[int, dict[str, Any]]:
        self.hotel.config = self._file_config
        self.hotel.reset()
        self.knobs.set(self.hotel.config.faults)
        hold_night_audit(self.hotel, self.knobs.current)
        return 200, {"reset": True, **self._night_audit_state()}

    def _list_accounts(self) -> tuple[int, dict[str, Any]]:
        return 200, {
            "accounts": [account_json(self.hotel, n) for n in self.hotel.accounts.numbers()]
        }

    def _account(self, number: str) -> dict[str, Any]:
        return account_json(self.hotel, number)

    def _trial_balance(self, request: Request) -> tuple[int, dict[str, Any]]:
        raw = request.args.get(b"business_date", [b""])[0].decode("utf-8", "replace")
        business_date: dt.date | None
        if raw == "all":
            business_date = None
        elif raw:
            try:
                business_date = dt.date.fromisoformat(raw)
            except ValueError:
                raise HttpError(
                    400, f"business_date: {raw!r} is neither YYYY-MM-DD nor 'all'"
                ) from None
        else:
            business_date = self.hotel.business_date
        tb = self.hotel.trial_balance(business_date)
        return 200, {
            "business_date": tb.business_date.isoformat() if tb.business_date else None,
            "currency": self.hotel.config.currency,
            "codes": dict(tb.codes),
            "payment_types": dict(tb.payment_types),
            "totals": {
                "revenue": tb.groups.revenue,
                "deposit": tb.groups.deposit,
                "payment": tb.groups.payment,
            },
            "net": tb.net,
        }


def account_json(hotel: Hotel, number: str) -> dict[str, Any]:
    """An A/R account as ``GET /accounts/{number}`` shows it (see the module docstring)."""
    accounts = hotel.accounts
    try:
        account = accounts.account(number)
    except UnknownAccount as exc:
        raise HttpError(404, str(exc)) from None
    paid, remaining = accounts.paid(number), accounts.remaining(number)
    return {
        "number": account.number,
        "name": account.name,
        "currency": hotel.config.currency,
        "balance": accounts.balance(number),
        "prepaid": accounts.prepaid(number),
        "invoices": [
            {
                "id": inv.invoice_id,
                "date": inv.date.isoformat(),
                "amount": inv.amount,
                "paid": paid[inv.invoice_id],
                "remaining": remaining[inv.invoice_id],
            }
            for inv in account.invoices
        ],
        "payments": [
            {
                "payment_id": p.payment_id,
                "amount": p.amount,
                "payment_type": p.payment_type,
                "named_invoices": list(p.named_invoices),
                "allocations": [
                    {"invoice": a.invoice_id, "amount": a.amount} for a in p.allocations
                ],
                "unmatched": list(p.unmatched),
                "prepaid": p.prepaid,
                "reference": p.reference,
                "business_date": p.business_date.isoformat(),
                "time": p.time.isoformat(timespec="seconds"),
                "source": p.source,
            }
            for p in accounts.payments(number)
        ],
    }


def _conf(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 10:
        raise HttpError(404, f"no reservation {raw!r}: a confirmation number is 1 to 10 digits")
    return int(raw)


def _json_body(request: Request) -> dict[str, Any]:
    raw = request.content.read() if request.content is not None else b""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HttpError(400, "request body must be a JSON object")
    return body


def _only(body: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        expected = ", ".join(sorted(allowed)) or "no fields"
        raise HttpError(400, f"unknown field(s) {', '.join(unknown)}; expected {expected}")


def _iso_date(body: Mapping[str, Any], key: str) -> dt.date:
    value = body.get(key)
    if not isinstance(value, str):
        raise HttpError(400, f"{key}: required ISO date like 2026-11-27")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HttpError(400, f"{key}: {value!r} is not an ISO date like 2026-11-27") from None
