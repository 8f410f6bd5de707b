"""The engine's one garbage-collector pause, and the run's frozen heap: threads overlapping in any
order leave the collector as it was."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TypeVar

import pytest

from migo_sync.engine.gcpause import gc_paused, heap_frozen, refreeze

pytestmark = pytest.mark.timeout(30)
T = TypeVar("T")


@pytest.fixture(autouse=True)
def _collector_back_on() -> Iterator[None]:
    yield
    gc.enable()
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def overlapped(hold: Callable[[], AbstractContextManager[None]], probe: Callable[[], T]) -> list[T]:
    """A holds, B holds, A leaves, B probes the collector and leaves: what B saw."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[T] = []

    def first() -> None:
        with hold():
            a_in.set()
            assert b_in.wait(10)
        a_out.set()

    def second() -> None:
        assert a_in.wait(10)
        with hold():
            b_in.set()
            assert a_out.wait(10)
            seen.append(probe())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return seen


def test_overlapping_pauses_on_two_threads_end_with_the_collector_on() -> None:
    """The interleaving that used to leave GC off: A pauses, B sees it off, A resumes, B ends."""
    assert overlapped(gc_paused, gc.isenabled) == [False]  # A has left; B still holds it off
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


def test_a_frozen_heap_skips_what_was_alive_and_hands_it_back() -> None:
    """A cycle alive when the run starts and dropped during it waits for the run's end (the full
    passes skip it); one made during the run is collected as usual; after it, both are freed."""
    gc.collect()
    before = Node()
    old = weakref.ref(before)
    with heap_frozen():
        assert gc.get_freeze_count() > 0
        made = Node()
        new = weakref.ref(made)
        del before, made
        gc.collect()
        assert new() is None  # made during the run: collected
        assert old() is not None  # alive at the start: left out of the run's passes
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert old() is None  # handed back at the end: freed by the next full pass


def test_overlapping_frozen_heaps_end_when_the_last_one_leaves() -> None:
    seen = overlapped(heap_frozen, gc.get_freeze_count)  # A has left; B still holds the heap frozen
    assert len(seen) == 1 and seen[0] > 0
    assert gc.get_freeze_count() == 0


def test_refreeze_adds_what_the_run_loaded_and_hands_it_back_at_the_end() -> None:
    """Inside a frozen heap, objects alive at a refreeze (a WSDL read mid-run) are skipped by the
    later passes and freed after the run; outside one, refreeze freezes nothing."""
    gc.collect()
    refreeze()
    assert gc.get_freeze_count() == 0  # no run: nothing frozen
    with heap_frozen():
        loaded = Node()
        later = weakref.ref(loaded)
        frozen = gc.get_freeze_count()
        refreeze()
        assert gc.get_freeze_count() > frozen
        del loaded
        gc.collect()
        assert later() is not None  # alive at the refreeze: left out of the run's passes
        made = Node()
        after = weakref.ref(made)
        del made
        gc.collect()
        assert after() is None  # made after it: collected as usual
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert later() is None  # handed back at the end: freed by the next full pass
