"""Selection (names, globs, tag:, system:, direction:, --exclude, +dependencies), the Quick start
on a fresh folder, and validation that reports every problem of every file and level at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.mapping_cases import VALID
from helpers.projects import make_project

from migo_sync.cli import run_cli
from migo_sync.errors import UsageError
from migo_sync.mapping.loader import LoadedMapping, parse_mapping_text
from migo_sync.selection import missing_dependencies, select


def mapping(name: str, system: str = "sheets", direction: str = "push", *, tags: tuple[str, ...] = (),
            depends: tuple[str, ...] = (), enabled: bool = True) -> LoadedMapping:
    text = (f"name: {name}\nsystem: {system}\nobject: x\ndirection: {direction}\nwarehouse: {{table: t}}\n"
            f"key: [id]\nfields: [{{column: id, remote: Id}}]\ntags: [{', '.join(tags)}]\n"
            f"depends_on: [{', '.join(depends)}]\nenabled: {str(enabled).lower()}\n")
    return parse_mapping_text(text, Path(f"{name}.yaml"))


LOADED = [
    mapping("intacct_journals_push", "intacct", tags=("nightly", "ledger")),
    mapping("intacct_gl_pull", "intacct", "pull", tags=("nightly",), depends=("intacct_journals_push",)),
    mapping("zendesk_users_pull", "zendesk", "pull", tags=("hourly",)),
    mapping("sheets_tab_push", tags=("nightly",)),
    mapping("old_push", enabled=False, tags=("nightly",)),
]


def names(include: list[str], exclude: list[str] | None = None) -> list[str]:
    return select(LOADED, include, exclude or []).names


def test_selectors() -> None:
    assert names([]) == ["intacct_journals_push", "intacct_gl_pull", "zendesk_users_pull", "sheets_tab_push"]
    assert names(["intacct_*"]) == ["intacct_journals_push", "intacct_gl_pull"]
    assert names(["tag:nightly"]) == ["intacct_journals_push", "intacct_gl_pull", "sheets_tab_push"]
    assert names(["system:zendesk", "system:sheets"]) == ["zendesk_users_pull", "sheets_tab_push"]
    assert names(["direction:pull"]) == ["intacct_gl_pull", "zendesk_users_pull"]
    assert names(["tag:nightly,system:intacct"]) == ["intacct_journals_push", "intacct_gl_pull"]
    assert names(["tag:nightly"], ["system:intacct"]) == ["sheets_tab_push"]
    assert names(["old_push"]) == ["old_push"]  # an exact name runs a disabled mapping; a glob does not
    assert names(["*_push"]) == ["intacct_journals_push", "sheets_tab_push"]


def test_dependencies_pulled_in_with_plus_or_named_when_missing() -> None:
    chosen = select(LOADED, ["+intacct_gl_pull"], [])
    assert chosen.names == ["intacct_journals_push", "intacct_gl_pull"] and chosen.pulled_in == ["intacct_journals_push"]
    alone = select(LOADED, ["intacct_gl_pull"], [])
    assert missing_dependencies(alone) == [("intacct_gl_pull", "intacct_journals_push")]
    with pytest.raises(UsageError, match="depends on 'intacct_journals_push', which --exclude removes"):
        select(LOADED, ["+intacct_gl_pull"], ["tag:ledger"])


@pytest.mark.parametrize(("include", "exclude", "message"), [
    (["tag:nighty"], [], "matches no enabled mapping (did you mean 'nightly'?)"),
    (["intacct_journal_push"], [], "did you mean 'intacct_journals_push'?"),
    (["direction:sideways"], [], "direction is push or pull"),
    (["owner:me"], [], "unknown method 'owner'"),
    (["tag:"], [], "needs a value"),
    ([], ["sheets_tab_psh"], "--exclude 'sheets_tab_psh' matches no mapping"),
])
def test_bad_selectors_are_usage_errors(include: list[str], exclude: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        select(LOADED, include, exclude)
    assert message in str(info.value) and info.value.exit_code == 2


def test_run_selection_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path / "p")
    (project / "mappings" / "a.yaml").write_text(VALID + "tags: [nightly]\n")
    assert run_cli(["run", "tag:hourly", "--project", str(project)]) == 2
    assert "selector 'tag:hourly' matches no enabled mapping" in capsys.readouterr().err
    assert run_cli(["run", "--select", "tag:nightly", "--exclude", "collections_tab", "--project", str(project)]) == 2
    assert "the selection leaves no mapping to run" in capsys.readouterr().err
    assert run_cli(["mapping", "validate", "--offline", "-s", "tag:nightly", "--project", str(project)]) == 0
    assert "collections_tab" in capsys.readouterr().err


def test_quick_start_works_on_a_fresh_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(["init", "finance-sync"]) == 0
    monkeypatch.chdir(tmp_path / "finance-sync")
    assert run_cli(["mapping", "validate"]) == 0  # the example is disabled: its table is not looked for
    err = capsys.readouterr().err
    assert "1 mapping(s) valid: example_to_sheet" in err and "disabled" in err
    assert run_cli(["run"]) == 2  # nothing enabled is not an empty success
    err = capsys.readouterr().err
    assert "no mapping is enabled in mappings/" in err and "enabled: true" in err
    assert run_cli(["mapping", "validate", "-s", "example_to_sheet"]) == 2  # named: its table is checked
    assert "no table or view 'analytics.example'" in capsys.readouterr().err


def test_every_problem_of_every_file_at_every_level_at_once(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path)
    folder = project / "mappings"
    (folder / "a.yaml").write_text(VALID.replace("direction: push", "direction: psh"))  # model
    (folder / "b.yaml").write_text(VALID.replace("name: collections_tab", "name: b")
                                   .replace("object: tab", "object: tabb"))  # catalog
    (folder / "c.yaml").write_text(VALID.replace("name: collections_tab", "name: c"))  # warehouse: no table
    code = run_cli(["mapping", "validate", "--project", str(project)])
    err = capsys.readouterr().err
    assert code == 2
    assert "a.yaml:4: direction" in err
    assert "b.yaml:3: object: sheets has no object 'tabb'" in err
    assert "c.yaml:7: warehouse.table: no table or view 'lending.collections'" in err
    assert code == run_cli(["run", "--project", str(project)])  # run refuses with the same list
    assert "c.yaml:7" in capsys.readouterr().err
