"""Plan versus actual: the pulled Adaptive version next to the warehouse's actuals, in SQL.

The SQL runs on DuckDB and Snowflake alike (FULL OUTER JOIN, COALESCE, ROUND), so the demo and
a BI tool can use the same query:

    from migo_sync.adapters.adaptive.report import plan_vs_actual
    columns, rows = plan_vs_actual(warehouse, version="Forecast Q4 2026", start="2026-07")
"""

from __future__ import annotations

import re
from typing import Any

from migo_sync.adapters.adaptive import periods
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
