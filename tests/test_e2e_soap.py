"""End to end over real loopback HTTP: the gateway posts to the SOAP PMS simulators.

Each test starts the demo hotel with one SOAP simulator and the gateway configured by
``examples/gateway-soap.toml`` (a real SQLite journal in ``tmp_path``) through
:class:`adapters.cli.stack.Stack`, sends signed events through the API, drives the hotel and
the fault knobs through the simulator's control API, and checks the leg states and reasons
in the journal, the SOAP messages in the wire log, and the folio lines and DESIGN section 3's
invariants in the simulator's ledger.

Timeouts are shortened through the configuration and the retry backoff is injected small, so
no test waits for production values.
"""

from __future__ import annotations

import dataclasses
import json

import e2e_helpers
import pytest
import pytest_twisted
import treq
from e2e_helpers import accept, line_view
from twisted.internet.defer import inlineCallbacks

from adapters.api import sign
from adapters.cli.stack import EXAMPLE_SOAP_CONFIG, Stack
from adapters.config import GatewayConfig
from adapters.domain import LegState
from protocols.htng import htng_async as ha
from protocols.soap import (
    Caller,
    Credentials,
    FaultCode,
    Stamp,
    parse_envelope,
    parse_fault,
    parse_xml,
)

PROPERTIES = {
    "opera-htng": "DEMO-OPERA",
    "rezlynx": "DEMO-REZLYNX",
    "htng-async": "DEMO-HOTEL-PERFECT",
}
PROFILES = list(PROPERTIES)
ANSWER_TIMEOUT = 2.0
DONE = {"posted", "rejected", "unknown"}
DEMO_PASSWORD = b"demo-only-password"
#: The request element of each profile's charge and payment postings.
POSTINGS = {
    "opera-htng": (b"PostChargeRequest", b"PostPaymentRequest"),
    "rezlynx": (b"PostToRoom>", b"AddPayment>"),
    "htng-async": (b"RevenueLine", b"PaymentLine"),
}


def payment_event(profile, event_id, conf, amount, kind="balance"):
    return e2e_helpers.payment_event(PROPERTIES[profile], event_id, conf, amount, kind)


def redemption_event(profile, event_id, conf, amount):
    return {
        "event_id": event_id,
        "type": "deposit.redeemed",
        "property": PROPERTIES[profile],
        "occurred_at": "2026-11-29T09:30:00Z",
        "booking": {"confirmation_number": conf},
        "items": [{"code": "SPA_TREATMENT", "description": "Massage 60", "amount": amount}],
    }


def configured(timeout=ANSWER_TIMEOUT, payment_type=None):
    def configure(config: GatewayConfig) -> GatewayConfig:
        properties = {}
        for name, prop in config.properties.items():
            prop = dataclasses.replace(prop, answer_timeout_seconds=timeout)
            if payment_type is not None:
                codes = dataclasses.replace(prop.codes, payment_types={"onejourney": payment_type})
                prop = dataclasses.replace(prop, codes=codes)
            properties[name] = prop
        return dataclasses.replace(config, properties=properties)

    return configure


@inlineCallbacks
def start_stack(tmp_path, profile, **configure_options):
    from twisted.internet import reactor

    stack = Stack(
        reactor,
        tmp_path,
        config_path=EXAMPLE_SOAP_CONFIG,
        soap_profiles=[profile],
        configure=configured(**configure_options),
        gateway_options={"jitter": lambda: 0.0, "backoff": e2e_helpers.BACKOFF},
    )
    yield stack.start()
    return stack


@inlineCallbacks
def set_faults(stack, **knobs):
    yield stack.control("PUT", "/faults", knobs)


def wire(stack, leg_id, direction=None):
    return [
        w.raw for w in stack.journal.wire_log(leg_id=leg_id)
        if direction is None or w.direction == direction
    ]  # fmt: skip


# -- the negative-posting journey -----------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest_twisted.inlineCallbacks
def test_negative_journey_deposit_before_arrival_then_redemption_balances_the_folio(
    tmp_path, profile
):
    """DESIGN section 3, negative posting: the deposit (a Spa Deposit charge settled by the
    onejourney payment) posts at once before arrival; after check-in the redemption posts the
    treatment revenue and a negative sale on the deposit code; after check-out the folio
    balance is 0, the deposit group nets 0, revenue equals the redeemed item, and onejourney
    totals the captured payment. Passwords never reach the wire log."""
    stack = yield start_stack(tmp_path, profile)
    try:
        reservation = yield stack.control("GET", "/reservations/400001")
        assert reservation["state"] == "reserved"
        yield accept(stack, payment_event(profile, "evt_dep", "400001", 5000, "deposit"))
        charge, payment = yield stack.wait_for_legs("evt_dep", DONE)
        assert (charge.state, payment.state) == (LegState.POSTED, LegState.POSTED)
        assert (charge.plan.transaction_code, payment.plan.payment_type) == (
            "SPA_DEPOSIT", "ONEJOURNEY",
        )  # fmt: skip

        yield stack.control("POST", "/reservations/400001/check-in", {"room": "102"})
        yield accept(stack, redemption_event(profile, "evt_red", "400001", 5000))
        revenue, negative = yield stack.wait_for_legs("evt_red", DONE)
        assert (revenue.state, negative.state) == (LegState.POSTED, LegState.POSTED)
        assert (negative.plan.transaction_code, negative.plan.amount) == ("SPA_DEPOSIT", -5000)
        yield stack.control("POST", "/reservations/400001/check-out")

        folio = yield stack.control("GET", "/reservations/400001/folio")
        assert line_view(folio) == [
            ("SPA_DEPOSIT", 5000, None),
            ("ONEJOURNEY", -5000, "ONEJOURNEY"),
            ("SPA_TREATMENT", 5000, None),
            ("SPA_DEPOSIT", -5000, None),
        ]
        assert [line["reference"] for line in folio["lines"]] == [
            "evt_dep/0", "evt_dep/1", "evt_red/0", "evt_red/1",
        ]  # fmt: skip
        assert folio["balance"] == 0
        assert folio["totals"] == {"revenue": 5000, "deposit": 0, "payment": -5000}
        assert folio["payment_types"] == {"ONEJOURNEY": -5000}  # the captured 50.00
        assert {name: inv["holds"] for name, inv in folio["invariants"].items()} == {
            "balance_zero_after_departure": True,
            "deposit_group_nets_zero": True,
            "revenue_equals_redeemed_items": True,
        }

        # The wire log holds the SOAP messages of every leg, passwords masked.
        charge_post, payment_post = POSTINGS[profile]
        assert any(charge_post in raw for raw in wire(stack, charge.leg_id, "out"))
        assert any(payment_post in raw for raw in wire(stack, payment.leg_id, "out"))
        everything = [w.raw for w in stack.journal.wire_log(property=PROPERTIES[profile])]
        assert all(DEMO_PASSWORD not in raw for raw in everything)
        if profile != "rezlynx":
            assert any(b">****</wsse:Password>" in raw for raw in everything)
        else:  # a payment before arrival went as AddDeposit, after AddPayment answered 8002
            outs = wire(stack, payment.leg_id, "out")
            assert [b"AddPayment>" in raw for raw in outs] == [True, False]
            assert b"AddDeposit>" in outs[1]
            assert any(b"Password>****</" in raw for raw in everything)

        # The balance the PMS reported after each journey (htng-async cannot read a folio).
        if profile == "htng-async":
            assert stack.journal.balances("evt_red") == []
        else:
            yield stack.wait_for(lambda: stack.journal.balances("evt_red"), "the balance")
            assert [b.balance for b in stack.journal.balances("evt_dep")] == [0]
            assert [b.balance for b in stack.journal.balances("evt_red")] == [0]
    finally:
        yield stack.stop()


@pytest.mark.parametrize("profile", PROFILES)
@pytest_twisted.inlineCallbacks
def test_an_unknown_payment_type_goes_to_the_exception_queue_with_the_pms_text(tmp_path, profile):
    stack = yield start_stack(tmp_path, profile, payment_type="NOSUCHPAY")
    try:
        yield accept(stack, payment_event(profile, "evt_bad", "123456", 2500))
        (leg,) = yield stack.wait_for_legs("evt_bad", DONE)
        assert leg.state is LegState.REJECTED
        assert "NOSUCHPAY" in leg.reason  # the PMS's text names the code
        assert leg.answer_status in ("INVALID_PAYMENT_TYPE", "8004", "1004")
        assert [e.leg_id for e in stack.journal.exceptions()] == [leg.leg_id]
        folio = yield stack.control("GET", "/reservations/123456/folio")
        assert all(line["reference"] != "evt_bad/0" for line in folio["lines"])
    finally:
        yield stack.stop()


@pytest.mark.parametrize("profile", PROFILES)
@pytest_twisted.inlineCallbacks
def test_http_500_then_success_posts_once(tmp_path, profile):
    stack = yield start_stack(tmp_path, profile)
    try:
        # rezlynx: the first request is the LogIn; two 500s make sure the posting sees one.
        yield set_faults(stack, http_500_count=2 if profile == "rezlynx" else 1)
        yield accept(stack, payment_event(profile, "evt_500", "123456", 2500))
        (leg,) = yield stack.wait_for_legs("evt_500", DONE)
        assert leg.state is LegState.POSTED
        steps = [(a.to_state, a.note) for a in stack.journal.history(leg_id=leg.leg_id)]
        waits = [note for state, note in steps if state == "waiting"]
        assert len(waits) >= 1 and "HTTP 500" in waits[0]
        folio = yield stack.control("GET", "/reservations/123456/folio")
        assert [line["reference"] for line in folio["lines"]].count("evt_500/0") == 1
    finally:
        yield stack.stop()


# -- rezlynx: the session --------------------------------------------------------------------


@pytest_twisted.inlineCallbacks
def test_rezlynx_session_expiry_logs_in_again_and_posts_once(tmp_path):
    stack = yield start_stack(tmp_path, "rezlynx")
    try:
        yield accept(stack, payment_event("rezlynx", "evt_one", "123456", 1000))
        yield stack.wait_for_legs("evt_one", {"posted"})
        yield set_faults(stack, expire_sessions=True)
        yield accept(stack, payment_event("rezlynx", "evt_two", "123456", 2000))
        (leg,) = yield stack.wait_for_legs("evt_two", DONE)
        assert leg.state is LegState.POSTED and leg.attempts == 1
        outs = wire(stack, leg.leg_id, "out")
        kinds = [
            "LogIn" if b"LogIn>" in raw else "AddPayment" if b"AddPayment>" in raw else "?"
            for raw in outs
        ]
        assert kinds == ["AddPayment", "LogIn", "AddPayment"]
        assert any(b"<ExceptionCode>7007</ExceptionCode>" in raw
                   for raw in wire(stack, leg.leg_id, "in"))  # fmt: skip
        folio = yield stack.control("GET", "/reservations/123456/folio")
        assert [line["reference"] for line in folio["lines"]].count("evt_two/0") == 1
    finally:
        yield stack.stop()


# -- htng-async: callbacks ------------------------------------------------------------------


@pytest_twisted.inlineCallbacks
def test_htng_async_duplicate_callback_is_a_no_op(tmp_path):
    stack = yield start_stack(tmp_path, "htng-async")
    try:
        yield set_faults(stack, duplicate_callbacks=1)
        yield accept(stack, payment_event("htng-async", "evt_dup", "123456", 2500))
        (leg,) = yield stack.wait_for_legs("evt_dup", DONE)
        assert leg.state is LegState.POSTED
        channel = stack.gateway.properties["DEMO-HOTEL-PERFECT"].link
        yield stack.wait_for(lambda: channel.callbacks["duplicate"] == 1, "the second copy")
        inbound = [raw for raw in wire(stack, leg.leg_id, "in") if b"ChargePostingResultRQ" in raw]
        assert len(inbound) == 2  # both copies are in the wire log, keyed by the leg
        assert stack.journal.leg(leg.leg_id).state is LegState.POSTED
        assert [a.action for a in stack.journal.history(leg_id=leg.leg_id)] == [
            "planned", "send", "posted",
        ]  # fmt: skip
        folio = yield stack.control("GET", "/reservations/123456/folio")
        assert [line["reference"] for line in folio["lines"]].count("evt_dup/0") == 1
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_htng_async_missing_callback_is_unknown(tmp_path):
    stack = yield start_stack(tmp_path, "htng-async", timeout=1.0)
    try:
        yield set_faults(stack, drop_callbacks=1)
        yield accept(stack, payment_event("htng-async", "evt_miss", "123456", 2500))
        (leg,) = yield stack.wait_for_legs("evt_miss", DONE)
        assert leg.state is LegState.UNKNOWN
        assert leg.reason == "acknowledged, but no result callback within 1 s"
        assert [e.leg_id for e in stack.journal.exceptions()] == [leg.leg_id]
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_htng_async_late_callback_is_journaled_and_reported_not_acted_on(tmp_path):
    stack = yield start_stack(tmp_path, "htng-async", timeout=1.0)
    try:
        yield set_faults(stack, callback_delay_ms=2500)
        yield accept(stack, payment_event("htng-async", "evt_late", "123456", 2500))
        (leg,) = yield stack.wait_for_legs("evt_late", DONE)
        assert leg.state is LegState.UNKNOWN

        def noted():
            history = stack.journal.history(leg_id=leg.leg_id)
            return [a for a in history if a.action == "late-result"]

        (note,) = yield stack.wait_for(noted, "the late result's note")
        assert note.note.startswith("late result from the PMS after the leg went unknown")
        assert "Success" in note.note
        after = stack.journal.leg(leg.leg_id)
        assert after.state is LegState.UNKNOWN  # not acted on: an operator decides
        # An operator sees it in the leg's history (API and console) and its wire log.
        raw = b""
        path = f"/v1/legs/{leg.leg_id}/history"
        response = yield treq.get(
            stack.gateway.api_url + path,
            headers={"Foliogate-Signature": [sign(stack.secret, raw, int(stack.reactor.seconds()))],
                     "Foliogate-Source": [stack.source]},
        )  # fmt: skip
        history = yield response.json()
        assert response.code == 200, history
        assert any(entry["action"] == "late-result" for entry in history["history"])
        assert any(b"ChargePostingResultRQ" in raw for raw in wire(stack, leg.leg_id, "in"))
    finally:
        yield stack.stop()


# -- the callback endpoint on the gateway's API ----------------------------------------------


def callback_url(stack):
    return stack.gateway.api_url + "/v1/callbacks/htng-async/DEMO-HOTEL-PERFECT"


def result_for(correlation_id, credentials):
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    result = ha.ChargePostingResultRequest(
        "echo", correlation_id, now, posted_lines=(ha.PostedLine(correlation_id, 1),)
    )
    return ha.build_charge_posting_result_request(
        result,
        caller=Caller(to="http://gateway", credentials=credentials),
        stamp=Stamp("urn:uuid:00000000-0000-4000-8000-00000000c0de", now),
    )


HOSTILE = {
    "xml-bomb": b"""<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>&c;</env:Body>
</env:Envelope>""",
    "external-entity": b"""<?xml version="1.0"?><!DOCTYPE x [
<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>&xxe;</env:Body>
</env:Envelope>""",
}


@pytest_twisted.inlineCallbacks
def test_the_callback_endpoint_refuses_bad_credentials_and_hostile_xml_and_journals_nothing(
    tmp_path,
):
    stack = yield start_stack(tmp_path, "htng-async")
    try:
        url = callback_url(stack)
        headers = {"Content-Type": ["application/soap+xml; charset=utf-8"]}
        bodies = {
            "bad-credentials": result_for("evt_x/0", Credentials("foliogate-demo", "wrong")),
            **HOSTILE,
        }
        for name, body in bodies.items():
            response = yield treq.post(url, data=body, headers=headers)
            content = yield response.content()
            assert response.code == 400, name
            fault = parse_fault(parse_envelope(parse_xml(content)).payload)
            assert fault.code is FaultCode.SENDER, name
            assert fault.subcode == (
                "FailedAuthentication" if name == "bad-credentials" else "HostileXml"
            )
            assert b"root:" not in content
        assert stack.journal.wire_log(property="DEMO-HOTEL-PERFECT") == []
        # The right credentials get through (an unmatched result: acknowledged, logged).
        good = result_for("evt_x/0", Credentials("foliogate-demo", "demo-only-password"))
        response = yield treq.post(url, data=good, headers=headers)
        assert response.code == 200
        yield response.content()
        channel = stack.gateway.properties["DEMO-HOTEL-PERFECT"].link
        assert channel.callbacks["unmatched"] == 1
        # Other /v1/ paths still want the payment platform's signature.
        raw = json.dumps({}).encode()
        response = yield treq.post(
            stack.gateway.api_url + "/v1/events", data=raw,
            headers={"Content-Type": ["application/json"],
                     "Foliogate-Signature": [sign(b"wrong", raw, 0)]},
        )  # fmt: skip
        assert response.code == 401
        yield response.content()
    finally:
        yield stack.stop()
