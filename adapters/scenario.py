"""Scenario files: a PMS situation QA can write in TOML and replay against the real gateway.

A scenario names a hotel, one property's gateway configuration and ordered steps: payment events,
front-desk actions, faults, waits and expectations. :func:`load_scenario` reads and validates a
file (:class:`ScenarioInvalid` lists every error at once, each with its TOML path);
:func:`run_scenario` runs it against the embedded PMS simulator and the real gateway on
loopback (:class:`adapters.cli.stack.Stack`: real sockets, real HTTP, a real SQLite journal)
and returns a :class:`ScenarioResult`; :func:`format_failure` writes the expected-versus-actual
account with the wire excerpt around it. ``foliogate scenario run FILE...`` is the command.

Like ``foliogate demo``, the runner is a composition root: it wires the gateway
(``adapters``) to the simulators, so it imports ``simulators`` only inside the functions that
run or validate a scenario, never at module level.

The file (every key but ``title`` and ``steps`` is optional)::

    title = "Spa deposit before arrival, check-in, redemption"
    description = "What this scenario proves, for the report."
    tags = ["fias", "journey"]
    check_invariants = true      # after the last step: DESIGN section 3 for every reservation
                                 # the events named (they apply once the guest has departed)

    hotel = "hotels/variant.toml"   # a hotel file, relative to this file ("demo": the
                                    # simulator's demo hotel, the default); or a table:
    [hotel]
    base = "demo"                   # the file the table changes (default "demo")
    allow_negative_amounts = true   # keys of the hotel file's [hotel] table
    [hotel.codes.MANICURE]          # codes, fias, faults, soap: merged into the base's tables
    group = "revenue"
    [[hotel.reservations]]          # added; one with a confirmation number the base has
    confirmation_number = 600001    # replaces that reservation
    guest_name = "Late, Lou"
    arrival = 2026-11-27
    departure = 2026-11-28

    [gateway]
    config = "../examples/gateway.toml"  # relative to this file; default: the shipped example
    property = "GRAND-LONDON"            # default: the configuration's only property
    [gateway.set]                        # merged into [properties.<property>] of the file
    allow_negative = true
    # or, instead of config: [gateway.inline], a whole property table (profile, codes, fias...)

    [run]                            # how fast the run goes (defaults shown)
    answer_timeout_seconds = 2.0     # replaces the property's (0: keep it), unless
                                     # [gateway.set] names answer_timeout_seconds itself
    backoff_initial_seconds = 0.1    # retry backoff after RY or a lost link (jitter is 0)
    backoff_cap_seconds = 0.4
    step_timeout_seconds = 5.0       # default timeout of waits

    [[steps]]                        # one action per step; see STEP_KINDS below
    event = "deposit"
    id = "dep"
    confirmation = "400001"
    amount = 5000

Step kinds (the key that names the step, and its value):

``event = KIND``
    A payment-platform event (DESIGN section 2) POSTed, signed, to the ingest API. KIND:
    ``deposit``, ``balance``, ``order``, ``account``, ``event_settlement`` (``payment.succeeded``
    of that ``payment.kind``), ``redemption`` (``deposit.redeemed``), ``refund``
    (``payment.refunded``), ``pending``, ``failed``. Keys: ``id`` (how later steps name it;
    default ``e<step>``; the event id is ``evt_<id>`` unless ``event_id`` is given),
    ``confirmation``, ``amount`` (integer minor units), ``currency`` (default: the property's),
    ``method`` (default: the first of the property's ``codes.payment_types``), ``items``
    (``[{code, amount, description}]``; a redemption defaults to one item of the property's
    first revenue item code for ``amount``), ``refund_of`` (the ``id`` of the refunded event;
    a refund defaults to its amount, method, kind and booking), ``status`` (default ``Payment
    Success``), ``kind`` (``payment.kind`` of pending/failed), ``guest_name``, ``arrival``,
    ``departure``, ``occurred_at``, ``transaction_id``, ``card_type``, ``card_last4``,
    ``property``, ``body`` (a table merged over the generated JSON), ``remove`` (dotted paths
    taken out of it), ``expect_status`` (HTTP, default 202).
``repeat = ID``
    The event of step ``ID`` sent again (``body``/``remove`` change it); ``expect_status``
    defaults to 200 (the exact repeat) or 409 (a changed body).
``pms = ACTION``
    The front desk, through the simulator's control API: ``create-reservation``
    (``confirmation``, ``guest_name``, ``arrival``, ``departure``, ``room``, ``no_post``),
    ``check-in`` (``confirmation``, ``room``), ``check-out``, ``move`` (``room``), ``charge``
    (``code``, ``amount``: the front desk charges the folio, e.g. a room night),
    ``night-audit-start``, ``night-audit-end``, ``remove-code`` (``code``), ``rename-code``
    (``code``, ``to``). ``expect_error`` (a substring): the PMS must refuse the action.
``faults = {knob = value, ...}``
    Any simulator fault knob (``simulators.faults``), e.g. ``{reject_status = "RY",
    reject_count = 1}``.
``link = "drop" | "down" | "up"``
    ``drop``: the PMS cuts the link (the gateway reconnects by itself; on a SOAP profile the
    next request's connection is cut before it is handled). ``down``: the PMS interface stops
    (the link is cut and refused; a SOAP service stops listening) until ``up``.
``gateway = "restart" | "stop" | "start"``
    The gateway process restarts on the same journal; ``start``/``restart`` wait for the link.
``clock = "advance"``
    The gateway's clock moves ``hours`` (and/or ``minutes``) forward (deposit wait windows).
``operator = "retry" | "resolve"``
    An operator acts on the exception queue over the API: ``of`` (event id), ``leg`` (index;
    default every leg of the event in the queue, or the event itself), ``note``.
``wait = "legs" | "link" | "balance"``
    Until every leg of ``of`` (or leg ``leg``) is in one of ``until`` (default: posted,
    rejected, unknown, resolved); until the link is ``until = "up"`` (default) or ``"down"``;
    until the folio balance after ``of`` was read back. ``timeout`` in seconds.
``expect = WHAT`` (the run stops at the first one that does not hold)
    - ``folio``: ``confirmation``; ``balance``; ``lines`` = ``[{code, amount, payment_type,
      business_date, reference}]`` compared in order on the keys each line gives
      (``payment_type = ""``: a charge line); ``totals`` (revenue, deposit, payment);
      ``payment_types``.
    - ``legs``: ``of``, ``leg`` (one index); ``count``; ``states`` (one for every leg, or one
      per leg); ``reason`` (a substring); ``answer_status``; ``attempts``.
    - ``event``: ``of``; ``status`` (accepted, no-post, exception, resolved); ``outcome``
      (a substring).
    - ``exceptions``: ``entries = [{of, leg, state, reason, by_hand}]`` in queue order (legs
      first, then events a journey could not plan: an entry without ``leg``); or ``count``.
    - ``invariants``: ``confirmation`` (default: every reservation the events named);
      ``departed`` (default true: the guest must have checked out, so they are not vacuous).
    - ``balance``: ``of``, ``balance``: the folio balance the gateway read back.
    - ``wire``: ``of``, ``leg``; ``postings`` (posting requests sent per leg); ``contains``
      (substrings of the leg's outgoing messages).
    - ``trial-balance``: ``business_date`` (or "all", the default); ``codes``,
      ``payment_types``.
    - ``reconciliation`` (``adapters.reconcile``, in UTC): ``date`` (default: the hotel's
      business date); ``reconciled``; ``unreconciled`` (how many captured payments are open);
      ``open`` (the event ids of those payments).

Amounts are integer minor units of the property's currency (5000 = 50.00 GBP), never floats.
The DESIGN section 3 invariants checked after the last step (and by ``expect =
"invariants"``) are the simulator ledger's three (balance 0, deposit group nets 0, revenue
equals the redeemed items) and a fourth the ledger cannot judge alone: each payment type the
platform's methods map to totals, on the folio, the payments whose legs the gateway journaled
as posted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet.defer import inlineCallbacks

from adapters.config import ConfigInvalid, GatewayConfig, Profile, config_from_toml
from adapters.domain import LegState
from adapters.money import format_minor

__all__ = [
    "DEFAULT_CONFIG",
    "DEMO_HOTEL_FILE",
    "EVENT_KINDS",
    "STEP_KINDS",
    "Mismatch",
    "RunSettings",
    "Scenario",
    "ScenarioFailure",
    "ScenarioInvalid",
    "ScenarioResult",
    "Step",
    "StepResult",
    "deep_merge",
    "dumps_toml",
    "format_failure",
    "load_scenario",
    "run_scenario",
    "scenario_from_data",
]

_ROOT = Path(__file__).resolve().parents[1]
#: The shipped gateway configuration a scenario uses unless it names another.
DEFAULT_CONFIG = _ROOT / "examples" / "gateway.toml"
#: The simulator's demo hotel (``hotel = "demo"``), by path: this module never imports it.
DEMO_HOTEL_FILE = _ROOT / "simulators" / "hotels" / "demo.toml"

#: Leg states a wait stops at by default: nothing more happens to these on their own.
SETTLED = ("posted", "rejected", "unknown", "resolved")
LEG_STATES = tuple(state.value for state in LegState)

EVENT_KINDS = {
    "deposit": ("payment.succeeded", "deposit"),
    "balance": ("payment.succeeded", "balance"),
    "order": ("payment.succeeded", "order"),
    "account": ("payment.succeeded", "account"),
    "event_settlement": ("payment.succeeded", "event_settlement"),
    "redemption": ("deposit.redeemed", None),
    "refund": ("payment.refunded", None),
    "pending": ("payment.pending", None),
    "failed": ("payment.failed", None),
}


# ------------------------------------------------------------------------------------------
# Errors and small helpers


class ScenarioInvalid(Exception):
    """A scenario file cannot be run; ``errors`` lists every problem as ``path: what``."""

    def __init__(self, errors: Iterable[str], path: Path | None = None) -> None:
        self.errors = list(errors)
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(
            f"{where}{len(self.errors)} error(s):\n" + "\n".join(f"  - {e}" for e in self.errors)
        )


class _Bad(Exception):
    """One value is wrong; the message says how (the caller adds the path)."""


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``: tables merge key by key, anything else is
    replaced, except ``reservations`` (arrays of tables keyed by ``confirmation_number``: a
    reservation with a number the base has replaces it, others are added)."""
    result = {key: _copy(value) for key, value in base.items()}
    for key, value in over.items():
        old = result.get(key)
        if isinstance(old, dict) and isinstance(value, Mapping):
            result[key] = deep_merge(old, value)
        elif key == "reservations" and isinstance(old, list) and isinstance(value, list):
            merged = list(old)
            for item in value:
                number = str(item.get("confirmation_number")) if isinstance(item, dict) else None
                same = [
                    i
                    for i, o in enumerate(merged)
                    if isinstance(o, dict) and str(o.get("confirmation_number")) == number
                ]
                if same:
                    merged[same[0]] = _copy(item)
                else:
                    merged.append(_copy(item))
            result[key] = merged
        else:
            result[key] = _copy(value)
    return result


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# -- a small TOML writer (tomllib only reads): configurations and generated hotels ----------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("TOML here takes finite floats only")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def dumps_toml(data: Mapping[str, Any]) -> str:
    """``data`` as TOML text that ``tomllib.loads`` reads back equal.

    >>> print(dumps_toml({"a": 1, "t": {"b": "x"}, "r": [{"n": 1}]}), end="")
    a = 1
    <BLANKLINE>
    [t]
    b = "x"
    <BLANKLINE>
    [[r]]
    n = 1
    """
    lines: list[str] = []
    _emit_table(lines, [], data, header=False)
    return "\n".join(lines).lstrip("\n") + "\n"


def _emit_table(lines: list[str], path: list[str], table: Mapping[str, Any], header: bool) -> None:
    dotted = ".".join(_toml_key(str(p)) for p in path)
    plain = [
        (k, v) for k, v in table.items() if not isinstance(v, Mapping) and not _is_table_array(v)
    ]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    arrays = [(k, v) for k, v in table.items() if _is_table_array(v)]
    if header and (plain or not (tables or arrays)):
        lines.append("")
        lines.append(f"[{dotted}]")
    for key, value in plain:
        lines.append(f"{_toml_key(str(key))} = {_toml_value(value)}")
    for key, value in tables:
        _emit_table(lines, [*path, str(key)], value, header=True)
    for key, items in arrays:
        inner = ".".join(_toml_key(str(p)) for p in [*path, str(key)])
        for item in items:
            lines.append("")
            lines.append(f"[[{inner}]]")
            _emit_table(lines, [*path, str(key)], item, header=False)


# ------------------------------------------------------------------------------------------
# The scenario as data


@dataclass(frozen=True)
class RunSettings:
    """How fast a run goes (``[run]``); production values would make a run take minutes."""

    answer_timeout_seconds: float = 2.0  # 0: keep the property's
    backoff_initial_seconds: float = 0.1
    backoff_cap_seconds: float = 0.4
    step_timeout_seconds: float = 5.0


@dataclass(frozen=True)
class Step:
    """One step: ``kind`` (event, pms, expect...), its ``action`` and validated ``params``."""

    number: int  # 1-based
    kind: str
    action: Any
    params: Mapping[str, Any]
    where: str  # its TOML path, e.g. "steps[3]"
    label: str  # one line for people

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario, ready to run (see the module docstring for the file)."""

    title: str
    path: Path | None
    name: str  # the file's stem, or a name given
    description: str
    tags: tuple[str, ...]
    hotel_data: Mapping[str, Any]  # a whole hotel file, decoded (base + changes)
    hotel_label: str
    config_text: str  # the effective gateway configuration (TOML, one property)
    config_dir: Path  # where relative paths in it resolve
    property: str
    profile: Profile
    currency: str
    run: RunSettings
    steps: tuple[Step, ...]
    #: event step id -> the event JSON it sends (ids fixed at load time)
    events: Mapping[str, Mapping[str, Any]]
    check_invariants: bool = True
    config: GatewayConfig | None = field(default=None, compare=False, repr=False)

    def event_id(self, step_id: str) -> str:
        return str(self.events[step_id]["event_id"])


# ------------------------------------------------------------------------------------------
# Loading


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; :class:`ScenarioInvalid` lists every error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioInvalid([f"cannot read the file: {exc.strerror}"], path) from None
    except UnicodeDecodeError:
        raise ScenarioInvalid(["the file is not UTF-8 text"], path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioInvalid([f"not valid TOML: {exc}"], path) from None
    return scenario_from_data(data, base_dir=path.absolute().parent, path=path)


_TOP_KEYS = {"title", "description", "tags", "check_invariants", "hotel", "gateway", "run", "steps"}
_HOTEL_TABLE_KEYS = {"name", "currency", "business_date", "allow_negative_amounts", "rooms"}
_HOTEL_SECTIONS = {"codes", "fias", "reservations", "faults", "soap", "accounts"}
_GATEWAY_KEYS = {"config", "property", "set", "inline"}
_RUN_KEYS = {f.name for f in dataclasses.fields(RunSettings)}


def scenario_from_data(
    data: Mapping[str, Any],
    *,
    base_dir: Path,
    path: Path | None = None,
    name: str | None = None,
) -> Scenario:
    """Validate a decoded scenario; relative paths resolve against ``base_dir``."""
    errors: list[str] = []
    for key in data:
        if key not in _TOP_KEYS:
            errors.append(f"{key}: unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        errors.append("title: required: one line saying what the scenario shows")
        title = ""
    description = data.get("description", "")
    if not isinstance(description, str):
        errors.append("description: must be a string")
        description = ""
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        errors.append('tags: must be a list of strings, e.g. ["fias", "refund"]')
        tags = []
    check_invariants = data.get("check_invariants", True)
    if not isinstance(check_invariants, bool):
        errors.append("check_invariants: must be true or false")
        check_invariants = True

    hotel_data, hotel_label = _hotel(data.get("hotel", "demo"), base_dir, errors)
    config, config_text, config_dir, prop_name = _gateway(data.get("gateway", {}), base_dir, errors)
    run = _run_settings(data.get("run", {}), errors)
    prop = config.properties.get(prop_name) if config is not None else None
    if prop is not None and prop_name:
        sets = (
            data.get("gateway", {}).get("set", {}) if isinstance(data.get("gateway"), dict) else {}
        )
        if isinstance(sets, dict) and "answer_timeout_seconds" in sets:
            run = dataclasses.replace(run, answer_timeout_seconds=0.0)
    steps, events = _steps(data.get("steps"), prop, hotel_data, errors)
    if errors:
        raise ScenarioInvalid(errors, path)
    assert prop is not None and config is not None and config_dir is not None
    return Scenario(
        title=title.strip(),
        path=path,
        name=name or (path.stem if path is not None else "scenario"),
        description=description.strip(),
        tags=tuple(tags),
        hotel_data=hotel_data or {},
        hotel_label=hotel_label,
        config_text=config_text,
        config_dir=config_dir,
        property=prop.name,
        profile=prop.profile,
        currency=prop.currency,
        run=run,
        steps=tuple(steps),
        events=events,
        check_invariants=check_invariants,
        config=config,
    )


def _read_toml(path: Path, where: str, errors: list[str]) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        errors.append(f"{where}: cannot read {path}: {exc.strerror}")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        errors.append(f"{where}: {path} is not valid TOML: {exc}")
    return None


def _resolve(base_dir: Path, name: str) -> Path:
    return DEMO_HOTEL_FILE if name == "demo" else (base_dir / name)


def _hotel(value: Any, base_dir: Path, errors: list[str]) -> tuple[dict[str, Any] | None, str]:
    """(the hotel file's data, a label): a path, "demo", or a table changing a base file."""
    if isinstance(value, str):
        path = _resolve(base_dir, value)
        data = _read_toml(path, "hotel", errors)
        label = "the demo hotel" if value == "demo" else str(value)
    elif isinstance(value, dict):
        base = value.get("base", "demo")
        changes: dict[str, Any] = {}
        hotel_table: dict[str, Any] = {}
        for key, item in value.items():
            if key == "base":
                continue
            if key in _HOTEL_TABLE_KEYS:
                hotel_table[key] = item
            elif key in _HOTEL_SECTIONS:
                changes[key] = item
            else:
                known = sorted(_HOTEL_TABLE_KEYS | _HOTEL_SECTIONS | {"base"})
                errors.append(f"hotel.{key}: unknown key (known: {', '.join(known)})")
        if hotel_table:
            changes["hotel"] = hotel_table
        if not isinstance(base, str):
            errors.append('hotel.base: must be a hotel file path or "demo"')
            return None, "?"
        data = _read_toml(_resolve(base_dir, base), "hotel.base", errors)
        if data is not None:
            data = deep_merge(data, changes)
        what = "the demo hotel" if base == "demo" else base
        label = f"{what} with changes ({', '.join(sorted(changes))})" if changes else what
    else:
        errors.append('hotel: must be a hotel file path, "demo", or a table')
        return None, "?"
    if data is None:
        return None, label
    try:
        from simulators.ledger import HotelConfigError, parse_hotel_config

        parse_hotel_config(data, source="hotel")
    except HotelConfigError as exc:
        errors.extend(f"hotel: {e}" for e in exc.errors)
        return None, label
    return data, label


def _gateway(
    value: Any, base_dir: Path, errors: list[str]
) -> tuple[GatewayConfig | None, str, Path | None, str]:
    """(the validated configuration, its TOML text, its directory, the property's name)."""
    if not isinstance(value, dict):
        errors.append("gateway: must be a table")
        return None, "", None, ""
    for key in value:
        if key not in _GATEWAY_KEYS:
            errors.append(f"gateway.{key}: unknown key (known: {', '.join(sorted(_GATEWAY_KEYS))})")
    changes = value.get("set", {})
    if not isinstance(changes, dict):
        errors.append("gateway.set: must be a table (keys of a property table)")
        changes = {}
    prop_name = value.get("property")
    if prop_name is not None and (not isinstance(prop_name, str) or not prop_name):
        errors.append("gateway.property: must be a property name")
        prop_name = None
    if "inline" in value:
        if "config" in value:
            errors.append("gateway.inline: give either config (a file) or inline, not both")
        inline = value["inline"]
        if not isinstance(inline, dict):
            errors.append("gateway.inline: must be a property table")
            return None, "", None, ""
        prop_name = prop_name or "SCENARIO"
        fallback = {"fias": "tcp:host=127.0.0.1:port=5010"}.get(
            str(inline.get("profile")), "http://127.0.0.1:8080/pms"
        )
        data: dict[str, Any] | None = {
            "sources": {"payments": {"secret_env": "FOLIOGATE_SECRET_PAYMENTS"}},
            "properties": {prop_name: {"endpoint": fallback, **inline}},
        }
        config_dir = base_dir
    else:
        config_name = value.get("config")
        if config_name is not None and not isinstance(config_name, str):
            errors.append("gateway.config: must be a path to a gateway configuration")
            config_name = None
        config_path = base_dir / config_name if config_name else DEFAULT_CONFIG
        data = _read_toml(config_path, "gateway.config", errors)
        config_dir = config_path.absolute().parent
        if data is None:
            return None, "", None, ""
        properties = data.get("properties")
        if not isinstance(properties, dict) or not properties:
            errors.append(f"gateway.config: {config_path} configures no properties")
            return None, "", None, ""
        if prop_name is None:
            if len(properties) > 1:
                errors.append(
                    f"gateway.property: {config_path} has {len(properties)} properties "
                    f"({', '.join(properties)}); name the one to drive"
                )
                return None, "", None, ""
            prop_name = next(iter(properties))
        if prop_name not in properties:
            errors.append(
                f"gateway.property: {prop_name} is not in {config_path} "
                f"(it has {', '.join(properties)})"
            )
            return None, "", None, ""
        # Only the driven property: the others would open links to their real PMSs.
        data = {key: item for key, item in data.items() if key not in ("properties", "console")}
        data["properties"] = {prop_name: properties[prop_name]}
    assert data is not None
    data["properties"][prop_name] = deep_merge(data["properties"][prop_name], changes)
    text = dumps_toml(data)
    try:
        config = config_from_toml(text, base_dir=config_dir)
    except ConfigInvalid as exc:
        errors.extend(f"gateway: {e}" for e in exc.errors)
        return None, text, config_dir, prop_name
    return config, text, config_dir, prop_name


def _run_settings(value: Any, errors: list[str]) -> RunSettings:
    if not isinstance(value, dict):
        errors.append("run: must be a table")
        return RunSettings()
    values: dict[str, float] = {}
    for key, item in value.items():
        if key not in _RUN_KEYS:
            errors.append(f"run.{key}: unknown key (known: {', '.join(sorted(_RUN_KEYS))})")
        elif isinstance(item, bool) or not isinstance(item, (int, float)) or item < 0:
            errors.append(f"run.{key}: must be a number of seconds >= 0")
        else:
            values[key] = float(item)
    return RunSettings(**values)


# -- step validation: the spec is data ------------------------------------------------------


def _v_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad("must be a non-empty string")
    return value


def _v_text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("must be a string")
    return value


def _v_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad("must be a whole number")
    return value


def _v_index(value: Any) -> int:
    if _v_int(value) < 0:
        raise _Bad("must be a leg index >= 0")
    return int(value)


def _v_amount(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad("must be an integer amount in minor units (5000 for 50.00), never a float")
    return value


def _v_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _Bad("must be a number >= 0")
    return float(value)


def _v_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad("must be true or false")
    return value


def _v_conf(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        raise _Bad('must be a confirmation number, e.g. "400001"')
    return str(value)


def _v_date(value: Any) -> str:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise _Bad("must be a date like 2026-11-27")


def _v_strs(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _Bad("must be a string or a list of strings")


def _v_states(value: Any) -> tuple[str, ...]:
    states = _v_strs(value)
    for state in states:
        if state not in LEG_STATES:
            raise _Bad(f"{state!r} is not a leg state ({', '.join(LEG_STATES)})")
    return states


def _v_table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad("must be a table")
    return value


def _v_int_map(value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value.values()
    ):
        raise _Bad("must be a table of name = amount in minor units")
    return {str(k): int(v) for k, v in value.items()}


def _v_tables(keys: Mapping[str, Callable[[Any], Any]], required: Sequence[str] = ()) -> Any:
    def check(value: Any) -> tuple[dict[str, Any], ...]:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _Bad('must be a list of tables, e.g. [{code = "X", amount = 100}]')
        result = []
        for index, item in enumerate(value):
            entry: dict[str, Any] = {}
            for key, sub in item.items():
                if key not in keys:
                    raise _Bad(f"[{index}].{key}: unknown key (known: {', '.join(keys)})")
                try:
                    entry[key] = keys[key](sub)
                except _Bad as exc:
                    raise _Bad(f"[{index}].{key}: {exc}") from None
            for key in required:
                if key not in entry:
                    raise _Bad(f"[{index}]: {key} is required")
            result.append(entry)
        return tuple(result)

    return check


def _v_payment_type(value: Any) -> str:
    return _v_text(value)  # "" = a charge line (no payment type)


_V_ITEMS = _v_tables(
    {"code": _v_str, "amount": _v_amount, "description": _v_text}, required=("code", "amount")
)
_V_LINES = _v_tables(
    {
        "code": _v_str,
        "amount": _v_amount,
        "payment_type": _v_payment_type,
        "business_date": _v_date,
        "reference": _v_text,
    }
)
_V_ENTRIES = _v_tables(
    {"of": _v_str, "leg": _v_index, "state": _v_str, "reason": _v_text, "by_hand": _v_bool},
    required=("of",),
)

_NOTE = {"note": _v_text}
_EVENT_PARAMS: dict[str, Callable[[Any], Any]] = {
    "id": _v_str,
    "event_id": _v_str,
    "confirmation": _v_conf,
    "amount": _v_amount,
    "currency": _v_str,
    "method": _v_str,
    "items": _V_ITEMS,
    "refund_of": _v_str,
    "status": _v_text,
    "kind": _v_str,
    "guest_name": _v_text,
    "arrival": _v_date,
    "departure": _v_date,
    "occurred_at": _v_str,
    "transaction_id": _v_str,
    "card_type": _v_str,
    "card_last4": _v_str,
    "property": _v_str,
    "body": _v_table,
    "remove": _v_strs,
    "expect_status": _v_int,
    **_NOTE,
}
_PMS_PARAMS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "create-reservation": {
        "confirmation": _v_conf,
        "guest_name": _v_str,
        "arrival": _v_date,
        "departure": _v_date,
        "room": _v_str,
        "no_post": _v_bool,
    },
    "check-in": {"confirmation": _v_conf, "room": _v_str},
    "check-out": {"confirmation": _v_conf},
    "move": {"confirmation": _v_conf, "room": _v_str},
    "charge": {"confirmation": _v_conf, "code": _v_str, "amount": _v_amount, "reference": _v_text},
    "night-audit-start": {},
    "night-audit-end": {},
    "remove-code": {"code": _v_str},
    "rename-code": {"code": _v_str, "to": _v_str},
}
_PMS_REQUIRED = {
    "create-reservation": ("confirmation", "guest_name", "arrival", "departure"),
    "check-in": ("confirmation",),
    "check-out": ("confirmation",),
    "move": ("confirmation", "room"),
    "charge": ("confirmation", "code", "amount"),
    "remove-code": ("code",),
    "rename-code": ("code", "to"),
}
_WAIT_PARAMS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "legs": {"of": _v_str, "leg": _v_index, "until": _v_states, "timeout": _v_number},
    "link": {"until": _v_str, "timeout": _v_number},
    "balance": {"of": _v_str, "timeout": _v_number},
}
_EXPECT_PARAMS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "folio": {
        "confirmation": _v_conf,
        "balance": _v_amount,
        "lines": _V_LINES,
        "totals": _v_int_map,
        "payment_types": _v_int_map,
    },
    "legs": {
        "of": _v_str,
        "leg": _v_index,
        "count": _v_int,
        "states": _v_states,
        "reason": _v_text,
        "answer_status": _v_str,
        "attempts": _v_int,
    },
    "event": {"of": _v_str, "status": _v_str, "outcome": _v_text},
    "exceptions": {"entries": _V_ENTRIES, "count": _v_int},
    "invariants": {"confirmation": _v_strs, "departed": _v_bool},
    "balance": {"of": _v_str, "balance": _v_amount},
    "wire": {"of": _v_str, "leg": _v_index, "postings": _v_int, "contains": _v_strs},
    "trial-balance": {"business_date": _v_str, "codes": _v_int_map, "payment_types": _v_int_map},
    "reconciliation": {
        "date": _v_date,
        "reconciled": _v_bool,
        "unreconciled": _v_int,
        "open": _v_strs,
    },
}
_EXPECT_REQUIRED = {
    "folio": ("confirmation",),
    "legs": ("of",),
    "event": ("of",),
    "balance": ("of", "balance"),
    "wire": ("of",),
}
_WAIT_REQUIRED = {"legs": ("of",), "balance": ("of",)}

#: Step kind -> (what its value may be, and the keys beside it).
STEP_KINDS: Mapping[str, str] = {
    "event": "a payment event: " + ", ".join(EVENT_KINDS),
    "repeat": "the id of an earlier event step, sent again",
    "pms": "a front-desk action: " + ", ".join(_PMS_PARAMS),
    "faults": "a table of simulator fault knobs",
    "link": "drop, down or up",
    "gateway": "restart, stop or start",
    "clock": "advance",
    "operator": "retry or resolve",
    "wait": "legs, link or balance",
    "expect": ", ".join(_EXPECT_PARAMS),
}


class _Context:
    """What step validation needs to know: the property and the events so far."""

    def __init__(self, prop: Any, hotel_data: Mapping[str, Any] | None) -> None:
        self.prop = prop
        self.hotel_data = hotel_data or {}
        self.events: dict[str, dict[str, Any]] = {}
        self.event_ids: set[str] = set()

    @property
    def currency(self) -> str:
        return str(self.prop.currency) if self.prop is not None else "GBP"

    def money(self, amount: int) -> str:
        try:
            return format_minor(amount, self.currency)
        except (KeyError, ValueError):
            return f"{amount} (minor units)"

    def business_date(self) -> str:
        value = self.hotel_data.get("hotel", {}).get("business_date")
        if isinstance(value, dt.date):
            return value.isoformat()
        return str(value or "2026-11-27")


def _steps(
    value: Any, prop: Any, hotel_data: Mapping[str, Any] | None, errors: list[str]
) -> tuple[list[Step], dict[str, dict[str, Any]]]:
    if value is None:
        errors.append("steps: required: at least one [[steps]] table")
        return [], {}
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        errors.append("steps: must be an array of tables ([[steps]])")
        return [], {}
    ctx = _Context(prop, hotel_data)
    steps = []
    for index, table in enumerate(value):
        where = f"steps[{index}]"
        before = len(errors)
        step = _step(index + 1, table, where, ctx, errors)
        if step is not None and len(errors) == before:
            steps.append(step)
    return steps, ctx.events


def _step(
    number: int, table: dict[str, Any], where: str, ctx: _Context, errors: list[str]
) -> Step | None:
    kinds = [k for k in STEP_KINDS if k in table]
    if len(kinds) != 1:
        what = "none" if not kinds else ", ".join(kinds)
        errors.append(
            f"{where}: a step names exactly one of {', '.join(STEP_KINDS)} (it names {what})"
        )
        return None
    kind = kinds[0]
    action = table[kind]
    rest = {k: v for k, v in table.items() if k != kind}
    allowed: Mapping[str, Callable[[Any], Any]]
    required: Sequence[str] = ()
    if kind == "event":
        if action not in EVENT_KINDS:
            errors.append(f"{where}.event: {action!r} is not one of {', '.join(EVENT_KINDS)}")
            return None
        allowed = _EVENT_PARAMS
    elif kind == "repeat":
        allowed = {"body": _v_table, "remove": _v_strs, "expect_status": _v_int, **_NOTE}
    elif kind == "pms":
        if action not in _PMS_PARAMS:
            errors.append(f"{where}.pms: {action!r} is not one of {', '.join(_PMS_PARAMS)}")
            return None
        allowed = {**_PMS_PARAMS[action], "expect_error": _v_text, **_NOTE}
        required = _PMS_REQUIRED.get(action, ())
    elif kind == "faults":
        if not isinstance(action, dict) or not action:
            errors.append(
                f"{where}.faults: must be a table of fault knobs, e.g. "
                '{reject_status = "RY", reject_count = 1}'
            )
            return None
        from simulators.faults import FaultsError, parse_faults

        try:
            parse_faults(action)
        except FaultsError as exc:
            errors.extend(f"{where}.faults.{e}" for e in exc.errors)
            return None
        allowed = _NOTE
    elif kind in ("link", "gateway", "clock", "operator"):
        choices = {
            "link": ("drop", "down", "up"),
            "gateway": ("restart", "stop", "start"),
            "clock": ("advance",),
            "operator": ("retry", "resolve"),
        }[kind]
        if action not in choices:
            errors.append(f"{where}.{kind}: {action!r} is not one of {', '.join(choices)}")
            return None
        allowed = {
            "clock": {"hours": _v_number, "minutes": _v_number, **_NOTE},
            "operator": {"of": _v_str, "leg": _v_index, "note": _v_str, "operator": _v_str},
        }.get(kind, _NOTE)
        required = {"operator": ("of",)}.get(kind, ())
    elif kind == "wait":
        if action not in _WAIT_PARAMS:
            errors.append(f"{where}.wait: {action!r} is not one of {', '.join(_WAIT_PARAMS)}")
            return None
        allowed = {**_WAIT_PARAMS[action], **_NOTE}
        required = _WAIT_REQUIRED.get(action, ())
    else:  # expect
        if action not in _EXPECT_PARAMS:
            errors.append(f"{where}.expect: {action!r} is not one of {', '.join(_EXPECT_PARAMS)}")
            return None
        allowed = {**_EXPECT_PARAMS[action], **_NOTE}
        required = _EXPECT_REQUIRED.get(action, ())
    params: dict[str, Any] = {}
    ok = True
    for key, item in rest.items():
        if key not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            errors.append(f"{where}.{key}: unknown key for {kind} = {action!r} (known: {known})")
            ok = False
            continue
        try:
            params[key] = allowed[key](item)
        except _Bad as exc:
            errors.append(f"{where}.{key}: {exc}")
            ok = False
    for key in required:
        if key not in params and key not in rest:
            errors.append(f"{where}: {kind} = {action!r} needs {key}")
            ok = False
    for key in ("of",):
        if key in params and params[key] not in ctx.events:
            errors.append(
                f"{where}.{key}: {params[key]!r} names no earlier event step "
                f"(ids so far: {', '.join(ctx.events) or 'none'})"
            )
            ok = False
    for entry_index, entry in enumerate(params.get("entries", ())):
        if entry["of"] not in ctx.events:
            errors.append(
                f"{where}.entries[{entry_index}].of: {entry['of']!r} names no earlier event step"
            )
            ok = False
    if kind == "clock" and not (params.get("hours") or params.get("minutes")):
        errors.append(f'{where}: clock = "advance" needs hours or minutes')
        ok = False
    if kind == "wait" and action == "link" and params.get("until", "up") not in ("up", "down"):
        errors.append(f'{where}.until: the link is waited for until "up" or "down"')
        ok = False
    if not ok:
        return None
    if kind == "event":
        label = _event_step(number, action, params, where, ctx, errors)
        if label is None:
            return None
    elif kind == "repeat":
        if action not in ctx.events:
            errors.append(f"{where}.repeat: {action!r} names no earlier event step")
            return None
        label = f"the event {action} sent again" + (
            " with changes" if "body" in params or "remove" in params else ""
        )
    else:
        label = _label(kind, action, params, ctx)
    return Step(number, kind, action, params, where, label)


def _event_step(
    number: int,
    kind: str,
    p: dict[str, Any],
    where: str,
    ctx: _Context,
    errors: list[str],
) -> str | None:
    """Build the event JSON of an event step (kept in ``ctx.events``); returns its label."""
    prop = ctx.prop
    sid = p.get("id", f"e{number}")
    if sid in ctx.events:
        errors.append(f"{where}.id: {sid!r} names an earlier event step already")
        return None
    event_id = p.get("event_id", f"evt_{sid}")
    event_type, payment_kind = EVENT_KINDS[kind]
    original: dict[str, Any] | None = None
    if kind == "refund":
        if "refund_of" not in p:
            errors.append(f"{where}: a refund needs refund_of (the id of the refunded event)")
            return None
        if p["refund_of"] not in ctx.events:
            errors.append(f"{where}.refund_of: {p['refund_of']!r} names no earlier event step")
            return None
        original = ctx.events[p["refund_of"]]
    elif "refund_of" in p:
        errors.append(f"{where}.refund_of: only a refund refunds an event")
        return None
    booking = dict(original.get("booking", {})) if original else {}
    if "confirmation" in p:
        booking["confirmation_number"] = p["confirmation"]
    if "confirmation_number" not in booking:
        errors.append(f"{where}: {kind} needs confirmation (the PMS record it is for)")
        return None
    for key in ("guest_name", "arrival", "departure"):
        if key in p:
            booking[key] = p[key]
    methods = list(prop.codes.payment_types) if prop is not None else []
    revenue = list(prop.codes.revenue) if prop is not None else []
    items = [dict(i) for i in p.get("items", ())]
    occurred = p.get(
        "occurred_at", f"{ctx.business_date()}T{10 + number // 60:02d}:{number % 60:02d}:00Z"
    )
    event: dict[str, Any] = {
        "event_id": event_id,
        "type": event_type,
        "property": p.get("property", prop.name if prop is not None else ""),
        "occurred_at": occurred,
    }
    amount = p.get("amount")
    if kind == "redemption":
        if not items:
            if amount is None or not revenue:
                errors.append(
                    f"{where}: a redemption needs items (or amount, and a revenue "
                    "item code in the configuration)"
                )
                return None
            items = [{"code": revenue[0], "description": revenue[0], "amount": amount}]
        if amount is not None and "method" in p:
            event["payment"] = _payment(p, "deposit", amount, ctx, methods, event_id)
        label_amount = sum(int(i["amount"]) for i in items)
    else:
        if original is not None:
            orig_payment = original.get("payment", {})
            amount = orig_payment.get("amount") if amount is None else amount
            payment_kind = orig_payment.get("kind", "balance")
            p = {"method": orig_payment.get("method"), **p}
            event["refund_of"] = original["event_id"]
        if kind in ("pending", "failed"):
            payment_kind = p.get("kind", "balance")
            p = {"status": "Payment Pending" if kind == "pending" else "Payment Failed", **p}
        if amount is None:
            if kind == "order" and items:
                amount = sum(int(i["amount"]) for i in items)
            else:
                errors.append(f"{where}: {kind} needs amount (integer minor units)")
                return None
        event["payment"] = _payment(p, str(payment_kind), amount, ctx, methods, event_id)
        label_amount = amount
    event["booking"] = booking
    if items:
        event["items"] = items
    event = deep_merge(event, p.get("body", {}))
    for dotted in p.get("remove", ()):
        _remove(event, dotted)
    ctx.events[sid] = event
    if event_id in ctx.event_ids:
        errors.append(f"{where}.event_id: {event_id} is used by an earlier step (use repeat)")
        return None
    ctx.event_ids.add(event_id)
    what = f"{kind} {ctx.money(label_amount)}"
    if original is not None:
        what += f" of {p['refund_of']}"
    return f"{what} for {booking['confirmation_number']} ({sid})"


def _payment(
    p: Mapping[str, Any], kind: str, amount: int, ctx: _Context, methods: list[str], event_id: str
) -> dict[str, Any]:
    prefix = "re" if "refund_of" in p else "pi"
    return {
        "kind": kind,
        "amount": amount,
        "currency": p.get("currency", ctx.currency),
        "transaction_id": p.get("transaction_id", f"{prefix}_{event_id}"),
        "method": p.get("method") or (methods[0] if methods else "onejourney"),
        "card_type": p.get("card_type", "VISA"),
        "card_last4": p.get("card_last4", "4242"),
        "status": p.get("status", "Payment Success"),
    }


def _remove(event: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    node: Any = event
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def _label(kind: str, action: Any, p: Mapping[str, Any], ctx: _Context) -> str:
    if kind == "pms":
        conf = p.get("confirmation", "")
        text = {
            "create-reservation": f"PMS: new reservation {conf} for {p.get('guest_name')}",
            "check-in": f"PMS: {conf} checks in" + (f" to room {p['room']}" if "room" in p else ""),
            "check-out": f"PMS: {conf} checks out",
            "move": f"PMS: {conf} moves to room {p.get('room')}",
            "charge": f"PMS: front desk charges {p.get('code')} {ctx.money(p.get('amount', 0))} "
            f"to {conf}",
            "night-audit-start": "PMS: night audit starts (NS)",
            "night-audit-end": "PMS: night audit ends (NE), the business date rolls",
            "remove-code": f"PMS: code {p.get('code')} removed",
            "rename-code": f"PMS: code {p.get('code')} renamed to {p.get('to')}",
        }[action]
        return text + (f" (must fail: {p['expect_error']})" if "expect_error" in p else "")
    if kind == "faults":
        return "faults: " + ", ".join(f"{k}={v}" for k, v in action.items())
    if kind == "link":
        return {
            "drop": "PMS drops the link",
            "down": "PMS interface goes down",
            "up": "PMS interface comes back up",
        }[action]
    if kind == "gateway":
        return f"gateway {action}"
    if kind == "clock":
        parts = [f"{p[k]:g} {k}" for k in ("hours", "minutes") if k in p]
        return "gateway clock advances " + " ".join(parts)
    if kind == "operator":
        leg = f" leg {p['leg']}" if "leg" in p else ""
        return f"operator {action}s {p['of']}{leg}"
    if kind == "wait":
        timeout = f" (up to {p['timeout']:g} s)" if "timeout" in p else ""
        if action == "legs":
            which = (
                f"leg {p['leg']} of {p['of']} is" if "leg" in p else f"the legs of {p['of']} are"
            )
            until = " or ".join(p.get("until", ("settled",)))
            return f"wait until {which} {until}{timeout}"
        if action == "link":
            return f"wait until the link is {p.get('until', 'up')}{timeout}"
        return f"wait for the balance read-back after {p['of']}{timeout}"
    # expect
    target = p.get("confirmation") or p.get("of") or ""
    if isinstance(target, tuple):
        target = ", ".join(target)
    return f"expect {action}" + (f" of {target}" if target else "")


# ------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Mismatch:
    """One expectation that does not hold: what, expected, actual (texts for people)."""

    what: str
    expected: str
    actual: str


@dataclass
class StepResult:
    number: int
    kind: str
    label: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ScenarioFailure:
    """Why a run stopped: the step, expected versus actual, and the wire excerpt around it."""

    step: int | None  # None: setup or the final invariant check
    title: str
    mismatches: list[Mismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wire: list[str] = field(default_factory=list)


@dataclass
class FolioView:
    """A reservation's folio at the end of a run, as the simulator's ledger has it."""

    confirmation_number: str
    state: str
    room: str | None
    currency: str
    balance: int
    lines: list[dict[str, Any]]
    totals: dict[str, int]
    payment_types: dict[str, int]
    invariants: dict[str, tuple[bool, str]]


@dataclass
class ScenarioResult:
    scenario: Scenario
    ok: bool
    steps: list[StepResult]
    failure: ScenarioFailure | None = None
    folios: list[FolioView] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    #: event step id -> its legs at the end: {leg, state, reason, answer_status, attempts}
    legs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: event step id -> its wire log, one readable line per message
    wire: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0


class _StepFailed(Exception):
    def __init__(
        self,
        title: str,
        mismatches: Sequence[Mismatch] = (),
        notes: Sequence[str] = (),
        leg_ids: Iterable[int] | None = None,
    ) -> None:
        super().__init__(title)
        self.title = title
        self.mismatches = list(mismatches)
        self.notes = list(notes)
        self.leg_ids = None if leg_ids is None else set(leg_ids)


def format_failure(result: ScenarioResult) -> str:
    """The account of a failed run: the step, expected versus actual, the wire excerpt."""
    failure = result.failure
    if failure is None:
        return ""
    scenario = result.scenario
    where = f"{scenario.path}" if scenario.path else scenario.name
    if failure.step is not None:
        step = scenario.steps[failure.step - 1]
        head = f"FAILED {where}, step {failure.step} ({step.where}: {step.label})"
    else:
        head = f"FAILED {where}"
    lines = [head, f"  {failure.title}"]
    if failure.mismatches:
        width = max(len(m.what) for m in failure.mismatches)
        for m in failure.mismatches:
            expected = m.expected.splitlines() or [""]
            actual = m.actual.splitlines() or [""]
            lines.append(f"  {m.what:<{width}}  expected: {expected[0]}")
            lines.extend(f"  {'':<{width}}            {x}" for x in expected[1:])
            lines.append(f"  {'':<{width}}  actual:   {actual[0]}")
            lines.extend(f"  {'':<{width}}            {x}" for x in actual[1:])
    lines.extend(f"  {note}" for note in failure.notes)
    if failure.wire:
        lines.append("  wire log around it (gateway journal, oldest first):")
        lines.extend(f"    {w}" for w in failure.wire)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# Reading the wire log for people


def wire_lines(records: Iterable[Any], encoding: str = "cp1252") -> list[str]:
    """One readable line per logged message: time, direction, and the message."""
    out = []
    for record in records:
        stamp = record.time.strftime("%H:%M:%S.%f")[:-3]
        arrow = "gateway -> PMS" if record.direction == "out" else "PMS -> gateway"
        leg = f" leg {record.leg_id}" if record.leg_id is not None else ""
        out.append(
            f"{stamp} {arrow}{leg}: {describe_message(record.raw, record.protocol, encoding)}"
        )
    return out


def describe_message(raw: bytes, protocol: str, encoding: str = "cp1252") -> str:
    """A FIAS frame as ``PR Posting Request  P#3 G#400001 TA5000 ... AS=UR (meaning)``, a SOAP
    envelope as its body's first element and its text (both masked already)."""
    if protocol == "fias":
        from protocols.fias.spec import RECORD_TYPES, answer_status

        text = raw.decode(encoding, "replace")
        fields = [f for f in text.split("|") if f]
        if not fields:
            return repr(text)
        record_type, rest = fields[0], fields[1:]
        spec = RECORD_TYPES.get(record_type)
        title = f"{record_type} {spec.name}" if spec is not None else record_type
        shown = []
        for item in rest:
            shown.append(item)
            if item.startswith("AS") and len(item) > 2:
                try:
                    status = answer_status(item[2:])
                    shown[-1] = f"{item} ({status.meaning}; {status.retry_class.value})"
                except (KeyError, ValueError):
                    pass
        return f"{title}: {' '.join(shown)}"
    return f"{protocol} {_describe_envelope(raw)}"


def _describe_envelope(raw: bytes, limit: int = 600) -> str:
    """``Operation: Field=value ...`` from the envelope's body (leaf elements and attributes)."""
    try:
        from protocols.soap.safexml import parse_xml

        root = parse_xml(raw)
    except Exception:  # not XML (an HTTP 500 text, a cut body): show it as text
        text = re.sub(r"\s+", " ", raw.decode("utf-8", "replace")).strip()
        return text[:limit] + ("..." if len(text) > limit else "")
    body = next((el for el in root.iter() if _local(el.tag) == "Body"), root)
    children = [child for child in body if isinstance(child.tag, str)]
    if not children:
        return "(empty body)"
    operation = children[0]
    fields = []
    for element in operation.iter():
        if not isinstance(element.tag, str):
            continue
        name = _local(element.tag)
        for key, value in element.attrib.items():
            fields.append(f"{name}@{_local(key)}={value}")
        text = (element.text or "").strip()
        if text and len(element) == 0:
            fields.append(f"{name}={text}")
    line = f"{_local(operation.tag)}: {' '.join(fields)}"
    return line[:limit] + ("..." if len(line) > limit else "")


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


# ------------------------------------------------------------------------------------------
# Running


def run_scenario(
    reactor: Any,
    scenario: Scenario,
    workdir: Path,
    progress: Callable[[str], None] | None = None,
) -> Any:
    """Run ``scenario`` in ``workdir`` (journal, configuration); fires with its
    :class:`ScenarioResult` (a failed expectation is a result, not an error)."""
    return _Run(reactor, scenario, Path(workdir), progress or (lambda text: None)).run()


class _Run:
    def __init__(
        self, reactor: Any, scenario: Scenario, workdir: Path, progress: Callable[[str], None]
    ) -> None:
        self.reactor = reactor
        self.scenario = scenario
        self.workdir = workdir
        self.say = progress
        self.offset = dt.timedelta(0)
        self.stack: Any = None
        self.down_port: int | None = None
        self._soap_site: Any = None  # a SOAP service's site while its port is down
        self.http: dict[str, int] = {}

    # -- the run ------------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    @inlineCallbacks
    def run(self) -> Any:
        from adapters.cli.stack import Stack
        from adapters.dispatcher import Backoff
        from simulators.ledger import parse_hotel_config

        scenario = self.scenario
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for stale in self.workdir.glob("journal.sqlite*"):
            stale.unlink()  # every run starts from an empty journal (a re-run in the same dir)
        config_path = self.workdir / "gateway.toml"
        config_path.write_text(scenario.config_text, encoding="utf-8")
        hotel = parse_hotel_config(scenario.hotel_data, source=scenario.hotel_label)
        run = scenario.run
        sources = list(scenario.config.sources) if scenario.config is not None else ["payments"]
        self.stack = Stack(
            self.reactor,
            self.workdir,
            hotel=hotel,
            config_path=config_path,
            source=sources[0],
            now=self.now,
            configure=self._configure,
            soap_profiles=() if scenario.profile is Profile.FIAS else (scenario.profile.value,),
            gateway_options={
                "jitter": lambda: 0.0,
                "backoff": Backoff(
                    initial=run.backoff_initial_seconds or 0.1,
                    factor=2.0,
                    cap=max(run.backoff_cap_seconds, run.backoff_initial_seconds),
                    spread=0.0,
                ),
            },
        )
        results: list[StepResult] = []
        failure: ScenarioFailure | None = None
        try:
            try:
                yield self.stack.start()
                self._quicken()
                yield self._wait_link(True, run.step_timeout_seconds)
            except Exception as exc:
                failure = ScenarioFailure(None, f"could not start the stack: {exc}")
            for step in scenario.steps if failure is None else ():
                t0 = time.monotonic()
                try:
                    detail = yield getattr(self, "_" + step.kind)(step)
                except _StepFailed as exc:
                    wire = self._wire_excerpt(exc.leg_ids)
                    failure = ScenarioFailure(
                        step.number, exc.title, exc.mismatches, exc.notes, wire
                    )
                    results.append(
                        StepResult(
                            step.number,
                            step.kind,
                            step.label,
                            False,
                            exc.title,
                            time.monotonic() - t0,
                        )
                    )
                except Exception as exc:  # a broken stack, not a broken expectation
                    failure = ScenarioFailure(
                        step.number, f"{type(exc).__name__}: {exc}", wire=self._wire_excerpt(None)
                    )
                    results.append(
                        StepResult(
                            step.number,
                            step.kind,
                            step.label,
                            False,
                            str(exc),
                            time.monotonic() - t0,
                        )
                    )
                else:
                    results.append(
                        StepResult(
                            step.number,
                            step.kind,
                            step.label,
                            True,
                            detail or "",
                            time.monotonic() - t0,
                        )
                    )
                self._report_step(results[-1])
                if failure is not None:
                    break
            folios: list[FolioView] = []
            if self.stack.sim is not None:
                folios = yield self._folios()
            if failure is None and scenario.check_invariants:
                failure = self._final_invariants(folios)
                if failure is not None:
                    self.say(f"  invariants after the last step: FAILED: {failure.title}")
            result = ScenarioResult(scenario, failure is None, results, failure, folios)
            if self.stack.gateway is not None:
                self._collect(result)
        finally:
            yield self.stack.stop()
        result.seconds = time.monotonic() - started
        return result

    def _quicken(self) -> None:
        """A SOAP channel holds an unreachable endpoint for a while before trying it again
        (5 s in production); a run uses the backoff cap instead, so link steps stay fast."""
        runtime = self.runtime()
        channel = getattr(runtime, "link", None)
        if self.scenario.profile is not Profile.FIAS and hasattr(channel, "endpoint_retry_seconds"):
            channel.endpoint_retry_seconds = max(
                self.scenario.run.backoff_cap_seconds, self.scenario.run.backoff_initial_seconds
            )

    def _configure(self, config: GatewayConfig) -> GatewayConfig:
        timeout = self.scenario.run.answer_timeout_seconds
        if not timeout:
            return config
        properties = {
            name: dataclasses.replace(prop, answer_timeout_seconds=timeout)
            for name, prop in config.properties.items()
        }
        return dataclasses.replace(config, properties=properties)

    def _report_step(self, result: StepResult) -> None:
        total = len(self.scenario.steps)
        mark = "ok" if result.ok else "FAILED"
        detail = f": {result.detail}" if result.detail else ""
        self.say(f"  [{result.number:>2}/{total}] {result.label} ... {mark}{detail}")

    # -- helpers --------------------------------------------------------------------------------

    @property
    def journal(self) -> Any:
        return self.stack.journal

    def money(self, amount: int | None) -> str:
        if amount is None:
            return "(none)"
        return format_minor(int(amount), self.scenario.currency)

    def event_id(self, sid: str) -> str:
        return self.scenario.event_id(sid)

    def sid_of(self, event_id: str) -> str:
        for sid, event in self.scenario.events.items():
            if event["event_id"] == event_id:
                return sid
        return event_id

    def legs(self, sid: str) -> tuple[Any, ...]:
        record = self.journal.event(self.event_id(sid))
        return () if record is None else tuple(record.legs)

    def leg_ids(self, sid: str) -> list[int]:
        return [leg.leg_id for leg in self.legs(sid)]

    def runtime(self) -> Any:
        gateway = self.stack.gateway
        return None if gateway is None else gateway.properties.get(self.scenario.property)

    def link_up(self) -> bool:
        runtime = self.runtime()
        if runtime is None:
            return False
        if self.scenario.profile is not Profile.FIAS:  # a SOAP channel: up when it can post
            return bool(runtime.link.status.can_post)
        return (
            bool(runtime.link.status.can_post)
            and self.journal.guests(self.scenario.property) is not None
        )

    def _wait_link(self, up: bool, timeout: float) -> Any:
        what = "the PMS link to be alive" if up else "the PMS link to be down"
        return self.stack.wait_for(lambda: self.link_up() == up, what, timeout)

    def describe_leg(self, leg: Any) -> str:
        plan = leg.plan
        parts = []
        if plan.transaction_code:
            parts.append(plan.transaction_code)
        if plan.payment_type:
            parts.append(
                f"settled by {plan.payment_type}"
                if plan.transaction_code
                else f"payment {plan.payment_type}"
            )
        text = (
            f"leg {leg.leg_index} ({' '.join(parts)} {self.money(plan.amount)}): {leg.state.value}"
        )
        if leg.answer_status:
            text += f", AS {leg.answer_status}"
        if leg.reason:
            text += f", {leg.reason}"
        return text

    def _wire_excerpt(self, leg_ids: set[int] | None, limit: int = 14) -> list[str]:
        gateway = self.stack.gateway if self.stack is not None else None
        if gateway is None or gateway.journal is None:
            return []
        journal = gateway.journal
        try:
            records = journal.wire_log(property=self.scenario.property)
        except Exception:  # the journal is closed: nothing to show
            return []
        if leg_ids:
            ids = set(leg_ids)
            positions = [i for i, r in enumerate(records) if r.leg_id in ids]
            if positions:
                # The leg's messages and what came between them (answers, GI/GO, NS/NE).
                records = records[max(0, positions[0] - 2) : positions[-1] + 3]
        lines = wire_lines(records[-limit:] if len(records) > limit else records)
        if len(records) > limit:
            lines.insert(0, f"... {len(records) - limit} earlier message(s) not shown")
        return lines

    # -- steps: the payment platform ------------------------------------------------------------

    @inlineCallbacks
    def _event(self, step: Step) -> Any:
        sid = step.get("id", f"e{step.number}")
        event = self.scenario.events[sid]
        code, answer = yield self.stack.post_event(event)
        self.http[sid] = code
        expected = step.get("expect_status", 202)
        if code != expected:
            raise _StepFailed(
                f"the ingest API answered HTTP {code}",
                [Mismatch("HTTP status", str(expected), f"{code}: {json.dumps(answer)[:600]}")],
                notes=[f"event sent: {json.dumps(event)}"],
            )
        legs = answer.get("legs", []) if isinstance(answer, dict) else []
        status = (
            answer.get("event_status") or answer.get("status") if isinstance(answer, dict) else None
        )
        return f"HTTP {code}, {len(legs)} leg(s)" + (f", {status}" if status else "")

    @inlineCallbacks
    def _repeat(self, step: Step) -> Any:
        event = deep_merge(self.scenario.events[step.action], step.get("body", {}))
        for dotted in step.get("remove", ()):
            _remove(event, dotted)
        changed = event != self.scenario.events[step.action]
        code, answer = yield self.stack.post_event(event)
        expected = step.get("expect_status", 409 if changed else 200)
        if code != expected:
            raise _StepFailed(
                f"the ingest API answered HTTP {code} to the repeated event",
                [Mismatch("HTTP status", str(expected), f"{code}: {json.dumps(answer)[:600]}")],
            )
        return f"HTTP {code}" + (f", {answer.get('status')}" if isinstance(answer, dict) else "")

    # -- steps: the hotel -----------------------------------------------------------------------

    @inlineCallbacks
    def _pms(self, step: Step) -> Any:
        action, p = step.action, step.params
        conf = p.get("confirmation")
        request: tuple[str, str, Any]
        if action == "create-reservation":
            body = {
                k: p[k] for k in ("guest_name", "arrival", "departure", "room", "no_post") if k in p
            }
            request = ("POST", "/reservations", {"confirmation_number": conf, **body})
        elif action in ("check-in", "move"):
            body = {"room": p["room"]} if "room" in p else {}
            request = ("POST", f"/reservations/{conf}/{action}", body)
        elif action == "check-out":
            request = ("POST", f"/reservations/{conf}/check-out", None)
        elif action == "charge":
            body = {k: p[k] for k in ("code", "amount", "reference") if k in p}
            request = ("POST", f"/reservations/{conf}/charges", body)
        elif action == "night-audit-start":
            request = ("POST", "/night-audit/start", None)
        elif action == "night-audit-end":
            request = ("POST", "/night-audit/end", None)
        elif action == "remove-code":
            request = ("DELETE", f"/codes/{p['code']}", None)
        else:  # rename-code
            request = ("PUT", f"/codes/{p['to']}", {"rename_from": p["code"]})
        try:
            answer = yield self.stack.control(*request)
        except RuntimeError as exc:
            if "expect_error" in p and p["expect_error"] in str(exc):
                return f"refused as expected: {exc}"
            raise _StepFailed(
                "the PMS refused the action",
                [
                    Mismatch(
                        "PMS answer",
                        "done"
                        if "expect_error" not in p
                        else f"refused with {p['expect_error']!r}",
                        str(exc),
                    )
                ],
            ) from None
        if "expect_error" in p:
            raise _StepFailed(
                "the PMS did the action",
                [
                    Mismatch(
                        "PMS answer",
                        f"refused with {p['expect_error']!r}",
                        f"done: {json.dumps(answer)[:300]}",
                    )
                ],
            )
        yield self._until_gateway_saw(action, conf, answer)
        if action == "charge":
            return f"folio balance {self.money(answer.get('balance'))}"
        if action.startswith("night-audit"):
            return f"business date {answer.get('business_date')}"
        if isinstance(answer, dict) and "state" in answer:
            return f"{answer.get('state')}" + (
                f", room {answer['room']}" if answer.get("room") else ""
            )
        return ""

    def _until_gateway_saw(self, action: str, conf: str | None, answer: Any) -> Any:
        """Wait until the gateway has the PMS's broadcast of a front-desk action (GI, GO, GC,
        NS, NE) when the link is up: a scenario's next step then starts from what a real
        front desk leaves behind (seconds pass between a check-in and the next payment)."""
        runtime = self.runtime()
        link = getattr(runtime, "link", None)
        if self.scenario.profile is not Profile.FIAS or link is None:
            return _done(None)  # a SOAP PMS tells the gateway nothing: nothing to wait for
        if link.status.state.value != "alive":
            return _done(None)
        if action in ("check-in", "move"):
            room = answer.get("room") if isinstance(answer, dict) else None

            def seen() -> bool:
                return link.room_of(int(conf or 0)) == room

            what = f"the gateway to see {conf} in room {room} (GI/GC)"
        elif action == "check-out":

            def seen() -> bool:
                return link.room_of(int(conf or 0)) is None

            what = f"the gateway to see {conf} check out (GO)"
        elif action in ("night-audit-start", "night-audit-end"):
            running = action == "night-audit-start"

            def seen() -> bool:
                return bool(link.status.night_audit) == running

            what = "the gateway to see " + ("NS" if running else "NE")
        else:
            return _done(None)
        return self.stack.wait_for(seen, what, self.scenario.run.step_timeout_seconds)

    @inlineCallbacks
    def _faults(self, step: Step) -> Any:
        answer = yield self.stack.control("PUT", "/faults", dict(step.action))
        return ", ".join(f"{k}={answer.get(k)}" for k in step.action)

    @inlineCallbacks
    def _link(self, step: Step) -> Any:
        from twisted.internet.endpoints import serverFromString

        sim = self.stack.sim
        if self.scenario.profile is not Profile.FIAS:
            result = yield self._soap_link(step.action)
            return result
        if step.action == "drop":
            sim.fias_factory.disconnect()
            return "connection cut by the PMS"
        if step.action == "down":
            if self.down_port is not None:
                return "down already"
            self.down_port = sim.fias_address[1]
            yield sim.fias_port.stopListening()
            sim.fias_factory.disconnect()
            yield self._wait_link(False, self.scenario.run.step_timeout_seconds)
            return f"port {self.down_port} closed"
        if self.down_port is None:
            return "up already"
        endpoint = f"tcp:port={self.down_port}:interface=127.0.0.1"
        sim.fias_port = yield serverFromString(self.reactor, endpoint).listen(sim.fias_factory)
        self.down_port = None
        return "listening again"

    @inlineCallbacks
    def _soap_link(self, action: str) -> Any:
        """SOAP has no standing connection: ``drop`` cuts the next request's connection before
        the PMS handles it (knob ``drop_requests``); ``down``/``up`` stop and restart the
        PMS's web service on its port."""
        from twisted.internet.endpoints import serverFromString

        sim, profile = self.stack.sim, self.scenario.profile.value
        if action == "drop":
            yield self.stack.control("PUT", "/faults", {"drop_requests": 1})
            return "the next request's connection will be cut"
        port = sim.soap_ports[profile]
        if action == "down":
            if self.down_port is not None:
                return "down already"
            self.down_port = port.getHost().port
            self._soap_site = port.factory
            yield port.stopListening()
            return f"port {self.down_port} closed"
        if self.down_port is None:
            return "up already"
        endpoint = f"tcp:port={self.down_port}:interface=127.0.0.1"
        sim.soap_ports[profile] = yield serverFromString(self.reactor, endpoint).listen(
            self._soap_site
        )
        self.down_port = None
        return "listening again"

    @inlineCallbacks
    def _gateway(self, step: Step) -> Any:
        stack = self.stack
        if step.action in ("stop", "restart") and stack.gateway is not None:
            yield stack.gateway.stop()
            stack.gateway = None
        if step.action in ("start", "restart"):
            if stack.gateway is None:
                yield stack.start_gateway()
                self._quicken()
            yield self._wait_link(True, self.scenario.run.step_timeout_seconds)
        return "the same journal; link alive" if stack.gateway is not None else "stopped"

    def _clock(self, step: Step) -> Any:
        delta = dt.timedelta(hours=step.get("hours", 0.0), minutes=step.get("minutes", 0.0))
        self.offset += delta
        runtime = self.runtime()
        if runtime is not None:
            runtime.dispatcher.wake()
        return _done(f"gateway time is now {self.now():%Y-%m-%d %H:%M} UTC")

    @inlineCallbacks
    def _operator(self, step: Step) -> Any:
        from adapters.api import sign

        sid = step.get("of")
        note = step.get("note", f"scenario {self.scenario.name}, step {step.number}")
        operator = step.get("operator", "qa")
        legs = [leg for leg in self.legs(sid) if leg.state.value in ("rejected", "unknown")]
        if "leg" in step.params:
            legs = [leg for leg in self.legs(sid) if leg.leg_index == step.get("leg")]
        paths = [f"/v1/legs/{leg.leg_id}/{step.action}" for leg in legs]
        record = self.journal.event(self.event_id(sid))
        if (
            step.action == "resolve"
            and "leg" not in step.params
            and record is not None
            and record.status == "exception"
        ):
            # A journey that could not post the event: resolving the event resolves its legs
            # to post by hand with it.
            paths = [f"/v1/events/{record.event_id}/resolve"] + [
                f"/v1/legs/{leg.leg_id}/resolve"
                for leg in legs
                if not self.journal.is_by_hand(leg.leg_id)
            ]
        if not paths:
            raise _StepFailed(
                f"nothing of {sid} is in the exception queue to {step.action}",
                notes=[self.describe_leg(leg) for leg in self.legs(sid)],
            )
        import treq

        done = []
        for path in paths:
            body = json.dumps({"operator": operator, "note": note}).encode()
            t = int(self.reactor.seconds())
            response = yield treq.post(
                self.stack.gateway.api_url + path,
                data=body,
                headers={
                    "Content-Type": ["application/json"],
                    "Foliogate-Signature": [sign(self.stack.secret, body, t)],
                    "Foliogate-Source": [self.stack.source],
                },
            )
            answer = yield response.json()
            if response.code != 200:
                raise _StepFailed(
                    f"the API refused {step.action}",
                    [Mismatch(f"POST {path}", "200", f"{response.code}: {json.dumps(answer)}")],
                )
            done.append(
                ("event " if path.startswith("/v1/events") else "leg ") + path.split("/")[3]
            )
        return f"{step.action} {', '.join(done)}"

    # -- steps: waits ---------------------------------------------------------------------------

    @inlineCallbacks
    def _wait(self, step: Step) -> Any:
        from adapters.cli.stack import StackTimeout

        timeout = step.get("timeout", self.scenario.run.step_timeout_seconds)
        t0 = time.monotonic()
        if step.action == "link":
            up = step.get("until", "up") == "up"
            try:
                yield self._wait_link(up, timeout)
            except StackTimeout as exc:
                raise _StepFailed(str(exc)) from None
            return f"after {time.monotonic() - t0:.2f} s"
        sid = step.get("of")
        if step.action == "balance":
            try:
                yield self.stack.wait_for(
                    lambda: self.journal.balances(self.event_id(sid)),
                    f"the balance read-back after {sid}",
                    timeout,
                )
            except StackTimeout as exc:
                raise _StepFailed(
                    str(exc),
                    notes=[self.describe_leg(x) for x in self.legs(sid)],
                    leg_ids=self.leg_ids(sid),
                ) from None
            (balance,) = self.journal.balances(self.event_id(sid))[-1:]
            return f"balance {self.money(balance.balance)}"
        until = set(step.get("until", SETTLED))
        index = step.get("leg")

        def ready() -> bool:
            legs = [leg for leg in self.legs(sid) if index is None or leg.leg_index == index]
            return bool(legs) and all(leg.state.value in until for leg in legs)

        try:
            yield self.stack.wait_for(ready, f"{sid} to be {'/'.join(sorted(until))}", timeout)
        except StackTimeout:
            legs = self.legs(sid)
            raise _StepFailed(
                f"waited {timeout:g} s for {sid} to be {'/'.join(sorted(until))}",
                [
                    Mismatch(
                        "leg states",
                        "/".join(sorted(until)),
                        ", ".join(leg.state.value for leg in legs) or "(no legs)",
                    )
                ],
                [self.describe_leg(leg) for leg in legs],
                leg_ids=[leg.leg_id for leg in legs],
            ) from None
        legs = [leg for leg in self.legs(sid) if index is None or leg.leg_index == index]
        return ", ".join(leg.state.value for leg in legs) + f" after {time.monotonic() - t0:.2f} s"

    # -- steps: expectations ------------------------------------------------------------------

    def _expect(self, step: Step) -> Any:
        handler = getattr(self, "_expect_" + step.action.replace("-", "_"))
        return handler(step)

    @inlineCallbacks
    def _expect_folio(self, step: Step) -> Any:
        conf = step.get("confirmation")
        folio = yield self.stack.control("GET", f"/reservations/{conf}/folio")
        mismatches: list[Mismatch] = []
        if "balance" in step.params and folio["balance"] != step.get("balance"):
            mismatches.append(
                Mismatch(
                    f"balance of {conf}",
                    self.money(step.get("balance")),
                    self.money(folio["balance"]),
                )
            )
        if "lines" in step.params:
            expected = list(step.get("lines"))
            actual = folio["lines"]
            if not _lines_match(expected, actual):
                mismatches.append(
                    Mismatch(
                        f"lines of {conf}",
                        self._lines_text(expected, True),
                        self._lines_text(actual, False),
                    )
                )
        for key in ("totals", "payment_types"):
            if key in step.params:
                want = step.get(key)
                have = {k: folio[key].get(k, 0) for k in want} if key == "totals" else folio[key]
                if want != have:
                    mismatches.append(
                        Mismatch(
                            f"{key.replace('_', ' ')} of {conf}",
                            self._amounts(want),
                            self._amounts(have),
                        )
                    )
        if mismatches:
            raise _StepFailed(
                f"the folio of {conf} is not as expected",
                mismatches,
                leg_ids=self._legs_of_confirmation(conf),
            )
        return f"balance {self.money(folio['balance'])}, {len(folio['lines'])} line(s)"

    def _legs_of_confirmation(self, conf: str) -> list[int]:
        return [
            leg.leg_id
            for sid in self.scenario.events
            for leg in self.legs(sid)
            if leg.confirmation_number == conf
        ]

    def _amounts(self, values: Mapping[str, int]) -> str:
        return ", ".join(f"{k} {self.money(v)}" for k, v in values.items()) or "(none)"

    def _lines_text(self, lines: Sequence[Mapping[str, Any]], expected: bool) -> str:
        if not lines:
            return "(no lines)"
        out = []
        for n, line in enumerate(lines, start=1):
            parts = [f"{n}. {line.get('code', '(any code)')}"]
            if "amount" in line or not expected:
                parts.append(self.money(line.get("amount")))
            if line.get("payment_type"):
                parts.append(f"payment type {line['payment_type']}")
            if (expected and "business_date" in line) or (
                not expected and line.get("business_date")
            ):
                parts.append(f"business date {line.get('business_date')}")
            if line.get("reference") and (expected or line.get("reference")):
                parts.append(f"ref {line['reference']}")
            out.append(" ".join(parts))
        return "\n".join(out)

    def _expect_legs(self, step: Step) -> Any:
        sid = step.get("of")
        legs = list(self.legs(sid))
        if "leg" in step.params:
            legs = [leg for leg in legs if leg.leg_index == step.get("leg")]
        mismatches: list[Mismatch] = []
        if "count" in step.params and len(legs) != step.get("count"):
            mismatches.append(Mismatch(f"legs of {sid}", str(step.get("count")), str(len(legs))))
        if "states" in step.params:
            want = list(step.get("states"))
            if len(want) == 1 and len(legs) != 1:
                want = want * max(1, len(legs))
            have = [leg.state.value for leg in legs]
            if want != have:
                mismatches.append(
                    Mismatch(f"states of {sid}", ", ".join(want), ", ".join(have) or "(no legs)")
                )
        for key, attr in (("answer_status", "answer_status"), ("attempts", "attempts")):
            if key in step.params:
                have = [getattr(leg, attr) for leg in legs]
                if not have or any(h != step.get(key) for h in have):
                    mismatches.append(
                        Mismatch(
                            f"{key.replace('_', ' ')} of {sid}",
                            str(step.get(key)),
                            ", ".join(str(h) for h in have) or "(no legs)",
                        )
                    )
        if "reason" in step.params:
            reasons = [leg.reason or "" for leg in legs]
            if not reasons or any(step.get("reason") not in r for r in reasons):
                mismatches.append(
                    Mismatch(
                        f"reason of {sid}",
                        f"contains {step.get('reason')!r}",
                        "\n".join(repr(r) for r in reasons) or "(no legs)",
                    )
                )
        if mismatches:
            raise _StepFailed(
                f"the legs of {sid} are not as expected",
                mismatches,
                [self.describe_leg(leg) for leg in self.legs(sid)],
                leg_ids=[leg.leg_id for leg in legs],
            )
        return _done(", ".join(leg.state.value for leg in legs))

    def _expect_event(self, step: Step) -> Any:
        sid = step.get("of")
        record = self.journal.event(self.event_id(sid))
        if record is None:
            raise _StepFailed(
                f"the journal has no event {self.event_id(sid)}",
                notes=[f"HTTP answer was {self.http.get(sid)}"],
            )
        mismatches = []
        if "status" in step.params and record.status.value != step.get("status"):
            mismatches.append(Mismatch(f"status of {sid}", step.get("status"), record.status.value))
        if "outcome" in step.params and step.get("outcome") not in (record.outcome or ""):
            mismatches.append(
                Mismatch(
                    f"outcome of {sid}", f"contains {step.get('outcome')!r}", repr(record.outcome)
                )
            )
        if mismatches:
            raise _StepFailed(
                f"the event {sid} is not as expected",
                mismatches,
                leg_ids=[leg.leg_id for leg in record.legs],
            )
        return _done(f"{record.status.value}" + (f": {record.outcome}" if record.outcome else ""))

    def exception_queue(self) -> list[dict[str, Any]]:
        """The exception queue of the property: legs, then events a journey could not plan."""
        prop = self.scenario.property
        entries = [
            {
                "of": self.sid_of(leg.event_id),
                "leg": leg.leg_index,
                "state": leg.state.value,
                "reason": leg.reason or "",
                "leg_id": leg.leg_id,
                "by_hand": bool(self.journal.is_by_hand(leg.leg_id)),
            }
            for leg in self.journal.exceptions(prop)
        ]
        entries += [
            {
                "of": self.sid_of(record.event_id),
                "leg": None,
                "state": "exception",
                "reason": record.outcome or "",
                "leg_id": None,
                "by_hand": False,
            }
            for record in self.journal.exception_events()
            if record.property == prop
        ]
        return entries

    def _expect_exceptions(self, step: Step) -> Any:
        queue = self.exception_queue()
        mismatches = []
        if "count" in step.params and len(queue) != step.get("count"):
            mismatches.append(
                Mismatch("exception queue entries", str(step.get("count")), str(len(queue)))
            )
        if "entries" in step.params:
            want = list(step.get("entries"))
            ok = len(want) == len(queue) and all(
                _entry_matches(w, q) for w, q in zip(want, queue, strict=True)
            )
            if not ok:
                mismatches.append(
                    Mismatch("exception queue", _entries_text(want), _entries_text(queue))
                )
        if mismatches:
            notes = (
                []
                if "entries" in step.params
                else ["the queue: " + _entries_text(queue).replace("\n", "; ")]
            )
            raise _StepFailed(
                "the exception queue is not as expected",
                mismatches,
                notes,
                leg_ids=[q["leg_id"] for q in queue if q["leg_id"]],
            )
        return _done(f"{len(queue)} entr{'y' if len(queue) == 1 else 'ies'}")

    @inlineCallbacks
    def _expect_invariants(self, step: Step) -> Any:
        confs = list(step.get("confirmation", ())) or self.named_confirmations()
        mismatches = []
        shown = []
        for conf in confs:
            folio = yield self.stack.control("GET", f"/reservations/{conf}/folio")
            reservation = yield self.stack.control("GET", f"/reservations/{conf}")
            if step.get("departed", True) and reservation["state"] != "checked_out":
                mismatches.append(
                    Mismatch(
                        f"reservation {conf}",
                        "checked out (the invariants apply after departure)",
                        reservation["state"],
                    )
                )
            for name, (holds, detail) in self.invariants(conf, folio).items():
                shown.append(f"{conf} {name}: {'holds' if holds else 'FAILS'} ({detail})")
                if not holds:
                    mismatches.append(Mismatch(f"{conf} {name}", "holds", f"fails: {detail}"))
        if mismatches:
            raise _StepFailed(
                "DESIGN section 3 invariants do not hold",
                mismatches,
                leg_ids=[i for c in confs for i in self._legs_of_confirmation(c)],
            )
        return f"{len(shown)} invariant(s) hold for {', '.join(confs)}"

    def _expect_balance(self, step: Step) -> Any:
        sid = step.get("of")
        balances = self.journal.balances(self.event_id(sid))
        have = balances[-1].balance if balances else None
        if have != step.get("balance"):
            raise _StepFailed(
                f"the balance read back after {sid} is not as expected",
                [
                    Mismatch(
                        "balance",
                        self.money(step.get("balance")),
                        self.money(have) if have is not None else "(none recorded)",
                    )
                ],
                leg_ids=self.leg_ids(sid),
            )
        return _done(self.money(have))

    def _expect_wire(self, step: Step) -> Any:
        sid = step.get("of")
        legs = [
            leg
            for leg in self.legs(sid)
            if "leg" not in step.params or leg.leg_index == step.get("leg")
        ]
        mismatches = []
        for leg in legs:
            out = [r.raw for r in self.journal.wire_log(leg_id=leg.leg_id) if r.direction == "out"]
            if "postings" in step.params:
                count = len([raw for raw in out if _is_posting(raw, self.scenario.profile)])
                if count != step.get("postings"):
                    mismatches.append(
                        Mismatch(
                            f"posting requests for leg {leg.leg_index}",
                            str(step.get("postings")),
                            str(count),
                        )
                    )
            for text in step.get("contains", ()):
                if not any(text.encode() in raw for raw in out):
                    mismatches.append(
                        Mismatch(
                            f"leg {leg.leg_index} sent",
                            f"a message with {text!r}",
                            "none of its messages has it",
                        )
                    )
        if not legs:
            mismatches.append(Mismatch(f"legs of {sid}", "at least one", "none"))
        if mismatches:
            raise _StepFailed(
                f"the wire log of {sid} is not as expected",
                mismatches,
                leg_ids=[leg.leg_id for leg in legs],
            )
        return _done(f"{len(legs)} leg(s) checked")

    @inlineCallbacks
    def _expect_trial_balance(self, step: Step) -> Any:
        date = step.get("business_date", "all")
        trial = yield self.stack.control("GET", f"/trial-balance?business_date={date}")
        mismatches = []
        for key in ("codes", "payment_types"):
            if key in step.params and trial[key] != step.get(key):
                mismatches.append(
                    Mismatch(
                        f"trial balance {key.replace('_', ' ')}",
                        self._amounts(step.get(key)),
                        self._amounts(trial[key]),
                    )
                )
        if mismatches:
            raise _StepFailed("the trial balance is not as expected", mismatches)
        return f"net {self.money(trial['net'])}"

    def _expect_reconciliation(self, step: Step) -> Any:
        """``adapters.reconcile`` for the property and a business date (default: the hotel's
        first), in UTC: every captured payment against what posted."""
        from adapters.reconcile import reconcile

        raw = step.get("date") or _hotel_business_date(self.scenario.hotel_data)
        report = reconcile(
            self.journal,
            self.scenario.property,
            dt.date.fromisoformat(raw),
            now=self.now(),
            tz=dt.UTC,
        )
        open_items = list(report.unreconciled)
        have_open = sorted(self.sid_of(p.event_id) for p in open_items)
        mismatches = []
        if "reconciled" in step.params and report.reconciled != step.get("reconciled"):
            mismatches.append(
                Mismatch(
                    f"reconciled on {raw}", str(step.get("reconciled")), str(report.reconciled)
                )
            )
        if "unreconciled" in step.params and len(open_items) != step.get("unreconciled"):
            mismatches.append(
                Mismatch(
                    "unreconciled payments", str(step.get("unreconciled")), str(len(open_items))
                )
            )
        if "open" in step.params and have_open != sorted(step.get("open")):
            mismatches.append(
                Mismatch(
                    "open payments",
                    ", ".join(sorted(step.get("open"))) or "(none)",
                    ", ".join(have_open) or "(none)",
                )
            )
        notes = [
            f"{self.sid_of(p.event_id)}: {self.money(p.amount)} {p.status.value}: {p.reason}"
            for p in open_items
        ]
        if mismatches:
            raise _StepFailed("the reconciliation is not as expected", mismatches, notes[:10])
        posted = sum(1 for p in report.payments if p.status.value == "posted")
        text = "reconciled" if report.reconciled else f"{len(open_items)} open payment(s)"
        return _done(f"{text}; {posted} of {len(report.payments)} payment(s) posted on {raw}")

    # -- invariants -----------------------------------------------------------------------------

    def named_confirmations(self) -> list[str]:
        """Reservations the scenario's events name, for this property, in order."""
        seen: list[str] = []
        for event in self.scenario.events.values():
            conf = str(event.get("booking", {}).get("confirmation_number", ""))
            if (
                event.get("property") == self.scenario.property
                and conf.isdigit()
                and conf not in seen
                and event.get("payment", {}).get("kind") != "account"
            ):
                seen.append(conf)
        return seen

    def invariants(self, conf: str, folio: Mapping[str, Any]) -> dict[str, tuple[bool, str]]:
        """The ledger's DESIGN section 3 checks plus the payment-type totals (see the module
        docstring); before departure each holds vacuously, as in the ledger."""
        result = {
            name: (bool(inv["holds"]), str(inv.get("detail", "")))
            for name, inv in folio["invariants"].items()
        }
        config = self.scenario.config
        assert config is not None
        prop = config.properties[self.scenario.property]
        mapped = sorted(set(prop.codes.payment_types.values()))
        posted: dict[str, int] = dict.fromkeys(mapped, 0)
        not_posted = []
        for sid in self.scenario.events:
            for leg in self.legs(sid):
                if leg.confirmation_number != conf or leg.plan.payment_type not in posted:
                    continue
                if leg.state is LegState.POSTED:
                    posted[leg.plan.payment_type] -= leg.plan.amount
                else:
                    not_posted.append(f"{sid} leg {leg.leg_index} {leg.state.value}")
        on_folio = {pt: int(folio.get("payment_types", {}).get(pt, 0)) for pt in mapped}
        holds = on_folio == posted
        detail = "; ".join(
            f"{pt}: folio {self.money(on_folio[pt])}, posted payments {self.money(posted[pt])}"
            for pt in mapped
        )
        if not_posted:
            detail += "; not posted (exception queue or pending): " + ", ".join(not_posted)
        departed = "applies after departure" not in " ".join(d for _, d in result.values())
        if not departed:
            result["payment_types_total_posted_payments"] = (
                True,
                "applies after departure; now " + detail,
            )
        else:
            result["payment_types_total_posted_payments"] = (holds, detail)
        return result

    def _final_invariants(self, folios: list[FolioView]) -> ScenarioFailure | None:
        mismatches = [
            Mismatch(f"{f.confirmation_number} {name}", "holds", f"fails: {detail}")
            for f in folios
            for name, (holds, detail) in f.invariants.items()
            if not holds
        ]
        if not mismatches:
            return None
        confs = {f.confirmation_number for f in folios}
        return ScenarioFailure(
            None,
            "DESIGN section 3 invariants do not hold after the last step",
            mismatches,
            wire=self._wire_excerpt({i for c in confs for i in self._legs_of_confirmation(c)}),
        )

    # -- evidence for reports -------------------------------------------------------------------

    @inlineCallbacks
    def _folios(self) -> Any:
        views = []
        for conf in self.named_confirmations():
            try:
                folio = yield self.stack.control("GET", f"/reservations/{conf}/folio")
                reservation = yield self.stack.control("GET", f"/reservations/{conf}")
            except RuntimeError:
                continue  # not a reservation of this hotel (an unknown-reservation scenario)
            try:
                invariants = self.invariants(conf, folio)
            except Exception:  # the gateway is stopped: the ledger's own checks only
                invariants = {
                    n: (bool(i["holds"]), str(i.get("detail", "")))
                    for n, i in folio["invariants"].items()
                }
            views.append(
                FolioView(
                    conf,
                    reservation["state"],
                    reservation.get("room"),
                    folio["currency"],
                    folio["balance"],
                    list(folio["lines"]),
                    dict(folio["totals"]),
                    dict(folio["payment_types"]),
                    invariants,
                )
            )
        return views

    def _collect(self, result: ScenarioResult) -> None:
        result.exceptions = [
            {k: v for k, v in e.items() if k != "leg_id"} for e in self.exception_queue()
        ]
        for sid in self.scenario.events:
            legs = self.legs(sid)
            result.legs[sid] = [
                {
                    "leg": leg.leg_index,
                    "state": leg.state.value,
                    "reason": leg.reason,
                    "answer_status": leg.answer_status,
                    "attempts": leg.attempts,
                    "transaction_code": leg.plan.transaction_code,
                    "payment_type": leg.plan.payment_type,
                    "amount": leg.plan.amount,
                }
                for leg in legs
            ]
            records = [r for leg in legs for r in self.journal.wire_log(leg_id=leg.leg_id)]
            records.sort(key=lambda r: r.id)
            result.wire[sid] = wire_lines(records)


def _done(value: Any) -> Any:
    from twisted.internet.defer import succeed

    return succeed(value)


def _is_posting(raw: bytes, profile: Profile) -> bool:
    """A posting request (not an inquiry, not a balance inquiry) among a leg's messages."""
    if profile is Profile.FIAS:
        return raw.startswith(b"PR|") and b"|TA" in raw
    return any(marker in raw for marker in _SOAP_POSTINGS.get(profile.value, ()))


#: The request elements that post on each SOAP profile (charges, payments, deposits).
_SOAP_POSTINGS = {
    "opera-htng": (b"PostChargeRequest", b"PostPaymentRequest"),
    "rezlynx": (b"PostToRoom>", b"AddPayment>", b"AddDeposit>"),
    "htng-async": (b"ChargePostingRQ",),
}


def _lines_match(
    expected: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]
) -> bool:
    if len(expected) != len(actual):
        return False
    for want, have in zip(expected, actual, strict=True):
        for key, value in want.items():
            got = have.get(key)
            if key == "payment_type":
                got = got or ""
            if got != value:
                return False
    return True


def _entry_matches(want: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    if want["of"] != have["of"]:
        return False
    if "leg" in want and want["leg"] != have["leg"]:
        return False
    if "state" in want and want["state"] != have["state"]:
        return False
    if "by_hand" in want and want["by_hand"] != have.get("by_hand", False):
        return False
    return "reason" not in want or want["reason"] in have["reason"]


def _entries_text(entries: Sequence[Mapping[str, Any]]) -> str:
    if not entries:
        return "(empty)"
    out = []
    for n, e in enumerate(entries, start=1):
        leg = (
            "the event"
            if e.get("leg") is None and "state" in e and e.get("state") == "exception"
            else (f"leg {e['leg']}" if e.get("leg") is not None else "any leg")
        )
        state = e.get("state", "any state")
        if e.get("by_hand"):
            state += " (post by hand)"
        reason = e.get("reason")
        out.append(f"{n}. {e['of']} {leg}: {state}" + (f", reason {reason!r}" if reason else ""))
    return "\n".join(out)


def _hotel_business_date(hotel: Mapping[str, Any]) -> str:
    value = hotel.get("hotel", {}).get("business_date")
    return value.isoformat() if isinstance(value, dt.date) else str(value or "2026-11-27")
