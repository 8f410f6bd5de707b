"""A DuckDB project with the Sheets push and pull mappings, credentials for the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.projects import sheets_project

from migo_sync.sandbox.process import SandboxThread


@pytest.fixture
def project_env(tmp_path: Path, sandbox: SandboxThread) -> dict[str, str]:
    from migo_sync.adapters.sheets.sandbox import credentials

    return {**sandbox.env, **credentials(tmp_path / "keys")}


@pytest.fixture
def project(tmp_path: Path, project_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for key, value in project_env.items():
        monkeypatch.setenv(key, value)
    yield sheets_project(tmp_path / "project")
