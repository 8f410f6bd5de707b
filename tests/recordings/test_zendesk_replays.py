"""Zendesk exports, bulk jobs and refusals recorded by zenpy's test suite, replayed through migo-sync's
real client, pull pager and job runner: every page followed to the end, each record landed once, the
cursor kept; job statuses read into one result per record; refusals are typed errors with Zendesk's
words and their documented exit code. Replay-time adaptations are the ones SOURCES.md declares."""

from __future__ import annotations

import base64
import gzip
import json
from collections import defaultdict, deque
from typing import Any

import httpx
import pytest
from helpers.recordings import recording, replay_context
from zendesk.zendesk_support import pull_mapping

from migo_sync.adapter import PushUnit
from migo_sync.adapters.zendesk.adapter import ZendeskAdapter
from migo_sync.adapters.zendesk.client import ZendeskClient, classify
from migo_sync.adapters.zendesk.config import ZendeskSettings
from migo_sync.adapters.zendesk.pull import cursor_pages, time_pages
from migo_sync.adapters.zendesk.push import Job, JobRunner
from migo_sync.errors import FatalRemoteError, MigoSyncError, exit_code_for
from migo_sync.http import make_client

URL = "https://d3v-zenpydev.zendesk.com"
JOB_PATH = "/api/v2/job_statuses/"


def decoded(response: dict[str, Any]) -> bytes:
    body = response["body"]
    raw = base64.b64decode(body["base64_string"]) if body.get("base64_string") else body["string"].encode()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


class Replay:
    """Answers a request with the recorded response to the same method, path and query (order of the
    query ignored), in recorded order. Recorded `job_statuses/{id}.json` answers are served, unchanged,
    inside show_many's envelope; `also` maps one of our paths to the recorded path it is answered by."""

    def __init__(self, name: str, *, also: dict[str, str] | None = None,
                 unrecorded: httpx.Response | None = None) -> None:
        self.answers: dict[Any, deque[dict[str, Any]]] = defaultdict(deque)
        self.jobs: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        for item in json.loads(recording("zendesk", name).read_text())["http_interactions"]:
            url = httpx.URL(item["request"]["uri"])
            if url.path.startswith(JOB_PATH):
                self.jobs[url.path.removeprefix(JOB_PATH).removesuffix(".json")].append(item["response"])
            else:
                self.answers[(item["request"]["method"], url.path, self.query(url))].append(item["response"])
        self.also = also or {}
        self.unrecorded = unrecorded
        self.sent: list[httpx.Request] = []
        self.client = ZendeskClient(make_client("zendesk", URL, classify=classify,  # as the adapter builds it
                                                 transport=httpx.MockTransport(self.handle)))

    @staticmethod
    def query(url: httpx.URL) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(url.params.multi_items()))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        url = request.url
        if url.path == f"{JOB_PATH}show_many.json":
            statuses = [json.loads(decoded(self.jobs[i].popleft() if len(self.jobs[i]) > 1 else self.jobs[i][0]))
                        ["job_status"] for i in url.params["ids"].split(",") if self.jobs.get(i)]
            return httpx.Response(200, json={"job_statuses": statuses})
        key = (request.method, self.also.get(url.path, url.path), self.query(url))
        queue = self.answers.get(key)
        if not queue:
            assert self.unrecorded is not None, f"no recorded answer for {request.method} {url}"
            return self.unrecorded
        found = queue.popleft()
        return httpx.Response(found["status"]["code"], content=decoded(found),
                              headers={"Content-Type": "application/json"})


def chain(name: str, resource: str, unrecorded: httpx.Response) -> tuple[Replay, list[dict[str, Any]], list[Any]]:
    """Follow the recorded per_page=1 cursor chain: the records of every page and the state kept with each."""
    replay = Replay(name, unrecorded=unrecorded)
    records: list[dict[str, Any]] = []
    states: list[Any] = []
    try:
        for items, state in cursor_pages(replay.client, resource, None, 0, per_page=1):
            records.extend(items)
            states.append(state)
    except MigoSyncError as exc:
        states.append(exc)
    return replay, records, states


END = httpx.Response(200, json={"users": [], "after_url": None, "after_cursor": None, "before_url": None,
                                "before_cursor": None, "end_of_stream": True})  # SYNTHETIC (SOURCES.md)


def test_users_cursor_chain_is_followed_to_the_end_each_user_once_cursor_kept() -> None:
    replay, users, states = chain("UsersIncrementalTest.test_pagination.cursor-chain.json", "users", END)
    assert not any(replay.answers.values())  # every recorded page was asked for, once
    assert len(users) == 100 and len({u["id"] for u in users}) == 100
    assert len(states) == 100 and states[-1] == {"after_cursor": "MTY5NDM3NTg2OC4wfHw2MTMzMjQ5OTc3NzU0fA=="}
    assert replay.sent[-1].url.params["cursor"] == states[-1]["after_cursor"]  # the page after: end of stream
    resumed = Replay("UsersIncrementalTest.test_pagination.cursor-chain.json", unrecorded=END)
    assert list(cursor_pages(resumed.client, "users", states[-1], 0, per_page=1)) == []  # nothing read twice
    assert [r.url.params.get("cursor") for r in resumed.sent] == [states[-1]["after_cursor"]]


def test_tickets_cursor_chain_keeps_the_last_page_when_the_next_one_fails() -> None:
    down = httpx.Response(503, json={"error": "ServiceUnavailable"})
    replay, tickets, states = chain("TicketsIncrementalTest.test_pagination.cursor-chain.json", "tickets", down)
    assert not any(replay.answers.values())
    assert len(tickets) == 100 and len({t["id"] for t in tickets}) == 100
    *pages, error = states
    assert len(pages) == 100 and pages[-1] == {"after_cursor": "MTY5NTA1MjcyNy4wfHwxMzB8"}
    assert isinstance(error, MigoSyncError) and exit_code_for(error) == 3  # unreachable, after retries
    assert "503" in str(error)


def test_users_incremental_time_and_cursor_exports_land_the_same_users() -> None:
    replay = Replay("UsersIncrementalTest.test_get_values.json")
    items, state = next(time_pages(replay.client, "users", None, 0, per_page=0))
    assert len(items) == 1000 and len({u["id"] for u in items}) == 1000
    assert state == {"start_time": 1695073963}
    page, cursor = next(cursor_pages(replay.client, "users", None, 0, per_page=0))
    assert cursor == {"after_cursor": "MTY5NTA3Mzk2My4wfHw2MTYzOTA5NzE2NTA2fA=="}
    assert {u["id"] for u in page} == {u["id"] for u in items}
    assert all(isinstance(u["id"], int) and isinstance(u["active"], bool) for u in page)


def units(n: int) -> list[PushUnit]:
    return [PushUnit(key=f"k{i}", idempotency_key=f"m:k{i}", records=[{}], row_keys=[f"k{i}"]) for i in range(n)]


def run_job(replay: Replay, submit: Any, payloads: list[dict[str, Any]]) -> dict[str, Any]:
    clock = iter(float(t) for t in range(10_000))
    runner = JobRunner(replay.client, ZendeskSettings(), clock=lambda: next(clock), sleep=lambda _: None)
    return runner.run([Job(units(len(payloads)), payloads, submit)])


def test_a_created_users_job_gives_each_record_its_new_id() -> None:
    name = "TestUserCreateUpdateDelete.test_full_objects_create-create-multiple.json"
    replay = Replay(name, also={"/api/v2/users/create_or_update_many.json": "/api/v2/users/create_many.json"})
    payloads = [{"external_id": f"u{i}", "name": "testUser"} for i in range(100)]
    results = run_job(replay, replay.client.upsert_users, payloads)
    recorded = json.loads(decoded(next(iter(replay.jobs.values()))[-1]))["job_status"]["results"]
    assert [results[f"k{i}"].ok for i in range(100)] == [True] * 100
    assert [results[f"k{i}"].remote_id for i in range(100)] == [str(r["id"]) for r in recorded]
    polls = [r for r in replay.sent if r.url.path.endswith("show_many.json")]
    assert len(polls) == 2  # working, then completed


def test_a_mixed_update_many_job_gives_one_ok_and_99_rejects_with_zendesks_reason() -> None:
    name = "TestOrganizationCreateUpdateDelete.test_multiple_update_full_objects-update-many.json"
    replay = Replay(name)
    replay.jobs.pop("V3-49cf23ff4b2197469b3b424d6a76e9fc")  # the create_many before it is not replayed
    update = json.loads(recording("zendesk", name).read_text())["http_interactions"][3]["request"]
    assert update["uri"].endswith("/organizations/update_many.json")
    sent = json.loads(update["body"]["string"])["organizations"]  # the 100 {id, name} zenpy sent
    results = run_job(replay, replay.client.update_organizations, sent)
    assert results["k0"].ok and results["k0"].remote_id == "6164110654490"  # the one without an index
    failed = [results[f"k{i}"] for i in range(1, 100)]
    assert not any(r.ok for r in failed)
    assert {r.reason for r in failed} == {"OrganizationUpdateFailed: Name:  "
                                          "testOrganizationa4603c3a2f5a511f9f71f9aa5bc1ef0048807e8c has already been taken"}


def test_too_many_values_is_a_typed_error_with_zendesks_words_exit_1() -> None:
    name = "TestUserCreateUpdateDelete.test_raises_toomanyvaluesexception_create-create-multiple.json"
    replay = Replay(name, also={"/api/v2/users/create_or_update_many.json": "/api/v2/users/create_many.json"})
    with pytest.raises(FatalRemoteError) as info:
        replay.client.upsert_users([{"external_id": "u1", "name": "testUser"}])
    assert str(info.value).endswith("HTTP 400 TooManyValues: Maximum 100 users may be created per call "
                                    "on POST /api/v2/users/create_or_update_many.json")
    assert exit_code_for(info.value) == 1
    assert len(replay.sent) == 1  # a refusal is not retried


def test_record_not_found_is_a_typed_error_with_zendesks_words_exit_1() -> None:
    replay = Replay("TestUserCreateUpdateDelete.test_single_update_raises_recordnotfoundexception-recordnotfound-update.json")
    with pytest.raises(FatalRemoteError) as info:
        replay.client._send("PUT", "/api/v2/users/9223372036854775807.json",
                            {"user": {"id": 9223372036854775807, "name": "testUser"}})
    assert str(info.value).endswith("HTTP 404 RecordNotFound: Not found on PUT /api/v2/users/9223372036854775807.json")
    assert exit_code_for(info.value) == 1
    assert len(replay.sent) == 1


def test_the_users_chain_through_the_adapter_lands_each_user_once_with_its_cursor() -> None:
    replay = Replay("UsersIncrementalTest.test_pagination.cursor-chain.json", unrecorded=END)
    context = replay_context("zendesk", replay.handle, url=URL, settings={"page_size": 1, "incremental_limit_per_minute": 0},  # no pacing waits
                             environ={"MIGO_SYNC_ZENDESK_EMAIL": "a@example.com", "MIGO_SYNC_ZENDESK_API_TOKEN": "t"})
    adapter = ZendeskAdapter(context, transport=httpx.MockTransport(replay.handle))
    mapping = pull_mapping("users", fields=[{"column": "id", "remote": "id", "type": "integer"},
                                            {"column": "name", "remote": "name"}])
    batches = list(adapter.read(mapping, None))
    assert not any(replay.answers.values())
    records = [r for b in batches for r in b.records]
    assert len(records) == 100 and len({r["id"] for r in records}) == 100
    assert all(isinstance(r["id"], int) and isinstance(r["name"], str) for r in records)
    assert [len(b.records) for b in batches] == [1] * 100  # one batch (one commit) per page
    assert batches[-1].state == {"after_cursor": "MTY5NDM3NTg2OC4wfHw2MTMzMjQ5OTc3NzU0fA=="}
