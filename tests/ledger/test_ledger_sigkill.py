"""A real `migo-sync push` process SIGKILLed between intent and confirmation: the ledger (the
sandbox's Intacct or Workday) has applied the journals but holds its answer back while the
process waits for it. Then the warehouse is changed and reverted, or changed, and a rerun settles
it: every journal is in the ledger exactly once, and the state says exactly what the ledger holds
(the ledger's id for each), or a reject with the remedy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers import sandboxed
from ledger.test_ledger_exactly_once import LEDGERS, posted, project_for

from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.engine.plan import HELD_UNCOMPARED, LEDGER_DIFFERS
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.faults import ALL_KINDS
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse

POSTING = {"intacct": "<create>", "workday": "Import_Accounting_Journal_Request"}  # the request that posts


def ledger_state(project: Project) -> dict[str, list[tuple[str | None, str | None, str | None]]]:
    """{journal: [(sent_hash, pending_hash, remote_id) per line]} of the push's sent ledger."""
    warehouse = open_warehouse(project)
    try:
        state: dict[str, list[tuple[str | None, str | None, str | None]]] = {}
        for unit, sent, pending, remote in warehouse.query(
                "SELECT unit_key, sent_hash, pending_hash, remote_id FROM migo_sync.sent ORDER BY unit_key, row_key"):
            state.setdefault(str(unit), []).append((sent, pending, remote))
        return state
    finally:
        warehouse.close()


def sql(project: Project, statement: str, params: list[object]) -> None:
    warehouse = open_warehouse(project)
    try:
        warehouse.execute(statement, params)
    finally:
        warehouse.close()


def kill_while_the_ledger_holds_its_answer(sandbox: SandboxThread, system: str, project: Project,
                                           mapping: str, kind: str = "hold_after") -> None:
    """Run the push as a child process; the ledger applies its first posting request and holds the
    answer (`kind` "hold": holds the request, never applied); SIGKILL the child while it waits
    (deadline 120 s)."""
    sandbox.faults(rate=0.0, kinds=[kind], at=[1], match=POSTING[system], slow_seconds=120.0,
                   systems=[system])
    command = [sys.executable, "-m", "migo_sync", "push", mapping, "--project", str(project.root), "--quiet"]
    child = subprocess.Popen(command, env={**os.environ, **project.environ}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (sandbox.faults()["injected"].get(kind) and (kind == "hold" or posted(sandbox, system))):
            assert child.poll() is None, f"the push ended ({child.returncode}) before its answer was held"
            assert time.monotonic() < deadline, "the ledger never applied the journals"
            time.sleep(0.05)
        time.sleep(0.2)  # the child is waiting for the held answer
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        sandbox.faults(rate=0.0, kinds=list(ALL_KINDS), at=[], match="", slow_seconds=0.3)


@pytest.mark.slow
@pytest.mark.parametrize("after_kill", ["changed-then-reverted", "changed"])
@pytest.mark.parametrize("system", sorted(LEDGERS))
def test_a_sigkill_between_intent_and_confirm_then_a_revert_or_a_change(
        system: str, after_kill: str, sandbox: SandboxThread, tmp_path: Path) -> None:
    project, push = project_for(system, sandbox, tmp_path, with_name=True)
    ids = sandboxed.journal_ids(project)
    kill_while_the_ledger_holds_its_answer(sandbox, system, project, push.stem)
    held = Counter(posted(sandbox, system))
    assert held and set(held.values()) == {1}
    state = ledger_state(project)
    in_flight = sorted(j for j, rows in state.items() if any(pending for _s, pending, _r in rows))
    applied = sorted(set(in_flight) & set(held))  # intent recorded, applied, never confirmed
    assert applied, (in_flight, held)
    journal = applied[0]
    # still balanced, other amounts (the ledger keeps those it applied)
    sql(project, "UPDATE lending.journal_lines SET amount = amount * 2 WHERE journal_id = ?", [journal])
    if after_kill == "changed-then-reverted":
        sql(project, "UPDATE lending.journal_lines SET amount = amount / 2 WHERE journal_id = ?", [journal])
    report = run(project, RunOptions(direction="push"))
    [result] = report.results
    assert posted(sandbox, system) == Counter(ids)  # every journal exactly once
    state = ledger_state(project)
    assert sorted(state) == sorted(ids)
    others = [rows for j, rows in state.items() if j != journal]
    assert all(sent and sent != LEDGER_DIFFERS and pending is None and remote
               for rows in others for sent, pending, remote in rows)  # confirmed, with the ledger's id
    if after_kill == "changed-then-reverted":
        assert result.status == "ok" and result.rows_rejected == 0, result.error
        assert all(sent and sent != LEDGER_DIFFERS and pending is None and remote
                   for sent, pending, remote in state[journal])
    else:  # what the ledger holds, never the warehouse's new values as sent; a reject with the remedy
        assert result.status == "rejected" and result.rows_rejected == len(state[journal])
        assert {(sent, pending) for sent, pending, _remote in state[journal]} == {(LEDGER_DIFFERS, None)}
        assert all(remote for _sent, _pending, remote in state[journal])
        warehouse = open_warehouse(project)
        try:
            reasons = {r[0] for r in warehouse.query("SELECT reason FROM migo_sync.rejects WHERE run_id = ?",
                                                     [report.run_id])}
        finally:
            warehouse.close()
        [reason] = reasons
        assert reason.startswith(f"the ledger already holds journal {journal} (id ")
        assert reason.endswith("not posted again; post a reversing entry")
    again = run(project, RunOptions(direction="push")).results[0]  # and a rerun says nothing new
    assert (again.status, again.rows_rejected, again.rows_written) == ("ok", 0, 0), again.error
    assert posted(sandbox, system) == Counter(ids)


def rejects(project: Project, run_id: str) -> list[tuple[str, str]]:
    warehouse = open_warehouse(project)
    try:
        return sorted((str(r[0]), str(r[1])) for r in warehouse.query(
            "SELECT row_key, reason FROM migo_sync.rejects WHERE run_id = ?", [run_id]))
    finally:
        warehouse.close()


def reconcile(project: Project, system: str, capsys: pytest.CaptureFixture[str],
              monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any]]:
    for name, value in project.environ.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = run_cli(["reconcile", system, "--project", str(project.root), "--json"])
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return code, doc


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("booked", [True, False], ids=["booked", "never-booked"])
@pytest.mark.parametrize("system", sorted(LEDGERS))
def test_a_sigkill_between_intent_and_confirm_then_the_journal_deleted_from_the_warehouse(
        system: str, booked: bool, sandbox: SandboxThread, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    project, push = project_for(system, sandbox, tmp_path, with_name=True)
    ids = sandboxed.journal_ids(project)
    kill_while_the_ledger_holds_its_answer(sandbox, system, project, push.stem, "hold_after" if booked else "hold")
    held = Counter(posted(sandbox, system))
    before = ledger_state(project)
    in_flight = sorted(j for j, rows in before.items() if any(pending for _s, pending, _r in rows))
    assert set(held.values()) <= {1}
    # booked: in a request the ledger applied, whose answer never came; never booked: in the
    # request the ledger held unapplied (the batch's other requests may have been answered)
    chosen = sorted(set(in_flight) & set(held)) if booked else sorted(set(in_flight) - set(held))
    assert chosen, (in_flight, held)
    journal = chosen[0]
    sql(project, "DELETE FROM lending.journal_lines WHERE journal_id = ?", [journal])
    dry = run(project, RunOptions(direction="push", dry_run=True)).results[0]  # says so, writes nothing
    assert dry.details["pending_vanished"] == {"units": 1, "held": int(booked), "unknown": 0,
                                               "dropped": int(not booked)}, dry.error
    assert ledger_state(project) == before and Counter(posted(sandbox, system)) == held
    report = run(project, RunOptions(direction="push"))
    [result] = report.results
    rest = [j for j in ids if j != journal]
    assert posted(sandbox, system) == Counter(ids if booked else rest)  # every journal once, the deleted never posted
    state = ledger_state(project)
    assert all(sent and sent not in (LEDGER_DIFFERS, HELD_UNCOMPARED) and pending is None and remote
               for j in rest for sent, pending, remote in state[j])  # confirmed, with the ledger's id
    assert result.details["pending_vanished"] == dry.details["pending_vanished"]
    if booked:  # recorded with the ledger's id, reported once with the remedy
        lines = len(before[journal])
        assert (result.status, result.rows_rejected) == ("rejected", lines), result.error
        [remote] = {remote for _sent, _pending, remote in state[journal]}
        assert state[journal] == [(HELD_UNCOMPARED, None, remote)] * lines and remote
        reasons = rejects(project, report.run_id)
        assert len(reasons) == lines and {k.split("\x1f")[0] for k, _r in reasons} == {journal}
        assert {r for _k, r in reasons} == {
            f"posted by a run whose answer was lost (the ledger holds it as {remote}) and since deleted from the "
            f"warehouse: this object is insert-only (post a reversing entry)"}
    else:  # never posted: the intent dropped, no trace left
        assert (result.status, result.rows_rejected) == ("ok", 0), result.error
        assert journal not in state
    assert all(r["ok"] for r in report.reconciliation), report.reconciliation  # the feed: what it holds
    again = run(project, RunOptions(direction="push"))  # a rerun says nothing new
    assert (again.results[0].status, again.results[0].rows_rejected, again.results[0].rows_written) == (
        "ok", 0, 0), again.results[0].error
    assert "pending_vanished" not in again.results[0].details and rejects(project, again.run_id) == []
    assert posted(sandbox, system) == Counter(ids if booked else rest)
    # the whole ledger against the warehouse: the journal deleted from the warehouse is still in the
    # ledger when it was booked (hence the reversing entry), and nowhere when it was not
    code, doc = reconcile(project, system, capsys, monkeypatch)
    assert all(r["ok"] for r in doc["reports"]), doc
    assert (code, doc["ledger"]["ok"]) == ((1, False) if booked else (0, True)), doc
