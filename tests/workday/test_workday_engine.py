"""End to end through the engine: the shipped mappings push the demo journals to Workday, pull the
lines back and reconcile; rejected journals never reach the tenant; `migo-sync reconcile workday`;
a push killed with SIGKILL at random points and rerun leaves every journal exactly once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from helpers.kill import kill_push_then_rerun
from workday.workday_support import (
    emulator_of,
    envelope,
    journal_ids,
    line_xml,
    make_project,
    post,
    posted,
    sandbox_environ,
    submit_body,
)

from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse


@pytest.fixture
def project(workday: SandboxThread, tmp_path: Path) -> Project:
    return make_project(tmp_path / "project", sandbox_environ(workday, tmp_path))


def test_push_pull_and_reconcile(project: Project, workday: SandboxThread) -> None:
    report = run(project, RunOptions())
    assert {r.name: r.status for r in report.results} == {
        "workday_journals_push": "ok", "workday_gl_lines_pull": "ok"}, [r.error for r in report.results]
    ids = journal_ids(project)
    assert posted(workday) == Counter(ids)
    push = report.results[0]
    assert push.requests == len(ids) + 3  # one Submit per journal + the chart (accounts, 2 worktags)
    [recon] = report.reconciliation
    assert recon["ok"] and recon["system"] == "workday" and recon["periods"] == ["2026-10", "2026-11"]
    warehouse = open_warehouse(project)
    try:
        lines = warehouse.query("SELECT COUNT(*), SUM(amount), SUM(ABS(amount)) FROM lending.journal_lines")[0]
        pulled = warehouse.query("SELECT COUNT(*), SUM(amount), SUM(COALESCE(debit, 0) + COALESCE(credit, 0)) "
                                 "FROM finance.workday_journal_lines")[0]
        assert pulled == lines
        joined = warehouse.query(
            "SELECT COUNT(*) FROM lending.journal_lines j JOIN finance.workday_journal_lines w "
            "ON w.external_reference_id = j.journal_id AND w.line_order = CAST(j.line_no AS VARCHAR) "
            "AND w.amount = j.amount AND w.account_no = j.account_no AND w.cost_center_id = j.department_id "
            "AND w.region_id = j.location_id AND w.accounting_date = j.posting_date")[0][0]
        assert joined == lines[0]
    finally:
        warehouse.close()
    again = run(project, RunOptions())
    assert again.results[0].rows_changed == 0 and again.results[0].requests == 0
    assert again.results[1].rows_changed == 0 and posted(workday) == Counter(ids)


def test_rejected_journals_never_reach_the_tenant(project: Project, workday: SandboxThread) -> None:
    ids = journal_ids(project)
    warehouse = open_warehouse(project)
    try:
        warehouse.execute("UPDATE lending.journal_lines SET amount = amount + 0.01 "
                          f"WHERE journal_id = '{ids[0]}' AND line_no = 1")
        warehouse.execute(f"UPDATE lending.journal_lines SET posting_date = DATE '2025-12-31' WHERE journal_id = '{ids[1]}'")
        warehouse.execute(f"UPDATE lending.journal_lines SET department_id = 'MKT' WHERE journal_id = '{ids[2]}' "
                          "AND line_no = 2")
    finally:
        warehouse.close()
    report = run(project, RunOptions(names=["workday_journals_push"]))
    assert report.results[0].status == "rejected"
    assert set(posted(workday)) == set(ids[3:])
    warehouse = open_warehouse(project)
    try:
        rejects = dict(warehouse.query("SELECT DISTINCT split_part(row_key, chr(31), 1), reason FROM migo_sync.rejects"))
    finally:
        warehouse.close()
    assert rejects[ids[0]].startswith("unbalanced: debits")
    assert rejects[ids[1]] == "posting date 2025-12-31 falls in closed period 2025-12"
    assert rejects[ids[2]] == "line 2: unknown cost_center 'MKT'"
    [recon] = report.reconciliation
    assert not recon["ok"] and {d["status"] for d in recon["differences"]} <= {"differs", "missing_in_ledger"}


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


def test_sigkill_at_random_points_then_rerun_posts_each_journal_once(workday: SandboxThread, tmp_path: Path) -> None:
    env = sandbox_environ(workday, tmp_path)
    project = make_project(tmp_path / "project", env, settings="max_concurrency = 3\n")
    push_file = project.mappings_dir / "workday_journals_push.yaml"
    push_file.write_text(push_file.read_text() + "batch_size: 10\n")  # confirm every 10 journals
    journals = emulator_of(workday).books.journals
    push = kill_push_then_rerun(workday, "workday", project, "workday_journals_push", env, lambda: len(journals),
                                slow_seconds=0.02, max_step=30)
    assert push.rerun.returncode == 0, push.rerun.stderr
    counts = posted(workday)
    assert len(push.kills) >= 2 and push.kills[-1] < len(counts)
    assert counts == Counter(journal_ids(project))  # every journal, each exactly once
