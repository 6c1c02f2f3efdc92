"""A loopback foliogate for the browser test (tests/test_console.py), run as a subprocess.

``python tests/console_stack.py WORKDIR`` starts the PMS simulator and the gateway with the
operator console (token from ``FOLIOGATE_CONSOLE_TOKEN``), makes one exception the way a hotel
does (the PMS rejects a spa deposit once with ``AS UR``; a second deposit is for a guest the
PMS never lets interfaces charge), prints one JSON line with what the
browser needs, and serves until its standard input closes. A subprocess, because WebDriver
calls block and the reactor must keep running meanwhile.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from twisted.internet import task, threads
from twisted.internet.defer import inlineCallbacks

from adapters.cli.stack import Stack
from adapters.config import ConsoleSettings

TOKEN_ENV = "FOLIOGATE_CONSOLE_TOKEN"
CONFIRMATION = "123456"  # Doe, Jane: in house in room 101 of the demo hotel
EVENT_ID = "evt_console_deposit"
NO_POST_CONFIRMATION = "300001"  # Nopost, Nina: in house, flagged no-post
NO_POST_EVENT_ID = "evt_console_no_post"


def deposit_event(
    event_id: str = EVENT_ID, confirmation: str = CONFIRMATION, guest: str = "Jane Doe"
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "payment.succeeded",
        "property": "GRAND-LONDON",
        "occurred_at": "2026-11-27T10:04:05Z",
        "payment": {
            "kind": "deposit",
            "amount": 5000,
            "currency": "GBP",
            "transaction_id": f"pi_{event_id}",
            "method": "onejourney",
            "card_type": "VISA",
            "card_last4": "4242",
            "status": "Payment Success",
        },
        "booking": {
            "confirmation_number": confirmation,
            "guest_name": guest,
            "arrival": "2026-11-27",
            "departure": "2026-11-29",
        },
    }


@inlineCallbacks
def serve(reactor: Any, workdir: Path) -> Any:
    def with_console(config: Any) -> Any:
        return dataclasses.replace(config, console=ConsoleSettings(token_env=TOKEN_ENV))

    stack = Stack(
        reactor,
        workdir,
        configure=with_console,
        environ={TOKEN_ENV: os.environ[TOKEN_ENV]},
    )
    yield stack.start()
    try:
        gateway = stack.gateway
        assert gateway is not None
        yield stack.wait_for(
            lambda: gateway.properties["GRAND-LONDON"].link.status.can_post, "the FIAS link"
        )
        yield stack.control("PUT", "/faults", {"reject_status": "UR", "reject_count": 1})
        code, answer = yield stack.post_event(deposit_event())
        if code != 202:
            raise RuntimeError(f"the deposit was answered {code}: {answer}")
        (leg,) = yield stack.wait_for_legs(EVENT_ID, {"rejected"})
        no_post = deposit_event(NO_POST_EVENT_ID, NO_POST_CONFIRMATION, "Nina Nopost")
        code, answer = yield stack.post_event(no_post)
        if code != 202:
            raise RuntimeError(f"the second deposit was answered {code}: {answer}")
        (no_post_leg,) = yield stack.wait_for_legs(NO_POST_EVENT_ID, {"rejected"})
        line = {
            "console_url": gateway.api_url + "/console/",
            "api_url": gateway.api_url,
            "event_id": EVENT_ID,
            "leg_id": leg.leg_id,
            "confirmation_number": CONFIRMATION,
            "no_post_leg_id": no_post_leg.leg_id,
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        yield threads.deferToThread(sys.stdin.read)  # until the test closes our stdin
    finally:
        yield stack.stop()


def main() -> None:
    workdir = Path(sys.argv[1])
    workdir.mkdir(parents=True, exist_ok=True)
    task.react(serve, [workdir])


if __name__ == "__main__":
    main()
