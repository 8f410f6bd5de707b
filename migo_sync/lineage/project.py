"""The lineage of a whole project, as `lineage` and `docs build` show it (validation problems aside:
lineage is how you look into a broken project too)."""

from __future__ import annotations

from collections.abc import Callable

from migo_sync.config import Project
from migo_sync.dictionary.loader import normalise
from migo_sync.governance import Governance, govern
from migo_sync.lineage.graph import Graph
from migo_sync.mapping.loader import load_mappings


def project_governance(project: Project) -> Governance:
    from migo_sync.systems import AdapterPool

    loaded = load_mappings([project.mappings_dir])
    pool = AdapterPool(project)
    try:
        _, gov, _ = govern(project, loaded, loaded, pool)
    finally:
        pool.close()
    return gov


def project_lineage(project: Project) -> tuple[Graph, Callable[[str], str], dict[str, str]]:
    """(graph, relation → zone, normalised word → term)."""
    gov = project_governance(project)
    graph = gov.graph

    def zone(relation: str) -> str:
        return gov.zones.zone_of(relation, graph.pulled_by.get(relation, set()))

    return graph, zone, {normalise(k): v for k, v in gov.dictionary.words().items()}
