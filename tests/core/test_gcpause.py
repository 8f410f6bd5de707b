"""The engine's one garbage-collector pause: threads overlapping in any order leave it as it was."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from migo_sync.engine.gcpause import gc_paused


@pytest.fixture(autouse=True)
def _collector_back_on() -> Iterator[None]:
    yield
    gc.enable()


def test_overlapping_pauses_on_two_threads_end_with_the_collector_on() -> None:
    """The interleaving that used to leave GC off: A pauses, B sees it off, A resumes, B ends."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with gc_paused():
            a_in.set()
            assert b_in.wait(10)
        a_out.set()

    def second() -> None:
        assert a_in.wait(10)
        with gc_paused():
            b_in.set()
            assert a_out.wait(10)
            seen.append(gc.isenabled())  # A has left; B still holds it off

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [False]
    assert gc.isenabled()


def test_nested_pauses_and_a_collector_already_off() -> None:
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()  # it was off before: it stays off


def test_many_threads_in_any_order() -> None:
    barrier = threading.Barrier(8)

    def work() -> None:
        for _ in range(200):
            with gc_paused():
                pass
        barrier.wait(10)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert gc.isenabled()
