"""Private helpers the profiles share to write payload elements and read them back.

Reading goes through :class:`Node`, whose errors are :class:`MessageError` naming the path
(``/PostChargeRequest/Amount/@decimals: ...``), so a parse error says where and what.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from lxml import etree

from protocols.htng.money import Money
from protocols.soap.envelope import parse_envelope
from protocols.soap.errors import MessageError
from protocols.soap.fault import SoapFault, is_fault, parse_fault
from protocols.soap.security import format_datetime, parse_datetime
from protocols.soap.versions import SoapVersion

_T = TypeVar("_T")
_INTEGER = re.compile(r"[+-]?[0-9]+")


# Writing


def payload(namespace: str, name: str, attrs: Mapping[str, str] | None = None) -> Any:
    """A payload element in ``namespace`` (declared as the default namespace)."""
    return etree.Element(f"{{{namespace}}}{name}", attrs or {}, nsmap={None: namespace})


def add(
    parent: Any, name: str, text: str | None = None, attrs: Mapping[str, str] | None = None
) -> Any:
    """Append a child in the parent's namespace, with optional text and attributes."""
    namespace = etree.QName(parent).namespace
    child = etree.SubElement(parent, f"{{{namespace}}}{name}", attrs or {})
    if text is not None:
        child.text = text
    return child


def add_optional(parent: Any, name: str, text: str | None) -> None:
    if text is not None:
        add(parent, name, text)


def add_money(parent: Any, name: str, money: Money) -> Any:
    return add(
        parent,
        name,
        str(money.amount),
        {"currencyCode": money.currency, "decimals": str(money.decimals)},
    )


def set_optional(element: Any, name: str, value: str | None) -> None:
    if value is not None:
        element.set(name, value)


def date_text(value: dt.date) -> str:
    return value.isoformat()


def datetime_text(value: dt.datetime) -> str:
    return format_datetime(value)


# Reading


def unwrap(root: Any) -> Any:
    """The payload element of an envelope root (or ``root`` itself if it is no envelope).

    Raises :class:`SoapFault` if the payload is a SOAP fault and ``EnvelopeError`` for a
    broken envelope.
    """
    element = root
    qname = etree.QName(root)
    if qname.localname == "Envelope" and SoapVersion.from_namespace(qname.namespace) is not None:
        element = parse_envelope(root).payload
    if is_fault(element):
        raise SoapFault(parse_fault(element))
    return element


def expect(element: Any, namespace: str, name: str) -> Node:
    """``element`` as a :class:`Node` if it is ``{namespace}name``, else :class:`MessageError`."""
    expected = f"{{{namespace}}}{name}"
    if element.tag != expected:
        raise MessageError(
            f"/{etree.QName(element).localname}", f"expected {expected}, got {element.tag}"
        )
    return Node(element, f"/{name}")


def open_payload(root: Any, namespace: str, name: str) -> Node:
    """:func:`unwrap` then :func:`expect`: the one payload a ``parse_*`` function reads."""
    return expect(unwrap(root), namespace, name)


class Node:
    """One element being read; every accessor raises :class:`MessageError` with a path."""

    def __init__(self, element: Any, path: str) -> None:
        self.element = element
        self.path = path
        self._ns = etree.QName(element).namespace

    def _find_all(self, name: str) -> list[Any]:
        return list(self.element.findall(f"{{{self._ns}}}{name}"))

    def optional_child(self, name: str) -> Node | None:
        found = self._find_all(name)
        if not found:
            return None
        if len(found) > 1:
            raise MessageError(f"{self.path}/{name}", f"appears {len(found)} times; once expected")
        return Node(found[0], f"{self.path}/{name}")

    def child(self, name: str) -> Node:
        node = self.optional_child(name)
        if node is None:
            raise MessageError(f"{self.path}/{name}", "missing")
        return node

    def children(self, name: str) -> list[Node]:
        found = self._find_all(name)
        if len(found) == 1:
            return [Node(found[0], f"{self.path}/{name}")]
        return [Node(el, f"{self.path}/{name}[{i}]") for i, el in enumerate(found, 1)]

    def own_text(self) -> str:
        return (self.element.text or "").strip()

    def raw_text(self) -> str:
        """The text exactly as sent (a password keeps its spaces)."""
        return str(self.element.text or "")

    def text(self, name: str) -> str:
        node = self.child(name)
        value = node.own_text()
        if not value:
            raise MessageError(node.path, "empty")
        return value

    def optional_text(self, name: str) -> str | None:
        node = self.optional_child(name)
        return None if node is None else node.own_text()

    def convert(self, name: str, parse: Callable[[str], _T], what: str) -> _T:
        node = self.child(name)
        return _convert(node.path, node.own_text(), parse, what)

    def optional_convert(self, name: str, parse: Callable[[str], _T], what: str) -> _T | None:
        node = self.optional_child(name)
        if node is None:
            return None
        return _convert(node.path, node.own_text(), parse, what)

    def integer(self, name: str) -> int:
        return self.convert(name, strict_int, "an integer")

    def optional_integer(self, name: str) -> int | None:
        return self.optional_convert(name, strict_int, "an integer")

    def date(self, name: str) -> dt.date:
        return self.convert(name, dt.date.fromisoformat, "an xs:date")

    def optional_date(self, name: str) -> dt.date | None:
        return self.optional_convert(name, dt.date.fromisoformat, "an xs:date")

    def attr(self, name: str) -> str:
        value = self.element.get(name)
        if value is None:
            raise MessageError(f"{self.path}/@{name}", "missing")
        return str(value)

    def optional_attr(self, name: str) -> str | None:
        value = self.element.get(name)
        return None if value is None else str(value)

    def convert_attr(self, name: str, parse: Callable[[str], _T], what: str) -> _T:
        return _convert(f"{self.path}/@{name}", self.attr(name), parse, what)

    def optional_convert_attr(self, name: str, parse: Callable[[str], _T], what: str) -> _T | None:
        value = self.optional_attr(name)
        if value is None:
            return None
        return _convert(f"{self.path}/@{name}", value, parse, what)

    def datetime_attr(self, name: str) -> dt.datetime:
        return self.convert_attr(name, parse_datetime, "an xs:dateTime")

    def money(self, name: str) -> Money:
        """An ``Amount``-typed child: integer text, ``currencyCode`` and ``decimals``."""
        node = self.child(name)
        amount = _convert(node.path, node.own_text(), strict_int, "an integer of minor units")
        currency = node.attr("currencyCode")
        decimals = node.convert_attr("decimals", strict_int, "an integer")
        return money_at(node.path, amount, currency, decimals)


def money_at(path: str, amount: int, currency: str, decimals: int) -> Money:
    """:class:`Money` read at ``path``; what it refuses is a :class:`MessageError` there."""
    try:
        return Money(amount, currency, decimals)
    except ValueError as exc:
        raise MessageError(path, str(exc)) from None


def strict_int(text: str) -> int:
    """An ``xs:integer`` lexical value (Python's ``int()`` would also take ``1_000``)."""
    if not _INTEGER.fullmatch(text):
        raise ValueError(text)
    return int(text)


def _convert(path: str, text: str, parse: Callable[[str], _T], what: str) -> _T:
    try:
        return parse(text.strip())
    except (ValueError, TypeError):
        raise MessageError(path, f"{text.strip()!r} is not {what}") from None


# Package files


def package_file(package: str, name: str) -> Path:
    """A file shipped inside ``package`` (a WSDL or XSD), as a filesystem path.

    zeep and lxml resolve ``schemaLocation`` relative to the WSDL on disk, so the package must
    be installed as files (a normal or editable install), not imported from a zip.
    """
    resource = importlib.resources.files(package).joinpath(name)
    if not isinstance(resource, Path):
        raise RuntimeError(f"{package}/{name} is not a file on disk ({resource!r})")
    return resource


def dispatch(
    root: Any, namespace: str, readers: Mapping[str, Callable[[Node], _T]], profile: str
) -> _T:
    """Read whichever payload ``root`` holds with the reader registered for its local name."""
    element = unwrap(root)
    qname = etree.QName(element)
    reader = readers.get(qname.localname) if qname.namespace == namespace else None
    if reader is None:
        raise MessageError(
            f"/{qname.localname}", f"not a request of the {profile} profile: {element.tag}"
        )
    return reader(Node(element, f"/{qname.localname}"))
