"""Build the docs site: one self-contained index.html (inline CSS, SVG and a few lines of JS; no
network), written atomically (a temporary file renamed into place)."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from migo_sync import __version__
from migo_sync.config import Project
from migo_sync.docs.layout import HEIGHT, WIDTH, layout
from migo_sync.errors import ConfigError, MigoSyncError
from migo_sync.lineage.project import project_governance
from migo_sync.lineage.render import label


def last_runs(project: Project, limit: int = 10) -> list[dict[str, Any]]:
    """The latest runs from the state schema; none when the warehouse has no runs yet (never created here)."""
    if project.config.warehouse.type == "duckdb" and not (project.root / project.config.warehouse.path).exists():
        return []
    from migo_sync.warehouse import open_warehouse

    try:
        warehouse = open_warehouse(project)
    except MigoSyncError:
        return []
    try:
        table = f"{warehouse.state_schema}.runs"
        if warehouse.columns(table) is None:
            return []
        rows = warehouse.query(f"SELECT run_id, command, started_at, finished_at, ok FROM {table} "
                               f"ORDER BY run_id DESC LIMIT {int(limit)}")
    finally:
        warehouse.close()
    return [{"run_id": r[0], "command": r[1], "started_at": r[2], "finished_at": r[3], "ok": r[4]} for r in rows]


def render(project: Project) -> str:
    gov = project_governance(project)
    graph = gov.graph

    def zone(relation: str) -> str:
        return gov.zone(relation)

    labels = {n.id: label(n, zone) for n in graph.nodes.values()}
    zones_of = {n.id: zone(n.dataset) for n in graph.nodes.values() if n.kind != "remote"}
    boxes, lines, width, height = layout(graph, labels, zones_of)
    relations = sorted({n.dataset for n in graph.nodes.values() if n.kind != "remote"})
    env = Environment(loader=PackageLoader("migo_sync.docs", "templates"), autoescape=select_autoescape(["html"]))
    term_of: dict[str, list[str]] = {}
    for name, ids in graph.terms.items():
        for node_id in ids:
            term_of.setdefault(node_id, []).append(name)
    return env.get_template("index.html").render(
        project=project.config.name, version=__version__, built=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        terms=[t.term for t in gov.dictionary.terms.values()],
        term_nodes={name: sorted(labels[i] for i in ids) for name, ids in graph.terms.items()},
        boxes=boxes, lines=lines, width=width, height=height, box_w=WIDTH, box_h=HEIGHT, term_of=term_of,
        zones=[{"relation": r, "zone": zone(r), "promotion": gov.zones.promotion(r),
                "pulled_by": sorted(graph.pulled_by.get(r, set()))} for r in relations],
        runs=last_runs(project))


def build(project: Project, output: Path) -> Path:
    html = render(project)
    try:
        output.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".html", dir=output)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
        target = output / "index.html"
        os.chmod(tmp, 0o644)  # a site to publish, not a secret
        os.replace(tmp, target)
    except OSError as exc:
        raise ConfigError(f"{output}: cannot write the docs site: {exc.strerror or exc}") from None
    return target
