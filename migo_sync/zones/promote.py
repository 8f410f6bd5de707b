"""The run-time half of the zone rule: before a push into a system of record reads a DMZ relation,
that relation's declared checks run in the warehouse, in the same run. All must pass; the outcome
(checks, figures, approver) is recorded in the run's result for that mapping either way."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from migo_sync.warehouse.base import Warehouse
from migo_sync.zones.config import Promotion


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def run_checks(warehouse: Warehouse, relation: str, promotion: Promotion) -> dict[str, Any]:
    """{relation, approver, promoted, checks: [{check, ok, detail}]}: plain data for the run record."""
    q = warehouse.quote
    checks: list[dict[str, Any]] = []
    for column in promotion.not_null:
        (n,), = warehouse.query(f"SELECT COUNT(*) FROM {relation} WHERE {q(column)} IS NULL")
        checks.append({"check": f"not_null {column}", "ok": n == 0, "detail": f"{n} row(s) without a value"})
    for column, values in promotion.accepted_values.items():
        listed = ", ".join(_literal(v) for v in values)
        (n,), = warehouse.query(f"SELECT COUNT(*) FROM {relation} WHERE {q(column)} IS NOT NULL "
                                f"AND CAST({q(column)} AS VARCHAR) NOT IN ({listed})")  # NULLs: not_null's job
        checks.append({"check": f"accepted_values {column}", "ok": n == 0,
                       "detail": f"{n} row(s) outside: {', '.join(str(v) for v in values)}"})
    rec = promotion.reconcile
    if rec is not None:
        (mine,), = warehouse.query(f"SELECT SUM({q(rec.column)}) FROM {relation}")
        (theirs,), = warehouse.query(f"SELECT SUM({q(rec.against_column or rec.column)}) FROM {rec.against}")
        a, b = Decimal(str(mine or 0)), Decimal(str(theirs or 0))
        checks.append({"check": f"reconcile {rec.column} against {rec.against}", "ok": a == b,
                       "detail": f"{a} versus {b} (difference {a - b})"})
    checks.append({"check": "approver", "ok": bool(promotion.approver.strip()), "detail": promotion.approver})
    return {"relation": relation, "approver": promotion.approver,
            "promoted": all(c["ok"] for c in checks), "checks": checks}
