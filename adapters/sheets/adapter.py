"""The Google Sheets adapter: a relation onto a tab (push), a tab or range into a table (pull).

Push (unit = the whole object): pre-flight (cell limits, request size, range fit) → add the tab
or grow its grid if needed → clear the previous extent → write the header and every row in
values:batchUpdate requests of at most 2 MB, always RAW. Pull: read the header, then the rows in
windows of `window_rows`, typing values by the mapping (serial numbers → dates for date and
timestamp fields, numbers → Decimal for decimal fields); blank rows are skipped.
"""

from __future__ import annotations

import difflib
import math
import operator
import platform
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from migo_sync.adapter import BaseAdapter, PullBatch, PushUnit, RemoteField, RemoteObject, UnitResult
from migo_sync.adapters.sheets import SYSTEM
from migo_sync.adapters.sheets.a1 import column_letters, format_range
from migo_sync.adapters.sheets.auth import ServiceAccountAuth, load_key
from migo_sync.adapters.sheets.client import SheetsClient, add_sheet_request, resize_request
from migo_sync.adapters.sheets.config import TabOptions, option_problems, sheets_settings, tab_options
from migo_sync.adapters.sheets.payload import RowTooLarge, pack
from migo_sync.adapters.sheets.values import serial_to_date, serial_to_datetime, to_cell
from migo_sync.errors import ConfigError, FatalRemoteError
from migo_sync.http import RateLimiter
from migo_sync.mapping.model import FieldType, Mapping

MAX_CELLS = 10_000_000
MAX_CELL_CHARS = 50_000
PUSH_MODES = ("mirror",)
PULL_MODES = ("mirror", "upsert")


@dataclass
class Target:
    """Where a push lands, resolved against the spreadsheet's metadata."""

    spreadsheet_id: str
    title: str
    sheet_id: int | None          # None: the tab does not exist yet
    row_count: int
    column_count: int
    other_cells: int              # grid cells of every other tab
    header_row: int               # 0-based, absolute in the tab
    start_col: int
    end_row: int | None           # range bounds from options.range (exclusive), None = open
    end_col: int | None

    def needed(self, records: int, width: int) -> tuple[int, int]:
        return self.header_row + 1 + records, self.start_col + width

    def grid_after(self, records: int, width: int) -> tuple[int, int]:
        rows, cols = self.needed(records, width)
        if self.sheet_id is None:
            return max(rows, 1), max(cols, 1)
        return max(rows, self.row_count), max(cols, self.column_count)


class SheetsAdapter(BaseAdapter):
    name = "sheets"
    spec = SYSTEM

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.settings = sheets_settings(context.settings)
        self._client: SheetsClient | None = None
        self._metadata: dict[str, dict[str, Any]] = {}  # fetched by check(), used once by write()

    @property
    def client(self) -> SheetsClient:
        """Built on first use, so validate() and catalog() need no credentials."""
        if self._client is None:
            key = load_key(self.context.credentials)
            auth = ServiceAccountAuth(key, self.context.urls.get("token_url") or SYSTEM.extra_urls["token_url"])
            rate = self.settings.rate_limit
            http = self.context.http(
                self.context.base_url, auth=auth,
                headers={"x-goog-api-client": f"gl-python/{platform.python_version()} migo-sync cred-type/sa"},
                limiter=RateLimiter(rate or None, burst=self.settings.rate_burst),
            )
            self._client = SheetsClient(http, system=self.name)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.http.close()
            self._client = None

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
                found, _ = _sort_spec(item, remotes)
                if found is None:
                    problems.append((f"options.order_by[{i}]", f"'{item}' is not a remote field of this "
                                     f"mapping{_suggest(item, remotes)}"))
        grid = options.grid_range()
        if grid.end_col is not None and grid.end_col - grid.start_col < len(mapping.fields):
            problems.append(("options.range", f"{options.range} is {grid.end_col - grid.start_col} columns wide; "
                             f"the mapping has {len(mapping.fields)} fields"))
        if grid.end_row is not None and grid.end_row - grid.start_row < options.header_row:
            problems.append(("options.header_row", f"row {options.header_row} is outside {options.range}"))
        return problems

    def describe(self, mapping: Mapping) -> RemoteObject:
        """Pull: the live header of the mapped range as the object's fields (network).

        Push: no request at all. The header is what the push writes, so the mapping's own remote
        names are the fields; and the engine describes every push before diffing, so a rerun with
        nothing changed must not touch the network.
        """
        base = super().describe(mapping)
        if mapping.direction == "push":
            fields = tuple(RemoteField(f.remote) for f in mapping.fields)
            return RemoteObject(base.name, base.directions, base.modes, base.unit, fields, True, base.description)
        options, (header_row, start_col, _, end_col) = self._source(mapping)
        values = self._window(options, header_row, start_col, header_row + 1, end_col)
        names = [_header_text(v) for v in (values[0] if values else [])]
        fields = tuple(RemoteField(name) for name in names if name)
        return RemoteObject(base.name, base.directions, base.modes, base.unit, fields, True, base.description)

    # --- push ----------------------------------------------------------------------------------

    def check(self, mapping: Mapping, units: Sequence[PushUnit]) -> dict[str, str]:
        """Refuse a unit before anything is sent: cell limits, range fit, values JSON cannot carry."""
        options = tab_options(mapping.options, mapping.label)
        rejects: dict[str, str] = {}
        meta = self.client.spreadsheet(options.spreadsheet_id)
        self._metadata[options.spreadsheet_id] = meta
        target = self._target(options, meta)
        for unit in units:
            reason = self._preflight(mapping, target, unit)
            if reason:
                rejects[unit.key] = reason
        return rejects

    def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]:
        if len(units) != 1:
            why = f"a sheets tab is pushed as one unit (the whole relation), got {len(units)}"
            return [UnitResult(u.key, ok=False, reason=why) for u in units]
        unit = units[0]
        options = tab_options(mapping.options, mapping.label)
        meta = self._metadata.pop(options.spreadsheet_id, None) or self.client.spreadsheet(options.spreadsheet_id)
        target = self._target(options, meta)
        reason = self._preflight(mapping, target, unit)
        if reason:
            return [UnitResult(unit.key, ok=False, reason=reason)]
        try:
            written = self._write(mapping, options, target, unit)
        except FatalRemoteError as exc:
            return [UnitResult(unit.key, ok=False, reason=exc.message)]
        except RowTooLarge as exc:
            return [UnitResult(unit.key, ok=False, reason=str(exc))]
        return [UnitResult(unit.key, ok=True, remote_id=written)]

    def _target(self, options: TabOptions, meta: dict[str, Any]) -> Target:
        props = _tab_properties(meta, options.tab)
        if props is None and not options.create_tab:
            raise _missing_tab(options, meta)
        grid = options.grid_range()
        sizes = {s["properties"]["title"]: _grid(s["properties"]) for s in meta.get("sheets", [])}
        other = sum(r * c for title, (r, c) in sizes.items() if title != options.tab)
        rows, cols = _grid(props) if props else (0, 0)
        return Target(options.spreadsheet_id, options.tab, props["sheetId"] if props else None, rows, cols, other,
                      grid.start_row + options.header_row - 1, grid.start_col, grid.end_row, grid.end_col)

    def _preflight(self, mapping: Mapping, target: Target, unit: PushUnit) -> str | None:
        records = [] if unit.delete else unit.records
        width = len(mapping.fields)
        rows, _ = target.needed(len(records), width)
        where = f"tab '{target.title}' of spreadsheet '{target.spreadsheet_id}'"
        if target.end_row is not None and rows > target.end_row:
            return (f"{len(records):,} rows do not fit in the mapped range of {where}: it ends at row "
                    f"{target.end_row} (widen options.range)")
        grid_rows, grid_cols = target.grid_after(len(records), width)
        total = target.other_cells + grid_rows * grid_cols
        if total > MAX_CELLS:
            return (f"{where} would need a {grid_rows:,} x {grid_cols:,} grid; with the other tabs' "
                    f"{target.other_cells:,} cells the spreadsheet would hold {total:,} cells, over Google's "
                    f"limit of {MAX_CELLS:,} (delete unused rows/columns or tabs, or push to another spreadsheet)")
        remotes = [f.remote for f in mapping.fields]
        for name in remotes:
            if len(name) > MAX_CELL_CHARS:
                return f"header '{name[:40]}...' is over Google's {MAX_CELL_CHARS:,}-character cell limit"
        # A row's JSON is at most ~6 bytes per character (\uXXXX escapes) plus ~40 per cell: only a
        # row whose text could come near the request limit is serialised here to know for sure.
        room = self.settings.max_request_bytes - 200 - len(target.title) * 2
        for index, record in enumerate(records):
            chars = 0
            for position, name in enumerate(remotes):
                value = record.get(name)
                if isinstance(value, str):
                    chars += len(value)
                    if len(value) > MAX_CELL_CHARS:
                        row = target.header_row + 1 + index
                        cell = format_range(target.title, row, target.start_col + position, row + 1,
                                            target.start_col + position + 1, always_quote=False)
                        return (f"{cell} ({name}, key {_row_key(unit, index)}) would hold {len(value):,} "
                                f"characters, over Google's {MAX_CELL_CHARS:,}-character cell limit")
                elif _unwritable(value):
                    return f"{name} of key {_row_key(unit, index)} is {value}, which a sheet cannot hold"
            if chars * 6 + 40 * width > room:
                size = len(orjson.dumps([to_cell(record.get(name)) for name in remotes]))
                if size > room:
                    return (f"the row of key {_row_key(unit, index)} is {size:,} bytes as JSON, over the "
                            f"{self.settings.max_request_bytes:,}-byte request limit on its own")
        return None

    def _write(self, mapping: Mapping, options: TabOptions, target: Target, unit: PushUnit) -> str:
        records = [] if unit.delete else _sorted(unit.records, options.order_by, [f.remote for f in mapping.fields])
        remotes = [f.remote for f in mapping.fields]
        width = len(remotes)
        grid_rows, grid_cols = target.grid_after(len(records), width)
        client = self.client
        if target.sheet_id is None:
            reply = client.structure(target.spreadsheet_id, [add_sheet_request(target.title, grid_rows, grid_cols)])
            target.sheet_id = int(reply["replies"][0]["addSheet"]["properties"]["sheetId"])
        else:
            if (grid_rows, grid_cols) != (target.row_count, target.column_count):
                client.structure(target.spreadsheet_id, [resize_request(target.sheet_id, grid_rows, grid_cols)])
            end_row = min(target.end_row or grid_rows, target.row_count)
            end_col = min(target.end_col or grid_cols, target.column_count)
            if target.header_row < end_row and target.start_col < end_col:
                client.batch_clear(target.spreadsheet_id, [format_range(target.title, target.header_row,
                                                                        target.start_col, end_row, end_col)])
        rows = _encode(remotes, records)
        for body in pack(target.title, target.header_row, target.start_col, rows, self.settings.max_request_bytes):
            client.batch_update_body(target.spreadsheet_id, body.content,
                                     f"rows {body.start_row + 1}-{body.start_row + body.rows} of '{target.title}'")
        return format_range(target.title, target.header_row, target.start_col, target.header_row + 1 + len(records),
                            target.start_col + width)

    # --- pull ----------------------------------------------------------------------------------

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]:
        """Stream the range in windows of `window_rows` (the first one carries the header row);
        `state` is always None: a sheet has no cursor, every pull reads it whole."""
        options, (header_row, start_col, end_row, end_col) = self._source(mapping)
        stop = min(header_row + 1 + options.window_rows, end_row)
        values = self._window(options, header_row, start_col, stop, end_col)
        header = [_header_text(v) for v in (values[0] if values else [])]
        columns = self._columns(mapping, options, header, header_row, start_col)
        converters = [(remote, index, _converter(field_type)) for remote, index, field_type in columns]
        keys = [f.remote for f in mapping.fields if f.column in mapping.key]
        yielded = False
        window, first_row = values[1:], header_row + 1
        while True:
            records = []
            for offset, cells in enumerate(window):
                record = {remote: convert(cells[index] if index < len(cells) else "")
                          for remote, index, convert in converters}
                if all(v is None for v in record.values()):
                    continue  # a blank row (or one with data only in unmapped columns): skipped
                blank = next((r for r in keys if record.get(r) is None), None)
                if blank is not None:
                    index = next(i for r, i, _ in converters if r == blank)
                    cell = format_range(options.tab, first_row + offset, start_col + index, first_row + offset + 1,
                                        start_col + index + 1, always_quote=False)
                    raise ConfigError(f"sheets: spreadsheet '{options.spreadsheet_id}': {cell} is blank but the "
                                      f"row has data; '{blank}' is part of the key of {mapping.name}")
                records.append(record)
            if records:
                yielded = True
                yield PullBatch(records, state=None)
            if stop >= end_row:
                break
            first_row, stop = stop, min(stop + options.window_rows, end_row)
            window = self._window(options, first_row, start_col, stop, end_col)
        if not yielded:
            yield PullBatch([], state=None)

    def _source(self, mapping: Mapping) -> tuple[TabOptions, tuple[int, int, int, int]]:
        """A pull's options and (header row, first column, end row, end column), from the live grid."""
        options = tab_options(mapping.options, mapping.label)
        meta = self.client.spreadsheet(options.spreadsheet_id)
        props = _tab_properties(meta, options.tab)
        if props is None:
            raise _missing_tab(options, meta)
        grid = options.grid_range()
        rows, cols = _grid(props)
        header_row = grid.start_row + options.header_row - 1
        end_row = min(grid.end_row or rows, rows)
        end_col = min(grid.end_col or cols, cols)
        if header_row >= end_row or grid.start_col >= end_col:
            raise ConfigError(f"sheets: spreadsheet '{options.spreadsheet_id}': header row {header_row + 1} is "
                              f"outside tab '{options.tab}' ({rows} rows x {cols} columns)")
        return options, (header_row, grid.start_col, end_row, end_col)

    def _window(self, options: TabOptions, start_row: int, start_col: int, end_row: int, end_col: int
                ) -> list[list[Any]]:
        range_ = format_range(options.tab, start_row, start_col, end_row, end_col)
        body = self.client.get(options.spreadsheet_id, range_, value_render="UNFORMATTED_VALUE",
                               date_time_render="SERIAL_NUMBER")
        values: list[list[Any]] = body.get("values", [])
        return values

    def _columns(self, mapping: Mapping, options: TabOptions, header: list[str], header_row: int,
                 start_col: int) -> list[tuple[str, int, FieldType]]:
        where = f"sheets: spreadsheet '{options.spreadsheet_id}', tab '{options.tab}', header row {header_row + 1}"
        if not any(header):
            raise ConfigError(f"{where} is empty (set options.header_row to the row holding the column names)")
        last = max(i for i, h in enumerate(header) if h)
        seen: dict[str, int] = {}
        for index, name in enumerate(header[:last + 1]):
            letter = column_letters(start_col + index)
            if not name:
                raise ConfigError(f"{where}: column {letter} has a blank header; name it or move the data out "
                                  "of the range")
            if name in seen:
                raise ConfigError(f"{where}: header '{name}' appears twice (columns "
                                  f"{column_letters(start_col + seen[name])} and {letter}); make them unique")
            seen[name] = index
        columns = []
        for spec in mapping.fields:
            if spec.column is None:
                continue
            if spec.remote not in seen:
                raise ConfigError(f"{where}: no column '{spec.remote}' (mapping {mapping.name}, field "
                                  f"{spec.column}){_suggest(spec.remote, list(seen))}; headers: "
                                  + ", ".join(f"'{h}'" for h in seen))
            columns.append((spec.remote, seen[spec.remote], spec.type))
        return columns


# --- helpers -----------------------------------------------------------------------------------

def _grid(props: dict[str, Any]) -> tuple[int, int]:
    grid = props.get("gridProperties") or {}
    return int(grid.get("rowCount", 0)), int(grid.get("columnCount", 0))


def _tab_properties(meta: dict[str, Any], title: str) -> dict[str, Any] | None:
    for sheet in meta.get("sheets", []):
        props: dict[str, Any] = sheet.get("properties", {})
        if props.get("title") == title:
            return props
    return None


def _missing_tab(options: TabOptions, meta: dict[str, Any]) -> ConfigError:
    titles = [s.get("properties", {}).get("title") for s in meta.get("sheets", [])]
    return ConfigError(f"sheets: spreadsheet '{options.spreadsheet_id}' has no tab '{options.tab}'"
                       f"{_suggest(options.tab, [t for t in titles if t])} (tabs: "
                       + ", ".join(f"'{t}'" for t in titles) + ")")


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _unwritable(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, Decimal) and not value.is_finite()


def _row_key(unit: PushUnit, index: int) -> str:
    return unit.row_keys[index] if index < len(unit.row_keys) else f"#{index + 1}"


def _sort_spec(item: str, remotes: list[str]) -> tuple[str | None, bool]:
    if item in remotes:
        return item, False
    name, _, direction = item.rpartition(" ")
    if direction.lower() in ("asc", "desc") and name in remotes:
        return name, direction.lower() == "desc"
    return None, False


def _sorted(records: list[dict[str, Any]], order_by: list[str], remotes: list[str]) -> list[dict[str, Any]]:
    """Records in `order_by` order (stable; NULLs last), else as the engine gave them."""
    result = records
    for item in reversed(order_by):
        name, descending = _sort_spec(item, remotes)
        if name is None:
            continue
        present = [r for r in result if r.get(name) is not None]
        missing = [r for r in result if r.get(name) is None]
        result = sorted(present, key=operator.itemgetter(name), reverse=descending) + missing
    return result


def _encode(remotes: list[str], records: list[dict[str, Any]]) -> Iterator[bytes]:
    """The header, then every record, each serialised as one JSON array (RAW values)."""
    yield orjson.dumps(remotes)
    for record in records:
        yield orjson.dumps([to_cell(record.get(name)) for name in remotes])


def _converter(field_type: FieldType) -> Any:
    """How a cell read UNFORMATTED (serial dates) becomes the field's value; "" is NULL."""
    def plain(value: Any) -> Any:
        return None if value == "" else value

    def as_date(value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return serial_to_date(value)
        return plain(value)

    def as_timestamp(value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return serial_to_datetime(value)
        return plain(value)

    def as_decimal(value: Any) -> Any:
        if isinstance(value, float):
            return Decimal(repr(value))  # the shortest text of the double: what the sheet shows
        if isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
        if isinstance(value, str) and value.strip():
            try:  # a value pushed as exact text (too precise for a double) comes back as text
                return Decimal(value.strip())
            except ArithmeticError:
                return value
        return plain(value)

    return {FieldType.date: as_date, FieldType.timestamp: as_timestamp,
            FieldType.decimal: as_decimal}.get(field_type, plain)
