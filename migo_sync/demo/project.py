"""Build a demo project, seed its warehouse, start the sandbox and run every shipped mapping."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from migo_sync.config import CONFIG_FILE, Project
from migo_sync.errors import ConfigError
from migo_sync.targets import sandbox_credentials

__all__ = ["sandbox_credentials"]

DEMO_CONFIG = """\
# A demo project made by `migo-sync demo`: DuckDB warehouse, every system in the local sandbox.
name = "migo-sync demo"
mappings = "mappings"

[warehouse]
type = "duckdb"
path = "warehouse.duckdb"

[zones]
# Sheets pulls land in the DMZ (hand_kept = ["sheets"] by default). The manual adjustments may
# reach the ledger because this promotion's checks pass in the run that posts them.
systems_of_record = ["adaptive.data"]   # the plan's actuals, besides every ledger's journals

[zones.promote."finance.manual_adjustments"]
approver = "A. Wanjiru (finance lead)"
not_null = ["adjustment_id", "account_no", "department_id", "amount", "approved_by", "adjustment_date"]
accepted_values = { approved_by = ["A. Wanjiru", "J. Otieno", "M. Achieng", "P. Kamau"], department_id = ["OPS", "RISK", "COLL", "FIN"] }

[systems.zendesk]
# The demo account has Zendesk's High Volume add-on: 30 incremental exports a minute, not 10.
incremental_limit_per_minute = 30

[systems.workday]
# The sandbox tenant has closed every month through December 2025 (Workday has no call that says so).
closed_through = "2025-12"
"""

# Emulator knobs matching DEMO_CONFIG (the sandbox enforces the same limits as the client).
SANDBOX_OPTIONS = {"zendesk": {"incremental_limit_per_minute": 30}}


def shipped_mappings() -> Path:
    """The repository's `mappings/` folder (the examples the demo runs)."""
    here = Path(__file__).resolve().parents[2] / "mappings"
    if here.is_dir():
        return here
    raise ConfigError("the shipped mappings/ folder was not found next to the migo_sync package")


def create_project(root: Path) -> Project:
    """Lay out a demo project in `root` (kept as it is when it exists already)."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / CONFIG_FILE).exists():
        (root / CONFIG_FILE).write_text(DEMO_CONFIG, encoding="utf-8")
    target = root / "mappings"
    if not target.exists():
        shutil.copytree(shipped_mappings(), target, ignore=shutil.ignore_patterns("zones"))
        for extra in sorted((shipped_mappings() / "zones").glob("*.yaml")):  # the trust-zone examples
            shutil.copy(extra, target / extra.name)
    dictionary = shipped_mappings().parent / "dictionary"
    if not (root / "dictionary").exists() and dictionary.is_dir():
        shutil.copytree(dictionary, root / "dictionary")
    return Project.load(root)


@dataclass
class DemoPaths:
    root: Path
    keep: bool


@contextmanager
def demo_root(project: Path | None) -> Iterator[DemoPaths]:
    if project is not None:
        yield DemoPaths(project.resolve(), keep=True)
        return
    tmp = Path(tempfile.mkdtemp(prefix="migo-sync-demo-"))
    try:
        yield DemoPaths(tmp, keep=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
