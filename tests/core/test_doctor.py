"""`migo-sync doctor` against the sandbox over HTTP: one line per check, exit 0 / 2 / 3."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers.projects import make_project

from migo_sync.cli import run_cli
from migo_sync.sandbox.process import SandboxThread

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("zendesk_users_pull.yaml", "intacct_accounts_pull.yaml", "adaptive_accounts_pull.yaml",
           "workday_gl_lines_pull.yaml", "sheets_fx_rates_pull.yaml", "workday_journals_push.yaml")


@pytest.fixture
def project(tmp_path: Path, sandbox: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_project(tmp_path / "p")
    for name in SHIPPED:
        shutil.copy(REPO / "mappings" / name, root / "mappings" / name)
    monkeypatch.setenv("MIGO_SYNC_SANDBOX_URL", sandbox.url)
    monkeypatch.delenv("MIGO_SYNC_TARGET", raising=False)
    return root


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, dict[str, object]]]:
    code = run_cli(["doctor", "--json", *args])
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit_code"] == code
    return code, {c["check"]: c for c in doc["checks"]}


def test_every_system_signs_in_and_every_object_is_readable(project: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, checks = doctor(capsys, "--target", "sandbox", "--project", str(project))
    assert code == 0, checks
    for system in ("sheets", "zendesk", "intacct", "adaptive", "workday"):
        assert checks[f"{system} sign-in"]["ok"], checks[f"{system} sign-in"]
    assert "signed in" in str(checks["zendesk sign-in"]["detail"])
    assert "signed in" in str(checks["intacct sign-in"]["detail"])
    assert checks["zendesk_users_pull"]["ok"] and checks["warehouse"]["ok"] and checks["config"]["ok"]
    # human output: one line per check, nothing cut
    assert run_cli(["doctor", "--target", "sandbox", "--project", str(project)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(checks) and all(line.startswith("ok") for line in lines)


def test_refused_credentials_are_exit_2_and_named(project: Path, capsys: pytest.CaptureFixture[str],
                                                  sandbox: SandboxThread,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MIGO_SYNC_ZENDESK_EMAIL", "agent@migo-demo.example")
    monkeypatch.setenv("MIGO_SYNC_ZENDESK_API_TOKEN", "wrong-token-0000")
    code, checks = doctor(capsys, "-s", "system:zendesk", "--project", str(project))
    assert code == 2
    assert not checks["zendesk sign-in"]["ok"] and checks["zendesk sign-in"]["exit_code"] == 2
    assert "wrong-token-0000" not in json.dumps(checks)
    monkeypatch.delenv("MIGO_SYNC_ZENDESK_API_TOKEN")
    code, checks = doctor(capsys, "-s", "system:zendesk", "--project", str(project))
    assert code == 2 and "MIGO_SYNC_ZENDESK_API_TOKEN" in str(checks["zendesk sign-in"]["detail"])


def test_an_unreachable_system_is_exit_3(project: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGO_SYNC_SANDBOX_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("MIGO_SYNC_RETRY_ATTEMPTS", "1")
    code, checks = doctor(capsys, "-s", "system:intacct", "--target", "sandbox", "--project", str(project))
    assert code == 3 and checks["intacct sign-in"]["exit_code"] == 3


def test_a_broken_config_stops_at_the_first_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, checks = doctor(capsys, "--project", str(tmp_path))
    assert code == 2 and list(checks) == ["config"] and "no project here" in str(checks["config"]["detail"])
