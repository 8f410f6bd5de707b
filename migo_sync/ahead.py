"""Independent remote calls kept in flight ahead of the caller, answered in order.

Paged and sliced reads (Workday's pinned Get_Journals pages, Adaptive's exportData spans) are
independent requests whose results must still be loaded in order, so a resume point is saved only
after everything before it. `in_order` keeps up to `in_flight` of them going while the caller
parses and loads the one it holds. `started` begins one call beside the caller's own work (an
adapter's warm-up, see `WarmUp`).
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


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
