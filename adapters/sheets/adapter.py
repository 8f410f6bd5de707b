"""The Google Sheets adapter: a relation onto a tab (push), a tab or range into a table (pull).

Push (unit = the whole object, see push.py): pre-flight (cell limits, request size, range fit) →
add the tab or grow its grid if needed → clear the previous extent → write the header and every
row in values:batchUpdate requests of at most 2 MB, always RAW. Pull (see pull.py): the header
row names the columns, rows stream in windows of `window_rows`, typed by the mapping; blank rows
are skipped.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, wait
from typing import Any

from migo_sync.adapter import BaseAdapter, PullBatch, PushUnit, RemoteField, RemoteObject, UnitResult
from migo_sync.adapters.sheets import SYSTEM
from migo_sync.adapters.sheets.auth import (
    KEY_NAMES,
    ServiceAccountAuth,
    ServiceAccountKey,
    import_signer,
    load_key,
)
from migo_sync.adapters.sheets.client import SheetsClient
from migo_sync.adapters.sheets.config import option_problems, sheets_settings, tab_options
from migo_sync.adapters.sheets.payload import Body, RowTooLarge
from migo_sync.adapters.sheets.pull import live_header, read_tab
from migo_sync.adapters.sheets.push import Anchor, Rows, Target, fit, preflight, sort_spec, write_tab
from migo_sync.adapters.sheets.tabs import suggest
from migo_sync.ahead import started
from migo_sync.errors import ConfigError, FatalRemoteError
from migo_sync.http import RateLimiter
from migo_sync.mapping.model import Mapping

PUSH_MODES = ("mirror",)
PULL_MODES = ("mirror", "upsert")


class SheetsAdapter(BaseAdapter):
    name = "sheets"
    spec = SYSTEM

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.settings = sheets_settings(context.settings)
        self._client: SheetsClient | None = None
        self._spreadsheets: dict[str, dict[str, Any]] = {}  # metadata read once per run (see metadata())
        self._metadata: dict[str, dict[str, Any]] = {}  # what check() checked against, used once by write()
        # units check() found sendable against that metadata, with the first body it made of their rows
        self._passed: dict[str, Body | None] = {}
        self._warming: dict[str, Future[dict[str, Any]]] = {}  # metadata a push's warm-up is reading
        self._client_lock = threading.Lock()  # the client is built once, by the warm-up or the caller
        self._preparing: Future[ServiceAccountAuth | None] | None = None  # prepare_run()'s signer

    @property
    def client(self) -> SheetsClient:
        """Built on first use, so validate() and catalog() need no credentials."""
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _new_client(self) -> SheetsClient:
        auth = self._prepared() or self._auth(load_key(self.context.credentials))
        rate = self.settings.rate_limit
        http = self.context.http(
            self.context.base_url, auth=auth,
            headers={"x-goog-api-client": f"gl-python/{platform.python_version()} migo-sync cred-type/sa"},
            limiter=RateLimiter(rate or None, burst=self.settings.rate_burst),
        )
        return SheetsClient(http, system=self.name)

    def _auth(self, key: ServiceAccountKey) -> ServiceAccountAuth:
        return ServiceAccountAuth(key, self.context.urls.get("token_url") or SYSTEM.extra_urls["token_url"])

    def prepare_run(self) -> None:
        """RunPreparation: the sign-in's CPU work, begun on a thread at the run's start (importing PyJWT
        and cryptography, loading and checking the key: 0.1-0.2 s that otherwise sit between a push's
        plan and its first call). The key is read only from the environment (the keyring may prompt: it
        is opened only when the client is built, as before); only the imports when it is not there."""
        if self._preparing is None and self._client is None:
            self._preparing = started(self._prepare, name="sheets-sign-in")

    def _prepare(self) -> ServiceAccountAuth | None:
        credentials = self.context.credentials
        if not any(credentials.environ.get(credentials.env_name(name)) for name in KEY_NAMES):
            import_signer()
            return None
        auth = self._auth(load_key(credentials))
        auth.prepare()
        return auth

    def _prepared(self) -> ServiceAccountAuth | None:
        """prepare_run()'s auth, ready to sign; None when there is none (the caller loads the key in
        place, raising what went wrong there, as without the preparation)."""
        if self._preparing is None:
            return None
        try:
            return self._preparing.result()
        except Exception:  # raised again, in place, by the caller's own load of the key
            return None

    def close(self) -> None:
        wait(self._warming.values())  # a warm-up's request is answered before its client closes
        if self._preparing is not None:  # CPU only, never a request: done in a moment
            wait([self._preparing])
            self._preparing = None
        self._warming.clear()
        if self._client is not None:
            self._client.http.close()
            self._client = None

    def metadata(self, spreadsheet_id: str) -> dict[str, Any]:
        """A spreadsheet's metadata (tabs, grid sizes), read once per run and shared by every mapping
        on it; a push that changed the tab's structure drops it. The adapter lives for one run (a
        `run --every` cycle opens a new one), so a cycle never sees the last cycle's metadata."""
        if spreadsheet_id not in self._spreadsheets:
            warming = self._warming.pop(spreadsheet_id, None)
            self._spreadsheets[spreadsheet_id] = (warming.result() if warming is not None
                                                  else self.client.spreadsheet(spreadsheet_id))
        return self._spreadsheets[spreadsheet_id]

    def warm_up(self, mapping: Mapping) -> None:
        """WarmUp: a push's sign-in (the key, the signed JWT, the token request) and its spreadsheet's
        metadata, read on a thread while the engine reads the rows (two round trips the first write
        waits for, whatever it writes). `metadata()` takes the answer, or raises its error there."""
        if mapping.direction != "push":
            return
        try:
            spreadsheet_id = tab_options(mapping.options, mapping.label).spreadsheet_id
        except ConfigError:
            return  # check() says so, as without the warm-up
        if spreadsheet_id in self._spreadsheets or spreadsheet_id in self._warming:
            return
        self._warming[spreadsheet_id] = started(lambda: self.client.spreadsheet(spreadsheet_id),
                                                name="sheets-warm-up")

    def check_connection(self) -> str:
        """The service account's token request (the sign-in); spreadsheets are read per mapping."""
        http = self.client.http
        auth = http.auth
        assert isinstance(auth, ServiceAccountAuth)
        auth.sign_in(http)
        return f"signed in as {auth.key.client_email}"

    # --- offline checks ------------------------------------------------------------------------

    def validate(self, mapping: Mapping) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if mapping.object != "tab":
            problems.append(("object", f"unknown object '{mapping.object}' (sheets has: tab)"))
        modes = PUSH_MODES if mapping.direction == "push" else PULL_MODES
        if mapping.mode not in modes:
            hint = ("a push rewrites the whole range" if mapping.direction == "push"
                    else "a pull reads the whole range")
            problems.append(("mode", f"'{mapping.mode}' is not supported for a sheets {mapping.direction} "
                                     f"({hint}; use: {', '.join(modes)})"))
        options, option_errors = option_problems(mapping.options)
        problems += option_errors
        remotes = [f.remote for f in mapping.fields]
        for i, spec in enumerate(mapping.fields):
            if spec.remote != spec.remote.strip() or "\n" in spec.remote:
                problems.append((f"fields[{i}].remote", f"'{spec.remote}': a header is one line without "
                                 "leading or trailing spaces"))
        if options is None:
            return problems
        if mapping.direction == "pull":
            for name in ("order_by", "create_tab"):
                if name in mapping.options:
                    problems.append((f"options.{name}", "only used by a push"))
        else:
            if "window_rows" in mapping.options:
                problems.append(("options.window_rows", "only used by a pull"))
            for i, item in enumerate(options.order_by):
                found, _ = sort_spec(item, remotes)
                if found is None:
                    problems.append((f"options.order_by[{i}]", f"'{item}' is not a remote field of this "
                                     f"mapping{suggest(item, remotes)}"))
        grid = options.grid_range()
        if grid.end_col is not None and grid.end_col - grid.start_col < len(mapping.fields):
            problems.append(("options.range", f"{options.range} is {grid.end_col - grid.start_col} columns wide; "
                             f"the mapping has {len(mapping.fields)} fields"))
        if grid.end_row is not None and grid.end_row - grid.start_row < options.header_row:
            problems.append(("options.header_row", f"row {options.header_row} is outside {options.range}"))
        return problems

    def describe(self, mapping: Mapping) -> RemoteObject:
        """Pull: the live header of the mapped range as the object's fields (network).

        Push: the header is what the push writes, so the mapping's own remote names are the
        fields; one metadata read checks that the spreadsheet exists and is shared with us (the
        engine never describes a push, so a rerun with nothing to send still sends nothing).
        """
        base = super().describe(mapping)
        if mapping.direction == "push":
            self.metadata(tab_options(mapping.options, mapping.label).spreadsheet_id)
            fields = tuple(RemoteField(f.remote) for f in mapping.fields)
            return RemoteObject(base.name, base.directions, base.modes, base.unit, fields, True, base.description)
        fields = tuple(RemoteField(name) for name in live_header(self.client, self.metadata, mapping) if name)
        return RemoteObject(base.name, base.directions, base.modes, base.unit, fields, True, base.description)

    def check_object(self, mapping: Mapping) -> str:
        """Push: the spreadsheet's metadata (it exists and is shared with us). Pull: the header row
        of the range, which must hold every header the mapping names."""
        found = self.describe(mapping)
        spreadsheet = tab_options(mapping.options, mapping.label).spreadsheet_id
        if mapping.direction == "push":
            return f"readable: spreadsheet {spreadsheet}"
        missing = [f.remote for f in mapping.fields if found.field(f.remote) is None]
        if missing:
            raise ConfigError(f"{mapping.label}: the header row of spreadsheet {spreadsheet} has no "
                              f"{', '.join(repr(m) for m in missing)} (it has: {', '.join(f.name for f in found.fields)})")
        return f"readable: header of {len(found.fields)} column(s) in spreadsheet {spreadsheet}"

    # --- push ----------------------------------------------------------------------------------

    def check(self, mapping: Mapping, units: Sequence[PushUnit]) -> dict[str, str]:
        """Refuse a unit before anything is sent: cell limits, range fit, values JSON cannot carry."""
        return self.check_meanwhile(mapping, units, lambda: None)

    def check_meanwhile(self, mapping: Mapping, units: Sequence[PushUnit],
                        meanwhile: Callable[[], None]) -> dict[str, str]:
        """`check()` (ChecksInFlight): once the rows are read through, `meanwhile` (the engine's intents)
        runs while the warm-up's sign-in and metadata are still in flight; then the range and cell-count
        checks wait for the metadata. Without a warm-up the metadata is read after it, in place."""
        options = tab_options(mapping.options, mapping.label)
        remotes = [f.remote for f in mapping.fields]
        limit = self.settings.max_request_bytes
        # The rows are read through (and the first body made) before the metadata is needed: while a
        # warm-up's sign-in and metadata are in flight, not after them.
        anchor = Anchor.of(options)
        scanned = {unit.idempotency_key: Rows.scan(remotes, anchor, unit, limit,
                                                   None if isinstance(unit.records, list) else limit)
                   for unit in units}
        meanwhile()
        meta = self.metadata(options.spreadsheet_id)
        self._metadata[options.spreadsheet_id] = meta
        target = Target.resolve(options, meta)
        rejects: dict[str, str] = {}
        for unit in units:
            rows = scanned[unit.idempotency_key]
            reason = fit(remotes, target, 0 if unit.delete else len(unit.records)) or rows.reason
            if reason:
                rejects[unit.key] = reason
            else:
                self._passed[unit.idempotency_key] = rows.first
        return rejects

    def push_order(self, mapping: Mapping) -> list[tuple[str, bool]]:
        """`options.order_by`, for the engine to sort the tab's rows in the warehouse."""
        remotes = [f.remote for f in mapping.fields]
        order = [sort_spec(item, remotes) for item in tab_options(mapping.options, mapping.label).order_by]
        return [(name, descending) for name, descending in order if name is not None]

    def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]:
        if len(units) != 1:
            why = f"a sheets tab is pushed as one unit (the whole relation), got {len(units)}"
            return [UnitResult(u.key, ok=False, reason=why) for u in units]
        unit = units[0]
        options = tab_options(mapping.options, mapping.label)
        checked = self._metadata.pop(options.spreadsheet_id, None)
        meta = checked or self.metadata(options.spreadsheet_id)
        target = Target.resolve(options, meta)
        remotes = [f.remote for f in mapping.fields]
        # A unit check() passed against this very metadata need not be read through again.
        passed = checked is not None and unit.idempotency_key in self._passed
        first = self._passed.pop(unit.idempotency_key, None)
        reason = None if passed else preflight(remotes, target, unit, self.settings.max_request_bytes)
        if reason:
            return [UnitResult(unit.key, ok=False, reason=reason)]
        try:
            written = write_tab(self.client, remotes, options, target, unit, self.settings.max_request_bytes,
                                self.settings.max_concurrency, first if passed else None)
        except (FatalRemoteError, RowTooLarge) as exc:
            return [UnitResult(unit.key, ok=False, reason=str(exc))]
        finally:  # the tab may have been added or resized: the next mapping reads the metadata again
            self._spreadsheets.pop(options.spreadsheet_id, None)
        return [UnitResult(unit.key, ok=True, remote_id=written)]

    # --- pull ----------------------------------------------------------------------------------

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]:
        """Stream the range in windows; `state` is always None (a sheet has no cursor: every pull
        reads it whole, and a mirror pull then deletes rows the sheet no longer has)."""
        yield from read_tab(self.client, self.metadata, mapping, self.settings.max_concurrency)
