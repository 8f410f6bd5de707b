"""The Zendesk emulator over real HTTP: exports, jobs, limits, errors and persistence (api-reference §3)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from zendesk.zendesk_support import basic_auth, configure, dump, emulator_of

from migo_sync.adapters.zendesk.emulator import ZendeskEmulator
from migo_sync.adapters.zendesk.sandbox import SANDBOX_OAUTH_TOKEN
from migo_sync.sandbox.process import SandboxThread

RATE_HEADERS = ("x-rate-limit", "x-rate-limit-remaining", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


@pytest.fixture
def http(zd: SandboxThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=zd.env["MIGO_SYNC_ZENDESK_URL"], auth=basic_auth(), timeout=30) as client:
        yield client


def drain(http: httpx.Client, resource: str = "tickets", **params: Any) -> list[dict[str, Any]]:
    """Follow after_url from start_time until end_of_stream; return every page body."""
    pages = []
    body = orjson.loads(http.get(f"/api/v2/incremental/{resource}/cursor.json",
                                 params={"start_time": 0, **params}).content)
    pages.append(body)
    while not body["end_of_stream"]:
        assert len(pages) < 1000, "the export never ends"
        body = orjson.loads(http.get(body["after_url"]).content)
        pages.append(body)
    return pages


def test_cursor_export_pages_of_1000_with_opaque_cursors_until_end_of_stream(http: httpx.Client) -> None:
    pages = drain(http)
    assert [len(p["tickets"]) for p in pages] == [1000] * 5
    assert [p["end_of_stream"] for p in pages] == [False] * 4 + [True]
    ids = [t["id"] for p in pages for t in p["tickets"]]
    assert len(ids) == len(set(ids)) == 5000
    stamps = [t["generated_timestamp"] for p in pages for t in p["tickets"]]
    assert stamps == sorted(stamps)
    cursor = pages[0]["after_cursor"]
    assert base64.b64decode(cursor)  # base64, and nothing a client should parse
    assert pages[0]["after_url"].endswith("cursor=" + cursor.replace("=", "%3D"))
    assert set(pages[0]) == {"tickets", "after_url", "after_cursor", "before_url", "before_cursor", "end_of_stream"}
    assert set(pages[0]["tickets"][0]) >= {"id", "via", "custom_fields", "generated_timestamp", "status", "fields"}


def test_a_changed_record_moves_to_the_end_of_the_export(http: httpx.Client) -> None:
    last = drain(http, "users")[-1]
    response = http.post("/api/v2/users/create_or_update.json",
                         json={"user": {"external_id": "C000005", "user_fields": {"loan_status": "late"}}})
    assert response.status_code == 200
    after = orjson.loads(http.get("/api/v2/incremental/users/cursor.json",
                                  params={"cursor": last["after_cursor"]}).content)
    assert [u["external_id"] for u in after["users"]] == ["C000005"]
    assert after["users"][0]["user_fields"]["loan_status"] == "late" and after["end_of_stream"]


def test_per_page_start_time_and_bad_parameters(http: httpx.Client) -> None:
    body = http.get("/api/v2/incremental/tickets/cursor", params={"start_time": 0, "per_page": 7}).json()
    assert len(body["tickets"]) == 7 and "per_page=7" in body["after_url"]
    late = http.get("/api/v2/incremental/tickets/cursor.json", params={"start_time": 1793000000}).json()
    assert all(t["generated_timestamp"] >= 1793000000 for t in late["tickets"])
    bad = http.get("/api/v2/incremental/tickets/cursor.json", params={"cursor": "not-a-cursor!"})
    assert bad.status_code == 400 and bad.json()["error"] == "InvalidPaginationParameter"
    recent = http.get("/api/v2/incremental/tickets/cursor.json", params={"start_time": 4_000_000_000})
    assert recent.status_code == 400 and "Too recent start_time" in recent.json()["description"]


def test_time_based_export_is_inclusive_and_ends(http: httpx.Client) -> None:
    body = http.get("/api/v2/incremental/organizations.json", params={"start_time": 0}).json()
    assert body["count"] == len(body["organizations"]) == 8 and body["end_of_stream"] is True
    assert body["end_time"] == max(_epoch(o["updated_at"]) for o in body["organizations"])
    again = http.get(body["next_page"]).json()
    assert [o["id"] for o in again["organizations"]] == [body["organizations"][-1]["id"]]  # inclusive start


def test_deleted_tickets_are_exported_unless_excluded(http: httpx.Client) -> None:
    tickets = [t for p in drain(http) for t in p["tickets"]]
    assert 50 < sum(t["status"] == "deleted" for t in tickets) < 200
    kept = [t for p in drain(http, exclude_deleted="true") for t in p["tickets"]]
    assert not any(t["status"] == "deleted" for t in kept)


def test_bulk_job_moves_queued_working_completed_across_polls(http: httpx.Client, zd: SandboxThread) -> None:
    users = [{"external_id": "C000001", "user_fields": {"loan_status": "default"}},
             {"external_id": "C900001", "name": "New Customer", "email": "new.customer@example.com"},
             {"external_id": "C900002", "name": "Bad Email", "email": "not an email"},
             {"external_id": "C900003", "email": "nameless@example.com"}]
    queued = http.post("/api/v2/users/create_or_update_many.json", json={"users": users}).json()["job_status"]
    assert (queued["status"], queued["progress"], queued["results"]) == ("queued", None, None)
    assert queued["url"].endswith(f"/zendesk/api/v2/job_statuses/{queued['id']}.json")
    working = http.get(queued["url"]).json()["job_status"]
    assert working["status"] == "working" and working["progress"] == 2 and working["results"] is None
    done = http.get(f"/api/v2/job_statuses/show_many.json?ids={queued['id']}").json()["job_statuses"][0]
    assert done["status"] == "completed" and done["message"].startswith("Completed at")
    results = {r["index"]: r for r in done["results"]}
    assert results[0]["status"] == "Updated" and results[1]["status"] == "Created"
    assert results[2]["error"] == "RecordInvalid" and "not properly formatted" in results[2]["details"]
    assert "Name: is too short" in results[3]["details"]
    dump = zd.dump("zendesk")
    by_ext = {u["external_id"]: u for u in dump["users"]}
    assert by_ext["C000001"]["user_fields"]["loan_status"] == "default"
    assert "C900001" in by_ext and "C900002" not in by_ext
    assert dump["user_writes"][str(results[0]["id"])] == 1


def test_more_than_100_values_is_refused_with_the_observed_body(http: httpx.Client) -> None:
    response = http.post("/api/v2/users/create_or_update_many.json",
                         json={"users": [{"external_id": f"X{i}"} for i in range(101)]})
    assert response.status_code == 400
    assert response.json() == {"error": "TooManyValues",
                               "description": "Parameter  cannot specify more than 100 values", "max_count": 100}


def test_the_job_queue_holds_at_most_30(http: httpx.Client) -> None:
    for i in range(30):
        assert http.post("/api/v2/users/create_or_update_many", json={"users": [{"external_id": f"C{i}"}]}).is_success
    refused = http.post("/api/v2/users/create_or_update_many", json={"users": [{"external_id": "C31"}]})
    assert refused.status_code == 429 and refused.json()["error"] == "TooManyJobs"


def test_jobs_expire_after_the_retention(http: httpx.Client, zd: SandboxThread) -> None:
    configure(zd, job_retention_seconds=0)
    job = http.post("/api/v2/users/create_or_update_many",
                    json={"users": [{"external_id": "C000002"}, {"external_id": "C000003"}]}).json()
    url = job["job_status"]["url"]
    assert http.get(url).json()["job_status"]["status"] == "working"
    assert http.get(url).json()["job_status"]["status"] == "completed"
    gone = http.get(url)
    assert gone.status_code == 404 and gone.json() == {"error": "RecordNotFound", "description": "Not found"}


def test_rate_headers_on_every_response_and_the_10_per_minute_export_limit(http: httpx.Client,
                                                                          zd: SandboxThread) -> None:
    configure(zd, incremental_limit_per_minute=10)
    for _ in range(10):
        response = http.get("/api/v2/incremental/organizations.json", params={"start_time": 0})
        assert response.status_code == 200 and all(h in response.headers for h in RATE_HEADERS)
    limited = http.get("/api/v2/incremental/tickets/cursor.json", params={"start_time": 0})
    assert limited.status_code == 429 and 50 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["error"] == "APIRateLimitExceeded"
    assert all(h in limited.headers for h in RATE_HEADERS)
    assert http.get("/api/v2/user_fields.json").status_code == 200  # other endpoints are not limited


def test_account_limit_counts_down_then_429s(http: httpx.Client, zd: SandboxThread) -> None:
    configure(zd, account_limit_per_minute=5)
    remaining = [int(http.get("/api/v2/users/me.json").headers["X-Rate-Limit-Remaining"]) for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
    limited = http.get("/api/v2/users/me.json")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


def test_authentication(zd: SandboxThread) -> None:
    url = zd.env["MIGO_SYNC_ZENDESK_URL"] + "/api/v2/users/me.json"
    assert httpx.get(url, headers={"Authorization": f"Bearer {SANDBOX_OAUTH_TOKEN}"}).json()["user"]["role"] == "admin"
    for auth in (("agent@migo-demo.example/token", "wrong"), ("agent@migo-demo.example", basic_auth()[1])):
        refused = httpx.get(url, auth=auth)
        assert refused.status_code == 401 and refused.json() == {"error": "Couldn't authenticate you"}
    assert httpx.get(url).status_code == 401


def test_bulk_imports_can_be_disabled(http: httpx.Client, zd: SandboxThread) -> None:
    configure(zd, bulk_import_enabled=False)
    response = http.post("/api/v2/users/create_or_update_many", json={"users": [{"external_id": "C1"}]})
    assert response.status_code == 403 and response.json()["error"] == "Forbidden"


def test_ticket_create_honours_idempotency_key(http: httpx.Client, zd: SandboxThread) -> None:
    body = {"ticket": {"subject": "Help", "comment": {"body": "My loan"}, "requester_id": 9007199254800014}}
    first = http.post("/api/v2/tickets.json", json=body, headers={"Idempotency-Key": "k-1"})
    again = http.post("/api/v2/tickets.json", json=body, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, first.headers["x-idempotency-lookup"]) == (201, "miss")
    assert (again.status_code, again.headers["x-idempotency-lookup"]) == (201, "hit")
    assert first.json() == again.json()
    other = http.post("/api/v2/tickets.json", json={"ticket": {"comment": {"body": "x"}}},
                      headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 400 and other.json()["error"] == "IdempotentRequestError"
    assert sum(t["subject"] == "Help" for t in dump(zd)["tickets"]) == 1
    invalid = http.post("/api/v2/tickets.json", json={"ticket": {"subject": "no body"}})
    assert invalid.status_code == 422 and invalid.json()["error"] == "RecordInvalid"


def test_organizations_bulk_create_update_and_lookup(http: httpx.Client) -> None:
    found = http.get("/api/v2/organizations/show_many.json", params={"external_ids": "ORG-001,ORG-404"}).json()
    assert [o["external_id"] for o in found["organizations"]] == ["ORG-001"]
    created = http.post("/api/v2/organizations/create_many.json", json={"organizations": [
        {"external_id": "ORG-100", "name": "Kitale Bakers"}, {"external_id": "ORG-001", "name": "Dup"}]}).json()
    url = created["job_status"]["url"]
    http.get(url)
    results = http.get(url).json()["job_status"]["results"]
    assert results[0]["status"] == "Created" and results[1]["error"] == "DuplicateValue"
    org_id = found["organizations"][0]["id"]
    updated = http.put("/api/v2/organizations/update_many.json", json={"organizations": [
        {"id": org_id, "notes": "restructured"}]}).json()
    http.get(updated["job_status"]["url"])
    assert http.get(updated["job_status"]["url"]).json()["job_status"]["results"][0]["status"] == "Updated"


def test_field_definitions(http: httpx.Client) -> None:
    keys = [f["key"] for f in http.get("/api/v2/user_fields.json").json()["user_fields"]]
    assert keys == ["loan_status", "credit_tier", "recovery_offer"]
    assert any(f["title"] == "Loan ID" for f in http.get("/api/v2/ticket_fields").json()["ticket_fields"])


def test_injected_faults_use_zendesk_shapes(http: httpx.Client, zd: SandboxThread) -> None:
    zd.faults(rate=1.0, kinds=["429"], systems=["zendesk"], retry_after=3)
    limited = http.get("/api/v2/users/me.json")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert limited.text == "Too Many Requests" and "x-rate-limit" in limited.headers
    zd.faults(rate=1.0, kinds=["503"], systems=["zendesk"])
    assert http.get("/api/v2/users/me.json").json()["error"] == "ServiceUnavailable"


def test_state_round_trips_and_cursors_survive_a_restart(http: httpx.Client, zd: SandboxThread) -> None:
    http.post("/api/v2/users/create_or_update.json", json={"user": {"external_id": "C777777", "name": "Saved"}})
    first = drain(http)[0]
    emulator = emulator_of(zd)
    copy = ZendeskEmulator(seed=1)
    copy.load(orjson.loads(orjson.dumps(emulator.state())))
    assert copy.dump()["users"] == emulator.dump()["users"]
    assert copy.feeds["tickets"].ids == emulator.feeds["tickets"].ids
    assert copy.user_by_ext["C777777"] == emulator.user_by_ext["C777777"]
    assert len(first["tickets"]) == 1000


def test_bulk_tickets_are_built_on_demand(http: httpx.Client, zd: SandboxThread) -> None:
    configure(zd, bulk_tickets=2500, tickets=10)
    pages = drain(http)
    ids = [t["id"] for p in pages for t in p["tickets"]]
    assert len(ids) == len(set(ids)) == 2510 and ids[:3] == [1, 2, 3]
    assert dump(zd)["bulk_tickets"] == 2500 and len(dump(zd)["tickets"]) == 10


def _epoch(stamp: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def test_unknown_knobs_are_refused_with_the_known_ones(zd: SandboxThread) -> None:
    from migo_sync.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown option incremental_limit .*incremental_limit_per_minute"):
        ZendeskEmulator(options={"incremental_limit": 0})
    refused = httpx.post(f"{zd.env['MIGO_SYNC_ZENDESK_URL']}/_options", json={"job_limt": 3})
    assert refused.status_code == 400 and "job_limit" in refused.json()["description"]
