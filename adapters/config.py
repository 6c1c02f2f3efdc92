"""The gateway's configuration: one TOML file read once into frozen dataclasses (DESIGN §6).

:func:`load_config` reads and validates the whole file and raises :class:`ConfigInvalid`
listing every error at once, each naming its TOML path
(``properties.GRAND-LONDON.codes.deposit: missing``). Unknown keys are errors, so a typo
never silently falls back to a default. Secrets are never in the file: it names environment
variables, read at run time by :func:`secret` and :func:`soap_credentials`;
:func:`missing_secrets` lists the ones not set (``foliogate check-config`` reports them).

The file::

    [gateway]                                   # optional; these are the defaults
    journal = "var/foliogate.sqlite"            # relative to the config file's directory
    listen = "tcp:port=8600:interface=127.0.0.1"  # Twisted server endpoint string
    allow_public = false                        # true: listen may be a non-loopback interface
    max_body_bytes = 65536                      # ingest API request size limit
    acceptors = 0                               # processes of their own that accept events
                                                # (POST /v1/events) on ingest_listen; 0: none,
                                                # the gateway's own process accepts them
    ingest_listen = "tcp:port=8601:interface=127.0.0.1"  # where the acceptors listen (tcp or
                                                # tcp6; required when acceptors > 0)
    rates = "rates.csv"                         # optional: exchange rates (adapters.rates);
                                                # relative to the config file's directory.
                                                # Without it, events in another currency than
                                                # their property's go to the exception queue.

    [sources.payments]                          # one table per ingest caller (at least one)
    secret_env = "FOLIOGATE_SECRET_PAYMENTS"    # HMAC secret, read from this variable

    [properties.GRAND-LONDON]                   # one table per hotel (at least one)
    profile = "fias"                            # fias | opera-htng | rezlynx | htng-async
    endpoint = "tcp:host=127.0.0.1:port=5010"   # fias: Twisted client endpoint (tcp:/ssl:);
                                                # SOAP profiles: the service URL (http/https)
    posting_mode = "normal"                     # normal | negative (fias: normal only)
    currency = "GBP"                            # ISO 4217; events in another currency are
                                                # converted with [gateway] rates (no rate: an
                                                # exception, never a guess)
    workstation = "FOLIOGATE"                   # FIAS WS (max 16); default FOLIOGATE
    allow_negative = true                       # may legs carry negative amounts (refund
                                                # reversals)? false: refunds go to the
                                                # exception queue as "post by hand". Default:
                                                # false in normal mode, true in negative mode
                                                # (which cannot work without them).
    deposit_wait_hours = 720                    # how long a deposit waits for check-in
    answer_timeout_seconds = 60                 # no answer in time: the leg becomes unknown
    alive_interval_seconds = 300                # FIAS link alive check (LS)
    max_in_flight = 4                           # optional: legs on their way at once (never
                                                # two of one reservation); default for FIAS 4
                                                # or twice postings_in_flight (inquiries
                                                # overlap the postings), 8 for SOAP (one HTTP
                                                # exchange each)
    approval_threshold = 100000                 # optional: a payment over this many minor
                                                # units (of currency, after conversion) is
                                                # held in the exception queue until approved

    [properties.GRAND-LONDON.codes]             # the PMS's own codes; never hard-coded
    deposit = "SPA_DEPOSIT"                     # transaction code charged for a deposit
    redemption_payment_type = "DEPOSIT_REDEMPTION"  # normal mode (required there): the
                                                # payment type that clears the deposit
    revenue = { SPA_TREATMENT = "SPA_TREATMENT" }   # platform item code -> PMS revenue code
    payment_types = { onejourney = "ONEJOURNEY" }   # platform method -> PMS payment type

    [properties.GRAND-LONDON.fias]              # fias profile only (required there)
    sales_outlets = { SPA_DEPOSIT = 210, SPA_TREATMENT = 220 }  # transaction code -> SO
    payment_methods = { ONEJOURNEY = "OJ", DEPOSIT_REDEMPTION = "DR" }  # payment type -> PM
    room_payment_method = "ROOM"                # PM for a charge left on the room folio
    postings_in_flight = 1                      # optional: posting PRs that may await their
                                                # PA at once (1-16, default 1; each PA is
                                                # matched by P#; if the link drops, each one
                                                # awaiting its PA becomes unknown)

    [properties.OTHER-HOTEL.soap]               # SOAP profiles only (required there)
    username_env = "FOLIOGATE_OTHER_USER"       # WS-Security / session login credentials
    password_env = "FOLIOGATE_OTHER_PASSWORD"
    hotel_code = "OTHER01"                      # optional: the PMS's code for the property
                                                # (rezlynx SiteID, htng-async HotelCode; 1-40
                                                # characters, no spaces); default: its name
    callback_base_url = "https://gw.example"    # htng-async only, optional: how the PMS
                                                # reaches this gateway's API; results are
                                                # POSTed to <it>/v1/callbacks/htng-async/<name>
                                                # (default: the API's own listening address)

    [console]                                   # optional: the operator console at /console/
    token_env = "FOLIOGATE_CONSOLE_TOKEN"       # operators log in with this token (>= 16 chars)
    session_minutes = 480                       # a login lasts this long (default 480: a shift)
    idle_minutes = 30                           # ...unless unused this long (default 30)

Checks beyond types and ranges: endpoint strings parse (Twisted's strports grammar, checked
without a reactor); the listener is loopback unless ``allow_public``; the posting mode suits
the profile; every transaction code and payment type used in ``codes`` has a FIAS sales
outlet / payment method on fias properties, and no two codes share one (the PMS would post
them as the same thing).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from adapters.domain import PostingMode
from adapters.money import is_known_currency
from adapters.rates import RatesInvalid, RateTable

__all__ = [
    "PROFILES",
    "CodeMap",
    "ConfigInvalid",
    "ConsoleSettings",
    "FiasMapping",
    "GatewayConfig",
    "GatewaySettings",
    "Profile",
    "ProfileTraits",
    "PropertyConfig",
    "SecretMissing",
    "SoapSettings",
    "SourceConfig",
    "config_from_toml",
    "load_config",
    "missing_secrets",
    "parse_endpoint",
    "secret",
    "soap_credentials",
]


class Profile(StrEnum):
    """How foliogate talks to a property's PMS."""

    FIAS = "fias"
    OPERA_HTNG = "opera-htng"
    REZLYNX = "rezlynx"
    HTNG_ASYNC = "htng-async"


@dataclass(frozen=True)
class ProfileTraits:
    """What a profile's wire protocol can do; the journeys plan legs to suit it."""

    #: Posting modes the profile can carry out (FIAS has no negative sale).
    posting_modes: frozenset[PostingMode]
    #: One posting can carry a charge and its settlement (FIAS: ``SO`` and ``PM`` in one
    #: ``PR``). SOAP profiles post charges and payments with separate operations, so a
    #: charge settled by a payment type becomes two legs.
    charge_and_settlement_in_one_leg: bool
    #: Deposits and payments may post to a reservation before the guest arrives (SOAP).
    #: FIAS posts only to checked-in guests: everything waits for the guest's ``GI``.
    posts_before_arrival: bool


PROFILES: Mapping[Profile, ProfileTraits] = MappingProxyType(
    {
        Profile.FIAS: ProfileTraits(frozenset({PostingMode.NORMAL}), True, False),
        **{
            profile: ProfileTraits(frozenset(PostingMode), False, True)
            for profile in (Profile.OPERA_HTNG, Profile.REZLYNX, Profile.HTNG_ASYNC)
        },
    }
)


@dataclass(frozen=True)
class GatewaySettings:
    journal: Path  # absolute
    listen: str  # Twisted server endpoint string
    max_body_bytes: int
    allow_public: bool
    rates: Path | None = None  # absolute; the exchange rates file (adapters.rates)
    #: Acceptor processes (adapters.acceptor) taking POST /v1/events on ``ingest_listen``.
    acceptors: int = 0
    ingest_listen: str | None = None


@dataclass(frozen=True)
class SourceConfig:
    """An ingest caller; it signs its requests with the secret in ``secret_env``."""

    name: str
    secret_env: str


@dataclass(frozen=True)
class CodeMap:
    """The PMS codes a property's journeys post with (PMS names, from the configuration)."""

    deposit: str  # transaction code charged for a deposit
    redemption_payment_type: str | None  # normal mode: the payment type that clears it
    revenue: Mapping[str, str]  # platform item code -> PMS revenue transaction code
    payment_types: Mapping[str, str]  # platform payment method -> PMS payment type


@dataclass(frozen=True)
class FiasMapping:
    """FIAS wire codes: the PMS interface maps ``SO`` and ``PM`` to its own codes."""

    sales_outlets: Mapping[str, int]  # transaction code -> SO
    payment_methods: Mapping[str, str]  # payment type -> PM
    room_payment_method: str  # PM of a charge that stays on the room folio
    #: Postings that may await their PA at once (1: each after the previous one's PA).
    postings_in_flight: int = 1


@dataclass(frozen=True)
class SoapSettings:
    username_env: str
    password_env: str
    #: The PMS's code for the property (rezlynx SiteID, htng-async HotelCode); None: its name.
    hotel_code: str | None = None
    #: htng-async: the base URL the PMS POSTs results to; None: the API's listening address.
    callback_base_url: str | None = None


@dataclass(frozen=True)
class PropertyConfig:
    name: str
    profile: Profile
    endpoint: str
    posting_mode: PostingMode
    currency: str
    workstation: str
    allow_negative: bool
    deposit_wait_hours: int
    answer_timeout_seconds: float
    alive_interval_seconds: float
    codes: CodeMap
    fias: FiasMapping | None = None  # set for the fias profile
    soap: SoapSettings | None = None  # set for the SOAP profiles
    #: A payment over this many minor units (property currency) waits for an operator's
    #: approval in the exception queue; None: no threshold.
    approval_threshold: int | None = None
    #: Legs on their way at once (never two of one reservation); None: the profile's default.
    max_in_flight: int | None = None

    @property
    def traits(self) -> ProfileTraits:
        return PROFILES[self.profile]


#: A console token shorter than this is refused: it would be guessable.
CONSOLE_MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class ConsoleSettings:
    """The operator console: who may log in (the token in ``token_env``) and for how long."""

    token_env: str
    session_minutes: int = 480
    #: A session unused this long ends before session_minutes (an unattended screen).
    idle_minutes: int = 30


@dataclass(frozen=True)
class GatewayConfig:
    path: Path  # the file it was read from
    gateway: GatewaySettings
    sources: Mapping[str, SourceConfig]
    properties: Mapping[str, PropertyConfig]
    console: ConsoleSettings | None = None  # None: no [console] table, the console is off


class ConfigInvalid(Exception):
    """The configuration cannot be used; ``errors`` lists every problem, one line each."""

    def __init__(self, errors: Iterable[str], path: Path | None = None) -> None:
        self.errors: list[str] = list(errors)
        self.path = path
        super().__init__("\n".join(self.errors))


class SecretMissing(LookupError):
    """A secret's environment variable is not set (or empty)."""


DEFAULT_JOURNAL = "var/foliogate.sqlite"
DEFAULT_LISTEN = "tcp:port=8600:interface=127.0.0.1"
DEFAULT_MAX_BODY_BYTES = 65536
MAX_BODY_BYTES_LIMIT = 16 * 1024 * 1024
DEFAULT_WORKSTATION = "FOLIOGATE"


def load_config(path: str | os.PathLike[str]) -> GatewayConfig:
    """Read and validate the configuration file; :class:`ConfigInvalid` lists every error."""
    config_path = Path(path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigInvalid([f"cannot read the file: {exc.strerror}"], config_path) from None
    except UnicodeDecodeError:
        raise ConfigInvalid(["the file is not UTF-8 text"], config_path) from None
    return config_from_toml(text, base_dir=config_path.absolute().parent, path=config_path)


def config_from_toml(text: str, *, base_dir: Path, path: Path | None = None) -> GatewayConfig:
    """Validate TOML text; relative paths resolve against ``base_dir``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid([f"not valid TOML: {exc}"], path) from None
    reader = _Reader(base_dir)
    config = reader.config(data, path or base_dir / "gateway.toml")
    if reader.errors or config is None:
        raise ConfigInvalid(reader.errors, path)
    return config


def missing_secrets(config: GatewayConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """Errors for every secret whose environment variable is not set (or empty)."""
    env = os.environ if environ is None else environ
    wanted: list[tuple[str, str]] = [
        (f"sources.{_key(s.name)}.secret_env", s.secret_env) for s in config.sources.values()
    ]
    for prop in config.properties.values():
        if prop.soap is not None:
            base = f"properties.{_key(prop.name)}.soap"
            wanted.append((f"{base}.username_env", prop.soap.username_env))
            wanted.append((f"{base}.password_env", prop.soap.password_env))
    if config.console is not None:
        wanted.append(("console.token_env", config.console.token_env))
    errors = [
        f"{where}: environment variable {name} is not set"
        for where, name in wanted
        if not env.get(name)
    ]
    if config.console is not None and 0 < len(env.get(config.console.token_env, "")) < (
        CONSOLE_MIN_TOKEN_LENGTH
    ):
        errors.append(
            f"console.token_env: environment variable {config.console.token_env} is shorter"
            f" than {CONSOLE_MIN_TOKEN_LENGTH} characters"
        )
    return errors


def secret(source: SourceConfig, environ: Mapping[str, str] | None = None) -> bytes:
    """The source's HMAC secret from its environment variable, read now (not cached)."""
    return _env(source.secret_env, environ).encode("utf-8")


def soap_credentials(
    prop: PropertyConfig, environ: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """(username, password) of a SOAP property, from its environment variables."""
    if prop.soap is None:
        raise ValueError(f"property {prop.name} ({prop.profile}) has no SOAP credentials")
    return _env(prop.soap.username_env, environ), _env(prop.soap.password_env, environ)


def _env(name: str, environ: Mapping[str, str] | None) -> str:
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        raise SecretMissing(f"environment variable {name} is not set")
    return value


# --- endpoint strings ---------------------------------------------------------------------


def parse_endpoint(description: str) -> tuple[str, list[str], dict[str, str]]:
    """Split a Twisted endpoint string like Twisted does, without a reactor.

    Returns (type in lower case, positional arguments, keyword arguments). ``:`` separates
    parameters, the first ``=`` splits a key from its value, ``\\`` escapes the next character
    (``interface=\\:\\:1``). Raises ValueError for a key given twice.

    >>> parse_endpoint("tcp:host=127.0.0.1:port=5010")
    ('tcp', [], {'host': '127.0.0.1', 'port': '5010'})
    """
    parts: list[list[str]] = [[""]]
    chars = iter(description)
    for char in chars:
        if char == ":":
            parts.append([""])
        elif char == "=" and len(parts[-1]) == 1:
            parts[-1].append("")
        elif char == "\\":
            parts[-1][-1] += next(chars, "")
        else:
            parts[-1][-1] += char
    kind, *rest = parts
    args: list[str] = []
    kwargs: dict[str, str] = {}
    for part in rest:
        if len(part) == 1:
            args.append(part[0])
        else:
            if part[0] in kwargs:
                raise ValueError(f"{part[0]} is given twice")
            kwargs[part[0]] = part[1]
    if len(kind) != 1:
        raise ValueError("must start with the endpoint type, e.g. tcp:")
    return kind[0].lower(), args, kwargs


# Parameter names in Twisted's positional order (twisted.internet.endpoints parsers).
_CLIENT_PARAMS = {
    "tcp": ("host", "port", "timeout", "bindAddress"),
    "ssl": ("host", "port", "timeout", "bindAddress", "certKey", "privateKey", "caCertsDir",
            "hostname"),
}  # fmt: skip
_CLIENT_POSITIONAL = 2  # host, port
_SERVER_PARAMS = {
    "tcp": ("port", "interface", "backlog"),
    "tcp6": ("port", "backlog", "interface"),
    "ssl": ("port", "privateKey", "certKey", "sslmethod", "interface", "backlog",
            "extraCertChain", "dhParameters"),
}  # fmt: skip
_SERVER_DEFAULT_INTERFACE = {"tcp": "", "tcp6": "::", "ssl": ""}


def _endpoint_params(
    description: str, params: Mapping[str, tuple[str, ...]], max_positional: int | None
) -> tuple[str, dict[str, str]] | str:
    """(type, parameters by name) or the reason the string is wrong."""
    try:
        kind, args, kwargs = parse_endpoint(description)
    except ValueError as exc:
        return f"not a valid endpoint string: {exc}"
    if kind not in params:
        return f"endpoint type must be one of {', '.join(f'{k}:' for k in params)}"
    names = params[kind]
    limit = len(names) if max_positional is None else max_positional
    if len(args) > limit:
        return f"too many positional parameters for {kind}: at most {limit}"
    named = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names:
            return f"unknown {kind}: parameter {key!r} (known: {', '.join(names)})"
        if key in named:
            return f"{key} is given twice"
        named[key] = value
    return kind, named


def _port_reason(value: str | None, *, allow_zero: bool) -> str | None:
    if value is None:
        return "needs a port"
    low = 0 if allow_zero else 1
    if not value.isdigit() or not low <= int(value) <= 65535:
        return f"port must be a number from {low} to 65535"
    return None


def _client_endpoint_reason(description: str) -> str | None:
    parsed = _endpoint_params(description, _CLIENT_PARAMS, _CLIENT_POSITIONAL)
    if isinstance(parsed, str):
        return parsed
    _kind, named = parsed
    if not named.get("host"):
        return "needs a host, e.g. tcp:host=127.0.0.1:port=5010"
    if (reason := _port_reason(named.get("port"), allow_zero=False)) is not None:
        return reason
    if "timeout" in named and not (named["timeout"].isdigit() and int(named["timeout"]) > 0):
        return "timeout must be a whole number of seconds > 0"
    return None


def _server_endpoint_reason(description: str, *, allow_public: bool) -> str | None:
    parsed = _endpoint_params(description, _SERVER_PARAMS, None)
    if isinstance(parsed, str):
        return parsed
    kind, named = parsed
    if (reason := _port_reason(named.get("port"), allow_zero=True)) is not None:
        return reason
    interface = named.get("interface", _SERVER_DEFAULT_INTERFACE[kind])
    if allow_public:
        return None
    if not interface:
        return "listens on every interface; set interface=127.0.0.1 or allow_public = true"
    try:
        loopback = ipaddress.ip_address(interface).is_loopback
    except ValueError:
        return f"interface {interface!r} is not an IP address"
    if not loopback:
        return f"interface {interface} is not loopback; set allow_public = true to allow it"
    return None


def server_endpoint_params(description: str) -> tuple[str, dict[str, str]]:
    """(type, parameters by name, positional ones named) of a ``tcp:``/``tcp6:``/``ssl:``
    server endpoint string; ValueError with the reason for any other string.

    >>> server_endpoint_params("tcp:8600:interface=127.0.0.1")
    ('tcp', {'port': '8600', 'interface': '127.0.0.1'})
    """
    parsed = _endpoint_params(description, _SERVER_PARAMS, None)
    if isinstance(parsed, str):
        raise ValueError(parsed)
    return parsed


def _address_of(description: str) -> tuple[str | None, str | None] | None:
    """(port, interface) a server endpoint string binds, or None if it is not valid."""
    try:
        kind, named = server_endpoint_params(description)
    except ValueError:
        return None
    return named.get("port"), named.get("interface", _SERVER_DEFAULT_INTERFACE[kind])


def _url_reason(url: str) -> str | None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL of the PMS's SOAP service"
    return None


# --- the reader ---------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CODE = re.compile(r"[!-~](?:[ -~]{0,38}[!-~])?")  # printable ASCII, no edge spaces, <= 40
_WORKSTATION = re.compile(r"[!-{}~]{1,16}")  # FIAS WS: ANS max 16, never the separator |
_FIAS_PM = re.compile(r"[!-{}~]{1,5}")  # FIAS PM: ANS max 5

_TOP_KEYS = ("gateway", "sources", "properties", "console")
_CONSOLE_KEYS = ("token_env", "session_minutes", "idle_minutes")
_GATEWAY_KEYS = (
    "journal", "listen", "allow_public", "max_body_bytes", "rates", "acceptors", "ingest_listen",
)  # fmt: skip
#: At most this many acceptor processes (each a Python process with its own journal handle).
MAX_ACCEPTORS = 8
_SOURCE_KEYS = ("secret_env",)
_PROPERTY_KEYS = (
    "profile", "endpoint", "posting_mode", "currency", "workstation", "allow_negative",
    "deposit_wait_hours", "answer_timeout_seconds", "alive_interval_seconds", "codes",
    "fias", "soap", "approval_threshold", "max_in_flight",
)  # fmt: skip
_CODES_KEYS = ("deposit", "redemption_payment_type", "revenue", "payment_types")
_FIAS_KEYS = ("sales_outlets", "payment_methods", "room_payment_method", "postings_in_flight")
_SOAP_KEYS = ("username_env", "password_env", "hotel_code", "callback_base_url")
_HOTEL_CODE = re.compile(r"\S{1,40}")


def _key(key: str) -> str:
    """A key as it appears in a TOML path (quoted unless it is a bare key)."""
    return key if _BARE_KEY.fullmatch(key) else '"' + key.replace('"', '\\"') + '"'


def _path(base: str, key: str) -> str:
    return f"{base}.{_key(key)}" if base else _key(key)


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    if type(value) in names:
        return names[type(value)]
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date/time"


_MISSING = object()


class _Reader:
    """Walks the parsed TOML once, building the config and collecting every error."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.errors: list[str] = []

    def error(self, path: str, reason: str) -> None:
        self.errors.append(f"{path}: {reason}")

    # -- generic values --

    def table(self, value: object, path: str, known: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(path, f"must be a table, not {_toml_type(value)}")
            return None
        for key in value:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.error(_path(path, key), f"unknown key{hint}")
        return value

    def value(self, table: dict[str, Any], key: str, path: str, default: object) -> Any:
        value = table.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                self.error(_path(path, key), "missing")
            return default
        return value

    def string(
        self,
        table: dict[str, Any],
        key: str,
        path: str,
        *,
        default: object = _MISSING,
        pattern: re.Pattern[str] | None = None,
        pattern_reason: str = "",
    ) -> str | None:
        value = self.value(table, key, path, default)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, str):
            self.error(_path(path, key), f"must be a string, not {_toml_type(value)}")
            return None
        if not value:
            self.error(_path(path, key), "must not be empty")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.error(_path(path, key), pattern_reason)
            return None
        return value

    def choice(self, table: dict[str, Any], key: str, path: str, choices: list[str]) -> str | None:
        value = self.string(table, key, path)
        if value is not None and value not in choices:
            self.error(_path(path, key), "must be one of " + ", ".join(choices))
            return None
        return value

    def integer(
        self, table: dict[str, Any], key: str, path: str, *, default: object, low: int, high: int
    ) -> int | None:
        value = self.value(table, key, path, default)
        if value is _MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(_path(path, key), f"must be an integer, not {_toml_type(value)}")
            return None
        if not low <= value <= high:
            self.error(_path(path, key), f"must be from {low} to {high}")
            return None
        return value

    def seconds(self, table: dict[str, Any], key: str, path: str, default: float) -> float | None:
        value = self.value(table, key, path, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(_path(path, key), f"must be a number of seconds, not {_toml_type(value)}")
            return None
        if not 0 < value <= 86400:
            self.error(_path(path, key), "must be more than 0 and at most 86400 seconds")
            return None
        return float(value)

    def boolean(self, table: dict[str, Any], key: str, path: str, default: object) -> bool | None:
        value = self.value(table, key, path, default)
        if value is None or value is _MISSING:
            return None
        if not isinstance(value, bool):
            self.error(_path(path, key), f"must be true or false, not {_toml_type(value)}")
            return None
        return value

    def env_name(self, table: dict[str, Any], key: str, path: str) -> str | None:
        return self.string(
            table,
            key,
            path,
            pattern=_ENV_NAME,
            pattern_reason="must be an environment variable name (letters, digits, _)",
        )

    def code_table(
        self, table: dict[str, Any], key: str, path: str, *, required: bool
    ) -> dict[str, str]:
        """A ``{platform code = "PMS code"}`` table."""
        value = self.value(table, key, path, _MISSING if required else {})
        if value is _MISSING:
            return {}
        where = _path(path, key)
        if not isinstance(value, dict):
            self.error(where, f"must be a table, not {_toml_type(value)}")
            return {}
        if required and not value:
            self.error(where, "must map at least one code")
        result: dict[str, str] = {}
        for name, code in value.items():
            if self.check_code(code, _path(where, name)):
                result[name] = code
        return result

    def check_code(self, code: object, path: str) -> bool:
        if not isinstance(code, str):
            self.error(path, f"must be a string, not {_toml_type(code)}")
            return False
        if not _CODE.fullmatch(code):
            self.error(path, "must be a PMS code: 1-40 printable ASCII characters")
            return False
        return True

    # -- the file --

    def config(self, data: dict[str, Any], path: Path) -> GatewayConfig | None:
        self.table(data, "", _TOP_KEYS)
        gateway = self.gateway(data.get("gateway", {}))
        sources = self.sources(data.get("sources", _MISSING))
        properties = self.properties(data.get("properties", _MISSING))
        console = self.console(data["console"]) if "console" in data else None
        if self.errors or gateway is None:
            return None
        return GatewayConfig(
            path=path,
            gateway=gateway,
            sources=MappingProxyType(sources),
            properties=MappingProxyType(properties),
            console=console,
        )

    def console(self, value: object) -> ConsoleSettings | None:
        table = self.table(value, "console", _CONSOLE_KEYS)
        if table is None:
            return None
        token_env = self.env_name(table, "token_env", "console")
        minutes = self.integer(
            table, "session_minutes", "console", default=480, low=1, high=7 * 24 * 60
        )
        idle = self.integer(table, "idle_minutes", "console", default=30, low=1, high=7 * 24 * 60)
        if token_env is None or minutes is None or idle is None:
            return None
        return ConsoleSettings(token_env=token_env, session_minutes=minutes, idle_minutes=idle)

    def gateway(self, value: object) -> GatewaySettings | None:
        table = self.table(value, "gateway", _GATEWAY_KEYS)
        if table is None:
            return None
        journal = self.string(table, "journal", "gateway", default=DEFAULT_JOURNAL)
        allow_public = self.boolean(table, "allow_public", "gateway", False)
        listen = self.string(table, "listen", "gateway", default=DEFAULT_LISTEN)
        if listen is not None:
            reason = _server_endpoint_reason(listen, allow_public=bool(allow_public))
            if reason is not None:
                self.error("gateway.listen", reason)
                listen = None
        max_body = self.integer(
            table, "max_body_bytes", "gateway", default=DEFAULT_MAX_BODY_BYTES,
            low=1024, high=MAX_BODY_BYTES_LIMIT,
        )  # fmt: skip
        rates = self.rates_file(table)
        acceptors = self.integer(table, "acceptors", "gateway", default=0, low=0,
                                 high=MAX_ACCEPTORS)  # fmt: skip
        ingest_listen = self.string(table, "ingest_listen", "gateway", default=None)
        if ingest_listen is not None:
            reason = _server_endpoint_reason(ingest_listen, allow_public=bool(allow_public))
            if reason is None and ingest_listen.split(":", 1)[0] not in ("tcp", "tcp6"):
                reason = "acceptors listen on tcp: or tcp6: endpoints only"
            address = _address_of(ingest_listen)
            same = address is not None and listen is not None and address == _address_of(listen)
            if reason is None and same and address is not None and address[0] != "0":
                reason = "must differ from listen (the acceptors take POST /v1/events there)"
            if reason is not None:
                self.error("gateway.ingest_listen", reason)
                ingest_listen = None
                acceptors = None
        elif acceptors:
            self.error("gateway.ingest_listen", "missing: acceptors > 0 need a port of their own")
            acceptors = None
        if (
            journal is None or listen is None or max_body is None or allow_public is None
            or acceptors is None
        ):  # fmt: skip
            return None
        return GatewaySettings(
            journal=Path(os.path.normpath(self.base_dir / journal)),
            listen=listen,
            max_body_bytes=max_body,
            allow_public=allow_public,
            rates=rates,
            acceptors=acceptors,
            ingest_listen=ingest_listen,
        )

    def rates_file(self, table: dict[str, Any]) -> Path | None:
        """``[gateway] rates``: the file must exist and be valid now (every error listed)."""
        name = self.string(table, "rates", "gateway", default=None)
        if name is None:
            return None
        path = Path(os.path.normpath(self.base_dir / name))
        try:
            RateTable.from_file(path)
        except RatesInvalid as exc:
            for error in exc.errors:
                self.error("gateway.rates", f"{name}: {error}")
            return None
        return path

    def sources(self, value: object) -> dict[str, SourceConfig]:
        if value is _MISSING:
            self.error("sources", "missing: name at least one ingest caller ([sources.NAME])")
            return {}
        if not isinstance(value, dict):
            self.error("sources", f"must be a table, not {_toml_type(value)}")
            return {}
        if not value:
            self.error("sources", "must name at least one ingest caller ([sources.NAME])")
        result: dict[str, SourceConfig] = {}
        for name, entry in value.items():
            path = _path("sources", name)
            if not self.name(name, path):
                continue
            table = self.table(entry, path, _SOURCE_KEYS)
            if table is None:
                continue
            secret_env = self.env_name(table, "secret_env", path)
            if secret_env is not None:
                result[name] = SourceConfig(name=name, secret_env=secret_env)
        return result

    def name(self, name: str, path: str) -> bool:
        if _NAME.fullmatch(name):
            return True
        self.error(
            path, "name must be 1-64 letters, digits, _ or -, starting with a letter or digit"
        )
        return False

    def properties(self, value: object) -> dict[str, PropertyConfig]:
        if value is _MISSING:
            self.error("properties", "missing: configure at least one property")
            return {}
        if not isinstance(value, dict):
            self.error("properties", f"must be a table, not {_toml_type(value)}")
            return {}
        if not value:
            self.error("properties", "must configure at least one property")
        result: dict[str, PropertyConfig] = {}
        for name, entry in value.items():
            path = _path("properties", name)
            if not self.name(name, path):
                continue
            prop = self.property(name, entry, path)
            if prop is not None:
                result[name] = prop
        return result

    def property(self, name: str, value: object, path: str) -> PropertyConfig | None:
        table = self.table(value, path, _PROPERTY_KEYS)
        if table is None:
            return None
        before = len(self.errors)
        profile_name = self.choice(table, "profile", path, [p.value for p in Profile])
        profile = Profile(profile_name) if profile_name is not None else None
        endpoint = self.string(table, "endpoint", path)
        if endpoint is not None and profile is not None:
            if profile is Profile.FIAS:
                reason = _client_endpoint_reason(endpoint)
            else:
                reason = _url_reason(endpoint)
            if reason is not None:
                self.error(_path(path, "endpoint"), reason)
        mode_name = self.choice(table, "posting_mode", path, [m.value for m in PostingMode])
        mode = PostingMode(mode_name) if mode_name is not None else None
        if profile is not None and mode is not None and mode not in PROFILES[profile].posting_modes:
            self.error(
                _path(path, "posting_mode"),
                f"the {profile} profile supports only "
                + " or ".join(sorted(PROFILES[profile].posting_modes)),
            )
        currency = self.string(table, "currency", path)
        if currency is not None and not is_known_currency(currency):
            self.error(_path(path, "currency"), f"{currency} is not a known ISO 4217 currency code")
        workstation = self.string(
            table, "workstation", path, default=DEFAULT_WORKSTATION, pattern=_WORKSTATION,
            pattern_reason="must be 1-16 printable ASCII characters without | (FIAS WS)",
        )  # fmt: skip
        default_negative = mode is PostingMode.NEGATIVE
        allow_negative = self.boolean(table, "allow_negative", path, default_negative)
        if mode is PostingMode.NEGATIVE and allow_negative is False:
            self.error(
                _path(path, "allow_negative"),
                "must be true in negative posting mode (the departure posts a negative sale)",
            )
        wait_hours = self.integer(
            table, "deposit_wait_hours", path, default=720, low=1, high=24 * 366
        )
        answer_timeout = self.seconds(table, "answer_timeout_seconds", path, 60.0)
        alive_interval = self.seconds(table, "alive_interval_seconds", path, 300.0)
        threshold = (
            self.integer(table, "approval_threshold", path, default=_MISSING, low=1,
                         high=999_999_999_999)
            if "approval_threshold" in table
            else None
        )  # fmt: skip
        in_flight = (
            self.integer(table, "max_in_flight", path, default=_MISSING, low=1, high=64)
            if "max_in_flight" in table
            else None
        )
        codes = self.codes(table.get("codes", _MISSING), _path(path, "codes"), mode)
        fias = self.profile_table(table, "fias", path, profile, wanted=profile is Profile.FIAS)
        soap = self.profile_table(
            table, "soap", path, profile, wanted=profile not in (None, Profile.FIAS)
        )
        fias_mapping = self.fias(fias, _path(path, "fias"), codes) if fias is not None else None
        soap_settings = (
            self.soap(soap, _path(path, "soap"), profile) if soap is not None else None
        )
        if len(self.errors) > before:
            return None
        assert profile and endpoint and mode and currency and workstation and codes
        assert allow_negative is not None and wait_hours and answer_timeout and alive_interval
        return PropertyConfig(
            name=name,
            profile=profile,
            endpoint=endpoint,
            posting_mode=mode,
            currency=currency,
            workstation=workstation,
            allow_negative=allow_negative,
            deposit_wait_hours=wait_hours,
            answer_timeout_seconds=answer_timeout,
            alive_interval_seconds=alive_interval,
            codes=codes,
            fias=fias_mapping,
            soap=soap_settings,
            approval_threshold=threshold,
            max_in_flight=in_flight,
        )

    def profile_table(
        self, table: dict[str, Any], key: str, path: str, profile: Profile | None, *, wanted: bool
    ) -> dict[str, Any] | None:
        """The ``fias`` or ``soap`` sub-table: required for its profiles, refused for others."""
        value = table.get(key, _MISSING)
        if profile is None:
            return None
        if value is _MISSING:
            if wanted:
                self.error(_path(path, key), f"missing (required for the {profile} profile)")
            return None
        if not wanted:
            self.error(_path(path, key), f"not used by the {profile} profile")
            return None
        return table[key]  # type: ignore[no-any-return]

    def codes(self, value: object, path: str, mode: PostingMode | None) -> CodeMap | None:
        if value is _MISSING:
            self.error(path, "missing")
            return None
        table = self.table(value, path, _CODES_KEYS)
        if table is None:
            return None
        deposit = self.string(table, "deposit", path)
        if deposit is not None:
            self.check_code(deposit, _path(path, "deposit"))
        redemption = self.string(
            table,
            "redemption_payment_type",
            path,
            default=_MISSING if mode is PostingMode.NORMAL else None,
        )
        if redemption is not None:
            self.check_code(redemption, _path(path, "redemption_payment_type"))
        revenue = self.code_table(table, "revenue", path, required=False)
        payment_types = self.code_table(table, "payment_types", path, required=True)
        # With errors this is partial (deposit may be ""), so the FIAS cross-check can still
        # report every code it lacks; the property itself is not built when errors exist.
        return CodeMap(
            deposit=deposit or "",
            redemption_payment_type=redemption,
            revenue=MappingProxyType(revenue),
            payment_types=MappingProxyType(payment_types),
        )

    def fias(self, value: object, path: str, codes: CodeMap | None) -> FiasMapping | None:
        table = self.table(value, path, _FIAS_KEYS)
        if table is None:
            return None
        before = len(self.errors)
        outlets = self.sales_outlets(table, path)
        methods = self.payment_methods(table, path)
        room = self.string(
            table, "room_payment_method", path, pattern=_FIAS_PM,
            pattern_reason="must be a FIAS payment method: 1-5 printable characters without |",
        )  # fmt: skip
        if room is not None:
            for payment_type, pm in methods.items():
                if pm == room:
                    self.error(
                        _path(_path(path, "payment_methods"), payment_type),
                        f"payment method {pm} is the room_payment_method; a payment must not "
                        "look like a charge to the room",
                    )
        raw_outlets = table.get("sales_outlets")
        raw_methods = table.get("payment_methods")
        if codes is not None:
            # Every code a journey may post needs its FIAS wire code.
            used_outlets = [(codes.deposit, "codes.deposit")] if codes.deposit else []
            used_outlets += [(c, f"codes.revenue.{_key(k)}") for k, c in codes.revenue.items()]
            for code, used_by in used_outlets:
                if isinstance(raw_outlets, dict) and code not in raw_outlets:
                    self.error(
                        _path(_path(path, "sales_outlets"), code),
                        f"missing (transaction code of {used_by})",
                    )
            used_methods = [(c, f"codes.payment_types.{_key(k)}") for k, c in
                            codes.payment_types.items()]  # fmt: skip
            if codes.redemption_payment_type is not None:
                used_methods.append(
                    (codes.redemption_payment_type, "codes.redemption_payment_type")
                )
            for code, used_by in used_methods:
                if isinstance(raw_methods, dict) and code not in raw_methods:
                    self.error(
                        _path(_path(path, "payment_methods"), code),
                        f"missing (payment type of {used_by})",
                    )
        lanes = self.integer(table, "postings_in_flight", path, default=1, low=1, high=16)
        if len(self.errors) > before or room is None:
            return None
        return FiasMapping(
            sales_outlets=MappingProxyType(outlets),
            payment_methods=MappingProxyType(methods),
            room_payment_method=room,
            postings_in_flight=lanes,
        )

    def sales_outlets(self, table: dict[str, Any], path: str) -> dict[str, int]:
        value = self.value(table, "sales_outlets", path, _MISSING)
        where = _path(path, "sales_outlets")
        if value is _MISSING:
            return {}
        if not isinstance(value, dict):
            self.error(where, f"must be a table, not {_toml_type(value)}")
            return {}
        result: dict[str, int] = {}
        seen: dict[int, str] = {}
        for code, outlet in value.items():
            at = _path(where, code)
            if isinstance(outlet, bool) or not isinstance(outlet, int):
                self.error(at, f"must be an integer sales outlet, not {_toml_type(outlet)}")
            elif not 1 <= outlet <= 99999:
                self.error(at, "must be a FIAS sales outlet from 1 to 99999")
            elif outlet in seen:
                self.error(at, f"sales outlet {outlet} is also mapped from {seen[outlet]}")
            else:
                seen[outlet] = code
                result[code] = outlet
        return result

    def payment_methods(self, table: dict[str, Any], path: str) -> dict[str, str]:
        value = self.value(table, "payment_methods", path, _MISSING)
        where = _path(path, "payment_methods")
        if value is _MISSING:
            return {}
        if not isinstance(value, dict):
            self.error(where, f"must be a table, not {_toml_type(value)}")
            return {}
        result: dict[str, str] = {}
        seen: dict[str, str] = {}
        for code, method in value.items():
            at = _path(where, code)
            if not isinstance(method, str):
                self.error(at, f"must be a string, not {_toml_type(method)}")
            elif not _FIAS_PM.fullmatch(method):
                self.error(at, "must be a FIAS payment method: 1-5 printable characters without |")
            elif method in seen:
                self.error(at, f"payment method {method} is also mapped from {seen[method]}")
            else:
                seen[method] = code
                result[code] = method
        return result

    def soap(
        self, value: object, path: str, profile: Profile | None = None
    ) -> SoapSettings | None:
        table = self.table(value, path, _SOAP_KEYS)
        if table is None:
            return None
        before = len(self.errors)
        username = self.env_name(table, "username_env", path)
        password = self.env_name(table, "password_env", path)
        hotel_code = self.string(
            table, "hotel_code", path, default=None, pattern=_HOTEL_CODE,
            pattern_reason="must be 1-40 characters without spaces (the PMS's property code)",
        )  # fmt: skip
        callback = self.string(table, "callback_base_url", path, default=None)
        if callback is not None:
            if profile is not Profile.HTNG_ASYNC:
                self.error(
                    _path(path, "callback_base_url"),
                    f"not used by the {profile} profile (htng-async only)",
                )
            elif (reason := _url_reason(callback)) is not None:
                self.error(
                    _path(path, "callback_base_url"),
                    reason.replace("of the PMS's SOAP service", "where the PMS reaches the "
                                   "gateway"),
                )  # fmt: skip
        if username is None or password is None or len(self.errors) > before:
            return None
        return SoapSettings(
            username_env=username,
            password_env=password,
            hotel_code=hotel_code,
            callback_base_url=callback.rstrip("/") if callback else None,
        )
