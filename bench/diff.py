"""Benchmark the engine's change detection (new / changed / deleted) in DuckDB.

Builds a 10-column table of N rows, records a ledger as if everything had been sent, changes 1 %,
adds 0.5 %, deletes 0.5 %, and times `plan_push` (what every push runs first). Each size runs in
a child process so that its peak RSS is its own.

    python bench/diff.py            # 100,000 and 1,000,000 rows
    python bench/diff.py 250000     # one size
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def one(rows: int) -> dict[str, float]:
    from common import peak_rss_mb

    from migo_sync.config import Project, ProjectConfig, WarehouseConfig
    from migo_sync.engine.plan import plan_push
    from migo_sync.mapping.model import Mapping
    from migo_sync.warehouse import open_warehouse
    from migo_sync.warehouse.bookkeeping import Bookkeeping

    root = Path(tempfile.mkdtemp(prefix="migo-bench-diff-"))
    project = Project(root=root, config=ProjectConfig(warehouse=WarehouseConfig(path="diff.duckdb", create=True)))
    wh = open_warehouse(project)
    book = Bookkeeping(wh)
    book.ensure()
    wh.execute("CREATE SCHEMA IF NOT EXISTS bench")
    wh.execute(f"""CREATE TABLE bench.loans AS SELECT 'L' || lpad(CAST(i AS VARCHAR), 9, '0') AS loan_id,
        'C' || CAST(i % 50000 AS VARCHAR) AS customer_id, CAST(i % 997 AS DECIMAL(18,2)) * 13.37 AS principal,
        CAST(i % 89 AS DECIMAL(18,2)) AS outstanding, DATE '2026-01-01' + CAST(i % 300 AS INTEGER) AS disbursed_on,
        CASE i % 4 WHEN 0 THEN 'current' WHEN 1 THEN 'late' WHEN 2 THEN 'default' ELSE 'repaid' END AS status,
        CAST(i % 120 AS INTEGER) AS days_past_due, 'agent-' || CAST(i % 17 AS VARCHAR) AS agent,
        CAST(i % 3 AS INTEGER) + 1 AS priority, 'note ' || CAST(i AS VARCHAR) AS note
        FROM range({rows}) t(i)""")
    fields = [{"column": c, "remote": c} for c in
              ["loan_id", "customer_id", "principal", "outstanding", "disbursed_on", "status", "days_past_due",
               "agent", "priority", "note"]]
    mapping = Mapping.model_validate({"name": "bench_loans", "system": "zendesk", "object": "users",
                                      "direction": "push", "mode": "mirror", "warehouse": {"table": "bench.loans"},
                                      "key": ["loan_id"], "fields": fields})
    ledger = book.table_name("sent")
    # Everything sent once: the ledger holds every row's key and hash.
    plan = plan_push(wh, ledger, mapping, "row")
    wh.execute(f"INSERT INTO {ledger} (mapping, row_key, sent_hash, unit_key, idempotency_key, run_id) "
               f"SELECT 'bench_loans', migo_row_key, migo_row_hash, migo_unit_key, migo_row_key, 'bench' "
               f"FROM {plan.send_table}")
    first_rss = peak_rss_mb()
    wh.execute("UPDATE bench.loans SET outstanding = outstanding + 1 WHERE hash(loan_id) % 100 = 0")
    wh.execute("DELETE FROM bench.loans WHERE hash(loan_id) % 200 = 1")
    wh.execute("INSERT INTO bench.loans SELECT 'N' || substr(loan_id, 2), customer_id, principal, outstanding, "
               "disbursed_on, status, days_past_due, agent, priority, note FROM bench.loans "
               "WHERE hash(loan_id) % 200 = 2")
    import tracemalloc

    tracemalloc.start()
    started = time.perf_counter()
    plan = plan_push(wh, ledger, mapping, "row")
    seconds = time.perf_counter() - started
    python_peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    # An unchanged rerun: what a two-minute micro-batch with nothing new costs.
    wh.execute(f"DELETE FROM {ledger} WHERE mapping = 'bench_loans'")
    columns = [f["column"] for f in fields]
    wh.execute(f"INSERT INTO {ledger} (mapping, row_key, sent_hash, unit_key, idempotency_key, run_id) "
               f"SELECT 'bench_loans', {wh.key_sql(['loan_id'], alias='s')}, {wh.row_hash_sql(columns, alias='s')}, "
               f"{wh.key_sql(['loan_id'], alias='s')}, 'bench', 'bench' FROM bench.loans s")
    started = time.perf_counter()
    rerun = plan_push(wh, ledger, mapping, "row")
    rerun_seconds = time.perf_counter() - started
    wh.close()
    return {"rows": rows, "diff_seconds": seconds, "new": plan.new, "changed": plan.changed,
            "deleted": plan.deleted, "unchanged_rerun_seconds": rerun_seconds, "rerun_changes": rerun.rows_changed,
            "peak_rss_mb": max(first_rss, peak_rss_mb()), "python_peak_mb": python_peak}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(one(int(sys.argv[2]))))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    results = []
    for rows in sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(rows)], capture_output=True, text=True,
                             check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'rows':>10} {'diff s':>8} {'new':>8} {'changed':>8} {'deleted':>8} {'rerun s':>8} {'RSS MB':>8} "
          f"{'py MB':>8}")
    for r in results:
        print(f"{r['rows']:>10,} {r['diff_seconds']:>8.3f} {r['new']:>8,} {r['changed']:>8,} {r['deleted']:>8,} "
              f"{r['unchanged_rerun_seconds']:>8.3f} {r['peak_rss_mb']:>8.0f} {r['python_peak_mb']:>8.1f}")
    if len(results) > 1:
        print(f"ratio {results[-1]['rows']:,} / {results[0]['rows']:,} rows: peak RSS "
              f"{results[-1]['peak_rss_mb'] / results[0]['peak_rss_mb']:.2f}x (DuckDB's buffer pool holds the "
              f"table and ledger in this process), Python heap during the diff "
              f"{results[-1]['python_peak_mb'] / max(results[0]['python_peak_mb'], 0.001):.2f}x")
    print("target: the diff of 1,000,000 rows under 1 s")


if __name__ == "__main__":
    main()
