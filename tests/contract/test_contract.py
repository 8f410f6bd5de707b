"""The adapter contract: what every system must do, run against each system's emulator.

In the spirit of dlt's destination configs and the Singer SDK's standard tap tests: one suite,
parametrized by `cases.CASES`, drives each adapter through the real engine, a real DuckDB file and
real HTTP on loopback. Every system must:

- push: land every unit exactly once; a rerun sends nothing;
- pull: land exactly what the remote holds; a rerun changes nothing;
- resume after SIGKILL at random points: every unit exactly once, the same remote state as a clean push;
- if it queues writes as remote jobs (the `RemoteJobs` capability): name each job before waiting on
  it, so the run after one that died reads those jobs and sends none of their units again;
- under injected faults (429, 5xx, dropped connections before and after the server acted): the
  same remote state as a clean push;
- map errors to the documented exit codes: a refused row 1, a refused credential 2, nothing
  listening 3;
- never show a secret: not on stdout/stderr (text or --json), not in any file of the project;
- if it prepares a run (the `RunPreparation` capability): send nothing, write nothing and raise nothing
  there, with its credentials or without them.

System-specific behaviour (formats, limits, odd answers) is tested beside each adapter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from contract.cases import CASES, Case, canonical
from contract.harness import build, clean_push, source_keys, sql, sync
from helpers.kill import kill_push_then_rerun

from migo_sync.adapter import as_remote_jobs, as_run_preparation
from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.http import REQUEST_STATS
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter
from migo_sync.warehouse.bookkeeping import Bookkeeping

FAULTS = ["429", "500", "503", "drop", "drop_after"]
NOWHERE = "127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture(params=CASES, ids=[c.system for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    chosen: Case = request.param
    return chosen


def test_push_lands_every_unit_once_and_a_rerun_sends_nothing(case: Case, remote: SandboxThread,
                                                              tmp_path: Path) -> None:
    project = build(case, remote, tmp_path / "project")
    keys = source_keys(case, project)
    first = sync(project, case.push)[case.push]
    assert (first.status, first.rows_rejected) == ("ok", 0), first.error
    assert first.rows_written > 0 and first.requests > 0
    state = case.remote(remote)
    assert keys and {k: len(state.get(k, [])) for k in keys} == dict.fromkeys(keys, 1)
    again = sync(project, case.push)[case.push]
    assert (again.status, again.rows_changed, again.rows_written, again.requests) == ("ok", 0, 0, 0)
    assert case.remote(remote) == state


def test_pull_lands_exactly_what_the_remote_holds(case: Case, remote: SandboxThread, tmp_path: Path) -> None:
    project = build(case, remote, tmp_path / "project")
    results = sync(project, case.push, case.pull)
    assert all(r.status == "ok" for r in results.values()), {n: r.error for n, r in results.items()}
    pulled = canonical(sql(project, case.pulled))
    assert pulled and pulled == case.remote_rows(remote)
    again = sync(project, case.pull)[case.pull]
    assert (again.status, again.rows_changed) == ("ok", 0), again.error
    assert canonical(sql(project, case.pulled)) == pulled


@pytest.mark.slow
def test_a_push_killed_at_random_points_resumes_to_the_same_remote_state(case: Case, remote: SandboxThread,
                                                                         tmp_path: Path) -> None:
    reference = clean_push(case, remote, tmp_path / "clean")
    project = build(case, remote, tmp_path / "killed", batch_size=case.kill_batch)
    push = kill_push_then_rerun(remote, case.system, project, case.push, project.environ,
                                lambda: case.progress(remote), slow_seconds=0.02, max_step=case.kill_step, rounds=3)
    assert push.rerun.returncode == 0, push.rerun.stderr
    assert push.kills, "no round was killed mid-push"
    assert case.remote(remote) == reference  # every unit exactly once, as a clean push leaves it


class Died(BaseException):
    """The process stops right here (nothing on the way handles a BaseException)."""


def test_jobs_a_dead_push_queued_are_read_by_the_next_run_not_sent_again(
        case: Case, remote: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = clean_push(case, remote, tmp_path / "clean")
    project = build(case, remote, tmp_path / "project")
    adapter = open_adapter(project, case.system)
    try:
        if as_remote_jobs(adapter) is None:
            pytest.skip(f"{case.system} answers writes directly (no RemoteJobs capability)")
    finally:
        adapter.close()
    named: dict[str, str] = {}
    record_jobs = Bookkeeping.record_jobs

    def record_then_die(self: Bookkeeping, mapping: str, jobs: Any) -> int:
        record_jobs(self, mapping, jobs)
        named.update(jobs)
        raise Died

    monkeypatch.setattr(Bookkeeping, "record_jobs", record_then_die)
    with pytest.raises(Died):
        sync(project, case.push)
    monkeypatch.undo()
    keys = source_keys(case, project)
    assert named and set(named) <= keys
    rerun = sync(project, case.push)[case.push]
    assert rerun.status == "ok", rerun.error
    settled = rerun.details["queued_jobs"]
    assert (settled["units"], settled["rows_refused"], settled["units_unknown"]) == (len(named), 0, 0)
    assert settled["rows_confirmed"] >= len(named)
    assert rerun.rows_written == len(keys) - settled["rows_confirmed"]  # only what no job held was sent
    assert case.remote(remote) == reference


@pytest.mark.parametrize("credentials", ["given", "none"])
def test_a_run_preparation_sends_nothing_writes_nothing_and_raises_nothing(
        case: Case, remote: SandboxThread, tmp_path: Path, credentials: str) -> None:
    project = build(case, remote, tmp_path / "project")
    if credentials == "none":
        project.environ = {k: v for k, v in project.environ.items() if k.endswith("_URL") or k == "MIGO_SYNC_NO_KEYRING"}
    before, sent, files = case.remote(remote), REQUEST_STATS.get(case.system), sorted(project.root.rglob("*"))
    adapter = open_adapter(project, case.system)
    try:
        preparation = as_run_preparation(adapter)
        if preparation is None:
            pytest.skip(f"{case.system} has no RunPreparation capability")
        preparation.prepare_run()
    finally:
        adapter.close()  # waits for the preparation
    assert REQUEST_STATS.get(case.system) == sent
    assert case.remote(remote) == before
    assert sorted(project.root.rglob("*")) == files


def test_faults_leave_the_same_remote_state(case: Case, remote: SandboxThread, tmp_path: Path) -> None:
    reference = clean_push(case, remote, tmp_path / "clean")
    project = build(case, remote, tmp_path / "faulty")
    remote.faults(rate=0.5, kinds=FAULTS, systems=[case.system], retry_after=0, seed=11)
    for _ in range(4):  # a run may give up on a unit; the next one finishes it
        if sync(project, case.push)[case.push].status == "ok":
            break
    injected = remote.faults()["injected"]
    remote.faults(rate=0.0)
    final = sync(project, case.push)[case.push]
    assert (final.status, final.rows_written) == ("ok", 0), final.error
    assert sum(injected.values()) >= 1
    assert case.remote(remote) == reference


def cli(project: Project, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str) -> int:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return run_cli([*args, "--project", str(project.root)])


def unreachable(env: dict[str, str], handle: SandboxThread) -> dict[str, str]:
    host = handle.url.split("://", 1)[1]
    return {name: value.replace(host, NOWHERE) for name, value in env.items()}


def wrong_credential(case: Case, env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    value = env[case.auth_var]
    if Path(value).is_file():  # a key file: the same key, for another service account
        data = json.loads(Path(value).read_text())
        wrong = tmp_path / "wrong-key.json"
        wrong.write_text(json.dumps({**data, "client_email": "nobody"}))
        return {**env, case.auth_var: str(wrong)}
    return {**env, case.auth_var: value[::-1] + "x"}


def test_unreachable_is_exit_3_and_a_refused_row_exit_1(case: Case, remote: SandboxThread, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    project = build(case, remote, tmp_path / "project")
    env = dict(project.environ)
    before = case.remote(remote)
    assert cli(project, monkeypatch, unreachable(env, remote), "push", case.push) == 3
    assert case.remote(remote) == before  # nothing was sent
    spoiled = str(sql(project, case.spoiled)[0][0])
    sql(project, case.spoil)
    assert cli(project, monkeypatch, env, "push", case.push) == 1
    state = case.remote(remote)
    assert any(len(state.get(k, [])) == 1 for k in source_keys(case, project)), "the valid units were not sent"
    assert not any(key.startswith(spoiled) and len(state.get(key, [])) != len(before.get(key, []))
                   for key in set(state) | set(before)), "the refused unit changed the remote"


def test_a_refused_credential_is_exit_2_and_sends_nothing(case: Case, remote: SandboxThread, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    project = build(case, remote, tmp_path / "project")
    before = case.remote(remote)
    code = cli(project, monkeypatch, wrong_credential(case, dict(project.environ), tmp_path), "push", case.push)
    assert case.remote(remote) == before
    assert code == 2


def secrets_of(env: dict[str, str]) -> list[str]:
    """The credential values (a key file: chunks of its private key) that must never be shown."""
    found = []
    for name, value in env.items():
        if not name.startswith("MIGO_SYNC_") or name.endswith(("_URL", "_ID", "_EMAIL", "_LOGIN", "_USERNAME")):
            continue
        if Path(value).is_file():
            key = json.loads(Path(value).read_text()).get("private_key", "")
            body = "".join(line for line in key.splitlines() if "PRIVATE KEY" not in line)
            found += [body[i:i + 24] for i in range(0, len(body) - 24, 200)]
        elif len(value) >= 6 and name != "MIGO_SYNC_NO_KEYRING":
            found.append(value)
    return found


def test_secrets_never_appear_in_output_or_project_files(case: Case, remote: SandboxThread, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    project = build(case, remote, tmp_path / "project")
    env = dict(project.environ)
    secrets = secrets_of(env)
    assert secrets, f"{case.system}: no credential found to look for"
    codes = [cli(project, monkeypatch, wrong_credential(case, env, tmp_path), "push", case.push, "--verbose"),
             cli(project, monkeypatch, env, "push", case.push, "--json"),
             cli(project, monkeypatch, env, "run", "--verbose"),
             cli(project, monkeypatch, unreachable(env, remote), "pull", case.pull, "--json")]
    assert codes[0] != 0 and codes[1] == 0 and codes[3] == 3, codes
    out = capsys.readouterr()
    shown = out.out + out.err
    for secret in secrets:
        assert secret not in shown, f"{case.system}: a credential was printed"
    for path in project.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"{case.system}: a credential is stored in {path.name}"
