"""A stand-in for `migo_sync.ahead.started` that runs the call where it is asked for: the tests of an
overlap compare what a caller sees with the call on a thread against the same call made in place."""

from __future__ import annotations

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
