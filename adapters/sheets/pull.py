"""Pull a tab or range: the header names the columns, rows are read in windows and typed by the
mapping (serial numbers → dates, numbers → Decimal), blank rows skipped, problems named by cell."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from migo_sync.adapter import PullBatch
from migo_sync.adapters.sheets.a1 import column_letters, format_range
from migo_sync.adapters.sheets.client import SheetsClient
from migo_sync.adapters.sheets.config import TabOptions, tab_options
from migo_sync.adapters.sheets.tabs import grid_size, missing_tab, suggest, tab_properties
from migo_sync.adapters.sheets.values import serial_to_date, serial_to_datetime
from migo_sync.errors import ConfigError
from migo_sync.mapping.model import FieldType, Mapping

Bounds = tuple[int, int, int, int]  # header row, first column, end row, end column (0-based, ends exclusive)


Metadata = Callable[[str], dict[str, Any]]


def source(metadata: Metadata, mapping: Mapping) -> tuple[TabOptions, Bounds]:
    """A pull's options and the bounds of its range inside the tab's live grid (`metadata` reads a
    spreadsheet's metadata: the adapter's, read once per run)."""
    options = tab_options(mapping.options, mapping.label)
    meta = metadata(options.spreadsheet_id)
    props = tab_properties(meta, options.tab)
    if props is None:
        raise missing_tab(options, meta)
    grid = options.grid_range()
    rows, cols = grid_size(props)
    header_row = grid.start_row + options.header_row - 1
    end_row = min(grid.end_row or rows, rows)
    end_col = min(grid.end_col or cols, cols)
    if header_row >= end_row or grid.start_col >= end_col:
        raise ConfigError(f"sheets: spreadsheet '{options.spreadsheet_id}': header row {header_row + 1} is "
                          f"outside tab '{options.tab}' ({rows} rows x {cols} columns)")
    return options, (header_row, grid.start_col, end_row, end_col)


def window(client: SheetsClient, options: TabOptions, start_row: int, start_col: int, end_row: int,
           end_col: int) -> list[list[Any]]:
    """Rows of a bounded range, unformatted, dates as serial numbers."""
    range_ = format_range(options.tab, start_row, start_col, end_row, end_col)
    body = client.get(options.spreadsheet_id, range_, value_render="UNFORMATTED_VALUE",
                      date_time_render="SERIAL_NUMBER")
    values: list[list[Any]] = body.get("values", [])
    return values


def header_cells(client: SheetsClient, options: TabOptions, header_row: int, start_col: int,
                 end_col: int) -> list[str]:
    """The header row as people see it (FORMATTED_VALUE): a header cell holding a date reads
    "2020-01-01", as typed and shown, not its serial number 43831 (data rows stay unformatted)."""
    range_ = format_range(options.tab, header_row, start_col, header_row + 1, end_col)
    body = client.get(options.spreadsheet_id, range_, value_render="FORMATTED_VALUE",
                      date_time_render="FORMATTED_STRING")
    values: list[list[Any]] = body.get("values", [])
    return [header_text(v) for v in (values[0] if values else [])]


def live_header(client: SheetsClient, metadata: Metadata, mapping: Mapping) -> list[str]:
    options, (header_row, start_col, _, end_col) = source(metadata, mapping)
    return header_cells(client, options, header_row, start_col, end_col)


def read_tab(client: SheetsClient, metadata: Metadata, mapping: Mapping, concurrency: int = 1) -> Iterator[PullBatch]:
    """Stream the range in windows of `window_rows`, after the header row (read as people see it).
    The header and the windows depend only on the grid: they are read together, up to
    `concurrency` windows in flight (and held) at once, each loaded in order."""
    options, (header_row, start_col, end_row, end_col) = source(metadata, mapping)
    bounds = [(row, min(row + options.window_rows, end_row))
              for row in range(header_row + 1, end_row, options.window_rows)]
    upcoming = iter(bounds)
    pending: deque[tuple[int, Future[list[list[Any]]]]] = deque()
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="sheets-window")

    def fill() -> None:
        while len(pending) < max(1, concurrency):
            span = next(upcoming, None)
            if span is None:
                return
            pending.append((span[0], pool.submit(window, client, options, span[0], start_col, span[1], end_col)))

    try:
        fill()
        header = header_cells(client, options, header_row, start_col, end_col)
        converters = [(remote, index, converter(field_type))
                      for remote, index, field_type in columns(mapping, options, header, header_row, start_col)]
        keys = [f.remote for f in mapping.fields if f.column in mapping.key]
        yielded = False
        while pending:
            first_row, future = pending.popleft()
            rows = future.result()
            fill()  # the next window goes out while this one is converted and loaded
            records = []
            for offset, cells in enumerate(rows):
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
            # The API answers a range's rows only up to the last one holding data: a short window is
            # the last one, and when no window before it held records, its records are the whole read.
            stop = min(first_row + options.window_rows, end_row)
            ends_here = stop >= end_row or len(rows) < stop - first_row
            total = len(records) if ends_here and not yielded else None
            if records:
                yielded = True
                yield PullBatch(records, state=None, total=total)
        if not yielded:
            yield PullBatch([], state=None)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def columns(mapping: Mapping, options: TabOptions, header: list[str], header_row: int,
            start_col: int) -> list[tuple[str, int, FieldType]]:
    """(remote, position in the row, type) of every mapped field; header problems are ConfigErrors."""
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
    found = []
    for spec in mapping.fields:
        if spec.column is None:
            continue
        if spec.remote not in seen:
            raise ConfigError(f"{where}: no column '{spec.remote}' (mapping {mapping.name}, field "
                              f"{spec.column}){suggest(spec.remote, list(seen))}; headers: "
                              + ", ".join(f"'{h}'" for h in seen))
        found.append((spec.remote, seen[spec.remote], spec.type))
    return found


def header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# Plain ASCII decimal text only: Decimal() alone would also read "3_1_0" as 310, "NaN", "Infinity"
# and non-ASCII digits ("١٢"); such text stays text (the warehouse then refuses it for a decimal column).
DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def converter(field_type: FieldType) -> Callable[[Any], Any]:
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
        if isinstance(value, str) and DECIMAL_TEXT.fullmatch(value.strip()):
            return Decimal(value.strip())  # a value pushed as exact text (too precise for a double)
        return plain(value)

    chosen: dict[FieldType, Callable[[Any], Any]] = {FieldType.date: as_date, FieldType.timestamp: as_timestamp,
                                                     FieldType.decimal: as_decimal}
    return chosen.get(field_type, plain)
