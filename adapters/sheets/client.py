"""Wire calls of the Google Sheets API v4, over an injected httpx.Client (base URL without /v4).

Every call returns the decoded JSON body or raises from the one error tree:

    401 / 403            → AuthError         (credentials refused, scope missing, not shared)
    404                  → ConfigError       (no such spreadsheet, or not visible to this account)
    400 and the rest     → FatalRemoteError  (carries Google's own message)
    429 / 5xx            → handled by the HTTP layer (retried, then UnreachableError)

Writes that land on fixed ranges (values update/batchUpdate/clear/batchClear, a grid resize) are
idempotent by construction and are marked so, letting the HTTP layer resend them after a lost
answer; append and addSheet are not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from migo_sync.errors import AuthError, ConfigError, FatalRemoteError
from migo_sync.redact import redact

VALUE_INPUT_OPTIONS = ("RAW", "USER_ENTERED")
VALUE_RENDER_OPTIONS = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
DATE_TIME_RENDER_OPTIONS = ("SERIAL_NUMBER", "FORMATTED_STRING")
IDEMPOTENT = {"idempotent": True}
JSON = {"Content-Type": "application/json"}

Values = Sequence[Sequence[Any]]


def _segment(text: str) -> str:
    return quote(text, safe="")


class SheetsClient:
    """One method per API call the adapter and the tests need; no policy, no retries."""

    def __init__(self, http: httpx.Client, *, system: str = "sheets") -> None:
        self.http = http
        self.system = system

    # --- spreadsheet level ---------------------------------------------------------------------

    def spreadsheet(self, spreadsheet_id: str) -> dict[str, Any]:
        """Metadata: properties and every tab's sheetId, title, index and gridProperties."""
        response = self.http.get(self._base(spreadsheet_id), params={"includeGridData": "false"})
        return self._json(response, spreadsheet_id)

    def create(self, title: str, sheet_titles: Iterable[str] = ()) -> dict[str, Any]:
        """Create a spreadsheet (tests and the sandbox demo use it)."""
        body = {"properties": {"title": title},
                "sheets": [{"properties": {"title": t}} for t in sheet_titles]}
        return self._json(self.http.post("/v4/spreadsheets", content=orjson.dumps(body), headers=JSON), title)

    def structure(self, spreadsheet_id: str, requests: list[dict[str, Any]]) -> dict[str, Any]:
        """The spreadsheet `:batchUpdate` (addSheet, updateSheetProperties, ...), applied atomically.

        Only a batch of updateSheetProperties (absolute sizes and titles) may be resent safely.
        """
        body = orjson.dumps({"requests": requests, "includeSpreadsheetInResponse": False})
        resendable = all(set(r) == {"updateSheetProperties"} for r in requests)
        response = self.http.post(f"{self._base(spreadsheet_id)}:batchUpdate", content=body, headers=JSON,
                                  extensions=IDEMPOTENT if resendable else {})
        return self._json(response, spreadsheet_id)

    # --- values: reads -------------------------------------------------------------------------

    def get(self, spreadsheet_id: str, range_: str, *, major_dimension: str = "ROWS",
            value_render: str = "UNFORMATTED_VALUE", date_time_render: str = "SERIAL_NUMBER") -> dict[str, Any]:
        """One range as a ValueRange (`values` absent when the range is empty)."""
        params = _read_params(major_dimension, value_render, date_time_render)
        response = self.http.get(f"{self._base(spreadsheet_id)}/values/{_segment(range_)}", params=params)
        return self._json(response, spreadsheet_id, range_)

    def batch_get(self, spreadsheet_id: str, ranges: Sequence[str], *, major_dimension: str = "ROWS",
                  value_render: str = "UNFORMATTED_VALUE", date_time_render: str = "SERIAL_NUMBER"
                  ) -> dict[str, Any]:
        params = httpx.QueryParams([("ranges", r) for r in ranges]).merge(
            _read_params(major_dimension, value_render, date_time_render))
        response = self.http.get(f"{self._base(spreadsheet_id)}/values:batchGet", params=params)
        return self._json(response, spreadsheet_id, ", ".join(ranges))

    # --- values: writes ------------------------------------------------------------------------

    def update(self, spreadsheet_id: str, range_: str, values: Values, *, value_input: str = "RAW",
               major_dimension: str = "ROWS", include_values: bool = False) -> dict[str, Any]:
        params = {"valueInputOption": _input_option(value_input)}
        if include_values:
            params["includeValuesInResponse"] = "true"
        body = orjson.dumps({"range": range_, "majorDimension": major_dimension, "values": values})
        response = self.http.put(f"{self._base(spreadsheet_id)}/values/{_segment(range_)}", params=params,
                                 content=body, headers=JSON)
        return self._json(response, spreadsheet_id, range_)

    def batch_update(self, spreadsheet_id: str, data: Sequence[dict[str, Any]], *,
                     value_input: str = "RAW") -> dict[str, Any]:
        """values:batchUpdate of several ValueRanges, applied atomically."""
        body = orjson.dumps({"valueInputOption": _input_option(value_input), "data": list(data),
                             "includeValuesInResponse": False})
        return self.batch_update_body(spreadsheet_id, body)

    def batch_update_body(self, spreadsheet_id: str, body: bytes, what: str | None = None) -> dict[str, Any]:
        """values:batchUpdate with a body already serialised (the push sizes its chunks exactly)."""
        response = self.http.post(f"{self._base(spreadsheet_id)}/values:batchUpdate", content=body,
                                  headers=JSON, extensions=IDEMPOTENT)
        return self._json(response, spreadsheet_id, what)

    def clear(self, spreadsheet_id: str, range_: str) -> dict[str, Any]:
        response = self.http.post(f"{self._base(spreadsheet_id)}/values/{_segment(range_)}:clear",
                                  content=b"{}", headers=JSON, extensions=IDEMPOTENT)
        return self._json(response, spreadsheet_id, range_)

    def batch_clear(self, spreadsheet_id: str, ranges: Sequence[str]) -> dict[str, Any]:
        response = self.http.post(f"{self._base(spreadsheet_id)}/values:batchClear",
                                  content=orjson.dumps({"ranges": list(ranges)}), headers=JSON,
                                  extensions=IDEMPOTENT)
        return self._json(response, spreadsheet_id, ", ".join(ranges))

    def append(self, spreadsheet_id: str, range_: str, values: Values, *, value_input: str = "RAW",
               insert_data: str = "INSERT_ROWS") -> dict[str, Any]:
        """Append after the table found in `range_`. Not idempotent: a resend appends twice."""
        params = {"valueInputOption": _input_option(value_input), "insertDataOption": insert_data}
        body = orjson.dumps({"range": range_, "majorDimension": "ROWS", "values": values})
        response = self.http.post(f"{self._base(spreadsheet_id)}/values/{_segment(range_)}:append",
                                  params=params, content=body, headers=JSON)
        return self._json(response, spreadsheet_id, range_)

    # --- plumbing ------------------------------------------------------------------------------

    @staticmethod
    def _base(spreadsheet_id: str) -> str:
        if not spreadsheet_id:
            raise ConfigError("sheets: empty spreadsheet id")
        return f"/v4/spreadsheets/{_segment(spreadsheet_id)}"

    def _json(self, response: httpx.Response, spreadsheet_id: str, range_: str | None = None) -> dict[str, Any]:
        if not response.is_success:
            raise self.error(response, spreadsheet_id, range_)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise FatalRemoteError(self.system, f"spreadsheet '{spreadsheet_id}': the answer is not JSON "
                                   f"(HTTP {response.status_code})", status=response.status_code) from None
        if not isinstance(body, dict):
            raise FatalRemoteError(self.system, f"spreadsheet '{spreadsheet_id}': unexpected answer",
                                   status=response.status_code)
        return body

    def error(self, response: httpx.Response, spreadsheet_id: str, range_: str | None) -> Exception:
        """Turn Google's `{"error": {code, message, status}}` into the matching error class."""
        status_code = response.status_code
        message, status = parse_envelope(response)
        where = f"spreadsheet '{spreadsheet_id}'" + (f", range {range_}" if range_ else "")
        if status_code in (401, 403):
            hint = ("share the spreadsheet with the service account's email" if status_code == 403
                    else "check the service-account key")
            return AuthError(self.system, f"{where}: {message} ({status}; {hint})", status=status_code,
                             code=status)
        if status_code == 404:
            return ConfigError(f"{self.system}: {where}: not found ({message}); check the spreadsheet id "
                               "and that it is shared with the service account")
        return FatalRemoteError(self.system, f"{where}: {message} ({status})", status=status_code, code=status)


def parse_envelope(response: httpx.Response) -> tuple[str, str]:
    """(message, status) from Google's error envelope, falling back to the HTTP status line."""
    message, status = f"HTTP {response.status_code}", str(response.status_code)
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        status = str(error.get("status") or status)
    return redact(message), status


def _read_params(major_dimension: str, value_render: str, date_time_render: str) -> dict[str, str]:
    if value_render not in VALUE_RENDER_OPTIONS:
        raise ValueError(f"valueRenderOption must be one of {VALUE_RENDER_OPTIONS}")
    if date_time_render not in DATE_TIME_RENDER_OPTIONS:
        raise ValueError(f"dateTimeRenderOption must be one of {DATE_TIME_RENDER_OPTIONS}")
    return {"majorDimension": major_dimension, "valueRenderOption": value_render,
            "dateTimeRenderOption": date_time_render}


def _input_option(value_input: str) -> str:
    if value_input not in VALUE_INPUT_OPTIONS:  # INPUT_VALUE_OPTION_UNSPECIFIED must never be sent
        raise ValueError(f"valueInputOption must be one of {VALUE_INPUT_OPTIONS}")
    return value_input


def add_sheet_request(title: str, rows: int, columns: int) -> dict[str, Any]:
    return {"addSheet": {"properties": {"title": title, "sheetType": "GRID",
                                        "gridProperties": {"rowCount": rows, "columnCount": columns}}}}


def resize_request(sheet_id: int, rows: int, columns: int) -> dict[str, Any]:
    return {"updateSheetProperties": {
        "properties": {"sheetId": sheet_id, "gridProperties": {"rowCount": rows, "columnCount": columns}},
        "fields": "gridProperties.rowCount,gridProperties.columnCount",
    }}
