"""The journal's shared commits (adapters/journal.py): grouped ``sent`` marks and balances that
ride along with the next commit.

Real SQLite files in ``tmp_path``; a second connection plays "what is on disk"; the flush
timer runs on a ``task.Clock``. What these tests protect (DESIGN section 5):

- a leg queued with ``submit_sent`` is on disk as ``sent`` BEFORE its Deferred fires (the
  posting may only be written then), and marks queued together share one COMMIT;
- a mark that cannot be made (an illegal transition) fails alone; one that rides along with
  another caller's failing transaction is kept and committed next, never lost;
- ``posted`` is still committed by ``mark_posted`` itself, and takes the queued marks along;
- ``submit_posted`` (the dispatcher's way) queues the mark: answers that arrive together share
  one commit with the next legs' ``sent`` marks (alone, they wait ``POSTED_FLUSH_DELAY`` at
  most), ``all_legs_posted`` counts a queued mark at once, the mark keeps the time of the
  answer, and a gateway that dies before the commit leaves the leg ``sent`` (recovered as
  ``unknown``, never re-sent);
- a balance queued with ``queue_balance`` costs no commit of its own, is read back through
  ``balances()`` at once, and is on disk after the next commit.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
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
    POSTED_FLUSH_DELAY,
    WIRE_FLUSH_DELAY,
    IllegalTransition,
    Journal,
    JournalError,
)

T0 = dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC)


@pytest.fixture
def rig(tmp_path):
    clock = task.Clock()
    path = str(tmp_path / "journal.sqlite")
    journal = Journal(path, reactor=clock, now=lambda: T0)
    commits: list[str] = []
    journal._db.set_trace_callback(
        lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
    )
    disk = sqlite3.connect(path)
    yield journal, clock, commits, disk
    disk.close()
    journal.close()


def record(journal: Journal, n: int) -> int:
    """Event ``evt_n`` with one planned leg; returns the leg id."""
    event = PaymentEvent(
        event_id=f"evt_{n}",
        type=EventType.PAYMENT_SUCCEEDED,
        property="GRAND-LONDON",
        occurred_at=T0,
        payment=Payment(PaymentKind.BALANCE, 100, "GBP", f"pi_{n}", "onejourney", "paid"),
        booking=Booking(str(100000 + n)),
    )
    result = journal.record_event(
        event, f'{{"n":{n}}}'.encode(), [PlannedLeg(0, None, "ONEJOURNEY", -100, "GBP")]
    )
    return result.legs[0].leg_id


def on_disk(disk: sqlite3.Connection, leg_id: int) -> str:
    return disk.execute("SELECT state FROM legs WHERE leg_id = ?", (leg_id,)).fetchone()[0]


def test_sent_marks_queued_together_share_one_commit_and_fire_only_once_on_disk(rig):
    journal, clock, commits, disk = rig
    legs = [record(journal, n) for n in range(3)]
    seen: list[tuple[int, str]] = []
    for leg_id in legs:
        journal.submit_sent(leg_id, 1000 + leg_id).addCallback(
            lambda _, leg_id=leg_id: seen.append((leg_id, on_disk(disk, leg_id)))
        )
    assert seen == [] and [on_disk(disk, leg_id) for leg_id in legs] == ["planned"] * 3
    before = len(commits)
    journal.commit_sent()
    assert len(commits) - before == 1
    assert seen == [(leg_id, "sent") for leg_id in legs]
    assert [journal.leg(leg_id).posting_number for leg_id in legs] == [
        1000 + leg_id for leg_id in legs
    ]
    assert [journal.leg(leg_id).attempts for leg_id in legs] == [1, 1, 1]


def test_a_queued_mark_commits_in_the_next_reactor_turn_if_nothing_else_commits(rig):
    journal, clock, commits, disk = rig
    leg_id = record(journal, 1)
    fired: list[str] = []
    journal.submit_sent(leg_id).addCallback(lambda _: fired.append(on_disk(disk, leg_id)))
    clock.advance(0)
    assert fired == ["sent"]


def test_mark_posted_commits_itself_and_takes_queued_marks_along(rig):
    """The answer of one leg and the ``sent`` mark of the next, ready at that moment, share
    the commit that ``mark_posted`` makes before it returns."""
    journal, clock, commits, disk = rig
    first, second = record(journal, 1), record(journal, 2)
    journal.mark_sent(first, 1)
    fired: list[str] = []
    journal.submit_sent(second, 2).addCallback(lambda _: fired.append(on_disk(disk, second)))
    before = len(commits)
    journal.mark_posted(first, "OK")
    assert len(commits) - before == 1
    assert (on_disk(disk, first), on_disk(disk, second)) == ("posted", "sent")
    assert fired == ["sent"]


def test_an_illegal_mark_fails_alone_and_the_others_commit(rig):
    journal, clock, commits, disk = rig
    good, bad = record(journal, 1), record(journal, 2)
    journal.mark_sent(bad, 7)
    journal.mark_posted(bad, "OK")  # posted: it can never be sent again
    results: dict[int, object] = {}
    for leg_id in (good, bad):
        journal.submit_sent(leg_id).addBoth(lambda r, leg_id=leg_id: results.update({leg_id: r}))
    journal.commit_sent()
    assert results[good] is None and on_disk(disk, good) == "sent"
    assert results[bad].check(IllegalTransition)  # type: ignore[attr-defined]
    assert on_disk(disk, bad) == "posted"


def test_a_mark_riding_with_a_failing_transaction_is_kept_and_committed_next(rig):
    """Another caller's transition fails and rolls back: the mark that rode along is not
    lost and not fired; it commits with the next flush."""
    journal, clock, commits, disk = rig
    leg_id, other = record(journal, 1), record(journal, 2)
    fired: list[str] = []
    journal.submit_sent(leg_id).addCallback(lambda _: fired.append(on_disk(disk, leg_id)))
    with pytest.raises(IllegalTransition):
        journal.mark_posted(other, "OK")  # planned -> posted is not an edge
    assert fired == [] and on_disk(disk, leg_id) == "planned"
    clock.advance(0)
    assert fired == ["sent"]


def test_a_queued_balance_costs_no_commit_and_is_read_back_and_then_on_disk(rig):
    journal, clock, commits, disk = rig
    record(journal, 1)
    before = len(commits)
    journal.queue_balance("evt_1", "GRAND-LONDON", -100, "GBP", leg_id=1,
                          confirmation_number="100001")  # fmt: skip
    assert len(commits) == before
    assert disk.execute("SELECT COUNT(*) FROM balances").fetchone() == (0,)
    clock.advance(WIRE_FLUSH_DELAY)
    assert len(commits) == before + 1
    assert disk.execute("SELECT event_id, balance FROM balances").fetchall() == [("evt_1", -100)]
    journal.queue_balance("evt_1", "GRAND-LONDON", -50, "GBP")
    assert [(b.balance, b.currency) for b in journal.balances("evt_1")] == [
        (-100, "GBP"),
        (-50, "GBP"),
    ]
    assert journal.event("evt_1").balances[-1].balance == -50  # type: ignore[union-attr]


def test_a_mark_for_a_closed_journal_fails_at_once(rig):
    journal, clock, commits, disk = rig
    leg_id = record(journal, 1)
    journal.close()
    failures: list[object] = []
    journal.submit_sent(leg_id).addErrback(failures.append)
    assert len(failures) == 1
    assert on_disk(disk, leg_id) == LegState.PLANNED.value


class FailingCommit:
    """The journal's connection, except that the next COMMIT fails (a disk error)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.fail_next = True

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if self.fail_next and sql.strip().upper() == "COMMIT":
            self.fail_next = False
            raise sqlite3.OperationalError("disk I/O error")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)


def test_a_failed_commit_fails_the_marks_riding_with_it_and_leaves_no_transaction_open(rig):
    """Nothing of a failed COMMIT is on disk: the caller sees the error, the legs it would have
    marked sent must not be written (their Deferreds fail), and the next transaction works."""
    journal, clock, commits, disk = rig
    answered, riding, later = record(journal, 1), record(journal, 2), record(journal, 3)
    journal.mark_sent(answered, 1)
    real = journal._conn
    journal._conn = FailingCommit(real)  # type: ignore[assignment]
    results: list[object] = []
    journal.submit_sent(riding).addBoth(results.append)
    with pytest.raises(sqlite3.OperationalError):
        journal.mark_posted(answered, "OK")
    assert len(results) == 1 and results[0].check(JournalError)  # type: ignore[attr-defined]
    assert not real.in_transaction
    assert (on_disk(disk, answered), on_disk(disk, riding)) == ("sent", "planned")
    journal._conn = real
    journal.mark_sent(later, 9)
    assert on_disk(disk, later) == "sent"


def test_posted_marks_queue_share_one_commit_and_count_at_once(rig):
    journal, clock, commits, disk = rig
    first, second, third = record(journal, 1), record(journal, 2), record(journal, 3)
    journal.mark_sent(first, 1)
    journal.mark_sent(second, 2)
    before = len(commits)
    journal.submit_posted(first, "OK")
    journal.submit_posted(second, "OK", "posted late in the day")
    fired: list[str] = []
    journal.submit_sent(third, 3).addCallback(lambda _: fired.append(on_disk(disk, third)))
    assert len(commits) == before  # nothing committed yet
    assert on_disk(disk, first) == "sent"
    assert journal.all_legs_posted("evt_1") and journal.all_legs_posted("evt_2")
    assert not journal.all_legs_posted("evt_3")
    clock.advance(0)
    assert len(commits) - before == 1  # two answers and the next sent mark: one fsync
    assert [on_disk(disk, leg) for leg in (first, second, third)] == ["posted", "posted", "sent"]
    assert fired == ["sent"]
    second_leg = journal.leg(second)
    assert (second_leg.answer_status, second_leg.reason) == ("OK", "posted late in the day")
    assert [a.action for a in journal.history(leg_id=second)][-1] == "posted"


def test_a_posted_mark_that_cannot_be_made_fails_alone(rig):
    journal, clock, commits, disk = rig
    good, resolved = record(journal, 1), record(journal, 2)
    journal.mark_sent(good, 1)
    journal.mark_sent(resolved, 2)
    journal.mark_unknown(resolved, "no PA in time")
    journal.resolve(resolved, "ops", "checked on the PMS")
    journal.submit_posted(resolved, "OK")  # a late answer to a leg an operator closed
    journal.submit_posted(good, "OK")
    clock.advance(0)
    assert on_disk(disk, good) == "sent"  # posted marks alone wait a little for company
    clock.advance(POSTED_FLUSH_DELAY)
    assert (on_disk(disk, good), on_disk(disk, resolved)) == ("posted", "resolved")


def test_a_gateway_that_dies_before_the_posted_commit_recovers_the_leg_as_unknown(tmp_path):
    path = str(tmp_path / "journal.sqlite")
    clock = task.Clock()
    journal = Journal(path, reactor=clock, now=lambda: T0)
    leg_id = record(journal, 1)
    journal.mark_sent(leg_id, 1)
    journal.submit_posted(leg_id, "OK")
    journal._db.close()  # killed: the queued mark never reaches the disk
    journal._conn = None
    again = Journal(path, reactor=task.Clock(), now=lambda: T0)
    try:
        assert again.recovered == (leg_id,)
        assert again.leg(leg_id).state is LegState.UNKNOWN
    finally:
        again.close()


def test_a_posted_mark_alone_commits_after_the_delay_with_the_time_of_the_answer(tmp_path):
    now = [T0]
    clock = task.Clock()
    path = str(tmp_path / "journal.sqlite")
    journal = Journal(path, reactor=clock, now=lambda: now[0])
    try:
        leg_id = record(journal, 1)
        journal.mark_sent(leg_id, 1)
        journal.submit_posted(leg_id, "OK")
        now[0] = T0 + dt.timedelta(seconds=5)  # the commit comes later than the answer
        clock.advance(POSTED_FLUSH_DELAY)
        (posted,) = [a for a in journal.history(leg_id=leg_id) if a.action == "posted"]
        assert posted.time == T0
        assert journal.leg(leg_id).state is LegState.POSTED
    finally:
        journal.close()


def test_grouped_marks_write_what_one_by_one_marks_write(tmp_path):
    """``sent`` and ``posted`` marks made in one commit leave the same legs and the same history
    as the same marks made one by one (``mark_sent``, ``mark_posted``), a leg marked twice in
    the batch included: its second mark is refused, as it would be one by one."""

    def journey(path: str, grouped: bool) -> tuple[list, list, list]:
        clock = task.Clock()
        journal = Journal(path, reactor=clock, now=lambda: T0)
        legs = [record(journal, n) for n in (1, 2, 3)]
        journal.mark_waiting(legs[1], "night audit")
        outcomes: list[object] = []
        if grouped:
            for n, leg_id in enumerate([*legs, legs[0]]):
                journal.submit_sent(leg_id, 500 + n).addBoth(outcomes.append)
            journal.commit_sent()
            for leg_id in legs[:2]:
                journal.submit_posted(leg_id, "OK", "booked")
            journal.flush()
        else:
            for n, leg_id in enumerate([*legs, legs[0]]):
                try:
                    journal.mark_sent(leg_id, 500 + n)
                    outcomes.append(None)
                except IllegalTransition as exc:
                    outcomes.append(exc)
            for leg_id in legs[:2]:
                journal.mark_posted(leg_id, "OK", "booked")
        rows = [
            (leg.state, leg.posting_number, leg.attempts, leg.answer_status, leg.reason)
            for leg in journal.legs()
        ]
        history = [
            (h.leg_id, h.from_state, h.to_state, h.action, h.note, h.time)
            for n in (1, 2, 3)
            for h in journal.history(event_id=f"evt_{n}")
        ]
        journal.close()
        kinds = [type(getattr(o, "value", o)).__name__ for o in outcomes]
        return rows, history, kinds

    grouped = journey(str(tmp_path / "grouped.sqlite"), grouped=True)
    single = journey(str(tmp_path / "single.sqlite"), grouped=False)
    assert grouped == single
    assert grouped[2] == ["NoneType", "NoneType", "NoneType", "IllegalTransition"]
    assert [row[0] for row in grouped[0]] == [LegState.POSTED, LegState.POSTED, LegState.SENT]
