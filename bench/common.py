"""Small helpers shared by the benchmark scripts: peak RSS and a timer."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    On Linux this reads VmHWM from /proc/self/status: getrusage's ru_maxrss carries the parent's
    peak across fork/exec, which would blur a child process's own figure.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / (1024 * 1024)


def reset_peak_rss() -> bool:
    """Start the peak (VmHWM) afresh from the current RSS, so a phase is measured without the set-up
    before it (Linux: writing 5 to /proc/self/clear_refs). False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    yield
    results[label] = time.perf_counter() - started


def time_ledger_push(adapter: Any, mapping: Any, work: Sequence[Any], system: str) -> dict[str, float]:
    """The ledger benchmarks' push: the live chart, the pre-send checks, the push, then the same
    push again (every journal must come back a duplicate). Closes the adapter."""
    from migo_sync.http import REQUEST_STATS

    started = time.perf_counter()
    adapter.chart()
    chart_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rejects = adapter.check(mapping, work)
    check_seconds = time.perf_counter() - started
    assert not rejects, rejects
    before = REQUEST_STATS.get(system)
    started = time.perf_counter()
    results = adapter.write(mapping, work)
    push_seconds = time.perf_counter() - started
    requests = REQUEST_STATS.get(system) - before
    assert all(r.ok and not r.duplicate for r in results)
    before = REQUEST_STATS.get(system)
    started = time.perf_counter()
    again = adapter.write(mapping, work)
    rerun_seconds = time.perf_counter() - started
    assert all(r.ok and r.duplicate for r in again)
    adapter.close()
    return {"chart_seconds": chart_seconds, "check_seconds": check_seconds, "push_seconds": push_seconds,
            "push_requests": requests, "rerun_seconds": rerun_seconds,
            "rerun_requests": REQUEST_STATS.get(system) - before}


def customer_status_sql(rows: int, key_digits: int) -> str:
    """The synthetic `lending.customer_status` table both the Zendesk and cycle benches push from
    (DuckDB SQL; `key_digits` pads customer_id so keys sort as numbers)."""
    return f"""CREATE TABLE lending.customer_status AS
        SELECT printf('C%0{key_digits}d', i) AS customer_id, printf('bench.customer.%d@example.com', i) AS email,
               printf('Customer %d', i) AS full_name,
               (['current', 'late', 'default', 'repaid'])[1 + i % 4] AS loan_status,
               (['A', 'B', 'C', 'D', 'E'])[1 + i % 5] AS credit_tier,
               CASE WHEN i % 4 = 2 THEN 'restructure_3m' ELSE 'none' END AS recovery_offer
        FROM range(1, {rows + 1}) t(i)"""
