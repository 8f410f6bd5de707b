"""Benchmark the Workday Financials adapter against the sandbox running in its own process.

1. pre-send checks of 10,000 journals of 4 lines (the ledger core's checks, chart pulled once);
2. push those 10,000 journals: Submit_Accounting_Journal takes one journal per request, so the
   minimum is 10,000 requests; `max_concurrency` of them are in flight at once;
3. the same push again: every journal refused by Add_Only, recorded as already posted;
4. pull the 40,000 lines back with Get_Journals (999 journals per page), in a child process so
   that its peak RSS is its own.

Figures: rows/s, peak RSS, requests sent versus the minimum.

First, through the engine (`run()`, the demo project and its sandbox on loopback, `--engine-journals`
journals of 4 lines in `lending.journal_lines`): the shipped journal push (batched import) and the
GL lines pull, each followed by an unchanged rerun in the same process and as a fresh `migo-sync
run` process (issue 16: < 5 % of the first run; bench/common.py's `ledger_engine_lines`, as the
other benches).

`--latency` instead: the journal push at a real tenant's latency (the sandbox's `--realistic`:
700 ms a call, 4 in flight), batched import against single submits, each against the API-imposed
minimum of its own calls (`latency_push`, also printed by bench/latency.py).

    python bench/workday.py
    python bench/workday.py --engine-only --engine-journals 10000
    python bench/workday.py --journals 2000 --concurrency 1
    python bench/workday.py --latency --journals 10000 --submit-journals 400
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ledger_engine_lines, peak_rss_mb

LINES_PER_JOURNAL = 4
PAGE = 999


def adapter_for(env: dict[str, str], concurrency: int, **settings: Any) -> Any:
    from migo_sync.adapters.workday.sandbox import credentials
    from migo_sync.config import Project, ProjectConfig
    from migo_sync.systems import open_adapter

    environ = {**env, **credentials(Path(".")), "MIGO_SYNC_NO_KEYRING": "1"}
    # the sandbox tenant's books require a currency and a journal source on every journal
    config = ProjectConfig(systems={"workday": {"max_concurrency": concurrency, "currency": "KES",
                                                "journal_source": "Integration", **settings}})
    return open_adapter(Project(root=Path("."), config=config, environ=environ), "workday")


def units(count: int) -> list[Any]:
    """`count` balanced journals of 4 lines over Oct-Nov 2026, with cost center and region worktags."""
    from migo_sync.adapter import PushUnit, idempotency_key

    out = []
    accounts = ("1100", "1150", "4100")
    regions = ("NBO", "MSA", "KSM")
    for i in range(count):
        key = f"BENCH-{i:06d}"
        day = date(2026, 10, 1) + timedelta(days=i % 60)
        amounts = [Decimal(10 + (i * 7 + n) % 9000) / 100 for n in range(LINES_PER_JOURNAL - 1)]
        lines = [(accounts[n], amount) for n, amount in enumerate(amounts)] + [("1000", -sum(amounts))]
        records = [{"Company_Reference_ID": "MIGO_KE", "Accounting_Date": day, "Journal_Entry_Memo": f"Bench {key}",
                    "External_Reference_ID": key, "Line_Order": str(n), "Ledger_Account_ID": account,
                    "Amount": amount, "Cost_Center_Reference_ID": "OPS", "Region_Reference_ID": regions[i % 3],
                    "Memo": f"line {n}"} for n, (account, amount) in enumerate(lines, start=1)]
        out.append(PushUnit(key, idempotency_key("bench", key), records,
                            [f"{key}-{n}" for n in range(LINES_PER_JOURNAL)]))
    return out


def shipped(name: str) -> Any:
    """A shipped mapping (the folder is loaded whole: the pull depends on the push)."""
    from migo_sync.mapping.loader import load_mappings

    folder = Path(__file__).resolve().parents[1] / "mappings"
    return next(m.mapping for m in load_mappings([folder]) if m.mapping.name == name)


def push(env: dict[str, str], journals: int, concurrency: int) -> dict[str, float]:
    from common import time_ledger_push

    # The live chart is four requests: accounts, cost centers, regions, periods.
    return time_ledger_push(adapter_for(env, concurrency), shipped("workday_journals_push"), units(journals),
                            "workday")


def latency_push(journals: int, submit_journals: int) -> list[str]:
    """`journals` imported and `submit_journals` submitted one by one, at realistic latency, each
    against the API-imposed minimum of its own calls: dependent steps, each ⌈calls ÷ 4 in flight⌉
    round trips. A push first asks which journals the tenant holds (Get_Journals over their dates:
    the first page, then the others together — the first says how many); then the imports
    (⌈journals ÷ batch⌉ calls), one status read (every import in one call), and the booked
    journals' ids (an import's answer names none: Get_Journals again, first page then the others);
    or the single submits (one step of `journals` calls, each answering its journal's id). The
    pages are counted from the tenant (one Get_Journals outside the timing, before and after)."""
    from migo_sync.http import REQUEST_STATS
    from migo_sync.sandbox.process import SandboxProcess
    from migo_sync.sandbox.realism import VENDOR_DEFAULTS

    knobs = VENDOR_DEFAULTS["workday"]
    latency, in_flight = knobs["latency_ms"] / 1000, knobs["max_in_flight"]
    mapping = shipped("workday_journals_push")
    lines = []

    def paged(pages: int) -> list[int]:  # the first page, then the others together
        return [1, pages - 1] if pages > 1 else [1]

    for label, count, settings in (("import", journals, {"journal_import": True}),
                                   ("single submit", submit_journals, {"journal_import": False})):
        with SandboxProcess(seed=1, realistic=True) as sandbox:
            adapter = adapter_for(sandbox.env, in_flight, **settings)
            work = units(count)
            adapter.chart()
            assert not adapter.check(mapping, work)

            def pages(adapter: Any = adapter) -> int:
                return int(adapter.client.get_journals(page=1, count=PAGE, accounting_from=date(2026, 10, 1),
                                                       accounting_to=date(2026, 11, 29),
                                                       company=adapter.settings.company).total_pages)

            before_pages = pages()
            before = REQUEST_STATS.get("workday")
            started = time.perf_counter()
            results = adapter.write(mapping, work)
            wall = time.perf_counter() - started
            requests = REQUEST_STATS.get("workday") - before
            after_pages = pages()
            adapter.close()
            assert all(r.ok and not r.duplicate and r.remote_id for r in results)
            refused = sandbox.limits().get("workday", {}).get("refused", 0)
        if settings["journal_import"]:
            imports = math.ceil(count / adapter.settings.import_batch_size)
            steps = [*paged(before_pages), imports, math.ceil(imports / 999), *paged(after_pages)]
        else:
            steps = [*paged(before_pages), count]
        minimum = sum(math.ceil(calls / in_flight) for calls in steps if calls) * latency
        lines.append(f"workday journal push, {label}: {count:,} journals in {wall:.1f} s, {requests} requests "
                     f"(minimum {sum(steps)}: {' -> '.join(str(n) for n in steps if n)}); API minimum {minimum:.1f} s, "
                     f"wall/minimum {wall / minimum:.2f}; calls refused by a cap: {refused}")
    if submit_journals < journals:
        minimum = (1 + math.ceil(journals / in_flight)) * latency
        lines.append(f"  single submits of {journals:,} journals: API minimum {minimum:.0f} s "
                     f"({minimum / 60:.1f} min, {journals + 1:,} requests) at the same latency")
    return lines


def pull(env: dict[str, str]) -> dict[str, float]:
    """In a child process: stream every journal line back, keep nothing but a checksum."""
    from migo_sync.http import REQUEST_STATS

    mapping = shipped("workday_gl_lines_pull")
    adapter = adapter_for(env, 1)
    rows, journals, debits = 0, set(), Decimal(0)
    started = time.perf_counter()
    for batch in adapter.read(mapping, None):
        rows += len(batch.records)
        journals.update(r["Journal_Entry_WID"] for r in batch.records)
        debits += sum(r["Debit_Amount"] or 0 for r in batch.records)
    seconds = time.perf_counter() - started
    adapter.close()
    return {"rows": rows, "journals": len(journals), "seconds": seconds, "requests": REQUEST_STATS.get("workday"),
            "peak_rss_mb": peak_rss_mb(), "debits": float(debits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--journals", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4, help="journals in flight at once (max_concurrency)")
    parser.add_argument("--child-pull", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--latency", action="store_true", help="the push at realistic latency, import vs submit")
    parser.add_argument("--submit-journals", type=int, default=400, help="journals of the single-submit run "
                        "(--latency; 10,000 single submits take ~30 min at 700 ms)")
    parser.add_argument("--engine-journals", type=int, default=10_000,
                        help="journals in the warehouse for the engine runs (0: leave them out)")
    parser.add_argument("--engine-only", action="store_true", help="only the engine runs and their reruns")
    args = parser.parse_args()
    if args.engine_journals and not (args.latency or args.child_pull):
        print("\n".join(ledger_engine_lines("workday", "workday_journals_push", ("workday_gl_lines_pull",),
                                             args.engine_journals)))
    if args.engine_only:
        return
    if args.latency:
        print("\n".join(latency_push(args.journals, args.submit_journals)))
        return
    if args.child_pull:
        print(json.dumps(pull(dict(os.environ))))
        return
    from migo_sync.sandbox.process import SandboxProcess

    with SandboxProcess(seed=1) as sandbox:
        figures = push(sandbox.env, args.journals, args.concurrency)
        journals, lines = args.journals, args.journals * LINES_PER_JOURNAL
        print(f"pre-send checks: {journals:,} journals x {LINES_PER_JOURNAL} lines in {figures['check_seconds']:.3f} s "
              f"(chart pulled once, 4 requests: {figures['chart_seconds']:.3f} s)")
        print(f"push: {journals:,} journals ({lines:,} lines) in {figures['push_seconds']:.2f} s = "
              f"{journals / figures['push_seconds']:,.0f} journals/s, {lines / figures['push_seconds']:,.0f} lines/s "
              f"at max_concurrency {args.concurrency}; requests {figures['push_requests']:.0f} "
              f"(minimum {journals:,}: Submit_Accounting_Journal takes one journal)")
        print(f"rerun of the same push: {figures['rerun_requests']:.0f} requests, {figures['rerun_seconds']:.2f} s, "
              "every journal refused by Add_Only (Accounting_Journal_ID taken), none posted twice")
        out = subprocess.run([sys.executable, __file__, "--child-pull"], env={**os.environ, **sandbox.env},
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        minimum = math.ceil(journals / PAGE)
        print(f"pull: {r['rows']:,.0f} journal lines ({r['journals']:,.0f} journals) in {r['seconds']:.2f} s = "
              f"{r['rows'] / r['seconds']:,.0f} rows/s; peak RSS {r['peak_rss_mb']:.0f} MB; requests "
              f"{r['requests']:.0f} (minimum {minimum}: {journals:,} journals / {PAGE} per page)")
        assert r["rows"] == lines and r["journals"] == journals


if __name__ == "__main__":
    main()
