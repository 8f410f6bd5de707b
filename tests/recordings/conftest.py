"""Fixtures of the recording tests (the helpers are in tests/helpers/recordings.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import sandboxed
from helpers.recordings import capture_into

from migo_sync.cli import run_cli


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """Every body any adapter sends while the test runs (through the real client factory)."""
    import migo_sync.systems
    from migo_sync.http import make_client

    bodies: list[bytes] = []

    def capturing(*args: Any, **kwargs: Any) -> httpx.Client:
        kwargs["transport"] = capture_into(kwargs.get("transport"), bodies)
        return make_client(*args, **kwargs)

    monkeypatch.setattr(migo_sync.systems, "make_client", capturing)
    yield bodies


@pytest.fixture
def real_run(captured: list[bytes], sandbox: Any, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], list[bytes]]:
    """`real_run(system, settings)`: the system's shipped mappings over the seeded dataset, run and
    then validated with --remote against the sandbox; every request body sent is returned."""
    def go(system: str, settings: str = "") -> list[bytes]:
        env = sandboxed.every_system_environ(sandbox, tmp_path / "keys")
        project = sandboxed.seeded_project(tmp_path / "p", system, env, settings)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert run_cli(["run", "--project", str(project.root)]) == 0
        assert run_cli(["mapping", "validate", "--remote", "--project", str(project.root)]) == 0
        return captured

    return go
