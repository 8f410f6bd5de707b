"""Pushes through Zendesk's bulk jobs: ≤100 records a job, ≤30 jobs in flight, polled to the end.

Users go through `users/create_or_update_many`, an upsert keyed by `external_id`: resending a job
changes nothing more, so a job whose answer or status was lost is simply submitted again.
Organizations have no bulk upsert: they are looked up by `external_id` (`show_many`), then new
ones go through `create_many` (external_id is unique, so a resend is refused, never doubled) and
known ones through `update_many` with their ids.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from migo_sync import interrupt
from migo_sync.adapter import PushUnit, UnitResult, chunked
from migo_sync.adapters.zendesk.client import MAX_BULK, RecordInvalid, ZendeskClient
from migo_sync.adapters.zendesk.config import ZendeskSettings

Submit = Callable[[Sequence[dict[str, Any]]], dict[str, Any]]
TERMINAL_FAILED = ("failed", "killed")
MAX_RESUBMITS = 2


@dataclass
class Job:
    """One bulk job: the units it carries, their payloads (same order) and how to submit it."""

    units: list[PushUnit]
    payloads: list[dict[str, Any]]
    submit: Submit
    job_id: str | None = None
    started: float = 0.0
    submissions: int = 0


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

    def run(self, jobs: Sequence[Job]) -> dict[str, UnitResult]:
        workers = min(self.settings.max_concurrency, self.settings.max_jobs_in_flight, len(jobs) or 1)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zendesk-submit") as pool:
            return self._run(jobs, pool)

    def _run(self, jobs: Sequence[Job], pool: ThreadPoolExecutor) -> dict[str, UnitResult]:
        results: dict[str, UnitResult] = {}
        waiting = deque(jobs)
        in_flight: dict[str, Job] = {}
        seen_state: dict[str, tuple[Any, Any]] = {}
        wait = 0.0  # the first poll goes as soon as the submissions are answered
        while waiting or in_flight:
            if waiting and interrupt.requested() is not None:  # stopping: queue no new job
                while waiting:
                    unsent = waiting.popleft()
                    results.update({u.key: UnitResult(u.key, ok=False, not_sent=True,
                                                      reason="not sent: the run was interrupted")
                                    for u in unsent.units})
            room = self.settings.max_jobs_in_flight - len(in_flight)
            wave = [waiting.popleft() for _ in range(min(room, len(waiting)))]
            if wave:
                results.update(self._submit(wave, pool, in_flight))
                wait = 0.0
            if not in_flight:
                continue
            if wait:
                self.sleep(wait)
            progressed = False
            seen: set[str] = set()
            for status in self.client.job_statuses(list(in_flight)):
                job_id = str(status.get("id"))
                polled = in_flight.get(job_id)
                if polled is None:
                    continue
                seen.add(job_id)
                state = status.get("status")
                if seen_state.get(job_id) != (state, status.get("progress")):
                    seen_state[job_id] = (state, status.get("progress"))
                    progressed = True
                if state == "completed":
                    results.update(job_results(polled, status.get("results") or []))
                elif state in TERMINAL_FAILED:
                    results.update(_fail(polled, f"Zendesk job {state}: {status.get('message') or 'no message'}"))
                elif self.clock() - polled.started > self.settings.job_timeout:
                    results.update(_fail(polled, f"Zendesk job {job_id} did not finish within "
                                              f"{self.settings.job_timeout:.0f} s"))
                else:
                    continue
                del in_flight[job_id]
                seen_state.pop(job_id, None)
            for job_id in [j for j in in_flight if j not in seen]:
                lost = in_flight.pop(job_id)  # expired or unknown: the outcome is lost, the upsert safe to resend
                seen_state.pop(job_id, None)
                if lost.submissions <= MAX_RESUBMITS:
                    waiting.appendleft(lost)
                else:
                    results.update(_fail(lost, f"Zendesk forgot job {job_id} before it could be read"))
                progressed = True
            wait = (0.0 if progressed else
                    min(max(wait * 1.5, self.settings.job_poll_interval), self.settings.job_poll_max))
        return results

    def _submit(self, wave: list[Job], pool: ThreadPoolExecutor, in_flight: dict[str, Job]) -> dict[str, UnitResult]:
        """Submit `wave` concurrently; a job Zendesk refused (422) rejects its units. Any other error
        is raised once every submission has been answered (the units stay pending: resent next run,
        which the upsert makes safe)."""
        results: dict[str, UnitResult] = {}
        error: BaseException | None = None
        futures = [pool.submit(job.submit, job.payloads) for job in wave]
        for job, future in zip(wave, futures, strict=True):
            try:
                status = future.result()
            except RecordInvalid as exc:
                results.update(_fail(job, f"{exc.code or 'RecordInvalid'}: {exc.reason}"))
                continue
            except Exception as exc:  # re-raised below, once the others are answered
                error = error or exc
                continue
            job.job_id, job.started = str(status["id"]), self.clock()
            job.submissions += 1
            in_flight[job.job_id] = job
        if error is not None:
            raise error
        return results


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
        item: dict[str, Any] | None = by_index.get(i)
        if item is None:
            item = by_external.get(str(payload.get("external_id")).lower())
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
    return {u.key: UnitResult(u.key, ok=False, reason=reason) for u in job.units}


def nest(record: dict[str, Any]) -> dict[str, Any]:
    """{"user_fields.loan_status": v} → {"user_fields": {"loan_status": v}}."""
    out: dict[str, Any] = {}
    for path, value in record.items():
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def user_jobs(client: ZendeskClient, prepared: list[tuple[PushUnit, dict[str, Any]]]) -> list[Job]:
    return [Job([u for u, _ in chunk], [p for _, p in chunk], client.upsert_users)
            for chunk in chunked(prepared, MAX_BULK)]


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
