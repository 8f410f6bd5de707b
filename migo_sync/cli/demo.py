"""`migo-sync demo`: a throwaway (or kept) project, seeded, synced against the sandbox."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from migo_sync.cli.common import JsonOpt, VerboseOpt, fail, terminal
from migo_sync.config import Project
from migo_sync.console import Terminal
from migo_sync.errors import MigoSyncError


def demo_command(
    project: Annotated[Path | None, typer.Option("--project", "-p", help="Keep the project, its warehouse and "
                                                 "the sandbox state here; run again to rerun on the same state.",
                                                 file_okay=False)] = None,
    fault_rate: Annotated[float, typer.Option("--fault-rate", help="Inject faults into this share of requests.",
                                              min=0.0, max=1.0)] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic data and the sandbox.")] = 42,
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> int:
    """Seed a DuckDB warehouse with a synthetic lending dataset, start the sandbox, run every shipped
    mapping (the real nightly job) and print a summary."""
    from migo_sync.cli.run import show_report
    from migo_sync.demo.dataset import seed as seed_dataset
    from migo_sync.demo.project import SANDBOX_OPTIONS, create_project, demo_root, sandbox_credentials
    from migo_sync.demo.zones import run_zones, show_zones
    from migo_sync.engine.runner import RunOptions, run
    from migo_sync.sandbox.process import SandboxProcess
    from migo_sync.warehouse import open_warehouse

    term = terminal(json_output, verbose)
    try:
        with demo_root(project) as paths:
            proj = create_project(paths.root)
            warehouse = open_warehouse(proj, create=True)  # the demo seeds its own warehouse
            try:
                fresh = warehouse.columns("lending.customers") is None
                if fresh:
                    counts = seed_dataset(warehouse, seed)
                    term.info("seeded the warehouse: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
            finally:
                warehouse.close()
            state_dir = proj.state_dir / "sandbox"
            with SandboxProcess(state_dir=state_dir, fault_rate=fault_rate, seed=seed,
                                options=SANDBOX_OPTIONS) as sandbox:
                term.info(f"sandbox on {sandbox.url} (fault rate {fault_rate})")
                proj.environ.update(sandbox.env)
                proj.environ.update(sandbox_credentials(proj.state_dir))
                with term.progress() as progress:
                    report = run(proj, RunOptions(command="demo"), progress)
                # the trust-zone story runs once, on a fresh project (a rerun must change nothing remote)
                story = run_zones(proj) if report.ok and fresh else None
            page = write_demo_report(proj, report.run_id, None if paths.keep else Path(tempfile.gettempdir()))
            show_report(term, report)
            if not json_output:
                _extras(term, proj.root, report.as_json())
                if story is not None:
                    show_zones(term, proj, story)
                if page is not None:
                    term.info(f"the run's report (open it in a browser): {page}")
                if paths.keep:
                    term.info(f"project kept in {proj.root}; see what reached a system with: "
                              f"migo-sync sandbox dump SYSTEM --project {proj.root}")
    except MigoSyncError as exc:
        return fail(term, exc)
    return report.exit_code


def write_demo_report(proj: Project, run_id: str | None, folder: Path | None) -> Path | None:
    """The run's HTML report (the plan-versus-actual view comes from the run record, as for any
    run); in the kept project's run folder, or in `folder` when the project is temporary."""
    from migo_sync.evidence.artifacts import REPORT_REJECTS, run_dir, write_atomically
    from migo_sync.evidence.report import render_report
    from migo_sync.warehouse import open_warehouse
    from migo_sync.warehouse.bookkeeping import Bookkeeping

    if run_id is None:
        return None
    warehouse = open_warehouse(proj)
    try:
        run = Bookkeeping(warehouse).get_run(run_id, limit=REPORT_REJECTS)
    finally:
        warehouse.close()
    if run is None:
        return None
    page = (folder / f"migo-sync-demo-{run_id}.html") if folder else run_dir(proj, run_id) / "report.html"
    write_atomically(page, render_report(run))
    return page


def _extras(term: Terminal, root: Path, report: dict[str, Any]) -> None:
    """Reports that adapters contribute to the demo (plan versus actual, reconciliation)."""
    from migo_sync.demo.reports import show_reports

    show_reports(term, root, report)
