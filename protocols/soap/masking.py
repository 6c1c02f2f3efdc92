"""Masking for the wire log: no password and no card number ever reaches a log line.

``mask_secrets(xml_bytes)`` works on raw bytes with regular expressions, not a parser, so it
also masks a malformed, truncated or hostile document (exactly what a wire log must keep).

- The text of every element whose local name is ``Password`` (the UsernameToken password, a
  Rezlynx ``LogIn`` password), in any namespace prefix, becomes ``****``.
- Every run of 13 to 19 digits (single spaces or hyphens may separate digit groups, as card
  numbers are often written) that passes the Luhn check becomes ``*`` except its last four
  digits; separators stay. Runs that fail the Luhn check (timestamps, ids) are left alone.

Assumes an ASCII-compatible encoding (UTF-8, as every message foliogate sends).

>>> mask_secrets(b"<wsse:Password Type='x'>s3cret</wsse:Password><PAN>4111 1111 1111 1111</PAN>")
b"<wsse:Password Type='x'>****</wsse:Password><PAN>**** **** **** 1111</PAN>"
"""

from __future__ import annotations

import re
from typing import Final

MASK: Final = b"****"

_PASSWORD = re.compile(
    rb"(<(?:[A-Za-z_][\w.-]*:)?Password(?:\s[^>]*)?>)(.*?)(</(?:[A-Za-z_][\w.-]*:)?Password\s*>)",
    re.DOTALL,
)
_DIGIT_RUN = re.compile(rb"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
#: Digits -> "0", every other byte -> "x" (see :func:`has_digit_run`).
_DIGITS_ONLY = bytes(48 if 48 <= b <= 57 else 120 for b in range(256))


def has_digit_run(data: bytes, length: int = 13, *, separators: bytes = b"") -> bool:
    """True if ``data`` may hold ``length`` digits in a row once the ``separators`` bytes are
    dropped: a check at C speed (``bytes.translate``) before a costlier pattern, which it
    never lets skip a match (it only over-approximates).

    >>> has_digit_run(b"<PAN>4111 1111 1111 1111</PAN>", separators=b" -"), has_digit_run(b"2026")
    (True, False)
    """
    return b"0" * length in data.translate(_DIGITS_ONLY, separators)


def mask_secrets(xml_bytes: bytes) -> bytes:
    """``xml_bytes`` with passwords and Luhn-valid card numbers masked (see the module doc)."""
    masked = xml_bytes
    if b"Password" in masked:
        masked = _PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), masked)
    if not has_digit_run(masked, separators=b" -"):
        return masked  # the usual case: nothing that could be a card
    return _DIGIT_RUN.sub(_mask_card, masked)


def _mask_card(match: re.Match[bytes]) -> bytes:
    run = match.group(0)
    digits = bytes(c for c in run if 48 <= c <= 57)
    if not 13 <= len(digits) <= 19 or not luhn_valid(digits.decode("ascii")):
        return run
    keep = len(digits) - 4
    out = bytearray()
    seen = 0
    for c in run:
        if 48 <= c <= 57:
            out += b"*" if seen < keep else bytes((c,))
            seen += 1
        else:
            out.append(c)
    return bytes(out)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0
