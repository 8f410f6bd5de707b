"""A pull's dry run on the sandbox, as a cron engineer would try it before a run: it compares what
it read with the warehouse (new / changed / unchanged), says how many requests that reading
spent, writes nothing and moves no cursor; from a saved cursor it reads only what a run would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import sandboxed

from migo_sync.cli import run_cli
from migo_sync.http import REQUEST_STATS
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse

pytestmark = pytest.mark.timeout(120)


def pull(capsys: pytest.CaptureFixture[str], root: Path, name: str, *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    code = run_cli(["pull", name, "--json", "--project", str(root), *extra])
    assert code == 0
    [result] = json.loads(capsys.readouterr().out)["mappings"]
    return dict(result)


@pytest.mark.parametrize(("system", "name"), [("zendesk", "zendesk_users_pull"), ("intacct", "intacct_accounts_pull")])
def test_a_dry_run_after_a_run_reports_unchanged_and_its_requests(
        system: str, name: str, sandbox: SandboxThread, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env = sandboxed.every_system_environ(sandbox, tmp_path / "keys")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root = sandboxed.seeded_project(tmp_path / "p", system, env).root
    first = pull(capsys, root, name, "--dry-run")
    assert first["details"]["new"] == first["rows_read"] > 0 and first["details"]["changed"] == 0
    real = pull(capsys, root, name)
    assert real["rows_written"] == first["details"]["new"]  # the preview said what the run did
    cursors = _cursors(root)
    before = REQUEST_STATS.get(system)
    again = pull(capsys, root, name, "--dry-run", "--full-refresh")
    assert again["details"] == {"new": 0, "changed": 0, "unchanged": again["rows_read"], "deleted": 0}
    assert again["requests"] == REQUEST_STATS.get(system) - before >= 1  # what it spent, exactly
    assert _cursors(root) == cursors  # nothing moved
    if system == "zendesk":
        return  # (each Zendesk export request counts against 10 a minute: the human view once is enough)
    capsys.readouterr()
    assert run_cli(["pull", name, "--dry-run", "--full-refresh", "--project", str(root)]) == 0
    err = " ".join(capsys.readouterr().err.split())  # a line folded at the terminal's width
    assert f"0 new, 0 changed, {again['rows_read']:,} unchanged" in err
    assert f"spent {again['requests']:,} request(s)" in err


def _cursors(root: Path) -> list[tuple[Any, ...]]:
    from migo_sync.config import Project

    warehouse = open_warehouse(Project.load(root))
    try:
        return warehouse.query('SELECT * FROM "migo_sync"."cursors" ORDER BY 1')
    finally:
        warehouse.close()
