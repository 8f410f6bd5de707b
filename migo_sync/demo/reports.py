"""Extra tables the demo prints after the run, read from the warehouse the run just filled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migo_sync.config import Project
from migo_sync.console import Terminal
from migo_sync.warehouse.base import Warehouse


def show_reports(term: Terminal, root: Path, report: dict[str, Any]) -> None:
    from migo_sync.warehouse import open_warehouse

    warehouse = open_warehouse(Project.load(root))
    try:
        _plan_versus_actual(term, warehouse)
        _support(term, warehouse)
        _reconciliation(term, report)
    finally:
        warehouse.close()


def plan_versus_actual_table(warehouse: Warehouse) -> dict[str, Any] | None:
    """{title, columns, rows} of the demo's plan-versus-actual view; None without its tables."""
    if warehouse.columns("planning.forecast") is None or warehouse.columns("lending.monthly_actuals") is None:
        return None
    from migo_sync.adapters.adaptive.report import plan_vs_actual

    columns, rows = plan_vs_actual(warehouse, version="Forecast Q4 2026", start="2026-08", end="2026-10")
    return {"title": "Plan versus actual (Adaptive forecast pulled back, Aug to Oct 2026)", "columns": columns,
            "rows": rows}


def _plan_versus_actual(term: Terminal, warehouse: Warehouse) -> None:
    table = plan_versus_actual_table(warehouse)
    if table is not None:
        term.table(table["title"], table["columns"], table["rows"])


def _support(term: Terminal, warehouse: Warehouse) -> None:
    """Tickets pulled from Zendesk next to the loan status pushed onto their requesters."""
    if warehouse.columns("support.tickets") is None or warehouse.columns("support.users") is None:
        return
    rows = warehouse.query(
        "SELECT COALESCE(u.loan_status, '(not a customer)') AS loan_status, "
        "SUM(CASE WHEN t.status IN ('new', 'open', 'pending', 'hold') THEN 1 ELSE 0 END) AS open_tickets, "
        "SUM(CASE WHEN t.status IN ('solved', 'closed') THEN 1 ELSE 0 END) AS solved_tickets, "
        "COUNT(DISTINCT t.requester_id) AS requesters "
        "FROM support.tickets t LEFT JOIN support.users u ON u.user_id = t.requester_id "
        "WHERE NOT COALESCE(t.is_deleted, FALSE) GROUP BY 1 ORDER BY 2 DESC")
    term.table("Zendesk tickets pulled back, by the requester's loan status pushed onto Zendesk",
               ["loan status", "open tickets", "solved tickets", "requesters"], rows)


def _reconciliation(term: Terminal, report: dict[str, Any]) -> None:
    for rec in report.get("reconciliation", []):
        rows = rec.get("rows") or []
        term.table(f"Reconciliation: {rec.get('mapping')} (warehouse totals vs what {rec.get('system')} holds)",
                   ["period", "account", "warehouse", "ledger", "difference", "status"],
                   [(r.get("period"), r.get("account"), r.get("warehouse"), r.get("ledger"), r.get("difference"),
                     r.get("status")) for r in rows],
                   justify={"warehouse": "right", "ledger": "right", "difference": "right"})
        diffs = rec.get("differences") or []
        term.info(f"{rec.get('mapping')}: " + ("the ledger matches the warehouse" if rec.get("ok") and not diffs
                                               else f"{len(diffs)} difference(s)"))
