"""The one hardened XML parser for every document that arrives from outside.

``parse_xml(data, max_bytes=..., max_depth=...)`` returns the root element or raises
:class:`XmlRejected` (or its subclass :class:`HostileXml`) with a message that says why.
Nothing in a refused document is used: no entity is expanded, no file is read, no URL is
fetched.

The rules, in the order they are checked:

1. ``data`` must be ``bytes``, not empty, and at most ``max_bytes`` long (``too-large``).
2. The encoding must be UTF-8, US-ASCII, ISO-8859-1, windows-1252 or UTF-16 (``encoding``).
   Exotic encodings (UTF-7, UTF-32, EBCDIC) are refused because they can hide markup from a
   byte-level check.
3. A ``<!DOCTYPE`` anywhere in the prolog is refused outright (``doctype``, :class:`HostileXml`):
   a DTD is how an XML bomb ("billion laughs"), an external entity (``file:///etc/passwd``) or an
   external DTD gets in, and no SOAP message needs one (SOAP 1.1 and 1.2 both forbid it). This
   check runs on the raw bytes, so libxml2 never even reads the internal subset.
4. lxml parses with ``resolve_entities=False, no_network=True, load_dtd=False,
   dtd_validation=False, huge_tree=False`` (``malformed`` if libxml2 refuses the document),
   and the parsed tree is checked again for a DOCTYPE (a second line of defence).
5. Elements may nest at most ``max_depth`` deep (``too-deep``). ``max_depth`` is at most 256,
   libxml2's own limit without ``huge_tree``.

``XmlRejected.reason`` is one of the short codes in parentheses above (or ``empty``), for
metrics and for the SOAP fault a server answers with (a ``Sender`` fault).

>>> parse_xml(b"<a><b/></a>").tag
'a'
>>> parse_xml(b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>')
Traceback (most recent call last):
...
protocols.soap.safexml.HostileXml: document declares a DOCTYPE; DTDs and entities are refused
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

from lxml import etree

#: Default size limit: a folio with a few thousand lines still fits.
DEFAULT_MAX_BYTES: Final = 1_048_576
#: Default nesting limit: our deepest message nests 7 elements (Envelope/Body/.../Amount).
DEFAULT_MAX_DEPTH: Final = 64
#: libxml2 refuses deeper documents unless ``huge_tree`` is on, which this parser never allows.
LIBXML2_MAX_DEPTH: Final = 256

_ALLOWED_ENCODINGS: Final = frozenset(
    {
        "utf-8",
        "utf8",
        "us-ascii",
        "ascii",
        "iso-8859-1",
        "iso8859-1",
        "latin1",
        "latin-1",
        "windows-1252",
        "cp1252",
        "utf-16",
        "utf-16le",
        "utf-16be",
    }
)
_DECLARED_ENCODING = re.compile(r"""<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


class XmlRejected(ValueError):
    """An arriving document was refused; ``reason`` is a short code, ``str()`` says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class HostileXml(XmlRejected):
    """The document tried something only an attacker needs (a DTD, entities, external refs)."""


_DOCTYPE_MESSAGE: Final = "document declares a DOCTYPE; DTDs and entities are refused"


def parse_xml(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """Parse an untrusted document and return its root element (an ``lxml`` element).

    Raises :class:`HostileXml` for a DOCTYPE and :class:`XmlRejected` for everything else this
    parser refuses (see the module docstring for the rules and the ``reason`` codes).
    """
    if not isinstance(data, bytes):
        raise TypeError(f"parse_xml takes bytes, not {type(data).__name__}")
    if not 1 <= max_depth <= LIBXML2_MAX_DEPTH:
        raise ValueError(f"max_depth must be between 1 and {LIBXML2_MAX_DEPTH}, not {max_depth}")
    if not data:
        raise XmlRejected("empty", "document is empty")
    if len(data) > max_bytes:
        raise XmlRejected("too-large", f"document is {len(data)} bytes; the limit is {max_bytes}")
    if _declares_doctype(_as_text(data)):
        raise HostileXml("doctype", _DOCTYPE_MESSAGE)
    try:
        root = etree.fromstring(data, _new_parser())
    except etree.XMLSyntaxError as exc:
        last = exc.error_log.last_error if exc.error_log else None
        if last is not None and last.type == etree.ErrorTypes.ERR_RESOURCE_LIMIT:
            if "depth" in last.message:
                raise _too_deep(max_depth) from None
        raise XmlRejected("malformed", f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise HostileXml("doctype", _DOCTYPE_MESSAGE)
    if _depth_exceeds(root, max_depth):
        raise _too_deep(max_depth)
    return root


def _too_deep(max_depth: int) -> XmlRejected:
    return XmlRejected("too-deep", f"document nests deeper than {max_depth} elements")


def _new_parser() -> Any:
    # A fresh parser per document: lxml parsers keep state and must not be shared by threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        collect_ids=False,
    )


def _as_text(data: bytes) -> str:
    """The document as text, good enough to find markup in the prolog (XML 1.0 appendix F)."""
    head = data[:4]
    if head in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\x00<", b"<\x00\x00\x00"):
        raise XmlRejected("encoding", "UTF-32 documents are refused; send UTF-8")
    if head == b"\x4c\x6f\xa7\x94":
        raise XmlRejected("encoding", "EBCDIC documents are refused; send UTF-8")
    if head[:2] in (b"\xff\xfe", b"<\x00"):
        text = data.decode("utf-16-le", "replace").lstrip("\ufeff")
    elif head[:2] in (b"\xfe\xff", b"\x00<"):
        text = data.decode("utf-16-be", "replace").lstrip("\ufeff")
    else:
        # Every allowed single-byte encoding agrees with ASCII on markup characters.
        text = data.decode("latin-1").removeprefix("\xef\xbb\xbf")
    declared = _DECLARED_ENCODING.match(text)
    if declared and declared.group(1).lower() not in _ALLOWED_ENCODINGS:
        raise XmlRejected("encoding", f"encoding {declared.group(1)!r} is refused; send UTF-8")
    return text


def _declares_doctype(text: str) -> bool:
    """True if the prolog (everything before the root element) holds ``<!DOCTYPE``."""
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t\r\n":
            i += 1
        elif text.startswith("<?", i):
            end = text.find("?>", i + 2)
            if end < 0:
                return False  # unterminated: the parser will say so
            i = end + 2
        elif text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            if end < 0:
                return False
            i = end + 3
        else:
            return text.startswith("<!DOCTYPE", i)
    return False


def _depth_exceeds(root: Any, max_depth: int) -> bool:
    """True if an element nests deeper than ``max_depth`` (the root is at depth 1): one
    compiled XPath, evaluated by libxml2, asks whether any element sits ``max_depth`` steps
    below the root."""
    return bool(_deeper_than(max_depth)(root))


@functools.lru_cache(maxsize=16)
def _deeper_than(max_depth: int) -> Any:
    return etree.XPath("boolean(" + "/".join(["*"] * max_depth) + ")")
