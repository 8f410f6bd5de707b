"""What the CLI prints can be trusted: text verbatim (no Rich markup eaten), composite keys
readable, nothing cut at any terminal width (golden files at 60, 80, 200 columns and piped),
quiet means quiet, conflicting flags refused."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from migo_sync.cli import run_cli
from migo_sync.cli.run import show_report
from migo_sync.console import Terminal, readable_key
from migo_sync.engine.result import MappingResult
from migo_sync.engine.runner import RunReport
from migo_sync.redact import redact, register_secret

GOLDEN = Path(__file__).parent / "golden"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RUN_ID = "r20261206-215627-8c1e56"


def report() -> RunReport:
    journals = MappingResult("intacct_journals_push", "intacct", "push", status="rejected", rows_read=50_000,
                             rows_changed=23_408_123, rows_written=23_408_115, rows_rejected=8, requests=1_204,
                             seconds=1234.56)
    tab = MappingResult("sheets_fx[rates]_pull", "sheets", "pull", rows_read=-23_418_777_001)
    return RunReport(RUN_ID, [journals, tab])


def render(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], width: int | None) -> str:
    for key in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "COLUMNS", "TERM"):
        monkeypatch.delenv(key, raising=False)
    if width is not None:  # a terminal of that width
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
        monkeypatch.setenv("COLUMNS", str(width))
        monkeypatch.setenv("NO_COLOR", "1")
    show_report(Terminal(), report())
    return ANSI.sub("", capsys.readouterr().out)


@pytest.mark.parametrize("width", [60, 80, 200, None], ids=["60", "80", "200", "piped"])
def test_run_report_golden(width: int | None, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    out = render(monkeypatch, capsys, width)
    golden = GOLDEN / f"run_report_{width or 'piped'}.txt"
    if os.environ.get("MIGO_SYNC_UPDATE_GOLDEN"):
        golden.write_text(out, encoding="utf-8")
    assert out == golden.read_text(encoding="utf-8")
    flat = re.sub(r"[\s│┃]+", "", out)  # values folded over lines are still whole
    for whole in (RUN_ID, "23,408,123", "23,408,115", "-23,418,777,001", "1,204", "1234.56",
                  "sheets_fx[rates]_pull"):
        assert whole in flat, f"{whole} cut at width {width}"
    assert "…" not in out
    if width is not None:
        assert max(len(line) for line in out.splitlines()) <= width


def test_messages_and_cells_are_printed_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    term = Terminal()
    term.error("snowflake needs an optional dependency: pip install 'migo-sync[snowflake]'")
    term.warn("mapping diff: fields[phone].remote [bold]x[/bold]")
    term.info("row LX[red]1 and [link=http://x]y[/link]")
    term.table("t[red]", ["row", "reason"], [("LX[red]1", "missing value in [phone]")])
    out, err = capsys.readouterr()
    assert "pip install 'migo-sync[snowflake]'" in err
    assert "fields[phone].remote [bold]x[/bold]" in err
    assert "row LX[red]1 and [link=http://x]y[/link]" in err
    assert "LX[red]1" in out and "missing value in [phone]" in out and "t[red]" in out


def test_composite_keys_are_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert readable_key("JE-0001\x1f1") == "JE-0001 / 1"
    Terminal().table(None, ["row"], [("JE-0001\x1f1",)])
    Terminal().info("  invalid: JE-0001\x1f2: missing value in phone")
    out, err = capsys.readouterr()
    assert "JE-0001 / 1" in out and "JE-0001 / 2" in err and "\x1f" not in out + err


def test_redaction_masks_the_secret_and_nothing_else() -> None:
    register_secret("s3cr3t-pa55")
    assert redact("token: [Errno 111] Connection refused") == "token: [Errno 111] Connection refused"
    assert redact("password: (none given)") == "password: (none given)"
    assert redact("sent s3cr3t-pa55 to x") == "sent *** to x"
    assert redact("password=hunter22 next") == "password=*** next"
    register_secret("pass")  # a short secret: masked as a word, never inside another word
    assert redact("Incorrect username or password; sender pass: pass") == "Incorrect username or password; sender ***: ***"
    assert redact("p=pass&x") == "p=***&x"


def test_quiet_and_verbose_together_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "-q", "-v", "--project", str(tmp_path)]) == 2
    assert "--quiet and --verbose cannot be used together" in capsys.readouterr().err
    assert run_cli(["mapping", "validate", "--remote", "--offline", "--project", str(tmp_path)]) == 2
    assert "--remote and --offline" in capsys.readouterr().err


def test_quiet_prints_no_table(capsys: pytest.CaptureFixture[str]) -> None:
    show_report(Terminal(quiet=True), RunReport("r1", [MappingResult("m", "sheets", "push")]))
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_cli_errors_keep_square_brackets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from helpers.projects import make_project

    project = make_project(tmp_path / "p")
    assert run_cli(["run", "tag:[red]urgent", "--project", str(project)]) == 2
    assert "selector 'tag:[red]urgent' matches no enabled mapping" in capsys.readouterr().err
    (project / "migo-sync.toml").write_text('[warehouse]\ntype = "snowflake"\n[targets.x]\nwarehouse = {pth = "[b]"}\n')
    assert run_cli(["run", "--target", "x", "--project", str(project)]) == 2
    assert "targets.x.warehouse.pth: unknown key 'pth'" in capsys.readouterr().err
