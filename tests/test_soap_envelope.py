"""SOAP 1.1/1.2 envelopes with WS-Addressing (2004/08, 2005/08) and WS-Security: what we build
reads back the same, and broken envelopes are refused with the fault a server should send."""

import datetime as dt

import pytest
from lxml import etree

from protocols.soap import (
    Addressing,
    Caller,
    Credentials,
    EnvelopeError,
    FaultCode,
    Security,
    SoapVersion,
    Stamp,
    WsaVersion,
    action_from_http,
    build_envelope,
    build_request,
    build_response,
    format_datetime,
    http_headers,
    parse_datetime,
    parse_envelope,
    parse_xml,
)
from protocols.soap.namespaces import PASSWORD_DIGEST, PASSWORD_TEXT, WSSE

NOW = dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC)
MESSAGE_ID = "urn:uuid:00000000-0000-4000-8000-000000000001"
CALLER = Caller(
    to="http://pms.example/opera",
    credentials=Credentials("IFCUSER", "s3cret"),
    from_address="urn:foliogate:GRAND",
)


def _payload():
    element = etree.Element("{urn:test}Ping", nsmap={None: "urn:test"})
    etree.SubElement(element, "{urn:test}Value").text = "1"
    return element


def _read(data):
    return parse_envelope(parse_xml(data))


@pytest.mark.parametrize("version", list(SoapVersion))
@pytest.mark.parametrize("wsa", list(WsaVersion))
def test_request_headers_read_back_exactly(version, wsa):
    data = build_request(
        version,
        wsa,
        _payload(),
        action="urn:test#Ping",
        caller=CALLER,
        stamp=Stamp(MESSAGE_ID, NOW),
    )
    envelope = _read(data)
    assert envelope.version is version
    assert envelope.payload.tag == "{urn:test}Ping"
    assert envelope.addressing == Addressing(
        version=wsa,
        action="urn:test#Ping",
        message_id=MESSAGE_ID,
        to="http://pms.example/opera",
        from_address="urn:foliogate:GRAND",
        reply_to=wsa.anonymous,
    )
    assert envelope.security == Security(
        username="IFCUSER",
        password="s3cret",
        password_type=PASSWORD_TEXT,
        created=NOW,
        expires=NOW + dt.timedelta(minutes=5),
    )
    assert envelope.not_understood == ()
    assert not envelope.is_fault


def test_anonymous_addresses_differ_between_the_two_wsa_versions():
    assert WsaVersion.WSA_2004_08.anonymous == (
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    )
    assert WsaVersion.WSA_2005_08.anonymous == "http://www.w3.org/2005/08/addressing/anonymous"


def test_request_with_reply_to_and_relates_to_carries_both():
    caller = Caller(to="http://pms/", reply_to="https://gw.example/callback")
    data = build_request(
        SoapVersion.SOAP12,
        WsaVersion.WSA_2005_08,
        _payload(),
        action="urn:test#Result",
        caller=caller,
        stamp=Stamp(MESSAGE_ID, NOW),
        relates_to="urn:uuid:earlier",
    )
    addressing = _read(data).addressing
    assert (addressing.reply_to, addressing.relates_to) == (
        "https://gw.example/callback",
        "urn:uuid:earlier",
    )


def test_request_without_credentials_carries_a_timestamp_only():
    data = build_request(
        SoapVersion.SOAP11,
        WsaVersion.WSA_2004_08,
        _payload(),
        action="urn:test#Ping",
        caller=Caller(to="http://pms/", timestamp_ttl=dt.timedelta(seconds=30)),
        stamp=Stamp(MESSAGE_ID, NOW),
    )
    assert _read(data).security == Security(created=NOW, expires=NOW + dt.timedelta(seconds=30))


def test_response_relates_to_the_request_and_has_a_fresh_timestamp():
    later = NOW + dt.timedelta(seconds=2)
    data = build_response(
        SoapVersion.SOAP11,
        WsaVersion.WSA_2004_08,
        _payload(),
        action="urn:test#PingResponse",
        relates_to=MESSAGE_ID,
        stamp=Stamp("urn:uuid:reply", later),
    )
    envelope = _read(data)
    assert envelope.addressing == Addressing(
        version=WsaVersion.WSA_2004_08,
        action="urn:test#PingResponse",
        message_id="urn:uuid:reply",
        relates_to=MESSAGE_ID,
        to=WsaVersion.WSA_2004_08.anonymous,
    )
    assert envelope.security == Security(created=later, expires=later + dt.timedelta(minutes=5))


def test_envelope_without_headers_has_no_header_element():
    data = build_envelope(SoapVersion.SOAP11, _payload())
    assert data == (
        b"<?xml version='1.0' encoding='utf-8'?>\n"
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<Ping xmlns="urn:test"><Value>1</Value></Ping></soap:Body></soap:Envelope>'
    )
    envelope = _read(data)
    assert (envelope.headers, envelope.addressing, envelope.security) == ((), None, None)


def test_stamp_takes_the_injected_clock_and_id_generator():
    ids = iter(["urn:uuid:a", "urn:uuid:b"])
    stamps = [Stamp.fresh(lambda: NOW, lambda: next(ids)) for _ in range(2)]
    assert stamps == [Stamp("urn:uuid:a", NOW), Stamp("urn:uuid:b", NOW)]
    assert Stamp.fresh(lambda: NOW).message_id.startswith("urn:uuid:")
    with pytest.raises(ValueError, match="timezone-aware"):
        Stamp("urn:uuid:x", dt.datetime(2026, 1, 1))


def test_credentials_and_security_never_show_the_password_in_repr():
    assert "s3cret" not in repr(CALLER)
    assert "s3cret" not in repr(Security.stamped(NOW, credentials=CALLER.credentials))


def test_security_matches_only_the_same_credentials_as_password_text():
    security = Security.stamped(NOW, credentials=Credentials("IFCUSER", "s3cret"))
    assert security.matches(Credentials("IFCUSER", "s3cret"))
    assert not security.matches(Credentials("IFCUSER", "wrong"))
    assert not security.matches(Credentials("OTHER", "s3cret"))
    digest = Security("IFCUSER", "s3cret", PASSWORD_DIGEST, NOW, NOW)
    assert not digest.matches(Credentials("IFCUSER", "s3cret"))
    assert not Security(created=NOW).matches(Credentials("IFCUSER", "s3cret"))


@pytest.mark.parametrize(
    ("security", "now", "problem"),
    [
        (Security.stamped(NOW), NOW + dt.timedelta(minutes=9), None),
        (
            Security.stamped(NOW),
            NOW + dt.timedelta(minutes=10, seconds=1),
            "wsu:Timestamp expired at 2026-11-21T10:09:05Z",
        ),
        (
            Security.stamped(NOW),
            NOW - dt.timedelta(minutes=6),
            "wsu:Created 2026-11-21T10:04:05Z is in the future",
        ),
        (Security(username="u"), NOW, "no wsu:Timestamp/wsu:Created"),
        (
            Security(created=NOW, expires=NOW - dt.timedelta(seconds=1)),
            NOW,
            "wsu:Expires is before wsu:Created",
        ),
    ],
)
def test_timestamp_problem_names_stale_future_and_missing_timestamps(security, now, problem):
    assert security.timestamp_problem(now) == problem


def test_datetimes_are_utc_with_z_and_keep_microseconds():
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert format_datetime(dt.datetime(2026, 11, 21, 12, 4, 5, tzinfo=plus_two)) == (
        "2026-11-21T10:04:05Z"
    )
    precise = NOW.replace(microsecond=123456)
    assert format_datetime(precise) == "2026-11-21T10:04:05.123456Z"
    assert parse_datetime("2026-11-21T10:04:05.123456Z") == precise
    assert parse_datetime("2026-11-21T10:04:05") == NOW  # no offset: taken as UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        format_datetime(dt.datetime(2026, 1, 1))


def _envelope(body, header=b"", ns=b"http://schemas.xmlsoap.org/soap/envelope/"):
    return (
        b'<s:Envelope xmlns:s="'
        + ns
        + b'">'
        + header
        + b"<s:Body>"
        + body
        + b"</s:Body></s:Envelope>"
    )


@pytest.mark.parametrize(
    ("data", "message", "fault_code"),
    [
        (
            _envelope(b"<p/>", ns=b"urn:not-soap"),
            "Envelope namespace 'urn:not-soap' is neither SOAP 1.1 nor SOAP 1.2",
            FaultCode.VERSION_MISMATCH,
        ),
        (b"<Ping/>", "root element is Ping, not a SOAP Envelope", FaultCode.SENDER),
        (
            _envelope(b""),
            "Body must hold exactly one element; it holds 0",
            FaultCode.SENDER,
        ),
        (
            _envelope(b"<a/><b/>"),
            "Body must hold exactly one element; it holds 2",
            FaultCode.SENDER,
        ),
        (
            b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/></s:Envelope>',
            "Envelope must hold an optional Header and one Body; found nothing",
            FaultCode.SENDER,
        ),
        (
            _envelope(
                b"<p/>",
                b'<s:Header><a:Action xmlns:a="http://www.w3.org/2005/08/addressing">x</a:Action>'
                b'<b:To xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing">y</b:To>'
                b"</s:Header>",
            ),
            "WS-Addressing headers mix the 2004/08 and 2005/08 namespaces",
            FaultCode.SENDER,
        ),
        (
            _envelope(
                b"<p/>",
                b'<s:Header><a:ReplyTo xmlns:a="http://www.w3.org/2005/08/addressing"/></s:Header>',
            ),
            "wsa:ReplyTo has no wsa:Address",
            FaultCode.SENDER,
        ),
        (
            _envelope(
                b"<p/>",
                b'<s:Header><w:Security xmlns:w="' + WSSE.encode() + b'"/>'
                b'<w:Security xmlns:w="' + WSSE.encode() + b'"/></s:Header>',
            ),
            "more than one wsse:Security header",
            FaultCode.SENDER,
        ),
    ],
)
def test_broken_envelopes_are_refused_with_the_fault_to_answer(data, message, fault_code):
    with pytest.raises(EnvelopeError) as caught:
        _read(data)
    assert (str(caught.value), caught.value.fault_code) == (message, fault_code)


def test_timestamp_that_is_not_a_datetime_is_refused():
    header = (
        b'<s:Header><w:Security xmlns:w="' + WSSE.encode() + b'" '
        b'xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
        b"<u:Timestamp><u:Created>yesterday</u:Created></u:Timestamp></w:Security></s:Header>"
    )
    with pytest.raises(EnvelopeError, match="wsu:Created 'yesterday' is not an xs:dateTime"):
        _read(_envelope(b"<p/>", header))


def test_must_understand_headers_we_do_not_process_are_reported():
    header = (
        b'<s:Header><x:Session xmlns:x="urn:other" s:mustUnderstand="1">1</x:Session>'
        b'<x:Hint xmlns:x="urn:other">2</x:Hint></s:Header>'
    )
    assert _read(_envelope(b"<p/>", header)).not_understood == ("{urn:other}Session",)


def test_whitespace_and_comments_around_the_payload_are_ignored():
    envelope = _read(_envelope(b"\n  <!-- note -->\n  <p/>\n"))
    assert envelope.payload.tag == "p"


def test_http_headers_per_soap_version():
    assert http_headers(SoapVersion.SOAP11, "urn:a#Op") == {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": '"urn:a#Op"',
    }
    assert http_headers(SoapVersion.SOAP12, "urn:a/Op") == {
        "Content-Type": 'application/soap+xml; charset=utf-8; action="urn:a/Op"'
    }


@pytest.mark.parametrize(
    ("content_type", "soap_action", "action"),
    [
        ('application/soap+xml; charset=utf-8; action="urn:a/Op"', None, "urn:a/Op"),
        ("application/soap+xml;action=urn:a/Op;charset=utf-8", None, "urn:a/Op"),
        ("text/xml; charset=utf-8", '"urn:a#Op"', "urn:a#Op"),
        ("text/xml; charset=utf-8", '""', None),
        ("text/xml", None, None),
        (None, None, None),
    ],
)
def test_action_is_read_back_from_http_headers(content_type, soap_action, action):
    assert action_from_http(content_type, soap_action) == action
