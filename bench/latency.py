"""Benchmark every shipped push and pull at a real tenant's latency: wall time against the floor.

The demo's nightly job (every shipped mapping, the demo dataset) runs against the sandbox started
with `--realistic` (README, "The sandbox": Sheets 250 ms, Intacct 600 ms, Adaptive 800 ms, Zendesk
300 ms, Workday 700 ms; 10/4/2/10/4 calls in flight). For each mapping it prints the wall time,
the requests sent, and two bounds computed from those requests:

    floor      ⌈requests ÷ allowed in flight⌉ x latency: the best any client could do sending the
               same requests if none depended on another (the API-imposed minimum for them);
    in series  requests x latency: one call after another.

wall ÷ floor is how far the mapping is from the API's ceiling (target ≤ 1.15). The floor is only
a lower bound: calls that depend on the one before (a cursor page, a job poll) cannot overlap, so
a mapping whose calls form one chain is at its minimum when wall ≈ in series. The sandbox's
`refused` count shows a client exceeding a cap (it would be throttled by the real service too).
Reconciliation runs after the pushes and is timed as its own line. A rerun on unchanged data
follows (pushes must send 0 requests).

    python bench/latency.py
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from migo_sync.demo.dataset import seed as seed_dataset
    from migo_sync.demo.project import SANDBOX_OPTIONS, create_project, sandbox_credentials
    from migo_sync.engine.runner import RunOptions, run
    from migo_sync.sandbox.process import SandboxProcess
    from migo_sync.sandbox.realism import VENDOR_DEFAULTS
    from migo_sync.warehouse import open_warehouse

    with tempfile.TemporaryDirectory(prefix="migo-bench-latency-") as tmp:
        project = create_project(Path(tmp) / "demo")
        warehouse = open_warehouse(project, create=True)
        try:
            seed_dataset(warehouse, 42)
        finally:
            warehouse.close()
        with SandboxProcess(state_dir=project.state_dir / "sandbox", seed=42, options=SANDBOX_OPTIONS,
                            realistic=True) as sandbox:
            project.environ.update(sandbox.env)
            project.environ.update(sandbox_credentials(project.state_dir))
            started = time.perf_counter()
            report = run(project, RunOptions(command="bench"))
            total = time.perf_counter() - started
            print(f"{'mapping':34} {'wall s':>7} {'requests':>8} {'floor s':>8} {'series s':>8} {'wall/floor':>10}")
            over = 0
            mapped = 0.0
            for r in report.results:
                knobs = VENDOR_DEFAULTS[r.system]
                latency = knobs["latency_ms"] / 1000.0
                floor = math.ceil(r.requests / knobs["max_in_flight"]) * latency
                series = r.requests * latency
                ratio = r.seconds / floor if floor else float("nan")
                over += ratio > 1.15
                mapped += r.seconds
                print(f"{r.name:34} {r.seconds:7.2f} {r.requests:8d} {floor:8.2f} {series:8.2f} {ratio:10.2f}"
                      + ("" if r.status == "ok" else f"  [{r.status}: {r.error or ''}]"))
            print(f"mappings {mapped:.1f} s, whole job {total:.1f} s (reconciliation and bookkeeping "
                  f"{total - mapped:.1f} s); {over} of {len(report.results)} above 1.15x their floor")
            refused = {name: lim["refused"] for name, lim in sandbox.limits().items() if lim["refused"]}
            print(f"calls refused by a cap: {refused or 'none'}")
            started = time.perf_counter()
            again = run(project, RunOptions(command="bench"))
            pushes = sum(r.requests for r in again.results if r.direction == "push")
            print(f"rerun on unchanged data: {time.perf_counter() - started:.1f} s "
                  f"({(time.perf_counter() - started) / total:.0%} of the first), pushes sent {pushes} requests")


if __name__ == "__main__":
    main()
