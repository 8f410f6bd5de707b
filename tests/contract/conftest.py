"""Fixtures of the adapter contract suite: the session's sandbox (every emulator on one loopback
server, tests/conftest.py), the case's emulator reset before and after each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from contract.cases import Case
from helpers.emulators import restore

from migo_sync.sandbox.process import SandboxThread


@pytest.fixture(scope="session")
def initial_options(sandbox_server: SandboxThread) -> dict[str, dict[str, Any]]:
    return {name: dict(em.options) for name, em in sandbox_server.sandbox.emulators.items()}


@pytest.fixture
def remote(sandbox_server: SandboxThread, initial_options: dict[str, dict[str, Any]], case: Case
           ) -> Iterator[SandboxThread]:
    """The case's emulator at its seed with the case's knobs; faults off before and after."""
    restore(sandbox_server, case.system, initial_options[case.system], **case.emulator_options)
    yield sandbox_server
    restore(sandbox_server, case.system, initial_options[case.system])
