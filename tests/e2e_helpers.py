"""What the end-to-end tests (test_e2e_*.py) share: events, the signed API, the FIAS stack.

Every helper drives a real :class:`adapters.cli.stack.Stack` (simulator + gateway on loopback,
a real SQLite journal) the way the payment platform and an operator would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import treq
from twisted.internet.defer import inlineCallbacks

from adapters.api import sign
from adapters.cli.stack import Stack
from adapters.config import GatewayConfig
from adapters.dispatcher import Backoff
from adapters.journal import Journal

#: Retries after RY / a lost connection come back after 0.1 s (jitter is injected as 0).
BACKOFF = Backoff(initial=0.1, factor=2.0, cap=0.4, spread=0.0)


def payment_event(
    property: str, event_id: str, confirmation_number: str, amount: int, kind: str = "balance"
) -> dict[str, Any]:
    """A captured onejourney card payment (``balance`` or ``deposit``) for a reservation."""
    return {
        "event_id": event_id,
        "type": "payment.succeeded",
        "property": property,
        "occurred_at": "2026-11-27T10:04:05Z",
        "payment": {
            "kind": kind,
            "amount": amount,
            "currency": "GBP",
            "transaction_id": f"pi_{event_id}",
            "method": "onejourney",
            "card_type": "VISA",
            "card_last4": "4242",
            "status": "Payment Success",
        },
        "booking": {"confirmation_number": confirmation_number},
    }


@inlineCallbacks
def accept(stack: Stack, event: dict[str, Any]) -> Any:
    """POST an event that must be accepted (202); returns its legs as the API answered them."""
    code, answer = yield stack.post_event(event)
    assert code == 202, answer
    return answer["legs"]


@inlineCallbacks
def api(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    """A signed request to the gateway's API: (status, JSON answer)."""
    from twisted.internet import reactor

    assert stack.gateway is not None
    raw = b"" if body is None else json.dumps(body).encode()
    response = yield treq.request(
        method,
        stack.gateway.api_url + path,
        data=raw or None,
        headers={
            "Content-Type": ["application/json"],
            "Foliogate-Signature": [sign(stack.secret, raw, int(reactor.seconds()))],
            "Foliogate-Source": [stack.source],
        },
    )
    answer = yield response.json()
    return response.code, answer


#: A leg's states once its posting is over (posted, or in the exception queue).
LEG_DONE = {"posted", "rejected", "unknown"}


@inlineCallbacks
def assign_and_post(stack: Stack, event_id: str, confirmation_number: str) -> Any:
    """An operator (alice) assigns ``event_id`` to ``confirmation_number`` over the API; its
    one leg must then post to that record. Returns (amount, payment type) of every line on
    that folio, read from the simulator."""
    from adapters.domain import LegState

    code, assigned = yield api(stack, "POST", f"/v1/events/{event_id}/assign", {
        "operator": "alice", "note": "Jane Doe in 101 confirmed by phone",
        "confirmation_number": confirmation_number,
    })  # fmt: skip
    assert (code, assigned["status"]) == (200, "accepted")
    (leg,) = yield stack.wait_for_legs(event_id, LEG_DONE)
    assert (leg.state, leg.confirmation_number) == (LegState.POSTED, confirmation_number)
    folio = yield stack.control("GET", f"/reservations/{confirmation_number}/folio")
    return [(line["amount"], line["payment_type"]) for line in folio["lines"]]


def line_view(folio_json: dict[str, Any]) -> list[tuple[str, int, str | None]]:
    """(code, amount, payment type) of every folio line, in posting order."""
    return [(line["code"], line["amount"], line["payment_type"]) for line in folio_json["lines"]]


def seed_journal(workdir: Path, property: str, guests: dict[int, str]) -> None:
    """A journal that already knows who is in house (as if the gateway had run before), so the
    gateway starts without a resync (no ``DR``) and believes exactly ``guests``."""
    journal = Journal(str(workdir / "journal.sqlite"))
    for number, room in guests.items():
        journal.set_guest(property, number, room)
    journal.mark_guest_list_complete(property)
    journal.close()


@inlineCallbacks
def start_fias_stack(
    workdir: Path, property: str, configure: Callable[[GatewayConfig], GatewayConfig]
) -> Any:
    """Simulator + gateway (FIAS demo config), with the link alive and the in-house list known."""
    from twisted.internet import reactor

    stack = Stack(
        reactor,
        workdir,
        configure=configure,
        gateway_options={"jitter": lambda: 0.0, "backoff": BACKOFF},
    )

    def ready() -> bool:
        assert stack.gateway is not None
        link = stack.gateway.properties[property].link
        return bool(link.status.can_post and stack.journal.guests(property) is not None)

    yield stack.start()
    try:
        yield stack.wait_for(ready, "the FIAS link to be alive with the guest list known")
    except BaseException:
        yield stack.stop()
        raise
    return stack
