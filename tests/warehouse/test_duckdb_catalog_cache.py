"""DuckDB remembers what the catalog said about a relation's columns (duckdb_columns() lists every
column of every table: ~4 ms a look-up) until a statement that may change the catalog runs: the
columns it answers are always the ones a fresh connection would read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from migo_sync.warehouse.base import Column
from migo_sync.warehouse.duckdb import DuckDBWarehouse


class Counting:
    """The connection, counting the catalog queries sent through it."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.catalog_reads = conn, 0

    def execute(self, sql: str, *args: Any) -> Any:
        self.catalog_reads += "duckdb_columns()" in sql
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


@pytest.fixture
def wh() -> Iterator[DuckDBWarehouse]:
    warehouse = DuckDBWarehouse(":memory:")
    warehouse._conn = Counting(warehouse._conn)  # type: ignore[assignment]
    warehouse.execute("CREATE TABLE t (a INTEGER, b VARCHAR)")
    yield warehouse
    warehouse.close()


def reads(wh: DuckDBWarehouse) -> int:
    return int(wh._conn.catalog_reads)  # type: ignore[attr-defined]


def names(columns: list[Column] | None) -> list[str] | None:
    return None if columns is None else [c.name for c in columns]


def test_the_same_relation_is_looked_up_once_while_only_rows_change(wh: DuckDBWarehouse) -> None:
    assert names(wh.columns("t")) == ["a", "b"]
    wh.execute("INSERT INTO t VALUES (1, 'x')")
    wh.execute("UPDATE t SET b = 'y'")
    wh.query("SELECT * FROM t")
    with wh.transaction():
        wh.execute("DELETE FROM t")
    assert names(wh.columns("T")) == ["a", "b"]
    assert names(wh.columns("main.t")) == ["a", "b"]
    assert reads(wh) == 1
    assert wh.columns("missing") is None
    assert wh.columns("missing") is None
    assert reads(wh) == 2


@pytest.mark.parametrize("change, after", [
    ("ALTER TABLE t ADD COLUMN c DOUBLE", ["a", "b", "c"]),
    ("DROP TABLE t", None),
    ("CREATE OR REPLACE TABLE t (z DATE)", ["z"]),
    ("CREATE SCHEMA s; CREATE TABLE s.t (q INTEGER); SET schema = 's'", ["q"]),
])
def test_a_statement_that_may_change_the_catalog_makes_it_look_again(wh: DuckDBWarehouse, change: str,
                                                                      after: list[str] | None) -> None:
    assert names(wh.columns("t")) == ["a", "b"]
    for statement in change.split("; "):
        wh.execute(statement)
    assert names(wh.columns("t")) == after
    assert reads(wh) == 2


def test_a_table_made_after_it_was_missing_is_found(wh: DuckDBWarehouse) -> None:
    assert wh.columns("later") is None
    wh.execute("CREATE TABLE later (n INTEGER)")
    assert names(wh.columns("later")) == ["n"]
    wh.load_arrow("loaded", pa.table({"k": ["x"]}))  # a load that creates its table
    assert names(wh.columns("loaded")) == ["k"]


def test_a_rollback_forgets(wh: DuckDBWarehouse) -> None:
    assert names(wh.columns("t")) == ["a", "b"]
    with pytest.raises(RuntimeError), wh.transaction():
        wh.execute("INSERT INTO t VALUES (1, 'x')")
        raise RuntimeError("the batch failed")
    assert names(wh.columns("t")) == ["a", "b"]
    assert reads(wh) == 2


def uncached(wh: DuckDBWarehouse, relation: str) -> list[str] | None:
    wh._catalog.clear()
    return names(wh.columns(relation))


@pytest.mark.parametrize("change", [
    "CREATE OR REPLACE TEMPORARY TABLE stage (s VARCHAR)",  # another table: t stays remembered
    "DROP TABLE IF EXISTS stage",
    "ALTER TABLE t ADD COLUMN c DOUBLE",  # the view over t: as the catalog says, remembered or not
    "CREATE OR REPLACE TABLE t (z DATE)",
    "DROP SCHEMA IF EXISTS other CASCADE",
    "DROP TABLE t CASCADE",
    "CREATE TABLE \"we\"\"ird\" (n INTEGER)",
])
def test_what_it_answers_is_what_the_catalog_says(wh: DuckDBWarehouse, change: str) -> None:
    wh.execute("CREATE VIEW v AS SELECT * FROM t")
    wh.execute("CREATE TEMPORARY TABLE stage (n INTEGER)")
    before = {r: names(wh.columns(r)) for r in ("t", "v", "stage", "main.t", "nothing")}
    wh.execute(change)
    remembered = {r: names(wh.columns(r)) for r in before}
    assert remembered == {r: uncached(wh, r) for r in before}


def test_ddl_on_another_table_keeps_what_it_knows(wh: DuckDBWarehouse) -> None:
    assert names(wh.columns("t")) == ["a", "b"]
    wh.execute("CREATE OR REPLACE TEMPORARY TABLE stage (n INTEGER)")
    wh.execute("DROP TABLE stage")
    assert names(wh.columns("t")) == ["a", "b"]
    assert reads(wh) == 1
