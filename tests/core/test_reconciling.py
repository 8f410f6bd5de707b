"""A push's reconciliation begun when the push ends, its ledger side read beside the run's other work
(migo_sync/engine/reconciling.py): the comparison made at the end equals the one made there in one
go, and when the relation changed in between, it is made again there. A real DuckDB, an in-memory
ledger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from ledger.ledger_support import LAYOUT, MemoryLedger, journal_mapping, journal_warehouse, unit

from migo_sync.engine.readahead import ReadAhead
from migo_sync.engine.reconciling import Reconciler
from migo_sync.engine.result import MappingResult
from migo_sync.ledger import build_journal
from migo_sync.ledger.reconcile import reconcile_after_push
from migo_sync.mapping.loader import LoadedMapping
from migo_sync.warehouse import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

pytestmark = pytest.mark.timeout(60)
OCTOBER = [("J1", 1, date(2026, 10, 5), "1100", Decimal("100.00")), ("J1", 2, date(2026, 10, 5), "1000", Decimal("-100.00"))]
NOVEMBER = [("J2", 1, date(2026, 11, 2), "1100", Decimal("40.25")), ("J2", 2, date(2026, 11, 2), "4000", Decimal("-40.25"))]


class CountingLedger(MemoryLedger):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read_journal_lines(self, start: date, end: date) -> Iterator[list[Any]]:
        self.reads += 1
        yield from super().read_journal_lines(start, end)


@pytest.fixture
def warehouse() -> Iterator[Warehouse]:
    wh = journal_warehouse(OCTOBER)
    yield wh
    wh.close()


def post(ledger: MemoryLedger, rows: list[tuple[Any, ...]]) -> None:
    key, day = rows[0][0], rows[0][2]
    ledger.post_journals([build_journal(unit(key, [(r[3], str(r[4])) for r in rows], day), LAYOUT)])


def begun(warehouse: Warehouse, ledger: MemoryLedger) -> tuple[Reconciler, ReadAhead, LoadedMapping]:
    """The push ended and its reconciliation begun; its ledger side read on its thread, to the end."""
    mapping = journal_mapping()
    ahead = ReadAhead([], lambda system: ledger, {}, 2, set(), lambda *a: iter(()))
    reconciler = Reconciler(warehouse, Bookkeeping(warehouse), lambda system: ledger, ahead, reconcile="always",
                            full=False, dry_run=False)
    reconciler.push_ended(mapping, MappingResult(mapping.name, "memory", "push", status="ok"))
    ahead.mapping_ended(mapping.name, True)
    assert ahead.besides and ahead.besides[0].future.result(timeout=30) is not None  # read beside, before the end
    item = LoadedMapping.__new__(LoadedMapping)
    item.mapping = mapping
    return reconciler, ahead, item


def without_timing(found: dict[str, Any] | None) -> dict[str, Any]:
    assert found is not None
    return {k: v for k, v in found.items() if k not in ("seconds", "requests")}


def test_the_ledger_side_read_beside_is_the_one_compared(warehouse: Warehouse) -> None:
    ledger = CountingLedger()
    post(ledger, OCTOBER)
    reconciler, ahead, item = begun(warehouse, ledger)
    try:
        [found] = reconciler.results([item])
    finally:
        ahead.close()
    assert ledger.reads == 1  # not read again at the end
    assert found["ok"] and found["periods"] == ["2026-10"] and found["compared"] == 2, found
    assert without_timing(found) == without_timing(reconcile_after_push(warehouse, ledger, item.mapping))


def test_a_relation_changed_after_its_push_is_compared_again_whole(warehouse: Warehouse) -> None:
    ledger = CountingLedger()
    post(ledger, OCTOBER)
    reconciler, ahead, item = begun(warehouse, ledger)
    # meanwhile (say, a pull of the run writing into what the push reads) a November journal arrives,
    # posted to the ledger too: the ledger side read beside covers October and J1 only
    for row in NOVEMBER:
        warehouse.execute("INSERT INTO lending.journal_lines VALUES (?, ?, ?, ?, ?)", list(row))
    post(ledger, NOVEMBER)
    try:
        [found] = reconciler.results([item])
    finally:
        ahead.close()
    assert ledger.reads == 1 + 2  # read again, both periods
    assert found["ok"] and found["periods"] == ["2026-10", "2026-11"] and found["compared"] == 4, found
    assert without_timing(found) == without_timing(reconcile_after_push(warehouse, ledger, item.mapping))
