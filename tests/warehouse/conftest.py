"""One warehouse test suite, run on DuckDB (a real file) and on Snowflake through fakesnow's server.

fakesnow runs in server mode (`fakesnow.server()`, once per session) so the real connector wire
path is exercised: PUT/COPY, fetch_arrow_batches, describe-only queries, transactions. Each test
gets a database of its own there, so tests never see each other's tables.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from migo_sync.warehouse._sql import SQLWarehouse
from migo_sync.warehouse.duckdb import DuckDBWarehouse

BACKENDS = ["duckdb", "snowflake"]

# fakesnow's server thread asks DuckDB for Arrow output the way DuckDB 2 warns about; pytest turns
# warnings into errors, which would fail the fake server's requests, not our code.
FAKESNOW_WARNING = "Arrow output on a DB-API result"


@pytest.fixture(autouse=True)
def _quiet_fakesnow() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=FAKESNOW_WARNING, category=UserWarning)
        yield


def snowflake_kwargs(base: dict[str, Any], database: str | None = None) -> dict[str, Any]:
    return {**base, "database": database or f"T_{uuid.uuid4().hex[:10].upper()}", "schema": "PUBLIC"}


@pytest.fixture
def open_wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., SQLWarehouse]]:
    """Opens (and, at teardown, closes) warehouses of the test's backend on the same storage:
    call it again to get a second connection, e.g. to look at what a 'crashed' one left behind."""
    backend = getattr(request, "param", "duckdb")
    opened: list[SQLWarehouse] = []
    database = f"T_{uuid.uuid4().hex[:10].upper()}"

    def make(**options: Any) -> SQLWarehouse:
        wh: SQLWarehouse
        if backend == "duckdb":
            wh = DuckDBWarehouse(tmp_path / "warehouse.duckdb", **options)
        else:
            from migo_sync.warehouse.snowflake import SnowflakeWarehouse

            base = request.getfixturevalue("fakesnow_kwargs")
            wh = SnowflakeWarehouse(snowflake_kwargs(base, database), **options)
        opened.append(wh)
        return wh

    yield make
    for wh in opened:
        with suppress(Exception):  # a test may have closed it already
            wh.close()


@pytest.fixture
def wh(open_wh: Callable[..., SQLWarehouse]) -> SQLWarehouse:
    return open_wh()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses a warehouse runs on both backends."""
    if "open_wh" in metafunc.fixturenames:
        metafunc.parametrize("open_wh", BACKENDS, indirect=True)
