"""``foliogate fias decode``: print FIAS frames field by field, with the names from the spec.

Frames come as arguments or, without arguments, one per line on stdin, in any of these forms::

    LS|DA001015|TI123045|                         the record as text
    \\x02LS|DA001015|TI123045|\\x03                 escaped (also <STX>...<ETX>, <CR>, <LF>)
    02 4c 53 7c 44 41 ...   or   024c537c4441...  hex, e.g. from a packet capture

Input holding STX/ETX goes through the framer, so one line may carry several frames (and the
noise between them). A frame that does not decode prints its error and the exit status is 1.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable

from protocols.fias import (
    FiasDecodeError,
    Framer,
    FramingError,
    check_encoding,
    decode,
    pretty,
)

_CONTROL_NAMES = {
    "NUL": 0x00,
    "STX": 0x02,
    "ETX": 0x03,
    "ENQ": 0x05,
    "ACK": 0x06,
    "LF": 0x0A,
    "FF": 0x0C,
    "CR": 0x0D,
    "NAK": 0x15,
}
_ESCAPE = re.compile(
    r"\\x([0-9A-Fa-f]{2})|\\([\\rnt])|<(" + "|".join(_CONTROL_NAMES) + r")>", re.IGNORECASE
)
_SIMPLE_ESCAPES = {"\\": 0x5C, "r": 0x0D, "n": 0x0A, "t": 0x09}
_HEX_SEPARATORS = re.compile(r"[\s:,]+")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2}){2,}")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "fias", help="FIAS tools (decode frames)", description="Tools for the FIAS protocol."
    )
    verbs = parser.add_subparsers(dest="fias_verb", metavar="VERB", required=True)
    decoder = verbs.add_parser(
        "decode",
        help="print FIAS frames field by field",
        description="Print FIAS frames field by field with the field names from the spec. "
        "A frame is text (LS|DA001015|TI123045|), escaped (\\x02LS|...|\\x03 or "
        "<STX>LS|...|<ETX>) or hex (02 4c 53 7c ... or 024c537c...). Without FRAME arguments, "
        "frames are read one per line from stdin. Exit status 1 if any frame is bad.",
    )
    decoder.add_argument("frames", nargs="*", metavar="FRAME", help="a frame in any form above")
    decoder.add_argument(
        "--encoding", default="cp1252", help="the link's code page (default: cp1252)"
    )
    decoder.set_defaults(func=run)


def parse_input(text: str, encoding: str) -> bytes:
    """The bytes a command-line frame stands for. Raises ``ValueError``."""
    stripped = text.strip()
    compact = _HEX_SEPARATORS.sub("", stripped)
    if "|" not in stripped and _HEX.fullmatch(compact):
        return bytes.fromhex(compact)
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(text):
        out += _encode_text(text[position : match.start()], encoding)
        hex_byte, simple, name = match.groups()
        if hex_byte is not None:
            out.append(int(hex_byte, 16))
        elif simple is not None:
            out.append(_SIMPLE_ESCAPES[simple])
        else:
            out.append(_CONTROL_NAMES[name.upper()])
        position = match.end()
    out += _encode_text(text[position:], encoding)
    return bytes(out)


def _encode_text(text: str, encoding: str) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"the input holds {text[exc.start]!r}, which {encoding} cannot encode"
        ) from None


def split_frames(data: bytes) -> list[bytes | FramingError]:
    """Payloads in ``data``: through the framer if it holds STX/ETX, else ``data`` itself."""
    if b"\x02" not in data and b"\x03" not in data:
        return [data]
    framer = Framer()
    return [*framer.feed(data), *framer.flush()]


def run(args: argparse.Namespace) -> int:
    try:
        check_encoding(args.encoding)
    except (LookupError, ValueError) as exc:
        print(f"foliogate fias decode: {exc}", file=sys.stderr)
        return 2
    lines: Iterable[str] = args.frames if args.frames else sys.stdin
    ok = True
    printed = False
    for line in lines:
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        try:
            items = split_frames(parse_input(line, args.encoding))
        except ValueError as exc:
            print(f"foliogate fias decode: {exc}", file=sys.stderr)
            ok = False
            continue
        for item in items:
            if isinstance(item, FramingError):
                print(
                    f"foliogate fias decode: framing error: {item.reason}: raw {item.raw!r}",
                    file=sys.stderr,
                )
                ok = False
                continue
            try:
                decode(item, args.encoding)  # the typed checks (Y/N flags, repeats, PL guests)
                listing = pretty(item, args.encoding)
            except FiasDecodeError as exc:
                print(f"foliogate fias decode: {exc}", file=sys.stderr)
                ok = False
                continue
            if printed:
                print()
            print(listing)
            printed = True
    return 0 if ok else 1
