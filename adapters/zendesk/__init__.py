"""Zendesk Support: tickets, users and organizations pulled through the incremental exports;
users (and organizations) pushed through bulk upsert jobs keyed by `external_id`.

Kept cheap to import: only the `SYSTEM` spec lives here.
"""

from __future__ import annotations

from pathlib import Path

from migo_sync.adapter import SystemSpec

SYSTEM = SystemSpec(
    name="zendesk",
    title="Zendesk Support",
    adapter="migo_sync.adapters.zendesk.adapter:ZendeskAdapter",
    emulator="migo_sync.adapters.zendesk.emulator:ZendeskEmulator",
    default_url="https://{subdomain}.zendesk.com",
    catalog=Path(__file__).with_name("catalog.yaml"),
    sandbox_credentials="migo_sync.adapters.zendesk.sandbox:credentials",
    push_batch=3000,  # 30 jobs in flight (Zendesk's job limit) x 100 users a job
)
