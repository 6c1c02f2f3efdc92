"""SOAP 1.1 and 1.2 envelopes: build one around a payload, take one apart, and the HTTP headers.

Building (all return the bytes to send, UTF-8 with an XML declaration)::

    build_request(version, wsa, payload, action=..., caller=..., stamp=..., relates_to=None)
        -> Header: wsa Action/MessageID/To/From/ReplyTo + wsse:Security (UsernameToken if the
           caller has credentials, and a fresh Timestamp)
    build_response(version, wsa, payload, action=..., relates_to=..., stamp=...)
        -> Header: wsa Action/MessageID/RelatesTo/To(anonymous) + wsse:Security(Timestamp)
    build_envelope(version, payload, addressing=..., security=..., extra_headers=...)
        -> the general form both use (no headers at all when none are given)
    build_fault_envelope(fault, version, addressing=...)

Reading: ``parse_envelope(root)`` (``root`` from :func:`protocols.soap.safexml.parse_xml`)
returns an :class:`Envelope`: the version, the single Body payload, the header blocks and the
WS-Addressing and WS-Security headers already read. It raises :class:`EnvelopeError` whose
``fault_code`` is what a server should answer with.

HTTP: ``http_headers(version, action)`` gives Content-Type (and ``SOAPAction`` for 1.1);
``action_from_http(content_type, soap_action)`` reads the action back on the server side.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from protocols.soap.addressing import Addressing, addressing_headers, parse_addressing
from protocols.soap.errors import EnvelopeError
from protocols.soap.fault import Fault, FaultCode, fault_element, is_fault
from protocols.soap.message import Caller, Stamp
from protocols.soap.namespaces import WSSE, WSU
from protocols.soap.security import (
    DEFAULT_TIMESTAMP_TTL,
    Security,
    parse_security,
    security_header,
)
from protocols.soap.versions import SoapVersion, WsaVersion


@dataclass(frozen=True)
class Envelope:
    """A received envelope, taken apart. ``payload`` is the only element in the Body."""

    version: SoapVersion
    payload: Any  # lxml element: the operation's request/response element, or a Fault
    headers: tuple[Any, ...] = ()  # every header block, in document order
    addressing: Addressing | None = None
    security: Security | None = None
    #: Clark names of header blocks marked mustUnderstand that this package does not process
    #: (anything but WS-Addressing and WS-Security): a server answers a MustUnderstand fault.
    not_understood: tuple[str, ...] = ()

    @property
    def is_fault(self) -> bool:
        return is_fault(self.payload)


def build_envelope(
    version: SoapVersion,
    payload: Any,
    *,
    addressing: Addressing | None = None,
    security: Security | None = None,
    extra_headers: Sequence[Any] = (),
) -> bytes:
    """The serialized envelope around ``payload`` (Security first, then WS-Addressing)."""
    env = version.namespace
    nsmap: dict[str | None, str] = {version.prefix: env}
    if addressing is not None:
        nsmap["wsa"] = addressing.version.namespace
    if security is not None:
        nsmap.update(wsse=WSSE, wsu=WSU)
    envelope = etree.Element(f"{{{env}}}Envelope", nsmap=nsmap)
    blocks: list[Any] = []
    if security is not None:
        blocks.append(security_header(security, version))
    if addressing is not None:
        blocks.extend(addressing_headers(addressing))
    blocks.extend(extra_headers)
    if blocks:
        header = etree.SubElement(envelope, f"{{{env}}}Header")
        header.extend(blocks)
    body = etree.SubElement(envelope, f"{{{env}}}Body")
    body.append(payload)
    # Hoist the namespace declarations the header blocks brought along onto the Envelope. The
    # "fg" prefix is kept: fault codes use it inside text, where lxml cannot see it in use.
    etree.cleanup_namespaces(envelope, top_nsmap=nsmap, keep_ns_prefixes=["fg"])
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def build_request(
    version: SoapVersion,
    wsa: WsaVersion,
    payload: Any,
    *,
    action: str,
    caller: Caller,
    stamp: Stamp,
    relates_to: str | None = None,
) -> bytes:
    """A request envelope with WS-Addressing and a fresh WS-Security header.

    ``relates_to`` is for a request that follows up an earlier message (an asynchronous
    result callback relates to the request it answers).
    """
    addressing = Addressing(
        version=wsa,
        action=action,
        message_id=stamp.message_id,
        relates_to=relates_to,
        to=caller.to,
        from_address=caller.from_address,
        reply_to=caller.reply_to if caller.reply_to is not None else wsa.anonymous,
    )
    security = Security.stamped(
        stamp.created, credentials=caller.credentials, ttl=caller.timestamp_ttl
    )
    return build_envelope(version, payload, addressing=addressing, security=security)


def build_response(
    version: SoapVersion,
    wsa: WsaVersion,
    payload: Any,
    *,
    action: str,
    relates_to: str | None,
    stamp: Stamp,
    timestamp_ttl: dt.timedelta | None = DEFAULT_TIMESTAMP_TTL,
) -> bytes:
    """A response envelope: ``RelatesTo`` the request's MessageID, To anonymous, a Timestamp
    (``timestamp_ttl=None`` leaves the Security header out)."""
    addressing = Addressing(
        version=wsa,
        action=action,
        message_id=stamp.message_id,
        relates_to=relates_to,
        to=wsa.anonymous,
    )
    security = None if timestamp_ttl is None else Security.stamped(stamp.created, ttl=timestamp_ttl)
    return build_envelope(version, payload, addressing=addressing, security=security)


def build_fault_envelope(
    fault: Fault, version: SoapVersion, *, addressing: Addressing | None = None
) -> bytes:
    """A whole fault message (see :mod:`protocols.soap.fault` for the two wire forms)."""
    return build_envelope(version, fault_element(fault, version), addressing=addressing)


def parse_envelope(root: Any) -> Envelope:
    """Take a parsed envelope apart (see :class:`Envelope`); raises :class:`EnvelopeError`."""
    qname = etree.QName(root)
    version = SoapVersion.from_namespace(qname.namespace)
    if qname.localname != "Envelope":
        raise EnvelopeError(f"root element is {_name(qname)}, not a SOAP Envelope")
    if version is None:
        raise EnvelopeError(
            f"Envelope namespace {qname.namespace!r} is neither SOAP 1.1 nor SOAP 1.2",
            fault_code=FaultCode.VERSION_MISMATCH,
        )
    env = version.namespace
    children = [child for child in root if isinstance(child.tag, str)]
    header = None
    if children and children[0].tag == f"{{{env}}}Header":
        header = children.pop(0)
    if len(children) != 1 or children[0].tag != f"{{{env}}}Body":
        found = ", ".join(_name(etree.QName(child)) for child in children) or "nothing"
        raise EnvelopeError(f"Envelope must hold an optional Header and one Body; found {found}")
    payloads = [child for child in children[0] if isinstance(child.tag, str)]
    if len(payloads) != 1:
        raise EnvelopeError(f"Body must hold exactly one element; it holds {len(payloads)}")
    blocks = (
        tuple(child for child in header if isinstance(child.tag, str)) if header is not None else ()
    )
    return Envelope(
        version=version,
        payload=payloads[0],
        headers=blocks,
        addressing=parse_addressing(blocks),
        security=parse_security(blocks),
        not_understood=tuple(
            block.tag
            for block in blocks
            if block.get(f"{{{env}}}mustUnderstand") in ("1", "true") and not _understood(block)
        ),
    )


def http_headers(version: SoapVersion, action: str) -> dict[str, str]:
    """The HTTP request headers for a SOAP message with ``action``."""
    if version is SoapVersion.SOAP11:
        return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}
    return {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}


_ACTION_PARAMETER = re.compile(r"""(?:^|;)\s*action\s*=\s*("([^"]*)"|[^;\s]+)""", re.IGNORECASE)


def action_from_http(content_type: str | None, soap_action: str | None) -> str | None:
    """The action an HTTP request names: SOAP 1.2's ``action=`` Content-Type parameter, else
    SOAP 1.1's ``SOAPAction`` header (quotes removed); ``None`` if neither names one."""
    if content_type:
        match = _ACTION_PARAMETER.search(content_type)
        if match:
            return match.group(2) if match.group(2) is not None else match.group(1)
    if soap_action is not None:
        value = soap_action.strip().strip('"')
        return value or None
    return None


def _understood(block: Any) -> bool:
    namespace = etree.QName(block).namespace
    return namespace == WSSE or WsaVersion.from_namespace(namespace) is not None


def _name(qname: Any) -> str:
    return f"{{{qname.namespace}}}{qname.localname}" if qname.namespace else str(qname.localname)
