"""Small helpers shared by the benchmark scripts: peak RSS, a timer, the ledger benches' push, and an
engine run followed by its unchanged rerun (in the same process and as a fresh process)."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
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


def engine_runs(project: Any, name: str, served: Callable[[], int] | None = None, **options: Any) -> dict[str, Any]:
    """One mapping through the engine's `run()`, then again with nothing changed in the same
    process (and the same `run()` options): the first run's seconds, rows and requests, and the
    rerun's as `warm_seconds` / `warm_requests`. With `served` (the requests the remote has
    received so far), also what each run sent in all (`served`, `warm_served`: a journal push's
    reconciliation included, which no mapping's count holds)."""
    from migo_sync.engine.runner import RunOptions, run

    figures: dict[str, Any] = {}
    for warm in (False, True):
        before = served() if served else 0
        started = time.perf_counter()
        [result] = run(project, RunOptions(names=[name], command="bench", **options)).results
        seconds = time.perf_counter() - started
        if result.status != "ok":
            raise SystemExit(f"{name}{' (rerun)' if warm else ''}: {result.status}: {result.error}")
        sent = served() - before if served else None
        if warm:
            figures.update(warm_seconds=seconds, warm_requests=result.requests, warm_served=sent)
        else:
            figures.update(seconds=seconds, rows=result.rows_written, requests=result.requests, served=sent)
    return figures


# ---- a ledger's journals through the engine (bench/intacct.py, bench/workday.py) -------------------


def journal_lines_sql(journals: int) -> str:
    """`lending.journal_lines` (the table both ledgers' shipped push mappings read) made of `journals`
    balanced journals of 4 lines over Oct-Nov 2026, with accounts, departments and locations the
    demo's sandboxes know."""
    return f"""CREATE OR REPLACE TABLE lending.journal_lines AS
        WITH j AS (SELECT i, printf('BENCH-%06d', i) AS journal_id, DATE '2026-10-01' + CAST(i % 60 AS INTEGER) AS day,
                          CAST(10 + (i * 7919) % 900000 AS DECIMAL(18, 0)) * 0.01 AS a,
                          CAST(10 + (i * 104729) % 900000 AS DECIMAL(18, 0)) * 0.01 AS b
                   FROM range({journals}) t(i))
        SELECT journal_id, n AS line_no, day AS posting_date, 'GJ' AS journal_symbol,
               'Bench journal ' || journal_id AS batch_title,
               (['1100', '4100', '4000', '1000'])[n] AS account_no, (['COLL', 'OPS'])[1 + i % 2] AS department_id,
               (['NBO', 'MSA', 'KSM'])[1 + i % 3] AS location_id,
               CAST((CASE n WHEN 1 THEN a WHEN 2 THEN b WHEN 3 THEN -a ELSE -b END) AS DECIMAL(38, 2)) AS amount,
               'line ' || n AS memo
        FROM j, range(1, 5) l(n)"""


def ledger_engine_lines(system: str, push: str, pulls: Sequence[str], journals: int) -> list[str]:
    """The demo project (its shipped mappings, dictionary and sandbox settings) on loopback, with
    `journals` journals in `lending.journal_lines`: the push and each pull through `run()`, each
    followed by an unchanged rerun in the same process and as a fresh `migo-sync run` process (issue
    16: < 5 % of the first run); the push's rerun also with `[run] reconcile = "changed"`."""
    import os
    import tempfile

    from migo_sync.demo.dataset import seed as seed_dataset
    from migo_sync.demo.project import SANDBOX_OPTIONS, create_project, sandbox_credentials
    from migo_sync.sandbox.process import SandboxProcess
    from migo_sync.warehouse import open_warehouse

    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"migo-bench-{system}-engine-") as tmp:
        project = create_project(Path(tmp) / "demo")
        warehouse = open_warehouse(project, create=True)
        try:
            seed_dataset(warehouse, 42)
            warehouse.execute(journal_lines_sql(journals))
        finally:
            warehouse.close()
        with SandboxProcess(state_dir=project.state_dir / "sandbox", seed=42, options=SANDBOX_OPTIONS) as sandbox:
            project.environ.update(sandbox.env)
            project.environ.update(sandbox_credentials(project.state_dir))
            env = {**os.environ, **project.environ}

            def served() -> int:
                return int(sandbox.stats().get(system, 0))

            for name in (push, *pulls):
                figures = engine_runs(project, name, served)
                lines.append(f"engine {name} (`run()`, {journals:,} journals in the warehouse): {figures['rows']:,} rows "
                             f"in {figures['seconds']:.2f} s, {figures['requests']} requests "
                             f"({figures['served']} received by the sandbox, reconciliation included)")
                lines += rerun_lines(f"  {name}", figures["seconds"], figures["warm_seconds"],
                                     figures["warm_requests"], fresh_run(project.root, name, env))
                lines.append(f"  {name}: the in-process rerun sent {figures['warm_served']} requests in all "
                             "(reconciliation included)")
                if name == push:  # two more unchanged reruns, reconciling only after a mismatch
                    again = engine_runs(project, name, served, reconcile="changed")
                    lines.append(f"  {name}: unchanged reruns with [run] reconcile = \"changed\": "
                                 f"{again['seconds']:.3f} s and {again['warm_seconds']:.3f} s "
                                 f"({again['warm_seconds'] / figures['seconds']:.1%} of the first run), "
                                 f"{again['served']} and {again['warm_served']} requests in all")
    return lines


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--fresh-child":
    _fresh_child(sys.argv[2], sys.argv[3])
