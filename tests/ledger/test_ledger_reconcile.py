"""Reconciliation: warehouse totals (computed in DuckDB) versus an in-memory ledger's balances."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from ledger.ledger_support import LAYOUT, MemoryLedger, journal_mapping, journal_warehouse, unit

from migo_sync.errors import ConfigError, UnreachableError
from migo_sync.ledger import build_journal
from migo_sync.ledger.journal import JournalLayout
from migo_sync.ledger.reconcile import reconcile, reconcile_after_push, reconcile_ledger
from migo_sync.warehouse import Warehouse

ROWS = [  # journal_id, line_no, posting_date, account_no, amount
    ("J1", 1, date(2026, 10, 5), "1100", Decimal("100.00")), ("J1", 2, date(2026, 10, 5), "1000", Decimal("-100.00")),
    ("J2", 1, date(2026, 11, 2), "1100", Decimal("40.25")), ("J2", 2, date(2026, 11, 2), "4000", Decimal("-40.25")),
]


@pytest.fixture
def warehouse() -> Iterator[Warehouse]:
    wh = journal_warehouse(ROWS)
    yield wh
    wh.close()


def posted(ledger: MemoryLedger, *keys: str) -> MemoryLedger:
    by_key: dict[str, list[tuple[str, str]]] = {}
    days: dict[str, date] = {}
    for journal_id, _, day, account, amount in ROWS:
        by_key.setdefault(journal_id, []).append((account, str(amount)))
        days[journal_id] = day
    ledger.post_journals([build_journal(unit(k, by_key[k], days[k]), LAYOUT) for k in keys])
    return ledger


def test_everything_posted_matches(warehouse: Warehouse) -> None:
    report = reconcile(warehouse, journal_mapping(), posted(MemoryLedger(), "J1", "J2"))
    assert report.ok and report.periods == ["2026-10", "2026-11"]
    assert [(r.period, r.account, str(r.warehouse)) for r in report.rows] == [
        ("2026-10", "1000", "-100.00"), ("2026-10", "1100", "100.00"),
        ("2026-11", "1100", "40.25"), ("2026-11", "4000", "-40.25")]


def test_a_journal_missing_from_the_ledger_is_a_difference(warehouse: Warehouse) -> None:
    report = reconcile(warehouse, journal_mapping(), posted(MemoryLedger(), "J1"))
    assert not report.ok
    assert {(r.period, r.account, r.status, str(r.difference)) for r in report.differences} == {
        ("2026-11", "1100", "missing_in_ledger", "40.25"), ("2026-11", "4000", "missing_in_ledger", "-40.25")}


def test_ledger_entries_made_elsewhere_show_up(warehouse: Warehouse) -> None:
    ledger = posted(MemoryLedger(), "J1", "J2")
    ledger.extra += [(date(2026, 10, 9), "1100", Decimal("5")), (date(2026, 10, 9), "6000", Decimal("-5"))]
    # not against the feed, which reconciles against its own journals only: against the whole ledger
    assert reconcile(warehouse, journal_mapping(), ledger).ok
    whole = reconcile_ledger(warehouse, [journal_mapping()], ledger)
    assert {(r.account, r.status) for r in whole.differences} == {("1100", "differs"), ("6000", "only_in_ledger")}


def test_two_feeds_into_one_ledger_each_reconcile_against_their_own_journals(warehouse: Warehouse) -> None:
    first = journal_mapping(name="first", warehouse={"query": "SELECT * FROM lending.journal_lines WHERE journal_id = 'J1'"})
    second = journal_mapping(name="second", warehouse={"query": "SELECT * FROM lending.journal_lines WHERE journal_id <> 'J1'"})
    ledger = posted(MemoryLedger(), "J1", "J2")
    assert not reconcile(warehouse, journal_mapping(warehouse={"query": first.warehouse.query}), MemoryLedger()).ok
    assert reconcile(warehouse, first, ledger).ok and reconcile(warehouse, second, ledger).ok
    assert reconcile_ledger(warehouse, [first, second], ledger).ok


def test_one_period_on_demand(warehouse: Warehouse) -> None:
    report = reconcile(warehouse, journal_mapping(), posted(MemoryLedger(), "J1"), periods=["2026-10"])
    assert report.ok and report.periods == ["2026-10"] and len(report.rows) == 2


def test_unknown_period_is_a_config_error(warehouse: Warehouse) -> None:
    with pytest.raises(ConfigError, match="unknown ledger period 2031-01"):
        reconcile(warehouse, journal_mapping(), MemoryLedger(), periods=["2031-01"])


def test_sign_transform_and_query_relation(warehouse: Warehouse) -> None:
    fields = [{"column": "journal_id", "remote": "ref"}, {"column": "posting_date", "remote": "date", "type": "date"},
              {"column": "account_no", "remote": "account"},
              {"column": "neg", "remote": "amount", "type": "decimal", "transform": [{"sign": -1}]}]
    mapping = journal_mapping(fields=fields, warehouse={
        "query": "SELECT journal_id, line_no, posting_date, account_no, -amount AS neg FROM lending.journal_lines"})
    assert reconcile(warehouse, mapping, posted(MemoryLedger(), "J1", "J2")).ok


def test_debit_credit_layout(warehouse: Warehouse) -> None:
    class Split(MemoryLedger):
        def journal_layout(self, mapping: object) -> JournalLayout:
            return JournalLayout(posting_date="date", account="account", debit="dr", credit="cr")

    fields = [{"column": "posting_date", "remote": "date", "type": "date"}, {"column": "account_no", "remote": "account"},
              {"column": "dr", "remote": "dr", "type": "decimal"}, {"column": "cr", "remote": "cr", "type": "decimal"}]
    mapping = journal_mapping(fields=fields, warehouse={
        "query": "SELECT posting_date, account_no, CASE WHEN amount > 0 THEN amount END AS dr, "
                 "CASE WHEN amount < 0 THEN -amount END AS cr FROM lending.journal_lines"})
    assert reconcile(warehouse, mapping, posted(Split(), "J1", "J2")).ok


def test_report_is_json_safe_data(warehouse: Warehouse) -> None:
    data = reconcile_after_push(warehouse, posted(MemoryLedger(), "J1"), journal_mapping())
    assert data is not None and data["ok"] is False and data["system"] == "memory"
    assert data["differences"][0] == {"account": "1100", "period": "2026-11", "warehouse": "40.25",
                                      "ledger": "0.00", "difference": "40.25", "status": "missing_in_ledger"}


def test_after_push_ignores_other_mappings_and_systems(warehouse: Warehouse) -> None:
    assert reconcile_after_push(warehouse, object(), journal_mapping()) is None
    assert reconcile_after_push(warehouse, MemoryLedger(), journal_mapping(object="OTHER")) is None


def test_empty_relation_compares_nothing(warehouse: Warehouse) -> None:
    warehouse.execute("DELETE FROM lending.journal_lines")
    report = reconcile(warehouse, journal_mapping(), MemoryLedger())
    assert report.ok and report.periods == [] and report.rows == []


def test_after_push_reports_a_failed_reconciliation_as_data(warehouse: Warehouse) -> None:
    class Down(MemoryLedger):
        def read_journal_lines(self, start: object, end: object) -> list[object]:  # type: ignore[override]
            raise UnreachableError("memory: gave up after 8 attempts")

    data = reconcile_after_push(warehouse, Down(), journal_mapping())
    assert data is not None and data["ok"] is False and data["error"] == "memory: gave up after 8 attempts"
    assert data["differences"] == [{"status": "error", "message": "memory: gave up after 8 attempts"}]


def test_the_periods_of_a_comparison_are_read_together_and_merged_in_order() -> None:
    from threading import Barrier

    from migo_sync.ledger.checks import Period
    from migo_sync.ledger.reconcile import PERIODS_AT_ONCE, per_period

    periods = [Period(key=f"2026-{m:02d}", start=date(2026, m, 1), end=date(2026, m, 28), open=True)
               for m in (10, 11, 12)]
    both = Barrier(PERIODS_AT_ONCE, timeout=30)  # read one after another, the first would wait here in vain
    seen: list[str] = []

    def read(period: Period) -> dict[tuple[str, str], Decimal]:
        if period.key != "2026-12":
            both.wait()
        seen.append(period.key)
        return {(period.key, "1100"): Decimal("1.10"), ("all", "1100"): Decimal("0.01")}

    totals = per_period(periods, read)
    assert sorted(seen) == ["2026-10", "2026-11", "2026-12"]
    assert list(totals) == [("2026-10", "1100"), ("all", "1100"), ("2026-11", "1100"), ("2026-12", "1100")]
    assert totals[("all", "1100")] == Decimal("0.03") and totals[("2026-11", "1100")] == Decimal("1.10")
