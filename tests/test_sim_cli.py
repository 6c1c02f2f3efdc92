"""``foliogate sim``: arguments, hotel-file errors, and a real process that serves until SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from adapters.cli import build_parser, main
from simulators.ledger import DEMO_HOTEL

REPO = Path(__file__).resolve().parent.parent


def test_sim_defaults_are_loopback_ports_and_the_demo_hotel():
    args = build_parser().parse_args(["sim"])
    assert (args.hotel, args.fias, args.control) == (
        str(DEMO_HOTEL),
        "tcp:port=5010:interface=127.0.0.1",
        "tcp:port=8610:interface=127.0.0.1",
    )


def test_invalid_hotel_file_exits_2_listing_the_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[hotel]\ncurrency = "x"\n')
    assert main(["sim", "--hotel", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"foliogate sim: {bad}: ")
    assert "hotel.currency: 'x' is not an ISO 4217 code like 'GBP'" in err


def _run_sim(*extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "sim", *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sim_process_serves_fias_and_control_until_sigterm():
    process = _run_sim(
        "--fias", "tcp:port=0:interface=127.0.0.1", "--control", "tcp:port=0:interface=127.0.0.1"
    )
    watchdog = threading.Timer(30, process.kill)  # never hang the suite
    watchdog.start()
    try:
        banner = process.stdout.readline()
        match = re.search(
            r"FIAS on 127\.0\.0\.1:(\d+), control API on (http://127\.0\.0\.1:\d+)", banner
        )
        assert match, banner + process.stderr.read()
        with socket.create_connection(("127.0.0.1", int(match[1])), timeout=5) as fias:
            first = fias.recv(64)
        assert re.fullmatch(rb"\x02LS\|DA\d{6}\|TI\d{6}\|\x03", first)
        with urllib.request.urlopen(match[2] + "/healthz", timeout=5) as response:  # noqa: S310
            health = json.load(response)
        assert (health["status"], health["hotel"]) == ("ok", "Foliogate Demo Hotel")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()


def test_sim_process_with_a_bad_endpoint_exits_1_with_one_line():
    process = _run_sim("--fias", "tcp:port=notaport", "--control", "tcp:port=0:interface=127.0.0.1")
    try:
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1
    assert "foliogate sim: cannot start: " in err
