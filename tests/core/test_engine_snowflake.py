"""The nightly job on the Snowflake warehouse: the real snowflake-connector-python code path,
against fakesnow's server on loopback, and the Sheets emulator over real HTTP."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.warehouses import snowflake_environ

from migo_sync.config import Project
from migo_sync.demo.dataset import Sizes, seed
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse

REPO = Path(__file__).resolve().parents[2]
FAKESNOW_WARNING = "Arrow output on a DB-API result"
SNOWFLAKE_CONFIG = """\
name = "snowflake test"
mappings = "mappings"

[warehouse]
type = "snowflake"
state_schema = "migo_sync"
"""


@pytest.fixture
def fakesnow_server(fakesnow_kwargs: dict[str, Any]) -> dict[str, Any]:
    return fakesnow_kwargs


@pytest.fixture
def snowflake_project(tmp_path: Path, fakesnow_server: dict[str, Any], sandbox: SandboxThread) -> Iterator[Project]:
    from migo_sync.adapters.intacct.sandbox import credentials as intacct_credentials
    from migo_sync.adapters.sheets.sandbox import credentials

    (tmp_path / "migo-sync.toml").write_text(SNOWFLAKE_CONFIG)
    (tmp_path / "mappings").mkdir()
    for name in ("sheets_collections_push.yaml", "sheets_fx_rates_pull.yaml", "intacct_journals_push.yaml",
                 "intacct_gl_detail_pull.yaml"):
        shutil.copy(REPO / "mappings" / name, tmp_path / "mappings" / name)
    project = Project.load(tmp_path)
    project.environ = {**snowflake_environ(fakesnow_server), **sandbox.env, **credentials(tmp_path / ".migo-sync"),
                       **intacct_credentials(tmp_path / ".migo-sync")}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=FAKESNOW_WARNING, category=UserWarning)
        warehouse = open_warehouse(project)
        try:
            seed(warehouse, seed=3, sizes=Sizes(customers=150, loans=400))
        finally:
            warehouse.close()
        yield project


def _tab(sandbox: SandboxThread, spreadsheet: str, title: str) -> list[list[Any]]:
    dump = sandbox.dump("sheets")
    books = dump["spreadsheets"]
    book = books[spreadsheet] if isinstance(books, dict) else next(b for b in books if b["id"] == spreadsheet)
    tabs = book["sheets"] if "sheets" in book else book["tabs"]
    tab = tabs[title] if isinstance(tabs, dict) else next(t for t in tabs if t["title"] == title)
    rows: list[list[Any]] = tab["rows"] if "rows" in tab else tab["values"]
    return rows


def test_push_and_pull_through_snowflake(snowflake_project: Project, sandbox: SandboxThread) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=FAKESNOW_WARNING, category=UserWarning)
        first = run(snowflake_project, RunOptions())
        by_name = {r.name: r for r in first.results}
        assert first.ok, [r.as_json() for r in first.results]
        push = by_name["sheets_collections_push"]
        assert push.rows_written == push.rows_read > 0
        rows = _tab(sandbox, "migo-collections", "Collections")
        assert len(rows) == push.rows_read + 1  # header + one row per collection
        pull = by_name["sheets_fx_rates_pull"]
        assert pull.rows_written == pull.rows_read == 20

        warehouse = open_warehouse(snowflake_project)
        try:
            pulled = warehouse.query("SELECT COUNT(*) FROM finance.fx_rates")[0][0]
            recorded = warehouse.query("SELECT COUNT(*) FROM migo_sync.sent")[0][0]
        finally:
            warehouse.close()
        assert pulled == 20
        journals = by_name["intacct_journals_push"]
        assert recorded == push.rows_read + journals.rows_read
        assert journals.rows_written == journals.rows_read > 0
        gl = by_name["intacct_gl_detail_pull"]
        assert gl.rows_written == journals.rows_read  # every posted line came back (incremental pull)
        [recon] = first.reconciliation
        assert recon["ok"] and not recon["differences"], recon

        before = sandbox.stats().get("sheets", 0)
        again = run(snowflake_project, RunOptions(names=["sheets_collections_push", "intacct_journals_push"]))
        assert [(r.rows_changed, r.requests) for r in again.results] == [(0, 0), (0, 0)]
        assert sandbox.stats().get("sheets", 0) == before
        pulled_again = run(snowflake_project, RunOptions(names=["intacct_gl_detail_pull"])).results[0]
        assert pulled_again.rows_changed == 0  # the cursor was committed with the data


def test_the_watch_change_probe_on_snowflake(snowflake_project: Project, sandbox: SandboxThread) -> None:
    from migo_sync.engine.probe import ChangeProbe

    probe = ChangeProbe()
    options = RunOptions(names=["sheets_collections_push"], probe=probe)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=FAKESNOW_WARNING, category=UserWarning)
        [first] = run(snowflake_project, options).results
        assert first.rows_written > 0 and "unchanged" not in first.details
        before = sandbox.stats().get("sheets", 0)
        [second] = run(snowflake_project, options).results
        assert second.details == {"unchanged": True} and second.requests == 0
        assert sandbox.stats().get("sheets", 0) == before
        warehouse = open_warehouse(snowflake_project)
        try:
            loan = warehouse.query("SELECT loan_id FROM lending.collections ORDER BY loan_id LIMIT 1")[0][0]
            warehouse.execute("UPDATE lending.collections SET outstanding = 4321.09 WHERE loan_id = ?", [loan])
        finally:
            warehouse.close()
        [third] = run(snowflake_project, options).results
        assert "unchanged" not in third.details and third.rows_written > 0
        assert "4321.09" in str(_tab(sandbox, "migo-collections", "Collections"))
