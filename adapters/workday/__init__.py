"""Workday Financial Management over SOAP (zeep): journals pushed with Submit_Accounting_Journal,
journal lines and ledger accounts pulled. A second ledger behind the same port as Sage Intacct."""

from __future__ import annotations

from pathlib import Path

from migo_sync.adapter import SystemSpec

SYSTEM = SystemSpec(
    name="workday",
    title="Workday Financial Management",
    adapter="migo_sync.adapters.workday.adapter:WorkdayAdapter",
    emulator="migo_sync.adapters.workday.emulator:WorkdayEmulator",
    # {tenant} is filled from [systems.workday] tenant (or the @tenant of the username).
    default_url="https://wd2-impl-services1.workday.com/ccx/service/{tenant}/Financial_Management/v45.0",
    catalog=Path(__file__).with_name("catalog.yaml"),
    sandbox_credentials="migo_sync.adapters.workday.sandbox:credentials",
    wire="xml",
    # One write() for up to 10,000 journals: each batch's checks look up every journal the tenant holds
    # over the batch's dates, and its imports look up what they booked; batches of 500 over the same
    # dates re-read the earlier batches' journals each time (10,000 journals: 273 requests, most of them
    # look-up pages, instead of ~45). The adapter still imports `import_batch_size` at a time.
    push_batch=10_000,
)
