"""Pre-send journal checks, the same for every ledger: pure functions over a Journal and a Chart.

Each check returns None or one precise reason. `check_journals()` runs them all and returns
{unit key: reasons joined by "; "}: those journals are rejected and never sent; the others go on.
The `Chart` is what the live ledger says (accounts, dimension values, periods), pulled once per
run by `load_chart()`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from migo_sync.ledger.journal import Journal


@dataclass(frozen=True, slots=True)
class Account:
    """One ledger account; `normal_balance` is "debit" or "credit" when the ledger says."""

    number: str
    title: str = ""
    active: bool = True
    account_type: str = ""
    normal_balance: str = ""


@dataclass(frozen=True, slots=True)
class Period:
    """One ledger period. `key` names it portably ("2026-10" for a calendar month)."""

    key: str
    start: date
    end: date
    open: bool = True
    name: str = ""

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class Chart:
    """The live chart of one ledger: accounts by number, dimension values by kind, periods."""

    accounts: Mapping[str, Account]
    dimensions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    periods: Sequence[Period] = ()
    _starts: tuple[date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.periods, key=lambda p: p.start))
        object.__setattr__(self, "periods", ordered)
        object.__setattr__(self, "_starts", tuple(p.start for p in ordered))

    def period_for(self, day: date) -> Period | None:
        """The period holding `day`, by binary search (checks run on every journal)."""
        index = bisect.bisect_right(self._starts, day) - 1
        if index >= 0 and self.periods[index].contains(day):
            return self.periods[index]
        return None

    def period(self, key: str) -> Period | None:
        return next((p for p in self.periods if p.key == key), None)


Check = Callable[[Journal, Chart], str | None]


def check_line_count(journal: Journal, chart: Chart) -> str | None:
    """A journal needs at least two lines (every ledger refuses fewer)."""
    count = len(journal.lines)
    if count < 2:
        return f"journal has {count} line{'s' if count != 1 else ''}; at least 2 are required"
    return None


def check_cents(journal: Journal, chart: Chart, scale: int = 2) -> str | None:
    """Amounts are to the cent: a third decimal would be rounded away by the ledger."""
    quantum = Decimal(1).scaleb(-scale)
    for line in journal.lines:
        if line.amount != line.amount.quantize(quantum):
            return f"line {line.number}: amount {line.amount} has more than {scale} decimal places"
    return None


def check_balanced(journal: Journal, chart: Chart) -> str | None:
    """Debits equal credits exactly (Decimal arithmetic; never float)."""
    debits, credits = journal.debits, journal.credits
    if debits != credits:
        return f"unbalanced: debits {debits} ≠ credits {credits} (off by {abs(debits - credits)})"
    return None


def check_open_period(journal: Journal, chart: Chart) -> str | None:
    """The posting date falls in a period of the ledger, and that period is open."""
    period = chart.period_for(journal.posting_date)
    if period is None:
        return f"posting date {journal.posting_date.isoformat()} is in no ledger period"
    if not period.open:
        return f"posting date {journal.posting_date.isoformat()} falls in closed period {period.key}"
    return None


def check_known_values(journal: Journal, chart: Chart) -> str | None:
    """Every account and every dimension value exists (and is active) in the live chart.

    A dimension kind the chart does not list is not checked: the ledger did not tell us.
    """
    problems: list[str] = []
    for line in journal.lines:
        account = chart.accounts.get(line.account)
        if account is None:
            problems.append(f"line {line.number}: unknown account '{line.account}'")
        elif not account.active:
            problems.append(f"line {line.number}: account '{line.account}' is inactive")
        for kind, value in line.dimensions.items():
            known = chart.dimensions.get(kind)
            if known is not None and value not in known:
                problems.append(f"line {line.number}: unknown {kind} '{value}'")
    return "; ".join(problems) if problems else None


CHECKS: tuple[Check, ...] = (check_line_count, check_cents, check_balanced, check_open_period,
                             check_known_values)


def check_journal(journal: Journal, chart: Chart, checks: Iterable[Check] = CHECKS) -> list[str]:
    """Every reason this journal must not be sent (empty: send it)."""
    return [reason for check in checks if (reason := check(journal, chart)) is not None]


def check_journals(journals: Iterable[Journal], chart: Chart, checks: Iterable[Check] = CHECKS) -> dict[str, str]:
    """{unit key: reasons} for the journals that fail; the others may be sent."""
    checks = tuple(checks)
    rejects: dict[str, str] = {}
    for journal in journals:
        reasons = check_journal(journal, chart, checks)
        if reasons:
            rejects[journal.key] = "; ".join(reasons)
    return rejects
