"""Where systems are found: the built-in adapter folders and the `migo_sync.adapters` entry points.

Only a system's small `SYSTEM` spec is imported to list it; its adapter code (httpx clients, zeep,
lxml) and its emulator load when first used, so `migo-sync --help` stays fast.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from migo_sync.adapter import SystemSpec
from migo_sync.errors import ConfigError

BUILTIN = ("sheets", "intacct", "adaptive", "zendesk", "workday")
ENTRY_POINT_GROUP = "migo_sync.adapters"


@lru_cache(maxsize=1)
def systems() -> dict[str, SystemSpec]:
    """Every known system by name: built-ins first, then plugins."""
    found: dict[str, SystemSpec] = {}
    for name in BUILTIN:
        try:
            module = importlib.import_module(f"migo_sync.adapters.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"migo_sync.adapters.{name}":
                continue
            raise
        spec = getattr(module, "SYSTEM", None)
        if isinstance(spec, SystemSpec):
            found[spec.name] = spec
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        spec = ep.load()
        if isinstance(spec, SystemSpec) and spec.name not in found:
            found[spec.name] = spec
    return found


def get_system(name: str) -> SystemSpec:
    known = systems()
    if name not in known:
        raise ConfigError(f"unknown system '{name}' (known: {', '.join(sorted(known)) or 'none'})")
    return known[name]


def load_object(path: str) -> Any:
    """Import "package.module:attribute"."""
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
