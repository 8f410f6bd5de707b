"""Golden files of every human output the operator reads: `mapping validate` with problems, a
`run --dry-run` report, `runs list`, `runs show`, `mapping diff`, `doctor` and `reconcile`, each at
60, 80 and 200 columns and piped (stdout and stderr as the person sees them, in that order).

The inputs are fixed (run ids, times, amounts: no clock, no randomness), so each golden file is
deterministic. On top of the byte-for-byte comparison, every id and amount must be whole in the
output at every width (a value folded over lines is still whole once the folds are joined), no
value ends in "…", and no table line is wider than the terminal (messages on stderr are printed
as one soft-wrapped line each: the terminal folds them, nothing is cut). Regenerate after an intended change:

    MIGO_SYNC_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/core/test_cli_golden.py
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from migo_sync.cli.common import fail
from migo_sync.cli.doctor import Check, show_checks
from migo_sync.cli.mapping import show_changes
from migo_sync.cli.reconcile import show as show_reconcile
from migo_sync.cli.run import show_report
from migo_sync.cli.runs import show_run, show_runs
from migo_sync.console import Terminal
from migo_sync.engine.result import MappingResult
from migo_sync.engine.runner import RunReport
from migo_sync.errors import MappingError, Problem
from migo_sync.ledger.reconcile import ReconcileReport, ReconcileRow
from migo_sync.mapping.diff import Change

GOLDEN = Path(__file__).parent / "golden"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
WIDTHS = [60, 80, 200, None]
RUN_ID = "r20261206-215627-8c1e56"
OLDER_RUN = "r20261205-020000-0a9f3d"


def validate_problems(term: Terminal) -> None:
    fail(term, MappingError([
        Problem("mappings/zendesk_users_push.yaml", 14, "fields[3].column", "unknown column 'emial'",
                "did you mean 'email'?"),
        Problem("mappings/sheets_fx[rates]_pull.yaml", 9, "options.spreadsheet_id", "missing"),
        Problem("mappings/intacct_journals_push.yaml", 3, "warehouse.query",
                "no table or view 'analytics.journal_lines_2026_q4_adjusted'"),
    ]))


def dry_run(term: Terminal) -> None:
    push = MappingResult("intacct_journals_push", "intacct", "push", status="dry-run", rows_read=50_000,
                         rows_changed=23_408, rows_rejected=8, requests=0, seconds=1.25,
                         details={"new": 23_400, "changed": 8, "deleted": 0, "would_send": 23_408,
                                  "invalid_sample": [
                                      {"key": "JE-0001\x1f2", "reason": "missing value in account_no"},
                                      {"key": "JE-0042\x1f1", "reason": "journal JE-0042 does not balance: "
                                                                     "debits 1,234,567.89, credits 1,234,567.80"},
                                      {"key": "LX[red]1\x1f1", "reason": "period 2025-12 is closed"},
                                      {"key": "JE-0099\x1f3", "reason": "unknown account 99999"}]},
                         sample=[{"REFERENCENO": "JE-0001", "ACCOUNTNO": "4000", "TRX_AMOUNT": "-23418.77"},
                                 {"REFERENCENO": "JE-0001", "ACCOUNTNO": "1000", "TRX_AMOUNT": "23418.77"},
                                 {"REFERENCENO": "JE-0002", "ACCOUNTNO": "4100", "TRX_AMOUNT": None},
                                 {"REFERENCENO": "JE-0003", "ACCOUNTNO": "4200", "TRX_AMOUNT": "1.00"}])
    pull = MappingResult("zendesk_users_pull", "zendesk", "pull", status="dry-run", rows_read=2_013,
                         rows_changed=13, requests=3, seconds=0.5,
                         details={"new": 12, "changed": 1, "unchanged": 2_000, "deleted": 0},
                         sample=[{"id": 361_000_000_001, "email": "ada@migo-demo.example"}])
    show_report(term, RunReport(None, [push, pull]), dry_run=True)


RUNS = [
    {"run_id": RUN_ID, "command": "run", "started_at": "2026-12-06T21:56:27Z",
     "finished_at": "2026-12-06T22:17:01Z", "status": "rejected",
     "reason": "intacct_journals_push: 8 row(s) rejected (see: migo-sync runs show r20261206-215627-8c1e56)"},
    {"run_id": OLDER_RUN, "command": "pull zendesk_users_pull", "started_at": "2026-12-05T02:00:00Z",
     "finished_at": "2026-12-05T02:00:41Z", "status": "ok", "reason": None},
]


def runs_list(term: Terminal) -> None:
    show_runs(term, RUNS)


def runs_show(term: Terminal) -> None:
    show_run(term, {
        **RUNS[0], "exit_code": 1,
        "mappings": [MappingResult("intacct_journals_push", "intacct", "push", status="rejected", rows_read=50_000,
                                   rows_changed=23_408_123, rows_written=23_408_115, rows_rejected=8,
                                   requests=1_204, seconds=1234.56).as_json(),
                     MappingResult("workday_journals_push", "workday", "push", status="failed",
                                   error="sign-in refused: invalid username or password; check "
                                         "MIGO_SYNC_WORKDAY_USERNAME and MIGO_SYNC_WORKDAY_PASSWORD",
                                   error_class="AuthError", exit_code=2).as_json()],
        "reconciliation": [{"mapping": "intacct_journals_push", "system": "intacct", "compared": 2,
                            "differences": [{"account": "4000"}],
                            "rows": [{"period": "2026-11", "account": "4000", "warehouse": "-23418777001.25",
                                      "ledger": "-23418777000.00", "difference": "-1.25", "status": "differs"},
                                     {"period": "2026-11", "account": "1000", "warehouse": "23418777001.25",
                                      "ledger": "23418777001.25", "difference": "0.00", "status": "match"}]}],
        "rejects": [{"mapping": "intacct_journals_push", "row_key": "JE-0001\x1f2",
                     "reason": "missing value in account_no"},
                    {"mapping": "intacct_journals_push", "row_key": "LX[red]1\x1f1",
                     "reason": "period 2025-12 is closed"}],
        "rejects_total": 8,
    })


def mapping_diff(term: Terminal) -> None:
    show_changes(term, "HEAD", [
        Change("zendesk_users_pull", "changed", "fields[phone].remote", "phone", "user_fields.mobile_phone"),
        Change("intacct_journals_push", "added", "fields[memo]", None, {"column": "memo", "remote": "DESCRIPTION"}),
        Change("zendesk_users_pull", "drift-retyped", "user_fields.loan_id", "integer", "text"),
    ], hidden=36, remote=True)


def doctor(term: Terminal) -> None:
    show_checks(term, [
        Check("config", True, "/srv/finance-sync/migo-sync.toml (target prod)"),
        Check("mappings", True, "16 file(s), 3 selected: zendesk_users_pull, intacct_journals_push, "
                                "intacct_gl_detail_pull"),
        Check("warehouse", True, "duckdb /srv/finance-sync/warehouse.duckdb: connected"),
        Check("zendesk sign-in", True, "signed in as agent@migo-demo.example (role admin)"),
        Check("zendesk_users_pull", True, "zendesk users: readable: users export, one record read, "
                                          "2 custom field(s)"),
        Check("intacct sign-in", True, "signed in to company migo-demo (127.0.0.1); 1,234 GL account(s)"),
        Check("intacct_journals_push", True, "intacct GLBATCH: readable: 23408123 record(s)"),
        Check("intacct_gl_detail_pull", False, "intacct: readByQuery failed: Query Failed: Object definition "
                                               "GLENTRY not found", 2),
    ], 2)


def reconcile(term: Terminal) -> None:
    show_reconcile(term, [ReconcileReport("intacct", "intacct_journals_push", ["2026-10", "2026-11"], [
        ReconcileRow("4000", "2026-11", Decimal("-23418777001.25"), Decimal("-23418777000.00")),
        ReconcileRow("1000", "2026-11", Decimal("23418777001.25"), Decimal("23418777001.25")),
        ReconcileRow("CASH-KES-000123", "2026-10", Decimal("0.10"), Decimal("0")),
    ])])


# output → (render, values that must be whole at every width)
OUTPUTS: dict[str, tuple[Callable[[Terminal], None], list[str]]] = {
    "validate_problems": (validate_problems, [
        "mappings/zendesk_users_push.yaml:14:", "fields[3].column", "mappings/sheets_fx[rates]_pull.yaml:9:",
        "'analytics.journal_lines_2026_q4_adjusted'"]),
    "dry_run": (dry_run, [
        "23,400", "23,408", "-23418.77", "23418.77", "JE-0001/2", "LX[red]1/1", "1,234,567.89", "1,234,567.80",
        "2,000", "361000000001", "50,000", "ada@migo-demo.example"]),
    "runs_list": (runs_list, [RUN_ID, OLDER_RUN, "2026-12-06T21:56:27Z", "2026-12-06T22:17:01Z",
                              "2026-12-05T02:00:41Z"]),
    "runs_show": (runs_show, [
        RUN_ID, "23,408,123", "23,408,115", "1,204", "1234.56", "-23,418,777,001.25", "-23,418,777,000.00",
        "-1.25", "23,418,777,001.25", "JE-0001/2", "LX[red]1/1", "MIGO_SYNC_WORKDAY_PASSWORD",
        "2026-12-06T21:56:27Z"]),
    "mapping_diff": (mapping_diff, ["fields[phone].remote", "user_fields.mobile_phone", "user_fields.loan_id",
                                    '"DESCRIPTION"', "36"]),
    "doctor": (doctor, ["/srv/finance-sync/migo-sync.toml", "23408123", "1,234", "GLENTRY",
                        "/srv/finance-sync/warehouse.duckdb", "agent@migo-demo.example"]),
    "reconcile": (reconcile, ["-23,418,777,001.25", "-23,418,777,000.00", "-1.25", "23,418,777,001.25",
                              "CASH-KES-000123", "0.10"]),
}


def render(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], width: int | None,
           show: Callable[[Terminal], None]) -> str:
    for key in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "COLUMNS", "LINES", "TERM"):
        monkeypatch.delenv(key, raising=False)
    if width is not None:  # a terminal of that width
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
        monkeypatch.setenv("COLUMNS", str(width))
        monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    show(Terminal())
    out, err = capsys.readouterr()
    return f"--- stdout ---\n{ANSI.sub('', out)}--- stderr ---\n{ANSI.sub('', err)}"


@pytest.mark.parametrize("width", WIDTHS, ids=["60", "80", "200", "piped"])
@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_human_output_golden(name: str, width: int | None, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    show, whole = OUTPUTS[name]
    text = render(monkeypatch, capsys, width, show)
    golden = GOLDEN / f"{name}_{width or 'piped'}.txt"
    if os.environ.get("MIGO_SYNC_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), f"{golden.name} differs (regenerate if intended)"
    flat = re.sub(r"[\s│┃|]+", "", text)  # folds joined: a value split over lines is still whole
    for value in whole:
        assert re.sub(r"\s+", "", value) in flat, f"{value!r} cut at width {width} in {name}"
    assert not re.search(r"\S…", text), f"a value was cut with … in {name} at width {width}"
    if width is not None:  # tables fit; messages (stderr) are soft-wrapped: the terminal folds them
        stdout = text.split("--- stderr ---")[0]
        assert max(len(line) for line in stdout.splitlines()) <= width, f"a table overflows {width} columns"


def test_every_golden_file_is_used() -> None:
    expected = {f"{n}_{w or 'piped'}.txt" for n in OUTPUTS for w in WIDTHS}
    expected |= {f"run_report_{w or 'piped'}.txt" for w in WIDTHS}  # tests/core/test_cli_output.py
    assert {p.name for p in GOLDEN.glob("*.txt")} == expected

