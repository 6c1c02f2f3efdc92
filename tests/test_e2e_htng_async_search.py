"""Issue 5 section 1 on the htng-async profile (Hotel Perfect), end to end on real loopback
HTTP: a payment without a confirmation number gets ranked candidates from the PMS's own
reservation search (``ReservationSearchRQ``, a guest name prefix, answered synchronously on
the HTTP back-channel), an operator assigns one through the API, and the leg posts to that
folio through the usual acknowledgement and result callback.

The stack (the htng-async simulator with the demo hotel, the gateway configured by
``examples/gateway-soap.toml``, a real SQLite journal in ``tmp_path``) is started as in
``test_e2e_soap.py``.
"""

from __future__ import annotations

import dataclasses

import e2e_helpers
import pytest_twisted
from e2e_helpers import api, assign_and_post
from test_e2e_soap import PROPERTIES, start_stack

from adapters.journal import MatchStatus

PROFILE = "htng-async"


@pytest_twisted.inlineCallbacks
def test_a_blank_confirmation_number_on_htng_async_gets_pms_search_candidates_and_posts_once_assigned(  # noqa: E501
    tmp_path,
):
    """The gateway searches the htng-async PMS by the guest's name (surname, then first name;
    each search and its in-band answer in the wire log, no callback), journals the ranked
    candidates (shown by GET /v1/events/{id}) with the folio balance the PMS reported, and the
    leg posts to the folio the operator assigns."""
    stack = yield start_stack(tmp_path, PROFILE)
    try:
        yield stack.control("POST", "/reservations", {
            "confirmation_number": "600001", "guest_name": "Doe, John",
            "arrival": "2026-11-28", "departure": "2026-11-30",
        })  # fmt: skip
        yield stack.control("POST", "/reservations/600001/check-in", {"room": "202"})
        # John owes exactly the payment: the amount counts for him, but the name still wins.
        yield stack.control("POST", "/reservations/600001/charges", {
            "code": "ROOM_CHARGE", "amount": 12000,
        })  # fmt: skip
        event = e2e_helpers.payment_event(PROPERTIES[PROFILE], "evt_blank", "", 12000)
        event["booking"]["guest_name"] = "Jane Doe"
        code, answer = yield stack.post_event(event)
        assert code == 202, answer
        assert (answer["event_status"], answer["legs"]) == ("exception", [])
        yield stack.wait_for(
            lambda: stack.journal.match("evt_blank").status is MatchStatus.SEARCHED,
            "the candidate search",
        )
        wire = stack.journal.wire_log(property=PROPERTIES[PROFILE])
        searches = [w.raw for w in wire if w.direction == "out" and b"ReservationSearchRQ" in w.raw]
        assert [s.split(b'GuestName="')[1].split(b'"')[0] for s in searches] == [b"Doe", b"Jane"]
        assert all(b"/addressing/anonymous</wsa:Address>" in s for s in searches)
        answers = [w for w in wire if w.direction == "in" and b"ReservationSearchRS" in w.raw]
        assert len(answers) == 2
        assert not any(b"ChargePostingResultRQ" in w.raw for w in wire)

        code, shown = yield api(stack, "GET", "/v1/events/evt_blank")
        assert code == 200 and shown["status"] == "exception"
        got = [
            (c["rank"], c["confirmation_number"], c["guest_name"], c["score"], c["room"],
             c["balance"])
            for c in shown["candidates"]
        ]  # fmt: skip
        assert got == [
            (1, "123456", "Doe, Jane", 85, "101", 0),
            (2, "600001", "Doe, John", 80, "202", 12000),
        ]
        assert any("open balance 120.00 GBP equals the payment" in reason
                   for reason in shown["candidates"][1]["reasons"])  # fmt: skip
        assert shown["match"]["search_note"] == (
            "searched the PMS by name for 'Doe', 'Jane': 2 candidate(s)"
        )

        lines = yield assign_and_post(stack, "evt_blank", "123456")
        assert lines == [(-12000, "ONEJOURNEY")]
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_a_search_the_htng_async_pms_refuses_is_recorded_for_the_operator(tmp_path):
    """A search the PMS refuses for good (here: a HotelCode that is not the PMS's, answered
    in-band with 1007) leaves the event in the exception queue with the PMS's reason, no
    candidates, and nothing posted."""
    stack = yield start_stack(tmp_path, PROFILE)
    try:
        sim = stack.sim.soap_resources[PROFILE]
        sim.access = dataclasses.replace(sim.access, hotel_code="ELSEWHERE")
        event = e2e_helpers.payment_event(PROPERTIES[PROFILE], "evt_refused", "", 12000)
        event["booking"]["guest_name"] = "Jane Doe"
        code, _ = yield stack.post_event(event)
        assert code == 202
        yield stack.wait_for(
            lambda: stack.journal.match("evt_refused").status is MatchStatus.SEARCHED,
            "the candidate search",
        )
        code, shown = yield api(stack, "GET", "/v1/events/evt_refused")
        assert (shown["status"], shown["candidates"], shown["legs"]) == ("exception", [], [])
        note = shown["match"]["search_note"]
        assert "the htng-async PMS answered ReservationSearch with 1007" in note, note
        assert "unknown HotelCode" in note, note
    finally:
        yield stack.stop()
