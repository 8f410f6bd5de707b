"""Watch mode on a real DuckDB project and the sandbox over HTTP: every cycle is a recorded run,
an unchanged push sends nothing, a down system is backed off while the others go on, one
process per project (the lock), and SIGTERM finishes the batch and records the run as stopped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.projects import make_project

from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.demo.dataset import Sizes, seed
from migo_sync.engine.runner import RunOptions
from migo_sync.engine.watch import Cycle, Watcher, parse_interval
from migo_sync.errors import ConfigError
from migo_sync.lock import LockedError, ProjectLock
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse

REPO = Path(__file__).resolve().parents[2]
PUSH, PULL = "sheets_collections_push", "sheets_fx_rates_pull"


class FakeClock:
    """Starts at an exact value; only `wait` moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


@pytest.fixture
def env(tmp_path: Path, sandbox: SandboxThread) -> dict[str, str]:
    from migo_sync.adapters.sheets.sandbox import credentials
    from migo_sync.adapters.zendesk.sandbox import credentials as zendesk_credentials

    return {**sandbox.env, **credentials(tmp_path / "keys"), **zendesk_credentials(tmp_path), "MIGO_SYNC_NO_KEYRING": "1"}


@pytest.fixture
def project(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = make_project(tmp_path / "project")
    for name in (f"{PUSH}.yaml", f"{PULL}.yaml"):
        shutil.copy(REPO / "mappings" / name, root / "mappings" / name)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    warehouse = open_warehouse(Project.load(root))
    try:
        seed(warehouse, seed=5, sizes=Sizes(customers=60, loans=120))
    finally:
        warehouse.close()
    yield root


def watcher(root: Path, clock: FakeClock, cycles: int, seen: list[Cycle], **options: Any) -> Watcher:
    return Watcher(lambda: Project.load(root), RunOptions(**options), 60.0, stop=lambda: False, wait=clock.wait,
                   on_cycle=seen.append, clock=clock, max_cycles=cycles)


def sql(root: Path, statement: str) -> list[tuple[Any, ...]]:
    warehouse = open_warehouse(Project.load(root))
    try:
        return warehouse.query(statement)
    finally:
        warehouse.close()


def test_intervals_parse_and_bad_ones_are_refused() -> None:
    assert [parse_interval(t) for t in ("2m", "90s", "1h", "45", " 1.5M ")] == [120.0, 90.0, 3600.0, 45.0, 90.0]
    for bad in ("", "soon", "0s", "0.5", "nan", "-2m"):
        with pytest.raises(ConfigError, match="--every"):
            parse_interval(bad)


def test_each_cycle_is_a_run_and_an_unchanged_push_sends_nothing(project: Path, sandbox: SandboxThread) -> None:
    clock, seen = FakeClock(), []
    assert watcher(project, clock, 3, seen).run() == 0
    assert clock.waits == [60.0, 60.0] and clock.now == 1120.0  # on the minute, never a fixed sleep
    first, second, third = (c.as_json() for c in seen)
    assert [c["ok"] for c in (first, second, third)] == [True, True, True], first
    pushed = next(m for m in first["mappings"] if m["name"] == PUSH)
    assert pushed["rows_written"] > 0 and pushed["requests"] > 0
    for later in (second, third):
        push = next(m for m in later["mappings"] if m["name"] == PUSH)
        assert later["unchanged"] == [PUSH] and push["requests"] == 0 and push["rows_written"] == 0
    runs = sql(project, "SELECT run_id, status FROM migo_sync.runs ORDER BY started_at")
    assert [r[0] for r in runs] == [first["run_id"], second["run_id"], third["run_id"]]
    assert {r[1] for r in runs} == {"ok"}

    # One changed row: the probe sees it and the next cycle pushes it (the sheet is rewritten whole).
    before = sandbox.stats()["sheets"]
    loan = sql(project, "SELECT loan_id FROM lending.collections ORDER BY loan_id LIMIT 1")[0][0]
    sql(project, f"UPDATE lending.collections SET outstanding = 123456.78 WHERE loan_id = '{loan}'")
    more: list[Cycle] = []
    watcher(project, FakeClock(), 2, more).run()
    changed, settled = (c.as_json() for c in more)
    push = next(m for m in changed["mappings"] if m["name"] == PUSH)
    assert changed["unchanged"] == [] and push["rows_written"] > 0 and sandbox.stats()["sheets"] > before
    assert "123456.78" in json.dumps(sandbox.dump("sheets"))
    assert settled["unchanged"] == [PUSH]


def test_a_down_system_is_backed_off_while_the_others_go_on(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(REPO / "mappings" / "zendesk_users_pull.yaml", project / "mappings" / "zendesk_users_pull.yaml")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("MIGO_SYNC_ZENDESK_URL", f"http://127.0.0.1:{dead}")
    clock, seen = FakeClock(), []
    assert watcher(project, clock, 5, seen).run() == 0
    tried = []
    for cycle in seen:
        data = cycle.as_json()
        zendesk = next(m for m in data["mappings"] if m["name"] == "zendesk_users_pull")
        sheets = next(m for m in data["mappings"] if m["name"] == PULL)
        assert sheets["status"] == "ok"  # the others go on every cycle
        tried.append(zendesk["status"] == "failed")
        if zendesk["status"] == "skipped":
            assert data["backed_off"] == ["zendesk"] and "unreachable" in zendesk["error"]
    # cycles at 1000, 1060, 1120, 1180, 1240: down at 1000 (retry next), 1060 (wait 2), 1180 (wait 4)
    assert tried == [True, True, False, True, False]


def test_a_second_process_is_refused_with_exit_3(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ProjectLock(Project.load(project).state_dir, "watch"):
        code = run_cli(["run", "--project", str(project)])
        err = capsys.readouterr().err
        assert code == 3 and "another migo-sync is already working on this project" in err
        assert f"pid {os.getpid()}" in err and "'watch'" in err
        assert run_cli(["run", "--every", "1m", "--project", str(project)]) == 3
        assert run_cli(["push", PUSH, "--project", str(project)]) == 3
        with pytest.raises(LockedError):
            ProjectLock(Project.load(project).state_dir, "run").acquire()
    assert not sql(project, "SELECT * FROM information_schema.tables WHERE table_schema = 'migo_sync'")


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    state = tmp_path / ".migo-sync"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from migo_sync.lock import ProjectLock; "
         f"ProjectLock(Path({str(state)!r}), 'run').acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=f"pid {holder.pid}"):
            ProjectLock(state, "run").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert holder.stdout is not None
        holder.stdout.close()
    assert json.loads((state / "lock").read_text())["pid"] == holder.pid  # its name is still written there
    with ProjectLock(state, "watch") as lock:
        assert lock.held and json.loads((state / "lock").read_text())["pid"] == os.getpid()
    assert (state / "lock").read_text() == ""


def test_sigterm_finishes_the_batch_records_the_run_stopped_and_exits_0(project: Path, env: dict[str, str],
                                                                      sandbox: SandboxThread) -> None:
    sandbox.faults(rate=1.0, kinds=["slow"], slow_seconds=0.3, systems=["sheets"])
    with subprocess.Popen([sys.executable, "-m", "migo_sync", "run", "--every", "10m", "--json",
                           "--project", str(project)], env={**os.environ, **env},
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        try:
            deadline, before = time.monotonic() + 60, sandbox.stats().get("sheets", 0)
            while time.monotonic() < deadline and sandbox.stats().get("sheets", 0) == before:
                time.sleep(0.02)  # (the warehouse file is the child's: watch the remote instead)
            child.send_signal(signal.SIGTERM)  # mid-cycle: a slowed request is in flight
            out, err = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
            sandbox.faults(rate=0.0)
    assert child.returncode == 0, err
    [line] = out.splitlines()
    cycle = json.loads(line)
    runs = sql(project, "SELECT run_id, status, finished_at FROM migo_sync.runs")
    assert [(r[0], r[2] is not None) for r in runs] == [(cycle["run_id"], True)]
    assert cycle["stopped"] and runs[0][1] == "stopped"
    # the push's one batch (the whole tab) was finished and confirmed; the pull waits for next time
    assert [(m["name"], m["status"]) for m in cycle["mappings"]] == [(PUSH, "stopped")]
    assert cycle["mappings"][0]["rows_written"] > 0
    # nothing half-done: every row the ledger holds as sent is confirmed, none pending
    assert sql(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE pending_hash IS NOT NULL")[0][0] == 0


def test_sigterm_between_cycles_exits_at_once(project: Path, env: dict[str, str]) -> None:
    with subprocess.Popen([sys.executable, "-m", "migo_sync", "run", "--every", "1h", "--json",
                           "--project", str(project)], env={**os.environ, **env},
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            first = json.loads(child.stdout.readline())  # the first cycle is done; now it waits an hour
            child.send_signal(signal.SIGTERM)
            _, err = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
    assert child.returncode == 0 and first["ok"] and not first["stopped"], err
    assert [r[0] for r in sql(project, "SELECT status FROM migo_sync.runs")] == ["ok"]


def test_watch_refuses_a_dry_run_and_a_bad_interval(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "--every", "2m", "--dry-run", "--project", str(project)]) == 2
    assert run_cli(["run", "--every", "soon", "--project", str(project)]) == 2
    err = capsys.readouterr().err
    assert "do not go together" in err and "'soon' is not an interval" in err


def test_a_killed_watch_leaves_no_run_shown_as_running(project: Path, env: dict[str, str],
                                                       sandbox: SandboxThread) -> None:
    sandbox.faults(rate=1.0, kinds=["slow"], slow_seconds=0.3, systems=["sheets"])
    with subprocess.Popen([sys.executable, "-m", "migo_sync", "run", "--every", "10m", "--project", str(project)],
                          env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as child:
        try:
            deadline, before = time.monotonic() + 60, sandbox.stats().get("sheets", 0)
            while time.monotonic() < deadline and sandbox.stats().get("sheets", 0) == before:
                time.sleep(0.02)
            child.send_signal(signal.SIGKILL)  # mid-cycle, no chance to record anything
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
            sandbox.faults(rate=0.0)
    [(killed, status)] = sql(project, "SELECT run_id, status FROM migo_sync.runs")
    assert status == "running"  # what the killed process left
    assert run_cli(["run", "--project", str(project)]) == 0  # takes the dead process's lock over
    statuses = dict(sql(project, "SELECT run_id, status FROM migo_sync.runs"))
    assert statuses.pop(killed) == "died" and list(statuses.values()) == ["ok"]
    assert sql(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE pending_hash IS NOT NULL")[0][0] == 0
