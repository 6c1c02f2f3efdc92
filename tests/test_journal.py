"""The journal (adapters/journal.py): durable events, the leg outbox, P#, wire log, migrations.

Every test uses a real SQLite file in tmp_path; group commit is driven by a task.Clock.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from twisted.internet import task

from adapters.domain import (
    Booking,
    EventType,
    LegState,
    Payment,
    PaymentEvent,
    PaymentKind,
    PlannedLeg,
)
from adapters.journal import (
    IN_FLIGHT_AT_RESTART,
    MAX_POSTING_NUMBER,
    MIGRATIONS,
    SCHEMA_VERSION,
    ByHand,
    EventStatus,
    IllegalTransition,
    IngestStatus,
    Journal,
    JournalError,
    UnknownLeg,
    _strip_card_data,
    mask_wire,
    migrate,
    strip_card_data,
)

T0 = dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC)


class FakeNow:
    def __init__(self) -> None:
        self.value = T0

    def __call__(self) -> dt.datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += dt.timedelta(seconds=seconds)


def make_event(
    event_id: str = "evt_1",
    *,
    property: str = "GRAND-LONDON",
    conf: str = "123456",
    amount: int = 5000,
    type: EventType = EventType.PAYMENT_SUCCEEDED,
) -> tuple[PaymentEvent, bytes]:
    body = {
        "event_id": event_id,
        "type": str(type),
        "property": property,
        "occurred_at": "2026-11-21T10:04:05Z",
        "payment": {
            "kind": "deposit",
            "amount": amount,
            "currency": "GBP",
            "transaction_id": f"pi_{event_id}",
            "method": "onejourney",
            "status": "Payment Success",
            "card_type": "VISA",
            "card_last4": "4242",
        },
        "booking": {"confirmation_number": conf, "guest_name": "Jane Doe"},
    }
    event = PaymentEvent(
        event_id=event_id,
        type=type,
        property=property,
        occurred_at=T0,
        payment=Payment(
            kind=PaymentKind.DEPOSIT,
            amount=amount,
            currency="GBP",
            transaction_id=f"pi_{event_id}",
            method="onejourney",
            status="Payment Success",
            card_type="VISA",
            card_last4="4242",
        ),
        booking=Booking(confirmation_number=conf, guest_name="Jane Doe"),
    )
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return event, raw


def deposit_legs(amount: int = 5000) -> list[PlannedLeg]:
    return [
        PlannedLeg(0, "SPA_DEPOSIT", "ONEJOURNEY", amount, "GBP", "Spa deposit"),
    ]


def two_legs() -> list[PlannedLeg]:
    return [
        PlannedLeg(0, "SPA_TREATMENT", None, 5000, "GBP", "Massage 60"),
        PlannedLeg(1, None, "DEPOSIT_REDEMPTION", -5000, "GBP", "Redemption"),
    ]


@dataclass(frozen=True)
class Plan:
    """Stands in for adapters.journeys.JourneyPlan (same fields)."""

    outcome: str = "post"  # post | not_posted | exception
    legs: tuple[PlannedLeg, ...] = ()
    reason: str = ""
    target: str = "reservation"
    by_hand: tuple[PlannedLeg, ...] = ()


@pytest.fixture
def now() -> FakeNow:
    return FakeNow()


@pytest.fixture
def clock() -> task.Clock:
    return task.Clock()


@pytest.fixture
def path(tmp_path) -> str:
    return str(tmp_path / "journal.sqlite")


@pytest.fixture
def journal(path, clock, now):
    j = Journal(path, reactor=clock, now=now)
    yield j
    j.close()


# -- ingest ------------------------------------------------------------------------------------


def test_record_event_stores_event_and_planned_legs_with_stable_references(journal):
    event, body = make_event("evt_a")
    result = journal.record_event(event, body, two_legs(), source="payments")

    assert result.status is IngestStatus.ACCEPTED
    assert result.event_status is EventStatus.ACCEPTED
    assert [(leg.leg_index, leg.state, leg.reference) for leg in result.legs] == [
        (0, LegState.PLANNED, "evt_a/0"),
        (1, LegState.PLANNED, "evt_a/1"),
    ]
    assert result.legs[1].plan == two_legs()[1]
    assert result.legs[0].confirmation_number == "123456"
    assert result.legs[0].created_at == T0
    record = journal.event("evt_a")
    assert record.source == "payments"
    assert record.body == body
    assert record.legs == result.legs


def test_exact_repeat_is_a_duplicate_and_stores_nothing_new(journal):
    event, body = make_event("evt_a")
    first = journal.record_event(event, body, deposit_legs())
    again = journal.record_event(event, body, deposit_legs())

    assert again.status is IngestStatus.DUPLICATE
    assert again.legs == first.legs
    assert len(journal.legs()) == 1


def test_same_id_with_a_different_body_is_a_conflict_and_keeps_the_original(journal):
    event, body = make_event("evt_a", amount=5000)
    journal.record_event(event, body, deposit_legs(5000))
    changed_event, changed_body = make_event("evt_a", amount=9999)

    result = journal.record_event(changed_event, changed_body, deposit_legs(9999))

    assert result.status is IngestStatus.CONFLICT
    assert result.legs == ()
    assert journal.event("evt_a").body == body
    assert [leg.plan.amount for leg in journal.legs()] == [5000]


def test_no_post_event_is_recorded_with_its_reason_and_no_legs(journal):
    event, body = make_event("evt_p", type=EventType.PAYMENT_PENDING)
    plan = Plan("not_posted", reason="payment.pending: not captured")
    result = journal.record_event(event, body, plan)

    assert result.status is IngestStatus.ACCEPTED
    assert result.event_status is EventStatus.NO_POST
    assert result.outcome == "payment.pending: not captured"
    assert journal.event("evt_p").legs == ()


def test_by_hand_legs_go_straight_to_the_exception_queue_and_cannot_be_retried(journal):
    event, body = make_event("evt_r")
    plan = Plan(
        "exception", reason="post by hand: negative amounts", by_hand=tuple(deposit_legs(-5000))
    )
    result = journal.record_event(event, body, plan)

    assert result.event_status is EventStatus.EXCEPTION
    (leg,) = journal.exceptions()
    assert (leg.state, leg.reason, leg.plan.amount) == (
        LegState.REJECTED,
        "post by hand: negative amounts",
        -5000,
    )
    assert journal.is_by_hand(leg.leg_id)
    assert journal.pending_legs("GRAND-LONDON") == []
    with pytest.raises(ByHand):
        journal.retry(leg.leg_id, "alice", "try anyway")
    assert journal.resolve(leg.leg_id, "alice", "posted -50.00 by hand").state is LegState.RESOLVED


def test_a_post_by_hand_event_is_one_item_in_the_queue_closed_with_its_last_leg(journal):
    """The queue lists the legs to post by hand, not the event beside them (one thing to do,
    once); resolving the last of them resolves the event, journaled with the note."""
    event, body = make_event("evt_r")
    plan = Plan("exception", reason="post by hand: negative amounts", by_hand=tuple(two_legs()))
    journal.record_event(event, body, plan)
    first, second = journal.exceptions()
    assert journal.exception_events() == []
    journal.resolve(first.leg_id, "alice", "posted the massage by hand")
    assert journal.event("evt_r").status is EventStatus.EXCEPTION  # one leg still open
    journal.resolve(second.leg_id, "alice", "posted the redemption by hand")
    assert journal.event("evt_r").status is EventStatus.RESOLVED
    last = journal.history(event_id="evt_r")[-1]
    assert (last.leg_id, last.actor, last.action, last.note) == (
        None, "alice", "resolve",
        "its legs to post by hand are resolved: posted the redemption by hand",
    )  # fmt: skip
    assert journal.exceptions() == [] and journal.exception_events() == []


def test_resolving_a_post_by_hand_event_resolves_its_open_legs_with_it(journal):
    event, body = make_event("evt_r")
    plan = Plan("exception", reason="post by hand: negative amounts", by_hand=tuple(two_legs()))
    journal.record_event(event, body, plan)
    first, _ = journal.exceptions()
    journal.resolve(first.leg_id, "alice", "posted the massage by hand")
    journal.resolve_event("evt_r", "bob", "posted the rest by hand")
    assert [leg.state for leg in journal.event("evt_r").legs] == [LegState.RESOLVED] * 2
    assert journal.legs()[1].notes[-1].endswith("bob resolve: posted the rest by hand")
    assert journal.exceptions() == []


def test_the_plan_target_is_kept_with_the_event(journal):
    event, body = make_event("evt_ar")
    journal.record_event(event, body, Plan(legs=tuple(deposit_legs()), target="account"))
    assert journal.event("evt_ar").target == "account"
    assert not journal.is_by_hand(journal.legs()[0].leg_id)


def test_event_level_exception_without_legs_is_listed_and_resolvable(journal):
    event, body = make_event("evt_x")
    journal.record_event(event, body, Plan("exception", reason="refund_of evt_zz: unknown"))

    assert [e.event_id for e in journal.exception_events()] == ["evt_x"]
    record = journal.resolve_event("evt_x", "alice", "refunded by hand at the desk")
    assert record.status is EventStatus.RESOLVED
    assert journal.exception_events() == []
    assert journal.history(event_id="evt_x")[-1].actor == "alice"


def test_card_numbers_are_stripped_from_the_stored_body(journal):
    event, _ = make_event("evt_c")
    body = json.dumps(
        {
            "event_id": "evt_c",
            "payment": {"card_number": "4242 4242 4242 4242", "card_last4": "424242"},
            "card": {"number": "4111111111111111", "type": "VISA"},
            "note": "paid with 4111-1111-1111-1111",
            "booking": {"confirmation_number": "1234567890123"},
        }
    ).encode()
    journal.record_event(event, body, deposit_legs())

    stored = journal.event("evt_c").body
    assert b"4242 4242" not in stored and b"4111111111111111" not in stored
    assert json.loads(stored) == {
        "event_id": "evt_c",
        "payment": {"card_last4": "4242"},
        "card": {"type": "VISA"},
        "note": "paid with ************1111",
        # 13 digits that fail the Luhn check are an ordinary number, kept as sent.
        "booking": {"confirmation_number": "1234567890123"},
    }


def test_body_without_card_data_is_stored_byte_for_byte():
    body = b'{"b":1,"a":"x"}'
    assert strip_card_data(body) is body


_KEYS = st.sampled_from([
    "amount", "card", "Card", "card_last4", "last4", "number", "card_number", "Card-Number",
    "PAN", "pan", "cvv", "CVC2", "track2", "Track Data", "company", "japan", "note", "k",
    "trac\u212a", "Trac\u212a2", "numéro",
])  # fmt: skip
_TEXTS = st.one_of(
    st.text(alphabet="0123456789 -abcKé\u212a", max_size=24),
    st.sampled_from(["4111111111111111", "4111-1111-1111-1111", "4242 4242 4242 4242",
                     "1234567890123", "pancake", "spa deposit"]),
)  # fmt: skip
_VALUES = st.recursive(
    st.one_of(_TEXTS, st.integers(-(10**16), 10**16), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(obj=st.dictionaries(_KEYS, _VALUES, max_size=5), ascii_only=st.booleans())
@example(obj={"card": {"k": 1, "number": "x"}}, ascii_only=True)  # number under a card
@example(obj={"trac\u212a": "x"}, ascii_only=False)  # KELVIN SIGN lower-cases to "k"
@example(obj={"trac\u212a": "x"}, ascii_only=True)
@example(obj={"note": "4111 1111 1111 1111"}, ascii_only=True)
@example(obj={"Card-Number": 4111111111111111}, ascii_only=True)
def test_the_quick_check_never_lets_card_data_through(obj, ascii_only):
    """strip_card_data answers most bodies without parsing them (no card word, no long digit
    run): whatever it answers must be what the full look (parse, drop, mask) gives."""
    body = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only).encode()
    full = _strip_card_data(json.loads(body))
    expected = body if full == json.loads(body) else json.dumps(
        full, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert strip_card_data(body) == expected


# -- group commit ------------------------------------------------------------------------------


def test_submissions_of_one_turn_commit_in_one_transaction_and_fire_after_commit(
    journal, clock, path
):
    statements: list[str] = []
    journal._db.set_trace_callback(statements.append)
    observer = sqlite3.connect(path)
    seen_at_fire: dict[str, int] = {}

    def visible(result):
        (count,) = observer.execute("SELECT COUNT(*) FROM events").fetchone()
        seen_at_fire[result.event_id] = count
        return result

    deferreds = []
    for n in range(3):
        event, body = make_event(f"evt_{n}", conf=f"10{n}")
        deferreds.append(journal.submit_event(event, body, deposit_legs()).addCallback(visible))
    results = []
    for d in deferreds:
        d.addCallback(results.append)

    assert results == []  # nothing acknowledged before the flush
    assert observer.execute("SELECT COUNT(*) FROM events").fetchone() == (0,)

    clock.advance(0)

    assert [r.status for r in results] == [IngestStatus.ACCEPTED] * 3
    assert seen_at_fire == {"evt_0": 3, "evt_1": 3, "evt_2": 3}  # committed before any fired
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    observer.close()


def test_a_repeat_inside_one_batch_is_a_duplicate_of_the_first(journal, clock):
    event, body = make_event("evt_same")
    changed, changed_body = make_event("evt_same", amount=1)
    outcomes = []
    for e, b in ((event, body), (event, body), (changed, changed_body)):
        journal.submit_event(e, b, deposit_legs()).addCallback(lambda r: outcomes.append(r.status))
    clock.advance(0)
    assert outcomes == [IngestStatus.ACCEPTED, IngestStatus.DUPLICATE, IngestStatus.CONFLICT]


def test_a_failing_submission_fails_alone(journal, clock):
    good, good_body = make_event("evt_good")
    bad = PaymentEvent("evt_bad", EventType.PAYMENT_SUCCEEDED, "GRAND-LONDON", T0)  # no booking
    ok, failures = [], []
    journal.submit_event(good, good_body, deposit_legs()).addCallback(ok.append)
    journal.submit_event(bad, b"{}", deposit_legs()).addErrback(failures.append)
    clock.advance(0)

    assert [r.event_id for r in ok] == ["evt_good"]
    assert failures[0].check(ValueError)
    assert journal.event("evt_bad") is None


def test_submit_after_close_fails_instead_of_acknowledging(path, clock, now):
    j = Journal(path, reactor=clock, now=now)
    j.close()
    event, body = make_event()
    failures = []
    j.submit_event(event, body, deposit_legs()).addErrback(failures.append)
    assert failures[0].check(JournalError)


def test_close_commits_queued_submissions(path, clock, now):
    j = Journal(path, reactor=clock, now=now)
    event, body = make_event("evt_q")
    results = []
    j.submit_event(event, body, deposit_legs()).addCallback(results.append)
    j.close()
    assert [r.status for r in results] == [IngestStatus.ACCEPTED]
    j2 = Journal(path, reactor=clock, now=now)
    assert j2.event("evt_q") is not None
    j2.close()


# -- leg states --------------------------------------------------------------------------------

#: DESIGN section 5, written out independently of the journal's own table.
LEGAL = {
    ("planned", "waiting"),
    ("planned", "sent"),
    ("planned", "rejected"),
    ("waiting", "waiting"),
    ("waiting", "sent"),
    ("waiting", "rejected"),
    ("sent", "posted"),
    ("sent", "rejected"),
    ("sent", "unknown"),
    ("sent", "waiting"),
    ("rejected", "planned"),
    ("rejected", "resolved"),
    ("unknown", "planned"),
    ("unknown", "resolved"),
}

MOVES = {
    "planned": lambda j, leg_id: j.retry(leg_id, "op", "again"),
    "waiting": lambda j, leg_id: j.mark_waiting(leg_id, "guest not in house"),
    "sent": lambda j, leg_id: j.mark_sent(leg_id, 7),
    "posted": lambda j, leg_id: j.mark_posted(leg_id, "OK"),
    "rejected": lambda j, leg_id: j.mark_rejected(leg_id, "NG", "no such guest"),
    "unknown": lambda j, leg_id: j.mark_unknown(leg_id, "no answer in 60 s"),
    "resolved": lambda j, leg_id: j.resolve(leg_id, "op", "done by hand"),
}


@pytest.mark.parametrize("source", [s.value for s in LegState])
def test_only_design_transitions_are_allowed(journal, source):
    """Every (from, to) pair: legal edges move the leg, the rest raise IllegalTransition."""
    for n, target in enumerate(MOVES):
        event, body = make_event(f"evt_{source}_{target}", conf=str(n))
        (leg,) = journal.record_event(event, body, deposit_legs()).legs
        journal._db.execute("UPDATE legs SET state = ? WHERE leg_id = ?", (source, leg.leg_id))
        if (source, target) in LEGAL:
            assert MOVES[target](journal, leg.leg_id).state == LegState(target)
        else:
            with pytest.raises(IllegalTransition):
                MOVES[target](journal, leg.leg_id)
            assert journal.leg(leg.leg_id).state == LegState(source)


def test_a_normal_posting_walks_planned_waiting_sent_posted(journal, now):
    event, body = make_event()
    (leg,) = journal.record_event(event, body, deposit_legs()).legs
    later = T0 + dt.timedelta(minutes=5)

    waiting = journal.mark_waiting(leg.leg_id, "guest not in house", not_before=later)
    assert (waiting.state, waiting.reason, waiting.not_before) == (
        LegState.WAITING,
        "guest not in house",
        later,
    )
    now.advance(60)
    sent = journal.mark_sent(leg.leg_id, 41)
    assert (sent.state, sent.posting_number, sent.attempts, sent.reason, sent.not_before) == (
        LegState.SENT,
        41,
        1,
        None,
        None,
    )
    posted = journal.mark_posted(leg.leg_id, "OK")
    assert (posted.state, posted.answer_status, posted.updated_at) == (
        LegState.POSTED,
        "OK",
        T0 + dt.timedelta(seconds=60),
    )
    assert [(a.from_state, a.to_state, a.actor) for a in journal.history(leg_id=leg.leg_id)] == [
        (None, "planned", "gateway"),
        ("planned", "waiting", "gateway"),
        ("waiting", "sent", "gateway"),
        ("sent", "posted", "gateway"),
    ]


def test_retry_and_resolve_are_journaled_with_operator_and_note(journal, now):
    event, body = make_event()
    (leg,) = journal.record_event(event, body, deposit_legs()).legs
    journal.mark_sent(leg.leg_id, 1)
    rejected = journal.mark_rejected(leg.leg_id, "NG", "Guest not found")
    assert (rejected.state, rejected.answer_status, rejected.reason) == (
        LegState.REJECTED,
        "NG",
        "Guest not found",
    )

    retried = journal.retry(leg.leg_id, "alice", "room corrected in PMS")
    assert (retried.state, retried.reason, retried.attempts) == (LegState.PLANNED, None, 1)
    journal.mark_sent(leg.leg_id, 2)
    journal.mark_unknown(leg.leg_id, "no answer within 60 s")
    resolved = journal.resolve(leg.leg_id, "bob", "checked folio: posted once")

    assert resolved.state is LegState.RESOLVED
    assert resolved.attempts == 2
    assert resolved.notes == (
        f"{T0.isoformat(timespec='microseconds')} alice retry: room corrected in PMS",
        f"{T0.isoformat(timespec='microseconds')} bob resolve: checked folio: posted once",
    )
    operator_actions = [
        (a.actor, a.action, a.from_state, a.to_state, a.note)
        for a in journal.history(leg_id=leg.leg_id)
        if a.actor != "gateway"
    ]
    assert operator_actions == [
        ("alice", "retry", "rejected", "planned", "room corrected in PMS"),
        ("bob", "resolve", "unknown", "resolved", "checked folio: posted once"),
    ]


def test_resolve_needs_an_operator_and_a_note(journal):
    event, body = make_event()
    (leg,) = journal.record_event(event, body, deposit_legs()).legs
    journal.mark_rejected(leg.leg_id, "UR", "unknown reservation")
    with pytest.raises(ValueError):
        journal.resolve(leg.leg_id, "alice", "  ")
    with pytest.raises(ValueError):
        journal.retry(leg.leg_id, "", "note")
    assert journal.leg(leg.leg_id).state is LegState.REJECTED


def test_unknown_leg_id_raises(journal):
    with pytest.raises(UnknownLeg):
        journal.mark_sent(999, 1)
    with pytest.raises(UnknownLeg):
        journal.leg(999)


def test_pending_legs_are_per_property_in_arrival_order(journal):
    for event_id, prop, legs in (
        ("evt_1", "GRAND-LONDON", two_legs()),
        ("evt_2", "OTHER", deposit_legs()),
        ("evt_3", "GRAND-LONDON", deposit_legs()),
    ):
        event, body = make_event(event_id, property=prop)
        journal.record_event(event, body, legs)
    first = journal.legs(property="GRAND-LONDON")[0]
    journal.mark_sent(first.leg_id, 1)

    assert [leg.reference for leg in journal.pending_legs("GRAND-LONDON")] == [
        "evt_1/1",
        "evt_3/0",
    ]
    assert [leg.reference for leg in journal.legs(state="sent")] == ["evt_1/0"]
    assert [leg.reference for leg in journal.legs(state=["planned"], property="OTHER")] == [
        "evt_2/0"
    ]


def test_retried_leg_keeps_its_place_in_arrival_order(journal):
    for event_id in ("evt_1", "evt_2"):
        event, body = make_event(event_id)
        journal.record_event(event, body, deposit_legs())
    first = journal.legs()[0]
    journal.mark_rejected(first.leg_id, "NG", "no")
    journal.retry(first.leg_id, "alice", "fixed")
    assert [leg.event_id for leg in journal.pending_legs("GRAND-LONDON")] == ["evt_1", "evt_2"]


# -- P# ----------------------------------------------------------------------------------------


def test_posting_numbers_are_committed_before_returning_and_never_reused(path, clock, now):
    j = Journal(path, reactor=clock, now=now, posting_number_block=1)
    assert [j.next_posting_number("GRAND-LONDON") for _ in range(3)] == [1, 2, 3]
    assert j.next_posting_number("OTHER") == 1
    # Another connection sees the number as soon as it is returned: it is on disk.
    with sqlite3.connect(path) as other:
        assert other.execute(
            "SELECT last FROM posting_numbers WHERE property = 'GRAND-LONDON'"
        ).fetchone() == (3,)
    j.close()

    reopened = Journal(path, reactor=clock, now=now, posting_number_block=1)
    assert reopened.next_posting_number("GRAND-LONDON") == 4
    reopened.close()


def test_posting_numbers_are_reserved_in_blocks_and_a_restart_skips_the_rest(path, clock, now):
    """One commit reserves a block; numbers come from memory; a restart never reuses one."""
    j = Journal(path, reactor=clock, now=now, posting_number_block=4)
    assert [j.next_posting_number("GRAND-LONDON") for _ in range(5)] == [1, 2, 3, 4, 5]
    with sqlite3.connect(path) as other:  # the high-water mark on disk covers every number
        assert other.execute(
            "SELECT last FROM posting_numbers WHERE property = 'GRAND-LONDON'"
        ).fetchone() == (8,)
    j.close()

    reopened = Journal(path, reactor=clock, now=now, posting_number_block=4)
    assert [reopened.next_posting_number("GRAND-LONDON") for _ in range(2)] == [9, 10]
    reopened.close()


def test_posting_number_wraps_from_99999999_to_1(journal):
    journal._db.execute(
        "INSERT INTO posting_numbers (property, last) VALUES ('P', ?)",
        (MAX_POSTING_NUMBER - 1,),
    )
    # the block is cut at the maximum; the next block starts again at 1
    assert [journal.next_posting_number("P") for _ in range(3)] == [MAX_POSTING_NUMBER, 1, 2]


# -- crash safety ------------------------------------------------------------------------------


def test_reopen_turns_legs_in_flight_into_unknown_never_resent(path, clock, now):
    j = Journal(path, reactor=clock, now=now)
    event, body = make_event()
    legs = j.record_event(event, body, two_legs()).legs
    j.mark_sent(legs[0].leg_id, 17)
    j.close()

    reopened = Journal(path, reactor=clock, now=now)
    leg = reopened.leg(legs[0].leg_id)
    assert (leg.state, leg.reason, leg.posting_number) == (
        LegState.UNKNOWN,
        IN_FLIGHT_AT_RESTART,
        17,
    )
    assert reopened.recovered == (legs[0].leg_id,)
    assert [x.reference for x in reopened.exceptions()] == ["evt_1/0"]
    assert [x.reference for x in reopened.pending_legs("GRAND-LONDON")] == ["evt_1/1"]
    reopened.close()


def test_tools_can_open_without_recovering(path, clock, now):
    j = Journal(path, reactor=clock, now=now)
    event, body = make_event()
    (leg,) = j.record_event(event, body, deposit_legs()).legs
    j.mark_sent(leg.leg_id, 3)

    beside = Journal(path, reactor=clock, now=now, recover=False)
    assert beside.leg(leg.leg_id).state is LegState.SENT
    beside.close()
    j.close()


def test_killed_process_loses_nothing_committed_and_in_flight_leg_becomes_unknown(path):
    """A real process records, takes a P#, marks a leg sent and is SIGKILLed (no close)."""
    script = textwrap.dedent(
        f"""
        import json, os, signal, datetime as dt
        from adapters.domain import *
        from adapters.journal import Journal
        j = Journal({path!r})
        for n in range(2):
            event = PaymentEvent(f"evt_{{n}}", EventType.PAYMENT_SUCCEEDED, "GRAND-LONDON",
                                 dt.datetime.now(dt.UTC), booking=Booking("123"))
            j.record_event(event, json.dumps({{"n": n}}).encode(),
                           [PlannedLeg(0, "SPA", "OJ", 100, "GBP")])
        p = j.next_posting_number("GRAND-LONDON")
        j.mark_sent(1, p)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()

    j = Journal(path, reactor=task.Clock())
    assert [(leg.event_id, leg.state) for leg in j.legs()] == [
        ("evt_0", LegState.UNKNOWN),
        ("evt_1", LegState.PLANNED),
    ]
    # the killed process had reserved a whole block: its unused numbers are skipped
    assert j.next_posting_number("GRAND-LONDON") == 65
    j.close()


# -- storage mode, migrations ------------------------------------------------------------------


def test_file_is_in_wal_mode_with_full_sync(journal, path):
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert journal._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert journal.schema_version() == SCHEMA_VERSION


def test_a_reservations_events_are_found_by_index_also_in_a_migrated_file(path, clock, now):
    """Version 7 keeps the confirmation number an event named (filled in for older events
    from their bodies) and indexes it and the legs': looking a reservation up reads no other
    event's body, however long the journal."""
    j = Journal(path, reactor=clock, now=now)
    event, body = make_event("evt_old", conf="777001")
    j.record_event(event, body, Plan("exception", reason="no legs planned"))
    j.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE events SET confirmation_number = NULL")  # as before version 7
    conn.execute("UPDATE schema_version SET version = 6")
    conn.execute("DROP INDEX events_by_confirmation")
    conn.execute("DROP INDEX legs_by_confirmation")
    conn.execute("ALTER TABLE events DROP COLUMN confirmation_number")
    conn.close()

    j = Journal(path, reactor=clock, now=now)
    try:
        event, body = make_event("evt_new", conf="777001")
        j.record_event(event, body, deposit_legs())
        other, body = make_event("evt_other", conf="123456")
        j.record_event(other, body, deposit_legs())
        statements: list[str] = []
        j._db.set_trace_callback(statements.append)
        found = j.events_for_confirmation("777001")
        j._db.set_trace_callback(None)
        assert [e.event_id for e in found] == ["evt_old", "evt_new"]
        (lookup,) = [sql for sql in statements if "777001" in sql]
        plan = " ".join(row[-1] for row in j._db.execute("EXPLAIN QUERY PLAN " + lookup))
        assert "legs_by_confirmation" in plan and "events_by_confirmation" in plan, plan
    finally:
        j.close()


def test_a_version_1_file_is_migrated_and_its_data_kept(path, clock, now):
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.execute(
        "INSERT INTO events (event_id, arrival, property, type, body, received_at, status)"
        " VALUES ('evt_old', 1, 'GRAND-LONDON', 'payment.succeeded', X'7B7D', ?, 'accepted')",
        (T0.isoformat(),),
    )
    conn.execute(
        "INSERT INTO legs (event_id, leg_index, arrival, property, confirmation_number,"
        " transaction_code, payment_type, amount, currency, needs_in_house, state, reference,"
        " created_at, updated_at) VALUES ('evt_old', 0, 1, 'GRAND-LONDON', '123', 'SPA', 'OJ',"
        " 5000, 'GBP', 1, 'rejected', 'evt_old/0', ?, ?)",
        (T0.isoformat(), T0.isoformat()),
    )
    assert (
        conn.execute(
            "SELECT name FROM sqlite_master WHERE name IN ('history', 'balances')"
        ).fetchall()
        == []
    )
    conn.close()

    j = Journal(path, reactor=clock, now=now)
    assert j.schema_version() == SCHEMA_VERSION == len(MIGRATIONS) == 7
    (leg,) = j.legs()
    assert (leg.reference, leg.state, leg.plan.amount) == ("evt_old/0", LegState.REJECTED, 5000)
    j.resolve(leg.leg_id, "alice", "posted by hand")  # v2's history table works
    assert j.history(leg_id=leg.leg_id)[-1].actor == "alice"
    j.record_balance("evt_old", 0, "GBP", leg_id=leg.leg_id)
    assert [b.balance for b in j.event("evt_old").balances] == [0]
    j.close()


def test_a_file_from_a_newer_foliogate_is_refused(path):
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(JournalError, match="newer"):
        Journal(path, reactor=task.Clock())


def test_a_failing_migration_leaves_the_file_at_the_previous_version(path, monkeypatch):
    import adapters.journal as journal_module

    monkeypatch.setattr(
        journal_module, "MIGRATIONS", (*MIGRATIONS, "CREATE TABLE events (x INTEGER)")
    )
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(JournalError, match=f"version {SCHEMA_VERSION + 1}"):
        journal_module.migrate(conn, target=SCHEMA_VERSION + 1)
    assert journal_module.schema_version(conn) == SCHEMA_VERSION
    conn.close()


# -- wire log, balances ------------------------------------------------------------------------


def test_wire_log_is_written_with_the_next_commit_masked_and_keyed_by_leg(journal, clock):
    event, body = make_event()
    (leg,) = journal.record_event(event, body, deposit_legs()).legs
    journal.log_wire("out", "fias", b"\x02PR|P#1|TA5000|XX4111111111111111|\x03", leg_id=leg.leg_id)
    journal.log_wire("in", "fias", b"\x02PA|P#1|ASOK|\x03", property="GRAND-LONDON")
    clock.advance(0)

    records = journal.wire_log()
    assert [(r.direction, r.protocol, r.leg_id, r.raw) for r in records] == [
        ("out", "fias", leg.leg_id, b"\x02PR|P#1|TA5000|XX************1111|\x03"),
        ("in", "fias", None, b"\x02PA|P#1|ASOK|\x03"),
    ]
    assert [r.id for r in journal.wire_log(leg_id=leg.leg_id)] == [records[0].id]


def test_wire_rows_ride_along_with_a_synchronous_commit(journal, path):
    event, body = make_event()
    (leg,) = journal.record_event(event, body, deposit_legs()).legs
    journal.log_wire("out", "fias", b"PR|P#9|", leg_id=leg.leg_id)
    journal.mark_sent(leg.leg_id, 9)  # no clock advance: the row commits with this transition
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT raw FROM wire_log").fetchall() == [(b"PR|P#9|",)]


def test_mask_wire_masks_long_digit_runs_but_keeps_short_fields():
    assert mask_wire(b"TA123456789012|G#123456") == b"TA123456789012|G#123456"
    assert mask_wire(b"1234567890123") == b"*********0123"
    assert mask_wire(b"12345678901234567890123") == b"*" * 19 + b"0123"


def test_balances_are_recorded_per_event(journal):
    event, body = make_event()
    (leg,) = journal.record_event(event, body, deposit_legs()).legs
    journal.record_balance("evt_1", -5000, "GBP", leg_id=leg.leg_id, confirmation_number="123456")
    (balance,) = journal.event("evt_1").balances
    assert (balance.balance, balance.currency, balance.leg_id, balance.recorded_at) == (
        -5000,
        "GBP",
        leg.leg_id,
        T0,
    )


def test_wire_rows_survive_a_transition_that_is_refused(journal, clock):
    event, body = make_event()
    (leg,) = journal.record_event(event, body, deposit_legs()).legs
    journal.log_wire("in", "fias", b"PA|P#3|ASOK|", leg_id=leg.leg_id)
    with pytest.raises(IllegalTransition):
        journal.mark_posted(leg.leg_id, "OK")  # planned -> posted is not an edge
    clock.advance(0)
    assert [r.raw for r in journal.wire_log(leg_id=leg.leg_id)] == [b"PA|P#3|ASOK|"]


def test_in_house_guests_survive_a_reopen_and_an_incomplete_list_reads_as_unknown(path, clock, now):
    """A restarted gateway knows its guests without a resync; a list never completed is None."""
    j = Journal(path, reactor=clock, now=now)
    assert j.guests("GRAND-LONDON") is None
    j.set_guest("GRAND-LONDON", 123456, "101")
    j.set_guest("GRAND-LONDON", 200101, "201")
    j.set_guest("GRAND-LONDON", 200101, "202")  # a room move
    j.set_guest("GRAND-LONDON", 123456, None)  # checked out
    assert j.guests("GRAND-LONDON") is None  # not complete until a resync ended
    j.mark_guest_list_complete("GRAND-LONDON")
    j.close()
    j = Journal(path, reactor=clock, now=now)
    assert j.guests("GRAND-LONDON") == {200101: "202"}
    assert j.guests("OTHER") is None
    j.close()


def test_a_checked_out_guest_is_remembered_until_a_new_check_in(path, clock, now):
    """GO leaves a departure (so late payments go to the exception queue at once); GI clears it."""
    j = Journal(path, reactor=clock, now=now)
    assert j.departed_at("GRAND-LONDON", 123456) is None
    j.set_guest("GRAND-LONDON", 123456, "101")
    j.set_guest("GRAND-LONDON", 123456, None, departed_from="101")
    assert j.departed_at("GRAND-LONDON", 123456) == now()
    assert j.departed_at("OTHER", 123456) is None
    j.close()
    j = Journal(path, reactor=clock, now=now)  # it survives a restart
    assert j.departed_at("GRAND-LONDON", 123456) == now()
    j.set_guest("GRAND-LONDON", 123456, "102")  # checked in again
    assert j.departed_at("GRAND-LONDON", 123456) is None
    j.close()
