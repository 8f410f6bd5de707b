"""Pulls: walk an incremental export page by page; each page becomes one PullBatch.

The state yielded with a page is that page's own bookmark (the cursor export's `after_cursor`, or
the time export's `end_time`), so the engine's one transaction per batch commits data and cursor
together: a run killed anywhere resumes right after the last committed page, with no gap and no
duplicate. `read_ahead()` fetches and parses the next page on a thread while the engine loads the
current one; it changes when pages arrive, never what state goes with them.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from migo_sync.adapter import PullBatch
from migo_sync.adapters.zendesk.client import SYSTEM, ZendeskClient
from migo_sync.adapters.zendesk.config import PullOptions
from migo_sync.errors import FatalRemoteError
from migo_sync.mapping.model import Mapping
from migo_sync.mapping.transforms import get_path

T = TypeVar("T")
Page = tuple[list[dict[str, Any]], dict[str, Any]]

CURSOR_EXPORTS = ("tickets", "users")  # organizations only have the time-based export
IS_DELETED: dict[str, Callable[[dict[str, Any]], bool]] = {
    "tickets": lambda r: r.get("status") == "deleted",
    "users": lambda r: r.get("active") is False,
    "organizations": lambda r: r.get("deleted_at") is not None,
}
CUSTOM_PREFIX = "custom_fields."


def cursor_pages(client: ZendeskClient, resource: str, state: dict[str, Any] | None, start_time: int,
                 per_page: int) -> Iterator[Page]:
    """The cursor-based export: `start_time` once, then `after_cursor` until `end_of_stream`."""
    cursor: str | None = (state or {}).get("after_cursor")
    followed: set[str] = set()  # every cursor followed this run: a loop of any length (A→B→A) ends
    while True:
        body = client.cursor_export(resource, cursor=cursor, start_time=None if cursor else start_time,
                                    per_page=per_page)
        items = body.get(resource)
        after = body.get("after_cursor") or cursor
        end = bool(body.get("end_of_stream"))
        if not isinstance(items, list):
            raise FatalRemoteError(SYSTEM, f"incremental {resource} export page has no '{resource}' list")
        if after is None:
            if items:
                raise FatalRemoteError(SYSTEM, f"incremental {resource} export page has no after_cursor")
            return
        if after == cursor and not end:
            raise FatalRemoteError(SYSTEM, f"incremental {resource} export: the cursor did not advance "
                                           "(not following it again)")
        if after != cursor and after in followed and not end:
            raise FatalRemoteError(SYSTEM, f"incremental {resource} export: the cursor came back to one already "
                                           "followed (a loop; not following it again)")
        if cursor is not None:
            followed.add(cursor)
        if items or after != cursor:
            yield items, {"after_cursor": after}
        if end:
            return
        cursor = after


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
        return self._shape(*page)

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
