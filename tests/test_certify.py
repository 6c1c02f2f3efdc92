"""``foliogate certify``: the certification suite, the PMS code export, the reports.

The shipped example configurations are certified in-process against the simulator of each
profile (FIAS, and each SOAP profile of ``examples/gateway-soap.toml``); a deliberately broken
mapping (the PMS's code export renames the deposit code and lacks a revenue code) is certified
through the real command and must fail with a report naming both codes. The HTML report is
opened in real headless Chromium (Debian's chromium + chromedriver through Selenium, as the
console test does): it must render and its tables must hold the expected figures. Without
Chromium the browser tests FAIL, saying what to install.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import pytest_twisted
from test_console import browser  # noqa: F401 (the console test's Chromium fixture)

from adapters.certify import (
    ARRIVING,
    CertificationReport,
    DriftItem,
    PmsCodesInvalid,
    PropertyReport,
    certification_suite,
    certify,
    code_drift,
    generate_hotel,
    html_report,
    read_pms_codes,
    write_reports,
)
from adapters.config import load_config
from simulators.ledger import parse_hotel_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "gateway.toml"
EXAMPLE_SOAP = ROOT / "examples" / "gateway-soap.toml"
#: The demo hotel's codes as its PMS exports them, but the deposit code was renamed
#: (SPA_DEPOSIT -> SPA_DEP, same sales outlet) and the spa treatment code is gone.
BROKEN_EXPORT = """\
code,description,group,kind,fias_so,fias_pm
SPA_DEP,Spa Deposit,deposit,charge,210,
DEPOSIT_REDEMPTION,Deposit Redemption,deposit,payment_type,,DR
ROOM_CHARGE,Room Charge,revenue,charge,100,
ONEJOURNEY,onejourney,payment,payment_type,,OJ
ROOM,Room posting,,room,,ROOM
"""
MATCHING_EXPORT = """\
code,description,group,kind,fias_so,fias_pm
SPA_DEPOSIT,Spa Deposit,deposit,charge,210,
DEPOSIT_REDEMPTION,Deposit Redemption,deposit,payment_type,,DR
SPA_TREATMENT,Spa Treatment,revenue,charge,220,
ROOM_CHARGE,Room Charge,revenue,charge,100,
ONEJOURNEY,onejourney,payment,payment_type,,OJ
VISA,Visa,payment,payment_type,,VI
ROOM,Room posting,,room,,ROOM
"""
CHECKS = [
    "deposit-journey", "balance-payment", "refund-before-posting", "refund-after-posting",
    "several-items", "sharers", "no-show", "guest-checked-out", "unknown-code", "night-audit",
    "link-drop", "retry-then-success", "duplicate-event", "late-callback", "duplicate-callback",
]  # fmt: skip


def run_certify(tmp_path_factory, name, config, **options):
    from twisted.internet import reactor

    report_dir = tmp_path_factory.mktemp(name)
    report = pytest_twisted.blockon(certify(reactor, config, report_dir, parallel=8, **options))
    write_reports(report, report_dir)
    return report, report_dir


@pytest.fixture(scope="module")
def fias(tmp_path_factory):
    return run_certify(tmp_path_factory, "fias", EXAMPLE)


@pytest.fixture(scope="module")
def soap(tmp_path_factory):
    return run_certify(tmp_path_factory, "soap", EXAMPLE_SOAP)


def statuses(prop_report: PropertyReport) -> dict[str, str]:
    return {case.entry.id: case.status for case in prop_report.cases}


# -- the shipped examples pass ---------------------------------------------------------------


def test_the_shipped_fias_example_is_certified(fias):
    report, report_dir = fias
    (prop,) = report.properties
    assert report.ok, "\n".join(c.result and c.result.failure and c.result.failure.title or ""
                                for c in prop.cases)  # fmt: skip
    assert statuses(prop) == {
        **dict.fromkeys(CHECKS[:13], "passed"),
        "late-callback": "not applicable",
        "duplicate-callback": "not applicable",
    }
    # Every run check ended with the invariants checked in the ledger, not vacuously where the
    # guest checked out: the deposit journey's folio is the DESIGN section 3 one.
    journey = next(c for c in prop.cases if c.entry.id == "deposit-journey").result
    (folio,) = journey.folios
    assert (folio.confirmation_number, folio.state, folio.balance) == (ARRIVING, "checked_out", 0)
    assert all(holds for holds, _ in folio.invariants.values())
    assert [(line["code"], line["amount"]) for line in folio.lines] == [
        ("SPA_DEPOSIT", 5000), ("ONEJOURNEY", -5000),
        ("SPA_TREATMENT", 5000), ("DEPOSIT_REDEMPTION", -5000),
    ]  # fmt: skip


def test_the_fias_reports_junit_json_and_conformance(fias):
    report, report_dir = fias
    suites = ET.parse(report_dir / "junit.xml").getroot()
    assert (suites.tag, suites.get("tests"), suites.get("failures"), suites.get("skipped")) == (
        "testsuites", "15", "0", "2",
    )  # fmt: skip
    (suite,) = suites
    assert suite.get("name") == "certify.GRAND-LONDON.fias"
    assert [case.get("name") for case in suite.iter("testcase")] == CHECKS
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["ok"] is True
    (prop,) = summary["properties"]
    assert (prop["property"], prop["profile"], prop["passed"], prop["failed"]) == (
        "GRAND-LONDON", "fias", 13, 0,
    )  # fmt: skip
    conformance = (report_dir / "conformance.md").read_text()
    assert "## GRAND-LONDON: CERTIFIED" in conformance
    assert (
        "- [x] **Refund after the payment posted**: not posted: allow_negative = false, so the "
        "refund goes to the exception queue to post by hand, with the amounts."
    ) in conformance
    assert "| deposit | SPA_DEPOSIT | SO 210 |" in conformance
    # Each check is a scenario file that runs on its own with foliogate scenario run.
    files = sorted((report_dir / "scenarios" / "GRAND-LONDON").glob("*.toml"))
    assert [f.name for f in files][:2] == ["01-deposit-journey.toml", "02-balance-payment.toml"]
    hotel = tomllib.loads((report_dir / "hotels" / "GRAND-LONDON.toml").read_text())
    parse_hotel_config(hotel)  # a valid hotel file


def test_each_soap_profile_of_the_shipped_example_is_certified(soap):
    report, report_dir = soap
    assert [(p.prop.name, p.prop.profile.value) for p in report.properties] == [
        ("DEMO-OPERA", "opera-htng"),
        ("DEMO-REZLYNX", "rezlynx"),
        ("DEMO-HOTEL-PERFECT", "htng-async"),
    ]
    failures = {
        (p.prop.name, c.entry.id): c.result.failure.title
        for p in report.properties for c in p.cases
        if c.result is not None and c.result.failure is not None
    }  # fmt: skip
    assert failures == {}
    assert report.ok
    synchronous = {**dict.fromkeys(CHECKS[:13], "passed"), "late-callback": "not applicable",
                   "duplicate-callback": "not applicable"}  # fmt: skip
    assert statuses(report.properties[0]) == synchronous
    assert statuses(report.properties[1]) == synchronous
    assert statuses(report.properties[2]) == dict.fromkeys(CHECKS, "passed")
    conformance = (report_dir / "conformance.md").read_text()
    assert (
        "- [x] **Deposit paid before arrival, check-in, redemption at departure**: the deposit "
        "posts to the reservation before arrival, the redemption posts the revenue and a "
        "negative sale on SPA_DEPOSIT."
    ) in conformance
    assert "- [x] **Late result callback (asynchronous profile)**: unknown after the answer " \
        "timeout; the late result is journaled." in conformance  # fmt: skip


# -- a broken mapping fails, naming the codes -------------------------------------------------


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """The real command, with a PMS export that drifted from the mapping."""
    workdir = tmp_path_factory.mktemp("broken")
    export = workdir / "pms-codes.csv"
    export.write_text(BROKEN_EXPORT, encoding="utf-8")
    report_dir = workdir / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "certify", "--config", str(EXAMPLE),
         "--pms-codes", str(export), "--report", str(report_dir), "--jobs", "8"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    return proc, report_dir


def test_a_broken_mapping_fails_with_exit_1_and_names_the_codes(broken):
    proc, report_dir = broken
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "  code table: FAILED, 2 difference(s) from the PMS's codes" in out
    assert (
        "    properties.GRAND-LONDON.codes.deposit: the PMS has no code SPA_DEPOSIT; the PMS "
        "books sales outlet 210 as SPA_DEP (renamed?)"
    ) in out
    assert (
        "    properties.GRAND-LONDON.codes.revenue.SPA_TREATMENT: the PMS has no code SPA_TREATMENT"
    ) in out
    assert out.rstrip().endswith("certification FAILED")

    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["ok"] is False
    (prop,) = summary["properties"]
    assert [(d["code"], d["where"]) for d in prop["drift"]] == [
        ("SPA_DEPOSIT", "properties.GRAND-LONDON.codes.deposit"),
        ("SPA_TREATMENT", "properties.GRAND-LONDON.codes.revenue.SPA_TREATMENT"),
    ]
    checks = {c["id"]: c for c in prop["checks"]}
    # The postings themselves show the drift: the deposit books under the PMS's new name...
    refund = checks["refund-after-posting"]["failure"]
    assert refund["summary"].startswith("the folio of 810001 is not as expected (lines of 810001:")
    assert "expected 1. SPA_DEPOSIT 50.00 GBP; actual 1. SPA_DEP 50.00 GBP" in refund["summary"]
    # ... and the missing revenue code is refused by the PMS, once, with its text.
    journey = checks["deposit-journey"]["failure"]
    assert "leg 0 (SPA_TREATMENT settled by DEPOSIT_REDEMPTION 50.00 GBP): rejected, AS UR, " \
        "unknown sales outlet SO 220" in journey["account"]  # fmt: skip
    assert checks["balance-payment"]["status"] == "passed"  # what does not use them still works

    junit = ET.parse(report_dir / "junit.xml").getroot()
    (code_table,) = [c for c in junit.iter("testcase") if c.get("name") == "code-table"]
    assert code_table.find("failure").get("message") == (
        "2 code(s) differ from the PMS: SPA_DEPOSIT, SPA_TREATMENT"
    )
    conformance = (report_dir / "conformance.md").read_text()
    assert "## GRAND-LONDON: NOT CERTIFIED" in conformance
    assert "- **SPA_TREATMENT** (`properties.GRAND-LONDON.codes.revenue.SPA_TREATMENT`): the " \
        "PMS has no code SPA_TREATMENT" in conformance  # fmt: skip


def test_certify_refuses_an_invalid_export_listing_every_error(tmp_path):
    export = tmp_path / "codes.csv"
    export.write_text("code,group,kind,fias_so\nA,revenue,charge,0\nA,revenue,charge,5\n"
                      "B,payments,tender,\n")  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "certify", "--config", str(EXAMPLE),
         "--pms-codes", str(export), "--report", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        f"foliogate certify: {export}: 3 error(s):\n"
        "  - line 2: fias_so '0' is not a sales outlet (1-99999)\n"
        "  - line 4: kind 'tender' is not one of charge, payment_type, room\n"
        "  - line 4: group 'payments' is not one of revenue, payment, deposit\n"
    )
    assert not (tmp_path / "r").exists()


# -- the pieces ------------------------------------------------------------------------------


def test_the_export_reads_aliases_and_a_bom_and_lists_line_numbers():
    codes = read_pms_codes("\ufeffTransaction_Code , Group,Type,Sales_Outlet,Payment_Method\n"
                           "SPA,deposit,charge,210,\nCASH,payment,payment_type,,CA\n")  # fmt: skip
    assert [(c.code, c.group, c.kind, c.fias_so, c.fias_pm, c.line) for c in codes] == [
        ("SPA", "deposit", "charge", 210, None, 2),
        ("CASH", "payment", "payment_type", None, "CA", 3),
    ]
    with pytest.raises(PmsCodesInvalid) as caught:
        read_pms_codes("code,colour\nA,red\n", "x.csv")
    assert caught.value.errors == [
        "line 1: unknown column 'colour' (known: code, description, group, kind, fias_so, fias_pm)"
    ]


def test_code_drift_names_kind_group_and_fias_number_differences():
    prop = load_config(EXAMPLE).properties["GRAND-LONDON"]
    assert code_drift(prop, read_pms_codes(MATCHING_EXPORT)) == []
    drifted = MATCHING_EXPORT.replace("DEPOSIT_REDEMPTION,Deposit Redemption,deposit",
                                      "DEPOSIT_REDEMPTION,Deposit Redemption,payment")  # fmt: skip
    drifted = drifted.replace("SPA_TREATMENT,Spa Treatment,revenue,charge,220,",
                              "SPA_TREATMENT,Spa Treatment,revenue,charge,221,")  # fmt: skip
    drifted = drifted.replace("ROOM,Room posting,,room,,ROOM", "ROOM,Room posting,,room,,RM")
    assert code_drift(prop, read_pms_codes(drifted)) == [
        DriftItem("properties.GRAND-LONDON.codes.redemption_payment_type", "DEPOSIT_REDEMPTION",
                  "DEPOSIT_REDEMPTION is in the PMS's payment group; the mapping needs it in "
                  "the deposit group"),
        DriftItem("properties.GRAND-LONDON.fias.sales_outlets.SPA_TREATMENT", "SPA_TREATMENT",
                  "the mapping sends sales outlet 220; the PMS has SPA_TREATMENT on sales "
                  "outlet 221"),
        DriftItem("properties.GRAND-LONDON.fias.room_payment_method", "ROOM",
                  "the mapping charges the room with payment method ROOM; the PMS's room "
                  "payment method is RM"),
    ]  # fmt: skip


def test_generated_hotels_are_valid_and_hold_what_the_suite_needs():
    for path in (EXAMPLE, EXAMPLE_SOAP):
        for prop in load_config(path).properties.values():
            hotel = parse_hotel_config(generate_hotel(prop))
            assert set(hotel.codes) >= {prop.codes.deposit, *prop.codes.revenue.values(),
                                        *prop.codes.payment_types.values()}  # fmt: skip
            assert {r.confirmation_number for r in hotel.reservations} == {
                810001,
                810002,
                810003,
                810004,
                810005,
                810006,
            }
            assert len(certification_suite(prop)) == 15


def test_the_html_report_escapes_every_text_it_did_not_write(tmp_path):
    prop = load_config(EXAMPLE).properties["GRAND-LONDON"]
    report = CertificationReport(EXAMPLE, Path("<codes>.csv"), started_at=_now())
    report.properties.append(PropertyReport(
        prop, "<codes>.csv", tmp_path / "h.toml",
        [DriftItem("properties.GRAND-LONDON.codes.deposit", "<script>alert(1)</script>",
                   "the PMS has no code <img src=x onerror=alert(1)>")], [],
    ))  # fmt: skip
    page = html_report(report)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "http://" not in page and "https://" not in page  # no external assets


def _now():
    import datetime as dt

    return dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


# -- the HTML report in real headless Chromium ------------------------------------------------


def rows(table) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    return [
        [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td, th")]
        for row in table.find_elements(By.CSS_SELECTOR, "tbody tr, tfoot tr")
    ]


def test_the_html_report_renders_in_chromium_with_the_figures(fias, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    report, report_dir = fias
    browser.get((report_dir / "report.html").as_uri())
    assert browser.title == "foliogate certification: PASSED"
    assert browser.find_element(By.ID, "verdict").text == "PASSED"
    # Self-contained: the page loaded nothing besides itself.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    (summary_row,) = rows(browser.find_element(By.ID, "summary"))
    assert summary_row == ["GRAND-LONDON", "fias", "normal", "certified", "13", "0", "2"]

    folio = browser.find_element(
        By.CSS_SELECTOR,
        f'table.folio[data-check="deposit-journey"][data-confirmation="{ARRIVING}"]',
    )
    assert rows(folio) == [
        ["SPA_DEPOSIT", "", "50.00 GBP", "2026-11-27", ""],
        ["ONEJOURNEY", "ONEJOURNEY", "-50.00 GBP", "2026-11-27", ""],
        ["SPA_TREATMENT", "", "50.00 GBP", "2026-11-27", ""],
        ["DEPOSIT_REDEMPTION", "DEPOSIT_REDEMPTION", "-50.00 GBP", "2026-11-27", ""],
        ["Balance", "0.00 GBP", ""],
        ["revenue group", "50.00 GBP", ""],
        ["deposit group", "0.00 GBP", ""],
        ["payment group", "-50.00 GBP", ""],
    ]
    invariants = browser.find_element(
        By.CSS_SELECTOR, 'table.invariants[data-check="deposit-journey"]'
    )
    assert rows(invariants) == [
        ["balance zero after departure", "yes", "balance 0"],
        ["deposit group nets zero", "yes", "deposit group nets 0"],
        ["revenue equals redeemed items", "yes", "revenue 5000, deposit redeemed 5000"],
        ["payment types total posted payments", "yes",
         "ONEJOURNEY: folio -50.00 GBP, posted payments -50.00 GBP"],
    ]  # fmt: skip
    checks = browser.find_element(By.CSS_SELECTOR, 'table.checks[data-property="GRAND-LONDON"]')
    assert [row[:2] for row in rows(checks)] == [
        [case.entry.feature, case.status] for case in report.properties[0].cases
    ]
    # The wire excerpts are there, folded: open one and read the FIAS posting.
    section = browser.find_element(By.CSS_SELECTOR, 'section[data-check="deposit-journey"]')
    details = section.find_element(By.TAG_NAME, "details")
    details.find_element(By.TAG_NAME, "summary").click()
    wire = details.find_element(By.CSS_SELECTOR, "pre.wire").text
    assert "gateway -> PMS leg 1: PR Posting Request: SO210" in wire
    assert "ASOK (Command/request completed successfully; posted)" in wire
    browser.save_screenshot(str(tmp_path / "certify-report.png"))


def test_the_failed_report_shows_the_drift_table_in_chromium(broken, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    _proc, report_dir = broken
    browser.get((report_dir / "report.html").as_uri())
    assert browser.find_element(By.ID, "verdict").text == "FAILED"
    drift = browser.find_element(By.CSS_SELECTOR, 'table.drift[data-property="GRAND-LONDON"]')
    assert [row[0] for row in rows(drift)] == ["SPA_DEPOSIT", "SPA_TREATMENT"]
    folio = browser.find_element(
        By.CSS_SELECTOR, f'table.folio[data-check="refund-after-posting"]'
        f'[data-confirmation="{ARRIVING}"]'
    )  # fmt: skip
    assert rows(folio)[0] == ["SPA_DEP", "", "50.00 GBP", "2026-11-27", ""]


def test_without_chromium_the_browser_tests_fail_saying_what_to_install(monkeypatch):
    """The browser check never skips: a missing browser is a failure with the install hint."""
    import test_console

    monkeypatch.setattr(test_console, "CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(pytest.fail.Exception) as caught:
        test_console.require_browser()
    assert str(caught.value) == (
        "/nonexistent/chromium not installed: run `bash .ci/console-deps.sh` (as root: "
        "apt-get install -y chromium chromium-driver)"
    )
