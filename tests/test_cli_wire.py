"""``foliogate wire`` and ``foliogate replay`` (adapters/cli/wire.py, adapters/replay.py).

The leg comes from a real journey: the gateway posts a spa deposit to the FIAS simulator over
loopback (adapters.cli.stack.Stack) with an injected clock, so every frame is known. The replay
goes to a real simulator too, which books the posting a second time.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import task, threads

from adapters.cli import main
from adapters.cli.stack import Stack
from adapters.cli.wire import pretty_message
from adapters.journal import Journal
from adapters.replay import (
    ReplayRefused,
    client_endpoint,
    is_loopback_endpoint,
    plan_replay,
    replay,
)
from protocols.fias import Record

PROPERTY = "GRAND-LONDON"
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
DEPOSIT = {
    "event_id": "evt_w",
    "type": "payment.succeeded",
    "property": PROPERTY,
    "occurred_at": "2026-11-27T09:59:00Z",
    "payment": {
        "kind": "deposit",
        "amount": 5000,
        "currency": "GBP",
        "transaction_id": "pi_w",
        "method": "onejourney",
        "status": "Payment Success",
    },
    "booking": {"confirmation_number": "123456"},
}


@pytest_twisted.inlineCallbacks
def posted_deposit(stack: Stack) -> Any:
    """Start the stack and post the deposit for the in-house guest 123456; its leg id."""
    yield stack.start()
    link = stack.gateway.properties[PROPERTY].link
    yield stack.wait_for(lambda: link.status.can_post, "link alive")
    code, _ = yield stack.post_event(DEPOSIT)
    assert code == 202
    (leg,) = yield stack.wait_for_legs("evt_w", {"posted"})
    yield stack.gateway.properties[PROPERTY].dispatcher.idle()
    return leg.leg_id


def local_stamp() -> tuple[str, str]:
    """DA and TI as the FIAS link writes them (the gateway's clock in local time)."""
    local = NOW.astimezone()
    return local.strftime("%y%m%d"), local.strftime("%H%M%S")


@pytest_twisted.inlineCallbacks
def test_wire_prints_each_frame_of_a_posted_leg_field_by_field(tmp_path, capsys):
    from twisted.internet import reactor

    stack = Stack(reactor, tmp_path, now=lambda: NOW)
    try:
        leg_id = yield posted_deposit(stack)
    finally:
        yield stack.stop()
    da, ti = local_stamp()
    date = f"{da}  (20{da[:2]}-{da[2:4]}-{da[4:]})"
    time = f"{ti}  ({ti[:2]}:{ti[2:4]}:{ti[4:]})"

    assert main(["wire", "--leg", str(leg_id), "--journal", str(tmp_path / "journal.sqlite")]) == 0
    assert (
        capsys.readouterr().out
        == f"""\
leg {leg_id} (evt_w/0) of GRAND-LONDON: posted; 4 message(s) in the wire log

#1  2026-11-27T10:00:00Z  gateway -> PMS  fias
  PR Posting Request (vendor to PMS)
    SO  Sales outlet             210
    WS  Workstation ID           FOLIOGATE
    PI  Inquiry data             101
    DA  Date                     {date}
    TI  Time                     {time}
    P#  Posting sequence number  1
    PM  Payment method           ROOM

#2  2026-11-27T10:00:00Z  PMS -> gateway  fias
  PL Posting List (PMS to vendor)
    SO  Sales outlet             210
    WS  Workstation ID           FOLIOGATE
    RN  Room number              101
    G#  Reservation number       123456
    GN  Guest name               Doe, Jane
    BA  Balance amount           0
    GA  Arrival date             261127  (2026-11-27)
    GD  Departure date           261129  (2026-11-29)
    P#  Posting sequence number  1

#3  2026-11-27T10:00:00Z  gateway -> PMS  fias
  PR Posting Request (vendor to PMS)
    SO  Sales outlet             210
    WS  Workstation ID           FOLIOGATE
    RN  Room number              101
    G#  Reservation number       123456
    GN  Guest name               Doe, Jane
    TA  Total amount             5000
    DA  Date                     {date}
    TI  Time                     {time}
    P#  Posting sequence number  2
    PM  Payment method           OJ

#4  2026-11-27T10:00:00Z  PMS -> gateway  fias
  PA Posting Answer (PMS to vendor)
    SO  Sales outlet             210
    WS  Workstation ID           FOLIOGATE
    RN  Room number              101
    G#  Reservation number       123456
    GN  Guest name               Doe, Jane
    AS  Answer status            OK  (Command/request completed successfully; posted)
    DA  Date                     {date}
    TI  Time                     {time}
    P#  Posting sequence number  2
"""
    )
    assert main(["wire", "--leg", "99", "--journal", str(tmp_path / "journal.sqlite")]) == 1
    assert capsys.readouterr().err == "foliogate wire: no leg 99\n"


def test_wire_indents_soap_envelopes_and_shows_undecodable_frames_raw():
    envelope = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        b"<PostCharge><Amount>50.00</Amount></PostCharge></s:Body></s:Envelope>"
    )
    assert pretty_message("opera-htng", envelope) == (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">\n'
        "  <s:Body>\n"
        "    <PostCharge>\n"
        "      <Amount>50.00</Amount>\n"
        "    </PostCharge>\n"
        "  </s:Body>\n"
        "</s:Envelope>"
    )
    http = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml\r\n\r\n<a><b/></a>"
    assert pretty_message("rezlynx", http) == (
        "HTTP/1.1 500 Internal Server Error\nContent-Type: text/xml\n\n<a>\n  <b/>\n</a>"
    )
    assert pretty_message("fias", b"PA|ASOK|P#abc|") == (
        "(does not decode: PA field P# at offset 8: 'P#abc' is not numeric (N): "
        "raw b'PA|ASOK|P#abc|')\n  raw: b'PA|ASOK|P#abc|'"
    )


# -- replay --------------------------------------------------------------------------------------


def frames(*items: tuple[str, bytes], protocol: str = "fias") -> list[Any]:
    return [SimpleNamespace(direction=d, raw=raw, protocol=protocol) for d, raw in items]


def test_replay_plan_takes_the_last_posting_and_the_inquiry_before_it():
    plan = plan_replay(
        frames(
            ("out", b"PR|WSFG|PI101|P#1|PMROOM|"),
            ("in", b"PL|RN101|G#123456|GNDoe|P#1|"),
            ("out", b"PR|WSFG|RN101|G#123456|TA5000|P#2|PMOJ|"),
            ("in", b"PA|ASRY|P#2|"),
            ("out", b"PR|WSFG|PI101|P#3|PMROOM|"),
            ("in", b"PL|RN101|G#123456|GNDoe|P#3|"),
            ("out", b"PR|WSFG|RN101|G#123456|TA5000|P#4|PMOJ|"),
            ("in", b"PA|ASUR|CTunknown code|P#4|"),
        )
    )
    assert plan.inquiry == Record("PR", (("WS", "FG"), ("PI", "101"), ("P#", "3"), ("PM", "ROOM")))
    assert plan.posting.get("P#") == "4"
    assert plan.recorded_answer == Record("PA", (("AS", "UR"), ("CT", "unknown code"), ("P#", "4")))


def test_replay_refuses_what_it_cannot_resend_faithfully():
    with pytest.raises(ReplayRefused, match="no posting PR was sent"):
        plan_replay(frames(("out", b"PR|WSFG|PI101|P#1|PMROOM|")))
    with pytest.raises(ReplayRefused, match="only FIAS postings can be replayed"):
        plan_replay(frames(("out", b"<Envelope/>"), protocol="opera-htng"))
    with pytest.raises(ReplayRefused, match="masked in the wire log"):
        plan_replay(frames(("out", b"PR|WSFG|G#1|TA5000|P#2|PMOJ|CT************1111|")))


def test_replay_endpoints_count_as_local_only_on_loopback():
    assert client_endpoint("127.0.0.1:5010") == "tcp:host=127.0.0.1:port=5010"
    assert is_loopback_endpoint("tcp:host=127.0.0.1:port=5010")
    assert is_loopback_endpoint("tcp:host=localhost:port=5010")
    assert is_loopback_endpoint(client_endpoint("[::1]:5010"))
    assert not is_loopback_endpoint("tcp:host=10.1.2.3:port=5010")
    assert not is_loopback_endpoint("tcp:host=pms.hotel.example:port=5010")
    assert not is_loopback_endpoint("unix:/tmp/pms.sock")


def test_replay_to_another_machine_is_refused_without_force(tmp_path, capsys):
    journal = Journal(str(tmp_path / "journal.sqlite"), reactor=task.Clock())
    journal.close()
    argv = [
        "replay",
        "--leg",
        "1",
        "--journal",
        str(tmp_path / "journal.sqlite"),
        "--to",
        "10.1.2.3:5010",
    ]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "foliogate replay: refusing to replay to 10.1.2.3:5010: it is not on this machine, and "
        "replaying a posting posts it again; give --force if it really is a test PMS\n"
    )
    # With --force it gets as far as the journal: this one has no such leg.
    assert main([*argv, "--force"]) == 2
    assert capsys.readouterr().err == "foliogate replay: leg 1: no leg 1\n"


@pytest_twisted.inlineCallbacks
def test_replay_resends_the_recorded_posting_to_a_simulator_which_posts_it_again(tmp_path):
    from twisted.internet import reactor

    stack = Stack(reactor, tmp_path, now=lambda: NOW)
    try:
        leg_id = yield posted_deposit(stack)
        # One link per PMS: the gateway lets go of the simulator before the replay connects.
        yield stack.gateway.stop()
        stack.gateway = None
        journal = Journal(str(tmp_path / "journal.sqlite"), recover=False)
        try:
            plan = plan_replay(journal.wire_log(leg_id=leg_id))
        finally:
            journal.close()
        host, port = stack.sim.fias_address
        result = yield replay(
            reactor,
            f"tcp:host={host}:port={port}",
            plan,
            posting_number=90000001,
            now=lambda: dt.datetime(2026, 11, 27, 11, 0),
        )
        assert result.problem is None
        assert result.answer_status == "OK"
        sent = [p for d, p in result.frames if d == "out"]
        da, ti = local_stamp()
        assert sent[-3:] == [
            f"PR|SO210|WSFOLIOGATE|PI101|DA{da}|TI{ti}|P#90000001|PMROOM|".encode(),
            f"PR|SO210|WSFOLIOGATE|RN101|G#123456|GNDoe, Jane|TA5000|DA{da}|TI{ti}|"
            f"P#90000002|PMOJ|".encode(),
            b"LE|DA261127|TI110000|",
        ]
        assert sent[0] == b"LD|DA261127|TI110000|V#replay|IFPO|"
        assert result.inquiry_answer is not None and result.inquiry_answer.get("G#") == "123456"
        # The hotel now has the deposit twice: replaying posts again.
        folio = yield stack.control("GET", "/reservations/123456/folio")
        deposits = [line for line in folio["lines"] if line["code"] == "SPA_DEPOSIT"]
        assert [line["amount"] for line in deposits] == [5000, 5000]
    finally:
        yield stack.stop()


@pytest_twisted.inlineCallbacks
def test_replay_cli_prints_the_conversation_and_the_answer(tmp_path):
    """The verb in a real process against the simulator running in this test's reactor."""
    from twisted.internet import reactor

    stack = Stack(reactor, tmp_path, now=lambda: NOW)
    try:
        leg_id = yield posted_deposit(stack)
        yield stack.gateway.stop()
        stack.gateway = None
        host, port = stack.sim.fias_address
        argv = [
            sys.executable,
            "-m",
            "adapters.cli",
            "replay",
            "--leg",
            str(leg_id),
            "--journal",
            str(tmp_path / "journal.sqlite"),
            "--to",
            f"{host}:{port}",
            "--posting-number",
            "90000001",
        ]
        proc = yield threads.deferToThread(
            subprocess.run,
            argv,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[1],
        )
    finally:
        yield stack.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == (
        f"warning: replaying leg {leg_id} (evt_w/0) POSTS IT AGAIN on {host}:{port} "
        "(P# 90000001 and 90000002)\nrecorded answer: AS OK\n"
    )
    out = proc.stdout
    assert out.startswith("PMS -> replay  LS|")
    assert "replay -> PMS  LR|RIPR|FLP#WSPMPIRNG#GNSOTADATIIDCT|\n" in out
    assert "    P#  Posting sequence number  90000002\n" in out
    assert out.endswith("answer: AS OK\n")
