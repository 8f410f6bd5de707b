"""What every recorded run leaves in `.migo-sync/runs/<run_id>/`: run_results.json (the `run
--json` document plus the run's reason, reconciliation and a rejects summary) and report.html;
then the alerts the run deserves. Written from the run record just committed, so the files and
`runs show` say the same thing. A file that cannot be written is logged, never fails the run.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migo_sync.config import Project
from migo_sync.evidence.alerts import send_alerts
from migo_sync.evidence.report import render_report
from migo_sync.redact import redact
from migo_sync.warehouse.bookkeeping import Bookkeeping

if TYPE_CHECKING:
    from migo_sync.engine.runner import RunReport

log = logging.getLogger("migo_sync.evidence")
RUNS_DIR = "runs"
REJECTS_SAMPLE = 100
REPORT_REJECTS = 1000


def run_dir(project: Project, run_id: str) -> Path:
    return project.state_dir / RUNS_DIR / run_id


def results_document(report_json: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """run_results.json: the `run --json` document plus what the record adds."""
    rejects = {"total": run.get("rejects_total", 0), "by_mapping": run.get("rejects_by_mapping", {}),
               "sample": [{k: r[k] for k in ("mapping", "row_key", "reason")} for r in
                          (run.get("rejects") or [])[:REJECTS_SAMPLE]]}
    return {**report_json, "command": run.get("command"), "started_at": run.get("started_at"),
            "finished_at": run.get("finished_at"), "exit_code": run.get("exit_code"),
            "reconciliation": run.get("reconciliation", []), "rejects": rejects}


def write_atomically(path: Path, text: str) -> None:
    """Never a half-written file: write beside it, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def write_artifacts(project: Project, book: Bookkeeping, report: RunReport, log_file: Path) -> dict[str, str]:
    """Write run_results.json and report.html for a finished run, send its alerts; return the paths."""
    assert report.run_id is not None
    folder = run_dir(project, report.run_id)
    paths = {"run_results": str(folder / "run_results.json"), "report": str(folder / "report.html"),
             "log": str(log_file)}
    try:
        run = book.get_run(report.run_id, limit=REPORT_REJECTS)
        assert run is not None
        write_atomically(folder / "report.html", render_report(run))
        doc = results_document({**report.as_json(), "artifacts": paths}, run)
        doc["alerts"] = send_alerts(project.config.alerts, doc)
        write_atomically(folder / "run_results.json", redact(json.dumps(doc, indent=2, default=str)) + "\n")
    except Exception as exc:  # evidence must not turn a good run into a failed one
        log.warning("could not write the run's files in %s: %s: %s", folder, type(exc).__name__, exc)
    return paths
