"""Matching: when the confirmation number finds nothing, search the PMS and rank candidates.

The confirmation number links a payment to its PMS record. When it is blank, cannot be a
record number of the property's PMS, or the PMS says it does not know it, foliogate does
not guess: it searches the PMS for reservations by the guest's name, ranks what it finds
(:func:`rank_candidates`), journals the ranked candidates with the event, and leaves the
event in the exception queue until an operator assigns the right record
(``foliogate exceptions assign``, ``POST /v1/events/{id}/assign``).

**When a search starts** (the "finds nothing" cases):

- the confirmation number is blank: at once, when the event arrives;
- on FIAS, the number cannot be a reservation number (``G#`` is 1 to 10 digits): at once;
- the PMS does not know the number: on FIAS, the inquiry answers ``NG`` or lists the room
  without that ``G#``, or the posting is answered ``NG`` (no such reservation, not checked
  in, checked out); or a leg waited ``deposit_wait_hours`` for a check-in that never came.

FIAS can only confirm guests who are in house, so a deposit for a guest who has not arrived
waits for the check-in (``GI``) as before; that wait is not "finds nothing" until it expires.
A/R account payments are not searched (FIAS has no A/R search by name); they can still be
assigned to another account.

**How the PMS is searched.** FIAS: one inquiry ``PR`` per search term with ``PI`` = the
term (at most 10 characters) and the room payment method; the PMS answers a ``PL`` listing
``RN``/``G#``/``GN`` (and, where the PMS sends them, ``GA``/``GD`` stay dates and ``BA``
balance) for every in-house guest whose name starts with it. The terms
(:func:`search_terms`) are the surname (the part before a comma, else the last word) and the
first word, so "Jane Doe" finds "Doe, Jane" and "Jane Doe" alike.

**Scoring** (:func:`score_candidate`), 100 points at most, documented here because operators
read the numbers:

- name, up to 60: both names are folded (case, accents, punctuation and titles such as
  Mr/Mrs/Dr removed), their words sorted, and compared with :class:`difflib.SequenceMatcher`;
  the ratio times 60, rounded. "Jane Doe" and "Doe, Jane" score 60.
- stay, up to 25: 25 when the payment date (``occurred_at``, in its own offset) falls within
  the candidate's stay (arrival to departure, inclusive), else 5 fewer per day outside it
  (a deposit paid two days before arrival scores 15); or, if better, 25 when the event's own
  booking dates equal the candidate's (12 for one of them). 0 when the PMS sent no dates.
- amount, up to 15: 15 when the candidate's open balance (``BA``) equals the payment amount
  (in the property's currency, after any conversion): the payment settles that folio.

Candidates are ranked by score, highest first; ties by confirmation number. At most
:data:`MAX_CANDIDATES` are kept.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.logger import Logger

from adapters.money import format_minor

__all__ = [
    "MAX_CANDIDATES",
    "MAX_SEARCH_TERM",
    "Candidate",
    "CandidateFinder",
    "PmsGuest",
    "name_tokens",
    "rank_candidates",
    "score_candidate",
    "search_terms",
]

log = Logger(namespace="foliogate.matching")

#: FIAS ``PI`` is ANS max 10: a name search sends at most this many characters.
MAX_SEARCH_TERM = 10
#: How many ranked candidates are journaled with an event.
MAX_CANDIDATES = 10

NAME_POINTS = 60
STAY_POINTS = 25
AMOUNT_POINTS = 15
#: Points a stay loses per day the payment date lies outside it.
STAY_POINTS_PER_DAY = 5

_TITLES = frozenset(
    "mr mrs ms miss mx dr prof sir dame herr hr frau fr mme mlle m sr sra srta".split()
)


@dataclass(frozen=True)
class PmsGuest:
    """A reservation a PMS search returned (FIAS: one ``PL`` block)."""

    confirmation_number: str
    guest_name: str
    room: str | None = None
    arrival: dt.date | None = None
    departure: dt.date | None = None
    balance: int | None = None  # minor units of the property's currency (FIAS BA)


@dataclass(frozen=True)
class Candidate:
    """A ranked candidate record for an event, with why it scored what it did."""

    rank: int
    confirmation_number: str
    guest_name: str
    score: int  # 0..100
    reasons: tuple[str, ...]
    room: str | None = None
    arrival: dt.date | None = None
    departure: dt.date | None = None
    balance: int | None = None


def name_tokens(name: str | None) -> tuple[str, ...]:
    """The words of a name, folded for comparison: no case, accents, punctuation or titles.

    >>> name_tokens("Doe, Mrs. Jane-Marie")
    ('doe', 'jane', 'marie')
    >>> name_tokens("Ångström, Dr.")
    ('angstrom',)
    """
    if not name:
        return ()
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = re.split(r"[^0-9a-z]+", plain)
    return tuple(w for w in words if w and w not in _TITLES)


def search_terms(guest_name: str | None) -> tuple[str, ...]:
    """The name prefixes to search the PMS by: the surname, then the first word.

    The surname is the part before a comma ("Doe, Jane"), else the last word ("Jane Doe");
    the first word is the first that is not a title ("Mr. John Smith": "John").
    Each term is cut to :data:`MAX_SEARCH_TERM` characters; terms under 2 characters are
    left out (they would list half the hotel).

    >>> search_terms("Jane Doe")
    ('Doe', 'Jane')
    >>> search_terms("Doe, Jane")
    ('Doe', 'Jane')
    >>> search_terms("Maximiliana Vandersteenhoven")
    ('Vanderstee', 'Maximilian')
    >>> search_terms("  ")
    ()
    """
    if not guest_name or not guest_name.strip():
        return ()
    text = guest_name.strip()

    def named(words: list[str]) -> list[str]:  # titles (Mr, Dr...) name nobody
        return [w for w in words if w and not set(name_tokens(w)) <= _TITLES]

    if "," in text:
        surname, _, rest = text.partition(",")
        words = named(re.split(r"\s+", rest.strip()))
        first = words[0] if words else ""
    else:
        words = named(re.split(r"\s+", text)) or [text]
        surname, first = words[-1], words[0]
    terms: list[str] = []
    for word in (surname.strip(), first):
        word = re.sub(r"[^\w' -]", "", word).strip()[:MAX_SEARCH_TERM].rstrip()
        word = word if len(word) >= 2 else ""
        if word and word.casefold() not in (t.casefold() for t in terms):
            terms.append(word)
    return tuple(terms)


def _name_ratio(a: str | None, b: str | None) -> float:
    left, right = " ".join(sorted(name_tokens(a))), " ".join(sorted(name_tokens(b)))
    if not left or not right:
        return 0.0
    return difflib.SequenceMatcher(None, left, right).ratio()


def _days_outside(day: dt.date, arrival: dt.date, departure: dt.date) -> int:
    if day < arrival:
        return (arrival - day).days
    if day > departure:
        return (day - departure).days
    return 0


def score_candidate(
    guest: PmsGuest,
    *,
    guest_name: str | None,
    amount: int | None,
    currency: str,
    paid_on: dt.date | None,
    arrival: dt.date | None = None,
    departure: dt.date | None = None,
) -> tuple[int, tuple[str, ...]]:
    """(score 0..100, reasons) of one candidate (see the module docstring for the rules)."""
    reasons = []
    ratio = _name_ratio(guest_name, guest.guest_name)
    name_points = round(NAME_POINTS * ratio)
    if guest_name:
        reasons.append(
            f"name {guest.guest_name!r} vs {guest_name!r}: {round(ratio * 100)}% alike "
            f"({name_points}/{NAME_POINTS})"
        )
    else:
        reasons.append(f"the event names no guest (0/{NAME_POINTS})")

    stay_points, stay_reason = 0, "the PMS gave no stay dates"
    if guest.arrival is not None and guest.departure is not None:
        stay = f"{guest.arrival.isoformat()}..{guest.departure.isoformat()}"
        if paid_on is not None:
            outside = _days_outside(paid_on, guest.arrival, guest.departure)
            stay_points = max(0, STAY_POINTS - STAY_POINTS_PER_DAY * outside)
            stay_reason = (
                f"paid {paid_on.isoformat()}, within the stay {stay}"
                if outside == 0
                else f"paid {paid_on.isoformat()}, {outside} day(s) outside the stay {stay}"
            )
        same = (arrival == guest.arrival) + (departure == guest.departure)
        booked = {2: STAY_POINTS, 1: STAY_POINTS // 2}.get(same, 0)
        if booked > stay_points:
            stay_points = booked
            stay_reason = (
                f"the booking's dates {'match' if same == 2 else 'half match'} the stay {stay}"
            )
    reasons.append(f"{stay_reason} ({stay_points}/{STAY_POINTS})")

    amount_points = 0
    if guest.balance is not None and amount is not None:
        shown = format_minor(guest.balance, currency)
        if guest.balance == amount:
            amount_points = AMOUNT_POINTS
            reasons.append(f"open balance {shown} equals the payment ({amount_points}/15)")
        else:
            reasons.append(f"open balance {shown} differs from the payment (0/{AMOUNT_POINTS})")
    else:
        reasons.append(f"no balance to compare (0/{AMOUNT_POINTS})")
    return name_points + stay_points + amount_points, tuple(reasons)


def rank_candidates(
    guests: Iterable[PmsGuest],
    *,
    guest_name: str | None,
    amount: int | None,
    currency: str,
    paid_on: dt.date | None,
    arrival: dt.date | None = None,
    departure: dt.date | None = None,
    limit: int = MAX_CANDIDATES,
) -> tuple[Candidate, ...]:
    """Score every guest (each confirmation number once), best first, ranks from 1.

    >>> found = [PmsGuest("200101", "Garibaldi, Mr."), PmsGuest("123456", "Doe, Jane")]
    >>> [(c.rank, c.confirmation_number, c.score) for c in rank_candidates(
    ...     found, guest_name="Jane Doe", amount=None, currency="GBP", paid_on=None)]
    [(1, '123456', 60), (2, '200101', 7)]
    """
    unique: dict[str, PmsGuest] = {}
    for guest in guests:
        unique.setdefault(guest.confirmation_number, guest)
    scored = []
    for guest in unique.values():
        score, reasons = score_candidate(
            guest, guest_name=guest_name, amount=amount, currency=currency, paid_on=paid_on,
            arrival=arrival, departure=departure,
        )  # fmt: skip
        scored.append((score, guest, reasons))
    scored.sort(key=lambda item: (-item[0], _number_key(item[1].confirmation_number)))
    return tuple(
        Candidate(
            rank=rank,
            confirmation_number=guest.confirmation_number,
            guest_name=guest.guest_name,
            score=score,
            reasons=reasons,
            room=guest.room,
            arrival=guest.arrival,
            departure=guest.departure,
            balance=guest.balance,
        )
        for rank, (score, guest, reasons) in enumerate(scored[:limit], start=1)
    )


def _number_key(number: str) -> tuple[int, str]:
    return (int(number), "") if number.isdigit() else (10**12, number)


# --- the search, run by the dispatcher --------------------------------------------------------

#: Searches the PMS by a name prefix; fires with the guests found ([] for none), or None when
#: the PMS could not be asked now (link down, no answer): the search is tried again later.
GuestSearch = Callable[[str], "Deferred[Sequence[PmsGuest] | None]"]


class CandidateFinder:
    """Runs the candidate searches the journal asks for, one property at a time.

    The dispatcher calls :meth:`run` in every pass (so searches go out in the same single
    file as postings, and only while the link can carry them) and :meth:`leg_not_found` when
    the PMS says it does not know a leg's confirmation number.
    """

    def __init__(self, journal: Any, prop: Any, search: GuestSearch | None) -> None:
        self.journal = journal
        self.prop = prop
        self.search = search
        #: The journal's match_generation when it last had no search due for this property.
        self._idle_generation: int | None = None

    def has_work(self) -> bool:
        """Is a candidate search due? (Asked on every dispatcher pass: once the journal had
        none, it is asked again only after a match was requested or a leg rejected.)"""
        generation = getattr(self.journal, "match_generation", None)
        if generation is not None and generation == self._idle_generation:
            return False
        work = bool(self.journal.pending_matches(self.prop.name))
        if not work:
            self._idle_generation = generation
        return work

    def leg_not_found(self, event_id: str, leg_id: int, reason: str) -> None:
        """The PMS does not know the leg's record: ask for a candidate search (reservations
        only: an A/R account is not searched by name)."""
        record = self.journal.event(event_id)
        if record is None or record.target != "reservation":
            return
        self.journal.request_match(event_id, reason, leg_id=leg_id)

    @inlineCallbacks
    def run(self) -> Any:
        """Search for every pending match of the property; stop at the first search the PMS
        cannot answer now (it stays pending for the next pass)."""
        for match in self.journal.pending_matches(self.prop.name):
            record = self.journal.event(match.event_id)
            if record is None:  # pragma: no cover - matches reference their event
                continue
            body = _body(record)
            booking = body.get("booking") or {}
            name = booking.get("guest_name")
            terms = search_terms(name)
            if not terms:
                self.journal.record_candidates(
                    match.event_id, (), "the event names no guest to search the PMS by"
                )
                continue
            if self.search is None:
                self.journal.record_candidates(
                    match.event_id,
                    (),
                    f"no reservation search for the {self.prop.profile} profile yet; "
                    "assign the record by hand",
                )
                continue
            found: list[PmsGuest] = []
            for term in terms:
                try:
                    guests = yield self.search(term)
                except Exception as exc:  # e.g. a name the link's encoding cannot carry
                    # Recorded, so one bad search never blocks the postings behind it.
                    log.warn(
                        "candidate search for {event_id} failed: {error}",
                        event_id=match.event_id,
                        error=str(exc),
                    )
                    self.journal.record_candidates(
                        match.event_id,
                        (),
                        f"the PMS search by {term!r} failed ({exc}); assign the record by hand",
                    )
                    break
                if guests is None:
                    log.info(
                        "candidate search for {event_id} postponed: the PMS cannot answer now",
                        event_id=match.event_id,
                    )
                    return
                found.extend(guests)
            else:
                self._record(match, record, booking, name, terms, found)

    def _record(
        self,
        match: Any,
        record: Any,
        booking: dict[str, Any],
        name: str | None,
        terms: tuple[str, ...],
        found: list[PmsGuest],
    ) -> None:
        """Rank what the searches found and journal it with the event."""
        amount, paid_on = _payment_facts(self.journal, record, _body(record))
        candidates = rank_candidates(
            found,
            guest_name=name,
            amount=amount,
            currency=self.prop.currency,
            paid_on=paid_on,
            arrival=_date(booking.get("arrival")),
            departure=_date(booking.get("departure")),
        )
        self.journal.record_candidates(
            match.event_id,
            candidates,
            f"searched the PMS by name for {', '.join(repr(t) for t in terms)}: "
            f"{len(candidates)} candidate(s)",
        )
        log.info(
            "event {event_id}: {count} candidate(s) found by name",
            event_id=match.event_id,
            count=len(candidates),
        )


def _body(record: Any) -> dict[str, Any]:
    try:
        body = record.body_json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _payment_facts(journal: Any, record: Any, body: dict[str, Any]) -> tuple[int | None, Any]:
    """The payment amount in the property's currency (after conversion) and the payment date."""
    payment = body.get("payment") or {}
    amount = payment.get("amount") if isinstance(payment.get("amount"), int) else None
    conversion = journal.conversion(record.event_id)
    if conversion is not None:
        amount = conversion.amount
    paid_on = None
    if record.occurred_at:  # the journal keeps it as datetime.isoformat(), offset included
        try:
            paid_on = dt.datetime.fromisoformat(record.occurred_at).date()
        except ValueError:
            paid_on = None
    return amount, paid_on
