"""Watch mode: the nightly job as micro-batches, one recorded run every interval.

The caller holds the project lock for the watcher's whole life. Each cycle reloads the project and
its mappings (an edit is picked up at the next cycle) and is an ordinary recorded run, with three
additions: the push change probe (an unchanged push sends nothing and skips its plan), a stop
flag checked between batches (SIGTERM/SIGINT finish the current batch, the run is recorded as
`stopped`), and a per-system backoff: a system found unreachable is skipped for 1, 2, 4 … cycles
(at most `MAX_BACKOFF_SECONDS`) while the other systems go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from migo_sync.config import Project
from migo_sync.engine.probe import ChangeProbe
from migo_sync.engine.runner import RunOptions, RunReport, run
from migo_sync.errors import ConfigError, MigoSyncError
from migo_sync.redact import redact

MAX_BACKOFF_SECONDS = 30 * 60.0
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_interval(text: str) -> float:
    """'90s', '2m', '1h' or a bare number of seconds → seconds (at least 1 s)."""
    raw = text.strip().lower()
    unit = _UNITS.get(raw[-1:])
    number = raw[:-1] if unit else raw
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        raise ConfigError(f"--every: '{text}' is not an interval (examples: 30s, 2m, 1h)") from None
    if not seconds >= 1:  # also refuses NaN
        raise ConfigError(f"--every: '{text}' is shorter than one second")
    return seconds


@dataclass
class Backoff:
    """Per system: consecutive unreachable cycles and the clock time before which it is skipped."""

    every: float
    failures: dict[str, int] = field(default_factory=dict)
    until: dict[str, float] = field(default_factory=dict)

    def active(self, now: float) -> dict[str, str]:
        """{system: why it is skipped this cycle} for systems still backing off at `now`."""
        return {system: f"skipped: {system} was unreachable {self.failures[system]} time(s) in a row; "
                        f"retrying in {until - now:.0f} s"
                for system, until in self.until.items() if now < until - 1e-6}

    def note(self, report: RunReport, started: float, skipped: dict[str, str]) -> None:
        down: set[str] = set()
        up: set[str] = set()
        for r in report.results:
            if r.system in skipped:
                continue
            if r.status == "failed" and r.exit_code == 3:
                down.add(r.system)
            elif r.status in ("ok", "rejected"):
                up.add(r.system)
        for system in up - down:
            self.failures.pop(system, None)
            self.until.pop(system, None)
        for system in down:
            n = self.failures.get(system, 0) + 1
            self.failures[system] = n
            self.until[system] = started + min(self.every * 2 ** (n - 1), max(self.every, MAX_BACKOFF_SECONDS))


@dataclass
class Cycle:
    """One cycle's summary: printed as one JSON line with --json."""

    number: int
    started_at: str
    seconds: float
    report: RunReport | None = None
    error: MigoSyncError | None = None
    backed_off: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"cycle": self.number, "started_at": self.started_at,
                                "seconds": round(self.seconds, 3)}
        if self.error is not None:
            data.update(ok=False, error=redact(str(self.error)), exit_code=self.error.exit_code)
            return data
        assert self.report is not None
        results = self.report.results
        data.update(
            run_id=self.report.run_id, ok=self.report.ok, stopped=self.report.stopped,
            requests=sum(r.requests for r in results), rows_written=sum(r.rows_written for r in results),
            rows_rejected=sum(r.rows_rejected for r in results),
            unchanged=[r.name for r in results if r.details.get("unchanged")],
            backed_off=sorted(self.backed_off),
            mappings=[{"name": r.name, "status": r.status, "rows_written": r.rows_written,
                       "rows_rejected": r.rows_rejected, "requests": r.requests, "seconds": round(r.seconds, 3),
                       **({"error": r.error} if r.error else {})} for r in results])
        if self.report.reconciliation:
            data["reconciliation_differences"] = sum(len(x.get("differences") or [])
                                                     for x in self.report.reconciliation)
        return data


@dataclass
class Watcher:
    """Runs cycles until stopped (or `max_cycles`); `clock` and `wait` are injectable for tests.

    `wait(seconds)` sleeps up to `seconds` and returns True when asked to stop meanwhile.
    """

    load: Callable[[], Project]  # the project, loaded again each cycle (edits are picked up)
    options: RunOptions
    every: float
    stop: Callable[[], bool]
    wait: Callable[[float], bool]
    on_cycle: Callable[[Cycle], None]
    clock: Callable[[], float] = time.monotonic
    max_cycles: int | None = None
    probe: ChangeProbe = field(default_factory=ChangeProbe)

    def run(self) -> int:
        """0 when stopped or done; a config error in the first cycle returns its exit code."""
        backoff = Backoff(self.every)
        number = 0
        next_start = self.clock()
        while not self.stop():
            number += 1
            started = self.clock()
            cycle = self._cycle(number, started, backoff)
            self.on_cycle(cycle)
            if cycle.error is not None and number == 1 and isinstance(cycle.error, ConfigError):
                return cycle.error.exit_code  # a bad project or selection: watching it would only repeat this
            if cycle.report is not None and cycle.report.stopped:
                break
            if self.max_cycles is not None and number >= self.max_cycles:
                break
            next_start = max(next_start + self.every, self.clock())  # an overrun starts the next at once
            if self.wait(max(0.0, next_start - self.clock())):
                break
        return 0

    def _cycle(self, number: int, started: float, backoff: Backoff) -> Cycle:
        wall = datetime.now(UTC)
        skipped = backoff.active(started)
        options = replace(self.options, stop=self.stop, probe=self.probe, backed_off=skipped)
        try:
            report = run(self.load(), options)
        except MigoSyncError as exc:
            return Cycle(number, _iso(wall), self.clock() - started, error=exc, backed_off=skipped)
        backoff.note(report, started, skipped)
        return Cycle(number, _iso(wall), self.clock() - started, report=report, backed_off=skipped)


def _iso(moment: datetime) -> str:
    return (moment - timedelta(microseconds=moment.microsecond)).strftime("%Y-%m-%dT%H:%M:%SZ")
