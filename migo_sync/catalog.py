"""Load an adapter's catalog.yaml: its objects, what they accept, and their fields."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from migo_sync.adapter import RemoteField, RemoteObject


@cache
def load_catalog(path: Path) -> list[RemoteObject]:
    """Parse a catalog file (cached: catalogs are read-only package data)."""
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    objects = []
    for name, spec in (data.get("objects") or {}).items():
        fields = tuple(
            RemoteField(
                name=str(fname),
                type=str((f or {}).get("type", "string")),
                required=bool((f or {}).get("required", False)),
                writable=bool((f or {}).get("writable", True)),
                description=str((f or {}).get("description", "")),
            )
            for fname, f in (spec.get("fields") or {}).items()
        )
        objects.append(
            RemoteObject(
                name=str(name),
                directions=tuple(spec.get("directions", ["push", "pull"])),
                modes=tuple(spec.get("modes", ["upsert"])),
                unit=spec.get("unit", "row"),
                fields=fields,
                dynamic_fields=bool(spec.get("dynamic_fields", False)),
                description=str(spec.get("description", "")),
            )
        )
    return objects
