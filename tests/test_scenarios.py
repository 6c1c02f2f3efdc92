"""Scenario files (``adapters.scenario``, ``foliogate scenario run``) and the shipped library.

Every file in ``scenarios/`` runs in-process against the embedded simulator and the real gateway
over loopback (each on its own ports, journal and hotel; they run side by side to keep the suite
fast). The loader's errors, the failure account (expected versus actual with the wire excerpt)
and the command's exit codes are checked exactly.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer

from adapters.scenario import (
    ScenarioInvalid,
    dumps_toml,
    format_failure,
    load_scenario,
    run_scenario,
    scenario_from_data,
)

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = sorted((ROOT / "scenarios").glob("*.toml"))
#: Scenarios run side by side; each is its own simulator + gateway on its own ports.
PARALLEL = 8


@pytest.fixture(scope="module")
def library_results(tmp_path_factory):
    """Every shipped scenario, run once: file name -> ScenarioResult."""
    from twisted.internet import reactor

    workdir = tmp_path_factory.mktemp("library")
    scenarios = [load_scenario(path) for path in LIBRARY]
    semaphore = defer.DeferredSemaphore(PARALLEL)
    runs = [
        semaphore.run(run_scenario, reactor, scenario, workdir / scenario.name)
        for scenario in scenarios
    ]
    results = pytest_twisted.blockon(defer.gatherResults(runs, consumeErrors=True))
    return {result.scenario.path.name: result for result in results}


def test_the_library_covers_every_journey_and_fault_the_product_handles():
    """The shipped library is the QA catalogue of issue 6: each journey and fault has a file."""
    names = {path.stem for path in LIBRARY}
    assert {
        "fias-deposit-journey", "fias-balance-payment", "fias-refund-before-posting-by-hand",
        "fias-refund-after-posting-by-hand", "fias-refund-before-posting",
        "fias-refund-after-posting", "fias-several-items", "fias-sharers",
        "fias-no-show-deposit", "fias-guest-checked-out", "fias-unknown-code-at-pms",
        "fias-unmapped-item-code", "fias-night-audit-mid-journey", "fias-link-drop",
        "fias-ry-then-success", "fias-duplicate-event", "fias-dropped-pa-unknown",
        "opera-htng-deposit-journey", "rezlynx-deposit-journey", "htng-async-deposit-journey",
        "opera-htng-code-renamed", "rezlynx-session-expiry", "htng-async-duplicate-callback",
        "htng-async-late-callback", "htng-async-missing-callback", "fias-reconciliation",
    } <= names  # fmt: skip


@pytest.mark.parametrize("path", LIBRARY, ids=[p.stem for p in LIBRARY])
def test_shipped_scenario_passes(library_results, path):
    result = library_results[path.name]
    assert result.ok, format_failure(result)
    assert [step.ok for step in result.steps] == [True] * len(result.scenario.steps)


def test_a_passing_run_keeps_the_evidence_reports_need(library_results):
    """The journey's result carries the final folio with its invariants, the legs and the wire."""
    result = library_results["fias-deposit-journey.toml"]
    (folio,) = result.folios
    assert (folio.confirmation_number, folio.state, folio.balance) == ("400001", "checked_out", 0)
    assert [(line["code"], line["amount"]) for line in folio.lines] == [
        ("SPA_DEPOSIT", 5000), ("ONEJOURNEY", -5000),
        ("SPA_TREATMENT", 5000), ("DEPOSIT_REDEMPTION", -5000),
    ]  # fmt: skip
    assert folio.invariants == {
        "balance_zero_after_departure": (True, "balance 0"),
        "deposit_group_nets_zero": (True, "deposit group nets 0"),
        "revenue_equals_redeemed_items": (True, "revenue 5000, deposit redeemed 5000"),
        "payment_types_total_posted_payments": (
            True, "ONEJOURNEY: folio -50.00 GBP, posted payments -50.00 GBP",
        ),
    }  # fmt: skip
    assert result.legs["dep"] == [{
        "leg": 0, "state": "posted", "reason": None, "answer_status": "OK", "attempts": 1,
        "transaction_code": "SPA_DEPOSIT", "payment_type": "ONEJOURNEY", "amount": 5000,
    }]  # fmt: skip
    kinds = [line.split(": ", 1)[1].split(":")[0] for line in result.wire["dep"]]
    assert kinds == [
        "PR Posting Request", "PL Posting List", "PR Posting Request", "PA Posting Answer",
    ]  # fmt: skip


# -- the loader -----------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_loader_lists_every_error_at_once_each_with_its_toml_path(tmp_path):
    path = write(
        tmp_path,
        """
        titel = "typo"
        hotel = { base = "demo", rooms = "101", colour = "red" }

        [gateway]
        property = "GRAND-LONDON"
        [gateway.set]
        posting_mode = "sideways"

        [[steps]]
        event = "deposit"
        confirmation = "400001"
        amount = 50.0

        [[steps]]
        event = "refund"
        refund_of = "nothing"

        [[steps]]
        pms = "check-in"
        expect = "folio"

        [[steps]]
        wait = "legs"
        of = "dep"
        until = "done"

        [[steps]]
        faults = { reject_status = "XX", drop_everything = 1 }

        [[steps]]
        expect = "folio"
        confirmation = "400001"
        lines = [{ code = "SPA_DEPOSIT", amount = "50.00" }]
        """,
    )
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario(path)
    assert caught.value.errors == [
        "titel: unknown key (known: check_invariants, description, gateway, hotel, run, steps,"
        " tags, title)",
        "title: required: one line saying what the scenario shows",
        "hotel.colour: unknown key (known: accounts, allow_negative_amounts, base, business_date,"
        " codes, currency, faults, fias, name, reservations, rooms, soap)",
        'hotel: hotel.rooms: must be a list of room numbers as strings, e.g. ["101"]',
        "hotel: reservations[0].room: '101' is not in hotel.rooms",
        "hotel: reservations[1].room: '201' is not in hotel.rooms",
        "hotel: reservations[2].room: '201' is not in hotel.rooms",
        "hotel: reservations[3].room: '301' is not in hotel.rooms",
        "hotel: reservations[4].room: '102' is not in hotel.rooms",
        "hotel: reservations[5].room: '103' is not in hotel.rooms",
        "gateway: properties.GRAND-LONDON.posting_mode: must be one of normal, negative",
        "steps[0].amount: must be an integer amount in minor units (5000 for 50.00), never a float",
        "steps[1].refund_of: 'nothing' names no earlier event step",
        "steps[2]: a step names exactly one of event, repeat, pms, faults, link, gateway, clock,"
        " operator, wait, expect (it names pms, expect)",
        "steps[3].until: 'done' is not a leg state (planned, waiting, sent, posted, rejected,"
        " unknown, resolved)",
        "steps[3].of: 'dep' names no earlier event step (ids so far: none)",
        "steps[4].faults.reject_status: must be one of RY, NA, UR or null",
        "steps[4].faults.drop_everything: unknown fault knob (known: callback_delay_ms,"
        " close_after_records, delay_ms, drop_answers, drop_callbacks, drop_posting_answers,"
        " drop_requests, duplicate_callbacks, expire_sessions, garbage, hold_night_audit,"
        " http_500_count, reject_count, reject_status, split_writes)",
        "steps[5].lines: [0].amount: must be an integer amount in minor units (5000 for 50.00),"
        " never a float",
    ]
    assert str(caught.value).startswith(f"{path}: 19 error(s):\n  - titel: unknown key")


def test_event_steps_become_full_design_events_with_readable_defaults(tmp_path):
    scenario = scenario_from_data(
        tomllib.loads(
            textwrap.dedent("""
            title = "defaults"
            [[steps]]
            event = "deposit"
            id = "dep"
            confirmation = "400001"
            amount = 5000
            [[steps]]
            event = "refund"
            refund_of = "dep"
            [[steps]]
            event = "redemption"
            confirmation = 400001
            amount = 5000
        """)
        ),
        base_dir=tmp_path,
    )
    assert dict(scenario.events) == {
        "dep": {
            "event_id": "evt_dep",
            "type": "payment.succeeded",
            "property": "GRAND-LONDON",
            "occurred_at": "2026-11-27T10:01:00Z",
            "payment": {
                "kind": "deposit", "amount": 5000, "currency": "GBP",
                "transaction_id": "pi_evt_dep", "method": "onejourney", "card_type": "VISA",
                "card_last4": "4242", "status": "Payment Success",
            },
            "booking": {"confirmation_number": "400001"},
        },
        "e2": {
            "event_id": "evt_e2",
            "type": "payment.refunded",
            "property": "GRAND-LONDON",
            "occurred_at": "2026-11-27T10:02:00Z",
            "payment": {
                "kind": "deposit", "amount": 5000, "currency": "GBP",
                "transaction_id": "re_evt_e2", "method": "onejourney", "card_type": "VISA",
                "card_last4": "4242", "status": "Payment Success",
            },
            "refund_of": "evt_dep",
            "booking": {"confirmation_number": "400001"},
        },
        "e3": {
            "event_id": "evt_e3",
            "type": "deposit.redeemed",
            "property": "GRAND-LONDON",
            "occurred_at": "2026-11-27T10:03:00Z",
            "booking": {"confirmation_number": "400001"},
            "items": [{"code": "SPA_TREATMENT", "description": "SPA_TREATMENT", "amount": 5000}],
        },
    }  # fmt: skip
    assert [step.label for step in scenario.steps] == [
        "deposit 50.00 GBP for 400001 (dep)",
        "refund 50.00 GBP of dep for 400001 (e2)",
        "redemption 50.00 GBP for 400001 (e3)",
    ]


def test_hotel_table_changes_a_base_file_and_gateway_set_changes_the_property(tmp_path):
    scenario = scenario_from_data(
        tomllib.loads(
            textwrap.dedent("""
            title = "changes"
            [hotel]
            allow_negative_amounts = true
            [[hotel.reservations]]
            confirmation_number = 123456
            guest_name = "Doe, John"
            arrival = 2026-11-27
            departure = 2026-11-28
            [[hotel.reservations]]
            confirmation_number = 600001
            guest_name = "New, Nora"
            arrival = 2026-11-28
            departure = 2026-11-29
            [gateway.set]
            allow_negative = true
            [gateway.set.codes.revenue]
            MASSAGE = "SPA_TREATMENT"
            [[steps]]
            expect = "exceptions"
            count = 0
        """)
        ),
        base_dir=tmp_path,
    )
    hotel = scenario.hotel_data
    assert hotel["hotel"]["allow_negative_amounts"] is True
    numbers = [r["confirmation_number"] for r in hotel["reservations"]]
    assert numbers == [123456, 200101, 200102, 300001, 400001, 500001, 600001]
    assert hotel["reservations"][0]["guest_name"] == "Doe, John"
    assert "state" not in hotel["reservations"][0]  # replaced, not merged
    prop = scenario.config.properties["GRAND-LONDON"]
    assert prop.allow_negative is True
    assert dict(prop.codes.revenue) == {
        "SPA_TREATMENT": "SPA_TREATMENT", "ROOM_CHARGE": "ROOM_CHARGE", "MASSAGE": "SPA_TREATMENT",
    }  # fmt: skip
    assert scenario.hotel_label == "the demo hotel with changes (hotel, reservations)"


def test_toml_writer_round_trips_configurations_and_hotels():
    data = tomllib.loads((ROOT / "simulators" / "hotels" / "demo.toml").read_text())
    assert tomllib.loads(dumps_toml(data)) == data
    data = tomllib.loads((ROOT / "examples" / "gateway.toml").read_text())
    assert tomllib.loads(dumps_toml(data)) == data
    odd = {"a b": {"c.d": ["x", 1, 2.5, True]}, "t": [{"n": 1, "sub": {"k": 'q"uote\n'}}]}
    assert tomllib.loads(dumps_toml(odd)) == odd


# -- failing runs ---------------------------------------------------------------------------------


FAILING = """
    title = "A balance payment, with a wrong expectation"
    [[steps]]
    event = "balance"
    id = "pay"
    confirmation = "123456"
    amount = 4000
    [[steps]]
    wait = "legs"
    of = "pay"
    [[steps]]
    expect = "folio"
    confirmation = "123456"
    balance = -5000
    lines = [{ code = "ONEJOURNEY", amount = -5000 }]
    [[steps]]
    expect = "exceptions"
    count = 0
"""


@pytest_twisted.inlineCallbacks
def test_a_failed_expectation_stops_the_run_with_expected_versus_actual_and_the_wire(tmp_path):
    from twisted.internet import reactor

    scenario = load_scenario(write(tmp_path, FAILING))
    progress: list[str] = []
    result = yield run_scenario(reactor, scenario, tmp_path / "run", progress.append)
    assert not result.ok
    assert [(s.number, s.ok) for s in result.steps] == [(1, True), (2, True), (3, False)]
    assert progress[2] == (
        "  [ 3/4] expect folio of 123456 ... FAILED: the folio of 123456 is not as expected"
    )
    account = format_failure(result).splitlines()
    assert account[:6] == [
        f"FAILED {scenario.path}, step 3 (steps[2]: expect folio of 123456)",
        "  the folio of 123456 is not as expected",
        "  balance of 123456  expected: -50.00 GBP",
        "                     actual:   -40.00 GBP",
        "  lines of 123456    expected: 1. ONEJOURNEY -50.00 GBP",
        "                     actual:   1. ONEJOURNEY -40.00 GBP payment type ONEJOURNEY "
        "business date 2026-11-27",
    ]
    assert account[6] == "  wire log around it (gateway journal, oldest first):"
    wire = "\n".join(account[7:])
    assert "gateway -> PMS leg 1: PR Posting Request: WSFOLIOGATE RN101 G#123456" in wire
    assert "TA4000" in wire and "PMOJ" in wire
    assert (
        "PMS -> gateway leg 1: PA Posting Answer: WSFOLIOGATE RN101 G#123456 GNDoe, Jane ASOK "
        "(Command/request completed successfully; posted)"
    ) in wire


def test_scenario_run_exits_non_zero_on_the_first_failure_and_prints_the_account(tmp_path):
    failing = write(tmp_path, FAILING, "failing.toml")
    passing = write(tmp_path, """
        title = "nothing to do"
        [[steps]]
        expect = "exceptions"
        count = 0
    """, "passing.toml")  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "scenario", "run", str(failing), str(passing)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert (
        "  [ 3/4] expect folio of 123456 ... FAILED: the folio of 123456 is not as expected" in out
    )
    assert (
        "  balance of 123456  expected: -50.00 GBP\n                     actual:   -40.00 GBP"
        in out
    )
    assert "scenario 2/2" not in out  # stopped at the first failure
    assert out.rstrip().endswith(f"1 of 1 scenario(s) FAILED: {failing}")


def test_scenario_run_refuses_invalid_files_with_every_error_and_exit_2(tmp_path):
    bad = write(tmp_path, '[[steps]]\nexpect = "folio"\n', "bad.toml")
    proc = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "scenario", "run", str(bad)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        f"foliogate scenario: {bad}: 2 error(s):\n"
        "  - title: required: one line saying what the scenario shows\n"
        "  - steps[0]: expect = 'folio' needs confirmation\n"
    )
