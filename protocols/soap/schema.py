"""XSD validation of a payload, with errors that name the path of the offending element.

``XsdValidator(xsd_path).validate_body(payload) -> list[str]``: an empty list means valid;
otherwise one ``"<path>: <message>"`` per error, e.g.
``"/PostChargeRequest/Amount: 'x' is not a valid value of the atomic type 'xs:long'."``.
Paths are local names from the payload down, with a 1-based index where a name repeats
(``/FetchFolioResponse/Folio/Line[2]``); namespaces are left out of paths and messages.

Schemas are trusted package files; they are still read with entities and network off.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lxml import etree

_CLARK_NAME = re.compile(r"\{[^}]*:[^}]*\}(?=[A-Za-z_])")
_ELEMENT_PREFIX = re.compile(r"^Element '[^']*'(?:, attribute '([^']*)')?: ")


class XsdValidator:
    """Validates payload elements against one XSD file (one instance per profile)."""

    def __init__(self, xsd_path: Path) -> None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        self.xsd_path = xsd_path
        self._schema = etree.XMLSchema(etree.parse(str(xsd_path), parser))

    def validate_body(self, element: Any) -> list[str]:
        """Schema errors of ``element`` (the Body's payload), each ``"<path>: <message>"``."""
        if self._schema.validate(element):
            return []
        errors: list[str] = []
        for entry in self._schema.error_log:
            path = _readable_path(element, entry.path)
            message = _CLARK_NAME.sub("", entry.message)
            prefix = _ELEMENT_PREFIX.match(message)
            if prefix:
                if prefix.group(1):
                    path += f"/@{prefix.group(1)}"
                message = message[prefix.end() :]
            errors.append(f"{path}: {message}")
        return errors


def _readable_path(root: Any, error_path: str | None) -> str:
    """Turn libxml2's ``/*/*[2]`` (relative to the validated element) into local names."""
    node = root
    if error_path and error_path.startswith("/*"):
        relative = "." + error_path[2:]
        found = root.xpath(relative) if relative != "." else [root]
        if found and isinstance(found[0], etree._Element):
            node = found[0]
    steps: list[str] = []
    current = node
    while current is not None:
        name = etree.QName(current).localname
        parent = current.getparent() if current is not root else None
        if parent is not None:
            same = [sibling for sibling in parent if sibling.tag == current.tag]
            if len(same) > 1:
                name += f"[{same.index(current) + 1}]"
        steps.append(name)
        current = parent
    return "/" + "/".join(reversed(steps))
