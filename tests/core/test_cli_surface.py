"""The command line keeps its surface honest: every command has help and is in the README."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from migo_sync.cli import app, run_cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def commands() -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []

    def walk(prefix: str, command: Any) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(f"{prefix} {name}".strip(), sub)
        else:
            found.append((prefix, command))

    walk("", root)
    return found


COMMANDS = commands()


def test_the_contract_commands_exist() -> None:
    names = {name for name, _ in COMMANDS}
    assert {"run", "push", "pull", "mapping validate", "mapping diff", "mapping schema", "runs list", "runs show",
            "sandbox serve", "sandbox dump", "demo", "init", "reconcile"} <= names


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_has_help_and_is_documented(name: str, command: Any,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert (command.help or "").strip(), f"{name} has no help"
    for param in command.params:
        if param.param_type_name == "option" and not param.hidden:
            assert (param.help or "").strip(), f"{name} {param.opts[0]} has no help"
    assert re.search(rf"`migo-sync {re.escape(name)}\b", README), f"'migo-sync {name}' is not in the README"
    assert run_cli([*name.split(), "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_exit_codes_are_documented() -> None:
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert code in README


def test_usage_error_is_exit_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "--no-such-option"]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "No such option" in err


def test_no_project_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "--project", str(tmp_path)]) == 2
    assert "no project here" in capsys.readouterr().err


def test_python_dash_m_and_help_stay_light() -> None:
    """`--help` must not import the Snowflake connector, zeep, any adapter, nor httpx (with click
    and rich installed httpx imports its own CLI: ~0.25 s of every command's start) or smtplib."""
    heavy = ('snowflake', 'zeep', 'duckdb', 'pyarrow', 'httpx', 'smtplib', 'jwt', 'cryptography')
    code = ("import sys; from migo_sync.cli import run_cli; run_cli(['--help']); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} "
            "or m.startswith('migo_sync.adapters.') and m.count('.') > 2))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    assert out.strip().splitlines()[-1] == "[]"
    assert subprocess.run([sys.executable, "-m", "migo_sync", "--help"], capture_output=True,
                          timeout=120).returncode == 0


def test_init_scaffolds_a_valid_project(tmp_path: Path) -> None:
    assert run_cli(["init", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "migo-sync.toml").exists()
    assert run_cli(["mapping", "validate", "--offline", "--project", str(tmp_path / "p")]) == 0
    assert run_cli(["init", str(tmp_path / "p")]) == 2  # never overwrites


def test_mapping_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert run_cli(["mapping", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "migo-sync mapping"
    assert {"system", "object", "direction", "fields"} <= set(schema["required"])
    assert "name" not in schema["required"]


def test_version_and_completion(capsys: pytest.CaptureFixture[str]) -> None:
    from migo_sync import __version__

    assert run_cli(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"migo-sync {__version__}"
    assert run_cli(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--install-completion" in out and "--show-completion" in out and "--version" in out


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_help_has_plain_metavars_and_keeps_brackets(name: str, command: Any,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli([*name.split(), "--help"]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"<(bool|int|float|text|str|list\[\w+\]|path|dir|int range|float range)>", out), out
    if "--target" in out:
        assert "[targets.NAME]" in out  # help text is not read as markup


def test_selector_words_as_options_point_at_select(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "--direction", "push"]) == 2
    err = capsys.readouterr().err
    assert "--select direction:VALUE" in err and "--project" not in err


def test_sandbox_serve_prints_urls_and_credentials_of_every_system(tmp_path: Path) -> None:
    import queue
    import threading

    proc = subprocess.Popen([sys.executable, "-m", "migo_sync", "sandbox", "serve", "--port", "0",
                             "--state-dir", str(tmp_path / "state")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True).start()
    wanted = {"MIGO_SYNC_SHEETS_URL", "MIGO_SYNC_SHEETS_TOKEN_URL", "MIGO_SYNC_SHEETS_CREDENTIALS_FILE",
              "MIGO_SYNC_ZENDESK_URL", "MIGO_SYNC_ZENDESK_EMAIL", "MIGO_SYNC_ZENDESK_API_TOKEN",
              "MIGO_SYNC_INTACCT_URL", "MIGO_SYNC_INTACCT_SENDER_ID", "MIGO_SYNC_INTACCT_SENDER_PASSWORD",
              "MIGO_SYNC_INTACCT_COMPANY_ID", "MIGO_SYNC_INTACCT_USER_ID", "MIGO_SYNC_INTACCT_USER_PASSWORD",
              "MIGO_SYNC_ADAPTIVE_URL", "MIGO_SYNC_ADAPTIVE_LOGIN", "MIGO_SYNC_ADAPTIVE_PASSWORD",
              "MIGO_SYNC_WORKDAY_URL", "MIGO_SYNC_WORKDAY_USERNAME", "MIGO_SYNC_WORKDAY_PASSWORD"}
    seen: dict[str, str] = {}
    try:
        while not wanted <= set(seen):
            line = lines.get(timeout=60)
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                seen[key] = value
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert seen["MIGO_SYNC_WORKDAY_PASSWORD"] == "'wd-sandbox-Pa55w0rd!'"  # quoted for the shell
    assert Path(seen["MIGO_SYNC_SHEETS_CREDENTIALS_FILE"]).exists()
