"""End to end over real loopback sockets and real HTTP: the gateway posts to the FIAS simulator.

Every test starts the PMS simulator (demo hotel) and the gateway with a real SQLite journal in
``tmp_path`` through :class:`adapters.cli.stack.Stack`, sends signed events through the HTTP API,
drives the hotel through the simulator's control API, and checks the outcome three ways: the leg
states and reasons in the journal, the frames in the wire log, and the folio lines in the
simulator's ledger (read back through the control API).

Timeouts are shortened through the configuration (``answer_timeout_seconds``) and the retry
backoff is injected small (``Backoff``, jitter 0), so no test waits for the production values.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import e2e_helpers
import pytest_twisted
import treq
from e2e_helpers import accept, api, line_view
from twisted.internet.defer import inlineCallbacks

from adapters.api import sign
from adapters.cli.stack import Stack
from adapters.config import GatewayConfig
from adapters.dispatcher import GUEST_NOT_IN_HOUSE, behind_earlier_leg
from adapters.domain import LegState

PROPERTY = "GRAND-LONDON"
#: Short enough to keep the suite fast, long enough for loopback round trips.
ANSWER_TIMEOUT = 2.0
#: Everyone the demo hotel has in house at start (G# -> room).
DEMO_IN_HOUSE = {123456: "101", 200101: "201", 200102: "201", 300001: "301"}
DONE = {"posted", "rejected", "unknown"}


# -- events -------------------------------------------------------------------------------------


#: payment_event(event_id, confirmation_number, amount, kind="balance") for GRAND-LONDON.
payment_event = functools.partial(e2e_helpers.payment_event, PROPERTY)


def redemption_event(event_id: str, confirmation_number: str, amount: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "deposit.redeemed",
        "property": PROPERTY,
        "occurred_at": "2026-12-01T09:30:00Z",
        "booking": {"confirmation_number": confirmation_number},
        "items": [{"code": "SPA_TREATMENT", "description": "Massage 60", "amount": amount}],
    }


# -- the stack ----------------------------------------------------------------------------------


def short_timeouts(config: GatewayConfig) -> GatewayConfig:
    properties = {
        name: dataclasses.replace(prop, answer_timeout_seconds=ANSWER_TIMEOUT)
        for name, prop in config.properties.items()
    }
    return dataclasses.replace(config, properties=properties)


def start_stack(workdir: Path) -> Any:
    """Simulator + gateway, with the link alive and the in-house list known."""
    return e2e_helpers.start_fias_stack(workdir, PROPERTY, short_timeouts)


def runtime(stack: Stack) -> Any:
    assert stack.gateway is not None
    return stack.gateway.properties[PROPERTY]


# -- reading the evidence -----------------------------------------------------------------------


def out_frames(stack: Stack, leg_id: int) -> list[bytes]:
    """The frames the gateway wrote for a leg, oldest first."""
    return [w.raw for w in stack.journal.wire_log(leg_id=leg_id) if w.direction == "out"]


def posting_prs(frames: Iterable[bytes]) -> list[bytes]:
    """The posting ``PR``s among the frames (an inquiry ``PR`` carries ``PI`` and no ``TA``)."""
    return [f for f in frames if f.startswith(b"PR|") and b"|TA" in f]


def inquiry_prs(frames: Iterable[bytes]) -> list[bytes]:
    return [f for f in frames if f.startswith(b"PR|") and b"|PI" in f]


def steps(stack: Stack, leg_id: int) -> list[tuple[str | None, str | None]]:
    """A leg's history as (to_state, note) pairs."""
    return [(a.to_state, a.note) for a in stack.journal.history(leg_id=leg_id)]


@inlineCallbacks
def folio(stack: Stack, confirmation_number: str) -> Any:
    return (yield stack.control("GET", f"/reservations/{confirmation_number}/folio"))


def posting_number_of(line: dict[str, Any]) -> int:
    """The P# of the PR that booked a folio line (the ledger names it in ``source``)."""
    source = line["source"]  # e.g. "FIAS PR P#2 WSFOLIOGATE"
    return int(source.split("P#", 1)[1].split()[0])


# -- the journeys -------------------------------------------------------------------------------


@pytest_twisted.inlineCallbacks
def test_spa_deposit_journey_posts_over_fias_and_leaves_a_balanced_folio(tmp_path):
    """DESIGN section 3, normal posting: a deposit paid before arrival waits, posts on GI; the
    redemption posts on departure; the folio balances to 0 with every invariant holding, and
    the journal keeps the balance the PMS reported (BA) after each journey."""
    stack = yield start_stack(tmp_path)
    try:
        (leg,) = yield accept(stack, payment_event("evt_deposit", "400001", 5000, "deposit"))
        (waiting,) = yield stack.wait_for_legs("evt_deposit", {"waiting"})
        assert waiting.reason == GUEST_NOT_IN_HOUSE
        assert out_frames(stack, leg["leg_id"]) == []  # nothing on the wire for a guest not in

        yield stack.control("POST", "/reservations/400001/check-in", {"room": "102"})
        (deposit,) = yield stack.wait_for_legs("evt_deposit", DONE)
        assert (deposit.state, deposit.answer_status) == (LegState.POSTED, "OK")

        yield accept(stack, redemption_event("evt_redeem", "400001", 5000))
        (redemption,) = yield stack.wait_for_legs("evt_redeem", DONE)
        assert (redemption.state, redemption.answer_status) == (LegState.POSTED, "OK")
        yield stack.wait_for(lambda: stack.journal.balances("evt_redeem"), "the BA read-back")
        yield stack.control("POST", "/reservations/400001/check-out")

        # One posting PR each, with the mapped SO/PM and the amount in minor units.
        (deposit_pr,) = posting_prs(out_frames(stack, deposit.leg_id))
        assert b"|G#400001|" in deposit_pr and b"|SO210|" in deposit_pr
        assert b"|TA5000|" in deposit_pr and deposit_pr.endswith(b"|PMOJ|")
        (redeem_pr,) = posting_prs(out_frames(stack, redemption.leg_id))
        assert b"|SO220|" in redeem_pr and redeem_pr.endswith(b"|PMDR|")

        folio_json = yield folio(stack, "400001")
        assert line_view(folio_json) == [
            ("SPA_DEPOSIT", 5000, None),
            ("ONEJOURNEY", -5000, "ONEJOURNEY"),
            ("SPA_TREATMENT", 5000, None),
            ("DEPOSIT_REDEMPTION", -5000, "DEPOSIT_REDEMPTION"),
        ]
        assert [posting_number_of(line) for line in folio_json["lines"]] == [
            deposit.posting_number,
            deposit.posting_number,
            redemption.posting_number,
            redemption.posting_number,
        ]
        assert folio_json["balance"] == 0
        assert folio_json["totals"] == {"revenue": 5000, "deposit": 0, "payment": -5000}
        # onejourney totals the captured payment: what the platform pays out.
        assert folio_json["payment_types"] == {"ONEJOURNEY": -5000, "DEPOSIT_REDEMPTION": -5000}
        assert {name: inv["holds"] for name, inv in folio_json["invariants"].items()} == {
            "balance_zero_after_departure": True,
            "deposit_group_nets_zero": True,
            "revenue_equals_redeemed_items": True,
        }
        assert folio_json["invariants"]["revenue_equals_redeemed_items"]["detail"] == (
            "revenue 5000, deposit redeemed 5000"
        )

        # The journal shows what the PMS reported after each journey (BA of the PL).
        assert [(b.balance, b.confirmation_number) for b in stack.journal.balances("evt_deposit")
                ] == [(0, "400001")]  # fmt: skip
        assert [(b.balance, b.currency) for b in stack.journal.balances("evt_redeem")] == [
            (0, "GBP")
        ]
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_pre_arrival_deposit_waits_for_gi_without_holding_other_guests_and_keeps_its_order(
    tmp_path,
):
    """A deposit for a guest not yet in house waits for the GI (nothing on the wire); other
    guests' payments post meanwhile; a later leg of the same reservation does not overtake it."""
    stack = yield start_stack(tmp_path)
    try:
        (deposit_leg,) = yield accept(stack, payment_event("evt_dep", "400001", 2500, "deposit"))
        (later_leg,) = yield accept(stack, payment_event("evt_bal", "400001", 700))
        yield accept(stack, payment_event("evt_other", "123456", 1234))

        (other,) = yield stack.wait_for_legs("evt_other", DONE)
        assert other.state is LegState.POSTED
        (deposit,) = yield stack.wait_for_legs("evt_dep", {"waiting"})
        (later,) = yield stack.wait_for_legs("evt_bal", {"waiting"})
        assert deposit.reason == GUEST_NOT_IN_HOUSE
        assert later.reason == behind_earlier_leg("400001")
        assert later.reason == (
            "behind an earlier leg of reservation 400001, which must post first"
        )
        assert out_frames(stack, deposit.leg_id) == out_frames(stack, later.leg_id) == []
        assert line_view((yield folio(stack, "400001"))) == []

        yield stack.control("POST", "/reservations/400001/check-in", {"room": "102"})
        (deposit,) = yield stack.wait_for_legs("evt_dep", DONE)
        (later,) = yield stack.wait_for_legs("evt_bal", DONE)
        assert deposit.state is later.state is LegState.POSTED
        assert deposit.posting_number < later.posting_number  # arrival order kept
        assert steps(stack, deposit_leg["leg_id"]) == [
            ("planned", None),
            ("waiting", GUEST_NOT_IN_HOUSE),
            ("sent", f"P# {deposit.posting_number}"),
            ("posted", None),
        ]
        assert [state for state, _ in steps(stack, later_leg["leg_id"])] == [
            "planned", "waiting", "sent", "posted",
        ]  # fmt: skip
        assert line_view((yield folio(stack, "400001"))) == [
            ("SPA_DEPOSIT", 2500, None),
            ("ONEJOURNEY", -2500, "ONEJOURNEY"),
            ("ONEJOURNEY", -700, "ONEJOURNEY"),
        ]
        assert line_view((yield folio(stack, "123456"))) == [("ONEJOURNEY", -1234, "ONEJOURNEY")]
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_sharers_in_one_room_each_payment_lands_on_its_own_guests_folio(tmp_path):
    """Room 201 has two guests: the posting goes to the guest whose G# is the confirmation
    number (never the room's first guest), and the BA read-back is that guest's balance."""
    stack = yield start_stack(tmp_path)
    try:
        yield accept(stack, payment_event("evt_gandhi", "200102", 2222))
        yield accept(stack, payment_event("evt_garibaldi", "200101", 1111))
        (gandhi,) = yield stack.wait_for_legs("evt_gandhi", DONE)
        (garibaldi,) = yield stack.wait_for_legs("evt_garibaldi", DONE)
        assert gandhi.state is garibaldi.state is LegState.POSTED

        (gandhi_inquiry,) = inquiry_prs(out_frames(stack, gandhi.leg_id))
        assert b"|PI201|" in gandhi_inquiry  # the inquiry is by room ...
        (gandhi_pr,) = posting_prs(out_frames(stack, gandhi.leg_id))
        assert b"|RN201|G#200102|GNGandhi, Mrs.|TA2222|" in gandhi_pr  # ... the posting by G#
        (garibaldi_pr,) = posting_prs(out_frames(stack, garibaldi.leg_id))
        assert b"|RN201|G#200101|GNGaribaldi, Mr.|TA1111|" in garibaldi_pr

        assert line_view((yield folio(stack, "200102"))) == [("ONEJOURNEY", -2222, "ONEJOURNEY")]
        assert line_view((yield folio(stack, "200101"))) == [("ONEJOURNEY", -1111, "ONEJOURNEY")]
        yield stack.wait_for(lambda: stack.journal.balances("evt_garibaldi"), "the BA read-back")
        assert [b.balance for b in stack.journal.balances("evt_gandhi")] == [-2222]
        assert [b.balance for b in stack.journal.balances("evt_garibaldi")] == [-1111]
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_night_audit_holds_legs_until_ne_then_they_post_on_the_new_business_date(tmp_path):
    """Between NS and NE nothing is sent: the leg waits with the night-audit reason and the PMS
    receives no record; on NE it posts, booked on the rolled business date."""
    stack = yield start_stack(tmp_path)
    try:
        link = runtime(stack).link
        yield stack.control("POST", "/night-audit/start")
        yield stack.wait_for(lambda: link.status.night_audit, "NS to reach the gateway")
        before = (yield stack.control("GET", "/healthz"))["fias"]["records_received"]

        (leg,) = yield accept(stack, payment_event("evt_audit", "123456", 4321))
        (waiting,) = yield stack.wait_for_legs("evt_audit", {"waiting"})
        assert waiting.reason == "night audit in progress (between NS and NE)"
        assert out_frames(stack, leg["leg_id"]) == []
        assert (yield stack.control("GET", "/healthz"))["fias"]["records_received"] == before

        ended = yield stack.control("POST", "/night-audit/end")
        assert ended == {"business_date": "2026-11-28", "night_audit_running": False}
        (posted,) = yield stack.wait_for_legs("evt_audit", DONE)
        assert (posted.state, posted.attempts) == (LegState.POSTED, 1)
        assert len(posting_prs(out_frames(stack, leg["leg_id"]))) == 1
        (line,) = (yield folio(stack, "123456"))["lines"]
        assert (line["code"], line["amount"], line["business_date"]) == (
            "ONEJOURNEY",
            -4321,
            "2026-11-28",
        )
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_link_drop_mid_stream_reconnects_and_every_leg_posts_exactly_once(tmp_path):
    """The PMS drops the connection on a leg's inquiry (nothing posted for it yet): the leg
    waits, the link reconnects (LS/LD/LR/LA again), and every leg posts once, in order."""
    stack = yield start_stack(tmp_path)
    try:
        # Records from the gateway: leg 1 inquiry, leg 1 posting, balance inquiry after
        # event 1, then leg 2's inquiry is the 4th: the PMS closes on it, unhandled.
        yield stack.control("PUT", "/faults", {"close_after_records": 4})
        amounts = [1001, 1002, 1003, 1004, 1005]
        for n, amount in enumerate(amounts, start=1):
            yield accept(stack, payment_event(f"evt_drop_{n}", "123456", amount))
        legs = []
        for n in range(1, 6):
            (leg,) = yield stack.wait_for_legs(f"evt_drop_{n}", DONE)
            legs.append(leg)

        assert [leg.state for leg in legs] == [LegState.POSTED] * 5
        assert (yield stack.control("GET", "/healthz"))["fias"]["connections"] == 2
        cut = legs[1]
        history = steps(stack, cut.leg_id)
        assert [state for state, _ in history] == ["planned", "waiting", "sent", "posted"]
        assert history[1][1] == (
            "not sent: the connection was lost before the posting was written; retry in 0.1 s"
        )
        assert len(inquiry_prs(out_frames(stack, cut.leg_id))) == 2  # the lost one, the new one
        for leg in legs:
            assert len(posting_prs(out_frames(stack, leg.leg_id))) == 1
        folio_json = yield folio(stack, "123456")
        assert line_view(folio_json) == [("ONEJOURNEY", -a, "ONEJOURNEY") for a in amounts]
        assert [posting_number_of(line) for line in folio_json["lines"]] == [
            leg.posting_number for leg in legs
        ]
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_ry_answer_backs_off_and_the_leg_posts_once_on_the_retry(tmp_path):
    """PA AS RY proves nothing was posted: the leg waits out the backoff, then a new inquiry and
    posting (new P#s) post it; the folio has it once."""
    stack = yield start_stack(tmp_path)
    try:
        yield stack.control("PUT", "/faults", {"reject_status": "RY", "reject_count": 1})
        (leg,) = yield accept(stack, payment_event("evt_ry", "123456", 3333))
        (posted,) = yield stack.wait_for_legs("evt_ry", DONE)
        assert (posted.state, posted.attempts, posted.answer_status) == (
            LegState.POSTED,
            2,
            "OK",
        )
        first_pr, second_pr = posting_prs(out_frames(stack, leg["leg_id"]))
        assert b"|P#2|" in first_pr and b"|P#4|" in second_pr  # P# 1 and 3: the inquiries
        assert steps(stack, leg["leg_id"]) == [
            ("planned", None),
            ("sent", "P# 2"),
            ("waiting", "the PMS answered RY: fault injection: answering RY; retry in 0.1 s"),
            ("sent", "P# 4"),
            ("posted", None),
        ]
        folio_json = yield folio(stack, "123456")
        assert line_view(folio_json) == [("ONEJOURNEY", -3333, "ONEJOURNEY")]
        assert posting_number_of(folio_json["lines"][0]) == 4
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_guest_the_pms_does_not_list_goes_to_the_exception_queue_with_the_pms_text(tmp_path):
    """The gateway believes reservation 500001 is in room 103 (a GO it never saw), but the PMS's
    inquiry answers NG: the leg is rejected with the PMS's CT text, not retried, not posted."""
    e2e_helpers.seed_journal(tmp_path, PROPERTY, {**DEMO_IN_HOUSE, 500001: "103"})
    stack = yield start_stack(tmp_path)
    try:
        (leg,) = yield accept(stack, payment_event("evt_gone", "500001", 900))
        (rejected,) = yield stack.wait_for_legs("evt_gone", DONE)
        assert (rejected.state, rejected.answer_status, rejected.reason) == (
            LegState.REJECTED,
            "NG",
            "the PMS does not list guest 500001 in room 103: no guest in house matches PI 103",
        )
        frames = out_frames(stack, leg["leg_id"])
        assert len(inquiry_prs(frames)) == 1 and posting_prs(frames) == []
        code, queue = yield api(stack, "GET", "/v1/exceptions")
        assert code == 200
        assert [(q["leg_id"], q["state"], q["reason"]) for q in queue["legs"]] == [
            (leg["leg_id"], "rejected", rejected.reason)
        ]
        assert line_view((yield folio(stack, "500001"))) == []
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_a_pa_that_comes_after_the_leg_went_unknown_is_noted_on_the_leg_not_acted_on(tmp_path):
    """The PMS's PA arrives after the answer timeout: the leg stays unknown (an operator
    decides), but the answer is noted on the leg, in its notes over the API and its history,
    and the frame is in its wire log."""
    stack = yield start_stack(tmp_path)
    try:
        yield stack.control("PUT", "/faults", {"drop_posting_answers": 1})
        (leg,) = yield accept(stack, payment_event("evt_late_pa", "123456", 4321))
        (unknown,) = yield stack.wait_for_legs("evt_late_pa", DONE)
        assert unknown.state is LegState.UNKNOWN
        number = unknown.posting_number
        # The PMS's answer, late, on the live link (as the simulator would have sent it).
        link = runtime(stack).link
        late = f"PA|P#{number}|ASOK|RN101|G#123456|WSFOLIOGATE|DA261127|TI100405|"
        link._protocol.dataReceived(b"\x02" + late.encode() + b"\x03")
        after = stack.journal.leg(leg["leg_id"])
        assert after.state is LegState.UNKNOWN
        (note,) = after.notes
        assert note.endswith(
            f"gateway late-answer: late PA from the PMS for P#{number} after the leg went "
            "unknown: AS OK; not acted on: check the folio on the PMS and resolve the leg"
        )
        code, shown = yield api(stack, "GET", "/v1/events/evt_late_pa")
        assert code == 200 and shown["legs"][0]["notes"] == [note]
        frames = [w.raw for w in stack.journal.wire_log(leg_id=leg["leg_id"])]
        assert late.encode() in frames
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_dropped_pa_makes_the_leg_unknown_and_it_is_never_sent_again(tmp_path):
    """The PMS books the posting but its PA never comes: after the answer timeout the leg is
    unknown, in the exception queue, and never re-sent (later legs still post); the ledger has
    the posting exactly once and the wire log the posting PR exactly once. An operator then
    resolves it with a note."""
    stack = yield start_stack(tmp_path)
    try:
        yield stack.control("PUT", "/faults", {"drop_posting_answers": 1})
        (leg,) = yield accept(stack, payment_event("evt_lost_pa", "123456", 5555))
        (unknown,) = yield stack.wait_for_legs("evt_lost_pa", DONE)
        assert (unknown.state, unknown.reason) == (LegState.UNKNOWN, "no PA within 2 s")
        assert (yield stack.control("GET", "/faults"))["drop_posting_answers"] == 0

        # The dispatcher moves on: a later payment for the same guest posts.
        yield accept(stack, payment_event("evt_after", "123456", 6666))
        (after,) = yield stack.wait_for_legs("evt_after", DONE)
        assert after.state is LegState.POSTED

        assert stack.journal.leg(leg["leg_id"]).state is LegState.UNKNOWN
        frames = stack.journal.wire_log(leg_id=leg["leg_id"])
        (posting_pr,) = posting_prs(w.raw for w in frames if w.direction == "out")
        assert f"|P#{unknown.posting_number}|".encode() in posting_pr
        assert [w.raw[:2] for w in frames if w.direction == "in"] == [b"PL"]  # no PA came
        folio_json = yield folio(stack, "123456")
        assert line_view(folio_json) == [
            ("ONEJOURNEY", -5555, "ONEJOURNEY"),
            ("ONEJOURNEY", -6666, "ONEJOURNEY"),
        ]
        assert posting_number_of(folio_json["lines"][0]) == unknown.posting_number

        code, queue = yield api(stack, "GET", "/v1/exceptions")
        assert [(q["leg_id"], q["state"]) for q in queue["legs"]] == [(leg["leg_id"], "unknown")]
        note = f"checked the folio on the PMS: posted once (P# {unknown.posting_number})"
        code, resolved = yield api(
            stack, "POST", f"/v1/legs/{leg['leg_id']}/resolve", {"operator": "ops", "note": note}
        )
        assert code == 200, resolved
        assert resolved["state"] == "resolved"
        assert resolved["notes"][0].endswith(f" ops resolve: {note}")
        code, queue = yield api(stack, "GET", "/v1/exceptions")
        assert queue["legs"] == []
        assert len(posting_prs(out_frames(stack, leg["leg_id"]))) == 1
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_operator_retry_over_the_api_posts_a_rejected_leg_once(tmp_path):
    """A terminal answer (UR) sends the leg to the exception queue with the PMS's text; an
    operator's retry over the API puts it back on the wire and it posts exactly once."""
    stack = yield start_stack(tmp_path)
    try:
        yield stack.control("PUT", "/faults", {"reject_status": "UR", "reject_count": 1})
        (leg,) = yield accept(stack, payment_event("evt_ur", "123456", 4444))
        (rejected,) = yield stack.wait_for_legs("evt_ur", DONE)
        assert (rejected.state, rejected.answer_status, rejected.reason) == (
            LegState.REJECTED,
            "UR",
            "fault injection: answering UR",
        )
        assert line_view((yield folio(stack, "123456"))) == []

        code, retried = yield api(
            stack,
            "POST",
            f"/v1/legs/{leg['leg_id']}/retry",
            {"operator": "ops", "note": "the outlet is open again"},
        )
        assert code == 200, retried
        assert retried["state"] == "planned"
        (posted,) = yield stack.wait_for_legs("evt_ur", DONE)
        assert (posted.state, posted.attempts) == (LegState.POSTED, 2)
        assert posted.notes[0].endswith(" ops retry: the outlet is open again")
        assert [state for state, _ in steps(stack, leg["leg_id"])] == [
            "planned", "sent", "rejected", "planned", "sent", "posted",
        ]  # fmt: skip
        assert line_view((yield folio(stack, "123456"))) == [("ONEJOURNEY", -4444, "ONEJOURNEY")]
        # Retrying a posted leg is refused: it would post twice.
        code, refused = yield api(
            stack, "POST", f"/v1/legs/{leg['leg_id']}/retry", {"operator": "ops", "note": "again"}
        )
        assert code == 409
        assert refused["errors"][0]["reason"].startswith(
            "leg 1 is posted; it cannot become planned"
        )
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_repeated_event_is_200_and_a_conflicting_one_409_and_the_payment_posts_once(tmp_path):
    stack = yield start_stack(tmp_path)
    try:
        event = payment_event("evt_twice", "123456", 7777)
        (leg,) = yield accept(stack, event)
        yield stack.wait_for_legs("evt_twice", DONE)

        code, repeat = yield stack.post_event(event)
        assert code == 200
        assert (repeat["status"], repeat["event_status"]) == ("duplicate", "accepted")
        assert [(x["leg_id"], x["state"]) for x in repeat["legs"]] == [(leg["leg_id"], "posted")]

        code, conflict = yield stack.post_event(payment_event("evt_twice", "123456", 7778))
        assert (code, conflict) == (
            409,
            {
                "event_id": "evt_twice",
                "status": "conflict",
                "errors": [
                    {
                        "path": "event_id",
                        "reason": "this event_id was already accepted with a different body",
                    }
                ],
            },
        )
        assert line_view((yield folio(stack, "123456"))) == [("ONEJOURNEY", -7777, "ONEJOURNEY")]
        assert stack.journal.counts() == {"posted": 1}
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_bad_input_is_refused_over_real_http_and_nothing_reaches_the_journal_or_the_pms(
    tmp_path,
):
    """Issue 3 section 1's refusals through the running gateway: 400, 401, 404, 413, 415."""
    from twisted.internet import reactor

    stack = yield start_stack(tmp_path)
    try:
        assert stack.gateway is not None
        url = stack.gateway.api_url + "/v1/events"
        received = (yield stack.control("GET", "/healthz"))["fias"]["records_received"]

        @inlineCallbacks
        def send(body: bytes, content_type: str = "application/json", **signing: Any) -> Any:
            t = signing.get("t", int(reactor.seconds()))
            secret = signing.get("secret", stack.secret)
            response = yield treq.post(
                url,
                data=body,
                headers={
                    "Content-Type": [content_type],
                    "Foliogate-Signature": [sign(secret, body, t)],
                    "Foliogate-Source": [stack.source],
                },
            )
            answer = yield response.json()
            return response.code, answer

        good = json.dumps(payment_event("evt_bad", "123456", 100)).encode()
        invalid = payment_event("evt_bad", "123456", 100)
        invalid["payment"]["amount"] = 12.5
        del invalid["occurred_at"]
        code, answer = yield send(json.dumps(invalid).encode())
        assert code == 400
        assert {e["path"] for e in answer["errors"]} == {"occurred_at", "payment.amount"}
        assert (yield send(good, secret=b"not the secret"))[0] == 401
        assert (yield send(good, t=int(reactor.seconds()) - 301))[0] == 401
        assert (yield send(good, content_type="text/plain"))[0] == 415
        unknown = json.dumps({**payment_event("evt_bad", "123456", 100), "property": "NOWHERE"})
        code, answer = yield send(unknown.encode())
        assert (code, answer["errors"][0]["path"]) == (404, "property")
        assert (yield send(b'{"pad": "' + b"x" * 70_000 + b'"}'))[0] == 413

        assert stack.journal.event("evt_bad") is None
        assert stack.journal.counts() == {}
        assert (yield stack.control("GET", "/healthz"))["fias"]["records_received"] == received
    finally:
        yield stack.stop()
