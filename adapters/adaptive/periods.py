"""Monthly periods: `YYYY-MM` in the warehouse, `MM/YYYY` on the Adaptive wire.

A period is kept as a month ordinal (year * 12 + month - 1) so that ranges, sorting and
splitting into spans are plain integer arithmetic.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Literal

WIRE = re.compile(r"^(\d{2})/(\d{4})$")
ISO_OR_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-\d{2})?$")
Split = Literal["month", "quarter", "year", "none"]
SPAN_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def ordinal(year: int, month: int) -> int:
    return year * 12 + month - 1


def parse(value: object) -> int:
    """A period from `YYYY-MM`, `MM/YYYY`, `YYYY-MM-DD` or a date; ValueError otherwise."""
    if isinstance(value, dt.date):  # datetime is a date too
        return ordinal(value.year, value.month)
    return _parse_text(str(value).strip())


@lru_cache(maxsize=4096)  # a push repeats the same few months many thousand times
def _parse_text(text: str) -> int:
    if iso := ISO_OR_DATE.match(text):
        year, month = int(iso.group(1)), int(iso.group(2))
    elif wire := WIRE.match(text):
        month, year = int(wire.group(1)), int(wire.group(2))
    else:
        raise ValueError(f"'{text}' is not a month (YYYY-MM or MM/YYYY)")
    if not 1 <= month <= 12:
        raise ValueError(f"'{text}' is not a month (month {month} out of 1..12)")
    return ordinal(year, month)


def parse_wire(text: str) -> int | None:
    """`MM/YYYY` → ordinal, or None when the text is not a period column."""
    match = WIRE.match(text)
    if not match or not 1 <= int(match.group(1)) <= 12:
        return None
    return ordinal(int(match.group(2)), int(match.group(1)))


def parse_bound(text: str | None, *, end: bool) -> int | None:
    """A version range bound as exportVersions sends it: `MM/YYYY`, or a bare year (`2012`), which
    starts in January or ends in December; None when absent or unreadable."""
    text = (text or "").strip()
    if len(text) == 4 and text.isdigit():
        return ordinal(int(text), 12 if end else 1)
    return parse_wire(text)


def to_wire(period: int) -> str:
    year, month = divmod(period, 12)
    return f"{month + 1:02d}/{year:04d}"


def to_iso(period: int) -> str:
    year, month = divmod(period, 12)
    return f"{year:04d}-{month + 1:02d}"


def spans(start: int, end: int, split: Split) -> Iterator[tuple[int, int]]:
    """Cut [start, end] into calendar-aligned spans: months, quarters or years (or one span)."""
    if split == "none":
        yield start, end
        return
    size = SPAN_MONTHS[split]
    first = start
    while first <= end:
        last = min(end, first - first % size + size - 1)
        yield first, last
        first = last + 1
