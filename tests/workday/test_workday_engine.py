"""`migo-sync reconcile workday` against the emulator, a hand-posted journal included. Push, pull,
rerun, SIGKILL, faults, exit codes and refused journals are the adapter and ledger contracts
(tests/contract/)."""

from __future__ import annotations

import json
import math
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers.gates import BodyGate
from helpers.inplace import noting_intents, units_held_until_asked
from helpers.kill import kill_push_then_rerun
from helpers.sandboxed import query as project_sql
from workday.workday_support import (
    emulator_of,
    envelope,
    line_xml,
    make_project,
    post,
    posted,
    sandbox_environ,
    submit_body,
)

from migo_sync.adapters.workday.adapter import DIMENSIONS, WorkdayAdapter
from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread


@pytest.fixture
def project(workday: SandboxThread, tmp_path: Path) -> Project:
    return make_project(tmp_path / "project", sandbox_environ(workday, tmp_path))


def test_reconcile_command(project: Project, workday: SandboxThread, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in project.environ.items():
        monkeypatch.setenv(name, value)
    assert run(project, RunOptions(names=["workday_journals_push"])).ok
    capsys.readouterr()
    assert run_cli(["reconcile", "workday", "--project", str(project.root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    [report] = data["reports"]
    assert data["ok"] and report["mapping"] == "workday_journals_push" and report["compared"] >= 8
    # the tenant now also holds a journal someone posted by hand: reconciliation shows it
    extra = line_xml("6000", debit="12.34") + line_xml("1000", credit="12.34")
    assert post(workday, envelope(submit_body("manual-1", extra, day="2026-11-03"))).status_code == 200
    assert run_cli(["reconcile", "workday", "--project", str(project.root), "--period", "2026-11", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    [report] = data["reports"]
    assert report["ok"]  # the feed against its own journals: all there; the whole ledger shows the manual one
    assert {(d["account"], d["status"], d["difference"]) for d in data["ledger"]["differences"]} == {
        ("6000", "only_in_ledger", "-12.34"), ("1000", "differs", "12.34")}


def test_reference_data_is_read_once_per_run_and_reconciliation_counts_its_calls(
        project: Project, workday: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """The push's checks and the reconciliation share one chart: each reference read is sent once
    per run; the reconciliation's own calls are recorded with it (seconds, requests)."""
    for name, value in project.environ.items():
        monkeypatch.setenv(name, value)
    calls = emulator_of(workday).calls
    calls.clear()
    report = run(project, RunOptions(names=["workday_journals_push"]))
    assert report.ok
    assert {op: calls[op] for op in ("Get_Account_Sets", "Get_Cost_Centers", "Get_Regions")} == {
        "Get_Account_Sets": 1, "Get_Cost_Centers": 1, "Get_Regions": 1}
    [reconciled] = report.reconciliation
    # every call of the run is counted in the mapping's time or in the reconciliation's
    [pushed] = report.results
    assert reconciled["requests"] >= 1 and reconciled["seconds"] > 0
    assert pushed.requests + reconciled["requests"] == sum(calls.values())


def test_n_journals_take_one_import_per_batch(workday: SandboxThread, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The request log: N journals → ⌈N / import_batch_size⌉ Import_Accounting_Journal calls, their
    status read together, no single submit."""
    project = make_project(tmp_path / "project", sandbox_environ(workday, tmp_path), "import_batch_size = 40\n")
    path = project.mappings_dir / "workday_journals_push.yaml"
    path.write_text(path.read_text() + "batch_size: 100000\n")  # the whole push is one write
    for name, value in project.environ.items():
        monkeypatch.setenv(name, value)
    calls = emulator_of(workday).calls
    calls.clear()
    [result] = run(project, RunOptions(names=["workday_journals_push"])).results
    journals = len(workday.dump("workday")["journals"])
    assert result.status == "ok" and journals > 40
    assert calls["Import_Accounting_Journal"] == math.ceil(journals / 40)
    assert calls["Submit_Accounting_Journal"] == 0
    # every import's status in one read (they ended before it), no messages to read
    assert calls["Get_Import_Processes"] == 1 and calls["Get_Import_Process_Messages"] == 0
    assert sorted(posted(workday).values()) == [1] * journals


@pytest.mark.slow
def test_an_import_killed_while_the_tenant_works_on_it_posts_each_journal_once(
        workday: SandboxThread, tmp_path: Path) -> None:
    """SIGKILL while imports are still Processing (acknowledged, booked, status not yet read):
    the rerun imports those journals again, the tenant refuses each as already there, and every
    journal is held once."""
    project = make_project(tmp_path / "project", sandbox_environ(workday, tmp_path), "import_batch_size = 7\n")
    path = project.mappings_dir / "workday_journals_push.yaml"
    path.write_text(re.sub(r"(?m)^batch_size:.*\n", "", path.read_text()) + "batch_size: 60\n")
    emulator = emulator_of(workday)
    emulator.options["import_seconds"] = 0.3
    try:
        push = kill_push_then_rerun(workday, "workday", project, "workday_journals_push", project.environ,
                                    lambda: len(emulator.books.journals), slow_seconds=0.01,
                                    max_step=40, rounds=3)
    finally:
        emulator.options.pop("import_seconds")
    assert push.rerun.returncode == 0, push.rerun.stderr
    assert push.kills, "no round was killed mid-import"
    held = posted(workday)
    assert held and set(held.values()) == {1}
    assert emulator.calls["Submit_Accounting_Journal"] == 0


def test_the_chart_goes_out_while_the_engine_reads_the_units(
        project: Project, workday: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm-up (WarmUp): once the plan has something to send, the client reads its WSDL and the
    chart's three reference reads go out on a thread while the engine reads the units. Proven by holding
    the engine's reading of the units until the tenant was asked for the account set (10 s at most):
    without the warm-up the checks ask it only after every unit was read, so the wait would run out.
    A push with nothing to send asks nothing."""

    calls = emulator_of(workday).calls
    waited, asked = units_held_until_asked(monkeypatch, WorkdayAdapter, "list_accounts")
    calls.clear()
    [first] = run(project, RunOptions(names=["workday_journals_push"], reconcile="changed")).results
    assert waited == [True]
    assert (first.status, first.requests) == ("ok", 7), first.error
    assert {op: calls[op] for op in ("Get_Account_Sets", "Get_Cost_Centers", "Get_Regions")} == {
        "Get_Account_Sets": 1, "Get_Cost_Centers": 1, "Get_Regions": 1}
    asked.clear()
    [again] = run(project, RunOptions(names=["workday_journals_push"], reconcile="changed")).results
    assert (again.status, again.requests) == ("ok", 0) and not asked.is_set()


def test_the_look_up_leaves_beside_the_warm_up_before_the_units_are_read(
        project: Project, workday: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """KeysAhead: once the plan has journals to send, the engine hands over their posting dates (one query
    over the rows to send) and the look-up's first Get_Journals page leaves beside the warm-up's chart
    reads. Proven by holding the engine's reading of the units until that page was asked for (10 s at
    most): without the keys the look-up leaves from the checks, after every unit was read, so the wait
    would run out. The page asked ahead is the look-up's (not asked again): the same 7 requests (the chart's
    three, the look-up, the import, its status, the posted ids' look-up), every journal posted once;
    nothing to send asks nothing."""
    from migo_sync.adapters.workday.client import WorkdayClient
    from migo_sync.engine import push as push_engine

    journals = project_sql(project, "SELECT COUNT(DISTINCT journal_id) FROM lending.journal_lines")[0][0]
    waited, asked = units_held_until_asked(monkeypatch, WorkdayClient, "first_journals_answer")
    [first] = run(project, RunOptions(names=["workday_journals_push"], reconcile="changed")).results
    assert waited == [True]
    assert (first.status, first.requests) == ("ok", 7), first.error
    assert len(posted(workday)) == journals and set(posted(workday).values()) == {1}
    asked.clear()
    [again] = run(project, RunOptions(names=["workday_journals_push"], reconcile="changed")).results
    assert (again.status, again.requests) == ("ok", 0) and not asked.is_set()
    assert push_engine.as_keys_ahead(WorkdayAdapter.__new__(WorkdayAdapter)) is not None


def test_a_look_up_asked_ahead_over_other_dates_is_asked_again(
        project: Project, workday: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """KeysAhead is a hint: posting dates handed over without the batch's first (dropped here on purpose)
    span other dates than its journals, so the page asked ahead is not used and the look-up asks for its own
    span before anything is posted: one request more, the outcome of a push without the keys."""
    from migo_sync.engine import push as push_engine

    hand = WorkdayAdapter.warm_up_keys

    def without_the_first(self: WorkdayAdapter, mapping: Any, values: Any) -> None:
        hand(self, mapping, {name: [v for v in found if v != min(found)] for name, found in values.items()})

    def outcome() -> tuple[Any, ...]:
        [result] = run(project, RunOptions(names=["workday_journals_push"], reconcile="changed")).results
        found = (result.status, result.rows_written, result.rows_rejected, posted(workday), result.requests)
        workday.reset("workday")
        project_sql(project, "DELETE FROM migo_sync.sent")
        project_sql(project, "DELETE FROM migo_sync.rejects")
        return found

    assert len(set(project_sql(project, "SELECT posting_date FROM lending.journal_lines"))) > 1
    monkeypatch.setattr(WorkdayAdapter, "warm_up_keys", without_the_first)
    missed = outcome()
    monkeypatch.setattr(push_engine, "as_keys_ahead", lambda adapter: None)
    cold = outcome()
    assert missed[:4] == cold[:4] and missed[4] == cold[4] + 1, (missed, cold)
    assert missed[0] == "ok" and set(missed[3].values()) == {1}


def test_an_error_in_the_warm_up_surfaces_as_it_did_without_it(
        project: Project, workday: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chart read the tenant refuses (a wrong password: a SOAP fault, exit 2) is raised where the checks
    need the chart, exactly as without the warm-up: same status, error, exit code and requests (the three
    chart reads and the look-up beside them); nothing posted, no intent left pending.

    The checks run the chart and the look-up on two pool threads and cancel what has not started once
    the chart fails: whether the look-up leaves depends on whether its thread took it before the refusal
    came in (one fewer request under load, with or without the warm-up). So the refusal is held here
    until the look-up has begun (10 s at most), in both runs: the same order each time. The chart's own
    three reads race the same way (the first refusal cancels a read whose pool thread has not taken it
    yet), so the account read's refusal is held until both dimension reads have begun."""
    from migo_sync.engine import push as push_engine

    project.environ = {**project.environ, "MIGO_SYNC_WORKDAY_PASSWORD": "not-the-password"}
    looking, dimensions_begun = threading.Event(), threading.Event()
    waited: list[bool] = []
    begun: list[str] = []
    read_chart, look_up = WorkdayAdapter._read_chart, WorkdayAdapter._look_up
    list_accounts, dimension_read = WorkdayAdapter.list_accounts, WorkdayAdapter._dimension_read

    def refused_once(event: threading.Event, call: Any) -> Any:
        """`call`, whose refusal is raised only once `event` is set (10 s at most)."""
        def held(self: WorkdayAdapter) -> Any:
            try:
                return call(self)
            except Exception:
                waited.append(event.wait(10))
                raise
        return held

    def dimension_read_noted(self: WorkdayAdapter, kind: str) -> Any:
        read = dimension_read(self, kind)

        def noted() -> Any:
            begun.append(kind)
            if len(begun) == len(DIMENSIONS):
                dimensions_begun.set()
            return read()
        return noted

    def looking_up(self: WorkdayAdapter, *args: Any, **kwargs: Any) -> Any:
        looking.set()
        return look_up(self, *args, **kwargs)

    monkeypatch.setattr(WorkdayAdapter, "_read_chart", refused_once(looking, read_chart))
    monkeypatch.setattr(WorkdayAdapter, "_look_up", looking_up)
    monkeypatch.setattr(WorkdayAdapter, "list_accounts", refused_once(dimensions_begun, list_accounts))
    monkeypatch.setattr(WorkdayAdapter, "_dimension_read", dimension_read_noted)

    def outcome() -> tuple[Any, ...]:
        looking.clear()
        dimensions_begun.clear()
        begun.clear()
        [result] = run(project, RunOptions(names=["workday_journals_push"], reconcile="changed")).results
        pending = project_sql(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE pending_hash IS NOT NULL")[0][0]
        return result.status, result.error_class, result.error, result.exit_code, result.requests, pending

    warmed = outcome()
    monkeypatch.setattr(push_engine, "as_warm_up", lambda adapter: None)
    cold = outcome()
    assert waited == [True] * 4  # in each run: the account read's refusal, then the chart's
    assert warmed == cold
    assert (warmed[0], warmed[3], warmed[4], warmed[5]) == ("failed", 2, 4, 0), warmed
    assert not posted(workday)


def test_the_wsdl_is_read_at_the_runs_start_without_a_request(
        project: Project, workday: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """RunPreparation: the run's start begins zeep's reading of the WSDL subset on a thread of its own, so
    the client is ready before the push's plan has ended. Proven by holding the plan until the document was
    read (10 s at most): without the preparation it is read only when the client is made (the warm-up, after
    the plan), so the wait would run out. Nothing is asked while the plan is held; the document is read once
    for the process: the next run reads it no more."""
    from migo_sync.adapters.workday import client as client_module
    from migo_sync.engine import push as push_engine

    monkeypatch.setattr(client_module, "_document", None)  # as in a fresh process
    reads: list[str] = []
    read = threading.Event()
    original_document = client_module.Document

    def document(*args: Any, **kwargs: Any) -> Any:
        built = original_document(*args, **kwargs)
        reads.append(threading.current_thread().name)
        read.set()
        return built

    calls = emulator_of(workday).calls
    held: list[tuple[bool, int]] = []
    original_plan = push_engine.plan_push

    def plan_push(*args: Any, **kwargs: Any) -> Any:
        held.append((read.wait(10), sum(calls.values())))
        return original_plan(*args, **kwargs)

    monkeypatch.setattr(client_module, "Document", document)
    monkeypatch.setattr(push_engine, "plan_push", plan_push)
    calls.clear()
    [first] = run(project, RunOptions(names=["workday_journals_push"], reconcile="changed")).results
    assert (first.status, first.requests) == ("ok", 7), first.error
    assert held == [(True, 0)] and reads == ["workday-prepare"]
    [again] = run(project, RunOptions(names=["workday_journals_push"], reconcile="changed")).results
    assert (again.status, again.requests) == ("ok", 0) and reads == ["workday-prepare"]


def test_the_intents_are_written_while_the_checks_read_the_chart_and_look_up(
        project: Project, workday: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """ChecksInFlight: the look-up beside the chart's reads is held (10 s at most) until the batch's intents
    are in the ledger, which happens only if they are written while it is in flight; no journal is imported
    before its intent is recorded, and each is posted once."""
    intents, recorded = noting_intents(monkeypatch)
    waited: list[bool] = []
    look_up = WorkdayAdapter._look_up

    def held(self: WorkdayAdapter, journals: Any, **kwargs: Any) -> Any:
        found = look_up(self, journals, **kwargs)
        if not waited:  # the checks' look-up, beside the chart
            waited.append(recorded.wait(10))
        return found

    from migo_sync.adapters.workday.client import WorkdayClient

    intents_when_imported: list[int] = []
    send = WorkdayClient.import_journals

    def importing(client: WorkdayClient, bodies: list[str], **kwargs: Any) -> str:
        intents_when_imported.append(len(intents))  # every journal of the batch has its intent by now
        return send(client, bodies, **kwargs)

    monkeypatch.setattr(WorkdayAdapter, "_look_up", held)
    monkeypatch.setattr(WorkdayClient, "import_journals", importing)
    [result] = run(project, RunOptions(names=["workday_journals_push"], reconcile="changed")).results
    assert (result.status, result.requests) == ("ok", 7) and result.rows_written > 0, result.error
    journals = len(posted(workday))
    assert waited == [True] and intents_when_imported == [journals] and len(intents) == journals
    assert set(posted(workday).values()) == {1}


def test_a_journal_the_checks_refuse_keeps_no_intent(project: Project, workday: SandboxThread) -> None:
    """Its intent, written while the checks read the chart, is dropped with the batch's outcome: nothing
    is shown in flight, the journal is a reject, and once mended it is posted once."""
    [first_id, *_] = sorted({r[0] for r in project_sql(project, "SELECT journal_id FROM lending.journal_lines")})
    lines = project_sql(project, f"SELECT COUNT(*) FROM lending.journal_lines WHERE journal_id = '{first_id}'")[0][0]
    original = project_sql(project, "SELECT account_no FROM lending.journal_lines WHERE journal_id = "
                                    f"'{first_id}' AND line_no = 1")[0][0]
    project_sql(project, f"UPDATE lending.journal_lines SET account_no = '9999' WHERE journal_id = '{first_id}' "
                         "AND line_no = 1")
    [first] = run(project, RunOptions(names=["workday_journals_push"], reconcile="changed")).results
    assert first.status == "rejected" and first.rows_rejected == lines
    assert first_id not in posted(workday) and set(posted(workday).values()) == {1}
    assert project_sql(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE pending_hash IS NOT NULL")[0][0] == 0
    project_sql(project, f"UPDATE lending.journal_lines SET account_no = '{original}' WHERE journal_id = "
                         f"'{first_id}' AND line_no = 1")
    [second] = run(project, RunOptions(names=["workday_journals_push"], reconcile="changed")).results
    assert second.status == "ok" and second.rows_rejected == 0
    assert posted(workday)[first_id] == 1 and set(posted(workday).values()) == {1}


def test_a_push_of_many_journals_over_the_same_dates_looks_each_journal_up_once(
        workday: SandboxThread, tmp_path: Path) -> None:
    """More journals than the engine's default batch (500), all over the same months: the checks' look-up
    reads the tenant over their dates once and the imports' look-up of the booked ids reads each page once
    (Get_Journals pages: 1 on the empty tenant + the booked ones at 100 a page, + the same again by the
    push's reconciliation). In batches of 500 each
    batch's look-ups would re-read the journals the batches before it had booked."""
    project = make_project(tmp_path / "project", sandbox_environ(workday, tmp_path), "page_size = 100\n")
    copies = math.ceil(600 / project_sql(project, "SELECT COUNT(DISTINCT journal_id) FROM lending.journal_lines")[0][0])
    project_sql(project, f"""CREATE OR REPLACE TABLE lending.journal_lines AS
        SELECT * REPLACE (journal_id || '-' || k AS journal_id) FROM lending.journal_lines, range({copies}) t(k)""")
    [journals] = project_sql(project, "SELECT COUNT(DISTINCT journal_id) FROM lending.journal_lines")[0]
    calls = emulator_of(workday).calls
    calls.clear()
    [result] = run(project, RunOptions(names=["workday_journals_push"], reconcile="changed")).results
    assert result.status == "ok", result.error
    assert journals > 500 and len(posted(workday)) == journals
    pages = math.ceil(journals / 100)  # the booked ids' look-up, then the reconciliation reading them back
    assert calls["Get_Journals"] == 1 + pages + pages, dict(calls)


def test_a_pushs_reconciliation_reads_beside_its_systems_pull(project: Project, workday: SandboxThread) -> None:
    """SharedPulls: with threads above 1 the push's reconciliation (its chart, then its periods' journals)
    reads beside the pull of the same system, every call within the tenant's cap. Proven on the unchanged
    rerun by holding the pull's Get_Journals (incremental: Updated_From_Date) until the reconciliation asked
    for the account set (20 s at most): while Workday's reads could not go together the reconciliation
    began only once the pull had read, so the wait would run out. Requests per mapping and the
    reconciliation's are those of the sequential rerun."""
    names = ["workday_journals_push", "workday_gl_lines_pull"]
    assert run(project, RunOptions(names=names, threads=1)).ok
    sandbox = workday.sandbox
    inner = sandbox.counter
    gate = BodyGate(inner, "workday", rb"Updated_From_Date", rb"Get_Account_Sets_Request")
    sandbox.counter = gate  # type: ignore[assignment]
    try:
        beside = run(project, RunOptions(names=names, threads=2))
    finally:
        sandbox.counter = inner
    assert gate.other_asked.is_set() and gate.gave_up == 0
    assert beside.ok, beside.reason
    assert gate.peak <= 4  # the tenant's cap (max_concurrency 4), the pull and the reconciliation together
    sequential = run(project, RunOptions(names=names, threads=1))
    assert sequential.ok, sequential.reason
    assert [(r.name, r.requests) for r in beside.results] == [(r.name, r.requests) for r in sequential.results]
    assert [r["requests"] for r in beside.reconciliation] == [r["requests"] for r in sequential.reconciliation]
    assert sum(r.requests for r in beside.results) + beside.reconciliation[0]["requests"] == len(gate.methods)
