"""The CLI as finance ops and reviewers use it, on a DuckDB project and the Sheets emulator over HTTP:
dry runs write nothing, runs are recorded and shown, rejects are kept and retried, mapping diff and
validate --remote read the truth."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.projects import sheets_project

from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse

REPO = Path(__file__).resolve().parents[2]
MAPPINGS = ("sheets_collections_push.yaml", "sheets_fx_rates_pull.yaml")


@pytest.fixture
def project(tmp_path: Path, sandbox: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from migo_sync.adapters.sheets.sandbox import credentials

    for key, value in {**sandbox.env, **credentials(tmp_path / "keys")}.items():
        monkeypatch.setenv(key, value)
    yield sheets_project(tmp_path / "project", MAPPINGS)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = run_cli(list(args))
    out = capsys.readouterr().out
    return code, json.loads(out) if "--json" in args and out.strip() else out


def warehouse_state(root: Path) -> tuple[list[str], int]:
    warehouse = open_warehouse(Project.load(root))
    try:
        tables = sorted(f"{r[0]}.{r[1]}" for r in warehouse.query(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE NOT table_name LIKE 'migo_%'"))
        rows = int(warehouse.query("SELECT COUNT(*) FROM lending.collections")[0][0])
    finally:
        warehouse.close()
    return tables, rows


def test_dry_run_writes_nothing_anywhere(project: Path, sandbox: SandboxThread,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    before_tables = warehouse_state(project)
    before = sandbox.dump("sheets")
    code, report = cli(capsys, "run", "--dry-run", "--json", "--project", str(project))
    assert code == 0 and report["ok"] and report["run_id"] is None
    push = next(m for m in report["mappings"] if m["name"] == "sheets_collections_push")
    assert push["status"] == "dry-run" and push["rows_changed"] == push["rows_read"] > 0
    assert push["details"]["new"] == push["rows_read"] and push["sample"]
    assert push["rows_written"] == 0
    assert sandbox.dump("sheets") == before
    assert warehouse_state(project) == before_tables  # no bookkeeping schema, no pulled table


def test_runs_are_recorded_and_a_rerun_sends_nothing(project: Path, sandbox: SandboxThread,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, first = cli(capsys, "run", "--json", "--project", str(project))
    assert code == 0 and first["ok"], first
    pushed = next(m for m in first["mappings"] if m["name"] == "sheets_collections_push")
    assert pushed["rows_written"] == pushed["rows_read"] > 0 and pushed["requests"] > 0
    received = sandbox.stats()["sheets"]
    code, second = cli(capsys, "push", "sheets_collections_push", "--json", "--project", str(project))
    assert code == 0
    [again] = second["mappings"]
    assert again["rows_changed"] == again["rows_written"] == again["requests"] == 0
    assert sandbox.stats()["sheets"] == received  # not one request reached the remote
    code, runs = cli(capsys, "runs", "list", "--json", "--project", str(project))
    assert [r["run_id"] for r in runs["runs"]][:2] == [second["run_id"], first["run_id"]]
    code, shown = cli(capsys, "runs", "show", first["run_id"], "--json", "--project", str(project))
    assert code == 0 and {m["name"] for m in shown["mappings"]} == {"sheets_collections_push", "sheets_fx_rates_pull"}
    assert cli(capsys, "runs", "show", "r-nope", "--project", str(project))[0] == 2


def test_rejected_rows_are_recorded_and_retried_next_run(project: Path, sandbox: SandboxThread,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = open_warehouse(Project.load(project))
    try:
        bad = warehouse.query("SELECT loan_id FROM lending.collections ORDER BY loan_id LIMIT 1")[0][0]
        warehouse.execute(f"UPDATE lending.collections SET outstanding = NULL WHERE loan_id = '{bad}'")
    finally:
        warehouse.close()
    code, report = cli(capsys, "push", "sheets_collections_push", "--json", "--project", str(project))
    assert code == 1 and not report["ok"]
    [push] = report["mappings"]
    assert push["status"] == "rejected" and push["rows_rejected"] == 1
    code, shown = cli(capsys, "runs", "show", report["run_id"], "--json", "--project", str(project))
    [reject] = shown["rejects"]
    assert reject["row_key"] == bad and reject["reason"] == "missing value in outstanding"  # only the NULL one
    tab = json.dumps(sandbox.dump("sheets"))
    assert bad not in tab  # the invalid row never reached the sheet; the others did
    warehouse = open_warehouse(Project.load(project))
    try:
        warehouse.execute(f"UPDATE lending.collections SET outstanding = 10.50 WHERE loan_id = '{bad}'")
    finally:
        warehouse.close()
    code, fixed = cli(capsys, "push", "sheets_collections_push", "--json", "--project", str(project))
    assert code == 0 and fixed["mappings"][0]["rows_rejected"] == 0
    assert bad in json.dumps(sandbox.dump("sheets"))


def test_mapping_diff_field_by_field_against_git(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "add", "mappings")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "mappings")
    path = project / "mappings" / "sheets_collections_push.yaml"
    text = path.read_text().replace("{column: full_name, remote: Customer, term: null}",
                                    "{column: full_name, remote: Borrower, term: null}")
    text = text.replace("  - {column: assigned_agent, remote: Agent}\n", "")
    path.write_text(text.replace("\nmode: mirror\n", "\nmode: mirror\nbatch_size: 1\n"))
    code, diff = cli(capsys, "mapping", "diff", "--json", "--project", str(project))
    assert code == 0
    changes = {(c["kind"], c["path"]): (c["before"], c["after"]) for c in diff["changes"]}
    assert changes[("changed", "fields[full_name].remote")] == ("Customer", "Borrower")
    assert changes[("removed", "fields[assigned_agent]")] == ("Agent (string)", None)
    assert changes[("changed", "batch_size")] == (None, 1)
    assert len(changes) == 3
    assert cli(capsys, "mapping", "diff", "--base", "no-such-rev", "--project", str(project))[0] == 2


def test_validate_checks_the_warehouse_and_the_live_remote(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, ok = cli(capsys, "mapping", "validate", "--remote", "--json", "--project", str(project))
    assert code == 0 and ok["ok"], ok
    path = project / "mappings" / "sheets_collections_push.yaml"
    path.write_text(path.read_text().replace("{column: phone, remote: Phone}", "{column: phnoe, remote: Phone}"))
    code = run_cli(["mapping", "validate", "--project", str(project)])
    err = capsys.readouterr().err
    assert code == 2
    assert "sheets_collections_push.yaml:19: fields[5].column: unknown column 'phnoe' in lending.collections " \
           "(did you mean 'phone'?)" in err
    pull = project / "mappings" / "sheets_fx_rates_pull.yaml"
    path.write_text(path.read_text().replace("phnoe", "phone"))
    pull.write_text(pull.read_text().replace("remote: Source}", "remote: Sauce}"))
    code = run_cli(["mapping", "validate", "--remote", "--project", str(project)])
    err = capsys.readouterr().err
    assert code == 2 and "sheets_fx_rates_pull.yaml" in err and "Sauce" in err


def test_mapping_diff_remote_shows_drift_of_a_sheet_header(project: Path, sandbox: SandboxThread,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    code, diff = cli(capsys, "mapping", "diff", "--remote", "--json", "--base", "HEAD", "--project", str(project))
    assert code == 2  # no commit yet: the base revision does not exist (one clear line, exit 2)
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q",
                    "--allow-empty", "-m", "empty"], cwd=project, check=True)
    code, diff = cli(capsys, "mapping", "diff", "--remote", "--json", "--project", str(project))
    assert code == 0
    assert not [c for c in diff["changes"] if c["kind"].startswith("drift")]  # header matches the mapping
    pull = project / "mappings" / "sheets_fx_rates_pull.yaml"
    pull.write_text(pull.read_text().replace("remote: Source}", "remote: Origin}"))
    code, diff = cli(capsys, "mapping", "diff", "--remote", "--json", "--project", str(project))
    drift = {(c["kind"], c["path"]) for c in diff["changes"] if c["kind"].startswith("drift")}
    assert drift == {("drift-removed", "Origin")} and diff["unmapped_drift_hidden"] == 1  # mapped fields only
    code, diff = cli(capsys, "mapping", "diff", "--remote", "--all", "--json", "--project", str(project))
    drift = {(c["kind"], c["path"]) for c in diff["changes"] if c["kind"].startswith("drift")}
    assert drift == {("drift-removed", "Origin"), ("drift-added", "Source")}


def test_a_push_from_a_query(project: Path, sandbox: SandboxThread, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "mappings" / "urgent.yaml").write_text("""\
name: urgent_collections
system: sheets
object: tab
direction: push
mode: mirror
warehouse:
  query: >
    SELECT loan_id, full_name, outstanding FROM lending.collections WHERE priority = 1
key: [loan_id]
fields:
  - {column: loan_id, remote: Loan ID}
  - {column: full_name, remote: Customer}
  - {column: outstanding, remote: Outstanding, type: decimal, scale: 2}
options: {spreadsheet_id: migo-collections, sheet: Urgent}
""")
    warehouse = open_warehouse(Project.load(project))
    try:
        urgent = warehouse.query("SELECT COUNT(*) FROM lending.collections WHERE priority = 1")[0][0]
    finally:
        warehouse.close()
    code, report = cli(capsys, "push", "urgent_collections", "--json", "--project", str(project))
    assert code == 0, report
    assert report["mappings"][0]["rows_written"] == urgent > 0
    rows = sandbox.dump("sheets")["spreadsheets"]["migo-collections"]["tabs"]["Urgent"]["rows"]
    assert rows[0] == ["Loan ID", "Customer", "Outstanding"] and len(rows) == urgent + 1


def test_a_blob_column_mapped_to_a_string_field_is_a_validation_error(
        project: Path, sandbox: SandboxThread, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = open_warehouse(Project.load(project))
    try:  # the issue's case: names stored as bytes would reach the sheet as b'Ian Nyambura'
        warehouse.execute("ALTER TABLE lending.collections ALTER full_name TYPE BLOB USING encode(full_name)")
    finally:
        warehouse.close()
    code = run_cli(["push", "sheets_collections_push", "--project", str(project)])
    err = capsys.readouterr().err
    assert code == 2
    assert ("sheets_collections_push.yaml:18: fields[4].column: column 'full_name' is BLOB (bytes): a string "
            "field cannot carry it (decode or cast it to text in a `warehouse.query`)") in err
    assert "b'" not in json.dumps(sandbox.dump("sheets"))  # nothing was sent


def test_a_pull_dry_run_compares_with_the_warehouse(project: Path, sandbox: SandboxThread,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    name, table = "sheets_fx_rates_pull", "finance.fx_rates"

    def preview() -> dict[str, Any]:
        code, report = cli(capsys, "pull", name, "--dry-run", "--full-refresh", "--json", "--project", str(project))
        assert code == 0
        [result] = report["mappings"]
        return dict(result)

    first = preview()
    assert first["details"]["new"] == first["rows_read"] > 0 and first["details"]["unchanged"] == 0
    assert cli(capsys, "pull", name, "--json", "--project", str(project))[0] == 0
    again = preview()
    assert again["details"] == {"new": 0, "changed": 0, "unchanged": again["rows_read"], "deleted": 0}
    assert again["rows_changed"] == 0 and again["requests"] >= 1  # the reads it spent are reported
    warehouse = open_warehouse(Project.load(project))
    try:
        rows = warehouse.query(f"SELECT currency, effective_date FROM {table} ORDER BY 1, 2 LIMIT 2")
        rate = next(c.name for c in warehouse.columns(table) or [] if c.name not in ("currency", "effective_date"))
        warehouse.execute(f"DELETE FROM {table} WHERE currency = ? AND effective_date = ?", list(rows[0]))
        warehouse.execute(f"UPDATE {table} SET {rate} = NULL WHERE currency = ? AND effective_date = ?", list(rows[1]))
        warehouse.execute(f"INSERT INTO {table} (currency, effective_date) VALUES ('XXX', DATE '1999-01-01')")
    finally:
        warehouse.close()
    third = preview()
    assert third["details"] == {"new": 1, "changed": 1, "unchanged": third["rows_read"] - 2, "deleted": 1}
    assert run_cli(["pull", name, "--dry-run", "--full-refresh", "--project", str(project)]) == 0
    assert "1 new, 1 changed, " in capsys.readouterr().err


def test_quiet_prints_nothing_on_success(project: Path, sandbox: SandboxThread,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "-q", "--project", str(project)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert run_cli(["run", "--project", str(project)]) == 0  # without -q: the table
    assert "sheets_collections_push" in capsys.readouterr().out
