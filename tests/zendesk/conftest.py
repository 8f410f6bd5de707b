"""Fixtures for the Zendesk tests: the emulator alone on loopback, adapters on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.emulators import emulator_fixtures
from zendesk.zendesk_support import configure, make_adapter

from migo_sync.adapters.zendesk.adapter import ZendeskAdapter
from migo_sync.sandbox.process import SandboxThread

# the 10/min export limit off (set through the emulator's route, one request): tests that need it set it
zendesk_server, zd = emulator_fixtures("zendesk", around=lambda handle: configure(handle, incremental_limit_per_minute=0))


@pytest.fixture
def adapter(zd: SandboxThread, tmp_path: Path) -> Iterator[ZendeskAdapter]:
    opened = make_adapter(zd, tmp_path)
    yield opened
    opened.close()
