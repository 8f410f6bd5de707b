"""DuckDB remembers what the catalog said about a relation's columns (duckdb_columns() lists every
column of every table: ~4 ms a look-up) until a statement that may change the catalog runs: the
columns it answers are always the ones a fresh connection would read. The first look-up reads the
whole catalog at once, so a name missing from it costs no query until a statement may have made it."""

from __future__ import annotations

import re
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
    assert wh.columns("main.missing") is None
    assert reads(wh) == 1  # missing from the catalog read whole


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
    wh._forget_catalog()
    return names(wh.columns(relation))


@pytest.mark.parametrize("change", [
    "CREATE OR REPLACE TEMPORARY TABLE stage (s VARCHAR)",  # another table: t stays remembered
    "DROP TABLE IF EXISTS stage",
    "ALTER TABLE t ADD COLUMN c DOUBLE",  # the view over t: as the catalog says, remembered or not
    "CREATE OR REPLACE TABLE t (z DATE)",
    "DROP SCHEMA IF EXISTS other CASCADE",
    "DROP TABLE t CASCADE",
    "CREATE TABLE \"we\"\"ird\" (n INTEGER)",
    "CREATE TABLE nothing (n INTEGER)",  # missing when the catalog was read, made since
    "CREATE TEMPORARY TABLE nothing AS SELECT 1 AS n",
    "CREATE VIEW nothing AS SELECT * FROM t",
    "CREATE TABLE \"na me\" (n INTEGER)",  # a name that is no plain word
    "CREATE TABLE \"NA ME\" (n INTEGER)",
    "CREATE TABLE später (n INTEGER)",  # not ASCII
    "CREATE TABLE \"SPÄTER\" (n INTEGER)",
    "CREATE TABLE s\u017fpät (n INTEGER)",  # a letter re.I folds to 's'
])
def test_what_it_answers_is_what_the_catalog_says(wh: DuckDBWarehouse, change: str) -> None:
    wh.execute("CREATE VIEW v AS SELECT * FROM t")
    wh.execute("CREATE TEMPORARY TABLE stage (n INTEGER)")
    before = {r: names(wh.columns(r)) for r in ("t", "v", "stage", "main.t", "nothing", "na me", "später", "sspät")}
    wh.execute(change)
    remembered = {r: names(wh.columns(r)) for r in before}
    assert remembered == {r: uncached(wh, r) for r in before}


def test_ddl_on_another_table_keeps_what_it_knows(wh: DuckDBWarehouse) -> None:
    assert names(wh.columns("t")) == ["a", "b"]
    wh.execute("CREATE OR REPLACE TEMPORARY TABLE stage (n INTEGER)")
    wh.execute("DROP TABLE stage")
    assert names(wh.columns("t")) == ["a", "b"]
    assert reads(wh) == 1


def test_a_name_missing_from_the_catalog_read_whole_is_found_once_made(wh: DuckDBWarehouse) -> None:
    assert names(wh.columns("t")) == ["a", "b"]
    assert wh.columns("stage") is None and wh.columns("view_of_t") is None and wh.columns("na me") is None
    wh.load_arrow("stage", pa.table({"k": ["x"]}), temporary=True)  # made through a registered view
    wh.execute("CREATE VIEW view_of_t AS SELECT a FROM t")
    wh.execute('CREATE TABLE "na me" (n INTEGER)')
    assert names(wh.columns("stage")) == ["k"]
    assert names(wh.columns("view_of_t")) == ["a"]
    assert names(wh.columns("na me")) == ["n"]
    assert names(wh.columns("t")) == ["a", "b"]


@pytest.mark.parametrize("change, made", [
    ('CREATE TABLE "na me" (n INTEGER)', "na me"),  # no plain word: looked up by name
    ("CREATE TABLE fresh AS SELECT 'ä' AS n", "fresh"),  # a statement that is not ASCII: read again
    ('CREATE TABLE "Fresh" (n INTEGER)', "fresh"),
    ("CREATE TEMPORARY VIEW fresh AS SELECT 1 AS n", "fresh"),
])
def test_a_name_never_looked_up_is_found_once_made(wh: DuckDBWarehouse, change: str, made: str) -> None:
    assert names(wh.columns("t")) == ["a", "b"]  # the catalog read whole, without `made`
    wh.execute(change)
    assert names(wh.columns(made)) == ["n"]


def test_a_view_registered_beside_the_statements_is_found_once_forgotten(wh: DuckDBWarehouse) -> None:
    assert names(wh.columns("t")) == ["a", "b"]
    wh._conn.register("arrow_view", pa.table({"k": ["x"]}))  # as load_arrow does, then forgets the name
    wh._forget_catalog("arrow_view")
    assert names(wh.columns("arrow_view")) == ["k"]


def test_a_catalog_too_big_to_read_whole_is_looked_up_by_name(wh: DuckDBWarehouse,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("migo_sync.warehouse.duckdb.SNAPSHOT_COLUMNS", 1)
    assert names(wh.columns("t")) == ["a", "b"]
    assert wh.columns("missing") is None
    wh.execute("CREATE TABLE missing (m INTEGER)")
    assert names(wh.columns("missing")) == ["m"]
    assert names(wh.columns("t")) == ["a", "b"]
    assert reads(wh) == 4  # the whole catalog once (too big), then one look-up per name


def test_names_made_since_the_catalog_was_read_are_bounded(wh: DuckDBWarehouse,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("migo_sync.warehouse.duckdb.UNSURE_NAMES", 3)
    assert names(wh.columns("t")) == ["a", "b"]
    wh.execute("CREATE TABLE one (n INTEGER)")  # words: create, table, one, n, integer: more than 3
    assert wh._unsure == set() and not wh._complete
    assert names(wh.columns("one")) == ["n"]
    assert wh.columns("two") is None
    assert reads(wh) == 2  # read whole again


@pytest.mark.parametrize("sql", [
    "CREATE TABLE t1 (a INTEGER)", "DROP TABLE IF EXISTS tt", 'CREATE TABLE "T" AS SELECT 1', "ALTER TABLE x$t ADD b INT",
    "CREATE VIEW v AS SELECT * FROM main.t, _t", "create temporary table STAGE_1 as select 1 as t", "DROP VIEW t_",
    "CREATE TABLE später (t INTEGER)", "CREATE TABLE s\u017fx (n INTEGER)",
])
def test_a_statement_mentions_a_name_as_its_whole_identifier_regex_says(sql: str) -> None:
    from migo_sync.warehouse.duckdb import _mentioned

    names = ["t", "t1", "tt", "x$t", "x", "_t", "stage_1", "stage", "t_", "spät", "später", "ssx", "sx", "na me"]
    expected = [n for n in names if re.search(rf"(?<![\w$]){re.escape(n)}(?![\w$])", sql, re.I)]
    assert _mentioned(names, sql) == expected


def test_the_catalog_read_whole_gives_each_relation_its_columns_in_order(wh: DuckDBWarehouse) -> None:
    wide = ", ".join(f"c{(i * 7) % 30} INTEGER" for i in range(30))  # names out of order, positions in order
    wh.execute(f"CREATE TABLE wide ({wide})")
    wh.execute("ALTER TABLE t ADD COLUMN a2 DATE")
    wh.execute("CREATE TEMPORARY TABLE wide_t AS SELECT * FROM wide")
    wh.execute("CREATE VIEW wide_v AS SELECT c14, c0, b FROM wide, t")
    wh._forget_catalog()
    for relation in ("wide", "t", "wide_t", "wide_v"):
        described = [r[0] for r in wh._conn.execute(f"DESCRIBE {relation}").fetchall()]
        assert names(wh.columns(relation)) == described
    assert reads(wh) == 1
