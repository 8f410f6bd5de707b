"""Every malformed mapping gives one clear line with file and line, exit 2, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.mapping_cases import INVALID, VALID
from helpers.projects import make_project

from migo_sync.cli import run_cli


@pytest.mark.parametrize(("case", "text", "line", "fragment"), INVALID, ids=[c[0] for c in INVALID])
def test_malformed_mapping_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str,
                                             text: str, line: int, fragment: str) -> None:
    project = make_project(tmp_path)
    path = project / "mappings" / f"{case}.yaml"
    path.write_text(text, encoding="utf-8")
    code = run_cli(["mapping", "validate", "--offline", "--project", str(project)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in out + err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert f"{case}.yaml:{line}:" in lines[0], lines[0]
    assert fragment in lines[0], lines[0]


def test_all_problems_of_all_files_are_reported_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path)
    (project / "mappings" / "a.yaml").write_text(VALID.replace("direction: push", "direction: psh"))
    (project / "mappings" / "b.yaml").write_text(VALID.replace("name: collections_tab", "name: b")
                                                 .replace("type: decimal", "type: money"))
    code = run_cli(["mapping", "validate", "--offline", "--project", str(project)])
    err = capsys.readouterr().err
    assert code == 2
    assert "a.yaml:4: direction" in err and "b.yaml:17: fields[1].type" in err


def test_run_with_a_bad_mapping_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path)
    (project / "mappings" / "bad.yaml").write_text(VALID.replace("type: decimal", "type: decimel"))
    code = run_cli(["run", "--project", str(project), "--json"])
    out = capsys.readouterr().out
    assert code == 2
    assert '"ok": false' in out and "decimel" in out
    assert not (project / "warehouse.duckdb").exists() or _no_runs(project)


def _no_runs(project: Path) -> bool:
    import duckdb

    con = duckdb.connect(str(project / "warehouse.duckdb"))
    try:
        found = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'migo_sync'").fetchone()
        return found is not None and found[0] == 0
    finally:
        con.close()
