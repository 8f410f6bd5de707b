"""`migo-sync doctor`: is everything a run needs in place? One line per check, dbt-debug style.

Config, mapping files, the warehouse, then for every system an enabled (or selected) mapping
uses: sign-in with the configured credentials (adapter `check_connection()`: reachable, credentials
present and accepted), and one small read of every mapping's remote object (adapter
`check_object()`: readable with these credentials). Nothing is written anywhere. Exit code: 0 all good, else the most serious failure (3 unreachable over 2
config/credentials over 1 anything else).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migo_sync.cli.common import ExcludeOpt, JsonOpt, ProjectOpt, SelectOpt, TargetOpt, load_project, terminal
from migo_sync.console import Terminal
from migo_sync.errors import MigoSyncError, UnreachableError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    exit_code: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "exit_code": self.exit_code}


def failed(name: str, exc: MigoSyncError) -> Check:
    return Check(name, False, str(exc), 3 if isinstance(exc, UnreachableError) else exc.exit_code)


def unreadable(name: str, exc: MigoSyncError) -> Check:
    """An object that cannot be read is a config or permission problem (2), unless the system
    could not be reached (3): the remote answered, and what it refused is ours to fix."""
    check = failed(name, exc)
    return check if check.exit_code == 3 else Check(check.name, False, check.detail, 2)


def doctor_command(
    select: SelectOpt = None,
    exclude: ExcludeOpt = None,
    project: ProjectOpt = Path("."),
    target: TargetOpt = None,
    json_output: JsonOpt = False,
) -> int:
    """Check config, mappings, the warehouse, and sign-in and objects of every system in use."""
    term = terminal(json_output)
    checks = list(run_checks(project, target, select or [], exclude or []))
    worst = max((c.exit_code for c in checks), default=0)
    code = 3 if any(c.exit_code == 3 for c in checks) else 2 if any(c.exit_code == 2 for c in checks) else worst
    if json_output:
        term.json({"ok": code == 0, "exit_code": code, "checks": [c.as_dict() for c in checks]})
    show_checks(term, checks, code)
    return code


def show_checks(term: Terminal, checks: list[Check], code: int) -> None:
    """One line per check, names aligned; a failed doctor ends with how many checks failed."""
    wide = max((len(c.name) for c in checks), default=0)
    for c in checks:
        term.line(c.detail, head=f"{'ok' if c.ok else 'FAIL':4}  {c.name.ljust(wide)}  ")
    if code:
        term.error(f"{sum(not c.ok for c in checks)} of {len(checks)} checks failed")


def run_checks(root: Path, target: str | None, select: list[str], exclude: list[str]) -> Any:
    """Yield each Check as it is made; a failure that leaves nothing to check further stops."""
    from migo_sync.mapping.loader import collect_mappings
    from migo_sync.selection import select as choose
    from migo_sync.systems import AdapterPool

    try:
        project = load_project(root, target)
    except MigoSyncError as exc:
        yield failed("config", exc)
        return
    yield Check("config", True, f"{project.root / 'migo-sync.toml'}"
                + (f" (target {project.target})" if project.target else ""))
    loaded, problems = collect_mappings([project.mappings_dir])
    if problems:
        yield Check("mappings", False, f"{len(problems)} problem(s): {problems[0]} (see: migo-sync mapping validate)", 2)
    try:
        chosen = choose(loaded, select, exclude).mappings
    except MigoSyncError as exc:
        yield failed("selection", exc)
        return
    if not problems:
        yield Check("mappings", True, f"{len(loaded)} file(s), {len(chosen)} selected: "
                    + (", ".join(m.mapping.name for m in chosen) or "none"))
    yield warehouse_check(project)
    pool = AdapterPool(project)
    try:
        for system in dict.fromkeys(m.mapping.system for m in chosen):
            try:
                adapter = pool(system)
                yield Check(f"{system} sign-in", True, adapter.check_connection())
            except MigoSyncError as exc:
                yield failed(f"{system} sign-in", exc)
                continue
            for item in (m for m in chosen if m.mapping.system == system):
                try:
                    said = adapter.check_object(item.mapping)
                    yield Check(item.mapping.name, True, f"{system} {item.mapping.object}: {said}")
                except MigoSyncError as exc:
                    yield unreadable(item.mapping.name, exc)
    finally:
        pool.close()


def warehouse_check(project: Any) -> Check:
    from migo_sync.warehouse import open_warehouse

    try:
        warehouse = open_warehouse(project)
        try:
            warehouse.query("SELECT 1")
        finally:
            warehouse.close()
    except MigoSyncError as exc:
        return failed("warehouse", exc)
    cfg = project.config.warehouse
    where = cfg.path if cfg.type == "duckdb" else cfg.connection_name or cfg.database or "default connection"
    return Check("warehouse", True, f"{cfg.type} {where}: connected")
