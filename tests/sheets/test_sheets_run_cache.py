"""Sheets at the API's ceiling: a spreadsheet's metadata read once per run and shared by every
mapping on it (read afresh by the next run, and after a push that may have changed the tab), and a
pull's header and first window read together.

What the client sends is recorded with an httpx request hook; concurrency comes from the sandbox's
count of calls in flight (latency on every call): never from timings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.emulators import throttled_fixture
from sheets.sheets_support import unit

from migo_sync.adapters.sheets.adapter import SheetsAdapter
from migo_sync.adapters.sheets.auth import clear_token_cache
from migo_sync.adapters.sheets.sandbox import credentials
from migo_sync.config import Project, ProjectConfig
from migo_sync.mapping.loader import load_mapping_file
from migo_sync.mapping.model import Mapping
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import AdapterPool

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]


def shipped(name: str) -> Mapping:
    return load_mapping_file(REPO / "mappings" / f"{name}.yaml").mapping


tenant = throttled_fixture("sheets", 10)


@pytest.fixture
def project(tenant: SandboxThread, tmp_path: Path) -> Project:
    tenant.reset()
    clear_token_cache()
    environ = {**tenant.env, **credentials(tmp_path), "MIGO_SYNC_NO_KEYRING": "1"}
    return Project(root=tmp_path, config=ProjectConfig(systems={}), environ=environ)


def recorded(pool: AdapterPool) -> tuple[SheetsAdapter, list[str]]:
    """The run's Sheets adapter and the list every request it sends is appended to ("GET /v4/...")."""
    adapter = pool("sheets")
    assert isinstance(adapter, SheetsAdapter)
    sent: list[str] = []

    def hook(request: Any) -> None:
        sent.append(f"{request.method} {request.url.path.split('/sheets', 1)[1]}")

    adapter.client.http.event_hooks["request"].append(hook)
    return adapter, sent


def records(adapter: SheetsAdapter, mapping: Mapping) -> list[dict[str, Any]]:
    return [r for batch in adapter.read(mapping, None) for r in batch.records]


METADATA = "GET /v4/spreadsheets/migo-finance-manual"


def test_metadata_is_read_once_per_run_and_afresh_by_the_next(project: Project, tenant: SandboxThread) -> None:
    fx, adjustments = shipped("sheets_fx_rates_pull"), shipped("sheets_manual_adjustments_pull")
    pool = AdapterPool(project)
    try:
        adapter, sent = recorded(pool)
        assert len(records(adapter, fx)) == 20 and len(records(adapter, adjustments)) == 30
    finally:
        pool.close()
    assert sent.count(METADATA) == 1  # both tabs of one spreadsheet, one metadata read
    values = [s for s in sent if "/values/" in s]
    assert len(values) == 4  # per pull: the header and one window, the minimum
    assert tenant.limits()["sheets"]["peak_in_flight"] == 2  # the header and the first window together
    pool = AdapterPool(project)  # the next run (a watch cycle): its own adapter, fresh metadata
    try:
        adapter, sent = recorded(pool)
        records(adapter, fx)
    finally:
        pool.close()
    assert sent.count(METADATA) == 1


def test_a_push_drops_the_metadata_it_may_have_changed(project: Project) -> None:
    push = shipped("sheets_collections_push")
    pool = AdapterPool(project)
    try:
        adapter, sent = recorded(pool)
        work = unit([{f.remote: f"{f.remote} {n}" if f.remote != "Priority" else n for f in push.fields}
                     for n in range(1, 501)])  # more rows than the seeded tab's grid: it is resized
        assert adapter.check(push, [work]) == {}
        assert all(r.ok for r in adapter.write(push, [work]))
        metadata = "GET /v4/spreadsheets/migo-collections"
        assert sent.count(metadata) == 1  # checks and write share one read
        adapter.describe(push)
        assert sent.count(metadata) == 2  # after the push, the grid is read again
    finally:
        pool.close()


def test_the_clear_goes_with_the_writes_and_leaves_nothing_old(project: Project, tenant: SandboxThread) -> None:
    """Narrower and shorter than before: the old rows below and the old columns to the right are
    cleared by one request sent together with the writes (disjoint ranges, so they cannot race)."""
    push = shipped("sheets_collections_push")
    narrow = push.model_copy(update={"fields": push.fields[:3]})

    def rows(count: int, fields: Any) -> Any:
        return unit([{f.remote: n if f.remote == "Priority" else f"{f.remote} {n}" for f in fields}
                     for n in range(1, count + 1)])

    pool = AdapterPool(project)
    try:
        adapter, sent = recorded(pool)
        assert all(r.ok for r in adapter.write(push, [rows(40, push.fields)]))
        assert all(r.ok for r in adapter.write(narrow, [rows(5, narrow.fields)]))
    finally:
        pool.close()
    tab = tenant.dump("sheets")["spreadsheets"]["migo-collections"]["tabs"]["Collections"]["rows"]
    assert [row for row in tab if any(cell not in ("", None) for cell in row)] == [
        ["Priority", "Days Past Due", "Loan ID"], *([n, f"Days Past Due {n}", f"Loan ID {n}"] for n in range(1, 6))]
    assert sent.count("POST /v4/spreadsheets/migo-collections/values:batchClear") == 2
    assert tenant.limits()["sheets"]["peak_in_flight"] == 2  # a clear and a write in flight together


def test_a_pulls_windows_are_read_together_and_loaded_in_order(project: Project, tenant: SandboxThread) -> None:
    fx = shipped("sheets_fx_rates_pull")
    pool = AdapterPool(project)
    try:
        adapter, sent = recorded(pool)
        tab = next(t["properties"] for t in adapter.metadata("migo-finance-manual")["sheets"]
                   if t["properties"]["title"] == "FX Rates")
        below = tab["gridProperties"]["rowCount"] - 1  # the grid below the header is read, in windows
        small = fx.model_copy(update={"options": {**fx.options, "window_rows": -(-below // 5)}})  # five windows
        together = records(adapter, small)
    finally:
        pool.close()
    assert sum(1 for s in sent if "/values/" in s) == 1 + 5  # the header and five windows: the minimum
    assert tenant.limits()["sheets"]["peak_in_flight"] == 1 + 4  # the header and max_concurrency (4) windows
    project.config.systems["sheets"] = {"max_concurrency": 1}
    pool = AdapterPool(project)
    try:
        adapter, _ = recorded(pool)
        one_by_one = records(adapter, small)
    finally:
        pool.close()
    assert together == one_by_one and len(together) == 20
