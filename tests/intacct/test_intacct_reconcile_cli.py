"""`migo-sync reconcile intacct [--period YYYY-MM]` on a project whose journals were pushed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from intacct.intacct_support import (
    PAIR,
    balanced,
    envelope,
    glbatch,
    journal_ids,
    make_project,
    post,
    push_mapping,
    sandbox_environ,
)

from migo_sync.adapters.intacct.adapter import IntacctAdapter
from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter


@pytest.fixture
def pushed(intacct: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    env = sandbox_environ(intacct, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    project = make_project(tmp_path / "project", env)
    assert run(project, RunOptions(names=["intacct_journals_push"])).results[0].status == "ok"
    return project


def reconcile(project: Project, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    capsys.readouterr()
    code = run_cli(["reconcile", "intacct", "--project", str(project.root), "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_everything_matches(pushed: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = reconcile(pushed, capsys)
    assert code == 0 and doc["ok"] is True
    [report] = doc["reports"]  # type: ignore[misc]
    assert report["mapping"] == "intacct_journals_push" and report["periods"] == ["2026-10", "2026-11"]


def test_one_period_and_a_difference(pushed: Project, capsys: pytest.CaptureFixture[str]) -> None:
    adapter = open_adapter(pushed, "intacct")
    assert isinstance(adapter, IntacctAdapter)
    adapter.write(push_mapping(name="manual"), [balanced("MANUAL", "12.50")])  # posted outside migo-sync
    adapter.close()
    code, doc = reconcile(pushed, capsys, "--period", "2026-10")
    [report] = doc["reports"]  # type: ignore[misc]
    assert report["periods"] == ["2026-10"] and report["ok"]  # the feed against its own journals: all there
    whole = doc["ledger"]  # the whole ledger against every feed: the manual entry is unexplained
    assert code == 1 and whole["periods"] == ["2026-10"] and not whole["ok"]  # type: ignore[index]
    assert {(d["account"], d["difference"]) for d in whole["differences"]} == {  # type: ignore[index]
        ("1000", "12.50"), ("1100", "-12.50")}
    code, _ = reconcile(pushed, capsys, "--period", "2026-11")
    assert code == 0


def test_table_output(pushed: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["reconcile", "intacct", "--project", str(pushed.root)]) == 0
    captured = capsys.readouterr()
    assert "intacct_journals_push ↔ intacct" in captured.out and "match" in captured.out


@pytest.mark.parametrize(("args", "message"), [
    (["--period", "2026-13"], "--period '2026-13' is not a YYYY-MM period"),
    (["--period", "2031-01"], "unknown ledger period 2031-01"),
])
def test_usage_errors(pushed: Project, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code = run_cli(["reconcile", "intacct", "--project", str(pushed.root), *args])
    assert code == 2 and message in capsys.readouterr().err


def test_a_run_reads_the_chart_once_for_the_checks_and_the_reconciliation(
        intacct: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts, dimensions and periods are read once per run (one adapter per run), shared by the
    push's checks and its reconciliation, which records its own calls; the next run reads them anew."""
    env = sandbox_environ(intacct, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    project = make_project(tmp_path / "project", env)
    reads: list[str] = []
    for method in ("list_accounts", "list_dimensions", "list_periods"):
        original = getattr(IntacctAdapter, method)

        def counted(self: IntacctAdapter, _original: object = original, _name: str = method) -> object:
            reads.append(_name)
            return _original(self)  # type: ignore[operator]

        monkeypatch.setattr(IntacctAdapter, method, counted)
    report = run(project, RunOptions(names=["intacct_journals_push"]))
    assert report.ok and sorted(reads) == ["list_accounts", "list_dimensions", "list_periods"]
    [reconciled] = report.reconciliation
    assert reconciled["ok"] and reconciled["requests"] >= 1 and reconciled["seconds"] > 0
    reads.clear()
    run(project, RunOptions(names=["intacct_journals_push"], full=True))  # resent in full: checked again
    assert sorted(reads) == ["list_accounts", "list_dimensions", "list_periods"]


def test_an_unchanged_rerun_compares_again_unless_told_to_only_when_the_last_comparison_did_not_match(
        pushed: Project, intacct: SandboxThread) -> None:
    push = ["intacct_journals_push"]
    again = run(pushed, RunOptions(names=push))  # [run] reconcile = "always", the default
    assert (again.results[0].status, again.results[0].requests, again.results[0].rows_changed) == ("ok", 0, 0)
    assert [(r["mapping"], r["ok"]) for r in again.reconciliation] == [("intacct_journals_push", True)]
    assert again.reconciliation[0]["requests"] > 0
    quick = run(pushed, RunOptions(names=push, reconcile="changed"))
    [result] = quick.results
    assert (result.status, result.requests, result.rows_changed) == ("ok", 0, 0)
    assert quick.reconciliation == [] and quick.exit_code == 0  # it matched last time: nothing read
    assert f"unchanged since run {again.run_id}, whose reconciliation matched" == result.details["reconciled"]
    # someone posts again under one of the feed's references: the next comparison shows it ...
    answer = post(intacct, envelope(glbatch(journal_ids(pushed)[0], PAIR)))
    assert answer.status_code == 200 and b"<status>success</status>" in answer.content
    differs = run(pushed, RunOptions(names=push))
    assert differs.exit_code == 1 and differs.reconciliation[0]["differences"]
    # ... and with "changed" an unchanged rerun keeps comparing (and failing) while it differs
    for _ in range(2):
        rerun = run(pushed, RunOptions(names=push, reconcile="changed"))
        assert rerun.results[0].requests == 0 and "reconciled" not in rerun.results[0].details
        assert rerun.exit_code == 1 and rerun.reconciliation[0]["differences"]
