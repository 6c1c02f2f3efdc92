"""``foliogate exceptions``: list and act on the exception queue, straight in the journal file.

    foliogate exceptions list    [--config FILE | --journal PATH] [--json]
    foliogate exceptions show    ID [--event] [--config FILE | --journal PATH] [--json]
    foliogate exceptions retry   ID --note TEXT [--operator NAME] [--event] [--config FILE | ...]
    foliogate exceptions resolve ID --note TEXT [--operator NAME] [--event] [...]
    foliogate exceptions assign  LEG_OR_EVENT --confirmation N --note TEXT [--operator NAME]
                                 [--leg | --event] [--config FILE | --journal PATH]
    foliogate exceptions approve LEG --note TEXT [--operator NAME] [--config FILE | ...]

The queue holds rejected and unknown legs (and events a journey could not plan). ``retry``
puts a leg back to ``planned`` for the dispatcher (with ``--event``: plans an event-level
exception again, e.g. once a missing rate was added); ``resolve`` closes it with a note.
``assign`` names the PMS record of an event whose confirmation number found nothing (it is
planned again and its legs post; ``show --event`` lists the ranked candidates), or of a leg
the PMS did not find. ``approve`` releases a payment held for approval (over the property's
``approval_threshold``, or flagged for review). All are journaled with the operator's name,
the time and the note. Planning an event again needs the configuration (``--config``).
The journal is opened beside a running gateway without crash recovery, so legs in flight
are left alone.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any

from adapters.cli import UsageError
from adapters.domain import Leg, LegState
from adapters.journal import (
    EventRecord,
    IllegalTransition,
    Journal,
    JournalError,
    UnknownEvent,
    UnknownLeg,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "exceptions",
        help="list, show, retry or resolve legs in the exception queue",
        description="The exception queue: rejected and unknown legs an operator must act on.",
    )
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument("--config", metavar="FILE", help="gateway configuration naming the journal")
    where.add_argument("--journal", metavar="PATH", help="the journal file itself")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", parents=[common], help="the legs in the queue")
    listing.add_argument("--json", action="store_true", help="print JSON")

    show = actions.add_parser("show", parents=[common], help="one leg (or event) in full")
    show.add_argument("id", metavar="ID", help="leg id (or event id with --event)")
    show.add_argument("--event", action="store_true", help="ID is an event id")
    show.add_argument("--json", action="store_true", help="print JSON")

    for name, text in (
        ("retry", "send the leg again (rejected/unknown -> planned)"),
        ("resolve", "close the leg with a note (rejected/unknown -> resolved)"),
    ):
        act = actions.add_parser(name, parents=[common], help=text)
        act.add_argument("id", metavar="ID", help="leg id")
        act.add_argument("--note", required=True, help="what was found or done (journaled)")
        act.add_argument("--operator", help="who acts (default: the login name)")
        act.add_argument("--event", action="store_true", help="ID is an event id")

    assign = actions.add_parser(
        "assign", parents=[common], help="name the PMS record of an event or leg not found"
    )
    assign.add_argument("id", metavar="LEG_OR_EVENT", help="leg id or event id")
    assign.add_argument("--confirmation", required=True, metavar="N", help="the record to use")
    assign.add_argument("--note", required=True, help="how the record was identified")
    assign.add_argument("--operator", help="who acts (default: the login name)")
    kind = assign.add_mutually_exclusive_group()
    kind.add_argument("--leg", action="store_true", help="ID is a leg id")
    kind.add_argument("--event", action="store_true", help="ID is an event id")

    approve = actions.add_parser(
        "approve", parents=[common], help="release a payment held for approval"
    )
    approve.add_argument("id", metavar="LEG", help="a leg id of the held payment")
    approve.add_argument("--note", required=True, help="why it is approved (journaled)")
    approve.add_argument("--operator", help="who acts (default: the login name)")
    parser.set_defaults(func=run)


# ---------------------------------------------------------------------------------------------


def journal_path(args: argparse.Namespace) -> str:
    if args.journal:
        path = args.journal
    elif args.config:
        try:
            from adapters.config import load_config  # type: ignore[attr-defined,unused-ignore]
        except ImportError as exc:
            raise UsageError("configuration support is not installed; use --journal") from exc
        try:
            path = str(load_config(args.config).gateway.journal)
        except Exception as exc:
            raise UsageError(f"cannot use {args.config}: {exc}") from exc
    else:
        raise UsageError("say which journal: --config FILE or --journal PATH")
    if not os.path.exists(path):
        raise UsageError(f"no journal at {path}")
    return path


def _operator(args: argparse.Namespace) -> str:
    if args.operator and args.operator.strip():
        return str(args.operator.strip())
    try:
        return getpass.getuser()
    except Exception as exc:
        raise UsageError("say who you are with --operator NAME") from exc


def _money(amount: int, currency: str) -> str:
    try:
        from adapters.money import format_minor  # type: ignore[attr-defined,unused-ignore]

        return str(format_minor(amount, currency))
    except Exception:
        return f"{amount} {currency} (minor units)"


def _leg_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"a leg id is a number, not {text!r} (use --event for an event)") from None


def _codes(leg: Leg) -> str:
    return f"{leg.plan.transaction_code or '-'} / {leg.plan.payment_type or '-'}"


def _why(leg: Leg) -> str:
    status = f"{leg.answer_status}: " if leg.answer_status else ""
    return f"{status}{leg.reason or ''}"


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip())


def _list(journal: Journal, args: argparse.Namespace) -> int:
    from adapters.api import event_json, leg_json

    legs = journal.exceptions()
    events = journal.exception_events()
    if args.json:
        print(
            json.dumps(
                {
                    "legs": [leg_json(leg) for leg in legs],
                    "events": [event_json(e) for e in events],
                },
                indent=2,
            )
        )
        return 0
    if not legs and not events:
        print("the exception queue is empty")
        return 0
    if legs:
        rows = [
            ["LEG", "STATE", "PROPERTY", "REFERENCE", "CONF", "CODES", "AMOUNT", "TRIES", "WHY"]
        ]
        for leg in legs:
            rows.append(
                [
                    str(leg.leg_id),
                    leg.state.value,
                    leg.property,
                    leg.reference,
                    leg.confirmation_number,
                    _codes(leg),
                    _money(leg.plan.amount, leg.plan.currency),
                    str(leg.attempts),
                    _why(leg),
                ]
            )
        _print_table(rows)
    if events:
        if legs:
            print()
        print("events a journey could not plan (assign, retry or resolve with --event):")
        for e in events:
            print(f"  {e.event_id}  {e.property}  {e.type}  {e.outcome}")
            for candidate in (e.match.candidates if e.match else ())[:3]:
                print(f"      candidate {_candidate(candidate)}")
    return 0


def _candidate(c: Any) -> str:
    stay = f"  {c.arrival}..{c.departure}" if c.arrival and c.departure else ""
    room = f"  room {c.room}" if c.room else ""
    return f"#{c.rank} {c.confirmation_number}  {c.guest_name}{room}{stay}  score {c.score}"


def _show_leg(journal: Journal, leg: Leg, as_json: bool) -> None:
    from adapters.api import leg_json

    history = journal.history(leg_id=leg.leg_id)
    wire = journal.wire_log(leg_id=leg.leg_id)
    if as_json:
        data = leg_json(leg)
        data["history"] = [
            {
                "time": a.time.isoformat(),
                "actor": a.actor,
                "action": a.action,
                "from": a.from_state,
                "to": a.to_state,
                "note": a.note,
            }
            for a in history
        ]
        data["wire_log"] = [
            {
                "time": w.time.isoformat(),
                "direction": w.direction,
                "protocol": w.protocol,
                "raw": w.raw.decode("latin-1"),
            }
            for w in wire
        ]
        print(json.dumps(data, indent=2))
        return
    fields = [
        ("leg", f"{leg.leg_id} ({leg.reference})"),
        ("state", leg.state.value),
        ("property", leg.property),
        ("confirmation", leg.confirmation_number),
        ("transaction code", leg.plan.transaction_code or "-"),
        ("payment type", leg.plan.payment_type or "-"),
        ("amount", _money(leg.plan.amount, leg.plan.currency)),
        ("description", leg.plan.description or "-"),
        ("attempts", str(leg.attempts)),
        ("last P#", str(leg.posting_number) if leg.posting_number is not None else "-"),
        ("answer", leg.answer_status or "-"),
        ("reason", leg.reason or "-"),
        ("updated", leg.updated_at.isoformat() if leg.updated_at else "-"),
    ]
    for name, value in fields:
        print(f"{name + ':':18}{value}")
    print("history:")
    for a in history:
        move = f"{a.from_state or '-'} -> {a.to_state}" if a.to_state else a.action
        note = f": {a.note}" if a.note else ""
        print(f"  {a.time.isoformat()}  {a.actor}  {a.action}  {move}{note}")
    if wire:
        print("wire log:")
        for w in wire:
            arrow = "->" if w.direction == "out" else "<-"
            print(f"  {w.time.isoformat()}  {arrow} {w.protocol}  {w.raw!r}")


def _show_event(journal: Journal, record: EventRecord, as_json: bool) -> None:
    from adapters.api import event_json

    if as_json:
        print(json.dumps(event_json(record), indent=2))
        return
    print(f"event:            {record.event_id} ({record.type}, {record.property})")
    print(
        f"status:           {record.status.value}{': ' + record.outcome if record.outcome else ''}"
    )
    print(f"received:         {record.received_at.isoformat()} from {record.source or '-'}")
    if record.conversion is not None:
        print(f"converted:        {record.conversion.describe()} ({record.conversion.rounding})")
    for flag in record.flags:
        print(f"flag:             {flag.kind}: {flag.detail}")
    if record.match is not None:
        match = record.match
        print(f"matching:         {match.status.value}: {match.reason}")
        if match.search_note:
            print(f"                  {match.search_note}")
        for candidate in match.candidates:
            print(f"  candidate {_candidate(candidate)}")
            for reason in candidate.reasons:
                print(f"      {reason}")
        if match.assigned_to:
            print(
                f"assigned:         {match.assigned_to} by {match.assigned_by} at "
                f"{match.assigned_at.isoformat() if match.assigned_at else '-'}: "
                f"{match.assign_note}"
            )
    for leg in record.legs:
        print(
            f"  leg {leg.leg_id} #{leg.leg_index}  {leg.state.value}  {_codes(leg)}  "
            f"{_money(leg.plan.amount, leg.plan.currency)}  {_why(leg)}"
        )


def _show(journal: Journal, args: argparse.Namespace) -> int:
    if args.event:
        record = journal.event(args.id)
        if record is None:
            print(f"foliogate exceptions: no event {args.id!r}", file=sys.stderr)
            return 1
        _show_event(journal, record, args.json)
        return 0
    _show_leg(journal, journal.leg(_leg_id(args.id)), args.json)
    return 0


def _actions(journal: Journal, args: argparse.Namespace, *, need_config: bool) -> Any:
    """Operator actions over the journal; planning an event again needs the configuration."""
    from adapters.intake import OperatorActions

    config = None
    if args.config:
        from adapters.config import load_config

        try:
            config = load_config(args.config)
        except Exception as exc:
            raise UsageError(f"cannot use {args.config}: {exc}") from exc
    elif need_config:
        raise UsageError("planning an event again needs the configuration: give --config FILE")
    return OperatorActions(journal, config)


def _is_event(journal: Journal, args: argparse.Namespace) -> bool:
    """Whether ``assign``'s LEG_OR_EVENT names an event (an id may be both: then say which)."""
    if args.event or args.leg:
        return bool(args.event)
    is_event = journal.event(args.id) is not None
    is_leg = args.id.isdigit() and any(
        leg.leg_id == int(args.id) for leg in _leg_or_none(journal, args.id)
    )
    if is_event and is_leg:
        raise UsageError(f"{args.id} is both a leg id and an event id: add --leg or --event")
    if not is_event and not is_leg:
        raise UsageError(f"no leg or event {args.id!r}")
    return is_event


def _leg_or_none(journal: Journal, text: str) -> list[Leg]:
    try:
        return [journal.leg(int(text))]
    except (UnknownLeg, ValueError):
        return []


def _assign(journal: Journal, args: argparse.Namespace, operator: str) -> int:
    number = args.confirmation.strip()
    if _is_event(journal, args):
        record = _actions(journal, args, need_config=True).assign_event(
            args.id, number, operator, args.note
        )
        print(
            f"event {record.event_id} assigned {number} by {operator}: {record.status.value}"
            + (f" ({record.outcome})" if record.outcome else "")
        )
        for leg in record.legs:
            print(f"  leg {leg.leg_id} ({leg.reference}) {leg.state.value}")
        return 0
    legs = _actions(journal, args, need_config=False).assign_leg(
        _leg_id(args.id), number, operator, args.note
    )
    for leg in legs:
        print(f"leg {leg.leg_id} ({leg.reference}) -> {leg.confirmation_number}: {leg.state.value}")
    return 0


def _act(journal: Journal, args: argparse.Namespace) -> int:
    operator = _operator(args)
    if args.action == "assign":
        return _assign(journal, args, operator)
    if args.action == "approve":
        legs = _actions(journal, args, need_config=False).approve(
            _leg_id(args.id), operator, args.note
        )
        for leg in legs:
            print(f"leg {leg.leg_id} ({leg.reference}) {leg.state.value} (approved by {operator})")
        return 0
    if getattr(args, "event", False) and args.action == "retry":
        record = _actions(journal, args, need_config=True).retry_event(args.id, operator, args.note)
        print(
            f"event {record.event_id} planned again by {operator}: {record.status.value}"
            + (f" ({record.outcome})" if record.outcome else "")
        )
        return 0
    if getattr(args, "event", False):
        record = journal.resolve_event(args.id, operator, args.note)
        print(f"event {record.event_id} resolved by {operator}: {args.note}")
        return 0
    leg_id = _leg_id(args.id)
    before = journal.leg(leg_id)
    if args.action == "retry":
        if before.state is LegState.UNKNOWN:
            print(
                f"warning: leg {leg_id}'s outcome was unknown; if the PMS did post it, "
                "this retry posts it twice (check the folio first)",
                file=sys.stderr,
            )
        leg = journal.retry(leg_id, operator, args.note)
    else:
        leg = journal.resolve(leg_id, operator, args.note)
    print(
        f"leg {leg.leg_id} ({leg.reference}) {before.state.value} -> {leg.state.value} "
        f"by {operator}: {args.note}"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    path = journal_path(args)
    try:
        journal = Journal(path, recover=False)
    except JournalError as exc:
        raise UsageError(str(exc)) from exc
    try:
        if args.action == "list":
            return _list(journal, args)
        if args.action == "show":
            return _show(journal, args)
        return _act(journal, args)
    except (UnknownLeg, UnknownEvent) as exc:
        print(f"foliogate exceptions: {exc}", file=sys.stderr)
        return 1
    except (IllegalTransition, JournalError, ValueError) as exc:
        print(f"foliogate exceptions: {exc}", file=sys.stderr)
        return 1
    finally:
        journal.close()
