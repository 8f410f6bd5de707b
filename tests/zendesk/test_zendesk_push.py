"""Pushes through bulk jobs: batching, the 30-job ceiling, per-user results, lost and failed jobs."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import httpx
import orjson
from zendesk.zendesk_support import configure, dump, make_adapter, push_mapping, user_unit

from migo_sync.adapter import PushUnit
from migo_sync.adapters.zendesk.adapter import ZendeskAdapter
from migo_sync.sandbox.process import SandboxThread


def test_users_are_upserted_in_jobs_of_100_and_each_result_recorded(adapter: ZendeskAdapter,
                                                                      zd: SandboxThread) -> None:
    units = [user_unit(n) for n in range(1, 251)]
    before = zd.stats()["zendesk"]
    results = adapter.write(push_mapping(), units)
    assert [r.key for r in results] == [u.key for u in units] and all(r.ok for r in results)
    state = dump(zd)
    by_ext = {u["external_id"]: u for u in state["users"]}
    for result in results:
        user = by_ext[result.key]
        assert result.remote_id == str(user["id"])
        assert user["user_fields"] == {"loan_status": "late", "credit_tier": "B", "recovery_offer": "none"}
        assert state["user_writes"][str(user["id"])] == 1
    assert len(state["users"]) == 2013  # C000001..C000250 existed: matched on external_id, none created
    assert len(state["jobs"]) == 3 and {j["total"] for j in state["jobs"]} == {100, 50}
    assert zd.stats()["zendesk"] - before == 3 + 2  # three job posts, two polls of all three jobs


def test_refused_users_come_back_with_zendesks_reason(adapter: ZendeskAdapter, zd: SandboxThread) -> None:
    taken = next(u["email"] for u in dump(zd)["users"] if u["external_id"] == "C000009")
    units = [user_unit(1), user_unit(2, email="no-at-sign"), user_unit(3, email=taken),
             user_unit(950_000, name="")]
    results = {r.key: r for r in adapter.write(push_mapping(), units)}
    assert results["C000001"].ok
    assert results["C000002"].reason == "RecordInvalid: Email: no-at-sign is not properly formatted"
    assert results["C000003"].reason is not None and "already being used by another user" in results["C000003"].reason
    assert results["C950000"].reason is not None and "Name: is too short" in results["C950000"].reason
    assert not any(r.ok for k, r in results.items() if k != "C000001")


def test_pre_send_checks(adapter: ZendeskAdapter) -> None:
    no_key = user_unit(1)
    no_key.records[0]["external_id"] = None
    two = user_unit(2)
    two.records.append(dict(two.records[0]))
    gone = PushUnit("C000003", "k", [], ["C000003"], delete=True)
    reasons = adapter.check(push_mapping(), [no_key, two, gone, user_unit(4)])
    assert set(reasons) == {"C000001", "C000002", "C000003"}
    assert "external_id is empty" in reasons["C000001"] and "not supported" in reasons["C000003"]
    results = adapter.write(push_mapping(), [no_key, user_unit(4)])
    assert [(r.key, r.ok) for r in results] == [("C000001", False), ("C000004", True)]


def test_organizations_are_created_or_updated_by_external_id(adapter: ZendeskAdapter, zd: SandboxThread) -> None:
    units = [PushUnit(code, code, [{"external_id": code, "name": name, "organization_fields.region": region}], [code])
             for code, name, region in (("ORG-001", "Nairobi Boda Boda SACCO", "KSM"),
                                        ("ORG-200", "Kitale Bakers Group", "NBO"))]
    results = adapter.write(push_mapping("organizations"), units)
    assert all(r.ok for r in results)
    orgs = {o["external_id"]: o for o in dump(zd)["organizations"]}
    assert orgs["ORG-001"]["organization_fields"]["region"] == "KSM"
    assert orgs["ORG-200"]["name"] == "Kitale Bakers Group" and str(orgs["ORG-200"]["id"]) == results[1].remote_id
    again = adapter.write(push_mapping("organizations"), units)  # now both exist: two updates
    assert [r.remote_id for r in again] == [r.remote_id for r in results]
    assert len(dump(zd)["organizations"]) == 9


def test_every_user_is_updated_once_under_injected_429s(adapter: ZendeskAdapter, zd: SandboxThread) -> None:
    zd.faults(rate=0.3, kinds=["429"], systems=["zendesk"], retry_after=0)
    results = adapter.write(push_mapping(), [user_unit(n, loan_status="default") for n in range(1, 401)])
    injected = zd.faults()["injected"].get("429", 0)
    zd.faults(rate=0.0)
    assert all(r.ok for r in results) and injected > 5
    state = dump(zd)
    ids = {u["external_id"]: u["id"] for u in state["users"]}
    assert all(state["user_writes"][str(ids[f"C{n:06d}"])] == 1 for n in range(1, 401))


def test_a_job_that_never_finishes_times_out_as_rejects(zd: SandboxThread, tmp_path: Path) -> None:
    configure(zd, job_polls_to_complete=10_000, job_seconds=1e9)
    stuck = make_adapter(zd, tmp_path, job_timeout=0.001)
    try:
        [result] = stuck.write(push_mapping(), [user_unit(1)])
    finally:
        stuck.close()
    assert not result.ok and result.reason is not None and "did not finish" in result.reason


class JobServer:
    """A scripted Zendesk job API on MockTransport: counts jobs in flight, answers polls."""

    def __init__(self, *, fail: frozenset[int] = frozenset(), forget: frozenset[int] = frozenset()) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.in_flight_max = 0
        self.posts = 0
        self.polls = 0
        self.fail = fail
        self.forget = forget

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:  # submissions arrive on several threads at once, as on a real server
            return self.answer(request)

    def answer(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts += 1
            users = orjson.loads(request.content)["users"]
            number = next(self.counter)
            job_id = f"V3-{number}"
            self.jobs[job_id] = {"number": number, "users": users, "polls": 0}
            active = sum(1 for j in self.jobs.values() if j["polls"] < 2)
            self.in_flight_max = max(self.in_flight_max, active)
            return _json({"job_status": {"id": job_id, "status": "queued", "total": len(users)}})
        self.polls += 1
        ids = request.url.params["ids"].split(",")
        assert len(ids) <= 100
        statuses = []
        for job_id in ids:
            job = self.jobs[job_id]
            job["polls"] += 1
            if job["number"] in self.forget:
                continue
            if job["polls"] < 2:
                statuses.append({"id": job_id, "status": "working"})
            elif job["number"] in self.fail:
                statuses.append({"id": job_id, "status": "failed", "message": "Job aborted"})
            else:
                statuses.append({"id": job_id, "status": "completed", "results": [
                    {"id": 1000 + i, "status": "Updated", "external_id": u["external_id"]}  # no index: match by id
                    for i, u in enumerate(users_of(job))]})
        return _json({"job_statuses": statuses})


def users_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job["users"])


def _json(body: Any) -> httpx.Response:
    return httpx.Response(200, content=orjson.dumps(body))


def test_at_most_30_jobs_in_flight_and_more_queued_as_jobs_complete(tmp_path: Path) -> None:
    server = JobServer()
    adapter = make_adapter(None, tmp_path, transport=httpx.MockTransport(server))
    results = adapter.write(push_mapping(), [user_unit(n) for n in range(1, 3501)])
    assert all(r.ok for r in results) and len(results) == 3500
    assert server.posts == 35 and server.in_flight_max == 30
    assert server.polls <= 6  # every poll covers all jobs in flight (show_many)


def test_failed_jobs_reject_their_users_and_lost_jobs_are_resubmitted(tmp_path: Path) -> None:
    server = JobServer(fail=frozenset({2}), forget=frozenset({3}))
    adapter = make_adapter(None, tmp_path, transport=httpx.MockTransport(server))
    results = adapter.write(push_mapping(), [user_unit(n) for n in range(1, 301)])
    by_key = {r.key: r for r in results}
    assert all(by_key[f"C{n:06d}"].ok for n in range(1, 101))
    assert {by_key[f"C{n:06d}"].reason for n in range(101, 201)} == {"Zendesk job failed: Job aborted"}
    assert all(by_key[f"C{n:06d}"].ok for n in range(201, 301))  # the forgotten job 3 was sent again as job 4
    assert server.posts == 4
