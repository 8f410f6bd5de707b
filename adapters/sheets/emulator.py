"""Google Sheets API v4 emulator: the values API, metadata, structure batchUpdate and the
service-account token endpoint, mounted by the sandbox at `/sheets`.

URLs mirror production under the mount: `/sheets/v4/spreadsheets/{id}/values/{range}` etc.
(so `MIGO_SYNC_SHEETS_URL` = `<sandbox>/sheets`), and `/sheets/token` stands in for
`https://oauth2.googleapis.com/token` (`MIGO_SYNC_SHEETS_TOKEN_URL`).

Knobs (`options`):
    read_quota, write_quota          requests per minute per project (default 300; 0 = off)
    user_read_quota, user_write_quota  per service account (default 0 = off; Google's is 60)
    quota_status                     the 429 envelope's status (default RESOURCE_EXHAUSTED)
    quota_retry_after                seconds sent as Retry-After on a quota 429 (default: none)
    token_lifetime                   access-token lifetime in seconds (default 3599)
    require_auth                     refuse calls without a valid Bearer token (default true)
    max_cells, max_cell_chars        workbook and cell limits (10,000,000 and 50,000)
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from migo_sync.adapters.sheets.seed import seed_spreadsheets
from migo_sync.adapters.sheets.structure import batch_update, create_spreadsheet
from migo_sync.adapters.sheets.tokens import TokenIssuer
from migo_sync.adapters.sheets.workbook import (
    SKIP,
    ApiError,
    Limits,
    Spreadsheet,
    Tab,
    WritePlan,
    invalid,
    parse_input,
    plan_write,
)
from migo_sync.sandbox.emulator import Emulator

READ, WRITE = "read", "write"
WRITE_SCOPES = frozenset({"https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive",
                          "https://www.googleapis.com/auth/drive.file"})
READ_SCOPES = WRITE_SCOPES | {"https://www.googleapis.com/auth/spreadsheets.readonly",
                              "https://www.googleapis.com/auth/drive.readonly"}
VALUE_RENDER = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
DATE_RENDER = ("SERIAL_NUMBER", "FORMATTED_STRING")
DEFAULTS: dict[str, Any] = {"read_quota": 300, "write_quota": 300, "user_read_quota": 0, "user_write_quota": 0,
                            "quota_status": "RESOURCE_EXHAUSTED", "quota_retry_after": None,
                            "token_lifetime": 3599, "require_auth": True, "max_cells": 10_000_000,
                            "max_cell_chars": 50_000}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json; charset=UTF-8",
                    headers=headers)


class SheetsEmulator(Emulator):
    system: ClassVar[str] = "sheets"
    url_suffixes: ClassVar[dict[str, str]] = {"url": "", "token_url": "/token"}

    def reset(self) -> None:
        self.settings = {**DEFAULTS, **self.options}
        self.limits = Limits(int(self.settings["max_cells"]), int(self.settings["max_cell_chars"]))
        self.books: dict[str, Spreadsheet] = {b.spreadsheet_id: b for b in seed_spreadsheets(self.rng)}
        self.tokens = TokenIssuer(int(self.settings["token_lifetime"]))
        self.calls: dict[tuple[str, str], deque[float]] = {}

    # --- sandbox plumbing ----------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/token", self.token, methods=["POST"]),
            Route("/v4/spreadsheets", self.create, methods=["POST"]),
            Route("/v4/spreadsheets/{rest:path}", self.dispatch, methods=["GET", "POST", "PUT"]),
        ]

    def state(self) -> dict[str, Any]:
        return {"spreadsheets": [_book_state(b) for b in self.books.values()], "tokens": self.tokens.state()}

    def load(self, state: dict[str, Any]) -> None:
        self.books = {}
        for data in state.get("spreadsheets", []):
            book = _book_from_state(data)
            self.books[book.spreadsheet_id] = book
        self.tokens.load(state.get("tokens", {}))

    def dump(self) -> dict[str, Any]:
        """Every spreadsheet, tab and cell: formulas as their text, dates as serial numbers."""
        result: dict[str, Any] = {}
        for book in self.books.values():
            tabs = {}
            for tab in sorted(book.tabs, key=lambda t: t.index):
                last = max(tab.rows, default=-1)
                rows = tab.matrix(0, 0, last + 1, tab.column_count, "FORMULA", "SERIAL_NUMBER")
                tabs[tab.title] = {"sheetId": tab.sheet_id, "index": tab.index, "rowCount": tab.row_count,
                                   "columnCount": tab.column_count, "rows": rows}
            result[book.spreadsheet_id] = {"title": book.title, "tabs": tabs}
        return {"spreadsheets": result}

    def error_response(self, status: int, request: Request, retry_after: int | None = None) -> Response:
        known = {429: ("Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED"),
                 500: ("Internal error encountered.", "INTERNAL"),
                 503: ("The service is currently unavailable.", "UNAVAILABLE")}
        message, status_text = known.get(status, ("Unknown error.", "UNKNOWN"))
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return json_response(ApiError(status, message, status_text).body(), status, headers)

    # --- auth and quotas -----------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))  # urlencoded, as Google takes it
        own_url = str(request.url).split("?")[0]
        status, body = self.tokens.grant({k: v[0] for k, v in form.items()}, own_url)
        return json_response(body, status, {"Cache-Control": "no-store"})

    def admit(self, request: Request, kind: str) -> str:
        """Check the Bearer token and the per-minute quotas; returns the caller's identity."""
        consumer = "anonymous"
        if self.settings["require_auth"]:
            consumer = self.tokens.authorize(request.headers.get("authorization"),
                                             WRITE_SCOPES if kind == WRITE else READ_SCOPES)
        now = time.monotonic()
        checks = [(("project", kind), int(self.settings[f"{kind}_quota"]), "per minute"),
                  ((consumer, kind), int(self.settings[f"user_{kind}_quota"]), "per minute per user")]
        for key, limit, scope in checks:
            if limit <= 0:
                continue
            window = self.calls.setdefault(key, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= limit:
                metric = "Read requests" if kind == READ else "Write requests"
                raise ApiError(429, f"Quota exceeded for quota metric '{metric}' and limit '{metric} {scope}' "
                               "of service 'sheets.googleapis.com' for consumer 'project_number:100000000001'.",
                               str(self.settings["quota_status"]))
        for key, limit, _ in checks:
            if limit > 0:
                self.calls[key].append(now)
        return consumer

    # --- routing -------------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        try:
            self.admit(request, WRITE)
            body = await _json_body(request)
            return json_response(create_spreadsheet(self.books, body, self.rng, self.limits))
        except ApiError as exc:
            return self._error(exc)

    async def dispatch(self, request: Request) -> Response:
        try:
            return await self._dispatch(request)
        except ApiError as exc:
            return self._error(exc)

    def _error(self, exc: ApiError) -> Response:
        headers: dict[str, str] = {}
        if exc.code == 429 and self.settings["quota_retry_after"] is not None:
            headers["Retry-After"] = str(self.settings["quota_retry_after"])
        if exc.code == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
        return json_response(exc.body(), exc.code, headers)

    async def _dispatch(self, request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        rest = raw.decode("latin-1").split("/v4/spreadsheets/", 1)[1]
        head, _, tail = rest.partition("/")
        method = request.method
        book_id, _, action = unquote(head).partition(":")
        if not tail:
            if method == "GET" and not action:
                self.admit(request, READ)
                if request.query_params.get("includeGridData", "false").lower() == "true":
                    raise invalid("includeGridData=true is not emulated; read cells with values.get")
                return json_response(self._book(book_id).metadata())
            if method == "POST" and action == "batchUpdate":
                self.admit(request, WRITE)
                return json_response(batch_update(self._book(book_id), await _json_body(request), self.rng, self.limits))
            raise _not_found()
        if tail.startswith("values:") and "/" not in tail:
            return await self._values_batch(request, book_id, tail.split(":", 1)[1])
        if not tail.startswith("values/"):
            raise _not_found()
        range_text = unquote(tail[len("values/"):])
        if method == "GET":
            self.admit(request, READ)
            return json_response(self._get(self._book(book_id), range_text, request))
        if method == "PUT":
            self.admit(request, WRITE)
            return json_response(self._update(self._book(book_id), range_text, request, await _json_body(request)))
        range_text, _, verb = range_text.rpartition(":")
        if method == "POST" and verb in ("clear", "append"):
            self.admit(request, WRITE)
            book = self._book(book_id)
            if verb == "clear":
                tab, bounds = book.bounded(range_text)
                tab.clear(*bounds)
                return json_response({"spreadsheetId": book.spreadsheet_id, "clearedRange": tab.a1(*bounds)})
            return json_response(self._append(book, range_text, request, await _json_body(request)))
        raise _not_found()

    async def _values_batch(self, request: Request, book_id: str, verb: str) -> Response:
        if request.method == "GET" and verb == "batchGet":
            self.admit(request, READ)
            book = self._book(book_id)
            ranges = request.query_params.getlist("ranges")
            value_ranges = [self._get(book, r, request) for r in ranges]
            return json_response({"spreadsheetId": book.spreadsheet_id, "valueRanges": value_ranges})
        if request.method == "POST" and verb == "batchUpdate":
            self.admit(request, WRITE)
            return json_response(self._batch_update(self._book(book_id), await _json_body(request)))
        if request.method == "POST" and verb == "batchClear":
            self.admit(request, WRITE)
            book = self._book(book_id)
            body = await _json_body(request)
            cleared = [book.bounded(str(r)) for r in body.get("ranges") or []]
            for tab, bounds in cleared:
                tab.clear(*bounds)
            return json_response({"spreadsheetId": book.spreadsheet_id,
                                  "clearedRanges": [tab.a1(*bounds) for tab, bounds in cleared]})
        raise _not_found()

    def _book(self, book_id: str) -> Spreadsheet:
        book = self.books.get(book_id)
        if book is None:
            raise _not_found()
        return book

    # --- values operations ---------------------------------------------------------------------

    def _get(self, book: Spreadsheet, range_text: str, request: Request) -> dict[str, Any]:
        params = request.query_params
        major = _enum(params.get("majorDimension", "ROWS"), ("ROWS", "COLUMNS"), "major_dimension")
        value_render = _enum(params.get("valueRenderOption", "FORMATTED_VALUE"), VALUE_RENDER, "value_render_option")
        date_render = _enum(params.get("dateTimeRenderOption", "SERIAL_NUMBER"), DATE_RENDER,
                            "date_time_render_option")
        tab, bounds = book.bounded(range_text)
        result: dict[str, Any] = {"range": tab.a1(*bounds), "majorDimension": major}
        values = tab.matrix(*bounds, value_render, date_render, major)
        if values:
            result["values"] = values
        return result

    def _updated_data(self, plan: WritePlan, params: dict[str, Any]) -> dict[str, Any]:
        """`updatedData` for includeValuesInResponse: the written range read back."""
        bounds = (plan.start_row, plan.start_col, plan.start_row + max(len(plan.rows), 1),
                  plan.start_col + max(plan.width, 1))
        value_render = _enum(params.get("responseValueRenderOption", "FORMATTED_VALUE"), VALUE_RENDER,
                             "response_value_render_option")
        date_render = _enum(params.get("responseDateTimeRenderOption", "SERIAL_NUMBER"), DATE_RENDER,
                            "response_date_time_render_option")
        data: dict[str, Any] = {"range": plan.tab.a1(*bounds), "majorDimension": "ROWS"}
        values = plan.tab.matrix(*bounds, value_render, date_render)
        if values:
            data["values"] = values
        return {"updatedData": data}

    def _update(self, book: Spreadsheet, range_text: str, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        option = _input_option(request.query_params.get("valueInputOption"))
        body_range = body.get("range")
        if body_range and book.resolve(str(body_range)) != book.resolve(range_text):
            raise invalid(f"Requested entity range [{body_range}] must match the URL range [{range_text}]")
        plan = plan_write(book, range_text, body, option, self.limits)
        plan.apply()
        result = plan.response(book.spreadsheet_id)
        if request.query_params.get("includeValuesInResponse", "false").lower() == "true":
            result.update(self._updated_data(plan, dict(request.query_params)))
        return result

    def _batch_update(self, book: Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
        option = _input_option(body.get("valueInputOption"))
        data = body.get("data") or []
        if not isinstance(data, list):
            raise invalid("Invalid JSON payload received. 'data' must be a list of ValueRange.")
        plans = []
        for i, value_range in enumerate(data):
            if not isinstance(value_range, dict) or not value_range.get("range"):
                raise invalid(f"Invalid data[{i}]: a ValueRange needs a range")
            plans.append(plan_write(book, str(value_range["range"]), value_range, option, self.limits,
                                    f"data[{i}]."))
        for plan in plans:  # every sub-request validated: now apply them all
            plan.apply()
        responses = []
        for plan in plans:
            response = plan.response(book.spreadsheet_id)
            if body.get("includeValuesInResponse"):
                response.update(self._updated_data(plan, body))
            responses.append(response)
        return {"spreadsheetId": book.spreadsheet_id,
                "totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
                "totalUpdatedColumns": sum(r.get("updatedColumns", 0) for r in responses),
                "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
                "totalUpdatedSheets": len({p.tab.sheet_id for p in plans if p.cells}),
                "responses": responses}

    def _append(self, book: Spreadsheet, range_text: str, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        option = _input_option(request.query_params.get("valueInputOption"))
        insert = _enum(request.query_params.get("insertDataOption", "OVERWRITE"), ("OVERWRITE", "INSERT_ROWS"),
                       "insert_data_option")
        tab, grid = book.resolve(range_text)
        values = body.get("values") or []
        rows = [[parse_input(v, option, self.limits, f"values[{i}][{j}]") for j, v in enumerate(row)]
                for i, row in enumerate(values)]
        start_col = grid.start_col
        end_col = grid.end_col or tab.column_count
        end_row = grid.end_row or tab.row_count
        last = tab.last_row_with_data(grid.start_row, end_row, start_col, end_col)
        first = None if last is None else min(r for r, cells in tab.rows.items() if grid.start_row <= r <= last
                                              and any(c is not None for c in cells[start_col:end_col]))
        target = grid.start_row if last is None else last + 1
        width = max((len(r) for r in rows), default=0)
        grow_rows = len(rows) if insert == "INSERT_ROWS" else max(0, target + len(rows) - tab.row_count)
        grow_cols = max(0, start_col + width - tab.column_count)
        added = grow_rows * (tab.column_count + grow_cols) + grow_cols * tab.row_count
        if book.cells + added > self.limits.max_cells:
            raise invalid(f"This action would increase the number of cells in the workbook above the limit of "
                          f"{self.limits.max_cells} cells.")
        table_range = None
        if first is not None and last is not None:
            table_width = max(len(tab.rows[r]) for r in range(first, last + 1) if r in tab.rows)
            table_range = tab.a1(first, start_col, last + 1, max(table_width, start_col + 1))
        if insert == "INSERT_ROWS":
            tab.insert_rows(target, len(rows))
        else:
            tab.row_count += grow_rows
        tab.column_count += grow_cols
        for offset, cells in enumerate(rows):
            tab.set_row(target + offset, start_col, cells)
        cells_written = sum(1 for r in rows for c in r if c is not SKIP)
        updates = {"spreadsheetId": book.spreadsheet_id,
                   "updatedRange": tab.a1(target, start_col, target + max(len(rows), 1), start_col + max(width, 1)),
                   "updatedRows": len(rows), "updatedColumns": width, "updatedCells": cells_written}
        result: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
        if table_range:
            result["tableRange"] = table_range
        result["updates"] = updates
        return result


def _enum(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise invalid(f"Invalid value at '{name}', \"{value}\"")
    return value


def _input_option(value: Any) -> str:
    if not value or value == "INPUT_VALUE_OPTION_UNSPECIFIED":
        raise invalid("'valueInputOption' is required but not specified")
    return _enum(str(value), ("RAW", "USER_ENTERED"), "value_input_option")


def _not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.", "NOT_FOUND")


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"Invalid JSON payload received. {exc}") from None
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    return body


def _book_state(book: Spreadsheet) -> dict[str, Any]:
    return {"spreadsheetId": book.spreadsheet_id, "title": book.title, "locale": book.locale,
            "timeZone": book.time_zone,
            "tabs": [{"sheetId": t.sheet_id, "title": t.title, "index": t.index, "rowCount": t.row_count,
                      "columnCount": t.column_count, "hidden": t.hidden,
                      "rows": [[r, cells] for r, cells in sorted(t.rows.items())]} for t in book.tabs]}


def _book_from_state(data: dict[str, Any]) -> Spreadsheet:
    book = Spreadsheet(data["spreadsheetId"], data["title"], locale=data.get("locale", "en_US"),
                       time_zone=data.get("timeZone", "Africa/Nairobi"))
    for t in data.get("tabs", []):
        book.tabs.append(Tab(t["sheetId"], t["title"], t["index"], t["rowCount"], t["columnCount"],
                             t.get("hidden", False), {int(r): list(cells) for r, cells in t.get("rows", [])}))
    return book

