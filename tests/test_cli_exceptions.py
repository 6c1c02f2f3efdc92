"""``foliogate exceptions list|show|retry|resolve`` working on a real journal file."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from twisted.internet import task

from adapters.cli import main
from adapters.domain import Booking, EventType, LegState, PaymentEvent, PlannedLeg
from adapters.journal import Journal

T0 = dt.datetime(2026, 11, 21, 10, 4, 5, tzinfo=dt.UTC)


def record(journal: Journal, event_id: str, legs, plan=None):
    event = PaymentEvent(
        event_id, EventType.PAYMENT_SUCCEEDED, "GRAND-LONDON", T0, booking=Booking("123456")
    )
    return journal.record_event(event, json.dumps({"id": event_id}).encode(), plan or legs)


@pytest.fixture
def journal_file(tmp_path):
    """A journal with one rejected leg (1), one unknown leg (2) and one posted leg (3)."""
    path = str(tmp_path / "journal.sqlite")
    journal = Journal(path, reactor=task.Clock(), now=lambda: T0)
    record(journal, "evt_r", [PlannedLeg(0, "SPA_DEPOSIT", "ONEJOURNEY", 5000, "GBP")])
    record(journal, "evt_u", [PlannedLeg(0, None, "ONEJOURNEY", 12050, "GBP", "Balance")])
    record(journal, "evt_ok", [PlannedLeg(0, None, "ONEJOURNEY", 100, "GBP")])
    journal.mark_sent(1, 7)
    journal.log_wire("out", "fias", b"PR|P#7|TA5000|", leg_id=1)
    journal.log_wire("in", "fias", b"PA|P#7|ASNG|CTGuest not found|", leg_id=1)
    journal.mark_rejected(1, "NG", "Guest not found")
    journal.mark_sent(2, 8)
    journal.mark_unknown(2, "no answer within 60 s")
    journal.mark_sent(3, 9)
    journal.mark_posted(3, "OK")
    journal.close()
    return path


def reopen(path: str) -> Journal:
    return Journal(path, reactor=task.Clock(), recover=False)


def test_list_shows_the_queue_as_a_table(journal_file, capsys):
    assert main(["exceptions", "list", "--journal", journal_file]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "LEG", "STATE", "PROPERTY", "REFERENCE", "CONF", "CODES", "AMOUNT", "TRIES", "WHY",
    ]  # fmt: skip
    assert lines[1].split() == [
        "1", "rejected", "GRAND-LONDON", "evt_r/0", "123456", "SPA_DEPOSIT", "/", "ONEJOURNEY",
        "50.00", "GBP", "1", "NG:", "Guest", "not", "found",
    ]  # fmt: skip
    assert lines[2].split()[:3] == ["2", "unknown", "GRAND-LONDON"]
    assert "120.50 GBP" in lines[2]
    assert len(lines) == 3  # the posted leg is not in the queue


def test_list_json_is_the_api_view(journal_file, capsys):
    assert main(["exceptions", "list", "--journal", journal_file, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(leg["leg_id"], leg["state"]) for leg in data["legs"]] == [
        (1, "rejected"),
        (2, "unknown"),
    ]
    assert data["events"] == []


def test_show_gives_history_and_wire_log(journal_file, capsys):
    assert main(["exceptions", "show", "1", "--journal", journal_file]) == 0
    out = capsys.readouterr().out
    assert "state:            rejected" in out
    assert "last P#:          7" in out
    assert "reason:           Guest not found" in out
    assert "gateway  rejected  sent -> rejected: Guest not found" in out
    assert "-> fias  b'PR|P#7|TA5000|'" in out
    assert "<- fias  b'PA|P#7|ASNG|CTGuest not found|'" in out


def test_retry_is_journaled_with_operator_and_note(journal_file, capsys):
    code = main(
        ["exceptions", "retry", "1", "--note", "room fixed", "--operator", "alice",
         "--journal", journal_file]
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out == ("leg 1 (evt_r/0) rejected -> planned by alice: room fixed\n")
    journal = reopen(journal_file)
    assert journal.leg(1).state is LegState.PLANNED
    last = journal.history(leg_id=1)[-1]
    assert (last.actor, last.action, last.note) == ("alice", "retry", "room fixed")
    journal.close()


def test_retry_of_an_unknown_leg_warns_about_double_posting(journal_file, capsys):
    code = main(
        ["exceptions", "retry", "2", "--note", "PMS has no such posting", "--operator", "bob",
         "--journal", journal_file]
    )  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: leg 2's outcome was unknown; if the PMS did post it")


def test_resolve_defaults_the_operator_to_the_login_name(journal_file, capsys, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "night-auditor")
    code = main(["exceptions", "resolve", "2", "--note", "posted once", "--journal", journal_file])
    assert code == 0
    journal = reopen(journal_file)
    assert journal.leg(2).state is LegState.RESOLVED
    assert journal.history(leg_id=2)[-1].actor == "night-auditor"
    journal.close()


def test_acting_on_a_leg_outside_the_queue_fails_with_one_line(journal_file, capsys):
    code = main(
        ["exceptions", "retry", "3", "--note", "x", "--operator", "a", "--journal", journal_file]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("foliogate exceptions: leg 3 is posted; it cannot become planned")
    assert err.count("\n") == 1


def test_unknown_leg_fails(journal_file, capsys):
    assert main(["exceptions", "show", "99", "--journal", journal_file]) == 1
    assert capsys.readouterr().err == "foliogate exceptions: no leg 99\n"


def test_event_level_exception_is_listed_and_resolved_with_event_flag(tmp_path, capsys):
    path = str(tmp_path / "journal.sqlite")
    journal = Journal(path, reactor=task.Clock(), now=lambda: T0)

    class Plan:
        outcome, legs, reason, target, by_hand = "exception", (), "no code for ITEM_X", "", ()

    record(journal, "evt_x", (), Plan())
    journal.close()

    assert main(["exceptions", "list", "--journal", path]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "events a journey could not plan (assign, retry or resolve with --event):",
        "  evt_x  GRAND-LONDON  payment.succeeded  no code for ITEM_X",
    ]
    code = main(
        ["exceptions", "resolve", "evt_x", "--event", "--note", "mapped and posted by hand",
         "--operator", "alice", "--journal", path]
    )  # fmt: skip
    assert code == 0
    assert main(["exceptions", "list", "--journal", path]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "the exception queue is empty"


def test_the_journal_must_be_named_and_must_exist(tmp_path, capsys):
    assert main(["exceptions", "list"]) == 2
    assert capsys.readouterr().err == (
        "foliogate exceptions: say which journal: --config FILE or --journal PATH\n"
    )
    missing = str(tmp_path / "none.sqlite")
    assert main(["exceptions", "list", "--journal", missing]) == 2
    assert capsys.readouterr().err == f"foliogate exceptions: no journal at {missing}\n"


def test_opening_beside_a_running_gateway_leaves_in_flight_legs_alone(tmp_path, capsys):
    path = str(tmp_path / "journal.sqlite")
    gateway = Journal(path, reactor=task.Clock(), now=lambda: T0)
    record(gateway, "evt_1", [PlannedLeg(0, "SPA_DEPOSIT", "ONEJOURNEY", 5000, "GBP")])
    gateway.mark_sent(1, 1)

    assert main(["exceptions", "list", "--journal", path]) == 0

    assert gateway.leg(1).state is LegState.SENT
    gateway.close()


def test_config_file_names_the_journal(journal_file, tmp_path, capsys):
    from pathlib import Path

    example = Path(__file__).parent.parent / "examples" / "gateway.toml"
    text = example.read_text().replace('"../var/foliogate.sqlite"', json.dumps(journal_file))
    config = tmp_path / "gateway.toml"
    config.write_text(text)

    assert main(["exceptions", "list", "--config", str(config)]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["LEG", "1", "2"]
