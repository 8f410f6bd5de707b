"""Trust zones: a push into a ledger that reads a DMZ relation is refused with the path that
reaches it, unless the relation is promoted by checks that pass in the same run (recorded there)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.demo.project import sandbox_credentials
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse

REPO = Path(__file__).resolve().parents[2]
BASE = '[warehouse]\ntype = "duckdb"\npath = "warehouse.duckdb"\ncreate = true\n'
APPROVERS = '["A. Wanjiru", "J. Otieno", "M. Achieng", "P. Kamau"]'
PROMOTION = f"""
[zones.promote."finance.manual_adjustments"]
approver = "A. Wanjiru (finance lead)"
not_null = ["adjustment_id", "account_no", "amount", "approved_by"]
accepted_values = {{ approved_by = {APPROVERS} }}
"""


def project_at(root: Path, config: str, *names: str) -> Path:
    (root / "mappings").mkdir(parents=True)
    for name in names:
        shutil.copy(next((REPO / "mappings").rglob(f"{name}.yaml")), root / "mappings")
    (root / "migo-sync.toml").write_text(BASE + config, encoding="utf-8")
    return root


def validate(project: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run_cli(["mapping", "validate", "--offline", "--project", str(project)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


def test_a_ledger_push_from_a_sheet_is_refused_with_its_path(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    project = project_at(tmp_path, "", "sheets_manual_adjustments_pull", "intacct_adjustments_push")
    code, err = validate(project, capsys)
    assert code == 2
    assert ("intacct_adjustments_push.yaml:16: warehouse.query: push into system of record intacct GLBATCH "
            "reaches DMZ relation finance.manual_adjustments: sheets://tab/Manual Adjustments → "
            "sheets_manual_adjustments_pull → finance.manual_adjustments (dmz) → intacct_adjustments_push → "
            "intacct://GLBATCH (promote it in migo-sync.toml: zones.promote.\"finance.manual_adjustments\"") in err
    code = run_cli(["run", "--project", str(project), "--json", "intacct_adjustments_push"])
    assert code == 2  # the run refuses before anything is sent (nothing reaches the network)
    assert "reaches DMZ relation finance.manual_adjustments" in capsys.readouterr().out


@pytest.mark.parametrize(("config", "ok"), [
    ("", False),
    (PROMOTION, True),
    ('[zones]\ntrusted = ["finance.manual_*"]\n', True),   # declared trusted: the default for Sheets is overridden
    ('[zones]\nhand_kept = []\n', True),
    ('[zones]\nhand_kept = []\ndmz = ["finance.*"]\n', False),
    ('[zones]\nhand_kept = []\nsystems_of_record = []\ndefault = "dmz"\n', False),  # a ledger is always one
])
def test_zone_classification_decides_the_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 config: str, ok: bool) -> None:
    project = project_at(tmp_path, config, "sheets_manual_adjustments_pull", "intacct_adjustments_push")
    code, err = validate(project, capsys)
    assert (code == 0) is ok, err


def test_a_query_hiding_the_dmz_in_a_filter_is_still_refused(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    project = project_at(tmp_path, "", "sheets_manual_adjustments_pull", "intacct_journals_push")
    path = project / "mappings" / "intacct_journals_push.yaml"
    text = path.read_text().replace("  table: lending.journal_lines", "  query: |\n    SELECT * FROM lending.journal_lines l\n"
                                    "    WHERE l.journal_id NOT IN (SELECT adjustment_id FROM finance.manual_adjustments)")
    path.write_text(text)
    code, err = validate(project, capsys)
    assert code == 2 and "reaches DMZ relation finance.manual_adjustments" in err, err


def test_a_promotion_must_reconcile_against_a_trusted_relation(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = PROMOTION + 'reconcile = { column = "amount", against = "finance.fx_rates", against_column = "rate_to_kes" }\n'
    project = project_at(tmp_path, config, "sheets_manual_adjustments_pull", "sheets_fx_rates_pull",
                         "intacct_adjustments_push")
    code, err = validate(project, capsys)
    assert code == 2 and "zones.promote.finance.manual_adjustments.reconcile.against: finance.fx_rates is not a " \
        "trusted relation" in err, err


@pytest.fixture
def sandboxed(sandbox: SandboxThread, tmp_path: Path) -> SandboxThread:
    return sandbox


def _project(root: Path, handle: SandboxThread, config: str) -> Project:
    project_at(root, config, "sheets_manual_adjustments_pull", "intacct_adjustments_push")
    proj = Project.load(root)
    proj.environ = {**handle.env, **sandbox_credentials(root / ".migo-sync"), "MIGO_SYNC_NO_KEYRING": "1"}
    return proj


def _posted(handle: SandboxThread) -> Counter[str]:
    return Counter(j["referenceno"] for j in handle.dump("intacct")["journals"])


NAMES = ["sheets_manual_adjustments_pull", "intacct_adjustments_push"]


def test_a_promoted_relation_reaches_the_ledger_and_the_promotion_is_recorded(
        sandboxed: SandboxThread, tmp_path: Path) -> None:
    recon = PROMOTION + ('reconcile = { column = "amount", against = "finance.adjustment_controls", '
                         'against_column = "total" }\n')
    proj = _project(tmp_path, sandboxed, recon)
    before = _posted(sandboxed)
    warehouse = open_warehouse(proj)
    try:  # the control total finance signed off, kept in a trusted relation
        warehouse.execute("CREATE SCHEMA IF NOT EXISTS finance")
        warehouse.execute("CREATE TABLE finance.adjustment_controls (total DECIMAL(18, 2))")
    finally:
        warehouse.close()
    report = run(proj, RunOptions(names=NAMES[:1]))
    warehouse = open_warehouse(proj)
    try:
        (total,), = warehouse.query("SELECT SUM(amount) FROM finance.manual_adjustments")
        warehouse.execute(f"INSERT INTO finance.adjustment_controls VALUES ({total})")
        ids = [r[0] for r in warehouse.query("SELECT adjustment_id FROM finance.manual_adjustments ORDER BY 1")]
    finally:
        warehouse.close()
    report = run(proj, RunOptions(names=NAMES))
    push = next(r for r in report.results if r.name == "intacct_adjustments_push")
    assert push.status == "ok", push.error
    assert _posted(sandboxed) - before == Counter(ids) and len(ids) == 30
    [promotion] = push.details["promotions"]
    assert promotion["promoted"] and promotion["approver"] == "A. Wanjiru (finance lead)"
    assert {c["check"] for c in promotion["checks"]} == {
        "not_null adjustment_id", "not_null account_no", "not_null amount", "not_null approved_by",
        "accepted_values approved_by", "reconcile amount against finance.adjustment_controls", "approver"}
    warehouse = open_warehouse(proj)
    try:  # recorded in the run, in the warehouse
        rows = warehouse.query("SELECT run_id, mapping, relation, approver, promoted, checks FROM migo_sync.promotions")
    finally:
        warehouse.close()
    [(run_id, mapping, relation, approver, promoted, checks)] = rows
    assert (run_id, mapping, relation, approver, promoted) == (
        report.run_id, "intacct_adjustments_push", "finance.manual_adjustments", "A. Wanjiru (finance lead)", True)
    assert json.loads(checks) == promotion["checks"]


@pytest.mark.parametrize(("breakage", "failed_check"), [
    ("UPDATE finance.manual_adjustments SET approved_by = 'Somebody' WHERE adjustment_id = 'ADJ-2026-0007'",
     "accepted_values approved_by"),
    ("UPDATE finance.manual_adjustments SET approved_by = NULL WHERE adjustment_id = 'ADJ-2026-0003'",
     "not_null approved_by"),
])
def test_a_failed_promotion_refuses_the_push_and_nothing_reaches_the_ledger(
        sandboxed: SandboxThread, tmp_path: Path, breakage: str, failed_check: str) -> None:
    proj = _project(tmp_path, sandboxed, PROMOTION)
    run(proj, RunOptions(names=NAMES[:1]))
    warehouse = open_warehouse(proj)
    try:  # someone edits the DMZ relation after the sheet was pulled
        warehouse.execute(breakage)
    finally:
        warehouse.close()
    before = _posted(sandboxed)
    # only the push: the pull would restore the sheet's values
    report = run(proj, RunOptions(names=NAMES[1:]))
    [push] = report.results
    assert push.status == "failed" and push.error is not None
    assert push.error.startswith("refused: DMZ relation finance.manual_adjustments failed its promotion checks")
    assert report.exit_code == 1
    assert _posted(sandboxed) == before
    [promotion] = push.details["promotions"]
    failed = [c["check"] for c in promotion["checks"] if not c["ok"]]
    assert failed == [failed_check] and not promotion["promoted"]
    warehouse = open_warehouse(proj)
    try:  # the refusal is recorded in the run too
        rows = warehouse.query("SELECT run_id, promoted FROM migo_sync.promotions WHERE mapping = 'intacct_adjustments_push'")
    finally:
        warehouse.close()
    assert rows == [(report.run_id, False)]
