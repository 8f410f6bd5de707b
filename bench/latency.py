"""Benchmark every shipped push and pull at a real tenant's latency, against the API-imposed minimum.

The demo's nightly job (every shipped mapping, the demo dataset) runs against the sandbox started
with `--realistic` (README, "The sandbox": Sheets 250 ms, Intacct 600 ms, Adaptive 800 ms, Zendesk
300 ms, Workday 700 ms; 10/4/2/10/4 calls in flight; Sheets 120 and Zendesk 700 calls a minute).
Every request the client sends is recorded (its kind — the XML method, SOAP operation or REST route
— and a digest of its body) and attributed to the mapping that sent it.

The API-imposed minimum of a mapping is a chain of steps, each depending on the one before; the
calls of one step are independent:

    minimum wall = Σ over steps ⌈calls ÷ allowed in flight⌉ x latency   (and never under the
                   time the calls-per-minute limit needs for all of them)
    minimum requests = Σ calls

The calls a step needs come from the API's rules, not from what the client did:
    data         as many as the data needs (pages of the page size, journals per request, job
                 submissions, exportData spans, 2 MB writes): the count sent, checked by each
                 system's bench to be the API's minimum for that data;
    reference    metadata and reference reads: once per run — a read with the same body as one
                 sent earlier in the run is not needed again;
    chain        each call depends on the previous one (a cursor page, readMore, an import Adaptive
                 serialises): one step each;
    poll         job statuses: Zendesk, a poll of every job in flight (one show_many) per state the
                 API moves a job through (the emulator: 2 polls, queued → working → completed) per
                 wave of 30; a Workday import, one status read once it is done.
    look-up      a ledger push asks which of its journals the ledger holds before posting them
                 (Intacct runs a second GLBATCH with the same REFERENCENO: api-reference §1.9 says
                 to query it before posting; Workday's Add_Only refuses only a known
                 Accounting_Journal_ID, not a reference another feed posted): the look-up goes with the
                 reference reads (it does not depend on them), the posts after it; a look-up of the
                 posted journals' ids (an import's answer names none) follows the import's status.
A Workday pull's first Get_Journals page is its own step (it says how many pages follow).

Each mapping prints wall vs minimum, `api s` (the time at least one of its calls was in flight:
what the client's scheduling of requests costs, apart from its own CPU work) and requests vs
minimum; a ratio above 1.15 is flagged with the reason the trace shows (requests beyond the
minimum, waiting on the API beyond the minimum, or client work between calls — warehouse, parsing:
that part grows with the machine's load, so the load average is printed too). Reconciliation
runs after the pushes and is its own line. A rerun on unchanged data follows (pushes send 0), three
times: one thread (each pull's requests by kind, from the trace), `--threads N` (pulls of other
systems read ahead, README "Several systems at once"), and N with `[run] reconcile = "changed"`;
each against the first run, with the floor the APIs impose on a rerun (see `rerun_floor`) and where
the rerun's time went (`spans`: each system's first call and last answer, the run's own work before
and after them).
`--loopback` runs the same job on the sandbox without latency (where only our own code counts);
`--quick` leaves out the dlt comparison and the 10,000-journal Workday figures.
Then, where one applies, a sequential client on the same realistic sandbox: dlt's `rest_api` over
Zendesk's ticket export (needs a venv with dlt: `python -m venv /tmp/dltvenv && /tmp/dltvenv/bin/pip
install "dlt[duckdb,parquet]"`; skipped with a note otherwise).

    python bench/latency.py [--json FILE] [--threads N] [--first-threads N] [--loopback] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

DLT_PYTHON = Path(os.environ.get("MIGO_BENCH_DLT_PYTHON", "/tmp/dltvenv/bin/python"))
POLLS_PER_WAVE = 2      # the Zendesk emulator moves a job queued → working → completed in two polls
JOBS_PER_WAVE = 30      # Zendesk's job limit
OVER = 1.15

ADAPTIVE_METHOD = re.compile(rb'<call[^>]*\smethod="(\w+)"')
INTACCT_FUNCTION = re.compile(rb"<function[^>]*>\s*<(\w+)")
INTACCT_OBJECT = re.compile(rb"<object>(\w+)</object>")
SOAP_OPERATION = re.compile(rb"<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)")
VOLATILE = [re.compile(rb"<(sessionid|password|senderpassword|controlid|dtdversion|uniqueid)>[^<]*</\1>"),
            re.compile(rb'controlid="[^"]*"'), re.compile(rb"<wsse:Security.*?</wsse:Security>", re.S),
            re.compile(rb"<(?:\w+:)?Created>[^<]*<"), re.compile(rb"<(?:\w+:)?Nonce[^>]*>[^<]*<")]


# ---- the trace ------------------------------------------------------------------------------------


@dataclass
class Call:
    """One request: when it left and was answered; what it asked (kind, role, digest) is read from
    its body only when the figures are made, after the run, so that reading it (regular expressions
    and a hash over bodies of up to megabytes) never delays the request it describes."""

    system: str
    method: str
    path: str
    target: str
    body: bytes
    started: float
    ended: float = 0.0
    _seen: tuple[str, str, str] | None = None

    def _read(self) -> tuple[str, str, str]:
        if self._seen is None:
            kind, role = classify(self.system, self.method, self.path, self.body)
            self._seen = (kind, role, digest(self.target, self.body))
            self.body = b""  # read once: not kept for the rest of the run
        return self._seen

    @property
    def kind(self) -> str:
        return self._read()[0]

    @property
    def role(self) -> str:
        return self._read()[1]

    @property
    def digest(self) -> str:
        return self._read()[2]


@dataclass
class Trace:
    """Every request sent, in order, cut into mappings at each mapping's end event."""

    calls: list[Call] = field(default_factory=list)
    by_mapping: dict[str, list[Call]] = field(default_factory=dict)
    pending: list[Call] = field(default_factory=list)
    in_flight: Counter[str] = field(default_factory=Counter)
    peak: dict[str, Counter[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)  # each mapping's own start and end

    def close_mapping(self, name: str) -> None:
        with self.lock:
            self.by_mapping[name] = self.pending
            self.pending = []
            self.peak.setdefault(name, Counter()).update({})

    def rest(self) -> list[Call]:
        with self.lock:
            rest, self.pending = self.pending, []
            return rest


def classify(system: str, method: str, path: str, body: bytes) -> tuple[str, str]:
    """(kind, role) of one request: what it asks, and how the minimum counts it (module docstring)."""
    if system == "adaptive":
        match = ADAPTIVE_METHOD.search(body)
        kind = match.group(1).decode() if match else "call"
        role = "data" if kind == "exportData" else "chain" if kind.startswith("import") else "reference"
        return kind, role
    if system == "intacct":
        functions = INTACCT_FUNCTION.findall(body)
        kind = "+".join(sorted({f.decode() for f in functions})) or "request"
        obj = INTACCT_OBJECT.search(body)
        if obj and "readByQuery" in kind:
            kind += f" {obj.group(1).decode()}"
        if kind == "readMore":
            return kind, "chain"
        if kind.startswith("readByQuery GLENTRY") or "create" in kind or kind == "get_trialbalance":
            return kind, "data"
        return kind, "reference"
    if system == "workday":
        match = SOAP_OPERATION.search(body)
        kind = match.group(1).decode() if match else "call"
        if kind.startswith("Submit_") or kind.startswith("Import_") or kind.startswith("Get_Journals"):
            return kind, "data"
        if kind.startswith("Get_Import_Process") or "Status" in kind:
            return kind, "poll"
        return kind, "reference"
    route = re.sub(r"/\d+(?=/|$|\.)", "/{id}", path)
    route = re.sub(r"/spreadsheets/[^/:]+", "/spreadsheets/{id}", route)
    route = re.sub(r"/values/.+$", "/values/{range}", route)
    kind = f"{method} {route}"
    if system == "zendesk":
        if "job_statuses" in route:
            return kind, "poll"
        if "/incremental/" in route:
            return kind, "chain"
        if method == "POST" or method == "PUT":
            return kind, "data"
        return kind, "reference"
    if system == "sheets":
        if route.endswith("/token") or (method == "GET" and route.endswith("/spreadsheets/{id}")):
            return kind, "reference"
        if route.endswith("/spreadsheets/{id}:batchUpdate"):  # add or grow the tab: before its writes
            return kind, "structure"
        return kind, "data"
    return kind, "data"


def digest(target: str, body: bytes) -> str:
    """What makes two requests the same question: the URL and the body without its credentials,
    session ids, control ids and timestamps."""
    for pattern in VOLATILE:
        body = pattern.sub(b"", body)
    return hashlib.sha256(target.encode() + b"\n" + body).hexdigest()[:16]


def install(trace: Trace) -> None:
    """Record every request of every system: wrap the core transport's single attempt."""
    import httpx

    from migo_sync.http import SystemTransport

    original = SystemTransport._send_once

    def send_once(self: SystemTransport, request: Any, idempotent: bool, attempt: int = 1) -> Any:
        try:
            body = request.content
        except httpx.RequestNotRead:  # a streamed body: its route names it
            body = b""
        call = Call(self.system, request.method, request.url.path, str(request.url), body, time.monotonic())
        with trace.lock:
            trace.calls.append(call)
            trace.pending.append(call)
            trace.in_flight[self.system] += 1
        try:
            return original(self, request, idempotent, attempt)
        finally:
            call.ended = time.monotonic()
            with trace.lock:
                trace.in_flight[self.system] -= 1

    SystemTransport._send_once = send_once  # type: ignore[method-assign]

    from migo_sync.engine import runner

    run_one = runner._run_one

    def timed_run_one(*args: Any, **kwargs: Any) -> Any:
        """The mapping's own start and end (its `seconds`), apart from what the run does around it."""
        began = time.monotonic()
        try:
            return run_one(*args, **kwargs)
        finally:
            trace.spans[args[3].mapping.name] = (began, time.monotonic())

    runner._run_one = timed_run_one


class MappingEnds(logging.Handler):
    def __init__(self, trace: Trace) -> None:
        super().__init__(logging.DEBUG)
        self.trace = trace

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) == "mapping":
            self.trace.close_mapping(str(getattr(record, "mapping", "")))


# ---- the model ------------------------------------------------------------------------------------


@dataclass
class Minimum:
    steps: list[tuple[str, int]]   # (what, calls) in dependency order
    seconds: float
    requests: int


def peak_in_flight(calls: list[Call]) -> int:
    edges = sorted([(c.started, 1) for c in calls] + [(c.ended, -1) for c in calls], key=lambda e: (e[0], e[1]))
    peak = now = 0
    for _, delta in edges:
        now += delta
        peak = max(peak, now)
    return peak


def minimum(system: str, calls: list[Call], seen: set[tuple[str, str]], knobs: dict[str, int]) -> Minimum:
    """The API-imposed minimum for the work these calls did (see the module docstring)."""
    steps: list[tuple[str, int]] = []
    fresh = {(c.kind, c.digest) for c in calls if c.role == "reference"} - seen
    token = sorted(k for k in fresh if k[0].endswith("/token"))  # a sign-in precedes every other call
    if token:
        steps.append(("sign-in, once per run", 1))
    reference = sorted(fresh - set(token))
    if reference:
        steps.append(("reference reads, once per run: " + ", ".join(sorted({k for k, _ in reference})),
                      len(reference)))
    structure = Counter(c.kind for c in calls if c.role == "structure")
    steps.extend((kind, 1) for kind, count in structure.items() for _ in range(count))
    writes = [c for c in calls if c.role == "data" and is_ledger_write(c.kind)]
    lookups = [c for c in calls if c.role == "data" and writes and is_ledger_lookup(c.kind)]
    before = [c for c in lookups if c.started < min(w.started for w in writes)]
    after = [c for c in lookups if c not in before]
    if before:  # which journals the ledger holds: asked before posting, independent of the chart
        if reference:
            what, n = steps.pop()
            steps.append((what + " + the look-up of held journals", n + len(before)))
        else:
            steps.append(("look-up of held journals", len(before)))
    data = Counter(c.kind for c in calls if c.role == "data" and c not in lookups)
    chained = Counter(c.kind for c in calls if c.role == "chain")
    polls = [c for c in calls if c.role == "poll"]
    if data.get("Get_Journals_Request", 0) > 1:  # the first page says how many pages follow
        steps.append(("Get_Journals_Request (first page)", 1))
        data["Get_Journals_Request"] -= 1
    if data:  # independent of each other (pages by number, journals, slices, a clear and the writes)
        steps.append((" + ".join(f"{n} {kind}" for kind, n in data.items()), sum(data.values())))
    if polls:  # Zendesk: one show_many per state a job moves through; an import: one read once it is done
        waves = max(1, math.ceil(sum(data.values()) / JOBS_PER_WAVE)) if system == "zendesk" else 1
        per_wave = POLLS_PER_WAVE if system == "zendesk" else 1
        steps.extend(("job status poll (all jobs in flight)", 1) for _ in range(per_wave * waves))
    for kind, count in chained.items():
        steps.extend((kind, 1) for _ in range(count))
    if after:  # the ids of journals whose answer named none (an import): read once they are booked
        steps.append(("look-up of the posted journals' ids", len(after)))
    latency = knobs["latency_ms"] / 1000.0
    cap = knobs["max_in_flight"]
    seconds = sum(math.ceil(n / cap) for _, n in steps) * latency
    requests = sum(n for _, n in steps)
    per_minute = knobs.get("calls_per_minute")
    if per_minute and requests > per_minute:
        seconds = max(seconds, (math.ceil(requests / per_minute) - 1) * 60.0)
    return Minimum(steps, seconds, requests)


def is_ledger_write(kind: str) -> bool:
    return kind.startswith(("create", "Import_Accounting_Journal", "Submit_Accounting_Journal"))


def is_ledger_lookup(kind: str) -> bool:
    """A ledger push's question which journals the ledger holds (Intacct GLENTRY by reference,
    Workday Get_Journals): the ledger does not refuse a second journal, so it precedes the post."""
    return kind.startswith(("readByQuery GLENTRY", "Get_Journals"))


def busy(calls: list[Call]) -> float:
    """Seconds during which at least one call was in flight (the union of their intervals)."""
    total, end = 0.0, float("-inf")
    for call in sorted(calls, key=lambda c: c.started):
        if call.ended > end:
            total += call.ended - max(call.started, end)
            end = call.ended
    return total


def reason(calls: list[Call], floor: Minimum, seconds: float, cap: int) -> str:
    """Why a mapping is above its minimum, from what the trace shows: requests beyond the minimum,
    time waiting on calls beyond the minimum (not overlapped), or client work between calls."""
    found = []
    needed: Counter[str] = Counter()
    for what, n in floor.steps:
        needed["reference" if what.startswith(("reference reads", "sign-in")) else what] += n
    repeated = sum(1 for c in calls if c.role == "reference") - needed["reference"]
    if repeated > 0:
        found.append(f"{repeated} reference read(s) repeating one made earlier this run")
    polls = sum(1 for c in calls if c.role == "poll")
    wanted = needed["job status poll (all jobs in flight)"]
    if polls > wanted:
        found.append(f"{polls} job status polls for {wanted} needed")
    waiting = busy(calls)
    if waiting > floor.seconds * OVER:
        found.append(f"waiting on the API {waiting:.2f} s for a minimum of {floor.seconds:.2f} s "
                     f"(at most {peak_in_flight(calls)} of {cap} in flight)")
    client = seconds - waiting
    if client > floor.seconds * (OVER - 1):
        found.append(f"{client:.2f} s of client work between calls (warehouse, parsing, bookkeeping)")
    if not found and seconds > floor.seconds * OVER:  # neither part alone crosses its share: both together do
        found.append(f"{waiting - floor.seconds:.2f} s waiting over the minimum + {client:.2f} s of client work")
    return "; ".join(found) or "within the minimum"


def timeline(calls: list[Call], span: tuple[float, float] | None = None) -> str:
    """One line per call, times relative to the mapping's first call: where the waits are; then the
    mapping's own work outside its calls (from its start to its first request, after its last answer)."""
    if not calls:
        return ""
    zero = calls[0].started
    lines = [f"    {c.started - zero:6.2f} → {c.ended - zero:6.2f}  {c.role:9} {c.kind}" for c in calls]
    if span is not None:
        last = max(c.ended for c in calls)
        lines.append(f"    our work outside the calls: {zero - span[0]:.3f} s before the first, "
                     f"{span[1] - last:.3f} s after the last answer; calls {last - zero:.3f} s")
    return "\n".join(lines)


# ---- the run --------------------------------------------------------------------------------------


def dlt_child(url: str, root: str) -> None:
    """dlt's rest_api over the ticket export (parquet, no nesting): one sequential client."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source({
        "client": {"base_url": f"{url}/api/v2/",
                   "auth": {"type": "http_basic", "username": f"{os.environ['MIGO_SYNC_ZENDESK_EMAIL']}/token",
                            "password": os.environ["MIGO_SYNC_ZENDESK_API_TOKEN"]}},
        "resources": [{"name": "tickets", "endpoint": {
            "path": "incremental/tickets/cursor.json", "params": {"start_time": 0, "per_page": 1000},
            "data_selector": "tickets",
            "paginator": {"type": "cursor", "cursor_path": "after_cursor", "cursor_param": "cursor",
                          "stop_after_empty_page": True}}}],
    }, max_table_nesting=0)
    pipeline = dlt.pipeline(pipeline_name="bench_latency", pipelines_dir=f"{root}/dlt",
                            destination=dlt.destinations.duckdb(f"{root}/dlt.duckdb"), dataset_name="support")
    started = time.perf_counter()
    pipeline.run(source, loader_file_format="parquet")
    seconds = time.perf_counter() - started
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT COUNT(*) FROM tickets")[0][0]
    print(json.dumps({"seconds": seconds, "rows": rows}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--calls", action="store_true",
                        help="also print each mapping's calls: kind, role, when sent and answered (s from the first)")
    parser.add_argument("--dlt-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=5, help="threads of the read-ahead rerun (default 5)")
    parser.add_argument("--first-threads", type=int, default=1,
                        help="threads of the first run (default 1: each mapping's calls are its own; 5, the project "
                             "default, gives the whole job's time with pulls read ahead)")
    parser.add_argument("--loopback", action="store_true", help="the sandbox without latency or caps")
    parser.add_argument("--quick", action="store_true", help="no dlt comparison, no 10,000-journal Workday push")
    args = parser.parse_args()
    if args.dlt_child:
        dlt_child(*args.dlt_child)
        return

    from migo_sync.demo.dataset import seed as seed_dataset
    from migo_sync.demo.project import SANDBOX_OPTIONS, create_project, sandbox_credentials
    from migo_sync.engine.runner import RunOptions, run
    from migo_sync.sandbox.process import SandboxProcess
    from migo_sync.sandbox.realism import VENDOR_DEFAULTS
    from migo_sync.warehouse import open_warehouse

    trace = Trace()
    install(trace)
    logging.getLogger("migo_sync").addHandler(MappingEnds(trace))
    logging.getLogger("migo_sync").setLevel(logging.DEBUG)
    figures: dict[str, Any] = {"load_average": os.getloadavg(), "mappings": {}}
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="migo-bench-latency-") as tmp:
        project = create_project(Path(tmp) / "demo")
        warehouse = open_warehouse(project, create=True)
        try:
            seed_dataset(warehouse, 42)
        finally:
            warehouse.close()
        with SandboxProcess(state_dir=project.state_dir / "sandbox", seed=42, options=SANDBOX_OPTIONS,
                            realistic=not args.loopback) as sandbox:
            project.environ.update(sandbox.env)
            project.environ.update(sandbox_credentials(project.state_dir))
            started = time.perf_counter()
            report = run(project, RunOptions(command="bench", threads=args.first_threads))
            total = time.perf_counter() - started
            if args.first_threads > 1:
                print(f"first run with --threads {args.first_threads}: calls of pulls read ahead are charged to the "
                      "mapping running when they were sent, so only the whole job's time compares")
            reconciliation = trace.rest()
            print(f"{'mapping':31} {'wall s':>6} {'min s':>6} {'ratio':>5} {'api s':>6} {'requests':>8} {'min':>4} "
                  f"{'in flight':>9}  flagged: why")
            over, waits_over, mapped, floor_total = 0, 0, 0.0, 0.0
            seen: set[tuple[str, str]] = set()
            for r in report.results:
                knobs = VENDOR_DEFAULTS[r.system]
                calls = trace.by_mapping.get(r.name, [])
                floor = minimum(r.system, calls, {s for s in seen}, knobs)
                seen |= {(c.kind, c.digest) for c in calls if c.role == "reference"}
                ratio = r.seconds / floor.seconds if floor.seconds else float("nan")
                flagged = ratio > OVER or len(calls) > floor.requests
                why = reason(calls, floor, r.seconds, knobs["max_in_flight"]) if flagged else ""
                over += flagged
                waits_over += busy(calls) > floor.seconds * OVER
                mapped += r.seconds
                floor_total += floor.seconds
                print(f"{r.name:31} {r.seconds:6.2f} {floor.seconds:6.2f} {ratio:5.2f} {busy(calls):6.2f} {len(calls):8d} "
                      f"{floor.requests:4d} {peak_in_flight(calls):4d}/{knobs['max_in_flight']:<4d}  "
                      + (why if flagged else "") + ("" if r.status == "ok" else f"  [{r.status}: {r.error or ''}]"))
                if args.calls:
                    print(timeline(calls, trace.spans.get(r.name)))
                figures["mappings"][r.name] = {
                    "seconds": round(r.seconds, 3), "minimum_seconds": round(floor.seconds, 3),
                    "api_seconds": round(busy(calls), 3), "requests": len(calls),
                    "minimum_requests": floor.requests, "peak_in_flight": peak_in_flight(calls),
                    "steps": floor.steps, "reason": why, "status": r.status}
            rec_kinds = Counter(c.kind for c in reconciliation)
            print(f"reconciliation and bookkeeping: {total - mapped:.1f} s, {len(reconciliation)} requests "
                  f"({', '.join(f'{n} {k}' for k, n in rec_kinds.most_common())})")
            print(f"mappings {mapped:.1f} s against a minimum of {floor_total:.1f} s; whole job {total:.1f} s; "
                  f"{over} of {len(report.results)} above {OVER}x their minimum or sending more requests; "
                  f"{waits_over} waiting on the API more than {OVER}x the minimum")
            refused = {name: lim["refused"] for name, lim in sandbox.limits().items() if lim["refused"]}
            print(f"calls refused by a cap: {refused or 'none'}")
            figures.update(total_seconds=round(total, 2), mapping_seconds=round(mapped, 2),
                           minimum_seconds=round(floor_total, 2), over=over, api_waits_over=waits_over,
                           refused=refused)
            figures["rerun"] = reruns(project, trace, total, args.threads, args.loopback)
            if not args.quick:
                figures["sequential_client"] = compare_dlt(sandbox, report, Path(tmp))
    if not args.quick:
        from workday import latency_push  # 10,000 Workday journals: batched import vs single submits

        figures["workday_journal_push"] = latency_push(10_000, 400)
        print("\n".join(figures["workday_journal_push"]))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


def reruns(project: Any, trace: Trace, first: float, threads: int, loopback: bool) -> dict[str, Any]:
    """The unchanged rerun three ways (module docstring); what each pull asked on the first."""
    from migo_sync.engine.runner import RunOptions, run

    out: dict[str, Any] = {"first_seconds": round(first, 2)}
    for label, options in (("1 thread", RunOptions(command="bench", threads=1)),
                           (f"{threads} threads", RunOptions(command="bench", threads=threads)),
                           (f"{threads} threads, reconcile changed",
                            RunOptions(command="bench", threads=threads, reconcile="changed"))):
        trace.rest()
        trace.by_mapping.clear()
        first_call = len(trace.calls)
        began = time.monotonic()  # the trace's clock
        started = time.perf_counter()
        again = run(project, options)
        seconds = time.perf_counter() - started
        ended = time.monotonic()
        outside = trace.rest()
        pushes = sum(r.requests for r in again.results if r.direction == "push")
        pulls = sum(r.requests for r in again.results) - pushes
        reconciled = sum(int(r.get("requests") or 0) for r in again.reconciliation)
        print(f"rerun on unchanged data, {label}: {seconds:.1f} s = {seconds / first:.1%} of the first run "
              f"({first:.1f} s); pushes sent {pushes} requests, pulls {pulls}, reconciliation {reconciled} "
              f"[{again.status}]")
        row: dict[str, Any] = {"seconds": round(seconds, 2), "ratio": round(seconds / first, 4), "push_requests": pushes,
                               "pull_requests": pulls, "reconciliation_requests": reconciled, "status": again.status,
                               "calls": spans(trace.calls[first_call:], began, ended)}
        if label == "1 thread":  # one at a time: the trace tells each pull's requests apart
            for r in again.results:
                kinds = Counter(c.kind for c in trace.by_mapping.get(r.name, []))
                if r.direction == "pull":
                    print(f"    {r.name:31} {r.seconds:5.2f} s {r.requests:3d} request(s): "
                          + ", ".join(f"{n} {k}" for k, n in kinds.items()))
            print(f"    reconciliation: {', '.join(f'{n} {k}' for k, n in Counter(c.kind for c in outside).items())}")
            row["floor"] = rerun_floor(again.results, first, loopback)
        out[label] = row
    return out


def spans(calls: list[Call], began: float, ended: float) -> dict[str, Any]:
    """Where a rerun's time went: each system's first call sent and last answer read (s from the run's
    start), and the run's own work before the first call and after the last answer (loading the
    project and checking the mappings, the pushes' plans; the last loads, the records, the run's files)."""
    if not calls:
        return {}
    per_system: dict[str, tuple[float, float]] = {}
    for call in calls:
        first, last = per_system.get(call.system, (call.started, call.ended))
        per_system[call.system] = (min(first, call.started), max(last, call.ended))
    before = min(c.started for c in calls) - began
    after = ended - max(c.ended for c in calls)
    print(f"    calls from {before:.2f} to {ended - began - after:.2f} s ("
          + ", ".join(f"{s} {a - began:.2f}-{b - began:.2f}" for s, (a, b) in sorted(per_system.items(), key=lambda kv: kv[1]))
          + f"); the run's own work before the first call {before:.2f} s, after the last answer {after:.2f} s")
    return {"before_first_call": round(before, 3), "after_last_answer": round(after, 3),
            "per_system": {s: [round(a - began, 3), round(b - began, 3)] for s, (a, b) in per_system.items()}}


def rerun_floor(results: list[Any], first: float, loopback: bool) -> dict[str, Any]:
    """What the APIs impose on an unchanged rerun of these pulls: none of them offers a change probe
    spanning objects, so each pull asks at least once (an incremental one: once, for what changed
    since its cursor; Adaptive's exportData and exportAccounts, Intacct's get_trialbalance: the
    whole answer, having no modified-since at all), and Sheets signs in first (a fresh process
    holds no token). Systems read at once; a system's own calls within its in-flight cap."""
    from migo_sync.sandbox.realism import VENDOR_DEFAULTS

    if loopback:
        return {}
    per_system: Counter[str] = Counter(r.system for r in results if r.direction == "pull")
    floors = {}
    for system, pulls in per_system.items():
        knobs = VENDOR_DEFAULTS[system]
        trips = math.ceil(pulls / knobs["max_in_flight"]) + (1 if system == "sheets" else 0)
        floors[system] = trips * knobs["latency_ms"] / 1000.0
    api = max(floors.values(), default=0.0)
    print(f"    the APIs' floor for an unchanged rerun: {api:.2f} s = {api / first:.1%} of the first run ("
          + ", ".join(f"{s} {v:.2f} s" for s, v in sorted(floors.items())) + "), before any client work")
    return {"seconds": round(api, 2), "ratio": round(api / first, 4), "per_system": floors}


def compare_dlt(sandbox: Any, report: Any, tmp: Path) -> dict[str, Any]:
    """The same ticket export through dlt's rest_api, on the same realistic sandbox."""
    ours = next((r for r in report.results if r.name == "zendesk_tickets_pull"), None)
    if not DLT_PYTHON.exists():
        print(f"sequential client: dlt not installed at {DLT_PYTHON} (see the docstring); comparison skipped")
        return {"skipped": "dlt not installed"}
    before = sandbox.stats().get("zendesk", 0)
    from migo_sync.adapters.zendesk.sandbox import SANDBOX_API_TOKEN, SANDBOX_EMAIL

    env = {**os.environ, "MIGO_SYNC_ZENDESK_EMAIL": SANDBOX_EMAIL, "MIGO_SYNC_ZENDESK_API_TOKEN": SANDBOX_API_TOKEN}
    done = subprocess.run([str(DLT_PYTHON), __file__, "--dlt-child", sandbox.env["MIGO_SYNC_ZENDESK_URL"], str(tmp)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    if done.returncode != 0:
        print(f"sequential client: dlt failed: {done.stderr.strip().splitlines()[-1:]}")
        return {"failed": done.stderr[-500:]}
    dlt = json.loads(done.stdout.strip().splitlines()[-1])
    dlt["requests"] = sandbox.stats()["zendesk"] - before
    print(f"sequential client on the same sandbox: dlt rest_api, Zendesk ticket export: {dlt['rows']:,} tickets "
          f"in {dlt['seconds']:.2f} s, {dlt['requests']} requests"
          + (f"; migo-sync's zendesk_tickets_pull: {ours.rows_read:,} in {ours.seconds:.2f} s, {ours.requests} requests"
             if ours is not None else ""))
    return dlt


if __name__ == "__main__":
    main()
