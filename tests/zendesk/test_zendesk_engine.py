"""Zendesk through the engine, what is Zendesk's own: a refused user retried on the next run, deleted
tickets flagged or removed, and a pull killed with SIGKILL at random pages that resumes with every
ticket exactly once. Push/pull/rerun/faults/exit codes are the adapter contract (tests/contract/)."""

from __future__ import annotations

import gc
import os
import random
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.runs import wait_until
from zendesk.zendesk_support import basic_auth, configure, dump, emulator_of, environ, make_project, query

from migo_sync.adapters.zendesk.client import ZendeskClient
from migo_sync.config import Project
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

PUSH, TICKETS, USERS = "zendesk_users_push", "zendesk_tickets_pull", "zendesk_users_pull"


@pytest.fixture
def project(zd: SandboxThread, tmp_path: Path) -> Project:
    return make_project(tmp_path / "project", environ(zd, tmp_path))


def pushed_state(handle: SandboxThread, project: Project) -> dict[str, tuple[Any, ...]]:
    """The pushed customers as Zendesk holds them: external_id → (email, name, user_fields)."""
    wanted = {r[0] for r in query(project, "SELECT customer_id FROM lending.customer_status")}
    return {u["external_id"]: (u["email"], u["name"], tuple(sorted(u["user_fields"].items())))
            for u in dump(handle)["users"] if u["external_id"] in wanted}


def test_a_refused_user_is_a_reject_retried_on_the_next_run(project: Project, zd: SandboxThread) -> None:
    warehouse = open_warehouse(project)
    try:
        warehouse.execute("UPDATE lending.customers SET email = 'broken-address' WHERE customer_id = 'C000007'")
    finally:
        warehouse.close()
    first = run(project, RunOptions(names=[PUSH])).results[0]
    assert (first.status, first.rows_written, first.rows_rejected) == ("rejected", 399, 1)
    rejects = query(project, "SELECT row_key, reason FROM migo_sync.rejects")
    assert rejects == [("C000007", "RecordInvalid: Email: broken-address is not properly formatted")]
    second = run(project, RunOptions(names=[PUSH])).results[0]
    assert (second.rows_written, second.rows_rejected, second.requests) == (0, 1, 1 + 2)  # the reject alone: a job, 2 polls
    warehouse = open_warehouse(project)
    try:
        warehouse.execute("UPDATE lending.customers SET email = 'fixed.7@example.com' WHERE customer_id = 'C000007'")
    finally:
        warehouse.close()
    third = run(project, RunOptions(names=[PUSH])).results[0]
    assert (third.status, third.rows_written) == ("ok", 1)
    assert pushed_state(zd, project)["C000007"][0] == "fixed.7@example.com"


def test_deleted_tickets_flagged_or_removed_as_the_mapping_says(project: Project, zd: SandboxThread) -> None:
    delete_file = project.mappings_dir / "zendesk_tickets_pull.yaml"
    flagged_file = project.mappings_dir / "zendesk_tickets_flagged.yaml"
    flagged_file.write_text(delete_file.read_text().replace("name: zendesk_tickets_pull", "name: zendesk_tickets_flagged")
                            .replace("table: support.tickets", "table: support.tickets_flagged"))
    delete_file.write_text(delete_file.read_text().replace("deleted: flag", "deleted: delete"))
    names = [TICKETS, "zendesk_tickets_flagged"]
    assert run(project, RunOptions(names=names)).ok
    deleted = sum(t["status"] == "deleted" for t in dump(zd)["tickets"])
    assert query(project, "SELECT COUNT(*) FROM support.tickets") == [(5000 - deleted,)]
    assert query(project, "SELECT COUNT(*), SUM(is_deleted::INT) FROM support.tickets_flagged") == [(5000, deleted)]
    url = zd.env["MIGO_SYNC_ZENDESK_URL"]
    assert httpx.delete(f"{url}/api/v2/tickets/42.json", auth=basic_auth()).status_code == 204
    assert httpx.delete(f"{url}/api/v2/tickets/42.json", auth=basic_auth()).status_code == 404
    assert run(project, RunOptions(names=names)).ok
    assert query(project, "SELECT COUNT(*) FROM support.tickets WHERE ticket_id = 42") == [(0,)]
    assert query(project, "SELECT COUNT(*) FROM support.tickets") == [(5000 - deleted - 1,)]
    assert query(project, "SELECT status, is_deleted FROM support.tickets_flagged WHERE ticket_id = 42") == [
        ("deleted", True)]


KILL_MAPPING = """\
name: zendesk_kill_pull
system: zendesk
object: tickets
direction: pull
warehouse:
  table: support.all_tickets
key: [ticket_id]
options: {start_time: 0}
fields:
  - {column: ticket_id, remote: id, type: integer}
  - {column: status, remote: status}
  - {column: loan_id, remote: custom_fields.360001234561}
  - {column: updated_at, remote: updated_at, type: timestamp}
"""


@pytest.mark.slow
def test_pull_killed_at_random_pages_resumes_with_every_ticket_once(zd: SandboxThread, tmp_path: Path) -> None:
    configure(zd, bulk_tickets=20_000)  # 25,000 tickets: 20,000 built on demand + the 5,000 seeded
    env = environ(zd, tmp_path)
    project = make_project(tmp_path / "project", env, customers=50)
    (project.mappings_dir / "zendesk_kill_pull.yaml").write_text(KILL_MAPPING)
    zd.faults(rate=1.0, kinds=["slow"], slow_seconds=0.05, systems=["zendesk"])  # so kills land mid-stream
    command = [sys.executable, "-m", "migo_sync", "pull", "zendesk_kill_pull", "--project", str(project.root),
               "--quiet"]
    child_env = {**os.environ, **env}
    rng = random.Random(20261130)
    start = zd.stats()["zendesk"]
    kills: list[int] = []
    for _ in range(3):
        child = subprocess.Popen(command, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        served = zd.stats()["zendesk"]
        target, deadline = served + rng.randint(2, 8), time.monotonic() + 60
        while child.poll() is None and zd.stats()["zendesk"] < target and time.monotonic() < deadline:
            time.sleep(0.005)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)  # mid-stream: pages fetched, parsed, loaded or committing
            kills.append(zd.stats()["zendesk"] - start)
        child.wait()
    zd.faults(rate=0.0)
    finished = subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert len(kills) == 3 and kills[-1] < 25
    assert query(project, "SELECT COUNT(*), COUNT(DISTINCT ticket_id), MIN(ticket_id), MAX(ticket_id) "
                          "FROM support.all_tickets") == [(25_000, 25_000, 1, 25_000)]
    pages = zd.stats()["zendesk"] - start
    # Resumed from the last committed cursor: a kill costs at most the pages read but not yet
    # committed (the engine commits pages together, up to FLUSH_ROWS rows) plus those in flight.
    from migo_sync.engine.pull import _Pending

    assert pages <= 25 + 3 * (_Pending.FLUSH_ROWS // 1000 + 3)


def test_the_first_jobs_leave_while_the_later_users_are_still_read(
        zd: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A push hands Zendesk's adapter its users a round of submissions at a time (here one request in
    flight: 100 users), each round's intents committed before its job leaves. Every intent after the
    first round's is held (10 s at most) until a job was submitted, which happens only if the first
    jobs go while the later users are still to be read; and no job carries a user without its intent."""
    project = make_project(tmp_path / "project", environ(zd, tmp_path), settings="max_concurrency = 1\n")
    intents: set[str] = set()
    rounds: list[int] = []
    submitted = threading.Event()
    waited: list[bool] = []
    record = Bookkeeping.record_intent

    def recorded(self: Bookkeeping, feed: str, run_id: str, table: Any) -> int:
        if intents:
            waited.append(submitted.wait(10))
        written = record(self, feed, run_id, table)
        keys = table.column("unit_key").to_pylist()
        rounds.append(len(keys))
        intents.update(keys)
        return written

    without_intent: list[str] = []
    upsert = ZendeskClient.upsert_users

    def sent(self: ZendeskClient, users: Any) -> Any:
        without_intent.extend(u["external_id"] for u in users if u["external_id"] not in intents)
        submitted.set()
        return upsert(self, users)

    monkeypatch.setattr(Bookkeeping, "record_intent", recorded)
    monkeypatch.setattr(ZendeskClient, "upsert_users", sent)
    result = run(project, RunOptions(names=[PUSH])).results[0]
    assert (result.status, result.rows_written, result.requests) == ("ok", 400, 4 + 2)  # 4 jobs, then 2 polls of all 4
    assert rounds == [100, 100, 100, 100] and waited == [True, True, True]
    assert without_intent == []
    assert len(pushed_state(zd, project)) == 400
    again = run(project, RunOptions(names=[PUSH])).results[0]
    assert (again.rows_written, again.requests) == (0, 0)


def test_a_finished_waves_users_are_confirmed_while_the_next_waves_job_runs(
        zd: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two jobs at a time (`max_jobs_in_flight = 2`), 300 users: three jobs in two waves. The first
    wave's 200 users are confirmed while the second wave's job is in Zendesk: their confirmation is
    held (10 s at most) until Zendesk has that job, which must not have finished by then. Confirmed
    only once every job finished, the first confirmation would hold all 300, the last job completed."""
    project = make_project(tmp_path / "project", environ(zd, tmp_path), customers=300,
                           settings="max_jobs_in_flight = 2\n")
    emulator = emulator_of(zd)
    confirmed: list[tuple[int, bool]] = []
    confirm = Bookkeeping.confirm

    def held(self: Bookkeeping, feed: str, run_id: str, rows: Any) -> int:
        wait_until(lambda: len(emulator.jobs) == 3, seconds=10, what="the second wave's job")
        last = list(emulator.jobs.values())[-1]
        confirmed.append((rows.num_rows, last["status"] == "completed"))
        return confirm(self, feed, run_id, rows)

    monkeypatch.setattr(Bookkeeping, "confirm", held)
    result = run(project, RunOptions(names=[PUSH])).results[0]
    assert (result.status, result.rows_written, result.rows_rejected) == ("ok", 300, 0)
    assert result.requests == 2 + 2 + 1 + 2  # the first wave and its two polls, then the second's
    assert confirmed == [(200, False), (100, True)]
    ledger = query(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE sent_hash IS NOT NULL AND pending_hash IS NULL "
                            "AND remote_job IS NULL AND remote_id IS NOT NULL")
    assert ledger == [(300,)]
    again = run(project, RunOptions(names=[PUSH])).results[0]
    assert (again.rows_written, again.requests) == (0, 0)


def test_a_confirmed_waves_users_are_freed_before_the_batch_ends(
        zd: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wave's users leave the push once their confirmation is recorded: when the last wave's users are
    confirmed, none of the first wave's 200 units (their records) is still held, so a batch's memory is
    the jobs in flight, not every unit it read; while held, they are in the run's frozen heap (no
    collection walks them). All 300 are confirmed, exactly once."""
    from migo_sync.engine import push as push_module

    project = make_project(tmp_path / "project", environ(zd, tmp_path), customers=300,
                           settings="max_jobs_in_flight = 2\nmax_concurrency = 1\n")
    units: list[weakref.ref[Any]] = []
    alive: list[tuple[int, int]] = []
    frozen: list[bool] = []
    read, confirm = push_module._Feed._read, Bookkeeping.confirm

    def reading(self: Any, count: int) -> Any:
        chunk = read(self, count)
        units.extend(weakref.ref(i.unit) for i in chunk)
        if chunk:
            frozen.append(not any(o is chunk[-1] for o in gc.get_objects()))
        return chunk

    def confirming(self: Bookkeeping, feed: str, run_id: str, rows: Any) -> int:
        alive.append((rows.num_rows, sum(u() is not None for u in units[:200])))
        return confirm(self, feed, run_id, rows)

    monkeypatch.setattr(push_module._Feed, "_read", reading)
    monkeypatch.setattr(Bookkeeping, "confirm", confirming)
    result = run(project, RunOptions(names=[PUSH])).results[0]
    assert (result.status, result.rows_written, result.rows_rejected) == ("ok", 300, 0)
    assert len(units) == 300 and alive == [(200, 200), (100, 0)] and frozen == [True, True, True]
    ledger = query(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE sent_hash IS NOT NULL AND pending_hash IS NULL "
                            "AND remote_id IS NOT NULL")
    assert ledger == [(300,)]


def test_the_feed_is_noted_and_the_users_counted_while_the_first_job_is_out(
        zd: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The feed's note and the push's rows_read (a count of the customer_status view: a scan of its own)
    wait for nothing a job needs: each is held (10 s at most) until the first job was submitted, which
    happens only if they come once the first jobs are out."""
    from migo_sync.engine import push as push_module

    project = make_project(tmp_path / "project", environ(zd, tmp_path))
    submitted = threading.Event()
    waited: list[str] = []
    upsert, count, note = ZendeskClient.upsert_users, push_module.source_rows, Bookkeeping.note_feed

    def sent(self: ZendeskClient, users: Any) -> Any:
        submitted.set()
        return upsert(self, users)

    def counted(*args: Any) -> int:
        waited.append(f"count {submitted.wait(10)}")
        return count(*args)

    def noted(self: Bookkeeping, *args: Any) -> None:
        waited.append(f"note {submitted.wait(10)}")
        note(self, *args)

    monkeypatch.setattr(ZendeskClient, "upsert_users", sent)
    monkeypatch.setattr(push_module, "source_rows", counted)
    monkeypatch.setattr(Bookkeeping, "note_feed", noted)
    result = run(project, RunOptions(names=[PUSH])).results[0]
    assert (result.status, result.rows_read, result.rows_written, result.requests) == ("ok", 400, 400, 4 + 2)
    assert waited == ["note True", "count True"]
    assert query(project, "SELECT feed, system, object FROM migo_sync.feeds") == [(PUSH, "zendesk", "users")]
