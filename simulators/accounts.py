"""The simulated hotel's A/R (city ledger) accounts: invoices, payments and their allocation.

Pure Python, like :mod:`simulators.ledger`, which owns one :class:`AccountsLedger` per hotel.

The hotel file lists the accounts and their open invoices (amounts in minor units of the
hotel's currency; they are opening balances, billed before the simulation starts)::

    [[accounts]]
    number = "AR1001"                 # the A/R account number (FIAS RN with G#0)
    name = "ACME Travel Ltd"
    invoices = [
        { id = "A1", date = 2026-10-01, amount = 30000 },
        { id = "A2", date = 2026-10-15, amount = 20000 },
    ]

**Allocation of a payment** (:func:`allocate`), the rule of issue 5 section 2:

- if the payment names invoices (over FIAS: the invoice ids in the posting's ``CT``,
  comma-separated), it pays those, in the order named, each up to its remaining amount;
  names that are not open invoices of the account are listed as ``unmatched`` and paid
  nothing;
- otherwise it pays the open invoices oldest first (invoice date, then id);
- whatever is left stays on the account as prepaid (a credit).

A payment is booked once and never edited: a correction is a reversal posted by the
accounts team. Amounts must be positive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Account",
    "AccountPayment",
    "AccountsLedger",
    "Allocation",
    "Invoice",
    "UnknownAccount",
    "allocate",
    "invoice_ids_from_text",
    "parse_accounts",
]

#: FIAS PI (the A/R inquiry) is ANS max 10: an account number must fit.
MAX_ACCOUNT_NUMBER = 10


class UnknownAccount(LookupError):
    """No A/R account with that number."""


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    date: dt.date
    amount: int  # minor units, > 0


@dataclass(frozen=True)
class Account:
    number: str
    name: str
    invoices: tuple[Invoice, ...] = ()


@dataclass(frozen=True)
class Allocation:
    invoice_id: str
    amount: int


@dataclass(frozen=True)
class AccountPayment:
    """One payment booked on an A/R account, with how it was allocated."""

    payment_id: int
    account: str
    amount: int
    payment_type: str
    named_invoices: tuple[str, ...]
    allocations: tuple[Allocation, ...]
    unmatched: tuple[str, ...]  # named ids that are not open invoices of the account
    prepaid: int  # the part left on the account as a credit
    reference: str
    business_date: dt.date
    time: dt.datetime
    source: str


def invoice_ids_from_text(text: str) -> tuple[str, ...]:
    """The invoice ids a posting names in its text (FIAS ``CT``): comma-separated, trimmed.

    >>> invoice_ids_from_text("A1, A3,,A2")
    ('A1', 'A3', 'A2')
    """
    return tuple(part.strip() for part in text.split(",") if part.strip())


def allocate(
    invoices: Sequence[tuple[Invoice, int]], amount: int, named: Sequence[str] = ()
) -> tuple[tuple[Allocation, ...], tuple[str, ...], int]:
    """Allocate ``amount`` to open invoices: (allocations, unmatched names, prepaid rest).

    ``invoices`` are (invoice, remaining amount) pairs. See the module docstring.

    >>> a1 = Invoice("A1", dt.date(2026, 10, 1), 300)
    >>> a2 = Invoice("A2", dt.date(2026, 9, 1), 200)
    >>> allocate([(a1, 300), (a2, 200)], 600)
    ((Allocation(invoice_id='A2', amount=200), Allocation(invoice_id='A1', amount=300)), (), 100)
    >>> allocate([(a1, 300), (a2, 200)], 250, named=["A1", "X9"])
    ((Allocation(invoice_id='A1', amount=250),), ('X9',), 0)
    """
    if amount <= 0:
        raise ValueError("an A/R payment must be positive")
    open_by_id = {inv.invoice_id: (inv, left) for inv, left in invoices if left > 0}
    if named:
        order = [open_by_id[n] for n in dict.fromkeys(named) if n in open_by_id]
        unmatched = tuple(n for n in dict.fromkeys(named) if n not in open_by_id)
    else:
        order = sorted(open_by_id.values(), key=lambda pair: (pair[0].date, pair[0].invoice_id))
        unmatched = ()
    allocations = []
    rest = amount
    for invoice, left in order:
        if rest == 0:
            break
        paid = min(rest, left)
        allocations.append(Allocation(invoice.invoice_id, paid))
        rest -= paid
    return tuple(allocations), unmatched, rest


class AccountsLedger:
    """The A/R accounts of one hotel: their invoices, payments and what each invoice owes."""

    def __init__(self, accounts: Iterable[Account]) -> None:
        self._accounts = {a.number: a for a in accounts}
        self._payments: dict[str, list[AccountPayment]] = {n: [] for n in self._accounts}
        self._next_payment = 1

    def numbers(self) -> list[str]:
        return sorted(self._accounts)

    def account(self, number: str) -> Account:
        try:
            return self._accounts[number]
        except KeyError:
            raise UnknownAccount(f"no A/R account {number!r}") from None

    def payments(self, number: str) -> tuple[AccountPayment, ...]:
        self.account(number)
        return tuple(self._payments[number])

    def paid(self, number: str) -> dict[str, int]:
        """Invoice id -> what payments have allocated to it."""
        totals = {inv.invoice_id: 0 for inv in self.account(number).invoices}
        for payment in self._payments[number]:
            for allocation in payment.allocations:
                totals[allocation.invoice_id] += allocation.amount
        return totals

    def remaining(self, number: str) -> dict[str, int]:
        """Invoice id -> what is still owed on it."""
        paid = self.paid(number)
        return {
            inv.invoice_id: inv.amount - paid[inv.invoice_id]
            for inv in self.account(number).invoices
        }

    def prepaid(self, number: str) -> int:
        """Money on the account not allocated to any invoice (a credit)."""
        self.account(number)
        return sum(p.prepaid for p in self._payments[number])

    def balance(self, number: str) -> int:
        """What the account owes: open invoice amounts less the prepaid credit."""
        return sum(self.remaining(number).values()) - self.prepaid(number)

    def pay(
        self,
        number: str,
        amount: int,
        payment_type: str,
        *,
        named: Sequence[str] = (),
        reference: str = "",
        business_date: dt.date,
        now: dt.datetime,
        source: str = "",
    ) -> AccountPayment:
        """Book a payment on the account and allocate it (see the module docstring)."""
        account = self.account(number)
        remaining = self.remaining(number)
        allocations, unmatched, rest = allocate(
            [(inv, remaining[inv.invoice_id]) for inv in account.invoices], amount, named
        )
        payment = AccountPayment(
            payment_id=self._next_payment,
            account=number,
            amount=amount,
            payment_type=payment_type,
            named_invoices=tuple(named),
            allocations=allocations,
            unmatched=unmatched,
            prepaid=rest,
            reference=reference,
            business_date=business_date,
            time=now,
            source=source,
        )
        self._next_payment += 1
        self._payments[number].append(payment)
        return payment

    def all_payments(self) -> list[AccountPayment]:
        return sorted(
            (p for payments in self._payments.values() for p in payments),
            key=lambda p: p.payment_id,
        )


# --- the hotel file -----------------------------------------------------------------------


def parse_accounts(raw: Any, errors: list[str]) -> tuple[Account, ...]:
    """The hotel file's ``[[accounts]]``, appending every problem to ``errors``."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.append("accounts: must be an array of tables ([[accounts]])")
        return ()
    accounts: list[Account] = []
    seen: set[str] = set()
    for index, spec in enumerate(raw):
        where = f"accounts[{index}]"
        if not isinstance(spec, Mapping):
            errors.append(f"{where}: must be a table")
            continue
        before = len(errors)
        unknown = sorted(set(spec) - {"number", "name", "invoices"})
        if unknown:
            errors.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        number = spec.get("number")
        if (
            not isinstance(number, str)
            or not 0 < len(number) <= MAX_ACCOUNT_NUMBER
            or any(c in number for c in "|,\x02\x03 ")
        ):
            errors.append(
                f"{where}.number: must be a string of 1 to {MAX_ACCOUNT_NUMBER} characters "
                "without spaces or | (FIAS RN, inquired by PI)"
            )
        elif number in seen:
            errors.append(f"{where}.number: account {number} repeats")
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{where}.name: must be a non-empty string")
        invoices = _invoices(spec.get("invoices", []), where, errors)
        if len(errors) > before:
            continue
        assert isinstance(number, str) and isinstance(name, str)
        seen.add(number)
        accounts.append(Account(number, name, invoices))
    return tuple(accounts)


def _invoices(raw: Any, where: str, errors: list[str]) -> tuple[Invoice, ...]:
    if not isinstance(raw, list):
        errors.append(f"{where}.invoices: must be an array of {{ id, date, amount }}")
        return ()
    invoices: list[Invoice] = []
    seen: set[str] = set()
    for index, spec in enumerate(raw):
        at = f"{where}.invoices[{index}]"
        if not isinstance(spec, Mapping):
            errors.append(f"{at}: must be a table {{ id, date, amount }}")
            continue
        invoice_id, date, amount = spec.get("id"), spec.get("date"), spec.get("amount")
        ok = True
        if not isinstance(invoice_id, str) or not invoice_id or any(c in invoice_id for c in ",| "):
            errors.append(f"{at}.id: must be a string without spaces, commas or |")
            ok = False
        elif invoice_id in seen:
            errors.append(f"{at}.id: invoice {invoice_id} repeats in the account")
            ok = False
        if isinstance(date, str):
            try:
                date = dt.date.fromisoformat(date)
            except ValueError:
                pass
        if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
            errors.append(f"{at}.date: must be a date like 2026-10-01")
            ok = False
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            errors.append(f"{at}.amount: must be a positive integer of minor units")
            ok = False
        if ok:
            assert isinstance(invoice_id, str) and isinstance(date, dt.date)
            assert isinstance(amount, int)
            seen.add(invoice_id)
            invoices.append(Invoice(invoice_id, date, amount))
    return tuple(invoices)
