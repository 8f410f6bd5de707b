"""Adaptive metadata trees (nested <account>, <level>, <version>, <dimensionValue>) as flat
records: one per node, with its parent's key and its depth, ready for a warehouse table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from migo_sync.adapters.adaptive import periods
from migo_sync.adapters.adaptive.xml import is_true


def flatten(root: Any, tag: str, convert: Any, parent: Any = None, depth: int = 0) -> Iterator[dict[str, Any]]:
    for node in root.iterfind(tag):
        children = node.findall(tag)
        yield convert(node, parent, depth, bool(children))
        yield from flatten(node, tag, convert, node, depth + 1)


def to_int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def _bool_or_none(value: str | None) -> bool | None:
    return None if value is None else is_true(value)


def _month(value: str | None) -> str | None:
    period = periods.parse_wire(value or "")
    return periods.to_iso(period) if period is not None else None


def version_bound(node: Any, names: tuple[str, ...], *, end: bool) -> str | None:
    """`YYYY-MM` of a version's first (last) month: its own startVer/startPlan (endVer/endPlan),
    else the enclosing version's (a sub-version spans its parent's range)."""
    while node is not None and node.tag == "version":
        for name in names:
            found = periods.parse_bound(node.get(name), end=end)
            if found is not None:
                return periods.to_iso(found)
        node = node.getparent()
    return None


def version_record(node: Any, parent: Any, depth: int, has_children: bool) -> dict[str, Any]:
    return {"id": to_int(node.get("id")), "name": node.get("name"), "type": node.get("type"),
            "parent_name": parent.get("name") if parent is not None else None, "depth": depth,
            "is_locked": is_true(node.get("isLocked")), "is_default": is_true(node.get("isDefaultVersion")),
            "is_importable": _bool_or_none(node.get("isImportable")),
            "start": version_bound(node, ("startVer", "startPlan"), end=False),
            "end": version_bound(node, ("endVer", "endPlan"), end=True),
            "completed_through": _month(node.get("completedValuesThru")),
            "description": node.get("description") or "", "short_name": node.get("shortName") or ""}


def account_record(node: Any, parent: Any, depth: int, has_children: bool) -> dict[str, Any]:
    return {"id": to_int(node.get("id")), "code": node.get("code"), "name": node.get("name"),
            "parent_code": parent.get("code") if parent is not None else None,
            "parent_id": to_int(parent.get("id")) if parent is not None else None, "depth": depth,
            "is_rollup": has_children, "account_type": node.get("accountTypeCode"),
            "balance_type": node.get("balanceType"), "display_as": node.get("displayAs"),
            "time_rollup": node.get("timeRollup"), "decimal_precision": to_int(node.get("decimalPrecision")),
            "is_assumption": is_true(node.get("isAssumption")), "is_importable": _bool_or_none(node.get("isImportable")),
            "owning_sheet_id": to_int(node.get("owningSheetId")), "short_name": node.get("shortName") or "",
            "description": node.get("description") or ""}


def level_record(node: Any, parent: Any, depth: int, has_children: bool) -> dict[str, Any]:
    return {"id": to_int(node.get("id")), "name": node.get("name"),
            "parent_name": parent.get("name") if parent is not None else None,
            "parent_id": to_int(parent.get("id")) if parent is not None else None, "depth": depth,
            "is_rollup": has_children or is_true(node.get("hasChildren")), "currency": node.get("currency"),
            "short_name": node.get("shortName") or "", "is_importable": _bool_or_none(node.get("isImportable")),
            "is_elimination": is_true(node.get("isElimination")), "workflow_status": node.get("workflowStatus")}


def dimension_value_record(node: Any, parent: Any, depth: int, has_children: bool) -> dict[str, Any]:
    return {"id": to_int(node.get("id")), "name": node.get("name"),
            "parent_name": parent.get("name") if parent is not None else None, "depth": depth,
            "description": node.get("description") or "", "short_name": node.get("shortName") or ""}
