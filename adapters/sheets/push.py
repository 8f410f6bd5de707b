"""Push a relation onto a tab: where it lands, what must be refused before sending, and the
requests (add the tab or grow its grid, clear what the new extent leaves of the old one while
writing ≤ 2 MB bodies, RAW)."""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from migo_sync.adapter import PushUnit
from migo_sync.adapters.sheets.a1 import format_range
from migo_sync.adapters.sheets.client import SheetsClient, add_sheet_request, resize_request
from migo_sync.adapters.sheets.config import TabOptions
from migo_sync.adapters.sheets.payload import Body, Chunk, RowTooLarge, pack
from migo_sync.adapters.sheets.tabs import grid_size, missing_tab, tab_properties
from migo_sync.adapters.sheets.values import to_cell

MAX_CELLS = 10_000_000
MAX_CELL_CHARS = 50_000


@dataclass(frozen=True)
class Anchor:
    """Where a push's header lands, from the options alone (what the rows' checks and bodies need)."""

    spreadsheet_id: str
    title: str
    header_row: int               # 0-based, absolute in the tab
    start_col: int

    @classmethod
    def of(cls, options: TabOptions) -> Anchor:
        grid = options.grid_range()
        return cls(options.spreadsheet_id, options.tab, grid.start_row + options.header_row - 1, grid.start_col)


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

    @classmethod
    def resolve(cls, options: TabOptions, meta: dict[str, Any]) -> Target:
        props = tab_properties(meta, options.tab)
        if props is None and not options.create_tab:
            raise missing_tab(options, meta)
        grid = options.grid_range()
        sizes = {s["properties"]["title"]: grid_size(s["properties"]) for s in meta.get("sheets", [])}
        other = sum(r * c for title, (r, c) in sizes.items() if title != options.tab)
        rows, cols = grid_size(props) if props else (0, 0)
        anchor = Anchor.of(options)
        return cls(options.spreadsheet_id, options.tab, props["sheetId"] if props else None, rows, cols, other,
                   anchor.header_row, anchor.start_col, grid.end_row, grid.end_col)

    def needed(self, records: int, width: int) -> tuple[int, int]:
        return self.header_row + 1 + records, self.start_col + width

    def grid_after(self, records: int, width: int) -> tuple[int, int]:
        """The grid once written: a new tab is sized to the data; an old one only ever grows."""
        rows, cols = self.needed(records, width)
        if self.sheet_id is None:
            return max(rows, 1), max(cols, 1)
        return max(rows, self.row_count), max(cols, self.column_count)


def preflight(remotes: list[str], target: Target, unit: PushUnit, max_request_bytes: int) -> str | None:
    """Why this unit must not be sent (None: send it): range fit, the 10M-cell and 50,000-character
    limits, values JSON cannot carry, a row larger than one request."""
    records = [] if unit.delete else unit.records
    return fit(remotes, target, len(records)) or Rows.scan(remotes, target, unit, max_request_bytes, None).reason


def fit(remotes: list[str], target: Target, records: int) -> str | None:
    """The checks that need the spreadsheet's metadata (or its range): the rows fit the range, the
    grid stays under Google's cell limit, every header fits a cell."""
    width = len(remotes)
    rows, _ = target.needed(records, width)
    where = f"tab '{target.title}' of spreadsheet '{target.spreadsheet_id}'"
    if target.end_row is not None and rows > target.end_row:
        return (f"{records:,} rows do not fit in the mapped range of {where}: it ends at row "
                f"{target.end_row} (widen options.range)")
    grid_rows, grid_cols = target.grid_after(records, width)
    total = target.other_cells + grid_rows * grid_cols
    if total > MAX_CELLS:
        return (f"{where} would need a {grid_rows:,} x {grid_cols:,} grid; with the other tabs' "
                f"{target.other_cells:,} cells the spreadsheet would hold {total:,} cells, over Google's "
                f"limit of {MAX_CELLS:,} (delete unused rows/columns or tabs, or push to another spreadsheet)")
    for name in remotes:
        if len(name) > MAX_CELL_CHARS:
            return f"header '{name[:40]}...' is over Google's {MAX_CELL_CHARS:,}-character cell limit"
    return None


@dataclass
class Rows:
    """A unit's rows read through once, before the spreadsheet's metadata is needed: why one cannot
    be sent (None: all can), and the first values:batchUpdate body, made as they are read (None when
    not asked for, or when a row cannot be sent). Held from check() to write(): at most one body."""

    reason: str | None
    first: Body | None

    @classmethod
    def scan(cls, remotes: list[str], place: Target | Anchor, unit: PushUnit, max_request_bytes: int,
             body_limit: int | None) -> Rows:
        """The per-row checks (a cell's 50,000 characters, values JSON cannot carry, a row larger
        than one request): they depend on the tab's anchor (the options), not on the metadata."""
        records = [] if unit.delete else unit.records
        width = len(remotes)
        first: Body | None = None
        chunk = Chunk(place.title, place.header_row, place.start_col) if body_limit is not None else None
        if chunk is not None and not _joins(chunk, orjson.dumps(remotes), body_limit):
            chunk = None
        # A row's JSON is at most ~6 bytes per character (\uXXXX escapes) plus ~40 per cell: only a
        # row whose text could come near the request limit is serialised here to know for sure.
        room = max_request_bytes - 200 - len(place.title) * 2
        for index, record in enumerate(records):
            chars = 0
            for position, name in enumerate(remotes):
                value = record.get(name)
                if isinstance(value, str):
                    chars += len(value)
                    if len(value) > MAX_CELL_CHARS:
                        row = place.header_row + 1 + index
                        cell = format_range(place.title, row, place.start_col + position, row + 1,
                                            place.start_col + position + 1, always_quote=False)
                        return cls(f"{cell} ({name}, key {_row_key(unit, index)}) would hold {len(value):,} "
                                   f"characters, over Google's {MAX_CELL_CHARS:,}-character cell limit", None)
                elif _unwritable(value):
                    return cls(f"{name} of key {_row_key(unit, index)} is {value}, which a sheet cannot hold", None)
            encoded = None
            if chars * 6 + 40 * width > room:
                encoded = orjson.dumps([to_cell(record.get(name)) for name in remotes])
                if len(encoded) > room:
                    return cls(f"the row of key {_row_key(unit, index)} is {len(encoded):,} bytes as JSON, over "
                               f"the {max_request_bytes:,}-byte request limit on its own", None)
            if chunk is not None and not _joins(chunk, encoded or orjson.dumps(
                    [to_cell(record.get(name)) for name in remotes]), body_limit):
                first, chunk = chunk.body(), None  # the first body is full: the rest is encoded when sent
        if chunk is not None and chunk.count:
            first = chunk.body()
        return cls(None, first)


def write_tab(client: SheetsClient, remotes: list[str], options: TabOptions, target: Target, unit: PushUnit,
              max_request_bytes: int, concurrency: int = 1, first: Body | None = None) -> str:
    """Send the unit; returns the range now holding the header and every row.

    The writes cover the header and every row, full width; only what lies outside them (old rows
    below, old columns to the right) is cleared. Those ranges are disjoint, so the clear and the
    writes go out together, up to `concurrency` requests in flight (each body at most 2 MB).
    `first`: the first body, made by the checks from the same rows (`Rows.scan`); the rest follow it."""
    records = ordered(unit, options, remotes)
    width = len(remotes)
    grid_rows, grid_cols = target.grid_after(len(records), width)
    stale: list[str] = []
    if target.sheet_id is None:
        reply = client.structure(target.spreadsheet_id, [add_sheet_request(target.title, grid_rows, grid_cols)])
        target.sheet_id = int(reply["replies"][0]["addSheet"]["properties"]["sheetId"])
    else:
        if (grid_rows, grid_cols) != (target.row_count, target.column_count):
            client.structure(target.spreadsheet_id, [resize_request(target.sheet_id, grid_rows, grid_cols)])
        end_row = min(target.end_row or grid_rows, target.row_count)
        end_col = min(target.end_col or grid_cols, target.column_count)
        rows_end, cols_end = target.header_row + 1 + len(records), target.start_col + width
        if rows_end < end_row and target.start_col < end_col:  # old rows below the new ones
            stale.append(format_range(target.title, rows_end, target.start_col, end_row, end_col))
        if cols_end < end_col and target.header_row < min(rows_end, end_row):  # old columns to the right
            stale.append(format_range(target.title, target.header_row, cols_end, min(rows_end, end_row), end_col))
    limit = max(1, concurrency)
    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="sheets-write") as pool:
        pending: deque[Future[dict[str, Any]]] = deque()
        if stale:
            pending.append(pool.submit(client.batch_clear, target.spreadsheet_id, stale))
        for body in _bodies(remotes, target, records, max_request_bytes, first):
            while len(pending) >= limit:  # at most `limit` bodies held at once
                pending.popleft().result()
            pending.append(pool.submit(client.batch_update_body, target.spreadsheet_id, body.content,
                                       f"rows {body.start_row + 1}-{body.start_row + body.rows} of '{target.title}'"))
        while pending:
            pending.popleft().result()
    return format_range(target.title, target.header_row, target.start_col, target.header_row + 1 + len(records),
                        target.start_col + width)


def ordered(unit: PushUnit, options: TabOptions, remotes: list[str]) -> Sequence[dict[str, Any]]:
    """The unit's records in the tab's order: the engine streams a whole tab already sorted by
    push_order(); a plain list (a direct caller) is sorted here."""
    if unit.delete:
        return []
    return sort_records(unit.records, options.order_by, remotes) if isinstance(unit.records, list) else unit.records


def _bodies(remotes: list[str], target: Target, records: Sequence[dict[str, Any]], max_request_bytes: int,
            first: Body | None) -> Iterator[Body]:
    if first is None:
        yield from pack(target.title, target.header_row, target.start_col, encode(remotes, records),
                        max_request_bytes)
        return
    yield first
    done = first.rows - 1  # (the header is the first body's first row)
    if done < len(records):
        rest = (orjson.dumps([to_cell(record.get(name)) for name in remotes])
                for index, record in enumerate(records) if index >= done)
        yield from pack(target.title, first.start_row + first.rows, target.start_col, rest, max_request_bytes)


def encode(remotes: list[str], records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """The header, then every record, each serialised as one JSON array (RAW values)."""
    yield orjson.dumps(remotes)
    for record in records:
        yield orjson.dumps([to_cell(record.get(name)) for name in remotes])


def sort_spec(item: str, remotes: list[str]) -> tuple[str | None, bool]:
    """An `order_by` entry as (remote field, descending); (None, False) when it names no field."""
    if item in remotes:
        return item, False
    name, _, direction = item.rpartition(" ")
    if direction.lower() in ("asc", "desc") and name in remotes:
        return name, direction.lower() == "desc"
    return None, False


def sort_records(records: list[dict[str, Any]], order_by: list[str], remotes: list[str]) -> list[dict[str, Any]]:
    """Records in `order_by` order (stable; NULLs last), else as the engine gave them."""
    result = records
    for item in reversed(order_by):
        name, descending = sort_spec(item, remotes)
        if name is None:
            continue
        present = [r for r in result if r.get(name) is not None]
        missing = [r for r in result if r.get(name) is None]
        result = sorted(present, key=operator.itemgetter(name), reverse=descending) + missing
    return result


def _joins(chunk: Chunk, row: bytes, limit: int | None) -> bool:
    """Add `row` to `chunk` when it fits (False: it does not, the body is full)."""
    try:
        fits = limit is not None and chunk.fits(row, limit)
    except RowTooLarge:  # (the checks refuse such a row first; write_tab would raise it)
        return False
    if fits:
        chunk.add(row)
    return fits


def _unwritable(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, Decimal) and not value.is_finite()


def _row_key(unit: PushUnit, index: int) -> str:
    return unit.row_keys[index] if index < len(unit.row_keys) else f"#{index + 1}"
