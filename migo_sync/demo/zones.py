"""The demo's trust-zone story, after the nightly run filled the DMZ from the finance sheet:
the promoted manual adjustments posted to Intacct with their checks, the FX revaluation from
the unpromoted FX Rates sheet refused with its path, and the lineage of one term."""

from __future__ import annotations

from typing import Any

from migo_sync.config import Project
from migo_sync.console import Terminal
from migo_sync.engine.result import MappingResult
from migo_sync.engine.runner import RunOptions, run
from migo_sync.errors import MappingError

PROMOTED = "intacct_adjustments_push"
REFUSED = "intacct_fx_revaluation_push"
TERM = "department"
SETTLE = ("intacct_gl_detail_pull", "intacct_trial_balance_pull")


def run_zones(project: Project) -> dict[str, Any]:
    """Run the two ledger pushes from the DMZ while the sandbox is up; what to show afterwards.
    Never changes the demo's exit code: the nightly job is what the demo reports on."""
    report = run(project, RunOptions(names=[PROMOTED], command="demo"))
    # The ledger now holds the adjustments: pull it back so the warehouse is settled (a rerun
    # of the demo on the same state then writes nothing).
    run(project, RunOptions(names=list(SETTLE), command="demo"))
    refusals: list[str] = []
    try:
        run(project, RunOptions(names=[REFUSED], command="demo"))
    except MappingError as exc:
        refusals = [p.message for p in exc.problems]
    return {"promoted": report.results[0], "refused": refusals}


def show_zones(term: Terminal, project: Project, story: dict[str, Any]) -> None:
    result: MappingResult = story["promoted"]
    for promotion in result.details.get("promotions", []):
        term.table(f"Promotion of DMZ relation {promotion['relation']} for {PROMOTED} "
                   f"(approver: {promotion['approver']})", ["check", "passed", "detail"],
                   [(c["check"], "yes" if c["ok"] else "NO", c["detail"]) for c in promotion["checks"]])
    if result.status in ("ok", "rejected"):
        term.success(f"{PROMOTED}: promoted; {result.rows_written} adjustment line(s) posted to Intacct in this "
                     f"run, {result.rows_read} read (a rerun posts nothing twice)")
    else:
        term.warn(f"{PROMOTED}: {result.error}")
    for message in story["refused"] or [f"{REFUSED} was not refused"]:
        term.info(f"{REFUSED} refused: {message}")
    from migo_sync.lineage.project import project_lineage
    from migo_sync.lineage.render import as_text, focus

    graph, zone, synonyms = project_lineage(project)
    term.info(f"Lineage of dictionary term '{TERM}' (migo-sync lineage {TERM}):")
    term.info(as_text(focus(graph, TERM, synonyms), zone))
