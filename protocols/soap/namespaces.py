"""XML namespaces of the SOAP stack foliogate speaks (one place, so no module spells them twice)."""

from typing import Final

#: SOAP 1.1 envelope (``text/xml`` plus a ``SOAPAction`` HTTP header).
SOAP11_ENVELOPE: Final = "http://schemas.xmlsoap.org/soap/envelope/"
#: SOAP 1.2 envelope (``application/soap+xml; action=...``).
SOAP12_ENVELOPE: Final = "http://www.w3.org/2003/05/soap-envelope"
#: WS-Addressing as OPERA's HTNG 2008B activity interface uses it (member submission, 2004/08).
WSA_2004_08: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#: WS-Addressing 1.0 (W3C, 2005/08), as HTNG 2010+ asynchronous profiles use it.
WSA_2005_08: Final = "http://www.w3.org/2005/08/addressing"
#: OASIS WS-Security 1.0 secext (``wsse:Security``, ``wsse:UsernameToken``).
WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#: OASIS WS-Security 1.0 utility (``wsu:Timestamp``).
WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
#: The UsernameToken profile's password types.
#: (URIs naming a type, not passwords: hence the noqa for ruff's hard-coded-password check.)
_UT_PROFILE_URI: Final = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
)
PASSWORD_TEXT: Final = _UT_PROFILE_URI + "#PasswordText"  # noqa: S105
PASSWORD_DIGEST: Final = _UT_PROFILE_URI + "#PasswordDigest"  # noqa: S105
#: The ``xml:`` namespace (``xml:lang`` on SOAP 1.2 fault reasons).
XML: Final = "http://www.w3.org/XML/1998/namespace"
#: foliogate's own SOAP vocabulary: fault subcodes and fault detail entries.
FOLIOGATE_SOAP: Final = "urn:foliogate:soap:1"
