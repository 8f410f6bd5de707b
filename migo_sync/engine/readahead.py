"""Pulls of several systems read their remotes at once, ahead of their turn (`[run] threads`).

A run waits on remotes far more than it works: at a real tenant's latency most of a pull is
round trips. With `threads = N`, up to N systems talk to their remotes at once: the engine's own
turn, and pulls of other systems reading their remotes on their own threads while the engine
works through the mappings in the usual order. Everything else stays as with one
thread: each pull's batches are loaded, its cursor committed, its result recorded and printed by
the engine, one mapping after another, on the run's one warehouse connection — so the order of
output, the sent ledger, cursors, run evidence and signals are exactly those of a sequential run,
and DuckDB and Snowflake see no concurrent writer. Only the remote reads overlap.

A pull reads ahead when nothing orders it after unfinished work:
  - every mapping it depends on (`depends_on`) has ended, and none of them failed (the engine
    would skip it);
  - every mapping of its own system earlier in the run's order has ended or finished reading (an
    adapter is used by one thread at a time, so a system's own calls stay in its order and
    within its limits; the request count of each mapping stays exact) — or, for a system whose
    adapter declares `SharedPulls` (Adaptive, Intacct), is itself reading ahead: then up to its
    `pulls_at_once()` pulls read together (Adaptive's exportAccounts ∥ exportVersions ∥ exportData),
    its client keeps every call within the API's in-flight cap, reference reads are made once, and
    each read counts its own requests (`RequestStats.tallied`);
  - its system already talks to its remote, or fewer than N systems do (those with a read under
    way, and the system of the engine's own turn; a system counts once however many of its own
    pulls read together).
Its cursor is the one committed before the run (only the pull itself moves it). What it read
waits in a bounded queue (memory stays bounded: a reader blocks when its queue is full); a read
that fails is the pull's failure when its turn comes, as if it had read then. When the run stops
early (a signal, a watch stop, a failure), reads not yet taken are abandoned: nothing of them was
loaded, so the next run reads them again from the committed cursor and no row is lost.

The engine takes the mappings in the run's order, but while the pull whose turn it is waits on its
remote (its read under way, nothing of it queued yet), a later pull whose reader has asked its remote
everything (all of it queued but the end, so loading it waits on no remote) is loaded first (`next_turn`): only pulls are passed over
(a push may read what a pull writes; it is never moved), never one writing the same table. A pull so
loaded is recorded when it lands (its cursor committed with its rows, as ever); the run's report and
`--json` list the mappings in the run's order.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from migo_sync import interrupt
from migo_sync.adapter import Adapter, as_shared_pulls
from migo_sync.http import REQUEST_STATS, Tally
from migo_sync.mapping.loader import LoadedMapping
from migo_sync.mapping.model import Mapping

log = logging.getLogger("migo_sync.engine.readahead")
Reader = Callable[[Adapter, Mapping, "dict[str, Any] | None"], Iterator[Any]]
QUEUE_BATCHES = 2          # batches a reader may hold ahead of the engine
JOIN_SECONDS = 5.0         # how long closing waits for readers in the middle of a call
WAKE_SECONDS = 0.1         # how often the engine waiting for a turn looks whether a signal came


@dataclass
class _End:
    error: BaseException | None = None


@dataclass
class Read:
    """One pull's read, started ahead of its turn; the engine takes its batches in order."""

    name: str
    system: str
    state: dict[str, Any] | None
    batches_queue: queue.Queue[Any] = field(default_factory=lambda: queue.Queue(QUEUE_BATCHES))
    cancelled: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    fetched: threading.Event = field(default_factory=threading.Event)  # nothing more to ask: all queued but the end
    requests: int = 0
    before: int = 0
    tally: Tally | None = None  # a read beside others of its system counts its own requests
    started: float = 0.0
    seconds: float = 0.0  # how long the reader took, from its start to its last batch

    def batches(self) -> Iterator[Any]:
        """The pages as the adapter yielded them (records or Arrow); the reader's error is raised where it stood."""
        while True:
            item = self.batches_queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item

    def sent(self) -> int:
        """Requests this read sent (its system sends no other while it reads)."""
        if self.ended.is_set():
            return self.requests
        return self.tally.count if self.tally is not None else REQUEST_STATS.get(self.system) - self.before

    def put(self, item: Any) -> bool:
        """Queue one item, unless the read was cancelled meanwhile (False)."""
        while not self.cancelled.is_set():
            try:
                self.batches_queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False


@dataclass
class Beside:
    """A remote read of the run that is no pull (a push's reconciliation: its ledger side), on a thread
    beside the run's other work; its answer (or error) in `future`."""

    name: str
    system: str
    call: Callable[[], Any]
    state: str = "waiting"  # waiting | running | done
    future: Future[Any] = field(default_factory=Future)
    requests: int = 0
    seconds: float = 0.0


class ReadAhead:
    """The reads ahead of one run. Reads start from `fill()`, called by the engine when a mapping
    ends and by a reader when it finishes; `take()` hands a started read to the engine."""

    def __init__(self, mappings: Sequence[LoadedMapping], adapter_of: Callable[[str], Adapter],
                 cursors: dict[str, dict[str, Any] | None], threads: int, skip_systems: set[str],
                 reader: Reader) -> None:
        self.order = [m.mapping for m in mappings]
        self.reader = reader  # how a pull reads its pages (pull.read_pages: Arrow where the adapter can)
        self.cursors = cursors
        self.limit = max(1, threads)  # systems talking to their remotes at once, the engine's turn included
        self.skip_systems = set(skip_systems)
        self.adapters: dict[str, Adapter] = {}
        self.shared: dict[str, int] = {}  # system -> how many of its pulls may read together (SharedPulls)
        for system in dict.fromkeys(m.system for m in self.order if m.direction == "pull"):
            if system in self.skip_systems:
                continue
            try:  # opened here, on the engine's thread; one that cannot open fails on the engine's turn
                self.adapters[system] = adapter_of(system)
            except Exception:
                log.debug("%s: not read ahead (its adapter did not open)", system, exc_info=True)
                self.skip_systems.add(system)
                continue
            shared = as_shared_pulls(self.adapters[system])
            if shared is not None and shared.pulls_at_once() > 1:
                self.shared[system] = shared.pulls_at_once()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # notified as a reader queues a batch or ends
        self.ended: dict[str, bool] = {}  # mapping name -> ended ok (engine side)
        self.reads: dict[str, Read] = {}
        self.claimed: set[str] = set()  # pulls the engine reads itself: never started here
        self.besides: list[Beside] = []
        self.threads: list[threading.Thread] = []
        self.closed = False

    # -- the engine's side ----------------------------------------------------------------------

    def mapping_ended(self, name: str, ok: bool) -> None:
        with self.lock:
            self.ended[name] = ok
        self.fill()

    def take(self, name: str) -> Read | None:
        """The read started for this mapping; None: the engine runs it itself (and no read starts)."""
        with self.lock:
            read = self.reads.get(name)
            if read is None:
                self.claimed.add(name)
            return read

    def next_turn(self, pending: Sequence[Mapping]) -> int:
        """Which of `pending` (the mappings not yet run, in the run's order) the engine runs next: the
        first, unless it is a pull whose read is under way with nothing queued yet; then the first later
        pull whose reader has asked its remote everything (`fetched`), passing over pulls only and none writing its table (module
        docstring). Waits, woken by every batch a reader queues, until one of them can go; a signal, or
        the reads closing, ends the wait with the first."""
        if len(pending) < 2 or pending[0].direction != "pull":
            return 0
        with self.changed:
            while True:
                first = self.reads.get(pending[0].name)
                if (first is None or first.fetched.is_set() or not first.batches_queue.empty() or self.closed
                        or interrupt.requested() is not None):
                    return 0
                tables = {pending[0].warehouse.table}
                for index, mapping in enumerate(pending[1:], 1):
                    if mapping.direction != "pull":
                        break
                    read = self.reads.get(mapping.name)
                    if read is not None and read.fetched.is_set() and mapping.warehouse.table not in tables:
                        return index
                    tables.add(mapping.warehouse.table)
                self.changed.wait(WAKE_SECONDS)

    def beside(self, name: str, system: str, adapter: Adapter, call: Callable[[], Any]) -> Beside:
        """`call` (remote reads of `system` only, nothing written) to run once nothing of `system` is
        under way but reads that may go with it — every mapping of that system ended or finished
        reading (or, for SharedPulls, reading together within its `pulls_at_once()`) — and within
        the systems' limit. It starts from the next `fill()`; `result()` takes its answer."""
        job = Beside(name, system, call)
        with self.lock:
            if system not in self.shared:
                shared = as_shared_pulls(adapter)
                if shared is not None and shared.pulls_at_once() > 1:
                    self.shared[system] = shared.pulls_at_once()
            self.besides.append(job)
        return job

    def result(self, job: Beside) -> Any:
        """The answer of `job`: waited for when it is under way, run here and now when it never started."""
        with self.lock:
            here = job.state == "waiting"
            if here:
                job.state = "running"
        if here:
            self._beside(job)
        return job.future.result()

    def close(self) -> None:
        """Abandon every read not taken to its end, and wait for the readers (bounded)."""
        with self.lock:
            self.closed = True
            reads = list(self.reads.values())
        for read in reads:
            read.cancelled.set()
        deadline = time.monotonic() + JOIN_SECONDS
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("a read ahead (%s) is still waiting on its remote; left to finish on its own", thread.name)

    # -- scheduling -----------------------------------------------------------------------------

    def fill(self) -> None:
        """Start every read nothing orders after unfinished work (module docstring), within the limit."""
        with self.lock:
            if self.closed:
                return
            # the systems talking to their remotes: those with a read under way, and the system of
            # the engine's own turn (the first mapping not ended) unless that turn is read here; a
            # system counts once however many of its own pulls read together (SharedPulls)
            talking = {r.system for r in self.reads.values() if not r.ended.is_set()}
            turn = next((m for m in self.order if m.name not in self.ended), None)
            if turn is not None and turn.name not in self.reads and turn.system not in self.skip_systems:
                talking.add(turn.system)
            for index, mapping in enumerate(self.order):
                # the engine reads its own turn itself, unless its system's pulls read together
                # (then its read goes beside theirs)
                if turn is not None and mapping.name == turn.name and mapping.system not in self.shared:
                    continue
                if mapping.system not in talking and len(talking) >= self.limit:
                    continue
                if not self._ready(index):
                    continue
                read = Read(mapping.name, mapping.system, self.cursors.get(mapping.name))
                read.before = REQUEST_STATS.get(mapping.system)
                self.reads[mapping.name] = read
                thread = threading.Thread(target=self._read, args=(read, self.adapters[mapping.system], mapping),
                                          name=f"migo-read-ahead-{mapping.name}", daemon=True)
                self.threads.append(thread)
                talking.add(mapping.system)
                thread.start()
            for job in self.besides:
                if job.state != "waiting" or not self._may_go(job.system, self.order):
                    continue
                if job.system not in talking and len(talking) >= self.limit:
                    continue
                job.state = "running"
                talking.add(job.system)
                thread = threading.Thread(target=self._beside, args=(job,), name=f"migo-beside-{job.name}",
                                          daemon=True)
                self.threads.append(thread)
                thread.start()

    def _ready(self, index: int) -> bool:
        mapping = self.order[index]
        if (mapping.direction != "pull" or mapping.system in self.skip_systems or mapping.name in self.reads
                or mapping.name in self.claimed or mapping.name in self.ended):
            return False
        names = {m.name for m in self.order}
        if any(self.ended.get(dep) is not True for dep in mapping.depends_on if dep in names):
            return False
        return self._may_go(mapping.system, self.order[:index])

    def _may_go(self, system: str, before: Sequence[Mapping]) -> bool:
        """Whether one more read of `system` may go now: every one of `before` of that system ended
        or finished reading (or, for SharedPulls, is reading), and its reads under way leave room."""
        together = self.shared.get(system, 1)
        for earlier in before:
            if earlier.system != system or earlier.name in self.ended:
                continue
            read = self.reads.get(earlier.name)
            if read is None or (together == 1 and not read.ended.is_set()):
                return False
        return self._under_way(system) < together

    def _under_way(self, system: str) -> int:
        """Reads of `system` not ended, and its remote reads beside them still running."""
        return (sum(1 for r in self.reads.values() if r.system == system and not r.ended.is_set())
                + sum(1 for job in self.besides if job.system == system and job.state == "running"))

    def _beside(self, job: Beside) -> None:
        """Run `job` on this thread; its requests are its own: counted in its context beside reads of
        its system (SharedPulls), else by its system's count, which nothing else moves meanwhile."""
        started, before = time.perf_counter(), REQUEST_STATS.get(job.system)
        value: Any = None
        error: BaseException | None = None
        with REQUEST_STATS.tallied() as tally:
            try:
                value = job.call()
            except BaseException as exc:  # handed to the engine, where it takes the answer
                error = exc
        job.requests = tally.count if job.system in self.shared else REQUEST_STATS.get(job.system) - before
        job.seconds = time.perf_counter() - started
        with self.lock:
            job.state = "done"
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(value)
        self.fill()

    def _read(self, read: Read, adapter: Adapter, mapping: Any) -> None:
        if mapping.system not in self.shared:
            self._read_alone(read, adapter, mapping)
            return
        with REQUEST_STATS.tallied() as tally:  # beside other reads of its system: its own requests
            read.tally = tally
            self._read_alone(read, adapter, mapping)

    def _read_alone(self, read: Read, adapter: Adapter, mapping: Any) -> None:
        read.started = time.perf_counter()
        end = _End()
        batches: Iterator[Any] | None = None
        try:
            batches = iter(self.reader(adapter, mapping, read.state))
            for batch in batches:
                signum = interrupt.requested()
                if signum is not None:  # a signal: read nothing more; the engine ends the pull there
                    raise interrupt.Interrupted(signum)
                if not read.put(batch):
                    break
                self._wake()
        except BaseException as exc:  # handed to the engine: the pull's failure when its turn comes
            end = _End(exc)
        finally:
            if batches is not None and hasattr(batches, "close"):
                try:
                    batches.close()  # the adapter's own cleanup (its pools, its read-ahead thread)
                except Exception:
                    log.debug("closing the read of %s failed", mapping.name, exc_info=True)
            read.requests = read.tally.count if read.tally is not None else REQUEST_STATS.get(mapping.system) - read.before
            read.seconds = time.perf_counter() - read.started
            read.fetched.set()
            self._wake()
            read.put(end)
            read.ended.set()
        self.fill()

    def _wake(self) -> None:
        """Tell the engine waiting for a turn (`next_turn`) that a read moved on."""
        with self.changed:
            self.changed.notify_all()
