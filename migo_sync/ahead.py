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

from migo_sync.spare_threads import SpareThreads

Item = TypeVar("Item")
Result = TypeVar("Result")
_PUT_EVERY = 0.05  # how often a drawing thread with a full queue looks whether its reader has stopped


def in_order(call: Callable[[Item], Result], items: Iterable[Item], *, in_flight: int,
             name: str) -> Iterator[tuple[Item, Result]]:
    """`(item, call(item))` for each item in order, with up to `in_flight` calls out at once.

    A slot is refilled as soon as any call in it ends, not when the caller takes that call's answer:
    a slow first answer, or the caller parsing the one it holds, leaves no slot idle. Answers wait for
    the caller in order, at most `in_flight` of them beside the calls out (memory stays bounded). Once
    a call has failed, or drawing the next item raised, no further call goes out; the error is raised
    where it stands. Closing the iterator cancels calls not started and waits for those in flight."""
    width = max(1, in_flight)
    upcoming = iter(items)
    state, drawing = threading.Condition(), threading.Lock()  # drawing: one item at a time, in order
    pending: deque[tuple[Item, Future[Result]]] = deque()
    out = held = 0  # calls out; entries of `pending` plus slots reserved for an item being drawn
    going = True  # no call failed, nothing raised, items left, the caller still reading
    raised: list[BaseException] = []
    context = contextvars.copy_context()  # the caller's: requests are counted to the pull that asked
    pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix=name)
    filling = threading.local()  # a call that ends while its thread sends the next: no nested fill

    def fill() -> None:
        nonlocal out, held, going
        if getattr(filling, "on", False):
            return
        filling.on = True
        try:
            while True:
                with state:
                    if not going or out >= width or held >= 2 * width:
                        return
                    out, held = out + 1, held + 1
                with drawing:
                    try:
                        item = next(upcoming)
                    except BaseException as exc:
                        with state:
                            out, held, going = out - 1, held - 1, False
                            if not isinstance(exc, StopIteration):
                                raised.append(exc)
                            state.notify_all()
                        return
                    with state:
                        if not going:  # closed, or a call failed, while this item was drawn: not sent
                            out, held = out - 1, held - 1
                            return
                        future = pool.submit(context.copy().run, call, item)
                        pending.append((item, future))
                        state.notify_all()
                future.add_done_callback(ended)
        finally:
            filling.on = False

    def ended(future: Future[Result]) -> None:
        nonlocal out, going
        with state:
            out -= 1
            if future.cancelled() or future.exception() is not None:
                going = False
        fill()

    try:
        fill()
        while True:
            with state:
                while not pending and going:  # an item is being drawn on a call's thread
                    state.wait()
                if not pending:
                    if raised:
                        raise raised[0]
                    return
                item, future = pending[0]
            result = future.result()
            with state:
                pending.popleft()
                held -= 1
            fill()
            yield item, result
    finally:
        with state:
            going = False
        pool.shutdown(wait=True, cancel_futures=True)


_SPARE = SpareThreads()


def started(call: Callable[[], Result], *, name: str) -> Future[Result]:
    """`call()` begun now on a thread of its own (a spare one when one waits: `spare_threads`). Whoever
    needs its result takes it from the future: an error it raised is raised there, as the call would
    have raised it in place."""
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
    context = contextvars.copy_context()
    _SPARE.run(lambda: context.run(run), name)
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
