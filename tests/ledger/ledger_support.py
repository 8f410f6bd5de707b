"""Helpers for the ledger-core tests: journals, a chart, an in-memory ledger, a DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from migo_sync.adapter import PushUnit, UnitResult, idempotency_key
from migo_sync.config import Project, ProjectConfig, WarehouseConfig
from migo_sync.ledger import (
    Account,
    AccountBalance,
    Chart,
    Journal,
    JournalLayout,
    LedgerLine,
    Period,
    PostedJournal,
)
from migo_sync.mapping.model import Mapping
from migo_sync.warehouse import Warehouse, open_warehouse

LAYOUT = JournalLayout(posting_date="date", account="account", amount="amount", symbol="journal",
                       title="title", reference="ref", memo="memo",
                       dimensions={"department": "dept", "location": "loc"})
ACCOUNTS = ("1000", "1100", "4000", "5000")


def months(year: int, closed_before: date | None = None) -> list[Period]:
    out = []
    for month in range(1, 13):
        start = date(year, month, 1)
        end = date(year + (month == 12), month % 12 + 1, 1).fromordinal(
            date(year + (month == 12), month % 12 + 1, 1).toordinal() - 1)
        out.append(Period(key=f"{year}-{month:02d}", start=start, end=end,
                          open=closed_before is None or start >= closed_before))
    return out


def chart(**overrides: Any) -> Chart:
    accounts = {n: Account(n) for n in ACCOUNTS} | {"9000": Account("9000", active=False)}
    return Chart(accounts=overrides.get("accounts", accounts),
                 dimensions=overrides.get("dimensions", {"department": frozenset({"OPS", "FIN"}),
                                                         "location": frozenset({"NBO", "MSA"})}),
                 periods=overrides.get("periods", months(2025, closed_before=date(2026, 1, 1)) + months(2026)))


def unit(key: str, lines: Sequence[tuple[str, str]], day: Any = date(2026, 10, 14), **extra: Any) -> PushUnit:
    records = [{"journal": "GJ", "date": day, "title": f"journal {key}", "ref": key, "account": account,
                "amount": amount, "dept": "OPS", "loc": "NBO", "memo": f"line {n}", **extra}
               for n, (account, amount) in enumerate(lines, start=1)]
    return PushUnit(key=key, idempotency_key=idempotency_key("m", key), records=records,
                    row_keys=[f"{key}\x1f{n}" for n in range(1, len(records) + 1)])


def journal_mapping(**extra: Any) -> Mapping:
    fields = [{"column": "journal_id", "remote": "ref"}, {"column": "posting_date", "remote": "date", "type": "date"},
              {"column": "account_no", "remote": "account"},
              {"column": "amount", "remote": "amount", "type": "decimal", "scale": 2}]
    return Mapping.model_validate({"name": "journals", "system": "memory", "object": "JOURNAL",
                                   "direction": "push", "warehouse": {"table": "lending.journal_lines"},
                                   "key": ["journal_id", "line_no"], "group_by": ["journal_id"],
                                   "fields": extra.pop("fields", fields), **extra})


class MemoryLedger:
    """A LedgerPort held in memory: posts journals once per idempotency key."""

    name = "memory"
    journal_object = "JOURNAL"

    def __init__(self, chart_: Chart | None = None) -> None:
        self.the_chart = chart_ or chart()
        self.posted: dict[str, Journal] = {}
        self.extra: list[tuple[date, str, Decimal]] = []  # lines posted by other means

    def journal_layout(self, mapping: Mapping) -> JournalLayout:
        return LAYOUT

    def post_journals(self, journals: Sequence[Journal]) -> list[UnitResult]:
        results = []
        for journal in journals:
            duplicate = journal.idempotency_key in self.posted
            self.posted.setdefault(journal.idempotency_key, journal)
            results.append(UnitResult(key=journal.key, ok=True, duplicate=duplicate))
        return results

    def find_journals(self, journals: Sequence[Journal]) -> dict[str, PostedJournal]:
        """Held journals by their own idempotency key (like Workday's Accounting_Journal_ID)."""
        return {j.key: PostedJournal(f"M-{j.idempotency_key[:6]}", tuple(
            LedgerLine("j", held.posting_date, line.account, line.amount, dict(line.dimensions))
            for line in held.lines), by_key=True)
            for j in journals if (held := self.posted.get(j.idempotency_key)) is not None}

    def lines(self) -> list[tuple[date, str, Decimal]]:
        return [(j.posting_date, line.account, line.amount) for j in self.posted.values() for line in j.lines] + self.extra

    def read_journal_lines(self, start: date, end: date) -> Iterator[list[LedgerLine]]:
        """Posted lines with their journal's reference; lines posted by other means carry none."""
        ours = [LedgerLine("j", j.posting_date, line.account, line.amount, reference=j.reference)
                for j in self.posted.values() for line in j.lines]
        theirs = [LedgerLine("x", day, account, amount) for day, account, amount in self.extra]
        yield [line for line in ours + theirs if start <= line.posting_date <= end]

    def read_balances(self, period: Period) -> list[AccountBalance]:
        sums: dict[str, list[Decimal]] = {}
        for day, account, amount in self.lines():
            if period.contains(day):
                slot = sums.setdefault(account, [Decimal(0), Decimal(0)])
                slot[0 if amount > 0 else 1] += abs(amount)
        return [AccountBalance(account, d, c) for account, (d, c) in sums.items()]

    def list_accounts(self) -> list[Account]:
        return list(self.the_chart.accounts.values())

    def list_dimensions(self) -> dict[str, list[str]]:
        return {kind: sorted(values) for kind, values in self.the_chart.dimensions.items()}

    def list_periods(self) -> list[Period]:
        return list(self.the_chart.periods)

    def chart(self) -> Chart:
        return self.the_chart


def journal_warehouse(rows: Sequence[tuple[Any, ...]]) -> Warehouse:
    """An in-memory DuckDB holding `lending.journal_lines` (journal_id, line_no, posting_date,
    account_no, amount) with these rows."""
    project = Project(root=Path("."), config=ProjectConfig(warehouse=WarehouseConfig(path=":memory:")), environ={})
    wh = open_warehouse(project)
    wh.execute("CREATE SCHEMA lending")
    wh.execute("CREATE TABLE lending.journal_lines (journal_id VARCHAR, line_no INTEGER, posting_date DATE, "
               "account_no VARCHAR, amount DECIMAL(18, 2))")
    for row in rows:
        wh.execute("INSERT INTO lending.journal_lines VALUES (?, ?, ?, ?, ?)", list(row))
    return wh
