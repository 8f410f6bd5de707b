"""A bad migo-sync.toml: one line per problem with file and line, exit 2, nothing else happens."""

from __future__ import annotations

from pathlib import Path

import pytest

from migo_sync.cli import run_cli

CASES = [
    ("bad-toml", 'name = "x"\n[warehouse\n', 2, "invalid TOML: Expected ']'"),
    ("misspelt-key", 'name = "x"\n\n[warehouse]\npth = "w.duckdb"\n', 4,
     "warehouse.pth: unknown key 'pth' (did you mean 'path'?)"),
    ("bad-type", '[warehouse]\ntype = "postgres"\n', 2, "warehouse.type: invalid value 'postgres' (valid: duckdb, snowflake)"),
    ("top-level-key", 'mapings = "m"\n', 1, "mapings: unknown key 'mapings' (did you mean 'mappings'?)"),
    ("systems-not-table", 'systems = 3\n', 1, "systems: Input should be a valid dictionary"),
    ("unknown-system", '[systems.sheets]\n\n[systems.zendsk]\nurl = "http://127.0.0.1:9"\n', 3,
     "systems.zendsk: unknown system 'zendsk' (did you mean 'zendesk'?)"),
    ("unknown-system-far", '[systems.salesfarce]\n', 1, "systems.salesfarce: unknown system 'salesfarce' (known: "),
    ("run-threads-zero", '[run]\nthreads = 0\n', 2, "run.threads: Input should be greater than or equal to 1"),
    ("run-misspelt-key", '[run]\nthread = 2\n', 2, "run.thread: unknown key 'thread' (did you mean 'threads'?)"),
    ("run-reconcile", '[run]\nreconcile = "never"\n', 2, "run.reconcile: invalid value 'never' (valid: always, changed)"),
    ("bad-state-schema", '[warehouse]\nstate_schema = "my-state"\n', 2,
     "warehouse.state_schema: invalid schema name 'my-state' (letters, digits and _, not starting with a digit)"),
]


@pytest.mark.parametrize(("case", "text", "line", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, text: str,
                                      line: int, fragment: str) -> None:
    (tmp_path / "migo-sync.toml").write_text(text)
    code = run_cli(["run", "--project", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert f"migo-sync.toml:{line}:" in lines[0] and fragment in lines[0], lines[0]
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_a_config_that_is_not_utf8_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "migo-sync.toml").write_bytes(b'name = "x"\n\n[warehouse]\npath = "caf\xe9.duckdb"\n')
    assert run_cli(["run", "--project", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("migo-sync.toml:4: not UTF-8 text (byte 0xe9); save the file as UTF-8") and "\n" not in err


def test_an_unreadable_config_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "migo-sync.toml").mkdir()  # unreadable as a file, whoever runs the test (root reads 000 files)
    assert run_cli(["run", "--project", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("migo-sync.toml: cannot read: Is a directory") and "\n" not in err


def test_a_duckdb_path_under_a_file_is_exit_3_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data").write_text("not a folder")
    (tmp_path / "migo-sync.toml").write_text('[warehouse]\npath = "data/w.duckdb"\ncreate = true\n')
    (tmp_path / "mappings").mkdir()
    assert run_cli(["runs", "list", "--project", str(tmp_path)]) == 3
    err = capsys.readouterr().err.strip()
    assert "could not open the DuckDB warehouse" in err and f"cannot create its folder {tmp_path / 'data'}" in err
    assert "\n" not in err and "Traceback" not in err
