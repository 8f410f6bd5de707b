"""Spare threads (`migo_sync.spare_threads`, under `ahead.started`): each call begins at once on a thread
of its own, a waiting one when there is one; an idle thread ends; `started` keeps its contract (the
caller's context, the call's result or error in the future)."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from migo_sync.ahead import started
from migo_sync.spare_threads import SpareThreads

pytestmark = pytest.mark.timeout(30)


def test_a_thread_that_waits_takes_the_next_call_under_that_calls_name() -> None:
    spare = SpareThreads(idle_seconds=10)
    seen: list[tuple[int, str]] = []
    done = [threading.Event(), threading.Event()]

    def call(i: int) -> None:
        seen.append((threading.get_ident(), threading.current_thread().name))
        done[i].set()

    spare.run(lambda: call(0), "first")
    assert done[0].wait(10)
    deadline = time.monotonic() + 10
    while spare.waiting() != 1:  # the thread goes back to waiting once its call has returned
        assert time.monotonic() < deadline, "the thread never went back to waiting"
        threading.Event().wait(0.001)
    spare.run(lambda: call(1), "second")
    assert done[1].wait(10)
    assert seen[0][0] == seen[1][0] and [name for _, name in seen] == ["first", "second"]


def test_calls_at_once_each_have_a_thread() -> None:
    spare = SpareThreads(idle_seconds=10)
    release, second_ran = threading.Event(), threading.Event()

    def held() -> None:
        release.wait(10)

    spare.run(held, "held")
    spare.run(second_ran.set, "beside it")
    assert second_ran.wait(10)  # not queued behind the call that is still running
    release.set()


def test_an_idle_thread_ends() -> None:
    spare = SpareThreads(idle_seconds=0.01)
    ran = threading.Event()
    thread: list[threading.Thread] = []

    def call() -> None:
        thread.append(threading.current_thread())
        ran.set()

    spare.run(call, "short-lived")
    assert ran.wait(10)
    thread[0].join(10)
    assert not thread[0].is_alive() and spare.waiting() == 0


def test_started_runs_in_the_callers_context_and_hands_over_the_result_or_the_error() -> None:
    where: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="nowhere")

    def ask(value: str) -> str:
        token = where.set(value)
        try:
            return started(where.get, name="test-context").result(10)
        finally:
            where.reset(token)

    assert [ask("a"), ask("b")] == ["a", "b"]  # the same spare thread, each call in its own caller's context

    def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        started(fail, name="test-error").result(10)
