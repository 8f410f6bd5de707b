"""Push payloads: rows serialised once, packed greedily into values:batchUpdate bodies ≤ the limit.

Each row is serialised to JSON on its own, so the size of every body is known exactly before it
is built; rows are packed in order into as few bodies as the limit allows (greedy packing of an
ordered sequence is optimal), and only one body is in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson

from migo_sync.adapters.sheets.a1 import column_letters, quote_title


@dataclass(frozen=True)
class Body:
    """One values:batchUpdate request: its JSON, the first row it writes (0-based) and its size."""

    content: bytes
    start_row: int
    rows: int


def _prefix(title: str, start_row: int, start_col: int) -> bytes:
    anchor = f"{quote_title(title, always=True)}!{column_letters(start_col)}{start_row + 1}"
    return (b'{"valueInputOption":"RAW","includeValuesInResponse":false,"data":[{"range":'
            + orjson.dumps(anchor) + b',"majorDimension":"ROWS","values":[')


_SUFFIX = b"]}]}"


class RowTooLarge(ValueError):
    """A single row that does not fit in one request on its own."""


def pack(title: str, start_row: int, start_col: int, rows: Iterable[bytes], limit: int) -> Iterator[Body]:
    """Group serialised rows (each a JSON array) into bodies of at most `limit` bytes.

    The first row lands at (`start_row`, `start_col`) of tab `title`; each body anchors its own
    ValueRange at the row it starts on. Raises RowTooLarge when one row alone exceeds the limit.
    """
    # Rows are copied into one buffer as they come: orjson's bytes keep a ~4 KB allocation each,
    # so holding a body's worth of them (tens of thousands) would cost ~40x the body's size.
    chunk = bytearray()
    count = 0
    chunk_start = start_row
    prefix = _prefix(title, chunk_start, start_col)
    size = len(prefix) + len(_SUFFIX)
    row_number = start_row
    for row in rows:
        extra = len(row) + (1 if count else 0)
        if count and size + extra > limit:
            yield Body(prefix + chunk + _SUFFIX, chunk_start, count)
            chunk, count, chunk_start = bytearray(), 0, row_number
            prefix = _prefix(title, chunk_start, start_col)
            size = len(prefix) + len(_SUFFIX)
            extra = len(row)
        if size + extra > limit:
            raise RowTooLarge(f"row {row_number + 1} alone is {len(row):,} bytes, over the {limit:,}-byte "
                              "request limit")
        if count:
            chunk += b","
        chunk += row
        count += 1
        size += extra
        row_number += 1
    if count:
        yield Body(prefix + chunk + _SUFFIX, chunk_start, count)


def minimum_requests(row_sizes: Iterable[int], title: str, start_row: int, start_col: int, limit: int) -> int:
    """The fewest bodies any packing of whole rows could use: ceil(payload / room per body)."""
    payload = 0
    count = 0
    for size in row_sizes:
        payload += size + 1
        count += 1
    if not count:
        return 0
    room = limit - len(_prefix(title, start_row, start_col)) - len(_SUFFIX) + 1
    return -(-payload // room)
