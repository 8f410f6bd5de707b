"""Progress of a run: one task per mapping, and waits announced by whatever is about to sleep.

The engine ticks a `Task` (rows done; the total when it is known); the runner closes it when the
mapping ends. Anything that sleeps longer than `WAIT_SHOWN` seconds (a rate limiter, a retry
after a 429, Zendesk's export window) calls `announce_wait()` first, so the live display can say
"waiting 37 s: Zendesk export limit, 10 per minute" instead of a silent clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

WAIT_SHOWN = 2.0  # seconds: shorter waits are not worth a word
_listeners: list[Callable[[float, str], None]] = []
_lock = threading.Lock()


def announce_wait(seconds: float, reason: str) -> None:
    """Tell the live display that this thread is about to wait `seconds` for `reason`."""
    if seconds <= WAIT_SHOWN:
        return
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(seconds, reason)


@contextmanager
def listening(listener: Callable[[float, str], None]) -> Iterator[None]:
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


class Task:
    """One mapping's progress. This base does nothing (no terminal, --json, --quiet)."""

    def __call__(self, n: int) -> None:
        """`n` more rows done."""

    def set_total(self, total: int | None) -> None:
        """How many rows there are to do, once known (a percentage is shown then)."""

    def done(self) -> None:
        """The mapping ended: stop counting and stop the clock."""


def per_minute(limit: int, period: float) -> str:
    """'10 per minute' / '5 per 10 s': a limit as people say it."""
    if period == 60:
        return f"{limit} per minute"
    if period == 1:
        return f"{limit} per second"
    return f"{limit} per {period:g} s"


@contextmanager
def live_progress(console: Console) -> Iterator[Callable[[str, int | None], Task]]:
    """Rich progress on a terminal: name, bar, percent (when the total is known), rows, time."""
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [SpinnerColumn(finished_text="✓"), TextColumn("{task.description}", markup=False), BarColumn(),
               TaskProgressColumn(), TextColumn("{task.completed:,} rows"), TimeElapsedColumn()]
    current: list[tuple[TaskID, str]] = []

    class LiveTask(Task):
        def __init__(self, bar: Progress, task: TaskID, name: str) -> None:
            self.bar, self.task, self.name = bar, task, name

        def __call__(self, n: int) -> None:
            self.bar.update(self.task, advance=n, description=self.name)

        def set_total(self, total: int | None) -> None:
            self.bar.update(self.task, total=total)

        def done(self) -> None:
            completed = self.bar.tasks[self.task].completed  # what was done is the whole of it now
            self.bar.update(self.task, total=completed, description=self.name)
            self.bar.stop_task(self.task)

    with Progress(*columns, console=console, transient=False) as bar:
        def on_wait(seconds: float, reason: str) -> None:
            if current:
                task, name = current[-1]
                bar.update(task, description=f"{name} — waiting {seconds:.0f} s: {reason}")
                bar.refresh()  # shown now: the wait is exactly when nothing else moves

        def factory(name: str, total: int | None) -> Task:
            task = bar.add_task(name, total=total)
            current.append((task, name))
            return LiveTask(bar, task, name)

        with listening(on_wait):
            yield factory
