"""Zendesk through the engine: the shipped mappings end to end, reruns, rejects, faults, and a pull
killed with SIGKILL at random pages that resumes with every ticket exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from zendesk.zendesk_support import basic_auth, configure, dump, environ, make_project, query

from migo_sync.config import Project
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse

PUSH, TICKETS, USERS = "zendesk_users_push", "zendesk_tickets_pull", "zendesk_users_pull"


@pytest.fixture
def project(zd: SandboxThread, tmp_path: Path) -> Project:
    return make_project(tmp_path / "project", environ(zd, tmp_path))


def pushed_state(handle: SandboxThread, project: Project) -> dict[str, tuple[Any, ...]]:
    """The pushed customers as Zendesk holds them: external_id → (email, name, user_fields)."""
    wanted = {r[0] for r in query(project, "SELECT customer_id FROM lending.customer_status")}
    return {u["external_id"]: (u["email"], u["name"], tuple(sorted(u["user_fields"].items())))
            for u in dump(handle)["users"] if u["external_id"] in wanted}


def test_shipped_mappings_push_then_pull_and_a_rerun_sends_nothing(project: Project, zd: SandboxThread) -> None:
    report = run(project, RunOptions())
    results = {r.name: r for r in report.results}
    assert {n: r.status for n, r in results.items()} == {PUSH: "ok", TICKETS: "ok", USERS: "ok"}, \
        [r.error for r in report.results]
    assert results[PUSH].rows_written == 400
    assert results[PUSH].requests == 4 + 2  # four jobs of ≤100 users, two polls of all four
    expected = {r[0]: r[1:] for r in query(project, "SELECT customer_id, email, full_name, loan_status, credit_tier, "
                                                    "recovery_offer FROM lending.customer_status")}
    state = pushed_state(zd, project)
    assert set(state) == set(expected)
    for customer, (email, name, fields) in state.items():
        assert (email, name, dict(fields)) == (expected[customer][0], expected[customer][1], {
            "loan_status": expected[customer][2], "credit_tier": expected[customer][3],
            "recovery_offer": expected[customer][4]})
    assert results[TICKETS].rows_written == 5000 and results[TICKETS].requests == 5
    deleted = sum(t["status"] == "deleted" for t in dump(zd)["tickets"])
    assert query(project, "SELECT COUNT(*), COUNT(DISTINCT ticket_id), SUM(is_deleted::INT), COUNT(loan_id) "
                          "FROM support.tickets") == [(5000, 5000, deleted, 5000)]
    users = dict(query(project, "SELECT customer_id, user_id FROM support.users WHERE customer_id IS NOT NULL"))
    assert {u["external_id"]: u["id"] for u in dump(zd)["users"] if u["external_id"]} == users  # exact 64-bit ids
    jobs = len(dump(zd)["jobs"])
    again = {r.name: r for r in run(project, RunOptions()).results}
    assert (again[PUSH].requests, again[PUSH].rows_written) == (0, 0)
    assert [(again[n].requests, again[n].rows_read) for n in (TICKETS, USERS)] == [(1, 0), (1, 0)]
    assert len(dump(zd)["jobs"]) == jobs  # nothing sent: no job


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


def test_push_under_injected_429s_updates_every_user_exactly_once(project: Project, zd: SandboxThread) -> None:
    zd.faults(rate=0.3, kinds=["429"], systems=["zendesk"], retry_after=0)
    result = run(project, RunOptions(names=[PUSH])).results[0]
    injected = zd.faults()["injected"].get("429", 0)
    zd.faults(rate=0.0)
    assert result.status == "ok" and result.rows_written == 400 and injected > 0
    state, customers = dump(zd), pushed_state(zd, project)
    pushed = {u["id"] for u in state["users"] if u["external_id"] in customers}
    assert len(pushed) == 400 and all(state["user_writes"][str(i)] == 1 for i in pushed)
    assert run(project, RunOptions(names=[PUSH])).results[0].requests == 0


def test_faults_of_every_kind_leave_the_same_final_state(zd: SandboxThread, tmp_path: Path) -> None:
    small_pages = "page_size = 200\n"  # more requests, so more of them meet a fault
    clean = make_project(tmp_path / "clean", environ(zd, tmp_path), settings=small_pages)
    assert run(clean, RunOptions()).ok
    reference = pushed_state(zd, clean)
    reference_tickets = query(clean, "SELECT * FROM support.tickets ORDER BY ticket_id")
    zd.reset("zendesk")
    faulty = make_project(tmp_path / "faulty", environ(zd, tmp_path), settings=small_pages)
    zd.faults(rate=0.25, kinds=["429", "500", "503", "drop", "drop_after", "slow"], systems=["zendesk"],
              retry_after=0, slow_seconds=0.01, seed=11)
    for _ in range(3):
        if run(faulty, RunOptions()).ok:
            break
    injected = zd.faults()["injected"]
    zd.faults(rate=0.0)
    final = run(faulty, RunOptions())  # without faults: nothing is left to do
    assert final.ok and all(r.rows_written == 0 for r in final.results), [r.error for r in final.results]
    assert sum(injected.values()) > 10 and len(injected) == 6
    assert pushed_state(zd, faulty) == reference
    assert query(faulty, "SELECT * FROM support.tickets ORDER BY ticket_id") == reference_tickets


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
