"""``foliogate demo``: the whole product on loopback, on its embedded defaults.

Starts the PMS simulator with the demo hotel and the gateway with ``examples/gateway.toml`` (both
on ephemeral 127.0.0.1 ports, the journal in a temporary directory), then runs the spa-deposit
journey of DESIGN section 3 in normal-posting mode over real FIAS and HTTP:

1. a spa deposit is paid online before the guest arrives: the leg waits for the check-in;
2. the guest checks in (the simulator sends ``GI``): the deposit posts;
3. the guest departs and the deposit pays for a treatment: the redemption posts;
4. the folio, the trial balance and the DESIGN section 3 invariants are printed.

Exit code 0 only if every leg posted and every invariant holds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from twisted.internet import task
from twisted.internet.defer import inlineCallbacks

from adapters.money import format_minor

CONFIRMATION = "400001"  # Early, Eric: arrives tomorrow in the demo hotel
ROOM = "102"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run simulator + gateway + a spa-deposit journey end to end on loopback",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep the journal here (default: a temporary directory)"
    )
    parser.set_defaults(func=run)


def deposit_event(currency: str = "GBP") -> dict[str, Any]:
    return {
        "event_id": "evt_demo_deposit",
        "type": "payment.succeeded",
        "property": "GRAND-LONDON",
        "occurred_at": "2026-11-27T10:04:05Z",
        "payment": {
            "kind": "deposit",
            "amount": 5000,
            "currency": currency,
            "transaction_id": "pi_demo_0001",
            "method": "onejourney",
            "card_type": "VISA",
            "card_last4": "4242",
            "status": "Payment Success",
        },
        "booking": {
            "confirmation_number": CONFIRMATION,
            "guest_name": "Eric Early",
            "arrival": "2026-11-28",
            "departure": "2026-12-01",
        },
    }


def redemption_event() -> dict[str, Any]:
    return {
        "event_id": "evt_demo_redeem",
        "type": "deposit.redeemed",
        "property": "GRAND-LONDON",
        "occurred_at": "2026-12-01T09:30:00Z",
        "booking": {"confirmation_number": CONFIRMATION, "guest_name": "Eric Early"},
        "items": [{"code": "SPA_TREATMENT", "description": "Massage 60", "amount": 5000}],
    }


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return _react(args.workdir, out)
    with tempfile.TemporaryDirectory(prefix="foliogate-demo-") as tmp:
        return _react(Path(tmp), out)


def _react(workdir: Path, out: TextIO) -> int:
    result: list[int] = []

    @inlineCallbacks
    def main(reactor: Any) -> Any:
        code = yield demo(reactor, workdir, out)
        result.append(code)

    try:
        task.react(main)
    except SystemExit as exc:
        if exc.code not in (0, None):
            return int(exc.code)
    return result[0] if result else 1


@inlineCallbacks
def demo(reactor: Any, workdir: Path, out: TextIO) -> Any:
    from adapters.cli.stack import Stack

    def say(text: str = "") -> None:
        out.write(text + "\n")
        out.flush()

    stack = Stack(reactor, workdir)
    yield stack.start()
    try:
        assert stack.sim is not None and stack.gateway is not None
        say(f"simulator: FIAS {stack.sim.fias_address[0]}:{stack.sim.fias_address[1]}, "
            f"control API {stack.sim.control_url}")  # fmt: skip
        say(f"gateway:   API {stack.gateway.api_url}, journal {workdir / 'journal.sqlite'}")
        yield stack.wait_for(
            lambda: stack.gateway.properties["GRAND-LONDON"].link.status.can_post,  # type: ignore[union-attr]
            "the FIAS link to come up",
        )
        say("FIAS link alive (LS -> LD/LR/LA -> LA)")
        say()

        code, answer = yield stack.post_event(deposit_event())
        say(f"1. spa deposit 50.00 GBP paid online for reservation {CONFIRMATION}: HTTP {code}")
        (leg,) = yield stack.wait_for_legs("evt_demo_deposit", {"waiting"})
        say(f"   leg {leg.reference}: {leg.state.value} ({leg.reason})")

        yield stack.control("POST", f"/reservations/{CONFIRMATION}/check-in", {"room": ROOM})
        say(f"2. guest checks in to room {ROOM} (PMS sends GI)")
        (leg,) = yield stack.wait_for_legs("evt_demo_deposit", {"posted", "rejected", "unknown"})
        say(f"   leg {leg.reference}: {leg.state.value} (P# {leg.posting_number}, "
            f"AS{leg.answer_status})")  # fmt: skip

        code, answer = yield stack.post_event(redemption_event())
        say(f"3. guest departs; the deposit pays for a 60-minute massage: HTTP {code}")
        legs = yield stack.wait_for_legs("evt_demo_redeem", {"posted", "rejected", "unknown"})
        for leg in legs:
            say(f"   leg {leg.reference}: {leg.state.value} (P# {leg.posting_number}, "
                f"AS{leg.answer_status})")  # fmt: skip
        yield stack.wait_for(
            lambda: stack.journal.balances("evt_demo_redeem"), "the balance read-back"
        )
        (balance,) = stack.journal.balances("evt_demo_redeem")[-1:]
        say(f"   balance the PMS reports after the journey (BA): "
            f"{format_minor(balance.balance, balance.currency)}")  # fmt: skip
        yield stack.control("POST", f"/reservations/{CONFIRMATION}/check-out")
        say("   guest checks out (PMS sends GO)")
        say()

        folio = yield stack.control("GET", f"/reservations/{CONFIRMATION}/folio")
        trial = yield stack.control("GET", "/trial-balance")
        all_posted = all(
            leg.state.value == "posted"
            for event_id in ("evt_demo_deposit", "evt_demo_redeem")
            for leg in stack.legs_of(event_id)
        )
        ok = print_report(say, folio, trial) and all_posted
        say()
        say("demo: OK, every leg posted and every invariant holds" if ok else "demo: FAILED")
        return 0 if ok else 1
    finally:
        yield stack.stop()


def print_report(say: Any, folio: dict[str, Any], trial: dict[str, Any]) -> bool:
    currency = "GBP"
    say(f"Folio of reservation {CONFIRMATION}")
    say(f"  {'code':<20} {'payment type':<20} {'amount':>12}  reference")
    for line in folio["lines"]:
        amount = format_minor(line["amount"], currency)
        say(f"  {line['code'] or '':<20} {line.get('payment_type') or '':<20} "
            f"{amount:>12}  {line.get('reference') or ''}")  # fmt: skip
    say(f"  {'balance':<41} {format_minor(folio['balance'], currency):>12}")
    totals = folio.get("totals", {})
    say("  totals per group: " + ", ".join(
        f"{group} {format_minor(amount, currency)}" for group, amount in totals.items()
    ))  # fmt: skip
    say()
    say("Trial balance")
    for key, value in trial.items():
        if isinstance(value, dict):
            for name, amount in value.items():
                if isinstance(amount, int):
                    say(f"  {key:<14} {name:<24} {format_minor(amount, currency):>12}")
        elif isinstance(value, (int, str)):
            say(f"  {key:<14} {value}")
    say()
    say("DESIGN section 3 invariants")
    holds_all = True
    for name, invariant in folio["invariants"].items():
        holds = bool(invariant["holds"])
        holds_all = holds_all and holds
        say(f"  [{'ok' if holds else 'FAIL'}] {name}: {invariant.get('detail', '')}")
    return holds_all
