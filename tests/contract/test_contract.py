"""The adapter contract: what every system must do, run against each system's emulator.

In the spirit of dlt's destination configs and the Singer SDK's standard tap tests: one suite,
parametrized by `cases.CASES`, drives each adapter through the real engine, a real DuckDB file and
real HTTP on loopback. Every system must:

- push: land every unit exactly once; a rerun sends nothing;
- pull: land exactly what the remote holds; a rerun changes nothing;
- resume after SIGKILL at random points: every unit exactly once, the same remote state as a clean push;
- under injected faults (429, 5xx, dropped connections before and after the server acted): the
  same remote state as a clean push;
- map errors to the documented exit codes: a refused row 1, a refused credential 2, nothing
  listening 3;
- never show a secret: not on stdout/stderr (text or --json), not in any file of the project.

System-specific behaviour (formats, limits, odd answers) is tested beside each adapter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from contract.cases import CASES, Case, canonical
from helpers.kill import kill_push_then_rerun
from helpers.sandboxed import seeded_project

from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.engine.result import MappingResult
from migo_sync.engine.runner import RunOptions, run
from migo_sync.registry import load_object, systems
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse

FAULTS = ["429", "500", "503", "drop", "drop_after"]
NOWHERE = "127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture(scope="session")
def contract_server() -> Iterator[SandboxThread]:
    """Every emulator on one loopback server; each test resets the one it drives."""
    handle = SandboxThread(seed=7)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def initial_options(contract_server: SandboxThread) -> dict[str, dict[str, Any]]:
    return {name: dict(em.options) for name, em in contract_server.sandbox.emulators.items()}


@pytest.fixture(params=CASES, ids=[c.system for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    chosen: Case = request.param
    return chosen


@pytest.fixture
def remote(contract_server: SandboxThread, initial_options: dict[str, dict[str, Any]], case: Case
           ) -> Iterator[SandboxThread]:
    """The case's emulator at its seed with the case's knobs; faults off before and after."""
    emulator = contract_server.sandbox.emulators[case.system]

    def restore(**extra: Any) -> None:
        emulator.options.clear()
        emulator.options.update({**initial_options[case.system], **extra})
        contract_server.faults(rate=0.0, seed=7)
        contract_server.reset(case.system)

    restore(**case.emulator_options)
    yield contract_server
    restore()


def credentials(case: Case, root: Path) -> dict[str, str]:
    spec = systems()[case.system]
    assert spec.sandbox_credentials, f"{case.system} declares no sandbox credentials"
    made: dict[str, str] = load_object(spec.sandbox_credentials)(root)
    return made


def build(case: Case, handle: SandboxThread, root: Path, *, batch_size: int | None = None) -> Project:
    """A DuckDB project with the system's shipped mappings over the seeded lending dataset."""
    env = {**handle.env, **credentials(case, root.parent / f"{root.name}-keys"), "MIGO_SYNC_NO_KEYRING": "1"}
    project = seeded_project(root, case.system, env, case.settings)
    if batch_size is not None:  # confirm every `batch_size` units, so kills land between confirmations
        path = project.mappings_dir / f"{case.push}.yaml"
        text = re.sub(r"(?m)^batch_size:.*\n", "", path.read_text())
        path.write_text(text + f"batch_size: {batch_size}\n")
    return project


def sync(project: Project, *names: str) -> dict[str, MappingResult]:
    return {r.name: r for r in run(project, RunOptions(names=list(names))).results}


def sql(project: Project, statement: str) -> list[tuple[Any, ...]]:
    warehouse = open_warehouse(project)
    try:
        return warehouse.query(statement)
    finally:
        warehouse.close()


def source_keys(case: Case, project: Project) -> set[str]:
    return {str(r[0]) for r in sql(project, case.source_keys)}


def clean_push(case: Case, handle: SandboxThread, root: Path) -> dict[str, list[Any]]:
    """The remote state a push without faults or kills leaves; the emulator is reset after."""
    project = build(case, handle, root)
    result = sync(project, case.push)[case.push]
    assert result.status == "ok", result.error
    state = case.remote(handle)
    handle.reset(case.system)
    return state


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
