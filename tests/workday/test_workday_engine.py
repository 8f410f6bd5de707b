"""`migo-sync reconcile workday` against the emulator, a hand-posted journal included. Push, pull,
rerun, SIGKILL, faults, exit codes and refused journals are the adapter and ledger contracts
(tests/contract/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from workday.workday_support import (
    emulator_of,
    envelope,
    line_xml,
    make_project,
    post,
    sandbox_environ,
    submit_body,
)

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
    [report] = json.loads(capsys.readouterr().out)["reports"]
    assert {(d["account"], d["status"], d["difference"]) for d in report["differences"]} == {
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
