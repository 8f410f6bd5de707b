"""A protocol-faithful Zendesk Support emulator (api-reference §3), mounted at `/zendesk`.

What it reproduces: Basic `{email}/token:{token}` and Bearer auth; the cursor-based incremental
exports (opaque base64 cursors, ≤1000 per page, `after_cursor`/`after_url`/`end_of_stream`) and the
time-based ones (`next_page`, `end_time`, `count`); bulk upsert jobs that move queued → working →
completed across polls, with per-item results; 400 `TooManyValues` over 100 items; the 30-job
queue; `Idempotency-Key` on ticket create; rate-limit headers on every response and 429 +
`Retry-After` past the account limit or the 10/minute incremental limit.

Knobs (`self.options`; also `POST /zendesk/_options` at run time, `DELETE` to restore):
see `DEFAULTS`. The knobs route `/_options` is sandbox-only: no Zendesk path starts with `/_`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from migo_sync.adapters.zendesk import seed
from migo_sync.adapters.zendesk.sandbox import SANDBOX_API_TOKEN, SANDBOX_EMAIL, SANDBOX_OAUTH_TOKEN
from migo_sync.errors import ConfigError
from migo_sync.sandbox.emulator import Emulator

DEFAULTS: dict[str, Any] = {
    "users": 2000,                       # end users C000001.. (plus the API admin and the agents)
    "agents": 12,
    "organizations": 8,
    "tickets": 5000,                     # stored tickets across 2026
    "bulk_tickets": 0,                   # extra tickets built on demand (benchmarks), before the stored ones
    "deleted_share": 0.02,               # share of seeded tickets with status "deleted"
    "account_limit_per_minute": 700,     # Enterprise plan; 0: no limit (headers still sent)
    "incremental_limit_per_minute": 10,  # 30 with High Volume; 0: off
    "per_page_max": 1000,
    "exclude_recent_seconds": 0,         # the real export hides changes of the last 60 s
    "job_limit": 30,                     # jobs queued or working per account
    "job_polls_to_complete": 2,          # polls that take a job queued → working → completed
    "job_seconds": 10.0,                 # a job also completes on its own this long after submission
    "job_retention_seconds": 86_400,     # docs: ~1 day; forums: an hour (api-reference §6)
    "job_retention_count": 0,            # keep only the last N finished jobs (0: no cap)
    "bulk_import_enabled": True,         # False: bulk user imports answer 403 (not enabled by Zendesk)
    "exports_forbidden": False,          # True: incremental exports answer 403 (an agent, not an admin)
    "idempotency_ttl_seconds": 7_200,    # Idempotency-Key retention on ticket create (unverified)
    "idempotency_conflict_status": 400,  # key reused with another payload (unverified)
}
RESEED = ("users", "agents", "organizations", "tickets", "bulk_tickets", "deleted_share")
MAX_ITEMS = 100
TOO_MANY = {"error": "TooManyValues", "description": "Parameter  cannot specify more than 100 values",
            "max_count": MAX_ITEMS}
FORBIDDEN = {"error": "Forbidden", "description": "You do not have access to this page. Please contact the "
                                                  "account owner of this help desk for further help."}
RESOURCES = ("tickets", "users", "organizations")
USER_KEYS = ("name", "email", "phone", "role", "organization_id", "time_zone", "locale", "verified",
             "suspended", "tags", "notes", "details", "alias", "signature")
ORG_KEYS = ("name", "details", "notes", "domain_names", "group_id", "shared_tickets", "shared_comments", "tags")


class ApiError(Exception):
    """An error answer in Zendesk's JSON envelope."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("error"))
        self.status = status
        self.body = body
        self.headers = headers or {}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def _invalid(error: str, description: str) -> ApiError:
    return ApiError(400, {"error": error, "description": description})


class Feed:
    """One resource's change log, the order the incremental exports walk.

    Each change appends a position (ts, id); an id's live entry is its last position, so a record
    changed again moves to the end and is exported again (as on Zendesk). Positions below
    `virtual` are bulk tickets built on demand: position p is ticket p + 1 at `seed.bulk_ts(p)`.
    """

    def __init__(self, virtual: int = 0) -> None:
        self.virtual = virtual
        self.ts: list[int] = []
        self.ids: list[int] = []
        self.live: dict[int, int] = {}

    def __len__(self) -> int:
        return self.virtual + len(self.ts)

    def append(self, rid: int, ts: int) -> int:
        """Log a change; returns its timestamp (never before the last one: the log stays sorted)."""
        if len(self):
            ts = max(ts, self.ts_at(len(self) - 1))
        self.ts.append(ts)
        self.ids.append(rid)
        self.live[rid] = len(self) - 1
        return ts

    def ts_at(self, pos: int) -> int:
        return seed.bulk_ts(pos) if pos < self.virtual else self.ts[pos - self.virtual]

    def id_at(self, pos: int) -> int:
        return pos + 1 if pos < self.virtual else self.ids[pos - self.virtual]

    def is_live(self, pos: int) -> bool:
        return self.live.get(self.id_at(pos), pos if pos < self.virtual else -1) == pos

    def first_at(self, ts: int) -> int:
        """First position whose timestamp is >= ts."""
        lo, hi = 0, len(self)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.ts_at(mid) < ts:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def scan(self, start: int, limit: int, end: int) -> tuple[list[int], int]:
        """Live positions from `start` (at most `limit`, before `end`) and the position after them."""
        found: list[int] = []
        pos = start
        while pos < end and len(found) < limit:
            if self.is_live(pos):
                found.append(pos)
            pos += 1
        return found, pos

    def state(self) -> dict[str, Any]:
        return {"virtual": self.virtual, "ts": self.ts, "ids": self.ids}

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Feed:
        feed = cls(int(data["virtual"]))
        feed.ts, feed.ids = list(data["ts"]), list(data["ids"])
        feed.live = {rid: feed.virtual + i for i, rid in enumerate(feed.ids)}
        return feed


class ZendeskEmulator(Emulator):
    """Zendesk Support: users, organizations, tickets, bulk jobs, exports and rate limits."""

    system: ClassVar[str] = "zendesk"
    url_suffixes: ClassVar[dict[str, str]] = {"url": ""}

    def __init__(self, *, seed: int = 0, options: dict[str, Any] | None = None) -> None:
        unknown = sorted(set(options or {}) - set(DEFAULTS))
        if unknown:
            raise ConfigError(f"zendesk emulator: unknown option {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(DEFAULTS))})")
        self.initial_options = {**DEFAULTS, **(options or {})}
        super().__init__(seed=seed, options=self.initial_options)

    # ---- state ---------------------------------------------------------------------------------

    def reset(self) -> None:
        opts = self.options = {**DEFAULTS, **self.options}
        self._account_window: tuple[float, int] = (0.0, 0)
        self._incremental: deque[float] = deque()
        pristine = (self.seed, tuple(opts[k] for k in RESEED))
        if getattr(self, "_pristine", None) == pristine:
            return  # nothing changed since the last seeding: seeding again would give the same state
        self.records: dict[str, dict[int, dict[str, Any]]] = {r: {} for r in RESOURCES}
        self.blobs: dict[str, dict[int, bytes]] = {r: {} for r in RESOURCES}
        self.feeds = {r: Feed(int(opts["bulk_tickets"]) if r == "tickets" else 0) for r in RESOURCES}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.writes: Counter[int] = Counter()  # user id → upserts applied (tests count these)
        self.user_by_ext: dict[str, int] = {}
        self.user_by_email: dict[str, int] = {}
        self.job_counter = 0
        orgs = seed.seed_organizations(self.rng, int(opts["organizations"]))
        users = seed.seed_users(self.rng, int(opts["users"]), int(opts["agents"]), [o["id"] for o in orgs],
                                SANDBOX_EMAIL)
        first_ticket = int(opts["bulk_tickets"]) + 1
        tickets = seed.seed_tickets(self.rng, int(opts["tickets"]), first_ticket, users,
                                    float(opts["deleted_share"]))
        for resource, items, stamp in (("organizations", orgs, "updated_at"), ("users", users, "updated_at"),
                                       ("tickets", tickets, "updated_at")):
            for item in sorted(items, key=lambda i: (i[stamp], i["id"])):
                self._store(resource, item, _epoch(item[stamp]))
        self.next_id = {"users": users[-1]["id"] + 1, "organizations": seed.ORG_ID_BASE + len(orgs) + 1000,
                        "tickets": first_ticket + len(tickets)}
        self._pristine: tuple[Any, ...] | None = pristine

    def state(self) -> dict[str, Any]:
        return {
            "records": {r: list(self.records[r].values()) for r in RESOURCES},
            "feeds": {r: self.feeds[r].state() for r in RESOURCES},
            "jobs": list(self.jobs.values()), "idempotency": self.idempotency,
            "writes": {str(k): v for k, v in self.writes.items()}, "next_id": self.next_id,
            "job_counter": self.job_counter,
        }

    def load(self, state: dict[str, Any]) -> None:
        self._pristine = None
        self.records = {r: {int(i["id"]): i for i in state["records"][r]} for r in RESOURCES}
        self.blobs = {r: {rid: orjson.dumps(item) for rid, item in self.records[r].items()} for r in RESOURCES}
        self.user_by_ext, self.user_by_email = {}, {}
        for item in self.records["users"].values():
            self._index_user(None, item)
        self.feeds = {r: Feed.restore(state["feeds"][r]) for r in RESOURCES}
        self.jobs = {j["id"]: j for j in state["jobs"]}
        self.idempotency = dict(state["idempotency"])
        self.writes = Counter({int(k): int(v) for k, v in state["writes"].items()})
        self.next_id = {k: int(v) for k, v in state["next_id"].items()}
        self.job_counter = int(state["job_counter"])

    def dump(self) -> dict[str, Any]:
        """Users, organizations and stored tickets; bulk tickets are only counted."""
        return {
            "users": list(self.records["users"].values()),
            "organizations": list(self.records["organizations"].values()),
            "tickets": list(self.records["tickets"].values()),
            "bulk_tickets": self.feeds["tickets"].virtual,
            "jobs": [{**{k: j[k] for k in ("id", "kind", "status", "total")},
                      "external_ids": [None if i.get("external_id") is None else str(i["external_id"])
                                       for i in j["items"]]} for j in self.jobs.values()],
            "user_writes": {str(k): v for k, v in sorted(self.writes.items())},
        }

    def _store(self, resource: str, item: dict[str, Any], ts: int) -> None:
        """Save a record and log the change (stamping its time) so the exports see it."""
        self._pristine = None
        ts = self.feeds[resource].append(item["id"], ts)
        if resource == "tickets":
            item["generated_timestamp"] = ts
        item["updated_at"] = seed.iso(ts)
        old = self.records[resource].get(item["id"])
        self.records[resource][item["id"]] = item
        self.blobs[resource][item["id"]] = orjson.dumps(item)
        if resource == "users":
            self._index_user(old, item)

    def _index_user(self, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        for index, key in ((self.user_by_ext, "external_id"), (self.user_by_email, "email")):
            if old is not None and old[key] and index.get(_norm(old[key], key)) == old["id"]:
                del index[_norm(old[key], key)]
            if new[key]:
                index[_norm(new[key], key)] = new["id"]

    def _blob(self, resource: str, pos: int) -> bytes:
        feed = self.feeds[resource]
        if pos < feed.virtual:
            return orjson.dumps(seed.bulk_ticket(pos))
        return self.blobs[resource][feed.id_at(pos)]

    # ---- HTTP plumbing -------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, Callable[[Request], Awaitable[Response]], tuple[str, ...], bool]] = [
            ("/api/v2/incremental/tickets/cursor", self.cursor_export, ("GET",), True),
            ("/api/v2/incremental/users/cursor", self.cursor_export, ("GET",), True),
            ("/api/v2/incremental/tickets", self.time_export, ("GET",), True),
            ("/api/v2/incremental/users", self.time_export, ("GET",), True),
            ("/api/v2/incremental/organizations", self.time_export, ("GET",), True),
            ("/api/v2/users/create_or_update_many", self.users_upsert_many, ("POST",), False),
            ("/api/v2/users/create_or_update", self.users_upsert_one, ("POST",), False),
            ("/api/v2/users/me", self.users_me, ("GET",), False),
            ("/api/v2/organizations/show_many", self.organizations_show_many, ("GET",), False),
            ("/api/v2/organizations/create_many", self.organizations_create_many, ("POST",), False),
            ("/api/v2/organizations/update_many", self.organizations_update_many, ("PUT",), False),
            ("/api/v2/job_statuses/show_many", self.job_statuses_show_many, ("GET",), False),
            ("/api/v2/job_statuses/{job_id}", self.job_status, ("GET",), False),
            ("/api/v2/tickets", self.tickets_create, ("POST",), False),
            ("/api/v2/tickets/{ticket_id}", self.tickets_delete, ("DELETE",), False),
            ("/api/v2/ticket_fields", self.fields_list, ("GET",), False),
            ("/api/v2/user_fields", self.fields_list, ("GET",), False),
            ("/api/v2/organization_fields", self.fields_list, ("GET",), False),
        ]
        routes: list[BaseRoute] = [Route("/_options", self.options_route, methods=["GET", "POST", "DELETE"])]
        for path, handler, methods, incremental in table:
            endpoint = self._endpoint(handler, incremental)
            # ".json" first: a bare "{job_id}" would otherwise swallow "ID.json".
            routes += [Route(path + ".json", endpoint, methods=list(methods)),
                       Route(path, endpoint, methods=list(methods))]
        return routes

    def _endpoint(self, handler: Callable[[Request], Awaitable[Response]],
                  incremental: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            now = time.time()
            try:
                if not self._authorized(request):
                    raise ApiError(401, {"error": "Couldn't authenticate you"})
                self._throttle_account(now)
                if incremental:
                    if self.options.get("exports_forbidden"):
                        raise ApiError(403, FORBIDDEN)  # exports are for admins only
                    self._throttle_incremental(now)
                self._age_jobs(now)
                response = await handler(request)
            except ApiError as exc:
                response = _json(exc.body, exc.status, exc.headers)
            self._rate_headers(response, now)
            return response

        return endpoint

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value == SANDBOX_OAUTH_TOKEN
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == f"{SANDBOX_EMAIL}/token" and password == SANDBOX_API_TOKEN

    def _throttle_account(self, now: float) -> None:
        """Fixed one-minute windows, as Zendesk's per-minute account limit."""
        start, used = self._account_window
        if now - start >= 60:
            start, used = now, 0
        limit = int(self.options["account_limit_per_minute"])
        if limit and used >= limit:
            raise ApiError(429, {"error": "APIRateLimitExceeded",
                                 "description": "Number of allowed API requests per minute exceeded"},
                           {"Retry-After": str(max(1, math.ceil(start + 60 - now)))})
        self._account_window = (start, used + 1)

    def _throttle_incremental(self, now: float) -> None:
        """A rolling minute: at most N incremental export requests in any 60 seconds."""
        limit = int(self.options["incremental_limit_per_minute"])
        window = self._incremental
        while window and now - window[0] >= 60:
            window.popleft()
        if limit and len(window) >= limit:
            raise ApiError(429, {"error": "APIRateLimitExceeded", "description":
                                 f"Number of allowed incremental export API requests per minute exceeded ({limit})"},
                           {"Retry-After": str(max(1, math.ceil(window[0] + 60 - now)))})
        window.append(now)

    def _rate_headers(self, response: Response, now: float) -> None:
        limit = int(self.options["account_limit_per_minute"]) or 700
        start, used = self._account_window
        remaining = max(0, limit - used) if self.options["account_limit_per_minute"] else limit
        reset = max(0, math.ceil(start + 60 - now)) if self.options["account_limit_per_minute"] else 60
        response.headers.update({
            "X-Rate-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining),
            "ratelimit-limit": str(limit), "ratelimit-remaining": str(remaining), "ratelimit-reset": str(reset),
        })

    def error_response(self, status: int, request: Request, retry_after: int | None = None) -> Response:
        """Injected faults in Zendesk's shapes: 429 bodies are plain text, 5xx are JSON."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if status == 429:
            response = Response("Too Many Requests", status_code=429, headers=headers, media_type="text/plain")
        else:
            error = "ServiceUnavailable" if status == 503 else "InternalServerError"
            response = _json({"error": error, "description": "injected fault"}, status, headers)
        self._rate_headers(response, time.time())
        return response

    async def options_route(self, request: Request) -> Response:
        """Sandbox-only: read (GET), change (POST, JSON object) or restore (DELETE) the knobs."""
        if request.method != "GET":
            changes = dict(self.initial_options) if request.method == "DELETE" else orjson.loads(await request.body())
            unknown = sorted(set(changes) - set(DEFAULTS))
            if unknown:
                return _json({"error": "UnknownOption", "description": f"unknown option {', '.join(unknown)} "
                                                                       f"(known: {', '.join(sorted(DEFAULTS))})"}, 400)
            reseed = any(changes[k] != self.options.get(k) for k in changes if k in RESEED)
            self.options.update(changes)
            if reseed:
                self.rng.seed(self.seed)
                self.reset()
        return _json(self.options)

    # ---- incremental exports -------------------------------------------------------------------

    def _per_page(self, request: Request) -> int:
        raw = request.query_params.get("per_page")
        maximum = int(self.options["per_page_max"])
        try:
            return min(maximum, max(1, int(raw))) if raw else maximum
        except ValueError as exc:
            raise _invalid("InvalidValue", "per_page must be an integer") from exc

    def _export_end(self, feed: Feed, now: float) -> int:
        recent = float(self.options["exclude_recent_seconds"])
        return feed.first_at(int(now - recent) + 1) if recent else len(feed)

    def _start_time(self, request: Request, now: float) -> int:
        raw = request.query_params.get("start_time")
        if raw is None:
            raise _invalid("InvalidValue", "start_time is required")
        try:
            start = int(raw)
        except ValueError as exc:
            raise _invalid("InvalidValue", "start_time must be a Unix epoch time in seconds") from exc
        if start > now - 60:
            raise _invalid("InvalidValue", "Too recent start_time. Use a start_time older than 1 minute")
        return start

    async def cursor_export(self, request: Request) -> Response:
        """GET /api/v2/incremental/{tickets,users}/cursor: start_time once, then cursor."""
        resource = request.url.path.split("/incremental/")[1].split("/")[0]
        feed, now = self.feeds[resource], time.time()
        cursor = request.query_params.get("cursor")
        start = _decode_cursor(cursor) if cursor else feed.first_at(self._start_time(request, now))
        end = self._export_end(feed, now)
        positions, after = feed.scan(min(start, len(feed)), self._per_page(request), end)
        if resource == "tickets" and request.query_params.get("exclude_deleted") == "true":
            positions = [p for p in positions if b'"status":"deleted"' not in self._blob("tickets", p)]
        after_cursor = _encode_cursor(feed.ts_at(after - 1) if after else 0, after)
        params = {k: v for k, v in request.query_params.items() if k not in ("cursor", "start_time")}
        after_url = str(request.url.replace_query_params(**params, cursor=after_cursor))
        body = b"".join((
            b'{"', resource.encode(), b'":[', b",".join(self._blob(resource, p) for p in positions),
            b'],"after_url":', orjson.dumps(after_url), b',"after_cursor":', orjson.dumps(after_cursor),
            b',"before_url":null,"before_cursor":null,"end_of_stream":', b"true" if after >= end else b"false",
            b"}"))
        return Response(body, media_type="application/json")

    async def time_export(self, request: Request) -> Response:
        """GET /api/v2/incremental/{resource}?start_time=: inclusive, so pages may overlap (as on Zendesk)."""
        resource = request.url.path.split("/incremental/")[1].split("/")[0].removesuffix(".json")
        feed, now = self.feeds[resource], time.time()
        start_time = self._start_time(request, now)
        end = self._export_end(feed, now)
        positions, after = feed.scan(feed.first_at(start_time), self._per_page(request), end)
        while positions and after < end and feed.ts_at(after) == feed.ts_at(positions[-1]):
            if feed.is_live(after):  # never split one second's changes across pages: no endless loop
                positions.append(after)
            after += 1
        end_time = feed.ts_at(positions[-1]) if positions else start_time
        params = {k: v for k, v in request.query_params.items() if k != "start_time"}
        body = b"".join((
            b'{"', resource.encode(), b'":[', b",".join(self._blob(resource, p) for p in positions),
            b'],"next_page":', orjson.dumps(str(request.url.replace_query_params(**params, start_time=end_time))),
            b',"count":', str(len(positions)).encode(), b',"end_of_stream":', b"true" if after >= end else b"false",
            b',"end_time":', str(end_time).encode(), b"}"))
        return Response(body, media_type="application/json")

    # ---- users ---------------------------------------------------------------------------------

    async def users_me(self, request: Request) -> Response:
        me = next(u for u in self.records["users"].values() if u["email"] == SANDBOX_EMAIL)
        return _json({"user": me})

    async def users_upsert_many(self, request: Request) -> Response:
        """POST /api/v2/users/create_or_update_many: ≤100 users, answered with a queued job."""
        if not self.options["bulk_import_enabled"]:
            raise ApiError(403, FORBIDDEN)
        items = _items(await _body(request), "users")
        return self._submit(request, "users_upsert", items)

    async def users_upsert_one(self, request: Request) -> Response:
        """POST /api/v2/users/create_or_update: synchronous; 201 created, 200 updated."""
        body = await _body(request)
        if not isinstance(body.get("user"), dict):
            raise ApiError(400, {"error": "InvalidValue", "description": "user is required"})
        result = self._upsert_user(body["user"], 0)
        if "error" in result:
            raise ApiError(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                 "details": {"base": [{"error": result["error"], "description": result["details"]}]}})
        return _json({"user": self.records["users"][result["id"]]}, 201 if result["status"] == "Created" else 200)

    def _upsert_user(self, data: dict[str, Any], index: int) -> dict[str, Any]:
        """Match on external_id, then email; create when neither matches. One job result item."""
        ext = None if data.get("external_id") is None else str(data["external_id"])
        email = data.get("email")
        ident = {"index": index, "external_id": ext, "email": email}
        if email is not None and not _valid_email(email):
            return {**ident, "error": "RecordInvalid", "details": f"Email: {email} is not properly formatted"}
        users = self.records["users"]
        by_ext = users.get(self.user_by_ext.get(ext, 0)) if ext else None
        by_email = users.get(self.user_by_email.get(_norm(email, "email"), 0)) if email else None
        found = by_ext or by_email
        if by_ext and by_email and by_ext is not by_email:
            return {**ident, "error": "DuplicateValue",
                    "details": f"Email: {email} is already being used by another user"}
        if found is not None and ext and found["external_id"] not in (None, ext):
            return {**ident, "error": "DuplicateValue",
                    "details": f"Email: {email} belongs to a user with another external_id"}
        if found is None and not data.get("name"):
            return {**ident, "error": "RecordInvalid", "details": "Name: is too short (minimum is 1 character)"}
        now = int(time.time())
        if found is None:
            uid = self.next_id["users"]
            self.next_id["users"] += 1
            found = seed.user(uid, name=data["name"], email=email, role="end-user", external_id=ext, ts=now,
                              created=now)
            status = "Created"
        else:
            found = dict(found, user_fields=dict(found["user_fields"]))
            status = "Updated"
        for key in USER_KEYS:
            if key in data:
                found[key] = data[key]
        if ext:
            found["external_id"] = ext
        for key, value in (data.get("user_fields") or {}).items():
            if key in found["user_fields"]:  # unknown user field keys are ignored, as on Zendesk
                found["user_fields"][key] = value
        self._store("users", found, now)
        self.writes[found["id"]] += 1
        return {"index": index, "id": found["id"], "status": status, "external_id": found["external_id"],
                "email": found["email"]}

    # ---- organizations -------------------------------------------------------------------------

    async def organizations_show_many(self, request: Request) -> Response:
        raw = request.query_params.get("external_ids") or request.query_params.get("ids") or ""
        wanted = [v for v in raw.split(",") if v]
        if len(wanted) > MAX_ITEMS:
            raise ApiError(400, TOO_MANY)
        key = "external_id" if "external_ids" in request.query_params else "id"
        values = set(wanted)
        found = [o for o in self.records["organizations"].values() if str(o[key]) in values]
        return _json({"organizations": found, "next_page": None, "previous_page": None, "count": len(found)})

    async def organizations_create_many(self, request: Request) -> Response:
        return self._submit(request, "organizations_create", _items(await _body(request), "organizations"))

    async def organizations_update_many(self, request: Request) -> Response:
        return self._submit(request, "organizations_update", _items(await _body(request), "organizations"))

    def _write_organization(self, data: dict[str, Any], index: int, create: bool) -> dict[str, Any]:
        orgs = self.records["organizations"]
        ext = None if data.get("external_id") is None else str(data["external_id"])
        ident = {"index": index, "external_id": ext}
        if create:
            if not data.get("name"):
                return {**ident, "error": "RecordInvalid", "details": "Name: cannot be blank"}
            found = None
        else:
            found = orgs.get(int(data.get("id") or 0))
            if found is None:
                return {**ident, "error": "RecordNotFound", "details": f"Organization {data.get('id')} not found"}
        for other in orgs.values():
            if other is found:
                continue
            if ext and (other["external_id"] or "").lower() == ext.lower():
                return {**ident, "error": "DuplicateValue", "details": f"External ID: {ext} has already been taken"}
            if data.get("name") and other["name"].lower() == str(data["name"]).lower():
                return {**ident, "error": "DuplicateValue",
                        "details": f"Name: {data['name']} has already been taken"}
        now = int(time.time())
        if found is None:
            oid = self.next_id["organizations"]
            self.next_id["organizations"] += 1
            found = seed.organization(oid, name=str(data["name"]), external_id=ext, ts=now, created=now)
        else:
            found = dict(found, organization_fields=dict(found["organization_fields"]))
        for key in ORG_KEYS:
            if key in data:
                found[key] = data[key]
        if ext:
            found["external_id"] = ext
        for key, value in (data.get("organization_fields") or {}).items():
            if key in found["organization_fields"]:
                found["organization_fields"][key] = value
        self._store("organizations", found, now)
        return {"index": index, "id": found["id"], "status": "Created" if create else "Updated",
                "external_id": found["external_id"]}

    # ---- jobs ----------------------------------------------------------------------------------

    def _submit(self, request: Request, kind: str, items: list[dict[str, Any]]) -> Response:
        active = sum(1 for j in self.jobs.values() if j["status"] in ("queued", "working"))
        if active >= int(self.options["job_limit"]):
            raise ApiError(429, {"error": "TooManyJobs",
                                 "description": f"Number of allowed jobs: {self.options['job_limit']}"})
        self._pristine = None
        self.job_counter += 1
        digest = hashlib.md5(f"{self.seed}:{self.job_counter}".encode(), usedforsecurity=False).hexdigest()
        job: dict[str, Any] = {"id": f"V3-{digest}", "kind": kind, "items": items, "total": len(items), "done": 0,
               "polls": 0, "status": "queued", "results": [], "created": time.time(), "finished": None,
               "message": None}
        self.jobs[job["id"]] = job
        return _json({"job_status": self._job_view(request, job)})

    def _run(self, job: dict[str, Any], upto: int) -> None:
        """Apply the job's items up to `upto` (jobs apply in order, exactly once per item)."""
        for index in range(job["done"], upto):
            data = job["items"][index]
            if job["kind"] == "users_upsert":
                result = self._upsert_user(data, index)
            else:
                result = self._write_organization(data, index, create=job["kind"] == "organizations_create")
            job["results"].append(result)
        job["done"] = max(job["done"], upto)
        if job["done"] >= job["total"]:
            job.update(status="completed", finished=time.time(),
                       message=f"Completed at {seed.iso(time.time()).replace('T', ' ').replace('Z', ' +0000')}")
        else:
            noun = "User" if job["kind"] == "users_upsert" else "Organization"
            job.update(status="working", message=f"Updating {noun} #{job['done']}")

    def _poll(self, job: dict[str, Any]) -> None:
        """Each poll moves a job on: queued → working (part done) → ... → completed."""
        if job["status"] in ("queued", "working"):
            job["polls"] += 1
            steps = max(1, int(self.options["job_polls_to_complete"]))
            self._run(job, job["total"] if job["polls"] >= steps else job["total"] * job["polls"] // steps)

    def _age_jobs(self, now: float) -> None:
        """Jobs finish on their own after `job_seconds`; finished jobs expire after the retention."""
        for job in list(self.jobs.values()):
            if job["status"] in ("queued", "working") and now - job["created"] >= float(self.options["job_seconds"]):
                self._run(job, job["total"])
        retention = float(self.options["job_retention_seconds"])
        finished = [j for j in self.jobs.values() if j["finished"] is not None]
        cap = int(self.options["job_retention_count"])
        expired = [j for j in finished if now - j["finished"] >= retention]
        if cap and len(finished) > cap:
            expired += sorted(finished, key=lambda j: j["finished"])[: len(finished) - cap]
        for job in expired:
            self.jobs.pop(job["id"], None)

    def _job_view(self, request: Request, job: dict[str, Any]) -> dict[str, Any]:
        base = str(request.url).split("/api/v2/", 1)[0]  # keeps the sandbox mount prefix
        return {"id": job["id"], "url": f"{base}/api/v2/job_statuses/{job['id']}.json", "total": job["total"],
                "progress": job["done"] if job["status"] != "queued" else None, "status": job["status"],
                "message": job["message"], "results": job["results"] if job["status"] == "completed" else None}

    async def job_status(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["job_id"].removesuffix(".json"))
        if job is None:
            raise ApiError(404, {"error": "RecordNotFound", "description": "Not found"})
        self._poll(job)
        return _json({"job_status": self._job_view(request, job)})

    async def job_statuses_show_many(self, request: Request) -> Response:
        ids = [i for i in (request.query_params.get("ids") or "").split(",") if i]
        if len(ids) > MAX_ITEMS:
            raise ApiError(400, TOO_MANY)
        jobs = [self.jobs[i] for i in ids if i in self.jobs]
        for job in jobs:
            self._poll(job)
        return _json({"job_statuses": [self._job_view(request, j) for j in jobs]})

    # ---- tickets and field definitions ---------------------------------------------------------

    async def tickets_create(self, request: Request) -> Response:
        """POST /api/v2/tickets, honouring `Idempotency-Key` (a replay answers the stored response)."""
        raw = await request.body()
        key = request.headers.get("idempotency-key")
        now = time.time()
        self.idempotency = {k: v for k, v in self.idempotency.items()
                            if now - v["at"] < float(self.options["idempotency_ttl_seconds"])}
        digest = hashlib.sha256(raw).hexdigest()
        if key and key in self.idempotency:
            stored = self.idempotency[key]
            if stored["digest"] != digest:
                raise ApiError(int(self.options["idempotency_conflict_status"]), {
                    "error": "IdempotentRequestError",
                    "description": "Request body does not match the original request for this Idempotency-Key"})
            return Response(stored["body"].encode(), status_code=201, media_type="application/json",
                            headers={"x-idempotency-lookup": "hit"})
        body = orjson.loads(raw) if raw else {}
        data = body.get("ticket") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not (data.get("comment") or {}).get("body"):
            raise ApiError(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                 "details": {"description": [{"description": "Description: cannot be blank",
                                                              "error": "BlankValue"}]}})
        tid = self.next_id["tickets"]
        self.next_id["tickets"] += 1
        requester = int(data.get("requester_id") or seed.USER_ID_BASE)
        item = seed.ticket(tid, ts=int(now), created=int(now), status=data.get("status", "new"),
                           reason="app_issue", requester_id=requester, assignee_id=data.get("assignee_id"),
                           organization_id=data.get("organization_id"), group_id=seed.GROUP_IDS[0],
                           channel="api", priority=data.get("priority"), type_=data.get("type"), loan="",
                           amount=None, detail="")
        item.update(subject=data.get("subject"), raw_subject=data.get("subject"),
                    description=data["comment"]["body"], external_id=data.get("external_id"),
                    tags=list(data.get("tags") or []), custom_fields=list(data.get("custom_fields") or []))
        item["fields"] = item["custom_fields"]
        self._store("tickets", item, int(now))
        text = orjson.dumps({"ticket": item}).decode()
        if key:
            self.idempotency[key] = {"digest": digest, "body": text, "at": now}
        return Response(text.encode(), status_code=201, media_type="application/json",
                        headers={"x-idempotency-lookup": "miss"} if key else None)

    async def tickets_delete(self, request: Request) -> Response:
        """DELETE /api/v2/tickets/{id}: a soft delete; the export shows the ticket with status "deleted"."""
        raw = request.path_params["ticket_id"].removesuffix(".json")
        ticket = self.records["tickets"].get(int(raw)) if raw.isdigit() else None
        if ticket is None or ticket["status"] == "deleted":
            raise ApiError(404, {"error": "RecordNotFound", "description": "Not found"})
        self._store("tickets", dict(ticket, status="deleted", custom_status_id=seed.CUSTOM_STATUS["deleted"]),
                    int(time.time()))
        return Response(status_code=204)

    async def fields_list(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[1].removesuffix(".json")
        fields = {"ticket_fields": seed.TICKET_FIELDS, "user_fields": seed.USER_FIELDS,
                  "organization_fields": seed.ORGANIZATION_FIELDS}[name]
        return _json({name: fields, "next_page": None, "previous_page": None, "count": len(fields)})


def _encode_cursor(ts: int, position: int) -> str:
    """Opaque to clients, like Zendesk's (which is base64 of "ts.0||id|")."""
    return base64.b64encode(f"{ts}.0||{position}|".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        return int(text.split("||", 1)[1].rstrip("|"))
    except (binascii.Error, UnicodeDecodeError, IndexError, ValueError) as exc:
        raise _invalid("InvalidPaginationParameter", "cursor is invalid") from exc


def _epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def _norm(value: Any, key: str) -> str:
    """Index key: emails match case-insensitively, external ids exactly."""
    return str(value).lower() if key == "email" else str(value)


def _valid_email(value: Any) -> bool:
    text = str(value)
    local, at, domain = text.partition("@")
    return bool(at and local and "." in domain and " " not in text and not domain.startswith("."))


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise _invalid("InvalidJSON", "The request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise _invalid("InvalidJSON", "The request body must be a JSON object")
    return body


def _items(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = body.get(key)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise _invalid("InvalidValue", f"{key} must be an array of objects")
    if len(items) > MAX_ITEMS:
        raise ApiError(400, TOO_MANY)
    return list(items)
