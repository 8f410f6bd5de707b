"""The nightly job: validate every selected mapping, then push, then pull, in dependency order.

Nothing is sent before every selected mapping has passed its catalog and warehouse checks
(exit 2 otherwise). A failing mapping does not stop the others; mappings that depend on it are
skipped. Every run and its per-mapping results are recorded in the warehouse.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from migo_sync.boundary import library_error
from migo_sync.config import Project
from migo_sync.engine.probe import ChangeProbe
from migo_sync.engine.pull import Puller
from migo_sync.engine.push import Pusher
from migo_sync.engine.result import MappingResult
from migo_sync.errors import ConfigError, MappingError, MigoSyncError, exit_code_for, most_serious
from migo_sync.governance import Governance, govern
from migo_sync.lineage.events import Emitter
from migo_sync.mapping.loader import LoadedMapping, did_you_mean, load_mappings
from migo_sync.mapping.validate import validate_catalog, validate_warehouse
from migo_sync.redact import redact
from migo_sync.systems import AdapterPool
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.base import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

log = logging.getLogger("migo_sync.engine")
ProgressFactory = Callable[[str, int | None], Callable[[int], None]]


@dataclass
class RunOptions:
    names: Sequence[str] = ()
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


@dataclass
class RunReport:
    run_id: str | None
    results: list[MappingResult] = field(default_factory=list)
    reconciliation: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False  # asked to stop: the current batch finished, the rest was left for later

    @property
    def ok(self) -> bool:
        return all(r.status in ("ok", "dry-run") for r in self.results) and not any(
            r.get("differences") for r in self.reconciliation)

    @property
    def exit_code(self) -> int:
        """The most serious mapping outcome (errors.exit_code_for); 1 when only rows were rejected
        or a reconciliation found differences."""
        code = most_serious([r.exit_code for r in self.results])
        return code if code else (0 if self.ok else 1)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"run_id": self.run_id, "ok": self.ok,
                                "mappings": [r.as_json() for r in self.results]}
        if self.stopped:
            data["stopped"] = True
        if self.reconciliation:
            data["reconciliation"] = self.reconciliation
        return data


def select(loaded: Sequence[LoadedMapping], names: Sequence[str], direction: str | None) -> list[LoadedMapping]:
    by_name = {m.mapping.name: m for m in loaded}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        hint = did_you_mean(unknown[0], by_name)
        raise ConfigError(f"unknown mapping '{unknown[0]}'" + (f" ({hint})" if hint else "")
                          + f"; known: {', '.join(sorted(by_name)) or 'none'}")
    chosen = [by_name[n] for n in names] if names else [m for m in loaded if m.mapping.enabled]
    if direction:
        chosen = [m for m in chosen if m.mapping.direction == direction]
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
            pool: AdapterPool) -> tuple[list[LoadedMapping], Governance]:
    """Load, select, bind to the dictionary and validate mappings (zones included); raise
    MappingError (exit 2) before anything is sent."""
    loaded = load_mappings([project.mappings_dir])
    chosen, gov, problems = govern(project, loaded, select(loaded, options.names, options.direction), pool)
    problems += validate_catalog(chosen, pool)
    if not problems:
        problems = validate_warehouse(chosen, warehouse)
    if problems:
        raise MappingError(problems)
    return order(chosen), gov


def run(project: Project, options: RunOptions, progress: ProgressFactory | None = None) -> RunReport:
    with opened(project) as (warehouse, pool):
        mappings, gov = prepare(project, options, warehouse, pool)
        events = Emitter(project, gov.graph)
        book = Bookkeeping(warehouse)
        run_id: str | None = None
        if not options.dry_run:
            book.ensure()
            if options.sole_writer:
                book.close_dead_runs()
            run_id = book.start_run(options.command, {
                "names": list(options.names), "dry_run": options.dry_run, "full": options.full,
                "full_refresh": options.full_refresh, "direction": options.direction})
        report = RunReport(run_id)
        failed: set[str] = set()
        stop = options.stop or (lambda: False)
        for item in mappings:
            mapping = item.mapping
            if stop():
                report.stopped = True
                break
            blocked = [d for d in mapping.depends_on if d in failed]
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
                result = _promoted_run(warehouse, gov, item, partial(
                    _run_one, warehouse, book, pool, item, run_id or "dry-run", options, progress))
                events.finish(mapping, result)
                if result.status == "failed":
                    failed.add(mapping.name)
            report.results.append(result)
            if run_id is not None:
                book.record_result(run_id, result.as_json())
                for promotion in result.details.get("promotions", []):
                    book.record_promotion(run_id, mapping.name, promotion)
            if result.status == "stopped":
                report.stopped = True
                break
        if not report.stopped:
            report.reconciliation = _reconcile(warehouse, pool, mappings, report, options)
        if run_id is not None:
            book.finish_run(run_id, report.ok, status="stopped" if report.stopped else None)
        return report


def _run_one(warehouse: Warehouse, book: Bookkeeping, pool: AdapterPool, item: LoadedMapping, run_id: str,
             options: RunOptions, progress: ProgressFactory | None) -> MappingResult:
    mapping = item.mapping
    try:
        adapter = pool(mapping.system)
        # The unit kind is static catalog knowledge: no request needed (a rerun must send none).
        remote = next((o for o in adapter.catalog() if o.name == mapping.object), None)
        tick = progress(mapping.name, None) if progress else None
        if mapping.direction == "push":
            assert remote is not None
            return Pusher(warehouse, book, adapter, mapping, remote, run_id, dry_run=options.dry_run,
                          full=options.full, progress=tick, stop=options.stop, probe=options.probe).run()
        return Puller(warehouse, book, adapter, mapping, run_id, full_refresh=options.full_refresh,
                      dry_run=options.dry_run, progress=tick, stop=options.stop).run()
    except MigoSyncError as exc:
        return MappingResult(mapping.name, mapping.system, mapping.direction, status="failed",
                             error=redact(str(exc)), exit_code=exit_code_for(exc))
    except Exception as exc:  # a bug in one mapping's path must not stop the nightly job's others
        log.debug("%s failed", mapping.name, exc_info=True)
        mapped = library_error(mapping.system, exc)
        if mapped is not None:
            return MappingResult(mapping.name, mapping.system, mapping.direction, status="failed",
                                 error=redact(str(mapped)), exit_code=exit_code_for(mapped))
        return MappingResult(mapping.name, mapping.system, mapping.direction, status="failed",
                             error=redact(f"internal error: {type(exc).__name__}: {exc} (run with -v for details)"),
                             exit_code=exit_code_for(exc))


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


def _reconcile(warehouse: Warehouse, pool: AdapterPool, mappings: Sequence[LoadedMapping], report: RunReport,
               options: RunOptions) -> list[dict[str, Any]]:
    """After pushes to a ledger, compare warehouse totals with what the ledger now holds."""
    if options.dry_run:
        return []
    try:
        from migo_sync.ledger.reconcile import reconcile_after_push
    except ImportError:
        return []
    # A push the change probe skipped sent nothing: its ledger was reconciled when it last did.
    pushed_ok = {r.name for r in report.results if r.direction == "push" and r.status in ("ok", "rejected")
                 and not r.details.get("unchanged")}
    out: list[dict[str, Any]] = []
    for item in mappings:
        if item.mapping.name in pushed_ok:
            found = reconcile_after_push(warehouse, pool(item.mapping.system), item.mapping)
            if found is not None:
                out.append(found)
    return out
