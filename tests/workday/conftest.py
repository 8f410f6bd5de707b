"""Fixtures for the Workday tests: the emulator alone on loopback, an adapter on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from workday.workday_support import TENANT, emulator_of, sandbox_environ

from migo_sync.adapters.workday.adapter import WorkdayAdapter
from migo_sync.adapters.workday.emulator import WorkdayEmulator
from migo_sync.config import Project, ProjectConfig
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter


@pytest.fixture(scope="session")
def workday_server() -> Iterator[SandboxThread]:
    """Only the Workday emulator: these tests do not depend on the other systems' emulators."""
    handle = SandboxThread(seed=7, only=["workday"])
    yield handle
    handle.stop()


@pytest.fixture
def workday(workday_server: SandboxThread) -> Iterator[SandboxThread]:
    """The emulator reset to its seed, faults off, default knobs; knobs set by a test are undone."""
    workday_server.faults(rate=0.0, seed=7, systems=[])
    emulator_of(workday_server).options.clear()
    workday_server.reset()
    yield workday_server
    emulator_of(workday_server).options.clear()
    workday_server.faults(rate=0.0, seed=7, systems=[])


@pytest.fixture
def emulator(workday: SandboxThread) -> WorkdayEmulator:
    return emulator_of(workday)


@pytest.fixture
def project(workday: SandboxThread, tmp_path: Path) -> Project:
    return Project(root=tmp_path, config=ProjectConfig(systems={"workday": {"max_concurrency": 2, **TENANT}}),
                   environ=sandbox_environ(workday, tmp_path))


@pytest.fixture
def adapter(project: Project) -> Iterator[WorkdayAdapter]:
    opened = open_adapter(project, "workday")
    assert isinstance(opened, WorkdayAdapter)
    yield opened
    opened.close()
