"""The emulator's model: spreadsheets, tabs (grids) and sparsely stored cells, with the values
API's semantics (§4 of the API reference): input options, render options, trimming, limits.

A cell is None (empty), a str/int/float/bool, `{"formula": "=..."}` or
`{"serial": 43831.0, "format": "date" | "datetime" | "time"}` (a date typed USER_ENTERED).
Rows are stored as {row index: [cells]} with trailing empties trimmed, so an untouched grid of
any size costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from migo_sync.adapters.sheets.a1 import A1Error, GridRange, column_letters, format_range, parse_range
from migo_sync.adapters.sheets.formula import evaluate
from migo_sync.adapters.sheets.values import date_to_serial, serial_to_datetime

Cell = Any
SKIP = object()  # a JSON null in written values: leave the cell as it is

_NUMBER = re.compile(r"^([+-]?)\$?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?(%?)$")
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DATETIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_FORMATS = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%d %H:%M:%S", "time": "%H:%M:%S"}


class ApiError(Exception):
    """An error answer in Google's envelope: {"error": {"code", "message", "status"}}."""

    def __init__(self, code: int, message: str, status: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def invalid(message: str) -> ApiError:
    return ApiError(400, message, "INVALID_ARGUMENT")


@dataclass
class Limits:
    max_cells: int = 10_000_000
    max_cell_chars: int = 50_000


# --- cell input and output ---------------------------------------------------------------------

def parse_input(value: Any, option: str, limits: Limits, where: str) -> Cell:
    """One JSON value from a write, stored as RAW (verbatim) or USER_ENTERED (as if typed)."""
    if value is None:
        return SKIP
    if isinstance(value, bool | int | float):
        return value
    if not isinstance(value, str):
        kind = "list_value" if isinstance(value, list) else "struct_value"
        raise invalid(f"Invalid {where}: {kind} is not a valid cell value")
    if len(value) > limits.max_cell_chars:
        raise invalid(f"Your input contains more than the maximum of {limits.max_cell_chars} characters "
                      "in a single cell.")
    if value == "":
        return None
    if option == "RAW":
        return value
    return _user_entered(value)


def _user_entered(text: str) -> Cell:
    stripped = text.strip()
    if text.startswith("'"):
        return text[1:] or None
    if text.startswith("="):
        return {"formula": text}
    if stripped.upper() in ("TRUE", "FALSE"):
        return stripped.upper() == "TRUE"
    number = _NUMBER.match(stripped)
    if number:
        sign, digits, exponent, percent = number.groups()
        value = float(digits.replace(",", "")) * (10 ** int(exponent) if exponent else 1)
        value = -value if sign == "-" else value
        value = value / 100 if percent else value
        return int(value) if value.is_integer() and abs(value) < 2**53 and not percent else value
    for pattern, kind in ((_DATE, "date"), (_DATETIME, "datetime"), (_TIME, "time")):
        match = pattern.match(stripped)
        if match:
            try:
                return _date_cell(kind, match.groups())
            except ValueError:
                return text
    return text


def _date_cell(kind: str, parts: tuple[str | None, ...]) -> Cell:
    if kind == "time":
        hours, minutes, seconds = (int(p or 0) for p in parts)
        serial = (hours * 3600 + minutes * 60 + seconds) / 86_400
        if serial >= 1:
            raise ValueError("not a time of day")
        return {"serial": serial, "format": "time"}
    year, month, day = (int(p or 0) for p in parts[:3])
    if kind == "date":
        return {"serial": date_to_serial(date(year, month, day)), "format": "date"}
    hours, minutes, seconds = (int(p or 0) for p in parts[3:6])
    micros = round(float(parts[6]) * 1_000_000) if parts[6] else 0
    moment = datetime(year, month, day, hours, minutes, seconds, micros)
    return {"serial": date_to_serial(moment), "format": "datetime"}


def format_number(value: float | int) -> str:
    """A number as Sheets' automatic format shows it: 53, 0.12, 1.5, 1E+20."""
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    text = f"{value:.15g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}E{int(exponent):+03d}"
    return text


def _format_serial(serial: float, kind: str) -> str:
    moment = serial_to_datetime(serial)
    if kind == "time":
        moment = datetime.combine(date(1899, 12, 30), time()) + timedelta(seconds=round(serial * 86_400))
    return moment.strftime(_FORMATS[kind])


def render(cell: Cell, value_render: str, date_render: str) -> Any:
    """One stored cell as a read returns it under the given render options."""
    if isinstance(cell, dict):
        if "formula" in cell:
            if value_render == "FORMULA":
                return cell["formula"]
            return render(evaluate(cell["formula"]), value_render, date_render)
        if value_render == "FORMATTED_VALUE" or date_render == "FORMATTED_STRING":
            return _format_serial(cell["serial"], cell["format"])
        return _plain_number(cell["serial"])
    if value_render == "FORMATTED_VALUE":
        if isinstance(cell, bool):
            return "TRUE" if cell else "FALSE"
        if isinstance(cell, int | float):
            return format_number(cell)
        return cell
    if isinstance(cell, float):
        return _plain_number(cell)
    return cell


def _plain_number(value: float) -> float | int:
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


# --- grid and tabs -----------------------------------------------------------------------------

@dataclass
class Tab:
    sheet_id: int
    title: str
    index: int
    row_count: int = 1000
    column_count: int = 26
    hidden: bool = False
    rows: dict[int, list[Cell]] = field(default_factory=dict)

    @property
    def cells(self) -> int:
        return self.row_count * self.column_count

    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {"sheetId": self.sheet_id, "title": self.title, "index": self.index,
                                 "sheetType": "GRID",
                                 "gridProperties": {"rowCount": self.row_count, "columnCount": self.column_count}}
        if self.hidden:
            props["hidden"] = True
        return props

    def a1(self, start_row: int, start_col: int, end_row: int, end_col: int) -> str:
        """A range of this tab as responses spell it (quotes only when needed)."""
        return format_range(self.title, start_row, start_col, end_row, end_col, always_quote=False)

    def grid_error(self, row: int, col: int) -> ApiError:
        cell = format_range(self.title, row, col, row + 1, col + 1, always_quote=False)
        return invalid(f"Range ({cell}) exceeds grid limits. Max rows: {self.row_count}, "
                       f"max columns: {self.column_count}")

    def set_row(self, row: int, start_col: int, cells: list[Cell]) -> None:
        current = self.rows.get(row, [])
        needed = start_col + len(cells)
        if len(current) < needed:
            current = current + [None] * (needed - len(current))
        for offset, cell in enumerate(cells):
            if cell is not SKIP:
                current[start_col + offset] = cell
        self._store(row, current)

    def _store(self, row: int, cells: list[Cell]) -> None:
        while cells and cells[-1] is None:
            cells.pop()
        if cells:
            self.rows[row] = cells
        else:
            self.rows.pop(row, None)

    def clear(self, start_row: int, start_col: int, end_row: int, end_col: int) -> None:
        span = end_row - start_row
        targets = (sorted(r for r in self.rows if start_row <= r < end_row) if span > len(self.rows)
                   else [r for r in range(start_row, end_row) if r in self.rows])
        for row in targets:
            cells = self.rows[row]
            if start_col == 0 and end_col >= len(cells):
                del self.rows[row]
                continue
            for col in range(start_col, min(end_col, len(cells))):
                cells[col] = None
            self._store(row, cells)

    def truncate(self) -> None:
        """Drop cells outside the grid (after it shrank)."""
        for row in [r for r in self.rows if r >= self.row_count]:
            del self.rows[row]
        for row, cells in list(self.rows.items()):
            if len(cells) > self.column_count:
                self._store(row, cells[:self.column_count])

    def insert_rows(self, at: int, count: int) -> None:
        moved = {(r + count if r >= at else r): cells for r, cells in self.rows.items()}
        self.rows = moved
        self.row_count += count

    def matrix(self, start_row: int, start_col: int, end_row: int, end_col: int, value_render: str,
               date_render: str, major: str = "ROWS") -> list[list[Any]]:
        """Values of a bounded range: trailing empties dropped, empty inner rows as [] and empty
        cells before data as ""."""
        rows: list[list[Any]] = []
        for row in range(start_row, end_row):
            cells = self.rows.get(row)
            if not cells:
                rows.append([])
                continue
            part = cells[start_col:end_col]
            while part and part[-1] is None:
                part.pop()
            rows.append(["" if c is None else render(c, value_render, date_render) for c in part])
        if major == "COLUMNS":
            width = max((len(r) for r in rows), default=0)
            rows = [[r[c] if c < len(r) else "" for r in rows] for c in range(width)]
            rows = [_trim(col) for col in rows]
        while rows and not rows[-1]:
            rows.pop()
        return rows

    def last_row_with_data(self, start_row: int, end_row: int, start_col: int, end_col: int) -> int | None:
        found = [r for r, cells in self.rows.items()
                 if start_row <= r < end_row and any(c is not None for c in cells[start_col:end_col])]
        return max(found) if found else None


def _trim(values: list[Any]) -> list[Any]:
    while values and values[-1] == "":
        values.pop()
    return values


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str
    tabs: list[Tab] = field(default_factory=list)
    locale: str = "en_US"
    time_zone: str = "Africa/Nairobi"

    @property
    def cells(self) -> int:
        return sum(t.cells for t in self.tabs)

    def metadata(self) -> dict[str, Any]:
        return {
            "spreadsheetId": self.spreadsheet_id,
            "properties": {"title": self.title, "locale": self.locale, "autoRecalc": "ON_CHANGE",
                           "timeZone": self.time_zone},
            "sheets": [{"properties": t.properties()} for t in sorted(self.tabs, key=lambda t: t.index)],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit",
        }

    def tab_by_title(self, title: str) -> Tab | None:
        return next((t for t in self.tabs if t.title == title), None)

    def tab_by_id(self, sheet_id: int) -> Tab | None:
        return next((t for t in self.tabs if t.sheet_id == sheet_id), None)

    def resolve(self, text: str) -> tuple[Tab, GridRange]:
        """The tab and range an A1 string names (no sheet: the first visible tab)."""
        try:
            grid = parse_range(text)
        except A1Error as exc:
            raise invalid(str(exc)) from None
        if grid.sheet is None:
            visible = [t for t in sorted(self.tabs, key=lambda t: t.index) if not t.hidden]
            if not visible:
                raise invalid(f"Unable to parse range: {text}")
            return visible[0], grid
        tab = self.tab_by_title(grid.sheet)
        if tab is None:
            raise invalid(f"Unable to parse range: {text}")
        return tab, grid

    def bounded(self, text: str) -> tuple[Tab, tuple[int, int, int, int]]:
        """A range clipped to its tab's grid; a start outside the grid is Google's 400."""
        tab, grid = self.resolve(text)
        start_row, start_col, end_row, end_col = grid.bounded(tab.row_count, tab.column_count)
        if start_row >= tab.row_count or start_col >= tab.column_count:
            raise tab.grid_error(start_row, start_col)
        return tab, (start_row, start_col, min(end_row, tab.row_count), min(end_col, tab.column_count))


@dataclass
class WritePlan:
    """A validated write, applied only once every write of its batch validated (atomicity)."""

    tab: Tab
    start_row: int
    start_col: int
    rows: list[list[Cell]]
    width: int
    cells: int

    def apply(self) -> None:
        for offset, cells in enumerate(self.rows):
            if cells:
                self.tab.set_row(self.start_row + offset, self.start_col, cells)

    def response(self, spreadsheet_id: str) -> dict[str, Any]:
        end_row = self.start_row + max(len(self.rows), 1)
        end_col = self.start_col + max(self.width, 1)
        result: dict[str, Any] = {"spreadsheetId": spreadsheet_id,
                                  "updatedRange": self.tab.a1(self.start_row, self.start_col, end_row, end_col)}
        if self.cells:
            result.update(updatedRows=sum(1 for r in self.rows if any(c is not SKIP for c in r)),
                          updatedColumns=self.width, updatedCells=self.cells)
        return result


def plan_write(book: Spreadsheet, range_text: str, value_range: dict[str, Any], option: str, limits: Limits,
               where: str = "") -> WritePlan:
    """Validate one ValueRange write: range, shape, grid limits and every cell."""
    tab, grid = book.resolve(range_text)
    if grid.end_row == grid.start_row + 1 and grid.end_col == grid.start_col + 1:
        grid = GridRange(grid.sheet, grid.start_row, grid.start_col)  # one cell: an anchor, not a bound
    values = value_range.get("values") or []
    if not isinstance(values, list) or not all(isinstance(r, list) for r in values):
        raise invalid(f"Invalid {where}values: expected a list of lists")
    major = value_range.get("majorDimension", "ROWS") or "ROWS"
    if major not in ("ROWS", "COLUMNS", "DIMENSION_UNSPECIFIED"):
        raise invalid(f"Invalid value at '{where}major_dimension' (type.googleapis.com/google.apps.sheets.v4."
                      f"Dimension), \"{major}\"")
    if major == "COLUMNS":
        height = max((len(c) for c in values), default=0)
        values = [[col[r] if r < len(col) else None for col in values] for r in range(height)]
    rows = [[parse_input(v, option, limits, f"{where}values[{i}][{j}]") for j, v in enumerate(row)]
            for i, row in enumerate(values)]
    width = max((len(r) for r in rows), default=0)
    start_row, start_col = grid.start_row, grid.start_col
    label = format_range(tab.title, *grid.bounded(tab.row_count, tab.column_count), always_quote=False) \
        if grid.end_row is not None and grid.end_col is not None else range_text
    if grid.end_row is not None and start_row + len(rows) > grid.end_row:
        raise invalid(f"Requested writing within range [{label}], but tried writing to row "
                      f"[{grid.start_row + len(rows)}]")
    if grid.end_col is not None and start_col + width > grid.end_col:
        raise invalid(f"Requested writing within range [{label}], but tried writing to column "
                      f"[{column_letters(start_col + width - 1)}]")
    if rows and start_row + len(rows) > tab.row_count:
        raise tab.grid_error(tab.row_count, start_col)
    if width and start_col + width > tab.column_count:
        raise tab.grid_error(start_row, tab.column_count)
    if start_row >= tab.row_count or start_col >= tab.column_count:
        raise tab.grid_error(start_row, start_col)
    cells = sum(1 for r in rows for c in r if c is not SKIP)
    return WritePlan(tab, start_row, start_col, rows, width, cells)
