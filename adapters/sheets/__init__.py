"""Google Sheets: push a warehouse relation onto a tab, pull a tab or range into a table."""

from __future__ import annotations

from pathlib import Path

from migo_sync.adapter import SystemSpec

SYSTEM = SystemSpec(
    name="sheets",
    title="Google Sheets",
    adapter="migo_sync.adapters.sheets.adapter:SheetsAdapter",
    emulator="migo_sync.adapters.sheets.emulator:SheetsEmulator",
    default_url="https://sheets.googleapis.com",
    catalog=Path(__file__).with_name("catalog.yaml"),
    extra_urls={"token_url": "https://oauth2.googleapis.com/token"},
    sandbox_credentials="migo_sync.adapters.sheets.sandbox:credentials",
)
