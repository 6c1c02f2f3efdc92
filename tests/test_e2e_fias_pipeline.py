"""End to end over loopback: a backlog of legs for several reservations drains through the
pipelined FIAS link (the gateway's default: several legs in flight, inquiries overlapping).

Same stack as tests/test_e2e_fias.py (simulator with the demo hotel, gateway, real SQLite
journal, signed HTTP events). The events arrive during a night audit, so they all wait; on NE
the dispatcher hands the link several legs at once. What this protects, read from the wire log
in the order the gateway wrote and read the frames, and from the simulator's ledger:

- inquiries of different reservations overlap the posting on the wire (the pipeline is used);
- postings never overlap: a posting PR goes out only after the PA of the one before it;
- every payment is booked exactly once, and each reservation's payments are booked in the
  order they arrived (their P#s rise in arrival order).
"""

from __future__ import annotations

import pytest_twisted
from e2e_helpers import accept
from test_e2e_fias import (
    DONE,
    PROPERTY,
    folio,
    payment_event,
    posting_number_of,
    runtime,
    start_stack,
)

from adapters.domain import LegState

#: The demo hotel's in-house guests that take postings: room 101 and two sharers in 201.
GUESTS = ("123456", "200101", "200102")
EVENTS = 15


def p_number(frame: bytes) -> int:
    return int(frame.split(b"|P#", 1)[1].split(b"|", 1)[0])


@pytest_twisted.inlineCallbacks
def test_a_backlog_drains_with_overlapping_inquiries_one_posting_at_a_time_in_order(tmp_path):
    stack = yield start_stack(tmp_path)
    try:
        link = runtime(stack).link
        yield stack.control("POST", "/night-audit/start")
        yield stack.wait_for(lambda: link.status.night_audit, "NS to reach the gateway")
        amounts: dict[str, list[int]] = {guest: [] for guest in GUESTS}
        for n in range(EVENTS):
            guest = GUESTS[n % len(GUESTS)]
            amount = 1000 + n
            amounts[guest].append(amount)
            yield accept(stack, payment_event(f"evt_pipe_{n:02d}", guest, amount))
        for n in range(EVENTS):
            yield stack.wait_for_legs(f"evt_pipe_{n:02d}", {"waiting"})
        yield stack.control("POST", "/night-audit/end")
        legs = []
        for n in range(EVENTS):
            (leg,) = yield stack.wait_for_legs(f"evt_pipe_{n:02d}", DONE)
            legs.append(leg)
        assert [(leg.state, leg.reason) for leg in legs] == [(LegState.POSTED, None)] * EVENTS

        frames = [
            (w.direction, w.raw)
            for w in stack.journal.wire_log(property=PROPERTY)
            if w.raw.startswith((b"PR|", b"PA|", b"PL|"))
        ]
        open_posting: int | None = None
        overlapped = 0
        for direction, raw in frames:
            if direction == "out" and raw.startswith(b"PR|") and b"|TA" in raw:
                assert open_posting is None, f"posting P#{p_number(raw)} while {open_posting} open"
                open_posting = p_number(raw)
            elif direction == "in" and raw.startswith(b"PA|") and p_number(raw) == open_posting:
                open_posting = None
            elif direction == "out" and raw.startswith(b"PR|") and open_posting is not None:
                overlapped += 1  # an inquiry written while a posting waits for its PA
        assert open_posting is None
        assert overlapped > 0

        for guest in GUESTS:
            lines = (yield folio(stack, guest))["lines"]
            assert [-line["amount"] for line in lines] == amounts[guest]
            numbers = [posting_number_of(line) for line in lines]
            assert numbers == sorted(numbers)
    finally:
        yield stack.stop()
