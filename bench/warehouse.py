"""Benchmark the DuckDB warehouse: Arrow loads, MERGE, row hashing, streaming, ledger updates.

    python bench/warehouse.py              # 1,000,000 rows x 10 columns, MERGE of 100,000
    python bench/warehouse.py 200000       # a smaller table (MERGE of a tenth of it)

Prints one line per figure; the Arrow table is built before timing (the caller's cost).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


def table(rows: int, offset: int = 0, bump: int = 0) -> pa.Table:
    """10 columns: key, 3 strings, 2 decimals, integer, double, date, boolean."""
    i = pa.array(range(offset, offset + rows), pa.int64())
    text = pc.cast(i, pa.string())
    cents = pc.add(pc.multiply(i, 37), bump)
    return pa.table({
        "loan_id": pc.binary_join_element_wise("L", text, ""),
        "customer_id": pc.binary_join_element_wise("C", pc.cast(pc.divide(i, 20), pa.string()), ""),
        "product": pa.array(["micro", "sme", "payday"] * (rows // 3) + ["micro"] * (rows % 3)),
        "status": pa.array(["current"] * rows),
        "principal": pc.cast(pc.cast(cents, pa.decimal128(20, 0)), pa.decimal128(20, 2)),
        "outstanding": pc.cast(pc.cast(i, pa.decimal128(20, 0)), pa.decimal128(20, 2)),
        "days_past_due": pc.cast(i, pa.int32()),
        "rate": pc.cast(i, pa.float64()),
        "disbursed_on": pc.cast(pc.cast(pc.add(pc.cast(i, pa.int32()), 20_000), pa.int32()), pa.date32()),
        "active": pa.array([True] * rows),
    })


def timed(label: str, fn: Callable[[], Any], rows: int | None = None) -> Any:
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    rate = f"  ({rows / seconds:,.0f} rows/s)" if rows else ""
    print(f"{label:<48} {seconds:8.3f} s{rate}")
    return result


def main(rows: int) -> None:
    from migo_sync.warehouse.bookkeeping import Bookkeeping
    from migo_sync.warehouse.duckdb import DuckDBWarehouse

    changes = rows // 10
    root = Path(tempfile.mkdtemp(prefix="migo-bench-wh-"))
    path = root / "wh-bench.duckdb"  # not bench.duckdb: its catalog would clash with schema "bench"
    wh = DuckDBWarehouse(path)
    data = table(rows)
    print(f"DuckDB warehouse, {rows:,} rows x {data.num_columns} columns, file {path}")
    timed("load_arrow into a new table", lambda: wh.load_arrow("bench.loans", data), rows)
    wh.execute("DROP TABLE bench.loans")
    from migo_sync.mapping.model import FieldType as F
    from migo_sync.warehouse.base import ColumnDef

    defs = [ColumnDef("loan_id", F.string), ColumnDef("customer_id", F.string), ColumnDef("product", F.string),
            ColumnDef("status", F.string), ColumnDef("principal", F.decimal, 2), ColumnDef("outstanding", F.decimal, 2),
            ColumnDef("days_past_due", F.integer), ColumnDef("rate", F.number), ColumnDef("disbursed_on", F.date),
            ColumnDef("active", F.boolean)]
    wh.ensure_table("bench.loans", defs, ["loan_id"])
    timed("load_arrow into an ensure_table() table", lambda: wh.load_arrow("bench.loans", data), rows)

    # A tenth of the rows: half changed, half new.
    stage = pa.concat_tables([table(changes // 2, offset=0, bump=1), table(changes - changes // 2, offset=rows)])
    timed(f"load_arrow {stage.num_rows:,} rows into a temporary stage",
          lambda: wh.load_arrow("stage_loans", stage, temporary=True), stage.num_rows)
    names = [f.name for f in stage.schema]
    counts = timed(f"MERGE {stage.num_rows:,} into {rows:,}", lambda: wh.merge("bench.loans", "stage_loans",
                                                                                ["loan_id"], names))
    print(f"{'':<48} {counts}")
    counts = timed("MERGE again (nothing differs)", lambda: wh.merge("bench.loans", "stage_loans", ["loan_id"], names))
    print(f"{'':<48} {counts}")
    total = rows + stage.num_rows - changes // 2
    timed(f"md5 row hash of {total:,} rows in SQL",
          lambda: wh.query(f"SELECT COUNT(DISTINCT {wh.row_hash_sql(names)}) FROM bench.loans"), total)
    timed(f"iter_batches over {total:,} rows (10,000 a batch)",
          lambda: sum(b.num_rows for b in wh.iter_batches("SELECT * FROM bench.loans", batch_size=10_000)), total)

    book = Bookkeeping(wh)
    book.ensure()
    keys = data.column("loan_id").slice(0, changes)
    intent = pa.table({"row_key": keys, "row_hash": keys, "unit_key": keys, "idempotency_key": keys})
    timed(f"ledger record_intent of {changes:,} rows", lambda: book.record_intent("bench", "r1", intent), changes)
    confirm = pa.table({"row_key": keys, "unit_key": keys, "remote_id": keys})
    timed(f"ledger confirm of {changes:,} rows", lambda: book.confirm("bench", "r1", confirm), changes)
    wh.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
