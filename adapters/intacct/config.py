"""Settings of the Intacct adapter (`[systems.intacct]` in migo-sync.toml) and of its mappings."""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator

from migo_sync.settings import CoreSettings

# Functions per request: no published cap (api-reference §1.7); ≤100 keeps a request far below
# the 15-minute sender timeout even with large journals, and it is what Intacct's guidance and
# the SDKs use. One function is one journal, so 10,000 journals take exactly 100 requests.
MAX_FUNCTIONS = 100
MAX_PAGE_SIZE = 1000
PERIOD_KEY = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class IntacctSettings(CoreSettings):
    """`[systems.intacct]`. Ids may also come from MIGO_SYNC_INTACCT_<NAME> (or the keyring)."""

    sender_id: str | None = None
    company_id: str | None = None
    user_id: str | None = None
    entity_id: str | None = Field(default=None, description="multi-entity: the entity (locationid) to log into")
    functions_per_request: int = Field(default=MAX_FUNCTIONS, ge=1, le=MAX_FUNCTIONS)
    max_concurrency: int = Field(default=4, ge=1, le=16, description="requests in flight at once (journal posts): "
                                 "the gateway refuses more per company (GW-0010)")
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    session_margin_seconds: float = Field(default=60.0, ge=0)
    duplicate_errornos: tuple[str, ...] = ("XL03000011",)
    reportingbook: str = "ACCRUAL"
    # Closed periods: the REPORTINGPERIOD field that says so (the emulator's CLOSED; set "" for a
    # tenant without one) and/or the date the books are closed through.
    period_closed_field: str = "CLOSED"
    closed_through: date | None = None


class PullOptions(BaseModel):
    """`options:` of an Intacct pull mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    query: str = Field(default="", description="extra readByQuery filter, ANDed with the cursor")
    incremental: bool = True
    cursor_field: str = "WHENMODIFIED"
    lookback_minutes: int = Field(default=60, ge=0, le=60 * 24 * 31)
    page_size: int | None = Field(default=None, ge=1, le=MAX_PAGE_SIZE)
    periods: list[str] = Field(default_factory=list, description="YYYY-MM periods (balances); empty: open periods")

    @field_validator("periods")
    @classmethod
    def _periods(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not PERIOD_KEY.match(p)]
        if bad:
            raise ValueError(f"not a YYYY-MM period: {', '.join(bad)}")
        return value


class PushOptions(BaseModel):
    """`options:` of an Intacct push mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    functions_per_request: int | None = Field(default=None, ge=1, le=MAX_FUNCTIONS)

