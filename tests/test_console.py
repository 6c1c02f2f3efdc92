"""The operator console in real headless Chromium (Debian's chromium + chromium-driver, driven
by Selenium): log in, see the link and the exception, retry it, see the leg post, follow the
reservation's journey to the wire log, ask for the reconciliation; a screenshot is kept.

The gateway and the PMS simulator run in a subprocess (tests/console_stack.py) on loopback;
the simulator rejects the deposit once (``AS UR``), which puts its leg in the exception queue.
Without Chromium this test FAILS, saying what to install (``bash .ci/console-deps.sh``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[1]
ARTIFACT = ROOT / "build" / "artifacts" / "console.png"
TOKEN = "console-browser-test-token-0123456789"
OPERATOR = "Alice Operator"
WAIT = 20  # seconds any one thing may take to show before the test fails
INSTALL_HINT = (
    "run `bash .ci/console-deps.sh` (as root: apt-get install -y chromium chromium-driver)"
)


def require_browser() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not installed: {INSTALL_HINT}", pytrace=False)
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("selenium is not installed: pip install selenium (test extra)", pytrace=False)


@pytest.fixture
def stack(tmp_path):
    """The loopback stack with one rejected leg; yields what tests/console_stack.py printed."""
    env = {**os.environ, "FOLIOGATE_CONSOLE_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    stderr = open(tmp_path / "stack.log", "w+")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "console_stack.py"), str(tmp_path / "stack")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
        text=True,
    )
    try:
        line = process.stdout.readline()  # the script prints one line once the leg is rejected
        if not line:
            process.wait(timeout=10)
            stderr.seek(0)
            pytest.fail(f"the stack did not start (exit {process.returncode}):\n{stderr.read()}")
        yield json.loads(line)
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stderr.close()


@pytest.fixture
def browser(tmp_path):
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,2200",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def api(stack, path: str):
    """(status, JSON) of a GET on the gateway's API with the console token as bearer token."""
    request = urllib.request.Request(
        stack["api_url"] + path, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_an_operator_clears_an_exception_in_the_browser_and_sees_the_leg_post(
    browser, stack, tmp_path
):  # the browser first: without Chromium the test fails before starting anything
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT)
    leg_id = stack["leg_id"]

    def text_of(css: str) -> str:
        return browser.find_element(By.CSS_SELECTOR, css).text

    def wait_text(css: str, expected: str) -> None:
        wait.until(
            ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), expected),
            f"{css} never showed {expected!r}",
        )

    # The page loads and asks for a login; a wrong token is refused with the reason.
    browser.get(stack["console_url"])
    wait.until(ec.visibility_of_element_located((By.ID, "login-form")))
    browser.find_element(By.ID, "login-operator").send_keys(OPERATOR)
    browser.find_element(By.ID, "login-token").send_keys("not-the-console-token")
    browser.find_element(By.ID, "login-submit").click()
    wait_text("#message", "Login failed: token: wrong console token")
    assert not browser.find_element(By.ID, "app").is_displayed()

    token = browser.find_element(By.ID, "login-token")
    token.clear()
    token.send_keys(TOKEN)
    browser.find_element(By.ID, "login-submit").click()
    wait.until(ec.visibility_of_element_located((By.ID, "app")))
    assert text_of("#operator-name") == OPERATOR
    cookie = browser.get_cookie("foliogate_console")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    assert browser.execute_script("return document.cookie") == ""  # invisible to scripts

    # Link status per property, and the rejected leg in the queue with its actions.
    wait_text('#links tr[data-property="GRAND-LONDON"] .link-state', "alive")
    row = f'#queue-legs tr[data-leg-id="{leg_id}"]'
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, row)))
    assert text_of(f"{row} .leg-state").split() == ["rejected", "ASUR"]
    assert "50.00 GBP" in text_of(row)
    buttons = browser.find_elements(By.CSS_SELECTOR, f"{row} button.action")
    assert [b.text for b in buttons] == ["Retry", "Resolve"]
    no_post_row = f'#queue-legs tr[data-leg-id="{stack["no_post_leg_id"]}"]'
    assert text_of(f"{no_post_row} .leg-state").split()[0] == "rejected"
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(tmp_path / "console-queue.png"))
    shutil.copyfile(tmp_path / "console-queue.png", ARTIFACT.with_name("console-queue.png"))

    # Resolving needs a note saying what was done; with one, the leg leaves the queue.
    browser.find_element(By.CSS_SELECTOR, f"{no_post_row} button.action-resolve").click()
    no_post_leg = stack["no_post_leg_id"]
    wait_text(
        "#message", f"Write a note saying what was done on the PMS, then resolve leg {no_post_leg}."
    )
    assert browser.find_elements(By.CSS_SELECTOR, no_post_row) != []
    browser.find_element(By.CSS_SELECTOR, f"{no_post_row} input.note").send_keys(
        "guest paid the deposit at the front desk"
    )
    browser.find_element(By.CSS_SELECTOR, f"{no_post_row} button.action-resolve").click()
    wait_text(f'#recent tr[data-leg-id="{stack["no_post_leg_id"]}"] .leg-state', "resolved")
    wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, no_post_row)))

    # Retry with a note: the leg posts, and the page shows it.
    browser.find_element(By.CSS_SELECTOR, f"{row} input.note").send_keys("PMS interface reset")
    browser.find_element(By.CSS_SELECTOR, f"{row} button.action-retry").click()
    wait_text(f'#recent tr[data-leg-id="{leg_id}"] .leg-state', "posted")
    wait.until(ec.visibility_of_element_located((By.ID, "queue-legs-empty")))
    assert browser.find_elements(By.CSS_SELECTOR, row) == []

    # The reservation's journey: the event, its leg (posted) and the wire log of both tries.
    browser.find_element(By.ID, "journey-query").send_keys(stack["confirmation_number"])
    browser.find_element(By.ID, "journey-submit").click()
    journey_leg = f'.journey-event[data-event-id="{stack["event_id"]}"] tr[data-leg-id="{leg_id}"]'
    wait_text(f"{journey_leg} .leg-state", "posted")
    browser.find_element(By.CSS_SELECTOR, f"{journey_leg} button.wire-toggle").click()
    frames = f'pre.frames[data-leg-id="{leg_id}"]'
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, frames)))
    answers = [
        field
        for line in text_of(frames).splitlines()
        if "← PMS fias  PA|" in line
        for field in line.split("|")
        if field.startswith("AS")
    ]
    assert answers == ["ASUR", "ASOK"]  # the rejected try, then the operator's retry
    history = text_of(".journey-event tr.wire:not([hidden]) table.history")
    assert f"{OPERATOR} retry rejected → planned PMS interface reset" in history

    # Reconciliation: a report when the gateway serves /v1/reconcile, else "not available".
    browser.execute_script("document.getElementById('reconcile-date').value = '2026-11-27'")
    browser.find_element(By.ID, "reconcile-submit").click()
    status, answer = api(stack, "/v1/reconcile?property=GRAND-LONDON&date=2026-11-27")
    if status == 404 and answer["errors"][0]["reason"] == "no such endpoint":
        wait_text("#reconcile", "Reconciliation is not available on this gateway.")
    else:
        wait.until(
            lambda d: (
                d.find_elements(By.CSS_SELECTOR, "#reconcile dl, #reconcile table")
                or "failed" in d.find_element(By.ID, "reconcile").text
            )
        )
        assert "failed" not in text_of("#reconcile"), text_of("#reconcile")

    browser.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "console.png"
    assert browser.save_screenshot(str(shot))
    shutil.copyfile(shot, ARTIFACT)

    # What the gateway journaled: posted, retried by the operator who logged in.
    status, leg = api(stack, f"/v1/legs/{leg_id}")
    assert (status, leg["state"], leg["answer_status"]) == (200, "posted", "OK")
    _, history = api(stack, f"/v1/legs/{leg_id}/history")
    retry = [a for a in history["history"] if a["action"] == "retry"]
    assert [(a["actor"], a["note"]) for a in retry] == [(OPERATOR, "PMS interface reset")]
    _, history = api(stack, f"/v1/legs/{stack['no_post_leg_id']}/history")
    assert [(a["actor"], a["action"], a["to_state"], a["note"]) for a in history["history"]][
        -1
    ] == (OPERATOR, "resolve", "resolved", "guest paid the deposit at the front desk")

    # Nothing the page did broke its Content-Security-Policy or threw.
    problems = [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Uncaught" in entry["message"]
    ]
    assert problems == []
