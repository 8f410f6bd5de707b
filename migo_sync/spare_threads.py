"""Threads kept a while after their call, for the next one (`ahead.started` runs its calls on them).

A thread made for one call and ended after it ends while its caller goes on with the answer: its end
(its thread-local parser and stylesheet, its state) holds the GIL for ~1.5-4 ms, and the caller,
waiting for it, pays that on its critical path (a Workday line pull, 240 journals: the collector's
pass after the page, 0.14 ms of CPU, took 1.7-4.5 ms of wall). A spare thread waits instead for the
next call (`IDLE_SECONDS`), keeping what its thread-locals hold (the page's parser, the compiled
stylesheet), and ends only when none came: rarely beside a caller's work.

Each call still has a thread of its own, begun at once: a spare one if a thread waits, else a new
one. The threads are daemons, as before: a call that hangs never holds the process open.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

IDLE_SECONDS = 30.0  # how long a thread waits for another call before it ends
IDLE_NAME = "migo-spare"  # a waiting thread's name (each call runs under its own)


class SpareThreads:
    """Runs each call at once on a waiting thread, or on a new one when none waits."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._waiting = 0  # threads waiting for a call and not yet promised one
        self._calls: queue.SimpleQueue[tuple[Callable[[], None], str]] = queue.SimpleQueue()

    def run(self, call: Callable[[], None], name: str) -> None:
        """`call()` begun now on a thread named `name` (it must not raise: nothing would catch it)."""
        with self._lock:
            if self._waiting:  # promised to one waiting thread, which takes it (or another one does)
                self._waiting -= 1
                self._calls.put((call, name))
                return
        threading.Thread(target=self._serve, args=(call,), name=name, daemon=True).start()

    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def _serve(self, call: Callable[[], None]) -> None:
        while True:
            call()
            del call  # its result is the caller's: not kept alive while this thread waits
            threading.current_thread().name = IDLE_NAME  # not its last call's name while it waits
            with self._lock:
                self._waiting += 1
            try:
                call, name = self._calls.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:  # a call promised meanwhile is in the queue: it is taken, not left
                    try:
                        call, name = self._calls.get_nowait()
                    except queue.Empty:
                        self._waiting -= 1
                        return
            threading.current_thread().name = name
