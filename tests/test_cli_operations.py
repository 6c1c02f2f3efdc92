"""``foliogate exceptions`` for issue 5: show an event's candidates, conversion and flags;
assign a record to an event (planned again from the configuration); approve a held payment;
retry an event once its rate exists. Run against a real journal file and configuration."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import task

from adapters.cli import main
from adapters.config import load_config
from adapters.domain import LegState
from adapters.events import canonical_body, parse_event
from adapters.intake import Intake
from adapters.journal import EventStatus, Journal
from adapters.matching import Candidate

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "gateway.toml"
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
RATES = "base,quote,rate,valid_from,valid_to\nJPY,GBP,0.0052,2026-11-01,2026-12-01\n"


def event(event_id: str, number: str, amount: int, currency: str = "GBP") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "payment.succeeded",
        "property": "GRAND-LONDON",
        "occurred_at": "2026-11-27T10:04:05Z",
        "payment": {
            "kind": "balance",
            "amount": amount,
            "currency": currency,
            "transaction_id": f"pi_{event_id}",
            "method": "onejourney",
            "status": "Payment Success",
        },
        "booking": {"confirmation_number": number, "guest_name": "Jane Doe"},
    }


@pytest.fixture
def setup(tmp_path):
    """A configuration (approval threshold 1,000.00 GBP, a rates file) and its journal."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('journal = "../var/foliogate.sqlite"', 'journal = "journal.sqlite"')
    text = text.replace("max_body_bytes = 65536", 'max_body_bytes = 65536\nrates = "rates.csv"')
    text = text.replace("alive_interval_seconds = 300", "alive_interval_seconds = 300\n"
                        "approval_threshold = 100000")  # fmt: skip
    (tmp_path / "rates.csv").write_text("base,quote,rate,valid_from,valid_to\n", "utf-8")
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    journal = Journal(str(config.gateway.journal), reactor=task.Clock(), now=lambda: T0)
    intake = Intake.from_config(config, journal)

    def record(obj: dict[str, Any]) -> Any:
        parsed = parse_event(obj)
        plan = intake.plan(parsed, config.properties["GRAND-LONDON"])
        return journal.record_event(parsed, canonical_body(obj), plan)

    yield path, journal, record
    journal.close()


def test_show_lists_ranked_candidates_and_assign_plans_the_event(setup, capsys):
    path, journal, record = setup
    record(event("evt_blank", "", 4200))
    journal.record_candidates(
        "evt_blank",
        (
            Candidate(1, "123456", "Doe, Jane", 85, ("name ... (60/60)", "stay ... (25/25)"),
                      room="101", arrival=dt.date(2026, 11, 27), departure=dt.date(2026, 11, 29)),
            Candidate(2, "600001", "Doe, John", 65, ("name ... (45/60)",), room="202"),
        ),
        "searched the PMS by name for 'Doe', 'Jane': 2 candidate(s)",
    )  # fmt: skip
    assert main(["exceptions", "show", "evt_blank", "--event", "--config", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "matching:         searched: no confirmation number\n" in shown
    assert "  candidate #1 123456  Doe, Jane  room 101  2026-11-27..2026-11-29  score 85\n" in shown
    assert "      stay ... (25/25)\n" in shown
    assert main(["exceptions", "list", "--config", str(path)]) == 0
    assert "      candidate #2 600001  Doe, John  room 202  score 65" in capsys.readouterr().out

    code = main(["exceptions", "assign", "evt_blank", "--confirmation", "123456",
                 "--note", "candidate 1, checked the stay", "--operator", "alice",
                 "--config", str(path)])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "event evt_blank assigned 123456 by alice: accepted",
        "  leg 1 (evt_blank/0) planned",
    ]
    record_ = journal.event("evt_blank")
    assert (record_.status, record_.match.assigned_by, record_.legs[0].confirmation_number) == (
        EventStatus.ACCEPTED,
        "alice",
        "123456",
    )


def test_assigning_an_event_needs_the_configuration(setup, capsys):
    path, journal, record = setup
    record(event("evt_blank", "", 4200))
    code = main(["exceptions", "assign", "evt_blank", "--confirmation", "123456", "--note", "x",
                 "--journal", journal.path])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err == (
        "foliogate exceptions: planning an event again needs the configuration: give --config "
        "FILE\n"
    )


def test_approve_releases_a_payment_over_the_threshold(setup, capsys):
    path, journal, record = setup
    (leg,) = record(event("evt_big", "123456", 150000)).legs
    assert leg.state is LegState.REJECTED
    code = main(["exceptions", "approve", str(leg.leg_id), "--note", "GM ok", "--operator",
                 "carol", "--journal", journal.path])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out == "leg 1 (evt_big/0) planned (approved by carol)\n"
    assert journal.leg(leg.leg_id).state is LegState.PLANNED
    again = main(["exceptions", "approve", str(leg.leg_id), "--note", "twice",
                  "--journal", journal.path])  # fmt: skip
    assert again == 1
    assert capsys.readouterr().err == (
        "foliogate exceptions: leg 1 is planned, not held for approval\n"
    )


def test_retry_event_plans_it_again_once_the_rate_exists(setup, capsys, tmp_path):
    path, journal, record = setup
    assert record(event("evt_jpy", "123456", 12345, "JPY")).event_status is EventStatus.EXCEPTION
    (tmp_path / "rates.csv").write_text(RATES, encoding="utf-8")
    code = main(["exceptions", "retry", "evt_jpy", "--event", "--note", "JPY rate added",
                 "--operator", "dan", "--config", str(path)])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out == "event evt_jpy planned again by dan: accepted\n"
    stored = journal.event("evt_jpy")
    assert [(leg.plan.amount, leg.plan.currency) for leg in stored.legs] == [(6419, "GBP")]
    assert main(["exceptions", "show", "evt_jpy", "--event", "--config", str(path)]) == 0
    assert (
        "converted:        12345 JPY at JPY/GBP 0.0052 = 64.19 GBP (ROUND_HALF_EVEN)\n"
        in capsys.readouterr().out
    )


def test_an_id_that_is_both_a_leg_and_an_event_must_be_named(setup, capsys):
    path, journal, record = setup
    record(event("1", "123456", 100))
    code = main(["exceptions", "assign", "1", "--confirmation", "200101", "--note", "x",
                 "--journal", journal.path])  # fmt: skip
    assert code == 2
    assert "1 is both a leg id and an event id: add --leg or --event" in capsys.readouterr().err
