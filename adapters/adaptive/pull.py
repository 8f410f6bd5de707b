"""Pull side: exportData per version and time span → long records (one per non-blank cell).

Adaptive has no change cursor and exportData answers in one blob, so a pull re-reads the chosen
months every run, cut into spans (`split: month|quarter|year`) so that no single response holds
everything. The state saved with a batch names the last span done; a run that stopped midway
resumes after it, and a run that finished starts over at the first span next time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from migo_sync.adapter import PullBatch
from migo_sync.adapters.adaptive import periods
from migo_sync.adapters.adaptive.client import AdaptiveClient, DataExport
from migo_sync.adapters.adaptive.config import DataPullOptions
from migo_sync.ahead import in_order
from migo_sync.errors import ConfigError

RECORDS_PER_BATCH = 50_000


def plan_spans(options: DataPullOptions, versions: dict[str, dict[str, Any]]) -> list[tuple[str, int, int]]:
    """(version, first month, last month) of every exportData call, in order."""
    plan: list[tuple[str, int, int]] = []
    for name in options.versions:
        meta = versions.get(name)
        if meta is None or meta["type"] == "VERSION_FOLDER":
            known = ", ".join(sorted(v for v, m in versions.items() if m["type"] != "VERSION_FOLDER"))
            raise ConfigError(f"adaptive: version '{name}' does not exist (known: {known})")
        start, end = options.start or meta.get("start"), options.end or meta.get("end")
        if not start or not end:
            raise ConfigError(f"adaptive: version '{name}' has no time range; set options.start and options.end")
        for first, last in periods.spans(periods.parse(start), periods.parse(end), options.split):
            plan.append((name, first, last))
    return plan


def fingerprint(options: DataPullOptions) -> str:
    """Resume only a pull asking the same thing; any change to the options starts over."""
    return hashlib.sha256(json.dumps(options.model_dump(), sort_keys=True).encode()).hexdigest()[:16]


def resume_index(state: dict[str, Any] | None, plan: list[tuple[str, int, int]], mark: str) -> int:
    """Index of the first span to export."""
    if not state or state.get("complete") or state.get("options") != mark:
        return 0
    for index, (version, _, last) in enumerate(plan):
        if version == state.get("version") and periods.to_iso(last) == state.get("through"):
            return index + 1
    return 0


def records(version: str, export: DataExport) -> Iterator[dict[str, Any]]:
    months = [periods.to_iso(p) for p in export.periods]
    for row in export.rows:
        dims = dict(zip(export.dimensions, row.dimensions, strict=True))
        for month, value in zip(months, row.values, strict=True):
            if value is not None:
                yield {"version": version, "account": row.account_code, "account_name": row.account_name,
                       "level": row.level, "dimensions": dict(dims), "period": month, "value": value}


def read_data(client: AdaptiveClient, options: DataPullOptions, versions: dict[str, dict[str, Any]],
              state: dict[str, Any] | None, concurrency: int = 1) -> Iterator[PullBatch]:
    """Every span's records, in plan order. Up to `concurrency` exportData calls are in flight at
    once (the spans are independent); each is loaded in order, so a span's resume point is saved
    only after every span before it."""
    plan = plan_spans(options, versions)
    mark = fingerprint(options)
    first = resume_index(state, plan, mark)
    prior = state if first else None

    def export(index: int) -> DataExport:
        version, start, end = plan[index]
        return client.export_data(version, start, end, accounts=options.accounts, levels=options.levels,
                                  dimensions=options.dimensions, dimension_values=options.dimension_values,
                                  include_rollups=options.include_rollups)

    spans = range(first, len(plan))
    for index, answer in in_order(export, spans, in_flight=concurrency, name="adaptive-export"):
        # the next span went out before this one is parsed and loaded
        version, _, end = plan[index]
        done: dict[str, Any] = ({"complete": True} if index == len(plan) - 1 else
                                {"options": mark, "version": version, "through": periods.to_iso(end)})
        batch: list[dict[str, Any]] = []
        for record in records(version, answer):
            batch.append(record)
            if len(batch) >= RECORDS_PER_BATCH:  # a span too big for one batch: resume point unchanged
                yield PullBatch(batch, state=prior)
                batch = []
        yield PullBatch(batch, state=done)
        prior = done
