"""The nightly job: validate every selected mapping, then push, then pull, in dependency order.

Nothing is sent before every selected mapping has passed its catalog and warehouse checks
(exit 2 otherwise). A failing mapping does not stop the others; mappings that depend on it are
skipped. Every run and its per-mapping results are recorded in the warehouse.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from migo_sync import interrupt
from migo_sync.adapter import RunPreparation, Unit, as_run_preparation
from migo_sync.ahead import started
from migo_sync.boundary import library_error
from migo_sync.bounded import shared_ssl_context
from migo_sync.config import Project
from migo_sync.engine.feeds import rename_problems
from migo_sync.engine.gcpause import heap_frozen, refreeze
from migo_sync.engine.probe import ChangeProbe
from migo_sync.engine.pull import Puller, read_pages
from migo_sync.engine.push import Pusher
from migo_sync.engine.readahead import ReadAhead
from migo_sync.engine.reconciling import Reconciler
from migo_sync.engine.result import MappingResult
from migo_sync.errors import MappingError, MigoSyncError, UsageError, exit_code_for, most_serious
from migo_sync.evidence.artifacts import write_artifacts
from migo_sync.evidence.runlog import run_log
from migo_sync.evidence.sections import record_sections
from migo_sync.governance import Governance, govern, view_catalog
from migo_sync.http import REQUEST_STATS
from migo_sync.interrupt import Interrupted
from migo_sync.lineage.events import Emitter
from migo_sync.lock import nobody_running
from migo_sync.mapping.loader import LoadedMapping, collect_mappings
from migo_sync.mapping.validate import validate_all
from migo_sync.progress import Task
from migo_sync.redact import redact
from migo_sync.selection import Chosen, missing_dependencies, select
from migo_sync.systems import AdapterPool
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.base import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping, utcnow

log = logging.getLogger("migo_sync.engine")
ProgressFactory = Callable[[str, int | None], Callable[[int], None]]  # returns a progress.Task on a terminal


@dataclass
class RunOptions:
    names: Sequence[str] = ()  # selectors (names, globs, tag:, system:, direction:); see migo_sync.selection
    exclude: Sequence[str] = ()
    direction: str | None = None  # only "push" or only "pull"
    dry_run: bool = False
    full: bool = False  # push: resend everything
    full_refresh: bool = False  # pull: start over from no cursor
    command: str = "run"
    # watch mode: asked to stop after the current batch; the push change probe; systems backed off
    stop: Callable[[], bool] | None = None
    probe: ChangeProbe | None = None
    backed_off: dict[str, str] = field(default_factory=dict)  # system -> why it is skipped
    sole_writer: bool = False  # the caller holds the project lock: a run still 'running' has died
    threads: int | None = None  # systems whose pulls read ahead at once (None: the project's [run] threads)
    reconcile: str | None = None  # "changed" | "always" (None: the project's [run] reconcile)


@dataclass
class RunReport:
    run_id: str | None
    results: list[MappingResult] = field(default_factory=list)
    reconciliation: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False  # asked to stop: the current batch finished, the rest was left for later
    interrupted: Interrupted | None = None
    artifacts: dict[str, str] = field(default_factory=dict)  # run_results, report, log: file paths
    notes: list[str] = field(default_factory=list)  # what the selection added or left out

    @property
    def ok(self) -> bool:
        return self.interrupted is None and all(r.status in ("ok", "dry-run") for r in self.results) and not any(
            r.get("differences") for r in self.reconciliation)

    @property
    def status(self) -> str:
        """ok | rejected | failed | differs | interrupted | stopped (watch mode): the word `runs list` shows."""
        if self.interrupted is not None:
            return "interrupted"
        if self.stopped:
            return "stopped"
        if any(r.status in ("failed", "skipped") for r in self.results):
            return "failed"
        if any(r.status == "rejected" for r in self.results):
            return "rejected"
        if any(r.get("differences") for r in self.reconciliation):
            return "differs"
        return "ok"

    @property
    def reason(self) -> str | None:
        """Why the run is not ok, in one line (None when it is)."""
        parts: list[str] = []
        if self.interrupted is not None:
            done = sum(1 for r in self.results if r.status not in ("interrupted", "skipped"))
            parts.append(f"{self.interrupted} ({done} of {len(self.results)} mappings done)")
        parts += [f"{r.name} failed: {r.error_class or 'error'}: {r.error}" for r in self.results
                  if r.status == "failed"]
        rejected = [r for r in self.results if r.rows_rejected and r.status != "dry-run"]
        if rejected:
            total = sum(r.rows_rejected for r in rejected)
            parts.append(f"{total:,} rows rejected (" + ", ".join(f"{r.name}: {r.rows_rejected:,}"
                                                                  for r in rejected) + ")")
        for rec in self.reconciliation:
            diffs = rec.get("differences") or []
            if rec.get("error"):
                parts.append(f"reconciliation of {rec.get('mapping')} could not be done: {rec['error']}")
            elif diffs:
                parts.append(f"reconciliation of {rec.get('mapping')} ({rec.get('system')}): "
                             f"{len(diffs):,} difference(s)")
        return "; ".join(parts) or None

    @property
    def exit_code(self) -> int:
        """Interrupted: 130/143. Else the most serious mapping outcome (errors.exit_code_for); 1 when
        only rows were rejected or a reconciliation found differences."""
        if self.interrupted is not None:
            return self.interrupted.exit_code
        code = most_serious([r.exit_code for r in self.results])
        return code if code else (0 if self.ok else 1)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"run_id": self.run_id, "ok": self.ok, "status": self.status,
                                "mappings": [r.as_json() for r in self.results]}
        if self.stopped:
            data["stopped"] = True
        if self.reason:
            data["reason"] = self.reason
        if self.interrupted is not None:
            data["exit_code"] = self.exit_code
        if self.reconciliation:
            data["reconciliation"] = self.reconciliation
        if self.artifacts:
            data["artifacts"] = self.artifacts
        if self.notes:
            data["notes"] = self.notes
        return data


def choose(project: Project, loaded: Sequence[LoadedMapping], options: RunOptions) -> Chosen:
    """The selected mappings; none at all is a usage error (exit 2), never an empty success."""
    chosen = select(loaded, options.names, options.exclude)
    if options.direction:
        chosen.mappings = [m for m in chosen.mappings if m.mapping.direction == options.direction]
    if not chosen.mappings and options.command == "run":
        if not options.names:
            where = project.config.mappings
            raise UsageError(f"no mapping is enabled in {where}/ ({len(loaded)} found, all 'enabled: false'): "
                             "set 'enabled: true' in one, or name it: migo-sync run NAME"
                             if loaded else f"no mapping in {where}/: add one (see migo-sync mapping schema)")
        raise UsageError("the selection leaves no mapping to run (check --exclude)")
    return chosen


def order(chosen: Sequence[LoadedMapping]) -> list[LoadedMapping]:
    """Dependencies first; otherwise pushes before pulls, then file order."""
    names = {m.mapping.name for m in chosen}
    position = {m.mapping.name: i for i, m in enumerate(chosen)}
    by_name = {m.mapping.name: m for m in chosen}
    waiting = {m.mapping.name: {d for d in m.mapping.depends_on if d in names} for m in chosen}
    heap = [(0 if by_name[n].mapping.direction == "push" else 1, position[n], n)
            for n, deps in waiting.items() if not deps]
    heapq.heapify(heap)
    ordered: list[LoadedMapping] = []
    while heap:
        _, _, name = heapq.heappop(heap)
        ordered.append(by_name[name])
        for other, deps in waiting.items():
            if name in deps:
                deps.discard(name)
                if not deps:
                    heapq.heappush(heap, (0 if by_name[other].mapping.direction == "push" else 1,
                                          position[other], other))
    return ordered


@contextmanager
def opened(project: Project) -> Iterator[tuple[Warehouse, AdapterPool]]:
    warehouse = open_warehouse(project)
    pool = AdapterPool(project)
    try:
        yield warehouse, pool
    finally:
        pool.close()
        warehouse.close()


def prepare(project: Project, options: RunOptions, warehouse: Warehouse,
            pool: AdapterPool, notes: list[str] | None = None) -> tuple[list[LoadedMapping], Governance]:
    """Load, select, bind to the dictionary and validate mappings (zones included); raise
    MappingError (exit 2) before anything is sent."""
    notes = [] if notes is None else notes
    loaded, problems = collect_mappings([project.mappings_dir])
    try:
        chosen = choose(project, loaded, options)
    except UsageError:
        if problems:  # a broken file may be the mapping the selector meant
            raise MappingError(problems) from None
        raise
    bound, gov, governed = govern(project, loaded, chosen.mappings, pool, view_catalog(warehouse))
    problems = validate_all(bound, pool, warehouse, problems=[*problems, *governed], check_disabled=chosen.names)
    if not problems and not options.full:
        problems = rename_problems(warehouse, bound, project_feeds(loaded), lambda item: unit_of(pool, item))
    if problems:
        raise MappingError(problems)
    notes.extend(f"selected '{name}' because a +selector depends on it" for name in chosen.pulled_in)
    notes.extend(f"'{name}' depends on '{dep}', which is not selected: it runs without it "
                 f"(select +{name} to run '{dep}' first)" for name, dep in missing_dependencies(chosen))
    return order(bound), gov


def project_feeds(loaded: Sequence[LoadedMapping]) -> set[str]:
    """The feed of every push mapping in the project (its name, or the name it continues)."""
    return {m.mapping.feed for m in loaded if m.mapping.direction == "push"}


def unit_of(pool: AdapterPool, item: LoadedMapping) -> Unit | None:
    """What one pushed unit is for this mapping's object (static catalog knowledge, no request)."""
    remote = next((o for o in pool(item.mapping.system).catalog() if o.name == item.mapping.object), None)
    return remote.unit if remote is not None else None


def run(project: Project, options: RunOptions, progress: ProgressFactory | None = None) -> RunReport:
    """Execute the selected mappings (the CLI holds the project lock around it). A real run first
    records runs left `running` by a process that died as `died`, when none can be running."""
    options = replace(options, threads=options.threads or project.config.run.threads,
                      reconcile=options.reconcile or project.config.run.reconcile)
    # the TLS context every client's transport holds (built once per process, 0.03-0.1 s of CPU that holds
    # the interpreter): begun while the project and its mappings load, done before the first plan
    started(shared_ssl_context, name="tls-context")
    with heap_frozen(), opened(project) as (warehouse, pool):
        notes: list[str] = []
        mappings, gov = prepare(project, options, warehouse, pool, notes)
        events = Emitter(project, gov.graph)
        book = Bookkeeping(warehouse)
        if options.dry_run:
            report = RunReport(None, notes=notes)
            _execute(warehouse, book, pool, mappings, report, options, progress, gov, events)
            return report
        book.ensure()
        for dead in book.mark_died() if options.sole_writer or nobody_running(project.state_dir) else []:
            log.warning("run %s was left running by a process that died: recorded as died", dead)
        run_id = book.start_run(options.command, {
            "names": list(options.names), "exclude": list(options.exclude), "dry_run": options.dry_run, "full": options.full,
            "full_refresh": options.full_refresh, "direction": options.direction})
        report = RunReport(run_id, notes=notes)
        with run_log(project.state_dir, run_id, project.config.logs) as log_file:
            log.info("run %s started: %d mapping(s)", run_id, len(mappings),
                     extra={"event": "run", "phase": "start", "command": options.command,
                            "mappings": [m.mapping.name for m in mappings]})
            _execute(warehouse, book, pool, mappings, report, options, progress, gov, events)
            for found in report.reconciliation:
                book.record_reconciliation(run_id, found)
            if report.interrupted is None and not report.stopped:
                record_sections(warehouse, book, pool, run_id, [m.mapping for m in mappings], report.results)
            book.finish_run(run_id, report.ok, status=report.status, reason=report.reason,
                            exit_code=report.exit_code)
            log.info("run %s %s%s", run_id, report.status, f": {report.reason}" if report.reason else "",
                     extra={"event": "run", "phase": "end", "status": report.status, "reason": report.reason,
                            "exit_code": report.exit_code})
            report.artifacts = write_artifacts(project, book, report, log_file)
        return report


def _execute(warehouse: Warehouse, book: Bookkeeping, pool: AdapterPool, mappings: Sequence[LoadedMapping],
             report: RunReport, options: RunOptions, progress: ProgressFactory | None, gov: Governance,
             events: Emitter) -> None:
    """Each mapping in order, recorded as it ends; then reconciliation. A signal stops it between
    batches: the mappings not started are recorded as skipped."""
    prepared = _prepare_systems(pool, mappings, options)
    ahead = _read_ahead(book, pool, mappings, options)
    reconciler = Reconciler(warehouse, book, pool, ahead, reconcile=options.reconcile or "always",
                            full=options.full, dry_run=options.dry_run)
    try:
        _each(warehouse, book, pool, mappings, report, options, progress, gov, events, ahead, reconciler)
        if report.interrupted is None and not report.stopped:
            report.reconciliation = reconciler.results(mappings)
    finally:
        prepared()
        if ahead is not None:
            ahead.close()  # reads not taken are abandoned: nothing of them was loaded


def _each(warehouse: Warehouse, book: Bookkeeping, pool: AdapterPool, mappings: Sequence[LoadedMapping],
          report: RunReport, options: RunOptions, progress: ProgressFactory | None, gov: Governance,
          events: Emitter, ahead: ReadAhead | None, reconciler: Reconciler) -> None:
    """The mappings in order, each recorded as it ends (a push's reconciliation begun then)."""
    run_id = report.run_id
    failed: set[str] = set()
    stop = options.stop or (lambda: False)
    try:
        for item in _turns(mappings, ahead):
            interrupt.check()
            refreeze()  # what the run loaded so far is walked by no full pass inside this mapping (gcpause)
            mapping = item.mapping
            if stop():
                report.stopped = True
                break
            blocked = [d for d in mapping.depends_on if d in failed]
            stopped = None
            backed_off = options.backed_off.get(mapping.system)
            if backed_off:
                result = MappingResult(mapping.name, mapping.system, mapping.direction, status="skipped",
                                       error=backed_off, exit_code=3)
                failed.add(mapping.name)
            elif blocked:
                result = MappingResult(mapping.name, mapping.system, mapping.direction, status="skipped",
                                       error=f"skipped: depends on failed mapping {', '.join(blocked)}")
                failed.add(mapping.name)
            else:
                events.start(mapping)
                outcome: list[Interrupted | None] = [None]

                def sync(item: LoadedMapping = item, outcome: list[Interrupted | None] = outcome) -> MappingResult:
                    result, outcome[0] = _run_one(warehouse, book, pool, item, run_id or "dry-run", options,
                                                  progress, ahead)
                    return result

                result = _promoted_run(warehouse, gov, item, sync)
                stopped = outcome[0]
                events.finish(mapping, result)
                if result.status == "failed":
                    failed.add(mapping.name)
            reconciler.push_ended(mapping, result, stopping=stopped is not None or stop())
            if ahead is not None:
                ahead.mapping_ended(mapping.name, mapping.name not in failed)
            _log_result(result)
            report.results.append(result)
            if run_id is not None:
                book.record_result(run_id, result.as_json())
                for promotion in result.details.get("promotions", []):
                    book.record_promotion(run_id, mapping.name, promotion)
            if stopped is not None:
                raise stopped
            if result.status == "stopped":
                report.stopped = True
                break
        interrupt.check()  # a signal during the last mapping: the run is interrupted, not reconciled
    except Interrupted as exc:
        interrupt.disarm()
        report.interrupted = exc
        done = {r.name for r in report.results}
        for item in mappings:
            if item.mapping.name not in done:
                m = item.mapping
                skipped = MappingResult(m.name, m.system, m.direction, status="skipped",
                                        error="not started: the run was interrupted")
                report.results.append(skipped)
                if run_id is not None:
                    book.record_result(run_id, skipped.as_json())
        log.warning("%s", exc)
    position = {item.mapping.name: index for index, item in enumerate(mappings)}
    report.results.sort(key=lambda r: position.get(r.name, len(position)))  # the run's order, whatever landed first


def _turns(mappings: Sequence[LoadedMapping], ahead: ReadAhead | None) -> Iterator[LoadedMapping]:
    """The mappings in the run's order, but a pull read ahead whose reader asked its remote everything goes
    before an earlier pull still waiting on its remote (`ReadAhead.next_turn`); each chosen once the one
    before it ended."""
    pending = list(mappings)
    while pending:
        index = ahead.next_turn([item.mapping for item in pending]) if ahead is not None else 0
        yield pending.pop(index)


def _log_result(result: MappingResult) -> None:
    """One `mapping` event; a failed mapping is logged as an error (so `--json -v` shows it too)."""
    extra = {"event": "mapping", "mapping": result.name, "system": result.system, "direction": result.direction,
             "status": result.status, "rows_read": result.rows_read, "rows_changed": result.rows_changed,
             "rows_written": result.rows_written, "rows_rejected": result.rows_rejected,
             "requests": result.requests, "seconds": round(result.seconds, 3), "error_class": result.error_class,
             "error": result.error}
    if result.status in ("failed", "interrupted"):
        log.error("%s %s after %.2f s: %s", result.name, result.status, result.seconds, result.error, extra=extra)
    else:
        log.info("%s %s: %s read, %s written, %s rejected, %s requests, %.2f s", result.name, result.status,
                 f"{result.rows_read:,}", f"{result.rows_written:,}", f"{result.rows_rejected:,}",
                 f"{result.requests:,}", result.seconds, extra=extra)


PREPARE_AFTER = 0.5  # s: how long the other systems' preparations wait at most for the run's first request


def _prepare_systems(pool: AdapterPool, mappings: Sequence[LoadedMapping], options: RunOptions) -> Callable[[], None]:
    """RunPreparation: each selected system's CPU-only preparation (Sheets: its signing key), begun on a
    thread of its own, so it runs while the mappings before that system's wait on their APIs. The first
    mapping's system is prepared now; the others once the run's first request is sent (PREPARE_AFTER s at
    most), so their CPU overlaps that wait rather than the first mapping's plan and units, which its first
    request waits for (they took 0.1 s more on a 2-core machine with the preparations beside them). Returns
    what to call at the run's end: preparations not begun by then are not."""
    first = mappings[0].mapping.system if mappings else None
    later: list[RunPreparation] = []
    for system in dict.fromkeys(m.mapping.system for m in mappings):
        if system in options.backed_off:
            continue
        try:
            adapter = pool(system)
        except MigoSyncError:  # its mappings report it, where they always did
            continue
        preparation = as_run_preparation(adapter)
        if preparation is not None and system == first:
            preparation.prepare_run()
        elif preparation is not None:
            later.append(preparation)
    if not later:
        return lambda: None
    go, ending = threading.Event(), threading.Event()
    REQUEST_STATS.listen(go)

    def prepare_later() -> None:
        go.wait(PREPARE_AFTER)
        REQUEST_STATS.unlisten(go)
        if not ending.is_set():
            for preparation in later:
                preparation.prepare_run()

    thread = threading.Thread(target=prepare_later, name="run-preparation", daemon=True)
    thread.start()

    def end() -> None:
        ending.set()
        go.set()
        thread.join()

    return end


def _read_ahead(book: Bookkeeping, pool: AdapterPool, mappings: Sequence[LoadedMapping],
                options: RunOptions) -> ReadAhead | None:
    """With `threads` above 1, the pulls that read their remote ahead of their turn (readahead.py);
    their cursors are the ones committed before the run (only a pull itself moves its own)."""
    if (options.threads or 1) <= 1 or options.dry_run:
        return None
    pulls = [m.mapping for m in mappings if m.mapping.direction == "pull" and m.mapping.system not in options.backed_off]
    if not pulls and not any(m.mapping.direction == "push" for m in mappings):
        return None
    cursors = (dict.fromkeys((m.name for m in pulls), None) if options.full_refresh
               else book.get_cursors([m.name for m in pulls]))
    ahead = ReadAhead(mappings, pool, cursors, options.threads or 1, set(options.backed_off), read_pages)
    ahead.fill()
    return ahead


def _run_one(warehouse: Warehouse, book: Bookkeeping, pool: AdapterPool, item: LoadedMapping, run_id: str,
             options: RunOptions, progress: ProgressFactory | None,
             ahead: ReadAhead | None = None) -> tuple[MappingResult, Interrupted | None]:
    """One mapping's sync; its real seconds and requests even when it fails or is interrupted."""
    mapping = item.mapping
    started, begun = time.perf_counter(), utcnow()
    before = REQUEST_STATS.get(mapping.system)
    read = ahead.take(mapping.name) if ahead is not None and mapping.direction == "pull" else None
    worker: Pusher | Puller | None = None
    stopped: Interrupted | None = None
    tick = progress(mapping.name, None) if progress else None
    try:
        adapter = pool(mapping.system)
        # The unit kind is static catalog knowledge: no request needed (a rerun must send none).
        remote = next((o for o in adapter.catalog() if o.name == mapping.object), None)
        if mapping.direction == "push":
            assert remote is not None
            worker = Pusher(warehouse, book, adapter, mapping, remote, run_id, dry_run=options.dry_run,
                            full=options.full, progress=tick, stop=options.stop, probe=options.probe)
        else:
            worker = Puller(warehouse, book, adapter, mapping, run_id, full_refresh=options.full_refresh,
                            dry_run=options.dry_run, progress=tick, stop=options.stop, ahead=read)
        result = worker.run()
    except Interrupted as exc:
        interrupt.disarm()
        stopped = exc
        result = worker.result if worker is not None else MappingResult(mapping.name, mapping.system,
                                                                          mapping.direction)
        result.status, result.error, result.error_class = "interrupted", str(exc), "Interrupted"
    except MigoSyncError as exc:
        result = MappingResult(mapping.name, mapping.system, mapping.direction, status="failed",
                               error=redact(str(exc)), error_class=type(exc).__name__, exit_code=exit_code_for(exc))
    except Exception as exc:  # a bug in one mapping's path must not stop the nightly job's others
        log.debug("%s failed", mapping.name, exc_info=True)
        mapped = library_error(mapping.system, exc)
        if mapped is not None:
            result = MappingResult(mapping.name, mapping.system, mapping.direction, status="failed",
                                   error=redact(str(mapped)), error_class=type(mapped).__name__,
                                   exit_code=exit_code_for(mapped))
        else:
            result = MappingResult(mapping.name, mapping.system, mapping.direction, status="failed",
                                   error_class=type(exc).__name__,
                                   error=redact(f"internal error: {type(exc).__name__}: {exc} (run with -v for details)"),
                                   exit_code=exit_code_for(exc))
    if isinstance(tick, Task):  # the mapping ended, however: its progress line stops counting
        tick.done()
    if result.status in ("failed", "interrupted"):
        result.seconds = time.perf_counter() - started
        result.requests = read.sent() if read is not None else REQUEST_STATS.get(mapping.system) - before
    result.started_at = begun.strftime("%Y-%m-%dT%H:%M:%SZ")
    return result, stopped


def _promoted_run(warehouse: Warehouse, gov: Governance, item: LoadedMapping,
                  sync: Callable[[], MappingResult]) -> MappingResult:
    """Run one mapping after the promotions of the DMZ relations it feeds a system of record with;
    a failed promotion refuses the push (nothing sent). Promotions are recorded in the result."""
    mapping = item.mapping
    try:
        promotions = gov.promotions(warehouse, mapping)
    except MigoSyncError as exc:
        return MappingResult(mapping.name, mapping.system, mapping.direction, status="failed",
                             error=redact(f"promotion checks failed to run: {exc}"))
    refused = [p["relation"] for p in promotions if not p["promoted"]]
    if refused:
        result = MappingResult(mapping.name, mapping.system, mapping.direction, status="failed",
                               error=f"refused: DMZ relation {', '.join(refused)} failed its promotion checks")
    else:
        result = sync()
    if promotions:
        result.details["promotions"] = promotions
    return result
