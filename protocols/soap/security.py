"""WS-Security 1.0 header: UsernameToken (PasswordText) and a wsu:Timestamp.

Every request carries a *fresh* Timestamp: the builder takes ``now`` from the caller (see
:class:`protocols.soap.message.Stamp`), so Created/Expires are never stale and tests are exact.
Responses carry a Timestamp only. PasswordDigest is read (``password_type`` says so) but never
written: every PMS the reference describes uses PasswordText over TLS.

``Security.matches(credentials)`` compares in constant time; ``Security.timestamp_problem(now)``
says why a Timestamp is stale or missing (``None`` when it is fine).
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from lxml import etree

from protocols.soap.errors import EnvelopeError
from protocols.soap.namespaces import PASSWORD_TEXT, WSSE, WSU
from protocols.soap.versions import SoapVersion

#: Created + 5 minutes, the common practice the reference found (PB logs, WSS examples).
DEFAULT_TIMESTAMP_TTL: Final = dt.timedelta(minutes=5)
#: How far apart two clocks may be before a Timestamp counts as stale.
DEFAULT_CLOCK_SKEW: Final = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Credentials:
    """A user name and password (PasswordText). ``repr`` never shows the password."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Security:
    """A ``wsse:Security`` header as written or read; ``None`` fields are absent."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_type: str | None = None
    created: dt.datetime | None = None
    expires: dt.datetime | None = None

    @classmethod
    def stamped(
        cls,
        now: dt.datetime,
        *,
        credentials: Credentials | None = None,
        ttl: dt.timedelta = DEFAULT_TIMESTAMP_TTL,
    ) -> Security:
        """A header with a Timestamp from ``now`` (and a UsernameToken if credentials)."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        created = now.astimezone(dt.UTC)
        if credentials is None:
            return cls(created=created, expires=created + ttl)
        return cls(
            username=credentials.username,
            password=credentials.password,
            password_type=PASSWORD_TEXT,
            created=created,
            expires=created + ttl,
        )

    def matches(self, credentials: Credentials) -> bool:
        """True if this header carries exactly these credentials as PasswordText."""
        if self.username is None or self.password is None:
            return False
        if self.password_type not in (None, PASSWORD_TEXT):
            return False
        same_user = hmac.compare_digest(self.username.encode(), credentials.username.encode())
        same_password = hmac.compare_digest(self.password.encode(), credentials.password.encode())
        return same_user and same_password

    def timestamp_problem(
        self, now: dt.datetime, *, clock_skew: dt.timedelta = DEFAULT_CLOCK_SKEW
    ) -> str | None:
        """Why the Timestamp is not acceptable at ``now``, or ``None`` if it is."""
        if self.created is None:
            return "no wsu:Timestamp/wsu:Created"
        if self.created > now + clock_skew:
            return f"wsu:Created {format_datetime(self.created)} is in the future"
        if self.expires is not None and self.expires + clock_skew < now:
            return f"wsu:Timestamp expired at {format_datetime(self.expires)}"
        if self.expires is not None and self.expires < self.created:
            return "wsu:Expires is before wsu:Created"
        return None


def format_datetime(value: dt.datetime) -> str:
    """UTC, ``Z`` suffix, microseconds only when present: ``2026-11-21T10:04:05Z``."""
    if value.tzinfo is None:
        raise ValueError("datetimes on the wire must be timezone-aware")
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"


def parse_datetime(text: str) -> dt.datetime:
    """An ``xs:dateTime`` as a UTC datetime; a value without offset is taken as UTC."""
    value = dt.datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def security_header(security: Security, version: SoapVersion) -> Any:
    """The ``wsse:Security`` header block (``mustUnderstand="1"``) for ``security``."""
    element = etree.Element(
        f"{{{WSSE}}}Security",
        {f"{{{version.namespace}}}mustUnderstand": "1"},
        nsmap={"wsse": WSSE, "wsu": WSU},
    )
    if security.username is not None:
        token = etree.SubElement(element, f"{{{WSSE}}}UsernameToken")
        etree.SubElement(token, f"{{{WSSE}}}Username").text = security.username
        if security.password is not None:
            password = etree.SubElement(token, f"{{{WSSE}}}Password")
            password.set("Type", security.password_type or PASSWORD_TEXT)
            password.text = security.password
    if security.created is not None or security.expires is not None:
        stamp = etree.SubElement(element, f"{{{WSU}}}Timestamp")
        if security.created is not None:
            etree.SubElement(stamp, f"{{{WSU}}}Created").text = format_datetime(security.created)
        if security.expires is not None:
            etree.SubElement(stamp, f"{{{WSU}}}Expires").text = format_datetime(security.expires)
    return element


def parse_security(blocks: Iterable[Any]) -> Security | None:
    """Read the ``wsse:Security`` header block, ``None`` if there is none.

    Raises :class:`EnvelopeError` for two Security headers or a Timestamp that is not an
    ``xs:dateTime``.
    """
    headers = [block for block in blocks if block.tag == f"{{{WSSE}}}Security"]
    if not headers:
        return None
    if len(headers) > 1:
        raise EnvelopeError("more than one wsse:Security header")
    header = headers[0]
    token = header.find(f"{{{WSSE}}}UsernameToken")
    username = password = password_type = None
    if token is not None:
        username = _text(token.find(f"{{{WSSE}}}Username"))
        password_el = token.find(f"{{{WSSE}}}Password")
        if password_el is not None:
            password = password_el.text or ""
            password_type = password_el.get("Type") or PASSWORD_TEXT
    stamp = header.find(f"{{{WSU}}}Timestamp")
    created = expires = None
    if stamp is not None:
        created = _datetime(stamp.find(f"{{{WSU}}}Created"), "wsu:Created")
        expires = _datetime(stamp.find(f"{{{WSU}}}Expires"), "wsu:Expires")
    return Security(username, password, password_type, created, expires)


def _text(element: Any) -> str | None:
    return None if element is None else (element.text or "").strip()


def _datetime(element: Any, name: str) -> dt.datetime | None:
    text = _text(element)
    if text is None:
        return None
    try:
        return parse_datetime(text)
    except ValueError:
        raise EnvelopeError(f"{name} {text!r} is not an xs:dateTime") from None
