"""SOAP and WS-Addressing versions: their namespaces, prefixes and HTTP conventions."""

from __future__ import annotations

from enum import Enum

from protocols.soap.namespaces import SOAP11_ENVELOPE, SOAP12_ENVELOPE, WSA_2004_08, WSA_2005_08


class SoapVersion(Enum):
    """SOAP 1.1 (``text/xml`` + ``SOAPAction``) or SOAP 1.2 (``application/soap+xml``)."""

    SOAP11 = "1.1"
    SOAP12 = "1.2"

    @property
    def namespace(self) -> str:
        return SOAP11_ENVELOPE if self is SoapVersion.SOAP11 else SOAP12_ENVELOPE

    @property
    def prefix(self) -> str:
        """The prefix our envelopes use: ``soap`` for 1.1, ``env`` for 1.2 (as the specs do)."""
        return "soap" if self is SoapVersion.SOAP11 else "env"

    @property
    def media_type(self) -> str:
        return "text/xml" if self is SoapVersion.SOAP11 else "application/soap+xml"

    @classmethod
    def from_namespace(cls, namespace: str | None) -> SoapVersion | None:
        return _SOAP_BY_NAMESPACE.get(namespace)


class WsaVersion(Enum):
    """WS-Addressing: the 2004/08 member submission (OPERA HTNG) or W3C 1.0 (2005/08)."""

    WSA_2004_08 = WSA_2004_08
    WSA_2005_08 = WSA_2005_08

    @property
    def namespace(self) -> str:
        return str(self.value)

    @property
    def anonymous(self) -> str:
        """The address meaning "answer on the HTTP back-channel" (2004/08 has a /role/ step)."""
        if self is WsaVersion.WSA_2004_08:
            return f"{WSA_2004_08}/role/anonymous"
        return f"{WSA_2005_08}/anonymous"

    @classmethod
    def from_namespace(cls, namespace: str | None) -> WsaVersion | None:
        return _WSA_BY_NAMESPACE.get(namespace)


#: Looked up for every header block of every message read: a dict, not a loop over members.
_SOAP_BY_NAMESPACE: dict[str | None, SoapVersion] = {v.namespace: v for v in SoapVersion}
_WSA_BY_NAMESPACE: dict[str | None, WsaVersion] = {v.namespace: v for v in WsaVersion}
