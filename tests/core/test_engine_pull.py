"""The pull engine on a real DuckDB file, driven by a scripted adapter (the engine's own contract):
pages are committed with their cursor, later pages win over earlier ones, bad records are rejects."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from migo_sync.adapter import BaseAdapter, PullBatch
from migo_sync.config import Project, ProjectConfig, WarehouseConfig
from migo_sync.engine.pull import Puller, _Pending
from migo_sync.mapping.model import Mapping
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.base import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

MAPPING = Mapping.model_validate({
    "name": "scripted_pull", "system": "scripted", "object": "things", "direction": "pull",
    "warehouse": {"table": "landing.things"}, "key": ["id"],
    "fields": [{"column": "id", "remote": "id", "type": "integer"},
               {"column": "name", "remote": "name"},
               {"column": "amount", "remote": "money.amount", "type": "decimal", "scale": 2},
               {"column": "seen", "remote": "seen", "type": "timestamp"}]})


class Scripted(BaseAdapter):
    name = "scripted"

    def __init__(self, pages: list[list[dict[str, Any]]], fail_after: int | None = None) -> None:
        self.pages = pages
        self.fail_after = fail_after
        self.started_from: list[Any] = []

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]:
        self.started_from.append(state)
        first = state["page"] + 1 if state else 0
        for number in range(first, len(self.pages)):
            if self.fail_after is not None and number > self.fail_after:
                raise RuntimeError("the connection died")
            yield PullBatch(self.pages[number], state={"page": number})


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    wh = open_warehouse(Project(root=tmp_path, config=ProjectConfig(warehouse=WarehouseConfig(path="w.duckdb", create=True))))
    Bookkeeping(wh).ensure()
    yield wh
    wh.close()


def record(i: int, name: str = "x", amount: Any = "1.50") -> dict[str, Any]:
    return {"id": i, "name": name, "money": {"amount": amount}, "seen": "2026-11-30T08:00:00Z"}


def pull(warehouse: Warehouse, adapter: Scripted) -> Any:
    return Puller(warehouse, Bookkeeping(warehouse), adapter, MAPPING, "r1").run()


def test_later_pages_win_and_the_cursor_is_the_last_page(warehouse: Warehouse) -> None:
    pages = [[record(1, "old"), record(2)], [record(3)], [record(1, "new", Decimal("2.25"))]]
    result = pull(warehouse, Scripted(pages))
    assert result.rows_read == 4 and result.rows_written == 3
    rows = warehouse.query("SELECT id, name, amount, CAST(seen AS VARCHAR) FROM landing.things ORDER BY id")
    assert rows[0] == (1, "new", Decimal("2.25"), "2026-11-30 08:00:00")
    assert [r[0] for r in rows] == [1, 2, 3]
    assert Bookkeeping(warehouse).get_cursor("scripted_pull") == {"page": 2}


def test_a_bad_value_is_a_reject_and_the_rest_of_the_page_lands(warehouse: Warehouse) -> None:
    result = pull(warehouse, Scripted([[record(1), record(2, amount="lots"), {"name": "no id"}]]))
    assert result.rows_written == 1 and result.rows_rejected == 2 and result.status == "rejected"
    reasons = sorted(r[0] for r in warehouse.query("SELECT reason FROM migo_sync.rejects"))
    assert reasons == ["missing key value", "money.amount: 'lots' is not a number"]


def test_a_run_that_dies_resumes_from_the_last_committed_page(warehouse: Warehouse,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Pending, "FLUSH_ROWS", 2)  # commit every two records
    pages = [[record(1)], [record(2)], [record(3)], [record(4)], [record(5)]]
    with pytest.raises(RuntimeError):
        pull(warehouse, Scripted(pages, fail_after=2))
    committed = Bookkeeping(warehouse).get_cursor("scripted_pull")
    assert committed == {"page": 1}  # page 2 was read but not committed: it will be read again
    assert [r[0] for r in warehouse.query("SELECT id FROM landing.things ORDER BY id")] == [1, 2]
    again = Scripted(pages)
    pull(warehouse, again)
    assert again.started_from == [{"page": 1}]
    assert warehouse.query("SELECT COUNT(*), COUNT(DISTINCT id) FROM landing.things")[0] == (5, 5)
