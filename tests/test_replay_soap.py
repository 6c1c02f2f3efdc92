"""``foliogate replay`` for SOAP legs (adapters/replay_soap.py, adapters/cli/replay.py).

The legs come from real journeys: the gateway posts a payment to the opera-htng or rezlynx
simulator over loopback (adapters.cli.stack.Stack, examples/gateway-soap.toml), which the
``reject_status`` knob makes the PMS refuse (AMOUNT_NOT_ALLOWED / 8006), so the leg is rejected
and the diagnosis question is real: "does the PMS still refuse it?". The replays go to the same
simulator: the first is refused again by the knob (exit 1), the second books the payment (exit
0) and the third gets the original answer without booking again (the simulators answer a
``Reference`` they already booked with the original result: DESIGN's retry-safe dedupe).
Refusals are checked on hand-made journals through ``adapters.cli.main``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import e2e_helpers
import pytest
import pytest_twisted
from twisted.internet import task, threads

from adapters.cli import build_parser, main
from adapters.cli.replay import soap_job
from adapters.cli.stack import EXAMPLE_SOAP_CONFIG, Stack
from adapters.domain import Booking, EventType, LegState, PaymentEvent, PlannedLeg
from adapters.journal import Journal
from adapters.replay import ReplayRefused
from adapters.replay_soap import (
    ASYNC_REFUSAL,
    is_loopback_url,
    plan_soap_replay,
    read_outcome,
)
from protocols.soap import mask_secrets

PROPERTIES = {"opera-htng": "DEMO-OPERA", "rezlynx": "DEMO-REZLYNX"}
T0 = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
OH = "urn:foliogate:opera-htng:1"
RZ = "urn:foliogate:rezlynx:1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"


def envelope(body: str, header: str = "") -> bytes:
    head = f"<s:Header>{header}</s:Header>" if header else ""
    return (f'<?xml version="1.0"?><s:Envelope xmlns:s="{SOAP11}">{head}<s:Body>{body}'
            "</s:Body></s:Envelope>").encode()  # fmt: skip


def frames(*items: tuple[str, bytes], protocol: str) -> list[Any]:
    return [SimpleNamespace(direction=d, raw=raw, protocol=protocol) for d, raw in items]


def post_payment(reference: str, extra: str = "") -> str:
    return (f'<o:PostPaymentRequest xmlns:o="{OH}"><o:ReservationID>123456</o:ReservationID>'
            f"<o:FolioWindow>1</o:FolioWindow><o:PaymentType>ONEJOURNEY</o:PaymentType>"
            f'<o:Amount currencyCode="GBP" decimals="2">2500</o:Amount>'
            f"<o:Reference>{reference}</o:Reference>{extra}</o:PostPaymentRequest>")  # fmt: skip


def config_file(tmp_path, journal) -> str:
    """examples/gateway-soap.toml with this test's journal."""
    text = EXAMPLE_SOAP_CONFIG.read_text(encoding="utf-8")
    text, n = re.subn(r'(?m)^journal = "[^"]*"', f"journal = {json.dumps(str(journal))}", text)
    assert n == 1
    path = tmp_path / "gateway-soap.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- planning (pure) -------------------------------------------------------------------------------


def test_the_plan_is_the_last_posting_request_not_a_folio_read_and_keeps_its_answer():
    fetch = envelope(f'<o:FetchFolioRequest xmlns:o="{OH}"><o:ReservationID>123456'
                     "</o:ReservationID></o:FetchFolioRequest>")  # fmt: skip
    action = f'<a:Action xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">{OH}#PostPayment</a:Action>'
    plan = plan_soap_replay(
        frames(
            ("out", envelope(post_payment("evt/0"), action)),
            ("in", b"<first answer/>"),
            ("out", envelope(post_payment("evt/0", "<o:Description>2nd</o:Description>"), action)),
            ("in", b"<second answer/>"),
            ("out", fetch),
            ("in", b"<folio/>"),
            protocol="opera-htng",
        )
    )
    assert (plan.profile, plan.operation, plan.action) == (
        "opera-htng", "PostPayment", f"{OH}#PostPayment",
    )  # fmt: skip
    assert b"<o:Description>2nd</o:Description>" in plan.payload
    assert plan.recorded_answer == b"<second answer/>"


def test_a_rezlynx_plan_never_picks_the_login_or_a_folio_read():
    log_in = envelope(f'<r:LogIn xmlns:r="{RZ}"><r:SiteID>DEMO</r:SiteID><r:OperatorCode>u'
                      "</r:OperatorCode><r:Password>****</r:Password></r:LogIn>")  # fmt: skip
    deposit = envelope(f'<r:AddDeposit xmlns:r="{RZ}"><r:SessionID>s1</r:SessionID>'
                       "<r:BookingRef>400001</r:BookingRef><r:PaymentCode>ONEJOURNEY"
                       "</r:PaymentCode><r:Amount>25.00</r:Amount><r:Reference>evt/1"
                       "</r:Reference></r:AddDeposit>")  # fmt: skip
    folio = envelope(f'<r:GetFolio xmlns:r="{RZ}"><r:SessionID>s1</r:SessionID>'
                     "<r:BookingRef>400001</r:BookingRef></r:GetFolio>")  # fmt: skip
    plan = plan_soap_replay(
        frames(
            ("out", log_in),
            ("in", b"<a/>"),
            ("out", deposit),
            ("in", b"<b/>"),
            ("out", folio),
            ("in", b"<c/>"),
            protocol="rezlynx",
        )  # fmt: skip
    )
    assert (plan.operation, plan.action) == ("AddDeposit", f"{RZ}/AddDeposit")
    assert plan.recorded_answer == b"<b/>"
    with pytest.raises(ReplayRefused, match="no rezlynx posting request was sent"):
        plan_soap_replay(frames(("out", log_in), ("out", folio), protocol="rezlynx"))


def test_what_cannot_be_resent_faithfully_is_refused_with_the_reason():
    with pytest.raises(ReplayRefused) as refused:
        plan_soap_replay(frames(("out", b"<ChargePostingRQ/>"), protocol="htng-async"))
    assert str(refused.value) == ASYNC_REFUSAL
    assert "result comes later by callback" in ASYNC_REFUSAL and "foliogate wire" in ASYNC_REFUSAL
    masked = post_payment("evt/0", "<o:Description>card **** **** **** 1111</o:Description>")
    with pytest.raises(ReplayRefused, match="PostPayment request was masked in the wire log"):
        plan_soap_replay(frames(("out", envelope(masked)), protocol="opera-htng"))
    with pytest.raises(ReplayRefused, match="holds fias: no SOAP request"):
        plan_soap_replay(frames(("out", b"PR|P#1|"), protocol="fias"))


def test_answers_read_as_the_profile_says():
    fail = envelope(f'<o:PostPaymentResponse xmlns:o="{OH}"><o:Result resultStatusFlag="FAIL">'
                    "<o:Text>too big</o:Text><o:ErrorCode>AMOUNT_NOT_ALLOWED</o:ErrorCode>"
                    "</o:Result></o:PostPaymentResponse>")  # fmt: skip
    assert read_outcome("opera-htng", fail).summary == "FAIL AMOUNT_NOT_ALLOWED (too big)"
    assert not read_outcome("opera-htng", fail).ok
    ok = envelope(f'<r:AddPaymentResponse xmlns:r="{RZ}"><r:AddPaymentResult><r:ExceptionCode>0'
                  "</r:ExceptionCode><r:ExceptionDescription>No error</r:ExceptionDescription>"
                  "</r:AddPaymentResult></r:AddPaymentResponse>")  # fmt: skip
    assert read_outcome("rezlynx", ok) == type(read_outcome("rezlynx", ok))(
        True, "ExceptionCode 0 (No error)"
    )
    assert read_outcome("rezlynx", b"Internal error", 500).summary.startswith(
        "HTTP 500, unreadable answer"
    )


def test_only_loopback_urls_count_as_local():
    assert is_loopback_url("http://127.0.0.1:8611/opera-htng")
    assert is_loopback_url("http://localhost:8611/x") and is_loopback_url("http://[::1]:80/x")
    assert not is_loopback_url("https://pms.hotel.example/opera-htng")
    assert not is_loopback_url("http://10.1.2.3:8611/opera-htng")


# -- the CLI's refusals (hand-made journals) -------------------------------------------------------


def journal_with_leg(tmp_path, prop: str, protocol: str, *raws: bytes) -> str:
    path = str(tmp_path / "journal.sqlite")
    journal = Journal(path, reactor=task.Clock(), now=lambda: T0)
    event = PaymentEvent("evt_x", EventType.PAYMENT_SUCCEEDED, prop, T0, booking=Booking("123456"))
    journal.record_event(event, b"{}", [PlannedLeg(0, None, "ONEJOURNEY", 2500, "GBP")])
    for raw in raws:  # masked as the SOAP channels mask what they log
        journal.log_wire("out", protocol, mask_secrets(raw), leg_id=1)
    journal.mark_sent(1)
    journal.mark_rejected(1, "FAIL", "refused")
    journal.close()
    return path


def test_a_url_on_another_machine_is_refused_without_force(capsys):
    argv = ["replay", "--leg", "1", "--journal", "/nonexistent", "--to", "http://10.1.2.3:8611/x"]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "foliogate replay: refusing to replay to http://10.1.2.3:8611/x: it is not on this "
        "machine, and replaying a posting posts it again; give --force if it really is a test "
        "PMS\n"
    )


def test_an_htng_async_leg_is_refused_because_its_result_comes_by_callback(tmp_path, capsys):
    path = journal_with_leg(tmp_path, "DEMO-HOTEL-PERFECT", "htng-async", b"<ChargePostingRQ/>")
    argv = ["replay", "--leg", "1", "--journal", path, "--to", "http://127.0.0.1:1/htng-async"]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"foliogate replay: leg 1: {ASYNC_REFUSAL}\n"


def test_a_soap_leg_needs_the_config_and_a_url(tmp_path, capsys):
    path = journal_with_leg(tmp_path, "DEMO-OPERA", "opera-htng", envelope(post_payment("e/0")))
    argv = ["replay", "--leg", "1", "--journal", path, "--to", "http://127.0.0.1:1/opera-htng"]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "foliogate replay: leg 1 (opera-htng): replaying it needs --config FILE (its "
        "property names the profile and the environment variables holding the credentials); "
        "--journal alone is not enough\n"
    )
    assert main([*argv[:-1], "127.0.0.1:1"]) == 2
    assert capsys.readouterr().err == (
        "foliogate replay: leg 1 (opera-htng): --to takes the PMS's endpoint URL (e.g. "
        "http://127.0.0.1:PORT/opera-htng), not '127.0.0.1:1'\n"
    )


def test_a_posting_whose_card_number_the_journal_masked_is_refused(tmp_path, capsys):
    card = "<o:Description>card 4111 1111 1111 1111</o:Description>"
    path = journal_with_leg(tmp_path, "DEMO-OPERA", "opera-htng",
                            envelope(post_payment("e/0", card)))  # fmt: skip
    argv = ["replay", "--leg", "1", "--journal", path, "--to", "http://127.0.0.1:1/opera-htng"]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "foliogate replay: leg 1: the PostPayment request was masked in the wire log (a "
        "card-like digit run): it cannot be re-sent as it was\n"
    )


# -- end to end: replaying a rejected leg against the simulator ------------------------------------

#: What each profile's simulator answers: the forced refusal, then success.
EXPECTED = {
    "opera-htng": {
        "refused": "answer: FAIL AMOUNT_NOT_ALLOWED (",
        "posted": re.compile(
            r"answer: SUCCESS \(posted to reservation 123456 as transaction \d+\)"
        ),
        "operations": ["PostPayment"],
    },
    "rezlynx": {
        "refused": "answer: ExceptionCode 8006 (",
        "posted": re.compile(r"answer: ExceptionCode 0 \(No error\)"),
        "operations": ["LogIn", "AddPayment"],
    },
}


def soap_stack(profile: str, tmp_path) -> Stack:
    from twisted.internet import reactor

    options = {"jitter": lambda: 0.0, "backoff": e2e_helpers.BACKOFF}
    return Stack(reactor, tmp_path, config_path=EXAMPLE_SOAP_CONFIG, soap_profiles=[profile],
                 gateway_options=options)  # fmt: skip


@pytest_twisted.inlineCallbacks
def rejected_leg(stack: Stack, profile: str, refusals: int) -> Any:
    """Start the stack, let the PMS refuse the gateway's payment posting (and the next
    ``refusals - 1`` postings), stop the gateway; the rejected leg."""
    yield stack.start()
    yield stack.control("PUT", "/faults", {"reject_status": "UR", "reject_count": refusals})
    event = e2e_helpers.payment_event(PROPERTIES[profile], "evt_rp", "123456", 2500)
    yield e2e_helpers.accept(stack, event)
    (leg,) = yield stack.wait_for_legs("evt_rp", {"posted", "rejected", "unknown"})
    assert leg.state is LegState.REJECTED
    yield stack.gateway.stop()  # the journal is complete on disk; the replay only reads it
    stack.gateway = None
    return leg


@pytest.mark.parametrize("profile", list(PROPERTIES))
@pytest_twisted.inlineCallbacks
def test_replaying_a_rejected_soap_leg_refused_then_booked_then_answered_from_the_dedupe(
    tmp_path, monkeypatch, profile
):
    """Three replays of a leg the PMS rejected: refused again while the knob lasts (exit 1),
    then booked (exit 0), then answered from the PMS's dedupe by Reference (exit 0, the
    original answer, nothing booked). Each goes in a fresh envelope, printed masked."""
    from twisted.internet import reactor

    stack = soap_stack(profile, tmp_path)
    expected = EXPECTED[profile]
    try:
        leg = yield rejected_leg(stack, profile, refusals=2)
        credentials = stack.sim.soap_resources[profile].access.credentials
        monkeypatch.setenv("FOLIOGATE_DEMO_SOAP_USER", credentials.username)
        monkeypatch.setenv("FOLIOGATE_DEMO_SOAP_PASSWORD", credentials.password)
        url = stack.sim.soap_urls[profile]
        args = build_parser().parse_args([
            "replay", "--leg", str(leg.leg_id), "--to", url, "--timeout", "5",
            "--config", config_file(tmp_path, tmp_path / "journal.sqlite"),
        ])  # fmt: skip
        journal = Journal(str(tmp_path / "journal.sqlite"), recover=False)
        try:
            job = soap_job(args, journal.leg(leg.leg_id), journal.wire_log(leg_id=leg.leg_id))
        finally:
            journal.close()
        assert job.warning() == (
            f"warning: replaying leg {leg.leg_id} (evt_rp/0) POSTS IT AGAIN on {url} "
            f"({profile} {expected['operations'][-1]})"
        )
        assert read_outcome(profile, job.plan.recorded_answer).ok is False

        outputs, codes = [], []
        for _ in range(3):
            out = io.StringIO()
            codes.append((yield job.execute(reactor, out)))
            outputs.append(out.getvalue())
        folio = yield stack.control("GET", "/reservations/123456/folio")
    finally:
        yield stack.stop()

    assert codes == [1, 0, 0]
    refused, posted, deduped = outputs
    assert refused.splitlines()[-1].startswith(expected["refused"])
    assert expected["posted"].fullmatch(posted.splitlines()[-1])
    assert deduped.splitlines()[-1] == posted.splitlines()[-1]  # the original answer
    # Booked once: by the second replay; the third was answered from the PMS's dedupe.
    payments = [line for line in folio["lines"] if line["reference"] == "evt_rp/0"]
    assert [line["amount"] for line in payments] == [-2500]

    heads = [line for line in posted.splitlines()[:-1] if not line.startswith("  ")]
    operations = expected["operations"]
    assert heads[0::2] == [f'replay -> PMS  POST {url}  SOAPAction "{action}"'
                           for action in job_actions(profile, operations)]  # fmt: skip
    assert heads[1::2] == ["PMS -> replay  HTTP 200"] * len(operations)
    assert credentials.password not in "".join(outputs)  # masked before printing
    assert "<ns0:Reference>evt_rp/0</ns0:Reference>" in posted  # the recorded payload
    if profile == "opera-htng":
        assert ">****</wsse:Password>" in posted
        assert f"<wsa:To>{url}</wsa:To>" in posted
        message_ids = [re.search(r"<wsa:MessageID>([^<]+)<", text).group(1) for text in outputs]
        assert len(set(message_ids)) == 3  # a fresh envelope every time
    else:
        assert "<Password>****</Password>" in posted  # the LogIn's
        (session,) = re.findall(r"<SessionID>([^<]+)</SessionID>", posted)  # LogIn's answer
        assert f"<ns0:SessionID>{session}</ns0:SessionID>" in posted  # ... in the AddPayment


@pytest_twisted.inlineCallbacks
def test_the_replay_verb_warns_shows_the_recorded_answer_and_exits_0_on_success(tmp_path):
    """``foliogate replay`` in a real process against the simulator running in this test's
    reactor: the warning and the recorded answer on stderr, the envelopes and the answer on
    stdout, exit 0 for the PMS's SUCCESS."""
    stack = soap_stack("opera-htng", tmp_path)
    try:
        leg = yield rejected_leg(stack, "opera-htng", refusals=1)
        credentials = stack.sim.soap_resources["opera-htng"].access.credentials
        url = stack.sim.soap_urls["opera-htng"]
        argv = [
            sys.executable, "-m", "adapters.cli", "replay", "--leg", str(leg.leg_id),
            "--to", url, "--config", config_file(tmp_path, tmp_path / "journal.sqlite"),
        ]  # fmt: skip
        env = {**os.environ, "FOLIOGATE_DEMO_SOAP_USER": credentials.username,
               "FOLIOGATE_DEMO_SOAP_PASSWORD": credentials.password}  # fmt: skip
        proc = yield threads.deferToThread(
            subprocess.run, argv, capture_output=True, text=True, timeout=60, env=env,
            cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
    finally:
        yield stack.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warning, recorded = proc.stderr.splitlines()
    assert warning == (f"warning: replaying leg {leg.leg_id} (evt_rp/0) POSTS IT AGAIN on {url} "
                       "(opera-htng PostPayment)")  # fmt: skip
    assert recorded.startswith("recorded answer: FAIL AMOUNT_NOT_ALLOWED (")
    assert proc.stdout.startswith(f'replay -> PMS  POST {url}  SOAPAction "{OH}#PostPayment"\n')
    assert re.search(r"answer: SUCCESS \(posted to reservation 123456 as transaction \d+\)\n\Z",
                     proc.stdout)  # fmt: skip


def job_actions(profile: str, operations: list[str]) -> list[str]:
    sep = "#" if profile == "opera-htng" else "/"
    namespace = OH if profile == "opera-htng" else RZ
    return [f"{namespace}{sep}{operation}" for operation in operations]
