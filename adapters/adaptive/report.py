"""Plan versus actual: the pulled Adaptive version next to the warehouse's actuals, in SQL.

The SQL runs on DuckDB and Snowflake alike (FULL OUTER JOIN, COALESCE, ROUND), so the demo and
a BI tool can use the same query:

    from migo_sync.adapters.adaptive.report import plan_vs_actual
    columns, rows = plan_vs_actual(warehouse, version="Forecast Q4 2026", start="2026-07")

The run report's view (`plan_vs_actual_sections`, the adapter's `report_sections` hook) pairs
each pulled plan version of a run with the actuals the run pushed, from the mappings themselves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from migo_sync.adapter import ChartPoint, ReportSection
from migo_sync.adapters.adaptive import periods
from migo_sync.mapping.model import Mapping
from migo_sync.warehouse.base import Warehouse

QUALIFIED = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")
COLUMNS = ["period", "account_code", "account_name", "plan", "actual", "variance", "variance_pct"]


def _table(name: str) -> str:
    if not QUALIFIED.match(name):
        raise ValueError(f"'{name}' is not a table name")
    return name


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def plan_vs_actual_sql(plan_table: str = "planning.forecast", actuals_table: str = "lending.monthly_actuals", *,
                       version: str | None = None, start: str | None = None, end: str | None = None,
                       by_level: bool = False) -> str:
    """One row per month and account (and level with `by_level`): plan, actual, variance, variance %.

    `plan_table` is a pull target of `adaptive_forecast_pull` (columns version, account_code,
    account_name, level_name, period, amount); `actuals_table` has account_code, level_name,
    period (YYYY-MM) and amount. A month or account on one side only shows NULL on the other.
    """
    plan, actual = _table(plan_table), _table(actuals_table)
    keys = ["account_code", "level_name", "period"] if by_level else ["account_code", "period"]
    group = ", ".join(keys)
    where_plan = f"WHERE version = {_text(version)}" if version else ""
    bounds = []
    if start:
        bounds.append(f"COALESCE(a.period, p.period) >= {_text(periods.to_iso(periods.parse(start)))}")
    if end:
        bounds.append(f"COALESCE(a.period, p.period) <= {_text(periods.to_iso(periods.parse(end)))}")
    where = ("WHERE " + " AND ".join(bounds)) if bounds else ""
    join = " AND ".join(f"a.{k} = p.{k}" for k in keys)
    level = "COALESCE(a.level_name, p.level_name) AS level_name, " if by_level else ""
    order = "period, account_code, level_name" if by_level else "period, account_code"
    return f"""WITH actual AS (
    SELECT {group}, SUM(amount) AS amount FROM {actual} GROUP BY {group}
), plan AS (
    SELECT {group}, MAX(account_name) AS account_name, SUM(amount) AS amount FROM {plan} {where_plan}
    GROUP BY {group}
)
SELECT COALESCE(a.period, p.period) AS period,
       COALESCE(a.account_code, p.account_code) AS account_code,
       {level}COALESCE(p.account_name, a.account_code) AS account_name,
       CAST(p.amount AS DECIMAL(18, 2)) AS plan,
       CAST(a.amount AS DECIMAL(18, 2)) AS actual,
       CAST(a.amount - p.amount AS DECIMAL(18, 2)) AS variance,
       CASE WHEN p.amount IS NULL OR p.amount = 0 OR a.amount IS NULL THEN NULL
            ELSE ROUND(100 * (a.amount - p.amount) / p.amount, 1) END AS variance_pct
FROM actual a FULL OUTER JOIN plan p ON {join}
{where}
ORDER BY {order}"""


def plan_vs_actual(warehouse: Warehouse, **options: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `plan_vs_actual_sql(**options)`; returns (column names, rows)."""
    columns = list(COLUMNS)
    if options.get("by_level"):
        columns.insert(2, "level_name")
    return columns, warehouse.query(plan_vs_actual_sql(**options))


# -- the run report's plan-versus-actual view (the ReportSections capability) --------------------

MAX_ROWS = 2000  # rows of one section kept in the run record (the chart sums them all)
CHART_POINTS = 25  # accounts charted, the largest first
SECTION_COLUMNS = ("period", "account_code", "account_name", "plan", "actual", "variance", "variance_pct")


def _column(mapping: Mapping, remote: str) -> str | None:
    """The warehouse column a mapping maps to an Adaptive field, if any."""
    return next((f.column for f in mapping.fields if f.remote == remote and f.column), None)


def _is_actuals(mapping: Mapping) -> bool:
    """A push of `data` writes actuals unless it says `plan_or_actuals: Plan` (known offline)."""
    return mapping.options.get("plan_or_actuals") != "Plan"


def _exact(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _exact_text(number: Decimal | None) -> str | None:
    """Exact decimal text: cents at least, never rounded ('1234.5' → '1234.50', '0.125' stays)."""
    if number is None:
        return None
    cents = number.quantize(Decimal("0.01"))
    return f"{cents:f}" if cents == number else f"{number.normalize():f}"


def _side_sql(warehouse: Warehouse, relation: str, account: str, period: str, amount: str, *,
              name: str | None = None, version: tuple[str, str] | None = None) -> str:
    """One side summed per account and month (the month as 'YYYY-MM', from text or a date)."""
    q = warehouse.quote
    month = f"SUBSTR(CAST({q(period)} AS VARCHAR), 1, 7)"
    label = f"MAX(CAST({q(name)} AS VARCHAR))" if name else "CAST(NULL AS VARCHAR)"
    where = f"WHERE CAST({q(version[0])} AS VARCHAR) = {_text(version[1])}" if version else ""
    return (f"SELECT CAST({q(account)} AS VARCHAR) AS account_code, {month} AS period, {label} AS account_name, "
            f"CAST(SUM({q(amount)}) AS DECIMAL(38, 6)) AS amount FROM {relation} {where} "
            f"GROUP BY CAST({q(account)} AS VARCHAR), {month}")


def plan_vs_actual_section(warehouse: Warehouse, plan: Mapping, actual: Mapping, version: str) -> ReportSection | None:
    """Plan (a pulled version) against actual (the pushed warehouse relation) per month and account,
    for the months the plan covers; None when a mapping lacks the account, period or value field."""
    from migo_sync.ledger.reconcile import relation_sql

    p_cols = [_column(plan, f) for f in ("account", "period", "value")]
    a_cols = [_column(actual, f) for f in ("account", "period", "value")]
    if None in p_cols or None in a_cols or plan.warehouse.table is None:
        return None
    version_col = _column(plan, "version")
    plan_sql = _side_sql(warehouse, warehouse.quote(plan.warehouse.table), *p_cols,  # type: ignore[arg-type]
                         name=_column(plan, "account_name"),
                         version=(version_col, version) if version_col else None)
    actual_sql = _side_sql(warehouse, relation_sql(warehouse, actual), *a_cols)  # type: ignore[arg-type]
    rows = warehouse.query(
        f"WITH plan AS ({plan_sql}), actual AS ({actual_sql}) "
        "SELECT COALESCE(p.period, a.period), COALESCE(p.account_code, a.account_code), p.account_name, "
        "p.amount, a.amount FROM plan p FULL OUTER JOIN actual a "
        "ON a.account_code = p.account_code AND a.period = p.period "
        "WHERE COALESCE(p.period, a.period) IN (SELECT period FROM plan) "
        "ORDER BY 1, 2")
    table: list[tuple[str | None, ...]] = []
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for period, account, name, plan_amount, actual_amount in rows:
        planned, done = _exact(plan_amount), _exact(actual_amount)
        variance = None if planned is None or done is None else done - planned
        share = (None if variance is None or not planned else
                 str((100 * variance / planned).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)))
        table.append((str(period), str(account), None if name is None else str(name), _exact_text(planned), _exact_text(done),
                      _exact_text(variance), share))
        label = f"{account} {name}" if name else str(account)
        before = totals.get(label, (Decimal(0), Decimal(0)))
        totals[label] = (before[0] + (planned or 0), before[1] + (done or 0))
    if not table:
        return None
    biggest = sorted(totals.items(), key=lambda kv: (-(abs(kv[1][0]) + abs(kv[1][1])), kv[0]))[:CHART_POINTS]
    chart = [ChartPoint(label, (_exact_text(p), _exact_text(a))) for label, (p, a) in sorted(biggest)]
    months = sorted({r[0] for r in table if r[0]})
    note = f"the first {MAX_ROWS:,} of {len(table):,} rows (the chart sums them all)" if len(table) > MAX_ROWS else None
    return ReportSection(
        kind="plan_vs_actual", mapping=plan.name,
        title=f"Plan versus actual: {version} ({plan.name}) against {actual.name}, {months[0]} to {months[-1]}",
        columns=SECTION_COLUMNS, rows=table[:MAX_ROWS], series=("plan", "actual"), chart=chart, note=note)


def plan_vs_actual_sections(warehouse: Warehouse, mappings: Sequence[Mapping]) -> list[ReportSection]:
    """Every (pulled plan version, pushed actuals) pair among a run's Adaptive mappings."""
    actuals = [m for m in mappings if m.direction == "push" and m.object == "data" and _is_actuals(m)]
    plans = [m for m in mappings if m.direction == "pull" and m.object == "data"]
    sections = []
    for actual in actuals:
        for plan in plans:
            raw = plan.options.get("versions") or [plan.options.get("version")]
            for version in [str(v) for v in raw if v and str(v) != actual.options.get("version")]:
                found = plan_vs_actual_section(warehouse, plan, actual, version)
                if found is not None:
                    sections.append(found)
    return sections
