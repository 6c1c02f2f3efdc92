"""What the end-to-end benchmarks (``e2e_fias.py``, ``e2e_soap.py``) share: starting the
processes, waiting for them, plain HTTP calls, signed events and the figures' arithmetic."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SECRET_ENV = "FOLIOGATE_SECRET_PAYMENTS"
SECRET = b"whsec_bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)


def wait_for(what: str, probe: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (OSError, ValueError) as exc:
            last = exc
        else:
            if value:
                return value
        time.sleep(0.02)
    raise SystemExit(f"bench: timed out waiting for {what} ({last!r})")


def start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 (our own CLI)
        [sys.executable, *argv],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )


def event_headers(body: bytes) -> dict[str, list[str]]:
    """The headers of a signed event POST: JSON and the platform's ``t=...,v1=<HMAC>``."""
    t = int(time.time())
    mac = hmac.new(SECRET, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": ["application/json"], "Foliogate-Signature": [f"t={t},v1={mac}"]}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def stop(gateway: subprocess.Popen | None, sim: subprocess.Popen) -> None:
    """End a bench run: kill a gateway still running, stop the simulator cleanly."""
    if gateway is not None:
        gateway.kill()
    sim.send_signal(signal.SIGTERM)
    sim.wait(timeout=30)


def verdict(ok: bool) -> str:
    """How a goal line reads: met or not."""
    return "ok" if ok else "MISSED"
