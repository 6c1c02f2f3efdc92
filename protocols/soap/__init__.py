"""SOAP wire format: envelopes, WS-Addressing, WS-Security, faults, hardened parsing, masking.

Pure functions and frozen dataclasses, no I/O. The profiles in :mod:`protocols.htng` build
their messages with this package; simulators and the gateway read what arrives with it.

Receiving (server or client side)::

    root = parse_xml(data)                 # XmlRejected / HostileXml: answer a Sender fault
    envelope = parse_envelope(root)        # EnvelopeError(.fault_code): answer that fault
    envelope.security.matches(creds)       # wsse:UsernameToken check (constant time)
    envelope.security.timestamp_problem(now)
    envelope.addressing.message_id         # for RelatesTo in the answer
    validator.validate_body(envelope.payload)  # XsdValidator: schema errors with paths
    if envelope.is_fault: parse_fault(envelope.payload)

Sending::

    stamp = Stamp.fresh(now, new_message_id)   # the injected clock and id generator
    build_request(SoapVersion.SOAP11, WsaVersion.WSA_2004_08, payload,
                  action=..., caller=Caller(to=..., credentials=...), stamp=stamp)
    build_response(..., relates_to=request_message_id, stamp=stamp)
    build_fault_envelope(Fault(FaultCode.SENDER, "..."), SoapVersion.SOAP12)
    http_headers(version, action)              # Content-Type / SOAPAction

Logging: ``mask_secrets(raw)`` before any raw message reaches the wire log.
"""

from protocols.soap.addressing import Addressing, addressing_headers, parse_addressing
from protocols.soap.envelope import (
    Envelope,
    action_from_http,
    build_envelope,
    build_fault_envelope,
    build_request,
    build_response,
    http_headers,
    parse_envelope,
)
from protocols.soap.errors import EnvelopeError, MessageError
from protocols.soap.fault import (
    Fault,
    FaultCode,
    SoapFault,
    fault_element,
    fault_http_status,
    is_fault,
    parse_fault,
)
from protocols.soap.masking import luhn_valid, mask_secrets
from protocols.soap.message import Caller, Stamp, random_message_id
from protocols.soap.safexml import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    HostileXml,
    XmlRejected,
    parse_xml,
)
from protocols.soap.schema import XsdValidator
from protocols.soap.security import (
    DEFAULT_CLOCK_SKEW,
    DEFAULT_TIMESTAMP_TTL,
    Credentials,
    Security,
    format_datetime,
    parse_datetime,
    parse_security,
    security_header,
)
from protocols.soap.versions import SoapVersion, WsaVersion

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_TIMESTAMP_TTL",
    "Addressing",
    "Caller",
    "Credentials",
    "Envelope",
    "EnvelopeError",
    "Fault",
    "FaultCode",
    "HostileXml",
    "MessageError",
    "Security",
    "SoapFault",
    "SoapVersion",
    "Stamp",
    "WsaVersion",
    "XmlRejected",
    "XsdValidator",
    "action_from_http",
    "addressing_headers",
    "build_envelope",
    "build_fault_envelope",
    "build_request",
    "build_response",
    "fault_element",
    "fault_http_status",
    "format_datetime",
    "http_headers",
    "is_fault",
    "luhn_valid",
    "mask_secrets",
    "parse_addressing",
    "parse_datetime",
    "parse_envelope",
    "parse_fault",
    "parse_security",
    "parse_xml",
    "random_message_id",
    "security_header",
]
