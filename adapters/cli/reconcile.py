"""``foliogate reconcile``: a property's business date, captured payments against postings.

    foliogate reconcile --property P --date YYYY-MM-DD [--payouts FILE]
                        [--format table|csv|json] [--timezone ZONE] [--now TIME]
                        (--config FILE | --journal PATH)

Reads the journal file (beside a running gateway is fine: no crash recovery, nothing changed)
and prints the report of :mod:`adapters.reconcile`: captured payments and what became of them,
the open items with their reason and age, the totals per transaction code and payment type of
the interface postings of that business date, and, with ``--payouts``, the payout export matched
by transaction id. Exit code 1 when anything is unreconciled (a payment not posted, a payout
mismatch), 0 when everything reconciles, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.cli import UsageError
from adapters.cli.exceptions import journal_path
from adapters.journal import Journal, JournalError
from adapters.reconcile import (
    PayoutFileError,
    dumps,
    format_csv,
    format_table,
    load_payouts,
    reconcile,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reconcile",
        help="captured payments against postings for a business date (and a payout file)",
        description="Reconcile a property's business date: every captured payment posted? "
        "totals per transaction code and payment type; a payment gateway's payout export "
        "matched by transaction id. Exit code 1 when anything is unreconciled.",
    )
    parser.add_argument("--property", required=True, help="the property, as configured")
    parser.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the business date")
    parser.add_argument(
        "--payouts", metavar="FILE",
        help="a payout export (CSV: Stripe, Adyen settlement details, or the foliogate layout)",
    )  # fmt: skip
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default="table",
        help="output (default: a table for the terminal)",
    )  # fmt: skip
    parser.add_argument(
        "--timezone", metavar="ZONE",
        help="the property's time zone, e.g. Europe/London (default: this machine's)",
    )  # fmt: skip
    parser.add_argument(
        "--now", metavar="TIME",
        help="measure ages to this ISO 8601 time instead of the clock",
    )  # fmt: skip
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", metavar="FILE", help="gateway configuration naming the journal")
    where.add_argument("--journal", metavar="PATH", help="the journal file itself")
    parser.set_defaults(func=run)


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--date {text!r} is not a date (YYYY-MM-DD)") from None


def parse_zone(text: str | None) -> dt.tzinfo | None:
    if not text:
        return None
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--timezone {text!r} is not a time zone (e.g. Europe/London)") from None


def parse_now(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--now {text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise UsageError(f"--now {text!r} needs a UTC offset (e.g. Z or +01:00)")
    return value


def run(args: argparse.Namespace) -> int:
    day = parse_date(args.date)
    zone = parse_zone(args.timezone)
    now = parse_now(args.now)
    payouts = None
    if args.payouts:
        try:
            payouts = load_payouts(args.payouts)
        except OSError as exc:
            raise UsageError(f"cannot read {args.payouts}: {exc.strerror}") from None
        except PayoutFileError as exc:
            raise UsageError(str(exc)) from None
    if args.config:
        from adapters.config import load_config

        try:
            known = load_config(args.config).properties
        except Exception as exc:
            raise UsageError(f"cannot use {args.config}: {exc}") from exc
        if args.property not in known:
            raise UsageError(
                f"no property {args.property!r} in {args.config} (configured: "
                f"{', '.join(sorted(known))})"
            )
    path = journal_path(args)
    try:
        journal = Journal(path, recover=False)
    except JournalError as exc:
        raise UsageError(str(exc)) from exc
    try:
        report = reconcile(journal, args.property, day, payouts=payouts, now=now, tz=zone)
    finally:
        journal.close()
    if args.format == "json":
        sys.stdout.write(dumps(report))
    elif args.format == "csv":
        sys.stdout.write(format_csv(report))
    else:
        sys.stdout.write(format_table(report))
    return 0 if report.reconciled else 1
