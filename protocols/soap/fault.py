"""SOAP faults for 1.1 and 1.2: one record, both wire forms, and the HTTP status each maps to.

A :class:`Fault` says who is to blame (``code``), why (``reason``), optionally a finer
``subcode`` and ``detail`` entries (for a schema error: one entry per problem, each naming the
path). Faults are for envelope, security and schema errors; business errors travel in-band in
each profile's own result element.

Wire forms written by :func:`fault_element` (read back by :func:`parse_fault`)::

    SOAP 1.1  <soap:Fault>
                <faultcode>soap:Client.InvalidSecurity</faultcode>   (code "." subcode)
                <faultstring>unknown user</faultstring>
                <detail><fg:Error>...</fg:Error></detail>
              </soap:Fault>
    SOAP 1.2  <env:Fault>
                <env:Code><env:Value>env:Sender</env:Value>
                  <env:Subcode><env:Value>fg:InvalidSecurity</env:Value></env:Subcode></env:Code>
                <env:Reason><env:Text xml:lang="en">unknown user</env:Text></env:Reason>
                <env:Detail><fg:Error>...</fg:Error></env:Detail>
              </env:Fault>

``fg`` is ``urn:foliogate:soap:1``. Reading a fault some other server wrote: 1.1 codes in the
envelope namespace map by name (``Client.X`` gives ``SENDER`` with subcode ``X``); a 1.1 code in
the WS-Security namespace (``wsse:FailedAuthentication``) is a ``SENDER`` fault with that
local name as subcode; any other foreign code is a ``RECEIVER`` fault with its local name as
subcode. Detail entries are each detail child's text, whitespace-normalized. Only the first
level of 1.2 subcodes is kept.

Use :func:`protocols.soap.envelope.build_fault_envelope` for a whole fault message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from lxml import etree

from protocols.soap.namespaces import (
    FOLIOGATE_SOAP,
    SOAP11_ENVELOPE,
    SOAP12_ENVELOPE,
    WSSE,
    XML,
)
from protocols.soap.versions import SoapVersion


class FaultCode(StrEnum):
    """The SOAP 1.2 fault codes; SOAP 1.1 calls ``SENDER`` Client and ``RECEIVER`` Server."""

    SENDER = "Sender"  # the message is wrong: schema, security, malformed XML
    RECEIVER = "Receiver"  # the server failed: retrying the same message may work
    VERSION_MISMATCH = "VersionMismatch"  # not a SOAP envelope of a version we speak
    MUST_UNDERSTAND = "MustUnderstand"  # a mustUnderstand header we do not process
    DATA_ENCODING_UNKNOWN = "DataEncodingUnknown"  # SOAP 1.2 only; written as Client in 1.1


_SOAP11_NAMES: Final = {
    FaultCode.SENDER: "Client",
    FaultCode.RECEIVER: "Server",
    FaultCode.VERSION_MISMATCH: "VersionMismatch",
    FaultCode.MUST_UNDERSTAND: "MustUnderstand",
    FaultCode.DATA_ENCODING_UNKNOWN: "Client",
}
_FROM_SOAP11: Final = {
    "Client": FaultCode.SENDER,
    "Server": FaultCode.RECEIVER,
    "VersionMismatch": FaultCode.VERSION_MISMATCH,
    "MustUnderstand": FaultCode.MUST_UNDERSTAND,
}


@dataclass(frozen=True)
class Fault:
    """One SOAP fault, independent of the SOAP version it travels in."""

    code: FaultCode
    reason: str
    subcode: str | None = None  # a local name, e.g. "InvalidSecurity", "SchemaInvalid"
    detail: tuple[str, ...] = ()


class SoapFault(Exception):
    """Raised by ``parse_*_response`` functions when the answer is a fault, not a payload."""

    def __init__(self, fault: Fault) -> None:
        sub = f".{fault.subcode}" if fault.subcode else ""
        super().__init__(f"SOAP fault {fault.code}{sub}: {fault.reason}")
        self.fault = fault


def fault_http_status(fault: Fault, version: SoapVersion) -> int:
    """The HTTP status a server answers a fault with (SOAP 1.2 part 2, 7.5.2; SOAP 1.1: 500)."""
    if version is SoapVersion.SOAP12 and fault.code is FaultCode.SENDER:
        return 400
    return 500


def fault_element(fault: Fault, version: SoapVersion) -> Any:
    """The ``Fault`` element for ``version`` (goes into the Body as the only payload)."""
    env = version.namespace
    prefix = version.prefix
    if version is SoapVersion.SOAP11:
        element = etree.Element(f"{{{env}}}Fault", nsmap={prefix: env, "fg": FOLIOGATE_SOAP})
        code = f"{prefix}:{_SOAP11_NAMES[fault.code]}"
        if fault.subcode:
            code += f".{fault.subcode}"
        etree.SubElement(element, "faultcode").text = code
        etree.SubElement(element, "faultstring").text = fault.reason
        detail_parent = etree.SubElement(element, "detail") if fault.detail else None
    else:
        element = etree.Element(f"{{{env}}}Fault", nsmap={prefix: env, "fg": FOLIOGATE_SOAP})
        code_el = etree.SubElement(element, f"{{{env}}}Code")
        etree.SubElement(code_el, f"{{{env}}}Value").text = f"{prefix}:{fault.code.value}"
        if fault.subcode:
            sub = etree.SubElement(code_el, f"{{{env}}}Subcode")
            etree.SubElement(sub, f"{{{env}}}Value").text = f"fg:{fault.subcode}"
        reason = etree.SubElement(element, f"{{{env}}}Reason")
        text = etree.SubElement(reason, f"{{{env}}}Text")
        text.set(f"{{{XML}}}lang", "en")
        text.text = fault.reason
        detail_parent = etree.SubElement(element, f"{{{env}}}Detail") if fault.detail else None
    if detail_parent is not None:
        for entry in fault.detail:
            etree.SubElement(detail_parent, f"{{{FOLIOGATE_SOAP}}}Error").text = entry
    return element


def is_fault(element: Any) -> bool:
    """True if ``element`` is a SOAP 1.1 or 1.2 ``Fault``."""
    return element.tag in (f"{{{SOAP11_ENVELOPE}}}Fault", f"{{{SOAP12_ENVELOPE}}}Fault")


def parse_fault(element: Any) -> Fault:
    """Read a ``Fault`` element of either SOAP version (see the module docstring)."""
    if element.tag == f"{{{SOAP11_ENVELOPE}}}Fault":
        return _parse_fault11(element)
    if element.tag == f"{{{SOAP12_ENVELOPE}}}Fault":
        return _parse_fault12(element)
    raise ValueError(f"not a SOAP Fault element: {element.tag}")


def _parse_fault11(element: Any) -> Fault:
    code_el = element.find("faultcode")
    raw = (code_el.text or "").strip() if code_el is not None else ""
    namespace, local = _resolve_qname(code_el if code_el is not None else element, raw)
    if namespace == SOAP11_ENVELOPE:
        name, _, sub = local.partition(".")
        code = _FROM_SOAP11.get(name, FaultCode.RECEIVER)
        subcode = sub or (None if name in _FROM_SOAP11 else local)
    else:
        code = FaultCode.SENDER if namespace == WSSE else FaultCode.RECEIVER
        subcode = local or None
    return Fault(
        code=code,
        reason=_normalized(element.find("faultstring")),
        subcode=subcode,
        detail=_detail_entries(element.find("detail")),
    )


def _parse_fault12(element: Any) -> Fault:
    env = SOAP12_ENVELOPE
    value = element.find(f"{{{env}}}Code/{{{env}}}Value")
    raw = (value.text or "").strip() if value is not None else ""
    namespace, local = _resolve_qname(value if value is not None else element, raw)
    try:
        code = FaultCode(local) if namespace == env else FaultCode.RECEIVER
    except ValueError:
        code = FaultCode.RECEIVER
    sub_value = element.find(f"{{{env}}}Code/{{{env}}}Subcode/{{{env}}}Value")
    subcode = None
    if sub_value is not None and (sub_value.text or "").strip():
        subcode = _resolve_qname(sub_value, sub_value.text.strip())[1]
    return Fault(
        code=code,
        reason=_normalized(element.find(f"{{{env}}}Reason/{{{env}}}Text")),
        subcode=subcode,
        detail=_detail_entries(element.find(f"{{{env}}}Detail")),
    )


def _resolve_qname(context: Any, text: str) -> tuple[str | None, str]:
    prefix, sep, local = text.rpartition(":")
    if not sep:
        return context.nsmap.get(None), text
    return context.nsmap.get(prefix), local


def _normalized(element: Any) -> str:
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def _detail_entries(detail: Any) -> tuple[str, ...]:
    if detail is None:
        return ()
    entries = tuple(_normalized(child) for child in detail if isinstance(child.tag, str))
    if not entries and _normalized(detail):
        return (_normalized(detail),)  # a detail with bare text and no child elements
    return entries
