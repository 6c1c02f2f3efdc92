"""``Journal.iter_pending_legs``: the dispatcher's lazy read of the legs it may send.

It must yield exactly what ``pending_legs`` lists (planned and waiting legs of the property,
in arrival order, the two states merged), whatever the size of its first read (the dispatcher
asks for as many legs as it wants, one for a refill, then twice as many each time), and leave
out the reservations it is told to skip. Real SQLite file in ``tmp_path``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.domain import (
    Booking,
    EventType,
    Payment,
    PaymentEvent,
    PaymentKind,
    PlannedLeg,
)
from adapters.journal import IllegalTransition, Journal

T0 = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
PROPERTY = "GRAND-LONDON"


def record(journal: Journal, n: int, conf: str, legs: int = 1, prop: str = PROPERTY) -> list[int]:
    event = PaymentEvent(
        event_id=f"evt_{n}",
        type=EventType.PAYMENT_SUCCEEDED,
        property=prop,
        occurred_at=T0,
        payment=Payment(PaymentKind.BALANCE, 100, "GBP", f"pi_{n}", "onejourney", "paid"),
        booking=Booking(conf),
    )
    planned = [PlannedLeg(i, None, "ONEJOURNEY", 100 + i, "GBP") for i in range(legs)]
    result = journal.record_event(event, f'{{"n":{n}}}'.encode(), planned)
    return [leg.leg_id for leg in result.legs]


@pytest.fixture
def journal(tmp_path):
    j = Journal(str(tmp_path / "journal.sqlite"), now=lambda: T0)
    yield j
    j.close()


@pytest.fixture
def backlog(journal):
    """Twenty legs of five reservations (and one of another property); some posted, some
    waiting, the rest planned."""
    ids = []
    for n in range(20):
        ids += record(journal, n, str(100 + n % 5), legs=1 + n % 2)
    record(journal, 99, "100", prop="OTHER-HOTEL")
    for leg_id in ids[:6]:
        journal.mark_sent(leg_id, leg_id)
        journal.mark_posted(leg_id, "OK")
    for leg_id in ids[6::4]:
        journal.mark_waiting(leg_id, "night audit")
    return ids


@pytest.mark.parametrize("batch", [1, 2, 4, 256])
def test_every_pending_leg_in_arrival_order_whatever_the_first_read(journal, backlog, batch):
    expected = [leg.leg_id for leg in journal.pending_legs(PROPERTY)]
    assert len(expected) == len(backlog) - 6
    got = [leg.leg_id for leg in journal.iter_pending_legs(PROPERTY, batch=batch)]
    assert got == expected
    states = {leg.state.value for leg in journal.iter_pending_legs(PROPERTY, batch=batch)}
    assert states == {"planned", "waiting"}


@pytest.mark.parametrize("batch", [1, 3])
def test_skipped_reservations_are_left_out(journal, backlog, batch):
    skip = {"101", "103"}
    expected = [
        leg.leg_id for leg in journal.pending_legs(PROPERTY) if leg.confirmation_number not in skip
    ]
    got = [leg.leg_id for leg in journal.iter_pending_legs(PROPERTY, batch=batch, exclude=skip)]
    assert got == expected and got


def test_a_lazy_read_stops_after_the_first_batch_when_the_first_leg_is_taken(journal, backlog):
    reads: list[str] = []
    journal._db.set_trace_callback(
        lambda sql: reads.append(sql) if sql.lstrip().startswith("SELECT") else None
    )
    first = next(iter(journal.iter_pending_legs(PROPERTY, batch=1)))
    assert first.leg_id == journal.pending_legs(PROPERTY)[0].leg_id
    assert len([sql for sql in reads if "UNION ALL" in sql]) == 1


def test_counts_of_some_states_match_the_full_count_and_read_only_their_legs(journal, backlog):
    """``/healthz`` counts only the legs at work: the same numbers as the full count for those
    states, read through the state index (the posted legs of the journal's history are not
    read at all)."""
    every = journal.counts()
    assert every["posted"] == 6
    statements: list[str] = []
    journal._db.set_trace_callback(statements.append)
    at_work = journal.counts(("planned", "waiting", "sent", "rejected", "unknown"))
    journal._db.set_trace_callback(None)
    assert at_work == {s: n for s, n in every.items() if s in ("planned", "waiting")}
    (sql,) = [s for s in statements if "COUNT" in s]
    plan = journal._db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
    assert [row[-1] for row in plan] == ["SEARCH legs USING COVERING INDEX legs_by_state (state=?)"]


def test_holding_many_legs_writes_what_holding_them_one_by_one_writes(tmp_path):
    """``mark_waiting_many`` (a night audit holding every new leg) leaves the same legs and
    history as ``mark_waiting`` leg by leg; a leg that cannot be held (already posted) fails
    the whole call and nothing of it is written."""

    def hold(name: str, many: bool) -> tuple[list, list]:
        journal = Journal(str(tmp_path / name), now=lambda: T0)
        ids = [record(journal, n, str(100 + n))[0] for n in range(4)]
        journal.mark_waiting(ids[1], "link down")
        if many:
            assert journal.mark_waiting_many(ids, "night audit") == 4
        else:
            for leg_id in ids:
                journal.mark_waiting(leg_id, "night audit")
        legs = [(leg.state, leg.reason, leg.not_before, leg.attempts) for leg in journal.legs()]
        history = [
            (h.leg_id, h.from_state, h.to_state, h.action, h.note, h.time)
            for n in range(4)
            for h in journal.history(event_id=f"evt_{n}")
        ]
        journal.close()
        return legs, history

    assert hold("many.sqlite", True) == hold("one.sqlite", False)

    journal = Journal(str(tmp_path / "refused.sqlite"), now=lambda: T0)
    ids = [record(journal, n, str(100 + n))[0] for n in range(3)]
    journal.mark_sent(ids[2], 7)
    journal.mark_posted(ids[2], "OK")
    with pytest.raises(IllegalTransition):
        journal.mark_waiting_many(ids, "night audit")
    assert [leg.state.value for leg in journal.legs()] == ["planned", "planned", "posted"]
    journal.close()
