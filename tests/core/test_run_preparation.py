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
