"""`migo-sync docs build`: the project's dictionary, lineage, zones and last runs as a static site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from migo_sync.cli.common import JsonOpt, ProjectOpt, VerboseOpt, fail, load_project, terminal
from migo_sync.errors import MigoSyncError

app = typer.Typer(help="Build the project's documentation site.", no_args_is_help=True)


@app.command("build")
def build_command(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Folder to write (default: PROJECT/docs-site).",
                                                file_okay=False)] = None,
    project: ProjectOpt = Path("."),
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> int:
    """Write a self-contained static site (one index.html, no network): the dictionary with search,
    the lineage graph, the trust zones and the last runs. Open it in any browser."""
    from migo_sync.docs.build import build

    term = terminal(json_output, verbose)
    try:
        proj = load_project(project)
        target = build(proj, output or proj.root / "docs-site")
    except MigoSyncError as exc:
        return fail(term, exc)
    if json_output:
        term.json({"ok": True, "index": str(target)})
    else:
        term.success(f"docs written: {target}")
    return 0
