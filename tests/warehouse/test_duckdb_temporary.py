"""DuckDB remembers the temporary tables its loads made: a later load into one needs no catalog look-up,
and any DDL naming one makes it look again."""

from __future__ import annotations

import pyarrow as pa
import pytest

from migo_sync.warehouse.duckdb import DuckDBWarehouse

STAGE = pa.schema([("row_key", pa.string()), ("amount", pa.decimal128(18, 2)), ("at", pa.timestamp("us"))])


def rows(n: int) -> pa.Table:
    return pa.table({"row_key": [f"k{i}" for i in range(n)], "amount": pa.array([None] * n, pa.decimal128(18, 2)),
                     "at": pa.array([None] * n, pa.timestamp("us"))}, schema=STAGE)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> tuple[DuckDBWarehouse, list[str]]:
    wh = DuckDBWarehouse(":memory:")
    looked: list[str] = []
    original = wh._lookup

    def lookup(relation: str, temporary_only: bool) -> object:
        looked.append(relation)
        return original(relation, temporary_only)

    monkeypatch.setattr(wh, "_lookup", lookup)
    return wh, looked


def test_a_load_into_a_temporary_table_it_made_looks_nothing_up(counted: tuple[DuckDBWarehouse, list[str]]) -> None:
    wh, looked = counted
    assert wh.load_arrow("stage", rows(0), temporary=True, replace=True) == 0
    assert looked == ["stage"]  # it did not exist yet
    for n in (3, 2):
        with wh.transaction():
            assert wh.load_arrow("stage", rows(n), temporary=True, replace=True) == n
    assert looked == ["stage"]
    assert wh.query("SELECT COUNT(*) FROM stage") == [(2,)]
    other = pa.table({"row_key": ["x"]})  # another shape: recreated, then remembered as that
    assert wh.load_arrow("stage", other, temporary=True, replace=True) == 1
    assert wh.query("SELECT * FROM stage") == [("x",)]
    wh.close()


@pytest.mark.parametrize("ddl", ["DROP TABLE stage", "CREATE OR REPLACE TEMPORARY TABLE Stage (n INTEGER)",
                                 'ALTER TABLE "stage" ADD COLUMN extra VARCHAR'])
def test_ddl_naming_it_makes_the_next_load_look_again(counted: tuple[DuckDBWarehouse, list[str]], ddl: str) -> None:
    wh, looked = counted
    wh.load_arrow("stage", rows(1), temporary=True, replace=True)
    wh.execute("CREATE TEMPORARY TABLE stage_other (n INTEGER)")  # names another table only: still remembered
    wh.load_arrow("stage", rows(1), temporary=True, replace=True)
    assert looked == ["stage"]
    wh.execute(ddl)
    assert wh.load_arrow("stage", rows(2), temporary=True, replace=True) == 2
    assert looked == ["stage", "stage"]
    assert wh.query("SELECT row_key FROM stage ORDER BY 1") == [("k0",), ("k1",)]
    wh.close()
