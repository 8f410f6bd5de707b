"""What a push query reads, parsed with sqlglot in the warehouse's dialect.

Every table the query names is a source (joins, filters and subqueries included: a filter on a
DMZ relation still lets it decide what reaches a ledger). Column-level lineage comes from
sqlglot's lineage walk where the SQL allows it; otherwise the table-level sources stand."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage

from migo_sync.lineage.sources import QuerySources

DIALECTS = {"duckdb": "duckdb", "snowflake": "snowflake"}


def table_name(table: exp.Table) -> str:
    return ".".join(p for p in (table.catalog, table.db, table.name) if p).lower()


def walk(sql: str, warehouse_type: str = "duckdb") -> QuerySources:
    """Parse and walk `sql` (callers use `migo_sync.lineage.sources.query_sources`, which keeps the answer)."""
    dialect = DIALECTS.get(warehouse_type, warehouse_type)
    try:
        tree = sqlglot.parse_one(sql, dialect=dialect)
    except SqlglotError as exc:
        return QuerySources(error=f"cannot parse the query: {str(exc).splitlines()[0]}")
    if tree is None:
        return QuerySources(error="the query is empty")
    if isinstance(tree, exp.Command):  # sqlglot's fallback for SQL it does not understand: nothing is known
        return QuerySources(error=f"sqlglot cannot parse this {dialect} SQL")
    if isinstance(tree, exp.Create):  # a view definition as the warehouse keeps it: CREATE VIEW … AS <query>
        if not isinstance(tree.expression, exp.Query):
            return QuerySources(error="the view definition has no query sqlglot can read")
        tree = tree.expression
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    tables = sorted({table_name(t) for t in tree.find_all(exp.Table)
                     if t.name and not (not t.db and t.name.lower() in ctes)})
    opaque = sorted({t.this.sql(dialect=dialect) for t in tree.find_all(exp.Table)
                     if not t.name and t.this is not None and not isinstance(t.this, exp.Identifier)})
    out = QuerySources(tables=tables, opaque=opaque)
    if not isinstance(tree, exp.Query):
        return out
    for name in tree.named_selects:
        try:
            node = lineage(name, tree, {}, dialect=dialect)
        except (SqlglotError, KeyError, ValueError) as exc:  # sqlglot cannot follow this column
            out.columns[name.lower()] = []
            out.error = out.error or f"column-level lineage of '{name}': {exc}"
            continue
        pairs: set[tuple[str, str]] = set()
        for leaf in node.walk():
            if isinstance(leaf.expression, exp.Table) and table_name(leaf.expression):
                pairs.add((table_name(leaf.expression), leaf.name.split(".")[-1].strip("\"`").lower()))
        out.columns[name.lower()] = sorted(pairs)
    return out
