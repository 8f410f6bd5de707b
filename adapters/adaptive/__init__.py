"""Workday Adaptive Planning (XML API): push actuals into a version, pull plan/forecast values
and the metadata trees (versions, accounts, levels, dimensions)."""

from __future__ import annotations

from pathlib import Path

from migo_sync.adapter import SystemSpec

SYSTEM = SystemSpec(
    name="adaptive",
    title="Workday Adaptive Planning",
    adapter="migo_sync.adapters.adaptive.adapter:AdaptiveAdapter",
    emulator="migo_sync.adapters.adaptive.emulator:AdaptiveEmulator",
    # The API version is appended from the `api_version` setting (config.py) unless the URL
    # already ends in /api/vNN.
    default_url="https://api.adaptiveinsights.com",
    catalog=Path(__file__).with_name("catalog.yaml"),
    sandbox_credentials="migo_sync.adapters.adaptive.sandbox:credentials",
    wire="xml",
)
