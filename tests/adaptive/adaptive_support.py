"""Helpers for the Adaptive Planning tests: mappings, push units, the emulator's cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migo_sync.adapter import PushUnit, idempotency_key
from migo_sync.adapters.adaptive.emulator import AdaptiveEmulator
from migo_sync.adapters.adaptive.sandbox import credentials
from migo_sync.mapping.model import Mapping
from migo_sync.sandbox.process import SandboxThread


def emulator_of(handle: SandboxThread) -> AdaptiveEmulator:
    emulator = handle.sandbox.emulators["adaptive"]
    assert isinstance(emulator, AdaptiveEmulator)
    return emulator


def sandbox_environ(handle: SandboxThread, tmp_path: Path) -> dict[str, str]:
    return {**handle.env, **credentials(tmp_path), "MIGO_SYNC_NO_KEYRING": "1"}


def push_mapping(**options: Any) -> Mapping:
    dims = options.pop("dims", [])
    return Mapping.model_validate({
        "name": "adaptive_actuals_push", "system": "adaptive", "object": "data", "direction": "push",
        "warehouse": {"table": "lending.monthly_actuals"}, "key": ["account_code", "level_name", "period", *dims],
        "group_by": ["account_code", "level_name", *dims],
        "fields": [{"column": "account_code", "remote": "account"}, {"column": "level_name", "remote": "level"},
                   {"column": "period", "remote": "period"},
                   {"column": "amount", "remote": "value", "type": "decimal", "scale": 2},
                   *({"column": d.lower(), "remote": f"dimensions.{d}"} for d in dims)],
        "options": {"version": "Actuals", **options}})


def pull_mapping(obj: str = "data", **options: Any) -> Mapping:
    fields = ([{"column": c, "remote": c} for c in ("version", "account", "level", "period")]
              + [{"column": "value", "remote": "value", "type": "decimal", "scale": 2}]) if obj == "data" else [
        {"column": "id", "remote": "id", "type": "integer"}]
    return Mapping.model_validate({
        "name": f"adaptive_{obj}_pull", "system": "adaptive", "object": obj, "direction": "pull",
        "warehouse": {"table": f"planning.{obj}"}, "key": ["version", "account", "level", "period"] if obj == "data"
        else ["id"], "fields": fields, "options": options})


def unit(account: str, level: str, months: dict[str, Any], dims: dict[str, str] | None = None,
         mapping: str = "adaptive_actuals_push") -> PushUnit:
    """One slice: an account on a level (and dimension values) over some months."""
    key = "\x1f".join([account, level, *(dims or {}).values()])
    records = [{"account": account, "level": level, "period": period, "value": value,
                **{f"dimensions.{d}": v for d, v in (dims or {}).items()}} for period, value in months.items()]
    return PushUnit(key=key, idempotency_key=idempotency_key(mapping, key), records=records,
                    row_keys=[f"{key}\x1f{p}" for p in months])


def cells(handle: SandboxThread, version: str = "Actuals") -> dict[tuple[str, ...], str]:
    """The emulator's cells of one version as {(account, level, dims…, period): value}."""
    out: dict[tuple[str, ...], str] = {}
    for cell in handle.dump("adaptive")["versions"][version]["cells"]:
        dims = tuple(f"{k}={v}" for k, v in sorted(cell["dimensions"].items()))
        out[(cell["account"], cell["level"], *dims, cell["period"])] = cell["value"]
    return out
