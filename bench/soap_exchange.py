"""Micro-benchmark: the CPU one SOAP exchange costs the posting process (the SOAP client path).

Starts the PMS simulators in a subprocess (``foliogate sim --opera-htng --rezlynx``, the demo
hotel), checks guests in, then, in this process, builds each profile's channel as the gateway
does (:func:`adapters.soap_channel.make_soap_channel`: zeep loaded once, the XSD check, the
wire-log masking, :class:`~adapters.soap_channel.SoapHttp` on a keep-alive pool) and posts N
legs one at a time, as a property's dispatcher does: per deposit a charge leg and a payment leg,
then the folio read-back (opera-htng FetchFolio, rezlynx GetFolio). No journal, no dispatcher,
no event ingest: the hooks do nothing (``on_frame`` still gets the masked messages).

Prints, per profile: exchanges (HTTP round trips) and legs, this process's CPU per exchange
and per leg (``getrusage``: user + system of this process only; the simulator runs in its
own process), the user-mode share of it, the median and the best of ``--rounds`` timed rounds
(per exchange; on a shared machine the best round is the steadiest CPU figure to compare), the
wall-clock rate, and the median of the rounds' user-mode instructions per exchange (Linux
``perf_event_open`` on this thread; ``-`` where it cannot be opened): the figure to compare
two versions by while other processes share the CPUs.

    .venv/bin/python bench/soap_exchange.py [--legs 2000] [--rounds 10] [--warmup 40]
        [--profiles rezlynx,opera-htng] [--cprofile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import platform
import resource
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import ROOT, free_port, get_json, make_guests, start_soap_simulator, stop, wait_for

sys.path.insert(0, str(ROOT))

from adapters.config import config_from_toml  # noqa: E402
from adapters.domain import Leg, LegState, PlannedLeg  # noqa: E402
from adapters.fias_postings import PostingResult  # noqa: E402
from adapters.soap_channel import make_soap_channel  # noqa: E402
from protocols.soap import Credentials  # noqa: E402

USER, PASSWORD = "foliogate-demo", "demo-only-password"  # the demo hotel's [soap] table
PATHS = {"opera-htng": "/opera-htng", "rezlynx": "/rezlynx"}
GUESTS = 100


def property_config(profile: str, endpoint: str) -> Any:
    extra = 'hotel_code = "DEMO"' if profile == "rezlynx" else ""
    text = f"""
[sources.payments]
secret_env = "SECRET"
[properties.BENCH]
profile = "{profile}"
endpoint = "{endpoint}"
posting_mode = "negative"
currency = "GBP"
answer_timeout_seconds = 30
[properties.BENCH.codes]
deposit = "SPA_DEPOSIT"
revenue = {{ SPA_TREATMENT = "SPA_TREATMENT" }}
payment_types = {{ onejourney = "ONEJOURNEY" }}
[properties.BENCH.soap]
username_env = "U"
password_env = "P"
{extra}
"""
    return config_from_toml(text, base_dir=Path(tempfile.gettempdir())).properties["BENCH"]


def deposit_leg(n: int, guest: str, prefix: str) -> Leg:
    """Leg ``n``: even = the Spa Deposit charge, odd = the onejourney payment of deposit n//2."""
    charge = n % 2 == 0
    event_id = f"{prefix}_{n // 2:06d}"
    return Leg(
        leg_id=n + 1,
        event_id=event_id,
        leg_index=n % 2,
        property="BENCH",
        confirmation_number=guest,
        plan=PlannedLeg(
            leg_index=n % 2,
            transaction_code="SPA_DEPOSIT" if charge else None,
            payment_type=None if charge else "ONEJOURNEY",
            amount=100 + n // 2,
            currency="GBP",
            description="Spa deposit",
            needs_in_house=False,
        ),
        state=LegState.PLANNED,
        reference=f"{event_id}/{n % 2}",
    )


class Instructions:
    """User-mode instructions this thread retires (Linux ``perf_event_open``), a figure that
    other processes on a shared machine barely move, unlike CPU time; ``read()`` is None
    where the counter cannot be opened (another OS, ``perf_event_paranoid``, no PMU)."""

    def __init__(self) -> None:
        self.fd: int | None = None
        if sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"):
            return
        import ctypes

        # struct perf_event_attr, PERF_ATTR_SIZE_VER0 (64 bytes): type, size, config,
        # sample_period, sample_type, read_format, flags, wakeup_events, bp_type, config1.
        attr = struct.pack("IIQQQQQIIQ", 0, 64, 1, 0, 0, 0, (1 << 5) | (1 << 6), 0, 0, 0)
        buffer = ctypes.create_string_buffer(attr, 64)
        number = 298 if platform.machine() == "x86_64" else 241
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.syscall(number, buffer, 0, -1, -1, 0)  # this thread, any CPU, user mode
        self.fd = fd if fd >= 0 else None

    def read(self) -> int | None:
        if self.fd is None:
            return None
        return int.from_bytes(os.read(self.fd, 8), sys.byteorder)


def run_profile(reactor: Any, profile: str, endpoint: str, legs: int, guests: list[str],
                warmup: int, rounds: int, profiler: cProfile.Profile | None) -> Any:  # fmt: skip
    from twisted.internet.defer import ensureDeferred

    frames = [0]

    def on_frame(direction: str, payload: bytes, reference: Any, **kw: Any) -> None:
        frames[0] += 1

    channel = make_soap_channel(
        property_config(profile, endpoint),
        reactor=reactor,
        credentials=Credentials(USER, PASSWORD),
        now=lambda: dt.datetime.now(dt.UTC),
        on_posting_written=lambda ref, number: None,
        on_frame=on_frame,
    )
    prefix = f"b{os.getpid()}{profile.replace('-', '')}"

    async def post_legs(first: int, count: int) -> None:
        for n in range(first, first + count):
            leg = deposit_leg(n, guests[(n // 2) % len(guests)], prefix)
            outcome = await channel.post(leg)
            if outcome.result is not PostingResult.POSTED:
                raise SystemExit(f"bench: {profile} leg {leg.reference}: {outcome}")
            if n % 2 == 1:
                balance = await channel.folio_balance(leg, outcome)
                if balance is None:
                    raise SystemExit(f"bench: {profile}: no folio balance for {leg.reference}")

    async def main() -> dict[str, Any]:
        await post_legs(0, warmup)  # zeep's lazy parts, the login, the first connection
        per_round = legs // rounds
        cpu_per_exchange = []
        total = {"cpu": 0.0, "user": 0.0, "wall": 0.0, "exchanges": 0}
        counter = Instructions()
        instructions: list[float] = []
        for r in range(rounds):
            frames[0] = 0
            usage, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            counted = counter.read()
            if profiler is not None:
                profiler.enable()
            await post_legs(warmup + r * per_round, per_round)
            if profiler is not None:
                profiler.disable()
            wall = time.perf_counter() - wall
            if counted is not None:
                instructions.append(((counter.read() or 0) - counted) / (frames[0] // 2))
            after = resource.getrusage(resource.RUSAGE_SELF)
            user, system = after.ru_utime - usage.ru_utime, after.ru_stime - usage.ru_stime
            exchanges = frames[0] // 2
            cpu_per_exchange.append((user + system) / exchanges)
            total["cpu"] += user + system
            total["user"] += user
            total["wall"] += wall
            total["exchanges"] += exchanges
        await channel.stopService()
        return {"legs": per_round * rounds, **total, "rounds": sorted(cpu_per_exchange),
                "instructions": sorted(instructions)}

    return ensureDeferred(main())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--legs", type=int, default=2000, help="legs per profile (2000)")
    parser.add_argument("--warmup", type=int, default=40, help="legs before the clock (40)")
    parser.add_argument("--rounds", type=int, default=10,
                        help="timed rounds the legs are split into (10)")  # fmt: skip
    parser.add_argument("--profiles", default="rezlynx,opera-htng")
    parser.add_argument("--cprofile", type=Path, help="cProfile the timed part into FILE")
    args = parser.parse_args(argv)
    profiles = [p for p in args.profiles.split(",") if p]
    legs = args.legs + args.legs % 2

    workdir = Path(tempfile.mkdtemp(prefix="foliogate-bench-soapx-"))
    ports = {p: free_port() for p in PATHS}
    control_port, fias_port = free_port(), free_port()
    control = f"http://127.0.0.1:{control_port}"
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    sim = start_soap_simulator(workdir, fias_port, control_port, ports)
    results: dict[str, dict[str, float]] = {}
    profiler = cProfile.Profile(time.process_time) if args.cprofile else None
    try:
        wait_for("the simulator", lambda: get_json(control + "/healthz"))
        guests = {p: make_guests(control, 600000 + 1000 * i, GUESTS)
                  for i, p in enumerate(profiles)}  # fmt: skip

        from twisted.internet import task
        from twisted.internet.defer import ensureDeferred

        async def run_all(reactor: Any) -> None:
            for profile in profiles:
                endpoint = f"http://127.0.0.1:{ports[profile]}{PATHS[profile]}"
                results[profile] = await run_profile(
                    reactor, profile, endpoint, legs, guests[profile], args.warmup,
                    args.rounds, profiler,
                )

        try:
            task.react(lambda reactor: ensureDeferred(run_all(reactor)))
        except SystemExit as exc:
            if exc.code:
                raise
    finally:
        stop(None, sim)
    if profiler is not None:
        profiler.dump_stats(str(args.cprofile))
    print(f"{'profile':<11} {'legs':>5} {'exch':>5} {'CPU ms/exch':>11} {'(user)':>7} "
          f"{'median':>7} {'best':>6} {'CPU ms/leg':>10} {'legs/s':>7} "
          f"{'M instr/exch':>12}")  # fmt: skip
    for profile, r in results.items():
        per_round = r["rounds"]
        counts = r["instructions"]
        instructions = f"{counts[len(counts) // 2] / 1e6:>12.3f}" if counts else f"{'-':>12}"
        print(f"{profile:<11} {r['legs']:>5.0f} {r['exchanges']:>5.0f} "
              f"{1000 * r['cpu'] / r['exchanges']:>11.3f} "
              f"{1000 * r['user'] / r['exchanges']:>7.3f} "
              f"{1000 * per_round[len(per_round) // 2]:>7.3f} {1000 * per_round[0]:>6.3f} "
              f"{1000 * r['cpu'] / r['legs']:>10.3f} "
              f"{r['legs'] / r['wall']:>7.0f} {instructions}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
