"""The gateway configuration (adapters.config) and ``foliogate check-config``: every error at
once with its TOML path, defaults, endpoint strings checked without a reactor, secrets from
the environment, and the shipped example matching the simulator's demo hotel."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from adapters.cli import main
from adapters.config import (
    CodeMap,
    ConfigInvalid,
    FiasMapping,
    GatewayConfig,
    GatewaySettings,
    Profile,
    PropertyConfig,
    SecretMissing,
    SoapSettings,
    SourceConfig,
    config_from_toml,
    load_config,
    missing_secrets,
    parse_endpoint,
    secret,
    soap_credentials,
)
from adapters.domain import PostingMode

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "gateway.toml"
DEMO_HOTEL = ROOT / "simulators" / "hotels" / "demo.toml"

MINIMAL = """
[sources.payments]
secret_env = "FOLIOGATE_SECRET_PAYMENTS"

[properties.GRAND-LONDON]
profile = "fias"
endpoint = "tcp:host=127.0.0.1:port=5010"
posting_mode = "normal"
currency = "GBP"
[properties.GRAND-LONDON.codes]
deposit = "SPA_DEPOSIT"
redemption_payment_type = "DEPOSIT_REDEMPTION"
payment_types = { onejourney = "ONEJOURNEY" }
[properties.GRAND-LONDON.fias]
sales_outlets = { SPA_DEPOSIT = 210 }
payment_methods = { ONEJOURNEY = "OJ", DEPOSIT_REDEMPTION = "DR" }
room_payment_method = "ROOM"
"""

SOAP = """
[properties.SEASIDE]
profile = "htng-async"
endpoint = "https://pms.example:8443/htng"
posting_mode = "negative"
currency = "EUR"
[properties.SEASIDE.codes]
deposit = "9100"
payment_types = { onejourney = "OJ" }
[properties.SEASIDE.soap]
username_env = "SEASIDE_USER"
password_env = "SEASIDE_PASSWORD"
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        config_from_toml(text, base_dir=Path("/etc/foliogate"))
    return caught.value.errors


def with_gateway(gateway: str) -> str:
    return f"[gateway]\n{gateway}\n{MINIMAL}"


# --- a valid file -------------------------------------------------------------------------


def test_the_example_configuration_loads_into_frozen_dataclasses():
    config = load_config(EXAMPLE)
    assert config == GatewayConfig(
        path=EXAMPLE,
        gateway=GatewaySettings(
            journal=ROOT / "var" / "foliogate.sqlite",
            listen="tcp:port=8600:interface=127.0.0.1",
            max_body_bytes=65536,
            allow_public=False,
        ),
        sources={"payments": SourceConfig("payments", "FOLIOGATE_SECRET_PAYMENTS")},
        properties={
            "GRAND-LONDON": PropertyConfig(
                name="GRAND-LONDON",
                profile=Profile.FIAS,
                endpoint="tcp:host=127.0.0.1:port=5010",
                posting_mode=PostingMode.NORMAL,
                currency="GBP",
                workstation="FOLIOGATE",
                allow_negative=False,
                deposit_wait_hours=720,
                answer_timeout_seconds=60.0,
                alive_interval_seconds=300.0,
                codes=CodeMap(
                    deposit="SPA_DEPOSIT",
                    redemption_payment_type="DEPOSIT_REDEMPTION",
                    revenue={"SPA_TREATMENT": "SPA_TREATMENT", "ROOM_CHARGE": "ROOM_CHARGE"},
                    payment_types={"onejourney": "ONEJOURNEY"},
                ),
                fias=FiasMapping(
                    sales_outlets={"ROOM_CHARGE": 100, "SPA_DEPOSIT": 210, "SPA_TREATMENT": 220},
                    payment_methods={"ONEJOURNEY": "OJ", "DEPOSIT_REDEMPTION": "DR"},
                    room_payment_method="ROOM",
                    postings_in_flight=4,
                ),
            )
        },
    )


def test_the_example_matches_the_simulator_s_demo_hotel():
    """Every code the gateway posts exists in the demo hotel with the same FIAS SO/PM."""
    hotel = tomllib.loads(DEMO_HOTEL.read_text(encoding="utf-8"))
    prop = load_config(EXAMPLE).properties["GRAND-LONDON"]
    codes, fias = prop.codes, prop.fias
    assert fias is not None
    assert prop.currency == hotel["hotel"]["currency"]
    assert prop.allow_negative == hotel["hotel"]["allow_negative_amounts"]
    hotel_outlets = {int(so): code for so, code in hotel["fias"]["sales_outlets"].items()}
    assert {so: code for code, so in fias.sales_outlets.items()}.items() <= hotel_outlets.items()
    hotel_methods = hotel["fias"]["payment_methods"]
    assert {pm: code for code, pm in fias.payment_methods.items()}.items() <= hotel_methods.items()
    assert hotel_methods[fias.room_payment_method] == "ROOM"

    def kind(code: str) -> tuple[str, str]:
        return hotel["codes"][code]["group"], hotel["codes"][code]["kind"]

    assert kind(codes.deposit) == ("deposit", "charge")
    assert kind(codes.redemption_payment_type) == ("deposit", "payment_type")
    assert {kind(c) for c in codes.revenue.values()} == {("revenue", "charge")}
    assert {kind(c) for c in codes.payment_types.values()} == {("payment", "payment_type")}


def test_defaults_fill_what_a_minimal_file_leaves_out():
    config = config_from_toml(MINIMAL + SOAP, base_dir=Path("/etc/foliogate"))
    assert config.gateway == GatewaySettings(
        journal=Path("/etc/foliogate/var/foliogate.sqlite"),
        listen="tcp:port=8600:interface=127.0.0.1",
        max_body_bytes=65536,
        allow_public=False,
    )
    fias, soap = config.properties["GRAND-LONDON"], config.properties["SEASIDE"]
    assert (fias.workstation, fias.deposit_wait_hours, fias.answer_timeout_seconds) == (
        "FOLIOGATE",
        720,
        60.0,
    )
    assert fias.codes.revenue == {}
    # Refund reversals need negative amounts: off unless asked for, except in negative mode.
    assert (fias.allow_negative, soap.allow_negative) == (False, True)
    assert soap.codes.redemption_payment_type is None
    assert soap.soap == SoapSettings("SEASIDE_USER", "SEASIDE_PASSWORD")
    assert (soap.traits.charge_and_settlement_in_one_leg, soap.traits.posts_before_arrival) == (
        False,
        True,
    )
    assert (fias.traits.charge_and_settlement_in_one_leg, fias.traits.posts_before_arrival) == (
        True,
        False,
    )


def test_the_configuration_is_frozen():
    config = config_from_toml(MINIMAL, base_dir=Path("/etc/foliogate"))
    prop = config.properties["GRAND-LONDON"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        prop.currency = "EUR"  # type: ignore[misc]
    with pytest.raises(TypeError):
        prop.codes.payment_types["cash"] = "CASH"  # type: ignore[index]
    with pytest.raises(TypeError):
        config.properties["OTHER"] = prop  # type: ignore[index]


def test_relative_journal_paths_resolve_against_the_config_file_s_directory(tmp_path):
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "gateway.toml"
    path.write_text(with_gateway('journal = "../data/j.sqlite"'))
    assert load_config(path).gateway.journal == tmp_path / "data" / "j.sqlite"
    path.write_text(with_gateway('journal = "/srv/j.sqlite"'))
    assert load_config(path).gateway.journal == Path("/srv/j.sqlite")


# --- every error at once --------------------------------------------------------------------

BROKEN = """
[gateway]
listen = "tcp:8600"
max_body_byte = 65536
allow_public = "no"

[sources.payments]
secret_env = "FOLIOGATE SECRET"
[sources.backoffice]

[properties.GRAND-LONDON]
profile = "fias"
endpoint = "tcp:host=127.0.0.1"
posting_mode = "negative"
currency = "XYZ"
workstation = "THE-SPA-FRONT-DESK-1"
allow_negative = false
deposit_wait_hours = 0
answer_timeout_seconds = "60"
colour = "blue"
[properties.GRAND-LONDON.codes]
redemption_payment_type = "DEPOSIT_REDEMPTION"
revenue = { SPA_TREATMENT = "SPA_TREATMENT", ROOM = 5 }
payment_types = { onejourney = "ONEJOURNEY", visa = "VISA" }
[properties.GRAND-LONDON.fias]
sales_outlets = { SPA_DEPOSIT = 210, SPA_EXTRA = 210, OLD = 0 }
payment_methods = { ONEJOURNEY = "ONEJOURNEY", CASH = "ROOM" }
room_payment_method = "ROOM"

[properties.SEASIDE]
profile = "opera"
endpoint = "tcp:host=pms:port=80"
posting_mode = "normal"
currency = "GBP"
[properties.SEASIDE.codes]
deposit = "SPA DEPOSIT "
payment_types = {}

[properties.HILLTOP]
profile = "rezlynx"
endpoint = "ftp://pms/rezlynx"
posting_mode = "normal"
currency = "gbp"
[properties.HILLTOP.codes]
deposit = "SPA_DEPOSIT"
payment_types = { onejourney = "ONEJOURNEY" }
[properties.HILLTOP.fias]
room_payment_method = "ROOM"

["properties"."BAD NAME"]
"""


def test_every_error_kind_is_listed_at_once_with_its_toml_path():
    assert errors_of(BROKEN) == [
        "gateway.max_body_byte: unknown key (did you mean max_body_bytes?)",
        "gateway.allow_public: must be true or false, not a string",
        "gateway.listen: listens on every interface; set interface=127.0.0.1 or allow_public = "
        "true",
        "sources.payments.secret_env: must be an environment variable name (letters, digits, _)",
        "sources.backoffice.secret_env: missing",
        "properties.GRAND-LONDON.colour: unknown key",
        "properties.GRAND-LONDON.endpoint: needs a port",
        "properties.GRAND-LONDON.posting_mode: the fias profile supports only normal",
        "properties.GRAND-LONDON.currency: XYZ is not a known ISO 4217 currency code",
        "properties.GRAND-LONDON.workstation: must be 1-16 printable ASCII characters without | "
        "(FIAS WS)",
        "properties.GRAND-LONDON.allow_negative: must be true in negative posting mode (the "
        "departure posts a negative sale)",
        "properties.GRAND-LONDON.deposit_wait_hours: must be from 1 to 8784",
        "properties.GRAND-LONDON.answer_timeout_seconds: must be a number of seconds, not a string",
        "properties.GRAND-LONDON.codes.deposit: missing",
        "properties.GRAND-LONDON.codes.revenue.ROOM: must be a string, not an integer",
        "properties.GRAND-LONDON.fias.sales_outlets.SPA_EXTRA: sales outlet 210 is also mapped "
        "from SPA_DEPOSIT",
        "properties.GRAND-LONDON.fias.sales_outlets.OLD: must be a FIAS sales outlet from 1 to "
        "99999",
        "properties.GRAND-LONDON.fias.payment_methods.ONEJOURNEY: must be a FIAS payment method: "
        "1-5 printable characters without |",
        "properties.GRAND-LONDON.fias.payment_methods.CASH: payment method ROOM is the "
        "room_payment_method; a payment must not look like a charge to the room",
        "properties.GRAND-LONDON.fias.sales_outlets.SPA_TREATMENT: missing (transaction code of "
        "codes.revenue.SPA_TREATMENT)",
        "properties.GRAND-LONDON.fias.payment_methods.VISA: missing (payment type of "
        "codes.payment_types.visa)",
        "properties.GRAND-LONDON.fias.payment_methods.DEPOSIT_REDEMPTION: missing (payment type "
        "of codes.redemption_payment_type)",
        "properties.SEASIDE.profile: must be one of fias, opera-htng, rezlynx, htng-async",
        "properties.SEASIDE.codes.deposit: must be a PMS code: 1-40 printable ASCII characters",
        "properties.SEASIDE.codes.redemption_payment_type: missing",
        "properties.SEASIDE.codes.payment_types: must map at least one code",
        "properties.HILLTOP.endpoint: must be an http:// or https:// URL of the PMS's SOAP service",
        "properties.HILLTOP.currency: gbp is not a known ISO 4217 currency code",
        "properties.HILLTOP.codes.redemption_payment_type: missing",
        "properties.HILLTOP.fias: not used by the rezlynx profile",
        "properties.HILLTOP.soap: missing (required for the rezlynx profile)",
        'properties."BAD NAME": name must be 1-64 letters, digits, _ or -, starting with a letter '
        "or digit",
    ]


def test_a_file_without_sources_or_properties_says_what_is_missing():
    assert errors_of("[gateway]\n") == [
        "sources: missing: name at least one ingest caller ([sources.NAME])",
        "properties: missing: configure at least one property",
    ]
    assert errors_of("sources = 1\nproperties = {}\nwhatever = true\n") == [
        "whatever: unknown key",
        "sources: must be a table, not an integer",
        "properties: must configure at least one property",
    ]


def test_invalid_toml_and_unreadable_files_are_one_clear_error(tmp_path):
    assert errors_of("[gateway\n") == [
        "not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 9)"
    ]
    with pytest.raises(ConfigInvalid) as caught:
        load_config(tmp_path / "nope.toml")
    assert caught.value.errors == ["cannot read the file: No such file or directory"]


# --- endpoint strings -------------------------------------------------------------------------


def test_endpoint_strings_split_like_twisted_without_a_reactor():
    assert parse_endpoint(r"tcp:port=8600:interface=\:\:1") == (
        "tcp",
        [],
        {"port": "8600", "interface": "::1"},
    )
    assert parse_endpoint("TCP:127.0.0.1:5010:timeout=5") == (
        "tcp",
        ["127.0.0.1", "5010"],
        {"timeout": "5"},
    )
    assert parse_endpoint("ssl:host=pms:port=5011:hostname=a=b") == (
        "ssl",
        [],
        {"host": "pms", "port": "5011", "hostname": "a=b"},
    )
    with pytest.raises(ValueError, match="port is given twice"):
        parse_endpoint("tcp:port=1:port=2")


@pytest.mark.parametrize(
    ("listen", "error"),
    [
        ("tcp:port=8600:interface=127.0.0.1", None),
        ("tcp:0:interface=127.0.0.2", None),
        (r"tcp6:port=8600:interface=\:\:1", None),
        ("ssl:port=8443:privateKey=key.pem:interface=127.0.0.1", None),
        ("tcp:port=8600", "listens on every interface; set interface=127.0.0.1 or allow_public = "
         "true"),
        ("tcp6:8600", "interface :: is not loopback; set allow_public = true to allow it"),
        ("tcp:port=8600:interface=10.1.2.3", "interface 10.1.2.3 is not loopback; set "
         "allow_public = true to allow it"),
        ("tcp:port=8600:interface=localhost", "interface 'localhost' is not an IP address"),
        ("tcp:port=http:interface=127.0.0.1", "port must be a number from 0 to 65535"),
        ("tcp:interface=127.0.0.1", "needs a port"),
        ("unix:address=/run/foliogate.sock", "endpoint type must be one of tcp:, tcp6:, ssl:"),
        ("tcp:port=8600:reuse=yes", "unknown tcp: parameter 'reuse' (known: port, interface, "
         "backlog)"),
        ("tcp:8600:port=8601", "port is given twice"),
    ],
)  # fmt: skip
def test_the_listener_must_parse_and_be_loopback(listen, error):
    text = with_gateway(f"listen = '{listen}'")
    if error is None:
        assert config_from_toml(text, base_dir=Path("/")).gateway.listen == listen
    else:
        assert errors_of(text) == [f"gateway.listen: {error}"]


def test_allow_public_lets_the_listener_use_any_interface():
    config = config_from_toml(
        with_gateway('listen = "tcp:port=8600"\nallow_public = true'), base_dir=Path("/")
    )
    assert config.gateway.allow_public is True


@pytest.mark.parametrize(
    ("endpoint", "error"),
    [
        ("tcp:host=127.0.0.1:port=5010", None),
        ("tcp:pms.hotel.lan:5010", None),
        ("ssl:host=pms:port=5011:caCertsDir=/etc/ssl/certs:timeout=10", None),
        ("tcp:port=5010", "needs a host, e.g. tcp:host=127.0.0.1:port=5010"),
        ("tcp:host=pms:port=0", "port must be a number from 1 to 65535"),
        ("tcp:host=pms:port=5010:timeout=0", "timeout must be a whole number of seconds > 0"),
        ("tcp:pms:5010:3", "too many positional parameters for tcp: at most 2"),
        ("http://pms:5010", "endpoint type must be one of tcp:, ssl:"),
    ],
)  # fmt: skip
def test_fias_endpoints_are_twisted_client_endpoint_strings(endpoint, error):
    text = MINIMAL.replace("tcp:host=127.0.0.1:port=5010", endpoint)
    if error is None:
        assert config_from_toml(text, base_dir=Path("/")).properties["GRAND-LONDON"].endpoint == (
            endpoint
        )
    else:
        assert errors_of(text) == [f"properties.GRAND-LONDON.endpoint: {error}"]


# --- secrets ----------------------------------------------------------------------------------


def test_secrets_are_read_from_the_environment_at_run_time():
    config = config_from_toml(MINIMAL + SOAP, base_dir=Path("/"))
    environ = {"FOLIOGATE_SECRET_PAYMENTS": "s3cret", "SEASIDE_USER": "gw", "SEASIDE_PASSWORD": ""}
    assert missing_secrets(config, environ) == [
        "properties.SEASIDE.soap.password_env: environment variable SEASIDE_PASSWORD is not set",
    ]
    assert secret(config.sources["payments"], environ) == b"s3cret"
    with pytest.raises(SecretMissing, match="environment variable SEASIDE_PASSWORD is not set"):
        soap_credentials(config.properties["SEASIDE"], environ)
    environ["SEASIDE_PASSWORD"] = "pw"
    assert soap_credentials(config.properties["SEASIDE"], environ) == ("gw", "pw")
    with pytest.raises(SecretMissing, match="FOLIOGATE_SECRET_PAYMENTS is not set"):
        secret(config.sources["payments"], {})


# --- foliogate check-config -------------------------------------------------------------------


def test_check_config_prints_a_summary_and_exits_0_for_a_good_file(capsys, monkeypatch):
    monkeypatch.setenv("FOLIOGATE_SECRET_PAYMENTS", "s3cret")
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{EXAMPLE}: OK",
        f"  listen tcp:port=8600:interface=127.0.0.1; journal {ROOT / 'var' / 'foliogate.sqlite'}; "
        "max body 65536 bytes",
        "  source payments: secret from $FOLIOGATE_SECRET_PAYMENTS",
        "  property GRAND-LONDON: fias at tcp:host=127.0.0.1:port=5010, normal posting in GBP, "
        "deposit SPA_DEPOSIT, 2 revenue codes, 1 payment type, refunds by hand",
    ]


def test_check_config_reports_an_unset_secret_unless_told_not_to(capsys, monkeypatch):
    monkeypatch.delenv("FOLIOGATE_SECRET_PAYMENTS", raising=False)
    assert main(["check-config", str(EXAMPLE)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{EXAMPLE}: sources.payments.secret_env: environment variable "
        "FOLIOGATE_SECRET_PAYMENTS is not set",
        f"{EXAMPLE}: 1 error",
    ]
    assert main(["check-config", "--no-secrets", str(EXAMPLE)]) == 0


def test_check_config_prints_every_error_one_per_line_and_exits_1(capsys, tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(BROKEN)
    assert main(["check-config", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{path}: {error}" for error in errors_of(BROKEN)] + [f"{path}: 32 errors"]


def test_check_config_of_a_missing_file_exits_1(capsys, tmp_path):
    assert main(["check-config", str(tmp_path / "none.toml")]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{tmp_path / 'none.toml'}: cannot read the file: No such file or directory",
        f"{tmp_path / 'none.toml'}: 1 error",
    ]


def test_max_in_flight_is_optional_and_bounded_and_the_gateway_uses_it():
    """Unset: the gateway's per-profile default; set: that many legs on their way at once."""
    from twisted.internet import task

    from adapters.gateway import FIAS_MAX_IN_FLIGHT, SOAP_MAX_IN_FLIGHT, Gateway

    config = config_from_toml(MINIMAL + SOAP, base_dir=Path("/etc/foliogate"))
    fias, soap = config.properties["GRAND-LONDON"], config.properties["SEASIDE"]
    assert (fias.max_in_flight, soap.max_in_flight) == (None, None)
    gateway = Gateway(config, reactor=task.Clock(), environ={})
    assert (gateway._max_in_flight(fias), gateway._max_in_flight(soap)) == (
        FIAS_MAX_IN_FLIGHT,
        SOAP_MAX_IN_FLIGHT,
    )

    tuned = MINIMAL.replace('currency = "GBP"', 'currency = "GBP"\nmax_in_flight = 2', 1)
    prop = config_from_toml(tuned, base_dir=Path("/etc")).properties["GRAND-LONDON"]
    assert prop.max_in_flight == 2
    assert Gateway(config, reactor=task.Clock(), environ={})._max_in_flight(prop) == 2

    bad = MINIMAL.replace('currency = "GBP"', 'currency = "GBP"\nmax_in_flight = 0', 1)
    with pytest.raises(ConfigInvalid) as exc:
        config_from_toml(bad, base_dir=Path("/etc"))
    assert exc.value.errors == ["properties.GRAND-LONDON.max_in_flight: must be from 1 to 64"]


def test_postings_in_flight_defaults_to_one_is_bounded_and_widens_the_legs_in_flight():
    """FIAS ``postings_in_flight``: unset, one posting awaits its PA at a time; set, that many
    lanes, and the default legs in flight grow to keep them busy (twice the lanes)."""
    from twisted.internet import task

    from adapters.gateway import FIAS_MAX_IN_FLIGHT, Gateway

    config = config_from_toml(MINIMAL, base_dir=Path("/etc"))
    prop = config.properties["GRAND-LONDON"]
    assert prop.fias is not None and prop.fias.postings_in_flight == 1
    assert Gateway(config, reactor=task.Clock(), environ={})._max_in_flight(prop) == (
        FIAS_MAX_IN_FLIGHT
    )

    six = MINIMAL.replace(
        'room_payment_method = "ROOM"', 'room_payment_method = "ROOM"\npostings_in_flight = 6', 1
    )
    config = config_from_toml(six, base_dir=Path("/etc"))
    prop = config.properties["GRAND-LONDON"]
    assert prop.fias is not None and prop.fias.postings_in_flight == 6
    assert Gateway(config, reactor=task.Clock(), environ={})._max_in_flight(prop) == 12

    for bad, why in (("0", "must be from 1 to 16"), ('"4"', "must be an integer, not a string")):
        text = MINIMAL.replace(
            'room_payment_method = "ROOM"',
            f'room_payment_method = "ROOM"\npostings_in_flight = {bad}',
        )
        with pytest.raises(ConfigInvalid) as exc:
            config_from_toml(text, base_dir=Path("/etc"))
        assert exc.value.errors == [f"properties.GRAND-LONDON.fias.postings_in_flight: {why}"]
