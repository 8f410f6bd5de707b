"""Benchmark Google Sheets: push and pull 100,000 rows x 10 columns through the engine and a
sandbox process (`migo-sync sandbox serve` in a child process, real HTTP over loopback).

Phases, each in its own child process so each peak RSS is its own:

    push        the whole relation onto a new tab (engine diff in DuckDB → check → addSheet →
                values:batchUpdate bodies packed to ≤ 2 MB, RAW)
    push again  nothing changed: nothing is sent (then again in the same process, and as a fresh
                `migo-sync run` process: each against the first push)
    push 1 %    1 % of the rows changed: the tab is one unit, so it is cleared and rewritten
    pull        the tab back into a typed DuckDB table, 10,000-row windows
    pull again  the same pull with nothing changed (Sheets has no change probe: the tab is read again),
                in a fresh child, in the same process and as a fresh `migo-sync run` process

Requests are counted on the wire (REQUEST_STATS, token included) and values:batchUpdate calls
apart, next to the fewest the 2 MB rule allows: ceil(serialised payload / room in one body).

    python bench/sheets.py            # 100,000 rows
    python bench/sheets.py 20000      # another size
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

COLUMNS = [("row_id", "Row ID", "string"), ("customer", "Customer", "string"), ("region", "Region", "string"),
           ("amount", "Amount", "decimal"), ("rate", "Rate", "decimal"), ("qty", "Qty", "integer"),
           ("opened", "Opened", "date"), ("active", "Active", "boolean"), ("note", "Note", "string"),
           ("score", "Score", "number")]
SCALES = {"amount": 2, "rate": 4}
CONFIG = ('name = "bench"\nmappings = "mappings"\n[warehouse]\ntype = "duckdb"\npath = "warehouse.duckdb"\ncreate = true\n'
          '[systems.sheets]\nrate_limit = 0\n')
LIMIT = 2_000_000
TAB = "Bench"


def mapping(direction: str) -> str:
    fields = "\n".join(
        f"  - {{column: {c}, remote: {r}, type: {t}" + (f", scale: {SCALES[c]}" if c in SCALES else "") + "}"
        for c, r, t in COLUMNS)
    table = "bench.rows" if direction == "push" else "bench.pulled"
    return (f"name: bench_{direction}\nsystem: sheets\nobject: tab\ndirection: {direction}\nmode: mirror\n"
            f"warehouse: {{table: {table}}}\nkey: [row_id]\nfields:\n{fields}\n"
            f"options: {{spreadsheet_id: migo-collections, sheet: {TAB}}}\n")


def phase(root: Path, name: str, times: int = 1) -> None:
    """Child process: the engine run `times` times (the second in a warm process); prints the figures
    of the first as JSON, with `warm_seconds` / `warm_requests` of the second."""
    from common import peak_rss_mb

    from migo_sync.adapters.sheets.client import SheetsClient
    from migo_sync.config import Project
    from migo_sync.engine.runner import RunOptions, run

    writes = 0
    original = SheetsClient.batch_update_body

    def counted(self: SheetsClient, *args: object, **kwargs: object) -> dict[str, object]:
        nonlocal writes
        writes += 1
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    SheetsClient.batch_update_body = counted  # type: ignore[method-assign]
    figures: dict[str, object] = {}
    for turn in range(times):
        project = Project.load(root)
        started = time.perf_counter()
        result = run(project, RunOptions(names=[name])).results[0]
        seconds = time.perf_counter() - started
        if turn:
            figures.update(warm_seconds=seconds, warm_requests=result.requests)
            continue
        figures.update({"status": result.status, "error": result.error, "seconds": seconds,
                        "rows_read": result.rows_read, "rows_written": result.rows_written,
                        "requests": result.requests, "writes": writes, "rss": peak_rss_mb()})
    print(json.dumps(figures))


def minimum(root: Path) -> tuple[int, int, int]:
    """(payload bytes, fewest bodies the 2 MB rule allows, bodies the greedy packing makes)."""
    import orjson

    from migo_sync.adapters.sheets.payload import minimum_requests, pack
    from migo_sync.adapters.sheets.values import to_cell
    from migo_sync.config import Project
    from migo_sync.warehouse import open_warehouse

    warehouse = open_warehouse(Project.load(root))
    try:
        rows = [orjson.dumps([r for _, r, _ in COLUMNS])]
        for batch in warehouse.iter_batches("SELECT * FROM bench.rows", batch_size=20_000):
            for record in batch.to_pylist():
                rows.append(orjson.dumps([to_cell(record[c]) for c, _, _ in COLUMNS]))
    finally:
        warehouse.close()
    payload = sum(len(r) + 1 for r in rows)
    least = minimum_requests(map(len, rows), TAB, 0, 0, LIMIT)
    greedy = sum(1 for _ in pack(TAB, 0, 0, rows, LIMIT))
    return payload, least, greedy


def main(count: int) -> None:
    import psutil
    from common import fresh_env, fresh_run, rerun_lines

    from migo_sync.adapters.sheets.sandbox import credentials
    from migo_sync.config import Project
    from migo_sync.sandbox.process import SandboxProcess
    from migo_sync.warehouse import open_warehouse

    root = Path(tempfile.mkdtemp(prefix="migo-bench-sheets-"))
    (root / "mappings").mkdir()
    (root / "migo-sync.toml").write_text(CONFIG)
    for direction in ("push", "pull"):
        (root / "mappings" / f"bench_{direction}.yaml").write_text(mapping(direction))
    warehouse = open_warehouse(Project.load(root))
    warehouse.execute("CREATE SCHEMA IF NOT EXISTS bench")
    warehouse.execute(f"""CREATE TABLE bench.rows AS SELECT
        'R' || lpad(CAST(i AS VARCHAR), 7, '0') AS row_id,
        'Customer ' || CAST(i % 5000 AS VARCHAR) AS customer,
        (['Nairobi', 'Mombasa', 'Kisumu', 'Nakuru', 'Eldoret'])[i % 5 + 1] AS region,
        CAST(CAST((i * 7919) % 10000000 AS DECIMAL(18, 0)) * 0.01 AS DECIMAL(18, 2)) AS amount,
        CAST(CAST(i % 10000 AS DECIMAL(9, 0)) * 0.0001 AS DECIMAL(9, 4)) AS rate,
        CAST(i % 500 AS INTEGER) AS qty,
        DATE '2026-01-01' + CAST(i % 365 AS INTEGER) AS opened,
        i % 3 = 0 AS active,
        CASE WHEN i % 10 = 0 THEN '=HYPERLINK("https://example.com/' || CAST(i AS VARCHAR) || '","open")'
             ELSE 'note ' || CAST(i AS VARCHAR) END AS note,
        CAST(i % 1000 AS DOUBLE) / 8 AS score
        FROM range({count}) t(i)""")
    warehouse.close()
    payload, least, greedy = minimum(root)

    results: list[tuple[str, int, dict[str, float]]] = []
    with SandboxProcess(state_dir=root / "sandbox") as sandbox:
        env = {**os.environ, **sandbox.env, **credentials(root), "MIGO_SYNC_NO_KEYRING": "1"}
        server = psutil.Process(sandbox.process.pid)

        def run_phase(label: str, name: str, moved: int, times: int = 1) -> None:
            out = subprocess.run([sys.executable, __file__, "--phase", name, str(root), str(times)],
                                 env=fresh_env(env), check=True, capture_output=True, text=True).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            if figures["status"] != "ok":
                raise SystemExit(f"{label}: {figures['status']}: {figures['error']}")
            results.append((label, moved, figures))

        run_phase("push", "bench_push", count)
        run_phase("push again", "bench_push", 0, times=2)
        reruns = rerun_lines("push", results[0][2]["seconds"], results[1][2]["warm_seconds"],
                             results[1][2]["warm_requests"], fresh_run(root, "bench_push", env))
        warehouse = open_warehouse(Project.load(root))
        warehouse.execute("UPDATE bench.rows SET amount = amount + 1 WHERE hash(row_id) % 100 = 0")
        warehouse.close()
        run_phase("push 1 %", "bench_push", count)
        run_phase("pull", "bench_pull", count)
        run_phase("pull again", "bench_pull", count, times=2)
        pulls = [f for label, _, f in results if label.startswith("pull")]
        reruns += rerun_lines("pull", pulls[0]["seconds"], pulls[1]["warm_seconds"], pulls[1]["warm_requests"],
                              fresh_run(root, "bench_pull", env))
        held = sandbox.dump("sheets")["spreadsheets"]["migo-collections"]["tabs"][TAB]
        server_rss = server.memory_info().rss / 2**20

    warehouse = open_warehouse(Project.load(root))
    pulled, equal = warehouse.query(
        "SELECT count(*), count(*) FILTER (WHERE r.amount = p.amount AND r.rate = p.rate AND r.opened = p.opened "
        "AND r.note = p.note AND r.active = p.active AND r.qty = p.qty AND r.score = p.score) "
        "FROM bench.pulled p JOIN bench.rows r USING (row_id)")[0]
    warehouse.close()

    print(f"Google Sheets: {count:,} rows x {len(COLUMNS)} columns; the tab holds {len(held['rows']) - 1:,} rows "
          f"({held['rowCount']:,} x {held['columnCount']} grid)")
    print(f"{'phase':<12}{'rows':>10}{'seconds':>9}{'rows/s':>10}{'requests':>10}{'writes':>8}{'peak RSS':>10}")
    for label, moved, f in results:
        rate = f"{moved / f['seconds']:,.0f}" if moved else "-"
        print(f"{label:<12}{moved:>10,}{f['seconds']:>9.2f}{rate:>10}{f['requests']:>10}{f['writes']:>8}"
              f"{f['rss']:>8.0f} MB")
    print(f"payload {payload / 1e6:.2f} MB serialised: the 2 MB rule allows no fewer than {least} values:batchUpdate "
          f"requests (whole rows, greedy: {greedy}); the first push sent {results[0][2]['writes']:.0f} "
          f"(plus token, metadata, addSheet)")
    print("\n".join(reruns))
    print(f"pulled rows {pulled:,}, equal to the warehouse in every column: {equal:,}; "
          f"sandbox process RSS {server_rss:.0f} MB (at the end)")
    if pulled != count or equal != count:
        raise SystemExit("pulled rows differ from the pushed ones")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--phase":
        phase(Path(sys.argv[3]), sys.argv[2], int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
