"""`migo-sync doctor` reads every mapped object of every system once (the adapter contract's
`check_object()`), over HTTP against the sandbox: readable objects pass with what was read; a
refused credential is exit 2 on the sign-in line; an object the remote will not let us read is
exit 2 on that mapping's line, and the other mappings of the system are still checked."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import sandboxed

from migo_sync.adapter import BaseAdapter
from migo_sync.cli import run_cli
from migo_sync.registry import get_system, load_object, systems
from migo_sync.sandbox.process import SandboxThread

pytestmark = pytest.mark.timeout(120)

SYSTEMS = sorted(systems())
WRONG = {"intacct": "MIGO_SYNC_INTACCT_USER_PASSWORD", "workday": "MIGO_SYNC_WORKDAY_PASSWORD",
         "adaptive": "MIGO_SYNC_ADAPTIVE_PASSWORD", "zendesk": "MIGO_SYNC_ZENDESK_API_TOKEN"}
WORKDAY_ACCOUNTS = """name: workday_accounts_pull
system: workday
object: Ledger_Account
direction: pull
warehouse: {table: finance.workday_accounts}
key: [account_no]
fields:
  - {column: account_no, remote: Ledger_Account_ID}
  - {column: account_name, remote: Ledger_Account_Name}
"""


def test_every_adapter_declares_its_object_check() -> None:
    for name in SYSTEMS:
        cls = load_object(get_system(name).adapter)
        assert cls.check_object is not BaseAdapter.check_object, name


@pytest.fixture
def environ(sandbox: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = sandboxed.every_system_environ(sandbox, tmp_path / "keys")
    monkeypatch.delenv("MIGO_SYNC_TARGET", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def knobs(sandbox: SandboxThread) -> Iterator[Callable[[str, dict[str, Any]], None]]:
    """Set emulator options for one test; every emulator's options come back after it."""
    saved = {name: dict(e.options) for name, e in sandbox.sandbox.emulators.items()}

    def set_knobs(system: str, values: dict[str, Any]) -> None:
        sandbox.sandbox.emulators[system].options.update(values)

    yield set_knobs
    for name, options in saved.items():
        sandbox.sandbox.emulators[name].options.clear()
        sandbox.sandbox.emulators[name].options.update(options)


def project_for(system: str, tmp_path: Path, env: dict[str, str], settings: str = "") -> Path:
    project = sandboxed.seeded_project(tmp_path / "p", system, env, settings)
    if system == "workday":
        (project.mappings_dir / "workday_accounts_pull.yaml").write_text(WORKDAY_ACCOUNTS)
    return project.root


def doctor(capsys: pytest.CaptureFixture[str], root: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    capsys.readouterr()
    code = run_cli(["doctor", "--json", "--project", str(root)])
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit_code"] == code
    return code, {c["check"]: c for c in doc["checks"]}


def mapping_checks(root: Path, checks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = {p.stem for p in (root / "mappings").glob("*.yaml")}
    assert names <= set(checks), f"a mapping was not checked: {sorted(names - set(checks))}"
    return {n: checks[n] for n in names}


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_mapped_object_is_read(system: str, tmp_path: Path, environ: dict[str, str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    root = project_for(system, tmp_path, environ)
    code, checks = doctor(capsys, root)
    assert code == 0, checks
    assert checks[f"{system} sign-in"]["ok"]
    for name, check in mapping_checks(root, checks).items():
        assert check["ok"] and "readable" in check["detail"], (name, check)
    # one line per check in the human output, each mapping named with what was read
    capsys.readouterr()
    assert run_cli(["doctor", "--project", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(checks)
    assert all(re.match(r"ok  ", line) for line in lines)


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_refused_credential_is_exit_2_on_the_sign_in_line(system: str, tmp_path: Path, environ: dict[str, str],
                                                           sandbox: SandboxThread,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    root = project_for(system, tmp_path, environ)
    if system == "sheets":  # the service account was deleted: its token request is refused
        from migo_sync.adapters.sheets.auth import clear_token_cache
        from migo_sync.adapters.sheets.sandbox import SANDBOX_EMAIL

        clear_token_cache()
        sandbox.sandbox.emulators["sheets"].tokens.deleted.add(SANDBOX_EMAIL)  # type: ignore[attr-defined]
    else:
        monkeypatch.setenv(WRONG[system], "not-the-password-0000")
    try:
        code, checks = doctor(capsys, root)
    finally:
        if system == "sheets":
            sandbox.sandbox.emulators["sheets"].tokens.deleted.clear()  # type: ignore[attr-defined]
            clear_token_cache()
    assert code == 2, checks
    sign_in = checks[f"{system} sign-in"]
    assert not sign_in["ok"] and sign_in["exit_code"] == 2
    assert "not-the-password-0000" not in json.dumps(checks)


# system → (emulator knobs, [systems.X] settings, a mapping file edit, the mapping that must fail)
UNREADABLE: dict[str, tuple[dict[str, Any], str, tuple[str, str, str] | None, str, str]] = {
    "intacct": ({"hidden_objects": ["GLENTRY"]}, "", None, "intacct_gl_detail_pull", "GLENTRY not found"),
    "zendesk": ({"exports_forbidden": True}, "", None, "zendesk_users_pull", "do not have access"),
    "workday": ({}, 'account_set = "Nope_Set"\n', None, "workday_accounts_pull", "Nope_Set"),
    "adaptive": ({}, "", ("adaptive_budget_pull.yaml", "Budget FY2026", "Budget FY2099"), "adaptive_budget_pull",
                 "Budget FY2099"),
    "sheets": ({}, "", ("sheets_fx_rates_pull.yaml", "spreadsheet_id: ", "spreadsheet_id: nope-"),
               "sheets_fx_rates_pull", "nope-"),
}


@pytest.mark.parametrize("system", SYSTEMS)
def test_an_unreadable_object_is_exit_2_on_its_mapping_line(system: str, tmp_path: Path, environ: dict[str, str],
                                                           knobs: Callable[[str, dict[str, Any]], None],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    options, settings, edit, failing, said = UNREADABLE[system]
    root = project_for(system, tmp_path, environ, settings)
    if edit is not None:
        path = root / "mappings" / edit[0]
        text = path.read_text()
        assert edit[1] in text
        path.write_text(text.replace(edit[1], edit[2], 1))
    knobs(system, options)
    code, checks = doctor(capsys, root)
    assert code == 2, checks
    assert checks[f"{system} sign-in"]["ok"], checks[f"{system} sign-in"]
    found = mapping_checks(root, checks)
    assert not found[failing]["ok"] and found[failing]["exit_code"] == 2
    assert said in found[failing]["detail"], found[failing]
    others = {n: c for n, c in found.items() if n != failing and c["ok"]}
    assert others or len(found) == 1 or system == "zendesk", found  # one refused object stops nothing else


@pytest.mark.parametrize("system", SYSTEMS)
def test_validate_remote_reads_each_object_too(system: str, tmp_path: Path, environ: dict[str, str],
                                               knobs: Callable[[str, dict[str, Any]], None],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`mapping validate --remote` makes the same one small read per mapping as `doctor`: an object
    these credentials cannot read is a problem on that mapping's `object` line (exit 2)."""
    options, settings, edit, failing, said = UNREADABLE[system]
    root = project_for(system, tmp_path, environ, settings)
    if edit is not None:
        path = root / "mappings" / edit[0]
        path.write_text(path.read_text().replace(edit[1], edit[2], 1))
    knobs(system, options)
    capsys.readouterr()
    code = run_cli(["mapping", "validate", "--remote", "--json", "--project", str(root)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2, doc
    mine = [p for p in doc["problems"] if failing in p["file"]]
    assert mine and any(said in p["message"] for p in mine), doc["problems"]
    assert all(p["line"] for p in mine)
