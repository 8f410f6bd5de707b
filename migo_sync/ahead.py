"""Independent remote calls kept in flight ahead of the caller, answered in order.

Paged and sliced reads (Workday's pinned Get_Journals pages, Adaptive's exportData spans) are
independent requests whose results must still be loaded in order, so a resume point is saved only
after everything before it. `in_order` keeps up to `in_flight` of them going while the caller
parses and loads the one it holds.
"""

from __future__ import annotations

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
                pending.append((item, pool.submit(call, item)))
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
