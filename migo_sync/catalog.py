"""Load an adapter's catalog.yaml: its objects, what they accept, and their fields."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import ruamel.yaml
from ruamel.yaml import YAML

from migo_sync import textcache
from migo_sync.adapter import RemoteField, RemoteObject


def _catalog_data(text: str) -> dict[str, Any]:
    """The catalog's YAML as plain data. ruamel's pure-Python parse of a catalog took ~0.2 s of every
    fresh run: the result is kept as JSON by the text's hash (migo_sync.textcache)."""
    parsed: list[dict[str, Any]] = []

    def make() -> bytes | None:
        data = YAML(typ="safe").load(text) or {}
        parsed.append(data)
        try:
            dumped = json.dumps(data)
        except (TypeError, ValueError):  # a value JSON cannot hold (a date): parsed again next time
            return None
        # kept only when JSON gives back the very same data (no int keys)
        return dumped.encode("utf-8") if json.loads(dumped) == data else None

    kept = textcache.remembered("catalog", textcache.key("catalog", ruamel.yaml.__version__, text), make,
                                _json_object)
    return dict(parsed[0]) if parsed else dict(json.loads(kept or b"{}"))


def _json_object(stored: bytes) -> None:
    if not isinstance(json.loads(stored), dict):
        raise ValueError("not a catalog")


@cache
def load_catalog(path: Path) -> list[RemoteObject]:
    """Parse a catalog file (once per process: catalogs are read-only package data)."""
    data = _catalog_data(path.read_text(encoding="utf-8"))
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
