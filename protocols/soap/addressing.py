"""WS-Addressing headers (2004/08 and 2005/08): Action, MessageID, To, From, ReplyTo, RelatesTo.

``addressing_headers(addressing)`` writes the header blocks; ``parse_addressing(blocks)`` reads
them back into an :class:`Addressing` (``None`` when a message carries none). ``From`` and
``ReplyTo`` are endpoint references: only their ``Address`` is written and read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from protocols.soap.errors import EnvelopeError
from protocols.soap.versions import WsaVersion

_SIMPLE = (("Action", "action"), ("MessageID", "message_id"), ("RelatesTo", "relates_to"))
_ENDPOINTS = (("From", "from_address"), ("ReplyTo", "reply_to"))


@dataclass(frozen=True)
class Addressing:
    """The WS-Addressing headers of one message; ``None`` fields are absent on the wire."""

    version: WsaVersion
    action: str | None = None
    message_id: str | None = None
    to: str | None = None
    from_address: str | None = None
    reply_to: str | None = None
    relates_to: str | None = None


def addressing_headers(addressing: Addressing) -> list[Any]:
    """The header blocks for ``addressing``, in the order Action, MessageID, RelatesTo, To,
    From, ReplyTo (order carries no meaning; a fixed one keeps golden files stable)."""
    ns = addressing.version.namespace
    nsmap = {"wsa": ns}
    blocks: list[Any] = []

    def simple(name: str, value: str | None) -> None:
        if value is not None:
            element = etree.Element(f"{{{ns}}}{name}", nsmap=nsmap)
            element.text = value
            blocks.append(element)

    def endpoint(name: str, value: str | None) -> None:
        if value is not None:
            element = etree.Element(f"{{{ns}}}{name}", nsmap=nsmap)
            etree.SubElement(element, f"{{{ns}}}Address").text = value
            blocks.append(element)

    simple("Action", addressing.action)
    simple("MessageID", addressing.message_id)
    simple("RelatesTo", addressing.relates_to)
    simple("To", addressing.to)
    endpoint("From", addressing.from_address)
    endpoint("ReplyTo", addressing.reply_to)
    return blocks


def parse_addressing(blocks: Iterable[Any]) -> Addressing | None:
    """Read WS-Addressing header blocks of either version; ``None`` if there are none.

    Raises :class:`EnvelopeError` if headers of both versions are mixed, a header repeats, or
    an endpoint reference has no ``Address``.
    """
    found: dict[str, str] = {}
    version: WsaVersion | None = None
    for block in blocks:
        tag = block.tag  # "{namespace}name" (a block without a namespace is not addressing)
        if not isinstance(tag, str) or not tag.startswith("{"):
            continue
        namespace, _, name = tag[1:].partition("}")
        block_version = WsaVersion.from_namespace(namespace)
        if block_version is None:
            continue
        if version is not None and block_version is not version:
            raise EnvelopeError("WS-Addressing headers mix the 2004/08 and 2005/08 namespaces")
        version = block_version
        if name in found:
            raise EnvelopeError(f"wsa:{name} appears more than once")
        if name in ("From", "ReplyTo", "FaultTo"):
            address = block.find(f"{{{version.namespace}}}Address")
            if address is None or not (address.text or "").strip():
                raise EnvelopeError(f"wsa:{name} has no wsa:Address")
            found[name] = address.text.strip()
        else:
            found[name] = (block.text or "").strip()
    if version is None:
        return None
    return Addressing(
        version=version,
        action=found.get("Action"),
        message_id=found.get("MessageID"),
        to=found.get("To"),
        from_address=found.get("From"),
        reply_to=found.get("ReplyTo"),
        relates_to=found.get("RelatesTo"),
    )
