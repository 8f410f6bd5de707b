"""Push: send new and changed warehouse rows to a system, exactly once.

For each batch of units: pre-send checks → intent recorded in the ledger → adapter.write →
per-unit results confirmed (ledger) or rejected (rejects table), in one transaction. A crash
between intent and confirmation leaves `pending` rows; the next run sends those units again with
the same idempotency keys, and the remote refuses the duplicates.

A system that queues writes as remote jobs (the `RemoteJobs` capability: Zendesk bulk jobs) names
each job as soon as it is accepted; its reference is stored with the units' intent. The next run
first reads those jobs (waiting for the ones still running, which hold the remote's job slots),
settles their units from the per-item results, and resends only the units whose job the remote
forgot.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Mapping as KeyMap
from dataclasses import dataclass, field
from typing import Any, overload

import pyarrow as pa

from migo_sync import interrupt
from migo_sync.adapter import (
    Adapter,
    PushUnit,
    RemoteObject,
    Unit,
    UnitResult,
    as_checks_in_flight,
    as_keys_ahead,
    as_remote_jobs,
    as_warm_up,
    chunked,
    idempotency_key,
)
from migo_sync.engine.gcpause import gc_paused, refreeze
from migo_sync.engine.plan import (
    HELD_UNCOMPARED,
    INSERT_ONLY_CHANGED,
    INSERT_ONLY_DELETED,
    LEDGER_DIFFERS,
    PENDING_HELD_DELETED,
    PENDING_UNKNOWN_DELETED,
    REFUSED_DELETED,
    UNIT_ALL,
    PushPlan,
    drop_plan,
    plan_push,
    source_rows,
)
from migo_sync.engine.probe import ChangeProbe, Fingerprint
from migo_sync.engine.result import MappingResult, Reject
from migo_sync.http import REQUEST_STATS
from migo_sync.ledger.port import as_ledger, find_sent_journals, journal_locators
from migo_sync.mapping.model import Mapping
from migo_sync.mapping.transforms import compile_push
from migo_sync.progress import Task
from migo_sync.registry import systems
from migo_sync.warehouse.base import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping
from migo_sync.xmlsafe import unsendable

log = logging.getLogger("migo_sync.engine.push")
# ledger rows staged between remakes of the staging tables (Bookkeeping.release_stages): DuckDB keeps
# what they held until then; 20,000 is one Zendesk feed's intents and confirmations, a few MB
RELEASE_STAGED_ROWS = 20_000
DEFAULT_BATCH_UNITS = {"row": 1000, "group": 500, "object": 1}
SAMPLE_SIZE = 5
ROWS_AT_ONCE = 1000  # rows made Python objects at a time: a feed's first units are sent before the rest are made
Progress = Callable[[int], None]


@dataclass
class _Unit:
    unit: PushUnit
    records: list[dict[str, Any]] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    invalid: list[Reject] = field(default_factory=list)
    whole_invalid: str | None = None
    deleted_row_keys: list[str] = field(default_factory=list)
    refused: list[tuple[str, str, str, str | None]] = field(default_factory=list)  # insert-only, reported once
    hash_of: dict[str, str] = field(default_factory=dict)


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


class Pusher:
    def __init__(self, warehouse: Warehouse, book: Bookkeeping, adapter: Adapter, mapping: Mapping,
                 remote: RemoteObject, run_id: str, *, dry_run: bool = False, full: bool = False,
                 progress: Progress | None = None, stop: Callable[[], bool] | None = None,
                 probe: ChangeProbe | None = None) -> None:
        self.warehouse = warehouse
        self.book = book
        self.adapter = adapter
        self.mapping = mapping
        self.unit: Unit = remote.unit
        self.run_id = run_id
        self.dry_run = dry_run
        self.full = full
        self.progress = progress or (lambda n: None)
        self.stop = stop or (lambda: False)
        self.probe = None if (dry_run or full) else probe
        self.fields = [(f.remote, f.column, compile_push(f)) for f in mapping.fields]
        spec = systems().get(mapping.system)
        self.xml = spec is not None and spec.wire == "xml"
        self.system_batch = spec.push_batch if spec is not None else None
        self.result = MappingResult(mapping.name, mapping.system, "push")
        self.jobs = as_remote_jobs(adapter)
        self.warm = as_warm_up(adapter)
        self.keys_ahead = as_keys_ahead(adapter) if self.warm is not None else None
        self.checks_in_flight = as_checks_in_flight(adapter)  # intents written while the checks wait
        self.refused_earlier: set[str] = set()  # units an earlier run's job refused: rejects, not resent now
        self.feed_noted = dry_run  # the feed is noted once (`_note_feed`)
        # the push's work no send waits for (counting the source's rows): done once its first request is
        # out (after the warm-up, or while a feed's first jobs are), else at its end (`_run_later`)
        self.later: list[Callable[[], None]] = []
        port = as_ledger(adapter) if mapping.mode == "insert" else None
        # journals: each intent keeps how to find the journal in the ledger without its rows
        self.ledger = port if port is not None and port.journal_object == mapping.object else None

    def run(self) -> MappingResult:
        started = time.perf_counter()
        requests_before = REQUEST_STATS.get(self.mapping.system)
        ledger = self.book.table_name("sent")
        if self.dry_run:
            columns = self.warehouse.columns(ledger)
            if columns is None:
                ledger = self.book.empty_ledger_for_dry_run()
            else:  # a ledger older than this version: the columns it lacks read as NULL
                have = {c.name.lower() for c in columns}
                added = "".join(f", CAST(NULL AS VARCHAR) AS {c}" for c in ("refused_hash", "locator") if c not in have)
                if added:
                    ledger = f"(SELECT t.*{added} FROM {ledger} t)"
        if not self.dry_run:
            self._settle_queued_jobs()
        if self.full and not self.dry_run:
            self.book.reset(self.mapping.feed)
        fingerprint = self.probe.fingerprint(self.warehouse, ledger, self.mapping) if self.probe else None
        if self.probe and fingerprint and self.probe.unchanged(self.mapping.name, fingerprint):
            self.result.details["unchanged"] = True  # the probe says the plan would be empty
            self._note_feed()
        else:
            # the source's rows (rows_read) are counted once the first request is out (`_later`)
            plan = plan_push(self.warehouse, ledger, self.mapping, self.unit, full=self.full, count_source=False)
            if isinstance(self.progress, Task):
                self.progress.set_total(plan.rows_to_send)
            try:
                self._execute(plan)
            finally:
                drop_plan(self.warehouse, plan)
            if self.probe and fingerprint:
                self._settle(ledger, fingerprint)
        return self.result.finish(requests=REQUEST_STATS.get(self.mapping.system) - requests_before,
                                  seconds=time.perf_counter() - started, dry_run=self.dry_run)

    def _settle(self, ledger: str, before: Fingerprint) -> None:
        """Remember the fingerprint when the ledger is now exactly in step with the source."""
        assert self.probe is not None
        name = self.mapping.name
        in_step = (self.result.status == "ok" and not self.result.rows_rejected
                   and not self.result.details.get("invalid"))
        if in_step:
            ledger_now = self.probe.ledger_part(self.warehouse, ledger, self.mapping)
            self.probe.settle(name, (*before[: len(before) - len(ledger_now)], *ledger_now))
        else:
            self.probe.forget(name)

    def _settle_queued_jobs(self) -> None:
        """Read the jobs an earlier (killed or abandoned) run queued, before planning: confirmed units
        are sent, refused ones are this run's rejects (retried by the next run, like any reject), and
        only the units whose job the remote forgot stay pending and are sent again by this run."""
        if self.jobs is None:
            return
        feed = self.mapping.feed
        queued = self.book.queued_jobs(feed)
        if not queued:
            return
        answers = {r.key: r for r in self.jobs.settle_jobs(self.mapping, {k: u.job for k, u in queued.items()})}
        confirmed: list[tuple[str, str, str | None]] = []
        refused: list[tuple[str, str, str | None]] = []
        unknown: list[str] = []
        for key, unit in queued.items():
            answer = answers.get(key)
            if answer is None or answer.not_sent:
                unknown.append(key)
            elif answer.ok:
                confirmed.extend((row, key, answer.remote_id) for row in unit.row_keys)
            else:
                reason = answer.reason or "refused in the remote's job"
                refused.extend((row, f"{reason} (job queued by run {unit.run_id})", None) for row in unit.row_keys)
                self.refused_earlier.add(key)
        failed = [row for row, _reason, _payload in refused]
        with self.warehouse.transaction():
            if confirmed:  # the ledger's run_id is the run that learned the outcome: this one
                self.book.confirm(feed, self.run_id, pa.table({
                    "row_key": [c[0] for c in confirmed], "unit_key": [c[1] for c in confirmed],
                    "remote_id": pa.array([c[2] for c in confirmed], pa.string())}))
            if failed:
                self.book.clear_pending(feed, failed)
            if refused:
                self.book.add_rejects(self.run_id, self.mapping.name, refused)
            if unknown:
                self.book.drop_jobs(feed, unknown)
        settled = {"units": len(queued), "rows_confirmed": len(confirmed), "rows_refused": len(failed),
                   "units_unknown": len(unknown)}
        self.result.details["queued_jobs"] = settled
        self.result.rows_rejected += len(refused)
        log.info("%s: %d unit(s) an earlier run queued as jobs: %d row(s) confirmed, %d refused, %d unit(s) "
                 "unknown (sent again)", self.mapping.name, len(queued), len(confirmed), len(failed), len(unknown),
                 extra={"event": "queued_jobs", "mapping": self.mapping.name, **settled})

    # -- plan execution -------------------------------------------------------------------------

    def _execute(self, plan: PushPlan) -> None:
        try:
            self._execute_plan(plan)
        except BaseException:
            if self.later:  # a push that failed or was interrupted half-way still tells what it read
                with contextlib.suppress(Exception):
                    self._run_later()
            raise
        self._run_later()

    def _run_later(self) -> None:
        while self.later:
            self.later.pop(0)()

    def _count_source(self, plan: PushPlan) -> None:
        if plan.total is None:  # not counted by the plan: a query or view costs a scan of its own
            plan.total = source_rows(self.warehouse, self.mapping)
        self.result.rows_read = plan.total

    def _note_feed(self) -> None:
        """Remember which system and object the feed sends to, and which mapping file pushed it (once)."""
        if not self.feed_noted:
            self.feed_noted = True
            source = self.mapping.source_file
            self.book.note_feed(self.mapping.feed, self.mapping.system, self.mapping.object, self.mapping.name,
                                source.name if source is not None else None)

    def _before_units(self, plan: PushPlan) -> None:
        """The ledger's writes before the units are read: insert-only units reported (vanished rows) or
        cleared (back as sent), units in flight whose rows vanished settled."""
        if plan.diverged_table is not None:
            self.result.details["diverged_reported_before"] = plan.diverged_reported
            self._report_vanished(plan)
            if not self.dry_run:
                self.book.clear_refused(self.mapping.feed, plan.diverged_table)
        if plan.pending_vanished:  # (after clear_refused: the diverged units were planned without these)
            self._settle_vanished_pending(plan)

    def _execute_plan(self, plan: PushPlan) -> None:
        mirror = self.mapping.mode == "mirror"
        result = self.result
        # the feed's note (rename detection reads a feed's history from the ledger itself; the note only
        # adds its system, object and file) and the source's count wait for nothing a send needs
        self.later.extend([self._note_feed, lambda: self._count_source(plan)])
        acted_deletes = plan.deleted if (mirror or self.unit != "row") else 0
        result.rows_changed = plan.new + plan.changed + acted_deletes
        result.details.update({"new": plan.new, "changed": plan.changed, "deleted": acted_deletes,
                               "invalid": plan.invalid, "units": plan.units, "in_flight_resumed": plan.in_flight})
        deleted_by_unit: dict[str, list[str]] = {}
        for row_key, unit_key in [*plan.deleted_keys, *plan.pending_gone]:
            deleted_by_unit.setdefault(unit_key, []).append(row_key)
        size = self.mapping.batch_size or self.system_batch or DEFAULT_BATCH_UNITS[self.unit]
        warm = self.warm is not None and not self.dry_run and (plan.rows_to_send > plan.invalid or acted_deletes)
        # Settling units in flight whose rows vanished may ask the remote itself: then every ledger write
        # before the units comes first, as it always did; else they are done while the warm-up's calls are out.
        early = not warm or bool(plan.pending_vanished)
        if early:
            self._before_units(plan)
        if warm:
            assert self.warm is not None
            # something will be sent: the calls its first send needs whatever the units are go out now,
            # while the units are read, checked and their intents written (WarmUp)
            self.warm.warm_up(self.mapping)
            if self.keys_ahead is not None and plan.units <= size:  # one batch: its look-up's keys are all
                self._hand_keys_ahead(plan)
            if not early:
                self._before_units(plan)
            self._run_later()
        units = self._units(plan, deleted_by_unit)
        if mirror and self.unit == "row":
            units = _chain_units(units, self._delete_units(plan))
        elif self.unit == "object" and plan.deleted and plan.units == 0:
            empty = PushUnit(UNIT_ALL, idempotency_key(self.mapping.feed, UNIT_ALL), [], [])
            units = _chain_units(units, iter([_Unit(empty, deleted_row_keys=deleted_by_unit.get(UNIT_ALL, []))]))
        finished = (self._finish(u, plan) for u in units)
        if self.jobs is not None and not self.dry_run:
            self._push_queued(finished, size)
            return
        batches = chunked(finished, size)
        while True:
            with gc_paused():  # a batch's units are read: several acyclic objects a row (engine/gcpause.py)
                batch = next(batches, None)
            if batch is None:
                break
            interrupt.check()  # a stop asked for: nothing new is sent (the batch before finished)
            self._push_batch(batch)
            self.book.release_stages(RELEASE_STAGED_ROWS)
            if self.stop():  # asked to stop: this batch is done and recorded, the rest waits
                result.status = "stopped"
                break

    def _hand_keys_ahead(self, plan: PushPlan) -> None:
        """KeysAhead: the distinct values of the fields the adapter's first look-up needs, read from the
        rows to send (one query) and transformed as the units' records will be, handed over before the
        units are read. A value whose transform fails is left out: its unit is refused when read."""
        assert self.keys_ahead is not None
        wanted = set(self.keys_ahead.keys_ahead(self.mapping))
        values: dict[str, list[Any]] = {}
        q = self.warehouse.quote
        for remote, column, transform in self.fields:
            if remote not in wanted or not column:
                continue
            found = values.setdefault(remote, [])
            for (raw,) in self.warehouse.query(f"SELECT DISTINCT {q(column)} FROM {plan.send_table} "
                                               "WHERE migo_invalid IS NULL"):
                with contextlib.suppress(ValueError, TypeError, ArithmeticError):
                    found.append(transform(raw))
        self.keys_ahead.warm_up_keys(self.mapping, values)

    def _report_vanished(self, plan: PushPlan) -> None:
        """Rows of insert-only units sent before and deleted from the warehouse since: reported
        once each, with the remedy (the remote is never asked to delete a posted journal)."""
        if not plan.vanished_keys:
            return
        rejects = [(row_key, INSERT_ONLY_DELETED, None) for row_key, _unit in plan.vanished_keys]
        self.result.rows_rejected += len(rejects)
        if self.dry_run:
            return
        with self.warehouse.transaction():
            self.book.refuse(self.mapping.feed, self.run_id,
                             [(row_key, unit, REFUSED_DELETED, None) for row_key, unit in plan.vanished_keys])
            # a resend in flight when the row went: nothing left to resend (the remote held it before)
            self.book.clear_pending(self.mapping.feed, [row_key for row_key, _unit in plan.vanished_keys])
            self.book.add_rejects(self.run_id, self.mapping.name, rejects)

    def _settle_vanished_pending(self, plan: PushPlan) -> None:
        """Units whose outcome is unknown (the answer was lost, or the run killed) and whose rows are
        gone from the warehouse since: nothing is left to resend, so the rerun settles them now.

        Insert-only: the ledger is asked (the look-up before posting, by the reference and date kept
        with the intent). A journal it holds is recorded with the ledger's id and reported once, with
        the remedy, like any posted journal deleted from the warehouse; one it does not hold was
        never posted: the intent is dropped. Other modes: the mapping's delete policy applies as to
        a confirmed row gone from the warehouse; the rows left here are those no send of this run
        deletes (an upsert keeps the remote's record), so their intent is dropped.
        """
        feed = self.mapping.feed
        rows = plan.pending_vanished
        if self.mapping.mode != "insert":
            self.result.details["pending_vanished_dropped"] = len(rows)
            log.info("%s: %d row(s) in flight and since deleted from the warehouse: intent dropped (%s mode "
                     "deletes nothing in %s)", self.mapping.name, len(rows), self.mapping.mode, self.mapping.system,
                     extra={"event": "pending_vanished", "mapping": self.mapping.name, "dropped": len(rows)})
            if not self.dry_run:
                with self.warehouse.transaction():
                    self.book.forget(feed, [r[0] for r in rows if not r[4]])
                    self.book.clear_pending(feed, [r[0] for r in rows if r[4]])
            return
        units: dict[str, tuple[str, str | None, list[str]]] = {}
        for row_key, unit_key, idem, locator, _confirmed in rows:
            known = units.setdefault(unit_key, (idem, locator, []))
            if known[1] is None and locator is not None:
                known = units[unit_key] = (idem, locator, known[2])
            known[2].append(row_key)
        askable = [(k, idem, loc) for k, (idem, loc, _rows) in units.items() if loc is not None]
        held = find_sent_journals(self.ledger, askable) if self.ledger is not None and askable else {}
        settled: list[tuple[str, str, str, str | None]] = []
        rejects: list[tuple[str, str, str | None]] = []
        dropped: list[str] = []
        for unit_key, (_idem, locator, row_keys) in units.items():
            if unit_key in held:
                reason = PENDING_HELD_DELETED.format(remote_id=held[unit_key])
            elif self.ledger is None or locator is None:
                reason = PENDING_UNKNOWN_DELETED.format(system=self.mapping.system)
            else:
                dropped.extend(row_keys)
                continue
            settled.extend((row_key, unit_key, REFUSED_DELETED, held.get(unit_key)) for row_key in row_keys)
            rejects.extend((row_key, reason, None) for row_key in row_keys)
        counts = {"units": len(units), "held": len({s[1] for s in settled if s[3] is not None}),
                  "unknown": len({s[1] for s in settled if s[3] is None}),
                  "dropped": len(units) - len({s[1] for s in settled})}
        self.result.details["pending_vanished"] = counts
        self.result.rows_rejected += len(rejects)
        log.info("%s: %d unit(s) in flight and since deleted from the warehouse: %d held by %s (reported), "
                 "%d never posted (intent dropped), %d that cannot be asked (reported)", self.mapping.name,
                 counts["units"], counts["held"], self.mapping.system, counts["dropped"], counts["unknown"],
                 extra={"event": "pending_vanished", "mapping": self.mapping.name, **counts})
        if self.dry_run:
            if rejects:
                sample = self.result.details.setdefault("invalid_sample", [])
                sample.extend({"key": key, "reason": reason} for key, reason, _ in rejects[: SAMPLE_SIZE])
            return
        with self.warehouse.transaction():
            # settled as held (or possibly held), its rows gone: reported once, like a posted journal
            # deleted from the warehouse, and asked again should its rows come back
            self.book.refuse(feed, self.run_id, settled, held_as=HELD_UNCOMPARED)
            self.book.forget(feed, dropped)  # never posted: the intent goes, nothing was sent
            if rejects:
                self.book.add_rejects(self.run_id, self.mapping.name, rejects)

    def _rows(self, plan: PushPlan, where: str = "") -> Iterator[dict[str, Any]]:
        sql = f"SELECT * FROM {plan.send_table} {where} ORDER BY {self._order_sql()}"
        for record_batch in self.warehouse.iter_batches(sql, batch_size=5000):
            for start in range(0, record_batch.num_rows, ROWS_AT_ONCE):  # the first units go before all are Python
                yield from record_batch.slice(start, ROWS_AT_ONCE).to_pylist()

    def _order_sql(self) -> str:
        """Units together, rows by key; a whole object in the order its adapter asks for."""
        if self.unit != "object":
            return "migo_unit_key, migo_row_key"
        q = self.warehouse.quote
        columns = {f.remote: f.column for f in self.mapping.fields if f.column}
        terms = [f"{q(columns[remote])} {'DESC' if desc else 'ASC'} NULLS LAST"
                 for remote, desc in self.adapter.push_order(self.mapping) if remote in columns]
        return ", ".join([*terms, "migo_row_key"])

    def _record(self, row: dict[str, Any]) -> dict[str, Any]:
        return {remote: fn(row.get(column) if column else None) for remote, column, fn in self.fields}

    def _unsendable(self, record: dict[str, Any]) -> str | None:
        """Why a record's text cannot travel in the system's wire format, naming the field. One
        search over the record's texts joined first (it is hot: every row): the characters refused
        are single code points, so the joined text holds one exactly when some field does."""
        if unsendable("".join([v for v in record.values() if isinstance(v, str)]), xml=self.xml) is None:
            return None
        for remote, value in record.items():
            if isinstance(value, str):
                problem = unsendable(value, xml=self.xml)
                if problem is not None:
                    return f"{remote}: {problem}"
        return None

    def _units(self, plan: PushPlan, deleted_by_unit: dict[str, list[str]]) -> Iterator[_Unit]:
        current: _Unit | None = None
        feed = self.mapping.feed
        for row in self._rows(plan):
            unit_key = str(row["migo_unit_key"])
            if unit_key in self.refused_earlier:
                continue  # refused in an earlier run's job, learned just now: a reject of this run
            if current is None or current.unit.key != unit_key:
                if current is not None:
                    yield current
                # --full resends units the remote may hold already: flagged like a pending one
                current = _Unit(PushUnit(unit_key, idempotency_key(feed, unit_key), [], [], resend=self.full),
                                deleted_row_keys=deleted_by_unit.get(unit_key, []))
            row_key = str(row["migo_row_key"])
            if row.get("migo_pending"):
                current.unit.resend = True
            invalid = row.get("migo_invalid")
            row_hash = current.hash_of[row_key] = str(row["migo_row_hash"])
            if invalid == INSERT_ONLY_CHANGED:
                current.refused.append((row_key, unit_key, row_hash, None))
            if invalid:
                current.invalid.append(Reject(row_key, str(invalid), _payload(row)))
                if self.unit == "group":
                    current.whole_invalid = f"line {row_key}: {invalid}"
                continue
            try:
                record = self._record(row)
            except (ValueError, TypeError, ArithmeticError) as exc:
                current.invalid.append(Reject(row_key, f"transform failed: {exc}", _payload(row)))
                if self.unit == "group":
                    current.whole_invalid = f"line {row_key}: transform failed: {exc}"
                continue
            problem = self._unsendable(record)
            if problem is not None:  # refused here, per unit: the other units still go
                current.invalid.append(Reject(row_key, problem, _payload(row)))
                if self.unit == "group":
                    current.whole_invalid = f"line {row_key}: {problem}"
                continue
            if self.unit != "object":  # a whole object is streamed again when sent (below)
                current.records.append(record)
            current.unit.row_keys.append(row_key)
            current.hashes.append(row_hash)
        if current is not None:
            yield current

    def _finish(self, item: _Unit, plan: PushPlan) -> _Unit:
        """Give the unit its records: the list built while reading, or a stream for a whole object."""
        if self.unit == "object" and not item.unit.delete:
            item.unit.records = _Stream(self, plan, len(item.unit.row_keys),
                                        {r.row_key for r in item.invalid})
        else:
            item.unit.records = item.records
        return item

    def _delete_units(self, plan: PushPlan) -> Iterator[_Unit]:
        for row_key, _unit_key in plan.deleted_keys:
            unit = PushUnit(row_key, idempotency_key(self.mapping.feed, row_key), [], [row_key], delete=True)
            yield _Unit(unit, deleted_row_keys=[row_key])

    def _tick(self, batch: list[_Unit]) -> None:
        """Progress for a finished batch: its rows, less those a streaming object already showed."""
        shown = sum(i.unit.records.ticked for i in batch if isinstance(i.unit.records, _Stream))
        self.progress(sum(len(i.unit.row_keys) + len(i.invalid) for i in batch) - shown)

    def _push_queued(self, units: Iterator[_Unit], size: int) -> None:
        """Batches of a `RemoteJobs` adapter: each handed over as a feed it takes from as its jobs go
        out, so the first jobs leave while later units are read (and their intents written)."""
        while True:
            interrupt.check()  # a stop asked for: nothing new is sent (the batch before finished)
            first = next(units, None)
            if first is None:
                return
            feed = _Feed(self, itertools.chain([first], units), size)
            del first  # the feed holds it, until it is settled
            assert self.jobs is not None
            results = self.jobs.write_queued(self.mapping, feed, self._jobs_queued)
            # units the adapter did not take (it stopped: interrupted) were not read: planned again next run;
            # units whose results it handed over early (`_Feed.settled`) are recorded, and gone from the feed
            self._settle_batch(feed.items, feed.sent, {r.key: r for r in results}, feed.rejects)
            self.book.release_stages(RELEASE_STAGED_ROWS)
            if feed.ended:
                return
            if self.stop():  # asked to stop: this batch is done and recorded, the rest waits
                self.result.status = "stopped"
                return

    def _screen(self, batch: list[_Unit], meanwhile: Callable[[list[_Unit]], None] | None = None,
                ) -> tuple[list[Reject], list[_Unit]]:
        """A batch's rejects so far (invalid rows, units the adapter's checks refuse) and its sendable
        units. `meanwhile(candidates)` runs while checks that wait on the remote do (`ChecksInFlight`),
        else before them."""
        rejects: list[Reject] = []
        candidates: list[_Unit] = []
        for item in batch:
            rejects.extend(item.invalid)
            if item.whole_invalid is not None:
                rejects.extend(Reject(k, f"not sent: {item.unit.key} has an invalid {item.whole_invalid}")
                               for k in item.unit.row_keys)
                continue
            if item.unit.records or item.unit.delete or self.unit == "object":
                candidates.append(item)
        if meanwhile is None or not candidates:
            reasons = self.adapter.check(self.mapping, [c.unit for c in candidates]) if candidates else {}
        elif self.checks_in_flight is not None:
            reasons = self.checks_in_flight.check_meanwhile(self.mapping, [c.unit for c in candidates],
                                                            lambda: meanwhile(candidates))
        else:
            meanwhile(candidates)
            reasons = self.adapter.check(self.mapping, [c.unit for c in candidates])
        sendable: list[_Unit] = []
        for item in candidates:
            reason = reasons.get(item.unit.key)
            if reason is not None:
                rejects.extend(Reject(k, reason, json.dumps(r, default=str))
                               for k, r in zip(item.unit.row_keys, item.unit.records or [{}], strict=False))
            else:
                sendable.append(item)
        return rejects, sendable

    def _intent(self, sendable: list[_Unit]) -> None:
        """The units' intent, recorded and committed before any of them is sent."""
        locators = (journal_locators(self.ledger, self.mapping, [i.unit for i in sendable])
                    if self.ledger is not None else None)
        self.book.record_intent(self.mapping.feed, self.run_id, _intent_table(sendable, locators))

    def _push_batch(self, batch: list[_Unit]) -> None:
        result = self.result
        if self.dry_run or self.checks_in_flight is None:
            rejects, sendable = self._screen(batch)
            early: list[_Unit] = []
        else:
            rejects, sendable, early = self._screen_intending(batch)
        if self.dry_run:
            result.rows_rejected += len(rejects)
            result.details["would_send"] = result.details.get("would_send", 0) + sum(
                len(i.unit.records) for i in sendable)
            for item in sendable:
                for record in item.unit.records:
                    if len(result.sample) >= SAMPLE_SIZE:
                        break
                    result.sample.append({k: _jsonable(v) for k, v in record.items()})
            if rejects:
                result.details.setdefault("invalid_sample", [])
                for r in rejects[: SAMPLE_SIZE]:
                    result.details["invalid_sample"].append({"key": r.row_key, "reason": r.reason})
            self._tick(batch)
            return
        by_key: dict[str, UnitResult] = {}
        if sendable:
            ready = {id(i) for i in early}
            self._intent([i for i in sendable if id(i) not in ready])
            by_key = {r.key: r for r in self.adapter.write(self.mapping, [i.unit for i in sendable])}
        sending = {id(i) for i in sendable}
        refused = [k for i in early if id(i) not in sending for k in i.unit.row_keys]
        self._settle_batch(batch, sendable, by_key, rejects, refused)

    def _screen_intending(self, batch: list[_Unit]) -> tuple[list[Reject], list[_Unit], list[_Unit]]:
        """`_screen`, committing the intents of the units that have none while the checks wait on the
        remote (`ChecksInFlight`): the intent still precedes any send, and a unit the checks then
        refuse has it dropped with the batch's outcome (nothing of it was sent). A unit with an intent
        already (an earlier run's, outcome unknown, or `--full`) gets its new one only once its checks
        pass, as before: a refusal never erases what an earlier run may have sent."""
        early: list[_Unit] = []

        def intend(candidates: list[_Unit]) -> None:
            early.extend(i for i in candidates if not i.unit.resend)
            if early:
                self._intent(early)

        try:
            rejects, sendable = self._screen(batch, intend)
        except Exception:
            if early:  # the checks failed: nothing was sent, the intents go (the checks' error is the one told)
                with contextlib.suppress(Exception):
                    self.book.clear_pending(self.mapping.feed, [k for i in early for k in i.unit.row_keys])
            raise
        return rejects, sendable, early

    def _settle_batch(self, batch: list[_Unit], sendable: list[_Unit], by_key: dict[str, UnitResult],
                      rejects: list[Reject], unsent: Sequence[str] = ()) -> None:
        """The batch's outcome in one transaction: sent units confirmed, refused ones rejected, the
        intent of units that never left (`unsent`: rows whose intent the checks' refusal voids) dropped."""
        result = self.result
        confirmed: list[tuple[str, str, str | None]] = []
        refused = [r for item in batch for r in item.refused]
        held: list[tuple[str, str, str, str | None]] = []
        failed_keys: list[str] = list(unsent)
        forget: list[str] = []
        for item in sendable:
            answer = by_key.get(item.unit.key)
            if answer is not None and answer.not_sent:
                failed_keys.extend(item.unit.row_keys)  # never left: drop the intent, send it next run
                result.details["not_sent"] = result.details.get("not_sent", 0) + len(item.unit.row_keys)
                continue
            if answer is not None and answer.ok:
                confirmed.extend((k, item.unit.key, answer.remote_id) for k in item.unit.row_keys)
                forget.extend(item.deleted_row_keys)
                result.rows_written += len(item.unit.row_keys) if not item.unit.delete else len(item.deleted_row_keys)
            else:
                reason = answer.reason if answer is not None and answer.reason else "the remote returned no result"
                if answer is not None and answer.held_differs:  # settled: the remote holds other values
                    held.extend((k, item.unit.key, item.hash_of[k], answer.remote_id) for k in item.unit.row_keys)
                    # its lines in flight and gone from the warehouse since: reported with it, once
                    held.extend((k, item.unit.key, REFUSED_DELETED, answer.remote_id) for k in item.deleted_row_keys)
                else:
                    failed_keys.extend(item.unit.row_keys)
                rejects.extend(Reject(k, reason) for k in item.unit.row_keys)
                if not item.unit.row_keys:
                    rejects.append(Reject(item.unit.key, reason))
        with self.warehouse.transaction():
            if confirmed:
                self.book.confirm(self.mapping.feed, self.run_id, pa.table({
                    "row_key": [c[0] for c in confirmed], "unit_key": [c[1] for c in confirmed],
                    "remote_id": pa.array([c[2] for c in confirmed], pa.string())}))
            if failed_keys:
                self.book.clear_pending(self.mapping.feed, failed_keys)
            if refused:
                self.book.refuse(self.mapping.feed, self.run_id, refused)
            if held:
                self.book.refuse(self.mapping.feed, self.run_id, held, held_as=LEDGER_DIFFERS)
            if forget:
                self.book.forget(self.mapping.feed, forget)
            if rejects:
                self.book.add_rejects(self.run_id, self.mapping.name,
                                      [(r.row_key, r.reason, r.payload) for r in rejects])
        result.rows_rejected += len(rejects)
        written = len(confirmed)
        log.debug("%s batch: %d unit(s) sent, %d row(s) confirmed, %d rejected", self.mapping.name, len(sendable),
                  written, len(rejects), extra={"event": "batch", "mapping": self.mapping.name,
                                                "units_sent": len(sendable), "rows_confirmed": written,
                                                "rows_rejected": len(rejects)})
        self._tick(batch)

    def _jobs_queued(self, refs: KeyMap[str, str]) -> None:
        self.book.record_jobs(self.mapping.feed, refs)


class _Feed:
    """One batch of a `RemoteJobs` push, read as the adapter takes it (`UnitFeed`): each `take` reads
    units until it has `count` sendable ones (or the batch ends), screens them and commits their
    intent before handing them over. Reading pauses the cyclic collector, as a whole batch's does."""

    def __init__(self, pusher: Pusher, units: Iterator[_Unit], limit: int) -> None:
        self.pusher = pusher
        self.units = units
        self.left = limit  # units this batch may still read
        self.ended = False  # the push has no more units
        self.items: list[_Unit] = []  # the units read in this batch, less those settled early (`settled`)
        self.sent: list[_Unit] = []  # handed over, intent committed, not yet settled
        self.rejects: list[Reject] = []
        self.handed = False  # some units were handed over (their jobs are out)

    def _read(self, count: int) -> list[_Unit]:
        asked = min(count, self.left)
        with gc_paused():  # a chunk's units are read: several acyclic objects a row (engine/gcpause.py)
            chunk = list(itertools.islice(self.units, asked))
            # held until their jobs' results are recorded (waves later): they join the run's frozen heap, so
            # the collections meanwhile walk none of them (refcounts still free them once settled)
            refreeze()
        self.left -= len(chunk)
        self.ended = len(chunk) < asked
        self.items.extend(chunk)
        return chunk

    def take(self, count: int) -> list[PushUnit]:
        if self.handed:  # units handed over before are out as jobs: the push's deferred work goes now
            self.pusher._run_later()
        while self.left > 0 and not self.ended:
            rejects, sendable = self.pusher._screen(self._read(count))
            self.rejects.extend(rejects)
            if sendable:
                self.pusher._intent(sendable)
                self.sent.extend(sendable)
                self.handed = True
                return [i.unit for i in sendable]
        return []

    def settled(self, results: KeyMap[str, UnitResult]) -> None:
        """Results the adapter knows before the batch ends (a finished wave of jobs), recorded now in a
        transaction of their own (confirmed, or rejected), while its later jobs are in flight; the
        batch's end records the rest (and this batch's rows refused before sending)."""
        done = [i for i in self.sent if i.unit.key in results]
        if done:
            self.pusher._settle_batch(done, done, dict(results), [])
            # recorded: out of the feed, so their rows are freed now, while later jobs are in flight, and
            # not all at once after the last answer (memory holds the waves in flight, not the batch)
            gone = {id(i) for i in done}  # (`done` keeps them alive: no id is reused meanwhile)
            self.sent = [i for i in self.sent if id(i) not in gone]
            self.items = [i for i in self.items if id(i) not in gone]


STREAM_TICK = 1000  # rows of a whole object between progress ticks while it streams


class _Stream(Sequence[dict[str, Any]]):
    """A whole object's records, read from the push's send table on every iteration (in the
    adapter's order), transformed on the way: memory stays flat as the object grows."""

    def __init__(self, pusher: Pusher, plan: PushPlan, count: int, skip: set[str]) -> None:
        self.pusher = pusher
        self.plan = plan
        self.size = count
        self.skip = skip
        self.ticked = 0  # rows already shown as progress (a stream may be read more than once)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        done = 0
        for row in self.pusher._rows(self.plan, "WHERE migo_invalid IS NULL"):
            if str(row["migo_row_key"]) not in self.skip:
                yield self.pusher._record(row)
                done += 1
                if done - self.ticked >= STREAM_TICK:  # a whole tab moves while it is sent
                    self.pusher.progress(done - self.ticked)
                    self.ticked = done

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        return list(self)[index]  # rare (adapters iterate); correct, not fast


def _payload(row: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in row.items() if not k.startswith("migo_")}, default=str)


def _intent_table(units: list[_Unit], locators: list[str | None] | None = None) -> pa.Table:
    row_keys: list[str] = []
    hashes: list[str | None] = []
    unit_keys: list[str] = []
    idem: list[str] = []
    located: list[str | None] = []
    for n, item in enumerate(units):
        keys = item.unit.row_keys if not item.unit.delete else []
        row_keys.extend(keys)
        hashes.extend(item.hashes)
        unit_keys.extend([item.unit.key] * len(keys))
        idem.extend([item.unit.idempotency_key] * len(keys))
        located.extend([locators[n] if locators is not None else None] * len(keys))
    return pa.table({"row_key": pa.array(row_keys, pa.string()), "row_hash": pa.array(hashes, pa.string()),
                     "unit_key": pa.array(unit_keys, pa.string()), "idempotency_key": pa.array(idem, pa.string()),
                     "locator": pa.array(located, pa.string())})


def _chain_units(*iterators: Iterator[_Unit]) -> Iterator[_Unit]:
    for iterator in iterators:
        yield from iterator
