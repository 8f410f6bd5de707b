"""The contract suite's plumbing: projects built from a case, runs, SQL, credentials."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from contract.cases import Case
from helpers.emulators import sandbox_environ
from helpers.sandboxed import query as sql
from helpers.sandboxed import seeded_project

from migo_sync.config import Project
from migo_sync.engine.result import MappingResult
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread


def build(case: Case, handle: SandboxThread, root: Path, *, batch_size: int | None = None) -> Project:
    """A DuckDB project with the system's shipped mappings over the seeded lending dataset."""
    env = sandbox_environ(handle, case.system, root.parent / f"{root.name}-keys")
    project = seeded_project(root, case.system, env, case.settings)
    if batch_size is not None:  # confirm every `batch_size` units, so kills land between confirmations
        path = project.mappings_dir / f"{case.push}.yaml"
        text = re.sub(r"(?m)^batch_size:.*\n", "", path.read_text())
        path.write_text(text + f"batch_size: {batch_size}\n")
    return project


def sync(project: Project, *names: str) -> dict[str, MappingResult]:
    return {r.name: r for r in run(project, RunOptions(names=list(names))).results}


def source_keys(case: Case, project: Project) -> set[str]:
    return {str(r[0]) for r in sql(project, case.source_keys)}


def clean_push(case: Case, handle: SandboxThread, root: Path) -> dict[str, list[Any]]:
    """The remote state a push without faults or kills leaves; the emulator is reset after."""
    project = build(case, handle, root)
    result = sync(project, case.push)[case.push]
    assert result.status == "ok", result.error
    state = case.remote(handle)
    handle.reset(case.system)
    return state

