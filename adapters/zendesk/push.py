"""Pushes through Zendesk's bulk jobs: ≤100 records a job, ≤30 jobs in flight, polled to the end.

Users go through `users/create_or_update_many`, an upsert keyed by `external_id`: resending a job
changes nothing more, so a job whose answer or status was lost is simply submitted again.
Organizations have no bulk upsert: they are looked up by `external_id` (`show_many`), then new
ones go through `create_many` (external_id is unique, so a resend is refused, never doubled) and
known ones through `update_many` with their ids.

Each job is named to the engine as soon as its wave is accepted (`queued`: {unit key: "job id#index"}),
written while the wave's first poll is in flight, before any poll's answer is read; a run killed
meanwhile leaves the jobs running, and the next run reads them (`recorded_jobs`) instead of sending
their units again: a queued or working job is waited on
(it holds one of the account's 30 job slots), a finished one settles its units from its per-item
results, and an expired one (Zendesk keeps jobs about a day) leaves its units unknown, resent.

A submission refused for Zendesk's job limit (`JobLimitReached`: 429 TooManyJobs, the account's slots
taken, e.g. by a job whose answer was lost, or another integration's) created nothing: the job goes back
to the front of the queue, unsent, and the runner lowers its own ceiling to the jobs the account has
accepted, then submits again as its jobs finish (raising the ceiling one job per accepted wave). With
none of its jobs in flight it waits (`job_poll_interval` growing to `job_poll_max`) and tries one; if
no slot frees within `job_slot_wait` it stops with an UnreachableError naming the job limit (exit 3).
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from migo_sync import interrupt
from migo_sync.adapter import PushUnit, UnitResult, chunked
from migo_sync.adapters.zendesk.client import MAX_BULK, JobLimitReached, RecordInvalid, ZendeskClient
from migo_sync.adapters.zendesk.config import ZendeskSettings
from migo_sync.errors import UnreachableError

Submit = Callable[[Sequence[dict[str, Any]]], dict[str, Any]]
Queued = Callable[[Mapping[str, str]], None]
Settled = Callable[[Mapping[str, UnitResult]], None]
TERMINAL_FAILED = ("failed", "killed")
MAX_RESUBMITS = 2


@dataclass
class Job:
    """One bulk job: the units it carries, their payloads (same order) and how to submit it.

    A job an earlier run queued has its `job_id` and no `submit`: it is only read, never sent
    again; `units` holds its units at their index in the job (None where the ledger has none).
    """

    units: Sequence[PushUnit | None]
    payloads: list[dict[str, Any]]
    submit: Submit | None
    job_id: str | None = None
    started: float = 0.0
    submissions: int = 0
    # makes `payloads` when the job is first sent, on the sending thread: a wave's later jobs are built
    # while its first ones are in flight, not all before the first request
    build: Callable[[], list[dict[str, Any]]] | None = None


class JobRunner:
    """Keeps up to `max_jobs_in_flight` jobs queued or running; queues more as jobs complete.

    Jobs are submitted `max_concurrency` at a time (each submission is one independent request),
    then every job in flight is polled with one `job_statuses/show_many`. A poll follows at once
    while jobs move (a status or progress count changed since the last poll); only a poll that
    shows no change backs off (`job_poll_interval`, growing to `job_poll_max`). Each job has a
    deadline (`job_timeout`), so polling always ends.
    """

    def __init__(self, client: ZendeskClient, settings: ZendeskSettings, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock
        self.sleep = sleep

    def run(self, jobs: Iterable[Job], queued: Queued | None = None,
            settled: Settled | None = None) -> dict[str, UnitResult]:
        """Submit the jobs and poll them to the end; jobs that already have an id (queued by an
        earlier run) are only polled. `queued` hears of a wave's accepted jobs while the wave's first
        poll is in flight, before any poll's answer is read (`_poll`). `settled` hears of finished
        jobs' results while a later poll is in flight (the engine records them while later jobs run);
        the answer still holds every result. A unit whose outcome stays unknown (an earlier run's job
        Zendesk forgot) has no result.

        `jobs` may be lazy (`feed_jobs`): a job is taken from it only when there is room for it, the
        next wave's first one while this wave is in flight and its others a round a poll while this
        wave is polled, so the units behind the later jobs are read while the first ones are out;
        nothing is taken once an interruption is asked for."""
        with ThreadPoolExecutor(max_workers=max(1, min(self.settings.max_concurrency, self.settings.max_jobs_in_flight)),
                                thread_name_prefix="zendesk-submit") as pool:
            return self._run(iter(jobs), pool, queued, settled)

    def _run(self, jobs: Iterator[Job], pool: ThreadPoolExecutor, queued: Queued | None,
             settled: Settled | None) -> dict[str, UnitResult]:
        results: dict[str, UnitResult] = {}
        outcomes = _Outcomes()  # finished jobs' results not yet in `results` nor handed to `settled`
        waiting: deque[Job] = deque()
        in_flight: dict[str, Job] = {}
        upcoming = _Upcoming(jobs, in_flight, self.clock)
        seen_state: dict[str, tuple[Any, Any]] = {}
        wait = 0.0  # the first poll goes as soon as the submissions are answered
        slots = _Slots(self.settings, self.clock)
        upcoming.fill(waiting)  # an earlier run's jobs (only polled) come first, then this run's first
        while waiting or in_flight or not upcoming.ended:
            if interrupt.requested() is not None:  # stopping: queue no new job, take no more units
                upcoming.ended = True
                while waiting:
                    unsent = waiting.popleft()
                    results.update({u.key: UnitResult(u.key, ok=False, not_sent=True,
                                                      reason="not sent: the run was interrupted")
                                    for u in unsent.units if u is not None})
            room = slots.ceiling - len(in_flight)
            accepted: dict[str, str] = {}  # this wave's job references, recorded while its first poll is out
            if room > 0 and (waiting or not upcoming.ended):
                flying = len(in_flight)
                refused: list[Job] = []
                results.update(self._submit(upcoming.wave(waiting, room), pool, in_flight, queued,
                                            then=lambda: upcoming.fill(waiting), refused=refused,
                                            accepted=accepted))
                waiting.extendleft(reversed(refused))  # first in line again, in their order; nothing was sent
                slots.answered(len(in_flight), refused=bool(refused), accepted=len(in_flight) > flying)
                if len(in_flight) > flying:
                    wait = 0.0
            if not in_flight:
                if accepted and queued is not None:
                    queued(accepted)
                if slots.refused_since is not None and waiting:
                    slots.pause(self.sleep)
                continue
            if wait:
                self.sleep(wait)
            progressed = False
            seen: set[str] = set()
            polled_ids = list(in_flight)

            def meanwhile(accepted: dict[str, str] = accepted) -> None:
                """While the poll is out: the references of the jobs just accepted (before its answer is
                read), the results earlier polls found (the engine's confirmations), and one round of
                the next wave's jobs taken ahead (their units read, their intents written)."""
                if accepted and queued is not None:
                    queued(accepted)
                if outcomes and settled is not None:
                    settled(outcomes.take(results))
                upcoming.ahead(waiting, slots.ceiling, self.settings.max_concurrency)

            statuses = self._poll(polled_ids, pool, meanwhile)
            for status in statuses:
                job_id = str(status.get("id"))
                polled = in_flight.get(job_id)
                if polled is None:
                    continue
                seen.add(job_id)
                state = status.get("status")
                if seen_state.get(job_id) != (state, status.get("progress")):
                    seen_state[job_id] = (state, status.get("progress"))
                    progressed = True
                if state == "completed":  # its items matched to units later, the next wave's jobs out first
                    outcomes.finished.append((polled, status.get("results") or []))
                elif state in TERMINAL_FAILED:
                    outcomes.known.update(_fail(polled, f"Zendesk job {state}: {status.get('message') or 'no message'}"))
                elif self.clock() - polled.started > self.settings.job_timeout:
                    outcomes.known.update(_fail(polled, f"Zendesk job {job_id} did not finish within "
                                                        f"{self.settings.job_timeout:.0f} s"))
                else:
                    continue
                del in_flight[job_id]
                seen_state.pop(job_id, None)
            for job_id in [j for j in polled_ids if j not in seen and j in in_flight]:
                lost = in_flight.pop(job_id)  # expired or unknown: the outcome is lost, the upsert safe to resend
                seen_state.pop(job_id, None)
                if lost.submit is None:
                    pass  # queued by an earlier run: no result, the engine sends its units again
                elif lost.submissions <= MAX_RESUBMITS:
                    waiting.appendleft(lost)
                else:
                    outcomes.known.update(_fail(lost, f"Zendesk forgot job {job_id} before it could be read"))
                progressed = True
            wait = (0.0 if progressed else
                    min(max(wait * 1.5, self.settings.job_poll_interval), self.settings.job_poll_max))
        outcomes.take(results)
        return results

    def _poll(self, ids: list[str], pool: ThreadPoolExecutor, meanwhile: Callable[[], None]) -> list[dict[str, Any]]:
        """Every job's status (one show_many per 100), `meanwhile` run while the poll is in flight (the
        references of the jobs just accepted, written to the ledger; see `_run`): a poll changes
        nothing at Zendesk, and its answer is read only once `meanwhile` is done, so no job's outcome
        is recorded before its reference, and a kill meanwhile leaves what it left before (the
        references either committed or not yet, the units pending: read or resent next run)."""
        def poll() -> list[dict[str, Any]]:
            return [s for chunk in chunked(ids, MAX_BULK) for s in self.client.job_statuses(chunk)]

        answer = pool.submit(contextvars.copy_context().run, poll)
        meanwhile()
        return answer.result()

    def _submit(self, wave: Iterable[Job], pool: ThreadPoolExecutor, in_flight: dict[str, Job],
                queued: Queued | None, then: Callable[[], None] = lambda: None,
                refused: list[Job] | None = None, accepted: dict[str, str] | None = None) -> dict[str, UnitResult]:
        """Submit `wave` concurrently (each job handed to the pool as it is taken from `wave`), then run
        `then` while they are in flight; a job Zendesk refused (422) rejects its units, one refused for
        the job limit goes to `refused` (nothing was created: to be submitted again). The accepted
        jobs are named to `queued` before anything waits on them, or, given `accepted`, added to it for
        the caller to name while its first poll is out (`_poll`). Any other error is raised once every
        submission has been answered, the accepted jobs named first (the units stay pending: resent
        next run, which the upsert makes safe)."""
        results: dict[str, UnitResult] = {}
        error: BaseException | None = None
        named = accepted is not None
        accepted = {} if accepted is None else accepted
        sent: list[tuple[Job, Future[dict[str, Any]]]] = []
        try:
            for job in wave:  # taking a job from a lazy wave may read units: the ones before are out
                sent.append((job, pool.submit(_send, job)))
            then()
        except Exception as exc:  # re-raised below, once the submissions in flight are answered
            error = exc
        for job, future in sent:
            try:
                status = future.result()
            except RecordInvalid as exc:
                results.update(_fail(job, f"{exc.code or 'RecordInvalid'}: {exc.reason}"))
                continue
            except JobLimitReached as exc:
                if refused is None:
                    error = error or exc
                else:
                    refused.append(job)
                continue
            except Exception as exc:  # re-raised below, once the others are answered
                error = error or exc
                continue
            job.job_id, job.started = str(status["id"]), self.clock()
            job.submissions += 1
            in_flight[job.job_id] = job
            accepted.update(job_refs(job))
        if accepted and queued is not None and (error is not None or not named):
            queued(accepted)  # in the ledger before any wait: a kill from here on leaves them to be read
            accepted.clear()
        if error is not None:
            raise error
        return results


@dataclass
class _Outcomes:
    """Results learnt from polls and not yet handed over: completed jobs with their items (matched to
    units only when handed over, off the path between a poll's answer and the next submissions) and
    results known outright (failed, timed out, forgotten jobs)."""

    finished: list[tuple[Job, list[dict[str, Any]]]] = field(default_factory=list)
    known: dict[str, UnitResult] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.finished or self.known)

    def take(self, results: dict[str, UnitResult]) -> dict[str, UnitResult]:
        """Move every outcome into `results`; answer the ones moved."""
        fresh = dict(self.known)
        for job, items in self.finished:
            fresh.update(job_results(job, items))
        self.finished.clear()
        self.known.clear()
        results.update(fresh)
        return fresh


class _Slots:
    """How many jobs the runner keeps in flight: `max_jobs_in_flight`, lowered to what the account
    accepted when Zendesk answers TooManyJobs (its slots are shared with jobs not ours), raised again
    one job per wave the account accepts whole; how long it has been refused with nothing accepted."""

    def __init__(self, settings: ZendeskSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        self.ceiling = settings.max_jobs_in_flight
        self.refused_since: float | None = None
        self.wait = 0.0

    def answered(self, in_flight: int, *, refused: bool, accepted: bool) -> None:
        if refused:
            self.ceiling = max(1, in_flight)
            if accepted or self.refused_since is None:
                self.refused_since = self.clock()
        elif accepted:
            self.ceiling = min(self.settings.max_jobs_in_flight, self.ceiling + 1)
            self.refused_since, self.wait = None, 0.0

    def pause(self, sleep: Callable[[float], None]) -> None:
        """None of our jobs in flight and the account full: wait (bounded), or stop naming the limit."""
        assert self.refused_since is not None
        waited = self.clock() - self.refused_since
        if waited >= self.settings.job_slot_wait:
            raise UnreachableError(
                f"zendesk: no bulk-job slot freed in {waited:.0f} s: Zendesk's job limit (jobs queued or running "
                "per account, 30) is taken by jobs that are not this run's; the records not yet sent were not "
                "created (the next run sends them; `job_slot_wait` in [systems.zendesk])")
        self.wait = min(max(self.wait * 2, self.settings.job_poll_interval, 0.05),
                        max(self.settings.job_poll_max, 0.05), self.settings.job_slot_wait - waited)
        sleep(self.wait)


class _Upcoming:
    """This run's jobs not yet taken (a lazy source reads units as jobs are taken); an earlier run's
    jobs met on the way go straight in flight, to be polled only."""

    def __init__(self, jobs: Iterator[Job], in_flight: dict[str, Job], clock: Callable[[], float]) -> None:
        self.jobs = jobs
        self.in_flight = in_flight
        self.clock = clock
        self.ended = False

    def next(self) -> Job | None:
        while not self.ended:
            job = next(self.jobs, None)
            if job is None:
                self.ended = True
            elif job.job_id is None:
                return job
            else:
                job.started = self.clock()
                self.in_flight[job.job_id] = job
        return None

    def fill(self, waiting: deque[Job]) -> None:
        """One job taken ahead into `waiting` (when none waits): the next wave's first is made now."""
        if not waiting and (job := self.next()) is not None:
            waiting.append(job)

    def ahead(self, waiting: deque[Job], most: int, count: int) -> None:
        """Up to `count` more jobs taken into `waiting` (`most` waiting at most): the next wave's units
        are read, and their intents written, while this wave's jobs are polled, not as its jobs leave."""
        for _ in range(min(count, most - len(waiting))):
            if interrupt.requested() is not None:  # stopping: no more units are taken
                return
            job = self.next()
            if job is None:
                return
            waiting.append(job)

    def wave(self, waiting: deque[Job], room: int) -> Iterator[Job]:
        for _ in range(room):
            job = waiting.popleft() if waiting else self.next()
            if job is None:
                return
            yield job


def _send(job: Job) -> dict[str, Any]:
    assert job.submit is not None  # only a job of this run is ever submitted
    if job.build is not None:
        job.payloads, job.build = job.build(), None
    return job.submit(job.payloads)


def job_refs(job: Job) -> dict[str, str]:
    """Each unit's place in Zendesk: 'job id#index' (a job's results come back in its items' order)."""
    return {u.key: f"{job.job_id}#{i}" for i, u in enumerate(job.units) if u is not None}


def recorded_jobs(refs: Mapping[str, str]) -> list[Job]:
    """Jobs an earlier run queued, rebuilt from the ledger's references (unit key → 'job id#index'),
    each with its units at their index; a reference that is not ours is ignored (unknown, resent)."""
    by_job: dict[str, dict[int, str]] = {}
    for key, ref in refs.items():
        job_id, _, place = ref.rpartition("#")
        if job_id and place.isdigit():
            by_job.setdefault(job_id, {})[int(place)] = key
    jobs = []
    for job_id, places in by_job.items():
        units: list[PushUnit | None] = [None] * (max(places) + 1)
        for index, key in places.items():
            units[index] = PushUnit(key, "", [], [])
        jobs.append(Job(units, [{} for _ in units], None, job_id=job_id))
    return jobs


def job_results(job: Job, items: list[dict[str, Any]]) -> dict[str, UnitResult]:
    """Match result items to units: by `index`, else by `external_id`, else by position."""
    by_index: dict[int, dict[str, Any]] = {}
    by_external: dict[str, dict[str, Any]] = {}
    for position, entry in enumerate(items):
        index = entry.get("index")
        if isinstance(index, int):
            by_index[index] = entry
        elif entry.get("external_id") is not None:
            by_external[str(entry["external_id"]).lower()] = entry
        else:
            by_index.setdefault(position, entry)
    out: dict[str, UnitResult] = {}
    for i, (unit, payload) in enumerate(zip(job.units, job.payloads, strict=True)):
        if unit is None:
            continue
        item: dict[str, Any] | None = by_index.get(i)
        if item is None and payload.get("external_id") is not None:
            item = by_external.get(str(payload["external_id"]).lower())
        if item is None:
            out[unit.key] = UnitResult(unit.key, ok=False, reason="Zendesk's job finished without a result for it")
        elif item.get("error") or item.get("success") is False:
            reason = ": ".join(str(p) for p in (item.get("error"), item.get("details")) if p)
            out[unit.key] = UnitResult(unit.key, ok=False, reason=reason or "failed in Zendesk's job")
        else:
            remote_id = item.get("id")
            out[unit.key] = UnitResult(unit.key, ok=True, remote_id=None if remote_id is None else str(remote_id))
    return out


def _fail(job: Job, reason: str) -> dict[str, UnitResult]:
    return {u.key: UnitResult(u.key, ok=False, reason=reason) for u in job.units if u is not None}


def nest(record: dict[str, Any]) -> dict[str, Any]:
    """{"user_fields.loan_status": v} → {"user_fields": {"loan_status": v}}."""
    out: dict[str, Any] = {}
    for path, value in record.items():
        if "." not in path:
            out[path] = value
            continue
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def payload(unit: PushUnit, key: str) -> dict[str, Any]:
    """A unit's one record as the API takes it: nested, its key as text."""
    body = nest(unit.records[0])
    body[key] = str(body[key])
    return body


def user_jobs(client: ZendeskClient, units: list[PushUnit], key: str) -> list[Job]:
    """One job per 100 users; each job's payloads are made when it is sent (`Job.build`)."""
    return [Job(chunk, [], client.upsert_users, build=functools.partial(_payloads, chunk, key))
            for chunk in chunked(units, MAX_BULK)]


def feed_jobs(client: ZendeskClient, take: Callable[[int], list[PushUnit]], key: str, per_take: int) -> Iterator[Job]:
    """`user_jobs` over units taken `per_take` at a time (one round of submissions' worth) as the jobs
    are: the first job leaves once its round's units are read, not once the whole batch is."""
    while units := take(per_take):
        yield from user_jobs(client, units, key)


def _payloads(units: Sequence[PushUnit], key: str) -> list[dict[str, Any]]:
    return [payload(u, key) for u in units]


def organization_jobs(client: ZendeskClient, prepared: list[tuple[PushUnit, dict[str, Any]]],
                      concurrency: int = 1) -> list[Job]:
    """Look the organizations up by external_id (the lookups of 100 each go `concurrency` at a
    time: none depends on another), then one create_many or update_many job per 100."""
    known: dict[str, int] = {}
    chunks = list(chunked([str(p["external_id"]) for _, p in prepared], MAX_BULK))
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(chunks) or 1)),
                            thread_name_prefix="zendesk-lookup") as pool:
        found = list(pool.map(client.organizations_by_external_id, chunks))
    for orgs in found:
        for org in orgs:
            if org.get("external_id") is not None:
                known[str(org["external_id"]).lower()] = int(org["id"])
    creates = [(u, p) for u, p in prepared if str(p["external_id"]).lower() not in known]
    updates = [(u, {**p, "id": known[str(p["external_id"]).lower()]}) for u, p in prepared
               if str(p["external_id"]).lower() in known]
    jobs = [Job([u for u, _ in c], [p for _, p in c], client.create_organizations)
            for c in chunked(creates, MAX_BULK)]
    jobs += [Job([u for u, _ in c], [p for _, p in c], client.update_organizations)
             for c in chunked(updates, MAX_BULK)]
    return jobs
