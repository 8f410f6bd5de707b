"""Reading a spreadsheet's metadata: find a tab, its grid size, and say clearly when it is missing."""

from __future__ import annotations

import difflib
from typing import Any

from migo_sync.adapters.sheets.config import TabOptions
from migo_sync.errors import ConfigError


def grid_size(props: dict[str, Any]) -> tuple[int, int]:
    """(rowCount, columnCount) of a tab's properties."""
    grid = props.get("gridProperties") or {}
    return int(grid.get("rowCount", 0)), int(grid.get("columnCount", 0))


def tab_properties(meta: dict[str, Any], title: str) -> dict[str, Any] | None:
    for sheet in meta.get("sheets", []):
        props: dict[str, Any] = sheet.get("properties", {})
        if props.get("title") == title:
            return props
    return None


def missing_tab(options: TabOptions, meta: dict[str, Any]) -> ConfigError:
    titles = [s.get("properties", {}).get("title") for s in meta.get("sheets", [])]
    return ConfigError(f"sheets: spreadsheet '{options.spreadsheet_id}' has no tab '{options.tab}'"
                       f"{suggest(options.tab, [t for t in titles if t])} (tabs: "
                       + ", ".join(f"'{t}'" for t in titles) + ")")


def suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
