"""Fixtures for the Workday tests: the emulator alone on loopback, an adapter on it."""

from __future__ import annotations

import pytest
from helpers.emulators import adapter_fixtures, emulator_fixtures
from workday.workday_support import TENANT, emulator_of

from migo_sync.adapters.workday.emulator import WorkdayEmulator
from migo_sync.sandbox.process import SandboxThread

workday_server, workday = emulator_fixtures("workday")


@pytest.fixture
def emulator(workday: SandboxThread) -> WorkdayEmulator:
    return emulator_of(workday)


project, adapter = adapter_fixtures("workday", "workday", {"max_concurrency": 2, **TENANT})
