"""Benchmark Workday Adaptive Planning: push and pull 100,000 cells through the engine and a
sandbox process (`migo-sync sandbox serve` in a child process, real HTTP over loopback).

Cells: 4 income/expense accounts x 4 levels x 12 months x N values of the auto-created `Cohort`
dimension (one import row = one account x level x cohort). Phases:

    push       all cells (engine diff in DuckDB → check → importStandardData)
    push again nothing changed: the diff finds nothing, nothing is sent
    push 1 %   1 % of the cells changed: only their slices are sent
    pull       exportData month by month into a DuckDB table (exact decimals)
    pull again nothing changed: exportData has no change probe, so the cells are read again
Each unchanged rerun (push again, pull again: in the same process) is also run as a fresh
`migo-sync run` process, each against its first run.

    python bench/adaptive.py            # 100,000 cells
    python bench/adaptive.py 20000      # another size
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PUSH = """\
name: bench_push
system: adaptive
object: data
direction: push
warehouse: {table: bench.cells}
key: [account_code, level_name, cohort, period]
group_by: [account_code, level_name, cohort]
fields:
  - {column: account_code, remote: account}
  - {column: level_name, remote: level}
  - {column: cohort, remote: dimensions.Cohort}
  - {column: period, remote: period}
  - {column: amount, remote: value, type: decimal, scale: 2}
options: {version: Actuals}
"""
PULL = """\
name: bench_pull
system: adaptive
object: data
direction: pull
warehouse: {table: bench.pulled}
key: [account_code, level_name, cohort, period]
fields:
  - {column: account_code, remote: account}
  - {column: level_name, remote: level}
  - {column: cohort, remote: dimensions.Cohort}
  - {column: period, remote: period}
  - {column: amount, remote: value, type: decimal, scale: 2}
options: {versions: [Actuals], start: "2026-01", end: "2026-12", split: month, dimensions: [Cohort]}
"""
CONFIG = 'name = "bench"\nmappings = "mappings"\n[warehouse]\ntype = "duckdb"\npath = "warehouse.duckdb"\ncreate = true\n'


def main(cells: int) -> None:
    import psutil
    from common import fresh_run, peak_rss_mb, rerun_lines

    from migo_sync.adapters.adaptive.sandbox import credentials
    from migo_sync.config import Project
    from migo_sync.engine.runner import RunOptions, run
    from migo_sync.sandbox.process import SandboxProcess
    from migo_sync.warehouse import open_warehouse

    cohorts = -(-cells // 192)
    root = Path(tempfile.mkdtemp(prefix="migo-bench-adaptive-"))
    (root / "mappings").mkdir()
    (root / "migo-sync.toml").write_text(CONFIG)
    (root / "mappings" / "bench_push.yaml").write_text(PUSH)
    (root / "mappings" / "bench_pull.yaml").write_text(PULL)
    project = Project.load(root)
    warehouse = open_warehouse(project)
    warehouse.execute("CREATE SCHEMA IF NOT EXISTS bench")
    warehouse.execute(f"""CREATE TABLE bench.cells AS
        SELECT a.code AS account_code, l.name AS level_name, 'B' || lpad(CAST(c.i AS VARCHAR), 5, '0') AS cohort,
               '2026-' || lpad(CAST(m.i AS VARCHAR), 2, '0') AS period,
               CAST(CAST((c.i * 7919 + m.i * 104729 + a.n * 1299709 + l.n * 15485863) % 10000000 AS DECIMAL(18, 0))
                    * 0.01 AS DECIMAL(18, 2)) AS amount
        FROM (VALUES ('4000', 1), ('4100', 2), ('5000', 3), ('6000', 4)) a(code, n),
             (VALUES ('OPS', 1), ('RISK', 2), ('COLL', 3), ('FIN', 4)) l(name, n),
             range({cohorts}) c(i), range(1, 13) m(i)""")
    total = warehouse.query("SELECT count(*) FROM bench.cells")[0][0]
    warehouse.close()

    with SandboxProcess(state_dir=root / "sandbox") as sandbox:
        project.environ.update({**sandbox.env, **credentials(root), "MIGO_SYNC_NO_KEYRING": "1"})
        server = psutil.Process(sandbox.process.pid)
        rows: list[tuple[str, int, float, int, int]] = []

        def phase(label: str, name: str, cells_moved: int) -> None:
            before = sandbox.stats().get("adaptive", 0)
            started = time.perf_counter()
            report = run(project, RunOptions(names=[name]))
            seconds = time.perf_counter() - started
            result = report.results[0]
            if result.status != "ok":
                raise SystemExit(f"{label}: {result.status}: {result.error}")
            rows.append((label, cells_moved, seconds, result.requests, sandbox.stats().get("adaptive", 0) - before))

        env = {**os.environ, **project.environ}
        phase("push", "bench_push", total)
        phase("push again", "bench_push", 0)
        reruns = rerun_lines("push", rows[0][2], rows[1][2], rows[1][3], fresh_run(root, "bench_push", env))
        warehouse = open_warehouse(project)
        warehouse.execute("UPDATE bench.cells SET amount = amount + 1 WHERE hash(cohort || period || account_code "
                          "|| level_name) % 100 = 0")
        changed = warehouse.query("SELECT count(DISTINCT account_code || level_name || cohort) * 12 FROM bench.cells "
                                  "WHERE hash(cohort || period || account_code || level_name) % 100 = 0")[0][0]
        warehouse.close()
        phase("push 1 %", "bench_push", int(changed))
        phase("pull", "bench_pull", total)
        phase("pull again", "bench_pull", total)
        reruns += rerun_lines("pull", rows[-2][2], rows[-1][2], rows[-1][3], fresh_run(root, "bench_pull", env))
        held = sandbox.dump("adaptive")["cells"]
        server_rss = server.memory_info().rss / 2**20

    warehouse = open_warehouse(project)
    pulled, matches = warehouse.query("SELECT count(*), count(*) FILTER (WHERE c.amount = p.amount) FROM bench.pulled p "
                                      "JOIN bench.cells c USING (account_code, level_name, cohort, period)")[0]
    warehouse.close()

    print(f"Adaptive Planning: {total:,} cells ({cohorts} cohorts x 4 accounts x 4 levels x 12 months); "
          f"emulator holds {held:,} cells")
    print(f"{'phase':<12}{'cells':>10}{'seconds':>10}{'cells/s':>12}{'requests':>10}{'received':>10}")
    for label, moved, seconds, requests, received in rows:
        rate = f"{moved / seconds:,.0f}" if moved else "-"
        print(f"{label:<12}{moved:>10,}{seconds:>10.2f}{rate:>12}{requests:>10}{received:>10}")
    print("\n".join(reruns))
    print(f"pulled rows {pulled:,}, equal to the warehouse to the cent: {matches:,}")
    print(f"peak RSS: client {peak_rss_mb():.0f} MB, sandbox process {server_rss:.0f} MB (at the end)")
    if pulled != total or matches != total:
        raise SystemExit("pulled cells differ from the pushed ones")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
