from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

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


# fakesnow's server thread asks DuckDB for Arrow output the way DuckDB 2 warns about; pytest turns
# warnings into errors, which would fail the fake server's requests, not our code.
FAKESNOW_WARNING = "Arrow output on a DB-API result"


@pytest.fixture(scope="session")
def fakesnow_kwargs() -> Iterator[dict[str, Any]]:
    """Connection kwargs of THE fakesnow server of this test process, on loopback.

    One per process, shared by every test: `fakesnow.server()` imports its own `fakesnow.server`
    module, which replaces the function on the package, so a second call in one process fails with
    "'module' object is not callable". Each test uses a database of its own on it.
    """
    import warnings

    fakesnow = pytest.importorskip("fakesnow")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=FAKESNOW_WARNING, category=UserWarning)
        with fakesnow.server() as kwargs:
            yield dict(kwargs)


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
