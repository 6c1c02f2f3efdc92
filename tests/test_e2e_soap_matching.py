"""Issue 5 section 1 over SOAP, end to end on real loopback HTTP: a payment without a
confirmation number on an opera-htng or rezlynx property gets ranked candidates from the PMS's
own reservation search (``SearchReservations`` / ``SearchBookings``, a guest name prefix), an
operator assigns one through the API, and the leg posts to that folio.

The stack (SOAP simulator with the demo hotel, the gateway configured by
``examples/gateway-soap.toml``, a real SQLite journal in ``tmp_path``) is started as in
``test_e2e_soap.py``.
"""

from __future__ import annotations

import e2e_helpers
import pytest
import pytest_twisted
from e2e_helpers import api, assign_and_post
from test_e2e_soap import PROPERTIES, start_stack

from adapters.journal import MatchStatus

#: The search request and answer elements of each profile.
SEARCHES = {
    "opera-htng": (b"SearchReservationsRequest", b"SearchReservationsResponse"),
    "rezlynx": (b"SearchBookings>", b"SearchBookingsResponse"),
}


def blank_payment(profile: str, event_id: str, amount: int, guest_name: str) -> dict:
    event = e2e_helpers.payment_event(PROPERTIES[profile], event_id, "", amount)
    event["booking"]["guest_name"] = guest_name
    return event


@pytest.mark.parametrize("profile", list(SEARCHES))
@pytest_twisted.inlineCallbacks
def test_a_blank_confirmation_number_on_a_soap_property_gets_pms_search_candidates_and_posts_once_assigned(  # noqa: E501
    tmp_path, profile
):
    """The gateway searches the SOAP PMS by the guest's name (surname, then first name; each
    search in the wire log), journals the ranked candidates the PMS returned (shown by
    GET /v1/events/{id}) instead of guessing, and the leg posts to the folio the operator
    assigns."""
    stack = yield start_stack(tmp_path, profile)
    try:
        yield stack.control("POST", "/reservations", {
            "confirmation_number": "600001", "guest_name": "Doe, John",
            "arrival": "2026-11-28", "departure": "2026-11-30",
        })  # fmt: skip
        yield stack.control("POST", "/reservations/600001/check-in", {"room": "202"})
        code, answer = yield stack.post_event(blank_payment(profile, "evt_blank", 12000,
                                                            "Jane Doe"))  # fmt: skip
        assert code == 202, answer
        assert (answer["event_status"], answer["legs"]) == ("exception", [])
        yield stack.wait_for(
            lambda: stack.journal.match("evt_blank").status is MatchStatus.SEARCHED,
            "the candidate search",
        )
        request, response = SEARCHES[profile]
        wire = stack.journal.wire_log(property=PROPERTIES[profile])
        searches = [w.raw for w in wire if w.direction == "out" and request in w.raw]
        assert [s.split(b"GuestName>")[1].split(b"<")[0] for s in searches] == [b"Doe", b"Jane"]
        assert len([w for w in wire if w.direction == "in" and response in w.raw]) == 2
        code, shown = yield api(stack, "GET", "/v1/events/evt_blank")
        assert code == 200 and shown["status"] == "exception"
        got = [(c["rank"], c["confirmation_number"], c["guest_name"], c["score"], c["room"])
               for c in shown["candidates"]]  # fmt: skip
        assert got == [
            (1, "123456", "Doe, Jane", 85, "101"),
            (2, "600001", "Doe, John", 65, "202"),
        ]
        assert shown["match"]["search_note"] == (
            "searched the PMS by name for 'Doe', 'Jane': 2 candidate(s)"
        )

        lines = yield assign_and_post(stack, "evt_blank", "123456")
        assert lines == [(-12000, "ONEJOURNEY")]
    finally:
        yield stack.stop()
