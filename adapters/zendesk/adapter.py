"""The Zendesk adapter: tickets, users and organizations pulled; users and organizations pushed.

See `pull.py` (incremental exports, one committed cursor per page) and `push.py` (bulk jobs).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from collections.abc import Mapping as KeyMap
from dataclasses import replace
from typing import Any

import httpx
import pyarrow as pa

from migo_sync.adapter import (
    AdapterContext,
    ArrowBatch,
    BaseAdapter,
    JobsQueued,
    PullBatch,
    PushUnit,
    RemoteField,
    RemoteObject,
    UnitFeed,
    UnitList,
    UnitResult,
    take_all,
)
from migo_sync.adapters.zendesk import SYSTEM
from migo_sync.adapters.zendesk.client import MAX_BULK, PacedTransport, Pacing, ZendeskClient, classify
from migo_sync.adapters.zendesk.config import PullOptions, PushOptions, ZendeskSettings, option_problems
from migo_sync.adapters.zendesk.pull import (
    CURSOR_EXPORTS,
    ArrowPages,
    Shaper,
    cursor_pages,
    read_ahead,
    time_pages,
)
from migo_sync.adapters.zendesk.push import JobRunner, feed_jobs, organization_jobs, payload, recorded_jobs
from migo_sync.bounded import BoundedHTTPTransport
from migo_sync.errors import AuthError, ConfigError
from migo_sync.mapping.loader import did_you_mean
from migo_sync.mapping.model import Mapping

# Custom fields per object: where they live in the JSON, and what names them.
DYNAMIC = {"tickets": ("custom_fields", "ticket"), "users": ("user_fields", "user"),
           "organizations": ("organization_fields", "organization")}
PUSH_KEY = "external_id"


def has_path(record: dict[str, Any], path: str) -> bool:
    """Whether a record carries `path` (a.b.c): every key present; a null or empty object on the way
    counts (a web ticket's `via.source.from` is `{}` where an email ticket's holds `address`)."""
    node: Any = record
    for part in path.split("."):
        if node is None or node == {}:
            return True
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def nested_heads(obj: RemoteObject) -> set[str]:
    """The nested objects the catalog knows a record carries (`via`, `satisfaction_rating`, ...): the
    catalog is open below them, as the API is: any JSON path into them may be pulled."""
    return {f.name.split(".", 1)[0] for f in obj.fields if "." in f.name} | {
        f.name for f in obj.fields if f.type == "object"}


class ZendeskAdapter(BaseAdapter):
    """Zendesk Support over its REST API (api-reference §3)."""

    name = "zendesk"
    spec = SYSTEM

    def __init__(self, context: AdapterContext, *, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(context)
        self.settings = ZendeskSettings.parse(context.settings)
        self.transport = transport  # the network seam: tests pass an httpx.MockTransport
        self.pacing = Pacing(self.settings.incremental_limit_per_minute, self.settings.slow_down_below)
        self._client: ZendeskClient | None = None
        self._http: httpx.Client | None = None
        self._described: dict[str, RemoteObject] = {}

    # ---- connection ----------------------------------------------------------------------------

    @property
    def client(self) -> ZendeskClient:
        """Built on first use: validating mappings needs no credentials."""
        if self._client is None:
            base_url = self._base_url()
            inner = self.transport or BoundedHTTPTransport()
            self._http = self.context.http(base_url, classify=classify,
                                           transport=PacedTransport(inner, self.pacing),
                                           **self._auth())
            self._client = ZendeskClient(self._http)
        return self._client

    def _base_url(self) -> str:
        url: str = self.context.base_url
        if "{subdomain}" in url:
            if not self.settings.subdomain:
                raise ConfigError("zendesk: set subdomain in [systems.zendesk] of migo-sync.toml "
                                  "(https://{subdomain}.zendesk.com) or the URL in MIGO_SYNC_ZENDESK_URL")
            url = url.replace("{subdomain}", self.settings.subdomain)
        return url.rstrip("/")

    def _auth(self) -> dict[str, Any]:
        """OAuth when MIGO_SYNC_ZENDESK_OAUTH_TOKEN is set, else API token: `{email}/token:{token}`.
        The environment is read for both before the keyring (whose first use costs a process ~0.1-0.5 s)."""
        credentials = self.context.credentials
        env_token = credentials.in_environment("email", "api_token") and not credentials.in_environment("oauth_token")
        token = None if env_token else credentials.get("oauth_token")
        if token:
            return {"headers": {"Authorization": f"Bearer {token}"}}
        email, api_token = credentials.get("email"), credentials.get("api_token")
        if not (email and api_token):
            raise ConfigError(
                "zendesk: no credentials; set MIGO_SYNC_ZENDESK_OAUTH_TOKEN, or MIGO_SYNC_ZENDESK_EMAIL and "
                "MIGO_SYNC_ZENDESK_API_TOKEN (or keyring service 'migo-sync' users 'zendesk.oauth_token', "
                "'zendesk.email', 'zendesk.api_token')")
        return {"auth": httpx.BasicAuth(f"{email}/token", api_token)}

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        self._http = self._client = None

    def check_connection(self) -> str:
        """GET /users/me: Zendesk answers an "Anonymous user" (id null) to credentials it ignores."""
        me = self.client.me()
        if me.get("id") is None:
            raise AuthError(SYSTEM.name, "the credentials were not accepted (users/me answered the anonymous "
                                         "user); check MIGO_SYNC_ZENDESK_EMAIL and MIGO_SYNC_ZENDESK_API_TOKEN, "
                                         "or MIGO_SYNC_ZENDESK_OAUTH_TOKEN")
        return f"signed in as {me.get('email') or me.get('name')} (role {me.get('role')})"

    def check_object(self, mapping: Mapping) -> str:
        """The object's custom fields (GET *_fields), and for a pull one record of the export it
        reads (per_page=1: one request of the export window's 10 per minute)."""
        live = self._describe_object(mapping)
        custom = len(live.fields) - len(super().describe(mapping).fields)
        if mapping.direction == "push":
            return f"readable: {live.name} fields, {custom} custom"
        sample = self._sample(live.name)
        return f"readable: {live.name} export, {'one record read' if sample else 'no record yet'}, {custom} custom field(s)"

    # ---- schema and checks ---------------------------------------------------------------------

    def describe(self, mapping: Mapping) -> RemoteObject:
        """The catalog object, the account's active custom fields (one GET per object and run), and
        the mapping's JSON paths into nested objects found in a record the account sends."""
        live = self._describe_object(mapping)
        heads = nested_heads(live)
        paths = [f.remote for f in mapping.fields if mapping.direction == "pull" and live.field(f.remote) is None
                 and f.remote.partition(".")[0] in heads and f.remote.partition(".")[2]]
        if not paths:
            return live
        sample = self._sample(live.name)
        found = tuple(RemoteField(p, writable=False) for p in paths if sample is None or has_path(sample, p))
        return replace(live, fields=live.fields + found)

    def _sample(self, resource: str) -> dict[str, Any] | None:
        """One record of the account (the oldest), or None when it has none."""
        if resource in CURSOR_EXPORTS:
            page = self.client.cursor_export(resource, per_page=1)
        else:
            page = self.client.time_export(resource, start_time=0, per_page=1)
        records = page.get(resource) or []
        return records[0] if records and isinstance(records[0], dict) else None

    def _describe_object(self, mapping: Mapping) -> RemoteObject:
        if mapping.object in self._described:
            return self._described[mapping.object]
        obj = super().describe(mapping)
        where, kind = DYNAMIC[obj.name]
        extra = []
        for field in self.client.fields(kind):
            if not field.get("active", True):
                continue
            if obj.name == "tickets":
                if field.get("removable", True):  # system fields (subject, status, ...) are in the catalog
                    extra.append(RemoteField(f"{where}.{field['id']}", str(field.get("type", "string")),
                                             writable=False, description=str(field.get("title", ""))))
            else:
                extra.append(RemoteField(f"{where}.{field['key']}", str(field.get("type", "string")),
                                         description=str(field.get("title", ""))))
        live = self._described[obj.name] = replace(obj, fields=obj.fields + tuple(extra), dynamic_fields=False)
        return live

    def validate(self, mapping: Mapping) -> list[tuple[str, str]]:
        """Options, field names (custom ones by shape; `--remote` checks them against the account),
        and the push key."""
        obj = self.catalog_object(mapping.object)
        if obj is None:
            return []  # the core reports an unknown object
        push = mapping.direction == "push"
        problems = option_problems(PushOptions if push else PullOptions, mapping.options)
        where, _kind = DYNAMIC[obj.name]
        names = [f.name for f in obj.fields]
        nested = nested_heads(obj)
        for i, field in enumerate(mapping.fields):
            path = f"fields[{i}].remote"
            head, _, rest = field.remote.partition(".")
            if head == where and rest:
                if obj.name == "tickets" and not rest.isdigit():
                    problems.append((path, f"custom ticket fields are named by id: {where}.<id>, "
                                           f"e.g. {where}.360001234561"))
                continue
            known = obj.field(field.remote)
            if known is None and not push and head in nested and rest:
                continue  # a JSON path into an object every record carries (via.source.from.address)
            if known is None:
                hint = did_you_mean(field.remote, names) or (did_you_mean(head, nested) if rest else None)
                problems.append((path, f"zendesk {obj.name} has no field '{field.remote}'"
                                       + (f" ({hint})" if hint else "")))
            elif push and not known.writable:
                problems.append((path, f"zendesk {obj.name}.{field.remote} is read-only"))
        if push and PUSH_KEY not in {f.remote for f in mapping.fields}:
            problems.append(("fields", f"pushing zendesk {obj.name} needs a field with remote: {PUSH_KEY} "
                                       "(the upsert key, e.g. column customer_id)"))
        return problems

    def check(self, mapping: Mapping, units: Sequence[PushUnit]) -> dict[str, str]:
        """Refuse units that cannot be matched: one record each, with an external_id."""
        reasons: dict[str, str] = {}
        for unit in units:
            if unit.delete:
                reasons[unit.key] = f"deleting zendesk {mapping.object} is not supported (mode upsert only)"
            elif len(unit.records) != 1:
                reasons[unit.key] = f"expected one record per zendesk {mapping.object} unit, got {len(unit.records)}"
            elif unit.records[0].get(PUSH_KEY) in (None, ""):
                reasons[unit.key] = f"{PUSH_KEY} is empty: it is the key Zendesk matches {mapping.object} on"
        return reasons

    # ---- push and pull -------------------------------------------------------------------------

    def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]:
        return self.write_queued(mapping, UnitList(units), None)

    def write_queued(self, mapping: Mapping, units: UnitFeed, queued: JobsQueued | None) -> list[UnitResult]:
        """Users and organizations go out as bulk jobs; `queued` hears of each accepted job before it
        is waited on (the `RemoteJobs` capability), and the feed of each finished wave's results while
        a later poll is in flight (`UnitFeed.settled`). Users are taken from the feed a round of
        submissions at a time, as their jobs go out; organizations all at once (they are looked up
        by external_id first)."""
        if mapping.object not in ("users", "organizations"):
            return super().write(mapping, take_all(units))
        taken: list[str] = []  # keys only: a unit's records are freed once its job is settled
        results: dict[str, UnitResult] = {}

        def take(count: int) -> list[PushUnit]:
            """The next units that can be matched (the others answered here as refused)."""
            while more := units.take(count):
                taken.extend(u.key for u in more)
                refused = self.check(mapping, more)
                results.update({k: UnitResult(k, ok=False, reason=r) for k, r in refused.items()})
                sendable = [u for u in more if u.key not in refused]
                if sendable:
                    return sendable
            return []

        runner = JobRunner(self.client, self.settings)
        if mapping.object == "users":
            results.update(runner.run(feed_jobs(self.client, take, PUSH_KEY,
                                                MAX_BULK * self.settings.max_concurrency), queued, units.settled))
        else:
            prepared = [(u, payload(u, PUSH_KEY)) for chunk in iter(lambda: take(10_000), []) for u in chunk]
            if prepared:
                results.update(runner.run(organization_jobs(self.client, prepared, self.settings.max_concurrency),
                                          queued, units.settled))
        # a unit taken but in no job that went out: the run stopped before its job was submitted
        return [results.get(key) or UnitResult(key, ok=False, not_sent=True, reason="not sent: the run was interrupted")
                for key in taken]

    def settle_jobs(self, mapping: Mapping, jobs: KeyMap[str, str]) -> list[UnitResult]:
        """Poll the jobs an earlier run queued to their end; units of an expired job get no result."""
        found = JobRunner(self.client, self.settings).run(recorded_jobs(jobs))
        return [found[key] for key in jobs if key in found]

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]:
        resource = mapping.object
        if resource not in DYNAMIC:
            return super().read(mapping, state)
        options = PullOptions.model_validate(mapping.options)
        walk = cursor_pages if resource in CURSOR_EXPORTS else time_pages
        shape = Shaper(mapping, resource, options)
        batches = map(shape, walk(self.client, resource, state, options.start_time, self.settings.page_size))
        return read_ahead(batches) if self.settings.read_ahead else batches

    def read_arrow(self, mapping: Mapping, state: dict[str, Any] | None,
                   types: KeyMap[str, pa.DataType]) -> Iterator[ArrowBatch | PullBatch] | None:
        """ArrowPull: the cursor exports' pages read straight into Arrow (the organizations' time
        export, and pulls that remove deleted records, go through `read`)."""
        resource = mapping.object
        if resource not in CURSOR_EXPORTS:
            return None
        options = PullOptions.model_validate(mapping.options)
        known = self.catalog_object(resource)
        lists = {f.name for f in known.fields if f.type == "array"} if known is not None else set()
        pages = ArrowPages.build(mapping, resource, options, dict(types), lists)
        if pages is None:
            return None
        walk = cursor_pages(self.client, resource, state, options.start_time, self.settings.page_size, pages.parse)
        batches = map(pages, walk)
        return read_ahead(batches) if self.settings.read_ahead else batches
