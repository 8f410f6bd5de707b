"""End to end through the engine: the shipped mappings push the demo journals, pull them back and
reconcile; rejected journals never reach the ledger; a push killed with SIGKILL at random points
and rerun leaves every journal exactly once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from helpers.kill import kill_push_then_rerun
from intacct.intacct_support import emulator_of, journal_ids, make_project, posted, sandbox_environ

from migo_sync.config import Project
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse


@pytest.fixture
def project(intacct: SandboxThread, tmp_path: Path) -> Project:
    return make_project(tmp_path / "project", sandbox_environ(intacct, tmp_path))


def test_push_pull_and_reconcile(project: Project, intacct: SandboxThread) -> None:
    report = run(project, RunOptions())
    assert {r.name: r.status for r in report.results} == {
        "intacct_journals_push": "ok", "intacct_accounts_pull": "ok", "intacct_gl_detail_pull": "ok",
        "intacct_trial_balance_pull": "ok"}, [r.error for r in report.results]
    ids = journal_ids(project)
    assert posted(intacct) == Counter(ids)
    push = report.results[0]
    assert push.requests == 1 + -(-len(ids) // 100) + 1  # session + journals/100 + the chart in one request
    [recon] = report.reconciliation
    assert recon["ok"] and recon["periods"] == ["2026-10", "2026-11"] and recon["compared"] > 0
    warehouse = open_warehouse(project)
    try:
        lines = warehouse.query("SELECT COUNT(*), SUM(amount) FROM lending.journal_lines")[0]
        detail = warehouse.query("SELECT COUNT(*), SUM(amount * tr_type) FROM finance.gl_detail")[0]
        assert detail == lines
        assert warehouse.query("SELECT COUNT(*) FROM finance.gl_accounts")[0][0] == 10
        tb = warehouse.query("SELECT SUM(debits) - SUM(credits) FROM finance.trial_balance")[0][0]
        assert tb == 0
    finally:
        warehouse.close()
    again = run(project, RunOptions(names=["intacct_journals_push"]))
    assert again.results[0].rows_changed == 0 and posted(intacct) == Counter(ids)


def test_rejected_journals_never_reach_the_ledger(project: Project, intacct: SandboxThread) -> None:
    ids = journal_ids(project)
    warehouse = open_warehouse(project)
    try:
        warehouse.execute("UPDATE lending.journal_lines SET amount = amount + 0.01 "
                          f"WHERE journal_id = '{ids[0]}' AND line_no = 1")
        warehouse.execute(f"UPDATE lending.journal_lines SET posting_date = DATE '2025-12-31' WHERE journal_id = '{ids[1]}'")
        warehouse.execute(f"UPDATE lending.journal_lines SET account_no = '9999' WHERE journal_id = '{ids[2]}' AND line_no = 2")
    finally:
        warehouse.close()
    report = run(project, RunOptions(names=["intacct_journals_push"]))
    assert report.results[0].status == "rejected"
    assert set(posted(intacct)) == set(ids[3:])
    warehouse = open_warehouse(project)
    try:
        rejects = dict(warehouse.query("SELECT DISTINCT split_part(row_key, chr(31), 1), reason FROM migo_sync.rejects"))
    finally:
        warehouse.close()
    assert rejects[ids[0]].startswith("unbalanced: debits")
    assert rejects[ids[1]] == "posting date 2025-12-31 falls in closed period 2025-12"
    assert rejects[ids[2]] == "line 2: unknown account '9999'"
    [recon] = report.reconciliation
    assert not recon["ok"] and {d["status"] for d in recon["differences"]} <= {"differs", "missing_in_ledger"}


def test_sigkill_at_random_points_then_rerun_posts_each_journal_once(intacct: SandboxThread, tmp_path: Path) -> None:
    env = sandbox_environ(intacct, tmp_path)
    project = make_project(tmp_path / "project", env, settings="functions_per_request = 4\n")
    push_file = project.mappings_dir / "intacct_journals_push.yaml"
    push_file.write_text(push_file.read_text() + "batch_size: 12\n")  # confirm every 12 journals
    batches = emulator_of(intacct).company.batches
    push = kill_push_then_rerun(intacct, "intacct", project, "intacct_journals_push", env, lambda: len(batches),
                                slow_seconds=0.03, max_step=40)
    assert push.rerun.returncode == 0, push.rerun.stderr
    counts = posted(intacct)
    assert len(push.kills) >= 2 and push.kills[-1] < len(counts)
    assert counts == Counter(journal_ids(project))  # every journal, each exactly once
