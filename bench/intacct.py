"""Benchmark the Intacct adapter against the sandbox running in its own process.

1. pre-send checks of 10,000 journals of 5 lines (build + balance + period + chart lookups);
2. push those 10,000 journals (100 journals per request, uniqueid + controlids);
3. pull GL lines (GLENTRY readByQuery + readMore, 1000 per page) at 100,000 and 1,000,000 lines,
   each in a child process so that its peak RSS is its own: a streaming pull keeps it flat.

Figures: rows/s, peak RSS, requests sent versus the minimum (journals / 100, lines / 1000, plus
one getAPISession and, for a push, one request for the chart).

First, through the engine (`run()`, the demo project and its sandbox on loopback, `--engine-journals`
journals of 4 lines in `lending.journal_lines`): the shipped journal push and each Intacct pull,
each followed by an unchanged rerun in the same process and as a fresh `migo-sync run` process
(issue 16: < 5 % of the first run; bench/common.py's `ledger_engine_lines`, as the other benches).

    python bench/intacct.py                  # everything
    python bench/intacct.py --engine-only --engine-journals 10000
    python bench/intacct.py --engine-journals 0 --pull-only 250000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ledger_engine_lines

JOURNALS, LINES_PER_JOURNAL = 10_000, 5
ENGINE_PULLS = ("intacct_accounts_pull", "intacct_gl_detail_pull", "intacct_trial_balance_pull")
PULL_SIZES = (100_000, 1_000_000)


def adapter_for(env: dict[str, str]):  # type: ignore[no-untyped-def]
    from migo_sync.adapters.intacct.sandbox import credentials
    from migo_sync.config import Project, ProjectConfig
    from migo_sync.systems import open_adapter

    environ = {**env, **credentials(Path(".")), "MIGO_SYNC_NO_KEYRING": "1"}
    return open_adapter(Project(root=Path("."), config=ProjectConfig(), environ=environ), "intacct")


def units(count: int):  # type: ignore[no-untyped-def]
    """`count` balanced journals of 5 lines spread over Oct-Nov 2026 (4 debits, 1 credit)."""
    from migo_sync.adapter import PushUnit, idempotency_key

    out = []
    accounts = ("1100", "1150", "5000", "6000")
    for i in range(count):
        key = f"BENCH-{i:06d}"
        day = date(2026, 10, 1) + timedelta(days=i % 60)
        amounts = [Decimal(10 + (i * 7 + n) % 9000) / 100 for n in range(LINES_PER_JOURNAL - 1)]
        lines = [(accounts[n], amount) for n, amount in enumerate(amounts)] + [("1000", -sum(amounts))]
        records = [{"JOURNAL": "GJ", "BATCH_DATE": day, "BATCH_TITLE": f"Bench {key}", "REFERENCENO": key,
                    "ACCOUNTNO": account, "TRX_AMOUNT": amount, "DEPARTMENT": "OPS", "LOCATION": "NBO",
                    "DESCRIPTION": f"line {n}"} for n, (account, amount) in enumerate(lines, start=1)]
        out.append(PushUnit(key, idempotency_key("bench", key), records, [f"{key}-{n}" for n in range(5)]))
    return out


def push(env: dict[str, str]) -> dict[str, float]:
    from common import time_ledger_push

    from migo_sync.mapping.loader import load_mappings

    shipped = Path(__file__).resolve().parents[1] / "mappings" / "intacct_journals_push.yaml"
    mapping = load_mappings([shipped])[0].mapping
    # The live chart is one request (accounts, departments, locations, periods).
    figures = time_ledger_push(adapter_for(env), mapping, units(JOURNALS), "intacct")
    return {**figures, "push_minimum": math.ceil(JOURNALS / 100)}


def pull(env: dict[str, str]) -> dict[str, float]:
    """In a child process: stream every GLENTRY line, keep nothing."""
    from common import peak_rss_mb

    from migo_sync.http import REQUEST_STATS
    from migo_sync.mapping.model import Mapping

    fields = {"RECORDNO": "integer", "BATCHNO": "integer", "LINE_NO": "integer", "ENTRY_DATE": "date",
              "ACCOUNTNO": "string", "TR_TYPE": "integer", "TRX_AMOUNT": "decimal", "DEPARTMENT": "string",
              "LOCATION": "string", "DESCRIPTION": "string", "WHENMODIFIED": "timestamp"}
    mapping = Mapping.model_validate({
        "name": "bench_gl", "system": "intacct", "object": "GLENTRY", "direction": "pull",
        "warehouse": {"table": "finance.gl_detail"}, "key": ["recordno"],
        "fields": [{"column": name.lower(), "remote": name, "type": kind} for name, kind in fields.items()]})
    adapter = adapter_for(env)
    rows, total = 0, Decimal(0)
    started = time.perf_counter()
    for batch in adapter.read(mapping, None):
        rows += len(batch.records)
        total += sum(r["TRX_AMOUNT"] for r in batch.records)
    seconds = time.perf_counter() - started
    adapter.close()
    return {"rows": rows, "seconds": seconds, "requests": REQUEST_STATS.get("intacct"),
            "minimum": 1 + math.ceil(rows / 1000), "peak_rss_mb": peak_rss_mb(), "checksum": float(total)}


def pull_in_child(env: dict[str, str], admin: httpx.Client, size: int) -> dict[str, float]:
    admin.post("/_sandbox/reset/intacct").raise_for_status()
    admin.post("/intacct/_options", json={"bulk_gl_lines": size}).raise_for_status()
    out = subprocess.run([sys.executable, __file__, "--child-pull"], env={**os.environ, **env},
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@contextmanager
def sandbox_process() -> Iterator[tuple[str, dict[str, str]]]:
    """The sandbox (the Intacct emulator only) in a child process: its CPU is not ours."""
    ready = Path(tempfile.mkdtemp(prefix="migo-bench-intacct-")) / "ready.json"
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(ready)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the sandbox did not start")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        yield info["url"], info["env"]
    finally:
        child.terminate()
        child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child-pull", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pull-only", type=int, nargs="*", help="only pull these sizes")
    parser.add_argument("--engine-journals", type=int, default=10_000,
                        help="journals in the warehouse for the engine runs (0: leave them out)")
    parser.add_argument("--engine-only", action="store_true", help="only the engine runs and their reruns")
    args = parser.parse_args()
    if args.child_pull:
        print(json.dumps(pull(dict(os.environ))))
        return
    if args.serve:
        from migo_sync.sandbox.server import bind, build_sandbox, serve

        serve(build_sandbox(only=["intacct"], seed=1), bind(0), args.serve)
        return
    if args.engine_journals:
        print("\n".join(ledger_engine_lines("intacct", "intacct_journals_push", ENGINE_PULLS, args.engine_journals)))
    if args.engine_only:
        return
    with sandbox_process() as (url, env):
        admin = httpx.Client(base_url=url, timeout=600)
        if args.pull_only is None:
            figures = push(env)
            lines = JOURNALS * LINES_PER_JOURNAL
            print(f"pre-send checks: {JOURNALS:,} journals x {LINES_PER_JOURNAL} lines in "
                  f"{figures['check_seconds']:.3f} s (chart pulled once: {figures['chart_seconds']:.3f} s)")
            print(f"push: {JOURNALS:,} journals ({lines:,} lines) in {figures['push_seconds']:.2f} s = "
                  f"{JOURNALS / figures['push_seconds']:,.0f} journals/s, {lines / figures['push_seconds']:,.0f} lines/s; "
                  f"requests {figures['push_requests']:.0f} (minimum {figures['push_minimum']:.0f}: {JOURNALS:,}/100; "
                  f"the session and the chart took 2 more before the checks)")
            print(f"rerun of the same push: {figures['rerun_requests']:.0f} requests, "
                  f"{figures['rerun_seconds']:.2f} s, every journal refused as a duplicate, none posted twice")
        sizes = args.pull_only or PULL_SIZES
        results = {size: pull_in_child(env, admin, size) for size in sizes}
        for r in results.values():
            print(f"pull: {r['rows']:,.0f} GL lines in {r['seconds']:.2f} s = {r['rows'] / r['seconds']:,.0f} rows/s; "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB; requests {r['requests']:.0f} "
                  f"(minimum {r['minimum']:.0f}: 1 session + {r['rows']:,.0f}/1000)")
        if len(results) == 2:
            small, large = (results[s] for s in sorted(results))
            print(f"streaming: peak RSS ratio {large['peak_rss_mb'] / small['peak_rss_mb']:.2f}x "
                  f"for {max(results) // min(results)}x the lines (target ≤ 1.2x)")
        admin.close()


if __name__ == "__main__":
    main()
