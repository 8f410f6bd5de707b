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
        for rec in report.get("reconciliation", []):
            diffs = rec.get("differences") or []
            term.info(f"reconciliation of {rec.get('mapping')}: "
                      + ("ledger matches the warehouse" if not diffs else f"{len(diffs)} difference(s)"))
    finally:
        warehouse.close()
