"""The shipped Adaptive mappings through the real engine: DuckDB warehouse, emulator over loopback.

Push actuals, rerun (nothing sent), change one cell (one slice sent), reject bad rows by name;
pull forecast, budget and accounts; the plan-versus-actual query.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from adaptive.adaptive_support import cells, sandbox_environ
from helpers.browser import render
from helpers.inplace import noting_intents, units_held_until_asked
from helpers.projects import make_project
from helpers.runs import cli_json_here
from helpers.sandboxed import query as sql
from lxml import html

from migo_sync.adapters.adaptive.report import plan_vs_actual
from migo_sync.config import Project
from migo_sync.engine.result import MappingResult
from migo_sync.engine.runner import RunOptions, RunReport, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.base import Warehouse

SHIPPED = Path(__file__).resolve().parents[2] / "mappings"
ACCOUNTS = ("4000", "4100", "5000", "6000")
LEVELS = ("OPS", "RISK", "COLL", "FIN")


def actuals() -> list[dict[str, object]]:
    return [{"account_code": a, "level_name": lv, "period": f"2026-{m:02d}",
             "amount": Decimal(f"{1000 * (i + 1) + m}.{j}5")}
            for i, a in enumerate(ACCOUNTS) for j, lv in enumerate(LEVELS) for m in range(1, 11)]


@pytest.fixture
def project(adaptive_sandbox: SandboxThread, tmp_path: Path) -> Iterator[Project]:
    root = make_project(tmp_path / "project")
    for mapping in SHIPPED.glob("adaptive_*.yaml"):
        shutil.copy(mapping, root / "mappings" / mapping.name)
    loaded = Project.load(root)
    loaded.environ = sandbox_environ(adaptive_sandbox, tmp_path)
    warehouse = open_warehouse(loaded)
    try:
        warehouse.execute("CREATE SCHEMA IF NOT EXISTS lending")
        schema = pa.schema([("account_code", pa.string()), ("level_name", pa.string()), ("period", pa.string()),
                            ("amount", pa.decimal128(18, 2))])
        warehouse.load_arrow("lending.monthly_actuals", pa.Table.from_pylist(actuals(), schema=schema))
    finally:
        warehouse.close()
    yield loaded


def sync(project: Project, *names: str) -> dict[str, MappingResult]:
    report: RunReport = run(project, RunOptions(names=list(names)))
    return {r.name: r for r in report.results}


def test_push_rerun_and_one_changed_cell(project: Project, adaptive_sandbox: SandboxThread) -> None:
    first = sync(project, "adaptive_actuals_push")["adaptive_actuals_push"]
    assert (first.status, first.rows_written, first.rows_rejected) == ("ok", 160, 0)
    assert first.requests == 4  # exportVersions, exportAccounts, exportLevels, one importStandardData
    sent = cells(adaptive_sandbox)
    assert len(sent) == 160 and sent[("5000", "COLL", "2026-07")] == "3007.25"

    again = sync(project, "adaptive_actuals_push")["adaptive_actuals_push"]
    assert (again.status, again.rows_changed, again.rows_written, again.requests) == ("ok", 0, 0, 0)

    sql(project, "UPDATE lending.monthly_actuals SET amount = 99.99 "
                 "WHERE account_code = '4100' AND level_name = 'FIN' AND period = '2026-04'")
    changed = sync(project, "adaptive_actuals_push")["adaptive_actuals_push"]
    assert (changed.rows_changed, changed.rows_written) == (1, 10)  # the slice 4100/FIN, one import row
    after = cells(adaptive_sandbox)
    assert after.pop(("4100", "FIN", "2026-04")) == "99.99"
    sent.pop(("4100", "FIN", "2026-04"))
    assert after == sent


def test_bad_rows_are_rejected_by_name_and_never_sent(project: Project, adaptive_sandbox: SandboxThread) -> None:
    sql(project, "INSERT INTO lending.monthly_actuals VALUES ('9999', 'OPS', '2026-01', 1), "
                 "('4000', 'OPS|FIN', '2026-01', 2), ('Revenue', 'OPS', '2026-01', 3), ('4000', 'HQ', '2026-02', 4)")
    result = sync(project, "adaptive_actuals_push")["adaptive_actuals_push"]
    assert (result.status, result.rows_written, result.rows_rejected) == ("rejected", 160, 4)
    reasons = dict(sql(project, "SELECT row_key, reason FROM migo_sync.rejects ORDER BY row_key"))
    assert any("account '9999' does not exist in Adaptive" in r for r in reasons.values())
    assert any("contains '|', the import delimiter" in r for r in reasons.values())
    assert any("account 'Revenue' is a rollup account" in r for r in reasons.values())
    assert any("level 'HQ' does not exist in Adaptive" in r for r in reasons.values())
    assert {k[0] for k in cells(adaptive_sandbox)} == set(ACCOUNTS)


def test_pulls_and_plan_versus_actual(project: Project, adaptive_sandbox: SandboxThread) -> None:
    results = sync(project, "adaptive_actuals_push", "adaptive_forecast_pull", "adaptive_budget_pull",
                   "adaptive_accounts_pull")
    assert all(r.status == "ok" for r in results.values()), {n: r.error for n, r in results.items()}
    forecast = results["adaptive_forecast_pull"]
    assert (forecast.rows_read, forecast.requests) == (192, 1)  # the year in one exportData (versions known from the push)
    remote = cells(adaptive_sandbox, "Forecast Q4 2026")
    rows = sql(project, "SELECT account_code, level_name, period, amount, account_name FROM planning.forecast")
    assert len(rows) == 192
    assert all(Decimal(remote[(a, lv, p)]) == amount for a, lv, p, amount, _ in rows)  # type: ignore[index]
    assert {(a, name) for a, _, _, _, name in rows} == {("4000", "Interest Income"), ("4100", "Fee Income"),
                                                        ("5000", "Loan Loss Expense"), ("6000", "Operating Expenses")}
    assert sql(project, "SELECT count(*) FROM planning.budget")[0][0] == 192
    accounts = dict(sql(project, "SELECT account_code, parent_code FROM planning.accounts"))
    assert accounts["4000"] == "Revenue" and accounts["NetIncome"] is None

    rerun = sync(project, "adaptive_forecast_pull")["adaptive_forecast_pull"]
    assert (rerun.status, rerun.rows_read, rerun.rows_changed) == ("ok", 192, 0)

    warehouse: Warehouse = open_warehouse(project)
    try:
        columns, table = plan_vs_actual(warehouse, version="Forecast Q4 2026")
    finally:
        warehouse.close()
    assert columns == ["period", "account_code", "account_name", "plan", "actual", "variance", "variance_pct"]
    assert len(table) == 12 * 4
    jan = next(r for r in table if r[0] == "2026-01" and r[1] == "4000")
    plan_jan = sum(Decimal(remote[("4000", lv, "2026-01")]) for lv in LEVELS)
    actual_jan = sum(Decimal(f"{1000 + 1}.{j}5") for j in range(4))
    assert jan[2] == "Interest Income" and jan[3] == plan_jan and jan[4] == actual_jan
    assert jan[5] == actual_jan - plan_jan
    assert all(r[4] is None for r in table if r[0] in ("2026-11", "2026-12"))


def test_a_pull_under_faults_gives_the_same_table(project: Project, adaptive_sandbox: SandboxThread) -> None:
    sync(project, "adaptive_forecast_pull")
    clean = sorted(sql(project, "SELECT * FROM planning.forecast"))
    sql(project, "DELETE FROM planning.forecast")
    adaptive_sandbox.faults(rate=0.4, kinds=["429", "500", "503", "drop", "drop_after", "slow"], seed=4)
    project.config.systems["adaptive"] = {"timeout": 5}
    result = sync(project, "adaptive_forecast_pull")["adaptive_forecast_pull"]
    injected = adaptive_sandbox.faults()["injected"]
    adaptive_sandbox.faults(rate=0.0)
    assert result.status == "ok", result.error
    assert sum(injected.values()) >= 1
    assert sorted(sql(project, "SELECT * FROM planning.forecast")) == clean


def test_the_run_report_shows_plan_versus_actual_from_the_run_record(project: Project, adaptive_sandbox: SandboxThread,
                                                                     tmp_path: Path) -> None:
    """Outside the demo: a run that pushes actuals and pulls plan versions records the plan-versus-actual
    view (the Adaptive adapter's report sections); `runs report` renders it from the record alone
    (the plan tables are gone), and in Chromium the figures and the chart equal `runs show --json`."""
    report = run(project, RunOptions(names=["adaptive_actuals_push", "adaptive_forecast_pull", "adaptive_budget_pull"]))
    assert report.ok, report.reason
    remote = {v: cells(adaptive_sandbox, v) for v in ("Forecast Q4 2026", "Budget FY2026")}
    root = str(project.root)
    code, record = cli_json_here("runs", "show", str(report.run_id), "--project", root)
    assert code == 0
    sections = {s["mapping"]: s for s in record["sections"]}
    assert sorted(sections) == ["adaptive_budget_pull", "adaptive_forecast_pull"]
    for name, version in (("adaptive_forecast_pull", "Forecast Q4 2026"), ("adaptive_budget_pull", "Budget FY2026")):
        section = sections[name]
        assert section["kind"] == "plan_vs_actual" and version in section["title"]
        assert section["columns"] == ["period", "account_code", "account_name", "plan", "actual", "variance",
                                      "variance_pct"]
        assert len(section["rows"]) == 12 * len(ACCOUNTS)
        for period, account, _name, plan, actual, variance, share in section["rows"]:
            planned = sum(Decimal(remote[version][(account, lv, period)]) for lv in LEVELS)
            done = sum((Decimal(str(a["amount"])) for a in actuals()
                        if a["account_code"] == account and a["period"] == period), Decimal(0))
            assert Decimal(plan) == planned
            if period in ("2026-11", "2026-12"):  # no actuals yet
                assert (actual, variance, share) == (None, None, None)
            else:
                assert (Decimal(actual), Decimal(variance)) == (done, done - planned)
                assert Decimal(share) == (100 * (done - planned) / planned).quantize(Decimal("0.1"))
        assert section["series"] == ["plan", "actual"]
        chart = {p["label"]: p["values"] for p in section["chart"]}
        assert set(chart) == {"4000 Interest Income", "4100 Fee Income", "5000 Loan Loss Expense",
                              "6000 Operating Expenses"}
        for label, (plan, actual) in chart.items():
            rows = [r for r in section["rows"] if r[1] == label.split()[0]]
            assert Decimal(plan) == sum(Decimal(r[3]) for r in rows)
            assert Decimal(actual) == sum(Decimal(r[4]) for r in rows if r[4] is not None)

    sql(project, "DROP TABLE planning.forecast")  # the report needs neither these tables nor a request:
    sql(project, "DROP TABLE planning.budget")  # only the run record
    out = tmp_path / "report.html"
    code, written = cli_json_here("runs", "report", str(report.run_id), "-o", str(out), "--project", root)
    assert code == 0, written
    page = render(out)
    assert page.console == []
    dom = html.fromstring(page.dom)
    assert dom.body.get("data-rendered") == "yes"
    for name, section in sections.items():
        (shown,) = dom.xpath(f'//div[@data-kind="plan_vs_actual"][@data-mapping="{name}"]')
        body = shown.xpath('.//table[@class="section-table"]//tbody/tr')
        assert len(body) == len(section["rows"])
        for tr, row in zip(body, section["rows"], strict=True):
            for column, value in zip(section["columns"], row, strict=True):
                text = " ".join(tr.xpath(f'td[@data-field="{column}"]')[0].text_content().split())
                if value is None:
                    assert text == "—"
                elif column in ("plan", "actual", "variance", "variance_pct"):
                    assert Decimal(text.replace(",", "")) == Decimal(value)
                else:
                    assert text == value
        bars = {(g.get("data-label"), r.get("data-series")): r.get("data-value")
                for g in shown.xpath('.//svg[@class="section-chart"]/g[@class="point"]') for r in g.xpath("rect")}
        assert bars == {(p["label"], s): v for p in section["chart"]
                        for s, v in zip(section["series"], p["values"], strict=True)}


def test_the_exports_go_out_while_the_engine_reads_the_units(
        project: Project, adaptive_sandbox: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm-up (WarmUp): once the plan has something to send, the push's exports (versions, accounts,
    levels: none depends on a unit) go out on a thread while the engine reads the units. Proven by holding
    the engine's reading of the units until the tenant was asked for the versions (10 s at most): without
    the warm-up the checks ask for them only after every unit was read, so the wait would run out. A push
    with nothing to send asks nothing."""
    from migo_sync.adapters.adaptive.client import AdaptiveClient

    waited, asked = units_held_until_asked(monkeypatch, AdaptiveClient, "export_versions")
    first = sync(project, "adaptive_actuals_push")["adaptive_actuals_push"]
    assert waited == [True]
    assert (first.status, first.rows_written, first.requests) == ("ok", 160, 4), first.error
    asked.clear()
    again = sync(project, "adaptive_actuals_push")["adaptive_actuals_push"]
    assert (again.status, again.requests) == ("ok", 0) and not asked.is_set()


def test_the_intents_are_written_while_the_exports_are_in_flight(
        project: Project, adaptive_sandbox: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """ChecksInFlight: the last export (levels) is held (10 s at most) until the batch's intents are in the
    ledger, which happens only if they are written while the exports are in flight; the import leaves
    after every intent is recorded, and a slice the checks refuse keeps none."""
    from migo_sync.adapters.adaptive.client import AdaptiveClient

    sql(project, "INSERT INTO lending.monthly_actuals VALUES ('9999', 'OPS', '2026-01', 1)")
    intents, recorded = noting_intents(monkeypatch, "row_key")
    waited: list[bool] = []
    export_levels = AdaptiveClient.export_levels

    def levels(self: AdaptiveClient, version: str | None = None) -> Any:
        found = export_levels(self, version)
        waited.append(recorded.wait(10))
        return found

    intents_when_imported: list[int] = []
    import_data = AdaptiveClient.import_data

    def importing(self: AdaptiveClient, **kwargs: Any) -> Any:
        intents_when_imported.append(len(intents))
        return import_data(self, **kwargs)

    monkeypatch.setattr(AdaptiveClient, "export_levels", levels)
    monkeypatch.setattr(AdaptiveClient, "import_data", importing)
    result = sync(project, "adaptive_actuals_push")["adaptive_actuals_push"]
    assert (result.status, result.rows_written, result.rows_rejected, result.requests) == ("rejected", 160, 1, 4)
    assert waited == [True] and intents_when_imported == [161]  # the refused slice's intent too, then dropped
    pending = sql(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE pending_hash IS NOT NULL")[0][0]
    held = sql(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE row_key LIKE '9999%' "
                        "AND (sent_hash IS NOT NULL OR pending_hash IS NOT NULL)")[0][0]
    assert (pending, held) == (0, 0)  # nothing in flight, nothing shown as sent
    assert {k[0] for k in cells(adaptive_sandbox)} == set(ACCOUNTS)


def test_an_error_in_the_warm_up_surfaces_as_it_did_without_it(
        project: Project, adaptive_sandbox: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exports the tenant refuses (a wrong password: exit 2) are raised where the checks need them, exactly
    as without the warm-up: same status, error, exit code and requests; nothing imported, no intent left."""
    from migo_sync.engine import push as push_engine

    project.environ = {**project.environ, "MIGO_SYNC_ADAPTIVE_PASSWORD": "not-the-password"}

    def outcome() -> tuple[Any, ...]:
        result = sync(project, "adaptive_actuals_push")["adaptive_actuals_push"]
        pending = sql(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE pending_hash IS NOT NULL")[0][0]
        return result.status, result.error_class, result.error, result.exit_code, result.requests, pending

    warmed = outcome()
    monkeypatch.setattr(push_engine, "as_warm_up", lambda adapter: None)
    cold = outcome()
    assert warmed == cold
    assert (warmed[0], warmed[3], warmed[5]) == ("failed", 2, 0), warmed
    assert not cells(adaptive_sandbox)
