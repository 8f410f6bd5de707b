"""The runner's side of `RunPreparation`: each selected system's preparation begun once at the run's
start, never for a system backed off, and an adapter that cannot be opened left to its mappings."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.runs import wait_until

from migo_sync.adapter import as_run_preparation
from migo_sync.engine.runner import RunOptions, _prepare_systems
from migo_sync.errors import ConfigError, UsageError
from migo_sync.http import REQUEST_STATS

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
    end = _prepare_systems(pool, items, RunOptions(backed_off={"workday": "down"}))  # type: ignore[arg-type]
    REQUEST_STATS.add("intacct")  # the run's first request: the later systems are prepared now
    wait_until(lambda: zendesk.calls == 1, 10, "zendesk's preparation")
    end()
    assert (sheets.calls, zendesk.calls, workday.calls) == (1, 1, 0)
    assert pool.opened == ["sheets", "intacct", "zendesk", "adaptive"]  # in order, each once, workday never


def test_the_first_mappings_system_is_prepared_now_the_others_once_a_request_is_sent(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first mapping's plan and units are what its first request waits for: the other systems'
    preparations begin only once the run's first request is sent (their CPU then overlaps its wait on the
    API), or PREPARE_AFTER s at most; those not begun by the run's end are not."""
    from migo_sync.engine import runner

    first, later = Prepared(), Prepared()
    end = _prepare_systems(Pool({"sheets": first, "workday": later}), [Item("sheets"), Item("workday")],
                           RunOptions())  # type: ignore[arg-type]
    assert (first.calls, later.calls) == (1, 0)
    REQUEST_STATS.add("sheets")
    wait_until(lambda: later.calls == 1, 10, "the later preparation")
    end()

    first, later = Prepared(), Prepared()
    end = _prepare_systems(Pool({"sheets": first, "workday": later}), [Item("sheets"), Item("workday")],
                           RunOptions())  # type: ignore[arg-type]
    end()  # the run ended before any request: nothing more is prepared
    assert (first.calls, later.calls) == (1, 0)

    monkeypatch.setattr(runner, "PREPARE_AFTER", 0.05)
    first, later = Prepared(), Prepared()
    end = _prepare_systems(Pool({"sheets": first, "workday": later}), [Item("sheets"), Item("workday")],
                           RunOptions())  # type: ignore[arg-type]
    wait_until(lambda: later.calls == 1, 10, "the later preparation without a request")
    end()


def test_the_capability_is_found_by_isinstance() -> None:
    assert as_run_preparation(Prepared()) is not None
    assert as_run_preparation(Plain()) is None


def test_the_tls_context_is_built_at_the_runs_start_on_a_thread(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Every client's transport holds the process's TLS context: the run's start begins it on a thread, while
    the project and its mappings load (the run below is held, 10 s at most, until it was built there; without
    it nothing would build it), and a client asking while it is being built waits for that one rather than
    building a second."""
    import threading
    import time

    import httpx
    from helpers.projects import make_project

    from migo_sync import bounded
    from migo_sync.config import Project
    from migo_sync.engine import runner

    built: list[str] = []
    done = threading.Event()
    create = httpx.create_ssl_context

    def creating(*args: Any, **kwargs: Any) -> Any:
        built.append(threading.current_thread().name)
        time.sleep(0.2)  # long enough for the client below to ask meanwhile
        context = create(*args, **kwargs)
        done.set()
        return context

    waited: list[bool] = []
    first: list[Any] = []
    prepare = runner.prepare

    def preparing(*args: Any, **kwargs: Any) -> Any:
        first.append(bounded.shared_ssl_context())  # a client made meanwhile
        waited.append(done.wait(10))
        return prepare(*args, **kwargs)

    bounded.shared_ssl_context()  # one an earlier test's run began is built before this test starts
    monkeypatch.setattr(httpx, "create_ssl_context", creating)
    monkeypatch.setattr(runner, "prepare", preparing)
    bounded._ssl_context.cache_clear()  # as in a fresh process
    try:
        with pytest.raises(UsageError):  # an empty project: the run stops once its mappings are loaded
            runner.run(Project.load(make_project(tmp_path / "project")), runner.RunOptions(dry_run=True))
        assert waited == [True] and built == ["tls-context"]
        assert bounded.shared_ssl_context() is first[0]
    finally:
        bounded._ssl_context.cache_clear()
