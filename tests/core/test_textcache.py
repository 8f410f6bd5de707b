"""A fresh process reuses what an earlier one worked out from unchanged text (migo_sync.textcache):
the YAML trees of mapping files, the lineage of push queries, the report's compiled template. Each test
plays "the next process" by emptying the in-process caches and making the slow path fail."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from migo_sync import textcache
from migo_sync.lineage import sources
from migo_sync.mapping import trees
from migo_sync.mapping.loader import parse_mapping_text

pytestmark = pytest.mark.timeout(60)

MAPPING = """\
name: users_push
system: zendesk
object: users
direction: push
warehouse: {table: crm.users}
key: [id]
fields:
  - {column: id, remote: external_id, type: string}
  - {column: email, remote: email, type: string}
"""
QUERY = "SELECT u.id, lower(u.email) AS email FROM crm.users u JOIN crm.flags f ON f.id = u.id WHERE f.ok"


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    before = textcache.directory()
    textcache.use(tmp_path / "cache")
    trees._pickled.cache_clear()
    sources._answer.cache_clear()
    yield tmp_path / "cache"
    textcache.use(before)
    trees._pickled.cache_clear()
    sources._answer.cache_clear()


def next_process() -> None:
    trees._pickled.cache_clear()
    sources._answer.cache_clear()


class Refused:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("parsed again: the cached tree was not used")


def test_a_mapping_file_is_parsed_once_and_its_lines_survive_the_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = parse_mapping_text(MAPPING, Path("users_push.yaml"))
    assert len(list((cache / "yaml").rglob("*"))) == 2  # one folder, one tree
    next_process()
    monkeypatch.setattr(trees, "YAML", Refused)
    again = parse_mapping_text(MAPPING, Path("users_push.yaml"))
    assert again.mapping == first.mapping
    assert again.line_of(["fields", 1, "remote"]) == first.line_of(["fields", 1, "remote"]) == 9
    assert again.line_of(["warehouse"]) == 5


def test_every_caller_gets_its_own_tree(cache: Path) -> None:
    one = trees.parse(MAPPING)
    one["fields"][0]["column"] = "changed"
    assert trees.parse(MAPPING)["fields"][0]["column"] == "id"


def test_an_edited_file_is_parsed_again(cache: Path) -> None:
    parse_mapping_text(MAPPING, Path("users_push.yaml"))
    edited = parse_mapping_text(MAPPING.replace("crm.users", "crm.people"), Path("users_push.yaml"))
    assert edited.mapping.warehouse.table == "crm.people"
    assert len([p for p in (cache / "yaml").rglob("*") if p.is_file()]) == 2


class Planted:
    def __reduce__(self) -> tuple[object, tuple[str, ...]]:
        return (os.system, ("touch planted",))


def test_a_file_holding_anything_but_a_yaml_tree_is_never_run_and_is_replaced(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    trees.parse(MAPPING)
    (stored,) = [p for p in (cache / "yaml").rglob("*") if p.is_file()]
    stored.write_bytes(pickle.dumps(Planted()))
    next_process()
    assert trees.parse(MAPPING)["name"] == "users_push"
    assert not (tmp_path / "planted").exists()
    assert trees._unpickle(stored.read_bytes())["name"] == "users_push"  # parsed again and stored whole
    stored.write_bytes(b"\x80\x05garbage")
    next_process()
    assert trees.parse(MAPPING)["system"] == "zendesk"


def test_bad_yaml_still_names_its_line(cache: Path) -> None:
    from migo_sync.errors import MappingError

    with pytest.raises(MappingError) as caught:
        parse_mapping_text("name: x\nfields: [\n", Path("broken.yaml"))
    assert "invalid YAML" in str(caught.value.problems[0].message)
    assert not (cache / "yaml").exists()


def test_a_push_querys_lineage_is_walked_once(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from migo_sync.lineage import sql

    first = sources.query_sources(QUERY)
    assert first.tables == ["crm.flags", "crm.users"]
    assert first.columns["email"] == [("crm.users", "email")]
    next_process()

    def refuse(*args: object) -> None:
        raise AssertionError("walked again: the cached answer was not used")

    monkeypatch.setattr(sql, "walk", refuse)
    assert sources.query_sources(QUERY) == first
    assert sources.query_sources(QUERY, "duckdb") is not sources.query_sources(QUERY, "duckdb")  # own copies
    with pytest.raises(AssertionError, match="walked again"):
        sources.query_sources(QUERY, "snowflake")  # another dialect is another question


def test_a_damaged_lineage_answer_is_walked_again(cache: Path) -> None:
    first = sources.query_sources(QUERY)
    (stored,) = [p for p in (cache / "lineage").rglob("*") if p.is_file()]
    stored.write_bytes(b'{"tables": 3}')
    next_process()
    assert sources.query_sources(QUERY) == first


def test_without_a_folder_nothing_is_written_and_an_unwritable_one_is_no_error(tmp_path: Path) -> None:
    before = textcache.directory()
    try:
        textcache.use(None)
        textcache.store("yaml", "ab" * 32, b"x")
        assert textcache.load("yaml", "ab" * 32) is None
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        textcache.use(blocker / "cache")
        textcache.store("yaml", "ab" * 32, b"x")  # cannot be written: a miss next time, never an error
        assert textcache.load("yaml", "ab" * 32) is None
    finally:
        textcache.use(before)


def test_the_report_template_is_compiled_once(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    from migo_sync.evidence import report

    run = {"run_id": "r1", "command": "run", "status": "ok", "exit_code": 0, "reason": None, "host": "h",
           "started_at": "2026-12-07T06:00:00Z", "finished_at": "2026-12-07T06:00:01Z", "mappings": [],
           "rejects": [], "rejects_total": 0}
    report._template.cache_clear()
    first = report.render_report(run)
    assert "r1" in first
    assert [p for p in (cache / "jinja").rglob("*") if p.is_file()]
    report._template.cache_clear()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again: the cached template was not used")

    monkeypatch.setattr(jinja2.Environment, "compile", refuse)
    assert report.render_report(run) == first
    report._template.cache_clear()


def test_loading_a_project_keeps_its_cache_in_its_state_folder(tmp_path: Path) -> None:
    from migo_sync.config import Project

    before = textcache.directory()
    try:
        (tmp_path / "migo-sync.toml").write_text('name = "p"\n[warehouse]\ntype = "duckdb"\npath = "w.duckdb"\n')
        project = Project.load(tmp_path)
        assert textcache.directory() == project.state_dir / "cache"
    finally:
        textcache.use(before)


def test_an_adapters_catalog_is_parsed_once(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from migo_sync import catalog
    from migo_sync.registry import get_system

    path = get_system("intacct").catalog
    catalog.load_catalog.cache_clear()
    first = catalog.load_catalog(path)
    assert [p for p in (cache / "catalog").rglob("*") if p.is_file()]
    catalog.load_catalog.cache_clear()
    monkeypatch.setattr(catalog, "YAML", Refused)
    try:
        assert catalog.load_catalog(path) == first
    finally:
        catalog.load_catalog.cache_clear()


def test_a_catalog_json_cannot_give_back_is_not_kept(cache: Path) -> None:
    from migo_sync import catalog

    assert catalog._catalog_data("objects:\n  1: {unit: row}\n") == {"objects": {1: {"unit": "row"}}}
    assert not (cache / "catalog").exists()
