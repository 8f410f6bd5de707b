"""A DuckDB file that does not exist is created only by `migo-sync init` or with `create = true`:
a misspelt path is refused (exit 3, naming it) and nothing appears on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from migo_sync.cli import run_cli

pytestmark = pytest.mark.timeout(120)


def project(root: Path, warehouse: str) -> Path:
    root.mkdir(parents=True)
    (root / "migo-sync.toml").write_text(f'name = "p"\n[warehouse]\ntype = "duckdb"\n{warehouse}', encoding="utf-8")
    (root / "mappings").mkdir()
    return root


def tree(root: Path) -> set[str]:
    """What is on disk, minus the project lock `run` takes first (.migo-sync/lock, not the warehouse)."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.relative_to(root).parts[0] != ".migo-sync"}


@pytest.mark.parametrize("command", [["run"], ["runs", "list"], ["mapping", "validate"]])
def test_a_misspelt_path_is_refused_and_nothing_is_created(tmp_path: Path, command: list[str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path / "p", 'path = "data/wharehouse.duckdb"\n')
    before = tree(root)
    code = run_cli([*command, "--project", str(root)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert f"the DuckDB warehouse {root / 'data' / 'wharehouse.duckdb'} does not exist" in err
    assert "(run `migo-sync init` or set create = true in migo-sync.toml's warehouse table)" in err
    assert "Traceback" not in err
    assert tree(root) == before  # no file, no data/ folder


def test_create_true_creates_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path / "p", 'path = "data/warehouse.duckdb"\ncreate = true\n')
    assert run_cli(["runs", "list", "--project", str(root)]) == 0, capsys.readouterr().err
    assert (root / "data" / "warehouse.duckdb").is_file()


def test_an_existing_file_needs_no_create(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path / "p", 'path = "warehouse.duckdb"\ncreate = true\n')
    assert run_cli(["runs", "list", "--project", str(root)]) == 0
    (root / "migo-sync.toml").write_text('name = "p"\n[warehouse]\ntype = "duckdb"\npath = "warehouse.duckdb"\n')
    assert run_cli(["runs", "list", "--project", str(root)]) == 0, capsys.readouterr().err


def test_init_creates_it_and_the_project_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "new"
    assert run_cli(["init", str(root)]) == 0, capsys.readouterr().err
    assert (root / "warehouse.duckdb").is_file()
    assert "create" not in (root / "migo-sync.toml").read_text()  # the file exists: no need to ask again
    assert run_cli(["runs", "list", "--project", str(root)]) == 0, capsys.readouterr().err


def test_create_is_a_boolean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path / "p", 'path = "warehouse.duckdb"\ncreate = "maybe"\n')
    assert run_cli(["runs", "list", "--project", str(root)]) == 2
    assert "warehouse.create" in capsys.readouterr().err
    assert not (root / "warehouse.duckdb").exists()
