"""After a run's journal pushes: each one's reconciliation with its ledger (migo_sync/ledger/reconcile.py).

A push's reconciliation begins when the push ends: what its relation spans and which journals it
names are read then, on the run's connection. With `[run] threads` above 1, the ledger side (the
chart, the ledger lines of those periods) then goes on a thread beside the pulls
(`ReadAhead.beside`), as soon as nothing of its system is under way but reads that may go with it:
the reconciliation's round trips no longer come after every pull. The warehouse totals, the
comparison and the record come at the end of the run, in mapping order, as with one thread. Had
the relation changed meanwhile (a pull of this run writing into what the push reads), the ledger
side read ahead would not be the one to compare with: the whole reconciliation is then made again
there. With one thread, all of it is done at the end, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from migo_sync.engine.readahead import Beside, ReadAhead
from migo_sync.engine.result import MappingResult
from migo_sync.errors import MigoSyncError
from migo_sync.http import REQUEST_STATS
from migo_sync.ledger.port import LedgerPort
from migo_sync.ledger.reconcile import (
    FeedReconciliation,
    begin,
    ledger_of,
    not_reconciled,
    reconcile_after_push,
)
from migo_sync.mapping.loader import LoadedMapping
from migo_sync.mapping.model import Mapping
from migo_sync.warehouse.base import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping


@dataclass
class _Begun:
    feed: FeedReconciliation
    job: Beside
    seconds: float  # the warehouse's half, when the push ended


class Reconciler:
    """The run's reconciliations: `push_ended` after each push, `results` once every mapping ended."""

    def __init__(self, warehouse: Warehouse, book: Bookkeeping, adapter_of: Callable[[str], Any],
                 ahead: ReadAhead | None, *, reconcile: str, full: bool, dry_run: bool) -> None:
        self.warehouse, self.book, self.adapter_of, self.ahead = warehouse, book, adapter_of, ahead
        self.reconcile, self.full, self.dry_run = reconcile, full, dry_run
        self.due: dict[str, _Begun | MigoSyncError | None] = {}  # push -> begun ahead, its error, or at the end

    def push_ended(self, mapping: Mapping, result: MappingResult, stopping: bool = False) -> None:
        """Decide whether this push is reconciled; with a ReadAhead, begin it (the ledger side then
        goes beside the pulls). A push the change probe skipped sent nothing: its ledger was
        reconciled when it last did."""
        if (self.dry_run or mapping.direction != "push" or result.status not in ("ok", "rejected")
                or result.details.get("unchanged")):
            return
        if not self.full and self.reconcile == "changed" and _settled(self.book, result):
            return
        self.due[mapping.name] = None
        if self.ahead is None or stopping:
            return
        adapter = self.adapter_of(mapping.system)
        port = ledger_of(adapter, mapping)
        if port is None:
            return
        started = time.perf_counter()
        try:
            feed = begin(self.warehouse, mapping, port)
        except MigoSyncError as exc:
            self.due[mapping.name] = exc
            return
        job = self.ahead.beside(mapping.name, mapping.system, adapter, feed.read_ledger)
        self.due[mapping.name] = _Begun(feed, job, time.perf_counter() - started)

    def results(self, mappings: Sequence[LoadedMapping]) -> list[dict[str, Any]]:
        """Every due reconciliation, in mapping order, as the run records it."""
        out: list[dict[str, Any]] = []
        for item in mappings:
            mapping = item.mapping
            if mapping.name not in self.due:
                continue
            found = self._one(mapping, self.due[mapping.name])
            if found is not None:
                out.append(found)
        return out

    def _one(self, mapping: Mapping, begun: _Begun | MigoSyncError | None) -> dict[str, Any] | None:
        adapter = self.adapter_of(mapping.system)
        if isinstance(begun, MigoSyncError):
            port = ledger_of(adapter, mapping)
            assert port is not None
            return {**not_reconciled(port, mapping, begun), "seconds": 0.0, "requests": 0}
        if isinstance(begun, _Begun):
            assert self.ahead is not None
            found = self._finish(begun.feed.port, mapping, begun)
            if found is not None:
                return found
        started, before = time.perf_counter(), REQUEST_STATS.get(mapping.system)
        found = reconcile_after_push(self.warehouse, adapter, mapping)
        if found is not None:
            # its calls are part of the run's time: recorded with the reconciliation itself
            found["seconds"] = round(time.perf_counter() - started, 3)
            found["requests"] = REQUEST_STATS.get(mapping.system) - before
        return found

    def _finish(self, port: LedgerPort, mapping: Mapping, begun: _Begun) -> dict[str, Any] | None:
        """The comparison with the ledger side read ahead; None when the relation changed since the
        push ended (then it is made again, whole)."""
        assert self.ahead is not None
        started = time.perf_counter()
        try:
            chosen, theirs = self.ahead.result(begun.job)
            if not begun.feed.unchanged(self.warehouse):
                return None
            found = begun.feed.finish(self.warehouse, chosen, theirs).as_dict()
        except MigoSyncError as exc:  # the run is recorded all the same, as not reconciled
            found = not_reconciled(port, mapping, exc)
        found["seconds"] = round(begun.seconds + begun.job.seconds + time.perf_counter() - started, 3)
        found["requests"] = begun.job.requests
        return found


def _settled(book: Bookkeeping, result: MappingResult) -> bool:
    """A push that found nothing to send (no request, no change, no reject, nothing resumed) after a
    reconciliation in which everything matched: comparing again would read the same ledger entries
    against the same rows (`migo-sync reconcile` compares on demand). Noted in its details."""
    if result.requests or result.rows_changed or result.rows_rejected or result.details.get("in_flight_resumed") \
            or result.details.get("queued_jobs") or result.details.get("invalid"):
        return False
    last = book.last_reconciliation(result.name)
    if last is None or not last[1]:
        return False
    result.details["reconciled"] = f"unchanged since run {last[0]}, whose reconciliation matched"
    return True
