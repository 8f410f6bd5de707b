from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import stamina

os.environ.setdefault("MIGO_SYNC_NO_KEYRING", "1")


# Modules whose tests share a costly module-scoped fixture (test_demo's demo runs): one worker runs
# each of them whole. xdist's `xdist_group` mark cannot do that under pytest 9.2 (xdist renames the
# item's `_nodeid`, which pytest 9 no longer reads), so the scheduler below groups them by path.
WHOLE_MODULES = frozenset({"tests/core/test_demo.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first: those marked `slow`, then those on fakesnow, each kind in its usual
    order. In collection order a 20 s test handed out last stretched the run's tail by its length."""
    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slow") is not None:
            return 0
        return 1 if "snowflake" in item.nodeid else 2

    items.sort(key=rank)  # stable: the order within each kind is kept


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With `-n` and `--dist loadgroup` (pyproject): every test is its own unit of work, handed in
    the order above to whichever worker is free, except each of WHOLE_MODULES, one unit (handed
    out first: xdist hands the larger units out first)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class TestsOrWholeModules(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in WHOLE_MODULES else nodeid

    return TestsOrWholeModules(config, log)


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
