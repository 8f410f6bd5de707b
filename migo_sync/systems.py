"""Open a system's adapter for a project: URLs, settings, credentials and the HTTP factory."""

from __future__ import annotations

from functools import partial
from typing import cast

from migo_sync.adapter import Adapter, AdapterContext
from migo_sync.config import CONFIG_FILE, Project
from migo_sync.config import _key_line as key_line
from migo_sync.credentials import Credentials
from migo_sync.errors import ConfigError, MappingError, Problem
from migo_sync.http import make_client
from migo_sync.registry import get_system, load_object
from migo_sync.settings import SettingsError


def adapter_context(project: Project, name: str) -> AdapterContext:
    spec = get_system(name)
    defaults = {"url": spec.default_url, **spec.extra_urls}
    urls = {key: project.system_url(name, default, key) for key, default in defaults.items()}
    settings = project.system_settings(name)
    return AdapterContext(
        system=name,
        base_url=urls["url"],
        urls=urls,
        settings=settings,
        credentials=Credentials(name, project.environ),
        http=partial(make_client, name, settings=settings),
    )


def open_adapter(project: Project, name: str) -> Adapter:
    """Build the adapter of system `name` (its module is imported now, not before)."""
    spec = get_system(name)
    cls = load_object(spec.adapter)
    try:
        return cast(Adapter, cls(adapter_context(project, name)))
    except SettingsError as exc:
        raise placed(project, exc) from None


def placed(project: Project, error: SettingsError) -> ConfigError:
    """A settings error with the project's file and each key's line, when the file is there."""
    path = project.root / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return error
    return MappingError([
        Problem(str(path), key_line(text, ["systems", error.system, *key.split(".")[:1]]),
                f"systems.{error.system}.{key}", message.removeprefix(f"{key}: "), hint)
        for key, message, hint in error.problems])


class AdapterPool:
    """One adapter per system for the whole run (sessions and caches are reused)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.adapters: dict[str, Adapter] = {}

    def __call__(self, system: str) -> Adapter:
        if system not in self.adapters:
            self.adapters[system] = open_adapter(self.project, system)
        return self.adapters[system]

    def close(self) -> None:
        for adapter in self.adapters.values():
            adapter.close()
        self.adapters.clear()
