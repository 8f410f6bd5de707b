"""Settings of the Workday Financials adapter (`[systems.workday]`) and of its mappings' `options:`."""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator

from migo_sync.settings import CoreSettings

# Workday answers at most 999 objects per page (Response_Filter/Count).
MAX_COUNT = 999
VERSION = re.compile(r"^v\d+\.\d+$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DEFAULT_DUPLICATE = r"already (exists|in use)"


class WorkdaySettings(CoreSettings):
    """`[systems.workday]` in migo-sync.toml. Credentials never go here (see `credentials`)."""

    tenant: str | None = Field(default=None, description="tenant name: fills {tenant} in the default URL "
                                                          "and completes a username given without @tenant")
    version: str = Field(default="v45.0", description="WWS version sent as wd:version")
    company: str | None = Field(default=None, description="default Company_Reference_ID of pushed journals")
    currency: str | None = Field(default=None, description="default Currency_ID (required on every journal: "
                                                           "set it here or map Currency_ID)")
    ledger_type: str = Field(default="Actuals", description="default Ledger_Type_ID")
    journal_source: str | None = Field(default=None, description="default Journal_Source_ID (required on every "
                                                                 "journal: set it here or map Journal_Source_ID)")
    account_set: str = Field(default="Standard", description="Account_Set_ID that scopes Ledger_Account_ID")
    submit: bool = Field(default=True, description="Submit=true: post the journal, not only save it")
    page_size: int = Field(default=MAX_COUNT, ge=1, le=MAX_COUNT)
    max_concurrency: int = Field(default=4, ge=1, le=32, description="requests at once (journal posts, pull pages) "
                                                                     "(imports, or single submits)")
    journal_import: bool = Field(default=True, description="post journals with Import_Accounting_Journal in "
                                 "batches (asynchronous, status polled); false: one Submit_Accounting_Journal "
                                 "per journal, for a tenant whose integration user may not import")
    import_batch_size: int = Field(default=500, ge=1, le=10_000, description="journals per "
                                   "Import_Accounting_Journal request (keep it under the tenant's payload limit)")
    import_timeout_seconds: float = Field(default=900, gt=0, le=24 * 3600, description="how long to wait for "
                                          "imports to finish; past it their journals stay pending (the next "
                                          "run asks again: Add_Only keeps each once)")
    closed_through: str | None = Field(default=None, description="YYYY-MM: the last closed month; journals "
                                       "dated up to its end are rejected before sending (WWS has no operation "
                                       "that lists period status)")
    duplicate_pattern: str = Field(default=DEFAULT_DUPLICATE, description="regex on a Validation_Error "
                                   "message that means: this Accounting_Journal_ID is already taken")

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not VERSION.match(value):
            raise ValueError(f"'{value}' is not a WWS version like v45.0")
        return value

    @field_validator("closed_through")
    @classmethod
    def _month(cls, value: str | None) -> str | None:
        if value is not None and not MONTH.match(value):
            raise ValueError(f"'{value}' is not a YYYY-MM month")
        return value

    @field_validator("duplicate_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @property
    def closed_through_date(self) -> date | None:
        """The last day of `closed_through`'s month."""
        if self.closed_through is None:
            return None
        year, month = (int(part) for part in self.closed_through.split("-"))
        first_next = date(year + month // 12, month % 12 + 1, 1)
        return date.fromordinal(first_next.toordinal() - 1)


class PushOptions(BaseModel):
    """`options:` of a push mapping of Accounting_Journal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    submit: bool | None = Field(default=None, description="override the system's `submit`")
    max_concurrency: int | None = Field(default=None, ge=1, le=32)
    journal_import: bool | None = Field(default=None, description="override the system's `journal_import`")
    import_batch_size: int | None = Field(default=None, ge=1, le=10_000, description="override the system's "
                                          "`import_batch_size`")


class PullOptions(BaseModel):
    """`options:` of a pull mapping (Journal_Entry_Line, Ledger_Account)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    incremental: bool = Field(default=True, description="Journal_Entry_Line: only journals updated since "
                                                        "the last run (Updated_From_Date)")
    lookback_minutes: int = Field(default=60, ge=0, le=60 * 24 * 31)
    page_size: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    accounting_from: date | None = Field(default=None, description="only lines dated on or after")
    accounting_to: date | None = Field(default=None, description="only lines dated on or before")
    company: str | None = Field(default=None, description="only this company's journals")

