"""Adaptive at the API's ceiling: exportData slices in flight together, the push's metadata exports
issued together and read once per run (shared with the metadata pulls).

The sandbox answers like a tenant (latency, an in-flight cap of 2 that refuses one call more) and
records the most calls it saw in flight: concurrency is asserted from that count and from request
counts at the minimum, never from timings.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from adaptive.adaptive_support import pull_mapping, push_mapping, sandbox_environ, unit
from helpers.emulators import throttled_fixture

from migo_sync.adapter import PullBatch
from migo_sync.adapters.adaptive.adapter import AdaptiveAdapter
from migo_sync.config import Project, ProjectConfig
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter

pytestmark = pytest.mark.timeout(120)
CAP = 2
FORECAST = {"versions": ["Forecast Q4 2026"], "start": "2026-01", "end": "2026-12", "split": "quarter"}


tenant = throttled_fixture("adaptive", CAP)


def opened(tenant: SandboxThread, tmp_path: Path, **settings: Any) -> AdaptiveAdapter:
    tenant.reset()
    project = Project(root=tmp_path, config=ProjectConfig(systems={"adaptive": settings}),
                      environ=sandbox_environ(tenant, tmp_path))
    adapter = open_adapter(project, "adaptive")
    assert isinstance(adapter, AdaptiveAdapter)
    return adapter


def pulled(adapter: AdaptiveAdapter, **options: Any) -> list[PullBatch]:
    try:
        return list(adapter.read(pull_mapping("data", **options), None))
    finally:
        adapter.close()


def test_export_slices_are_in_flight_together_and_loaded_in_order(tenant: SandboxThread, tmp_path: Path) -> None:
    sequential = pulled(opened(tenant, tmp_path, max_concurrency=1), **FORECAST)
    assert tenant.limits()["adaptive"]["peak_in_flight"] == 1
    batches = pulled(opened(tenant, tmp_path), **FORECAST)
    limits = tenant.limits()["adaptive"]
    assert limits["peak_in_flight"] == CAP and limits["refused"] == 0
    assert limits["served"] == 1 + 4  # exportVersions, then the four quarters: the minimum
    # the same records in the same order, and each resume point saved after every span before it
    assert [b.records for b in batches] == [b.records for b in sequential] and sum(len(b.records) for b in batches)
    assert [b.state for b in batches] == [
        {"options": b.state["options"], "version": "Forecast Q4 2026", "through": month} if month else {"complete": True}
        for b, month in zip(batches, ["2026-03", "2026-06", "2026-09", None], strict=True)]


def test_push_checks_read_the_metadata_together_once_per_run(tenant: SandboxThread, tmp_path: Path) -> None:
    adapter = opened(tenant, tmp_path)
    try:
        work = [unit("4000", "OPS", {"2026-01": Decimal("12.50")})]
        assert adapter.check(push_mapping(), work) == {}
        limits = tenant.limits()["adaptive"]
        assert limits["served"] == 3 and limits["peak_in_flight"] == CAP  # versions, accounts, levels together
        assert all(r.ok for r in adapter.write(push_mapping(), work))
        accounts = list(adapter.read(pull_mapping("accounts", version="Actuals"), None))
        versions = list(adapter.read(pull_mapping("versions"), None))
    finally:
        adapter.close()
    # one import; the accounts and versions pulls of the same run reuse what the checks read
    assert tenant.limits()["adaptive"]["served"] == 3 + 1
    assert any(r["code"] == "4000" for r in accounts[0].records)
    assert "Forecast Q4 2026" in {r["name"] for r in versions[0].records}
