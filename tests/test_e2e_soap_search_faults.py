"""Issue 5 section 7: the SOAP candidate search (opera-htng ``SearchReservations``, rezlynx
``SearchBookings``) when the PMS refuses it or cannot answer it now, end to end over real
loopback HTTP.

- **Refused** (the PMS turns the credentials down: opera-htng a Sender fault on the search,
  rezlynx a fault on ``LogIn``): ``SearchRefused`` is recorded, the event stays in the
  exception queue without candidates for an operator to assign by hand, and the reason is
  visible in ``GET /v1/events/{id}``.
- **Postponed** (HTTP 500, or the connection dropped with no answer, the simulator's
  ``http_500_count`` and ``drop_requests`` knobs): the match stays pending and the search is
  tried again on a later pass, which then yields the ranked candidates.
- rezlynx **session expiry** under a search (``expire_sessions``): 7007, ``LogIn`` again, the
  same search once more, candidates.

The stack is the one of ``test_e2e_soap.py`` (demo hotel, ``examples/gateway-soap.toml``, a real
SQLite journal in ``tmp_path``); the demo hotel has "Doe, Jane" in 123456 (room 101).
"""

from __future__ import annotations

import e2e_helpers
import pytest
import pytest_twisted
from e2e_helpers import api
from lxml import etree
from test_e2e_soap import PROPERTIES, configured, set_faults
from test_e2e_soap_matching import SEARCHES, blank_payment
from twisted.internet.defer import inlineCallbacks

from adapters.cli.stack import EXAMPLE_SOAP_CONFIG, Stack
from adapters.gateway import Gateway
from adapters.journal import MatchStatus
from protocols.soap import parse_envelope, parse_xml

PROFILES = list(SEARCHES)  # opera-htng, rezlynx: the profiles with a search operation
#: Where the example configuration reads the SOAP password from.
PASSWORD_ENV = "FOLIOGATE_DEMO_SOAP_PASSWORD"
CANDIDATES = [(1, "123456", "Doe, Jane", 85, "101")]


@pytest.fixture(autouse=True)
def quick_rescan(monkeypatch):
    """The later pass of a postponed search comes from the gateway's journal rescan (every
    5 s, which wakes each dispatcher); 0.2 s here, so the tests do not wait for it."""
    monkeypatch.setattr(Gateway, "rescan_interval", 0.2)


@inlineCallbacks
def start_stack(tmp_path, profile, environ=None):
    from twisted.internet import reactor

    stack = Stack(
        reactor,
        tmp_path,
        config_path=EXAMPLE_SOAP_CONFIG,
        soap_profiles=[profile],
        configure=configured(),
        gateway_options={"jitter": lambda: 0.0, "backoff": e2e_helpers.BACKOFF},
        environ=environ,
    )
    yield stack.start()
    return stack


def operations(stack, profile, direction="out"):
    """The operation of every message of the property in the wire log, in order."""
    names = []
    for w in stack.journal.wire_log(property=PROPERTIES[profile]):
        if w.direction == direction:
            names.append(etree.QName(parse_envelope(parse_xml(w.raw)).payload).localname)
    return names


def searches(stack, profile):
    request = SEARCHES[profile][0]
    wire = stack.journal.wire_log(property=PROPERTIES[profile])
    return [w for w in wire if w.direction == "out" and request in w.raw]


@inlineCallbacks
def shown_candidates(stack, event_id):
    code, shown = yield api(stack, "GET", f"/v1/events/{event_id}")
    assert code == 200, shown
    got = [(c["rank"], c["confirmation_number"], c["guest_name"], c["score"], c["room"])
           for c in shown["candidates"]]  # fmt: skip
    return shown, got


REFUSALS = {
    "opera-htng": (
        "the PMS search by 'Doe' failed (the opera-htng PMS refused SearchReservations: SOAP "
        "fault Sender: authentication failed: unknown user name or wrong password); assign the "
        "record by hand"
    ),
    "rezlynx": (
        "the PMS search by 'Doe' failed (the rezlynx PMS refused LogIn (SOAP fault Sender: "
        "authentication failed: unknown operator or wrong password)); assign the record by hand"
    ),
}


@pytest.mark.parametrize("profile", PROFILES)
@pytest_twisted.inlineCallbacks
def test_a_refused_search_is_recorded_and_the_event_waits_for_assignment_by_hand(tmp_path, profile):
    """The PMS refuses the gateway's credentials: the search is not retried, the match is
    recorded as searched with no candidates and the refusal as its note (GET
    /v1/events/{id}), and the event stays in the exception queue, nothing posted."""
    stack = yield start_stack(tmp_path, profile, environ={PASSWORD_ENV: "not-the-password"})
    try:
        code, answer = yield stack.post_event(blank_payment(profile, "evt_ref", 12000, "Jane Doe"))
        assert code == 202, answer
        assert (answer["event_status"], answer["legs"]) == ("exception", [])
        yield stack.wait_for(
            lambda: stack.journal.match("evt_ref").status is MatchStatus.SEARCHED,
            "the refused search to be recorded",
        )
        shown, got = yield shown_candidates(stack, "evt_ref")
        assert (shown["status"], shown["legs"], got) == ("exception", [], [])
        assert shown["match"]["status"] == "searched"
        assert shown["match"]["search_note"] == REFUSALS[profile]
        # Refused once, for good: the first term's search (or its LogIn) went out, nothing else.
        first = "SearchReservationsRequest" if profile == "opera-htng" else "LogIn"
        assert operations(stack, profile) == [first]
        # Another pass (a new event wakes the dispatcher) does not search again.
        yield stack.post_event(e2e_helpers.payment_event(PROPERTIES[profile], "evt_x", "", 1))
        yield stack.wait_for(
            lambda: stack.journal.match("evt_x").status is MatchStatus.SEARCHED, "evt_x"
        )
        assert stack.journal.match("evt_ref").search_note == REFUSALS[profile]
    finally:
        yield stack.stop()


@pytest.mark.parametrize("knob", ["http_500_count", "drop_requests"])
@pytest.mark.parametrize("profile", PROFILES)
@pytest_twisted.inlineCallbacks
def test_a_search_the_pms_cannot_answer_now_is_tried_again_later_and_yields_candidates(
    tmp_path, profile, knob
):
    """The first request of the search (opera-htng: SearchReservations; rezlynx: the LogIn
    before it) is answered HTTP 500 or dropped: the match stays pending, no candidates are
    invented, and a later pass, with nothing else happening, searches again and journals the
    ranked candidates (the gateway's journal rescan wakes the dispatcher for it)."""
    stack = yield start_stack(tmp_path, profile)
    try:
        yield set_faults(stack, **{knob: 1})
        code, answer = yield stack.post_event(blank_payment(profile, "evt_pp", 12000, "Jane Doe"))
        assert code == 202, answer
        yield stack.wait_for(
            lambda: stack.journal.match("evt_pp").status is MatchStatus.SEARCHED,
            "the postponed search to be tried again",
        )
        shown, got = yield shown_candidates(stack, "evt_pp")
        assert got == CANDIDATES
        assert shown["match"]["search_note"] == (
            "searched the PMS by name for 'Doe', 'Jane': 1 candidate(s)"
        )
        outs = operations(stack, profile)
        if profile == "opera-htng":  # the refused try, then both terms
            assert outs == ["SearchReservationsRequest"] * 3
        else:  # the LogIn that failed, a new LogIn, then both terms
            assert outs == ["LogIn", "LogIn", "SearchBookings", "SearchBookings"]
        assert len(searches(stack, profile)) == (3 if profile == "opera-htng" else 2)
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_rezlynx_session_expiry_under_a_search_logs_in_again_and_yields_candidates(tmp_path):
    stack = yield start_stack(tmp_path, "rezlynx")
    try:
        yield e2e_helpers.accept(
            stack, e2e_helpers.payment_event(PROPERTIES["rezlynx"], "evt_in", "123456", 1000)
        )
        yield stack.wait_for_legs("evt_in", {"posted"})
        yield set_faults(stack, expire_sessions=True)
        code, answer = yield stack.post_event(
            blank_payment("rezlynx", "evt_exp", 12000, "Jane Doe")
        )
        assert code == 202, answer
        yield stack.wait_for(
            lambda: stack.journal.match("evt_exp").status is MatchStatus.SEARCHED, "the search"
        )
        shown, got = yield shown_candidates(stack, "evt_exp")
        assert got == CANDIDATES
        outs = operations(stack, "rezlynx")
        i = outs.index("SearchBookings")
        assert outs[i:] == ["SearchBookings", "LogIn", "SearchBookings", "SearchBookings"]
        answers = [w.raw for w in stack.journal.wire_log(property=PROPERTIES["rezlynx"])
                   if w.direction == "in" and b"SearchBookingsResponse" in w.raw]  # fmt: skip
        assert b"<ExceptionCode>7007</ExceptionCode>" in answers[0]
    finally:
        yield stack.stop()
