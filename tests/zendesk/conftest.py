"""Fixtures for the Zendesk tests: the emulator alone on loopback, adapters on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from zendesk.zendesk_support import configure, make_adapter, restore

from migo_sync.adapters.zendesk.adapter import ZendeskAdapter
from migo_sync.sandbox.process import SandboxThread


@pytest.fixture(scope="session")
def zendesk_server() -> Iterator[SandboxThread]:
    """Only the Zendesk emulator: these tests do not depend on the other systems' emulators."""
    handle = SandboxThread(seed=7, only=["zendesk"])
    yield handle
    handle.stop()


@pytest.fixture
def zd(zendesk_server: SandboxThread) -> Iterator[SandboxThread]:
    """The emulator at its seed with default knobs, except the 10/min export limit (off); faults off."""
    zendesk_server.faults(rate=0.0, seed=7)
    restore(zendesk_server)
    configure(zendesk_server, incremental_limit_per_minute=0)
    yield zendesk_server
    zendesk_server.faults(rate=0.0, seed=7)


@pytest.fixture
def adapter(zd: SandboxThread, tmp_path: Path) -> Iterator[ZendeskAdapter]:
    opened = make_adapter(zd, tmp_path)
    yield opened
    opened.close()
