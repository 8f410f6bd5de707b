"""Text read from a decimal column: plain decimal text becomes an exact Decimal, anything else that
Python's Decimal() would also accept (underscores, NaN, Infinity, non-ASCII digits) stays text."""

from __future__ import annotations

from decimal import Decimal

import pytest

from migo_sync.adapters.sheets.pull import converter
from migo_sync.mapping.model import FieldType


@pytest.mark.parametrize(("cell", "expected"), [
    ("12345678901234567890.123456789", Decimal("12345678901234567890.123456789")),
    (" -0.10 ", Decimal("-0.10")), ("+.5", Decimal("0.5")), ("1E+3", Decimal("1E+3")),
])
def test_plain_decimal_text_is_read_exactly(cell: str, expected: Decimal) -> None:
    got = converter(FieldType.decimal)(cell)
    assert isinstance(got, Decimal) and got == expected and str(got) == str(expected)


@pytest.mark.parametrize("cell", ["3_1_0", "NaN", "Infinity", "-inf", "sNaN", "١٢", "1,234", "abc"])
def test_text_decimal_would_misread_stays_text(cell: str) -> None:
    assert converter(FieldType.decimal)(cell) == cell
