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


class Chunk:
    """One body being filled: rows copied into one buffer as they come (orjson's bytes keep a ~4 KB
    allocation each, so holding a body's worth of them — tens of thousands — would cost ~40x the
    body's size)."""

    def __init__(self, title: str, start_row: int, start_col: int) -> None:
        self.prefix = _prefix(title, start_row, start_col)
        self.start_row = start_row
        self.buffer = bytearray()
        self.count = 0
        self.size = len(self.prefix) + len(_SUFFIX)

    def fits(self, row: bytes, limit: int) -> bool:
        """Whether `row` can join this body within `limit` bytes (RowTooLarge when it could not even
        start one: a row alone over the limit)."""
        if self.size + len(row) + (1 if self.count else 0) <= limit:
            return True
        if not self.count:
            raise RowTooLarge(f"row {self.start_row + 1} alone is {len(row):,} bytes, over the {limit:,}-byte "
                              "request limit")
        return False

    def add(self, row: bytes) -> None:
        if self.count:
            self.buffer += b","
            self.size += 1
        self.buffer += row
        self.count += 1
        self.size += len(row)

    def body(self) -> Body:
        return Body(self.prefix + self.buffer + _SUFFIX, self.start_row, self.count)


def pack(title: str, start_row: int, start_col: int, rows: Iterable[bytes], limit: int) -> Iterator[Body]:
    """Group serialised rows (each a JSON array) into bodies of at most `limit` bytes.

    The first row lands at (`start_row`, `start_col`) of tab `title`; each body anchors its own
    ValueRange at the row it starts on. Raises RowTooLarge when one row alone exceeds the limit.
    """
    chunk = Chunk(title, start_row, start_col)
    for row in rows:
        if not chunk.fits(row, limit):
            yield chunk.body()
            chunk = Chunk(title, chunk.start_row + chunk.count, start_col)
            chunk.fits(row, limit)  # a row alone over the limit: RowTooLarge
        chunk.add(row)
    if chunk.count:
        yield chunk.body()


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
