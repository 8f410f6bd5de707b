"""Zendesk's job limit shared with jobs not ours: the account already holds orphan jobs (a job whose
submission's answer was lost, another integration's), so submissions meet 429 TooManyJobs. The runner
puts the refused job back, lowers its ceiling, polls its own jobs and submits again as they free
slots; when no slot ever frees it stops, naming the limit. Real HTTP to the emulator on loopback."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from zendesk.zendesk_support import basic_auth, configure, dump, make_adapter, push_mapping, user_unit

from migo_sync.errors import UnreachableError, exit_code_for
from migo_sync.sandbox.process import SandboxThread

STUCK = {"job_seconds": 10.0**6}  # a job finishes only when polled (job_polls_to_complete): orphans never are


def hold_slots(zd: SandboxThread, count: int) -> set[str]:
    """`count` jobs submitted straight to the emulator and never polled: they hold their slots."""
    ids = set()
    with httpx.Client(base_url=zd.env["MIGO_SYNC_ZENDESK_URL"], auth=basic_auth(), timeout=60) as client:
        for n in range(count):
            response = client.post("/api/v2/users/create_or_update_many.json", json={"users": [
                {"external_id": f"ORPHAN-{n}", "email": f"orphan.{n}@example.com", "name": f"Orphan {n}"}]})
            response.raise_for_status()
            ids.add(response.json()["job_status"]["id"])
    return ids


@pytest.mark.timeout(60)
def test_a_push_meeting_toomanyjobs_waits_on_its_own_jobs_and_sends_every_user_once(
        zd: SandboxThread, tmp_path: Path) -> None:
    configure(zd, **STUCK)
    orphans = hold_slots(zd, 27)  # 3 of the 30 slots left for the push's 6 jobs
    adapter = make_adapter(zd, tmp_path, job_poll_max=0.2)
    before = zd.stats()["zendesk"]
    try:
        results = adapter.write(push_mapping(), [user_unit(n, loan_status="default") for n in range(1, 551)])
    finally:
        adapter.close()
    requests = zd.stats()["zendesk"] - before
    assert len(results) == 550 and all(r.ok for r in results), {r.reason for r in results if not r.ok}
    state = dump(zd)
    ids = {u["external_id"]: u["id"] for u in state["users"]}
    assert all(state["user_writes"][str(ids[f"C{n:06d}"])] == 1 for n in range(1, 551))  # each sent once
    ours = [j for j in state["jobs"] if j["id"] not in orphans]
    assert sorted(j["total"] for j in ours) == [50, 100, 100, 100, 100, 100]  # a refused job created nothing
    assert all(j["status"] == "completed" for j in ours)
    # 6 accepted posts, one refused post per slot the runner probed, a poll per step of its jobs:
    # well under what blind retries without polling would spend (and those never free a slot)
    assert requests <= 30, requests


@pytest.mark.timeout(60)
def test_no_slot_ever_frees_stops_with_the_job_limit_named_and_nothing_sent(zd: SandboxThread,
                                                                             tmp_path: Path) -> None:
    configure(zd, **STUCK)
    orphans = hold_slots(zd, 30)
    adapter = make_adapter(zd, tmp_path, job_poll_interval=0.1, job_poll_max=0.2, job_slot_wait=1.0)
    before = zd.stats()["zendesk"]
    try:
        with pytest.raises(UnreachableError) as raised:
            adapter.write(push_mapping(), [user_unit(n) for n in range(1, 151)])
    finally:
        adapter.close()
    requests = zd.stats()["zendesk"] - before
    message = str(raised.value)
    assert "Zendesk's job limit" in message and "job_slot_wait" in message and "\n" not in message
    assert exit_code_for(raised.value) == 3
    state = dump(zd)
    assert {j["id"] for j in state["jobs"]} == orphans  # nothing of the push was created
    assert 2 <= requests <= 20, requests  # bounded: a refused try every 0.1-0.2 s for 1 s
