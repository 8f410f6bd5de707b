"""`mapping validate --remote` signs in to every system the mappings use (the adapter contract's
`check_connection`), Intacct and Adaptive included: refused credentials are errors (exit 2) that
name the setting to fix; right ones pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import sandboxed

from migo_sync.adapter import BaseAdapter
from migo_sync.cli import run_cli
from migo_sync.registry import get_system, load_object, systems
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter

SECRETS = {"intacct": "MIGO_SYNC_INTACCT_USER_PASSWORD", "workday": "MIGO_SYNC_WORKDAY_PASSWORD",
           "adaptive": "MIGO_SYNC_ADAPTIVE_PASSWORD", "zendesk": "MIGO_SYNC_ZENDESK_API_TOKEN"}


def test_every_adapter_declares_its_connection_check() -> None:
    for name in systems():
        cls = load_object(get_system(name).adapter)
        assert cls.check_connection is not BaseAdapter.check_connection, name


@pytest.fixture
def environ(sandbox: SandboxThread, tmp_path: Path) -> dict[str, str]:
    return sandboxed.every_system_environ(sandbox, tmp_path / "keys")


@pytest.mark.parametrize("system", sorted(systems()))
def test_check_connection_signs_in_and_reads(system: str, tmp_path: Path, environ: dict[str, str]) -> None:
    project = sandboxed.seeded_project(tmp_path / "p", system, environ)
    adapter = open_adapter(project, system)
    try:
        said = adapter.check_connection()
    finally:
        adapter.close()
    assert "signed in" in said


def _validate(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, root: Path,
              env: dict[str, str]) -> tuple[int, dict[str, object]]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    code = run_cli(["mapping", "validate", "--remote", "--project", str(root), "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("system", sorted(SECRETS))
def test_validate_remote_refuses_a_wrong_password_naming_the_setting(
        system: str, tmp_path: Path, environ: dict[str, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = {**environ, SECRETS[system]: "not-the-password"}
    project = sandboxed.seeded_project(tmp_path / "p", system, wrong)
    code, doc = _validate(capsys, monkeypatch, project.root, wrong)
    assert code == 2, doc
    problems = doc["problems"]
    assert isinstance(problems, list) and problems
    for problem in problems:
        assert problem["path"] == "system" and problem["line"]
        assert "cannot sign in" in problem["message"] and f"MIGO_SYNC_{system.upper()}_" in problem["message"]


def test_validate_remote_refuses_a_deleted_service_account(
        tmp_path: Path, environ: dict[str, str], sandbox: SandboxThread, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from migo_sync.adapters.sheets.auth import clear_token_cache
    from migo_sync.adapters.sheets.sandbox import SANDBOX_EMAIL

    project = sandboxed.seeded_project(tmp_path / "p", "sheets", environ)
    tokens = sandbox.sandbox.emulators["sheets"].tokens  # type: ignore[attr-defined]
    clear_token_cache()
    tokens.deleted.add(SANDBOX_EMAIL)
    try:
        code, doc = _validate(capsys, monkeypatch, project.root, environ)
    finally:
        tokens.deleted.discard(SANDBOX_EMAIL)
        clear_token_cache()
    assert code == 2, doc
    assert all("MIGO_SYNC_SHEETS_CREDENTIALS_FILE" in p["message"] for p in doc["problems"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("system", sorted(systems()))
def test_validate_remote_passes_with_the_right_credentials(
        system: str, tmp_path: Path, environ: dict[str, str], sandbox: SandboxThread,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    project = sandboxed.seeded_project(tmp_path / "p", system, environ)
    code, doc = _validate(capsys, monkeypatch, project.root, environ)
    assert code == 0, doc
    assert doc["ok"] is True


@pytest.mark.parametrize("system", sorted(systems()))
def test_validate_remote_on_an_unreachable_system_exits_3(
        system: str, tmp_path: Path, environ: dict[str, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**environ, f"MIGO_SYNC_{system.upper()}_URL": f"http://127.0.0.1:{port}/x",
           "MIGO_SYNC_SHEETS_TOKEN_URL": f"http://127.0.0.1:{port}/token" if system == "sheets"
           else environ["MIGO_SYNC_SHEETS_TOKEN_URL"]}
    project = sandboxed.seeded_project(tmp_path / "p", system, env)
    code, doc = _validate(capsys, monkeypatch, project.root, env)
    assert code == 3, doc
