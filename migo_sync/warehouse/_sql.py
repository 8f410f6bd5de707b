"""What the DuckDB and Snowflake warehouses share: transactions, the DDL guard, MERGE and hash SQL.

Transactions follow Snowflake's rules on both engines, so code tested on DuckDB behaves the same
in production: a DDL statement (CREATE, ALTER, DROP …) commits an open Snowflake transaction. So
`transaction()` sends BEGIN lazily, just before the block's first write; DDL before that runs on
its own (nothing is pending yet), DDL after it raises WarehouseError instead of silently committing
half a batch. Nested `transaction()` blocks join the outer one; an exception in an inner block
marks the whole transaction for rollback even when the outer block swallows it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from migo_sync.errors import WarehouseError
from migo_sync.warehouse.base import Column, ColumnDef, MergeCounts, Relations, ViewDef

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("migo_sync.warehouse")

DEFAULT_SCALE = 2
SEPARATOR_SQL = "CHR(31)"

_LEADING = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*([A-Za-z]+)", re.S)
_DDL = frozenset({"CREATE", "ALTER", "DROP", "UNDROP", "COMMENT", "GRANT", "REVOKE"})
_READS = frozenset({"SELECT", "FROM", "VALUES", "DESCRIBE", "DESC", "SHOW", "EXPLAIN", "USE", "SET", "PRAGMA",
                    "PUT", "GET", "LIST", "LS", "REMOVE", "RM", "SUMMARIZE"})
_WRITE_WORDS = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.I)
_SCHEMA_WORDS = re.compile(r"\b(SCHEMA|DATABASE)\b", re.I)


def statement_kind(sql: str) -> str:
    """'ddl', 'read' or 'write' (anything unknown counts as a write, so it runs inside BEGIN)."""
    match = _LEADING.match(sql)
    word = match.group(1).upper() if match else ""
    if word in _DDL:
        return "ddl"
    if word in _READS or (word == "WITH" and not _WRITE_WORDS.search(sql)):
        return "read"
    return "write"


def split_name(name: str) -> list[str]:
    """'schema.table' → ['schema', 'table']; the protocol passes unquoted identifiers."""
    parts = name.split(".")
    if not all(parts):
        raise WarehouseError(f"'{name}' is not a table name")
    return parts


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unique(names: Sequence[str]) -> list[str]:
    """Names without case-insensitive repeats, first spelling kept."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out


def arrow_field_type(field: pa.Field) -> tuple[str, int | None]:
    """The migo-sync type an Arrow field loads as: (FieldType name or 'other', scale)."""
    import pyarrow as pa

    t = field.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t) or _is_string_view(t):
        return "string", None
    if pa.types.is_integer(t):
        return "integer", None
    if pa.types.is_decimal(t):
        return "decimal", int(t.scale)
    if pa.types.is_floating(t):
        return "number", None
    if pa.types.is_boolean(t):
        return "boolean", None
    if pa.types.is_date(t):
        return "date", None
    if pa.types.is_timestamp(t):
        return "timestamp", None
    return "other", None


def _is_string_view(t: Any) -> bool:
    import pyarrow as pa

    check = getattr(pa.types, "is_string_view", None)
    return bool(check and check(t))


class SQLWarehouse:
    """The dialect-neutral half of a warehouse; subclasses supply the engine calls."""

    dialect: str = "sql"
    state_schema: str
    null_text: str = "'\\N'"  # the SQL literal for the two characters \N
    primary_keys = True  # declare the key as PRIMARY KEY in ensure_table (key columns are NOT NULL anyway)
    merges_from_arrow = False  # merge_arrow loads its staging table first (Warehouse.merges_from_arrow)
    types: dict[str, str] = {}  # migo-sync type → column type; decimals use decimal_type
    decimal_type = "DECIMAL(38, {scale})"

    def __init__(self, state_schema: str) -> None:
        self.state_schema = state_schema
        self._depth = 0
        self._begun = False
        self._doomed = False
        # schemas (quoted) this connection created or found: a fresh state schema's nine tables need one
        # CREATE SCHEMA, not nine (on Snowflake each is two statements, ~30 ms each even on loopback)
        self._schemas: set[str] = set()

    # -- engine hooks ---------------------------------------------------------------------------

    def _run(self, sql: str, params: Sequence[Any] | None, fetch: bool) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def quote_part(self, part: str) -> str:
        raise NotImplementedError

    def sql_type(self, type_: str, scale: int | None) -> str:
        if type_ == "decimal":
            return self.decimal_type.format(scale=DEFAULT_SCALE if scale is None else scale)
        try:
            return self.types[type_]
        except KeyError:
            raise WarehouseError(f"no {self.dialect} column type for '{type_}'") from None

    def columns(self, relation: str) -> list[Column] | None:
        raise NotImplementedError

    def query_columns(self, sql: str) -> list[Column]:
        raise NotImplementedError

    def iter_batches(self, sql: str, params: Sequence[Any] | None = None,
                     batch_size: int = 10_000) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def load_arrow(self, table: str, data: pa.Table, *, temporary: bool = False, replace: bool = False) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def relations(self) -> Relations:
        """From information_schema, which DuckDB and Snowflake both keep (Snowflake's lists only what
        the role may see; VIEW_DEFINITION is NULL where the role may not read the definition)."""
        (database, schema), = self.query("SELECT current_database(), current_schema()")
        views = self.query("SELECT table_schema, table_name, view_definition FROM information_schema.views "
                           "WHERE table_catalog = current_database()")
        tables = self.query("SELECT table_schema, table_name FROM information_schema.tables "
                            "WHERE table_catalog = current_database()") if views else []  # only views need them
        defs = tuple(ViewDef(str(s).lower(), str(n).lower(), None if sql is None else str(sql)) for s, n, sql in views)
        names = {(str(s).lower(), str(n).lower()) for s, n in tables} | {(v.schema, v.name) for v in defs}
        return Relations(str(schema or "").lower(), defs, frozenset(names), str(database or "").lower())

    def _temporary_columns(self, table: str) -> list[Column] | None:
        """Columns of this session's temporary table `table` (not of a permanent namesake)."""
        raise NotImplementedError

    def _create_schema(self, schema: str) -> None:
        """CREATE SCHEMA IF NOT EXISTS once per connection and schema; any DDL naming a schema or
        a database (a DROP SCHEMA, say) makes the next call create it again."""
        if schema not in self._schemas:
            self._make_schema(schema)
            self._schemas.add(schema)

    def _make_schema(self, schema: str) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")

    def _merge_statement(self, target: str, source: str, key: Sequence[str], insert_cols: Sequence[str],
                         update_cols: Sequence[str], delete_missing: bool) -> MergeCounts:
        raise NotImplementedError

    # -- statements -----------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self._statement(sql, params, fetch=False)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self._statement(sql, params, fetch=True)

    def _statement(self, sql: str, params: Sequence[Any] | None, fetch: bool) -> list[tuple[Any, ...]]:
        kind = statement_kind(sql)
        self._prepare(kind, sql)
        if kind == "ddl" and self._schemas and _SCHEMA_WORDS.search(sql):
            self._schemas.clear()
        log.debug("sql: %s", sql)
        return self._run(sql, params, fetch)

    def _prepare(self, kind: str, sql: str) -> None:
        """Inside transaction(): BEGIN before the first write; refuse DDL once BEGIN was sent."""
        if not self._depth:
            return
        if kind == "ddl":
            if self._begun:
                statement = " ".join(sql.split())[:80]
                raise WarehouseError(
                    f"DDL inside a transaction after its first write ({statement}): Snowflake would commit "
                    "the transaction there; create or alter tables before the transaction writes")
        elif kind == "write" and not self._begun:
            self._begin()
            self._begun = True

    @property
    def in_transaction(self) -> bool:
        """True once the open transaction has sent BEGIN (it holds uncommitted writes)."""
        return self._begun

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        outermost = self._depth == 0
        self._depth += 1
        raised = False
        try:
            yield
        except BaseException:
            raised = True
            self._doomed = True
            raise
        finally:
            self._depth -= 1
            if outermost and self._finish() and not raised:
                raise WarehouseError("an inner transaction block failed and its error was caught; "
                                     "the whole transaction was rolled back")

    def transaction(self) -> AbstractContextManager[None]:
        """BEGIN … COMMIT, or ROLLBACK when the block raises. Inner blocks join the outer one."""
        return self._transaction()

    def _finish(self) -> bool:
        """COMMIT, or ROLLBACK when doomed; True when writes were rolled back."""
        begun, doomed = self._begun, self._doomed
        self._begun = self._doomed = False
        if not begun:
            return False
        if doomed:
            self._rollback()
            return True
        try:
            self._commit()
        except BaseException:
            self._rollback()
            raise
        return False

    # -- names and SQL builders -----------------------------------------------------------------

    def quote(self, name: str) -> str:
        return ".".join(self.quote_part(p) for p in split_name(name))

    def _column_list(self, columns: Sequence[str], alias: str | None) -> list[str]:
        if not columns:
            raise WarehouseError("a row hash or key needs at least one column")
        prefix = f"{alias}." if alias else ""
        return [f"COALESCE(CAST({prefix}{self.quote_part(c)} AS VARCHAR), {self.null_text})" for c in columns]

    def key_sql(self, columns: Sequence[str], alias: str | None = None) -> str:
        return f"CONCAT_WS({SEPARATOR_SQL}, {', '.join(self._column_list(columns, alias))})"

    def row_hash_sql(self, columns: Sequence[str], alias: str | None = None) -> str:
        return f"MD5({self.key_sql(columns, alias)})"

    # -- tables ---------------------------------------------------------------------------------

    def ensure_table(self, name: str, columns: Sequence[ColumnDef], key: Sequence[str]) -> bool:
        existing = self.columns(name)
        return self._ensure_table(name, columns, key, None if existing is None else [c.name for c in existing])

    def ensure_tables(self, tables: Mapping[str, tuple[Sequence[ColumnDef], Sequence[str]]]) -> dict[str, bool]:
        found = self._column_names(list(tables))
        return {name: self._ensure_table(name, columns, key, found.get(name)) for name, (columns, key) in tables.items()}

    def _column_names(self, tables: Sequence[str]) -> dict[str, list[str]]:
        """Column names of those of `tables` that exist (one look-up each here; Snowflake asks its
        catalog once)."""
        found = {name: self.columns(name) for name in tables}
        return {name: [c.name for c in columns] for name, columns in found.items() if columns is not None}

    def _ensure_table(self, name: str, columns: Sequence[ColumnDef], key: Sequence[str],
                      existing: list[str] | None) -> bool:
        """Create `name` when `existing` (its column names, None: no such table) says it is missing,
        else add the columns it lacks; True when it created it."""
        if existing is None:
            parts = split_name(name)
            if len(parts) > 1:
                self._create_schema(".".join(self.quote_part(p) for p in parts[:-1]))
            keys = {k.lower() for k in key}
            defs = [f"{self.quote_part(c.name)} {self.sql_type(str(c.type), c.scale)}"
                    + (" NOT NULL" if c.name.lower() in keys else "") for c in columns]
            if key and self.primary_keys:
                defs.append(f"PRIMARY KEY ({', '.join(self.quote_part(k) for k in key)})")
            self.execute(f"CREATE TABLE IF NOT EXISTS {self.quote(name)} ({', '.join(defs)})")
            return True
        have = {c.lower() for c in existing}
        for c in columns:
            if c.name.lower() not in have:
                self.execute(f"ALTER TABLE {self.quote(name)} ADD COLUMN {self.quote_part(c.name)} "
                             f"{self.sql_type(str(c.type), c.scale)}")
        return False

    def _arrow_matches(self, existing: Sequence[Column], schema: pa.Schema) -> bool:
        """Does an existing table have exactly the Arrow schema's columns and types?"""
        if len(existing) != len(schema):
            return False
        by_name = {c.name.lower(): c for c in existing}
        for field in schema:
            column = by_name.get(field.name.lower())
            type_, scale = arrow_field_type(field)
            if column is None or column.type != type_ or (type_ == "decimal" and column.scale != scale):
                return False
        return True

    def _target_columns(self, table: str, existing: Sequence[Column], schema: pa.Schema) -> list[Column]:
        """The table's columns matching the Arrow fields, in field order; unknown fields refused."""
        by_name = {c.name.lower(): c for c in existing}
        unknown = [f.name for f in schema if f.name.lower() not in by_name]
        if unknown:
            raise WarehouseError(f"load into {table}: no column {', '.join(repr(u) for u in unknown)} in the table "
                                 f"(it has {', '.join(c.name for c in existing)})")
        return [by_name[f.name.lower()] for f in schema]

    def _create_from_arrow(self, table: str, schema: pa.Schema, temporary: bool,
                           other_type: Callable[[pa.Field], str]) -> None:
        parts = split_name(table)
        if temporary and len(parts) > 1:
            raise WarehouseError(f"temporary table '{table}': give an unqualified name (it lives in the session)")
        if not temporary and len(parts) > 1:
            self._create_schema(".".join(self.quote_part(p) for p in parts[:-1]))
        defs = []
        for field in schema:
            type_, scale = arrow_field_type(field)
            sql_type = other_type(field) if type_ == "other" else self.sql_type(type_, scale)
            defs.append(f"{self.quote_part(field.name)} {sql_type}")
        kind = "TEMPORARY TABLE" if temporary else "TABLE"
        self.execute(f"CREATE {kind} {self.quote(table)} ({', '.join(defs)})")

    def _prepare_load(self, table: str, data: pa.Table, temporary: bool, replace: bool,
                      other_type: Callable[[pa.Field], str]) -> list[Column] | None:
        """Create, empty or recreate `table` for a load; returns its columns (None: just created)."""
        existing = self._temporary_columns(table) if temporary else self.columns(table)
        if existing is not None and replace:
            if self._arrow_matches(existing, data.schema):
                self.execute(f"DELETE FROM {self.quote(table)}")  # a write: fine inside a transaction
                return existing
            self.execute(f"DROP TABLE {self.quote(table)}")
            existing = None
        if existing is None:
            self._create_from_arrow(table, data.schema, temporary, other_type)
            return None
        return existing

    # -- merge ----------------------------------------------------------------------------------

    def merge(self, target: str, source: str, key: Sequence[str], columns: Sequence[str], *,
              delete_missing: bool = False) -> MergeCounts:
        if not key:
            raise WarehouseError(f"merge into {target}: a key is required")
        with self.transaction():
            self._check_source_keys(target, source, key)
            return self._merge_rows(target, source, key, columns, delete_missing)

    def _merge_rows(self, target: str, source: str, key: Sequence[str], columns: Sequence[str],
                    delete_missing: bool) -> MergeCounts:
        """The merge itself, its source's keys already checked."""
        keys = {k.lower() for k in key}
        insert_cols = unique([*key, *columns])
        update_cols = [c for c in unique(columns) if c.lower() not in keys]
        return self._merge_statement(target, source, key, insert_cols, update_cols, delete_missing)

    def merge_arrow(self, target: str, data: pa.Table, staging: str, key: Sequence[str],
                    columns: Sequence[str], *, delete_missing: bool = False, new: bool = False) -> MergeCounts:
        """The keys checked in Arrow (no query), the data loaded into `staging` (emptied first; on
        Snowflake a Parquet file PUT into the table's stage and COPY INTO it, as write_pandas does),
        then merged from it: one transaction."""
        if not key:
            raise WarehouseError(f"merge into {target}: a key is required")
        check_arrow_keys(target, data, key)
        with self.transaction():
            self.execute(f"DELETE FROM {self.quote(staging)}")
            self.load_arrow(staging, data, temporary=True)
            return self._merge_rows(target, staging, key, columns, delete_missing)

    def _check_source_keys(self, target: str, source: str, key: Sequence[str]) -> None:
        """A key must name one row: duplicates or NULLs would merge unpredictably, so refuse them."""
        src = self.quote(source)
        cols = ", ".join(self.quote_part(k) for k in key)
        nulls = " OR ".join(f"{self.quote_part(k)} IS NULL" for k in key)
        dup, null = self.query(
            f"SELECT (SELECT COUNT(*) FROM (SELECT {cols} FROM {src} GROUP BY {cols} HAVING COUNT(*) > 1) d), "
            f"(SELECT COUNT(*) FROM {src} WHERE {nulls})")[0]
        if int(dup or 0):
            sample = self.query(f"SELECT {self.key_sql(key)} FROM {src} GROUP BY {cols} HAVING COUNT(*) > 1 "
                                f"ORDER BY 1 LIMIT 3")
            _refuse_keys(target, key, int(dup), [str(r[0]).replace("\x1f", "|") for r in sample], 0)
        _refuse_keys(target, key, 0, [], int(null or 0))

    def merge_sql(self, target: str, source_sql: str, key: Sequence[str], insert_cols: Sequence[str],
                  update_cols: Sequence[str], *, delete_clause: bool) -> str:
        """MERGE that inserts new keys and updates only rows whose values differ."""
        q = self.quote_part
        on = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in key)
        sql = f"MERGE INTO {self.quote(target)} AS t USING {source_sql} AS s ON {on}"
        if update_cols:
            differs = " OR ".join(f"t.{q(c)} IS DISTINCT FROM s.{q(c)}" for c in update_cols)
            sets = ", ".join(f"{q(c)} = s.{q(c)}" for c in update_cols)
            sql += f" WHEN MATCHED AND ({differs}) THEN UPDATE SET {sets}"
        sql += (f" WHEN NOT MATCHED THEN INSERT ({', '.join(q(c) for c in insert_cols)}) "
                f"VALUES ({', '.join(f's.{q(c)}' for c in insert_cols)})")
        if delete_clause:
            sql += " WHEN NOT MATCHED BY SOURCE THEN DELETE"
        return sql

    def delete_missing_sql(self, target: str, source: str, key: Sequence[str]) -> str:
        on = " AND ".join(f"s.{self.quote_part(k)} = t.{self.quote_part(k)}" for k in key)
        return (f"DELETE FROM {self.quote(target)} AS t "
                f"WHERE NOT EXISTS (SELECT 1 FROM {self.quote(source)} AS s WHERE {on})")


def check_arrow_keys(target: str, data: pa.Table, key: Sequence[str]) -> None:
    """`_check_source_keys` on an Arrow table, without a query: the same refusals and messages."""
    import pyarrow.compute as pc

    groups = data.select(list(key)).group_by(list(key), use_threads=False).aggregate([([], "count_all")])
    twice = groups.filter(pc.greater(groups.column("count_all"), 1))
    shown = sorted("|".join("\\N" if v is None else str(v) for v in row.values())
                   for row in twice.drop_columns(["count_all"]).to_pylist())[:3]
    missing = functools.reduce(pc.or_, [pc.is_null(data.column(k)) for k in key])
    nulls = int(pc.sum(missing).as_py() or 0)
    _refuse_keys(target, key, twice.num_rows, shown, nulls)


def _refuse_keys(target: str, key: Sequence[str], duplicated: int, sample: Sequence[str], empty: int) -> None:
    if duplicated:
        shown = ", ".join(repr(s) for s in sample)
        raise WarehouseError(f"merge into {target}: {duplicated} key(s) appear more than once in the source "
                             f"(e.g. {shown}); a key ({', '.join(key)}) must identify one row")
    if empty:
        raise WarehouseError(f"merge into {target}: {empty} source row(s) have an empty key ({', '.join(key)})")
