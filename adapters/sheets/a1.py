"""A1 notation: parse and format ranges like `'FX Rates'!A2:D`, `Sheet1!1:2`, `A:A` or `Sheet1`.

Shared by the client (which builds ranges) and the emulator (which parses them), so both sides
agree on one reading. Coordinates are 0-based, ends exclusive (Google's GridRange convention);
`None` means open on that side (whole columns, whole rows, open-ended ranges, whole sheet).
R1C1 notation is not supported: the client never sends it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_COLUMNS = 18278  # ZZZ: the widest grid Sheets allows
_SIDE = re.compile(r"^\$?([A-Za-z]{1,3})?\$?([0-9]+)?$")
_PLAIN_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CELL_LIKE = re.compile(r"^([A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*)$")


class A1Error(ValueError):
    """A range that cannot be parsed; the message quotes it as Google does."""


def column_letters(index: int) -> str:
    """0 → "A", 25 → "Z", 26 → "AA"."""
    if index < 0:
        raise ValueError(f"column index {index} is negative")
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_index(letters: str) -> int:
    """"A" → 0, "AA" → 26."""
    index = 0
    for char in letters.upper():
        if not "A" <= char <= "Z":
            raise ValueError(f"'{letters}' is not a column")
        index = index * 26 + (ord(char) - ord("A") + 1)
    return index - 1


def quote_title(title: str, *, always: bool = False) -> str:
    """A sheet title as it appears before `!`: quoted (apostrophes doubled) when needed or asked.

    Clients should quote always: a named range spelled like a tab shadows the tab otherwise.
    """
    if not always and _PLAIN_TITLE.match(title) and not _CELL_LIKE.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


@dataclass(frozen=True)
class GridRange:
    """A parsed A1 range. `sheet` is None when the text named no sheet (first visible sheet)."""

    sheet: str | None
    start_row: int = 0
    start_col: int = 0
    end_row: int | None = None
    end_col: int | None = None

    def bounded(self, row_count: int, column_count: int) -> tuple[int, int, int, int]:
        """(start_row, start_col, end_row, end_col) with open sides closed by the grid."""
        end_row = row_count if self.end_row is None else self.end_row
        end_col = column_count if self.end_col is None else self.end_col
        return self.start_row, self.start_col, end_row, end_col

    def a1(self, *, always_quote: bool = True) -> str:
        """Format back to text, keeping open sides open."""
        return format_range(self.sheet, self.start_row, self.start_col, self.end_row, self.end_col,
                            always_quote=always_quote)


def format_range(sheet: str | None, start_row: int, start_col: int, end_row: int | None = None,
                 end_col: int | None = None, *, always_quote: bool = True) -> str:
    """`'Tab'!A2:D10`; `'Tab'!A2:D` when `end_row` is None; a single cell as `'Tab'!B3`."""
    start = f"{column_letters(start_col)}{start_row + 1}"
    if end_row is not None and end_col is not None and end_row == start_row + 1 and end_col == start_col + 1:
        cells = start
    else:
        end_letters = column_letters(end_col - 1) if end_col is not None else ""
        end_number = str(end_row) if end_row is not None else ""
        if not end_letters and not end_number:
            raise ValueError("a range needs an end column or an end row")
        cells = f"{start}:{end_letters}{end_number}"
    if sheet is None:
        return cells
    return f"{quote_title(sheet, always=always_quote)}!{cells}"


def split_sheet(text: str) -> tuple[str | None, str | None, bool]:
    """Split `Sheet!A1:B2` into (sheet, cells, quoted). `cells` is None for a bare sheet name."""
    text = text.strip()
    if text.startswith("'"):
        title, i = [], 1
        while i < len(text):
            char = text[i]
            if char == "'":
                if text[i + 1:i + 2] == "'":
                    title.append("'")
                    i += 2
                    continue
                rest = text[i + 1:]
                if rest == "":
                    return "".join(title), None, True
                if not rest.startswith("!"):
                    raise A1Error(f"Unable to parse range: {text}")
                return "".join(title), rest[1:], True
            title.append(char)
            i += 1
        raise A1Error(f"Unable to parse range: {text}")
    if "!" in text:
        sheet, _, cells = text.rpartition("!")
        return sheet, cells, False
    return None, text, False


def _side(text: str, whole: str) -> tuple[int | None, int | None]:
    match = _SIDE.match(text)
    if not text or not match or (match.group(1) is None and match.group(2) is None):
        raise A1Error(f"Unable to parse range: {whole}")
    col = column_index(match.group(1)) if match.group(1) else None
    row = int(match.group(2)) - 1 if match.group(2) else None
    if row is not None and row < 0:
        raise A1Error(f"Unable to parse range: {whole}")
    if col is not None and col >= MAX_COLUMNS:
        raise A1Error(f"Unable to parse range: {whole}")
    return col, row


def parse_cells(cells: str, whole: str) -> tuple[int, int, int | None, int | None]:
    """Parse the part after `!`: `A1`, `A1:B2`, `A:C`, `2:5`, `A5:A` (open rows), `A1:1`."""
    first, sep, second = cells.partition(":")
    col1, row1 = _side(first, whole)
    if not sep:
        if col1 is None or row1 is None:
            raise A1Error(f"Unable to parse range: {whole}")
        return row1, col1, row1 + 1, col1 + 1
    col2, row2 = _side(second, whole)
    start_kind = "cell" if col1 is not None and row1 is not None else ("col" if col1 is not None else "row")
    end_kind = "cell" if col2 is not None and row2 is not None else ("col" if col2 is not None else "row")
    if (start_kind, end_kind) in {("col", "row"), ("row", "col"), ("row", "cell")}:
        raise A1Error(f"Unable to parse range: {whole}")
    start_row, end_row = row1 or 0, (row2 + 1 if row2 is not None else None)
    start_col, end_col = col1 or 0, (col2 + 1 if col2 is not None else None)
    if end_row is not None and end_row <= start_row:
        start_row, end_row = end_row - 1, start_row + 1
    if end_col is not None and end_col <= start_col:
        start_col, end_col = end_col - 1, start_col + 1
    return start_row, start_col, end_row, end_col


def parse_range(text: str) -> GridRange:
    """Parse any A1 range Sheets accepts (except R1C1). A bare word is a sheet name unless it
    reads as cells (`A1`, `B2:C3`); quote a sheet titled like a cell (`'A1'`)."""
    sheet, cells, quoted = split_sheet(text)
    if cells is None:
        if not sheet:
            raise A1Error(f"Unable to parse range: {text}")
        return GridRange(sheet)
    if sheet is None and not quoted:
        try:
            start_row, start_col, end_row, end_col = parse_cells(cells, text)
        except A1Error:
            if not cells or ":" in cells:  # 'A1:ZZZZ9' is a bad range, not a tab (quote such a title)
                raise
            return GridRange(cells)  # a bare sheet title
        return GridRange(None, start_row, start_col, end_row, end_col)
    if not sheet:
        raise A1Error(f"Unable to parse range: {text}")
    start_row, start_col, end_row, end_col = parse_cells(cells, text)
    return GridRange(sheet, start_row, start_col, end_row, end_col)
