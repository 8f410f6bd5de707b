"""The Zendesk client on httpx.MockTransport: golden request shapes, every error branch, pacing."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from zendesk.zendesk_support import make_adapter, pull_mapping, push_mapping, user_unit

from migo_sync.adapters.zendesk.client import (
    PacedTransport,
    Pacing,
    RecordInvalid,
    WindowLimiter,
    ZendeskClient,
    classify,
    peek_cursor,
)
from migo_sync.adapters.zendesk.pull import cursor_pages
from migo_sync.adapters.zendesk.sandbox import SANDBOX_API_TOKEN, SANDBOX_EMAIL
from migo_sync.config import Project, ProjectConfig
from migo_sync.errors import AuthError, ConfigError, FatalRemoteError, MigoSyncError, UnreachableError
from migo_sync.http import make_client
from migo_sync.systems import adapter_context

BIG_ID = 9_007_199_254_800_003  # above 2**53: float(BIG_ID) != BIG_ID
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a list and keeps every request."""

    def __init__(self, *answers: httpx.Response | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def json_response(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(body), headers={"Content-Type": "application/json", **headers})


def page(items: list[dict[str, Any]], after: str, end: bool, resource: str = "tickets") -> httpx.Response:
    return json_response({resource: items, "after_url": f"https://acme.zendesk.com/x?cursor={after}",
                          "after_cursor": after, "before_url": None, "before_cursor": None, "end_of_stream": end})


def job(job_id: str, status: str = "queued", results: list[dict[str, Any]] | None = None,
        message: str | None = None) -> dict[str, Any]:
    return {"id": job_id, "url": f"https://acme.zendesk.com/api/v2/job_statuses/{job_id}.json", "total": 1,
            "progress": None, "status": status, "message": message, "results": results}


def raw_client(recorder: Recorder, pacing: Pacing | None = None) -> ZendeskClient:
    transport = PacedTransport(recorder.transport, pacing or Pacing(0, 0))
    return ZendeskClient(make_client("zendesk", "https://acme.zendesk.com", classify=classify, transport=transport))


# ---- golden request shapes ----------------------------------------------------------------------


def test_cursor_export_requests_start_time_then_cursor_with_basic_token_auth(tmp_path: Path) -> None:
    recorder = Recorder(page([{"id": 1}], "c1", False), page([{"id": 2}], "c2", True))
    adapter = make_adapter(None, tmp_path, transport=recorder.transport)
    batches = list(adapter.read(pull_mapping(start_time="2026-01-01"), None))
    first, second = recorder.requests
    assert (first.method, first.url.path) == ("GET", "/api/v2/incremental/tickets/cursor.json")
    assert dict(first.url.params) == {"start_time": "1767225600", "per_page": "1000"}
    assert dict(second.url.params) == {"cursor": "c1", "per_page": "1000"}
    expected = base64.b64encode(f"{SANDBOX_EMAIL}/token:{SANDBOX_API_TOKEN}".encode()).decode()
    assert first.headers["Authorization"] == f"Basic {expected}"
    assert first.url.host == "acme.test"
    assert [b.state for b in batches] == [{"after_cursor": "c1"}, {"after_cursor": "c2"}]


def test_stored_cursor_is_used_instead_of_start_time(tmp_path: Path) -> None:
    recorder = Recorder(page([], "c9", True, "users"))
    adapter = make_adapter(None, tmp_path, transport=recorder.transport)
    assert list(adapter.read(pull_mapping("users", start_time=5), {"after_cursor": "c9"})) == []
    assert dict(recorder.requests[0].url.params) == {"cursor": "c9", "per_page": "1000"}
    assert recorder.requests[0].url.path == "/api/v2/incremental/users/cursor.json"


def test_oauth_token_is_sent_as_bearer(tmp_path: Path) -> None:
    recorder = Recorder(page([], "c", True))
    project = Project(root=tmp_path, config=ProjectConfig(systems={"zendesk": {"subdomain": "acme"}}),
                      environ={"MIGO_SYNC_ZENDESK_OAUTH_TOKEN": "oauth-secret-1", "MIGO_SYNC_NO_KEYRING": "1"})
    from migo_sync.adapters.zendesk.adapter import ZendeskAdapter

    adapter = ZendeskAdapter(adapter_context(project, "zendesk"), transport=recorder.transport)
    list(adapter.read(pull_mapping(), None))
    request = recorder.requests[0]
    assert request.headers["Authorization"] == "Bearer oauth-secret-1"
    assert str(request.url).startswith("https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json")


def test_push_posts_nested_users_marked_idempotent_and_polls_show_many(tmp_path: Path) -> None:
    done = job("V3-a", "completed", [{"index": 0, "id": BIG_ID, "status": "Updated", "external_id": "C000001"}])
    recorder = Recorder(json_response({"job_status": job("V3-a")}), json_response({"job_statuses": [done]}))
    adapter = make_adapter(None, tmp_path, transport=recorder.transport)
    [result] = adapter.write(push_mapping(), [user_unit(1)])
    post, poll = recorder.requests
    assert (post.method, post.url.path) == ("POST", "/api/v2/users/create_or_update_many.json")
    assert post.headers["Content-Type"] == "application/json"
    assert post.extensions.get("idempotent") is True
    assert orjson.loads(post.content) == {"users": [{
        "external_id": "C000001", "email": "customer.1@example.com", "name": "Customer 1",
        "user_fields": {"loan_status": "late", "credit_tier": "B", "recovery_offer": "none"}}]}
    assert (poll.method, poll.url.path, dict(poll.url.params)) == (
        "GET", "/api/v2/job_statuses/show_many.json", {"ids": "V3-a"})
    assert result.ok and result.remote_id == str(BIG_ID)


def test_organizations_are_looked_up_then_created_or_updated(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("show_many.json") and "external_ids" in request.url.params:
            return json_response({"organizations": [{"id": 77, "external_id": "ORG-001", "name": "Old"}]})
        if request.url.path.endswith("create_many.json"):
            return json_response({"job_status": job("V3-c")})
        if request.url.path.endswith("update_many.json"):
            return json_response({"job_status": job("V3-u")})
        return json_response({"job_statuses": [
            job("V3-c", "completed", [{"index": 0, "id": 78, "status": "Created"}]),
            job("V3-u", "completed", [{"index": 0, "id": 77, "status": "Updated"}])]})

    recorder = Recorder(answer)
    adapter = make_adapter(None, tmp_path, transport=recorder.transport)
    units = [user_unit(1), user_unit(2)]
    units[0].records = [{"external_id": "ORG-001", "name": "New name", "organization_fields.region": "NBO"}]
    units[1].records = [{"external_id": "ORG-002", "name": "Second", "organization_fields.region": "MSA"}]
    results = adapter.write(push_mapping("organizations"), units)
    # the create and the update are independent jobs, submitted together: their order on the wire varies
    lookup, *jobs, _poll = recorder.requests
    create, update = sorted(jobs, key=lambda r: r.url.path.endswith("update_many.json"))
    assert [create.url.path.rsplit("/", 1)[-1], update.url.path.rsplit("/", 1)[-1]] == [
        "create_many.json", "update_many.json"]
    assert dict(lookup.url.params) == {"external_ids": "ORG-001,ORG-002"}
    assert (create.method, orjson.loads(create.content)) == ("POST", {"organizations": [
        {"external_id": "ORG-002", "name": "Second", "organization_fields": {"region": "MSA"}}]})
    assert (update.method, orjson.loads(update.content)) == ("PUT", {"organizations": [
        {"external_id": "ORG-001", "name": "New name", "organization_fields": {"region": "NBO"}, "id": 77}]})
    assert [(r.ok, r.remote_id) for r in results] == [(True, "77"), (True, "78")]


# ---- errors into the tree -----------------------------------------------------------------------

ERRORS: list[tuple[int, Any, type[Exception], str | None, str]] = [
    (401, {"error": "Couldn't authenticate you"}, AuthError, "Couldn't authenticate you", "MIGO_SYNC_ZENDESK_API_TOKEN"),
    (403, {"error": "Forbidden", "description": "You do not have access to this page."}, AuthError, "Forbidden",
     "lacks permission"),
    (404, {"error": "RecordNotFound", "description": "Not found"}, FatalRemoteError, "RecordNotFound", "Not found"),
    (400, {"error": "TooManyValues", "description": "Parameter  cannot specify more than 100 values", "max_count": 100},
     FatalRemoteError, "TooManyValues", "more than 100 values"),
    (422, {"error": "RecordInvalid", "description": "Record validation errors",
           "details": {"email": [{"description": "Email: x is invalid", "error": "InvalidValue"}]}},
     RecordInvalid, "RecordInvalid", "Email: x is invalid"),
    (404, {"error": {"title": "No help desk at acme.zendesk.com", "message": "There is no help desk here"}},
     FatalRemoteError, "No help desk at acme.zendesk.com", "There is no help desk here"),
    (409, "Conflict", FatalRemoteError, None, "Conflict"),
]


@pytest.mark.parametrize(("status", "body", "kind", "code", "fragment"), ERRORS)
def test_error_bodies_become_typed_errors(status: int, body: Any, kind: type[Exception], code: str | None,
                                          fragment: str) -> None:
    content = body.encode() if isinstance(body, str) else orjson.dumps(body)
    recorder = Recorder(httpx.Response(status, content=content))
    with pytest.raises(kind) as caught:
        raw_client(recorder).cursor_export("tickets", start_time=0)
    error = caught.value
    assert isinstance(error, FatalRemoteError | AuthError)
    assert error.status == status and error.code == code
    assert fragment in str(error) and str(error).startswith("zendesk: ")
    assert len(recorder.requests) == 1  # none of these is retried


def test_record_invalid_on_a_job_post_rejects_that_jobs_users_with_the_reason(tmp_path: Path) -> None:
    body = {"error": "RecordInvalid", "description": "Record validation errors",
            "details": {"users": [{"description": "Users: is invalid", "error": "InvalidValue"}]}}
    recorder = Recorder(json_response(body, 422))
    adapter = make_adapter(None, tmp_path, transport=recorder.transport)
    results = adapter.write(push_mapping(), [user_unit(1), user_unit(2)])
    assert [(r.ok, r.reason) for r in results] == [(False, "RecordInvalid: Users: is invalid")] * 2


def test_auth_error_stops_a_push(tmp_path: Path) -> None:
    recorder = Recorder(json_response({"error": "Couldn't authenticate you"}, 401))
    adapter = make_adapter(None, tmp_path, transport=recorder.transport)
    with pytest.raises(AuthError, match="HTTP 401"):
        adapter.write(push_mapping(), [user_unit(1)])


def test_429_and_5xx_are_retried_for_exports_and_job_posts(tmp_path: Path) -> None:
    recorder = Recorder(httpx.Response(429, content=b"Too Many Requests", headers={"Retry-After": "2"}),
                        httpx.Response(500), httpx.Response(503), page([{"id": 1}], "c1", True))
    assert raw_client(recorder).cursor_export("tickets", start_time=0)["tickets"] == [{"id": 1}]
    assert len(recorder.requests) == 4
    done = job("V3-a", "completed", [{"index": 0, "id": 5, "status": "Created"}])
    recorder = Recorder(httpx.Response(502), json_response({"job_status": job("V3-a")}),
                        json_response({"job_statuses": [done]}))
    adapter = make_adapter(None, tmp_path, transport=recorder.transport)
    assert adapter.write(push_mapping(), [user_unit(1)])[0].ok
    assert [r.url.path for r in recorder.requests].count("/api/v2/users/create_or_update_many.json") == 2


def test_a_persistent_500_gives_up_as_unreachable() -> None:
    recorder = Recorder(httpx.Response(500))
    with pytest.raises(UnreachableError, match="gave up"):
        raw_client(recorder).cursor_export("tickets", start_time=0)


def test_non_json_success_body_is_a_fatal_error() -> None:
    recorder = Recorder(httpx.Response(200, content=b"<html>maintenance</html>"))
    with pytest.raises(FatalRemoteError, match="not JSON"):
        raw_client(recorder).cursor_export("tickets", start_time=0)


def test_ids_stay_exact_64_bit_integers() -> None:
    recorder = Recorder(page([{"id": BIG_ID, "requester_id": BIG_ID + 2}], "c", True))
    [ticket] = raw_client(recorder).cursor_export("tickets", start_time=0)["tickets"]
    assert ticket["id"] == BIG_ID and type(ticket["id"]) is int
    assert ticket["requester_id"] == BIG_ID + 2 and float(BIG_ID) != BIG_ID


@pytest.mark.timeout(30)
def test_credentials_in_the_environment_never_open_the_keyring(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment is read for both kinds first; the keyring (slow to open) only when it has neither,
    and then its OAuth token still comes before an API token."""
    from migo_sync import credentials
    from migo_sync.adapters.zendesk.adapter import ZendeskAdapter

    asked: list[str] = []
    keyring = {"zendesk.oauth_token": "kr-oauth", "zendesk.email": "kr@x.example", "zendesk.api_token": "kr-token"}
    monkeypatch.setattr(credentials, "_from_keyring", lambda user: asked.append(user) or keyring.get(user))

    def sent(environ: dict[str, str]) -> str:
        recorder = Recorder(page([], "c", True))
        project = Project(root=tmp_path, config=ProjectConfig(systems={"zendesk": {"subdomain": "acme"}}),
                          environ=environ)
        list(ZendeskAdapter(adapter_context(project, "zendesk"), transport=recorder.transport)
             .read(pull_mapping(), None))
        return str(recorder.requests[0].headers["Authorization"])

    basic = base64.b64encode(b"me@x.example/token:env-token").decode()
    assert sent({"MIGO_SYNC_ZENDESK_EMAIL": "me@x.example", "MIGO_SYNC_ZENDESK_API_TOKEN": "env-token"}) == \
        f"Basic {basic}"
    assert asked == []
    assert sent({"MIGO_SYNC_ZENDESK_OAUTH_TOKEN": "env-oauth"}) == "Bearer env-oauth" and asked == []
    assert sent({"MIGO_SYNC_ZENDESK_OAUTH_TOKEN": "env-oauth", "MIGO_SYNC_ZENDESK_EMAIL": "me@x.example",
                 "MIGO_SYNC_ZENDESK_API_TOKEN": "env-token"}) == "Bearer env-oauth" and asked == []
    assert sent({"MIGO_SYNC_ZENDESK_EMAIL": "me@x.example"}) == "Bearer kr-oauth"  # half in the environment
    assert asked == ["zendesk.oauth_token"]
    asked.clear()
    del keyring["zendesk.oauth_token"]
    mixed = base64.b64encode(b"me@x.example/token:kr-token").decode()
    assert sent({"MIGO_SYNC_ZENDESK_EMAIL": "me@x.example"}) == f"Basic {mixed}"
    assert asked == ["zendesk.oauth_token", "zendesk.api_token"]


def test_a_cursor_that_does_not_advance_is_not_followed(tmp_path: Path) -> None:
    recorder = Recorder(page([{"id": 1}], "same", False))
    adapter = make_adapter(None, tmp_path, transport=recorder.transport)
    with pytest.raises(FatalRemoteError, match="did not advance"):
        list(adapter.read(pull_mapping(), {"after_cursor": "same"}))
    assert len(recorder.requests) == 1


def test_a_cursor_loop_of_any_length_is_not_followed(tmp_path: Path) -> None:
    recorder = Recorder(page([{"id": 1}], "B", False), page([{"id": 2}], "C", False), page([{"id": 3}], "A", False))
    adapter = make_adapter(None, tmp_path, transport=recorder.transport)
    with pytest.raises(FatalRemoteError, match="came back to one already followed"):
        list(adapter.read(pull_mapping(), {"after_cursor": "A"}))  # A → B → C → A
    assert len(recorder.requests) == 3


@pytest.mark.timeout(30)
def test_the_next_cursor_page_is_asked_for_while_this_one_is_parsed() -> None:
    """The cursor is found at the end of the raw page: page 2's request is sent before page 1 is parsed
    (the parser here waits for it), and the pages, states and requests are what a plain walk gives."""
    import threading

    second_asked = threading.Event()

    def answer(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        if cursor == "c1":
            second_asked.set()
        return page([{"id": 1 if cursor is None else 2}], "c2" if cursor else "c1", cursor is not None)

    recorder = Recorder(answer)
    parsed_while_second_in_flight: list[bool] = []

    def read(body: bytes) -> None:
        parsed_while_second_in_flight.append(second_asked.wait(10))
        return None  # parsed by orjson as usual

    walked = list(cursor_pages(raw_client(recorder), "tickets", None, 0, 1000, read))
    assert parsed_while_second_in_flight[0] is True
    assert walked == [([{"id": 1}], {"after_cursor": "c1"}), ([{"id": 2}], {"after_cursor": "c2"})]
    assert [r.url.params.get("cursor") for r in recorder.requests] == [None, "c1"]


@pytest.mark.timeout(30)
def test_a_wrong_guess_of_the_next_cursor_is_discarded_and_the_parsed_one_followed() -> None:
    """A record carrying its own `after_cursor` after the envelope's: the early request follows the
    wrong one; its answer is never used, and the page the parsed envelope names is read."""
    first = (b'{"after_cursor":"c1","end_of_stream":false,"tickets":[{"id":1,'
             b'"after_cursor":"decoy","end_of_stream":false}]}')

    def answer(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        if cursor is None:
            return httpx.Response(200, content=first, headers={"Content-Type": "application/json"})
        return page([{"id": 666 if cursor == "decoy" else 2}], "c2", True)

    recorder = Recorder(answer)
    walked = list(cursor_pages(raw_client(recorder), "tickets", None, 0, 1000))
    assert [state for _items, state in walked] == [{"after_cursor": "c1"}, {"after_cursor": "c2"}]
    assert walked[1][0] == [{"id": 2}]
    assert [r.url.params.get("cursor") for r in recorder.requests] == [None, "decoy", "c1"]
    assert peek_cursor(first) == ("decoy", False) and peek_cursor(b'{"x":[]}') is None
    assert peek_cursor(b'{"after_cursor":null,"end_of_stream":true}') == (None, True)
    assert peek_cursor(b'{"after_cursor":"a\\/b","end_of_stream":false}') is None  # an escape: no guess


@pytest.mark.timeout(30)
def test_a_walk_stopped_early_leaves_no_request_in_flight() -> None:
    import threading

    release = threading.Event()
    answered: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        if cursor is not None:
            release.wait(10)  # the early read of page 2 is still in flight when the consumer stops
        answered.append(cursor)
        return page([{"id": 1}], "c1" if cursor is None else "c2", False)

    walk = cursor_pages(raw_client(Recorder(answer)), "tickets", None, 0, 1000)
    assert next(walk)[1] == {"after_cursor": "c1"}
    threading.Timer(0.2, release.set).start()
    walk.close()  # returns once the early read is answered: nothing runs on after the walk
    assert answered == [None, "c1"]


# ---- configuration --------------------------------------------------------------------------------


def test_missing_credentials_name_every_place_looked(tmp_path: Path) -> None:
    project = Project(root=tmp_path, config=ProjectConfig(systems={"zendesk": {"subdomain": "acme"}}),
                      environ={"MIGO_SYNC_NO_KEYRING": "1"})
    from migo_sync.adapters.zendesk.adapter import ZendeskAdapter

    adapter = ZendeskAdapter(adapter_context(project, "zendesk"))
    assert adapter.validate(pull_mapping()) == []  # validating needs no credentials
    with pytest.raises(ConfigError) as caught:
        list(adapter.read(pull_mapping(), None))
    for name in ("MIGO_SYNC_ZENDESK_OAUTH_TOKEN", "MIGO_SYNC_ZENDESK_EMAIL", "MIGO_SYNC_ZENDESK_API_TOKEN"):
        assert name in str(caught.value)


def test_subdomain_is_required_without_a_url(tmp_path: Path) -> None:
    project = Project(root=tmp_path, config=ProjectConfig(),
                      environ={"MIGO_SYNC_ZENDESK_OAUTH_TOKEN": "tok-123456", "MIGO_SYNC_NO_KEYRING": "1"})
    from migo_sync.adapters.zendesk.adapter import ZendeskAdapter

    with pytest.raises(ConfigError, match="subdomain"):
        list(ZendeskAdapter(adapter_context(project, "zendesk")).read(pull_mapping(), None))


def test_bad_settings_are_reported_at_once(tmp_path: Path) -> None:
    project = Project(root=tmp_path, config=ProjectConfig(systems={"zendesk": {
        "max_jobs_in_flight": 31, "page_size": 2000, "subdomian": "typo"}}), environ={})
    from migo_sync.adapters.zendesk.adapter import ZendeskAdapter

    with pytest.raises(ConfigError) as caught:
        ZendeskAdapter(adapter_context(project, "zendesk"))
    for fragment in ("max_jobs_in_flight", "page_size", "subdomian"):
        assert fragment in str(caught.value)


# ---- pacing -------------------------------------------------------------------------------------


class FakeClock:
    """Starts at an exact value; a run that sleeps more than `max_sleeps` times is a hang, failed."""

    def __init__(self, start: float = 1000.0, max_sleeps: int = 10_000) -> None:
        self.now = start
        self.slept: list[float] = []
        self.max_sleeps = max_sleeps

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        assert len(self.slept) <= self.max_sleeps, f"the limiter keeps sleeping: last waits {self.slept[-5:]}"
        self.now += seconds


def test_window_limiter_allows_ten_per_rolling_minute() -> None:
    clock = FakeClock()
    limiter = WindowLimiter(10, clock=clock, sleep=clock.sleep)
    sent: list[float] = []
    for _ in range(25):
        limiter.acquire()
        sent.append(clock.now)
        clock.now += 0.5  # the answer takes half a second
        limiter.release()
    for i, start in enumerate(sent):
        assert sum(1 for t in sent[i:] if t < start + 60) <= 10
    assert clock.slept[0] == pytest.approx(60 - 10 * 0.5 + 0.5)
    assert sent[-1] - sent[0] < 3 * 60  # waits only as long as needed


START_VALUES = [2.0**k - d for k in (1, 6, 10, 20, 26, 30, 33, 40, 44, 50) for d in (1e-9, 1e-3, 0.5, 30, 59.999)
                if 2.0**k > d] + [2.0**20 - 30, 2.0**21 - 59.5, 1_000_000.0, 1.7e9]


@pytest.mark.parametrize("start", START_VALUES)
def test_window_limiter_terminates_whatever_the_clock_reads(start: float) -> None:
    """Float clocks just below a power of two used to make `now + wait` round back to `now`, so
    the limiter slept ever shorter waits forever (issue 10). Each acquire past the limit now takes
    one sleep, whatever the starting value, and the limit still holds."""
    clock = FakeClock(start, max_sleeps=50)
    limiter = WindowLimiter(3, clock=clock, sleep=clock.sleep)
    sent: list[float] = []
    for _ in range(12):
        limiter.acquire()
        sent.append(clock.now)
        clock.now += 0.25
        limiter.release()
    assert len(clock.slept) == 3  # requests 4, 7 and 10 wait for the window; one sleep each
    assert all(55 < w <= 60.1 for w in clock.slept), clock.slept
    step = max(math.ulp(start) * 8, 2e-3)  # the clock's own resolution, plus the limiter's slack
    for i, first in enumerate(sent):
        assert sum(1 for t in sent[i:] if t < first + 60 - step) <= 3


def test_window_limiter_off_never_waits() -> None:
    clock = FakeClock()
    limiter = WindowLimiter(0, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        limiter.acquire()
        limiter.release()
    assert clock.slept == []


def test_only_incremental_requests_count_towards_the_export_limit_retries_included() -> None:
    clock = FakeClock()
    pacing = Pacing(2, 0, clock=clock, sleep=clock.sleep)
    recorder = Recorder(httpx.Response(503), page([], "c", True), json_response({"job_statuses": []}))
    client = raw_client(recorder, pacing)
    client.cursor_export("tickets", start_time=0)  # two attempts: the limit of 2 is used up
    client.job_statuses(["V3-a"])
    assert clock.slept == []
    recorder.answers = [page([], "c", True)]
    client.cursor_export("tickets", cursor="c")
    assert clock.slept and clock.slept[0] == pytest.approx(60)


def test_low_remaining_budget_spreads_requests_over_the_window() -> None:
    clock = FakeClock()
    pacing = Pacing(0, 0.1, clock=clock, sleep=clock.sleep)
    low = {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "19", "ratelimit-reset": "40"}
    recorder = Recorder(json_response({"job_statuses": []}, **low))
    client = raw_client(recorder, pacing)
    client.job_statuses(["a"])
    assert clock.slept == []
    client.job_statuses(["a"])
    assert clock.slept == [pytest.approx(40 / 20)]
    recorder.answers = [json_response({"job_statuses": []}, **{"X-Rate-Limit": "700",
                                                               "X-Rate-Limit-Remaining": "600"})]
    clock.slept.clear()
    client.job_statuses(["a"])
    client.job_statuses(["a"])
    assert clock.slept == [pytest.approx(2.0)]  # the last low answer still paces the next request once


def test_a_pacing_header_asking_for_months_is_capped_by_retry_wait_max(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGO_SYNC_RETRY_WAIT_MAX", "7")
    clock = FakeClock()
    pacing = Pacing(0, 0.1, clock=clock, sleep=clock.sleep)
    low = {"ratelimit-limit": "700", "ratelimit-remaining": "0", "ratelimit-reset": "999999999"}
    client = raw_client(Recorder(json_response({"job_statuses": []}, **low)), pacing)
    client.job_statuses(["a"])
    client.job_statuses(["a"])
    assert clock.slept == [7.0]


def test_bulk_requests_refuse_more_than_100_items() -> None:
    client = raw_client(Recorder(json_response({})))
    with pytest.raises(ValueError, match="at most 100"):
        client.upsert_users([{"external_id": str(i)} for i in range(101)])


def test_non_idempotent_500_is_never_resent() -> None:
    """A ticket create without a key is not resent after a 500 (its outcome is unknown)."""
    recorder = Recorder(httpx.Response(500))
    client = raw_client(recorder)
    with pytest.raises(MigoSyncError):
        client.http.post("/api/v2/tickets.json", json={"ticket": {}})
    assert len(recorder.requests) == 1
