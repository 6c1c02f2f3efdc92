"""End to end over loopback: a backlog of legs for several reservations drains through the
pipelined FIAS link (the gateway's default: several legs in flight, inquiries overlapping).

Same stack as tests/test_e2e_fias.py (simulator with the demo hotel, gateway, real SQLite
journal, signed HTTP events). The events arrive during a night audit, so they all wait; on NE
the dispatcher hands the link several legs at once. What this protects, read from the wire log
in the order the gateway wrote and read the frames, and from the simulator's ledger:

- inquiries of different reservations overlap the postings on the wire (the pipeline is used);
- with ``postings_in_flight = 1`` postings never overlap: a posting PR goes out only after the
  PA of the one before it; with 4 (examples/gateway.toml) no more than 4 await their PA at
  once, and never two of one reservation;
- every payment is booked exactly once, and each reservation's payments are booked in the
  order they arrived (their P#s rise in arrival order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import e2e_helpers
import pytest
import pytest_twisted
from e2e_helpers import accept
from test_e2e_fias import (
    DONE,
    PROPERTY,
    folio,
    payment_event,
    posting_number_of,
    runtime,
    short_timeouts,
)

from adapters.config import GatewayConfig
from adapters.domain import LegState

#: The demo hotel's in-house guests that take postings: room 101 and two sharers in 201.
GUESTS = ("123456", "200101", "200102")
EVENTS = 15


def p_number(frame: bytes) -> int:
    return int(frame.split(b"|P#", 1)[1].split(b"|", 1)[0])


def with_lanes(lanes: int) -> Callable[[GatewayConfig], GatewayConfig]:
    def configure(config: GatewayConfig) -> GatewayConfig:
        config = short_timeouts(config)
        prop = config.properties[PROPERTY]
        assert prop.fias is not None
        fias = dataclasses.replace(prop.fias, postings_in_flight=lanes)
        properties = {**config.properties, PROPERTY: dataclasses.replace(prop, fias=fias)}
        return dataclasses.replace(config, properties=properties)

    return configure


@pytest.mark.parametrize("lanes", [1, 4])
@pytest_twisted.inlineCallbacks
def test_a_backlog_drains_with_overlapping_inquiries_and_at_most_the_lanes_postings_in_order(
    tmp_path, lanes
):
    stack = yield e2e_helpers.start_fias_stack(tmp_path, PROPERTY, with_lanes(lanes))
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
        open_postings: dict[int, bytes] = {}  # P# -> the guest (G#) of each unanswered posting
        outstanding: set[int] = set()  # P#s of every PR (inquiry or posting) not yet answered
        most_outstanding = 0
        for direction, raw in frames:
            if direction == "out" and raw.startswith(b"PR|"):
                outstanding.add(p_number(raw))
                most_outstanding = max(most_outstanding, len(outstanding))
            else:
                outstanding.discard(p_number(raw))
            if direction == "out" and raw.startswith(b"PR|") and b"|TA" in raw:
                guest = raw.split(b"|G#", 1)[1].split(b"|", 1)[0]
                assert guest not in open_postings.values(), f"two postings of guest {guest!r}"
                open_postings[p_number(raw)] = guest
                assert len(open_postings) <= lanes, f"{sorted(open_postings)} await their PA"
            elif direction == "in" and raw.startswith(b"PA|"):
                open_postings.pop(p_number(raw), None)
        assert open_postings == {} and outstanding == set()
        assert most_outstanding > 1  # requests overlapped: the pipeline was used

        for guest in GUESTS:
            lines = (yield folio(stack, guest))["lines"]
            assert [-line["amount"] for line in lines] == amounts[guest]
            numbers = [posting_number_of(line) for line in lines]
            assert numbers == sorted(numbers)
    finally:
        yield stack.stop()
