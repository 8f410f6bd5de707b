"""`[run] threads` / `--threads`: pulls of other systems read their remotes while the run works
through its mappings in order (migo_sync/engine/readahead.py). Real emulators on loopback, a
real DuckDB file, real child processes and signals; no timing is asserted: overlap is proven by
an emulator that holds its answers until another system has been asked something."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import sandboxed
from helpers.gates import BodyGate
from helpers.runs import signal_when
from helpers.sandboxed import REPO

from migo_sync.adapters.sheets.auth import clear_token_cache
from migo_sync.config import Project
from migo_sync.engine.runner import RunOptions, RunReport, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse

PULLS = ["sheets_fx_rates_pull", "sheets_manual_adjustments_pull", "zendesk_tickets_pull", "zendesk_users_pull"]
HOLD_SECONDS = 20.0  # how long a held answer waits for the other system before it gives up


class Gate:
    """ASGI wrapper: every call to `held` waits until `other` has been asked something (at most
    HOLD_SECONDS); counts the calls that had to give up waiting."""

    def __init__(self, app: Any, held: str, other: str) -> None:
        self.app, self.held, self.other = app, held, other
        self.other_asked = threading.Event()
        self.gave_up = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        system = scope["path"].strip("/").split("/", 1)[0] if scope["type"] == "http" else ""
        if system == self.other:
            self.other_asked.set()
        if system == self.held:
            deadline = time.monotonic() + HOLD_SECONDS
            while not self.other_asked.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            self.gave_up += not self.other_asked.is_set()
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def tenant() -> Iterator[SandboxThread]:
    # Zendesk's 10 exports a minute would make later runs here wait out its window: off
    handle = SandboxThread(seed=7, only=["sheets", "zendesk", "intacct", "adaptive"],
                           options={"zendesk": {"incremental_limit_per_minute": 0}})
    yield handle
    handle.stop()


def reset(handle: SandboxThread) -> None:
    """The seeded data again; the process's cached Sheets token went with the emulator's memory."""
    handle.reset()
    clear_token_cache()


@pytest.fixture
def fresh(tenant: SandboxThread) -> Iterator[SandboxThread]:
    reset(tenant)
    yield tenant
    reset(tenant)


@pytest.fixture
def gate(fresh: SandboxThread) -> Iterator[Gate]:
    sandbox = fresh.sandbox
    inner = sandbox.counter
    held = Gate(inner, "sheets", "zendesk")
    sandbox.counter = held  # type: ignore[assignment]
    try:
        yield held
    finally:
        sandbox.counter = inner


def project_of(root: Path, handle: SandboxThread, systems: list[str], settings: str = "") -> Project:
    env = sandboxed.every_system_environ(handle, root.parent / f"{root.name}-keys")
    project = sandboxed.seeded_project(root, systems[0], env)
    for system in systems[1:]:
        for path in (REPO / "mappings").glob(f"{system}_*.yaml"):
            shutil.copy(path, project.mappings_dir / path.name)
    if settings:
        (root / "migo-sync.toml").write_text((root / "migo-sync.toml").read_text() + settings)
        project = Project.load(root)
        project.environ = env
    return project


def table(project: Project, name: str) -> list[tuple[Any, ...]]:
    warehouse = open_warehouse(project)
    try:
        return sorted(warehouse.query(f"SELECT * FROM {name}"), key=repr)
    finally:
        warehouse.close()


def outline(report: RunReport) -> list[tuple[str, str, int, int, int]]:
    return [(r.name, r.status, r.rows_read, r.rows_written, r.requests) for r in report.results]


def test_pulls_of_other_systems_read_while_one_waits_and_land_as_a_sequential_run_does(
        fresh: SandboxThread, gate: Gate, tmp_path: Path) -> None:
    ahead = project_of(tmp_path / "ahead", fresh, ["sheets", "zendesk"])
    report = run(ahead, RunOptions(names=PULLS, threads=2))
    # Sheets answered only once Zendesk had been asked: the two systems were read at once
    assert gate.other_asked.is_set() and gate.gave_up == 0
    assert [r.name for r in report.results] == PULLS  # the run's order, whatever finished first
    assert all(r.status == "ok" and r.rows_read for r in report.results), [(r.name, r.error) for r in report.results]
    assert any("read_ahead_seconds" in r.details for r in report.results if r.system == "zendesk")
    fresh.sandbox.counter = gate.app  # the sequential run, ungated, on a fresh copy of the same data
    reset(fresh)
    one = project_of(tmp_path / "one", fresh, ["sheets", "zendesk"])
    sequential = run(one, RunOptions(names=PULLS, threads=1))
    assert outline(report) == outline(sequential)  # rows and requests per mapping, exactly
    assert not any("read_ahead_seconds" in r.details for r in sequential.results)
    for relation in ("finance.fx_rates", "support.tickets", "support.users"):
        assert table(ahead, relation) == table(one, relation), relation
    again = run(ahead, RunOptions(names=PULLS, threads=2))  # the cursors committed by the read-ahead run
    assert [(r.name, r.rows_changed) for r in again.results if r.system == "zendesk"] == [
        ("zendesk_tickets_pull", 0), ("zendesk_users_pull", 0)]


def test_by_default_pulls_read_ahead(fresh: SandboxThread, gate: Gate, tmp_path: Path) -> None:
    """No `[run] threads` and no `--threads`: the default (5) reads other systems' pulls ahead."""
    project = project_of(tmp_path / "default", fresh, ["sheets", "zendesk"])
    assert "threads" not in (project.root / "migo-sync.toml").read_text()
    report = run(project, RunOptions(names=PULLS))
    assert gate.other_asked.is_set() and gate.gave_up == 0  # Sheets answered once Zendesk was asked
    assert all(r.status == "ok" for r in report.results), [(r.name, r.error) for r in report.results]
    assert any("read_ahead_seconds" in r.details for r in report.results if r.system == "zendesk")


ADAPTIVE_PULLS = ["adaptive_accounts_pull", "adaptive_budget_pull", "adaptive_forecast_pull"]


def run_gated(fresh: SandboxThread, root: Path, system: str, names: list[str], held: bytes, other: bytes, *,
              other_system: str | None = None, systems: list[str] | None = None,
              threads: int = 4) -> tuple[Project, RunReport, BodyGate]:
    """`names` run with `threads`, `system`'s calls matching `held` waiting (bounded) for one matching
    `other` (a call of `other_system`, by default of the same system)."""
    sandbox = fresh.sandbox
    inner = sandbox.counter
    gate = BodyGate(inner, system, held, other, other_system)
    sandbox.counter = gate  # type: ignore[assignment]
    try:
        project = project_of(root, fresh, systems or [system])
        return project, run(project, RunOptions(names=names, threads=threads)), gate
    finally:
        sandbox.counter = inner


def run_sequential(fresh: SandboxThread, root: Path, systems: list[str], names: list[str]) -> tuple[Project, RunReport]:
    """The same mappings one at a time, on the tenant reset to its seed: what the gated run must equal."""
    reset(fresh)
    project = project_of(root, fresh, systems)
    return project, run(project, RunOptions(names=names, threads=1))


INTACCT_PULLS = ["intacct_accounts_pull", "intacct_gl_detail_pull", "intacct_trial_balance_pull"]


def test_a_systems_own_pulls_read_together_within_its_cap_and_count_their_own_requests(
        fresh: SandboxThread, tmp_path: Path) -> None:
    # The chart's answer waits until the versions are asked: read one pull after the other, the
    # versions (the budget pull's) would only be asked once the chart (the accounts pull's) is in.
    together, report, gate = run_gated(fresh, tmp_path / "together", "adaptive", ADAPTIVE_PULLS,
                                       rb'method="exportAccounts"', rb'method="exportVersions"')
    assert gate.other_asked.is_set() and gate.gave_up == 0
    assert gate.peak <= 2  # Adaptive's cap (max_concurrency 2), though three pulls wanted to read
    assert sorted(gate.methods) == ["exportAccounts", "exportData", "exportData", "exportVersions"]  # each once
    assert [r.name for r in report.results] == ADAPTIVE_PULLS
    assert all(r.status == "ok" and r.rows_read for r in report.results), [(r.name, r.error) for r in report.results]
    one, sequential = run_sequential(fresh, tmp_path / "one", ["adaptive"], ADAPTIVE_PULLS)
    assert outline(report) == outline(sequential)  # rows and each pull's own requests, exactly
    assert [r.requests for r in sequential.results] == [1, 2, 1]
    for relation in ("planning.accounts", "planning.budget", "planning.forecast"):
        assert table(together, relation) == table(one, relation), relation


def test_intacct_pulls_read_together_and_sign_in_once(fresh: SandboxThread, tmp_path: Path) -> None:
    # The ledger lines' query waits until a trial balance is asked: one pull after the other, the
    # trial balance (the last pull's) would only be asked once the lines (the one before) are in.
    together, report, gate = run_gated(fresh, tmp_path / "together", "intacct", INTACCT_PULLS,
                                       rb"<object>GLENTRY</object>", rb"<get_trialbalance")
    assert gate.other_asked.is_set() and gate.gave_up == 0
    assert gate.peak <= 4  # Intacct's cap (max_concurrency 4)
    assert gate.methods.count("getAPISession") == 1  # one session for the three pulls
    assert [r.name for r in report.results] == INTACCT_PULLS
    assert all(r.status == "ok" for r in report.results), [(r.name, r.error) for r in report.results]
    assert report.results[0].rows_read and report.results[2].rows_read  # the chart and the balances (no lines posted)
    one, sequential = run_sequential(fresh, tmp_path / "one", ["intacct"], INTACCT_PULLS)
    # the same rows and, in all, the same requests (the one sign-in is counted to whichever pull needed it first)
    assert [r[:4] for r in outline(report)] == [r[:4] for r in outline(sequential)]
    assert sum(r.requests for r in report.results) == sum(r.requests for r in sequential.results) == len(gate.methods)
    for relation in ("finance.gl_accounts", "finance.gl_detail", "finance.trial_balance"):
        assert table(together, relation) == table(one, relation), relation


def test_threads_count_systems_so_a_systems_pulls_reading_together_leave_room_for_another(
        fresh: SandboxThread, tmp_path: Path) -> None:
    # Two threads: the engine's turn (Adaptive's first pull, read together with the next) and one other
    # system. Adaptive's chart waits until Zendesk is asked: counted per read rather than per system,
    # Adaptive's reads would hold the one place and Zendesk would read only after them.
    names = [*ADAPTIVE_PULLS, "zendesk_users_pull"]
    two, report, gate = run_gated(fresh, tmp_path / "two", "adaptive", names, rb'method="exportAccounts"', rb"",
                                  other_system="zendesk", systems=["adaptive", "zendesk"], threads=2)
    assert gate.other_asked.is_set() and gate.gave_up == 0
    assert gate.peak <= 2 and sorted(gate.methods) == ["exportAccounts", "exportData", "exportData", "exportVersions"]
    assert [r.name for r in report.results] == names
    assert all(r.status == "ok" and r.rows_read for r in report.results), [(r.name, r.error) for r in report.results]
    one, sequential = run_sequential(fresh, tmp_path / "one", ["adaptive", "zendesk"], names)
    assert outline(report) == outline(sequential)
    for relation in ("planning.accounts", "planning.budget", "planning.forecast", "support.users"):
        assert table(two, relation) == table(one, relation), relation


class Landed(logging.Handler):
    """Sets `event` when the engine logs that mapping `name` ended (its rows and cursor committed)."""

    def __init__(self, name: str, event: threading.Event) -> None:
        super().__init__(logging.INFO)
        self.name_, self.event = name, event

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) == "mapping" and getattr(record, "mapping", None) == self.name_:
            self.event.set()


def test_a_pull_whose_read_ended_lands_while_an_earlier_one_waits_on_its_remote(
        fresh: SandboxThread, tmp_path: Path) -> None:
    # Adaptive's exportData calls (the budget's and the forecast's) answer only once the Sheets pull (its
    # one batch read ahead) has landed: loaded in the run's order, it would land only after them, so the
    # wait would run out.
    names = [*ADAPTIVE_PULLS, "sheets_fx_rates_pull"]
    sandbox = fresh.sandbox
    inner = sandbox.counter
    gate = BodyGate(inner, "adaptive", rb'method="exportData"', rb"(?!)")  # released by the landing only
    landed = Landed("sheets_fx_rates_pull", gate.other_asked)
    logging.getLogger("migo_sync.engine").addHandler(landed)
    sandbox.counter = gate  # type: ignore[assignment]
    try:
        project = project_of(tmp_path / "ahead", fresh, ["adaptive", "sheets"])
        report = run(project, RunOptions(names=names, threads=2))
    finally:
        sandbox.counter = inner
        logging.getLogger("migo_sync.engine").removeHandler(landed)
    assert gate.other_asked.is_set() and gate.gave_up == 0
    assert [r.name for r in report.results] == names  # the report keeps the run's order
    assert all(r.status == "ok" and r.rows_read for r in report.results), [(r.name, r.error) for r in report.results]
    one, sequential = run_sequential(fresh, tmp_path / "one", ["adaptive", "sheets"], names)
    assert outline(report) == outline(sequential)  # rows and requests per mapping, exactly
    for relation in ("planning.accounts", "planning.budget", "planning.forecast", "finance.fx_rates"):
        assert table(project, relation) == table(one, relation), relation


def without_timing(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in rec.items() if k != "seconds"} for rec in found]


def test_a_push_is_reconciled_beside_the_pulls_after_it(fresh: SandboxThread, tmp_path: Path) -> None:
    # Zendesk answers only once the Intacct push's reconciliation has asked for its ledger lines (by
    # ENTRY_DATE; the push's own look-up asks by REFERENCENO): made after every pull, as with one
    # thread, it would be asked only once Zendesk had answered.
    names = ["intacct_journals_push", "zendesk_users_pull"]
    beside, report, gate = run_gated(fresh, tmp_path / "beside", "zendesk", names, rb"", rb"<query>\s*ENTRY_DATE",
                                     other_system="intacct", systems=["intacct", "zendesk"])
    assert gate.other_asked.is_set() and gate.gave_up == 0
    assert [(r.name, r.status) for r in report.results] == [(n, "ok") for n in names], [r.error for r in report.results]
    [found] = report.reconciliation
    assert found["ok"] and found["compared"] and found["requests"] >= 1, found
    one, sequential = run_sequential(fresh, tmp_path / "one", ["intacct", "zendesk"], names)
    assert outline(report) == outline(sequential)  # each mapping's rows and requests, exactly
    assert without_timing(report.reconciliation) == without_timing(sequential.reconciliation)  # requests included
    assert table(beside, "support.users") == table(one, "support.users")


def test_a_pull_reads_only_after_the_push_it_depends_on(fresh: SandboxThread, tmp_path: Path) -> None:
    project = project_of(tmp_path / "p", fresh, ["intacct", "zendesk"], "\n[run]\nthreads = 4\n")
    report = run(project, RunOptions(names=["intacct_journals_push", "intacct_gl_detail_pull", "zendesk_users_pull"]))
    assert [(r.name, r.status) for r in report.results] == [
        ("intacct_journals_push", "ok"), ("intacct_gl_detail_pull", "ok"), ("zendesk_users_pull", "ok")]
    [lines] = table(project, "(SELECT COUNT(*) FROM lending.journal_lines)")
    [pulled] = table(project, "(SELECT COUNT(*) FROM finance.gl_detail WHERE reference_no IN "
                              "(SELECT journal_id FROM lending.journal_lines))")
    assert pulled == lines and lines[0] > 0  # every line the push posted came back: read after it


@pytest.mark.parametrize("token", ["not-the-token", None], ids=["refused", "missing"])
def test_a_failing_system_stops_none_of_the_others(token: str | None, fresh: SandboxThread, tmp_path: Path) -> None:
    project = project_of(tmp_path / "p", fresh, ["sheets", "zendesk"])
    project.environ.pop("MIGO_SYNC_ZENDESK_API_TOKEN")
    if token is not None:  # refused by the remote; else missing here (the adapter cannot open)
        project.environ["MIGO_SYNC_ZENDESK_API_TOKEN"] = token
    report = run(project, RunOptions(names=PULLS, threads=4))
    statuses = {r.name: (r.status, r.exit_code) for r in report.results}
    assert statuses["zendesk_tickets_pull"] == ("failed", 2) and statuses["zendesk_users_pull"] == ("failed", 2)
    assert statuses["sheets_fx_rates_pull"][0] == "ok" and statuses["sheets_manual_adjustments_pull"][0] == "ok"
    assert [r.name for r in report.results] == PULLS and report.exit_code == 2
    assert table(project, "finance.fx_rates")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_run_and_abandons_reads_ahead_without_losing_a_row(
        signum: int, fresh: SandboxThread, tmp_path: Path) -> None:
    project = project_of(tmp_path / "p", fresh, ["sheets", "zendesk"])
    fresh.faults(rate=1.0, kinds=["slow"], slow_seconds=0.5, systems=["sheets", "zendesk"])
    before = fresh.stats()
    try:
        code, out, _err = signal_when(
            ["run", *PULLS, "--threads", "3", "--json", "--project", str(project.root)],
            {**project.environ, "MIGO_SYNC_GRACE_SECONDS": "20"},
            lambda: fresh.stats().get("zendesk", 0) > before.get("zendesk", 0), signum,
            what="a read ahead reaching Zendesk")
    finally:
        fresh.faults(rate=0.0)
    doc = json.loads(out)
    assert code == {signal.SIGTERM: 143, signal.SIGINT: 130}[signum] and doc["status"] == "interrupted", doc
    assert [m["name"] for m in doc["mappings"]] == PULLS
    again = run(project, RunOptions(names=PULLS, threads=3))
    assert all(r.status == "ok" for r in again.results), [(r.name, r.error) for r in again.results]
    reset(fresh)
    one = project_of(tmp_path / "one", fresh, ["sheets", "zendesk"])
    run(one, RunOptions(names=PULLS))
    for relation in ("finance.fx_rates", "support.tickets", "support.users"):
        assert table(project, relation) == table(one, relation), relation
