"""The warehouse protocol: the one place the engine touches SQL engines.

Two implementations, DuckDB (`duckdb.py`, the embedded default) and Snowflake (`snowflake.py`),
hold every SQL difference; the engine and the bookkeeping use only this protocol.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from migo_sync.mapping.model import FieldType


@dataclass(frozen=True)
class Column:
    """A warehouse column. `type` is normalised to a migo-sync FieldType name
    (string, integer, decimal, number, boolean, date, timestamp) or "other"."""

    name: str
    type: str
    raw_type: str
    nullable: bool = True
    scale: int | None = None


@dataclass(frozen=True)
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class ViewDef:
    """A view as the warehouse holds it: lower-case schema and name, and its definition (the
    CREATE VIEW statement or its query; None when this role may not see it, e.g. a secure view)."""

    schema: str
    name: str
    sql: str | None


@dataclass(frozen=True)
class Relations:
    """The current database's tables and views, for lineage through views."""

    default_schema: str
    views: tuple[ViewDef, ...]
    tables: frozenset[tuple[str, str]]  # (schema, name) of every table and view, lower case
    database: str = ""  # the current database (lower case): the only one whose views are listed


@dataclass(frozen=True)
class ColumnDef:
    """A column to create: name, migo-sync type and (for decimals) scale."""

    name: str
    type: FieldType
    scale: int | None = None


class Warehouse(Protocol):
    """What the engine needs from a warehouse. All names passed in are unquoted identifiers
    (optionally schema-qualified); implementations quote them."""

    dialect: str
    state_schema: str
    # merge_arrow reads the Arrow data in place (DuckDB): its `staging` table is never used, so a
    # caller need not make one
    merges_from_arrow: bool

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]: ...

    def iter_batches(self, sql: str, params: Sequence[Any] | None = None,
                     batch_size: int = 10_000) -> Iterator[pa.RecordBatch]:
        """Stream a query's result as Arrow record batches: memory stays flat."""
        ...

    def columns(self, relation: str) -> list[Column] | None:
        """Columns of a table or view, or None when it does not exist."""
        ...

    def query_columns(self, sql: str) -> list[Column]:
        """Columns a query would return (it is not run in full)."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """BEGIN … COMMIT, or ROLLBACK when the block raises."""
        ...

    def ensure_table(self, name: str, columns: Sequence[ColumnDef], key: Sequence[str]) -> bool:
        """Create the table when missing (with schema); add missing columns when it exists. True when
        this call created it."""
        ...

    def ensure_tables(self, tables: Mapping[str, tuple[Sequence[ColumnDef], Sequence[str]]]) -> dict[str, bool]:
        """`ensure_table` for each of `tables` (name → columns, key), their columns looked up together
        where the engine can (Snowflake: one catalog query, not a look-up per table)."""
        ...

    def load_arrow(self, table: str, data: pa.Table, *, temporary: bool = False, replace: bool = False) -> int:
        """Append Arrow data into `table` (created from the Arrow schema when missing; dropped
        first when replace=True). Returns rows loaded. Temporary tables live for the connection."""
        ...

    def merge(self, target: str, source: str, key: Sequence[str], columns: Sequence[str], *,
              delete_missing: bool = False) -> MergeCounts:
        """Upsert `source` into `target` by `key` (updating only rows that differ); with
        delete_missing, delete target rows whose key is absent from source."""
        ...

    def merge_arrow(self, target: str, data: pa.Table, staging: str, key: Sequence[str],
                    columns: Sequence[str], *, delete_missing: bool = False, new: bool = False) -> MergeCounts:
        """`merge()` of Arrow data: staged in the temporary table `staging` (emptied first), or, where
        the engine can read Arrow in place (DuckDB), merged straight from it; `delete_missing` as in
        `merge()` (a mirror pull whose whole read is one page). `new`: the caller created `target` and
        merged nothing into it yet, so it is most likely empty (DuckDB then inserts, checked in the
        statement; the same counts and rows as the merge)."""
        ...

    def row_hash_sql(self, columns: Sequence[str], alias: str | None = None) -> str:
        """SQL expression: md5 (hex) of the canonical text of a row: each column cast to text,
        NULL as '\\N', joined by chr(31). Same canonical text on every dialect."""
        ...

    def key_sql(self, columns: Sequence[str], alias: str | None = None) -> str:
        """SQL expression: the canonical text of a row key (columns as text joined by chr(31))."""
        ...

    def relations(self) -> Relations:
        """Every table and view of the current database, with each view's definition."""
        ...

    def quote(self, name: str) -> str: ...

    def close(self) -> None: ...
