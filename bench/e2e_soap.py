"""Benchmark foliogate's SOAP posters end to end: signed HTTP events in, SOAP postings out.

Three processes, as in production: the PMS simulators (``foliogate sim --opera-htng --rezlynx
--htng-async``, demo hotel), the gateway (``foliogate run``, the properties of
``examples/gateway-soap.toml``, a real SQLite journal with ``synchronous=FULL``) and this
script, which plays the payment platform. The three share this machine's CPUs (a real payment
platform runs elsewhere), so the script is a lean load generator (``harness.send_events``):
every event is built and signed before its run's clock starts and sent as ready bytes on plain
HTTP/1.1 keep-alive connections. Per profile, one after the other, it prints:

- **bare driver**: ``http.client`` on one keep-alive connection POSTing envelopes built before
  the clock starts (our ``protocols`` builders: the same messages the gateway sends, one
  charge and one payment per deposit), one at a time, to the same simulator: legs/s. rezlynx
  logs in once first; htng-async waits for each result callback on a small
  ``http.server`` before the next leg (what "posted" means there);
- **throughput run**: N signed deposit events (two legs each: Spa Deposit charge and
  onejourney payment, to in-house guests) POSTed over ``--concurrency`` connections: legs/s
  posted (from the journal's ``posted`` transition times, first to last), and the ratio to
  the bare driver; then its **CPU budget** (from the first POST until nothing is pending): CPU
  ms per leg of the gateway, the simulator, this script and all together, the ceiling that
  implies on this machine (``os.cpu_count()`` / all ms per leg) and its ratio to the bare
  driver, without the script's share, and with one whole CPU for the gateway: a rate near the
  ceiling is limited by the machine, one well below it by the gateway;
- **paced run**: deposit events at ``--rate`` per second: p50/p99/max latency from the POST
  leaving this script to each leg being journaled ``posted``;
- for both runs, this script's own CPU per event (what the load costs the machine).

Goals (issue 4): >= 300 legs/s per profile and >= 40 % of the bare driver.

Per leg the gateway does more than the bare driver: it journals the event, marks the leg
``sent`` (a commit with fsync) before the request leaves and ``posted`` after (another), logs
both messages, builds the envelope with zeep and validates it against the XSD, reads the
answer with the hardened parser and zeep, and after each event's last leg reads the folio
once (opera-htng FetchFolio, rezlynx GetFolio; htng-async has no folio read) to record the
balance: three round trips per two-leg event where the bare driver does two. The dispatcher
posts one leg at a time per property (order per reservation is a rule), so legs/s is one
property's sequential rate.

    .venv/bin/python bench/e2e_soap.py [--events 1000] [--rate 150] [--profiles opera-htng,...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import http.server
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import (
    ROOT,
    SECRET,
    SECRET_ENV,
    HttpConnection,
    LoadError,
    best_segment_rate,
    cpu_of,
    free_port,
    get_json,
    make_guests,
    percentile,
    print_bench_cpu,
    print_budget,
    send_run,
    signed_event,
    start,
    start_soap_simulator,
    stop,
    verdict,
    wait_drained,
    wait_for,
)

sys.path.insert(0, str(ROOT))

from protocols.htng import htng_async as ha  # noqa: E402
from protocols.htng import opera_htng as oh  # noqa: E402
from protocols.htng import rezlynx as rz  # noqa: E402
from protocols.htng.money import Money  # noqa: E402
from protocols.soap import Caller, Credentials, Stamp, http_headers, parse_xml  # noqa: E402

EXAMPLE = ROOT / "examples" / "gateway-soap.toml"
USER, PASSWORD = "foliogate-demo", "demo-only-password"  # the demo hotel's [soap] table
#: Guests per phase (bare driver or gateway, per profile), created in house before the runs,
#: so folios stay short (a FetchFolio/GetFolio reads the whole folio after every event).
GUESTS_PER_PHASE = 100
PROPERTIES = {
    "opera-htng": "DEMO-OPERA",
    "rezlynx": "DEMO-REZLYNX",
    "htng-async": "DEMO-HOTEL-PERFECT",
}
PATHS = {"opera-htng": "/opera-htng", "rezlynx": "/rezlynx", "htng-async": "/htng-async"}


# -- processes ------------------------------------------------------------------------------


def write_config(
    directory: Path, api_port: int, ports: dict[str, int], acceptors: int = 0,
    ingest_port: int | None = None,
) -> Path:  # fmt: skip
    """The example's gateway config with this run's journal and ports; with ``acceptors``,
    that many acceptor processes taking the events on ``ingest_port``."""
    text = EXAMPLE.read_text()
    if acceptors:
        text = text.replace("\nmax_body_bytes = 65536\n", "\nmax_body_bytes = 65536\n"
                            f"acceptors = {acceptors}\ningest_listen = "
                            f'"tcp:port={ingest_port}:interface=127.0.0.1"\n', 1)  # fmt: skip
        assert f"acceptors = {acceptors}" in text
    replacements = {
        'journal = "../var/foliogate-soap.sqlite"': f'journal = "{directory / "journal.sqlite"}"',
        "tcp:port=8600:interface=127.0.0.1": f"tcp:port={api_port}:interface=127.0.0.1",
        "http://127.0.0.1:8611/": f"http://127.0.0.1:{ports['opera-htng']}/",
        "http://127.0.0.1:8612/": f"http://127.0.0.1:{ports['rezlynx']}/",
        "http://127.0.0.1:8613/": f"http://127.0.0.1:{ports['htng-async']}/",
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = directory / "gateway.toml"
    path.write_text(text)
    return path


# -- the bare driver ------------------------------------------------------------------------


class BareDriver:
    """Pre-built envelopes over one ``http.client`` keep-alive connection (no foliogate
    adapter code: the envelopes come from ``protocols`` builders, before the clock starts)."""

    def __init__(self, profile: str, port: int, legs: int, guests: list[str]) -> None:
        self.guests = guests
        self.profile = profile
        self.port = port
        self.legs = legs
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.now = dt.datetime.now(dt.UTC)
        self.caller = Caller(
            to=f"http://127.0.0.1:{port}{PATHS[profile]}",
            credentials=Credentials(USER, PASSWORD),
            from_address="urn:bench",
        )
        self.callbacks: dict[str, threading.Event] = {}
        self.callback_server: http.server.ThreadingHTTPServer | None = None

    def post(self, body: bytes, action: str, version: Any) -> bytes:
        self.conn.request("POST", PATHS[self.profile], body=body,
                          headers=http_headers(version, action))  # fmt: skip
        response = self.conn.getresponse()
        content = response.read()
        if response.status != 200:
            raise SystemExit(
                f"bench: bare {self.profile} HTTP {response.status}: {content[:300]!r}"
            )
        return content

    def stamp(self, n: int) -> Stamp:
        return Stamp(f"urn:uuid:00000000-0000-4000-8000-{n:012d}", self.now)

    def envelopes(self) -> list[tuple[bytes, str, Any, str | None]]:
        """(body, action, SOAP version, correlation id) for every leg: deposits, alternately
        the Spa Deposit charge and the onejourney payment."""
        made = []
        session = self.log_in() if self.profile == "rezlynx" else None
        for n in range(self.legs):
            guest = self.guests[(n // 2) % len(self.guests)]
            ref = f"bare_{n // 2:06d}/{n % 2}"
            charge = n % 2 == 0
            amount = 100 + n // 2
            if self.profile == "opera-htng":
                if charge:
                    record = oh.PostChargeRequest(
                        guest, "SPA_DEPOSIT", Money(amount, "GBP", 2), ref
                    )
                    body = oh.build_post_charge_request(
                        record, caller=self.caller, stamp=self.stamp(n)
                    )
                    op = oh.Operation.POST_CHARGE
                else:
                    record = oh.PostPaymentRequest(
                        guest, "ONEJOURNEY", Money(amount, "GBP", 2), ref
                    )
                    body = oh.build_post_payment_request(
                        record, caller=self.caller, stamp=self.stamp(n)
                    )
                    op = oh.Operation.POST_PAYMENT
                made.append((body, op.action, oh.SOAP_VERSION, None))
            elif self.profile == "rezlynx":
                if charge:
                    body = rz.build_post_to_room_request(
                        rz.PostToRoomRequest(session, guest, "SPA_DEPOSIT", amount, ref), decimals=2
                    )
                    op = rz.Operation.POST_TO_ROOM
                else:
                    body = rz.build_add_payment_request(
                        rz.AddPaymentRequest(session, guest, "ONEJOURNEY", amount, ref), decimals=2
                    )
                    op = rz.Operation.ADD_PAYMENT
                made.append((body, op.action, rz.SOAP_VERSION, None))
            else:
                line = Money(amount, "GBP", 2)
                request = ha.ChargePostingRequest(
                    echo_token=ref, correlation_id=ref, timestamp=self.now, hotel_code="DEMO",
                    reservation_id=guest,
                    revenue_lines=(ha.RevenueLine("SPA_DEPOSIT", line, ref),) if charge else (),
                    payment_lines=() if charge else (ha.PaymentLine("ONEJOURNEY", line, ref),),
                )  # fmt: skip
                caller = Caller(to=self.caller.to, credentials=self.caller.credentials,
                                reply_to=self.callback_url)  # fmt: skip
                body = ha.build_charge_posting_request(request, caller=caller, stamp=self.stamp(n))
                made.append((body, ha.Operation.CHARGE_POSTING.action, ha.SOAP_VERSION, ref))
        return made

    def log_in(self) -> str:
        body = rz.build_log_in_request(rz.LogInRequest("DEMO", USER, PASSWORD))
        answer = rz.parse_log_in_response(parse_xml(self.post(body, rz.Operation.LOG_IN.action,
                                                               rz.SOAP_VERSION)))  # fmt: skip
        assert answer.session_id, answer
        return answer.session_id

    def start_callbacks(self) -> None:
        driver = self
        ack = b"<ok/>"

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers["Content-Length"]))
                result = ha.parse_charge_posting_result_request(parse_xml(data))
                self.send_response(200)
                self.send_header("Content-Length", str(len(ack)))
                self.end_headers()
                self.wfile.write(ack)
                if not result.success:
                    print(f"bench: bare htng-async result has errors: {result.errors}")
                driver.callbacks.setdefault(result.correlation_id, threading.Event()).set()

            def log_message(self, *args: Any) -> None:
                pass

        self.callback_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.callback_url = f"http://127.0.0.1:{self.callback_server.server_address[1]}/cb"
        threading.Thread(target=self.callback_server.serve_forever, daemon=True).start()

    def run(self) -> float:
        if self.profile == "htng-async":
            self.start_callbacks()
        envelopes = self.envelopes()
        marks = [time.perf_counter()]
        for body, action, version, correlation in envelopes:
            content = self.post(body, action, version)
            if correlation is not None:
                event = self.callbacks.setdefault(correlation, threading.Event())
                if not event.wait(10):
                    raise SystemExit(f"bench: no result callback for {correlation}")
            elif b"SUCCESS" not in content and b"<ExceptionCode>0<" not in content:
                raise SystemExit(f"bench: bare {self.profile} posting refused: {content[:400]!r}")
            marks.append(time.perf_counter())
        self.conn.close()
        if self.callback_server is not None:
            self.callback_server.shutdown()
        return best_segment_rate(marks, self.legs)  # the fastest third


# -- the payment platform's side ------------------------------------------------------------


def event(profile: str, n: int, prefix: str, guests: list[str]) -> bytes:
    return json.dumps(
        {
            "event_id": f"{prefix}_{n:06d}",
            "type": "payment.succeeded",
            "property": PROPERTIES[profile],
            "occurred_at": "2026-11-27T10:04:05Z",
            "payment": {
                "kind": "deposit",
                "amount": 100 + n,
                "currency": "GBP",
                "transaction_id": f"pi_{prefix}_{n}",
                "method": "onejourney",
                "status": "Payment Success",
            },
            "booking": {"confirmation_number": guests[n % len(guests)]},
        }
    ).encode()


def run_client(
    port: int, runs: list[dict[str, Any]], pids: dict[str, int], ingest_port: int | None = None
) -> None:
    """Send each run's events (:func:`harness.send_events`: built and signed before the run's
    clock starts, sent on plain keep-alive connections) and wait until nothing is pending;
    fills in each run's send times and the processes' CPU seconds (``cpu_start``,
    ``cpu_acked``: all 202s read, ``cpu_end``: nothing pending). ``ingest_port``: where the
    events go (the acceptors'), if not to the API's ``port``."""
    health = HttpConnection(port)
    events_port = ingest_port or port
    try:
        for run in runs:
            requests = [
                signed_event(events_port, event(run["profile"], n, run["prefix"], run["guests"]))
                for n in range(run["events"])
            ]
            result = send_run(events_port, requests, run, pids)
            run["started"], run["sent"] = result.started, result.sent
            wait_drained(health)
            run["drained"] = time.time()
            run["cpu_end"] = cpu_of(pids)
    finally:
        health.close()


def posted_times(journal: Path, prefix: str) -> dict[tuple[int, int], float]:
    """(event n, leg index) -> unix time the leg was journaled ``posted``."""
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT h.event_id, l.leg_index, h.time FROM history h JOIN legs l USING (leg_id)"
            " WHERE h.action = 'posted' AND h.event_id LIKE ?",
            (prefix + "_%",),
        ).fetchall()
        states = dict(conn.execute(
            "SELECT state, COUNT(*) FROM legs WHERE event_id LIKE ? GROUP BY state",
            (prefix + "_%",),
        ).fetchall())  # fmt: skip
    finally:
        conn.close()
    if set(states) != {"posted"}:
        print(f"bench: legs of {prefix} by state: {states}")
    return {
        (int(event_id.rsplit("_", 1)[1]), leg_index): dt.datetime.fromisoformat(when).timestamp()
        for event_id, leg_index, when in rows
    }


# -- main -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=1000, help="throughput run (1000 = 2000 legs)"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="throughput run (32)")
    parser.add_argument("--rate", type=float, default=150.0,
                        help="paced run, events/s (150 = 300 legs/s)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=4.0, help="paced run length (4)")
    parser.add_argument("--bare-legs", type=int, default=2000, help="bare driver legs (2000)")
    parser.add_argument("--profiles", default=",".join(PROPERTIES), help="which profiles")
    parser.add_argument("--keep", type=Path, help="keep the journal and logs in this directory")
    parser.add_argument("--profile", type=Path, help="run the gateway under cProfile into FILE")
    parser.add_argument("--acceptors", type=int, default=0,
                        help="[gateway] acceptors: processes that accept the events and hand "
                        "them to the gateway's (0: the gateway's own process accepts them)")
    args = parser.parse_args(argv)
    profiles = [p for p in args.profiles.split(",") if p]

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="foliogate-bench-soap-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ports = {profile: free_port() for profile in PROPERTIES}
    control_port, fias_port, api_port = free_port(), free_port(), free_port()
    ingest_port = free_port() if args.acceptors else None
    control = f"http://127.0.0.1:{control_port}"
    base = f"http://127.0.0.1:{api_port}"
    print(f"Python {platform.python_version()} on {platform.machine()} ({platform.system()}), "
          f"{os.cpu_count()} CPUs; acceptors = {args.acceptors} (--acceptors); "
          f"work directory {workdir}")  # fmt: skip

    sim = start_soap_simulator(workdir, fias_port, control_port, ports)
    gateway: subprocess.Popen | None = None
    results: dict[str, dict[str, Any]] = {p: {} for p in profiles}
    try:
        wait_for("the simulator", lambda: get_json(control + "/healthz"))
        guests = {}
        for phase, profile in enumerate(profiles):
            guests[profile] = make_guests(control, 700000 + 1000 * phase, GUESTS_PER_PHASE)
            driver = BareDriver(profile, ports[profile], args.bare_legs, guests[profile])
            results[profile]["bare"] = driver.run()
            guests[profile] = make_guests(control, 800000 + 1000 * phase, GUESTS_PER_PHASE)

        config = write_config(workdir, api_port, ports, args.acceptors, ingest_port)
        env = {
            **os.environ,
            SECRET_ENV: SECRET.decode(),
            "FOLIOGATE_DEMO_SOAP_USER": USER,
            "FOLIOGATE_DEMO_SOAP_PASSWORD": PASSWORD,
        }
        gateway_argv = ["-m", "adapters.cli", "run", "--config", str(config)]
        if args.profile:
            gateway_argv = ["-m", "cProfile", "-o", str(args.profile.resolve()), *gateway_argv]
        gateway = start(gateway_argv, workdir / "gateway.log", env)
        wait_for("the gateway's API", lambda: get_json(base + "/healthz"))
        journal = workdir / "journal.sqlite"
        paced_events = int(args.rate * args.seconds)
        runs: list[dict[str, Any]] = []
        for profile in profiles:
            tag = profile.replace("-", "")
            runs += [
                {"profile": profile, "prefix": f"tput{tag}", "events": args.events,
                 "concurrency": args.concurrency, "guests": guests[profile]},
                {"profile": profile, "prefix": f"paced{tag}", "events": paced_events,
                 "concurrency": paced_events, "rate": args.rate, "guests": guests[profile]},
            ]  # fmt: skip
        pids = {"gateway": gateway.pid, "simulator": sim.pid, "bench": os.getpid()}
        try:
            run_client(api_port, runs, pids, ingest_port)
        except LoadError as exc:
            raise SystemExit(f"bench: {exc}") from exc
        for index, profile in enumerate(profiles):
            tput, paced = runs[2 * index : 2 * index + 2]
            posted = posted_times(journal, tput["prefix"])
            first, last = min(posted.values()), max(posted.values())
            result = results[profile]
            result["legs"] = len(posted)
            result["legs_rate"] = (len(posted) - 1) / (last - first)
            result["drain_rate"] = len(posted) / (tput["drained"] - tput["started"])
            result["tput"], result["paced"] = tput, paced
            posted_paced = posted_times(journal, paced["prefix"])
            result["latencies"] = [
                (when - paced["sent"][n]) * 1000 for (n, _), when in posted_paced.items()
            ]
            result["paced_events"] = paced["events"]
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=60)
        gateway = None
    finally:
        stop(gateway, sim)

    print()
    print(f"{'profile':<12} {'bare legs/s':>12} {'gateway legs/s':>15} {'ratio':>7} "
          f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}   goals: >=300 legs/s, >=40 %")  # fmt: skip
    for profile in profiles:
        r = results[profile]
        ratio = r["legs_rate"] / r["bare"]
        lat = r["latencies"]
        print(
            f"{profile:<12} {r['bare']:12,.0f} {r['legs_rate']:15,.0f} {ratio:7.1%} "
            f"{percentile(lat, 0.5):8.1f} {percentile(lat, 0.99):8.1f} {max(lat):8.1f}   "
            f"{verdict(r['legs_rate'] >= 300)} / {verdict(ratio >= 0.4)}"
        )
    print()
    print(
        f"throughput run: {args.events} deposit events (2 legs each) per profile over "
        f"{args.concurrency} connections; legs/s from the first to the last 'posted'"
    )
    print(
        f"paced run: {args.rate:g} events/s ({2 * args.rate:g} legs/s) for {args.seconds:g} s; "
        "latency from the POST leaving this script to each leg journaled 'posted'"
    )
    for profile in profiles:
        r = results[profile]
        print(f"{profile}: throughput run, {r['legs']} legs posted "
              f"({r['drain_rate']:,.0f} legs/s from the first POST to drained)")  # fmt: skip
        print_bench_cpu(r["tput"])
        print_budget(r["tput"]["cpu_start"], r["tput"]["cpu_end"], r["legs"], r["bare"],
                     "first POST to drained: accepting and posting")  # fmt: skip
        print(f"{profile}: paced run")
        print_bench_cpu(r["paced"])
    print(f"os.getloadavg() after the runs: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.profile:
        import pstats

        print(f"\nTop of the gateway's profile ({args.profile}), by own then cumulative time:")
        stats = pstats.Stats(str(args.profile))
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
