"""Build small migo-sync projects on disk for tests."""

from __future__ import annotations

from pathlib import Path

CONFIG = """\
name = "test project"
mappings = "mappings"

[warehouse]
type = "duckdb"
path = "warehouse.duckdb"
create = true                    # tests start from an empty warehouse
"""


def make_project(root: Path, config: str = CONFIG) -> Path:
    """A project folder with migo-sync.toml and an empty mappings/ folder."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "migo-sync.toml").write_text(config, encoding="utf-8")
    (root / "mappings").mkdir(exist_ok=True)
    return root


def sheets_project(root: Path, mappings: tuple[str, ...] = ("sheets_collections_push.yaml",
                                                             "sheets_fx_rates_pull.yaml")) -> Path:
    """A DuckDB project with shipped Sheets mappings and a small seeded lending dataset."""
    import shutil

    from migo_sync.config import Project
    from migo_sync.demo.dataset import Sizes, seed
    from migo_sync.warehouse import open_warehouse

    make_project(root)
    shipped = Path(__file__).resolve().parents[2] / "mappings"
    for name in mappings:
        shutil.copy(shipped / name, root / "mappings" / name)
    warehouse = open_warehouse(Project.load(root))
    try:
        seed(warehouse, seed=5, sizes=Sizes(customers=120, loans=300))
    finally:
        warehouse.close()
    return root
