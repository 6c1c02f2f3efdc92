"""The wire log never holds a password or a card number: mask_secrets hides UsernameToken and
LogIn passwords and Luhn-valid 13-19 digit runs, on any bytes, even malformed ones."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from protocols.htng import rezlynx
from protocols.soap import (
    Caller,
    Credentials,
    SoapVersion,
    Stamp,
    WsaVersion,
    build_request,
    luhn_valid,
    mask_secrets,
    parse_xml,
)


def test_usernametoken_password_is_masked_and_the_document_stays_well_formed():
    payload = etree.Element("{urn:test}Ping")
    data = build_request(
        SoapVersion.SOAP11,
        WsaVersion.WSA_2004_08,
        payload,
        action="urn:test#Ping",
        caller=Caller(to="http://pms/", credentials=Credentials("IFCUSER", "Sup3r$ecret<&>")),
        stamp=Stamp("urn:uuid:1", dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC)),
    )
    masked = mask_secrets(data)
    assert b"Sup3r" not in masked
    assert b"ecret" not in masked
    root = parse_xml(masked)
    password = root.find(".//{*}Password")
    assert password.text == "****"
    assert password.get("Type").endswith("#PasswordText")
    assert root.findtext(".//{*}Username") == "IFCUSER"


def test_rezlynx_login_password_is_masked():
    data = rezlynx.build_log_in_request(
        rezlynx.LogInRequest(site_id="SITE1", operator_code="IFC", password="hunter2 ")
    )
    masked = mask_secrets(data)
    assert b"hunter2" not in masked
    assert b"<Password>****</Password>" in masked
    assert b"<OperatorCode>IFC</OperatorCode>" in masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        (b"<PAN>4111111111111111</PAN>", b"<PAN>************1111</PAN>"),
        (b"<c>4111 1111 1111 1111</c>", b"<c>**** **** **** 1111</c>"),
        (b"<c>5500-0000-0000-0004</c>", b"<c>****-****-****-0004</c>"),
        (b"<c>378282246310005</c>", b"<c>***********0005</c>"),  # Amex, 15 digits
        (b'Ref="card 6011111111111117 end"', b'Ref="card ************1117 end"'),
        (b"<c>4222222222222</c>", b"<c>*********2222</c>"),  # 13 digits
    ],
)
def test_luhn_valid_card_numbers_are_masked_except_the_last_four(raw, masked):
    assert mask_secrets(raw) == masked


@pytest.mark.parametrize(
    "raw",
    [
        b"<c>4111111111111112</c>",  # fails Luhn
        b"<TimeStamp>2026-11-21T10:04:05Z</TimeStamp>",
        b"<Amount>-5000</Amount>",
        b"<Id>123456789012</Id>",  # 12 digits: too short to be a card
        b"<Id>41111111111111111111</Id>",  # 20 digits: too long
    ],
)
def test_other_digit_runs_are_left_alone(raw):
    assert mask_secrets(raw) == raw


def test_masking_works_on_truncated_and_malformed_bytes():
    raw = b"<soap:Envelope><wsse:Password Type='x'>abc</wsse:Password><PAN>4111111111111111"
    assert mask_secrets(raw) == (
        b"<soap:Envelope><wsse:Password Type='x'>****</wsse:Password><PAN>************1111"
    )


def test_multiline_password_text_is_masked_entirely():
    raw = b"<Password>\n  line1\n  line2\n</Password><Other>keep</Other>"
    assert mask_secrets(raw) == b"<Password>****</Password><Other>keep</Other>"


def test_luhn_check():
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


_PIECES = st.sampled_from(
    [b"4111", b"1111", b" ", b"-", b"--", b"  ", b"<a>", b"</a>", b"9", b"12", b"x", b"\x00",
     b"<Password>", b"</Password>", b"4242424242424242", b"2026-11-22T02:35:13"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(_PIECES, max_size=30))
def test_the_quick_check_never_skips_what_the_patterns_would_mask(parts):
    """mask_secrets and mask_wire skip their digit patterns when a C-speed check finds no run
    long enough; the result must be what the patterns alone give."""
    from adapters.journal import _WIRE_DIGIT_RUN, mask_wire
    from protocols.soap.masking import _DIGIT_RUN, _PASSWORD, MASK, _mask_card, mask_secrets

    data = b"".join(parts)
    plain = _PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), data)
    assert mask_secrets(data) == _DIGIT_RUN.sub(_mask_card, plain)
    assert mask_wire(data) == _WIRE_DIGIT_RUN.sub(
        lambda m: b"*" * (len(m.group()) - 4) + m.group()[-4:], data
    )
