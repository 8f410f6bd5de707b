"""The static half of the zone rule: a push into a system of record that reads a DMZ relation is
refused by `validate` and `run`, with the path that reaches it, unless the relation is promoted.

What counts as a system of record: every ledger's journal object, plus `systems_of_record`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from migo_sync.errors import Problem
from migo_sync.lineage.graph import Graph, remote_dataset
from migo_sync.mapping.loader import LoadedMapping
from migo_sync.mapping.model import Mapping
from migo_sync.zones.config import ZonesConfig

IsRecord = Callable[[Mapping], bool]


def record_predicate(zones: ZonesConfig, adapter_for: Callable[[str], object]) -> IsRecord:
    """Is a push into this mapping's object a write into a system of record?"""
    from migo_sync.ledger.port import as_ledger
    from migo_sync.registry import systems

    known = systems()
    listed = {s.lower() for s in zones.systems_of_record}

    def is_record(m: Mapping) -> bool:
        if f"{m.system}.{m.object}".lower() in listed:
            return True
        if m.system not in known:
            return False
        ledger = as_ledger(adapter_for(m.system))
        return ledger is not None and ledger.journal_object == m.object

    return is_record


def own_zone(graph: Graph, zones: ZonesConfig, relation: str) -> str:
    """The relation's zone by itself: its pattern, or the systems pulled into it. A relation whose
    lineage cannot be followed (an unresolvable view) is DMZ: never trusted blind."""
    if relation in graph.unresolved:
        return "dmz"
    return zones.zone_of(relation, graph.pulled_by.get(relation, set()))


def zone_of(graph: Graph, zones: ZonesConfig, relation: str) -> str:
    """A view over a DMZ relation is DMZ too (whatever its own pattern says), unless promoted."""
    return "dmz" if any(own_zone(graph, zones, r) == "dmz" for r in graph.bases(relation)) else "trusted"


def dmz_paths(graph: Graph, zones: ZonesConfig, mapping: str) -> list[list[str]]:
    """How a push reaches the DMZ: chains of relations from what it reads, through views, to the
    first relation that is DMZ by itself or promoted (its checks then vouch for what lies below)."""
    found: dict[str, list[str]] = {}

    def walk(relation: str, chain: list[str]) -> None:
        if relation in chain:  # a cycle of views: already being followed
            return
        chain = [*chain, relation]
        if zone_of(graph, zones, relation) != "dmz":
            return
        if zones.promotion(relation) is not None or own_zone(graph, zones, relation) == "dmz":
            found.setdefault(relation, chain)
            return
        for base in graph.views.get(relation, []):
            walk(base, chain)

    for relation in graph.reads.get(mapping, []):
        walk(relation, [])
    return list(found.values())


def dmz_reads(graph: Graph, zones: ZonesConfig, mapping: str) -> list[str]:
    """The DMZ (or promoted) relations a push reads, directly or through views."""
    return [chain[-1] for chain in dmz_paths(graph, zones, mapping)]


def path_to(graph: Graph, chain: list[str], m: Mapping) -> str:
    """`sheets://tab/Manual Adjustments → sheets_manual_adjustments_pull → finance.manual_adjustments
    (dmz) → finance.v_adjustments (view) → intacct_adjustments_push → intacct://GLBATCH`."""
    relation = chain[-1]
    feeders = sorted({e.mapping for e in graph.edges if e.direction == "pull" and graph.writes.get(e.mapping) == relation})
    head = ""
    if feeders:
        src = next(graph.nodes[e.src] for e in graph.edges if e.mapping == feeders[0])
        head = f"{src.system}://{src.dataset} → {', '.join(feeders)} → "
    mark = "unresolved view, counted as dmz" if relation in graph.unresolved else "dmz"
    views = "".join(f" → {v} (view)" for v in reversed(chain[:-1]))
    return f"{head}{relation} ({mark}){views} → {m.name} → {m.system}://{remote_dataset(m)}"


def refusals(loaded: Sequence[LoadedMapping], graph: Graph, zones: ZonesConfig, is_record: IsRecord) -> list[Problem]:
    problems: list[Problem] = []
    for item in loaded:
        m = item.mapping
        if m.direction != "push" or not is_record(m):
            continue
        where: list[str | int] = ["warehouse", "query" if m.warehouse.query is not None else "table"]
        found = graph.sources.get(m.name)
        if found is not None and found.error and not found.tables:
            problems.append(item.problem(where, f"the lineage of this push into a system of record cannot be "
                                         f"traced ({found.error})", "write SQL that sqlglot can parse"))
            continue
        if found is not None and found.opaque:
            problems.append(item.problem(where, f"this push into a system of record reads {', '.join(found.opaque)}, "
                                         "whose source lineage cannot name", "load it into a table and read that"))
        for chain in dmz_paths(graph, zones, m.name):
            relation = chain[-1]
            if zones.promotion(relation) is not None:
                continue
            through = f" through view {' → '.join(chain[:-1])}" if len(chain) > 1 else ""
            if relation in graph.unresolved:
                message = (f"push into system of record {m.system} {m.object} reads view {relation}{through}, whose "
                           f"lineage cannot be traced ({graph.unresolved[relation]}), so it counts as DMZ")
            else:
                message = (f"push into system of record {m.system} {m.object} reaches DMZ relation {relation}"
                           f"{through}")
            problems.append(item.problem(
                where, f"{message}: {path_to(graph, chain, m)}",
                f'promote it in migo-sync.toml: zones.promote."{relation}" with checks and an approver'))
    return problems


def promotion_problems(zones: ZonesConfig, graph: Graph, config_file: str) -> list[Problem]:
    """A promotion reconciles against a trusted relation, never against another DMZ one."""
    problems: list[Problem] = []
    for relation, promotion in zones.promote.items():
        rec = promotion.reconcile
        if rec is not None and zone_of(graph, zones, rec.against.lower()) != "trusted":
            problems.append(Problem(config_file, None, f"zones.promote.{relation}.reconcile.against",
                                    f"{rec.against} is not a trusted relation", "reconcile against a trusted one"))
    return problems
