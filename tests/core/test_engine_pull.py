"""The pull engine on a real DuckDB file, driven by a scripted adapter (the engine's own contract):
pages are committed with their cursor, later pages win over earlier ones, bad records are rejects;
the first page is asked for while the staging tables are made, its error raised as before."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from helpers.inplace import started_in_place

from migo_sync.adapter import BaseAdapter, PullBatch
from migo_sync.config import Project, ProjectConfig, WarehouseConfig
from migo_sync.engine import pull as pull_engine
from migo_sync.engine.pull import Puller, _Pending
from migo_sync.errors import AuthError
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


class Held(Scripted):
    """Notes when the engine asks for the first page, and holds that page until `release` is set."""

    def __init__(self, pages: list[list[dict[str, Any]]], fail: Exception | None = None) -> None:
        super().__init__(pages)
        self.asked = threading.Event()
        self.fail = fail

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]:
        self.asked.set()
        if self.fail is not None:
            raise self.fail
        yield from super().read(mapping, state)


@pytest.mark.parametrize("mode", ["upsert", "mirror"])
@pytest.mark.parametrize("in_place", [True, False], ids=["merges-from-arrow", "stages"])
def test_the_first_page_is_asked_for_while_the_staging_tables_are_made(
        warehouse: Warehouse, mode: str, in_place: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first page's request goes out before the engine makes its target and staging tables (on a
    thread); the making is held until the page was asked for (10 s at most), which only happens if the two
    overlap. A mirror makes only the table it stages its pages in; where the warehouse merges from Arrow in
    place (DuckDB), an upsert makes none, and a mirror makes its own once a page has to wait in it."""
    monkeypatch.setattr(warehouse, "merges_from_arrow", in_place)
    adapter = Held([[record(1), record(2)], [record(3)]])
    made: list[tuple[str, bool]] = []
    load = type(warehouse).load_arrow
    ensure = type(warehouse).ensure_table

    def ensured(self: Warehouse, table: str, *args: Any, **kwargs: Any) -> Any:
        if table == "landing.things":
            made.append((table, adapter.asked.wait(10)))
        return ensure(self, table, *args, **kwargs)

    monkeypatch.setattr(type(warehouse), "ensure_table", ensured)

    def held(self: Warehouse, table: str, data: Any, **kwargs: Any) -> int:
        if data.num_rows == 0 and "scripted_pull" in table:  # this pull's staging, made empty before any page
            made.append((table, adapter.asked.wait(10)))
        return load(self, table, data, **kwargs)

    monkeypatch.setattr(type(warehouse), "load_arrow", held)
    mapping = MAPPING.model_copy(update={"mode": mode})
    result = Puller(warehouse, Bookkeeping(warehouse), adapter, mapping, "r1").run()
    assert (result.status, result.rows_read, result.rows_written) == ("ok", 3, 3)
    assert made and all(asked for _, asked in made)
    assert [name for name, _ in made] == ["landing.things"] + (
        ["migo_mirror_scripted_pull"] if mode == "mirror" else [] if in_place
        else ["migo_stage_scripted_pull", "migo_deleted_scripted_pull"])
    assert Bookkeeping(warehouse).get_cursor("scripted_pull") == {"page": 1}


class Deleting(Scripted):
    """Pages that also name records the remote deleted."""

    def __init__(self, pages: list[tuple[list[dict[str, Any]], list[int]]]) -> None:
        super().__init__([records for records, _ in pages])
        self.deleted = [gone for _, gone in pages]

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]:
        for number, batch in enumerate(super().read(mapping, state)):
            yield PullBatch(batch.records, batch.state, deleted_keys=[{"id": i} for i in self.deleted[number]])


@pytest.mark.parametrize("in_place", [True, False], ids=["merges-from-arrow", "stages"])
def test_staging_tables_are_made_where_a_page_needs_them(warehouse: Warehouse, in_place: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Merging from Arrow in place, a pull makes a staging table only for what waits in one: a mirror read
    whole in one page none, an upsert's deleted keys theirs (before the transaction that uses it). The rows
    are the same as with every staging table made up front."""
    monkeypatch.setattr(warehouse, "merges_from_arrow", in_place)
    statements: list[str] = []
    execute = type(warehouse).execute

    def noted(self: Warehouse, sql: str, params: Any = None) -> None:
        statements.append(" ".join(sql.split()[:4]))
        execute(self, sql, params)

    monkeypatch.setattr(type(warehouse), "execute", noted)
    first = Puller(warehouse, Bookkeeping(warehouse), Scripted([[record(1), record(2), record(3)]]),
                   MAPPING.model_copy(update={"mode": "mirror"}), "r1").run()
    made = [s for s in statements if s.startswith(("CREATE TEMPORARY", "DROP TABLE"))]
    assert made == ([] if in_place else ["CREATE TEMPORARY TABLE \"migo_mirror_scripted_pull\"",
                                          "DROP TABLE IF EXISTS"])
    statements.clear()
    adapter = Deleting([([record(4)], []), ([record(5)], [1, 4]), ([record(6)], [])])
    second = Puller(warehouse, Bookkeeping(warehouse), adapter, MAPPING.model_copy(update={"batch_size": 1}),
                    "r2").run()
    made = [s for s in statements if s.startswith("CREATE TEMPORARY")]
    assert made == (['CREATE TEMPORARY TABLE "migo_deleted_scripted_pull"'] if in_place else
                    ['CREATE TEMPORARY TABLE "migo_stage_scripted_pull"', 'CREATE TEMPORARY TABLE "migo_deleted_scripted_pull"'])
    # the same counts both ways (the staging-first way's, as before this change)
    assert (first.rows_written, second.rows_written, second.rows_changed) == (3, 2, 3)
    assert warehouse.query("SELECT id FROM landing.things ORDER BY id") == [(2,), (3,), (5,), (6,)]


def test_an_error_of_the_first_page_is_raised_as_when_it_was_read_in_place(
        warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    failure = AuthError("scripted", "token refused")

    def outcome() -> tuple[Any, ...]:
        with pytest.raises(AuthError) as raised:
            pull(warehouse, Held([[record(1)]], fail=failure))
        return raised.value, warehouse.query("SELECT COUNT(*) FROM landing.things")[0][0], \
            Bookkeeping(warehouse).get_cursor("scripted_pull")

    threaded = outcome()

    monkeypatch.setattr(pull_engine, "begun", started_in_place)
    assert outcome() == threaded == (failure, 0, None)


@pytest.mark.parametrize("pages", [1, 3])
def test_a_mirror_lands_the_same_whether_read_in_one_page_or_several(warehouse: Warehouse, pages: int) -> None:
    """A mirror read whole in one page merges it straight from Arrow (no staging copy, one transaction with its
    rejects and cursor); read in several, its pages are staged and merged at the end. Both land the same rows,
    delete the same ones, record the same rejects and the same counts."""
    warehouse.execute("CREATE SCHEMA IF NOT EXISTS landing")
    warehouse.execute("CREATE TABLE landing.things (id BIGINT, name VARCHAR, amount DECIMAL(38,2), seen TIMESTAMP)")
    warehouse.execute("INSERT INTO landing.things VALUES (1, 'old', 1.50, '2026-11-30 08:00:00'), "
                      "(2, 'x', 1.50, '2026-11-30 08:00:00'), (9, 'gone', 9.99, '2026-11-30 08:00:00')")
    records = [record(1, "new", "2.25"), record(2), record(3, amount="lots"), record(4, "four", "0.01"),
               {"name": "no id"}, record(5, "five", "12345678.90")]
    size = -(-len(records) // pages)
    mapping = MAPPING.model_copy(update={"mode": "mirror"})
    result = Puller(warehouse, Bookkeeping(warehouse), Scripted([records[i:i + size] for i in range(0, len(records), size)]),
                    mapping, "r1").run()
    assert (result.status, result.rows_read, result.rows_written, result.rows_changed, result.rows_rejected) == \
        ("rejected", 6, 3, 4, 2)  # 1 updated, 4 and 5 inserted, 9 deleted; 3 and the keyless record rejected
    assert warehouse.query("SELECT id, name, amount FROM landing.things ORDER BY id") == [
        (1, "new", Decimal("2.25")), (2, "x", Decimal("1.50")), (4, "four", Decimal("0.01")),
        (5, "five", Decimal("12345678.90"))]
    assert sorted(r[0] for r in warehouse.query("SELECT reason FROM migo_sync.rejects")) == [
        "missing key value", "money.amount: 'lots' is not a number"]
    assert Bookkeeping(warehouse).get_cursor("scripted_pull") == {"page": pages - 1}
