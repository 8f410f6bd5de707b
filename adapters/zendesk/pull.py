"""Pulls: walk an incremental export page by page; each page becomes one PullBatch.

The state yielded with a page is that page's own bookmark (the cursor export's `after_cursor`, or
the time export's `end_time`), so the engine's one transaction per batch commits data and cursor
together: a run killed anywhere resumes right after the last committed page, with no gap and no
duplicate. `read_ahead()` fetches and parses the next page on a thread while the engine loads the
current one; it changes when pages arrive, never what state goes with them.

`ArrowPages` reads a cursor export's pages straight into Arrow (migo_sync.jsonpages) and does the
Shaper's work on the columns; a page the Arrow reader refuses goes the Shaper's way instead, and
each ArrowBatch can give its page back as records (the engine's exact path for rejects).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from migo_sync.adapter import ArrowBatch, PullBatch
from migo_sync.adapters.zendesk.client import SYSTEM, FastRead, ZendeskClient, page_of, peek_cursor
from migo_sync.adapters.zendesk.config import PullOptions
from migo_sync.errors import FatalRemoteError
from migo_sync.jsonpages import read_page, record_type
from migo_sync.mapping.model import Mapping
from migo_sync.mapping.transforms import get_path

T = TypeVar("T")
Page = tuple["list[dict[str, Any]] | ArrowItems", dict[str, Any]]

CURSOR_EXPORTS = ("tickets", "users")  # organizations only have the time-based export
IS_DELETED: dict[str, Callable[[dict[str, Any]], bool]] = {
    "tickets": lambda r: r.get("status") == "deleted",
    "users": lambda r: r.get("active") is False,
    "organizations": lambda r: r.get("deleted_at") is not None,
}
# The same test on a page read into Arrow: the member it reads, as what, and the test on its column.
IS_DELETED_ARROW: dict[str, tuple[str, pa.DataType, Callable[[pa.Array], pa.Array]]] = {
    "tickets": ("status", pa.string(), lambda c: pc.fill_null(pc.equal(c, "deleted"), False)),
    "users": ("active", pa.bool_(), lambda c: pc.fill_null(pc.equal(c, False), False)),
}
CUSTOM_PREFIX = "custom_fields."


def cursor_pages(client: ZendeskClient, resource: str, state: dict[str, Any] | None, start_time: int,
                 per_page: int, read: FastRead | None = None) -> Iterator[Page]:
    """The cursor-based export: `start_time` once, then `after_cursor` until `end_of_stream`.
    With `read` (ArrowPages.parse), a page's records may come as ArrowItems instead of a list.

    Each page depends on the one before (its cursor), so the next one is asked for as soon as its
    cursor is known: `peek_cursor` finds it at the end of the raw body, and the request goes out on
    a thread while this page is parsed. The parsed page decides: a guess it does not confirm is
    discarded (its answer never used) and the page it names is read instead. At most one request is
    ever ahead, and it is answered or abandoned before this generator ends."""
    cursor: str | None = (state or {}).get("after_cursor")
    followed: set[str] = set()  # every cursor followed this run: a loop of any length (A→B→A) ends

    def fetch(after: str | None) -> httpx.Response:
        return client.cursor_export_raw(resource, cursor=after, start_time=None if after else start_time,
                                        per_page=per_page)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="zendesk-next-page") as ahead:
        upcoming: tuple[str, Future[httpx.Response]] | None = None
        try:
            response = fetch(cursor)
            while True:
                guess = peek_cursor(response.content)
                if (guess is not None and not guess[1] and guess[0] not in (None, cursor)
                        and guess[0] not in followed):
                    upcoming = (str(guess[0]), ahead.submit(fetch, guess[0]))
                body = page_of(response, read)
                items = body.get(resource)
                after = body.get("after_cursor") or cursor
                end = bool(body.get("end_of_stream"))
                if upcoming is not None and (end or upcoming[0] != after):
                    _abandon(upcoming[1])  # the guess was wrong: its answer is never used
                    upcoming = None
                if not isinstance(items, list | ArrowItems):
                    raise FatalRemoteError(SYSTEM, f"incremental {resource} export page has no '{resource}' list")
                if after is None:
                    if items:
                        raise FatalRemoteError(SYSTEM, f"incremental {resource} export page has no after_cursor")
                    return
                if after == cursor and not end:
                    raise FatalRemoteError(SYSTEM, f"incremental {resource} export: the cursor did not advance "
                                                   "(not following it again)")
                if after != cursor and after in followed and not end:
                    raise FatalRemoteError(SYSTEM, f"incremental {resource} export: the cursor came back to one "
                                                   "already followed (a loop; not following it again)")
                if cursor is not None:
                    followed.add(cursor)
                if items or after != cursor:
                    yield items, {"after_cursor": after}
                if end:
                    return
                cursor = after
                if upcoming is not None:
                    response, upcoming = upcoming[1].result(), None
                else:
                    response = fetch(cursor)
        finally:
            if upcoming is not None:  # stopped early: the read ahead is answered or abandoned first
                _abandon(upcoming[1])


def _abandon(future: Future[Any]) -> None:
    """Drop a read asked for ahead: cancelled if not yet sent, else waited for (HTTP deadlines bound
    it) and its answer or error ignored."""
    if not future.cancel():
        with suppress(Exception):
            future.result()


def time_pages(client: ZendeskClient, resource: str, state: dict[str, Any] | None, start_time: int,
               per_page: int) -> Iterator[Page]:
    """The time-based export (`next_page`, `end_time`): inclusive, so pages may repeat a record; the
    engine's MERGE by key absorbs that. Zendesk refuses a start_time of the last minute."""
    start = int((state or {}).get("start_time", start_time))
    while True:
        start = min(start, int(time.time()) - 61)  # an earlier start only re-reads, never skips
        body = client.time_export(resource, start_time=start, per_page=per_page)
        items = body.get(resource)
        end = bool(body.get("end_of_stream"))
        if not isinstance(items, list) or not isinstance(body.get("end_time"), int):
            raise FatalRemoteError(SYSTEM, f"incremental {resource} export page without '{resource}' or end_time")
        end_time = int(body["end_time"])
        if items or end_time != start:
            yield items, {"start_time": end_time}
        if end:
            return
        if end_time <= start:
            raise FatalRemoteError(SYSTEM, f"incremental {resource} export: end_time did not advance past "
                                           f"{start} (not following it again)")
        start = end_time


class Shaper:
    """Turns a page into a PullBatch as the mapping asks: flattens the mapped ticket custom fields
    to `custom_fields.<id>` keys, and flags or separates deleted records."""

    def __init__(self, mapping: Mapping, resource: str, options: PullOptions) -> None:
        remotes = {f.remote for f in mapping.fields}
        self.custom = {int(r[len(CUSTOM_PREFIX):]): r for r in sorted(remotes)
                       if r.startswith(CUSTOM_PREFIX) and r[len(CUSTOM_PREFIX):].isdigit()}
        self.flag = "deleted" in remotes
        self.delete = options.deleted == "delete"
        self.is_deleted = IS_DELETED[resource]
        self.key_remotes = [f.remote for f in mapping.fields if f.column in mapping.key]

    def __call__(self, page: Page) -> PullBatch:
        items, state = page
        assert isinstance(items, list), "pages read into Arrow are shaped by ArrowPages"
        return self._shape(items, state)

    def _shape(self, items: list[dict[str, Any]], state: dict[str, Any]) -> PullBatch:
        if self.custom:
            wanted, unset = self.custom, dict.fromkeys(self.custom.values())
            for record in items:
                record.update(unset)  # a field the ticket lacks is null, not missing
                for field in record.get("custom_fields") or ():
                    remote = wanted.get(field.get("id"))
                    if remote is not None:
                        record[remote] = field.get("value")
        if not (self.flag or self.delete):
            return PullBatch(items, state)
        records: list[dict[str, Any]] = []
        gone: list[dict[str, Any]] = []
        for record in items:
            dead = self.is_deleted(record)
            if dead and self.delete:
                gone.append({r: get_path(record, r) for r in self.key_remotes})
                continue
            if self.flag:
                record["deleted"] = dead
            records.append(record)
        return PullBatch(records, state, gone)


@dataclass
class ArrowItems:
    """A page's records as read into Arrow, with the raw page to read them as records again."""

    table: pa.Table
    body: bytes

    def __len__(self) -> int:
        return int(self.table.num_rows)


class ArrowPages:
    """The Shaper for pages read into Arrow: each mapped remote field one column (custom fields from
    the `custom_fields` list, `deleted` computed), as the engine's `types` ask."""

    def __init__(self, shaper: Shaper, resource: str, types: dict[str, pa.DataType],
                 lists: set[str]) -> None:
        self.shaper = shaper
        self.resource = resource
        self.types = types
        self.custom = {int(r[len(CUSTOM_PREFIX):]): r for r in types
                       if r.startswith(CUSTOM_PREFIX) and r[len(CUSTOM_PREFIX):].isdigit()}
        self.flag = "deleted" in types
        read = {r: (pa.list_(t) if r in lists else t) for r, t in types.items()
                if r not in self.custom.values() and r != "deleted"}
        self.paths = list(read)
        self.usable = True
        if self.custom:  # every mapped custom field's value read as one type: they share the list
            kinds = {types[r] for r in self.custom.values()}
            self.usable &= len(kinds) == 1 and "custom_fields" not in read
            read["custom_fields"] = pa.list_(pa.struct([("id", pa.int64()), ("value", kinds.pop())]))
        self.deleted = IS_DELETED_ARROW.get(resource)
        if self.flag and self.deleted is not None:
            member, kind, _test = self.deleted
            self.usable &= read.setdefault(member, kind) == kind
        self.usable &= (not self.flag or self.deleted is not None) and not shaper.delete
        self.record = record_type(read)
        self.read = list(read)

    @classmethod
    def build(cls, mapping: Mapping, resource: str, options: PullOptions, types: dict[str, pa.DataType],
              lists: set[str]) -> ArrowPages | None:
        """The reader for this mapping, or None when it cannot read it so (deleted records removed,
        custom fields asked as different types, a path both a value and an object)."""
        pages = cls(Shaper(mapping, resource, options), resource, types, lists)
        return pages if pages.usable and pages.record is not None else None

    def parse(self, body: bytes) -> dict[str, Any] | None:
        """A page body → its envelope with the records as ArrowItems; None: the reader refused it."""
        assert self.record is not None
        read = read_page(body, self.resource, self.record, self.read,
                         {"after_cursor": pa.string(), "end_of_stream": pa.bool_()})
        if read is None:
            return None
        table, envelope = read
        return {**envelope, self.resource: ArrowItems(table, body)}

    def __call__(self, page: Page) -> ArrowBatch | PullBatch:
        items, state = page
        if not isinstance(items, ArrowItems):
            return self.shaper((items, state))  # a page the Arrow reader refused
        table = items.table
        columns = {p: table.column(p) for p in self.paths}
        if self.custom:
            found = custom_columns(table.column("custom_fields"), self.custom)
            if found is None:
                return self.records(items, state)
            columns.update(found)
        if self.flag and self.deleted is not None:
            member, _kind, test = self.deleted
            columns["deleted"] = test(table.column(member))
        shaped = pa.table({remote: columns[remote] for remote in self.types})
        return ArrowBatch(shaped, state, lambda: self.records(items, state))

    def records(self, items: ArrowItems, state: dict[str, Any]) -> PullBatch:
        """The same page as the Shaper makes it from the parsed JSON."""
        try:
            records = orjson.loads(items.body)[self.resource]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise FatalRemoteError(SYSTEM, f"incremental {self.resource} export page is not the JSON its "
                                           "Arrow reading found") from None
        return self.shaper((records, state))


def custom_columns(lists: pa.ChunkedArray, wanted: dict[int, str]) -> dict[str, pa.Array] | None:
    """Each wanted custom field's value per record (null when the record lacks it; the last one when
    it is listed twice, as the Shaper's loop leaves it); None when the list holds a non-object."""
    joined = lists.combine_chunks()
    fields = joined.flatten()
    if fields.null_count:
        return None
    ids = fields.field("id").to_pylist()
    parents = pc.list_parent_indices(joined).to_pylist()
    where: dict[str, list[int | None]] = {remote: [None] * len(joined) for remote in wanted.values()}
    for index, (parent, field_id) in enumerate(zip(parents, ids, strict=True)):
        remote = wanted.get(field_id)
        if remote is not None:
            where[remote][parent] = index
    values = fields.field("value")
    return {remote: values.take(pa.array(at, pa.int64())) for remote, at in where.items()}


HANDOFF_POLL = 1.0  # how often a waiting consumer checks that the read-ahead thread is still alive


def read_ahead(source: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Run `source` on a thread, at most `depth` items ahead of the consumer.

    Errors surface in the consumer, in order. When the consumer stops early (an error, a kill of
    the run), the thread finishes its current request and exits without fetching more. The
    consumer never waits on a dead thread: a producer that ended without handing over a page, an
    error or the end is an error here, not a run blocked for ever. (A live producer's own waits are
    bounded: HTTP deadlines and the capped rate-limit waits.)
    """
    handoff: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put((True, item)):
                    return
            put((True, done))
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def take() -> tuple[bool, Any]:
        while True:
            try:
                return handoff.get(timeout=HANDOFF_POLL)
            except queue.Empty:
                if thread.is_alive():
                    continue
            try:  # it may have handed something over just before it ended
                return handoff.get_nowait()
            except queue.Empty:
                raise FatalRemoteError(SYSTEM, "the page reader thread ended without handing over a page, "
                                               "an error or the end of the export; the pull stops here") from None

    thread = threading.Thread(target=produce, name="zendesk-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = take()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)
