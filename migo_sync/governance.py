"""Dictionary, lineage and trust zones applied to a set of mappings: what `validate` and `run` share.

`govern()` binds fields to their terms, builds the lineage graph of the whole project (a relation's
zone depends on every pull into it, selected or not) and returns every problem of the selected
mappings: dictionary disagreements, draft terms feeding a system of record, DMZ relations
reaching one without a promotion. `Governance.promotions()` runs a push's promotions in the run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from migo_sync.config import CONFIG_FILE, Project
from migo_sync.dictionary.bind import bind
from migo_sync.dictionary.checks import check_terms
from migo_sync.dictionary.loader import Dictionary, load_dictionary
from migo_sync.errors import Problem
from migo_sync.lineage.graph import Graph, build, remote_node
from migo_sync.lineage.views import ViewCatalog
from migo_sync.mapping.loader import LoadedMapping
from migo_sync.mapping.model import Mapping
from migo_sync.warehouse.base import Warehouse
from migo_sync.zones.config import ZonesConfig
from migo_sync.zones.guard import IsRecord, dmz_reads, promotion_problems, record_predicate, refusals, zone_of


@dataclass
class Governance:
    dictionary: Dictionary
    graph: Graph
    zones: ZonesConfig
    is_record: IsRecord

    def zone(self, relation: str) -> str:
        """trusted or dmz, through views (a view over a DMZ relation is DMZ)."""
        return zone_of(self.graph, self.zones, relation)

    def promotions(self, warehouse: Warehouse, mapping: Mapping) -> list[dict[str, Any]]:
        """Run the promotion checks of every DMZ relation this push into a system of record reads."""
        from migo_sync.zones.promote import run_checks

        if mapping.direction != "push" or not self.is_record(mapping):
            return []
        out: list[dict[str, Any]] = []
        for relation in dmz_reads(self.graph, self.zones, mapping.name):
            promotion = self.zones.promotion(relation)
            if promotion is None:  # validate refuses this before the run; never send unchecked
                out.append({"relation": relation, "approver": None, "promoted": False, "checks": []})
            else:
                out.append(run_checks(warehouse, relation, promotion))
        return out


def govern(project: Project, loaded: Sequence[LoadedMapping], chosen: Sequence[LoadedMapping],
           adapter_for: Callable[[str], Any], catalog: ViewCatalog | None = None,
           ) -> tuple[list[LoadedMapping], Governance, list[Problem]]:
    """(chosen mappings bound to their terms, the project's governance, problems of the chosen).
    `catalog`: the warehouse's views (`view_catalog()`); None when no warehouse is consulted."""
    dictionary = load_dictionary(project.dictionary_dir)
    zones = project.config.zones
    is_record = record_predicate(zones, adapter_for)
    problems = check_terms(chosen, dictionary, is_record)
    bound = bind(chosen, dictionary)
    names = {b.mapping.name for b in bound}
    others = bind([x for x in loaded if x.mapping.name not in names], dictionary)
    graph = build([b.mapping for b in [*bound, *others]], project.config.warehouse.type, catalog)
    problems += _draft_upstream(bound, graph, dictionary, is_record)
    problems += refusals(bound, graph, zones, is_record)
    problems += promotion_problems(zones, graph, str(project.root / CONFIG_FILE))
    return bound, Governance(dictionary, graph, zones, is_record), problems


def _draft_upstream(bound: Sequence[LoadedMapping], graph: Graph, dictionary: Dictionary,
                    is_record: IsRecord) -> list[Problem]:
    """A draft term anywhere upstream of a push into a system of record feeds it too."""
    drafts = {name: graph.terms.get(name, set()) for name, t in dictionary.terms.items() if t.term.status == "draft"}
    problems: list[Problem] = []
    for item in bound:
        m = item.mapping
        if m.direction != "push" or not is_record(m) or not drafts:
            continue
        upstream = graph.upstream(remote_node(m, f.remote).id for f in m.fields)
        for name, ids in sorted(drafts.items()):
            direct = any(f.term == name for f in m.fields)  # reported by the dictionary checks already
            if ids & upstream and not direct:
                via = sorted(graph.nodes[i].id for i in ids & upstream)[0]
                problems.append(item.problem(["fields"], f"draft term '{name}' feeds this push into {m.system} "
                                             f"{m.object} (a system of record) through {via}",
                                             f"have {dictionary.terms[name].term.owner} approve it"))
    return problems


def view_catalog(warehouse: Warehouse) -> ViewCatalog:
    """The warehouse's views; a warehouse that cannot list them yields a catalog that says why (every
    relation a push reads that no pull writes then counts as an unresolved view: DMZ)."""
    from migo_sync.errors import MigoSyncError

    try:
        return ViewCatalog(warehouse.relations())
    except MigoSyncError as exc:
        return ViewCatalog(error=exc.message)
