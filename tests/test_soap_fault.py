"""SOAP faults round-trip in 1.1 and 1.2 (code, subcode, reason, detail), foreign faults read
sensibly, and each maps to the HTTP status a server answers with."""

import pytest

from protocols.soap import (
    Addressing,
    Fault,
    FaultCode,
    SoapFault,
    SoapVersion,
    WsaVersion,
    build_fault_envelope,
    fault_http_status,
    parse_envelope,
    parse_fault,
    parse_xml,
)

ROUND_TRIP_CODES = [
    FaultCode.SENDER,
    FaultCode.RECEIVER,
    FaultCode.VERSION_MISMATCH,
    FaultCode.MUST_UNDERSTAND,
]


def _round_trip(fault, version):
    envelope = parse_envelope(parse_xml(build_fault_envelope(fault, version)))
    assert envelope.is_fault
    assert envelope.version is version
    return parse_fault(envelope.payload)


@pytest.mark.parametrize("version", list(SoapVersion))
@pytest.mark.parametrize("code", ROUND_TRIP_CODES)
def test_fault_round_trips_with_code_subcode_reason_and_detail(version, code):
    fault = Fault(
        code,
        "body does not match the schema",
        subcode="SchemaInvalid",
        detail=("/PostChargeRequest/Amount: missing", "/PostChargeRequest/X: not expected"),
    )
    assert _round_trip(fault, version) == fault


@pytest.mark.parametrize("version", list(SoapVersion))
def test_bare_fault_round_trips(version):
    fault = Fault(FaultCode.RECEIVER, "PMS database unavailable")
    assert _round_trip(fault, version) == fault


def test_data_encoding_unknown_round_trips_in_soap12_and_is_a_client_fault_in_soap11():
    fault = Fault(FaultCode.DATA_ENCODING_UNKNOWN, "rpc/encoded is not spoken here")
    assert _round_trip(fault, SoapVersion.SOAP12) == fault
    assert _round_trip(fault, SoapVersion.SOAP11) == Fault(FaultCode.SENDER, fault.reason)


def test_soap11_fault_wire_form():
    data = build_fault_envelope(
        Fault(FaultCode.SENDER, "unknown user", "FailedAuthentication"), SoapVersion.SOAP11
    )
    assert data == (
        b"<?xml version='1.0' encoding='utf-8'?>\n"
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<soap:Fault xmlns:fg="urn:foliogate:soap:1">'
        b"<faultcode>soap:Client.FailedAuthentication</faultcode>"
        b"<faultstring>unknown user</faultstring></soap:Fault></soap:Body></soap:Envelope>"
    )


def test_soap12_fault_keeps_the_subcode_prefix_declared_even_without_detail():
    data = build_fault_envelope(
        Fault(FaultCode.SENDER, "unknown user", "FailedAuthentication"), SoapVersion.SOAP12
    )
    assert b'xmlns:fg="urn:foliogate:soap:1"' in data
    assert b"<env:Value>fg:FailedAuthentication</env:Value>" in data
    assert b'<env:Text xml:lang="en">unknown user</env:Text>' in data


def test_fault_envelope_can_carry_addressing():
    addressing = Addressing(
        WsaVersion.WSA_2004_08,
        action="urn:x#Fault",
        message_id="urn:uuid:f",
        relates_to="urn:uuid:r",
    )
    data = build_fault_envelope(
        Fault(FaultCode.SENDER, "bad"), SoapVersion.SOAP11, addressing=addressing
    )
    assert parse_envelope(parse_xml(data)).addressing == addressing


def _fault_of(data):
    return parse_fault(parse_envelope(parse_xml(data)).payload)


def test_foreign_soap11_ws_security_fault_is_a_sender_fault():
    data = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
        b'<faultcode xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
        b'oasis-200401-wss-wssecurity-secext-1.0.xsd">wsse:FailedAuthentication</faultcode>'
        b"<faultstring>  The security token could\n not be authenticated </faultstring>"
        b"<detail>Bad password</detail></s:Fault></s:Body></s:Envelope>"
    )
    assert _fault_of(data) == Fault(
        FaultCode.SENDER,
        "The security token could not be authenticated",
        subcode="FailedAuthentication",
        detail=("Bad password",),
    )


def test_foreign_soap11_server_fault_with_element_detail():
    data = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
        b"<faultcode>s:Server</faultcode><faultstring>Object reference not set</faultstring>"
        b'<detail><e:Info xmlns:e="urn:vendor"><e:Code>42</e:Code> at line 7</e:Info></detail>'
        b"</s:Fault></s:Body></s:Envelope>"
    )
    assert _fault_of(data) == Fault(
        FaultCode.RECEIVER, "Object reference not set", detail=("42 at line 7",)
    )


def test_foreign_soap12_fault_with_a_vendor_subcode():
    data = (
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><e:Fault>'
        b"<e:Code><e:Value>e:Sender</e:Value><e:Subcode>"
        b'<e:Value xmlns:v="urn:vendor">v:InvalidHotel</e:Value></e:Subcode></e:Code>'
        b'<e:Reason><e:Text xml:lang="en">hotel code unknown</e:Text></e:Reason>'
        b"</e:Fault></e:Body></e:Envelope>"
    )
    assert _fault_of(data) == Fault(FaultCode.SENDER, "hotel code unknown", "InvalidHotel")


def test_parse_fault_refuses_an_element_that_is_not_a_fault():
    with pytest.raises(ValueError, match="not a SOAP Fault element: Ping"):
        parse_fault(parse_xml(b"<Ping/>"))


@pytest.mark.parametrize(
    ("code", "version", "status"),
    [
        (FaultCode.SENDER, SoapVersion.SOAP11, 500),
        (FaultCode.RECEIVER, SoapVersion.SOAP11, 500),
        (FaultCode.SENDER, SoapVersion.SOAP12, 400),
        (FaultCode.RECEIVER, SoapVersion.SOAP12, 500),
        (FaultCode.VERSION_MISMATCH, SoapVersion.SOAP12, 500),
    ],
)
def test_fault_http_status(code, version, status):
    assert fault_http_status(Fault(code, "x"), version) == status


def test_soap_fault_exception_says_code_subcode_and_reason():
    error = SoapFault(Fault(FaultCode.SENDER, "unknown user", "FailedAuthentication"))
    assert str(error) == "SOAP fault Sender.FailedAuthentication: unknown user"
    assert error.fault.reason == "unknown user"
