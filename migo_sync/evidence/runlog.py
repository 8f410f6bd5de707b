"""One JSON-lines log per run: `.migo-sync/logs/<run_id>.jsonl`.

Every record of the `migo_sync` loggers goes in, at DEBUG level, whatever the terminal shows:
one event per HTTP request (`event: request`, with system, method, path, status, duration_ms,
attempt), per batch (`event: batch`) and per mapping (`event: mapping`). Each line is redacted as
the terminal is: no secret reaches the file. Old logs are pruned by `[logs]` in migo-sync.toml
(`keep_runs`, `keep_days`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from migo_sync.redact import RedactingFilter, redact

LOG_DIR = "logs"
# Attributes every LogRecord has: anything else on a record is an event field.
_STANDARD = set(vars(logging.LogRecord("x", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class LogsConfig(BaseModel):
    """`[logs]` in migo-sync.toml."""

    model_config = ConfigDict(extra="forbid")

    keep_runs: int = Field(default=100, ge=1, description="run logs kept, newest first")
    keep_days: int = Field(default=90, ge=1, description="run logs older than this are deleted")


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The event fields a record carries (`extra=` of the logging call)."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonLinesHandler(logging.Handler):
    """Appends one redacted JSON object per record to a file, flushed at once (a killed run
    keeps everything logged before the kill)."""

    def __init__(self, path: Path, run_id: str) -> None:
        super().__init__(logging.DEBUG)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.run_id = run_id
        self.stream = path.open("a", encoding="utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event: dict[str, Any] = {
                "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "level": record.levelname.lower(), "logger": record.name, "run_id": self.run_id,
                "event": "message", **fields(record), "message": record.getMessage()}
            if record.exc_info and record.exc_info[1] is not None:
                event["error_class"] = type(record.exc_info[1]).__name__
            self.stream.write(redact(json.dumps(event, default=str)) + "\n")
            self.stream.flush()
        except Exception:  # a log line must never fail the run
            self.handleError(record)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stream.close()
        super().close()


def log_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / LOG_DIR / f"{run_id}.jsonl"


@contextlib.contextmanager
def run_log(state_dir: Path, run_id: str, config: LogsConfig | None = None) -> Iterator[Path]:
    """Log everything of `migo_sync` to the run's file for the duration, then prune old logs."""
    path = log_path(state_dir, run_id)
    handler = JsonLinesHandler(path, run_id)
    logger = logging.getLogger("migo_sync")
    level = logger.level
    added: list[logging.Handler] = [handler]
    if not logger.handlers:  # warnings kept reaching stderr (Python's last resort): they still do
        warnings = logging.StreamHandler()
        warnings.addFilter(RedactingFilter())
        warnings.addFilter(lambda r: getattr(r, "event", None) != "mapping")  # the run's table shows those
        added.append(warnings)
    for existing in [*logger.handlers, *added[1:]]:  # what the terminal showed before, it still shows
        if existing.level == logging.NOTSET:
            existing.setLevel(level or logging.WARNING)
    for new in added:
        logger.addHandler(new)
    logger.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        for new in added:
            logger.removeHandler(new)
        logger.setLevel(level)
        handler.close()
        prune(state_dir / LOG_DIR, config or LogsConfig(), keep=path)


def prune(folder: Path, config: LogsConfig, keep: Path | None = None) -> list[Path]:
    """Delete run logs beyond `keep_runs` (newest kept) or older than `keep_days`."""
    logs = sorted(folder.glob("*.jsonl"), key=lambda p: p.name, reverse=True)  # run ids sort by start
    cutoff = time.time() - config.keep_days * 86400
    doomed = [p for i, p in enumerate(logs) if p != keep and (i >= config.keep_runs or p.stat().st_mtime < cutoff)]
    for path in doomed:
        with contextlib.suppress(OSError):
            path.unlink()
    return doomed


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """The events of one run log; a line cut short by a kill is skipped."""
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    yield event


def readable(event: dict[str, Any]) -> str:
    """One event as a short line (for `runs log` and -v at 80 columns)."""
    clock = str(event.get("ts", ""))[11:23]
    level = str(event.get("level", "")).upper()[:1]
    return f"{clock} {level} {event.get('message', '')}"
