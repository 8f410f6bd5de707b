"""Benchmark the Zendesk adapter through the engine against the sandbox running in its own process.

1. pull 100,000 tickets (cursor export, 1000 per page, the 10/min export limit off on both sides)
   into DuckDB with `migo-sync`'s engine: 34 columns, MERGE by key and cursor saved per page; then
   the adapter alone (fetch, read the raw page into Arrow, shape), to show which side the time goes to;
   then the issue's minimal hand-written loop (`child_loop`) on the same server;
2. push 10,000 users (create_or_update_many jobs of 100, ≤30 in flight, polled to completion);
3. the same pull with dlt's rest_api source at its best (parquet loader, max_table_nesting=0), when a
   throwaway venv with dlt exists (`python -m venv /tmp/dltvenv && /tmp/dltvenv/bin/pip install
   "dlt[duckdb,parquet]"`); otherwise the figures measured for the issue are printed instead.

The pull and the push are each run again with nothing changed, in the same process and as a fresh
`migo-sync run` process, against their first run (issue 16: an unchanged rerun < 5 % of the first).
Each run happens in a child process so that its peak RSS is its own. Figures: records/s, peak RSS,
requests sent versus the minimum (pages of 1000; jobs of 100 plus polls).

    python bench/zendesk.py
    python bench/zendesk.py --tickets 20000 --users 2000 --dlt none
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import customer_status_sql, fresh_run, peak_rss_mb, rerun_lines

DLT_PYTHON = Path("/tmp/dltvenv/bin/python")
DLT_REFERENCE = {"records_per_s": 3_600.0, "rss_mb": 500.0}  # the measurement of dlt at its best
EMAIL, TOKEN = "agent@migo-demo.example", "zd-sandbox-token-6f1c2b9e4a7d"  # the sandbox's demo credentials
JOBS_IN_FLIGHT, POLLS_PER_JOB = 30, 2  # Zendesk's job limit; the emulator finishes a job on its 2nd poll

PULL_FIELDS = [("ticket_id", "id", "integer"), ("external_id", "external_id", "string"),
               ("channel", "via.channel", "string"), ("created_at", "created_at", "timestamp"),
               ("updated_at", "updated_at", "timestamp"), ("generated_timestamp", "generated_timestamp", "integer"),
               ("ticket_type", "type", "string"), ("subject", "subject", "string"),
               ("raw_subject", "raw_subject", "string"), ("description", "description", "string"),
               ("priority", "priority", "string"), ("status", "status", "string"),
               ("recipient", "recipient", "string"), ("requester_id", "requester_id", "integer"),
               ("submitter_id", "submitter_id", "integer"), ("assignee_id", "assignee_id", "integer"),
               ("organization_id", "organization_id", "integer"), ("group_id", "group_id", "integer"),
               ("problem_id", "problem_id", "integer"), ("has_incidents", "has_incidents", "boolean"),
               ("is_public", "is_public", "boolean"), ("due_at", "due_at", "timestamp"),
               ("tags", "tags", "string"), ("satisfaction", "satisfaction_rating.score", "string"),
               ("custom_status_id", "custom_status_id", "integer"), ("ticket_form_id", "ticket_form_id", "integer"),
               ("brand_id", "brand_id", "integer"), ("allow_channelback", "allow_channelback", "boolean"),
               ("allow_attachments", "allow_attachments", "boolean"),
               ("from_messaging_channel", "from_messaging_channel", "boolean"),
               ("loan_id", "custom_fields.360001234561", "string"),
               ("contact_reason", "custom_fields.360001234562", "string"),
               ("amount_disputed", "custom_fields.360001234563", "decimal"), ("is_deleted", "deleted", "boolean")]


def project_root(kind: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"migo-bench-zendesk-{kind}-"))
    (root / "mappings").mkdir()
    (root / "migo-sync.toml").write_text(
        '[warehouse]\ntype = "duckdb"\npath = "warehouse.duckdb"\ncreate = true\n\n[systems.zendesk]\n'
        "incremental_limit_per_minute = 0\njob_poll_interval = 0.05\njob_poll_max = 0.5\n")
    return root


def child_env(url: str) -> dict[str, str]:
    return {**os.environ, "MIGO_SYNC_ZENDESK_URL": url, "MIGO_SYNC_ZENDESK_EMAIL": EMAIL,
            "MIGO_SYNC_ZENDESK_API_TOKEN": TOKEN, "MIGO_SYNC_NO_KEYRING": "1"}


def run_child(args: list[str], env: dict[str, str], python: str = sys.executable) -> dict[str, Any]:
    done = subprocess.run([python, __file__, *args], env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---- children ------------------------------------------------------------------------------------


def child_pull(root: Path) -> dict[str, Any]:
    from migo_sync.config import Project
    from migo_sync.engine.runner import RunOptions, run

    fields = "\n".join(f"  - {{column: {c}, remote: {r}, type: {t}{', scale: 2' if t == 'decimal' else ''}}}"
                       for c, r, t in PULL_FIELDS)
    (root / "mappings" / "bench_tickets_pull.yaml").write_text(
        "name: bench_tickets_pull\nsystem: zendesk\nobject: tickets\ndirection: pull\n"
        "warehouse: {table: support.tickets}\nkey: [ticket_id]\noptions: {start_time: 0}\nfields:\n" + fields + "\n")
    project = Project.load(root)
    started = time.perf_counter()
    report = run(project, RunOptions(names=["bench_tickets_pull"]))
    seconds = time.perf_counter() - started
    [result] = report.results
    if result.status != "ok":
        raise SystemExit(f"pull failed: {result.error}")
    figures = {"seconds": seconds, "rows": result.rows_written, "requests": result.requests, "rss_mb": peak_rss_mb()}
    return {**figures, **warm_rerun(project, "bench_tickets_pull")}


def warm_rerun(project: Any, name: str) -> dict[str, Any]:
    """The same mapping again in this process, nothing changed (issue 16: < 5 % of the first run)."""
    from migo_sync.engine.runner import RunOptions, run

    started = time.perf_counter()
    [result] = run(project, RunOptions(names=[name])).results
    return {"warm_seconds": time.perf_counter() - started, "warm_requests": result.requests,
            "warm_status": result.status}


def child_read(root: Path) -> dict[str, Any]:
    """The adapter alone (fetch, parse into Arrow, shape; no warehouse): what the engine is handed, how fast."""
    from migo_sync.adapter import ArrowBatch, as_arrow_pull
    from migo_sync.config import Project
    from migo_sync.engine.pull import READ_AS
    from migo_sync.http import REQUEST_STATS
    from migo_sync.mapping.model import Mapping
    from migo_sync.systems import open_adapter

    mapping = Mapping.model_validate({
        "name": "bench_read", "system": "zendesk", "object": "tickets", "direction": "pull",
        "warehouse": {"table": "support.tickets"}, "key": ["ticket_id"], "options": {"start_time": 0},
        "fields": [{"column": c, "remote": r, "type": t} for c, r, t in PULL_FIELDS]})
    adapter = open_adapter(Project.load(root), "zendesk")
    native = as_arrow_pull(adapter)
    assert native is not None
    started = time.perf_counter()
    pages = native.read_arrow(mapping, None, {f.remote: READ_AS[f.type] for f in mapping.fields})
    assert pages is not None  # what the engine reads: pages as Arrow
    rows = sum(p.table.num_rows if isinstance(p, ArrowBatch) else len(p.records) for p in pages)
    seconds = time.perf_counter() - started
    adapter.close()
    return {"seconds": seconds, "rows": rows, "requests": REQUEST_STATS.get("zendesk"), "rss_mb": peak_rss_mb()}


def child_loop(url: str, root: Path) -> dict[str, Any]:
    """The issue's yardstick: a minimal hand-written loop on the same server, with the same 34
    columns (httpx → json → Arrow → DuckDB insert): no typing, no state, no checks, no retries."""
    import duckdb
    import httpx
    import pyarrow as pa

    def value(record: dict[str, Any], path: str) -> Any:
        head, _, rest = path.partition(".")
        if head == "custom_fields":
            return next((f.get("value") for f in record.get("custom_fields") or [] if str(f.get("id")) == rest), None)
        found = record.get(head)
        return found.get(rest) if rest and isinstance(found, dict) else found

    def cell(record: dict[str, Any], path: str) -> Any:  # lists (tags) as text, like the mapping
        found = value(record, path)
        return found if isinstance(found, (str, int, float, bool, type(None))) else str(found)

    db = duckdb.connect(str(root / "loop.duckdb"))
    created = False
    rows = requests = 0
    started = time.perf_counter()
    with httpx.Client(auth=(f"{EMAIL}/token", TOKEN), timeout=60) as client:
        params: dict[str, Any] = {"start_time": 0, "per_page": 1000}
        while True:
            body = json.loads(client.get(f"{url}/api/v2/incremental/tickets/cursor.json", params=params).content)
            requests += 1
            tickets = body["tickets"]
            if tickets:
                page = pa.table({column: [cell(t, remote) for t in tickets] for column, remote, _type in PULL_FIELDS})
                db.register("page", page)
                db.execute("INSERT INTO tickets SELECT * FROM page" if created else "CREATE TABLE tickets AS SELECT * FROM page")
                db.unregister("page")
                created, rows = True, rows + len(tickets)
            if body.get("end_of_stream") or not tickets:
                break
            params = {"cursor": body["after_cursor"], "per_page": 1000}
    seconds = time.perf_counter() - started
    db.close()
    return {"seconds": seconds, "rows": rows, "requests": requests, "rss_mb": peak_rss_mb()}


def child_push(root: Path, users: int) -> dict[str, Any]:
    import duckdb

    from migo_sync.config import Project
    from migo_sync.engine.runner import RunOptions, run

    db = duckdb.connect(str(root / "warehouse.duckdb"))
    db.execute("CREATE SCHEMA lending")
    db.execute(customer_status_sql(users, 6))
    db.close()
    shipped = Path(__file__).resolve().parents[1] / "mappings" / "zendesk_users_push.yaml"
    (root / "mappings" / shipped.name).write_text(shipped.read_text())
    project = Project.load(root)
    started = time.perf_counter()
    report = run(project, RunOptions(names=["zendesk_users_push"]))
    seconds = time.perf_counter() - started
    [result] = report.results
    if result.status != "ok":
        raise SystemExit(f"push failed: {result.error}")
    figures = {"seconds": seconds, "rows": result.rows_written, "requests": result.requests, "rss_mb": peak_rss_mb()}
    return {**figures, **warm_rerun(project, "zendesk_users_push")}


def child_dlt(url: str, root: Path) -> dict[str, Any]:
    """dlt's rest_api source at its best: parquet loader files, nested data kept as JSON columns."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source({
        "client": {"base_url": f"{url}/api/v2/",
                   "auth": {"type": "http_basic", "username": f"{EMAIL}/token", "password": TOKEN}},
        "resources": [{
            "name": "tickets",
            "endpoint": {"path": "incremental/tickets/cursor.json", "params": {"start_time": 0, "per_page": 1000},
                         "data_selector": "tickets",
                         # the cursor never runs out (it is tomorrow's bookmark): stop on the empty page
                         "paginator": {"type": "cursor", "cursor_path": "after_cursor", "cursor_param": "cursor",
                                       "stop_after_empty_page": True}},
        }],
    }, max_table_nesting=0)
    pipeline = dlt.pipeline(pipeline_name="bench_zendesk", pipelines_dir=str(root / "dlt"),
                            destination=dlt.destinations.duckdb(str(root / "dlt.duckdb")), dataset_name="support")
    started = time.perf_counter()
    pipeline.run(source, loader_file_format="parquet")
    seconds = time.perf_counter() - started
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT COUNT(*) FROM tickets")[0][0]
    return {"seconds": seconds, "rows": rows, "rss_mb": peak_rss_mb()}


# ---- parent --------------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_posts(waves: int = 2) -> None:
    """Waves of 30 create_or_update_many jobs of 100 users, 10 in flight, each wave polled twice (the
    emulator completes a job on its 2nd poll), from plain httpx threads at the realistic sandbox's
    latency: the floor the emulator and the HTTP stack set under zendesk_users_push's calls, apart from
    the engine's own work (compare the wave's span with `bench/latency.py --calls`)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from migo_sync.sandbox.process import SandboxProcess
    from migo_sync.sandbox.realism import VENDOR_DEFAULTS

    knobs = VENDOR_DEFAULTS["zendesk"]
    latency, in_flight = knobs["latency_ms"] / 1000.0, knobs["max_in_flight"]
    with tempfile.TemporaryDirectory(prefix="migo-bench-bare-") as tmp, \
            SandboxProcess(state_dir=Path(tmp) / "sandbox", seed=42, realistic=True) as sandbox, \
            httpx.Client(base_url=sandbox.env["MIGO_SYNC_ZENDESK_URL"].rstrip("/"), auth=(f"{EMAIL}/token", TOKEN),
                         timeout=30.0, limits=httpx.Limits(max_connections=in_flight)) as client:
        server = sandbox.process.pid

        def post(n: int) -> tuple[float, float, str]:
            users = [{"external_id": f"bare-{n}-{k}", "name": f"User {n} {k}", "email": f"bare{n}_{k}@example.com",
                      "user_fields": {"loan_status": "current"}} for k in range(100)]
            began = time.monotonic()
            answer = client.post("/api/v2/users/create_or_update_many.json", json={"users": users})
            answer.raise_for_status()
            return began, time.monotonic(), str(answer.json()["job_status"]["id"])

        client.get("/api/v2/job_statuses/show_many.json", params={"ids": "warm-up"})  # the connection's set-up
        for wave in range(waves):
            server_cpu, client_cpu, began = _cpu_seconds(server), time.process_time(), time.monotonic()
            with ThreadPoolExecutor(in_flight) as pool:
                sent = list(pool.map(post, range(wave * 30, wave * 30 + 30)))
            span = max(end for _, end, _ in sent) - began
            server_cpu, client_cpu = _cpu_seconds(server) - server_cpu, time.process_time() - client_cpu
            calls = sorted(end - start for start, end, _ in sent)
            polls = []
            for _ in range(POLLS_PER_JOB):
                start = time.monotonic()
                client.get("/api/v2/job_statuses/show_many.json",
                           params={"ids": ",".join(job for _, _, job in sent)}).raise_for_status()
                polls.append(time.monotonic() - start)
            print(f"wave {wave + 1}: 30 posts {span:.3f} s against {3 * latency:.2f} s "
                  f"({span / (3 * latency):.2f}x); a post {calls[0]:.3f}-{calls[-1]:.3f} s (median "
                  f"{calls[15]:.3f}); CPU: the sandbox {server_cpu:.3f} s, this client {client_cpu:.3f} s; "
                  f"polls {', '.join(f'{p:.3f}' for p in polls)} s; load {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--dlt", default=str(DLT_PYTHON), help="python of a venv with dlt, or 'none'")
    parser.add_argument("--bare-posts", action="store_true",
                        help="only: the push's job submissions from a bare httpx client at the realistic "
                             "sandbox's latency (what a wave of 30 costs without the engine)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_posts:
        bare_posts()
        return
    if args.child:
        kind, *rest = args.child
        if kind == "pull":
            result = child_pull(Path(rest[0]))
        elif kind == "read":
            result = child_read(Path(rest[0]))
        elif kind == "push":
            result = child_push(Path(rest[0]), int(rest[1]))
        elif kind == "loop":
            result = child_loop(rest[0], Path(rest[1]))
        else:
            result = child_dlt(rest[0], Path(rest[1]))
        print(json.dumps(result))
        return

    from migo_sync.sandbox.process import SandboxProcess

    knobs = {"bulk_tickets": args.tickets, "tickets": 0, "incremental_limit_per_minute": 0,
             "account_limit_per_minute": 0}
    with SandboxProcess(seed=0, options={"zendesk": knobs}) as sandbox:
        url = sandbox.env["MIGO_SYNC_ZENDESK_URL"]
        env = child_env(url)

        served = sandbox.stats().get("zendesk", 0)
        pull_root = project_root("pull")
        pull = run_child(["--child", "pull", str(pull_root)], env)
        pull["served"] = sandbox.stats()["zendesk"] - served
        pages = math.ceil(args.tickets / 1000)
        report("migo-sync pull", args.tickets, pull, f"{pull['requests']} requests (minimum {pages} pages of 1000)")
        reruns = rerun_lines("pull", pull["seconds"], pull["warm_seconds"], pull["warm_requests"],
                             fresh_run(pull_root, "bench_tickets_pull", env))
        read = run_child(["--child", "read", str(project_root("read"))], env)
        report("  of which the adapter alone (no warehouse)", args.tickets, read, f"{read['requests']} requests")
        loop = run_child(["--child", "loop", url, str(project_root("loop"))], env)
        report("hand-written loop (httpx → json → Arrow → DuckDB insert; no typing, no state)", args.tickets, loop,
               f"{loop['requests']} requests")
        print(f"  → migo-sync pull is {(pull['rows'] / pull['seconds']) / (loop['rows'] / loop['seconds']):.2f}x "
              f"the loop's records/s (target: at least 1.5x)")

        dlt_python = Path(args.dlt)
        if args.dlt != "none" and dlt_python.exists():
            served = sandbox.stats()["zendesk"]
            dlt = run_child(["--child", "dlt", url, str(project_root("dlt"))], env, python=str(dlt_python))
            dlt["requests"] = sandbox.stats()["zendesk"] - served
            report("dlt rest_api (parquet, max_table_nesting=0)", args.tickets, dlt,
                   f"{dlt['requests']} requests")
            reference, source = dlt["rows"] / dlt["seconds"], "measured now, same emulator"
            rss = dlt["rss_mb"]
        else:
            reference, rss = DLT_REFERENCE["records_per_s"], DLT_REFERENCE["rss_mb"]
            source = "dlt not installed here: the issue's figures (3.6k records/s, ~500 MB)"
        speed = pull["rows"] / pull["seconds"]
        print(f"  → migo-sync pull is {speed / reference:.1f}x dlt's records/s (target: at least 4x) with "
              f"{pull['rss_mb']:.0f} MB peak RSS against dlt's {rss:.0f} MB ({source})")

        push_root = project_root("push")
        push = run_child(["--child", "push", str(push_root), str(args.users)], env)
        jobs = math.ceil(args.users / 100)
        polls = POLLS_PER_JOB * math.ceil(jobs / JOBS_IN_FLIGHT)
        report("migo-sync push (users)", args.users, push,
               f"{push['requests']} requests (minimum {jobs} jobs of 100 + {polls} polls = {jobs + polls})")
        reruns += rerun_lines("push", push["seconds"], push["warm_seconds"], push["warm_requests"],
                              fresh_run(push_root, "zendesk_users_push", env))
        print("\n".join(reruns))


def report(label: str, expected: int, figures: dict[str, Any], requests: str) -> None:
    rows, seconds = figures["rows"], figures["seconds"]
    note = "" if rows == expected else f" (expected {expected:,}!)"
    print(f"{label}: {rows:,} records{note} in {seconds:.2f} s = {rows / seconds:,.0f} records/s; "
          f"peak RSS {figures['rss_mb']:.0f} MB; {requests}")


if __name__ == "__main__":
    main()
