"""Pulls show a percentage when the remote says how many records are coming: Intacct's
readByQuery `totalcount` (from the first page), a sheet range whose data ends in its first window.
The total is known before the first rows are counted, equals what was read, and is never a
guess (Zendesk's cursor exports say nothing: no total). A wait longer than 2 s during a pull
(a throttled page answered `Retry-After: 5`) is named on the pull's line."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
import stamina
from helpers import sandboxed
from rich.console import Console

from migo_sync.engine.runner import RunOptions, run
from migo_sync.progress import Task, live_progress
from migo_sync.sandbox.process import SandboxThread

pytestmark = pytest.mark.timeout(120)


class Recorded(Task):
    """What the engine told one mapping's progress line, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int | None]] = []

    def __call__(self, n: int) -> None:
        self.events.append(("rows", n))

    def set_total(self, total: int | None) -> None:
        self.events.append(("total", total))

    def done(self) -> None:
        self.events.append(("done", None))


def pulled(system: str, name: str, sandbox: SandboxThread, tmp_path: Path,
           settings: str = "", knobs: dict[str, object] | None = None) -> tuple[Recorded, int]:
    knobs = knobs or {}
    emulator = sandbox.sandbox.emulators[system]
    saved = {key: emulator.options.get(key, 0) for key in knobs}
    if knobs:  # through the emulator's own route, which also builds what a knob asks for
        httpx.post(f"{sandbox.url}/{system}/_options", json=knobs, timeout=30).raise_for_status()
    try:
        return _pulled(system, name, sandbox, tmp_path, settings)
    finally:
        if knobs:
            httpx.post(f"{sandbox.url}/{system}/_options", json=saved, timeout=30).raise_for_status()


def _pulled(system: str, name: str, sandbox: SandboxThread, tmp_path: Path, settings: str) -> tuple[Recorded, int]:
    env = sandboxed.every_system_environ(sandbox, tmp_path / "keys")
    project = sandboxed.seeded_project(tmp_path / "p", system, env, settings)
    tasks: dict[str, Recorded] = {}

    def factory(mapping: str, total: int | None) -> Recorded:
        tasks[mapping] = Recorded()
        return tasks[mapping]

    report = run(project, RunOptions(names=[name]), progress=factory)
    [result] = report.results
    assert result.status == "ok", result.error
    return tasks[name], result.rows_read


@pytest.mark.parametrize(("system", "name", "settings", "knobs"), [
    ("intacct", "intacct_accounts_pull", "page_size = 7\n", {}),  # several readMore pages
    ("intacct", "intacct_gl_detail_pull", "", {"bulk_gl_lines": 2500}),  # three pages of 1000
    ("sheets", "sheets_fx_rates_pull", "", {}),
], ids=["intacct-accounts", "intacct-gl-detail", "sheets-tab"])
def test_a_pull_knows_its_total_before_counting(system: str, name: str, settings: str, knobs: dict[str, object],
                                                sandbox: SandboxThread, tmp_path: Path) -> None:
    task, rows = pulled(system, name, sandbox, tmp_path, settings, knobs)
    assert rows > 0
    kinds = [kind for kind, _ in task.events]
    assert kinds[0] == "total", task.events  # a percentage from the very first rows
    totals = {value for kind, value in task.events if kind == "total"}
    assert totals == {rows}, (totals, rows)
    assert sum(value or 0 for kind, value in task.events if kind == "rows") == rows
    assert kinds[-1] == "done"


def test_a_pull_without_a_known_total_does_not_guess(sandbox: SandboxThread, tmp_path: Path) -> None:
    task, rows = pulled("zendesk", "zendesk_users_pull", sandbox, tmp_path)
    assert rows > 0 and not [e for e in task.events if e[0] == "total"]


def test_a_long_wait_during_a_pull_is_named_on_its_line(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = sandboxed.every_system_environ(sandbox, tmp_path / "keys")
    project = sandboxed.seeded_project(tmp_path / "p", "intacct", env, "page_size = 4\n")
    emulator = sandbox.sandbox.emulators["intacct"]
    saved = dict(emulator.options)
    emulator.options.update(throttle_every=3, retry_after_header=3)  # the 3rd request: 429, Retry-After: 3
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    try:
        stamina.set_testing(False)  # this one wait is real: what is shown is what is waited
        with live_progress(console) as factory:
            report = run(project, RunOptions(names=["intacct_accounts_pull"]), progress=factory)
    finally:
        stamina.set_testing(True, attempts=10)
        emulator.options.clear()
        emulator.options.update(saved)
    assert report.results[0].status == "ok", report.results[0].error
    text = out.getvalue()
    assert "intacct_accounts_pull — waiting 3 s: retry 1 after" in text, text
    assert "100%" in text.rsplit("intacct_accounts_pull", 1)[-1]
