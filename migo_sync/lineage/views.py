"""Lineage through warehouse views: a push that reads a view reads what the view reads.

The view definitions come from the warehouse (`Warehouse.relations()`: information_schema on DuckDB
and Snowflake) and are parsed with sqlglot in the warehouse's dialect, recursively (a view over a
view), column by column where the SQL allows, bounded in depth and safe against cycles. A view
that cannot be followed (definition hidden from this role, SQL sqlglot cannot parse, nesting
deeper than MAX_DEPTH, views not listable at all) is recorded in `Graph.unresolved` with the
reason: the zone rule treats it as DMZ, never as trusted."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from migo_sync.lineage.graph import Edge, Graph, column_node, relation_node
from migo_sync.lineage.sources import query_sources
from migo_sync.warehouse.base import Relations, ViewDef

MAX_DEPTH = 16


@dataclass(frozen=True)
class ViewCatalog:
    """The warehouse's relations, or why they could not be read (`error`)."""

    relations: Relations | None = None
    error: str | None = None

    def _parts(self, written: str, schema: str | None) -> tuple[str, str]:
        parts = [p.strip('"`').lower() for p in written.split(".")]
        name = parts[-1]
        if len(parts) > 1:
            return parts[-2], name
        assert self.relations is not None
        if schema and (schema, name) in self.relations.tables:  # a view's own schema first, as both engines bind
            return schema, name
        return self.relations.default_schema, name

    def canonical(self, written: str, schema: str | None, known: set[str]) -> str:
        """The name lineage uses for a relation written `written` inside a view of `schema`: the
        spelling the project already uses when there is one, else schema.name (bare in the default schema)."""
        if self.relations is None or self.elsewhere(written):  # another database keeps its full name
            return ".".join(p.strip('"`') for p in written.split(".")).lower()
        s, n = self._parts(written, schema)
        for candidate in (f"{s}.{n}", n):
            if candidate in known:
                return candidate
        return n if s == self.relations.default_schema else f"{s}.{n}"

    def elsewhere(self, written: str) -> str | None:
        """The other database a relation is named in (`db.schema.table`), whose views are not listed."""
        parts = [p.strip('"`').lower() for p in written.split(".")]
        if self.relations is None or len(parts) < 3 or parts[0] == self.relations.database:
            return None
        return parts[0]

    def view(self, written: str, schema: str | None = None) -> ViewDef | None:
        if self.relations is None:
            return None
        key = self._parts(written, schema)
        return next((v for v in self.relations.views if (v.schema, v.name) == key), None)


def trace_views(graph: Graph, catalog: ViewCatalog | None, warehouse: str) -> None:
    """Add every view that a push reads (and the views those read) to the graph."""
    if catalog is None:
        if any(r not in graph.pulled_by for rels in graph.reads.values() for r in rels):
            graph.notes.append("warehouse views not resolved (no warehouse consulted): the zone check through "
                               "views runs in `mapping validate` without --offline and in every run")
        return
    known = set(graph.pulled_by) | {n.dataset for n in graph.nodes.values() if n.kind != "remote"}
    todo: deque[tuple[str, str | None, int]] = deque((rel, None, 0) for rels in graph.reads.values() for rel in rels)
    seen: set[str] = set()
    while todo:
        rel, schema, depth = todo.popleft()
        if rel in seen:
            continue
        seen.add(rel)
        if catalog.error is not None:
            if rel not in graph.pulled_by:  # a table a pull writes is a table; anything else may be a view
                graph.unresolved[rel] = f"the warehouse's views could not be listed ({catalog.error})"
            continue
        other = catalog.elsewhere(rel)
        if other is not None:  # it may be a view there: its lineage is out of sight
            graph.unresolved[rel] = f"it is in database {other}, whose views this connection does not list"
            continue
        view = catalog.view(rel, schema)
        if view is None:
            continue
        if depth >= MAX_DEPTH:
            graph.unresolved[rel] = f"views nested deeper than {MAX_DEPTH} levels"
            continue
        if view.sql is None:
            graph.unresolved[rel] = "its definition is not visible to this role (a secure view?)"
            continue
        found = query_sources(view.sql, warehouse)
        if found.error and not found.tables:
            graph.unresolved[rel] = found.error
            continue
        if found.opaque:
            graph.unresolved[rel] = f"it reads {', '.join(found.opaque)}, whose source lineage cannot name"
            continue
        bases = [catalog.canonical(t, view.schema, known) for t in found.tables]
        graph.views[rel] = bases
        _view_edges(graph, rel, {o: [(catalog.canonical(t, view.schema, known), c) for t, c in pairs]
                                 for o, pairs in found.columns.items()}, bases, warehouse)
        todo.extend((base, view.schema, depth + 1) for base in bases)


def _view_edges(graph: Graph, view: str, columns: dict[str, list[tuple[str, str]]], bases: list[str],
                warehouse: str) -> None:
    """Edges into the view's nodes already in the graph (what a push or an outer view reads of it):
    column to column where traced; a base that feeds no traced column (a join key, a filter, a
    `SELECT *`) feeds every node of the view."""
    targets = [n for n in graph.nodes.values() if n.kind != "remote" and n.dataset == view]
    traced = {t for pairs in columns.values() for t, _ in pairs}
    for target in targets:
        pairs = columns.get(target.name, []) if target.kind == "column" else []
        for table, column in pairs:
            src = graph.add(column_node(warehouse, table, column))
            graph.edges.append(Edge(src, target.id, view, "view"))
        for base in bases:
            if not pairs or base not in traced:
                src = graph.add(relation_node(warehouse, base))
                graph.edges.append(Edge(src, target.id, view, "view"))
