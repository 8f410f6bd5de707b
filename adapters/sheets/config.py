"""Settings of the Sheets system (`[systems.sheets]` in migo-sync.toml) and of its mappings
(`options:` in a mapping file), as pydantic models so every problem is reported at once."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from migo_sync.adapters.sheets.a1 import A1Error, GridRange, parse_range
from migo_sync.errors import ConfigError
from migo_sync.settings import CoreSettings, parse_settings

MAX_REQUEST_BYTES = 2_000_000  # Google's recommended ceiling for one request body ("2 MB")
_URL_ID = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")


class SheetsSettings(CoreSettings):
    """`[systems.sheets]`: where to connect and how hard to push (the core keys come from CoreSettings)."""

    token_url: str | None = Field(default=None, description="OAuth token URL; MIGO_SYNC_SHEETS_TOKEN_URL overrides")
    rate_limit: float | None = Field(default=1.0, ge=0, description="requests per second; 0 = unlimited "
                                     "(Google allows 60 per minute per service account)")
    rate_burst: int = Field(default=30, ge=1)
    max_request_bytes: int = Field(default=MAX_REQUEST_BYTES, ge=1024, le=MAX_REQUEST_BYTES)
    max_concurrency: int = Field(default=4, ge=1, le=10, description="requests in flight at once (a push's "
                                 "clear and 2 MB writes, a pull's windows; each is held in memory)")


class TabOptions(BaseModel):
    """A mapping's `options:` for object `tab`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spreadsheet_id: str = Field(min_length=1, description="the id from the spreadsheet's URL (or the URL)")
    sheet: str | None = Field(default=None, min_length=1, description="the tab's title")
    range: str | None = Field(default=None, min_length=1, description="an A1 range, e.g. A1:H or 'Tab'!B3:F")
    header_row: int = Field(default=1, ge=1, description="which row of the range holds the header (1 = first)")
    create_tab: bool = Field(default=True, description="push: add the tab when it is missing")
    window_rows: int = Field(default=10_000, ge=1, le=1_000_000, description="pull: rows read per request")
    order_by: list[str] = Field(default_factory=list,
                                description="push: remote fields to sort by, each optionally followed by ' desc'")

    @field_validator("spreadsheet_id")
    @classmethod
    def _id_from_url(cls, value: str) -> str:
        match = _URL_ID.search(value)
        return match.group(1) if match else value.strip()

    @model_validator(mode="after")
    def _tab_named(self) -> TabOptions:
        grid = self.grid_range()
        if grid.sheet is None:
            raise ValueError("name the tab: set options.sheet, or give options.range as 'Tab'!A1:H")
        if self.sheet is not None and self.range is not None:
            inner = _parse(self.range)
            if inner.sheet is not None and inner.sheet != self.sheet:
                raise ValueError(f"options.sheet '{self.sheet}' and the tab of options.range "
                                 f"'{inner.sheet}' differ")
        return self

    @property
    def tab(self) -> str:
        title = self.grid_range().sheet
        assert title is not None  # guaranteed by _tab_named
        return title

    def grid_range(self) -> GridRange:
        """The range this mapping covers inside its tab (the whole tab by default)."""
        if self.range is None:
            return GridRange(self.sheet)
        grid = _parse(self.range)
        if grid.sheet is None:
            return GridRange(self.sheet, grid.start_row, grid.start_col, grid.end_row, grid.end_col)
        return grid


def _parse(text: str) -> GridRange:
    try:
        grid = parse_range(text)
    except A1Error as exc:
        raise ValueError(f"range '{text}' is not A1 notation ({exc})") from None
    return grid


def option_problems(options: dict[str, Any]) -> tuple[TabOptions | None, list[tuple[str, str]]]:
    """Parse a mapping's options: (the model, []) or (None, [(path, message), ...])."""
    try:
        return TabOptions.model_validate(options), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            path = ".".join(["options", *(str(p) for p in error["loc"])])
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "required (the id in the spreadsheet's URL: docs.google.com/spreadsheets/d/<id>/)" \
                    if error["loc"] == ("spreadsheet_id",) else "required"
            elif error["type"] == "extra_forbidden":
                message = ("unknown option (known: " + ", ".join(TabOptions.model_fields) + ")")
            problems.append((path, message))
        return None, problems


def tab_options(options: dict[str, Any], label: str) -> TabOptions:
    parsed, problems = option_problems(options)
    if parsed is None:
        raise ConfigError(f"{label}: " + "; ".join(f"{p}: {m}" for p, m in problems))
    return parsed


def sheets_settings(settings: dict[str, Any]) -> SheetsSettings:
    return parse_settings(SheetsSettings, "sheets", settings)
