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


def dmz_reads(graph: Graph, zones: ZonesConfig, mapping: str) -> list[str]:
    """The DMZ relations a push reads (directly, through its table or any table of its query)."""
    return [r for r in graph.reads.get(mapping, [])
            if zones.zone_of(r, graph.pulled_by.get(r, set())) == "dmz"]


def path_to(graph: Graph, relation: str, m: Mapping) -> str:
    """`sheets://tab/Manual Adjustments → sheets_manual_adjustments_pull → finance.manual_adjustments
    (dmz) → intacct_adjustments_push → intacct://GLBATCH`."""
    feeders = sorted({e.mapping for e in graph.edges if e.direction == "pull" and graph.writes.get(e.mapping) == relation})
    head = ""
    if feeders:
        src = next(graph.nodes[e.src] for e in graph.edges if e.mapping == feeders[0])
        head = f"{src.system}://{src.dataset} → {', '.join(feeders)} → "
    return f"{head}{relation} (dmz) → {m.name} → {m.system}://{remote_dataset(m)}"


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
        for relation in dmz_reads(graph, zones, m.name):
            if zones.promotion(relation) is None:
                problems.append(item.problem(
                    where, f"push into system of record {m.system} {m.object} reaches DMZ relation {relation}: "
                    f"{path_to(graph, relation, m)}",
                    f'promote it in migo-sync.toml: zones.promote."{relation}" with checks and an approver'))
    return problems


def promotion_problems(zones: ZonesConfig, graph: Graph, config_file: str) -> list[Problem]:
    """A promotion reconciles against a trusted relation, never against another DMZ one."""
    problems: list[Problem] = []
    for relation, promotion in zones.promote.items():
        rec = promotion.reconcile
        if rec is not None and zones.zone_of(rec.against, graph.pulled_by.get(rec.against.lower(), set())) != "trusted":
            problems.append(Problem(config_file, None, f"zones.promote.{relation}.reconcile.against",
                                    f"{rec.against} is not a trusted relation", "reconcile against a trusted one"))
    return problems
