"""Zendesk Support wire calls: one method per endpoint, JSON in and out (orjson: ids stay exact ints).

Pacing lives in `PacedTransport`, under the core's retrying transport, so that every attempt
(retries included) is counted and spaced:

- the incremental export endpoints allow N requests per rolling minute (10; 30 with High Volume):
  `WindowLimiter` never sends the N+1th inside a minute of the first's answer;
- `X-Rate-Limit-Remaining` (or `ratelimit-remaining`) below a share of `X-Rate-Limit` spreads the
  remaining budget over the rest of the window (`ratelimit-reset`), instead of hitting the wall;
- 429 + `Retry-After` is left to the core HTTP layer, which honours it;
- a 429 WITHOUT `Retry-After` to a bulk-job submission is Zendesk's job limit (`TooManyJobs`: the
  account's 30 job slots are taken; its rate limits always say when to come back): `JobLimitReached`,
  raised at once, not retried blindly by the core. Nothing was created; only jobs finishing free a
  slot, so the job runner (push.py) waits on its own jobs and submits the refused job again.

`classify()` turns Zendesk's JSON errors into the error tree: 401/403 → AuthError, 422 →
RecordInvalid (record-level reasons), 400 `TooManyValues` and other 4xx → FatalRemoteError.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson

from migo_sync.errors import AuthError, FatalRemoteError, OutcomeUnknownError
from migo_sync.http import RetryPolicy
from migo_sync.progress import announce_wait, per_minute
from migo_sync.redact import redact

SYSTEM = "zendesk"
log = logging.getLogger("migo_sync.zendesk")
MAX_BULK = 100  # users/organizations per bulk job, ids per show_many
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
IDEMPOTENT = {"idempotent": True}  # upserts keyed by external_id: a resend changes nothing more


class RecordInvalid(FatalRemoteError):
    """HTTP 422: Zendesk refused the record(s); `reason` is its own explanation, for the rejects."""

    def __init__(self, message: str, reason: str, *, code: str | None = None) -> None:
        super().__init__(SYSTEM, message, status=422, code=code)
        self.reason = reason


class WindowLimiter:
    """At most `limit` requests in any `period` seconds, counted from each request's answer
    (later than its arrival at the server, so the window is never undercounted).

    Times are kept in integer nanoseconds and an entry leaves the window a little early (`slack`:
    1 ms, or four float steps of the clock if those are coarser). With a float clock near a power of
    two, `now + wait` rounds, and a loop whose exit hangs on that sum can sleep ever shorter waits
    without end. Here every wait is at least the slack, which the clock's rounding cannot undo, so
    one wait always ends the loop.
    """

    SLACK_NS = 1_000_000  # 1 ms: far below the window's own slack (answers arrive after the server counts)

    def __init__(self, limit: int, period: float = 60.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limit = limit
        self.period = period
        self.period_ns = round(period * 1_000_000_000)
        self.clock = clock
        self.sleep = sleep
        self.done: deque[int] = deque()
        self.in_flight = 0
        self._lock = threading.Condition()

    def _now_ns(self) -> tuple[int, int]:
        """The clock in integer nanoseconds, and the slack its float resolution calls for."""
        now = self.clock()
        return round(now * 1_000_000_000), max(self.SLACK_NS, math.ceil(math.ulp(now) * 4_000_000_000))

    def acquire(self) -> None:
        if self.limit <= 0:
            return
        with self._lock:
            while True:
                now, slack = self._now_ns()
                while self.done and now - self.done[0] >= self.period_ns - slack:
                    self.done.popleft()
                if len(self.done) + self.in_flight < self.limit:
                    self.in_flight += 1
                    return
                # the oldest answer leaves the window after `wait_ns`; 50 ms when only in-flight requests fill it
                wait_ns = self.period_ns - (now - self.done[0]) if self.done else 50_000_000
                wait_ns = max(wait_ns, slack)
                if wait_ns >= 1_000_000_000:
                    log.info("zendesk: %d incremental export requests in the last %.0f s (the limit); waiting %.0f s",
                             self.limit, self.period, wait_ns / 1e9)
                announce_wait(wait_ns / 1e9, f"Zendesk export limit, {per_minute(self.limit, self.period)}")
                self._lock.release()
                try:
                    self.sleep(wait_ns / 1e9)
                finally:
                    self._lock.acquire()

    def release(self) -> None:
        if self.limit <= 0:
            return
        with self._lock:
            self.in_flight -= 1
            self.done.append(self._now_ns()[0])


class Pacing:
    """Client-side pacing shared by every request of one adapter (see the module docstring)."""

    def __init__(self, incremental_per_minute: int, slow_down_below: float, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 wait_max: float | None = None) -> None:
        self.incremental = WindowLimiter(incremental_per_minute, clock=clock, sleep=sleep)
        self.slow_down_below = slow_down_below
        # A pacing header is a server-driven wait like Retry-After: capped the same way.
        self.wait_max = RetryPolicy.from_env().wait_max if wait_max is None else wait_max
        self.clock = clock
        self.sleep = sleep
        self.not_before = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            delay = self.not_before - self.clock()
        if delay > 0:
            announce_wait(delay, "Zendesk rate limit nearly spent: spreading the rest over the window")
            self.sleep(delay)

    def observe(self, headers: httpx.Headers) -> None:
        """Slow down once the remaining budget runs low: spread it over the rest of the window."""
        if not self.slow_down_below:
            return
        limit = _int(headers.get("x-rate-limit") or headers.get("ratelimit-limit"))
        remaining = _int(headers.get("x-rate-limit-remaining") or headers.get("ratelimit-remaining"))
        if not limit or remaining is None or remaining >= limit * self.slow_down_below:
            return
        reset = _int(headers.get("ratelimit-reset"))
        window = float(reset) if reset is not None else 60.0
        with self._lock:
            self.not_before = max(self.not_before, self.clock() + min(window / (remaining + 1), self.wait_max))


class JobLimitReached(FatalRemoteError):
    """Zendesk refused a bulk job: the account's job slots are all taken (nothing was created)."""


def _job_limit(request: httpx.Request, response: httpx.Response) -> bool:
    """A refused bulk-job submission (`*_many.json`): 429 with no `Retry-After` (see the module docstring)."""
    return (response.status_code == 429 and "retry-after" not in response.headers
            and request.method in ("POST", "PUT") and request.url.path.endswith("_many.json"))


class PacedTransport(httpx.BaseTransport):
    """Wraps the network transport: waits as `Pacing` says before each attempt, learns after it."""

    def __init__(self, inner: httpx.BaseTransport, pacing: Pacing) -> None:
        self.inner = inner
        self.pacing = pacing

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        incremental = "/incremental/" in request.url.path
        if incremental:
            self.pacing.incremental.acquire()
        try:
            self.pacing.wait()
            response = self.inner.handle_request(request)
        finally:
            if incremental:
                self.pacing.incremental.release()
        self.pacing.observe(response.headers)
        if _job_limit(request, response):
            response.close()
            raise JobLimitReached(SYSTEM, f"HTTP 429 TooManyJobs on {request.method} {request.url.path}: "
                                  "Zendesk's job limit (jobs queued or running per account) is reached", status=429,
                                  code="TooManyJobs")
        response.request = request  # httpx sets it only later; classify() names the request it failed
        return response

    def close(self) -> None:
        self.inner.close()


def classify(response: httpx.Response) -> Exception | None:
    """Zendesk's JSON error envelope → the error tree (429/503 never get here: the core retries them)."""
    status = response.status_code
    if status < 400:
        return None
    code, description, details = _error_body(response)
    request = response.request
    where = f"{request.method} {request.url.path}"
    text = f"HTTP {status} {code or ''}{': ' if code and description else ''}{description or ''}".strip()
    if status in (401, 403):
        hint = ("check MIGO_SYNC_ZENDESK_EMAIL and MIGO_SYNC_ZENDESK_API_TOKEN (token access must be enabled "
                "in Admin Center), or MIGO_SYNC_ZENDESK_OAUTH_TOKEN" if status == 401 else
                "the user lacks permission (bulk user imports may need enabling by Zendesk support)")
        return AuthError(SYSTEM, f"{text} on {where}; {hint}", status=status, code=code)
    if status == 422:
        reason = details or description or code or "record invalid"
        return RecordInvalid(f"{text} on {where}: {reason}", reason, code=code)
    if status >= 500:
        return OutcomeUnknownError(SYSTEM, f"{text} on {where}", status=status, code=code)
    return FatalRemoteError(SYSTEM, f"{text} on {where}", status=status, code=code)


def _error_body(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """(code, description, details text) from `{"error": ..., "description": ..., "details": ...}`;
    `error` may also be `{"title", "message"}`, and some bodies are plain text."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        text = response.text.strip()[:200]
        return None, redact(text) if text else None, None
    if not isinstance(body, dict):
        return None, None, None
    error = body.get("error")
    description = body.get("description")
    if isinstance(error, dict):
        nested = error
        error, description = nested.get("title"), nested.get("message") or description
    code = str(error) if error is not None else None
    return code, redact(str(description)) if description else None, _details_text(body.get("details"))


def _details_text(details: Any) -> str | None:
    """`details` is {field: [{"description": ..., "error": ...}]} (or text): one readable line."""
    if not details:
        return None
    if isinstance(details, dict):
        parts = []
        for field, problems in details.items():
            for problem in problems if isinstance(problems, list) else [problems]:
                text = problem.get("description") if isinstance(problem, dict) else problem
                parts.append(str(text or field))
        return redact("; ".join(parts))
    return redact(str(details))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _default(value: Any) -> Any:
    """JSON for warehouse values: Decimal as text (exact), dates and datetimes as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to Zendesk")


def dumps(body: Any) -> bytes:
    return orjson.dumps(body, default=_default)


FastRead = Callable[[bytes], dict[str, Any] | None]  # a page body → its JSON, or None: parse it as usual


class ZendeskClient:
    """One method per Zendesk endpoint migo-sync uses. Takes a configured httpx.Client."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return _parse(self.http.get(path, params=params, headers={"Accept": "application/json"}))

    def _send(self, method: str, path: str, body: Any, *, idempotent: bool = False) -> dict[str, Any]:
        response = self.http.request(method, path, content=dumps(body), headers=JSON_HEADERS,
                                     extensions=IDEMPOTENT if idempotent else None)
        return _parse(response)

    def me(self) -> dict[str, Any]:
        user: dict[str, Any] = self._get("/api/v2/users/me.json")["user"]
        return user

    def cursor_export(self, resource: str, *, cursor: str | None = None, start_time: int | None = None,
                      per_page: int | None = None, exclude_deleted: bool = False,
                      read: FastRead | None = None) -> dict[str, Any]:
        """GET /api/v2/incremental/{resource}/cursor.json: `start_time` on the first call, then `cursor`.
        `read` may parse the body its own way (into Arrow); when it answers None, orjson does."""
        return page_of(self.cursor_export_raw(resource, cursor=cursor, start_time=start_time, per_page=per_page,
                                              exclude_deleted=exclude_deleted), read)

    def cursor_export_raw(self, resource: str, *, cursor: str | None = None, start_time: int | None = None,
                          per_page: int | None = None, exclude_deleted: bool = False) -> httpx.Response:
        """The cursor export's answer, not yet parsed (`page_of` parses it): the next page can be
        asked for while this one is parsed."""
        params: dict[str, Any] = {"cursor": cursor} if cursor is not None else {"start_time": start_time or 0}
        if per_page:
            params["per_page"] = per_page
        if exclude_deleted:
            params["exclude_deleted"] = "true"
        return self.http.get(f"/api/v2/incremental/{resource}/cursor.json", params=params,
                             headers={"Accept": "application/json"})

    def time_export(self, resource: str, *, start_time: int, per_page: int | None = None) -> dict[str, Any]:
        """GET /api/v2/incremental/{resource}.json?start_time=: the time-based export."""
        params: dict[str, Any] = {"start_time": start_time}
        if per_page:
            params["per_page"] = per_page
        return self._get(f"/api/v2/incremental/{resource}.json", params)

    def upsert_users(self, users: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """POST /api/v2/users/create_or_update_many.json (≤100 users) → its queued job_status."""
        _check_size(users)
        return _job(self._send("POST", "/api/v2/users/create_or_update_many.json", {"users": list(users)},
                               idempotent=True))

    def organizations_by_external_id(self, external_ids: Sequence[str]) -> list[dict[str, Any]]:
        _check_size(external_ids)
        body = self._get("/api/v2/organizations/show_many.json", {"external_ids": ",".join(external_ids)})
        return list(body.get("organizations") or [])

    def create_organizations(self, organizations: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """POST /api/v2/organizations/create_many.json: external_id is unique, so a resend is refused."""
        _check_size(organizations)
        return _job(self._send("POST", "/api/v2/organizations/create_many.json",
                               {"organizations": list(organizations)}, idempotent=True))

    def update_organizations(self, organizations: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """PUT /api/v2/organizations/update_many.json (each item carries its id)."""
        _check_size(organizations)
        return _job(self._send("PUT", "/api/v2/organizations/update_many.json",
                               {"organizations": list(organizations)}))

    def job_statuses(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """GET /api/v2/job_statuses/show_many.json?ids=: expired jobs are simply absent."""
        _check_size(ids)
        body = self._get("/api/v2/job_statuses/show_many.json", {"ids": ",".join(ids)})
        return list(body.get("job_statuses") or [])

    def fields(self, kind: str) -> list[dict[str, Any]]:
        """GET /api/v2/{ticket,user,organization}_fields.json (custom field definitions)."""
        name = f"{kind}_fields"
        out: list[dict[str, Any]] = []
        page: str | None = f"/api/v2/{name}.json"
        while page:
            body = self._get(page)
            out.extend(body.get(name) or [])
            page = body.get("next_page")
        return out


def _check_size(items: Sequence[Any]) -> None:
    if len(items) > MAX_BULK:
        raise ValueError(f"at most {MAX_BULK} items per Zendesk bulk request, got {len(items)}")


def _job(body: dict[str, Any]) -> dict[str, Any]:
    status = body.get("job_status")
    if not isinstance(status, dict) or not status.get("id"):
        raise FatalRemoteError(SYSTEM, "a bulk request was accepted without a job_status id")
    return status


def page_of(response: httpx.Response, read: FastRead | None = None) -> dict[str, Any]:
    """An export answer's JSON: `read`'s (into Arrow) when it takes the body, else orjson's."""
    return (read(response.content) if read is not None else None) or _parse(response)


_AFTER_CURSOR = re.compile(rb'"after_cursor"\s*:\s*(?:null|"([A-Za-z0-9+/=_.~%-]*)")')
_END_OF_STREAM = re.compile(rb'"end_of_stream"\s*:\s*(true|false)')


def peek_cursor(body: bytes) -> tuple[str | None, bool] | None:
    """(after_cursor, end_of_stream) as a cursor page's envelope seems to give them, found from the
    end of the raw body without parsing it; None when it cannot tell. Only a guess, to ask for the
    next page early: the parsed page decides (a wrong guess costs one discarded read, never data)."""
    found = []
    for pattern, name in ((_AFTER_CURSOR, b'"after_cursor"'), (_END_OF_STREAM, b'"end_of_stream"')):
        at = body.rfind(name)
        match = pattern.match(body, at) if at >= 0 else None
        if match is None:
            return None
        found.append(match.group(1))
    after, end = found
    return (None if after is None else after.decode("ascii")), end == b"true"


def _parse(response: httpx.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise FatalRemoteError(SYSTEM, f"HTTP {response.status_code} from {response.request.url.path} is not JSON "
                                  f"({len(response.content)} bytes)", status=response.status_code) from exc
    if not isinstance(body, dict):
        raise FatalRemoteError(SYSTEM, f"unexpected JSON from {response.request.url.path}")
    return body
