"""`migo-sync docs build`, opened in a real headless Chromium: the page renders, search finds a
term (by a synonym), and the lineage graph is drawn."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from governance.test_dictionary import DICTIONARY

from migo_sync.cli import run_cli

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "mappings").mkdir()
    for name in ("sheets_manual_adjustments_pull", "intacct_adjustments_push", "zendesk_users_push"):
        shutil.copy(next((REPO / "mappings").rglob(f"{name}.yaml")), tmp_path / "mappings")
    (tmp_path / "dictionary").mkdir()
    (tmp_path / "dictionary" / "terms.yaml").write_text(DICTIONARY + "  - {name: evil, definition: '<script>alert(1)</script>', owner: x}\n")
    (tmp_path / "migo-sync.toml").write_text('name = "Docs <test>"\n[warehouse]\ntype = "duckdb"\n')
    assert run_cli(["docs", "build", "--project", str(tmp_path), "--output", str(tmp_path / "site")]) == 0
    assert not (tmp_path / "warehouse.duckdb").exists()  # building docs never creates a warehouse
    return tmp_path / "site" / "index.html"


def chromium(*args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--virtual-time-budget=3000", *args], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_page_renders_search_finds_a_term_and_the_graph_shows(site: Path, tmp_path: Path) -> None:
    dom = chromium("--dump-dom", f"{site.as_uri()}#q=repayment%20status")
    assert '<title>Docs &lt;test&gt;: data dictionary, lineage and zones</title>' in dom
    assert 'id="search-count">1 term(s) match<' in dom
    rows = {re.search(r'id="term-(\w+)"', tag).group(1): tag  # type: ignore[union-attr]
            for tag in re.findall(r'<tr class="term"[^>]*>', dom)}
    assert set(rows) == {"loan_status", "outstanding_balance", "customer", "evil"}
    assert "display: none" not in rows["loan_status"]
    assert all("display: none" in rows[t] for t in ("outstanding_balance", "customer", "evil"))
    status = re.search(r'id="graph-status">graph: (\d+) nodes, (\d+) edges, drawn (\d+)x(\d+)<', dom)
    assert status is not None, dom[-3000:]
    nodes, edges, width, height = map(int, status.groups())
    assert nodes > 20 and edges > 10 and width > 300 and height > 100
    assert 'class="node column zone-dmz hit"' not in dom  # the loan_status hit is a trusted column
    assert re.search(r'class="node \w+( zone-dmz)? hit" data-node="[^"]*loan_status', dom)
    assert "<script>alert(1)</script>" not in dom and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    shot = tmp_path / "shot.png"
    chromium("--window-size=1200,900", f"--screenshot={shot}", site.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_the_site_is_self_contained(site: Path) -> None:
    html = site.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no network: no remote script, style or font
    assert "finance.manual_adjustments" in html and "dmz" in html


def test_the_graph_draws_a_view_between_the_dmz_table_and_the_ledger(tmp_path: Path) -> None:
    from migo_sync.warehouse.duckdb import DuckDBWarehouse

    (tmp_path / "mappings").mkdir()
    for name in ("sheets_manual_adjustments_pull", "intacct_adjustments_push"):
        shutil.copy(next((REPO / "mappings").rglob(f"{name}.yaml")), tmp_path / "mappings")
    push = tmp_path / "mappings" / "intacct_adjustments_push.yaml"
    push.write_text(push.read_text().replace("FROM finance.manual_adjustments a", "FROM finance.v_adjustments a"))
    (tmp_path / "migo-sync.toml").write_text('name = "Views"\n[warehouse]\ntype = "duckdb"\npath = "wh.duckdb"\n')
    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb")
    try:
        warehouse.execute("CREATE SCHEMA finance")
        warehouse.execute("CREATE TABLE finance.manual_adjustments (adjustment_id VARCHAR, amount DECIMAL(18, 2))")
        warehouse.execute("CREATE VIEW finance.v_adjustments AS SELECT adjustment_id, amount FROM finance.manual_adjustments")
    finally:
        warehouse.close()
    assert run_cli(["docs", "build", "--project", str(tmp_path), "--output", str(tmp_path / "site")]) == 0
    dom = chromium("--dump-dom", (tmp_path / "site" / "index.html").as_uri())
    assert re.search(r'id="graph-status">graph: \d+ nodes, \d+ edges, drawn', dom), dom[-3000:]
    assert 'class="node column zone-dmz" data-node="duckdb://finance.v_adjustments#amount"' in dom
    assert 'class="node column zone-dmz" data-node="duckdb://finance.manual_adjustments#amount"' in dom
    assert "<title>finance.v_adjustments</title></line>" in dom  # the view's own edges are drawn
