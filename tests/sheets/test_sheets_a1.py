"""A1 notation, as data tables: what each range means, how ranges are written back, what fails."""

from __future__ import annotations

import pytest

from migo_sync.adapters.sheets.a1 import (
    A1Error,
    GridRange,
    column_index,
    column_letters,
    format_range,
    parse_range,
    quote_title,
)

PARSED = [
    # text                          sheet              start_row start_col end_row end_col
    ("Sheet1!A1:B2",                ("Sheet1", 0, 0, 2, 2)),
    ("Sheet1!B2",                   ("Sheet1", 1, 1, 2, 2)),
    ("Sheet1!A:A",                  ("Sheet1", 0, 0, None, 1)),
    ("Sheet1!A:C",                  ("Sheet1", 0, 0, None, 3)),
    ("Sheet1!1:2",                  ("Sheet1", 0, 0, 2, None)),
    ("Sheet1!A5:A",                 ("Sheet1", 4, 0, None, 1)),
    ("Sheet1!A1:1",                 ("Sheet1", 0, 0, 1, None)),
    ("Sheet1!B2:A1",                ("Sheet1", 0, 0, 2, 2)),     # corners in any order
    ("Sheet1!$A$1:$B$2",            ("Sheet1", 0, 0, 2, 2)),     # absolute markers ignored
    ("Sheet1!a1:b2",                ("Sheet1", 0, 0, 2, 2)),
    ("Sheet1!AA10:ZZ20",            ("Sheet1", 9, 26, 20, 702)),
    ("A1:B2",                       (None, 0, 0, 2, 2)),         # first visible sheet
    ("C3",                          (None, 2, 2, 3, 3)),
    ("A:B",                         (None, 0, 0, None, 2)),
    ("3:4",                         (None, 2, 0, 4, None)),
    ("Sheet1",                      ("Sheet1", 0, 0, None, None)),  # whole sheet
    ("FX Rates",                    ("FX Rates", 0, 0, None, None)),
    ("'FX Rates'",                  ("FX Rates", 0, 0, None, None)),
    ("'FX Rates'!A1:D",             ("FX Rates", 0, 0, None, 4)),
    ("'It''s mine'!B:B",            ("It's mine", 0, 1, None, 2)),  # apostrophe doubled
    ("'A1'!A1",                     ("A1", 0, 0, 1, 1)),          # a sheet titled like a cell
    ("'Q1!Q2'!A1",                  ("Q1!Q2", 0, 0, 1, 1)),       # '!' inside quotes
    ("'2026'!C:D",                  ("2026", 0, 2, None, 4)),
]


@pytest.mark.parametrize(("text", "expected"), PARSED, ids=[t for t, _ in PARSED])
def test_parse(text: str, expected: tuple[object, ...]) -> None:
    assert parse_range(text) == GridRange(*expected)  # type: ignore[arg-type]


INVALID = ["Sheet1!", "Sheet1!A", "Sheet1!1", "Sheet1!A:1", "Sheet1!1:B", "Sheet1!1:B5", "Sheet1!A0",
           "Sheet1!AAAA1", "'Unclosed!A1", "'Bad'A1", "!A1", "''!A1", "Sheet1!A1:B2:C3"]


@pytest.mark.parametrize("text", INVALID)
def test_invalid(text: str) -> None:
    with pytest.raises(A1Error, match="Unable to parse range"):
        parse_range(text)


FORMATTED = [
    # (sheet, start_row, start_col, end_row, end_col, always_quote)  →  text
    (("Sheet1", 0, 0, 2, 2, False), "Sheet1!A1:B2"),
    (("Sheet1", 0, 0, 1, 1, False), "Sheet1!A1"),
    (("Sheet1", 4, 0, None, 10, False), "Sheet1!A5:J"),
    (("Sheet1", 0, 0, 1, None, False), "Sheet1!A1:1"),
    (("Sheet1", 0, 0, 2, 2, True), "'Sheet1'!A1:B2"),
    (("FX Rates", 0, 0, 21, 4, False), "'FX Rates'!A1:D21"),
    (("It's", 0, 0, 1, 1, False), "'It''s'!A1"),
    (("A1", 0, 0, 1, 1, False), "'A1'!A1"),
    (("R1C1", 0, 0, 1, 1, False), "'R1C1'!A1"),
    ((None, 2, 2, 3, 3, False), "C3"),
]


@pytest.mark.parametrize(("args", "text"), FORMATTED, ids=[t for _, t in FORMATTED])
def test_format(args: tuple[object, ...], text: str) -> None:
    sheet, start_row, start_col, end_row, end_col, always = args
    assert format_range(sheet, start_row, start_col, end_row, end_col, always_quote=always) == text  # type: ignore[arg-type]


@pytest.mark.parametrize("title", ["Sheet1", "FX Rates", "It's", "a'b''c", "A1", "2026", "Ünïcode", "x!y"])
def test_quote_round_trip(title: str) -> None:
    text = format_range(title, 1, 2, 5, 6, always_quote=True)
    assert parse_range(text) == GridRange(title, 1, 2, 5, 6)
    assert quote_title(title, always=True).startswith("'")


@pytest.mark.parametrize(("index", "letters"), [(0, "A"), (25, "Z"), (26, "AA"), (51, "AZ"), (52, "BA"),
                                                (701, "ZZ"), (702, "AAA"), (18277, "ZZZ")])
def test_columns(index: int, letters: str) -> None:
    assert column_letters(index) == letters
    assert column_index(letters) == index
    assert column_index(letters.lower()) == index
