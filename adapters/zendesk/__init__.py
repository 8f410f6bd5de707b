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
    # 100 jobs of 100 users: the job runner keeps Zendesk's 30 jobs in flight and submits the next ones as soon
    # as a poll shows jobs done, so a batch spanning several rounds of jobs runs them back to back (one batch per
    # 3,000 left the engine's ledger work between every round, with no job in flight)
    push_batch=10_000,
)
