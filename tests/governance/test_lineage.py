"""`migo-sync lineage`: remote field → pull → warehouse column → push query (sqlglot) → remote field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from migo_sync.cli import run_cli
from migo_sync.lineage.sources import query_sources

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("sql", "dialect", "tables", "columns"), [
    ("SELECT a.id AS k, a.amt * -1 AS amount FROM s.t a", "duckdb", ["s.t"], {"k": [("s.t", "id")],
                                                                              "amount": [("s.t", "amt")]}),
    ("WITH c AS (SELECT id, amt FROM s.t WHERE ok) SELECT c.id, d.name FROM c JOIN s.d d ON d.id = c.id",
     "duckdb", ["s.d", "s.t"], {"id": [("s.t", "id")], "name": [("s.d", "name")]}),
    # a table used only in a filter still feeds the push
    ("SELECT l.id FROM s.lines l WHERE l.id NOT IN (SELECT x FROM dmz.adj)", "duckdb", ["dmz.adj", "s.lines"],
     {"id": [("s.lines", "id")]}),
    ("SELECT a.id FROM s.t a UNION ALL SELECT b.id FROM s.u b", "duckdb", ["s.t", "s.u"],
     {"id": [("s.t", "id"), ("s.u", "id")]}),
    ('SELECT t."ID" AS id, IFF(t.x > 0, t.x, 0) AS x FROM db.s.t t', "snowflake", ["db.s.t"],
     {"id": [("db.s.t", "id")], "x": [("db.s.t", "x")]}),
])
def test_query_sources_column_level(sql: str, dialect: str, tables: list[str],
                                    columns: dict[str, list[tuple[str, str]]]) -> None:
    found = query_sources(sql, dialect)
    assert found.tables == tables
    assert found.columns == columns


def test_an_unparseable_query_says_so() -> None:
    found = query_sources("SELEC nonsense FROM (", "duckdb")
    assert found.tables == [] and found.error is not None and found.error.startswith("cannot parse the query")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "mappings").mkdir()
    for name in ("sheets_manual_adjustments_pull", "intacct_adjustments_push", "zendesk_users_push"):
        shutil.copy(next((REPO / "mappings").rglob(f"{name}.yaml")), tmp_path / "mappings")
    (tmp_path / "dictionary").mkdir()
    (tmp_path / "dictionary" / "t.yaml").write_text(
        "terms:\n  - {name: adjustment_amount, definition: d, owner: o, type: decimal, scale: 2, status: approved,"
        " kind: measure, aggregation: sum}\n")
    text = (tmp_path / "mappings" / "sheets_manual_adjustments_pull.yaml").read_text()
    (tmp_path / "mappings" / "sheets_manual_adjustments_pull.yaml").write_text(
        text.replace("{column: amount, remote: Amount, type: decimal, scale: 2}",
                     "{column: amount, remote: Amount, term: adjustment_amount}"))
    (tmp_path / "migo-sync.toml").write_text('[warehouse]\ntype = "duckdb"\n')
    return tmp_path


def test_lineage_of_a_term_follows_it_from_the_sheet_to_the_ledger(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["lineage", "adjustment_amount", "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "sheets: tab/Manual Adjustments.Amount  ─[sheets_manual_adjustments_pull]→  "
        "finance.manual_adjustments.amount (dmz)",
        "finance.manual_adjustments.amount (dmz)  ─[intacct_adjustments_push]→  intacct: GLBATCH.TRX_AMOUNT"]


def test_lineage_json_mermaid_and_dot(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["lineage", "intacct_adjustments_push", "--json", "--project", str(project)]) == 0
    doc = json.loads(capsys.readouterr().out)
    edges = {(e["src"], e["dst"]) for e in doc["edges"]}
    assert ("duckdb://finance.manual_adjustments#department_id", "intacct://GLBATCH#DEPARTMENT") in edges
    assert ("sheets://tab/Manual Adjustments#Amount", "duckdb://finance.manual_adjustments#amount") in edges
    assert doc["zones"]["finance.manual_adjustments"] == "dmz"
    assert not any("lending.customer_status" in e["src"] for e in doc["edges"])  # not its lineage
    assert run_cli(["lineage", "finance.manual_adjustments", "--mermaid", "--project", str(project)]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart LR") and "-->|\"intacct_adjustments_push\"|" in mermaid
    assert "class " in mermaid and "dmz" in mermaid
    assert run_cli(["lineage", "--dot", "--project", str(project)]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph lineage {") and '[label="zendesk_users_push"]' in dot


def test_an_unknown_target_is_exit_2_with_a_hint(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["lineage", "adjustment_amout", "--project", str(project)]) == 2
    err = capsys.readouterr().err
    assert "no term, mapping or warehouse relation 'adjustment_amout'" in err and "adjustment_amount" in err
    assert run_cli(["lineage", "--json", "--dot", "--project", str(project)]) == 2
