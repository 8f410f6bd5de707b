"""The emulator's spreadsheet-level calls: create a spreadsheet, and the structure batchUpdate
(addSheet, updateSheetProperties, deleteSheet, appendDimension), atomic as Google applies it,
with the 10,000,000-cell workbook limit."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

from migo_sync.adapters.sheets.workbook import ApiError, Limits, Spreadsheet, Tab, invalid


def create_spreadsheet(books: dict[str, Spreadsheet], body: dict[str, Any], rng: random.Random,
                       limits: Limits) -> dict[str, Any]:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    book_id = "".join(rng.choice(alphabet) for _ in range(44))
    title = str((body.get("properties") or {}).get("title") or "Untitled spreadsheet")
    book = Spreadsheet(book_id, title)
    for index, sheet in enumerate(body.get("sheets") or [{"properties": {"title": "Sheet1"}}]):
        props = sheet.get("properties") or {}
        grid = props.get("gridProperties") or {}
        book.tabs.append(Tab(new_sheet_id(book, rng), str(props.get("title") or f"Sheet{index + 1}"), index,
                             int(grid.get("rowCount", 1000)), int(grid.get("columnCount", 26))))
    if book.cells > limits.max_cells:
        raise invalid(f"This action would increase the number of cells in the workbook above the limit of "
                      f"{limits.max_cells} cells.")
    books[book_id] = book
    return book.metadata()


def new_sheet_id(book: Spreadsheet, rng: random.Random) -> int:
    while True:
        sheet_id = rng.randrange(1, 2**31 - 1)
        if book.tab_by_id(sheet_id) is None:
            return sheet_id


def batch_update(book: Spreadsheet, body: dict[str, Any], rng: random.Random, limits: Limits) -> dict[str, Any]:
    """Spreadsheet batchUpdate: every request applies, or none (tabs are restored on error)."""
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise invalid("Must specify at least one request.")
    snapshot = [(t, copy.copy(t.__dict__)) for t in book.tabs]
    tabs_before = list(book.tabs)
    try:
        replies = [_one(book, i, request, rng, limits) for i, request in enumerate(requests)]
    except ApiError:
        book.tabs = tabs_before
        for tab, attributes in snapshot:
            tab.__dict__.update(attributes)
        raise
    for tab in book.tabs:
        tab.truncate()
    result: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id, "replies": replies}
    if body.get("includeSpreadsheetInResponse"):
        result["updatedSpreadsheet"] = book.metadata()
    return result


def _one(book: Spreadsheet, i: int, request: Any, rng: random.Random, limits: Limits) -> dict[str, Any]:
    if not isinstance(request, dict) or len(request) != 1:
        raise invalid(f"Invalid requests[{i}]: exactly one kind of request must be set.")
    (kind, spec), = request.items()
    handler = HANDLERS.get(kind)
    if handler is None:
        raise invalid(f"Invalid JSON payload received. Unknown name \"{kind}\" at 'requests[{i}]': "
                      "Cannot find field.")
    where = f"Invalid requests[{i}].{kind}"
    reply = handler(book, spec or {}, where, rng)
    if book.cells > limits.max_cells:
        raise invalid(f"{where}: This action would increase the number of cells in the workbook above the "
                      f"limit of {limits.max_cells} cells.")
    return reply


def _tab(book: Spreadsheet, sheet_id: Any, where: str) -> Tab:
    tab = book.tab_by_id(int(sheet_id or 0))
    if tab is None:
        raise invalid(f"{where}: No grid with id: {sheet_id}")
    return tab


def _add_sheet(book: Spreadsheet, spec: dict[str, Any], where: str, rng: random.Random) -> dict[str, Any]:
    props = spec.get("properties") or {}
    title = str(props.get("title") or f"Sheet{len(book.tabs) + 1}")
    if book.tab_by_title(title):
        raise invalid(f'{where}: A sheet with the name "{title}" already exists. Please enter another name.')
    sheet_id = int(props.get("sheetId") or new_sheet_id(book, rng))
    if book.tab_by_id(sheet_id):
        raise invalid(f"{where}: Sheet with id {sheet_id} already exists.")
    grid = props.get("gridProperties") or {}
    index = min(int(props.get("index", len(book.tabs))), len(book.tabs))
    for other in book.tabs:
        if other.index >= index:
            other.index += 1
    tab = Tab(sheet_id, title, index, int(grid.get("rowCount", 1000)), int(grid.get("columnCount", 26)),
              bool(props.get("hidden", False)))
    book.tabs.append(tab)
    return {"addSheet": {"properties": tab.properties()}}


def _update_sheet_properties(book: Spreadsheet, spec: dict[str, Any], where: str,
                             rng: random.Random) -> dict[str, Any]:
    props = spec.get("properties") or {}
    fields = _field_mask(str(spec.get("fields") or ""))
    if not fields:
        raise invalid(f"{where}: At least one field must be updated. Specify the fields to update.")
    tab = _tab(book, props.get("sheetId"), where)
    every = "*" in fields
    if "title" in fields or every:
        title = str(props.get("title") or "")
        other = book.tab_by_title(title)
        if not title or (other is not None and other is not tab):
            raise invalid(f'{where}: A sheet with the name "{title}" already exists. Please enter another name.')
        tab.title = title
    grid = props.get("gridProperties") or {}
    for name, attribute in (("rowCount", "row_count"), ("columnCount", "column_count")):
        if f"gridProperties.{name}" in fields or "gridProperties" in fields or every:
            value = int(grid.get(name, 0))
            if value < 1:
                raise invalid(f"{where}: {name} must be at least 1")
            setattr(tab, attribute, value)
    if "hidden" in fields or every:
        tab.hidden = bool(props.get("hidden", False))
    return {}


def _delete_sheet(book: Spreadsheet, spec: dict[str, Any], where: str, rng: random.Random) -> dict[str, Any]:
    tab = _tab(book, spec.get("sheetId"), where)
    if len(book.tabs) == 1:
        raise invalid(f"{where}: You can't remove all the sheets in a document.")
    book.tabs.remove(tab)
    for other in book.tabs:
        if other.index > tab.index:
            other.index -= 1
    return {}


def _append_dimension(book: Spreadsheet, spec: dict[str, Any], where: str, rng: random.Random) -> dict[str, Any]:
    tab = _tab(book, spec.get("sheetId"), where)
    length = int(spec.get("length", 0))
    if spec.get("dimension") == "COLUMNS":
        tab.column_count += length
    else:
        tab.row_count += length
    return {}


HANDLERS: dict[str, Callable[[Spreadsheet, dict[str, Any], str, random.Random], dict[str, Any]]] = {
    "addSheet": _add_sheet, "updateSheetProperties": _update_sheet_properties, "deleteSheet": _delete_sheet,
    "appendDimension": _append_dimension,
}


def _field_mask(text: str) -> set[str]:
    """"gridProperties(rowCount,columnCount),title" → {"gridProperties.rowCount", ..., "title"}."""
    fields: set[str] = set()
    depth, current = 0, ""
    for char in text + ",":
        if char == "," and depth == 0:
            current = current.strip()
            if "(" in current:
                prefix, inner = current.split("(", 1)
                fields |= {f"{prefix}.{part.strip()}" for part in inner.rstrip(")").split(",")}
            elif current:
                fields.add(current)
            current = ""
            continue
        depth += (char == "(") - (char == ")")
        current += char
    return fields
