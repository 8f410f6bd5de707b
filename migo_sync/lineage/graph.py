"""The lineage graph of a project, built from its mappings alone (no network, no warehouse).

Nodes are remote fields (`system://dataset#field`), warehouse columns (`warehouse://table#column`)
and, where a query only allows table-level lineage, warehouse relations (`warehouse://table`).
Every edge goes through one mapping."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from migo_sync.lineage.sources import QuerySources, query_sources
from migo_sync.mapping.model import Mapping

if TYPE_CHECKING:
    from migo_sync.lineage.views import ViewCatalog

Kind = Literal["remote", "column", "relation"]


@dataclass(frozen=True)
class Node:
    id: str
    kind: Kind
    dataset: str  # remote dataset (system.object) or warehouse relation
    name: str  # field or column ("" for a relation)
    system: str  # the system, or the warehouse type


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    mapping: str
    direction: str


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    terms: dict[str, set[str]] = field(default_factory=dict)  # term → node ids bound to it
    sources: dict[str, QuerySources] = field(default_factory=dict)  # push mapping → what its query reads
    reads: dict[str, list[str]] = field(default_factory=dict)  # push mapping → relations it reads
    writes: dict[str, str] = field(default_factory=dict)  # pull mapping → relation it writes
    pulled_by: dict[str, set[str]] = field(default_factory=dict)  # relation → systems pulled into it
    views: dict[str, list[str]] = field(default_factory=dict)  # view → relations it reads (lineage/views.py)
    unresolved: dict[str, str] = field(default_factory=dict)  # relation → why its lineage cannot be followed
    notes: list[str] = field(default_factory=list)  # what the graph could not look at, for the user

    def add(self, node: Node) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id

    def upstream(self, start: Iterable[str]) -> set[str]:
        return self._closure(start, backwards=True)

    def downstream(self, start: Iterable[str]) -> set[str]:
        return self._closure(start, backwards=False)

    def _closure(self, start: Iterable[str], *, backwards: bool) -> set[str]:
        seen = set(start)
        todo = deque(seen)
        while todo:
            node = todo.popleft()
            for e in self.edges:
                src, dst = (e.dst, e.src) if backwards else (e.src, e.dst)
                if src == node and dst not in seen:
                    seen.add(dst)
                    todo.append(dst)
        return seen

    def subgraph(self, ids: set[str]) -> Graph:
        sub = Graph(nodes={k: v for k, v in self.nodes.items() if k in ids},
                    edges=[e for e in self.edges if e.src in ids and e.dst in ids])
        sub.terms = {t: n & ids for t, n in self.terms.items() if n & ids}
        datasets = {n.dataset for n in sub.nodes.values() if n.kind != "remote"}
        sub.views = {v: r for v, r in self.views.items() if v in datasets}
        sub.unresolved = {v: r for v, r in self.unresolved.items() if v in datasets}
        sub.notes = list(self.notes)
        return sub

    def as_json(self) -> dict[str, Any]:
        return {"nodes": [vars(n) for n in sorted(self.nodes.values(), key=lambda n: n.id)],
                "edges": [vars(e) for e in self.edges],
                "terms": {t: sorted(n) for t, n in sorted(self.terms.items())},
                "views": {v: sorted(r) for v, r in sorted(self.views.items())},
                "unresolved": dict(sorted(self.unresolved.items())), "notes": list(self.notes)}

    def bases(self, relation: str) -> set[str]:
        """Every relation `relation` reads through views, itself included (cycle-safe)."""
        seen = {relation}
        todo = [relation]
        while todo:
            for base in self.views.get(todo.pop(), []):
                if base not in seen:
                    seen.add(base)
                    todo.append(base)
        return seen


def remote_dataset(mapping: Mapping) -> str:
    """system.object, plus the tab for objects that are one of many (a Sheets tab)."""
    place = mapping.options.get("sheet") or mapping.options.get("version")
    return f"{mapping.object}/{place}" if place else mapping.object


def remote_node(mapping: Mapping, name: str) -> Node:
    dataset = remote_dataset(mapping)
    return Node(f"{mapping.system}://{dataset}#{name}", "remote", dataset, name, mapping.system)


def column_node(warehouse: str, table: str, column: str) -> Node:
    table, column = table.lower(), column.lower()
    return Node(f"{warehouse}://{table}#{column}", "column", table, column, warehouse)


def relation_node(warehouse: str, table: str) -> Node:
    return Node(f"{warehouse}://{table.lower()}", "relation", table.lower(), "", warehouse)


def build(mappings: Sequence[Mapping], warehouse: str = "duckdb", catalog: ViewCatalog | None = None) -> Graph:
    """The graph of these mappings; with a catalog (the warehouse's views), through the views that
    the pushes read. Without one, `notes` says views were not looked at."""
    from migo_sync.lineage.views import trace_views

    graph = Graph()
    for m in mappings:
        if m.direction == "pull":
            _pull(graph, m, warehouse)
        elif m.warehouse.table is not None:
            _push_table(graph, m, warehouse)
        else:
            _push_query(graph, m, warehouse)
    trace_views(graph, catalog, warehouse)
    return graph


def _bind(graph: Graph, term: str | None, *ids: str) -> None:
    if term:
        graph.terms.setdefault(term, set()).update(ids)


def _pull(graph: Graph, m: Mapping, warehouse: str) -> None:
    assert m.warehouse.table is not None
    table = m.warehouse.table.lower()
    graph.writes[m.name] = table
    graph.pulled_by.setdefault(table, set()).add(m.system)
    for f in m.fields:
        src = graph.add(remote_node(m, f.remote))
        if f.column is None:
            continue
        dst = graph.add(column_node(warehouse, table, f.column))
        graph.edges.append(Edge(src, dst, m.name, "pull"))
        _bind(graph, f.term, src, dst)


def _push_table(graph: Graph, m: Mapping, warehouse: str) -> None:
    assert m.warehouse.table is not None
    table = m.warehouse.table.lower()
    graph.reads[m.name] = [table]
    for f in m.fields:
        dst = graph.add(remote_node(m, f.remote))
        _bind(graph, f.term, dst)
        if f.column is not None:
            src = graph.add(column_node(warehouse, table, f.column))
            graph.edges.append(Edge(src, dst, m.name, "push"))
            _bind(graph, f.term, src)


def _push_query(graph: Graph, m: Mapping, warehouse: str) -> None:
    assert m.warehouse.query is not None
    found = query_sources(m.warehouse.query, warehouse)
    graph.sources[m.name] = found
    graph.reads[m.name] = list(found.tables)
    traced: set[str] = set()
    dataset = graph.add(Node(f"{m.system}://{remote_dataset(m)}", "remote", remote_dataset(m), "", m.system))
    for f in m.fields:
        dst = graph.add(remote_node(m, f.remote))
        _bind(graph, f.term, dst)
        for table, column in found.columns.get((f.column or "").lower(), []):
            src = graph.add(column_node(warehouse, table, column))
            graph.edges.append(Edge(src, dst, m.name, "push"))
            traced.add(table)
    for table in found.tables:  # filters, joins and untraceable columns: the table still feeds the push
        if table not in traced:
            src = graph.add(relation_node(warehouse, table))
            graph.edges.append(Edge(src, dataset, m.name, "push"))
