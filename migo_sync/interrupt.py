"""SIGTERM / SIGINT during a run: finish the batch in flight, send nothing new, record it.

The CLI installs `handle_signals()` around a run (typer would turn Ctrl-C into a bare exit 130
before our own code saw it, so the signals are ours). The first signal only sets a flag: the
engine looks at it between batches (`requested()`), adapters before queueing more work, and the
run ends as `interrupted` with what was done. If the batch in flight has not finished within
the grace period (`MIGO_SYNC_GRACE_SECONDS`, default 30), or a second signal comes, `Interrupted`
is raised where the process stands: units whose intent was recorded but not confirmed stay
pending and are resent next run with the same idempotency keys (the remote refuses duplicates).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger("migo_sync.interrupt")
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
DEFAULT_GRACE = 30.0


class Interrupted(BaseException):
    """The run was stopped by a signal. A BaseException (like KeyboardInterrupt), so that no
    `except Exception` on the way swallows it."""

    def __init__(self, signum: int, *, abandoned: bool = False) -> None:
        self.signum = signum
        self.abandoned = abandoned
        name = signal.Signals(signum).name
        how = "abandoned the batch in flight" if abandoned else "finished the batch in flight"
        super().__init__(f"interrupted by {name}: {how}, sent nothing new")

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(signal.Signals(self.signum), 128 + self.signum)


class _State:
    signum: int | None = None
    disarmed: bool = False


_STATE = _State()


def requested() -> int | None:
    """The signal asking us to stop, if one came (checked between batches)."""
    return _STATE.signum


def check() -> None:
    """Raise Interrupted when a stop was asked for (call it where nothing is half done)."""
    if _STATE.signum is not None:
        raise Interrupted(_STATE.signum)


def grace_seconds() -> float:
    value = os.environ.get("MIGO_SYNC_GRACE_SECONDS")
    try:
        return max(0.0, float(value)) if value else DEFAULT_GRACE
    except ValueError:
        return DEFAULT_GRACE


@contextlib.contextmanager
def handle_signals(grace: float | None = None) -> Iterator[None]:
    """Route SIGINT/SIGTERM to the stop flag for the duration (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wait = grace_seconds() if grace is None else grace

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if _STATE.disarmed:
            _STATE.signum = _STATE.signum or signum
            return
        if _STATE.signum is not None:
            raise Interrupted(_STATE.signum, abandoned=True)
        _STATE.signum = signum
        log.warning("%s received: finishing the batch in flight (at most %.0f s), then stopping",
                    signal.Signals(signum).name, wait)
        signal.setitimer(signal.ITIMER_REAL, max(wait, 0.001))

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        if _STATE.signum is not None and not _STATE.disarmed:
            raise Interrupted(_STATE.signum, abandoned=True)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for s, handler in previous.items():
            signal.signal(s, handler)
        _STATE.signum = None
        _STATE.disarmed = False


def disarm() -> None:
    """The run is being recorded: no abandoning past this point (a later signal is only noted)."""
    _STATE.disarmed = True
    if threading.current_thread() is threading.main_thread():
        signal.setitimer(signal.ITIMER_REAL, 0)
