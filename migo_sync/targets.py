"""Targets: named sets of warehouse and system settings in one project (dev, prod, sandbox).

    default_target = "dev"            # used when neither --target nor MIGO_SYNC_TARGET names one
    [targets.prod.warehouse]          # overrides [warehouse] keys
    type = "snowflake"
    connection_name = "prod"
    [targets.prod.systems.intacct]    # overrides [systems.intacct] keys
    url = "https://api.intacct.com/ia/xml/xmlgw.phtml"

`sandbox` is built in: every system points at the local emulators (`migo-sync sandbox serve`;
the URL of the one serving this project, else MIGO_SYNC_SANDBOX_URL, else 127.0.0.1:8765) with
the emulators' throwaway credentials, which replace any real ones in the environment, so a
sandbox run can never send a production secret. `[targets.sandbox]` may add settings to it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from migo_sync.registry import load_object, systems

SANDBOX = "sandbox"
TARGET_ENV = "MIGO_SYNC_TARGET"
SANDBOX_URL_ENV = "MIGO_SYNC_SANDBOX_URL"
DEFAULT_SANDBOX_URL = "http://127.0.0.1:8765"


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`, table by table (a nested table merges, a value replaces)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def sandbox_url(state_dir: Path, environ: Mapping[str, str]) -> str:
    """The sandbox serving this project (its server file), else the environment, else the default."""
    server = state_dir / "sandbox" / "server.json"
    try:
        url = json.loads(server.read_text(encoding="utf-8")).get("url")
    except (OSError, ValueError, AttributeError):
        url = None
    return str(url or environ.get(SANDBOX_URL_ENV) or DEFAULT_SANDBOX_URL).rstrip("/")


def sandbox_urls(base_url: str) -> dict[str, str]:
    """`MIGO_SYNC_<SYSTEM>_<URL KEY>` for every system with an emulator, under `base_url`."""
    env: dict[str, str] = {}
    for name, spec in systems().items():
        if spec.emulator:
            for key, suffix in load_object(spec.emulator).url_suffixes.items():
                env[f"MIGO_SYNC_{name.upper()}_{key.upper()}"] = f"{base_url}/{name}{suffix}"
    return env


def sandbox_credentials(state_dir: Path) -> dict[str, str]:
    """The environment every system needs to talk to its emulator (throwaway credentials)."""
    env: dict[str, str] = {}
    for spec in systems().values():
        if spec.sandbox_credentials:
            env.update(load_object(spec.sandbox_credentials)(state_dir))
    return env


def sandbox_environ(state_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of the built-in `sandbox` target: real credentials of every system removed,
    emulator URLs and credentials in their place."""
    prefixes = tuple(f"MIGO_SYNC_{name.upper()}_" for name in systems())
    env = {k: v for k, v in environ.items() if not k.startswith(prefixes)}
    env.update(sandbox_urls(sandbox_url(state_dir, environ)))
    env.update(sandbox_credentials(state_dir))
    return env


def chosen_target(flag: str | None, default: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """--target, then MIGO_SYNC_TARGET, then `default_target` from migo-sync.toml."""
    env = os.environ if environ is None else environ
    return flag or env.get(TARGET_ENV) or default
