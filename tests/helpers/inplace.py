"""A stand-in for `migo_sync.ahead.started` that runs the call where it is asked for: the tests of an
overlap compare what a caller sees with the call on a thread against the same call made in place."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


def started_in_place(call: Callable[[], Any], *, name: str) -> Future[Any]:
    """`call()` run now, its result or error handed over through a future as `started` does."""
    future: Future[Any] = Future()
    try:
        future.set_result(call())
    except Exception as exc:
        future.set_exception(exc)
    return future


def noting_intents(monkeypatch: Any, column: str = "unit_key") -> tuple[set[str], threading.Event]:
    """`Bookkeeping.record_intent` patched to note the `column` values of every intent it writes, and an
    event set once an intent is in the ledger: what an overlap test holds the other side on."""
    from migo_sync.warehouse.bookkeeping import Bookkeeping

    intents: set[str] = set()
    recorded = threading.Event()
    record = Bookkeeping.record_intent

    def recording(self: Bookkeeping, feed: str, run_id: str, table: Any) -> int:
        written = record(self, feed, run_id, table)
        intents.update(table.column(column).to_pylist())
        if table.num_rows:
            recorded.set()
        return written

    monkeypatch.setattr(Bookkeeping, "record_intent", recording)
    return intents, recorded


def units_held_until_asked(monkeypatch: Any, owner: Any, method: str) -> tuple[list[bool], threading.Event]:
    """The engine's reading of a push's units held until `owner.method` was called (10 s at most); the
    list gets whether it was, once per push, and the event is set by the call: a warm-up test's proof
    that its calls left before the units were read."""
    from migo_sync.engine.push import Pusher

    event = threading.Event()
    real = getattr(owner, method)

    def asking(*args: Any, **kwargs: Any) -> Any:
        event.set()
        return real(*args, **kwargs)

    waited: list[bool] = []
    units = Pusher._units

    def held(self: Pusher, plan: Any, deleted: Any) -> Any:
        if plan.units:  # a push with nothing to send reads no unit: nothing to hold (nor a 10 s wait)
            waited.append(event.wait(10))
        yield from units(self, plan, deleted)

    monkeypatch.setattr(owner, method, asking)
    monkeypatch.setattr(Pusher, "_units", held)
    return waited, event
