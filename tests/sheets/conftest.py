"""Fixtures for the Google Sheets tests: the emulator alone on loopback, a client and an adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.emulators import emulator_fixtures
from sheets.sheets_support import emulator_of

from migo_sync.adapters.sheets.adapter import SheetsAdapter
from migo_sync.adapters.sheets.auth import ServiceAccountAuth, clear_token_cache, load_key
from migo_sync.adapters.sheets.client import SheetsClient
from migo_sync.adapters.sheets.sandbox import credentials
from migo_sync.config import Project, ProjectConfig
from migo_sync.credentials import Credentials
from migo_sync.http import make_client
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter

sheets_server, sheets_sandbox = emulator_fixtures("sheets", around=lambda handle: clear_token_cache())


@pytest.fixture
def set_knobs(sheets_sandbox: SandboxThread) -> Callable[..., None]:
    """Set emulator options (quotas, limits) for one test; the emulator restarts from its seed."""
    def apply(**options: Any) -> None:
        emulator_of(sheets_sandbox).options.update(options)
        sheets_sandbox.reset("sheets")
    return apply


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sheets-key")


@pytest.fixture
def sheets_env(sheets_sandbox: SandboxThread, key_dir: Path) -> dict[str, str]:
    return {**sheets_sandbox.env, **credentials(key_dir), "MIGO_SYNC_NO_KEYRING": "1"}


@pytest.fixture
def client(sheets_env: dict[str, str]) -> Iterator[SheetsClient]:
    key = load_key(Credentials("sheets", sheets_env, use_keyring=False))
    auth = ServiceAccountAuth(key, sheets_env["MIGO_SYNC_SHEETS_TOKEN_URL"])
    http = make_client("sheets", sheets_env["MIGO_SYNC_SHEETS_URL"], auth=auth)
    yield SheetsClient(http)
    http.close()


@pytest.fixture
def make_adapter(sheets_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., SheetsAdapter]]:
    opened: list[SheetsAdapter] = []

    def build(**settings: Any) -> SheetsAdapter:
        config = ProjectConfig(systems={"sheets": settings} if settings else {})
        adapter = open_adapter(Project(root=tmp_path, config=config, environ=dict(sheets_env)), "sheets")
        assert isinstance(adapter, SheetsAdapter)
        opened.append(adapter)
        return adapter

    yield build
    for adapter in opened:
        adapter.close()


@pytest.fixture
def adapter(make_adapter: Callable[..., SheetsAdapter]) -> SheetsAdapter:
    return make_adapter()
