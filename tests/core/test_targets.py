"""Targets: [targets.NAME] overrides, --target / MIGO_SYNC_TARGET / default_target, the built-in sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.projects import CONFIG, make_project

from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.errors import ConfigError, MappingError

TARGETS = CONFIG + """
[systems.intacct]
url = "https://api.intacct.com/ia/xml/xmlgw.phtml"
rate_limit = 2

[targets.dev.warehouse]
path = "dev.duckdb"

[targets.prod.warehouse]
type = "snowflake"
connection_name = "prod"

[targets.prod.systems.intacct]
rate_limit = 5
"""


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MIGO_SYNC_TARGET", raising=False)
    return make_project(tmp_path / "p", TARGETS)


def test_a_target_overrides_warehouse_and_system_settings(root: Path) -> None:
    base = Project.load(root)
    assert base.target is None and base.config.warehouse.path == "warehouse.duckdb"
    prod = Project.load(root, target="prod")
    assert prod.target == "prod"
    assert prod.config.warehouse.type == "snowflake" and prod.config.warehouse.connection_name == "prod"
    assert prod.system_settings("intacct") == {"url": "https://api.intacct.com/ia/xml/xmlgw.phtml", "rate_limit": 5}
    assert Project.load(root, target="dev").config.warehouse.path == "dev.duckdb"


def test_target_from_environment_then_default(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (root / "migo-sync.toml").write_text('default_target = "dev"\n' + TARGETS)
    assert Project.load(root).target == "dev"
    monkeypatch.setenv("MIGO_SYNC_TARGET", "prod")
    assert Project.load(root).target == "prod"
    assert Project.load(root, target="dev").target == "dev"  # the flag wins


def test_unknown_target_and_bad_target_settings_are_exit_2(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=r"no target 'prd' \(did you mean 'prod'\?"):
        Project.load(root, target="prd")
    assert run_cli(["run", "--target", "prd", "--project", str(root)]) == 2
    config = TARGETS + '\n[targets.bad.warehouse]\ntype = "oracle"\npth = "x"\n'
    (root / "migo-sync.toml").write_text(config)
    line = config.splitlines().index('type = "oracle"') + 1
    with pytest.raises(MappingError) as info:
        Project.load(root, target="bad")
    text = str(info.value)
    assert f"migo-sync.toml:{line}: targets.bad.warehouse.type: invalid value 'oracle'" in text
    assert "targets.bad.warehouse.pth: unknown key 'pth' (did you mean 'path'?)" in text


def test_sandbox_target_points_every_system_at_the_emulators(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGO_SYNC_INTACCT_USER_PASSWORD", "the-real-production-password")
    monkeypatch.setenv("MIGO_SYNC_ZENDESK_URL", "https://migo.zendesk.com")
    state = root / ".migo-sync" / "sandbox"
    state.mkdir(parents=True)
    (state / "server.json").write_text('{"url": "http://127.0.0.1:9911", "pid": 1}')
    project = Project.load(root, target="sandbox")
    env = project.environ
    assert env["MIGO_SYNC_ZENDESK_URL"] == "http://127.0.0.1:9911/zendesk"
    assert env["MIGO_SYNC_SHEETS_TOKEN_URL"] == "http://127.0.0.1:9911/sheets/token"
    assert env["MIGO_SYNC_INTACCT_USER_PASSWORD"] == "sandbox-user-secret"  # never the real one
    assert "the-real-production-password" not in env.values()
    for system in ("SHEETS", "INTACCT", "ADAPTIVE", "ZENDESK", "WORKDAY"):
        assert env[f"MIGO_SYNC_{system}_URL"].startswith("http://127.0.0.1:9911/")
    assert project.system_url("intacct", "https://default") == "http://127.0.0.1:9911/intacct/ia/xml/xmlgw.phtml"
