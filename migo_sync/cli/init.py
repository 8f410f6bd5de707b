"""`migo-sync init`: scaffold a project folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from migo_sync.cli.common import fail, terminal
from migo_sync.config import CONFIG_FILE, Project
from migo_sync.errors import MigoSyncError

CONFIG = """\
name = "{name}"
mappings = "mappings"

[warehouse]
type = "duckdb"                  # or "snowflake"
path = "warehouse.duckdb"
# connection_name = "prod"       # snowflake: a named connection from connections.toml
state_schema = "migo_sync"       # runs, rejects, cursors and the ledger of what was sent

# [systems.sheets]
# rate_limit = 5                 # requests per second; MIGO_SYNC_SHEETS_URL overrides the base URL
"""

EXAMPLE = """\
# An example push: one warehouse table onto one Google Sheets tab. Validate with:
#   migo-sync mapping validate
name: example_to_sheet
system: sheets
object: tab
direction: push
mode: mirror
enabled: false                   # switch on once the table and the spreadsheet exist
warehouse:
  table: analytics.example
key: [id]
options:
  spreadsheet_id: "your-spreadsheet-id"
  sheet: Example
fields:
  - {column: id, remote: ID, type: integer}
  - {column: name, remote: Name}
"""


def init_command(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.", file_okay=False)] = Path("."),
) -> int:
    """Create migo-sync.toml and a mappings/ folder with an example mapping."""
    term = terminal()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / CONFIG_FILE
    if config.exists():
        term.error(f"{config}: a project exists here already; nothing was changed")
        return 2
    config.write_text(CONFIG.format(name=directory.resolve().name), encoding="utf-8")
    mappings = directory / "mappings"
    mappings.mkdir(exist_ok=True)
    example = mappings / "example_to_sheet.yaml"
    if not example.exists():
        example.write_text(EXAMPLE, encoding="utf-8")
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*.duckdb\n*.duckdb.wal\n.migo-sync/\n", encoding="utf-8")
    from migo_sync.warehouse import open_warehouse

    try:  # the one place (with `create = true`) a DuckDB file is made: elsewhere a missing one is refused
        open_warehouse(Project.load(directory), create=True).close()
    except MigoSyncError as exc:
        return fail(term, exc)
    term.success(f"project created in {directory.resolve()}: edit {CONFIG_FILE} and mappings/")
    return 0
