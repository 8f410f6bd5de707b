"""The one exit-code rule, per system, through the real CLI against the sandbox:
credentials refused → 2, system unreachable → 3, rows rejected → 1 (and 0 when all is well).

Each system's shipped push mapping runs over the seeded lending dataset; the failure is made the
way a customer meets it: a wrong password, a URL nobody answers on, a NULL where a check refuses it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import sandboxed

from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.registry import systems
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse


@dataclass(frozen=True)
class Case:
    push: str                 # the shipped push mapping
    secret: str               # the credential a wrong value of which the system refuses
    reject: str               # SQL that makes one row fail a mapping check
    settings: str = ""


FIRST_JOURNAL = "(SELECT MIN(journal_id) FROM lending.journal_lines)"
CASES = {
    "intacct": Case("intacct_journals_push", "MIGO_SYNC_INTACCT_USER_PASSWORD",
                    f"UPDATE lending.journal_lines SET amount = NULL WHERE journal_id = {FIRST_JOURNAL}"),
    "workday": Case("workday_journals_push", "MIGO_SYNC_WORKDAY_PASSWORD",
                    f"UPDATE lending.journal_lines SET amount = NULL WHERE journal_id = {FIRST_JOURNAL}"),
    "adaptive": Case("adaptive_actuals_push", "MIGO_SYNC_ADAPTIVE_PASSWORD",
                     "UPDATE lending.monthly_actuals SET amount = NULL "
                     "WHERE period = (SELECT MIN(period) FROM lending.monthly_actuals)"),
    "zendesk": Case("zendesk_users_push", "MIGO_SYNC_ZENDESK_API_TOKEN",
                    "UPDATE lending.customers SET full_name = NULL "
                    "WHERE customer_id = (SELECT MIN(customer_id) FROM lending.customers)"),
    "sheets": Case("sheets_collections_push", "",  # a service account Google no longer knows
                   "UPDATE lending.collections SET outstanding = NULL "
                   "WHERE loan_id = (SELECT MIN(loan_id) FROM lending.collections)"),
}


def test_every_system_has_a_case() -> None:
    assert set(CASES) == set(systems())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def environ(sandbox: SandboxThread, tmp_path: Path) -> dict[str, str]:
    return sandboxed.every_system_environ(sandbox, tmp_path / "keys")


@pytest.fixture
def deleted_service_account(sandbox: SandboxThread) -> Iterator[None]:
    from migo_sync.adapters.sheets.auth import clear_token_cache
    from migo_sync.adapters.sheets.sandbox import SANDBOX_EMAIL

    tokens = sandbox.sandbox.emulators["sheets"].tokens  # type: ignore[attr-defined]
    clear_token_cache()
    tokens.deleted.add(SANDBOX_EMAIL)
    try:
        yield
    finally:
        tokens.deleted.discard(SANDBOX_EMAIL)
        clear_token_cache()


def _run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, root: Path, env: dict[str, str],
         mapping: str) -> tuple[int, dict[str, Any]]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    code = run_cli(["run", mapping, "--project", str(root), "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _project(tmp_path: Path, system: str, env: dict[str, str]) -> Project:
    return sandboxed.seeded_project(tmp_path / "project", system, env, CASES[system].settings)


@pytest.mark.parametrize("system", sorted(CASES))
def test_refused_credentials_exit_2(system: str, tmp_path: Path, environ: dict[str, str],
                                    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                    request: pytest.FixtureRequest) -> None:
    case = CASES[system]
    if case.secret:
        environ = {**environ, case.secret: "not-the-password"}
    else:
        request.getfixturevalue("deleted_service_account")
    project = _project(tmp_path, system, environ)
    code, doc = _run(capsys, monkeypatch, project.root, environ, case.push)
    assert code == 2, doc
    [result] = doc["mappings"]
    assert result["status"] == "failed"
    assert "MIGO_SYNC_" + system.upper() in result["error"]  # names the setting to fix


@pytest.mark.parametrize("system", sorted(CASES))
def test_unreachable_system_exits_3(system: str, tmp_path: Path, environ: dict[str, str],
                                    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    environ = {**environ, f"MIGO_SYNC_{system.upper()}_URL": f"http://127.0.0.1:{port}/{system}"}
    if system == "sheets":
        environ["MIGO_SYNC_SHEETS_TOKEN_URL"] = f"http://127.0.0.1:{port}/token"
    project = _project(tmp_path, system, environ)
    code, doc = _run(capsys, monkeypatch, project.root, environ, CASES[system].push)
    assert code == 3, doc
    assert doc["mappings"][0]["status"] == "failed"


@pytest.mark.parametrize("system", sorted(CASES))
def test_rejected_rows_exit_1(system: str, tmp_path: Path, environ: dict[str, str],
                              capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path, system, environ)
    warehouse = open_warehouse(project)
    try:
        warehouse.execute(CASES[system].reject)
    finally:
        warehouse.close()
    code, doc = _run(capsys, monkeypatch, project.root, environ, CASES[system].push)
    assert code == 1, doc
    [result] = doc["mappings"]
    assert result["status"] == "rejected" and result["rows_rejected"] >= 1, result


def test_the_most_serious_outcome_wins() -> None:
    from migo_sync.errors import (
        AuthError,
        ConfigError,
        FatalRemoteError,
        UnreachableError,
        exit_code_for,
        most_serious,
    )

    assert exit_code_for(AuthError("x", "refused")) == 2
    assert exit_code_for(ConfigError("bad")) == 2
    assert exit_code_for(UnreachableError("gone")) == 3
    assert exit_code_for(FatalRemoteError("x", "no")) == 1
    assert exit_code_for(ValueError("bug")) == 1
    assert most_serious([0, 1, 2]) == 2
    assert most_serious([1, 3, 2]) == 3
    assert most_serious([0, 0]) == 0
    assert most_serious([]) == 0
