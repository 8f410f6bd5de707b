"""Build small migo-sync projects on disk for tests."""

from __future__ import annotations

from pathlib import Path

CONFIG = """\
name = "test project"
mappings = "mappings"

[warehouse]
type = "duckdb"
path = "warehouse.duckdb"
"""


def make_project(root: Path, config: str = CONFIG) -> Path:
    """A project folder with migo-sync.toml and an empty mappings/ folder."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "migo-sync.toml").write_text(config, encoding="utf-8")
    (root / "mappings").mkdir(exist_ok=True)
    return root
