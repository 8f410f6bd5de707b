"""Zendesk bulk jobs outlive the run that queued them: the next run reads them instead of sending
their units again. Engine level, on DuckDB (a real file) and on Snowflake through fakesnow's
server, with the Zendesk emulator over real HTTP; the run "dies" right after its jobs' references
reached the ledger (the end-to-end SIGKILL/SIGTERM version is in tests/evidence/)."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from zendesk.zendesk_support import basic_auth, configure, dump, environ, make_project

from migo_sync.config import Project
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

PUSH = "zendesk_users_push"
FAKESNOW_WARNING = "Arrow output on a DB-API result"
CUSTOMERS = 450  # five jobs of ≤100 users, all in one batch (Zendesk's push batch is 10,000)
STUCK = {"job_polls_to_complete": 10**6, "job_seconds": 10.0**6}  # jobs stay queued until told otherwise
# fakesnow's server thread asks DuckDB for Arrow output in a way DuckDB 2 warns about (not our code)
pytestmark = pytest.mark.filterwarnings(f"ignore:{FAKESNOW_WARNING}:UserWarning")


class Killed(BaseException):
    """The process died right here (a BaseException, so nothing on the way handles it)."""


def snowflake_project(root: Path, env: dict[str, str], fakesnow: dict[str, Any]) -> Project:
    return make_project(root, {
        **env, "SNOWFLAKE_ACCOUNT": fakesnow["account"], "SNOWFLAKE_USER": fakesnow["user"],
        "SNOWFLAKE_PASSWORD": fakesnow["password"], "SNOWFLAKE_HOST": fakesnow["host"],
        "SNOWFLAKE_PORT": str(fakesnow["port"]), "SNOWFLAKE_PROTOCOL": fakesnow["protocol"],
        "SNOWFLAKE_DATABASE": f"T_{uuid.uuid4().hex[:8].upper()}", "SNOWFLAKE_SCHEMA": "PUBLIC"},
        customers=CUSTOMERS, warehouse_toml='[warehouse]\ntype = "snowflake"\nstate_schema = "migo_sync"\n')


@pytest.fixture(params=["duckdb", "snowflake"])
def project(request: pytest.FixtureRequest, zd: SandboxThread, tmp_path: Path) -> Iterator[Project]:
    env = environ(zd, tmp_path)
    if request.param == "duckdb":
        yield make_project(tmp_path / "project", env, customers=CUSTOMERS)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=FAKESNOW_WARNING, category=UserWarning)
            yield snowflake_project(tmp_path / "project", env, request.getfixturevalue("fakesnow_kwargs"))


def ledger(project: Project) -> tuple[dict[str, dict[str, Any]], list[tuple[Any, ...]]]:
    """The push's ledger rows by customer, and every run as (run_id, status, rows_rejected total)."""
    warehouse = open_warehouse(project)
    try:
        book = Bookkeeping(warehouse)
        rows = book.ledger(PUSH)
        runs = [(r["run_id"], r["status"]) for r in book.list_runs(10)]
        return rows, runs
    finally:
        warehouse.close()


def die_once_jobs_are_recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """The next run dies right after the references of its first jobs reached the ledger."""
    recorded: list[dict[str, str]] = []
    original = Bookkeeping.record_jobs

    def record_then_die(self: Bookkeeping, mapping: str, jobs: Any) -> int:
        original(self, mapping, jobs)
        recorded.append(dict(jobs))
        raise Killed

    monkeypatch.setattr(Bookkeeping, "record_jobs", record_then_die)
    return recorded


def poll(zd: SandboxThread, job_id: str) -> dict[str, Any]:
    """One GET of a job's status, as any Zendesk client would (the emulator moves a job on per poll)."""
    response = httpx.get(f"{zd.env['MIGO_SYNC_ZENDESK_URL']}/api/v2/job_statuses/{job_id}.json", auth=basic_auth())
    response.raise_for_status()
    status: dict[str, Any] = response.json()["job_status"]
    return status


def test_jobs_of_a_dead_run_are_read_not_resent(project: Project, zd: SandboxThread,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Five jobs queued (and polled once), then the run dies. Before the rerun: two jobs finished
    (one user in them refused), one finished and expired, two still queued. The rerun waits for the queued ones,
    settles the finished ones from their results, and submits jobs only for the expired job's
    users: each user is written once, but those."""
    warehouse = open_warehouse(project)
    try:
        warehouse.execute("UPDATE lending.customers SET email = 'broken-address' WHERE customer_id = 'C000007'")
    finally:
        warehouse.close()
    configure(zd, **STUCK)
    recorded = die_once_jobs_are_recorded(monkeypatch)
    with pytest.raises(Killed):
        run(project, RunOptions(names=[PUSH]))
    monkeypatch.undo()
    jobs = dump(zd)["jobs"]
    # polled once: the wave's first poll is in flight while its references are written
    assert [j["status"] for j in jobs] == ["working"] * 5 and sum(j["total"] for j in jobs) == CUSTOMERS
    refs = recorded[0]
    assert len(refs) == CUSTOMERS and {r.partition("#")[0] for r in refs.values()} == {j["id"] for j in jobs}
    rows, runs = ledger(project)
    killed_run = runs[0][0]
    assert runs[0][1] == "running"
    assert all(r["pending_hash"] and r["remote_job"] == refs[k] and r["sent_hash"] is None for k, r in rows.items())

    configure(zd, job_polls_to_complete=1)
    refused = next(j for j in jobs if "C000007" in j["external_ids"])  # jobs are submitted concurrently:
    others = [j for j in jobs if j is not refused]  # their order (and which one holds 50 users) varies
    expired, done, waiting = others[0], [refused, others[1]], others[2:]
    lost = len(expired["external_ids"])
    assert poll(zd, expired["id"])["status"] == "completed"  # finishes first ...
    assert [poll(zd, j["id"])["status"] for j in done] == ["completed", "completed"]
    configure(zd, job_retention_count=2, job_polls_to_complete=2)  # ... so Zendesk forgets it first
    assert poll(zd, done[0]["id"])["status"] == "completed"  # (jobs age as requests come in)
    assert {j["id"] for j in dump(zd)["jobs"]} == {j["id"] for j in (*done, *waiting)}
    writes_before = dict(dump(zd)["user_writes"])

    report = run(project, RunOptions(names=[PUSH]))
    result = report.results[0]
    jobs_after = dump(zd)["jobs"]
    resubmitted = [j for j in jobs_after if j["id"] not in {j["id"] for j in jobs}]
    assert sorted(x for j in resubmitted for x in j["external_ids"]) == sorted(expired["external_ids"])
    assert {j["id"]: j["status"] for j in jobs_after if j["id"] in {w["id"] for w in waiting}} == {
        w["id"]: "completed" for w in waiting}  # waited on, never duplicated
    assert result.details["queued_jobs"] == {"units": CUSTOMERS, "rows_confirmed": CUSTOMERS - lost - 1,
                                             "rows_refused": 1, "units_unknown": lost}
    assert (result.status, result.rows_written, result.rows_rejected) == ("rejected", lost, 1)
    rows, runs = ledger(project)
    assert {r[0]: r[1] for r in runs} == {killed_run: "died", report.run_id: "rejected"}
    assert all(r["pending_hash"] is None and r["remote_job"] is None for r in rows.values())
    assert sorted(k for k, r in rows.items() if r["sent_hash"] is None) == ["C000007"]
    assert all(r["remote_id"] for k, r in rows.items() if k != "C000007")
    writes = dump(zd)["user_writes"]
    twice = {u for u in writes if writes[u] - writes_before.get(u, 0) > 0 and writes_before.get(u, 0) > 0}
    assert len(twice) == lost  # the expired job's users: written by its job, and again by the resend
    warehouse = open_warehouse(project)
    try:
        rejects = warehouse.query("SELECT run_id, row_key, reason FROM migo_sync.rejects")
    finally:
        warehouse.close()
    assert rejects == [(report.run_id, "C000007", "RecordInvalid: Email: broken-address is not properly formatted "
                                                   f"(job queued by run {killed_run})")]

    again = run(project, RunOptions(names=[PUSH])).results[0]  # the reject alone is retried, as always
    assert (again.rows_written, again.rows_rejected, "queued_jobs" in again.details) == (0, 1, False)
