"""The lineage of a whole project, as `lineage` and `docs build` show it (validation problems aside:
lineage is how you look into a broken project too)."""

from __future__ import annotations

from collections.abc import Callable

from migo_sync.config import Project
from migo_sync.dictionary.loader import normalise
from migo_sync.errors import MigoSyncError
from migo_sync.governance import Governance, govern, view_catalog
from migo_sync.lineage.graph import Graph
from migo_sync.lineage.views import ViewCatalog
from migo_sync.mapping.loader import load_mappings


def project_governance(project: Project) -> Governance:
    from migo_sync.systems import AdapterPool

    loaded = load_mappings([project.mappings_dir])
    catalog, note = _catalog(project)
    pool = AdapterPool(project)
    try:
        _, gov, _ = govern(project, loaded, loaded, pool, catalog)
    finally:
        pool.close()
    if note:
        gov.graph.notes[:] = [note]
    return gov


def _catalog(project: Project) -> tuple[ViewCatalog | None, str | None]:
    """The warehouse's views when the warehouse is there (a DuckDB file is never created here)."""
    from migo_sync.warehouse import open_warehouse

    wh = project.config.warehouse
    if wh.type == "duckdb" and not (project.root / wh.path).exists():
        return None, f"warehouse views not resolved: {wh.path} does not exist yet"
    try:
        warehouse = open_warehouse(project)
    except MigoSyncError as exc:
        return None, f"warehouse views not resolved: {exc.message}"
    try:
        return view_catalog(warehouse), None
    finally:
        warehouse.close()


def project_lineage(project: Project) -> tuple[Graph, Callable[[str], str], dict[str, str]]:
    """(graph, relation → zone, normalised word → term)."""
    gov = project_governance(project)
    graph = gov.graph

    def zone(relation: str) -> str:
        return gov.zone(relation)

    return graph, zone, {normalise(k): v for k, v in gov.dictionary.words().items()}
