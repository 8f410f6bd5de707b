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


def spy(monkeypatch: pytest.MonkeyPatch, wh: DuckDBWarehouse, method: str) -> list[str]:
    """The first argument of each call of `wh.<method>`, which still runs."""
    calls: list[str] = []
    original = getattr(wh, method)

    def called(first: str, *rest: object, **named: object) -> object:
        calls.append(first)
        return original(first, *rest, **named)

    monkeypatch.setattr(wh, method, called)
    return calls


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> tuple[DuckDBWarehouse, list[str]]:
    wh = DuckDBWarehouse(":memory:")
    return wh, spy(monkeypatch, wh, "_lookup")


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


def _snapshots(wh: DuckDBWarehouse) -> list[str]:
    return [str(r[0]) for r in wh.query("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'migo_iter_%'")]


@pytest.mark.timeout(30)
def test_a_temporary_result_of_one_batch_is_read_straight_and_a_larger_one_paged(monkeypatch: pytest.MonkeyPatch) -> None:
    """A push reads its rows to send from its temporary table while it writes the ledger: a result of at
    most one batch is read whole at once (no snapshot table); a larger one still pages through a snapshot,
    in the query's order, each batch within the size, the connection free between batches."""
    wh = DuckDBWarehouse(":memory:")
    wh.load_arrow("send", rows(25), temporary=True)
    made = spy(monkeypatch, wh, "_pages")
    order = "SELECT row_key FROM send ORDER BY row_key DESC"
    whole = list(wh.iter_batches(order, batch_size=25))
    assert made == [] and _snapshots(wh) == []
    assert [k for b in whole for k in b.column(0).to_pylist()] == sorted((f"k{i}" for i in range(25)), reverse=True)
    assert all(b.num_rows <= 25 for b in whole)
    seen: list[str] = []
    for batch in wh.iter_batches(order, batch_size=10):
        assert batch.num_rows <= 10
        with wh.transaction():  # the caller writes between batches, as the push does
            wh.execute("DELETE FROM send WHERE row_key = ?", [batch.column(0)[0].as_py()])
        seen.extend(batch.column(0).to_pylist())
    assert len(made) == 1 and seen == [k for b in whole for k in b.column(0).to_pylist()]
    assert _snapshots(wh) == []  # dropped once read
    assert list(wh.iter_batches("SELECT * FROM send WHERE 1 = 0", batch_size=10)) == []
    with wh.transaction():  # inside a transaction it sees the transaction's rows
        wh.execute("DELETE FROM send")
        assert list(wh.iter_batches("SELECT * FROM send", batch_size=10)) == []
    wh.close()
