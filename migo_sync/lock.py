"""One writer per project: the project lock every writing command holds while it runs.

The lock is an advisory `flock` on `<project>/.migo-sync/lock`. The kernel releases it when the
holder exits however it exits (even SIGKILL), so a lock left by a dead process is simply taken
over: the file's contents (who held it) are only there for the refusal message. It guards the
project folder on one machine, whatever the warehouse (DuckDB would refuse a second writer by
itself; Snowflake would not).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from migo_sync.errors import MigoSyncError

LOCK_NAME = "lock"
_HELD: set[Path] = set()  # lock files this process holds


class LockedError(MigoSyncError):
    """Another migo-sync process holds this project's lock (exit 3: try again later)."""

    exit_code = 3


class ProjectLock:
    """`with ProjectLock(state_dir, "run"):` or acquire()/release(). Not re-entrant."""

    def __init__(self, state_dir: Path, command: str) -> None:
        self.path = state_dir / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise LockedError naming the holder; never waits."""
        if self._fd is not None:
            raise RuntimeError("project lock already held by this object")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LockedError(f"cannot open the project lock {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read(fd))
            os.close(fd)
            raise LockedError(f"another migo-sync is already working on this project ({holder}); "
                              f"wait for it to finish or stop it (lock: {self.path})") from None
        except OSError as exc:
            os.close(fd)
            raise LockedError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        _HELD.add(self.path.resolve())

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _HELD.discard(self.path.resolve())
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # a reader never sees a departed holder's name
        os.close(fd)  # closing drops the flock

    def __enter__(self) -> ProjectLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def holds(state_dir: Path) -> bool:
    """This very process holds the project's lock (e.g. `run` under the CLI, or watch mode)."""
    return (state_dir / LOCK_NAME).resolve() in _HELD


def nobody_running(state_dir: Path) -> bool:
    """True when no process can be running on the project: we hold the lock, or it is free (taken
    and dropped at once). Runs recorded `running` then belong to a process that died."""
    if holds(state_dir):
        return True
    try:
        with ProjectLock(state_dir, "inspect"):
            return True
    except LockedError:
        return False


def holder(path: Path) -> dict[str, Any]:
    """Who holds the lock file at `path`, from its content; {} when nobody or unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return {}
    try:
        return _read(fd)
    finally:
        os.close(fd)


def _read(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(info: dict[str, Any]) -> str:
    if not info.get("pid"):
        return "holder unknown"
    return (f"'{info.get('command', '?')}' as pid {info['pid']} on {info.get('host', '?')} "
            f"since {info.get('since', '?')}")
