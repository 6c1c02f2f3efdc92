"""The dispatcher with several legs in flight (adapters/dispatcher.py, ``max_in_flight``).

A fake channel stands in for the PMS: the test decides when and how each posting is answered,
so answers come back in any order. The journal is a real SQLite file in ``tmp_path`` driven by
a ``task.Clock``. What these tests protect (issue 3 section 4, DESIGN section 5):

- legs of different reservations overlap, up to ``max_in_flight``;
- a reservation never has two legs on their way, and its legs go out in arrival order even
  when other reservations' answers come first or one of its legs has to back off;
- the ``sent`` marks of legs handed over together are committed in ONE transaction, and no
  posting is written before its ``sent`` state is on disk (seen from another connection).
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from pathlib import Path

import pytest
from twisted.internet import task
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.error import ConnectionLost
from twisted.logger import LogLevel, globalLogPublisher

from adapters.config import load_config
from adapters.dispatcher import Backoff, Dispatcher, behind_earlier_leg
from adapters.domain import (
    Booking,
    EventType,
    Leg,
    LegState,
    Payment,
    PaymentEvent,
    PaymentKind,
    PlannedLeg,
)
from adapters.fias_postings import PostingOutcome, PostingResult
from adapters.journal import Journal

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gateway.toml"
PROPERTY = "GRAND-LONDON"
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


class FakeChannel:
    """A PostingChannel whose PMS answers only when the test says so.

    It writes a posting (``written``) only once the dispatcher's ``on_posting_written`` has
    fired, and records the leg's state as another connection sees it on disk at that moment.
    It fails the test at once if a reservation gets a second leg while one is on its way
    (posting or balance read-back)."""

    def __init__(self, path: str) -> None:
        self.dispatcher: Dispatcher | None = None
        self.disk = sqlite3.connect(path)
        self.written: list[str] = []
        self.state_on_disk_when_written: list[str] = []
        self.open: dict[str, tuple[Leg, Deferred[PostingOutcome]]] = {}
        self.balances: dict[str, tuple[Leg, Deferred[int | None]]] = {}
        self.busy: set[str] = set()
        self.most_in_flight = 0

    def hold_reason(self) -> str | None:
        return None

    def guest_in_house(self, confirmation_number: str) -> bool:
        return True

    def post(self, leg: Leg) -> Deferred[PostingOutcome]:
        conf = leg.confirmation_number
        assert conf not in self.busy, f"{leg.reference}: reservation {conf} already busy"
        self.busy.add(conf)
        outcome: Deferred[PostingOutcome] = Deferred()
        assert self.dispatcher is not None
        marked = maybeDeferred(self.dispatcher.on_posting_written, leg.reference, None)

        def write(_: object) -> None:
            (state,) = self.disk.execute(
                "SELECT state FROM legs WHERE leg_id = ?", (leg.leg_id,)
            ).fetchone()
            self.state_on_disk_when_written.append(state)
            self.written.append(leg.reference)
            self.open[leg.reference] = (leg, outcome)
            self.most_in_flight = max(self.most_in_flight, len(self.open))

        marked.addCallback(write)
        return outcome

    def folio_balance(self, leg: Leg, outcome: PostingOutcome) -> Deferred[int | None]:
        d: Deferred[int | None] = Deferred()
        self.balances[leg.reference] = (leg, d)
        return d

    def answer(self, reference: str, result: PostingResult = PostingResult.POSTED) -> None:
        """The PMS answers a posting; after a journey's last leg the dispatcher asks for the
        balance at once (the reservation stays busy until it is read)."""
        leg, outcome = self.open.pop(reference)
        outcome.callback(
            PostingOutcome(
                result=result, leg_reference=reference, answer_status="OK", reason="test"
            )
        )
        if reference not in self.balances:
            self.busy.discard(leg.confirmation_number)

    def fail_balance(self, reference: str) -> None:
        leg, d = self.balances.pop(reference)
        self.busy.discard(leg.confirmation_number)
        d.errback(ConnectionLost("link dropped during the balance inquiry"))

    def read_balance(self, reference: str, balance: int = 0) -> None:
        leg, d = self.balances.pop(reference)
        self.busy.discard(leg.confirmation_number)
        d.callback(balance)


class Rig:
    def __init__(self, tmp_path: Path, max_in_flight: int) -> None:
        self.clock = task.Clock()
        path = str(tmp_path / "journal.sqlite")
        self.journal = Journal(path, reactor=self.clock, now=self.now)
        self.commits = 0
        self.journal._db.set_trace_callback(self._trace)
        prop = load_config(EXAMPLE).properties[PROPERTY]
        self.channel = FakeChannel(path)
        self.dispatcher = Dispatcher(
            journal=self.journal,
            prop=prop,
            channel=self.channel,  # type: ignore[arg-type]
            clock=self.clock,
            now=self.now,
            jitter=lambda: 0.5,
            backoff=Backoff(initial=2.0, factor=2.0, cap=8.0, spread=0.0),
            max_in_flight=max_in_flight,
        )
        self.channel.dispatcher = self.dispatcher
        self.events = 0

    def now(self) -> dt.datetime:
        """The time the clock says (the journal and the dispatcher share it)."""
        return NOW + dt.timedelta(seconds=self.clock.seconds())

    def _trace(self, statement: str) -> None:
        if statement.strip().upper() == "COMMIT":
            self.commits += 1

    def event(self, confirmation_number: str, legs: int = 1) -> str:
        self.events += 1
        event_id = f"evt_{self.events:03d}"
        event = PaymentEvent(
            event_id=event_id,
            type=EventType.PAYMENT_SUCCEEDED,
            property=PROPERTY,
            occurred_at=NOW,
            payment=Payment(
                PaymentKind.BALANCE, 100 * legs, "GBP", f"pi_{event_id}", "onejourney", "paid"
            ),
            booking=Booking(confirmation_number),
        )
        planned = [PlannedLeg(i, None, "ONEJOURNEY", 100 + i, "GBP") for i in range(legs)]
        self.journal.record_event(event, f'{{"id":"{event_id}"}}'.encode(), planned)
        return event_id

    def run(self, seconds: float = 0.0) -> None:
        """Let the reactor turn (and time pass) until nothing more is due."""
        self.clock.advance(seconds)
        for _ in range(20):
            self.clock.advance(0)

    def state(self, reference: str) -> LegState:
        event_id, index = reference.rsplit("/", 1)
        record = self.journal.event(event_id)
        assert record is not None
        return record.legs[int(index)].state

    def close(self) -> None:
        self.dispatcher.stop()
        self.journal.close()
        self.channel.disk.close()


@pytest.fixture
def rig(tmp_path):
    made: list[Rig] = []

    def make(max_in_flight: int = 3) -> Rig:
        made.append(Rig(tmp_path, max_in_flight))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_legs_of_different_reservations_overlap_and_their_sent_marks_share_one_commit(rig):
    """Three reservations, three legs on their way at once; marked sent in ONE commit, and
    each posting written only once its leg is ``sent`` on disk (another connection sees it)."""
    r = rig(max_in_flight=3)
    for conf in ("111", "222", "333", "111"):
        r.event(conf)
    r.dispatcher.wake()
    before = r.commits
    r.run()
    assert r.channel.written == ["evt_001/0", "evt_002/0", "evt_003/0"]
    assert r.channel.state_on_disk_when_written == ["sent", "sent", "sent"]
    assert r.commits - before == 1
    assert r.dispatcher.in_flight == 3
    assert r.state("evt_004/0") is LegState.PLANNED  # behind evt_001/0, silently: it is next


def test_a_later_leg_of_a_reservation_waits_for_the_outcome_and_balance_of_the_earlier_one(rig):
    """Answers come back out of order; a reservation's next leg goes only after its earlier
    leg is journaled posted and (after a journey's last leg) its balance read back."""
    r = rig(max_in_flight=3)
    first = r.event("111", legs=2)  # two legs: the balance is read after the second
    r.event("222")
    r.event("111")
    r.dispatcher.wake()
    r.run()
    assert r.channel.written == [f"{first}/0", "evt_002/0"]  # evt_001/1 is behind evt_001/0

    r.channel.answer("evt_002/0")  # the later reservation's answer comes first
    r.run()
    assert r.channel.written == [f"{first}/0", "evt_002/0"]
    r.channel.read_balance("evt_002/0", -100)
    r.run()
    assert [b.balance for b in r.journal.balances("evt_002")] == [-100]

    r.channel.answer(f"{first}/0")
    r.run()
    assert r.channel.written[-1] == f"{first}/1"
    assert r.state(f"{first}/0") is LegState.POSTED
    r.channel.answer(f"{first}/1")
    r.run()
    assert r.channel.written[-1] == f"{first}/1"  # evt_003/0 waits for evt_001's balance
    r.channel.read_balance(f"{first}/1", -201)
    r.run()
    assert r.channel.written == [f"{first}/0", "evt_002/0", f"{first}/1", "evt_003/0"]
    assert r.channel.state_on_disk_when_written == ["sent"] * 4


@pytest.mark.parametrize("how", ["answer", "raise"])
def test_a_failed_balance_read_back_leaves_the_leg_posted_and_frees_its_reservation(
    rig, how, monkeypatch
):
    """The read-back after a journey fails (the PMS answers with an error, or the channel
    raises at once): the posting stands, nothing is kept as a balance, the failure is logged
    as a warning, and the reservation's next leg goes."""
    r = rig(max_in_flight=1)
    r.event("111")
    r.event("111")
    if how == "raise":

        def broken(leg: Leg, outcome: PostingOutcome) -> Deferred[int | None]:
            raise ConnectionLost("no link")

        monkeypatch.setattr(r.channel, "folio_balance", broken)
    logged: list[dict] = []
    globalLogPublisher.addObserver(logged.append)
    try:
        r.dispatcher.wake()
        r.run()
        r.channel.answer("evt_001/0")
        if how == "answer":
            r.channel.fail_balance("evt_001/0")
        r.run()
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert r.state("evt_001/0") is LegState.POSTED
    assert r.journal.balances("evt_001") == []
    assert r.channel.written == ["evt_001/0", "evt_002/0"]
    warnings = [e for e in logged if e.get("log_format", "").startswith("balance inquiry after")]
    assert [(e["event_id"], e["log_level"]) for e in warnings] == [("evt_001", LogLevel.warn)]
    assert ("dropped" if how == "answer" else "no link") in warnings[0]["error"]


def test_the_next_legs_sent_mark_shares_the_commit_of_the_answered_legs_outcome(rig):
    """One slot: when a posting is answered, the next leg (another reservation) takes the
    slot at once and is marked sent in the same commit as the answer is journaled posted;
    the answered leg's reservation stays held until its balance is read back."""
    r = rig(max_in_flight=1)
    r.event("111")
    r.event("222")
    r.event("111")
    r.dispatcher.wake()
    r.run()
    assert r.channel.written == ["evt_001/0"]
    before = r.commits
    r.channel.answer("evt_001/0")
    assert r.channel.written == ["evt_001/0"]  # the sent mark is not on disk yet
    r.clock.advance(0)  # the next reactor turn: one commit
    assert r.commits - before == 1  # posted evt_001/0 + sent evt_002/0
    assert r.channel.written == ["evt_001/0", "evt_002/0"]
    assert r.channel.state_on_disk_when_written == ["sent", "sent"]
    assert r.state("evt_001/0") is LegState.POSTED
    r.channel.answer("evt_002/0")
    r.run()
    assert r.channel.written == ["evt_001/0", "evt_002/0"]  # 111 waits for its balance
    r.channel.read_balance("evt_001/0")
    r.run()
    assert r.channel.written == ["evt_001/0", "evt_002/0", "evt_003/0"]


def test_a_leg_backing_off_holds_its_reservation_but_not_the_others(rig):
    """A retryable answer sends the leg waiting with a backoff: the next leg of its
    reservation waits behind it (with a reason), other reservations keep posting, and after
    the backoff the legs of the reservation post in arrival order."""
    r = rig(max_in_flight=2)
    r.event("111")
    r.event("111")
    r.event("222")
    r.event("222")
    r.dispatcher.wake()
    r.run()
    assert r.channel.written == ["evt_001/0", "evt_003/0"]
    r.channel.answer("evt_001/0", PostingResult.RETRYABLE)
    r.run()
    assert r.state("evt_001/0") is LegState.WAITING
    assert r.journal.leg(2).reason == behind_earlier_leg("111")  # evt_002/0
    r.channel.answer("evt_003/0")
    r.channel.read_balance("evt_003/0")
    r.run()
    assert r.channel.written == ["evt_001/0", "evt_003/0", "evt_004/0"]
    r.channel.answer("evt_004/0")
    r.channel.read_balance("evt_004/0")
    r.run(seconds=2.0)  # the backoff is over
    assert r.channel.written[-1] == "evt_001/0"
    r.channel.answer("evt_001/0")
    r.channel.read_balance("evt_001/0")
    r.run()
    assert r.channel.written[-1] == "evt_002/0"
    r.channel.answer("evt_002/0")
    r.channel.read_balance("evt_002/0")
    r.run()
    assert [r.state(f"evt_00{n}/0") for n in range(1, 5)] == [LegState.POSTED] * 4
    assert r.dispatcher.in_flight == 0


@pytest.mark.parametrize("seed", range(12))
def test_under_random_answer_orders_each_reservation_posts_in_arrival_order_exactly_once(rig, seed):
    """Many events over a few reservations, answered in a random (seeded) order with some
    retryable answers: never two legs of a reservation on their way (the fake channel checks,
    balance read-back included), never more than max_in_flight postings, every leg posted once,
    each reservation's legs posted in arrival order."""
    rng = random.Random(seed)
    r = rig(max_in_flight=4)
    reservations = ("111", "222", "333", "444", "555", "666")
    arrival: dict[str, list[str]] = {conf: [] for conf in reservations}
    for _ in range(40):
        conf = rng.choice(reservations)
        legs = rng.choice((1, 1, 2))
        event_id = r.event(conf, legs)
        arrival[conf] += [f"{event_id}/{i}" for i in range(legs)]
    r.dispatcher.wake()
    r.run()
    posted_order: dict[str, list[str]] = {conf: [] for conf in reservations}
    for _ in range(2000):
        if not r.channel.open and not r.channel.balances:
            if r.dispatcher.in_flight == 0 and not r.journal.pending_legs(PROPERTY):
                break
            r.run(seconds=10.0)  # backoffs run out
            continue
        choices = [("answer", ref) for ref in r.channel.open]
        choices += [("balance", ref) for ref in r.channel.balances]
        kind, ref = rng.choice(sorted(choices))
        if kind == "balance":
            r.channel.read_balance(ref)
        elif rng.random() < 0.15:
            r.channel.answer(ref, PostingResult.RETRYABLE)
        else:
            leg, _ = r.channel.open[ref]
            posted_order[leg.confirmation_number].append(ref)
            r.channel.answer(ref)
        assert len(r.channel.open) <= 4  # postings on their way (balance reads hold no slot)
        r.run()
    assert r.channel.most_in_flight > 1
    assert posted_order == arrival
    for refs in arrival.values():
        for ref in refs:
            assert r.state(ref) is LegState.POSTED


@pytest.mark.parametrize("answer", [PostingResult.REJECTED, PostingResult.UNKNOWN])
def test_a_journeys_later_leg_joins_its_rejected_or_unknown_leg_unsent(rig, answer):
    """A deposit's payment must not post without its charge: when an event's first leg ends
    rejected or unknown, its second leg goes to the exception queue unsent, naming the leg
    it waits for. Another event of the same reservation is not held by either."""
    r = rig(max_in_flight=1)
    journey = r.event("111", legs=2)
    other = r.event("111")
    r.dispatcher.wake()
    r.run()
    assert r.channel.written == [f"{journey}/0"]
    r.channel.answer(f"{journey}/0", answer)
    r.run()
    assert r.channel.written == [f"{journey}/0", f"{other}/0"]  # the journey's leg 1 is not
    first, second = r.journal.event(journey).legs
    assert first.state is {"rejected": LegState.REJECTED, "unknown": LegState.UNKNOWN}[
        answer.value
    ]
    assert (second.state, second.attempts) == (LegState.REJECTED, 0)
    assert second.reason == (
        f"not sent: leg {journey}/0 of the same journey is {first.state.value} ({first.reason});"
        " retry or resolve that leg first, then retry this one"
    )
