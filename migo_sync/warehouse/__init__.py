"""The warehouse: DuckDB (a file in the project, the default) or Snowflake.

`open_warehouse(project)` picks the implementation from `[warehouse] type`; the Snowflake
connector is imported only then. `canonical_text()` is the Python reference of the canonical row
text that `row_hash_sql()` / `key_sql()` build in SQL: each value as text, NULL as `\\N`, joined by
chr(31). DuckDB and Snowflake agree on it for string, integer, decimal, date and boolean values.
They differ for float (`number`) and timestamp values (DuckDB trims trailing zeros of a fraction,
Snowflake prints six digits), which only matters if a ledger were moved between engines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migo_sync.errors import ConfigError, UnreachableError
from migo_sync.warehouse.base import Column, ColumnDef, MergeCounts, Warehouse

if TYPE_CHECKING:
    from migo_sync.config import Project

__all__ = ["Column", "ColumnDef", "MergeCounts", "Warehouse", "canonical_text", "open_warehouse"]

NULL_TEXT = "\\N"
SEPARATOR = "\x1f"


def open_warehouse(project: Project, *, create: bool = False) -> Warehouse:
    """Connect to the project's warehouse. Raises UnreachableError (exit 3) when it cannot.

    A DuckDB file that does not exist is created only with `create` (what `migo-sync init` does)
    or `create = true` in `[warehouse]`: a misspelt path must not quietly become an empty warehouse.
    """
    cfg = project.config.warehouse
    if cfg.type == "snowflake":
        from migo_sync.warehouse.snowflake import SnowflakeWarehouse

        return SnowflakeWarehouse.from_project(project)
    if cfg.database:
        raise ConfigError("[warehouse] database is a Snowflake setting; a DuckDB warehouse is a file: set path")
    from migo_sync.warehouse.duckdb import DuckDBWarehouse

    path = cfg.path if cfg.path == ":memory:" else str(_resolve(project.root, cfg.path))
    if path != ":memory:" and not (create or cfg.create) and not Path(path).exists():
        raise UnreachableError(f"the DuckDB warehouse {path} does not exist; nothing was created "
                               "(run `migo-sync init` or set create = true in migo-sync.toml's warehouse table)")
    if cfg.memory_limit is not None or cfg.threads is not None:
        return DuckDBWarehouse(path, state_schema=cfg.state_schema, schema=cfg.schema_,
                               memory_limit=cfg.memory_limit, threads=cfg.threads)
    return DuckDBWarehouse(path, state_schema=cfg.state_schema, schema=cfg.schema_)


def _resolve(root: Path, path: str) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else root / candidate


def canonical_value(value: Any) -> str:
    """One value as the warehouse casts it to VARCHAR (DuckDB's form for floats and timestamps)."""
    if value is None:
        return NULL_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def canonical_text(values: Iterable[Any]) -> str:
    """The canonical text of a row (or a key): what key_sql() returns and row_hash_sql() hashes."""
    return SEPARATOR.join(canonical_value(v) for v in values)
