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


# ---- the unchanged rerun (issue 16: < 5 % of the first run) ----------------------------------------


def fresh_env(env: dict[str, str]) -> dict[str, str]:
    """A child's environment as an installed package runs: byte-compiled (this machine sets
    PYTHONDONTWRITEBYTECODE, which makes every fresh process compile ~100 of our modules again)."""
    out = dict(env)
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    out["MIGO_SYNC_NO_KEYRING"] = "1"
    return out


def fresh_run(root: Path, name: str, env: dict[str, str]) -> dict[str, float]:
    """`migo-sync run NAME` in a fresh process, as cron would start it: its wall time, and inside it
    the imports (the CLI, the engine and DuckDB; an adapter is imported by the command) and the command
    itself (timed by `--fresh-child` below)."""
    import json
    import subprocess

    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--fresh-child", str(root), name], env=fresh_env(env),
                          capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"fresh `migo-sync run {name}` failed ({done.returncode}): {done.stderr[-800:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["wall"] = wall
    return figures


def _fresh_child(root: str, name: str) -> None:
    import contextlib
    import importlib
    import io
    import json

    started = time.perf_counter()
    for module in ("migo_sync.engine.runner", "migo_sync.warehouse.duckdb"):  # what `run` imports as it starts
        importlib.import_module(module)
    from migo_sync.cli import run_cli

    imported = time.perf_counter()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run_cli(["run", "-p", root, name, "--json"])
    ended = time.perf_counter()
    document = json.loads(out.getvalue())
    requests = sum(m.get("requests", 0) for m in document.get("mappings", []))
    print(json.dumps({"imports": imported - started, "run": ended - imported, "exit": code, "requests": requests}))


def rerun_lines(label: str, first: float, warm: float, warm_requests: int, fresh: dict[str, float]) -> list[str]:
    """The unchanged rerun against the first run: in the same process, and a fresh `migo-sync run`."""
    return [f"{label}: unchanged rerun in-process {warm:.3f} s = {warm / first:.1%} of the first run ({first:.2f} s), "
            f"{warm_requests} requests; fresh `migo-sync run` process {fresh['wall']:.2f} s wall = "
            f"{fresh['wall'] / first:.1%} (imports {fresh['imports']:.2f} s, the command {fresh['run']:.2f} s = "
            f"{fresh['run'] / first:.1%}), {fresh['requests']:.0f} requests, exit {fresh['exit']:.0f}"]


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--fresh-child":
    _fresh_child(sys.argv[2], sys.argv[3])
