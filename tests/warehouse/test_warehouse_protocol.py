"""The Warehouse protocol, the same tests on DuckDB and on Snowflake (fakesnow server)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from decimal import Decimal

import pyarrow as pa
import pytest

from migo_sync.errors import WarehouseError
from migo_sync.mapping.model import FieldType as F
from migo_sync.warehouse import canonical_text
from migo_sync.warehouse._sql import SQLWarehouse
from migo_sync.warehouse.base import ColumnDef, MergeCounts

ACCOUNTS = [ColumnDef("account_no", F.string), ColumnDef("title", F.string), ColumnDef("balance", F.decimal, 2),
            ColumnDef("opened_on", F.date), ColumnDef("active", F.boolean)]


Row = tuple[str, str | None, str | None, dt.date | None, bool | None]


def accounts(rows: Sequence[Row]) -> pa.Table:
    return pa.table({
        "account_no": pa.array([r[0] for r in rows], pa.string()),
        "title": pa.array([r[1] for r in rows], pa.string()),
        "balance": pa.array([Decimal(r[2]) if r[2] is not None else None for r in rows], pa.decimal128(18, 2)),
        "opened_on": pa.array([r[3] for r in rows], pa.date32()),
        "active": pa.array([r[4] for r in rows], pa.bool_()),
    })


D1 = dt.date(2026, 1, 2)
BASE: list[Row] = [("1000", "Cash", "10.00", D1, True), ("1100", "Loans", "250.50", D1, True), ("2000", "Borrowings", None, D1, False)]


def seed(wh: SQLWarehouse, rows: Sequence[Row] = BASE) -> None:
    wh.ensure_table("fin.accounts", ACCOUNTS, ["account_no"])
    wh.load_arrow("fin.accounts", accounts(rows))


def table_rows(wh: SQLWarehouse, table: str = "fin.accounts") -> list[tuple[object, ...]]:
    return wh.query(f"SELECT * FROM {table} ORDER BY 1")


# -- statements --------------------------------------------------------------------------------------


def test_execute_and_query_bind_parameters(wh: SQLWarehouse) -> None:
    wh.execute("CREATE TABLE notes (id INTEGER, body VARCHAR, day DATE)")
    wh.execute("INSERT INTO notes VALUES (?, ?, CAST(? AS DATE)), (?, ?, CAST(? AS DATE))",
               [1, "it's fine", "2026-01-02", 2, None, "2026-01-03"])
    assert wh.query("SELECT id, body, day FROM notes WHERE id >= ? ORDER BY id", [1]) == [
        (1, "it's fine", D1), (2, None, dt.date(2026, 1, 3))]


def test_a_refused_statement_is_a_warehouse_error(wh: SQLWarehouse) -> None:
    with pytest.raises(WarehouseError) as info:
        wh.query("SELECT * FROM no_such_table")
    assert "no_such_table" in str(info.value).lower()
    assert "\n" not in str(info.value)


def test_reserved_words_and_case_are_quoted_consistently(wh: SQLWarehouse) -> None:
    wh.ensure_table("fin.words", [ColumnDef("order", F.string), ColumnDef("Group", F.integer)], ["order"])
    wh.load_arrow("fin.words", pa.table({"order": ["a"], "group": pa.array([1], pa.int64())}))
    q = wh.quote
    assert wh.query(f"SELECT {q('order')}, {q('GROUP')} FROM {q('FIN.Words')}") == [("a", 1)]
    assert [c.name for c in wh.columns("fin.words") or []] == ["order", "Group" if wh.dialect == "duckdb" else "group"]


# -- reading -----------------------------------------------------------------------------------------


def test_iter_batches_streams_in_bounded_batches_with_lower_case_names(wh: SQLWarehouse) -> None:
    seed(wh, [(f"{i:04d}", f"t{i}", "1.00", D1, True) for i in range(25)])
    batches = list(wh.iter_batches("SELECT account_no, balance FROM fin.accounts ORDER BY account_no", batch_size=10))
    assert [b.num_rows for b in batches] == [10, 10, 5]
    assert batches[0].schema.names == ["account_no", "balance"]
    assert batches[0].column(0).to_pylist()[:2] == ["0000", "0001"]
    assert batches[2].column(0).to_pylist()[-1] == "0024"
    assert list(wh.iter_batches("SELECT * FROM fin.accounts WHERE 1 = 0")) == []


def test_iter_batches_lets_the_caller_write_between_batches(wh: SQLWarehouse) -> None:
    """The push engine records intent and confirmations while it streams the rows to send."""
    seed(wh, [(f"{i:04d}", None, "1.00", D1, True) for i in range(30)])
    wh.execute("CREATE TABLE fin.seen (account_no VARCHAR)")
    seen = 0
    for batch in wh.iter_batches("SELECT account_no FROM fin.accounts ORDER BY account_no", batch_size=7):
        with wh.transaction():
            wh.load_arrow("fin.seen", pa.table({"account_no": batch.column(0)}))
        seen += batch.num_rows
    assert seen == 30
    assert wh.query("SELECT COUNT(*) FROM fin.seen") == [(30,)]


def test_iter_batches_reads_temporary_tables_and_open_transactions(wh: SQLWarehouse) -> None:
    wh.load_arrow("work", accounts(BASE), temporary=True)
    assert sum(b.num_rows for b in wh.iter_batches("SELECT * FROM work", batch_size=2)) == 3
    with wh.transaction():
        wh.execute("DELETE FROM work WHERE account_no = ?", ["1000"])
        keys = [k for b in wh.iter_batches("SELECT account_no FROM work ORDER BY 1", batch_size=1)
                for k in b.column(0).to_pylist()]
        assert keys == ["1100", "2000"]


# -- metadata ----------------------------------------------------------------------------------------


def test_columns_are_typed_and_missing_relations_are_none(wh: SQLWarehouse) -> None:
    wh.ensure_table("fin.typed", [ColumnDef("s", F.string), ColumnDef("i", F.integer), ColumnDef("d", F.decimal, 4),
                                  ColumnDef("n", F.number), ColumnDef("b", F.boolean), ColumnDef("day", F.date),
                                  ColumnDef("at", F.timestamp)], ["s"])
    columns = wh.columns("fin.typed")
    assert columns is not None
    assert [(c.name, c.type, c.scale) for c in columns] == [
        ("s", "string", None), ("i", "integer", None), ("d", "decimal", 4), ("n", "number", None),
        ("b", "boolean", None), ("day", "date", None), ("at", "timestamp", None)]
    if wh.dialect == "duckdb":  # fakesnow reports every column nullable
        assert [c.nullable for c in columns][:2] == [False, True]
    assert wh.columns("fin.nothing_here") is None
    assert wh.columns("no_schema.nothing_here") is None


def test_columns_of_views_and_temporary_tables(wh: SQLWarehouse) -> None:
    seed(wh)
    wh.execute("CREATE VIEW fin.active_accounts AS SELECT account_no, balance FROM fin.accounts WHERE active")
    view = wh.columns("fin.active_accounts")
    assert [(c.name, c.type, c.scale) for c in view or []] == [("account_no", "string", None),
                                                               ("balance", "decimal", 2)]
    wh.load_arrow("scratch", pa.table({"k": ["x"], "v": pa.array([1.5])}), temporary=True)
    assert [(c.name, c.type) for c in wh.columns("scratch") or []] == [("k", "string"), ("v", "number")]


def test_query_columns_describes_without_running(wh: SQLWarehouse) -> None:
    seed(wh)
    columns = wh.query_columns(
        "SELECT account_no, CAST(balance AS DECIMAL(18, 3)) AS b3, CAST(1 AS INTEGER) AS one, "
        "CAST(1.5 AS DOUBLE) AS half, active, opened_on, CAST('2026-01-02 03:04:05' AS TIMESTAMP) AS at "
        "FROM fin.accounts;")
    assert [(c.name, c.type, c.scale) for c in columns] == [
        ("account_no", "string", None), ("b3", "decimal", 3), ("one", "integer", None), ("half", "number", None),
        ("active", "boolean", None), ("opened_on", "date", None), ("at", "timestamp", None)]
    with pytest.raises(WarehouseError):
        wh.query_columns("SELECT nope FROM fin.accounts")


# -- tables ------------------------------------------------------------------------------------------


def test_ensure_table_creates_schema_then_adds_missing_columns(wh: SQLWarehouse) -> None:
    wh.execute("CREATE TABLE home_table (x INTEGER)")
    seed(wh)
    wh.ensure_table("fin.accounts", [*ACCOUNTS, ColumnDef("region", F.string), ColumnDef("limit", F.decimal)],
                    ["account_no"])
    columns = {c.name: c for c in wh.columns("fin.accounts") or []}
    assert columns["region"].type == "string"
    assert (columns["limit"].type, columns["limit"].scale) == ("decimal", 2)
    assert len(table_rows(wh)) == 3
    wh.ensure_table("fin.accounts", ACCOUNTS, ["account_no"])  # idempotent, never drops a column
    assert len(wh.columns("fin.accounts") or []) == 7
    # Creating a schema must not move the session away from its own (Snowflake's CREATE SCHEMA does).
    assert wh.query("SELECT COUNT(*) FROM home_table") == [(0,)]


def test_ensure_tables_creates_the_missing_and_completes_the_others_with_one_look_up(
        wh: SQLWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ensure_table does to each, the columns of all looked up together: on Snowflake one
    catalog query per schema rather than a describe per table (a new connection's bookkeeping
    set-up is nine tables)."""
    wh.execute("CREATE TABLE home_table (x INTEGER)")
    seed(wh)
    wanted = {"fin.accounts": ([*ACCOUNTS, ColumnDef("region", F.string)], ["account_no"]),
              "fin.Region List": ([ColumnDef("region", F.string), ColumnDef("Full name", F.string)], ["region"]),
              "ops.flags": ([ColumnDef("flag", F.boolean)], [])}
    described: list[str] = []
    columns = wh.columns
    monkeypatch.setattr(wh, "columns", lambda name: described.append(name) or columns(name))
    assert wh.ensure_tables(wanted) == {"fin.accounts": False, "fin.Region List": True, "ops.flags": True}
    assert described == ([] if wh.dialect == "snowflake" else list(wanted))
    monkeypatch.undo()
    assert [c.name for c in wh.columns("fin.accounts") or []] == [*(c.name for c in ACCOUNTS), "region"]
    assert [c.name for c in wh.columns("fin.Region List") or []] == ["region", "Full name"]
    assert [(c.name, c.type) for c in wh.columns("ops.flags") or []] == [("flag", "boolean")]
    assert len(table_rows(wh)) == 3
    assert wh.ensure_tables(wanted) == dict.fromkeys(wanted, False)  # idempotent: quoted names found as stored
    assert [c.name for c in wh.columns("fin.Region List") or []] == ["region", "Full name"]
    assert wh.query("SELECT COUNT(*) FROM home_table") == [(0,)]  # still the session's own schema


def test_ensure_table_key_columns_are_not_null(wh: SQLWarehouse) -> None:
    seed(wh)
    with pytest.raises(WarehouseError):
        wh.execute("INSERT INTO fin.accounts (title) VALUES ('no key')")
    assert len(table_rows(wh)) == 3


# -- loading -----------------------------------------------------------------------------------------


def test_load_arrow_creates_appends_and_replaces(wh: SQLWarehouse) -> None:
    data = pa.table({
        "id": pa.array(["a", "b"]), "qty": pa.array([1, None], pa.int64()),
        "price": pa.array([Decimal("12.50"), Decimal("-0.05")], pa.decimal128(18, 2)),
        "rate": pa.array([0.25, None]), "ok": pa.array([True, None]), "day": pa.array([D1, None], pa.date32()),
        "at": pa.array([dt.datetime(2026, 1, 2, 3, 4, 5, 123456)] * 2, pa.timestamp("us")),
    })
    assert wh.load_arrow("fin.lines", data) == 2
    assert [(c.name, c.type, c.scale) for c in wh.columns("fin.lines") or []] == [
        ("id", "string", None), ("qty", "integer", None), ("price", "decimal", 2), ("rate", "number", None),
        ("ok", "boolean", None), ("day", "date", None), ("at", "timestamp", None)]
    assert table_rows(wh, "fin.lines") == [
        ("a", 1, Decimal("12.50"), 0.25, True, D1, dt.datetime(2026, 1, 2, 3, 4, 5, 123456)),
        ("b", None, Decimal("-0.05"), None, None, None, dt.datetime(2026, 1, 2, 3, 4, 5, 123456))]
    assert wh.load_arrow("fin.lines", data.slice(0, 1)) == 1
    assert wh.query("SELECT COUNT(*) FROM fin.lines") == [(3,)]
    assert wh.load_arrow("fin.lines", data.slice(1, 1), replace=True) == 1
    assert wh.query("SELECT id FROM fin.lines") == [("b",)]
    other = pa.table({"id": ["z"], "note": ["new shape"]})
    assert wh.load_arrow("fin.lines", other, replace=True) == 1
    assert [c.name for c in wh.columns("fin.lines") or []] == ["id", "note"]


def test_load_arrow_into_an_existing_table_matches_names_and_casts(wh: SQLWarehouse) -> None:
    seed(wh, [])
    subset = pa.table({"ACCOUNT_NO": ["3000"], "Balance": pa.array([7], pa.int64())})
    assert wh.load_arrow("fin.accounts", subset) == 1
    assert table_rows(wh) == [("3000", None, Decimal("7.00"), None, None)]
    with pytest.raises(WarehouseError, match="no column 'colour'"):
        wh.load_arrow("fin.accounts", pa.table({"account_no": ["x"], "colour": ["red"]}))


def test_load_arrow_of_no_rows_creates_the_table(wh: SQLWarehouse) -> None:
    assert wh.load_arrow("fin.empty", accounts([])) == 0
    assert wh.columns("fin.empty") is not None
    assert wh.query("SELECT COUNT(*) FROM fin.empty") == [(0,)]


def test_temporary_tables_take_unqualified_names(wh: SQLWarehouse) -> None:
    with pytest.raises(WarehouseError, match="unqualified"):
        wh.load_arrow("fin.tmp", accounts(BASE), temporary=True)
    assert wh.load_arrow("tmp_accounts", accounts(BASE), temporary=True) == 3
    assert wh.load_arrow("tmp_accounts", accounts(BASE[:1]), temporary=True, replace=True) == 1
    assert wh.query("SELECT COUNT(*) FROM tmp_accounts") == [(1,)]


# -- merge -------------------------------------------------------------------------------------------


def stage(wh: SQLWarehouse, rows: Sequence[Row]) -> str:
    wh.load_arrow("stage_accounts", accounts(rows), temporary=True, replace=True)
    return "stage_accounts"


COLUMNS = [c.name for c in ACCOUNTS]


def test_merge_counts_inserts_and_updates_only_rows_that_differ(wh: SQLWarehouse) -> None:
    wh.ensure_table("fin.accounts", ACCOUNTS, ["account_no"])
    assert wh.merge("fin.accounts", stage(wh, BASE), ["account_no"], COLUMNS) == MergeCounts(inserted=3)
    assert wh.merge("fin.accounts", stage(wh, BASE), ["account_no"], COLUMNS) == MergeCounts()
    changed = [BASE[0], ("1100", "Loans", "251.00", D1, True), BASE[2], ("3000", "Equity", None, None, None)]
    assert wh.merge("fin.accounts", stage(wh, changed), ["account_no"], COLUMNS) == MergeCounts(inserted=1, updated=1)
    null_to_value = [("2000", "Borrowings", "0.00", D1, False)]
    assert wh.merge("fin.accounts", stage(wh, null_to_value), ["account_no"], COLUMNS) == MergeCounts(updated=1)
    assert table_rows(wh) == [("1000", "Cash", Decimal("10.00"), D1, True),
                              ("1100", "Loans", Decimal("251.00"), D1, True),
                              ("2000", "Borrowings", Decimal("0.00"), D1, False),
                              ("3000", "Equity", None, None, None)]


def test_merge_with_delete_missing_mirrors_the_source(wh: SQLWarehouse) -> None:
    seed(wh)
    counts = wh.merge("fin.accounts", stage(wh, [BASE[1], ("4000", "Income", "1.00", D1, True)]), ["account_no"],
                      COLUMNS, delete_missing=True)
    assert counts == MergeCounts(inserted=1, updated=0, deleted=2)
    assert [r[0] for r in table_rows(wh)] == ["1100", "4000"]


def test_merge_of_key_columns_only_never_updates(wh: SQLWarehouse) -> None:
    seed(wh)
    counts = wh.merge("fin.accounts", stage(wh, [("1000", "Renamed", None, None, None), ("5000", None, None, None, None)]),
                      ["account_no"], ["account_no"])
    assert counts == MergeCounts(inserted=1)
    assert table_rows(wh)[0][1] == "Cash"


def test_merge_refuses_duplicate_or_empty_keys_and_changes_nothing(wh: SQLWarehouse) -> None:
    seed(wh)
    before = table_rows(wh)
    with pytest.raises(WarehouseError, match=r"1 key\(s\) appear more than once.*'1000'"):
        wh.merge("fin.accounts", stage(wh, [("1000", "A", None, None, None), ("1000", "B", None, None, None)]),
                 ["account_no"], COLUMNS)
    wh.load_arrow("stage_accounts", pa.table({"account_no": pa.array([None], pa.string()), "title": ["x"]}),
                  temporary=True, replace=True)
    with pytest.raises(WarehouseError, match="empty key"):
        wh.merge("fin.accounts", "stage_accounts", ["account_no"], ["account_no", "title"])
    assert table_rows(wh) == before


def staging_made_before(wh: SQLWarehouse) -> str:
    """The staging table a pull makes before its first transaction (DDL inside one would commit it)."""
    wh.load_arrow("stage_arrow", accounts([]), temporary=True, replace=True)
    return "stage_arrow"


def test_merge_arrow_merges_as_merge_does_to_the_cent(wh: SQLWarehouse) -> None:
    wh.ensure_table("fin.accounts", ACCOUNTS, ["account_no"])
    staging = staging_made_before(wh)
    assert wh.merge_arrow("fin.accounts", accounts(BASE), staging, ["account_no"], COLUMNS) == MergeCounts(inserted=3)
    assert wh.merge_arrow("fin.accounts", accounts(BASE), staging, ["account_no"], COLUMNS) == MergeCounts()
    changed = [("1100", "Loans", "250.51", D1, True), ("3000", "Equity", "0.01", None, None)]
    assert wh.merge_arrow("fin.accounts", accounts(changed), staging, ["account_no"], COLUMNS) == \
        MergeCounts(inserted=1, updated=1)  # the staging table held only this batch
    assert table_rows(wh) == [("1000", "Cash", Decimal("10.00"), D1, True),
                              ("1100", "Loans", Decimal("250.51"), D1, True),
                              ("2000", "Borrowings", None, D1, False),
                              ("3000", "Equity", Decimal("0.01"), None, None)]
    with pytest.raises(RuntimeError), wh.transaction():  # inside the caller's transaction: all or nothing
        wh.merge_arrow("fin.accounts", accounts([("4000", "Income", "1.00", D1, True)]), staging, ["account_no"],
                       COLUMNS)
        raise RuntimeError("crash before the cursor is saved")
    assert [r[0] for r in table_rows(wh)] == ["1000", "1100", "2000", "3000"]


def test_merge_arrow_deleting_missing_keys_lands_as_merge_does(wh: SQLWarehouse) -> None:
    """A mirror read whole in one page: merged straight from Arrow with the keys it lacks deleted, exactly
    as merge() from a staged copy deletes them (same counts, same rows, to the cent)."""
    page = [("1000", "Cash", "10.01", D1, True), ("3000", "Equity", "0.01", None, None)]
    seed(wh)
    wh.load_arrow("stage_copy", accounts(page), temporary=True, replace=True)
    staged = wh.merge("fin.accounts", "stage_copy", ["account_no"], COLUMNS, delete_missing=True)
    landed = table_rows(wh)
    wh.execute("DROP TABLE fin.accounts")
    seed(wh)
    staging = staging_made_before(wh)
    assert wh.merge_arrow("fin.accounts", accounts(page), staging, ["account_no"], COLUMNS,
                          delete_missing=True) == staged == MergeCounts(inserted=1, updated=1, deleted=2)
    assert table_rows(wh) == landed == [("1000", "Cash", Decimal("10.01"), D1, True),
                                        ("3000", "Equity", Decimal("0.01"), None, None)]


def test_a_new_target_gets_what_the_merge_gives_it_whether_empty_or_not(wh: SQLWarehouse) -> None:
    """`new` (the caller made the target and merged nothing into it): the same counts and rows as the
    merge, into an empty table (DuckDB inserts) and into one that holds rows after all (the merge)."""
    assert wh.ensure_table("fin.accounts", ACCOUNTS, ["account_no"]) is True
    assert wh.ensure_table("fin.accounts", ACCOUNTS, ["account_no"]) is False
    staging = staging_made_before(wh)
    assert wh.merge_arrow("fin.accounts", accounts(BASE), staging, ["account_no"], COLUMNS, new=True) == \
        MergeCounts(inserted=3)
    merged = table_rows(wh)
    wh.execute("DROP TABLE fin.accounts")
    wh.ensure_table("fin.accounts", ACCOUNTS, ["account_no"])
    assert wh.merge_arrow("fin.accounts", accounts(BASE), staging, ["account_no"], COLUMNS) == MergeCounts(inserted=3)
    assert table_rows(wh) == merged
    changed = [("1100", "Loans", "250.51", D1, True), ("3000", "Equity", "0.01", None, None)]
    assert wh.merge_arrow("fin.accounts", accounts(changed), staging, ["account_no"], COLUMNS, new=True) == \
        MergeCounts(inserted=1, updated=1)  # not empty after all: merged, no key twice
    assert [r[0] for r in table_rows(wh)] == ["1000", "1100", "2000", "3000"]
    assert table_rows(wh)[1] == ("1100", "Loans", Decimal("250.51"), D1, True)
    twice = accounts([("1000", "A", None, None, None), ("1000", "B", None, None, None)])
    wh.execute("DROP TABLE fin.accounts")
    wh.ensure_table("fin.accounts", ACCOUNTS, ["account_no"])
    with pytest.raises(WarehouseError, match=r"1 key\(s\) appear more than once"):
        wh.merge_arrow("fin.accounts", twice, staging, ["account_no"], COLUMNS, new=True)
    with pytest.raises(RuntimeError), wh.transaction():  # inside the caller's transaction: all or nothing
        wh.merge_arrow("fin.accounts", accounts(BASE), staging, ["account_no"], COLUMNS, new=True)
        raise RuntimeError("crash before the cursor is saved")
    assert table_rows(wh) == []


def test_merge_arrow_refuses_duplicate_or_empty_keys_as_merge_does(wh: SQLWarehouse) -> None:
    seed(wh)
    before = table_rows(wh)
    staging = staging_made_before(wh)
    twice = accounts([("1000", "A", None, None, None), ("1000", "B", None, None, None), ("9", "C", None, None, None)])
    with pytest.raises(WarehouseError, match=r"^merge into fin.accounts: 1 key\(s\) appear more than once in the "
                                             r"source \(e.g. '1000'\); a key \(account_no\) must identify one row$"):
        wh.merge_arrow("fin.accounts", twice, staging, ["account_no"], COLUMNS)
    empty = pa.table({"account_no": pa.array(["7", None], pa.string()), "title": ["x", "y"]})
    with pytest.raises(WarehouseError, match=r"^merge into fin.accounts: 1 source row\(s\) have an empty key "
                                             r"\(account_no\)$"):
        wh.merge_arrow("fin.accounts", empty, staging, ["account_no"], ["account_no", "title"])
    assert table_rows(wh) == before


# -- transactions ------------------------------------------------------------------------------------


def test_transaction_commits_or_rolls_back_as_a_whole(wh: SQLWarehouse) -> None:
    seed(wh)
    with pytest.raises(RuntimeError), wh.transaction():
        wh.merge("fin.accounts", stage(wh, [("6000", "Opex", None, None, None)]), ["account_no"], COLUMNS)
        wh.execute("DELETE FROM fin.accounts WHERE account_no = '1000'")
        raise RuntimeError("crash between the data and the bookkeeping")
    assert [r[0] for r in table_rows(wh)] == ["1000", "1100", "2000"]
    with wh.transaction():
        wh.merge("fin.accounts", stage(wh, [("6000", "Opex", None, None, None)]), ["account_no"], COLUMNS)
        with wh.transaction():  # an inner block joins the outer one
            wh.execute("DELETE FROM fin.accounts WHERE account_no = '1000'")
    assert [r[0] for r in table_rows(wh)] == ["1100", "2000", "6000"]


def test_a_swallowed_inner_failure_still_rolls_everything_back(wh: SQLWarehouse) -> None:
    seed(wh)
    with pytest.raises(WarehouseError, match="rolled back"), wh.transaction():
        wh.execute("DELETE FROM fin.accounts WHERE account_no = '1000'")
        try:
            with wh.transaction():
                wh.execute("DELETE FROM fin.accounts WHERE account_no = '1100'")
                raise ValueError("inner")
        except ValueError:
            pass
    assert len(table_rows(wh)) == 3


def test_ddl_after_a_write_in_a_transaction_is_refused(wh: SQLWarehouse) -> None:
    """On Snowflake it would silently commit the first half; both engines refuse it."""
    seed(wh)
    with pytest.raises(WarehouseError, match="DDL inside a transaction"), wh.transaction():
        wh.execute("DELETE FROM fin.accounts WHERE account_no = '1000'")
        wh.load_arrow("late_stage", accounts(BASE), temporary=True)
    assert len(table_rows(wh)) == 3
    with wh.transaction():  # DDL before the first write is fine: nothing is pending yet
        wh.load_arrow("early_stage", accounts(BASE[:1]), temporary=True, replace=True)
        wh.execute("DELETE FROM fin.accounts WHERE account_no IN (SELECT account_no FROM early_stage)")
        wh.load_arrow("early_stage", accounts(BASE[1:2]), temporary=True, replace=True)  # same shape: no DDL
        wh.execute("DELETE FROM fin.accounts WHERE account_no IN (SELECT account_no FROM early_stage)")
    assert [r[0] for r in table_rows(wh)] == ["2000"]


# -- canonical text and hashes -----------------------------------------------------------------------

PINNED_TEXT = "a\x1f1\x1f12.50\x1f2026-01-02\x1f\\N"
PINNED_MD5 = "e603f26707ded01b9b63757c87508a99"


def test_row_hash_of_the_pinned_row(wh: SQLWarehouse) -> None:
    wh.ensure_table("fin.pinned", [ColumnDef("s", F.string), ColumnDef("i", F.integer), ColumnDef("d", F.decimal, 2),
                                   ColumnDef("day", F.date), ColumnDef("missing", F.string)], ["s"])
    wh.execute("INSERT INTO fin.pinned VALUES ('a', 1, 12.50, CAST('2026-01-02' AS DATE), NULL)")
    cols = ["s", "i", "d", "day", "missing"]
    text, digest = wh.query(f"SELECT {wh.key_sql(cols, alias='p')}, {wh.row_hash_sql(cols, alias='p')} "
                            f"FROM fin.pinned AS p")[0]
    assert text == PINNED_TEXT == canonical_text(["a", 1, Decimal("12.50"), dt.date(2026, 1, 2), None])
    assert digest == hashlib.md5(PINNED_TEXT.encode()).hexdigest() == PINNED_MD5


def test_canonical_text_agrees_with_python_for_loaded_values(wh: SQLWarehouse) -> None:
    """Booleans, negative and zero-padded decimals, NULLs everywhere: the same text on both engines."""
    rows = [("1000", "Cash; \"quoted\"", "-0.50", D1, True), ("2000", None, None, None, False),
            ("3000", "Ünïcode ✓", "1000000.00", dt.date(1999, 12, 31), None)]
    seed(wh, rows)
    got = wh.query(f"SELECT {wh.key_sql(COLUMNS)}, {wh.row_hash_sql(COLUMNS)} FROM fin.accounts ORDER BY 1")
    expected = [canonical_text([r[0], r[1], Decimal(r[2]) if r[2] else None, r[3], r[4]]) for r in rows]
    assert [g[0] for g in got] == expected
    assert [g[1] for g in got] == [hashlib.md5(e.encode()).hexdigest() for e in expected]
    assert wh.query(f"SELECT {wh.key_sql(['account_no', 'active'])} FROM fin.accounts ORDER BY 1") == [
        ("1000\x1ftrue",), ("2000\x1ffalse",), ("3000\x1f\\N",)]


def test_iter_batches_reads_the_temporary_table_that_shadows_a_permanent_one(wh: SQLWarehouse) -> None:
    wh.load_arrow("shadowed", accounts(BASE[:1]))
    wh.load_arrow("shadowed", accounts(BASE), temporary=True)
    assert wh.query("SELECT COUNT(*) FROM shadowed") == [(3,)]
    assert sum(b.num_rows for b in wh.iter_batches("SELECT * FROM shadowed")) == 3


def test_temporary_tables_made_by_plain_sql_are_reused_by_load_arrow(wh: SQLWarehouse) -> None:
    wh.execute("CREATE TEMPORARY TABLE migo_snap_x AS SELECT CAST('a' AS VARCHAR) AS k")
    assert wh.load_arrow("migo_snap_x", pa.table({"k": ["b", "c"]}), temporary=True) == 2
    assert wh.query("SELECT COUNT(*) FROM migo_snap_x") == [(3,)]
    wh.execute("DROP TABLE IF EXISTS migo_snap_x")
    assert wh.load_arrow("migo_snap_x", pa.table({"k": ["d"]}), temporary=True) == 1
    assert wh.query("SELECT k FROM migo_snap_x") == [("d",)]
