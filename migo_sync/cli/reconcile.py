"""`migo-sync reconcile SYSTEM [--period YYYY-MM]`: warehouse totals versus what a ledger holds.

For every enabled push mapping of journals to SYSTEM (a feed), the warehouse relation is summed
per account and period (in the warehouse) and compared with the ledger entries of that feed's
own journals; then the whole ledger (its own balances) is compared with all the feeds together.
Exit 0 when everything matches, 1 when anything differs, 2 for a usage or config error, 3 when
unreachable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from migo_sync.cli.common import JsonOpt, ProjectOpt, TargetOpt, fail, load_project, terminal
from migo_sync.config import Project
from migo_sync.console import Terminal
from migo_sync.errors import ConfigError, MigoSyncError
from migo_sync.ledger.reconcile import ReconcileReport

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def reconcile_command(
    system: Annotated[str, typer.Argument(help="The ledger to reconcile with: intacct or workday.")],
    period: Annotated[str | None, typer.Option("--period", help="Only this period (YYYY-MM); default: every "
                                               "period the warehouse data touches.")] = None,
    project: ProjectOpt = Path("."),
    target: TargetOpt = None,
    json_output: JsonOpt = False,
) -> int:
    """Compare warehouse totals per account and period with the ledger's balances."""
    term = terminal(json_output)
    try:
        if period is not None and not PERIOD.match(period):
            raise ConfigError(f"--period '{period}' is not a YYYY-MM period")
        reports, whole = run_reconcile(load_project(project, target), system, [period] if period else None)
    except MigoSyncError as exc:
        return fail(term, exc)
    ok = all(r.ok for r in reports) and whole.ok
    if json_output:
        term.json({"system": system, "ok": ok, "reports": [r.as_dict() for r in reports], "ledger": whole.as_dict()})
    else:
        show(term, [*reports, whole])
    return 0 if ok else 1


def run_reconcile(project: Project, system: str,
                  periods: list[str] | None) -> tuple[list[ReconcileReport], ReconcileReport]:
    """Reconcile every enabled journal push mapping of `system` with its own journals, and the
    whole ledger with all of them together (library entry point of the command)."""
    from migo_sync.ledger.port import as_ledger
    from migo_sync.ledger.reconcile import reconcile, reconcile_ledger
    from migo_sync.mapping.loader import load_mappings
    from migo_sync.systems import open_adapter
    from migo_sync.warehouse import open_warehouse

    adapter = open_adapter(project, system)
    try:
        port = as_ledger(adapter)
        if port is None:
            raise ConfigError(f"{system} is not a ledger: nothing to reconcile (ledgers: intacct, workday)")
        mappings = [m.mapping for m in load_mappings([project.mappings_dir])
                    if m.mapping.system == system and m.mapping.direction == "push"
                    and m.mapping.object == port.journal_object and m.mapping.enabled]
        if not mappings:
            raise ConfigError(f"no enabled push mapping of {port.journal_object} to {system} in "
                              f"{project.mappings_dir}")
        warehouse = open_warehouse(project)
        try:
            chart = port.chart()  # read once, shared by every comparison
            return ([reconcile(warehouse, mapping, port, periods=periods, chart=chart) for mapping in mappings],
                    reconcile_ledger(warehouse, mappings, port, periods=periods, chart=chart))
        finally:
            warehouse.close()
    finally:
        adapter.close()


def show(term: Terminal, reports: list[ReconcileReport]) -> None:
    """Each reconciliation as a table, amounts as `runs show` prints them (exact, grouped)."""
    from migo_sync.evidence.report import money

    for report in reports:
        term.table(f"{report.mapping} ↔ {report.system} ({', '.join(report.periods) or 'no periods'})",
                   ["period", "account", "warehouse", "ledger", "difference", "status"],
                   [(r.period, r.account, money(r.warehouse), money(r.ledger), money(r.difference), r.status)
                    for r in report.rows],
                   justify={"warehouse": "right", "ledger": "right", "difference": "right"})
        if report.ok:
            term.success(f"{report.mapping}: {len(report.rows)} account-periods match")
        else:
            term.warn(f"{report.mapping}: {len(report.differences)} of {len(report.rows)} account-periods differ")
