"""Projects for end-to-end tests against the sandbox: a system's shipped mappings over a small
seeded lending dataset, with the environment that points them at the emulators."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from migo_sync.config import Project
from migo_sync.demo.dataset import Sizes, seed
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse

REPO = Path(__file__).resolve().parents[2]
SIZES = Sizes(customers=200, loans=300)


def sandbox_environ(handle: SandboxThread, credentials: Mapping[str, str]) -> dict[str, str]:
    """The sandbox's URLs plus a system's sandbox credentials; never the developer's keyring."""
    return {**handle.env, **credentials, "MIGO_SYNC_NO_KEYRING": "1"}


def every_system_environ(handle: SandboxThread, state_dir: Path) -> dict[str, str]:
    """The sandbox's URLs plus every system's sandbox credentials (keys written under state_dir)."""
    from migo_sync.registry import load_object, systems

    env: dict[str, str] = {}
    for spec in systems().values():
        assert spec.sandbox_credentials, spec.name
        env.update(load_object(spec.sandbox_credentials)(state_dir))
    return sandbox_environ(handle, env)


def seeded_project(root: Path, system: str, env: dict[str, str], settings: str = "") -> Project:
    """A project with the shipped `<system>_*.yaml` mappings, `[systems.<system>]` holding `settings`
    (TOML lines), and the lending dataset seeded at SIZES into its DuckDB warehouse."""
    (root / "mappings").mkdir(parents=True)
    for path in (REPO / "mappings").glob(f"{system}_*.yaml"):
        shutil.copy(path, root / "mappings" / path.name)
    (root / "migo-sync.toml").write_text(
        f'[warehouse]\ntype = "duckdb"\npath = "warehouse.duckdb"\ncreate = true\n\n[systems.{system}]\n' + settings)
    project = Project.load(root)
    project.environ = env
    warehouse = open_warehouse(project)
    try:
        seed(warehouse, sizes=SIZES)
    finally:
        warehouse.close()
    return project


def journal_ids(project: Project) -> list[str]:
    """Every journal of the seeded lending.journal_lines, in order."""
    warehouse = open_warehouse(project)
    try:
        return [r[0] for r in warehouse.query("SELECT DISTINCT journal_id FROM lending.journal_lines ORDER BY 1")]
    finally:
        warehouse.close()


def query(project: Project, statement: str) -> list[tuple[Any, ...]]:
    """Run one SQL statement on the project's warehouse (opened and closed around it)."""
    warehouse = open_warehouse(project)
    try:
        return warehouse.query(statement)
    finally:
        warehouse.close()
