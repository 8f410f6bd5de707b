"""The project lock, and runs that end by a signal: SIGTERM/SIGINT are recorded as `interrupted`
(the batch in flight finished, nothing new sent, JSON printed, exit 143/130); SIGKILL leaves a
run that the next command records as `died`. Real child processes, real signals, bounded waits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.runs import cli_json_here, signal_when, wait_until

from migo_sync.cli import run_cli
from migo_sync.lock import LockedError, ProjectLock, holder, holds, nobody_running
from migo_sync.sandbox.process import SandboxThread

HOLD = ("import sys, time; from pathlib import Path; from migo_sync.lock import ProjectLock; "
        "lock = ProjectLock(Path(sys.argv[1]), 'run'); lock.acquire(); print('held', flush=True); time.sleep(60)")


def test_a_second_process_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path: Path) -> None:
    state = tmp_path / ".migo-sync"
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(state)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        assert holder(state / "lock")["pid"] == child.pid
        assert not nobody_running(state)
        with pytest.raises(LockedError) as refused:
            ProjectLock(state, "push").acquire()
        assert refused.value.exit_code == 3
        assert f"pid {child.pid}" in str(refused.value) and "'run'" in str(refused.value)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.stdout is not None
        child.stdout.close()
    assert nobody_running(state)  # the holder died: its lock is free
    with ProjectLock(state, "push") as taken:
        assert taken.held and holder(state / "lock")["pid"] == os.getpid()
        assert holds(state) and nobody_running(state)  # we hold it: no other process can be running
    assert holder(state / "lock") == {} and not holds(state)


def test_run_is_refused_while_another_process_works_on_the_project(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(project / ".migo-sync")], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        assert run_cli(["run", "--project", str(project)]) == 3
        err = capsys.readouterr().err
        assert "another migo-sync is already working on this project" in err and f"pid {child.pid}" in err
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.stdout is not None
        child.stdout.close()


def _interrupted_run(project: Path, env: dict[str, str], sandbox: SandboxThread, signum: int) -> tuple[int, dict]:
    """Start `run --json` with Sheets slowed, signal it once its push's batch is under way: once its write
    reached the sandbox (after the warm-up's token and metadata), not at its first request, which leaves
    before the units are read and the batch begins."""
    sandbox.faults(rate=1.0, kinds=["slow"], slow_seconds=0.4, systems=["sheets"])
    before = sandbox.stats().get("sheets", 0)
    try:
        code, out, err = signal_when(["run", "--json", "--project", str(project)], env,
                                     lambda: sandbox.stats().get("sheets", 0) >= before + 3, signum,
                                     what="the push's batch")
    finally:
        sandbox.faults(rate=0.0)
    assert "Traceback" not in err, err
    return code, json.loads(out)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")])
def test_a_signal_finishes_the_batch_in_flight_and_is_recorded(project: Path, project_env: dict[str, str],
                                                               sandbox: SandboxThread, signum: int, code: int,
                                                               name: str) -> None:
    returncode, doc = _interrupted_run(project, project_env, sandbox, signum)
    assert returncode == code
    assert doc["status"] == "interrupted" and doc["ok"] is False and doc["exit_code"] == code
    assert name in doc["reason"]
    push, pull = doc["mappings"]
    # the push's one batch (the whole tab) was in flight: it finished; the pull never started
    assert push["name"] == "sheets_collections_push" and push["rows_written"] > 0
    assert pull["status"] == "skipped" and pull["requests"] == 0 and "interrupted" in pull["error"]
    assert sandbox.dump("sheets")  # the tab holds what the finished batch wrote
    shown = cli_json_here("runs", "show", "last", "--project", str(project), env=project_env)[1]
    assert shown["run_id"] == doc["run_id"] and shown["status"] == "interrupted" and shown["exit_code"] == code
    assert [m["status"] for m in shown["mappings"]] == [push["status"], "skipped"]
    listed = cli_json_here("runs", "list", "--project", str(project), env=project_env)[1]["runs"][0]
    assert (listed["run_id"], listed["status"]) == (doc["run_id"], "interrupted") and name in listed["reason"]
    # the next run sends what was left, and nothing twice
    code2, again = cli_json_here("run", "--project", str(project), env=project_env)
    assert code2 == 0 and again["status"] == "ok"
    assert again["mappings"][0]["rows_written"] == 0


def test_a_killed_run_is_recorded_as_died_by_the_next_command(project: Path, project_env: dict[str, str],
                                                              sandbox: SandboxThread) -> None:
    sandbox.faults(rate=1.0, kinds=["slow"], slow_seconds=0.4, systems=["sheets"])
    before = sandbox.stats().get("sheets", 0)
    child = subprocess.Popen([sys.executable, "-m", "migo_sync", "run", "--project", str(project), "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **project_env})
    try:
        wait_until(lambda: sandbox.stats().get("sheets", 0) > before or child.poll() is not None,
                   seconds=150, what="the push's first request")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        sandbox.faults(rate=0.0)
    code, listed = cli_json_here("runs", "list", "--project", str(project), env=project_env)
    assert code == 0
    run = listed["runs"][0]
    assert run["status"] == "died" and run["ok"] is False and "died" in run["reason"]
