"""The ledger contract, for every system that is a general ledger (Intacct, Workday Financials):
the shipped mappings push the demo journals, pull the lines back and reconcile to the cent; journals
the ledger checks refuse (unbalanced, closed period, unknown account or dimension) never reach it,
each with its reason. A new ledger adapter gets these by adding a `Ledger` to `LEDGERS`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from contract.cases import CASES, Case
from contract.harness import build, sql
from helpers.sandboxed import journal_ids

from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread


@dataclass(frozen=True)
class Ledger:
    case: Case
    lines: str        # SQL over the pulled lines: (count, sum of signed amounts) like lending.journal_lines'
    bad_dimension: str  # an UPDATE ... SET clause that names a dimension value the ledger does not have
    bad_dimension_reason: str


BY_SYSTEM = {c.system: c for c in CASES}
LEDGERS = [
    Ledger(BY_SYSTEM["intacct"], "SELECT COUNT(*), SUM(amount * tr_type) FROM finance.gl_detail",
           "account_no = '9999'", "line 2: unknown account '9999'"),
    Ledger(BY_SYSTEM["workday"], "SELECT COUNT(*), SUM(amount) FROM finance.workday_journal_lines",
           "department_id = 'MKT'", "line 2: unknown cost_center 'MKT'"),
]


@pytest.fixture(params=LEDGERS, ids=[x.case.system for x in LEDGERS])
def ledger(request: pytest.FixtureRequest) -> Ledger:
    chosen: Ledger = request.param
    return chosen


@pytest.fixture
def case(ledger: Ledger) -> Case:
    return ledger.case


def posted(case: Case, handle: SandboxThread) -> Counter[str]:
    return Counter({key: len(copies) for key, copies in case.remote(handle).items()})


def test_push_pull_and_reconcile(ledger: Ledger, remote: SandboxThread, tmp_path: Path) -> None:
    case = ledger.case
    project = build(case, remote, tmp_path / "project")
    report = run(project, RunOptions())
    assert all(r.status == "ok" for r in report.results), {r.name: r.error for r in report.results}
    ids = journal_ids(project)
    assert posted(case, remote) == Counter(ids)
    [recon] = report.reconciliation
    assert recon["ok"] and recon["system"] == case.system and recon["periods"] == ["2026-10", "2026-11"]
    assert recon["compared"] > 0
    assert sql(project, ledger.lines) == sql(project, "SELECT COUNT(*), SUM(amount) FROM lending.journal_lines")
    again = run(project, RunOptions(names=[case.push])).results[0]
    assert (again.rows_changed, again.requests) == (0, 0) and posted(case, remote) == Counter(ids)


def test_refused_journals_never_reach_the_ledger(ledger: Ledger, remote: SandboxThread, tmp_path: Path) -> None:
    case = ledger.case
    project = build(case, remote, tmp_path / "project")
    ids = journal_ids(project)
    sql(project, f"UPDATE lending.journal_lines SET amount = amount + 0.01 WHERE journal_id = '{ids[0]}' AND line_no = 1")
    sql(project, f"UPDATE lending.journal_lines SET posting_date = DATE '2025-12-31' WHERE journal_id = '{ids[1]}'")
    sql(project, f"UPDATE lending.journal_lines SET {ledger.bad_dimension} WHERE journal_id = '{ids[2]}' AND line_no = 2")
    report = run(project, RunOptions(names=[case.push]))
    assert report.results[0].status == "rejected"
    assert set(posted(case, remote)) == set(ids[3:])
    rejects = dict(sql(project, "SELECT DISTINCT split_part(row_key, chr(31), 1), reason FROM migo_sync.rejects"))
    assert rejects[ids[0]].startswith("unbalanced: debits")
    assert rejects[ids[1]] == "posting date 2025-12-31 falls in closed period 2025-12"
    assert rejects[ids[2]] == ledger.bad_dimension_reason
    [recon] = report.reconciliation
    assert not recon["ok"] and {d["status"] for d in recon["differences"]} <= {"differs", "missing_in_ledger"}
