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
