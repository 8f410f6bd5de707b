"""Fixtures for the Intacct tests: the emulator alone on loopback, an adapter on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from intacct.intacct_support import emulator_of, sandbox_environ

from migo_sync.adapters.intacct.adapter import IntacctAdapter
from migo_sync.adapters.intacct.emulator import IntacctEmulator
from migo_sync.config import Project, ProjectConfig
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter


@pytest.fixture(scope="session")
def intacct_server() -> Iterator[SandboxThread]:
    """Only the Intacct emulator: these tests do not depend on the other systems' emulators."""
    handle = SandboxThread(seed=7, only=["intacct"])
    yield handle
    handle.stop()


@pytest.fixture
def intacct(intacct_server: SandboxThread) -> Iterator[SandboxThread]:
    """The emulator reset to its seed, faults off, default knobs; knobs set by a test are undone."""
    intacct_server.faults(rate=0.0, seed=7)
    emulator_of(intacct_server).options.clear()
    intacct_server.reset()
    yield intacct_server
    emulator_of(intacct_server).options.clear()
    intacct_server.faults(rate=0.0, seed=7)


@pytest.fixture
def emulator(intacct: SandboxThread) -> IntacctEmulator:
    return emulator_of(intacct)


@pytest.fixture
def project(intacct: SandboxThread, tmp_path: Path) -> Project:
    return Project(root=tmp_path, config=ProjectConfig(), environ=sandbox_environ(intacct, tmp_path))


@pytest.fixture
def adapter(project: Project) -> Iterator[IntacctAdapter]:
    opened = open_adapter(project, "intacct")
    assert isinstance(opened, IntacctAdapter)
    yield opened
    opened.close()
