"""Fault knobs for the simulated PMS: what goes wrong, set from the hotel file or ``PUT /faults``.

``Faults`` is the frozen setting; ``FaultKnobs`` holds the live one, whose counters run down as
faults fire (``drop_answers: 2`` drops the next two answers, then stops).

- ``delay_ms``: every posting answer (PA/PL) goes out this many ms late; the posting is booked
  at once.
- ``drop_answers``: the next N posting answers are never sent (the postings are booked).
  Inquiry answers (``PL``, or ``PA`` ``NG``) count too.
- ``drop_posting_answers``: the ``PA`` to each of the next N posting ``PR``s is never sent; the
  posting is handled (booked) as usual. Inquiries are answered and not counted, so a client's
  inquiry + posting pair loses exactly the posting's answer (the "posted, but no ``PA``" case).
- ``reject_status`` + ``reject_count``: the next N postings are answered with this AS (RY, NA or
  UR) and book nothing.
- ``close_after_records``: the connection is closed when the Nth record from the client arrives;
  that record is not handled.
- ``split_writes``: every frame is written in pieces of at most this many bytes (0: off).
- ``garbage``: these bytes (latin-1 text) are written before every frame ("": off).
- ``hold_night_audit``: a night audit is held open: one starts if none runs, and it cannot end
  while the knob is set.

The SOAP simulators (``simulators.soap_*``) share these knobs where they apply: ``delay_ms``
delays every SOAP answer; ``drop_answers`` (every SOAP answer) and ``drop_posting_answers``
(answers to postings only) close the HTTP connection without an answer after the request was
handled (booked); ``reject_status`` + ``reject_count`` refuse the next N postings in-band with
the profile's code for RY (system error, retryable), NA (night audit, retryable) or UR (amount
not allowed, terminal), booking nothing; ``hold_night_audit`` answers the profile's night-audit
code. Knobs for the SOAP simulators only:

- ``http_500_count``: the next N SOAP requests are answered HTTP 500 with a plain-text body
  and not handled (nothing is booked).
- ``drop_requests``: the next N SOAP requests are not handled: the connection is closed as
  soon as the request has arrived (nothing is booked).
- ``expire_sessions``: rezlynx: every open session is expired when the next rezlynx request
  arrives (that request too, unless it is a LogIn); the knob then turns itself off.
- ``callback_delay_ms``: htng-async: each result callback is POSTed this many ms after the
  posting was handled (0: at once, just after the acknowledgement).
- ``duplicate_callbacks``: htng-async: the next N result callbacks are POSTed twice.
- ``drop_callbacks``: htng-async: the next N result callbacks are never POSTed (the postings
  are booked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

REJECT_STATUSES = ("RY", "NA", "UR")


@dataclass(frozen=True)
class Faults:
    delay_ms: int = 0
    drop_answers: int = 0
    drop_posting_answers: int = 0
    reject_status: str | None = None
    reject_count: int = 0
    close_after_records: int = 0
    split_writes: int = 0
    garbage: str = ""
    hold_night_audit: bool = False
    # SOAP simulators only (see the module docstring).
    http_500_count: int = 0
    drop_requests: int = 0
    expire_sessions: bool = False
    callback_delay_ms: int = 0
    duplicate_callbacks: int = 0
    drop_callbacks: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultsError(ValueError):
    """Invalid fault settings; ``errors`` lists each problem as ``knob: what is wrong``."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


_COUNTS = (
    "delay_ms",
    "drop_answers",
    "drop_posting_answers",
    "reject_count",
    "close_after_records",
    "split_writes",
)


_SOAP_COUNTS = (
    "http_500_count",
    "drop_requests",
    "callback_delay_ms",
    "duplicate_callbacks",
    "drop_callbacks",
)


def parse_faults(data: Any, base: Faults | None = None) -> Faults:
    """Apply the knobs in ``data`` (a mapping) on top of ``base``; unknown knobs are errors."""
    base = base or Faults()
    if not isinstance(data, Mapping):
        raise FaultsError(["faults must be an object of knob: value"])
    errors: list[str] = []
    known = {f.name for f in fields(Faults)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            errors.append(f"{key}: unknown fault knob (known: {', '.join(sorted(known))})")
        elif key in _COUNTS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                errors.append(f"{key}: must be a whole number >= 0, got {value!r}")
            else:
                changes[key] = value
        elif key in _SOAP_COUNTS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                errors.append(f"{key}: must be a whole number >= 0, got {value!r}")
            else:
                changes[key] = value
        elif key == "expire_sessions":
            if not isinstance(value, bool):
                errors.append(f"{key}: must be true or false")
            else:
                changes[key] = value
        elif key == "reject_status":
            if value is not None and value not in REJECT_STATUSES:
                errors.append(f"{key}: must be one of {', '.join(REJECT_STATUSES)} or null")
            else:
                changes[key] = value
        elif key == "garbage":
            if not isinstance(value, str):
                errors.append(f"{key}: must be a string")
            elif "\x02" in value or "\x03" in value:
                errors.append(f"{key}: must not hold STX or ETX (they would frame it)")
            else:
                try:
                    value.encode("latin-1")
                    changes[key] = value
                except UnicodeEncodeError:
                    errors.append(f"{key}: only latin-1 characters (bytes 0-255)")
        elif key == "hold_night_audit":
            if not isinstance(value, bool):
                errors.append(f"{key}: must be true or false")
            else:
                changes[key] = value
    result = replace(base, **changes)
    if result.reject_count and result.reject_status is None:
        errors.append("reject_count: needs reject_status (RY, NA or UR)")
    if errors:
        raise FaultsError(errors)
    return result


class FaultKnobs:
    """The live fault settings shared by the FIAS server and the control API."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.current = faults or Faults()

    def update(self, data: Any) -> Faults:
        self.current = parse_faults(data, self.current)
        return self.current

    def set(self, faults: Faults) -> None:
        self.current = faults

    def _take(self, knob: str) -> bool:
        """True if the counting ``knob`` is set, counting it one down."""
        remaining = getattr(self.current, knob)
        if remaining:
            self.current = replace(self.current, **{knob: remaining - 1})
            return True
        return False

    def take_drop(self) -> bool:
        """True if this answer is to be dropped (counts one down)."""
        return self._take("drop_answers")

    def take_posting_drop(self) -> bool:
        """True if this posting's PA is to be dropped (counts one down)."""
        return self._take("drop_posting_answers")

    def take_reject(self) -> str | None:
        """The answer status forced on this posting, if any (counts one down)."""
        if self.current.reject_count and self.current.reject_status:
            status = self.current.reject_status
            self.current = replace(self.current, reject_count=self.current.reject_count - 1)
            return status
        return None

    def take_record(self) -> bool:
        """Count one received record; True when the connection is to be closed now."""
        remaining = self.current.close_after_records
        if remaining:
            self.current = replace(self.current, close_after_records=remaining - 1)
            return remaining == 1
        return False

    # -- SOAP simulators --------------------------------------------------------------------

    def take_http_500(self) -> bool:
        """True if this SOAP request is to be answered HTTP 500 (counts one down)."""
        return self._take("http_500_count")

    def take_request_drop(self) -> bool:
        """True if this SOAP request's connection is to be closed unhandled (counts one down)."""
        return self._take("drop_requests")

    def take_session_expiry(self) -> bool:
        """True once after ``expire_sessions`` was set: expire every rezlynx session now."""
        if self.current.expire_sessions:
            self.current = replace(self.current, expire_sessions=False)
            return True
        return False

    def take_callback_duplicate(self) -> bool:
        """True if this result callback is to be POSTed twice (counts one down)."""
        return self._take("duplicate_callbacks")

    def take_callback_drop(self) -> bool:
        """True if this result callback is never to be POSTed (counts one down)."""
        return self._take("drop_callbacks")
