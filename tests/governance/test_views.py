"""Lineage through warehouse views, on DuckDB (a real file) and on Snowflake (fakesnow's server):
a push that reads a view reads what the view reads, so a view over the DMZ cannot carry hand-kept
data into a ledger unchecked, and a view whose lineage cannot be followed is never trusted."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from governance.test_zones import project_at

from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.engine.runner import RunOptions, run
from migo_sync.errors import MappingError
from migo_sync.governance import govern, view_catalog
from migo_sync.lineage.graph import build
from migo_sync.lineage.views import MAX_DEPTH, ViewCatalog
from migo_sync.mapping.loader import load_mappings
from migo_sync.systems import AdapterPool
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.base import Relations, ViewDef
from migo_sync.zones.config import ZonesConfig
from migo_sync.zones.guard import dmz_paths, zone_of

FAKESNOW_WARNING = "Arrow output on a DB-API result"
PUSH = "intacct_adjustments_push"
PULL = "sheets_manual_adjustments_pull"
ADJUSTMENTS = ("CREATE TABLE finance.manual_adjustments (adjustment_id VARCHAR, adjustment_date DATE, "
               "account_no VARCHAR, amount DECIMAL(18, 2), department_id VARCHAR, reason VARCHAR, approved_by VARCHAR)")
COLUMNS = "adjustment_id, adjustment_date, account_no, amount, department_id, reason"
PATH_HEAD = "sheets://tab/Manual Adjustments → sheets_manual_adjustments_pull → finance.manual_adjustments (dmz)"
PATH_TAIL = "→ intacct_adjustments_push → intacct://GLBATCH"
# fakesnow's server thread asks DuckDB for Arrow output the way DuckDB 2 warns about: not our code
pytestmark = pytest.mark.filterwarnings(f"ignore:{FAKESNOW_WARNING}:UserWarning")



def _project(root: Path, backend: str, request: pytest.FixtureRequest, config: str = "") -> Project:
    project_at(root, config, PULL, PUSH)
    path = root / "mappings" / f"{PUSH}.yaml"
    path.write_text(path.read_text().replace("FROM finance.manual_adjustments a", "FROM finance.v_adjustments a"))
    if backend == "snowflake":
        fs: dict[str, Any] = request.getfixturevalue("fakesnow_kwargs")
        text = (root / "migo-sync.toml").read_text().replace('type = "duckdb"', 'type = "snowflake"')
        (root / "migo-sync.toml").write_text(text)
        proj = Project.load(root)
        proj.environ = {"SNOWFLAKE_ACCOUNT": fs["account"], "SNOWFLAKE_USER": fs["user"],
                        "SNOWFLAKE_PASSWORD": fs["password"], "SNOWFLAKE_HOST": fs["host"],
                        "SNOWFLAKE_PORT": str(fs["port"]), "SNOWFLAKE_PROTOCOL": fs["protocol"],
                        "SNOWFLAKE_DATABASE": f"T_{uuid.uuid4().hex[:8].upper()}", "SNOWFLAKE_SCHEMA": "PUBLIC",
                        "MIGO_SYNC_NO_KEYRING": "1"}
        return proj
    proj = Project.load(root)
    proj.environ = {"MIGO_SYNC_NO_KEYRING": "1"}
    return proj


def _sql(proj: Project, *statements: str) -> None:
    warehouse = open_warehouse(proj)
    try:
        for statement in statements:
            warehouse.execute(statement)
    finally:
        warehouse.close()


def _refusal(proj: Project) -> str:
    """The problems `run` refuses the push with (before anything is sent)."""
    with pytest.raises(MappingError) as caught:
        run(proj, RunOptions(names=[PUSH]))
    return str(caught.value)


def _governance(proj: Project) -> Any:
    loaded = load_mappings([proj.mappings_dir])
    warehouse = open_warehouse(proj)
    pool = AdapterPool(proj)
    try:
        return govern(proj, loaded, loaded, pool, view_catalog(warehouse))
    finally:
        pool.close()
        warehouse.close()


BACKENDS = ["duckdb", "snowflake"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_push_through_a_view_over_the_dmz_is_refused_with_the_full_path(
        tmp_path: Path, request: pytest.FixtureRequest, backend: str) -> None:
    proj = _project(tmp_path, backend, request)
    _sql(proj, "CREATE SCHEMA IF NOT EXISTS finance", ADJUSTMENTS,
         f"CREATE VIEW finance.v_adjustments AS SELECT {COLUMNS} FROM finance.manual_adjustments")
    err = _refusal(proj)
    assert ("warehouse.query: push into system of record intacct GLBATCH reaches DMZ relation "
            "finance.manual_adjustments through view finance.v_adjustments: "
            f"{PATH_HEAD} → finance.v_adjustments (view) {PATH_TAIL}") in err, err
    _, gov, _ = _governance(proj)
    assert gov.graph.views == {"finance.v_adjustments": ["finance.manual_adjustments"]}
    assert gov.zone("finance.v_adjustments") == "dmz"  # a view over the DMZ is DMZ
    upstream = gov.graph.upstream(["intacct://GLBATCH#TRX_AMOUNT"])  # column level, down to the base table
    assert {f"{proj.config.warehouse.type}://finance.v_adjustments#amount",
            f"{proj.config.warehouse.type}://finance.manual_adjustments#amount",
            "sheets://tab/Manual Adjustments#Amount"} <= upstream, sorted(upstream)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_views_are_followed_to_the_dmz_table(tmp_path: Path, request: pytest.FixtureRequest,
                                                     backend: str) -> None:
    proj = _project(tmp_path, backend, request)
    _sql(proj, "CREATE SCHEMA IF NOT EXISTS finance", "CREATE SCHEMA IF NOT EXISTS reporting", ADJUSTMENTS,
         f"CREATE VIEW reporting.v_inner AS SELECT {COLUMNS} FROM finance.manual_adjustments",
         f"CREATE VIEW finance.v_adjustments AS SELECT {COLUMNS} FROM reporting.v_inner")
    err = _refusal(proj)
    assert ("reaches DMZ relation finance.manual_adjustments through view finance.v_adjustments → reporting.v_inner: "
            f"{PATH_HEAD} → reporting.v_inner (view) → finance.v_adjustments (view) {PATH_TAIL}") in err, err


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_view_joining_trusted_and_dmz_relations_is_dmz_whatever_its_pattern(
        tmp_path: Path, request: pytest.FixtureRequest, backend: str) -> None:
    config = '[zones]\ntrusted = ["finance.v_*", "lending.*"]\n'  # the view is declared trusted: not enough
    proj = _project(tmp_path, backend, request, config)
    _sql(proj, "CREATE SCHEMA IF NOT EXISTS finance", "CREATE SCHEMA IF NOT EXISTS lending", ADJUSTMENTS,
         "CREATE TABLE lending.departments (department_id VARCHAR, active BOOLEAN)",
         "CREATE VIEW finance.v_adjustments AS SELECT a.adjustment_id, a.adjustment_date, a.account_no, a.amount, "
         "d.department_id, a.reason FROM finance.manual_adjustments a "
         "JOIN lending.departments d ON d.department_id = a.department_id WHERE d.active")
    err = _refusal(proj)
    assert "reaches DMZ relation finance.manual_adjustments through view finance.v_adjustments" in err, err
    assert "lending.departments (dmz)" not in err
    _, gov, _ = _governance(proj)
    assert sorted(gov.graph.views["finance.v_adjustments"]) == ["finance.manual_adjustments", "lending.departments"]
    assert gov.zone("lending.departments") == "trusted" and gov.zone("finance.v_adjustments") == "dmz"
    wh = proj.config.warehouse.type
    dept = gov.graph.upstream(["intacct://GLBATCH#DEPARTMENT"])
    assert f"{wh}://lending.departments#department_id" in dept, sorted(dept)  # the column the view selects
    amount = gov.graph.upstream(["intacct://GLBATCH#TRX_AMOUNT"])
    assert f"{wh}://finance.manual_adjustments#amount" in amount
    assert f"{wh}://lending.departments#department_id" not in amount


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_promoted_view_passes_validation_and_its_checks_run_on_the_view(
        tmp_path: Path, request: pytest.FixtureRequest, backend: str) -> None:
    config = ('[zones.promote."finance.v_adjustments"]\napprover = "A. Wanjiru (finance lead)"\n'
              'not_null = ["adjustment_id", "amount"]\n')
    proj = _project(tmp_path, backend, request, config)
    _sql(proj, "CREATE SCHEMA IF NOT EXISTS finance", ADJUSTMENTS,
         f"CREATE VIEW finance.v_adjustments AS SELECT {COLUMNS} FROM finance.manual_adjustments",
         "INSERT INTO finance.manual_adjustments VALUES ('ADJ-1', '2026-11-30', '6100', 12.50, 'OPS', 'x', 'A')")
    bound, gov, problems = _governance(proj)
    assert problems == []
    push = next(b.mapping for b in bound if b.mapping.name == PUSH)
    assert dmz_paths(gov.graph, gov.zones, PUSH) == [["finance.v_adjustments"]]
    warehouse = open_warehouse(proj)
    try:
        [promotion] = gov.promotions(warehouse, push)
    finally:
        warehouse.close()
    assert promotion["relation"] == "finance.v_adjustments" and promotion["promoted"], promotion


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_view_over_a_file_cannot_be_traced_and_is_refused(tmp_path: Path, request: pytest.FixtureRequest,
                                                             capsys: pytest.CaptureFixture[str], backend: str) -> None:
    proj = _project(tmp_path, backend, request)
    csv = tmp_path / "adjustments.csv"
    csv.write_text(COLUMNS.replace(" ", "") + "\nADJ-1,2026-11-30,6100,12.50,OPS,x\n")
    _sql(proj, "CREATE SCHEMA IF NOT EXISTS finance",
         f"CREATE VIEW finance.v_adjustments AS SELECT * FROM read_csv('{csv}')")
    err = _refusal(proj)
    assert ("push into system of record intacct GLBATCH reads view finance.v_adjustments, whose lineage cannot "
            "be traced (it reads READ_CSV(") in err, err
    assert "so it counts as DMZ: finance.v_adjustments (unresolved view, counted as dmz) " + PATH_TAIL in err, err
    if backend != "duckdb":  # the CLI reads Snowflake settings from the environment, not from this test
        return
    # validate against the warehouse says the same, as FILE:LINE: path: message (hint); exit 2
    code = run_cli(["mapping", "validate", "--project", str(tmp_path)])
    out, stderr = capsys.readouterr()
    assert code == 2 and f"{PUSH}.yaml:16: warehouse.query: push into system of record" in stderr, stderr
    assert "Traceback" not in out + stderr


@pytest.mark.timeout(60)
def test_offline_validation_says_views_were_not_resolved(tmp_path: Path, request: pytest.FixtureRequest,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    project_at(tmp_path, '[zones]\nhand_kept = []\n', PULL, PUSH)
    code = run_cli(["mapping", "validate", "--offline", "--json", "--project", str(tmp_path)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["notes"] == []  # every relation the push reads is one a pull writes
    path = tmp_path / "mappings" / f"{PUSH}.yaml"
    path.write_text(path.read_text().replace("FROM finance.manual_adjustments a", "FROM finance.v_adjustments a"))
    code = run_cli(["mapping", "validate", "--offline", "--json", "--project", str(tmp_path)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["notes"] == [
        "warehouse views not resolved (no warehouse consulted): the zone check through views runs in "
        "`mapping validate` without --offline and in every run"]


@pytest.mark.timeout(60)
def test_lineage_command_shows_the_view_between_table_and_ledger(tmp_path: Path, request: pytest.FixtureRequest,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    proj = _project(tmp_path, "duckdb", request)
    _sql(proj, "CREATE SCHEMA IF NOT EXISTS finance", ADJUSTMENTS,
         f"CREATE VIEW finance.v_adjustments AS SELECT {COLUMNS} FROM finance.manual_adjustments")
    assert run_cli(["lineage", "finance.manual_adjustments", "--json", "--project", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    edges = {(e["src"], e["dst"], e["direction"]) for e in doc["edges"]}
    assert ("duckdb://finance.manual_adjustments#amount", "duckdb://finance.v_adjustments#amount", "view") in edges
    assert ("duckdb://finance.v_adjustments#amount", "intacct://GLBATCH#TRX_AMOUNT", "push") in edges
    assert doc["zones"]["finance.v_adjustments"] == "dmz" and doc["views"] == {
        "finance.v_adjustments": ["finance.manual_adjustments"]}
    assert run_cli(["lineage", "--project", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert ("finance.manual_adjustments.amount (dmz)  ─[finance.v_adjustments]→  finance.v_adjustments.amount (dmz)"
            in text), text
    (tmp_path / "x.csv").write_text("adjustment_id,amount\nADJ-1,1.00\n")
    _sql(proj, f"CREATE OR REPLACE VIEW finance.v_adjustments AS SELECT * FROM read_csv('{tmp_path / 'x.csv'}')")
    assert run_cli(["lineage", "--dot", "--project", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("digraph lineage {") and "cannot be traced" not in out
    assert "view finance.v_adjustments cannot be traced (it reads READ_CSV(" in err, err


# -- the resolver's bounds, on catalogs built by hand (what no real warehouse lets one create) --------


def _graph(views: dict[str, str | None], error: str | None = None) -> Any:
    from migo_sync.mapping.loader import collect_mappings

    loaded, _ = collect_mappings([next((Path(__file__).resolve().parents[2] / "mappings").rglob(f"{PUSH}.yaml"))])
    defs = tuple(ViewDef(*name.split("."), sql) for name, sql in views.items())
    tables = frozenset((v.schema, v.name) for v in defs) | {("finance", "manual_adjustments")}
    catalog = ViewCatalog(None if error else Relations("main", defs, tables), error)
    return build([m.mapping for m in loaded], "duckdb", catalog)


def test_a_hidden_definition_a_cycle_and_too_deep_nesting_are_unresolved_never_trusted() -> None:
    zones = ZonesConfig()
    hidden = _graph({"finance.manual_adjustments": None})
    assert hidden.unresolved == {"finance.manual_adjustments": "its definition is not visible to this role "
                                 "(a secure view?)"}
    assert zone_of(hidden, zones, "finance.manual_adjustments") == "dmz"
    cycle = _graph({"finance.manual_adjustments": "SELECT * FROM finance.loop",
                    "finance.loop": "SELECT * FROM finance.manual_adjustments"})
    assert cycle.views == {"finance.manual_adjustments": ["finance.loop"], "finance.loop": ["finance.manual_adjustments"]}
    assert zone_of(cycle, zones, "finance.manual_adjustments") == "trusted"  # terminates; nothing DMZ in the loop
    chain = {f"finance.v{i}": f"SELECT * FROM finance.v{i + 1}" for i in range(MAX_DEPTH + 2)}
    deep = _graph({"finance.manual_adjustments": "SELECT * FROM finance.v0", **chain})
    assert deep.unresolved == {f"finance.v{MAX_DEPTH - 1}": f"views nested deeper than {MAX_DEPTH} levels"}
    [path] = dmz_paths(deep, zones, PUSH)
    assert path[0] == "finance.manual_adjustments" and path[-1] == f"finance.v{MAX_DEPTH - 1}"
    unparsable = _graph({"finance.manual_adjustments": "CREATE VIEW x AS SELECT a FROM t PIVOT WEIRD (("})
    assert unparsable.unresolved == {"finance.manual_adjustments": "sqlglot cannot parse this duckdb SQL"}
    unlisted = _graph({}, error="permission denied on information_schema")
    assert unlisted.unresolved == {"finance.manual_adjustments": "the warehouse's views could not be listed "
                                   "(permission denied on information_schema)"}


def test_a_relation_in_another_database_is_unresolved(tmp_path: Path) -> None:
    from migo_sync.mapping.loader import collect_mappings

    source = next((Path(__file__).resolve().parents[2] / "mappings").rglob(f"{PUSH}.yaml")).read_text()
    catalog = ViewCatalog(Relations("main", (), frozenset({("finance", "manual_adjustments")}), "warehouse"))
    graphs = {}
    for database in ("shared", "warehouse"):
        path = tmp_path / database / f"{PUSH}.yaml"
        path.parent.mkdir()
        path.write_text(source.replace("FROM finance.manual_adjustments a", f"FROM {database}.finance.manual_adjustments a"))
        loaded, _ = collect_mappings([path])
        graphs[database] = build([m.mapping for m in loaded], "duckdb", catalog)
    assert graphs["shared"].unresolved == {
        "shared.finance.manual_adjustments": "it is in database shared, whose views this connection does not list"}
    assert graphs["warehouse"].unresolved == {}  # the current database: listed, and not a view
    nested = ViewCatalog(Relations("main", (ViewDef("finance", "v", "SELECT * FROM shared.finance.t"),),
                                   frozenset({("finance", "v")}), "warehouse"))
    path = tmp_path / f"{PUSH}.yaml"
    path.write_text(source.replace("FROM finance.manual_adjustments a", "FROM finance.v a"))
    loaded, _ = collect_mappings([path])
    graph = build([m.mapping for m in loaded], "duckdb", nested)  # a view reaching into another database
    assert graph.views == {"finance.v": ["shared.finance.t"]}
    assert graph.unresolved == {"shared.finance.t": "it is in database shared, whose views this connection does not list"}


@pytest.mark.timeout(60)
def test_a_push_whose_table_is_a_view_over_the_dmz_is_refused(tmp_path: Path) -> None:
    project_at(tmp_path, "", PULL, "intacct_journals_push")
    proj = Project.load(tmp_path)
    proj.environ = {"MIGO_SYNC_NO_KEYRING": "1"}
    _sql(proj, "CREATE SCHEMA IF NOT EXISTS finance", "CREATE SCHEMA IF NOT EXISTS lending", ADJUSTMENTS,
         "CREATE VIEW lending.journal_lines AS SELECT 'ADJ' AS journal_symbol, adjustment_date AS posting_date, "
         "reason AS batch_title, adjustment_id AS journal_id, 1 AS line_no, account_no, amount, department_id, "
         "'NBO' AS location_id, reason AS memo FROM finance.manual_adjustments")
    with pytest.raises(MappingError) as caught:
        run(proj, RunOptions(names=["intacct_journals_push"]))
    assert ("intacct_journals_push.yaml:13: warehouse.table: push into system of record intacct GLBATCH reaches "
            "DMZ relation finance.manual_adjustments through view lending.journal_lines: " + PATH_HEAD +
            " → lending.journal_lines (view) → intacct_journals_push → intacct://GLBATCH") in str(caught.value), \
        str(caught.value)
