"""Every way a run can end shows on the next `runs list`: success, a reconciliation difference, a
reject, a failure, SIGKILL, SIGTERM and SIGINT. One project pushing journals to the Workday
emulator; every push is a real `migo-sync` child process, signals are real signals, and each
ending is read with `runs list` once that process is gone (in this process: the command reads
the project as any next command does)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from helpers.emulators import emulator_fixtures
from helpers.runs import cli_json, cli_json_here, signal_when
from helpers.sandboxed import query
from workday.workday_support import envelope, line_xml, make_project, post, sandbox_environ, submit_body

from migo_sync.sandbox.process import SandboxThread

workday_server, workday = emulator_fixtures("workday")
PUSH = "workday_journals_push"
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens there


def listed_runs(root: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    code, listed = cli_json_here("runs", "list", "--project", str(root), env=env)
    assert code == 0, listed
    runs: list[dict[str, Any]] = listed["runs"]
    return runs


def latest(root: Path, env: dict[str, str]) -> dict[str, Any]:
    return listed_runs(root, env)[0]


def signalled(root: Path, env: dict[str, str], handle: SandboxThread, signum: int) -> tuple[int, str]:
    """`push --full --json`, slowed down, given `signum` once its first request reached Workday."""
    handle.faults(rate=1.0, kinds=["slow"], slow_seconds=0.5, systems=["workday"])
    before = handle.stats().get("workday", 0)
    try:
        code, out, _err = signal_when(["push", PUSH, "--full", "--json", "--project", str(root)],
                                      {**env, "MIGO_SYNC_GRACE_SECONDS": "5"},
                                      lambda: handle.stats().get("workday", 0) > before, signum,
                                      what="the push's first request", seconds=120)
    finally:
        handle.faults(rate=0.0)
    return code, out


@pytest.mark.slow
def test_each_way_a_run_ends_is_on_the_next_runs_list(workday: SandboxThread, tmp_path: Path) -> None:
    env = sandbox_environ(workday, tmp_path)
    root = make_project(tmp_path / "project", env).root
    history: list[tuple[str, str, int]] = []  # (run_id, status, exit code) as each ending left it

    code, doc = cli_json("push", PUSH, "--project", str(root), env=env)
    assert code == 0 and doc["status"] == "ok", doc
    run = latest(root, env)
    assert (run["run_id"], run["status"], run["ok"], run["reason"], run["exit_code"]) == (
        doc["run_id"], "ok", True, None, 0)
    history.append((run["run_id"], "ok", 0))

    # someone posts a journal by hand under one of the feed's references: the next push sends
    # nothing, but its reconciliation (against the feed's own journals) differs
    manual = line_xml("6000", debit="12.34") + line_xml("1000", credit="12.34")
    body = submit_body("manual-1", manual, day="2026-11-03").replace(
        "</wd:Journal_Source_Reference>", "</wd:Journal_Source_Reference><wd:External_Reference_ID>"
        f"{query_first_journal(root, env)}</wd:External_Reference_ID>", 1)
    assert post(workday, envelope(body)).status_code == 200
    code, doc = cli_json("push", PUSH, "--project", str(root), env=env)
    run = latest(root, env)
    assert (code, run["run_id"], run["status"], run["exit_code"], run["rows_written"]) == (
        1, doc["run_id"], "differs", 1, 0)
    assert run["reason"] == f"reconciliation of {PUSH} (workday): 2 difference(s)"
    history.append((run["run_id"], "differs", 1))

    first = query_first_journal(root, env)
    query_project(root, env, f"UPDATE lending.journal_lines SET amount = amount + 0.01 "
                             f"WHERE journal_id = '{first}' AND line_no = 1")  # unbalanced: refused before sending
    code, doc = cli_json("push", PUSH, "--project", str(root), env=env)
    run = latest(root, env)
    assert (code, run["run_id"], run["status"], run["exit_code"]) == (1, doc["run_id"], "rejected", 1)
    assert run["reason"].startswith(f"{run['rows_rejected']:,} rows rejected ({PUSH}: ") and run["rows_rejected"] > 0
    history.append((run["run_id"], "rejected", 1))

    # one attempt: the seven retries over ~30 s of backoff would change nothing the list shows
    code, doc = cli_json("push", PUSH, "--full", "--project", str(root),
                         env={**env, "MIGO_SYNC_WORKDAY_URL": NOWHERE, "MIGO_SYNC_RETRY_ATTEMPTS": "1"})
    run = latest(root, env)
    assert (code, run["run_id"], run["status"], run["exit_code"]) == (3, doc["run_id"], "failed", 3)
    assert run["reason"].startswith(f"{PUSH} failed: UnreachableError: ")
    history.append((run["run_id"], "failed", 3))

    code, _out = signalled(root, env, workday, signal.SIGKILL)
    assert code == -signal.SIGKILL
    run = latest(root, env)  # the next command finds the run left running by a dead process
    assert (run["status"], run["ok"], run["exit_code"]) == ("died", False, None) and "died" in run["reason"]
    history.append((run["run_id"], "died", -1))

    for signum, exit_code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        code, out = signalled(root, env, workday, signum)
        doc = json.loads(out)
        runs = listed_runs(root, env)
        run = runs[0]
        assert (code, run["run_id"], run["status"], run["exit_code"]) == (exit_code, doc["run_id"], "interrupted",
                                                                          exit_code)
        assert run["reason"].startswith(f"interrupted by {signal.Signals(signum).name}")
        history.append((run["run_id"], "interrupted", exit_code))

    # the list the last ending was read from: every ending, newest first, none left `running`
    shown = [(r["run_id"], r["status"], -1 if r["exit_code"] is None else r["exit_code"]) for r in runs]
    assert shown == history[::-1]


def query_project(root: Path, env: dict[str, str], statement: str) -> list[tuple[Any, ...]]:
    from migo_sync.config import Project

    project = Project.load(root)
    project.environ = env
    return query(project, statement)


def query_first_journal(root: Path, env: dict[str, str]) -> str:
    return str(query_project(root, env, "SELECT MIN(journal_id) FROM lending.journal_lines")[0][0])
