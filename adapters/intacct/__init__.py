"""Sage Intacct over the XML gateway: journals pushed as GLBATCH, GL detail, chart and balances pulled."""

from __future__ import annotations

from pathlib import Path

from migo_sync.adapter import SystemSpec

SYSTEM = SystemSpec(
    name="intacct",
    title="Sage Intacct",
    adapter="migo_sync.adapters.intacct.adapter:IntacctAdapter",
    emulator="migo_sync.adapters.intacct.emulator:IntacctEmulator",
    default_url="https://api.intacct.com/ia/xml/xmlgw.phtml",
    catalog=Path(__file__).with_name("catalog.yaml"),
    sandbox_credentials="migo_sync.adapters.intacct.sandbox:credentials",
    wire="xml",
)
