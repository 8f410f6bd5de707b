"""An engine test's warehouse on either engine: a DuckDB file, or Snowflake through the real
connector on the session's fakesnow server (a database of its own per test)."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from migo_sync.config import Project, ProjectConfig, WarehouseConfig
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.base import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

FAKESNOW_WARNING = "Arrow output on a DB-API result"
ENGINES = ["duckdb", "snowflake"]


def snowflake_environ(kwargs: dict[str, Any]) -> dict[str, str]:
    """The environment that points the Snowflake connector at fakesnow, in a database of its own."""
    return {"SNOWFLAKE_ACCOUNT": kwargs["account"], "SNOWFLAKE_USER": kwargs["user"],
            "SNOWFLAKE_PASSWORD": kwargs["password"], "SNOWFLAKE_HOST": kwargs["host"],
            "SNOWFLAKE_PORT": str(kwargs["port"]), "SNOWFLAKE_PROTOCOL": kwargs["protocol"],
            "SNOWFLAKE_DATABASE": f"T_{uuid.uuid4().hex[:8].upper()}", "SNOWFLAKE_SCHEMA": "PUBLIC",
            "MIGO_SYNC_NO_KEYRING": "1"}


@contextmanager
def engine_warehouse(request: pytest.FixtureRequest, tmp_path: Path, setup: Sequence[str]) -> Iterator[Warehouse]:
    """The warehouse `request.param` names, with `setup` run and the bookkeeping tables made."""
    if request.param == "duckdb":
        project = Project(root=tmp_path, config=ProjectConfig(warehouse=WarehouseConfig(path="w.duckdb", create=True)))
    else:
        kwargs: dict[str, Any] = request.getfixturevalue("fakesnow_kwargs")
        (tmp_path / "migo-sync.toml").write_text('[warehouse]\ntype = "snowflake"\nstate_schema = "migo_sync"\n')
        project = Project.load(tmp_path)
        project.environ = snowflake_environ(kwargs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=FAKESNOW_WARNING, category=UserWarning)
        wh = open_warehouse(project)
        try:
            for statement in setup:  # (on Snowflake, before the session's staging tables)
                wh.execute(statement)
            Bookkeeping(wh).ensure()
            yield wh
        finally:
            wh.close()
