"""Zendesk settings (`[systems.zendesk]` in migo-sync.toml) and mapping options, as pydantic models."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from migo_sync.settings import CoreSettings, parse_settings


class ZendeskSettings(CoreSettings):
    """How migo-sync talks to one Zendesk account (the core keys come from CoreSettings)."""

    subdomain: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$",
                                  description="https://{subdomain}.zendesk.com")
    incremental_limit_per_minute: int = Field(
        default=10, ge=0, description="incremental export requests per rolling minute (30 with High Volume; 0: off)")
    slow_down_below: float = Field(
        default=0.1, ge=0, lt=1,
        description="pace requests once X-Rate-Limit-Remaining falls below this share of X-Rate-Limit (0: off)")
    page_size: int = Field(default=1000, ge=1, le=1000, description="incremental export per_page")
    read_ahead: bool = Field(default=True, description="fetch the next export page while the current one loads")
    max_jobs_in_flight: int = Field(default=30, ge=1, le=30, description="bulk jobs queued or running at once")
    max_concurrency: int = Field(default=10, ge=1, le=30, description="requests in flight at once (job submissions)")
    job_poll_interval: float = Field(default=0.5, ge=0, description="first wait after a poll that showed no change (s)")
    job_poll_max: float = Field(default=5.0, ge=0, description="longest wait between job status polls (s)")
    job_timeout: float = Field(default=1800.0, gt=0, description="give up on a job after this long (s)")
    job_slot_wait: float = Field(
        default=300.0, gt=0, description="longest wait for a job slot while Zendesk's job limit is taken by other jobs (s)")

    @classmethod
    def parse(cls, settings: dict[str, Any]) -> ZendeskSettings:
        return parse_settings(cls, "zendesk", settings)


class PullOptions(BaseModel):
    """`options:` of a pull mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_time: int = Field(default=0, ge=0, description="first run only: epoch seconds, or an ISO date/datetime")
    deleted: Literal["flag", "delete"] = Field(
        default="flag",
        description="flag: keep deleted records (map the computed `deleted` field to see them); "
                    "delete: remove them from the warehouse table")

    @field_validator("start_time", mode="before")
    @classmethod
    def _epoch(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
        if isinstance(value, date):
            return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
        if isinstance(value, str) and not value.strip().isdigit():
            try:
                parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError as exc:
                raise ValueError(f"'{value}' is neither epoch seconds nor an ISO date/datetime") from exc
            return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())
        return value


class PushOptions(BaseModel):
    """`options:` of a push mapping: none yet (the upsert key is always `external_id`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def option_problems(model: type[BaseModel], options: dict[str, Any]) -> list[tuple[str, str]]:
    """Every problem in a mapping's options, as (field path, message) pairs."""
    try:
        model.model_validate(options)
    except ValidationError as exc:
        return [("options." + ".".join(str(p) for p in err["loc"]), err["msg"]) for err in exc.errors()]
    return []

