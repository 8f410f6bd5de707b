"""Workday at a tenant's ceiling: the chart's three reference reads go out together, journal imports
go out `max_concurrency` at a time, and each journal is still posted once.

The sandbox answers like a tenant (latency, an in-flight cap that refuses one call more) and counts
the most calls it saw in flight: concurrency is asserted from that count and from request counts at
the minimum, never from timings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.emulators import throttled_fixture
from workday.workday_support import (
    TENANT,
    WD,
    balanced,
    emulator_of,
    envelope,
    line_xml,
    post,
    posted,
    push_mapping,
    submit_body,
)

from migo_sync.adapters.workday.adapter import WorkdayAdapter
from migo_sync.adapters.workday.sandbox import credentials
from migo_sync.config import Project, ProjectConfig
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter

pytestmark = pytest.mark.timeout(120)
CAP = 4


# 600 ms a call (not the helper's 200): the checks' four calls leave from two threads after zeep builds
# each body, which on a loaded 2-core CI machine once took longer than 200 ms (peak 3 for 4); a longer
# round trip keeps "all four in flight together" a property of the client, not of the machine's load
tenant = throttled_fixture("workday", CAP, latency_ms=600)


@pytest.fixture
def adapter(tenant: SandboxThread, tmp_path: Path) -> Iterator[WorkdayAdapter]:
    tenant.reset()
    environ = {**tenant.env, **credentials(tmp_path), "MIGO_SYNC_NO_KEYRING": "1"}
    settings = {**TENANT, "max_concurrency": CAP, "import_batch_size": 10}
    project = Project(root=tmp_path, config=ProjectConfig(systems={"workday": settings}), environ=environ)
    opened = open_adapter(project, "workday")
    assert isinstance(opened, WorkdayAdapter)
    yield opened
    opened.close()


def test_the_charts_reference_reads_go_out_together(adapter: WorkdayAdapter, tenant: SandboxThread) -> None:
    chart = adapter.chart()
    limits = tenant.limits()["workday"]
    assert limits["served"] == 3 and limits["peak_in_flight"] == 3 and limits["refused"] == 0
    assert chart.accounts and set(chart.dimensions) == {"cost_center", "region"}
    assert adapter.chart() is chart and tenant.limits()["workday"]["served"] == 3  # once per adapter (run)


def test_imports_go_out_together_within_the_cap(adapter: WorkdayAdapter, tenant: SandboxThread) -> None:
    units = [balanced(f"J{n:03d}") for n in range(1, 61)]
    results = adapter.write(push_mapping(), units)
    assert all(r.ok and not r.duplicate for r in results) and len(results) == 60
    limits = tenant.limits()["workday"]
    calls = emulator_of(tenant).calls
    assert limits["refused"] == 0 and limits["peak_in_flight"] == CAP
    # six imports of ten, then one status read for all six: the minimum
    assert calls["Import_Accounting_Journal"] == 6 and calls["Get_Import_Processes"] == 1
    # plus the look-up before posting (which of them the tenant holds) and the one after (an
    # import names no journal's WID: the tenant's ids are learnt, so they are always recorded)
    assert calls["Get_Journals"] == 2 and all(r.remote_id for r in results)
    assert limits["served"] == 1 + 7 + 1 and set(posted(tenant).values()) == {1}


def test_the_checks_look_up_the_held_journals_beside_the_chart(adapter: WorkdayAdapter, tenant: SandboxThread) -> None:
    units = [balanced(f"C{n:03d}") for n in range(1, 21)]
    assert adapter.check(push_mapping(), units) == {}
    limits = tenant.limits()["workday"]
    calls = emulator_of(tenant).calls
    # the chart's three reads and the look-up of the batch's journals: four calls, all at once
    assert limits["served"] == 4 and limits["peak_in_flight"] == CAP and calls["Get_Journals"] == 1
    results = adapter.write(push_mapping(), units)
    assert all(r.ok and not r.duplicate and r.remote_id for r in results)
    # the write looks nothing up before importing: two imports of ten, one status read, the look-up after
    assert (calls["Import_Accounting_Journal"], calls["Get_Import_Processes"], calls["Get_Journals"]) == (2, 1, 2)
    assert set(posted(tenant).values()) == {1}
    adapter.write(push_mapping(), units[:3])  # asked again: the look-up answer is used once
    assert calls["Get_Journals"] == 3 and set(posted(tenant).values()) == {1}


def test_journals_the_checks_found_held_are_not_imported_again(adapter: WorkdayAdapter, tenant: SandboxThread,
                                                               tmp_path: Path) -> None:
    units = [balanced(f"D{n:03d}") for n in range(1, 4)]
    assert all(r.ok for r in adapter.write(push_mapping(), units))
    environ = {**tenant.env, **credentials(tmp_path), "MIGO_SYNC_NO_KEYRING": "1"}
    settings = {**TENANT, "max_concurrency": CAP, "import_batch_size": 10}
    again = open_adapter(Project(root=tmp_path, config=ProjectConfig(systems={"workday": settings}), environ=environ),
                         "workday")
    try:  # the next run (a fresh adapter), every unit resent as an intent never confirmed
        for unit in units:
            unit.resend = True
        assert again.check(push_mapping(), units) == {}
        imports = emulator_of(tenant).calls["Import_Accounting_Journal"]
        results = again.write(push_mapping(), units)
        assert all(r.ok and r.duplicate and r.remote_id for r in results)
        assert emulator_of(tenant).calls["Import_Accounting_Journal"] == imports  # held: nothing imported
        assert set(posted(tenant).values()) == {1}
    finally:
        again.close()


def _counting_bodies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every journal key `journal_xml` writes a body for, in order."""
    import migo_sync.adapters.workday.adapter as module

    written: list[str] = []
    real = module.journal_xml

    def counted(journal: Any, *args: Any, **kwargs: Any) -> str:
        written.append(journal.key)
        return real(journal, *args, **kwargs)

    monkeypatch.setattr(module, "journal_xml", counted)
    return written


def test_the_first_batchs_bodies_are_written_while_its_chart_and_look_up_are_in_flight(
        adapter: WorkdayAdapter, tenant: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    units = [balanced(f"W{n:03d}") for n in range(1, 13)]
    written = _counting_bodies(monkeypatch)
    all_written = threading.Event()
    look_up = adapter._look_up

    def held_until_written(*args: Any, **kwargs: Any) -> Any:
        answer = look_up(*args, **kwargs)
        # the look-up's answer is held until every body is written: without the overlap the bodies
        # would wait for this answer and the wait would time out
        assert all_written.wait(timeout=20), "the bodies were not written while the look-up was in flight"
        return answer

    monkeypatch.setattr(adapter, "_look_up", held_until_written)
    real_write_ahead = adapter._write_ahead

    def write_ahead(journals: Any) -> None:
        real_write_ahead(journals)
        all_written.set()

    monkeypatch.setattr(adapter, "_write_ahead", write_ahead)
    assert adapter.check(push_mapping(), units) == {}
    assert sorted(written) == [u.key for u in units]
    results = adapter.write(push_mapping(), units)
    assert all(r.ok and not r.duplicate and r.remote_id for r in results)
    assert sorted(written) == [u.key for u in units]  # the write sent those bodies: none written again
    assert set(posted(tenant).values()) == {1} and len(posted(tenant)) == len(units)


def test_a_write_without_checks_ahead_writes_its_first_imports_while_its_look_up_is_in_flight(
        adapter: WorkdayAdapter, tenant: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write whose checks read nothing ahead (the chart already in): the look-up's answer is held until
    the first `max_concurrency` imports' bodies are written (20 s at most); written after the look-up,
    they would wait for that answer and the wait would fail. Those bodies are sent, none written twice."""
    units = [balanced(f"L{n:03d}") for n in range(1, 46)]  # 4 imports of 10, then one of 5
    adapter.chart()
    written = _counting_bodies(monkeypatch)
    first_written = threading.Event()
    look_up = adapter._look_up
    held: list[bool] = []

    def held_until_written(*args: Any, **kwargs: Any) -> Any:
        answer = look_up(*args, **kwargs)
        if not held:  # the write's look-up (the booked ids' look-up after the imports is not held)
            held.append(first_written.wait(timeout=20))
        return answer

    real_write_ahead = adapter._write_ahead

    def write_ahead(journals: Any) -> None:
        real_write_ahead(journals)
        first_written.set()

    monkeypatch.setattr(adapter, "_look_up", held_until_written)
    monkeypatch.setattr(adapter, "_write_ahead", write_ahead)
    results = adapter.write(push_mapping(), units)
    assert held == [True]
    assert written[:40] == [u.key for u in units[:40]]  # the first four imports' bodies, before the look-up's answer
    assert sorted(written) == sorted(u.key for u in units)  # and none written again
    assert all(r.ok and not r.duplicate and r.remote_id for r in results)
    assert emulator_of(tenant).calls["Import_Accounting_Journal"] == 5 and set(posted(tenant).values()) == {1}


def test_a_body_written_ahead_for_another_shape_is_written_again(
        adapter: WorkdayAdapter, tenant: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    units = [balanced(f"S{n:03d}") for n in range(1, 4)]
    written = _counting_bodies(monkeypatch)
    assert adapter.check(push_mapping(), units) == {}
    assert len(written) == 3
    # the write is asked with Submit=false: the bodies written ahead (Submit=true) are not what it sends
    results = adapter.write(push_mapping(submit=False), units)
    assert all(r.ok for r in results) and len(written) == 6
    held = [j for j in tenant.dump("workday")["journals"] if j["external_reference"] in {u.key for u in units}]
    assert sorted(j["status"] for j in held) == ["Draft"] * 3


def test_the_next_import_is_written_while_the_one_before_is_in_flight(
        adapter: WorkdayAdapter, tenant: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """With one import in flight at a time, the second batch's bodies are written while the first import
    is under way. Proven by holding the first import until the second batch was written (10 s at most):
    written on the sending thread, the second batch would wait for the first import's answer."""
    import migo_sync.adapters.workday.adapter as module

    units = [balanced(f"A{n:03d}") for n in range(1, 16)]  # two imports: ten journals, then five
    written: list[str] = []
    second_written = threading.Event()
    real_xml = module.journal_xml

    def journal_xml(journal: Any, *args: Any, **kwargs: Any) -> str:
        body = real_xml(journal, *args, **kwargs)
        written.append(journal.key)
        if len(written) == len(units):
            second_written.set()
        return body

    client = adapter.client
    real_import = client.import_journals
    held: list[bool] = []

    def import_journals(bodies: list[str], **kwargs: Any) -> str:
        if not held:  # the first import leaves once the second batch is written
            held.append(second_written.wait(10))
        return real_import(bodies, **kwargs)

    monkeypatch.setattr(module, "journal_xml", journal_xml)
    monkeypatch.setattr(client, "import_journals", import_journals)
    results = adapter.write(push_mapping(max_concurrency=1), units)
    assert held == [True] and sorted(written) == [u.key for u in units]
    assert all(r.ok and not r.duplicate and r.remote_id for r in results)
    assert emulator_of(tenant).calls["Import_Accounting_Journal"] == 2 and set(posted(tenant).values()) == {1}


def test_an_answer_falls_due_while_the_emulator_works_out_another_call(
        tenant: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox holds each answer until its latency is up, and the emulator works calls out on a thread
    of its own: an answer that falls due while it is busy with another call still goes out on time. Proven
    by holding the second call's work until the first call's answer has reached the client (20 s at most):
    worked out on the event loop, the second call would keep that answer from being sent."""
    tenant.reset()
    emulator = emulator_of(tenant)
    first_worked, first_answered = threading.Event(), threading.Event()
    real_submit, real_regions = emulator._submit_accounting_journal, emulator._get_regions
    held: list[bool] = []

    def submit(request: Any) -> Any:
        try:
            return real_submit(request)
        finally:
            first_worked.set()

    def regions(request: Any) -> Any:
        held.append(first_answered.wait(timeout=20))
        return real_regions(request)

    monkeypatch.setattr(emulator, "_submit_accounting_journal", submit)
    monkeypatch.setattr(emulator, "_get_regions", regions)
    answers: dict[str, int] = {}

    def first() -> None:
        lines = line_xml("1100", debit="250.00") + line_xml("1000", credit="250.00")
        answers["submit"] = post(tenant, envelope(submit_body("DUE-1", lines))).status_code
        first_answered.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_worked.wait(timeout=20)  # worked out, its answer held for the call's latency
    answers["regions"] = post(tenant, envelope(f'<wd:Get_Regions_Request xmlns:wd="{WD}"/>')).status_code
    thread.join(timeout=20)
    assert held == [True] and answers == {"submit": 200, "regions": 200}


def test_callers_at_once_share_the_tenants_cap(adapter: WorkdayAdapter, tenant: SandboxThread) -> None:
    """Reads of several callers at once (a pull beside a reconciliation: SharedPulls) go through one gate:
    three callers each reading both worktag lists together want 6 calls out; the tenant, which refuses
    a call beyond its cap, sees at most CAP and refuses none. Without the client's gate it saw 6."""
    start = threading.Barrier(3)
    found: list[dict[str, list[str]]] = []

    def read() -> None:
        start.wait(10)
        found.append(adapter.list_dimensions())

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    limits = tenant.limits()["workday"]
    assert len(found) == 3 and all(f == found[0] and f["cost_center"] for f in found)
    assert limits["served"] == 6 and limits["refused"] == 0 and limits["peak_in_flight"] == CAP
