"""``foliogate exceptions``: list and act on the exception queue, straight in the journal file.

    foliogate exceptions list    [--config FILE | --journal PATH] [--json]
    foliogate exceptions show    ID [--event] [--config FILE | --journal PATH] [--json]
    foliogate exceptions retry   ID --note TEXT [--operator NAME] [--config FILE | --journal PATH]
    foliogate exceptions resolve ID --note TEXT [--operator NAME] [--event] [...]

The queue holds rejected and unknown legs (and events a journey could not plan). ``retry``
puts a leg back to ``planned`` for the dispatcher; ``resolve`` closes it with a note. Both are
journaled with the operator's name, the time and the note. The journal is opened beside a
running gateway without crash recovery, so legs in flight are left alone.
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
from adapters.journal import EventRecord, IllegalTransition, Journal, JournalError, UnknownLeg


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
        if name == "resolve":
            act.add_argument("--event", action="store_true", help="ID is an event id")
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
        print("events a journey could not plan (resolve with --event):")
        for e in events:
            print(f"  {e.event_id}  {e.property}  {e.type}  {e.outcome}")
    return 0


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


def _act(journal: Journal, args: argparse.Namespace) -> int:
    operator = _operator(args)
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
    except UnknownLeg as exc:
        print(f"foliogate exceptions: {exc}", file=sys.stderr)
        return 1
    except (IllegalTransition, JournalError, ValueError) as exc:
        print(f"foliogate exceptions: {exc}", file=sys.stderr)
        return 1
    finally:
        journal.close()
