"""What the end-to-end benchmarks (``e2e_fias.py``, ``e2e_soap.py``) share: starting the
processes, waiting for them, plain HTTP calls, signed events, the load generator that plays the
payment platform, the CPU each process used, and the figures' arithmetic.

The load generator (:func:`send_events`) is meant to cost the machine as little as possible, so
that the figures measure the gateway rather than this script: a real payment platform runs on
another machine, here it shares the CPUs with the gateway and the simulator. Every request is
built and signed (``Foliogate-Signature: t=<unix>,v1=<HMAC>``; the gateway accepts a ``t`` up
to 5 minutes old) before the run's clock starts; during the run each one is a ``send`` of
ready bytes on a plain HTTP/1.1 keep-alive socket and a ``recv`` of the answer, read in full
(status line, headers, and a ``Content-Length`` or chunked body) before the connection takes
the next request. One ``selectors`` loop, no HTTP library, no URL parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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


def signature(body: bytes, t: int | None = None) -> str:
    """The platform's ``Foliogate-Signature``: ``t=<unix>,v1=<HMAC-SHA256 of "<t>." + body>``."""
    t = int(time.time()) if t is None else t
    mac = hmac.new(SECRET, b"%d." % t + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def signed_event(port: int, body: bytes, path: str = "/v1/events") -> bytes:
    """One signed event POST to ``127.0.0.1:port``, every byte of it, ready to send on a
    keep-alive connection (sign it shortly before the run: ``t`` may be 5 minutes old)."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nFoliogate-Signature: {signature(body)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


# -- plain HTTP/1.1 ---------------------------------------------------------------------------


class LoadError(RuntimeError):
    """A request got another answer than the run expects, or none: the run stops."""


class _ClosedIdle(LoadError):
    """A keep-alive connection closed before a byte of the answer came."""


def parse_response(data: bytes, eof: bool) -> tuple[int, bytes, bool, int] | None:
    """The first complete HTTP/1.x response in ``data``: (status, body, whether the connection
    stays open, bytes it took); None if more bytes must come first (an error after ``eof``).

    The body is read by ``Content-Length``, by chunks (``Transfer-Encoding: chunked``, as
    twisted.web answers a request finished later) or, with neither, up to the end of the
    connection; 1xx interim answers are skipped."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return _incomplete(data, eof)
    head = data[:end].split(b"\r\n")
    version, _, rest = head[0].partition(b" ")
    if not version.startswith(b"HTTP/1.") or not rest[:3].isdigit():
        raise LoadError(f"not an HTTP/1.x status line: {head[0][:200]!r}")
    status = int(rest[:3])
    start = end + 4
    if 100 <= status < 200 and status != 101:
        following = parse_response(data[start:], eof)
        return None if following is None else (*following[:3], start + following[3])
    length = -1
    chunked = False
    close = version == b"HTTP/1.0"
    for line in head[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = value.strip().lower() != b"keep-alive"
    if status in (204, 304):
        return status, b"", not close, start
    if chunked:
        parts, pos = [], start
        while True:
            line_end = data.find(b"\r\n", pos)
            if line_end < 0:
                return _incomplete(data, eof)
            size = int(data[pos:line_end].split(b";", 1)[0], 16)
            pos = line_end + 2
            if size == 0:
                while True:  # trailers, up to an empty line
                    line_end = data.find(b"\r\n", pos)
                    if line_end < 0:
                        return _incomplete(data, eof)
                    pos, blank = line_end + 2, line_end == pos
                    if blank:
                        return status, b"".join(parts), not close, pos
            if len(data) < pos + size + 2:
                return _incomplete(data, eof)
            parts.append(data[pos : pos + size])
            pos += size + 2
    if length >= 0:
        if len(data) < start + length:
            return _incomplete(data, eof)
        return status, data[start : start + length], not close, start + length
    if not eof:
        return None
    return status, data[start:], False, len(data)


def _incomplete(data: bytes, eof: bool) -> None:
    if eof:
        raise LoadError(f"the connection closed in a response: {data[:300]!r}")
    return None


def _connect(port: int, timeout: float | None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to ``127.0.0.1:port`` for calls one at a time
    (``/healthz`` polls, the simulator's control API): cheaper than a new connection each."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        data = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        if self.sock is not None:
            try:
                return self._exchange(data)
            except _ClosedIdle:
                pass  # the server closed the idle connection without reading it: once more
        return self._exchange(data)

    def _exchange(self, data: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = _connect(self.port, self.timeout)
        sock = self.sock
        received = b""
        try:
            sock.sendall(data)
            while True:
                chunk = sock.recv(65536)
                if not chunk and not received:
                    raise _ClosedIdle("the connection closed before any answer")
                received += chunk
                parsed = parse_response(received, not chunk)
                if parsed is not None:
                    break
        except (OSError, LoadError) as exc:
            self.close()
            if (
                isinstance(exc, _ClosedIdle | BrokenPipeError | ConnectionResetError)
                and not received
            ):
                raise _ClosedIdle(str(exc)) from exc
            raise LoadError(f"{data.split(b' HTTP/', 1)[0].decode()}: {exc}") from exc
        status, body, keep_alive, _ = parsed
        if not keep_alive:
            self.close()
        return status, body

    def json(self, method: str, path: str, body: Any = None) -> Any:
        """Call and decode the JSON answer; anything but 2xx is an error."""
        status, answer = self.request(
            method, path, b"" if body is None else json.dumps(body).encode()
        )
        if not 200 <= status < 300:
            raise LoadError(f"{method} {path}: HTTP {status}: {answer[:300]!r}")
        return json.loads(answer)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def wait_drained(conn: HttpConnection, poll: float = 0.01, timeout: float = 600.0) -> Any:
    """Poll the gateway's ``/healthz`` until no leg is pending; returns its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        health = conn.json("GET", "/healthz")
        if health["pending"] == 0:
            return health
        if time.monotonic() > deadline:
            raise LoadError(f"legs still pending after {timeout:g} s: {health}")
        time.sleep(poll)


# -- the load generator -----------------------------------------------------------------------


@dataclass
class Sent:
    """What :func:`send_events` recorded: per request, when it was sent and when its answer
    (the expected status) was read in full (``time.time()``); the run's first and last."""

    sent: list[float]
    acked: list[float]
    started: float
    finished: float


class _Conn:
    __slots__ = ("sock", "received", "n", "out")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.received = b""
        self.n = -1  # the request it waits for the answer of; -1: idle
        self.out = b""  # what a partial send left


def send_events(
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    rate: float | None = None,
    *,
    expect: int = 202,
    on_start: Callable[[], None] | None = None,
    stall: float = 60.0,
) -> Sent:
    """Send ready requests to ``127.0.0.1:port``, over at most ``concurrency`` keep-alive
    connections, one request at a time on each (request n waits for an idle connection, or a
    new one while fewer than ``concurrency`` are open).

    Without ``rate``: as fast as the connections allow (closed loop). With ``rate``: open loop,
    request n leaves at ``started + n / rate`` (or as soon after as a connection is free).
    Up to 32 connections are opened before the clock starts, then ``on_start()`` is called
    (read the CPU counters there). Every answer must have status ``expect``: any other, a
    closed connection or ``stall`` seconds without an answer raise :class:`LoadError`."""
    count = len(requests)
    sent = [0.0] * count
    acked = [0.0] * count
    selector = selectors.DefaultSelector()
    idle: deque[_Conn] = deque()
    conns: list[_Conn] = []

    def open_conn() -> _Conn:
        sock = _connect(port, 10.0)
        sock.setblocking(False)
        conn = _Conn(sock)
        selector.register(sock, selectors.EVENT_READ, conn)
        conns.append(conn)
        return conn

    def drop(conn: _Conn) -> None:
        selector.unregister(conn.sock)
        conn.sock.close()
        conns.remove(conn)

    try:
        for _ in range(min(concurrency, count, 32)):
            idle.append(open_conn())
        if on_start is not None:
            on_start()
        started = last = time.time()
        interval = 1.0 / rate if rate else 0.0
        following = done = 0
        while done < count:
            # Send every request that is due, while a connection is free.
            while following < count and (idle or len(conns) < concurrency):
                if interval and started + following * interval > time.time():
                    break
                conn = idle.popleft() if idle else open_conn()
                data = requests[following]
                conn.n = following
                sent[following] = time.time()
                try:
                    written = conn.sock.send(data)
                except OSError as exc:
                    raise LoadError(f"request {following}: {exc}") from exc
                if written < len(data):
                    conn.out = data[written:]
                    selector.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
                following += 1
            timeout = stall
            if interval and following < count and (idle or len(conns) < concurrency):
                timeout = max(0.0, started + following * interval - time.time())
            ready = selector.select(timeout)
            now = time.time()
            if not ready and now - last > stall and done < following:
                raise LoadError(f"no answer for {stall:g} s ({following - done} waiting)")
            for key, mask in ready:
                conn = key.data
                if mask & selectors.EVENT_WRITE and conn.out:
                    try:
                        written = conn.sock.send(conn.out)
                    except OSError as exc:
                        raise LoadError(f"request {conn.n}: {exc}") from exc
                    conn.out = conn.out[written:]
                    if not conn.out:
                        selector.modify(conn.sock, selectors.EVENT_READ, conn)
                if not mask & selectors.EVENT_READ:
                    continue
                try:
                    chunk = conn.sock.recv(65536)
                except OSError as exc:
                    raise LoadError(f"request {conn.n}: {exc}") from exc
                if conn.n < 0:  # idle: the server may close it, nothing else
                    if chunk:
                        raise LoadError(f"bytes on an idle connection: {chunk[:200]!r}")
                    idle.remove(conn)
                    drop(conn)
                    continue
                conn.received += chunk
                try:
                    parsed = parse_response(conn.received, not chunk)
                except LoadError as exc:
                    raise LoadError(f"request {conn.n}: {exc}") from exc
                if parsed is None:
                    continue
                status, body, keep_alive, used = parsed
                if status != expect:
                    raise LoadError(f"request {conn.n}: HTTP {status}: {body[:300]!r}")
                acked[conn.n] = last = time.time()
                done += 1
                conn.n = -1
                conn.received = conn.received[used:]
                if keep_alive and chunk and not conn.received:
                    idle.append(conn)
                else:
                    drop(conn)
        return Sent(sent, acked, started, last)
    finally:
        for conn in conns:
            conn.sock.close()
        selector.close()


# -- CPU --------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used so far: its CPU-time
    clock, to the nanosecond (the clock id ``clock_getcpuclockid(3)`` makes on Linux), or the
    10 ms ticks of ``/proc/<pid>/stat`` where that clock cannot be read."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)  # CPUCLOCK_SCHED of the whole process
    except OSError:
        pass
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The live processes under ``pid`` (children, their children...), from ``/proc``."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants (a gateway's acceptor processes)."""
    total = cpu_seconds(pid)
    for child in descendants(pid):
        try:
            total += cpu_seconds(child)
        except OSError:
            pass
    return total


def cpu_of(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process: with its descendants, except this one
    (whose children are the gateway and the simulator, counted under their own names)."""
    me = os.getpid()
    return {
        name: cpu_seconds(pid) if pid == me else tree_cpu_seconds(pid) for name, pid in pids.items()
    }


class InstructionCounter:
    """Instructions a process retires in user space and in the kernel for it (its system
    calls: socket reads and writes, the journal's file writes and fsyncs), counted by
    ``perf stat -p`` (Linux perf).

    Unlike CPU seconds they hardly move when the machine is busy or its host drifts, so two
    versions of the gateway can be compared in runs made at different times. One perf process
    prints the count every 10 ms; :meth:`read` waits for the next print and returns the
    instructions counted since the counter was made (None where perf cannot count here: not
    installed, or no access to the counters)."""

    INTERVAL_MS = 10

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._user = 0
        self._kernel = 0
        self._prints = 0
        self._works = shutil.which("perf") is not None
        self._lock = threading.Condition()
        self._perf: subprocess.Popen | None = None
        if self._works:
            self._perf = subprocess.Popen(
                ["perf", "stat", "-x", ",", "-I", str(self.INTERVAL_MS),
                 "-e", "instructions:u,instructions:k", "-p", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self) -> None:
        assert self._perf is not None and self._perf.stderr is not None
        for line in self._perf.stderr:
            fields = line.strip().split(",")
            with self._lock:
                if len(fields) > 3 and fields[3].startswith("instructions:"):
                    count = int(fields[1]) if fields[1].isdigit() else 0
                    if fields[3].startswith("instructions:u"):
                        self._user += count
                        self._prints += 1
                    else:
                        self._kernel += count
                self._lock.notify_all()
        with self._lock:
            self._works = False
            self._lock.notify_all()

    def read(self) -> tuple[int, int] | None:
        with self._lock:
            seen = self._prints
            # Two prints: the kernel line of the first may still be on its way.
            self._lock.wait_for(lambda: self._prints > seen + 1 or not self._works, timeout=1.0)
            return (self._user, self._kernel) if self._works and self._prints > seen else None

    def close(self) -> None:
        if self._perf is not None and self._perf.poll() is None:
            self._perf.send_signal(signal.SIGINT)
            self._perf.wait(timeout=10)


#: pid -> its counter, for :func:`instructions_of` (see :func:`count_instructions`).
_COUNTERS: dict[int, InstructionCounter] = {}


def count_instructions(pid: int) -> InstructionCounter:
    """Start counting ``pid``'s instructions; :func:`send_run` and the benches' runs then note
    them beside the CPU seconds."""
    counter = _COUNTERS[pid] = InstructionCounter(pid)
    return counter


def instructions_of(pids: Mapping[str, int]) -> dict[str, tuple[int, int] | None]:
    """Instructions counted so far for each named process that has a counter."""
    return {name: _COUNTERS[pid].read() for name, pid in pids.items() if pid in _COUNTERS}


def print_instructions(start: Mapping[str, tuple[int, int] | None],
                       end: Mapping[str, tuple[int, int] | None],
                       legs: int, what: str = "leg") -> None:  # fmt: skip
    """Instructions per leg (or event) of each counted process between two readings: user
    space plus the kernel's work for it."""
    parts = []
    for name, begin in start.items():
        finish = end.get(name)
        if begin is None or finish is None or not legs:
            continue
        user, kernel = ((finish[i] - begin[i]) / legs / 1e6 for i in (0, 1))
        parts.append(f"{name} {user + kernel:.3f} M ({user:.3f} user + {kernel:.3f} kernel)")
    if parts:
        print(f"  instructions per {what:<9} " + ", ".join(parts) + "  (perf stat)")


def print_bench_cpu(run: Mapping[str, Any]) -> None:
    """This script's CPU per event in a run: while sending (``cpu_start`` to ``cpu_acked``,
    every 202 read) and up to ``cpu_end`` (with the ``/healthz`` polls until drained)."""
    events = run["events"]
    sending = (run["cpu_acked"]["bench"] - run["cpu_start"]["bench"]) * 1000 / events
    whole = (run["cpu_end"]["bench"] - run["cpu_start"]["bench"]) * 1000 / events
    print(f"  bench CPU per event        {sending:10.3f} ms  (sending; {whole:.3f} ms up to "
          "drained, with the /healthz polls)")  # fmt: skip


def print_budget(
    start: Mapping[str, float],
    end: Mapping[str, float],
    legs: int,
    bare_rate: float,
    window: str,
) -> None:
    """The CPU budget of ``legs`` legs between two :func:`cpu_of` readings (``window`` says
    which): ms per leg of each process and of all together; the rate that allows on this
    machine's CPUs were CPU all the legs waited for (``os.cpu_count()`` / all ms per leg), with
    its ratio to the bare driver; the same without this script's share (a real payment platform
    runs elsewhere), and with one whole CPU for the gateway alone. A rate near the ceiling is
    limited by the machine; one well below it, by something else (round trips, the gateway's
    one thread, waits)."""
    if legs <= 0:
        print(f"  CPU ms per leg             (no legs posted: {window})")
        return
    per = {name: (end[name] - start[name]) * 1000 / legs for name in start}
    total = sum(per.values())
    cpus = os.cpu_count() or 1
    print("  CPU ms per leg             "
          + ", ".join(f"{name} {ms:.3f}" for name, ms in per.items())
          + f"; all {total:.3f}  ({window})")  # fmt: skip
    if total <= 0:
        return
    ceiling = cpus * 1000 / total
    print(f"  ceiling on {cpus} CPUs          {ceiling:10,.0f} legs/s = {ceiling / bare_rate:.1%} "
          f"of the bare driver ({cpus} CPUs / {total:.3f} ms per leg)")  # fmt: skip
    notes = []
    others = total - per.get("bench", 0.0)
    if "bench" in per and others > 0:
        alone = cpus * 1000 / others
        notes.append(f"without the bench's share {alone:,.0f} = {alone / bare_rate:.1%}")
    if per.get("gateway", 0.0) > 0:
        one = 1000 / per["gateway"]
        notes.append(f"one whole CPU for the gateway {one:,.0f} = {one / bare_rate:.1%}")
    if notes:
        print(f"{'':<31}({'; '.join(notes)})")


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


#: The bare drivers time their work in this many equal segments and report the fastest, so
#: a moment of contention on the shared CPUs lowers the gateway's figure, never the bare
#: driver's: the ratio errs against the gateway.
BARE_SEGMENTS = 3


def best_segment_rate(marks: Sequence[float], count: int, segments: int = BARE_SEGMENTS) -> float:
    """Items per second of the fastest of ``segments`` equal segments; ``marks[i]`` is the
    ``perf_counter()`` when item ``i`` was done, ``marks[0]``... after a first one before."""
    per = max(1, count // segments)
    rates = []
    for k in range(segments):
        first, last = k * per, min(count, (k + 1) * per)
        if last <= first:
            break
        rates.append((last - first) / (marks[last] - marks[first]))
    return max(rates)


#: The demo hotel's rooms; the SOAP benchmarks' guests share them.
DEMO_ROOMS = ("101", "102", "103", "201", "202", "301")


def make_guests(control: str, first: int, count: int) -> list[str]:
    """``count`` reservations from ``first`` on, made and checked in through the simulator's
    control API at ``control`` (sharing the demo hotel's rooms); their confirmation numbers."""
    numbers = []
    for i in range(count):
        number = first + i
        get_json(control + "/reservations", "POST", {
            "confirmation_number": number, "guest_name": f"Bench, Guest {i}",
            "arrival": "2026-11-27", "departure": "2026-11-30",
        })  # fmt: skip
        get_json(f"{control}/reservations/{number}/check-in",
                 "POST", {"room": DEMO_ROOMS[i % len(DEMO_ROOMS)]})  # fmt: skip
        numbers.append(str(number))
    return numbers


def send_run(port: int, requests: Sequence[bytes], run: dict[str, Any],
             pids: dict[str, int]) -> Sent:  # fmt: skip
    """:func:`send_events` for one benchmark run (its ``concurrency`` and ``rate``), noting
    the processes' CPU seconds when the clock starts (``cpu_start``) and when every answer
    is read (``cpu_acked``)."""
    result = send_events(
        port, requests, run["concurrency"], run.get("rate"),
        on_start=lambda: run.update(cpu_start=cpu_of(pids), ins_start=instructions_of(pids)),
    )  # fmt: skip
    run["cpu_acked"] = cpu_of(pids)
    run["ins_acked"] = instructions_of(pids)
    return result


def start_soap_simulator(
    workdir: Path, fias_port: int, control_port: int, ports: Mapping[str, int]
) -> subprocess.Popen:
    """``foliogate sim`` with FIAS, the control API and a SOAP endpoint per profile in
    ``ports`` (profile -> port), on loopback; its SOAP credentials are the demo ones (any
    ``FOLIOGATE_SIM_SOAP_*`` of this environment left out). Log in ``workdir/sim.log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIOGATE_SIM_SOAP_")}
    return start(
        ["-m", "adapters.cli", "sim",
         "--fias", f"tcp:port={fias_port}:interface=127.0.0.1",
         "--control", f"tcp:port={control_port}:interface=127.0.0.1",
         *(f"--{p}=tcp:port={port}:interface=127.0.0.1" for p, port in ports.items())],
        workdir / "sim.log", env,
    )  # fmt: skip

