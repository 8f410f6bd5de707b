"""Fixtures for the Adaptive Planning tests: the emulator alone on loopback, an adapter on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from adaptive.adaptive_support import emulator_of, sandbox_environ

from migo_sync.adapters.adaptive.adapter import AdaptiveAdapter
from migo_sync.config import Project, ProjectConfig
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter


@pytest.fixture(scope="session")
def adaptive_server() -> Iterator[SandboxThread]:
    """Only the Adaptive emulator: these tests do not depend on the other systems' emulators."""
    handle = SandboxThread(seed=7, only=["adaptive"])
    yield handle
    handle.stop()


@pytest.fixture
def adaptive_sandbox(adaptive_server: SandboxThread) -> Iterator[SandboxThread]:
    """The emulator reset to its seed, faults off, default knobs; knobs set by a test are undone."""
    emulator = emulator_of(adaptive_server)
    adaptive_server.faults(rate=0.0, seed=7)
    adaptive_server.reset()
    yield adaptive_server
    emulator.options.clear()
    adaptive_server.faults(rate=0.0, seed=7)


@pytest.fixture
def adapter(adaptive_sandbox: SandboxThread, tmp_path: Path) -> Iterator[AdaptiveAdapter]:
    project = Project(root=tmp_path, config=ProjectConfig(), environ=sandbox_environ(adaptive_sandbox, tmp_path))
    opened = open_adapter(project, "adaptive")
    assert isinstance(opened, AdaptiveAdapter)
    yield opened
    opened.close()
