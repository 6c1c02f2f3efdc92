"""The ingest API (adapters/api.py) over real HTTP on loopback, with a real SQLite journal.

Requests are made with http.client in a thread (exact control over headers, Content-Length
and chunked bodies) while the server runs in the test's reactor.
"""

from __future__ import annotations

import copy
import datetime as dt
import http.client
import json
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import pytest_twisted
from twisted.internet import defer, task, threads

from adapters.api import (
    EventRules,
    MissingSecret,
    listen,
    make_site,
    sign,
    verify_signature,
)
from adapters.domain import EventType, LegState, PlannedLeg
from adapters.journal import Journal

NOW = 1_800_000_000  # the API's injected clock reads this
SECRET = b"whsec_test_payments"
SECRET_ENV = "FOLIOGATE_SECRET_PAYMENTS"
LIMIT = 64 * 1024


def sample_event(event_id: str = "evt_1", **changes) -> dict:
    event = {
        "event_id": event_id,
        "type": "payment.succeeded",
        "property": "GRAND-LONDON",
        "occurred_at": "2026-11-21T10:04:05Z",
        "payment": {
            "kind": "deposit",
            "amount": 5000,
            "currency": "GBP",
            "transaction_id": f"pi_{event_id}",  # one payment per event
            "method": "onejourney",
            "card_type": "VISA",
            "card_last4": "4242",
            "status": "Payment Success",
        },
        "booking": {
            "confirmation_number": "123456",
            "guest_name": "Jane Doe",
            "arrival": "2026-11-27",
            "departure": "2026-11-29",
        },
    }
    event.update(changes)
    return event


@dataclass(frozen=True)
class Plan:
    """Stands in for adapters.journeys.JourneyPlan (same fields)."""

    outcome: str = "post"
    legs: tuple = ()
    reason: str = ""
    target: str = "reservation"
    by_hand: tuple = ()


def deposit_plan(event, property_config, original_legs):
    """Stands in for adapters.journeys.plan_legs: one leg per captured deposit."""
    if event.type is not EventType.PAYMENT_SUCCEEDED:
        return Plan("not_posted", reason=f"{event.type}: never posted")
    leg = PlannedLeg(
        0,
        property_config.deposit_code,
        "ONEJOURNEY",
        event.payment.amount,
        event.payment.currency,
        "Spa deposit",
    )
    return Plan(legs=(leg,))


def event_rules() -> EventRules:
    from adapters import events

    return EventRules(
        validate=events.validate_event,
        parse=events.parse_event,
        canonical=events.canonical_body,
        plan=deposit_plan,
        decode=events.decode_event_json,
    )


def make_config(journal_path: str, sources: dict[str, str] | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        gateway=SimpleNamespace(journal=journal_path, listen="tcp:port=0", max_body_bytes=LIMIT),
        sources={
            name: SimpleNamespace(secret_env=env)
            for name, env in (sources or {"payments": SECRET_ENV}).items()
        },
        properties={"GRAND-LONDON": SimpleNamespace(deposit_code="SPA_DEPOSIT")},
    )


@dataclass
class Gateway:
    url_host: str
    port: int
    journal: Journal
    accepted: list[str]
    clock: task.Clock

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        chunked: bool = False,
    ):
        """Deferred (status, headers, parsed JSON body) of one request from a thread."""

        def call():
            conn = http.client.HTTPConnection(self.url_host, self.port, timeout=10)
            try:
                if chunked:
                    conn.request(
                        method,
                        path,
                        body=iter([body[i : i + 8192] for i in range(0, len(body), 8192)]),
                        headers=headers or {},
                        encode_chunked=True,
                    )
                else:
                    conn.request(method, path, body=body, headers=headers or {})
                response = conn.getresponse()
                raw = response.read()
                return response.status, dict(response.getheaders()), json.loads(raw or b"null")
            finally:
                conn.close()

        return threads.deferToThread(call)

    def signed(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        t: int = NOW,
        secret: bytes = SECRET,
        content_type: str | None = "application/json",
        extra: dict[str, str] | None = None,
        **kwargs,
    ):
        headers = {"Foliogate-Signature": sign(secret, body, t)}
        if content_type is not None:
            headers["Content-Type"] = content_type
        headers.update(extra or {})
        return self.request(method, path, body, headers, **kwargs)

    def post_event(self, obj, **kwargs):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        return self.signed("POST", "/v1/events", body, **kwargs)


async def start_gateway(tmp_path, sources=None, environ=None) -> Gateway:
    from twisted.internet import reactor

    journal = Journal(str(tmp_path / "journal.sqlite"), reactor=reactor)
    clock = task.Clock()
    clock.advance(NOW)
    accepted: list[str] = []
    config = make_config(journal.path, sources)
    site = make_site(
        journal,
        config,
        clock,
        accepted.append,
        environ=environ or {SECRET_ENV: SECRET.decode()},
        rules=event_rules(),
    )
    port = await listen(reactor, site, config.gateway.listen)
    gateway = Gateway(port.getHost().host, port.getHost().port, journal, accepted, clock)
    gateway._port = port  # type: ignore[attr-defined]
    return gateway


@pytest.fixture
def gateway(tmp_path):
    gw = pytest_twisted.blockon(defer.ensureDeferred(start_gateway(tmp_path)))
    yield gw
    pytest_twisted.blockon(defer.maybeDeferred(gw._port.stopListening))
    gw.journal.close()


def errors_of(body) -> list[tuple[str, str]]:
    return [(e["path"], e["reason"]) for e in body["errors"]]


# -- signatures (pure) -------------------------------------------------------------------------


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    mac = hmac.new(SECRET, b"1800000000.{}", hashlib.sha256).hexdigest()
    assert sign(SECRET, b"{}", NOW) == f"t=1800000000,v1={mac}"
    assert verify_signature(sign(SECRET, b"{}", NOW), b"{}", SECRET, NOW) is None


def test_signature_window_is_five_minutes_either_way():
    body = b"{}"
    assert verify_signature(sign(SECRET, body, NOW - 300), body, SECRET, NOW) is None
    assert verify_signature(sign(SECRET, body, NOW + 300), body, SECRET, NOW) is None
    assert "5 minutes" in verify_signature(sign(SECRET, body, NOW - 301), body, SECRET, NOW)
    assert "5 minutes" in verify_signature(sign(SECRET, body, NOW + 301), body, SECRET, NOW)


def test_any_of_several_v1_signatures_may_match_for_secret_rotation():
    old = sign(b"old-secret", b"{}", NOW).split(",")[1]
    header = f"{sign(SECRET, b'{}', NOW)},{old}"
    assert verify_signature(header, b"{}", SECRET, NOW) is None
    assert verify_signature(header, b"{}", b"other", NOW) == "signature does not match"


@pytest.mark.parametrize(
    "header",
    [None, "", "v1=abc", "t=abc,v1=00", "t=1800000000", "t=1,t=2,v1=00", "garbage"],
)
def test_malformed_signature_headers_are_refused(header):
    assert verify_signature(header, b"{}", SECRET, NOW) is not None


def test_missing_secret_stops_the_site_from_starting(tmp_path):
    config = make_config(str(tmp_path / "j.sqlite"), {"a": "SECRET_A", "b": "SECRET_B"})
    with pytest.raises(MissingSecret, match="SECRET_A \\(source a\\), SECRET_B \\(source b\\)"):
        make_site(None, config, task.Clock(), None, environ={}, rules=event_rules())


# -- POST /v1/events ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_listens_on_loopback_by_default(gateway):
    assert gateway.url_host == "127.0.0.1"


@pytest_twisted.ensureDeferred
async def test_new_event_is_202_after_commit_with_its_legs(gateway):
    status, _, body = await gateway.post_event(sample_event("evt_a"))

    assert status == 202
    assert body["event_id"] == "evt_a"
    assert body["status"] == "accepted"
    assert [(leg["reference"], leg["state"], leg["amount"]) for leg in body["legs"]] == [
        ("evt_a/0", "planned", 5000)
    ]
    # On disk, as another reader sees it, before the dispatcher was even woken.
    other = Journal(gateway.journal.path, recover=False)
    assert [leg.reference for leg in other.legs()] == ["evt_a/0"]
    other.close()
    assert gateway.accepted == ["evt_a"]


@pytest_twisted.ensureDeferred
async def test_exact_repeat_is_200_even_with_other_key_order_and_spacing(gateway):
    await gateway.post_event(sample_event("evt_a"))
    reordered = json.dumps(dict(reversed(list(sample_event("evt_a").items()))), indent=2)

    status, _, body = await gateway.post_event(reordered.encode())

    assert (status, body["status"]) == (200, "duplicate")
    assert [leg["reference"] for leg in body["legs"]] == ["evt_a/0"]
    assert gateway.accepted == ["evt_a"]  # the dispatcher is not woken twice
    assert len(gateway.journal.legs()) == 1


@pytest_twisted.ensureDeferred
async def test_same_id_with_another_body_is_409(gateway):
    await gateway.post_event(sample_event("evt_a"))
    changed = sample_event("evt_a")
    changed["payment"]["amount"] = 6000

    status, _, body = await gateway.post_event(changed)

    assert status == 409
    assert body["status"] == "conflict"
    assert [leg.plan.amount for leg in gateway.journal.legs()] == [5000]


@pytest_twisted.ensureDeferred
async def test_invalid_event_is_400_listing_every_problem(gateway):
    bad = sample_event("evt_bad")
    bad["payment"]["amount"] = 50.0
    bad["payment"]["currency"] = "gbp"
    del bad["occurred_at"]

    status, _, body = await gateway.post_event(bad)

    assert status == 400
    assert [path for path, _ in errors_of(body)] == [
        "occurred_at",
        "payment.amount",
        "payment.currency",
    ]
    assert gateway.journal.event("evt_bad") is None


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"event_id": "a", "event_id": "b"}', b"\xff\xfe", b"[1, 2]", b"NaN"],
)
@pytest_twisted.ensureDeferred
async def test_malformed_json_is_400(gateway, raw):
    status, _, body = await gateway.post_event(raw)
    assert status == 400
    assert body["errors"] and body["errors"][0]["path"] == ""


@pytest_twisted.ensureDeferred
async def test_unknown_property_is_404(gateway):
    status, _, body = await gateway.post_event(sample_event(property="NOWHERE"))
    assert status == 404
    assert errors_of(body) == [("property", "unknown property 'NOWHERE'")]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
@pytest_twisted.ensureDeferred
async def test_non_json_content_type_is_415(gateway, content_type):
    status, _, _ = await gateway.post_event(sample_event(), content_type=content_type)
    assert status == 415


@pytest_twisted.ensureDeferred
async def test_json_content_type_with_utf8_charset_is_accepted(gateway):
    status, _, _ = await gateway.post_event(
        sample_event(), content_type="application/json; charset=UTF-8"
    )
    assert status == 202


@pytest_twisted.ensureDeferred
async def test_body_over_the_limit_by_content_length_is_413(gateway):
    body = json.dumps(sample_event()).encode()
    body += b" " * (LIMIT + 1 - len(body))
    status, _, payload = await gateway.post_event(body)
    assert status == 413
    assert payload["errors"][0]["reason"] == f"body larger than {LIMIT} bytes"


@pytest_twisted.ensureDeferred
async def test_chunked_body_growing_past_the_limit_is_413(gateway):
    body = json.dumps(sample_event()).encode() + b" " * (4 * LIMIT)
    status, _, _ = await gateway.post_event(body, chunked=True)
    assert status == 413
    assert gateway.journal.event("evt_1") is None


@pytest_twisted.ensureDeferred
async def test_body_of_exactly_the_limit_is_accepted(gateway):
    body = json.dumps(sample_event()).encode()
    body += b" " * (LIMIT - len(body))  # JSON whitespace: the canonical body is unchanged
    status, _, _ = await gateway.post_event(body)
    assert status == 202


@pytest_twisted.ensureDeferred
async def test_bad_signature_is_401(gateway):
    status, headers, body = await gateway.post_event(sample_event(), secret=b"wrong")
    assert status == 401
    assert errors_of(body) == [("header:Foliogate-Signature", "signature does not match")]
    assert headers["WWW-Authenticate"].startswith("Foliogate-Signature")
    assert gateway.journal.event("evt_1") is None


@pytest_twisted.ensureDeferred
async def test_signature_over_another_body_is_401(gateway):
    body = json.dumps(sample_event()).encode()
    headers = {
        "Foliogate-Signature": sign(SECRET, body + b" ", NOW),
        "Content-Type": "application/json",
    }
    status, _, _ = await gateway.request("POST", "/v1/events", body, headers)
    assert status == 401


@pytest.mark.parametrize("offset", [-301, 301])
@pytest_twisted.ensureDeferred
async def test_stale_or_future_timestamp_is_401(gateway, offset):
    status, _, body = await gateway.post_event(sample_event(), t=NOW + offset)
    assert status == 401
    assert "5 minutes" in body["errors"][0]["reason"]


@pytest_twisted.ensureDeferred
async def test_missing_signature_is_401(gateway):
    body = json.dumps(sample_event()).encode()
    status, _, _ = await gateway.request(
        "POST", "/v1/events", body, {"Content-Type": "application/json"}
    )
    assert status == 401


@pytest_twisted.ensureDeferred
async def test_unknown_source_is_401(gateway):
    status, _, body = await gateway.post_event(
        sample_event(), extra={"Foliogate-Source": "someone-else"}
    )
    assert (status, errors_of(body)) == (401, [("header:Foliogate-Source", "unknown source")])


@pytest_twisted.ensureDeferred
async def test_named_source_signs_with_its_own_secret(tmp_path):
    gw = await start_gateway(
        tmp_path,
        sources={"payments": "SECRET_P", "events": "SECRET_E"},
        environ={"SECRET_P": "pp", "SECRET_E": "ee"},
    )
    try:
        unnamed = await gw.post_event(sample_event("e1"), secret=b"pp")
        wrong = await gw.post_event(
            sample_event("e1"), secret=b"pp", extra={"Foliogate-Source": "events"}
        )
        right = await gw.post_event(
            sample_event("e1"), secret=b"ee", extra={"Foliogate-Source": "events"}
        )
        assert [unnamed[0], wrong[0], right[0]] == [401, 401, 202]
        assert unnamed[2]["errors"][0]["reason"] == (
            "name the source in the Foliogate-Source header"
        )
        assert gw.journal.event("e1").source == "events"
    finally:
        await gw._port.stopListening()
        gw.journal.close()


@pytest_twisted.ensureDeferred
async def test_authentication_is_checked_before_the_property(gateway):
    status, _, _ = await gateway.post_event(sample_event(property="NOWHERE"), secret=b"x")
    assert status == 401


@pytest_twisted.ensureDeferred
async def test_pending_payment_is_accepted_and_journaled_without_legs(gateway):
    pending = sample_event("evt_p", type="payment.pending")
    pending["payment"]["status"] = "Pending"
    status, _, body = await gateway.post_event(pending)
    assert status == 202
    assert (body["event_status"], body["outcome"], body["legs"]) == (
        "no-post",
        "payment.pending: never posted",
        [],
    )


@pytest_twisted.ensureDeferred
async def test_nothing_is_acknowledged_when_the_commit_fails(gateway):
    def broken_commit():
        raise OSError("disk full")

    gateway.journal._commit = broken_commit
    status, headers, body = await gateway.post_event(sample_event("evt_lost"))
    del gateway.journal._commit

    assert status == 503
    assert headers["Retry-After"] == "1"
    assert gateway.journal.event("evt_lost") is None
    assert gateway.accepted == []


# -- GET endpoints -----------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_get_event_shows_its_legs_states_and_no_card_number(gateway):
    await gateway.post_event(sample_event("evt_a"))
    (leg,) = gateway.journal.legs()
    gateway.journal.mark_sent(leg.leg_id, 12)
    gateway.journal.mark_posted(leg.leg_id, "OK")
    gateway.journal.record_balance("evt_a", 0, "GBP", leg_id=leg.leg_id)

    status, _, body = await gateway.signed("GET", "/v1/events/evt_a", content_type=None)

    assert status == 200
    assert body["event"] == sample_event("evt_a")
    assert body["status"] == "accepted"
    assert [
        (leg["state"], leg["posting_number"], leg["answer_status"], leg["attempts"])
        for leg in body["legs"]
    ] == [("posted", 12, "OK", 1)]
    assert [b["balance"] for b in body["balances"]] == [0]
    assert body["event"]["payment"]["card_last4"] == "4242"


@pytest_twisted.ensureDeferred
async def test_get_unknown_event_is_404_and_unsigned_get_is_401(gateway):
    status, _, _ = await gateway.signed("GET", "/v1/events/nope", content_type=None)
    assert status == 404
    status, _, _ = await gateway.request("GET", "/v1/events/nope")
    assert status == 401


@pytest_twisted.ensureDeferred
async def test_get_legs_filters_by_state(gateway):
    for n in range(3):
        event = sample_event(f"evt_{n}")
        event["booking"]["confirmation_number"] = f"10{n}"
        await gateway.post_event(event)
    first = gateway.journal.legs()[0]
    gateway.journal.mark_sent(first.leg_id, 1)

    _, _, planned = await gateway.signed("GET", "/v1/legs?state=planned", content_type=None)
    _, _, both = await gateway.signed("GET", "/v1/legs?state=sent,planned", content_type=None)
    status, _, bad = await gateway.signed("GET", "/v1/legs?state=lost", content_type=None)

    assert [leg["event_id"] for leg in planned["legs"]] == ["evt_1", "evt_2"]
    assert [leg["event_id"] for leg in both["legs"]] == ["evt_0", "evt_1", "evt_2"]
    assert status == 400 and bad["errors"][0]["path"] == "state"


@pytest_twisted.ensureDeferred
async def test_healthz_is_open_and_counts_legs(gateway):
    await gateway.post_event(sample_event())
    status, _, body = await gateway.request("GET", "/healthz")
    assert (status, body) == (200, {"status": "ok", "pending": 1, "exceptions": 0})


@pytest_twisted.ensureDeferred
async def test_unknown_path_is_404_and_wrong_method_is_405(gateway):
    status, _, _ = await gateway.request("GET", "/nope")
    assert status == 404
    status, headers, _ = await gateway.signed("GET", "/v1/events", content_type=None)
    assert (status, headers["Allow"]) == (405, "POST")


# -- the exception queue -----------------------------------------------------------------------


def operator_body(**fields) -> bytes:
    return json.dumps({"operator": "alice", "note": "fixed in PMS", **fields}).encode()


@pytest_twisted.ensureDeferred
async def test_exceptions_list_retry_and_resolve_over_the_api(gateway):
    for event_id in ("evt_r", "evt_u"):
        event = copy.deepcopy(sample_event(event_id))
        await gateway.post_event(event)
    rejected, unknown = gateway.journal.legs()
    gateway.journal.mark_sent(rejected.leg_id, 1)
    gateway.journal.mark_rejected(rejected.leg_id, "NG", "Guest not found")
    gateway.journal.mark_sent(unknown.leg_id, 2)
    gateway.journal.mark_unknown(unknown.leg_id, "no answer within 60 s")
    gateway.accepted.clear()

    _, _, queue = await gateway.signed("GET", "/v1/exceptions", content_type=None)
    assert [(leg["reference"], leg["state"], leg["reason"]) for leg in queue["legs"]] == [
        ("evt_r/0", "rejected", "Guest not found"),
        ("evt_u/0", "unknown", "no answer within 60 s"),
    ]

    status, _, retried = await gateway.signed(
        "POST", f"/v1/legs/{rejected.leg_id}/retry", operator_body()
    )
    assert (status, retried["state"]) == (200, "planned")
    assert gateway.accepted == ["evt_r"]  # the dispatcher is woken for the retried leg

    status, _, resolved = await gateway.signed(
        "POST",
        f"/v1/legs/{unknown.leg_id}/resolve",
        operator_body(operator="bob", note="folio shows it posted once"),
    )
    assert (status, resolved["state"]) == (200, "resolved")
    assert resolved["notes"][0].endswith("bob resolve: folio shows it posted once")
    assert [(a.actor, a.action) for a in gateway.journal.history(leg_id=unknown.leg_id)][-1] == (
        "bob",
        "resolve",
    )

    _, _, queue = await gateway.signed("GET", "/v1/exceptions", content_type=None)
    assert queue == {"legs": [], "events": []}


@pytest_twisted.ensureDeferred
async def test_operator_action_errors(gateway):
    await gateway.post_event(sample_event())
    (leg,) = gateway.journal.legs()

    not_in_queue = await gateway.signed("POST", f"/v1/legs/{leg.leg_id}/retry", operator_body())
    no_note = await gateway.signed(
        "POST", f"/v1/legs/{leg.leg_id}/resolve", json.dumps({"operator": "alice"}).encode()
    )
    no_leg = await gateway.signed("POST", "/v1/legs/999/retry", operator_body())
    unsigned = await gateway.request(
        "POST",
        f"/v1/legs/{leg.leg_id}/retry",
        operator_body(),
        {"Content-Type": "application/json"},
    )

    assert not_in_queue[0] == 409
    assert (no_note[0], errors_of(no_note[2])) == (
        400,
        [("note", "required: a non-empty string")],
    )
    assert no_leg[0] == 404
    assert unsigned[0] == 401
    assert gateway.journal.leg(leg.leg_id).state is LegState.PLANNED


def test_times_in_json_are_utc_with_z():
    from adapters.api import _time

    assert _time(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == "2026-01-02T03:04:05Z"


# -- with the real configuration and journeys --------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_demo_configuration_and_real_journeys_end_to_end(tmp_path):
    """examples/gateway.toml, adapters.events and adapters.journeys behind the real API:
    a spa deposit plans one FIAS leg; a refund on a property that forbids negative amounts
    lands in the exception queue as "post by hand" legs that cannot be retried."""
    from pathlib import Path

    from twisted.internet import reactor

    from adapters.config import load_config

    example = Path(__file__).parent.parent / "examples" / "gateway.toml"
    text = example.read_text().replace('"../var/foliogate.sqlite"', '"journal.sqlite"')
    (tmp_path / "gateway.toml").write_text(text)
    config = load_config(tmp_path / "gateway.toml")
    journal = Journal(str(config.gateway.journal), reactor=reactor)
    clock = task.Clock()
    clock.advance(NOW)
    site = make_site(
        journal, config, clock, None, environ={"FOLIOGATE_SECRET_PAYMENTS": SECRET.decode()}
    )
    port = await listen(reactor, site, "tcp:port=0")
    gw = Gateway("127.0.0.1", port.getHost().port, journal, [], clock)
    try:
        status, _, deposit = await gw.post_event(sample_event("evt_dep"))
        assert status == 202
        assert [
            (leg["transaction_code"], leg["payment_type"], leg["amount"]) for leg in deposit["legs"]
        ] == [("SPA_DEPOSIT", "ONEJOURNEY", 5000)]

        refund = sample_event("evt_ref", type="payment.refunded", refund_of="evt_dep")
        status, _, body = await gw.post_event(refund)
        assert (status, body["event_status"]) == (202, "exception")
        assert "post by hand" in body["outcome"]
        assert [(leg["state"], leg["amount"]) for leg in body["legs"]] == [("rejected", -5000)]

        _, _, queue = await gw.signed("GET", "/v1/exceptions", content_type=None)
        assert [(leg["reference"], leg["by_hand"]) for leg in queue["legs"]] == [
            ("evt_ref/0", True)
        ]
        leg_id = queue["legs"][0]["leg_id"]
        status, _, refused = await gw.signed("POST", f"/v1/legs/{leg_id}/retry", operator_body())
        assert status == 409
        assert "posted by hand" in refused["errors"][0]["reason"]
    finally:
        await port.stopListening()
        journal.close()


@pytest_twisted.ensureDeferred
async def test_an_accepted_event_logs_one_line_and_other_requests_keep_the_access_line(gateway):
    """The API's own line ("event evt_log for GRAND-LONDON: accepted") replaces the access log
    line of that ingest (one line per event, not two); other requests keep theirs."""
    from twisted.logger import formatEvent, globalLogPublisher

    lines: list[str] = []

    def watch(event: dict) -> None:
        lines.append(formatEvent(event))

    globalLogPublisher.addObserver(watch)
    try:
        status, _, _ = await gateway.post_event(sample_event("evt_log"))
        assert status == 202
        status, _, _ = await gateway.request("GET", "/healthz", b"", {})
        assert status == 200
    finally:
        globalLogPublisher.removeObserver(watch)
    assert [line for line in lines if "evt_log" in line] == [
        "event evt_log for GRAND-LONDON: accepted"
    ]
    assert [line for line in lines if '"POST /v1/events' in line] == []
    assert len([line for line in lines if '"GET /healthz HTTP/1.1" 200' in line]) == 1
