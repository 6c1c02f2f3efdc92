"""Docs that work: every command the README shows is run here (or by CI: `make test`).

The README's shell blocks are parsed; a command this file does not know how to run fails the
test, so a new README command cannot go untested.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent


def readme_commands() -> list[str]:
    """Every command line of the README's ```sh blocks, comments stripped."""
    text = README.read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


# Commands run elsewhere: `make test` is what CI runs; `make demo` runs `foliogate demo`, which
# tests/test_demo.py runs in a real process.
RUN_ELSEWHERE = {"make test", "make demo"}


def test_every_readme_command_is_known_to_this_file():
    known = RUN_ELSEWHERE | set(WALKTHROUGH) | set(SINGLE_COMMANDS)
    unknown = [c for c in readme_commands() if c not in known]
    assert unknown == [], f"README commands no test runs: {unknown}"


# -- the "Running it for real" walkthrough ---------------------------------------------------

WALKTHROUGH = [
    ".venv/bin/foliogate sim",
    "export FOLIOGATE_SECRET_PAYMENTS=change-me",
    ".venv/bin/foliogate run --config examples/gateway.toml",
    ".venv/bin/foliogate post examples/events.jsonl",
    ".venv/bin/foliogate exceptions list --config examples/gateway.toml",
]


@pytest.fixture
def sandbox(tmp_path):
    """A directory laid out like the checkout (examples/, .venv/bin) so relative paths work and
    the journal (examples/../var/) lands in tmp_path, not in the repository."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(VENV_BIN)
    return tmp_path


def _wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer within {timeout} s")
        time.sleep(0.1)


def _env(sandbox: Path, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


@pytest.mark.slow
def test_the_running_it_for_real_walkthrough_works_as_written(sandbox):
    commands = readme_commands()
    assert [c for c in commands if c in WALKTHROUGH] == WALKTHROUGH, "README walkthrough changed"
    secret = WALKTHROUGH[1].split("=", 1)[1]
    env = _env(sandbox, {"FOLIOGATE_SECRET_PAYMENTS": secret})
    procs = []
    try:
        sim = subprocess.Popen(
            WALKTHROUGH[0].split(), cwd=sandbox, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        procs.append(sim)
        _wait_http("http://127.0.0.1:8610/healthz")
        gateway = subprocess.Popen(
            WALKTHROUGH[2].split(), cwd=sandbox, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        procs.append(gateway)
        _wait_http("http://127.0.0.1:8600/healthz")

        post = subprocess.run(
            WALKTHROUGH[3].split(), cwd=sandbox, env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert post.returncode == 0, post.stdout + post.stderr
        assert post.stdout.splitlines()[:3] == ["accepted: 4", "duplicate: 0", "rejected: 0"]

        # The in-house guests' payments post through the simulator's FIAS link.
        deadline = time.monotonic() + 20
        while True:
            with urllib.request.urlopen(  # noqa: S310
                "http://127.0.0.1:8610/reservations/200101/folio", timeout=2
            ) as response:
                folio = json.load(response)
            if folio["lines"]:
                break
            assert time.monotonic() < deadline, "the balance payment never reached the folio"
            time.sleep(0.1)
        assert [(line["code"], line["amount"]) for line in folio["lines"]] == [
            ("ONEJOURNEY", -12000)
        ]

        listing = subprocess.run(
            WALKTHROUGH[4].split(), cwd=sandbox, env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert listing.returncode == 0, listing.stdout + listing.stderr
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=90)[0] for proc in reversed(procs)]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert (sandbox / "var" / "foliogate.sqlite").exists()


# -- single commands ---------------------------------------------------------------------------


def _check_config(sandbox: Path, out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == 0, out.stdout + out.stderr
    assert "GRAND-LONDON" in out.stdout


def _fias_decode(sandbox: Path, out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == 0, out.stdout + out.stderr
    assert "AS  Answer status            OK" in out.stdout


def _lint(sandbox: Path, out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == 0, out.stdout + out.stderr


def _codec_bench(sandbox: Path, out: subprocess.CompletedProcess[str]) -> None:
    # It runs and prints its figures; whether a timing goal is met on a busy CI machine is a
    # figure to read (exit 1 says "not met"), never a test verdict.
    assert out.returncode in (0, 1), out.stdout + out.stderr
    assert "typed decode (validated)" in out.stdout
    assert "Goal:" in out.stdout


def _scenario(sandbox: Path, out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all 1 scenario(s) passed" in out.stdout


def _certify(sandbox: Path, out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == 0, out.stdout + out.stderr
    assert "certification PASSED" in out.stdout
    report = sandbox / "build" / "certify"
    summary = json.loads((report / "summary.json").read_text())
    assert summary, "empty summary"
    for name in ("junit.xml", "report.html", "conformance.md"):
        assert (report / name).stat().st_size > 0, name


def _e2e_bench(sandbox: Path, out: subprocess.CompletedProcess[str]) -> None:
    # Figures to read, not a verdict: it must run to the end and print them.
    assert out.returncode == 0, out.stdout + out.stderr
    assert "legs posted" in out.stdout or "gateway legs/s" in out.stdout, out.stdout


SINGLE_COMMANDS = {
    ".venv/bin/foliogate check-config examples/gateway.toml": _check_config,
    ".venv/bin/foliogate fias decode 'PA|RN2781|ASOK|P#1732|DA000915|TI124254|'": _fias_decode,
    "make lint": _lint,
    ".venv/bin/python bench/fias_codec.py": _codec_bench,
    ".venv/bin/python bench/e2e_fias.py": _e2e_bench,
    ".venv/bin/python bench/e2e_fias.py --acceptors 1": _e2e_bench,
    ".venv/bin/python bench/e2e_soap.py": _e2e_bench,
    ".venv/bin/foliogate scenario run scenarios/fias-deposit-journey.toml": _scenario,
    ".venv/bin/foliogate certify --config examples/gateway.toml --report build/certify": _certify,
}


@pytest.mark.parametrize("command", sorted(SINGLE_COMMANDS))
def test_readme_command_runs_as_written(command, sandbox):
    assert command in readme_commands()
    env = _env(sandbox, {"FOLIOGATE_SECRET_PAYMENTS": "change-me"})
    cwd = ROOT if command.startswith("make ") or "bench/" in command else sandbox
    if command.startswith("make "):
        # The tree's own venv is already made (this test runs in it): make must not rebuild it.
        out = subprocess.run(
            command.split(), cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
    else:
        out = subprocess.run(
            command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
        )
    SINGLE_COMMANDS[command](sandbox, out)
