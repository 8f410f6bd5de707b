"""Fixtures for the Intacct tests: the emulator alone on loopback, an adapter on it."""

from __future__ import annotations

import pytest
from helpers.emulators import adapter_fixtures, emulator_fixtures
from intacct.intacct_support import emulator_of

from migo_sync.adapters.intacct.emulator import IntacctEmulator
from migo_sync.sandbox.process import SandboxThread

intacct_server, intacct = emulator_fixtures("intacct")


@pytest.fixture
def emulator(intacct: SandboxThread) -> IntacctEmulator:
    return emulator_of(intacct)


project, adapter = adapter_fixtures("intacct", "intacct")
