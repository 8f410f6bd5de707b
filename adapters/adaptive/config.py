"""Settings of the Adaptive system (`[systems.adaptive]` in migo-sync.toml) and mapping options.

    [systems.adaptive]
    api_version = 38          # pinned: the URL becomes {url}/api/v38 (unless url ends in /api/vNN)
    caller_name = "migo-sync" # callerName on every call (Adaptive logs it)
    instance_code = "ACME1"   # optional: pick one of the instances the user can reach
    import_rows = 5000        # pipe-delimited rows per import call
    max_concurrency = 2       # calls in flight at once (exportData slices, the push's metadata reads)

Credentials: MIGO_SYNC_ADAPTIVE_LOGIN and MIGO_SYNC_ADAPTIVE_PASSWORD (or the keyring).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from migo_sync.adapters.adaptive import periods
from migo_sync.settings import CoreSettings

DEFAULT_API_VERSION = 38
VERSIONED_URL = re.compile(r"/api/v(\d+)$")


class AdaptiveSettings(CoreSettings):
    """`[systems.adaptive]`; the core keys (url, rate_limit, timeout…) come from CoreSettings."""

    api_version: int = Field(default=DEFAULT_API_VERSION, ge=16, le=99)
    caller_name: str = Field(default="migo-sync", min_length=1)
    instance_code: str | None = None
    locale: str | None = None
    # No cap is published (api-reference §2.4); 5,000 rows x 12 months is ~60,000 cells per call.
    import_rows: int = Field(default=5000, ge=1, le=100_000)
    # Reads issued together: exportData slices of a pull, the push's metadata exports. Imports stay
    # one at a time (Adaptive serialises them per instance). 2 is what a tenant is measured to allow.
    max_concurrency: int = Field(default=2, ge=1, le=16)

    def endpoint(self, base_url: str) -> str:
        """`{base}/api/v{api_version}`; a URL that already names a version is used as it is."""
        base = base_url.rstrip("/")
        return base if VERSIONED_URL.search(base) else f"{base}/api/v{self.api_version}"

    def effective_api_version(self, base_url: str) -> int:
        match = VERSIONED_URL.search(base_url.rstrip("/"))
        return int(match.group(1)) if match else self.api_version


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _month(value: object) -> str | None:
    if value is None:
        return None
    return periods.to_iso(periods.parse(str(value)))


class PushOptions(Options):
    """Options of a push of `data`: the version written and the sheet kind."""

    version: str = Field(min_length=1, description="the version written, e.g. Actuals")
    sheet_type: Literal["standard", "cube"] = "standard"
    sheet: str | None = Field(default=None, description="cube sheet name (sheet_type: cube)")
    plan_or_actuals: Literal["Plan", "Actuals"] | None = Field(
        default=None, description="default: Actuals for an ACTUALS version, else Plan")

    @model_validator(mode="after")
    def _sheet(self) -> PushOptions:
        if self.sheet_type == "cube" and not self.sheet:
            raise ValueError("sheet_type: cube needs `sheet` (the cube sheet's name)")
        if self.sheet_type == "standard" and self.sheet:
            raise ValueError("`sheet` is only for sheet_type: cube")
        return self


class DataPullOptions(Options):
    """Options of a pull of `data`: which versions, which months, how the export is cut."""

    versions: list[str] = Field(min_length=1, description="versions exported, e.g. [Forecast Q4 2026]")
    start: str | None = Field(default=None, description="first month YYYY-MM (default: the version's start)")
    end: str | None = Field(default=None, description="last month YYYY-MM (default: the version's end)")
    split: periods.Split = Field(default="month", description="one exportData call per month, quarter or year")
    accounts: list[str] = Field(default_factory=list, description="account codes (with their descendants)")
    levels: list[str] = Field(default_factory=list, description="level names (with their descendants)")
    dimensions: list[str] = Field(default_factory=list, description="dimensions added as columns")
    dimension_values: dict[str, str] = Field(default_factory=dict, description="filter: {dimension: value}")
    include_rollups: bool = False

    @model_validator(mode="before")
    @classmethod
    def _one_version(cls, data: object) -> object:
        if isinstance(data, dict) and "version" in data:
            data = dict(data)
            if "versions" in data:
                raise ValueError("give `version` or `versions`, not both")
            data["versions"] = [data.pop("version")]
        return data

    @field_validator("start", "end", mode="before")
    @classmethod
    def _months(cls, value: object) -> str | None:
        return _month(value)

    @model_validator(mode="after")
    def _order(self) -> DataPullOptions:
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self


class MetadataOptions(Options):
    """Options of a metadata pull: `version` makes accounts/levels report isImportable for it."""

    version: str | None = None
