"""Live progress of a run on a terminal: one line per mapping, stopped when the mapping ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)


@contextmanager
def live_progress(console: Console) -> Iterator[Callable[[str, int | None], Callable[[int], None]]]:
    columns = [SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(),
               TaskProgressColumn(), TextColumn("{task.completed:,} rows"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        def factory(name: str, total: int | None) -> Callable[[int], None]:
            task = bar.add_task(name, total=total)
            return lambda n: bar.advance(task, n)

        yield factory
