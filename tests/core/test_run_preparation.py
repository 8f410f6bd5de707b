"""The runner's side of `RunPreparation`: each selected system's preparation begun once at the run's
start, never for a system backed off, and an adapter that cannot be opened left to its mappings."""

from __future__ import annotations

from typing import Any

import pytest

from migo_sync.adapter import as_run_preparation
from migo_sync.engine.runner import RunOptions, _prepare_systems
from migo_sync.errors import ConfigError

pytestmark = pytest.mark.timeout(30)


class Prepared:
    def __init__(self) -> None:
        self.calls = 0

    def prepare_run(self) -> None:
        self.calls += 1


class Plain:
    """An adapter without the capability."""


class Pool:
    def __init__(self, adapters: dict[str, Any]) -> None:
        self.adapters = adapters
        self.opened: list[str] = []

    def __call__(self, system: str) -> Any:
        self.opened.append(system)
        found = self.adapters[system]
        if isinstance(found, Exception):
            raise found
        return found


class Item:
    def __init__(self, system: str) -> None:
        self.mapping = type("M", (), {"system": system})()


def test_each_selected_system_is_prepared_once_unless_backed_off() -> None:
    sheets, zendesk, workday = Prepared(), Prepared(), Prepared()
    pool = Pool({"sheets": sheets, "zendesk": zendesk, "workday": workday, "intacct": Plain(),
                 "adaptive": ConfigError("adaptive: broken settings")})
    items = [Item(s) for s in ("sheets", "intacct", "sheets", "zendesk", "adaptive", "workday", "zendesk")]
    _prepare_systems(pool, items, RunOptions(backed_off={"workday": "down"}))  # type: ignore[arg-type]
    assert (sheets.calls, zendesk.calls, workday.calls) == (1, 1, 0)
    assert pool.opened == ["sheets", "intacct", "zendesk", "adaptive"]  # in order, each once, workday never


def test_the_capability_is_found_by_isinstance() -> None:
    assert as_run_preparation(Prepared()) is not None
    assert as_run_preparation(Plain()) is None


def test_the_tls_context_is_built_at_the_runs_start_on_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client's transport holds the process's TLS context: the run's start begins it on a thread
    (10 s at most to see it built there), and a client asking while it is being built waits for that one
    rather than building a second."""
    import threading
    import time

    import httpx

    from migo_sync import bounded

    built: list[str] = []
    done = threading.Event()
    create = httpx.create_ssl_context

    def creating(*args: Any, **kwargs: Any) -> Any:
        built.append(threading.current_thread().name)
        time.sleep(0.2)  # long enough for the client below to ask meanwhile
        context = create(*args, **kwargs)
        done.set()
        return context

    bounded.shared_ssl_context()  # one an earlier test's run began is built before this test starts
    monkeypatch.setattr(httpx, "create_ssl_context", creating)
    bounded._ssl_context.cache_clear()  # as in a fresh process
    try:
        _prepare_systems(Pool({"intacct": Plain()}), [Item("intacct")], RunOptions())  # type: ignore[arg-type]
        first = bounded.shared_ssl_context()  # a client made meanwhile
        assert done.wait(10) and built == ["tls-context"]
        assert bounded.shared_ssl_context() is first
    finally:
        bounded._ssl_context.cache_clear()
