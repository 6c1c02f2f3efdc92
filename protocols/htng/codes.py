"""Result codes as data: what each in-band PMS answer means and what a gateway does with it.

Each profile keeps one table ``{code: ResultCode}`` that drives the simulator's answers, the
gateway's classification and the docs. :class:`Disposition` mirrors the FIAS answer classes
(DESIGN section 5): retryable, deferred, terminal, plus the session re-login of Rezlynx.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any


class Disposition(StrEnum):
    """What a gateway should do with a leg that received this answer."""

    POSTED = "posted"  # booked on the folio
    RETRYABLE = "retryable"  # send the same leg (same reference) again later
    RELOGIN = "relogin"  # log in again and retry once (session expired)
    DEFERRED = "deferred"  # wait for an event first (the guest is not yet checked in)
    TERMINAL = "terminal"  # an operator must act: exception queue with the PMS's text


@dataclass(frozen=True)
class ResultCode:
    """One in-band result code of a profile."""

    code: str | int
    meaning: str
    disposition: Disposition


def result_codes(rows: Iterable[tuple[Enum, Disposition, str]]) -> dict[Any, ResultCode]:
    """A profile's table ``{code value: ResultCode}`` from (code, disposition, meaning) rows."""
    return {
        code.value: ResultCode(code.value, meaning, disposition)
        for code, disposition, meaning in rows
    }


def disposition_of(table: Mapping[Any, ResultCode], code: str | int | None) -> Disposition:
    """What ``table`` says to do with ``code``; a code it does not list is terminal."""
    known = table.get(code)
    return known.disposition if known else Disposition.TERMINAL
