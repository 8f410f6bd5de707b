"""`migo-sync run`, `push NAME`, `pull NAME`: execute mappings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migo_sync.cli.common import (
    ExcludeOpt,
    JsonOpt,
    ProjectOpt,
    QuietOpt,
    SelectOpt,
    TargetOpt,
    VerboseOpt,
    fail,
    load_project,
    terminal,
)
from migo_sync.console import Terminal
from migo_sync.errors import MigoSyncError

if TYPE_CHECKING:
    from migo_sync.config import Project
    from migo_sync.engine.result import MappingResult
    from migo_sync.engine.runner import RunOptions, RunReport

DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Report what would change; write nothing anywhere.")]
FullOpt = Annotated[bool, typer.Option("--full", help="Push: resend every row, not only changed ones.")]
FullRefreshOpt = Annotated[bool, typer.Option("--full-refresh", help="Pull: ignore saved cursors, start over.")]
EveryOpt = Annotated[str | None, typer.Option(
    "--every", metavar="INTERVAL",
    help="Watch mode: run again every INTERVAL (30s, 2m, 1h) until SIGTERM/Ctrl-C; one JSON line per cycle "
         "with --json.")]
ThreadsOpt = Annotated[int | None, typer.Option(
    "--threads", min=1, max=16, metavar="N",
    help="Up to N systems talk to their remotes at once: pulls of other systems read ahead while the run works "
         "through its mappings in order; 1: one at a time (default: [run] threads in migo-sync.toml, else 5).")]
CyclesOpt = Annotated[int | None, typer.Option("--cycles", min=1, metavar="N",
                                               help="Watch mode: stop after N cycles.")]


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
    app.command("push")(push_command)
    app.command("pull")(pull_command)


def run_command(
    names: Annotated[list[str] | None, typer.Argument(help="Selectors, as --select (default: every enabled mapping).",
                                                      metavar="SELECTOR")] = None,
    select: SelectOpt = None,
    exclude: ExcludeOpt = None,
    dry_run: DryRunOpt = False,
    full: FullOpt = False,
    full_refresh: FullRefreshOpt = False,
    threads: ThreadsOpt = None,
    every: EveryOpt = None,
    cycles: CyclesOpt = None,
    project: ProjectOpt = Path("."),
    target: TargetOpt = None,
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Run the nightly job: pushes, then pulls, in dependency order, then reconciliation.

    Examples: migo-sync run tag:nightly --exclude system:zendesk; migo-sync run 'intacct_*' +intacct_gl_detail_pull"""
    from migo_sync.engine.runner import RunOptions

    term = terminal(json_output, verbose, quiet)
    options = RunOptions(names=[*(names or []), *(select or [])], exclude=exclude or [], dry_run=dry_run, full=full,
                         full_refresh=full_refresh, threads=threads)
    if every is not None or cycles is not None:
        from migo_sync.cli.watch import watch

        return watch(project, options, every, cycles, term, target=target)
    return execute(project, options, term, target=target)


def push_command(
    name: Annotated[str, typer.Argument(help="The push mapping to run.", metavar="NAME")],
    dry_run: DryRunOpt = False,
    full: FullOpt = False,
    project: ProjectOpt = Path("."),
    target: TargetOpt = None,
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Push one mapping: send new and changed warehouse rows to its system."""
    from migo_sync.engine.runner import RunOptions

    options = RunOptions(names=[name], direction="push", dry_run=dry_run, full=full, command="push")
    return execute(project, options, terminal(json_output, verbose, quiet), expect=name, target=target)


def pull_command(
    name: Annotated[str, typer.Argument(help="The pull mapping to run.", metavar="NAME")],
    dry_run: DryRunOpt = False,
    full_refresh: FullRefreshOpt = False,
    project: ProjectOpt = Path("."),
    target: TargetOpt = None,
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Pull one mapping: read its remote object into the warehouse, from the saved cursor."""
    from migo_sync.engine.runner import RunOptions

    options = RunOptions(names=[name], direction="pull", dry_run=dry_run, full_refresh=full_refresh, command="pull")
    return execute(project, options, terminal(json_output, verbose, quiet), expect=name, target=target)


def execute(project_dir: Path, options: RunOptions, term: Terminal, expect: str | None = None,
            target: str | None = None) -> int:
    from migo_sync.engine.runner import run
    from migo_sync.interrupt import Interrupted, handle_signals

    try:
        with handle_signals():
            project = load_project(project_dir, target)
            if project.target:
                term.info(f"target: {project.target}")
            with project_lock(project, options), term.progress() as progress:
                report = run(project, options, progress)
        if expect and not report.results:
            from migo_sync.errors import ConfigError

            raise ConfigError(f"mapping '{expect}' is not a {options.direction} mapping")
    except MigoSyncError as exc:
        return fail(term, exc)
    except Interrupted as exc:  # before the run was recorded: nothing was sent
        if term.json_output:
            term.json({"run_id": None, "ok": False, "status": "interrupted", "reason": str(exc),
                       "exit_code": exc.exit_code, "mappings": []})
        term.error(str(exc))
        return exc.exit_code
    show_report(term, report, dry_run=options.dry_run)
    if report.interrupted is not None:
        term.error(f"{report.interrupted}; recorded as run {report.run_id} (status interrupted)")
    return report.exit_code


@contextmanager
def project_lock(project: Project, options: RunOptions) -> Iterator[None]:
    """Hold the project lock while writing (a dry run writes nothing and needs none)."""
    if options.dry_run:
        yield
        return
    from migo_sync.lock import ProjectLock

    with ProjectLock(project.state_dir, options.command):
        options.sole_writer = True
        yield


COUNTER_COLUMNS = ("read", "changed", "written", "rejected", "requests", "seconds")


def mapping_table(term: Terminal, title: str, results: list[dict[str, Any]]) -> None:
    """The per-mapping table `run` prints and `runs show` repeats, numbers formatted alike."""
    rows = [(r.get("name"), r.get("system"), r.get("direction"), r.get("status"), f"{r.get('rows_read', 0):,}",
             f"{r.get('rows_changed', 0):,}", f"{r.get('rows_written', 0):,}", f"{r.get('rows_rejected', 0):,}",
             f"{r.get('requests', 0):,}", f"{float(r.get('seconds') or 0):.2f}") for r in results]
    term.table(title, ["mapping", "system", "direction", "status", *COUNTER_COLUMNS], rows,
               justify=dict.fromkeys(COUNTER_COLUMNS, "right"))


SHOWN = 3  # sample lines per list in a dry-run preview


def show_preview(term: Terminal, r: MappingResult) -> None:
    """What a dry run would do for one mapping: counts, then a few records as `field: value`
    pairs and a few rejects with their reasons, each list ending in "and N more"."""
    d = r.details
    if r.direction == "push":
        term.info(f"{r.name}: {d.get('new', 0):,} new, {d.get('changed', 0):,} changed, "
                  f"{d.get('deleted', 0):,} deleted, {r.rows_rejected:,} rejected")
    elif d:
        counts = ", ".join(f"{d[k]:,} {k}" for k in ("new", "changed", "unchanged", "deleted") if k in d)
        if counts:
            term.info(f"{r.name}: {counts} (compared with the warehouse; reading the remote spent "
                      f"{r.requests:,} request(s); no cursor moved)")
    total = int(d.get("would_send", r.rows_read if r.direction == "pull" else len(r.sample)))
    if r.sample:
        term.info(f"  would {'send' if r.direction == 'push' else 'write'} ({min(SHOWN, len(r.sample))} of {total:,}):")
        for row in r.sample[:SHOWN]:
            term.info("    " + " · ".join(f"{k}: {'NULL' if v is None else v}" for k, v in row.items()))
        if total > SHOWN:
            term.info(f"    … and {total - SHOWN:,} more")
    invalid = d.get("invalid_sample", [])
    if invalid:
        term.info(f"  rejected ({min(SHOWN, len(invalid))} of {r.rows_rejected:,}):")
        for bad in invalid[:SHOWN]:
            term.info(f"    {bad['key']}: {bad['reason']}")
        if r.rows_rejected > SHOWN:
            term.info(f"    … and {r.rows_rejected - SHOWN:,} more")


def show_report(term: Terminal, report: RunReport, *, dry_run: bool = False) -> None:
    if term.json_output:
        term.json(report.as_json())
        return
    for note in report.notes:
        term.info(f"note: {note}")
    title = "Dry run: nothing was written" if dry_run else f"Run {report.run_id}"
    mapping_table(term, title, [r.as_json() for r in report.results])
    for r in report.results:
        if r.error:
            term.error(f"{r.name}: {r.error}")
        if dry_run:
            show_preview(term, r)
    for rec in report.reconciliation:
        diffs = rec.get("differences") or []
        if diffs:
            term.warn(f"reconciliation {rec.get('mapping', '')}: {len(diffs)} difference(s)")
    if any(r.rows_rejected for r in report.results) and report.run_id:
        term.info(f"rejected rows are recorded: migo-sync runs show {report.run_id}")
