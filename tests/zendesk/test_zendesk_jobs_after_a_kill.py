"""End to end: a real `migo-sync push` process is stopped while its Zendesk bulk jobs are queued
(SIGKILL, or SIGTERM with the jobs outlasting the grace period), then pushed again. The rerun reads
the jobs the dead run queued (waiting for the ones still queued, which hold Zendesk's job slots)
and submits jobs only for the units no job held: its request log and the emulator's jobs prove it.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.runs import cli_json_here, signal_when
from zendesk.zendesk_support import basic_auth, configure, dump, emulator_of, environ, make_project

from migo_sync.sandbox.process import SandboxThread

PUSH = "zendesk_users_push"
CUSTOMERS = 3200  # 32 jobs: the first 30 fill Zendesk's job slots, the last 2 wait for them
STUCK = {"job_polls_to_complete": 10**6, "job_seconds": 10.0**6}  # Zendesk is slow today: jobs stay queued


def polled(zd: SandboxThread) -> bool:
    """The push has polled its jobs twice: their references are in the ledger (written while the first
    poll is in flight, before its answer is read; the second poll follows that answer)."""
    return any(job["polls"] >= 2 for job in list(emulator_of(zd).jobs.values()))


def requests(project_root: Path, run_id: str) -> Counter[str]:
    """The run's own request log: requests per (method, endpoint)."""
    lines = (project_root / ".migo-sync" / "logs" / f"{run_id}.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    return Counter(f"{e['method']} {e['path'].rsplit('/api/v2/', 1)[-1].split('?')[0]}"
                   for e in events if e.get("event") == "request")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM-past-grace"])
def test_a_push_stopped_while_its_jobs_run_is_never_sent_again(signum: int, zd: SandboxThread,
                                                               tmp_path: Path) -> None:
    env = environ(zd, tmp_path)
    project = make_project(tmp_path / "project", env, customers=CUSTOMERS)
    configure(zd, **STUCK)
    child_env = {**env, "MIGO_SYNC_GRACE_SECONDS": "1"}
    command = ["push", PUSH, "--project", str(project.root), "--json"]
    code, out, err = signal_when(command, child_env, lambda: polled(zd), signum, what="the push to poll its jobs",
                                 seconds=120)
    first_jobs = dump(zd)["jobs"]
    assert len(first_jobs) == 30 and {j["status"] for j in first_jobs} <= {"queued", "working"}  # 30 slots taken
    queued_users = {x for j in first_jobs for x in j["external_ids"]}
    if signum == signal.SIGTERM:  # the grace period passed with the jobs still queued: abandoned, recorded
        assert code == 143, err
        document = json.loads(out)
        assert document["status"] == "interrupted" and "abandoned" in document["reason"]
        assert "Traceback" not in err
    else:
        assert code == -signal.SIGKILL

    # Zendesk works through the queue meanwhile: half the jobs finish before the rerun, the rest
    # are still queued when it starts (it must wait for those, not submit them again).
    configure(zd, job_polls_to_complete=1)
    url = zd.env["MIGO_SYNC_ZENDESK_URL"]
    for job in first_jobs[:15]:
        answer = httpx.get(f"{url}/api/v2/job_statuses/{job['id']}.json", auth=basic_auth()).json()["job_status"]
        assert answer["status"] == "completed"
    configure(zd, job_polls_to_complete=3)
    code, listed = cli_json_here("runs", "list", "--project", str(project.root), env=env)
    assert code == 0
    listed = listed["runs"]
    assert listed[0]["status"] == ("died" if signum == signal.SIGKILL else "interrupted")
    dead_run = listed[0]["run_id"]

    code, document = cli_json_here("push", PUSH, "--project", str(project.root), env={**env, "MIGO_SYNC_GRACE_SECONDS": "1"})
    assert code == 0, document
    result = document["mappings"][0]
    assert result["details"]["queued_jobs"] == {"units": 3000, "rows_confirmed": 3000, "rows_refused": 0,
                                                "units_unknown": 0}
    assert result["rows_written"] == CUSTOMERS - 3000
    jobs = dump(zd)["jobs"]
    new_jobs = [j for j in jobs if j["id"] not in {f["id"] for f in first_jobs}]
    assert len(new_jobs) == 2 and not queued_users & {x for j in new_jobs for x in j["external_ids"]}
    assert {j["status"] for j in jobs} == {"completed"}
    every = Counter(x for j in jobs for x in j["external_ids"])
    assert len(every) == CUSTOMERS and set(every.values()) == {1}  # each user in exactly one job, ever
    writes: dict[str, Any] = dump(zd)["user_writes"]
    assert sum(writes.values()) == CUSTOMERS and set(writes.values()) == {1}
    sent = requests(project.root, document["run_id"])
    assert sent["POST users/create_or_update_many.json"] == 2  # the request log: two jobs, the new users only
    assert sent["GET job_statuses/show_many.json"] >= 1

    code, listed = cli_json_here("runs", "list", "--project", str(project.root), env=env)
    statuses = {r["run_id"]: r["status"] for r in listed["runs"]}
    assert statuses == {dead_run: "died" if signum == signal.SIGKILL else "interrupted", document["run_id"]: "ok"}
