"""Import batches written on a thread of their own, ahead of the requests that carry them.

Writing the 500 journals of an import (~0.03-0.08 s, several times that on a loaded machine) on the
thread that sends them left a free slot unused until the batch was written: each import after the
first `max_concurrency` waited for its own writing once the one before it had answered. Written
ahead, a batch is ready when a slot frees; at most `ahead` batches wait, so memory stays bounded.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
_PUT_EVERY = 0.05  # how often a writer with a full queue looks whether its reader has stopped


@dataclass
class _Ended:
    error: BaseException | None = None


@dataclass
class _Ready(Generic[Item]):
    item: Item


def written_ahead(items: Iterator[Item], *, ahead: int, name: str) -> Generator[Item, None, None]:
    """`items` in order, drawn on a thread of their own up to `ahead` before they are asked for. An error
    raised while drawing is raised here, where its item stands; closing this iterator stops the drawing
    (after the item being drawn) and waits for the thread."""
    ready: queue.Queue[_Ready[Item] | _Ended] = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()

    def hand_over(entry: _Ready[Item] | _Ended) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=_PUT_EVERY)
                return True
            except queue.Full:
                continue
        return False

    def draw() -> None:
        try:
            for item in items:
                if not hand_over(_Ready(item)):
                    return
        except BaseException as exc:  # handed to the reader, raised where the item would have stood
            hand_over(_Ended(exc))
            return
        hand_over(_Ended())

    # in the caller's context, as the requests the items lead to
    thread = threading.Thread(target=contextvars.copy_context().run, args=(draw,), name=name, daemon=True)
    thread.start()
    try:
        while True:
            entry = ready.get()
            if isinstance(entry, _Ended):
                if entry.error is not None:
                    raise entry.error
                return
            yield entry.item
    finally:
        stop.set()
        thread.join()
