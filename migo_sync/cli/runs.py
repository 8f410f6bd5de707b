"""`migo-sync runs list|show`: what earlier runs did, from the warehouse's bookkeeping."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from migo_sync.cli.common import JsonOpt, ProjectOpt, fail, load_project, terminal
from migo_sync.errors import ConfigError, MigoSyncError

if TYPE_CHECKING:
    from migo_sync.warehouse.bookkeeping import Bookkeeping

app = typer.Typer(help="Inspect recorded runs.", no_args_is_help=True)


@contextmanager
def bookkeeping(project: Path) -> Iterator[Bookkeeping]:
    """The project's bookkeeping, on a warehouse connection closed afterwards."""
    from migo_sync.warehouse import open_warehouse
    from migo_sync.warehouse.bookkeeping import Bookkeeping

    warehouse = open_warehouse(load_project(project))
    try:
        book = Bookkeeping(warehouse)
        book.ensure()
        yield book
    finally:
        warehouse.close()


@app.command("list")
def list_command(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs, newest first.", min=1)] = 20,
    project: ProjectOpt = Path("."),
    json_output: JsonOpt = False,
) -> int:
    """List recent runs, newest first."""
    term = terminal(json_output)
    try:
        with bookkeeping(project) as book:
            runs = book.list_runs(limit)
    except MigoSyncError as exc:
        return fail(term, exc)
    if json_output:
        term.json({"runs": runs})
    else:
        term.table("Runs", ["run", "command", "started", "finished", "ok"],
                   [(r["run_id"], r["command"], r.get("started_at"), r.get("finished_at"),
                     _ok_text(r.get("ok"))) for r in runs])
    return 0


@app.command("show")
def show_command(
    run_id: Annotated[str, typer.Argument(help="A run id from 'runs list'.")],
    rejects: Annotated[int, typer.Option("--rejects", help="How many rejects to show.", min=0)] = 50,
    project: ProjectOpt = Path("."),
    json_output: JsonOpt = False,
) -> int:
    """Show one run: each mapping's result and the rows it rejected, with reasons."""
    term = terminal(json_output)
    try:
        with bookkeeping(project) as book:
            run = book.get_run(run_id, limit=rejects)
        if run is None:
            raise ConfigError(f"no run '{run_id}' (see: migo-sync runs list)")
    except MigoSyncError as exc:
        return fail(term, exc)
    if json_output:
        term.json(run)
        return 0
    term.info(f"run {run['run_id']} ({run.get('command')}) started {run.get('started_at')}, ok={run.get('ok')}")
    term.table("Mappings", ["mapping", "system", "direction", "status", "read", "changed", "written", "rejected",
                            "requests", "seconds", "error"],
               [(m.get("name"), m.get("system"), m.get("direction"), m.get("status"), m.get("rows_read"),
                 m.get("rows_changed"), m.get("rows_written"), m.get("rows_rejected"), m.get("requests"),
                 m.get("seconds"), m.get("error") or "") for m in run.get("mappings", [])])
    if run.get("rejects"):
        term.table("Rejects", ["mapping", "row", "reason"],
                   [(r.get("mapping"), r.get("row_key"), r.get("reason")) for r in run["rejects"]])
    return 0


def _ok_text(ok: object) -> str:
    if ok is None:
        return "running"
    return "yes" if ok else "no"
