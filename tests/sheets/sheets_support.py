"""Helpers shared by the Sheets tests: small valid mappings and the one push unit of a tab."""

from __future__ import annotations

from typing import Any

from migo_sync.adapter import PushUnit, idempotency_key
from migo_sync.adapters.sheets.emulator import SheetsEmulator
from migo_sync.mapping.model import Mapping
from migo_sync.sandbox.process import SandboxThread

DEFAULTS: dict[str, dict[str, Any]] = {
    "push": {"name": "test-push", "mode": "mirror", "table": "lending.collections", "key": ["loan_id"],
             "options": {"spreadsheet_id": "migo-collections", "sheet": "Collections"},
             "fields": [{"column": "loan_id", "remote": "Loan ID"},
                        {"column": "outstanding", "remote": "Outstanding", "type": "decimal", "scale": 2},
                        {"column": "due", "remote": "Due", "type": "date"},
                        {"column": "note", "remote": "Note"}]},
    "pull": {"name": "test-pull", "mode": "upsert", "table": "finance.fx_rates", "key": ["currency", "effective_date"],
             "options": {"spreadsheet_id": "migo-finance-manual", "sheet": "FX Rates"},
             "fields": [{"column": "currency", "remote": "Currency"},
                        {"column": "rate_to_kes", "remote": "Rate to KES", "type": "decimal", "scale": 6},
                        {"column": "effective_date", "remote": "Effective Date", "type": "date"},
                        {"column": "source", "remote": "Source"}]},
}


def mapping(direction: str = "push", *, fields: list[dict[str, Any]] | None = None, key: list[str] | None = None,
            mode: str | None = None, **options: Any) -> Mapping:
    """A small valid mapping (push: lending.collections → Collections; pull: FX Rates → a table);
    keyword arguments override its sheets `options`."""
    base = DEFAULTS[direction]
    return Mapping.model_validate({
        "name": base["name"], "system": "sheets", "object": "tab", "direction": direction,
        "mode": mode or base["mode"], "warehouse": {"table": base["table"]}, "key": key or base["key"],
        "fields": fields or base["fields"], "options": {**base["options"], **options}})


def unit(records: list[dict[str, Any]], key_field: str = "Loan ID", name: str = "test-push") -> PushUnit:
    """The one unit of a `unit: object` push: every record."""
    return PushUnit(key="*", idempotency_key=idempotency_key(name, "*"), records=records,
                    row_keys=[str(r.get(key_field)) for r in records])


def emulator_of(handle: SandboxThread) -> SheetsEmulator:
    """The emulator object inside a sandbox thread (to set its knobs)."""
    emulator = handle.sandbox.emulators["sheets"]
    assert isinstance(emulator, SheetsEmulator)
    return emulator
