"""`migo-sync runs list|show`: what earlier runs did, from the warehouse's bookkeeping."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migo_sync.cli.common import (
    ExcludeOpt,
    JsonOpt,
    ProjectOpt,
    SelectOpt,
    TargetOpt,
    fail,
    load_project,
    terminal,
)
from migo_sync.console import Terminal
from migo_sync.errors import ConfigError, MigoSyncError, UsageError

if TYPE_CHECKING:
    from migo_sync.warehouse.bookkeeping import Bookkeeping

RunIdArg = Annotated[str, typer.Argument(help="A run id from 'runs list', or 'last'.", metavar="RUN_ID|last")]
app = typer.Typer(help="Inspect recorded runs.", no_args_is_help=True, rich_markup_mode=None)


@contextmanager
def bookkeeping(project: Path, target: str | None = None) -> Iterator[Bookkeeping]:
    """The project's bookkeeping, on a warehouse connection closed afterwards. Runs left
    `running` by a process that died are recorded as `died` first (when no process holds the
    project lock, none can be running)."""
    from migo_sync.lock import nobody_running
    from migo_sync.warehouse import open_warehouse
    from migo_sync.warehouse.bookkeeping import Bookkeeping

    loaded = load_project(project, target)
    warehouse = open_warehouse(loaded)
    try:
        book = Bookkeeping(warehouse)
        book.ensure()
        if nobody_running(loaded.state_dir):
            book.mark_died()
        yield book
    finally:
        warehouse.close()


def load_run(project: Path, run_id: str, rejects: int) -> dict[str, Any]:
    """One recorded run (`last` or an id) with at most `rejects` of its rejects; ConfigError if none."""
    with bookkeeping(project) as book:
        run = book.get_run(resolve(book, run_id), limit=rejects)
    if run is None:
        raise ConfigError(f"no run '{run_id}' (see: migo-sync runs list)")
    return run


def resolve(book: Bookkeeping, run_id: str) -> str:
    """`last` is the newest run; anything else must be a recorded run id."""
    if run_id == "last":
        last = book.last_run_id()
        if last is None:
            raise ConfigError("no run recorded yet (run: migo-sync run)")
        return last
    return run_id


SCAN = 2000  # how many recent runs a selection looks through


@app.command("list")
def list_command(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs, newest first.", min=1)] = 20,
    select: SelectOpt = None,
    exclude: ExcludeOpt = None,
    project: ProjectOpt = Path("."),
    target: TargetOpt = None,
    json_output: JsonOpt = False,
) -> int:
    """List recent runs, newest first; with --select, only runs that ran a selected mapping."""
    term = terminal(json_output)
    try:
        wanted = _selected_names(project, select or [], exclude or []) if select or exclude else None
        with bookkeeping(project, target) as book:
            if wanted is None:
                runs = book.list_runs(limit)
            else:
                runs = []
                for run in book.list_runs(SCAN):
                    detail = book.get_run(run["run_id"], limit=0) or {}
                    if any(m.get("name") in wanted for m in detail.get("mappings", [])):
                        runs.append(run)
                        if len(runs) >= limit:
                            break
    except MigoSyncError as exc:
        return fail(term, exc)
    if json_output:
        term.json({"runs": runs})
    else:
        show_runs(term, runs)
    return 0


def show_runs(term: Terminal, runs: list[dict[str, Any]]) -> None:
    """Recent runs as a table, newest first, each with why it is not ok."""
    term.table("Runs", ["run", "command", "started", "finished", "status", "why"],
               [(r["run_id"], r["command"], r.get("started_at"), r.get("finished_at"), r["status"],
                 r.get("reason") or "") for r in runs])


@app.command("show")
def show_command(
    run_id: RunIdArg,
    rejects: Annotated[int, typer.Option("--rejects", help="How many rejects to show.", min=0)] = 50,
    project: ProjectOpt = Path("."),
    json_output: JsonOpt = False,
) -> int:
    """Show one run: each mapping's result, the rows it rejected with reasons, its reconciliation."""
    term = terminal(json_output)
    try:
        run = load_run(project, run_id, rejects)
    except MigoSyncError as exc:
        return fail(term, exc)
    if json_output:
        term.json(run)
        return 0
    show_run(term, run)
    return 0


def show_run(term: Terminal, run: dict[str, Any]) -> None:
    """A recorded run on stdout, its numbers formatted as `run` prints them."""
    from migo_sync.cli.run import mapping_table
    from migo_sync.evidence.report import money

    term.table(None, ["run", "command", "started", "finished", "status", "exit"],
               [(run["run_id"], run.get("command"), run.get("started_at"), run.get("finished_at") or "",
                 run["status"], "" if run.get("exit_code") is None else run["exit_code"])])
    if run.get("reason"):
        term.table(None, ["why"], [(run["reason"],)])
    mapping_table(term, "Mappings", run.get("mappings", []))
    errors = [(m["name"], m.get("error_class") or "", m["error"]) for m in run.get("mappings", []) if m.get("error")]
    if errors:
        term.table("Errors", ["mapping", "class", "message"], errors)
    for rec in run.get("reconciliation", []):
        title = f"Reconciliation {rec['mapping']} ({rec['system']}): " + (
            "could not be done" if rec.get("error") else f"{rec['compared']:,} compared, "
            f"{len(rec['differences']):,} difference(s)")
        if rec.get("error"):
            term.table(title, ["error"], [(rec["error"],)])
            continue
        term.table(title, ["period", "account", "warehouse", "ledger", "difference", "status"],
                   [(r["period"], r["account"], money(r["warehouse"]), money(r["ledger"]), money(r["difference"]),
                     r["status"]) for r in rec["rows"]],
                   justify=dict.fromkeys(["warehouse", "ledger", "difference"], "right"))
    if run.get("rejects"):
        shown = len(run["rejects"])
        total = run.get("rejects_total", shown)
        title = f"Rejects ({total:,})" if shown == total else f"Rejects (first {shown:,} of {total:,})"
        term.table(title, ["mapping", "row", "reason"],
                   [(r.get("mapping"), r.get("row_key"), r.get("reason")) for r in run["rejects"]])



@app.command("log")
def log_command(
    run_id: RunIdArg,
    project: ProjectOpt = Path("."),
    json_output: JsonOpt = False,
) -> int:
    """Show one run's log: every request, batch and mapping event (JSON lines with --json)."""
    from migo_sync.evidence.runlog import log_path, read_events, readable

    term = terminal(json_output)
    try:
        with bookkeeping(project) as book:
            found = resolve(book, run_id)
        path = log_path(load_project(project).state_dir, found)
        if not path.exists():
            raise ConfigError(f"{path}: no log for run '{found}' (pruned, or the run predates logs)")
        events = read_events(path)
        if json_output:
            for event in events:
                sys.stdout.write(json.dumps(event) + "\n")
        else:
            for event in events:
                term.out.print(readable(event), markup=False, highlight=False, soft_wrap=True)
    except MigoSyncError as exc:
        return fail(term, exc)
    except OSError as exc:
        return fail(term, ConfigError(f"cannot read the run log: {exc}"))
    return 0


@app.command("report")
def report_command(
    run_id: RunIdArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML page.",
                                         dir_okay=False)] = Path("report.html"),
    project: ProjectOpt = Path("."),
    json_output: JsonOpt = False,
) -> int:
    """Write one run as a self-contained HTML page (no network needed to open it)."""
    from migo_sync.evidence.artifacts import REPORT_REJECTS, write_atomically
    from migo_sync.evidence.report import render_report

    term = terminal(json_output)
    try:
        run = load_run(project, run_id, REPORT_REJECTS)
        found = run["run_id"]
        write_atomically(output, render_report(run))
    except MigoSyncError as exc:
        return fail(term, exc)
    except OSError as exc:
        return fail(term, ConfigError(f"{output}: cannot write the report: {exc.strerror or exc}"))
    if json_output:
        term.json({"run_id": found, "report": str(output.resolve())})
    else:
        term.success(f"report of run {found} written to {output}")
    return 0


def _selected_names(project: Path, select: list[str], exclude: list[str]) -> set[str]:
    """Names of the project's mappings a selection picks, disabled ones included (history)."""
    from migo_sync.mapping.loader import load_mappings
    from migo_sync.selection import matching

    loaded = load_mappings([load_project(project).mappings_dir])
    chosen = {m.mapping.name for term in select for m in matching(loaded, term, enabled_only=False)}
    if not select:
        chosen = {m.mapping.name for m in loaded}
    if select and not chosen:
        raise UsageError(f"--select {' '.join(select)} matches no mapping")
    return chosen - {m.mapping.name for term in exclude for m in matching(loaded, term, enabled_only=False)}


def _ok_text(ok: object) -> str:
    if ok is None:
        return "running"
    return "yes" if ok else "no"
