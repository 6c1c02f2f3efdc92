"""``foliogate wire --leg ID``: a leg's wire log, message by message, readably.

    foliogate wire --leg ID [--raw] (--config FILE | --journal PATH)

Every message the gateway exchanged for the leg, oldest first, with its time and direction:
FIAS records field by field with the names from the spec table (``protocols.fias.pretty``: dates,
times and answer statuses read out), SOAP envelopes indented. ``--raw`` adds the bytes as logged
(masked: digit runs that could be card numbers keep their last four). A record that does not
decode is shown raw with the decoder's error. Exit code 0, or 1 for an unknown leg.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

from adapters.cli import UsageError
from adapters.cli.exceptions import journal_path
from adapters.journal import Journal, JournalError, UnknownLeg, WireRecord
from protocols.fias import FiasDecodeError, pretty

ARROWS = {"out": "gateway -> PMS", "in": "PMS -> gateway"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "wire",
        help="print a leg's wire log readably (FIAS records field by field, SOAP envelopes)",
        description="A leg's wire log: every message in and out, decoded and named.",
    )
    parser.add_argument("--leg", required=True, metavar="ID", help="the leg id")
    parser.add_argument("--raw", action="store_true", help="also print each message as logged")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", metavar="FILE", help="gateway configuration naming the journal")
    where.add_argument("--journal", metavar="PATH", help="the journal file itself")
    parser.set_defaults(func=run)


def _strip_framing(raw: bytes) -> bytes:
    if raw[:1] == b"\x02" and raw[-1:] == b"\x03":
        return raw[1:-1]
    return raw


def pretty_xml(data: bytes) -> str:
    """An XML document indented (parsed with the hardened parser: no DTDs, no entities)."""
    from lxml import etree

    from protocols.soap.safexml import parse_xml

    root = parse_xml(data)
    etree.indent(root, space="  ")
    text: str = etree.tostring(root, encoding="unicode")
    return text


def pretty_message(protocol: str, raw: bytes) -> str:
    """One logged message as text: FIAS by field, XML indented, HTTP head kept as is."""
    body = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if protocol == "fias" or (not body.startswith(b"<") and b"|" in body[:4]):
        try:
            return pretty(_strip_framing(raw))
        except FiasDecodeError as exc:
            return f"(does not decode: {exc})\n  raw: {raw!r}"
    head = b""
    if body[:5] in (b"POST ", b"HTTP/") and b"\r\n\r\n" in body:
        head, _, body = body.partition(b"\r\n\r\n")
        body = body.lstrip()
    text = ""
    if head:
        text = head.decode("latin-1").replace("\r\n", "\n") + "\n\n"
    if body.startswith(b"<"):
        try:
            return text + pretty_xml(body)
        except Exception as exc:  # shown, not fatal: the log may hold a truncated envelope
            return text + f"(not well-formed XML: {exc})\n" + body.decode("utf-8", "replace")
    return text + body.decode("utf-8", "replace")


def render(leg: Any, records: Iterable[WireRecord], *, raw: bool = False) -> str:
    """The wire log of ``leg`` as :func:`run` prints it."""
    records = list(records)
    lines = [
        f"leg {leg.leg_id} ({leg.reference}) of {leg.property}: {leg.state.value}; "
        f"{len(records)} message(s) in the wire log"
    ]
    if not records:
        lines.append("(nothing was exchanged for this leg)")
    for number, record in enumerate(records, start=1):
        when = record.time.isoformat().replace("+00:00", "Z")
        arrow = ARROWS.get(record.direction, record.direction)
        lines += ["", f"#{number}  {when}  {arrow}  {record.protocol}"]
        lines += ["  " + line for line in pretty_message(record.protocol, record.raw).splitlines()]
        if raw:
            lines.append(f"  raw: {record.raw!r}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    try:
        leg_id = int(args.leg)
    except ValueError:
        raise UsageError(f"a leg id is a number, not {args.leg!r}") from None
    path = journal_path(args)
    try:
        journal = Journal(path, recover=False)
    except JournalError as exc:
        raise UsageError(str(exc)) from exc
    try:
        leg = journal.leg(leg_id)
        records = journal.wire_log(leg_id=leg_id)
    except UnknownLeg as exc:
        print(f"foliogate wire: {exc}", file=sys.stderr)
        return 1
    finally:
        journal.close()
    sys.stdout.write(render(leg, records, raw=args.raw))
    return 0
