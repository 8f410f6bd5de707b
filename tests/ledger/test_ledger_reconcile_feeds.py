"""Two journal feeds into one ledger (Intacct, Workday) through the sandbox: each feed reconciles
against the journals it posted, never against the other's; `migo-sync reconcile SYSTEM` also
reconciles the whole ledger against both feeds together."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from helpers import sandboxed
from ledger.test_ledger_exactly_once import LEDGERS, posted, project_for

from migo_sync.cli import run_cli
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread

SPLIT = {"feed_disbursements": "journal_id LIKE '%DISB'", "feed_others": "journal_id NOT LIKE '%DISB'"}


@pytest.mark.parametrize("system", sorted(LEDGERS))
def test_two_feeds_into_one_ledger_reconcile_cleanly(system: str, sandbox: SandboxThread, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    project, push = project_for(system, sandbox, tmp_path, with_name=True)
    text = push.read_text()
    push.unlink()
    for name, where in SPLIT.items():
        feed = re.sub(r"(?m)^name: .*\n", f"name: {name}\n", text)
        feed = feed.replace("  table: lending.journal_lines\n",
                            f"  query: SELECT * FROM lending.journal_lines WHERE {where}\n")
        (push.parent / f"{name}.yaml").write_text(feed)
    report = run(project, RunOptions(direction="push"))
    assert [(r.name, r.status) for r in report.results] == [(n, "ok") for n in sorted(SPLIT)], [
        r.error for r in report.results]
    ids = sandboxed.journal_ids(project)
    assert posted(sandbox, system) == Counter(ids)
    assert all(r.rows_written for r in report.results)  # both feeds posted journals
    # each feed against its own journals: nothing of the other's shows up
    assert sorted(r["mapping"] for r in report.reconciliation) == sorted(SPLIT)
    assert all(r["ok"] and r["compared"] and not r["differences"] for r in report.reconciliation), \
        report.reconciliation
    for name, value in project.environ.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = run_cli(["reconcile", system, "--project", str(project.root), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["ok"] is True, doc
    assert sorted(r["mapping"] for r in doc["reports"]) == sorted(SPLIT)
    assert all(r["ok"] and r["compared"] for r in doc["reports"])
    whole = doc["ledger"]  # the whole ledger against both feeds together
    assert whole["ok"] and whole["mapping"] == "+".join(sorted(SPLIT))
    assert whole["compared"] >= max(r["compared"] for r in doc["reports"])
