"""The fixtures every system's tests share: its emulator alone on loopback (one per session), and
the same emulator reset to its seed, faults off and knobs restored, before and after each test.

A system's conftest gets them in two lines:

    intacct_server, intacct = emulator_fixtures("intacct")
    project, adapter = adapter_fixtures("intacct", "intacct")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from migo_sync.adapter import Adapter
from migo_sync.config import Project, ProjectConfig
from migo_sync.registry import load_object, systems
from migo_sync.sandbox.emulator import Emulator
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter

SEED = 7


def emulator_of(handle: SandboxThread, system: str) -> Emulator:
    emulator: Emulator = handle.sandbox.emulators[system]
    return emulator


def restore(handle: SandboxThread, system: str, options: dict[str, Any], **knobs: Any) -> None:
    """The emulator back to `options` (plus `knobs`) and its seeded data; faults off everywhere."""
    emulator = emulator_of(handle, system)
    emulator.options.clear()
    emulator.options.update({**options, **knobs})
    handle.faults(rate=0.0, seed=SEED, systems=[])
    handle.reset(system)


def emulator_fixtures(system: str, *, around: Callable[[SandboxThread], None] | None = None) -> tuple[Any, Any]:
    """(`<system>_server`: session-scoped, only this emulator; a function-scoped fixture that hands
    it over reset, `around` called after each reset: e.g. to drop token caches or set a knob the
    way a caller would, through the emulator's own route)."""
    initial: dict[str, Any] = {}

    @pytest.fixture(scope="session")
    def server() -> Iterator[SandboxThread]:
        handle = SandboxThread(seed=SEED, only=[system])
        initial.update(emulator_of(handle, system).options)
        yield handle
        handle.stop()

    @pytest.fixture
    def fresh(request: pytest.FixtureRequest) -> Iterator[SandboxThread]:
        handle: SandboxThread = request.getfixturevalue(f"{system}_server")
        restore(handle, system, initial)
        if around:
            around(handle)
        yield handle
        restore(handle, system, initial)
        if around:
            around(handle)

    return server, fresh


def sandbox_environ(handle: SandboxThread, system: str, state_dir: Path) -> dict[str, str]:
    """The sandbox's URLs and the system's throwaway credentials (as its registry entry makes them)."""
    spec = systems()[system]
    assert spec.sandbox_credentials, f"{system} declares no sandbox credentials"
    made: dict[str, str] = load_object(spec.sandbox_credentials)(state_dir)
    return {**handle.env, **made, "MIGO_SYNC_NO_KEYRING": "1"}


def adapter_fixtures(system: str, sandbox: str, settings: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(`project`: an empty project on the fixture `sandbox` with `[systems.<system>]` = `settings`;
    `adapter`: the system's adapter opened on it, closed after the test)."""

    @pytest.fixture
    def project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
        handle: SandboxThread = request.getfixturevalue(sandbox)
        config = ProjectConfig(systems={system: dict(settings)} if settings else {})
        return Project(root=tmp_path, config=config, environ=sandbox_environ(handle, system, tmp_path))

    @pytest.fixture
    def adapter(project: Project) -> Iterator[Adapter]:
        opened = open_adapter(project, system)
        yield opened
        opened.close()

    return project, adapter


def throttled_fixture(system: str, in_flight: int, **knobs: Any) -> Any:
    """A module-scoped `tenant` fixture: `system`'s emulator alone, every call taking 200 ms and at
    most `in_flight` served at once (what the concurrency tests measure peak in-flight against)."""

    @pytest.fixture(scope="module")
    def tenant() -> Iterator[SandboxThread]:
        handle = SandboxThread(seed=SEED, only=[system],
                               options={system: {"latency_ms": 200, "max_in_flight": in_flight, **knobs}})
        yield handle
        handle.stop()

    return tenant
