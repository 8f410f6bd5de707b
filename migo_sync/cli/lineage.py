"""`migo-sync lineage [TERM|TABLE|MAPPING]`: where a number comes from and where it goes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from migo_sync.cli.common import JsonOpt, ProjectOpt, VerboseOpt, fail, load_project, terminal
from migo_sync.errors import ConfigError, MigoSyncError


def lineage_command(
    target: Annotated[str | None, typer.Argument(help="A dictionary term (or synonym), a mapping or a "
                                                 "warehouse relation; default: the whole project.")] = None,
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Print a Mermaid flowchart.")] = False,
    dot: Annotated[bool, typer.Option("--dot", help="Print Graphviz DOT.")] = False,
    project: ProjectOpt = Path("."),
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> int:
    """Show the lineage graph: remote fields → pull mappings → warehouse columns → push queries
    (parsed with sqlglot) → remote fields. DMZ relations are marked (dmz)."""
    from migo_sync.lineage.project import project_lineage
    from migo_sync.lineage.render import as_dot, as_mermaid, as_text, focus

    term = terminal(json_output, verbose)
    try:
        if sum((mermaid, dot, json_output)) > 1:
            raise ConfigError("choose one of --json, --mermaid, --dot")
        proj = load_project(project)
        graph, zone, synonyms = project_lineage(proj)
        graph = focus(graph, target, synonyms)
    except MigoSyncError as exc:
        return fail(term, exc)
    if json_output:
        doc = graph.as_json()
        doc["zones"] = {n.dataset: zone(n.dataset) for n in graph.nodes.values() if n.kind != "remote"}
        term.json(doc)
    elif mermaid:
        typer.echo(as_mermaid(graph, zone))
    elif dot:
        typer.echo(as_dot(graph, zone))
    else:
        typer.echo(as_text(graph, zone) or "no lineage: no mapping reads or writes anything yet")
    for note in [*graph.notes, *(f"view {v} cannot be traced ({why}): it counts as DMZ"
                                 for v, why in sorted(graph.unresolved.items()))]:
        term.info(note)  # stderr, never mixed into --mermaid/--dot output; --json carries them itself
    return 0
