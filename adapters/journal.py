"""The gateway's journal: events, the outbox of posting legs, the P# sequence and the wire log.

One SQLite file in WAL mode (DESIGN section 5, issue 3 section 2). Everything that must survive a
crash lives here: every accepted event (its canonical body, card data stripped), the legs a journey
planned for it with their states, the FIAS ``P#`` sequence per property, every frame in and out,
every leg transition with who made it, and the folio balances the PMS reported after a journey.

Rules the journal enforces rather than trusts its callers with:

- an event is stored with all its legs in one transaction, or not at all; a repeated ``event_id``
  is a no-op when the canonical body is the same and a conflict when it differs;
- leg states move only along DESIGN section 5 (:data:`TRANSITIONS`); anything else raises
  :class:`IllegalTransition`;
- a leg found in ``sent`` when the file is opened was caught in flight by a crash: it becomes
  ``unknown`` ("in flight at restart") and goes to the exception queue; it is never re-sent on its
  own;
- a ``P#`` is committed before :meth:`Journal.next_posting_number` returns, so it is never reused;
- card numbers never reach the disk: card-number fields are dropped from stored bodies and digit
  runs that look like card numbers are masked in bodies and wire frames.

Threading model and group commit: see :class:`Journal`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from adapters.domain import (
    EXCEPTION_STATES,
    PENDING_STATES,
    Leg,
    LegState,
    PaymentEvent,
    PlannedLeg,
    leg_reference,
)
from adapters.matching import Candidate
from adapters.money import format_minor
from adapters.rates import Conversion
from protocols.soap.masking import has_digit_run, luhn_valid

log = Logger(namespace="foliogate.journal")

#: The FIAS ``P#`` field holds at most eight digits; the sequence wraps from here back to 1.
MAX_POSTING_NUMBER = 99_999_999

#: The reason a leg caught in ``sent`` by a crash is given when the journal is reopened.
IN_FLIGHT_AT_RESTART = "in flight at restart"

#: Wire-log rows wait at most this long (seconds) for a commit to ride along with before one
#: is made for them alone. Each frame committing on its own cost a commit (an fsync) per frame.
WIRE_FLUSH_DELAY = 0.05
#: History actions shown as a leg's notes: an operator's retry and resolve, and the notes the
#: gateway adds (a late FIAS PA, a late htng-async result).
NOTE_ACTIONS = frozenset({"retry", "resolve", "note", "late-answer", "late-result"})
_NOTE_ACTIONS_SQL = ", ".join(f"'{action}'" for action in sorted(NOTE_ACTIONS))
#: At the latest this many seconds after the PMS answered, a ``posted`` mark is committed on
#: its own; usually it rides along with the next ``sent`` mark's commit well before.
POSTED_FLUSH_DELAY = 0.01
#: A leg to be posted by hand that no operator has resolved yet (SQL, on the legs table).
_OPEN_BY_HAND = "by_hand = 1 AND state = 'rejected'"

#: Actor name for transitions the gateway makes on its own (operators are named by themselves).
GATEWAY_ACTOR = "gateway"

# ---------------------------------------------------------------------------------------------
# Schema: an ordered list of SQL scripts. Script N (1-based) takes the file from version N-1 to
# version N, in one transaction. Never edit a script that has shipped; append a new one.
# ---------------------------------------------------------------------------------------------

_STATES_SQL = ", ".join(f"'{s.value}'" for s in LegState)

MIGRATIONS: tuple[str, ...] = (
    # 1: events, the outbox of legs, the P# sequence, the wire log.
    f"""
    CREATE TABLE events (
        event_id     TEXT PRIMARY KEY,
        arrival      INTEGER NOT NULL UNIQUE,
        property     TEXT NOT NULL,
        type         TEXT NOT NULL,
        source       TEXT,
        occurred_at  TEXT,
        body         BLOB NOT NULL,
        received_at  TEXT NOT NULL,
        status       TEXT NOT NULL,
        outcome      TEXT
    );
    CREATE TABLE legs (
        leg_id              INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id            TEXT NOT NULL REFERENCES events (event_id),
        leg_index           INTEGER NOT NULL,
        arrival             INTEGER NOT NULL,
        property            TEXT NOT NULL,
        confirmation_number TEXT NOT NULL,
        transaction_code    TEXT,
        payment_type        TEXT,
        amount              INTEGER NOT NULL,
        currency            TEXT NOT NULL,
        description         TEXT NOT NULL DEFAULT '',
        needs_in_house      INTEGER NOT NULL,
        state               TEXT NOT NULL CHECK (state IN ({_STATES_SQL})),
        reference           TEXT NOT NULL UNIQUE,
        attempts            INTEGER NOT NULL DEFAULT 0,
        reason              TEXT,
        answer_status       TEXT,
        posting_number      INTEGER,
        not_before          TEXT,
        created_at          TEXT NOT NULL,
        updated_at          TEXT NOT NULL,
        UNIQUE (event_id, leg_index)
    );
    CREATE INDEX legs_by_state ON legs (state, arrival);
    CREATE INDEX legs_by_property_state ON legs (property, state, arrival);
    CREATE TABLE posting_numbers (
        property TEXT PRIMARY KEY,
        last     INTEGER NOT NULL
    );
    CREATE TABLE wire_log (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        time      TEXT NOT NULL,
        property  TEXT,
        leg_id    INTEGER,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        protocol  TEXT NOT NULL,
        raw       BLOB NOT NULL
    );
    CREATE INDEX wire_log_by_leg ON wire_log (leg_id, id);
    """,
    # 2: every leg transition and operator action (who, what, when, note); reported balances.
    """
    CREATE TABLE history (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        time       TEXT NOT NULL,
        event_id   TEXT NOT NULL,
        leg_id     INTEGER,
        from_state TEXT,
        to_state   TEXT,
        actor      TEXT NOT NULL,
        action     TEXT NOT NULL,
        note       TEXT
    );
    CREATE INDEX history_by_leg ON history (leg_id, id);
    CREATE INDEX history_by_event ON history (event_id, id);
    CREATE TABLE balances (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id            TEXT NOT NULL REFERENCES events (event_id),
        leg_id              INTEGER,
        property            TEXT NOT NULL,
        confirmation_number TEXT,
        balance             INTEGER NOT NULL,
        currency            TEXT NOT NULL,
        recorded_at         TEXT NOT NULL
    );
    CREATE INDEX balances_by_event ON balances (event_id, id);
    """,
    # 3: what the confirmation number names (reservation or A/R account), and legs an operator
    # must post by hand (a journey's "post by hand" exception): never dispatched, not retried.
    """
    ALTER TABLE events ADD COLUMN target TEXT NOT NULL DEFAULT 'reservation';
    ALTER TABLE legs ADD COLUMN by_hand INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: who is in house per property, as the PMS's GI/GO/GC told the link, so a restarted
    # gateway knows where its guests are without asking the PMS for a resync (FIAS: DR only
    # after data loss). guest_lists marks the properties whose list is complete.
    """
    CREATE TABLE guests (
        property            TEXT NOT NULL,
        reservation_number  INTEGER NOT NULL,
        room                TEXT NOT NULL,
        updated_at          TEXT NOT NULL,
        PRIMARY KEY (property, reservation_number)
    );
    CREATE TABLE guest_lists (
        property            TEXT PRIMARY KEY,
        complete_at         TEXT NOT NULL
    );
    """,
    # 5: issue 5 (matching, A/R, currencies). The payment each event carries, as received
    # (to flag an amount that differs for the same transaction_id); legs held for an
    # operator's approval; conversions with their rate; flags; candidate searches (matches)
    # and the ranked candidates they found.
    """
    ALTER TABLE events ADD COLUMN transaction_id TEXT;
    ALTER TABLE events ADD COLUMN payment_amount INTEGER;
    ALTER TABLE events ADD COLUMN payment_currency TEXT;
    CREATE INDEX events_by_transaction ON events (transaction_id);
    ALTER TABLE legs ADD COLUMN hold TEXT;
    CREATE TABLE conversions (
        event_id            TEXT PRIMARY KEY REFERENCES events (event_id),
        original_amount     INTEGER NOT NULL,
        original_currency   TEXT NOT NULL,
        amount              INTEGER NOT NULL,
        currency            TEXT NOT NULL,
        rate                TEXT NOT NULL,
        base                TEXT NOT NULL,
        quote               TEXT NOT NULL,
        inverted            INTEGER NOT NULL,
        valid_from          TEXT NOT NULL,
        valid_to            TEXT,
        rates_file          TEXT NOT NULL,
        rounding            TEXT NOT NULL,
        recorded_at         TEXT NOT NULL
    );
    CREATE TABLE flags (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id            TEXT NOT NULL REFERENCES events (event_id),
        kind                TEXT NOT NULL,
        detail              TEXT NOT NULL,
        related_event_id    TEXT,
        created_at          TEXT NOT NULL
    );
    CREATE INDEX flags_by_event ON flags (event_id, id);
    CREATE TABLE matches (
        event_id            TEXT PRIMARY KEY REFERENCES events (event_id),
        property            TEXT NOT NULL,
        leg_id              INTEGER,
        reason              TEXT NOT NULL,
        status              TEXT NOT NULL CHECK (status IN ('pending', 'searched', 'assigned')),
        requested_at        TEXT NOT NULL,
        searched_at         TEXT,
        search_note         TEXT,
        assigned_to         TEXT,
        assigned_by         TEXT,
        assigned_at         TEXT,
        assign_note         TEXT
    );
    CREATE INDEX matches_by_status ON matches (property, status);
    CREATE TABLE candidates (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id            TEXT NOT NULL REFERENCES events (event_id),
        rank                INTEGER NOT NULL,
        confirmation_number TEXT NOT NULL,
        guest_name          TEXT NOT NULL,
        room                TEXT,
        arrival             TEXT,
        departure           TEXT,
        balance             INTEGER,
        score               INTEGER NOT NULL,
        reasons             TEXT NOT NULL,
        found_at            TEXT NOT NULL
    );
    CREATE INDEX candidates_by_event ON candidates (event_id, rank);
    """,
    # 6: guests the PMS checked out (GO), so a payment arriving after departure goes to the
    # exception queue at once instead of waiting for a check-in that will not come.
    """
    CREATE TABLE departures (
        property            TEXT NOT NULL,
        reservation_number  INTEGER NOT NULL,
        room                TEXT,
        departed_at         TEXT NOT NULL,
        PRIMARY KEY (property, reservation_number)
    );
    """,
    # 7: finding a reservation's events (console, GET /v1/reservations/{n}) by index instead
    # of reading every event's body: the confirmation number the event named, and the legs'.
    """
    ALTER TABLE events ADD COLUMN confirmation_number TEXT;
    UPDATE events SET confirmation_number = json_extract(CAST(body AS TEXT),
        '$.booking.confirmation_number') WHERE json_valid(CAST(body AS TEXT));
    CREATE INDEX events_by_confirmation ON events (confirmation_number);
    CREATE INDEX legs_by_confirmation ON legs (confirmation_number)
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

#: DESIGN section 5, as data: the states a leg may move to from each state.
TRANSITIONS: dict[LegState, frozenset[LegState]] = {
    # A terminal answer can come before the posting itself (inquiry finds no such guest,
    # mapping error) or when a waiting deposit expires.
    LegState.PLANNED: frozenset({LegState.WAITING, LegState.SENT, LegState.REJECTED}),
    LegState.WAITING: frozenset({LegState.WAITING, LegState.SENT, LegState.REJECTED}),
    # sent -> waiting only on an answer that proves nothing posted (FIAS RY, night audit).
    LegState.SENT: frozenset(
        {LegState.POSTED, LegState.REJECTED, LegState.UNKNOWN, LegState.WAITING}
    ),
    LegState.REJECTED: frozenset({LegState.PLANNED, LegState.RESOLVED}),
    LegState.UNKNOWN: frozenset({LegState.PLANNED, LegState.RESOLVED}),
    LegState.POSTED: frozenset(),
    LegState.RESOLVED: frozenset(),
}


# ---------------------------------------------------------------------------------------------
# Records and errors
# ---------------------------------------------------------------------------------------------


class JournalError(Exception):
    """The journal file cannot be used (newer schema, failed migration, closed)."""


class IllegalTransition(JournalError):
    """A leg was asked to move along an edge DESIGN section 5 does not have."""

    def __init__(self, leg_id: int, current: LegState, wanted: LegState) -> None:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "nothing"
        super().__init__(
            f"leg {leg_id} is {current.value}; it cannot become {wanted.value} "
            f"(from {current.value} it may become: {allowed})"
        )
        self.leg_id = leg_id
        self.current = current
        self.wanted = wanted


class ByHand(JournalError):
    """An operator asked to retry a leg that only an operator can post (never dispatched)."""


class Held(JournalError):
    """A leg held for approval was retried: only an approval releases it."""


class NotAssignable(JournalError):
    """An assignment or approval the leg's or event's state does not allow."""


class Hold(StrEnum):
    """Why a leg waits in the exception queue for an operator's approval (``legs.hold``)."""

    APPROVAL = "approval"  # over the property's approval_threshold
    REVIEW = "review"  # flagged: e.g. the amount differs for the same transaction_id


class MatchStatus(StrEnum):
    PENDING = "pending"  # a candidate search is to be run (when the PMS can answer)
    SEARCHED = "searched"  # candidates journaled; waiting for an operator to assign
    ASSIGNED = "assigned"  # an operator assigned the record


@dataclass(frozen=True)
class Flag:
    """Something about an event an operator should see (``kind``: ``amount_mismatch``,
    ``duplicate_payment``)."""

    event_id: str
    kind: str
    detail: str
    related_event_id: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class Match:
    """The candidate search for an event whose confirmation number found nothing."""

    event_id: str
    property: str
    leg_id: int | None  # the leg the PMS did not find (None: found nothing at ingest)
    reason: str
    status: MatchStatus
    requested_at: dt.datetime
    searched_at: dt.datetime | None = None
    search_note: str | None = None
    candidates: tuple[Candidate, ...] = ()
    assigned_to: str | None = None
    assigned_by: str | None = None
    assigned_at: dt.datetime | None = None
    assign_note: str | None = None


class UnknownLeg(JournalError, LookupError):
    """No leg with that id."""


class UnknownEvent(JournalError, LookupError):
    """No event with that id."""


class IngestStatus(StrEnum):
    ACCEPTED = "accepted"  # new event, committed with its legs
    DUPLICATE = "duplicate"  # same event_id, same canonical body: a no-op
    CONFLICT = "conflict"  # same event_id, different body: rejected, nothing stored


class EventStatus(StrEnum):
    """What the journey made of an event when it was recorded."""

    ACCEPTED = "accepted"  # legs planned (possibly none)
    NO_POST = "no-post"  # recorded and answered, never posted (pending, failed...)
    EXCEPTION = "exception"  # the journey could not plan it: an operator must act
    RESOLVED = "resolved"  # an event-level exception closed by an operator


@dataclass(frozen=True)
class Balance:
    """A folio balance the PMS reported after a journey (FIAS ``BA``), minor units."""

    event_id: str
    leg_id: int | None
    property: str
    confirmation_number: str | None
    balance: int
    currency: str
    recorded_at: dt.datetime


@dataclass(frozen=True)
class Action:
    """One line of a leg's (or an event's) history: a transition or an operator action."""

    time: dt.datetime
    event_id: str
    leg_id: int | None
    from_state: str | None
    to_state: str | None
    actor: str
    action: str
    note: str | None


@dataclass(frozen=True)
class WireRecord:
    id: int
    time: dt.datetime
    property: str | None
    leg_id: int | None
    direction: str  # "in" | "out"
    protocol: str
    raw: bytes  # masked


@dataclass(frozen=True)
class EventRecord:
    """A journaled event with its legs and reported balances."""

    event_id: str
    property: str
    type: str
    source: str | None
    status: EventStatus
    outcome: str | None
    occurred_at: str | None
    received_at: dt.datetime
    body: bytes  # canonical JSON, card data stripped
    legs: tuple[Leg, ...] = ()
    balances: tuple[Balance, ...] = ()
    #: What the confirmation number names on the PMS: "reservation" or "account" (A/R).
    target: str = "reservation"
    #: The conversion into the property's currency, when the event was in another one.
    conversion: Conversion | None = None
    flags: tuple[Flag, ...] = ()
    #: The candidate search, when the confirmation number found nothing.
    match: Match | None = None
    #: leg id -> why it is held for approval (legs not held are absent).
    holds: dict[int, str] = field(default_factory=dict)

    def body_json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class LegStat:
    """How many legs of a property are in a state, and when the oldest was planned."""

    property: str
    state: LegState
    count: int
    oldest_created_at: dt.datetime | None


@dataclass(frozen=True)
class IngestResult:
    status: IngestStatus
    event_id: str
    event_status: EventStatus | None = None  # None for a conflict
    outcome: str | None = None
    legs: tuple[Leg, ...] = ()


_WireRow = tuple[str, str | None, int | None, str, str, bytes]
#: (event_id, leg_id, property, confirmation_number, balance, currency, recorded_at)
_BalanceRow = tuple[str, int | None, str, str | None, int, str, str]


@dataclass
class _SentMark:
    """A leg to mark ``sent`` in the next commit; ``deferred`` fires once that is on disk."""

    leg_id: int
    posting_number: int | None
    deferred: Deferred[None] = field(default_factory=Deferred)


class _Submission:
    """An event waiting for the next group commit; ``deferred`` fires after its COMMIT."""

    __slots__ = ("event", "body", "plan", "source", "deferred")

    def __init__(self, event: PaymentEvent, body: bytes, plan: Any, source: str | None) -> None:
        self.event = event
        self.body = body
        self.plan = plan
        self.source = source
        self.deferred: Deferred[IngestResult] = Deferred()


#: A history line as :meth:`Journal._history` writes it: time, event_id, leg_id, from_state,
#: to_state, actor, action, note.
_HistoryRow = tuple[str, str, "int | None", "str | None", "str | None", str, str, "str | None"]
_HISTORY_INSERT = (
    "INSERT INTO history (time, event_id, leg_id, from_state, to_state, actor, action, note)"
    " VALUES "
)
#: History lines per INSERT statement (8 parameters each: SQLite allows 999 at least).
_HISTORY_ROWS_PER_INSERT = 100


@functools.lru_cache(maxsize=16)
def _history_insert(rows: int) -> str:
    return _HISTORY_INSERT + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows)


def _insert_history(conn: sqlite3.Connection, rows: Sequence[_HistoryRow]) -> None:
    """Insert history lines in their order, up to :data:`_HISTORY_ROWS_PER_INSERT` per
    statement (one statement for an event's lines instead of one each: each INSERT into an
    AUTOINCREMENT table also updates sqlite_sequence)."""
    for start in range(0, len(rows), _HISTORY_ROWS_PER_INSERT):
        chunk = rows[start : start + _HISTORY_ROWS_PER_INSERT]
        conn.execute(_history_insert(len(chunk)), [v for row in chunk for v in row])


class _Arrivals:
    """The last event and leg arrivals a group commit's transaction used (None: not known
    yet, read from the tables). Nothing else inserts events or legs inside that transaction."""

    __slots__ = ("event", "leg")

    def __init__(self) -> None:
        self.event: int | None = None
        self.leg: int | None = None


_TEXT_OR_NONE = (str, type(None))


def _new_leg_state(
    exception: str | None, hold: str | None, hold_reason: str | None
) -> tuple[bool, LegState, str | None]:
    """(held, state, reason) of a leg as it is inserted: a journey's "post by hand" exception
    and a leg held for approval go to the exception queue with their reason, others are
    planned."""
    held = exception is None and hold is not None
    state = LegState.REJECTED if exception is not None or held else LegState.PLANNED
    reason = exception if exception is not None else (hold_reason if held else None)
    return held, state, reason


def _inserted_legs(
    event_id: str,
    property: str,
    confirmation_number: str,
    planned: Sequence[PlannedLeg],
    leg_ids: Sequence[int],
    now: str,
    exception: str | None,
    hold: str | None,
    hold_reason: str | None,
) -> tuple[Leg, ...] | None:
    """The legs :meth:`Journal._insert_legs` has just inserted, as reading them back (ordered
    by ``leg_index``) would give them, without reading them back; None when a value's type
    is not one SQLite returns unchanged (the caller then reads them back).

    A new leg has no notes: its only history line is ``planned`` or ``held``."""
    _, state, reason = _new_leg_state(exception, hold, hold_reason)
    if type(reason) not in _TEXT_OR_NONE:
        return None
    if type(event_id) is not str or type(property) is not str:
        return None
    if type(confirmation_number) is not str:
        return None
    for leg in planned:
        if not (
            type(leg) is PlannedLeg
            and type(leg.leg_index) is int
            and type(leg.transaction_code) in _TEXT_OR_NONE
            and type(leg.payment_type) in _TEXT_OR_NONE
            and type(leg.amount) is int
            and type(leg.currency) is str
            and type(leg.description) is str
            and type(leg.needs_in_house) is bool
        ):
            return None
    at = _parse_ts(now)
    legs = [
        Leg(
            leg_id=leg_id,
            event_id=event_id,
            leg_index=leg.leg_index,
            property=property,
            confirmation_number=confirmation_number,
            plan=leg,
            state=state,
            reference=leg_reference(event_id, leg.leg_index),
            reason=reason,
            created_at=at,
            updated_at=at,
        )
        for leg, leg_id in zip(planned, leg_ids, strict=True)
    ]
    legs.sort(key=_leg_index)
    return tuple(legs)


def _leg_index(leg: Leg) -> int:
    return leg.leg_index


# ---------------------------------------------------------------------------------------------
# Card data defence
# ---------------------------------------------------------------------------------------------

_WIRE_DIGIT_RUN = re.compile(rb"[0-9]{13,}")
# A card number as people write it: 13 to 19 digits, optionally grouped by spaces or dashes.
_TEXT_PAN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
# Field names that carry a full card number or sensitive authentication data (normalized:
# lower case, no separators). ``number`` alone counts only inside a card object.
_CARD_FIELDS = frozenset(
    {
        "cardnumber",
        "cardno",
        "cardnum",
        "pan",
        "primaryaccountnumber",
        "cvv",
        "cvv2",
        "cvc",
        "cvc2",
        "securitycode",
        "track",
        "track1",
        "track2",
        "trackdata",
    }
)


def mask_wire(raw: bytes) -> bytes:
    """Mask every run of 13 or more digits but its last four (a card number, or could be).

    >>> mask_wire(b"PR|TA5000|CN4111111111111111|")
    b'PR|TA5000|CN************1111|'
    """
    if not has_digit_run(raw):
        return raw  # the usual case, found at C speed
    return _WIRE_DIGIT_RUN.sub(lambda m: b"*" * (len(m.group()) - 4) + m.group()[-4:], raw)


def _mask_text(text: str) -> str:
    def mask(m: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", m.group())
        if not luhn_valid(digits):
            return m.group()  # an order number or the like, not a card
        return "*" * (len(digits) - 4) + digits[-4:]

    return _TEXT_PAN.sub(mask, text)


@functools.lru_cache(maxsize=1024)
def _normalized_key(key: str) -> str:
    """``key`` lower-cased with everything but letters and digits dropped (cached: events
    repeat the same few keys)."""
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _strip_card_data(value: Any, in_card: bool = False) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            norm = _normalized_key(str(key))
            if norm in _CARD_FIELDS or (in_card and norm == "number"):
                continue
            if norm in ("cardlast4", "last4") and isinstance(item, str):
                item = item[-4:]
            out[key] = _strip_card_data(item, in_card=in_card or "card" in norm)
        return out
    if isinstance(value, list):
        return [_strip_card_data(item, in_card) for item in value]
    if isinstance(value, str):
        return _mask_text(value)
    return value


#: Bytes that are not an ASCII letter or digit (dropped as :func:`_normalized_key` drops them).
_NOT_ALNUM = bytes(b for b in range(256) if not chr(b).isascii() or not chr(b).isalnum())
#: What a body must hold somewhere for :func:`_strip_card_data` to change it: a card field's
#: name, ``last4`` (trimmed to four) or ``card`` (an object whose ``number`` is dropped).
_CARD_WORDS = tuple(sorted(word.encode() for word in _CARD_FIELDS | {"last4", "card"}))
#: Any of :data:`_CARD_WORDS`, found in one pass (``any(word in squashed ...)`` took one
#: Python step per word). A word that holds another (``cardnumber`` holds ``card``) is left
#: out: wherever it occurs, the shorter one does too.
_CARD_WORD = re.compile(
    b"|".join(
        re.escape(word)
        for word in _CARD_WORDS
        if not any(other != word and other in word for other in _CARD_WORDS)
    )
)
#: ``bytes.lower`` as a translation table (one pass with the deletion of :data:`_NOT_ALNUM`).
_LOWER = bytes.maketrans(bytes(range(65, 91)), bytes(range(97, 123)))


def _surely_clean(body: bytes) -> bool:
    """True if :func:`strip_card_data` would return ``body`` unchanged, found without
    parsing it: ASCII only, no escape sequence, no run of 13 digits (spaces and dashes
    between them included) and, once lower-cased with everything but letters and digits
    dropped, none of :data:`_CARD_WORDS`. False means: look properly."""
    if not body.isascii() or b"\\u" in body or has_digit_run(body, separators=b" -"):
        return False
    squashed = body.translate(_LOWER, _NOT_ALNUM)  # lower-cased, letters and digits only
    return _CARD_WORD.search(squashed) is None


def strip_card_data(body: bytes) -> bytes:
    """The body as stored: card-number fields dropped, card-like digit runs masked.

    ``adapters.events`` already rejects events carrying card numbers; this is the second line
    of defence. A body that needs no change is returned byte for byte (so the canonical form
    chosen by ``adapters.events`` is kept); a changed one is re-serialized canonically.

    >>> strip_card_data(b'{"payment":{"card_number":"4242424242424242","card_last4":"4242"}}')
    b'{"payment":{"card_last4":"4242"}}'
    """
    if _surely_clean(body):
        return body
    try:
        obj = json.loads(body)
    except ValueError:
        return mask_wire(body)
    clean = _strip_card_data(obj)
    if clean == obj:
        return body
    return json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# ---------------------------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------------------------


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: The first and the longest pause (seconds) between two tries of ``BEGIN IMMEDIATE``.
_LOCK_PAUSES = (0.00002, 0.001)


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _begin_immediate(conn: sqlite3.Connection, limit: float) -> None:
    """``BEGIN IMMEDIATE``, waiting at most ``limit`` seconds for another process's write
    lock (an acceptor's, a CLI tool's) in pauses of 20 us doubling to 1 ms.

    SQLite's own busy handler (``PRAGMA busy_timeout``) sleeps 1 ms at the first collision and
    longer after: with an acceptor process committing events beside the dispatcher, that cost
    the dispatcher half its postings (measured: a backlog drained at 1,474 legs/s instead of
    2,837). A write transaction here lasts about 0.1 ms, so short pauses find the lock free.
    """
    pause, deadline = _LOCK_PAUSES[0], None
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + limit
            elif now > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, _LOCK_PAUSES[1])


_ONE_SECOND = dt.timedelta(seconds=1)
_NO_TIME = dt.timedelta(0)
#: The UTC second :func:`_ts` last formatted (microsecond 0) and its text up to the ``.``.
_ts_second: tuple[dt.datetime | None, str] = (None, "")


def _ts(value: dt.datetime) -> str:
    """``value`` as the journal stores it: UTC, ISO 8601 with microseconds and ``+00:00``.

    The usual value is a UTC datetime in the same second as the one before it (a journal
    stamps many rows a second): its text is the cached second's plus the microseconds, the
    same text ``isoformat`` gives (at a third of the cost: this runs for every wire frame)."""
    if value.tzinfo is dt.UTC and value.__class__ is dt.datetime:
        second, prefix = _ts_second
        if second is not None and _NO_TIME <= value - second < _ONE_SECOND:
            return f"{prefix}{value.microsecond:06d}+00:00"
        return _ts_new_second(value)
    if value.tzinfo is None:
        raise ValueError("journal times must be timezone-aware")
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _ts_new_second(value: dt.datetime) -> str:
    global _ts_second
    text = value.isoformat(timespec="microseconds")
    # "YYYY-MM-DDTHH:MM:SS." is all but the last 12 characters ("ffffff+00:00").
    _ts_second = (value.replace(microsecond=0), text[:-12])
    return text


def _parse_ts(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _ts_required(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


# ---------------------------------------------------------------------------------------------
# Plans: what adapters.journeys hands over
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PlanParts:
    legs: tuple[PlannedLeg, ...] = ()
    exception: str | None = None  # the journey could not plan: an operator must act
    no_post: str | None = None  # journaled, never posted
    target: str = "reservation"  # what the confirmation number names
    # From adapters.intake.IntakePlan (absent on a bare JourneyPlan):
    hold: str | None = None  # Hold value: the legs wait for approval
    hold_reason: str | None = None
    conversion: Any = None  # adapters.rates.Conversion
    match_reason: str | None = None  # a candidate search is needed
    confirmation_number: str | None = None  # the legs' number when not the booking's


def _plan_parts(plan: Any) -> _PlanParts:
    """What to store for a journey plan.

    ``plan`` is an ``adapters.journeys.JourneyPlan`` (``outcome`` post / not_posted /
    exception, ``legs``, ``reason``, ``target``, ``by_hand``) or, for tests and tools, a
    plain sequence of :class:`PlannedLeg` to post. An exception's ``by_hand`` legs are stored
    straight in the exception queue, flagged so that they are never dispatched.
    """
    if plan is None:
        return _PlanParts()
    if isinstance(plan, Sequence):
        return _PlanParts(legs=tuple(plan))
    outcome = str(getattr(plan, "outcome", "post"))
    reason = str(getattr(plan, "reason", "") or "") or None
    target = str(getattr(plan, "target", "reservation") or "reservation")
    extra: dict[str, Any] = {
        "conversion": getattr(plan, "conversion", None),
        "match_reason": getattr(plan, "match_reason", None),
        "confirmation_number": getattr(plan, "confirmation_number", None),
    }
    if outcome == "exception":
        legs = tuple(getattr(plan, "by_hand", ()) or ()) or tuple(getattr(plan, "legs", ()))
        return _PlanParts(legs, exception=reason or "the journey could not plan this event",
                          target=target, **extra)  # fmt: skip
    if outcome == "not_posted":
        return _PlanParts(no_post=reason or "not posted", target=target, **extra)
    if outcome != "post":
        raise ValueError(f"unknown journey outcome {outcome!r}")
    return _PlanParts(
        tuple(getattr(plan, "legs", ())), target=target, hold=getattr(plan, "hold", None),
        hold_reason=getattr(plan, "hold_reason", None), **extra,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Schema management
# ---------------------------------------------------------------------------------------------


def schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the migrations the file lacks, each in its own transaction; return the version.

    ``conn`` must be in autocommit mode (``isolation_level=None``). A file newer than this
    code is refused rather than guessed at.
    """
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise JournalError(
            f"journal schema version {current} is newer than this foliogate "
            f"understands ({SCHEMA_VERSION}); upgrade foliogate"
        )
    for version in range(current + 1, target + 1):
        script = MIGRATIONS[version - 1]
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise JournalError(f"journal migration to version {version} failed: {exc}") from exc
        log.info("journal migrated to schema version {version}", version=version)
    return schema_version(conn)


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction first; split instead (no ';' in our SQL
    # other than statement ends).
    return [s.strip() for s in script.split(";") if s.strip()]


# ---------------------------------------------------------------------------------------------
# The journal
# ---------------------------------------------------------------------------------------------

_LEG_COLUMNS = (
    "leg_id, event_id, leg_index, property, confirmation_number, transaction_code, "
    "payment_type, amount, currency, description, needs_in_house, state, reference, attempts, "
    "reason, answer_status, posting_number, not_before, created_at, updated_at"
)


class Journal:
    """The durable journal of one gateway (one SQLite file).

    ``Journal(path, reactor=..., now=...)`` opens (creating and migrating) the file. With
    ``recover=True`` (the running gateway) legs left in ``sent`` become ``unknown``; tools that
    open the file beside a running gateway (``foliogate exceptions``) pass ``recover=False``.

    **Threading and group commit.** The journal lives in the reactor thread and owns one
    connection. Synchronous calls (``mark_*``, ``next_posting_number``, ``retry``...) each
    commit their own transaction before returning, because the dispatcher must know a state or
    a ``P#`` is on disk before it writes to the wire. Ingest is asynchronous:
    :meth:`submit_event` queues the event and schedules ``reactor.callLater(0, flush)``; every
    submission that arrives before that call runs (all requests the reactor read in the same
    turn) is written in ONE transaction, and their Deferreds fire only after its COMMIT. The
    commit is one fsync (``synchronous=FULL``) shared by the whole batch.

    Why the reactor thread and not a writer thread: the synchronous calls above need answers
    inline, so a writer thread would either serialize them through itself (a thread hop per
    dispatcher step) or need a second connection contending for SQLite's single write lock;
    one connection in one thread needs no locks, keeps the order of writes the order of calls,
    and is deterministic under ``twisted.internet.task.Clock`` in tests. The price is that the
    reactor waits for each fsync (about a millisecond on SSD); batching keeps that to one per
    reactor turn for ingest.

    Wire-log rows (:meth:`log_wire`) also wait for the next commit: the next synchronous call
    (or ingest batch) writes them in the same transaction, or, if none comes, a flush
    :data:`WIRE_FLUSH_DELAY` seconds later; so logging a frame costs no fsync of its own. At
    most the frames of that last moment can be lost in a crash; never a state: a leg is
    journaled ``sent`` before its posting frame is written. Folio balances the dispatcher reads
    back after a journey (:meth:`queue_balance`) ride along the same way.

    ``sent`` marks can be grouped too: :meth:`submit_sent` queues the mark and returns a
    Deferred that fires only after the COMMIT that writes it (:meth:`commit_sent`, an ingest
    batch, any synchronous call, at the latest a flush in the next reactor turn); the caller
    writes the posting then, never before. Legs handed out together thus cost one fsync, and a
    leg whose posting is ready when another leg's answer is journaled shares that commit.

    ``posted`` (:meth:`submit_posted`, the dispatcher's way) rides along the same way: the PMS
    has booked the leg, nothing waits for the mark, and answers that arrive together share one
    commit. Should the gateway die before that commit, the leg is still ``sent`` on disk and
    becomes ``unknown`` at restart: never re-sent, checked by an operator. :meth:`mark_posted`
    and every other outcome are committed before the call returns.
    """

    def __init__(
        self,
        path: str,
        *,
        reactor: Any = None,
        now: Callable[[], dt.datetime] = _utc_now,
        recover: bool = True,
        busy_timeout_ms: int = 5000,
        posting_number_block: int = 64,
    ) -> None:
        if posting_number_block < 1:
            raise ValueError("posting_number_block must be at least 1")
        self.posting_number_block = posting_number_block
        self.path = str(path)
        self._reactor = reactor
        self._now = now
        self._conn: sqlite3.Connection | None = sqlite3.connect(self.path, isolation_level=None)
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"cannot put {self.path} in WAL mode (got {mode})")
        # Every commit may acknowledge something (a 202, a P#, a leg marked sent before the
        # frame goes out): all of them wait for the disk.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
        # From here on the write lock is waited for by _begin_immediate, in short pauses
        # (SQLite's busy handler sleeps 1 ms at least). Readers of a WAL journal wait for no one.
        self._lock_wait = busy_timeout_ms / 1000
        conn.execute("PRAGMA busy_timeout = 0")
        self._pending: list[_Submission] = []
        #: property -> (next P# to hand out, last P# reserved on disk)
        self._posting_blocks: dict[str, tuple[int, int]] = {}
        self._wire_pending: list[_WireRow] = []
        self._wire_in_transaction: list[_WireRow] = []
        self._balances_pending: list[_BalanceRow] = []
        self._balances_in_transaction: list[_BalanceRow] = []
        self._sent_pending: list[_SentMark] = []
        self._sent_in_transaction: list[tuple[_SentMark, BaseException | None]] = []
        #: ``posted`` marks (leg id, answer status, text) for the next commit, and the leg ids
        #: of those not yet on disk (:meth:`all_legs_posted` counts them as posted).
        self._posted_pending: list[tuple[int, str | None, str | None, str]] = []
        self._posted_in_transaction: list[tuple[int, str | None, str | None, str]] = []
        self._posted_ids: set[int] = set()
        self._flush_call: Any = None
        self._flush_delay = 0.0
        #: Grows whenever a candidate search may have become due (a match requested, a leg
        #: rejected): a matcher that found nothing to do need not ask again until it grows.
        self.match_generation = 0
        #: Leg ids turned from ``sent`` to ``unknown`` when this journal was opened.
        self.recovered: tuple[int, ...] = self._recover_in_flight() if recover else ()
        # The gateway owns the file; a tool opened beside it must not wait on its readers.
        self._owner = recover

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError("the journal is closed")
        return self._conn

    def _begin(self) -> sqlite3.Connection:
        conn = self._db
        if conn.in_transaction:
            raise JournalError("nested journal transaction")
        _begin_immediate(conn, self._lock_wait)
        try:
            # What rides along with every commit: frames, balances, and the legs waiting to be
            # marked sent (their postings go out once this transaction is on disk).
            self._write_wire_rows(conn)
            self._write_balances(conn)
            self._apply_posted_marks(conn)
            self._apply_sent_marks(conn)
        except BaseException:
            self._rollback()
            raise
        return conn

    def _commit(self) -> None:
        try:
            self._db.execute("COMMIT")
        except BaseException:
            # Nothing of this transaction is on disk: the legs it would have marked sent must
            # not be written (their Deferreds fail), and the connection must not stay inside
            # the failed transaction.
            self._rollback(requeue_sent=False)
            raise
        self._wire_in_transaction = []
        self._balances_in_transaction = []
        for leg_id, *_ in self._posted_in_transaction:
            self._posted_ids.discard(leg_id)
        self._posted_in_transaction = []
        call = self._flush_call
        if (
            call is not None
            and not self._pending
            and not self._sent_pending
            and not self._posted_pending
        ):
            # What that flush was due for went out with this commit; rows logged from now on
            # may wait for the next commit again (else every commit is followed by a flush
            # of the one or two frames that came after it).
            if call.active():
                call.cancel()
            self._flush_call = None
            if self._wire_pending or self._balances_pending:
                self._schedule_flush(WIRE_FLUSH_DELAY)
        marks, self._sent_in_transaction = self._sent_in_transaction, []
        # Only now, with the transaction on disk, may the postings of these legs be written.
        for mark, failure in marks:
            if failure is None:
                mark.deferred.callback(None)
            else:
                mark.deferred.errback(failure)

    def _rollback(self, *, requeue_sent: bool = True) -> None:
        conn = self._db
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        # Frames are evidence: a failed transition must not take them with it.
        self._wire_pending[:0] = self._wire_in_transaction
        self._wire_in_transaction = []
        self._balances_pending[:0] = self._balances_in_transaction
        self._balances_in_transaction = []
        if self._posted_in_transaction:
            # The PMS's answer stands whatever failed here: the marks go with the next commit.
            self._posted_pending[:0] = self._posted_in_transaction
            self._posted_in_transaction = []
            self._schedule_flush()
        marks = [mark for mark, _ in self._sent_in_transaction]
        self._sent_in_transaction = []
        if not marks:
            return
        if requeue_sent:
            # Another caller's work failed, not these marks: they go with the next commit.
            self._sent_pending[:0] = marks
            self._schedule_flush()
        else:
            for mark in marks:
                mark.deferred.errback(JournalError("the journal could not commit the mark"))

    def _run(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        conn = self._begin()
        try:
            result = work(conn)
        except BaseException:
            self._rollback()
            raise
        self._commit()
        return result

    def close(self) -> None:
        """Write what is queued (firing its Deferreds), checkpoint and close the file."""
        if self._conn is None:
            return
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        self.flush()
        if self._owner:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass  # another process holds the file open; its last close checkpoints
        self._conn.close()
        self._conn = None

    @property
    def closed(self) -> bool:
        return self._conn is None

    def schema_version(self) -> int:
        return schema_version(self._db)

    def healthy(self) -> bool:
        try:
            self._db.execute("SELECT 1").fetchone()
        except (sqlite3.Error, JournalError):
            return False
        return True

    # -- crash recovery ------------------------------------------------------------------------

    def _recover_in_flight(self) -> tuple[int, ...]:
        def work(conn: sqlite3.Connection) -> tuple[int, ...]:
            rows = conn.execute(
                "SELECT leg_id, event_id FROM legs WHERE state = ? ORDER BY arrival",
                (LegState.SENT.value,),
            ).fetchall()
            now = _ts(self._now())
            for leg_id, event_id in rows:
                conn.execute(
                    "UPDATE legs SET state = ?, reason = ?, updated_at = ? WHERE leg_id = ?",
                    (LegState.UNKNOWN.value, IN_FLIGHT_AT_RESTART, now, leg_id),
                )
                self._history(
                    conn, now, event_id, leg_id, LegState.SENT, LegState.UNKNOWN,
                    GATEWAY_ACTOR, "recover", IN_FLIGHT_AT_RESTART,
                )  # fmt: skip
            return tuple(r[0] for r in rows)

        recovered: tuple[int, ...] = self._run(work)
        if recovered:
            log.warn(
                "{count} leg(s) were in flight when the gateway stopped; now unknown, "
                "in the exception queue: {legs}",
                count=len(recovered),
                legs=list(recovered),
            )
            for leg in (self.leg(leg_id) for leg_id in recovered):
                log.warn(
                    "leg {leg} of {event_id} on {property} was in flight at restart: unknown",
                    leg=leg.reference,
                    leg_id=leg.leg_id,
                    event_id=leg.event_id,
                    property=leg.property,
                )
        return recovered

    # -- ingest --------------------------------------------------------------------------------

    def record_event(
        self,
        event: PaymentEvent,
        body: bytes,
        legs_or_plan: Any,
        *,
        source: str | None = None,
    ) -> IngestResult:
        """Store an event and its planned legs in one transaction (synchronously)."""
        result: IngestResult = self._run(
            lambda conn: self._record(conn, event, body, legs_or_plan, source)
        )
        return result

    def submit_event(
        self,
        event: PaymentEvent,
        body: bytes,
        legs_or_plan: Any,
        *,
        source: str | None = None,
    ) -> Deferred[IngestResult]:
        """Queue an event for the next group commit; the Deferred fires after COMMIT.

        It fails with :class:`JournalError` (or the database error) if the event could not
        be committed: the caller must then not acknowledge it.
        """
        submission = _Submission(event, body, legs_or_plan, source)
        if self._conn is None:
            submission.deferred.errback(JournalError("the journal is closed"))
            return submission.deferred
        self._pending.append(submission)
        self._schedule_flush()
        return submission.deferred

    def submit_sent(self, leg_id: int, posting_number: int | None = None) -> Deferred[None]:
        """Mark a leg ``sent`` in the next commit; the Deferred fires once it is on disk.

        The caller writes the posting only when the Deferred fires (it fails, and nothing may
        be written, if the mark could not be made or committed). Marks made together go out in
        ONE transaction: whatever commits next (:meth:`commit_sent`, an ingest batch, any
        synchronous call such as :meth:`mark_posted`), at the latest a flush in the next
        reactor turn.
        """
        mark = _SentMark(int(leg_id), posting_number)
        if self._conn is None:
            mark.deferred.errback(JournalError("the journal is closed"))
            return mark.deferred
        self._sent_pending.append(mark)
        self._schedule_flush()
        return mark.deferred

    def commit_sent(self) -> None:
        """Commit the queued ``sent`` marks now (one transaction, with whatever else is
        queued: ``posted`` marks, frames), if there are any: the dispatcher after handing out
        legs, the FIAS link after each read. ``posted`` marks alone wait for the next such
        commit, at most :data:`POSTED_FLUSH_DELAY`."""
        if self._sent_pending and self._conn is not None and not self._conn.in_transaction:
            self.flush()

    def log_wire(
        self,
        direction: str,
        protocol: str,
        raw: bytes,
        *,
        property: str | None = None,
        leg_id: int | None = None,
    ) -> None:
        """Keep one frame in the wire log (written with the next commit, masked again)."""
        if direction not in ("in", "out"):
            raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")
        self._wire_pending.append(
            (_ts(self._now()), property, leg_id, direction, protocol, mask_wire(bytes(raw)))
        )
        # Frames ride along with the next commit (the dispatcher makes one every step while
        # it posts); only on a quiet link does the timer commit them on their own.
        self._schedule_flush(WIRE_FLUSH_DELAY)

    def _schedule_flush(self, delay: float = 0.0) -> None:
        """Flush in ``delay`` seconds, or sooner if a flush is already due sooner."""
        if self._flush_call is not None:
            if delay < self._flush_delay:
                self._flush_call.reset(delay)
                self._flush_delay = delay
            return
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = self._reactor = global_reactor
        self._flush_delay = delay
        self._flush_call = reactor.callLater(delay, self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_call = None
        if self._conn is not None:
            self.flush()

    def flush(self) -> int:
        """Commit everything queued in ONE transaction, then fire the queued Deferreds.

        Returns the number of events in the batch. Each submission runs in its own savepoint,
        so one that fails (a bug, a bad plan) fails alone; if the COMMIT itself fails, every
        submission of the batch fails and nothing is acknowledged.
        """
        batch, self._pending = self._pending, []
        if not (
            batch
            or self._wire_pending
            or self._balances_pending
            or self._sent_pending
            or self._posted_pending
        ):
            return 0
        outcomes: list[tuple[_Submission, IngestResult | BaseException]] = []
        try:
            conn = self._begin()
            if batch:
                outcomes = self._record_batch(conn, batch)
            self._commit()
        except Exception as exc:
            self._rollback(requeue_sent=False)
            log.failure("journal group commit of {count} event(s) failed", count=len(batch))
            for sub in batch:
                sub.deferred.errback(JournalError(f"journal commit failed: {exc}"))
            return 0
        for sub, outcome in outcomes:
            if isinstance(outcome, BaseException):
                sub.deferred.errback(outcome)
            else:
                sub.deferred.callback(outcome)
        return len(batch)

    def _record_batch(
        self, conn: sqlite3.Connection, batch: Sequence[_Submission]
    ) -> list[tuple[_Submission, IngestResult | BaseException]]:
        """Record a group commit's submissions in ``conn``'s transaction; one that fails
        fails alone (its exception is its outcome) and leaves nothing in the journal.

        The batch is recorded under one savepoint; only if a submission raises is that
        undone and the batch recorded again with a savepoint per submission, as it always
        was before (two statements per event fewer in the usual case). Recording is
        deterministic but for the journal's clock: after such a failure the others are
        stamped with the time of the second pass."""
        arrivals = _Arrivals()  # this transaction's: nothing else inserts events or legs
        conn.execute("SAVEPOINT batch")
        try:
            recorded: list[tuple[_Submission, IngestResult | BaseException]] = [
                (sub, self._record(conn, sub.event, sub.body, sub.plan, sub.source, arrivals))
                for sub in batch
            ]
        except Exception:
            conn.execute("ROLLBACK TO SAVEPOINT batch")
            conn.execute("RELEASE SAVEPOINT batch")
        else:
            conn.execute("RELEASE SAVEPOINT batch")
            return recorded
        outcomes: list[tuple[_Submission, IngestResult | BaseException]] = []
        arrivals = _Arrivals()
        for sub in batch:
            conn.execute("SAVEPOINT submission")
            try:
                result = self._record(conn, sub.event, sub.body, sub.plan, sub.source, arrivals)
            except Exception as exc:
                conn.execute("ROLLBACK TO SAVEPOINT submission")
                conn.execute("RELEASE SAVEPOINT submission")
                outcomes.append((sub, exc))
            else:
                conn.execute("RELEASE SAVEPOINT submission")
                outcomes.append((sub, result))
        return outcomes

    def _write_wire_rows(self, conn: sqlite3.Connection) -> None:
        if not self._wire_pending:
            return
        rows, self._wire_pending = self._wire_pending, []
        self._wire_in_transaction = rows
        conn.executemany(
            "INSERT INTO wire_log (time, property, leg_id, direction, protocol, raw) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

    def _write_balances(self, conn: sqlite3.Connection) -> None:
        if not self._balances_pending:
            return
        rows, self._balances_pending = self._balances_pending, []
        conn.execute("SAVEPOINT balances")
        try:
            conn.executemany(
                "INSERT INTO balances (event_id, leg_id, property, confirmation_number,"
                " balance, currency, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except sqlite3.Error:
            # A balance is evidence, never a reason to fail the transaction it rides with.
            conn.execute("ROLLBACK TO SAVEPOINT balances")
            conn.execute("RELEASE SAVEPOINT balances")
            log.failure("{count} reported balance(s) could not be journaled", count=len(rows))
            return
        conn.execute("RELEASE SAVEPOINT balances")
        self._balances_in_transaction = rows

    def _apply_posted_marks(self, conn: sqlite3.Connection) -> None:
        if not self._posted_pending:
            return
        marks, self._posted_pending = self._posted_pending, []
        self._posted_in_transaction = marks
        refusals = self._transitions_in(
            conn, LegState.POSTED, ("answer_status", "reason"), action="posted",
            changes=[(leg_id, (status, text), text, at) for leg_id, status, text, at in marks],
        )  # fmt: skip
        for (leg_id, *_), refusal in zip(marks, refusals, strict=True):
            if refusal is not None:  # e.g. an operator resolved it meanwhile
                log.failure(
                    "leg {leg_id} could not be marked posted", Failure(refusal), leg_id=leg_id
                )

    def _apply_sent_marks(self, conn: sqlite3.Connection) -> None:
        if not self._sent_pending:
            return
        marks, self._sent_pending = self._sent_pending, []
        # All of them, from the start: if the transaction fails, the rollback requeues them.
        applied: list[tuple[_SentMark, BaseException | None]] = [(m, None) for m in marks]
        self._sent_in_transaction = applied
        now = _ts(self._now())
        refusals = self._transitions_in(
            conn, LegState.SENT, _SENT_COLUMNS, action="send", increment_attempts=True,
            changes=[
                (m.leg_id, (m.posting_number, None, None, None), _sent_note(m.posting_number), now)
                for m in marks
            ],
        )  # fmt: skip
        for i, refusal in enumerate(refusals):
            if refusal is not None:  # e.g. an operator changed the leg
                applied[i] = (marks[i], refusal)

    def _transitions_in(
        self,
        conn: sqlite3.Connection,
        to: LegState,
        columns: tuple[str, ...],
        *,
        action: str,
        changes: Sequence[tuple[int, tuple[Any, ...], str | None, str]],
        increment_attempts: bool = False,
        actor: str = GATEWAY_ACTOR,
    ) -> list[UnknownLeg | IllegalTransition | None]:
        """:meth:`_transition_in` for many legs moving to the same state, each with its values
        for ``columns``, its note and its time: ``changes`` is (leg id, values, note, at).
        Three statements for the whole batch (one read of the legs' states, one UPDATE and one
        history INSERT, each over every change) instead of three per leg: the dispatcher's
        ``sent`` and ``posted`` marks of one commit, a night audit's holds. Returns, per
        change, None or the refusal (:class:`UnknownLeg`, :class:`IllegalTransition`) of a
        change that was not made; a leg named twice sees the state its first change left."""
        ids = [int(leg_id) for leg_id, *_ in changes]
        known: dict[int, tuple[str, str]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit is 999+
            chunk = unique[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for leg_id, state, event_id in conn.execute(
                f"SELECT leg_id, state, event_id FROM legs WHERE leg_id IN ({marks})",  # noqa: S608
                chunk,
            ):
                known[leg_id] = (state, event_id)
        refusals: list[UnknownLeg | IllegalTransition | None] = []
        updates: list[tuple[Any, ...]] = []
        history: list[_HistoryRow] = []
        target = to.value
        for leg_id, (_, values, note, at) in zip(ids, changes, strict=True):
            row = known.get(leg_id)
            if row is None:
                refusals.append(UnknownLeg(f"no leg {leg_id}"))
                continue
            current = LegState(row[0])
            if to not in TRANSITIONS[current]:
                refusals.append(IllegalTransition(leg_id, current, to))
                continue
            refusals.append(None)
            known[leg_id] = (target, row[1])
            updates.append((target, at, *values, leg_id))
            history.append((at, row[1], leg_id, current.value, target, actor, action, note))
        if updates:
            assignments = ", ".join(f"{name} = ?" for name in ("state", "updated_at", *columns))
            if increment_attempts:
                assignments += ", attempts = attempts + 1"
            conn.executemany(
                f"UPDATE legs SET {assignments} WHERE leg_id = ?",  # noqa: S608
                updates,
            )
            _insert_history(conn, history)
            if to is LegState.REJECTED:
                self.match_generation += 1  # a pending match of these legs may be due again
        return refusals

    def _record(
        self,
        conn: sqlite3.Connection,
        event: PaymentEvent,
        body: bytes,
        plan: Any,
        source: str | None,
        arrivals: _Arrivals | None = None,
    ) -> IngestResult:
        """Store one event and its legs in ``conn``'s transaction (see :meth:`submit_event`).

        ``arrivals``: the last event and leg arrivals this transaction used (a group commit's
        batch), so that only its first event reads them from the tables; updated only once
        the event is stored (a submission that fails is rolled back to its savepoint and
        leaves them as they were)."""
        stored_body = strip_card_data(bytes(body))
        row = conn.execute(
            "SELECT body, status, outcome FROM events WHERE event_id = ?", (event.event_id,)
        ).fetchone()
        if row is not None:
            if bytes(row[0]) != stored_body:
                return IngestResult(IngestStatus.CONFLICT, event.event_id)
            return IngestResult(
                IngestStatus.DUPLICATE,
                event.event_id,
                EventStatus(row[1]),
                row[2],
                tuple(self._legs_where(conn, "event_id = ?", (event.event_id,), "leg_index")),
            )

        parts = _plan_parts(plan)
        planned, exception, no_post = parts.legs, parts.exception, parts.no_post
        if exception is not None:
            status, outcome = EventStatus.EXCEPTION, exception
        elif no_post is not None:
            status, outcome = EventStatus.NO_POST, no_post
        else:
            status, outcome = EventStatus.ACCEPTED, None
        confirmation = parts.confirmation_number or (
            event.booking.confirmation_number if event.booking is not None else ""
        )
        if planned and not confirmation:
            raise ValueError(f"event {event.event_id} has legs but no confirmation number")
        indexes = [leg.leg_index for leg in planned]
        if len(set(indexes)) != len(indexes):
            raise ValueError(f"event {event.event_id}: leg indexes repeat: {indexes}")

        now = _ts(self._now())
        payment = event.payment
        flags = self._transaction_flags(conn, event) if status is EventStatus.ACCEPTED else []
        hold, hold_reason = parts.hold, parts.hold_reason
        if flags:
            # Held for review: posting both payments of one transaction could post it twice.
            why = "; ".join(detail for _, detail, _ in flags)
            hold = hold or Hold.REVIEW.value
            hold_reason = f"{hold_reason}; {why}" if hold_reason else f"held for review: {why}"
        status_value = status.value
        if arrivals is not None and arrivals.event is not None:
            arrival = arrivals.event + 1
        else:
            (arrival,) = conn.execute("SELECT COALESCE(MAX(arrival), 0) + 1 FROM events").fetchone()
        conn.execute(
            "INSERT INTO events (event_id, arrival, property, type, source, occurred_at, body,"
            " received_at, status, outcome, target, transaction_id, payment_amount,"
            " payment_currency, confirmation_number)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.event_id,
                arrival,
                event.property,
                str(event.type),
                source,
                event.occurred_at.isoformat() if event.occurred_at else None,
                stored_body,
                now,
                status_value,
                outcome,
                parts.target,
                payment.transaction_id if payment is not None else None,
                payment.amount if payment is not None else None,
                payment.currency if payment is not None else None,
                event.booking.confirmation_number if event.booking is not None else None,
            ),
        )
        # The event's history line goes in with its legs' lines, in one statement (same rows,
        # same order), unless flag or match lines come between them.
        history: list[_HistoryRow] | None = [
            (now, event.event_id, None, None, None, GATEWAY_ACTOR, f"event {status_value}", outcome)
        ]
        if flags or parts.match_reason is not None:
            _insert_history(conn, history)
            history = None
        for kind, detail, related in flags:
            conn.execute(
                "INSERT INTO flags (event_id, kind, detail, related_event_id, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (event.event_id, kind, detail, related, now),
            )
            self._history(conn, now, event.event_id, None, None, None, GATEWAY_ACTOR,
                          f"flag {kind}", detail)  # fmt: skip
        if parts.conversion is not None:
            self._record_conversion(conn, event.event_id, parts.conversion, now)
        if parts.match_reason is not None:
            self._request_match(conn, event.event_id, event.property, None,
                                parts.match_reason, now)  # fmt: skip
        leg_ids, last_leg_arrival = self._insert_legs(
            conn, event.event_id, event.property, confirmation, planned, now,
            exception=exception, hold=hold, hold_reason=hold_reason,
            last_arrival=arrivals.leg if arrivals is not None else None, history=history,
        )  # fmt: skip
        if history is not None:
            _insert_history(conn, history)
        legs = _inserted_legs(event.event_id, event.property, confirmation, planned, leg_ids,
                              now, exception, hold, hold_reason)  # fmt: skip
        if legs is None:  # a plan of unusual types: read back what SQLite made of it
            legs = tuple(self._legs_where(conn, "event_id = ?", (event.event_id,), "leg_index"))
        if arrivals is not None:
            arrivals.event, arrivals.leg = arrival, last_leg_arrival
        return IngestResult(IngestStatus.ACCEPTED, event.event_id, status, outcome, legs)

    def _insert_legs(
        self,
        conn: sqlite3.Connection,
        event_id: str,
        property: str,
        confirmation_number: str,
        planned: Sequence[PlannedLeg],
        now: str,
        *,
        exception: str | None = None,
        hold: str | None = None,
        hold_reason: str | None = None,
        actor: str = GATEWAY_ACTOR,
        last_arrival: int | None = None,
        history: list[_HistoryRow] | None = None,
    ) -> tuple[list[int], int]:
        """Insert the legs (each with its history line); returns their leg ids, in the order
        of ``planned``, and the arrival of the newest leg. ``last_arrival``: the newest leg's
        arrival when the caller knows it (inserted earlier in this transaction). ``history``:
        append the legs' history lines there (the caller inserts them) instead."""
        if last_arrival is None:
            # Legs are only ever inserted here, each with the next arrival, and never deleted
            # or re-ordered: the newest leg (highest rowid) has the highest arrival. Reading it
            # by rowid costs O(log n); MAX(arrival) scanned the whole table on every ingest.
            row = conn.execute(
                "SELECT arrival FROM legs WHERE leg_id = (SELECT MAX(leg_id) FROM legs)"
            ).fetchone()
            last_arrival = row[0] if row is not None else 0
        leg_arrival = last_arrival
        leg_ids: list[int] = []
        # A journey that could not plan but still names the amounts ("post by hand") leaves
        # its legs in the exception queue with the reason, never on the way to the PMS; so
        # do legs held for approval (until an operator approves them).
        held, state, reason = _new_leg_state(exception, hold, hold_reason)
        for offset, leg in enumerate(planned, start=1):
            cur = conn.execute(
                "INSERT INTO legs (event_id, leg_index, arrival, property, confirmation_number,"
                " transaction_code, payment_type, amount, currency, description,"
                " needs_in_house, state, reference, reason, created_at, updated_at, by_hand,"
                " hold) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event_id,
                    leg.leg_index,
                    leg_arrival + offset,
                    property,
                    confirmation_number,
                    leg.transaction_code,
                    leg.payment_type,
                    int(leg.amount),
                    leg.currency,
                    leg.description,
                    1 if leg.needs_in_house else 0,
                    state.value,
                    leg_reference(event_id, leg.leg_index),
                    reason,
                    now,
                    now,
                    1 if exception is not None else 0,
                    hold if held else None,
                ),
            )
            leg_ids.append(cur.lastrowid)  # type: ignore[arg-type]
            if history is not None:
                history.append((now, event_id, cur.lastrowid, None, state.value, actor,
                                "held" if held else "planned", reason))  # fmt: skip
            else:
                self._history(conn, now, event_id, cur.lastrowid, None, state,
                              actor, "held" if held else "planned", reason)  # fmt: skip
        return leg_ids, leg_arrival + len(planned)

    @staticmethod
    def _transaction_flags(
        conn: sqlite3.Connection, event: PaymentEvent
    ) -> list[tuple[str, str, str]]:
        """(kind, detail, earlier event) for each earlier captured payment of the same
        ``transaction_id``: its amount differs (issue 5 section 1), or it is the same amount:
        the same payment again under another event id (posting it would book the money
        twice; a repeat of the same event id is answered 200 and never gets here)."""
        payment = event.payment
        if payment is None or str(event.type) != "payment.succeeded":
            return []
        rows = conn.execute(
            "SELECT event_id, payment_amount, payment_currency FROM events"
            " WHERE transaction_id = ? AND type = 'payment.succeeded' AND event_id != ?"
            " ORDER BY arrival",
            (payment.transaction_id, event.event_id),
        ).fetchall()
        flags = []
        for earlier, amount, currency in rows:
            if (amount, currency) == (payment.amount, payment.currency):
                flags.append(
                    (
                        "duplicate_payment",
                        f"the same {format_minor(amount, currency)} with the same "
                        f"transaction_id {payment.transaction_id} as {earlier}: the same "
                        "payment again under another event id?",
                        earlier,
                    )
                )
            else:
                flags.append(
                    (
                        "amount_mismatch",
                        f"amount {format_minor(payment.amount, payment.currency)} differs from "
                        f"{format_minor(amount, currency)} of {earlier}, an earlier payment "
                        f"with the same transaction_id {payment.transaction_id}",
                        earlier,
                    )
                )
        return flags

    @staticmethod
    def _record_conversion(
        conn: sqlite3.Connection, event_id: str, conversion: Conversion, now: str
    ) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO conversions (event_id, original_amount, original_currency,"
            " amount, currency, rate, base, quote, inverted, valid_from, valid_to, rates_file,"
            " rounding, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                conversion.original_amount,
                conversion.original_currency,
                conversion.amount,
                conversion.currency,
                str(conversion.rate),
                conversion.base,
                conversion.quote,
                1 if conversion.inverted else 0,
                _ts(conversion.valid_from),
                _ts(conversion.valid_to) if conversion.valid_to else None,
                conversion.source,
                conversion.rounding,
                now,
            ),
        )

    def _request_match(
        self,
        conn: sqlite3.Connection,
        event_id: str,
        property: str,
        leg_id: int | None,
        reason: str,
        now: str,
    ) -> None:
        self.match_generation += 1
        conn.execute(
            "INSERT INTO matches (event_id, property, leg_id, reason, status, requested_at)"
            " VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (event_id) DO UPDATE SET"
            " leg_id = excluded.leg_id, reason = excluded.reason, status = 'pending',"
            " requested_at = excluded.requested_at, searched_at = NULL, search_note = NULL",
            (event_id, property, leg_id, reason, now),
        )
        conn.execute("DELETE FROM candidates WHERE event_id = ?", (event_id,))
        self._history(conn, now, event_id, leg_id, None, None, GATEWAY_ACTOR,
                      "match requested", reason)  # fmt: skip

    # -- reading -------------------------------------------------------------------------------

    def _row_to_leg(
        self,
        conn: sqlite3.Connection,
        row: sqlite3.Row | tuple[Any, ...],
        notes: tuple[str, ...] | None = None,
    ) -> Leg:
        (leg_id, event_id, leg_index, prop, conf, code, ptype, amount, currency, description,
         in_house, state, reference, attempts, reason, answer, pnum, not_before, created,
         updated) = row  # fmt: skip
        if notes is None:
            notes = self._notes(conn, [leg_id]).get(leg_id, ())
        return Leg(
            leg_id=leg_id,
            event_id=event_id,
            leg_index=leg_index,
            property=prop,
            confirmation_number=conf,
            plan=PlannedLeg(
                leg_index=leg_index,
                transaction_code=code,
                payment_type=ptype,
                amount=amount,
                currency=currency,
                description=description,
                needs_in_house=bool(in_house),
            ),
            state=LegState(state),
            reference=reference,
            attempts=attempts,
            reason=reason,
            answer_status=answer,
            posting_number=pnum,
            created_at=_parse_ts(created),
            updated_at=_parse_ts(updated),
            not_before=_parse_ts(not_before),
            notes=notes,
        )

    @staticmethod
    def _notes(conn: sqlite3.Connection, leg_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """Notes (an operator's retry and resolve, the gateway's notes) per leg, oldest first,
        for many legs in few queries (one query per leg made reading a backlog cost a query
        each)."""
        notes: dict[int, list[str]] = {}
        for start in range(0, len(leg_ids), 500):  # SQLite's bound-parameter limit is 999+
            chunk = leg_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for leg_id, t, actor, action, note in conn.execute(
                "SELECT leg_id, time, actor, action, note FROM history"  # noqa: S608
                f" WHERE leg_id IN ({marks}) AND action IN ({_NOTE_ACTIONS_SQL}) ORDER BY id",
                tuple(chunk),
            ):
                notes.setdefault(leg_id, []).append(f"{t} {actor} {action}: {note}")
        return {leg_id: tuple(lines) for leg_id, lines in notes.items()}

    def _legs_where(
        self,
        conn: sqlite3.Connection,
        where: str,
        params: Sequence[Any],
        order: str = "arrival",
        limit: int | None = None,
    ) -> list[Leg]:
        sql = f"SELECT {_LEG_COLUMNS} FROM legs WHERE {where} ORDER BY {order}"  # noqa: S608
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = conn.execute(sql, tuple(params)).fetchall()
        notes = self._notes(conn, [row[0] for row in rows])
        return [self._row_to_leg(conn, row, notes.get(row[0], ())) for row in rows]

    def leg(self, leg_id: int) -> Leg:
        """One leg; raises :class:`UnknownLeg`."""
        legs = self._legs_where(self._db, "leg_id = ?", (int(leg_id),))
        if not legs:
            raise UnknownLeg(f"no leg {leg_id}")
        return legs[0]

    def legs(
        self,
        state: LegState | str | Iterable[LegState | str] | None = None,
        property: str | None = None,
    ) -> list[Leg]:
        """Legs in arrival order, optionally only in some state(s) and of one property."""
        clauses, params = ["1 = 1"], []
        if state is not None:
            states = [state] if isinstance(state, str) else list(state)
            values = [LegState(s).value for s in states]
            clauses.append(f"state IN ({', '.join('?' * len(values))})")
            params.extend(values)
        if property is not None:
            clauses.append("property = ?")
            params.append(property)
        return self._legs_where(self._db, " AND ".join(clauses), params)

    def pending_legs(self, property: str) -> list[Leg]:
        """Legs the dispatcher may still send for ``property`` (planned, waiting), in arrival
        order: a later leg of a reservation never overtakes an earlier one."""
        return self.legs(state=PENDING_STATES, property=property)

    def iter_pending_legs(
        self, property: str, batch: int = 4, *, exclude: Collection[str] = ()
    ) -> Iterator[Leg]:
        """:meth:`pending_legs`, read lazily: ``batch`` legs first, then twice as many each time.

        The dispatcher usually sends one of the first few pending legs; reading the whole
        backlog on every step made each posting cost O(backlog). Each pending state is read
        through its own index range (property, state, arrival) and the two are merged, so no
        step sorts the backlog either. Legs changed while the iteration runs are seen as they
        are when their batch is read. ``exclude``: confirmation numbers whose legs are left
        out (the dispatcher's reservations with a leg on its way), filtered inside SQLite.
        The legs come without their operator notes (``notes`` is empty: the dispatcher never
        reads them, and they cost a query per batch).
        """
        states = sorted(s.value for s in PENDING_STATES)
        skip = tuple(exclude)
        not_in = (
            f" AND confirmation_number NOT IN ({', '.join('?' * len(skip))})" if skip else ""
        )
        one_state = (
            f"SELECT * FROM (SELECT arrival, {_LEG_COLUMNS} FROM legs"  # noqa: S608
            f" WHERE property = ? AND state = ? AND arrival > ?{not_in}"
            " ORDER BY arrival LIMIT ?)"
        )
        sql = " UNION ALL ".join([one_state] * len(states)) + " ORDER BY 1 LIMIT ?"
        after = 0
        while True:
            conn = self._db
            params: list[Any] = []
            for state in states:
                params += [property, state, after, *skip, batch]
            rows = conn.execute(sql, (*params, batch)).fetchall()
            for row in rows:
                yield self._row_to_leg(conn, row[1:], ())
            if len(rows) < batch:
                return
            after = rows[-1][0]
            batch = min(batch * 2, 256)

    def earlier_leg_in_trouble(self, leg: Leg) -> tuple[str, str, str | None] | None:
        """For a leg after the first of its event: (reference, state, reason) of the first
        earlier leg of the same event in the exception queue (rejected, not to be posted by
        hand, or unknown), or None. A journey's later legs must not post without it (a
        deposit's payment without its charge, a redemption without its revenue)."""
        if leg.leg_index == 0:
            return None
        row = self._db.execute(
            "SELECT reference, state, reason FROM legs WHERE event_id = ? AND leg_index < ?"
            " AND (state = 'unknown' OR (state = 'rejected' AND by_hand = 0))"
            " ORDER BY leg_index LIMIT 1",
            (leg.event_id, leg.leg_index),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def exceptions(self, property: str | None = None) -> list[Leg]:
        """The exception queue: rejected and unknown legs, in arrival order."""
        return self.legs(state=EXCEPTION_STATES, property=property)

    def is_by_hand(self, leg_id: int) -> bool:
        """True for a leg an operator must post by hand (never dispatched, never retried)."""
        row = self._db.execute("SELECT by_hand FROM legs WHERE leg_id = ?", (int(leg_id),))
        flag = row.fetchone()
        if flag is None:
            raise UnknownLeg(f"no leg {leg_id}")
        return bool(flag[0])

    def exception_events(self) -> list[EventRecord]:
        """Events a journey could not plan and no operator has resolved yet; not those whose
        legs to post by hand are still open (the queue lists those legs: one item, one
        action; resolving the last of them resolves the event)."""
        rows = self._db.execute(
            "SELECT event_id FROM events e WHERE status = ? AND NOT EXISTS (SELECT 1 FROM legs"  # noqa: S608
            f" WHERE legs.event_id = e.event_id AND {_OPEN_BY_HAND}) ORDER BY arrival",
            (EventStatus.EXCEPTION.value,),
        ).fetchall()
        return [self.event(r[0]) for r in rows]  # type: ignore[misc]

    def event(self, event_id: str) -> EventRecord | None:
        """An event with its legs (by leg index) and reported balances; None if unknown."""
        conn = self._db
        row = conn.execute(
            "SELECT event_id, property, type, source, status, outcome, occurred_at,"
            " received_at, body, target FROM events WHERE event_id = ?",
            (event_id,),
        ).fetchone()
        if row is None:
            return None
        return EventRecord(
            event_id=row[0],
            property=row[1],
            type=row[2],
            source=row[3],
            status=EventStatus(row[4]),
            outcome=row[5],
            occurred_at=row[6],
            received_at=_ts_required(row[7]),
            body=bytes(row[8]),
            legs=tuple(self._legs_where(conn, "event_id = ?", (event_id,), "leg_index")),
            balances=tuple(self.balances(event_id)),
            target=row[9],
            conversion=self.conversion(event_id),
            flags=tuple(self.flags(event_id)),
            match=self.match(event_id),
            holds={
                leg_id: hold
                for leg_id, hold in conn.execute(
                    "SELECT leg_id, hold FROM legs WHERE event_id = ? AND hold IS NOT NULL",
                    (event_id,),
                )
            },
        )

    def history(self, *, leg_id: int | None = None, event_id: str | None = None) -> list[Action]:
        """Transitions and operator actions of a leg, or of an event and all its legs."""
        if (leg_id is None) == (event_id is None):
            raise ValueError("give exactly one of leg_id, event_id")
        where, param = ("leg_id = ?", leg_id) if leg_id is not None else ("event_id = ?", event_id)
        columns = "time, event_id, leg_id, from_state, to_state, actor, action, note"
        sql = f"SELECT {columns} FROM history WHERE {where} ORDER BY id"  # noqa: S608
        rows = self._db.execute(sql, (param,)).fetchall()
        return [Action(_ts_required(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def wire_log(
        self,
        *,
        leg_id: int | None = None,
        property: str | None = None,
        limit: int | None = None,
    ) -> list[WireRecord]:
        """Logged frames, oldest first (queued frames are committed first)."""
        if self._wire_pending and not self._db.in_transaction:
            self._run(lambda conn: None)
        clauses: list[str] = ["1 = 1"]
        params: list[Any] = []
        if leg_id is not None:
            clauses.append("leg_id = ?")
            params.append(leg_id)
        if property is not None:
            clauses.append("property = ?")
            params.append(property)
        columns = "id, time, property, leg_id, direction, protocol, raw"
        where = " AND ".join(clauses)
        sql = f"SELECT {columns} FROM wire_log WHERE {where} ORDER BY id"  # noqa: S608
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [
            WireRecord(r[0], _ts_required(r[1]), r[2], r[3], r[4], r[5], bytes(r[6]))
            for r in self._db.execute(sql, tuple(params))
        ]

    def events_for_confirmation(self, confirmation_number: str) -> list[EventRecord]:
        """Every event for a confirmation number, in arrival order: events with a leg to that
        record, and events whose body names it (those may have planned no legs)."""
        rows = self._db.execute(
            "SELECT event_id FROM events WHERE event_id IN"
            " (SELECT event_id FROM legs WHERE confirmation_number = ?"
            " UNION SELECT event_id FROM events WHERE confirmation_number = ?)"
            " ORDER BY arrival",
            (confirmation_number, confirmation_number),
        ).fetchall()
        return [record for (event_id,) in rows if (record := self.event(event_id)) is not None]

    def balances(self, event_id: str) -> list[Balance]:
        if self._balances_pending and not self._db.in_transaction:
            self._run(lambda conn: None)  # queued balances are written first
        rows = self._db.execute(
            "SELECT event_id, leg_id, property, confirmation_number, balance, currency,"
            " recorded_at FROM balances WHERE event_id = ? ORDER BY id",
            (event_id,),
        ).fetchall()
        return [Balance(r[0], r[1], r[2], r[3], r[4], r[5], _ts_required(r[6])) for r in rows]

    # -- in-house guests -----------------------------------------------------------------------

    def set_guest(
        self,
        property: str,
        reservation_number: int,
        room: str | None,
        *,
        departed_from: str | None = None,
    ) -> None:
        """Remember that a guest is in ``room`` (``None``: checked out of ``departed_from``)."""
        key = (property, int(reservation_number))

        def work(conn: sqlite3.Connection) -> None:
            if room is None:
                conn.execute(
                    "DELETE FROM guests WHERE property = ? AND reservation_number = ?", key
                )
                conn.execute(
                    "INSERT OR REPLACE INTO departures (property, reservation_number, room,"
                    " departed_at) VALUES (?, ?, ?, ?)",
                    (*key, departed_from, _ts(self._now())),
                )
            else:
                conn.execute(
                    "DELETE FROM departures WHERE property = ? AND reservation_number = ?", key
                )
                conn.execute(
                    "INSERT INTO guests (property, reservation_number, room, updated_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (property, reservation_number)"
                    " DO UPDATE SET room = excluded.room, updated_at = excluded.updated_at",
                    (property, int(reservation_number), room, _ts(self._now())),
                )

        self._run(work)

    def departed_at(self, property: str, reservation_number: int) -> dt.datetime | None:
        """When the PMS checked this guest out (GO), or None if it has not (since a GI)."""
        row = self._db.execute(
            "SELECT departed_at FROM departures WHERE property = ? AND reservation_number = ?",
            (property, int(reservation_number)),
        ).fetchone()
        return None if row is None else _ts_required(row[0])

    def mark_guest_list_complete(self, property: str) -> None:
        """The guest list of ``property`` is whole (a resync ended): no DR needed on restart."""
        self._run(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO guest_lists (property, complete_at) VALUES (?, ?)",
                (property, _ts(self._now())),
            )
        )

    def guests(self, property: str) -> dict[int, str] | None:
        """In-house guests of ``property`` (G# -> room); None if the list was never complete."""
        conn = self._db
        if conn.execute(
            "SELECT 1 FROM guest_lists WHERE property = ?", (property,)
        ).fetchone() is None:
            return None
        rows = conn.execute(
            "SELECT reservation_number, room FROM guests WHERE property = ?", (property,)
        )
        return {int(number): str(room) for number, room in rows}

    def counts(self, states: Iterable[LegState | str] | None = None) -> dict[str, int]:
        """Number of legs per state (for health and reports); a state with no legs is left
        out. With ``states``, only those are counted, each through its own range of the
        ``(state, arrival)`` index: ``/healthz`` asks for the states of legs still at work,
        so its cost follows the legs at work, not the journal's whole history (counting every
        state reads every leg ever journaled: 150 us at 5,500 legs, growing with the file)."""
        if states is None:
            sql, params = "SELECT state, COUNT(*) FROM legs GROUP BY state", ()
        else:
            params = tuple(LegState(s).value for s in states)
            sql = (
                "SELECT state, COUNT(*) FROM legs"  # noqa: S608
                f" WHERE state IN ({', '.join('?' * len(params))}) GROUP BY state"
            )
        return {state: n for state, n in self._db.execute(sql, params)}

    # -- reading for reconciliation, /metrics and /readyz --------------------------------------

    def events(
        self, *, property: str | None = None, types: Iterable[str] | None = None
    ) -> list[EventRecord]:
        """Journaled events (with their legs) in arrival order, optionally of one property and
        of some event types only."""
        clauses, params = ["1 = 1"], []
        if property is not None:
            clauses.append("property = ?")
            params.append(property)
        if types is not None:
            wanted = [str(t) for t in types]
            clauses.append(f"type IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        where = " AND ".join(clauses)
        sql = f"SELECT event_id FROM events WHERE {where} ORDER BY arrival"  # noqa: S608
        rows = self._db.execute(sql, tuple(params)).fetchall()
        return [record for (event_id,) in rows if (record := self.event(event_id)) is not None]

    def wire_records(
        self, *, property: str, direction: str | None = None, prefix: bytes | None = None
    ) -> list[WireRecord]:
        """A property's logged frames that start with ``prefix`` (e.g. ``b"NE|"``, the PMS's
        night audit ends), oldest first, without reading the rest of the wire log."""
        if self._wire_pending and not self._db.in_transaction:
            self._run(lambda conn: None)
        clauses: list[str] = ["property = ?"]
        params: list[Any] = [property]
        if direction is not None:
            clauses.append("direction = ?")
            params.append(direction)
        if prefix:
            clauses.append(f"substr(raw, 1, {len(prefix)}) = ?")
            params.append(bytes(prefix))
        where = " AND ".join(clauses)
        columns = "id, time, property, leg_id, direction, protocol, raw"
        sql = f"SELECT {columns} FROM wire_log WHERE {where} ORDER BY id"  # noqa: S608
        return [
            WireRecord(r[0], _ts_required(r[1]), r[2], r[3], r[4], r[5], bytes(r[6]))
            for r in self._db.execute(sql, tuple(params))
        ]

    def leg_stats(self) -> list[LegStat]:
        """Per property and state: how many legs, and when the oldest of them was planned."""
        rows = self._db.execute(
            "SELECT property, state, COUNT(*), MIN(created_at) FROM legs GROUP BY property, state"
        )
        return [LegStat(r[0], LegState(r[1]), int(r[2]), _parse_ts(r[3])) for r in rows]

    def posting_latencies(self, after: int = 0) -> list[tuple[int, str, float]]:
        """``(history id, property, seconds)`` from ``sent`` to ``posted`` for every posting
        journaled after history id ``after`` (pass the last id seen to read only new ones)."""
        rows = self._db.execute(
            "SELECT h.id, l.property, h.time, (SELECT s.time FROM history s"
            " WHERE s.leg_id = h.leg_id AND s.action = 'send' AND s.id < h.id"
            " ORDER BY s.id DESC LIMIT 1)"
            " FROM history h JOIN legs l ON l.leg_id = h.leg_id"
            " WHERE h.action = 'posted' AND h.id > ? ORDER BY h.id",
            (int(after),),
        ).fetchall()
        return [
            (hid, prop, max(0.0, (_ts_required(posted) - _ts_required(sent)).total_seconds()))
            for hid, prop, posted, sent in rows
            if sent is not None
        ]

    def writable(self) -> bool:
        """True if the journal can take its write lock now (open, not read-only, not locked)."""
        try:
            conn = self._db
            if conn.in_transaction:
                return True  # we hold it
            _begin_immediate(conn, min(self._lock_wait, 1.0))
            conn.execute("ROLLBACK")
        except (sqlite3.Error, JournalError):
            return False
        return True

    # -- the P# sequence -----------------------------------------------------------------------

    def next_posting_number(self, property: str) -> int:
        """The next FIAS ``P#`` for ``property``; it is on disk before it is returned.

        Starts at 1, wraps from 99999999 back to 1, survives restarts; a number handed out is
        never handed out again (until the sequence wraps), even if it was never sent.

        Numbers are *reserved* in blocks of ``posting_number_block``: one commit writes the
        block's last number as the sequence's high-water mark, and the numbers of the block are
        then handed out from memory. A restart continues after the mark, so the numbers of an
        unfinished block are skipped, never reused (FIAS needs ``P#`` unique, not gapless).
        With one commit per block instead of per number, a leg's inquiry and posting cost no
        fsync of their own.
        """
        block = self._posting_blocks.get(property)
        if block is not None and block[0] <= block[1]:
            number, last = block
            self._posting_blocks[property] = (number + 1, last)
            return number
        size = self.posting_number_block

        def work(conn: sqlite3.Connection) -> tuple[int, int]:
            row = conn.execute(
                "SELECT last FROM posting_numbers WHERE property = ?", (property,)
            ).fetchone()
            mark = row[0] if row else 0
            first = 1 if mark >= MAX_POSTING_NUMBER else mark + 1
            last = min(first + size - 1, MAX_POSTING_NUMBER)
            conn.execute(
                "INSERT INTO posting_numbers (property, last) VALUES (?, ?)"
                " ON CONFLICT (property) DO UPDATE SET last = excluded.last",
                (property, last),
            )
            return first, last

        first, last = self._run(work)
        self._posting_blocks[property] = (first + 1, last)
        return first

    # -- leg transitions -----------------------------------------------------------------------

    def _transition(
        self,
        leg_id: int,
        to: LegState,
        *,
        actor: str = GATEWAY_ACTOR,
        action: str,
        note: str | None = None,
        sets: dict[str, Any] | None = None,
        increment_attempts: bool = False,
    ) -> Leg:
        def work(conn: sqlite3.Connection) -> Leg:
            self._transition_in(conn, leg_id, to, actor=actor, action=action, note=note,
                                sets=sets, increment_attempts=increment_attempts)  # fmt: skip
            return self._legs_where(conn, "leg_id = ?", (int(leg_id),))[0]

        leg: Leg = self._run(work)
        return leg

    def _transition_in(
        self,
        conn: sqlite3.Connection,
        leg_id: int,
        to: LegState,
        *,
        actor: str = GATEWAY_ACTOR,
        action: str,
        note: str | None = None,
        sets: dict[str, Any] | None = None,
        increment_attempts: bool = False,
        at: str | None = None,
    ) -> None:
        """Move a leg along an edge of :data:`TRANSITIONS` inside the open transaction (at
        ``at``, a journal timestamp, or now): :meth:`_transitions_in` for one leg. Refuses
        (:class:`UnknownLeg`, :class:`IllegalTransition`) before it writes anything."""
        sets = sets or {}
        (refusal,) = self._transitions_in(
            conn, to, tuple(sets), action=action, actor=actor,
            changes=[(leg_id, tuple(sets.values()), note, at or _ts(self._now()))],
            increment_attempts=increment_attempts,
        )  # fmt: skip
        if refusal is not None:
            raise refusal

    @staticmethod
    def _history(
        conn: sqlite3.Connection,
        time: str,
        event_id: str,
        leg_id: int | None,
        from_state: LegState | None,
        to_state: LegState | None,
        actor: str,
        action: str,
        note: str | None,
    ) -> None:
        _insert_history(conn, [(
            time,
            event_id,
            leg_id,
            from_state.value if from_state else None,
            to_state.value if to_state else None,
            actor,
            action,
            note,
        )])  # fmt: skip

    def mark_waiting(self, leg_id: int, reason: str, not_before: dt.datetime | None = None) -> Leg:
        """Hold a leg (guest not in house, night audit, link down, backoff until ``not_before``)."""
        return self._transition(
            leg_id,
            LegState.WAITING,
            action="wait",
            note=reason,
            sets={"reason": reason, "not_before": _ts(not_before) if not_before else None},
        )

    def mark_waiting_many(self, leg_ids: Iterable[int], reason: str) -> int:
        """:meth:`mark_waiting` (no ``not_before``) for many legs in ONE transaction: the
        dispatcher holding every new leg while the link is down or the PMS runs its night
        audit. Returns how many were marked."""
        ids = [int(leg_id) for leg_id in leg_ids]
        if not ids:
            return 0

        def work(conn: sqlite3.Connection) -> int:
            now = _ts(self._now())
            refusals = self._transitions_in(
                conn, LegState.WAITING, ("reason", "not_before"), action="wait",
                changes=[(leg_id, (reason, None), reason, now) for leg_id in ids],
            )  # fmt: skip
            for refusal in refusals:
                if refusal is not None:
                    raise refusal  # nothing of the batch is written (the transaction rolls back)
            return len(ids)

        count: int = self._run(work)
        return count

    def mark_sent(self, leg_id: int, posting_number: int | None = None) -> Leg:
        """The leg is about to go on the wire (call BEFORE writing the frame).

        :meth:`submit_sent` does the same in the next (shared) commit."""
        return self._transition(leg_id, LegState.SENT, **_sent_change(posting_number))

    def mark_posted(
        self, leg_id: int, answer_status: str | None = None, text: str | None = None
    ) -> Leg:
        """The PMS answered that the leg posted (FIAS ``ASOK``)."""
        return self._transition(
            leg_id,
            LegState.POSTED,
            action="posted",
            note=text,
            sets={"answer_status": answer_status, "reason": text},
        )

    def submit_posted(
        self, leg_id: int, answer_status: str | None = None, text: str | None = None
    ) -> None:
        """:meth:`mark_posted` in the next commit (the dispatcher's hot path), shared with
        whatever else commits then: nothing waits on this mark (the PMS has booked the leg
        already), so answers that arrive together cost one fsync. Until it is on disk,
        :meth:`all_legs_posted` counts the leg as posted; if the gateway dies first, the leg
        is still ``sent`` on disk and recovery makes it ``unknown`` (never re-sent)."""
        if self._conn is None:
            raise JournalError("the journal is closed")
        # Journaled with the time of the answer, whenever the commit comes.
        self._posted_pending.append((int(leg_id), answer_status, text, _ts(self._now())))
        self._posted_ids.add(int(leg_id))
        self._schedule_flush(POSTED_FLUSH_DELAY)

    def mark_rejected(self, leg_id: int, status: str | None, text: str) -> Leg:
        """A terminal answer: the leg goes to the exception queue with the PMS's text."""
        return self._transition(
            leg_id,
            LegState.REJECTED,
            action="rejected",
            note=text,
            sets={"answer_status": status, "reason": text},
        )

    def mark_unknown(self, leg_id: int, reason: str) -> Leg:
        """No answer in time: the outcome is unknown; never re-sent on its own."""
        return self._transition(
            leg_id, LegState.UNKNOWN, action="unknown", note=reason, sets={"reason": reason}
        )

    def retry(self, leg_id: int, operator: str, note: str) -> Leg:
        """An operator sends an exception-queue leg again (rejected/unknown -> planned)."""
        _check_operator(operator)
        row = self._db.execute("SELECT by_hand FROM legs WHERE leg_id = ?", (int(leg_id),))
        if (flag := row.fetchone()) is not None and flag[0]:
            raise ByHand(
                f"leg {leg_id} is to be posted by hand (the journey could not post it); "
                "post it on the PMS, then resolve it with a note"
            )
        if (hold := self.hold_of(leg_id)) is not None:
            raise Held(f"leg {leg_id} is held for {hold}; approve it (or resolve it with a note)")
        return self._transition(
            leg_id,
            LegState.PLANNED,
            actor=operator,
            action="retry",
            note=note,
            sets={"reason": None, "not_before": None},
        )

    def resolve(self, leg_id: int, operator: str, note: str) -> Leg:
        """An operator closes an exception-queue leg with a note (rejected/unknown -> resolved)."""
        _check_operator(operator)
        if not note or not note.strip():
            raise ValueError("resolving a leg needs a note saying what was done")

        def work(conn: sqlite3.Connection) -> Leg:
            self._transition_in(conn, leg_id, LegState.RESOLVED, actor=operator,
                                action="resolve", note=note)  # fmt: skip
            leg = self._legs_where(conn, "leg_id = ?", (int(leg_id),))[0]
            # The last open leg to post by hand of an exception event: the event is done too.
            if self.is_by_hand(leg.leg_id) and not conn.execute(
                f"SELECT 1 FROM legs WHERE event_id = ? AND {_OPEN_BY_HAND}",  # noqa: S608
                (leg.event_id,),
            ).fetchone():
                status = conn.execute(
                    "SELECT status FROM events WHERE event_id = ?", (leg.event_id,)
                ).fetchone()
                if status is not None and status[0] == EventStatus.EXCEPTION.value:
                    why = f"its legs to post by hand are resolved: {note}"
                    self._close_event_in(conn, leg.event_id, operator, why)
            return leg

        leg: Leg = self._run(work)
        return leg

    def _close_event_in(
        self, conn: sqlite3.Connection, event_id: str, operator: str, note: str
    ) -> None:
        """An exception event becomes resolved, journaled with who and why."""
        conn.execute(
            "UPDATE events SET status = ? WHERE event_id = ?",
            (EventStatus.RESOLVED.value, event_id),
        )
        self._history(conn, _ts(self._now()), event_id, None, None, None, operator,
                      "resolve", note)  # fmt: skip

    def add_note(
        self, leg_id: int, note: str, *, action: str = "note", actor: str = GATEWAY_ACTOR
    ) -> None:
        """Journal a note on a leg without changing its state (a late answer from the PMS
        for a leg that went unknown): in its history and among its notes. ``action``: one of
        :data:`NOTE_ACTIONS` other than an operator's."""
        if action not in NOTE_ACTIONS:
            raise ValueError(f"action must be one of {sorted(NOTE_ACTIONS)}, not {action!r}")
        if not note or not note.strip():
            raise ValueError("a note needs text")

        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT event_id FROM legs WHERE leg_id = ?", (int(leg_id),)
            ).fetchone()
            if row is None:
                raise UnknownLeg(f"no leg {leg_id}")
            self._history(conn, _ts(self._now()), row[0], int(leg_id), None, None, actor,
                          action, note)  # fmt: skip

        self._run(work)

    def leg_id_of(self, reference: str) -> int | None:
        """The id of the leg with this reference (``<event_id>/<leg_index>``), or None."""
        row = self._db.execute("SELECT leg_id FROM legs WHERE reference = ?", (reference,))
        found = row.fetchone()
        return None if found is None else int(found[0])

    def resolve_event(self, event_id: str, operator: str, note: str) -> EventRecord:
        """An operator closes an event-level exception (a journey that planned no legs, or
        whose legs are to be posted by hand: those still open are resolved with it)."""
        _check_operator(operator)
        if not note or not note.strip():
            raise ValueError("resolving an event needs a note saying what was done")

        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT status FROM events WHERE event_id = ?", (event_id,)
            ).fetchone()
            if row is None:
                raise UnknownEvent(f"no event {event_id}")
            if row[0] != EventStatus.EXCEPTION.value:
                raise JournalError(f"event {event_id} is {row[0]}, not an exception")
            self._close_event_in(conn, event_id, operator, note)
            # Its legs to post by hand, still open, are closed with it (the same note).
            for (leg_id,) in conn.execute(
                f"SELECT leg_id FROM legs WHERE event_id = ? AND {_OPEN_BY_HAND}"  # noqa: S608
                " ORDER BY leg_index",
                (event_id,),
            ).fetchall():
                self._transition_in(conn, leg_id, LegState.RESOLVED, actor=operator,
                                    action="resolve", note=note)  # fmt: skip

        self._run(work)
        record = self.event(event_id)
        assert record is not None
        return record

    # -- issue 5: conversions, flags, holds, candidate searches, assignment -------------------

    def conversion(self, event_id: str) -> Conversion | None:
        """The conversion of an event into its property's currency, if it needed one."""
        row = self._db.execute(
            "SELECT original_amount, original_currency, amount, currency, rate, base, quote,"
            " inverted, valid_from, valid_to, rates_file, rounding FROM conversions"
            " WHERE event_id = ?",
            (event_id,),
        ).fetchone()
        if row is None:
            return None
        return Conversion(
            original_amount=row[0],
            original_currency=row[1],
            amount=row[2],
            currency=row[3],
            rate=Decimal(row[4]),
            base=row[5],
            quote=row[6],
            inverted=bool(row[7]),
            valid_from=_ts_required(row[8]),
            valid_to=_parse_ts(row[9]),
            source=row[10],
            rounding=row[11],
        )

    def all_legs_posted(self, event_id: str) -> bool:
        """True when the event has legs and every one is ``posted`` (one small query: the
        dispatcher asks after each posting whether the journey is complete)."""
        rows = self._db.execute(
            "SELECT leg_id, state FROM legs WHERE event_id = ?", (event_id,)
        ).fetchall()
        posted = self._posted_ids
        return bool(rows) and all(
            state == "posted" or leg_id in posted for leg_id, state in rows
        )

    def target_of(self, event_id: str) -> tuple[str, bytes] | None:
        """(what the confirmation number names, the stored body) of an event, in one query:
        the channel asks this for every leg it posts."""
        row = self._db.execute(
            "SELECT target, body FROM events WHERE event_id = ?", (event_id,)
        ).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def flags(self, event_id: str) -> list[Flag]:
        rows = self._db.execute(
            "SELECT event_id, kind, detail, related_event_id, created_at FROM flags"
            " WHERE event_id = ? ORDER BY id",
            (event_id,),
        ).fetchall()
        return [Flag(r[0], r[1], r[2], r[3], _ts_required(r[4])) for r in rows]

    def hold_of(self, leg_id: int) -> str | None:
        """Why a leg is held for approval (a :class:`Hold` value), or None."""
        row = self._db.execute("SELECT hold FROM legs WHERE leg_id = ?", (int(leg_id),))
        found = row.fetchone()
        if found is None:
            raise UnknownLeg(f"no leg {leg_id}")
        return None if found[0] is None else str(found[0])

    def match(self, event_id: str) -> Match | None:
        """The candidate search of an event (with its ranked candidates), if it had one."""
        conn = self._db
        row = conn.execute(
            "SELECT event_id, property, leg_id, reason, status, requested_at, searched_at,"
            " search_note, assigned_to, assigned_by, assigned_at, assign_note FROM matches"
            " WHERE event_id = ?",
            (event_id,),
        ).fetchone()
        if row is None:
            return None
        candidates = tuple(
            Candidate(
                rank=c[0],
                confirmation_number=c[1],
                guest_name=c[2],
                score=c[3],
                reasons=tuple(json.loads(c[4])),
                room=c[5],
                arrival=dt.date.fromisoformat(c[6]) if c[6] else None,
                departure=dt.date.fromisoformat(c[7]) if c[7] else None,
                balance=c[8],
            )
            for c in conn.execute(
                "SELECT rank, confirmation_number, guest_name, score, reasons, room, arrival,"
                " departure, balance FROM candidates WHERE event_id = ? ORDER BY rank",
                (event_id,),
            )
        )
        return Match(
            event_id=row[0],
            property=row[1],
            leg_id=row[2],
            reason=row[3],
            status=MatchStatus(row[4]),
            requested_at=_ts_required(row[5]),
            searched_at=_parse_ts(row[6]),
            search_note=row[7],
            candidates=candidates,
            assigned_to=row[8],
            assigned_by=row[9],
            assigned_at=_parse_ts(row[10]),
            assign_note=row[11],
        )

    def pending_matches(self, property: str) -> list[Match]:
        """Candidate searches still to run for a property, oldest first."""
        # Not for what an operator closed meanwhile: a resolved event, or a leg no longer
        # rejected (resolved, or assigned and on its way).
        rows = self._db.execute(
            "SELECT m.event_id FROM matches m JOIN events e ON e.event_id = m.event_id"
            " LEFT JOIN legs l ON l.leg_id = m.leg_id"
            " WHERE m.property = ? AND m.status = 'pending' AND e.status != 'resolved'"
            " AND (m.leg_id IS NULL OR l.state = 'rejected')"
            " ORDER BY m.requested_at, m.event_id",
            (property,),
        ).fetchall()
        return [m for (event_id,) in rows if (m := self.match(event_id)) is not None]

    def request_match(self, event_id: str, reason: str, *, leg_id: int | None = None) -> None:
        """Ask for a candidate search: the PMS did not find the event's record."""

        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT property FROM events WHERE event_id = ?", (event_id,)
            ).fetchone()
            if row is None:
                raise UnknownEvent(f"no event {event_id}")
            self._request_match(conn, event_id, row[0], leg_id, reason, _ts(self._now()))

        self._run(work)

    def record_candidates(self, event_id: str, candidates: Sequence[Candidate], note: str) -> None:
        """Journal the ranked candidates a search found (replacing earlier ones)."""

        def work(conn: sqlite3.Connection) -> None:
            now = _ts(self._now())
            updated = conn.execute(
                "UPDATE matches SET status = 'searched', searched_at = ?, search_note = ?"
                " WHERE event_id = ? AND status != 'assigned'",
                (now, note, event_id),
            ).rowcount
            if not updated:
                return  # assigned meanwhile: the search is moot
            conn.execute("DELETE FROM candidates WHERE event_id = ?", (event_id,))
            conn.executemany(
                "INSERT INTO candidates (event_id, rank, confirmation_number, guest_name, room,"
                " arrival, departure, balance, score, reasons, found_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        event_id,
                        c.rank,
                        c.confirmation_number,
                        c.guest_name,
                        c.room,
                        c.arrival.isoformat() if c.arrival else None,
                        c.departure.isoformat() if c.departure else None,
                        c.balance,
                        c.score,
                        json.dumps(list(c.reasons)),
                        now,
                    )
                    for c in candidates
                ],
            )
            self._history(conn, now, event_id, None, None, None, GATEWAY_ACTOR,
                          "candidates", note)  # fmt: skip

        self._run(work)

    def approve(self, leg_id: int, operator: str, note: str) -> list[Leg]:
        """An operator approves a held payment: every held leg of its event goes back to
        ``planned`` for the dispatcher (journaled with who, when and the note)."""
        _check_operator(operator)
        if not note or not note.strip():
            raise ValueError("an approval needs a note saying why")

        def work(conn: sqlite3.Connection) -> str:
            row = conn.execute(
                "SELECT event_id, hold, state FROM legs WHERE leg_id = ?", (int(leg_id),)
            ).fetchone()
            if row is None:
                raise UnknownLeg(f"no leg {leg_id}")
            event_id, hold, state = row
            if hold is None:
                raise NotAssignable(f"leg {leg_id} is {state}, not held for approval")
            now = _ts(self._now())
            for other_id, other_hold in conn.execute(
                "SELECT leg_id, hold FROM legs WHERE event_id = ? AND hold IS NOT NULL"
                " AND state = ? ORDER BY leg_index",
                (event_id, LegState.REJECTED.value),
            ).fetchall():
                conn.execute(
                    "UPDATE legs SET state = ?, hold = NULL, reason = NULL, updated_at = ?"
                    " WHERE leg_id = ?",
                    (LegState.PLANNED.value, now, other_id),
                )
                self._history(conn, now, event_id, other_id, LegState.REJECTED,
                              LegState.PLANNED, operator, "approve",
                              f"{note} (held for {other_hold})")  # fmt: skip
            return str(event_id)

        event_id = self._run(work)
        return self._legs_where(self._db, "event_id = ?", (event_id,), "leg_index")

    def assign_leg(
        self, leg_id: int, confirmation_number: str, operator: str, note: str
    ) -> list[Leg]:
        """An operator names the right PMS record for a leg the PMS did not find.

        Every leg of the leg's event that has not gone to the PMS (planned, waiting,
        rejected; not unknown, posted or resolved: a posting is never edited) takes the
        new number; rejected ones go back to ``planned`` (held ones stay held). Journaled
        with who, when, the old and the new number and the note.
        """
        _check_operator(operator)
        number = _check_confirmation(confirmation_number, note)

        def work(conn: sqlite3.Connection) -> str:
            row = conn.execute(
                "SELECT event_id, state, by_hand, confirmation_number FROM legs WHERE leg_id = ?",
                (int(leg_id),),
            ).fetchone()
            if row is None:
                raise UnknownLeg(f"no leg {leg_id}")
            event_id, state, by_hand, old = row
            if by_hand:
                raise NotAssignable(
                    f"leg {leg_id} is to be posted by hand; resolve it with a note instead"
                )
            if state not in _ASSIGNABLE:
                raise NotAssignable(
                    f"leg {leg_id} is {state}: "
                    + (
                        "its outcome is unknown, the PMS may have posted it; check the folio "
                        "and resolve it"
                        if state == LegState.UNKNOWN.value
                        else "a leg that reached the PMS is never edited; post a correction"
                    )
                )
            now = _ts(self._now())
            for other_id, other_state, hold in conn.execute(
                "SELECT leg_id, state, hold FROM legs WHERE event_id = ? AND by_hand = 0"
                " AND state IN ('planned', 'waiting', 'rejected') ORDER BY leg_index",
                (event_id,),
            ).fetchall():
                back = other_state == LegState.REJECTED.value and hold is None
                to_state = LegState.PLANNED.value if back else other_state
                conn.execute(
                    "UPDATE legs SET confirmation_number = ?, state = ?, updated_at = ?,"
                    " reason = CASE WHEN ? THEN NULL ELSE reason END,"
                    " answer_status = CASE WHEN ? THEN NULL ELSE answer_status END,"
                    " not_before = NULL WHERE leg_id = ?",
                    (number, to_state, now, back, back, other_id),
                )
                self._history(conn, now, event_id, other_id, LegState(other_state),
                              LegState(to_state), operator, "assign",
                              f"confirmation number {number} (was {old or 'blank'}): {note}",
                              )  # fmt: skip
            self._mark_assigned(conn, event_id, number, operator, note, now)
            return str(event_id)

        event_id = self._run(work)
        return self._legs_where(self._db, "event_id = ?", (event_id,), "leg_index")

    def replan_event(
        self,
        event_id: str,
        plan: Any,
        operator: str,
        note: str,
        *,
        confirmation_number: str | None = None,
    ) -> EventRecord:
        """Store a new plan for an event-level exception (a journey planned no legs): an
        operator assigned its record (``confirmation_number``) or fixed what stopped it (a
        missing rate) and retries it. The event becomes what the plan says (accepted with
        its legs, or still an exception with the new reason); journaled with who and when.
        """
        _check_operator(operator)
        if confirmation_number is not None:
            confirmation_number = _check_confirmation(confirmation_number, note)
        elif not note or not note.strip():
            raise ValueError("retrying an event needs a note saying what was fixed")
        parts = _plan_parts(plan)

        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT status, property, body FROM events WHERE event_id = ?", (event_id,)
            ).fetchone()
            if row is None:
                raise UnknownEvent(f"no event {event_id}")
            status, property, body = row
            if status != EventStatus.EXCEPTION.value:
                raise NotAssignable(f"event {event_id} is {status}, not an exception")
            if conn.execute("SELECT 1 FROM legs WHERE event_id = ?", (event_id,)).fetchone():
                raise NotAssignable(
                    f"event {event_id} has legs: act on them (assign, retry or resolve a leg)"
                )
            now = _ts(self._now())
            if parts.exception is not None:
                new_status, outcome = EventStatus.EXCEPTION, parts.exception
            elif parts.no_post is not None:
                new_status, outcome = EventStatus.NO_POST, parts.no_post
            else:
                new_status, outcome = EventStatus.ACCEPTED, None
            number = parts.confirmation_number or confirmation_number
            if parts.legs and not number:
                raise ValueError(f"event {event_id} has legs but no confirmation number")
            conn.execute(
                "UPDATE events SET status = ?, outcome = ?, target = ? WHERE event_id = ?",
                (new_status.value, outcome, parts.target, event_id),
            )
            action = "assign" if confirmation_number is not None else "retry"
            what = (
                f"confirmation number {confirmation_number}: {note}"
                if confirmation_number is not None
                else note
            )
            self._history(conn, now, event_id, None, None, None, operator, action, what)
            self._history(conn, now, event_id, None, None, None, GATEWAY_ACTOR,
                          f"event {new_status.value}", outcome)  # fmt: skip
            if parts.conversion is not None:
                self._record_conversion(conn, event_id, parts.conversion, now)
            if confirmation_number is not None:
                self._mark_assigned(conn, event_id, confirmation_number, operator, note, now)
            elif parts.match_reason is not None:
                self._request_match(conn, event_id, property, None, parts.match_reason, now)
            self._insert_legs(
                conn, event_id, property, number or "", parts.legs, now,
                exception=parts.exception, hold=parts.hold, hold_reason=parts.hold_reason,
                actor=operator,
            )  # fmt: skip

        self._run(work)
        record = self.event(event_id)
        assert record is not None
        return record

    def _mark_assigned(
        self,
        conn: sqlite3.Connection,
        event_id: str,
        number: str,
        operator: str,
        note: str,
        now: str,
    ) -> None:
        conn.execute(
            "UPDATE matches SET status = 'assigned', assigned_to = ?, assigned_by = ?,"
            " assigned_at = ?, assign_note = ? WHERE event_id = ?",
            (number, operator, now, note, event_id),
        )

    # -- balances ------------------------------------------------------------------------------

    def record_balance(
        self,
        event_id: str,
        balance: int,
        currency: str,
        *,
        leg_id: int | None = None,
        confirmation_number: str | None = None,
    ) -> Balance:
        """Record the folio balance the PMS reported after a journey (minor units)."""
        if isinstance(balance, bool) or not isinstance(balance, int):
            raise TypeError("a balance is integer minor units")

        def work(conn: sqlite3.Connection) -> Balance:
            row = conn.execute(
                "SELECT property FROM events WHERE event_id = ?", (event_id,)
            ).fetchone()
            if row is None:
                raise UnknownEvent(f"no event {event_id}")
            now = self._now()
            conn.execute(
                "INSERT INTO balances (event_id, leg_id, property, confirmation_number,"
                " balance, currency, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event_id, leg_id, row[0], confirmation_number, balance, currency, _ts(now)),
            )
            return Balance(event_id, leg_id, row[0], confirmation_number, balance, currency, now)

        result: Balance = self._run(work)
        return result

    def queue_balance(
        self,
        event_id: str,
        property: str,
        balance: int,
        currency: str,
        *,
        leg_id: int | None = None,
        confirmation_number: str | None = None,
    ) -> None:
        """:meth:`record_balance` without a commit of its own: the row rides along with the
        next commit (as wire-log rows do), or a flush :data:`WIRE_FLUSH_DELAY` seconds later.

        For the dispatcher's read-back after a journey: a balance is evidence that the folio
        changed, not a state anything waits for, so it need not cost an fsync. A crash in that
        moment can lose the row (never a leg state); reads (:meth:`balances`, :meth:`event`)
        write queued rows first.
        """
        if isinstance(balance, bool) or not isinstance(balance, int):
            raise TypeError("a balance is integer minor units")
        self._balances_pending.append(
            (event_id, leg_id, property, confirmation_number, balance, currency,
             _ts(self._now()))
        )  # fmt: skip
        self._schedule_flush(WIRE_FLUSH_DELAY)


#: The columns marking a leg ``sent`` sets besides its state: the P#, and the reason, answer
#: and retry time of an earlier try cleared.
_SENT_COLUMNS = ("posting_number", "reason", "answer_status", "not_before")


def _sent_note(posting_number: int | None) -> str | None:
    return None if posting_number is None else f"P# {posting_number}"


def _sent_change(posting_number: int | None) -> dict[str, Any]:
    """What marking a leg ``sent`` writes (:meth:`Journal.mark_sent`; :meth:`submit_sent`
    writes the same through :meth:`Journal._transitions_in`)."""
    return {
        "action": "send",
        "note": _sent_note(posting_number),
        "sets": dict(zip(_SENT_COLUMNS, (posting_number, None, None, None), strict=True)),
        "increment_attempts": True,
    }


#: Leg states whose confirmation number an operator may change (nothing reached the PMS).
#: (assign_leg's query names the same three.)
_ASSIGNABLE = frozenset({LegState.PLANNED.value, LegState.WAITING.value, LegState.REJECTED.value})


def _check_confirmation(number: str, note: str) -> str:
    if not isinstance(number, str) or not re.fullmatch(r"[!-~]{1,64}", number.strip()):
        raise ValueError("a confirmation number is 1 to 64 printable characters without spaces")
    if not note or not note.strip():
        raise ValueError("an assignment needs a note saying how the record was identified")
    return number.strip()


def _check_operator(operator: str) -> None:
    if not isinstance(operator, str) or not operator.strip():
        raise ValueError("an operator action needs the operator's name")
