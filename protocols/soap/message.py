"""What varies per message (``Stamp``) and what stays per link (``Caller``).

Builders never read a clock or draw a random id themselves: the caller passes a
:class:`Stamp`, so a test can pin every byte and an adapter can log the MessageID it sent.
``Stamp.fresh(now, new_message_id)`` takes the injected clock and id generator.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from protocols.soap.security import DEFAULT_TIMESTAMP_TTL, Credentials


def random_message_id() -> str:
    """A fresh WS-Addressing MessageID, ``urn:uuid:<uuid4>`` (the runtime default generator)."""
    return f"urn:uuid:{uuid.uuid4()}"


@dataclass(frozen=True)
class Stamp:
    """The volatile part of one outgoing message: its MessageID and the moment it is built."""

    message_id: str
    created: dt.datetime  # timezone-aware; wsu:Timestamp/Created

    def __post_init__(self) -> None:
        if self.created.tzinfo is None:
            raise ValueError("Stamp.created must be timezone-aware")

    @classmethod
    def fresh(
        cls,
        now: Callable[[], dt.datetime],
        new_message_id: Callable[[], str] = random_message_id,
    ) -> Stamp:
        """A stamp from the injected clock and MessageID generator."""
        return cls(message_id=new_message_id(), created=now())


@dataclass(frozen=True)
class Caller:
    """Who sends a request to which endpoint, with what credentials (constant for a link).

    ``to`` becomes ``wsa:To``; ``from_address`` ``wsa:From`` (e.g. ``urn:foliogate:GRAND``);
    ``reply_to`` ``wsa:ReplyTo`` (``None``: the anonymous address, i.e. answer on the HTTP
    back-channel; the asynchronous profile puts its callback URL here). ``credentials`` add a
    UsernameToken (PasswordText); ``timestamp_ttl`` sets ``wsu:Expires`` after ``Created``.
    """

    to: str
    credentials: Credentials | None = None
    from_address: str | None = None
    reply_to: str | None = None
    timestamp_ttl: dt.timedelta = DEFAULT_TIMESTAMP_TTL
