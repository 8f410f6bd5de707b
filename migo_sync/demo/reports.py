"""Extra tables the demo prints after the run, read from the warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migo_sync.config import Project
from migo_sync.console import Terminal


def show_reports(term: Terminal, root: Path, report: dict[str, Any]) -> None:
    from migo_sync.warehouse import open_warehouse

    warehouse = open_warehouse(Project.load(root))
    try:
        if warehouse.columns("planning.forecast") is not None and warehouse.columns("lending.monthly_actuals"):
            from migo_sync.adapters.adaptive.report import plan_vs_actual

            columns, rows = plan_vs_actual(warehouse, version="Forecast Q4 2026", start="2026-08", end="2026-10")
            term.table("Plan versus actual (Adaptive forecast pulled back, Aug to Oct 2026)", columns, rows)
        for rec in report.get("reconciliation", []):
            diffs = rec.get("differences") or []
            term.info(f"reconciliation of {rec.get('mapping')}: "
                      + ("ledger matches the warehouse" if not diffs else f"{len(diffs)} difference(s)"))
    finally:
        warehouse.close()
