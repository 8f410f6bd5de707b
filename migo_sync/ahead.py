"""Independent remote calls kept in flight ahead of the caller, answered in order.

Paged and sliced reads (Workday's pinned Get_Journals pages, Adaptive's exportData spans) are
independent requests whose results must still be loaded in order, so a resume point is saved only
after everything before it. `in_order` keeps up to `in_flight` of them going while the caller
parses and loads the one it holds. `started` begins one call beside the caller's own work (an
adapter's warm-up, see `WarmUp`). `written_ahead` draws an iterator's items on a thread of its own,
a bounded few ahead of the caller (Workday's import batches are written while the imports before
them are in flight: written on the sending thread, a freed slot stayed unused until the batch was).
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
_PUT_EVERY = 0.05  # how often a drawing thread with a full queue looks whether its reader has stopped


def in_order(call: Callable[[Item], Result], items: Iterable[Item], *, in_flight: int,
             name: str) -> Iterator[tuple[Item, Result]]:
    """`(item, call(item))` for each item in order, with up to `in_flight` calls out at once; the
    next call goes out before a result is handed over. A call's error is raised where its result
    stands; closing the iterator cancels calls not started and waits for those in flight."""
    width = max(1, in_flight)
    upcoming = iter(items)
    pending: deque[tuple[Item, Future[Result]]] = deque()
    pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix=name)
    try:
        def fill() -> None:
            for item in upcoming:
                # in the caller's context: requests are counted to the pull that asked (RequestStats.tallied)
                pending.append((item, pool.submit(contextvars.copy_context().run, call, item)))
                if len(pending) >= width:
                    return

        fill()
        while pending:
            item, future = pending.popleft()
            result = future.result()
            fill()
            yield item, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def started(call: Callable[[], Result], *, name: str) -> Future[Result]:
    """`call()` begun now on a thread of its own. Whoever needs its result takes it from the future:
    an error it raised is raised there, as the call would have raised it in place."""
    future: Future[Result] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = call()
        except BaseException as exc:  # handed over as it is, to the one who takes the result
            future.set_exception(exc)
        else:
            future.set_result(result)

    # in the caller's context: its requests are counted to the pull or push that started it
    threading.Thread(target=contextvars.copy_context().run, args=(run,), name=name, daemon=True).start()
    return future


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
