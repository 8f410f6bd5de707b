from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import stamina

os.environ.setdefault("MIGO_SYNC_NO_KEYRING", "1")


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    """Retries still happen in tests, but never sleep."""
    with stamina.set_testing(True, attempts=10):
        yield


@pytest.fixture(autouse=True)
def _isolated_secrets() -> Iterator[None]:
    """Secrets registered by one test (e.g. a 4-letter fakesnow password) must not mask text in the next."""
    from migo_sync import redact

    before = set(redact._secrets)
    yield
    with redact._lock:
        redact._secrets.clear()
        redact._secrets.update(before)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[object]:
    from migo_sync.sandbox.process import SandboxThread

    handle = SandboxThread(seed=7)
    yield handle
    handle.stop()


@pytest.fixture
def sandbox(sandbox_server):  # type: ignore[no-untyped-def]
    """A running sandbox (every emulator) reset to its seeded state, faults off."""
    sandbox_server.faults(rate=0.0, seed=7)
    sandbox_server.reset()
    return sandbox_server
