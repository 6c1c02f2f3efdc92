"""The SOAP keys of a property's ``[soap]`` table (``hotel_code``, ``callback_base_url``) and
``foliogate check-config`` on the SOAP example configuration."""

from pathlib import Path

import pytest

from adapters.cli import main
from adapters.config import ConfigInvalid, Profile, config_from_toml, load_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gateway-soap.toml"
ENV = {
    "FOLIOGATE_SECRET_PAYMENTS": "s" * 32,
    "FOLIOGATE_DEMO_SOAP_USER": "foliogate-demo",
    "FOLIOGATE_DEMO_SOAP_PASSWORD": "demo-only-password",
}


def config(profile: str, soap: str):
    return config_from_toml(
        f"""
[sources.payments]
secret_env = "S"
[properties.P]
profile = "{profile}"
endpoint = "http://127.0.0.1:9/pms"
posting_mode = "negative"
currency = "GBP"
[properties.P.codes]
deposit = "SPA_DEPOSIT"
payment_types = {{ onejourney = "ONEJOURNEY" }}
[properties.P.soap]
username_env = "U"
password_env = "W"
{soap}
""",
        base_dir=Path("/tmp"),
    )


def test_hotel_code_and_callback_base_url_are_optional():
    soap = config("htng-async", "").properties["P"].soap
    assert (soap.hotel_code, soap.callback_base_url) == (None, None)


def test_hotel_code_and_callback_base_url_are_read():
    soap = config(
        "htng-async", 'hotel_code = "SEASIDE"\ncallback_base_url = "https://gw.example/"'
    ).properties["P"].soap
    assert (soap.hotel_code, soap.callback_base_url) == ("SEASIDE", "https://gw.example")


@pytest.mark.parametrize(
    ("profile", "soap", "error"),
    [
        ("htng-async", 'hotel_code = "two words"',
         "properties.P.soap.hotel_code: must be 1-40 characters without spaces"),
        ("htng-async", 'callback_base_url = "ftp://gw.example"',
         "properties.P.soap.callback_base_url: must be an http:// or https:// URL"),
        ("opera-htng", 'callback_base_url = "https://gw.example"',
         "properties.P.soap.callback_base_url: not used by the opera-htng profile"),
        ("rezlynx", 'reply_to = "https://gw.example"',
         "properties.P.soap.reply_to: unknown key"),
    ],
)  # fmt: skip
def test_bad_soap_keys_are_errors_naming_their_path(profile, soap, error):
    with pytest.raises(ConfigInvalid) as caught:
        config(profile, soap)
    assert any(line.startswith(error) for line in caught.value.errors), caught.value.errors


def test_the_soap_example_has_one_property_per_profile_on_the_simulators_ports():
    loaded = load_config(EXAMPLE)
    by_profile = {prop.profile: prop for prop in loaded.properties.values()}
    assert set(by_profile) == {Profile.OPERA_HTNG, Profile.REZLYNX, Profile.HTNG_ASYNC}
    assert by_profile[Profile.OPERA_HTNG].endpoint == "http://127.0.0.1:8611/opera-htng"
    assert by_profile[Profile.REZLYNX].endpoint == "http://127.0.0.1:8612/rezlynx"
    assert by_profile[Profile.HTNG_ASYNC].endpoint == "http://127.0.0.1:8613/htng-async"
    for prop in loaded.properties.values():
        assert prop.posting_mode.value == "negative" and prop.currency == "GBP"
        assert prop.codes.deposit == "SPA_DEPOSIT"


def test_check_config_accepts_the_soap_example(monkeypatch, capsys):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_config_names_the_missing_soap_secrets(monkeypatch, capsys):
    monkeypatch.setenv("FOLIOGATE_SECRET_PAYMENTS", "s" * 32)
    monkeypatch.delenv("FOLIOGATE_DEMO_SOAP_USER", raising=False)
    monkeypatch.delenv("FOLIOGATE_DEMO_SOAP_PASSWORD", raising=False)
    assert main(["check-config", str(EXAMPLE)]) == 1
    out = capsys.readouterr().out
    assert "properties.DEMO-OPERA.soap.username_env: environment variable " in out
    assert "FOLIOGATE_DEMO_SOAP_PASSWORD is not set" in out
