"""Bulk jobs at the API's ceiling: submissions in flight together, polls as soon as they are useful.

The sandbox here answers like a tenant (latency, an in-flight cap that refuses one call more) and
records the most calls it saw in flight: concurrency is asserted from that count and from request
counts at the minimum, never from timings.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from helpers.emulators import throttled_fixture
from helpers.runs import wait_until
from zendesk.zendesk_support import configure, emulator_of, make_adapter, restore, user_unit

from migo_sync.adapter import PushUnit
from migo_sync.adapters.zendesk.adapter import ZendeskAdapter
from migo_sync.adapters.zendesk.push import JobRunner, feed_jobs, organization_jobs, payload, user_jobs
from migo_sync.sandbox.process import SandboxThread

pytestmark = pytest.mark.timeout(120)
CAP = 10


tenant = throttled_fixture("zendesk", CAP, incremental_limit_per_minute=0)


@pytest.fixture
def zendesk(tenant: SandboxThread, tmp_path: Path) -> Iterator[ZendeskAdapter]:
    restore(tenant)  # the emulator's default knobs, its seeded data and the counters from zero
    adapter = make_adapter(tenant, tmp_path, job_poll_interval=0.5, job_poll_max=5.0)
    yield adapter
    adapter.close()


def prepared(count: int) -> list[PushUnit]:
    return [user_unit(n) for n in range(1, count + 1)]


def never_sleep(seconds: float) -> None:
    raise AssertionError(f"slept {seconds} s although every poll showed the jobs moving")


def test_jobs_are_submitted_together_and_polled_without_a_fixed_wait(zendesk: ZendeskAdapter,
                                                                     tenant: SandboxThread) -> None:
    jobs = user_jobs(zendesk.client, prepared(2500), "external_id")
    results = JobRunner(zendesk.client, zendesk.settings, sleep=never_sleep).run(jobs)
    assert len(results) == 2500 and all(r.ok for r in results.values())
    limits = tenant.limits()["zendesk"]
    assert limits["refused"] == 0
    assert limits["peak_in_flight"] == CAP  # 25 submissions, CAP at a time
    # the minimum: 25 submissions, then two polls of all 25 jobs (queued → working → completed)
    assert limits["served"] == 25 + 2


def test_a_jobs_payloads_are_made_when_it_is_sent_not_all_before_the_first_request(
        tenant: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One request in flight at a time: job 2's users are nested only after job 1 was sent."""
    from migo_sync.adapters.zendesk import push

    restore(tenant)
    adapter = make_adapter(tenant, tmp_path, max_concurrency=1)
    events: list[str] = []
    made = push._payloads
    monkeypatch.setattr(push, "_payloads", lambda units, key: events.append(f"build {units[0].key}") or
                        made(units, key))
    upsert = adapter.client.upsert_users
    monkeypatch.setattr(adapter.client, "upsert_users", lambda users: events.append(
        f"send {users[0]['external_id']}") or upsert(users))
    try:
        jobs = user_jobs(adapter.client, prepared(250), "external_id")
        results = JobRunner(adapter.client, adapter.settings, sleep=never_sleep).run(jobs)
    finally:
        adapter.close()
    assert len(results) == 250 and all(r.ok for r in results.values())
    firsts = [f"C{n:06d}" for n in (1, 101, 201)]
    assert [e.split()[1] for e in events] == [k for k in firsts for _ in (0, 1)]
    assert [e.split()[0] for e in events] == ["build", "send"] * 3


def test_a_waves_job_references_are_written_while_its_first_poll_is_in_flight(zendesk: ZendeskAdapter,
                                                                              tenant: SandboxThread) -> None:
    """The write of the references (`queued`, held here until Zendesk has the poll: a bounded wait)
    and the wave's first poll go together; written before the poll went out, the wait times out.
    Nothing is read of the poll's answer before the write is done: each job's outcome comes after."""
    emulator = emulator_of(tenant)
    events: list[str] = []

    def polled(refs: dict[str, str]) -> bool:
        ids = {ref.partition("#")[0] for ref in refs.values()}
        return any(job["polls"] for job_id, job in list(emulator.jobs.items()) if job_id in ids)

    def queued(refs: dict[str, str]) -> None:
        wait_until(lambda: polled(refs), seconds=10, what="the wave's first poll while its references are written")
        events.append(f"recorded {len(refs)}")

    jobs = user_jobs(zendesk.client, prepared(250), "external_id")
    results = JobRunner(zendesk.client, zendesk.settings, sleep=never_sleep).run(jobs, queued)
    assert events == ["recorded 250"]
    assert len(results) == 250 and all(r.ok for r in results.values())
    assert tenant.limits()["zendesk"]["served"] == 3 + 2  # still the minimum: three jobs, two polls


def test_submissions_stay_within_the_in_flight_setting(tenant: SandboxThread, tmp_path: Path) -> None:
    restore(tenant)
    adapter = make_adapter(tenant, tmp_path, max_concurrency=3)
    try:
        jobs = user_jobs(adapter.client, prepared(900), "external_id")
        results = JobRunner(adapter.client, adapter.settings, sleep=never_sleep).run(jobs)
    finally:
        adapter.close()
    assert all(r.ok for r in results.values())
    limits = tenant.limits()["zendesk"]
    assert limits["peak_in_flight"] == 3 and limits["refused"] == 0 and limits["served"] == 9 + 2


class FakeClock:
    """Starts at an exact value; each sleep moves it on and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert len(self.slept) < 100, "polling without end"
        self.slept.append(seconds)
        self.now += seconds


def test_a_poll_that_shows_no_change_backs_off_until_the_deadline(zendesk: ZendeskAdapter,
                                                                   tenant: SandboxThread) -> None:
    configure(tenant, job_polls_to_complete=10_000, job_seconds=1e9)  # a job that never moves past "working"
    clock = FakeClock()
    settings = zendesk.settings.model_copy(update={"job_timeout": 30.0})
    jobs = user_jobs(zendesk.client, prepared(150), "external_id")
    results = JobRunner(zendesk.client, settings, clock=clock, sleep=clock.sleep).run(jobs)
    assert all(not r.ok and "did not finish within 30 s" in (r.reason or "") for r in results.values())
    # first poll at once (queued → working is a change), then waits that grow to job_poll_max
    assert clock.slept[:4] == [0.5, 0.75, 1.125, 1.6875]
    assert max(clock.slept) == 5.0 and sum(clock.slept) > 30.0


def test_organization_lookups_go_out_together(zendesk: ZendeskAdapter, tenant: SandboxThread) -> None:
    units = [PushUnit(f"ORG-{n:04d}", f"k{n}", [{"external_id": f"ORG-{n:04d}", "name": f"Org {n}"}],
                      [f"ORG-{n:04d}"]) for n in range(1, 501)]
    jobs = organization_jobs(zendesk.client, [(u, payload(u, "external_id")) for u in units], zendesk.settings.max_concurrency)
    assert sum(len(j.units) for j in jobs) == 500 and len(jobs) == 5
    limits = tenant.limits()["zendesk"]
    assert limits["served"] == 5 and limits["peak_in_flight"] == 5  # five show_many of 100, together


def test_the_next_waves_units_are_taken_while_this_wave_is_polled(tenant: SandboxThread, tmp_path: Path) -> None:
    """Four jobs a wave, two submitted at a time (a take of 200 users: two jobs), 1,000 users: the
    second wave's last take is made while the first wave is polled (held here, 10 s at most, until
    Zendesk has that poll; none of the first wave's jobs may have finished then). Taken as the second
    wave's jobs leave, it would come once the first wave's jobs finished."""
    restore(tenant)
    emulator = emulator_of(tenant)
    adapter = make_adapter(tenant, tmp_path, max_concurrency=2, max_jobs_in_flight=4)
    units = iter(prepared(1000))
    taken: list[int] = []
    first_wave: list[str] = []
    finished_then: list[bool] = []

    def polled() -> bool:
        return any(emulator.jobs[j]["polls"] for j in first_wave)

    def take(count: int) -> list[PushUnit]:
        if len(taken) == 3:  # the units of jobs 7 and 8
            wait_until(polled, seconds=10, what="the first wave's poll while the next wave's units are taken")
            finished_then.append(any(emulator.jobs[j]["status"] == "completed" for j in first_wave))
        chunk = list(itertools.islice(units, count))
        taken.append(len(chunk))
        return chunk

    def queued(refs: Mapping[str, str]) -> None:
        if not first_wave:
            first_wave.extend({r.partition("#")[0] for r in refs.values()})

    try:
        results = JobRunner(adapter.client, adapter.settings, sleep=never_sleep).run(
            feed_jobs(adapter.client, take, "external_id", 200), queued)
    finally:
        adapter.close()
    assert len(results) == 1000 and all(r.ok for r in results.values())
    assert taken == [200, 200, 200, 200, 200, 0] and finished_then == [False]
    limits = tenant.limits()["zendesk"]
    assert limits["served"] == 10 + 3 * 2 and limits["refused"] == 0  # 10 jobs in three waves, 2 polls each
