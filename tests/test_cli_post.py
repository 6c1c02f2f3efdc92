"""``foliogate post FILE`` against a real ingest API on loopback with a real SQLite journal.

The server runs in the test's reactor; the CLI runs in a thread (threads.deferToThread) and
signs with the real time, so the API's clock is the reactor.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import pytest_twisted
from twisted.internet import threads

import adapters.cli.post as post_verb
from adapters.api import EventRules, listen, make_site
from adapters.cli import main
from adapters.domain import EventType, PlannedLeg
from adapters.journal import Journal

SECRET_ENV = "FOLIOGATE_SECRET_PAYMENTS"
SECRET = "whsec_cli_test"


@dataclass(frozen=True)
class Plan:
    """Stands in for adapters.journeys.JourneyPlan (same fields)."""

    outcome: str = "post"
    legs: tuple = ()
    reason: str = ""
    target: str = "reservation"
    by_hand: tuple = ()


def deposit_plan(event, property_config, original_legs):
    if event.type is not EventType.PAYMENT_SUCCEEDED:
        return Plan("not_posted", reason="never posted")
    amount, currency = event.payment.amount, event.payment.currency
    return Plan(legs=(PlannedLeg(0, "SPA_DEPOSIT", "ONEJOURNEY", amount, currency),))


def sample_event(event_id: str, amount: int = 5000, **changes) -> dict:
    event = {
        "event_id": event_id,
        "type": "payment.succeeded",
        "property": "GRAND-LONDON",
        "occurred_at": "2026-11-21T10:04:05Z",
        "payment": {
            "kind": "deposit",
            "amount": amount,
            "currency": "GBP",
            "transaction_id": f"pi_{event_id}",
            "method": "onejourney",
            "status": "Payment Success",
        },
        "booking": {"confirmation_number": "123456"},
    }
    event.update(changes)
    return event


@dataclass
class Server:
    url: str
    journal: Journal
    requests: list[bytes]


@pytest.fixture
def server(tmp_path, monkeypatch):
    from twisted.internet import reactor

    from adapters import events

    monkeypatch.setenv(SECRET_ENV, SECRET)
    journal = Journal(str(tmp_path / "journal.sqlite"), reactor=reactor)
    config = SimpleNamespace(
        gateway=SimpleNamespace(max_body_bytes=64 * 1024),
        sources={"payments": SimpleNamespace(secret_env=SECRET_ENV)},
        properties={"GRAND-LONDON": SimpleNamespace()},
    )
    rules = EventRules(
        validate=events.validate_event,
        parse=events.parse_event,
        canonical=events.canonical_body,
        plan=deposit_plan,
        decode=events.decode_event_json,
    )
    site = make_site(journal, config, reactor, None, rules=rules)
    requests: list[bytes] = []
    render = site.resource.render

    def counting_render(request):
        requests.append(request.path)
        return render(request)

    site.resource.render = counting_render
    port = pytest_twisted.blockon(listen(reactor, site, "tcp:port=0"))
    yield Server(f"http://127.0.0.1:{port.getHost().port}", journal, requests)
    pytest_twisted.blockon(port.stopListening())
    journal.close()


def write_lines(tmp_path, lines: list[str]) -> str:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest_twisted.ensureDeferred
async def test_post_reports_accepted_duplicate_and_rejected_per_line(server, tmp_path, capsys):
    bad_amount = sample_event("evt_bad")
    bad_amount["payment"]["amount"] = 50.5
    path = write_lines(
        tmp_path,
        [
            json.dumps(sample_event("evt_1")),  # 1 accepted
            json.dumps(sample_event("evt_2")),  # 2 accepted
            "",  # 3 blank: skipped
            json.dumps(sample_event("evt_1")),  # 4 duplicate
            json.dumps(sample_event("evt_1", amount=7000)),  # 5 conflict
            json.dumps(bad_amount),  # 6 invalid
            '{"event_id": ',  # 7 malformed: not sent
            "[1, 2]",  # 8 not an object: not sent
            json.dumps(sample_event("evt_x", property="NOWHERE")),  # 9 unknown property
        ],
    )

    code = await threads.deferToThread(
        main, ["post", path, "--url", server.url, "--progress-every", "2"]
    )

    out, err = capsys.readouterr()
    assert code == 1
    lines = out.splitlines()
    assert lines[:3] == ["accepted: 2", "duplicate: 1", "rejected: 5"]
    assert lines[3] == (
        "line 5: 409 event_id: this event_id was already accepted with a different body"
    )
    assert lines[4] == (
        "line 6: 400 payment.amount: must be an integer number of minor units "
        "(5000 for 50.00), not a decimal number"
    )
    assert lines[5].startswith("line 7: malformed JSON, not sent: ")
    assert lines[6:] == [
        "line 8: not a JSON object, not sent",
        "line 9: 404 property: unknown property 'NOWHERE'",
    ]
    # Not a terminal: a progress line every 2 events, nothing drawn with \r.
    assert err.splitlines() == [
        "post: 2/8 events (accepted 2, duplicate 0, rejected 0)",
        "post: 4/8 events (accepted 2, duplicate 1, rejected 1)",
        "post: 6/8 events (accepted 2, duplicate 1, rejected 3)",
        "post: 8/8 events (accepted 2, duplicate 1, rejected 5)",
    ]
    assert len(server.requests) == 6  # lines 7 and 8 never reached the gateway
    assert [leg.event_id for leg in server.journal.legs()] == ["evt_1", "evt_2"]


@pytest_twisted.ensureDeferred
async def test_post_of_a_clean_file_exits_0_and_draws_a_bar_on_a_terminal(
    server, tmp_path, capsys, monkeypatch
):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    path = write_lines(tmp_path, [json.dumps(sample_event(f"evt_{n}")) for n in range(5)])

    code = await threads.deferToThread(main, ["post", path, "--url", server.url])

    assert code == 0
    assert capsys.readouterr().out.splitlines() == ["accepted: 5", "duplicate: 0", "rejected: 0"]
    drawn = terminal.getvalue()
    assert drawn.startswith("\r[")
    assert drawn.endswith(f"\r[{'#' * 30}] 5/5  accepted 5, duplicate 0, rejected 0\n")
    assert len(server.journal.legs()) == 5


@pytest_twisted.ensureDeferred
async def test_post_retries_a_503_and_the_event_is_accepted_once(
    server, tmp_path, capsys, monkeypatch
):
    """The journal fails to commit once: the gateway answers 503, post sends it again."""
    waits: list[float] = []
    monkeypatch.setattr(post_verb, "_sleep", waits.append)
    failures = [OSError("disk full")]
    commit = server.journal._commit

    def flaky_commit():
        if failures:
            raise failures.pop()
        commit()

    server.journal._commit = flaky_commit
    path = write_lines(tmp_path, [json.dumps(sample_event("evt_1"))])

    code = await threads.deferToThread(main, ["post", path, "--url", server.url])

    assert code == 0
    assert waits == [0.5]
    assert capsys.readouterr().out.splitlines()[0] == "accepted: 1"
    assert len(server.journal.legs()) == 1


def test_post_to_an_unreachable_gateway_stops_and_says_what_was_not_sent(
    tmp_path, capsys, monkeypatch
):
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    monkeypatch.setattr(post_verb, "_sleep", waits.append)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    path = write_lines(tmp_path, [json.dumps(sample_event(f"evt_{n}")) for n in range(3)])

    code = main(["post", path, "--url", f"http://127.0.0.1:{port}", "--retries", "2"])

    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert waits == [0.5, 1.0]
    assert out[:3] == ["accepted: 0", "duplicate: 0", "rejected: 0"]
    assert out[3].startswith(f"stopped: cannot reach 127.0.0.1:{port}: ")
    assert out[3].endswith("; lines 1-3 (3 events) not sent (sending the file again is safe)")


def test_post_without_the_secret_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    path = write_lines(tmp_path, ["{}"])
    code = main(["post", path, "--secret-env", "NO_SUCH_SECRET"])
    assert code == 2
    assert capsys.readouterr().err == (
        "foliogate post: environment variable NO_SUCH_SECRET (the source's secret) is not set\n"
    )


def test_post_of_a_missing_file_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    code = main(["post", str(tmp_path / "nope.jsonl")])
    assert code == 2
    assert "cannot read" in capsys.readouterr().err
