"""What a push query (or a view's definition) reads, worked out once per text.

sqlglot's lineage walk costs ~0.2 s a query, and every run builds the project's whole graph: the answer
is kept by the query's hash, its dialect and sqlglot's version — in this process and on disk
(`migo_sync.textcache`) — so an unchanged project's next run neither walks nor imports sqlglot.
The walk itself is `migo_sync.lineage.sql`."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from migo_sync import textcache

KIND = "lineage"


@dataclass
class QuerySources:
    """Tables a query reads (lower-case qualified names) and, per output column, the (table, column)
    pairs it is computed from. `error` is set when the SQL could not be parsed."""

    tables: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)  # table functions (read_csv(…), …): sources we cannot name
    columns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"tables": self.tables, "opaque": self.opaque, "error": self.error,
                "columns": {name: [list(pair) for pair in pairs] for name, pairs in self.columns.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuerySources:
        return cls(tables=[str(t) for t in data["tables"]], opaque=[str(o) for o in data["opaque"]],
                   columns={str(name): [(str(t), str(c)) for t, c in pairs] for name, pairs in data["columns"].items()},
                   error=None if data["error"] is None else str(data["error"]))


@functools.cache
def _sqlglot_version() -> str:
    try:
        return version("sqlglot")
    except PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=512)
def _answer(sql: str, warehouse_type: str) -> str:
    def make() -> bytes:
        from migo_sync.lineage.sql import walk  # sqlglot is imported only when a query is walked

        return json.dumps(walk(sql, warehouse_type).as_json()).encode("utf-8")

    name = textcache.key("query sources", _sqlglot_version(), warehouse_type, sql)
    answer = textcache.remembered(KIND, name, make, lambda stored: QuerySources.from_json(json.loads(stored)))
    assert answer is not None  # make() always gives one
    return answer.decode("utf-8")


def query_sources(sql: str, warehouse_type: str = "duckdb") -> QuerySources:
    """What `sql` reads, in the warehouse's dialect (the caller's own copy)."""
    return QuerySources.from_json(json.loads(_answer(sql, warehouse_type)))
