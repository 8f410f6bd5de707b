"""`migo-sync run --every 2m`: watch mode at the command line (signals, lock, one line per cycle)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from migo_sync.cli.common import fail, load_project
from migo_sync.console import Terminal
from migo_sync.errors import ConfigError, MigoSyncError

if TYPE_CHECKING:
    from migo_sync.engine.runner import RunOptions
    from migo_sync.engine.watch import Cycle

DEFAULT_EVERY = "2m"


def watch(project_dir: Path, options: RunOptions, every: str | None, cycles: int | None, term: Terminal,
          target: str | None = None) -> int:
    """Hold the project lock and run cycles until SIGTERM/SIGINT (exit 0) or `cycles` are done."""
    from migo_sync.engine.watch import Watcher, parse_interval
    from migo_sync.lock import ProjectLock

    try:
        if options.dry_run:
            raise ConfigError("--every and --dry-run do not go together: a watch writes every cycle")
        seconds = parse_interval(every or DEFAULT_EVERY)
        project = load_project(project_dir, target)
        with ProjectLock(project.state_dir, "watch"), _stop_on_signals() as stopping:
            options.sole_writer = True
            watcher = Watcher(lambda: load_project(project_dir, target), options, seconds, stop=stopping.is_set, wait=stopping.wait,
                              on_cycle=lambda cycle: _show(term, cycle, seconds), max_cycles=cycles)
            code = watcher.run()
    except MigoSyncError as exc:
        return fail(term, exc)
    if code == 0 and not term.json_output:
        term.info("watch stopped" if stopping.is_set() else "watch done")
    return code


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """SIGTERM and the first SIGINT ask for a stop after the current batch; a second SIGINT aborts."""
    stopping = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stopping
        return

    def ask(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stopping.set()

    previous = {s: signal.signal(s, ask) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopping
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _show(term: Terminal, cycle: Cycle, every: float) -> None:
    data = cycle.as_json()
    if term.json_output:
        term.json_line(data)
        return
    if cycle.error is not None:
        term.error(f"cycle {cycle.number}: {cycle.error}")
        return
    report = cycle.report
    assert report is not None
    state = "stopped" if report.stopped else ("ok" if report.ok else "with problems")
    now = datetime.now(UTC).strftime("%H:%M:%S")
    term.info(f"{now} cycle {cycle.number} {report.run_id}: {state}, {len(report.results)} mapping(s), "
              f"{data['rows_written']:,} written, {data['rows_rejected']:,} rejected, {data['requests']:,} "
              f"request(s), {cycle.seconds:.2f} s" + (f"; next in {every:.0f} s" if not report.stopped else ""))
    for r in report.results:
        if r.error:
            term.warn(f"{r.name}: {r.error}")
