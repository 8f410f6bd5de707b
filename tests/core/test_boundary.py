"""Library exceptions become errors of the tree with their own message and exit code, never
"internal error" (each one raised for real by its library)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import httpx
import pytest
from lxml import etree

from migo_sync.boundary import library_error
from migo_sync.errors import FatalRemoteError, UnreachableError, WarehouseError, exit_code_for


def raised(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except Exception as exc:
        return exc
    raise AssertionError("nothing was raised")


def test_a_bug_stays_a_bug() -> None:
    assert library_error("x", raised(lambda: {}["k"])) is None


@pytest.mark.parametrize(("action", "kind", "code", "fragment"), [
    (lambda: httpx.get("ftp://127.0.0.1/x"), UnreachableError, 3, "x: UnsupportedProtocol: "),
    (lambda: httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"not gzip").text,
     FatalRemoteError, 1, "x: DecodingError: "),
    (lambda: etree.fromstring(b"<a><b></a>"), FatalRemoteError, 1, "x: unreadable answer (XMLSyntaxError): "),
    (lambda: duckdb.connect().execute("SELEC 1"), WarehouseError, 1,
     "the DuckDB warehouse refused a statement: Parser Error"),
    (lambda: duckdb.connect("/proc/no/such/dir/w.duckdb"), UnreachableError, 3, "the DuckDB warehouse: IO Error"),
], ids=["httpx-protocol", "httpx-decoding", "lxml", "duckdb-statement", "duckdb-file"])
def test_library_errors_are_mapped(action: Callable[[], object], kind: type, code: int, fragment: str) -> None:
    mapped = library_error("x", raised(action))
    assert isinstance(mapped, kind) and exit_code_for(mapped) == code
    assert fragment in str(mapped) and "internal error" not in str(mapped) and "\n" not in str(mapped)


def test_zeep_errors_are_mapped() -> None:
    from zeep.exceptions import TransportError

    mapped = library_error("workday", TransportError("Server returned response (307) with invalid XML"))
    assert isinstance(mapped, FatalRemoteError)
    assert str(mapped) == "workday: unreadable answer (TransportError): Server returned response (307) with invalid XML"


def test_snowflake_errors_are_mapped() -> None:
    errors = pytest.importorskip("snowflake.connector.errors", reason="the snowflake extra is not installed")
    assert isinstance(library_error("x", errors.OperationalError(msg="could not connect")), UnreachableError)
    assert isinstance(library_error("x", errors.ProgrammingError(msg="SQL compilation error")), WarehouseError)


def test_the_runner_reports_a_library_error_as_itself_not_as_internal_error(tmp_path: Path) -> None:
    from ruamel.yaml.comments import CommentedMap

    from migo_sync.adapter import BaseAdapter, RemoteObject
    from migo_sync.config import Project, ProjectConfig, WarehouseConfig
    from migo_sync.engine.runner import RunOptions, _run_one
    from migo_sync.mapping.loader import LoadedMapping
    from migo_sync.mapping.model import Mapping
    from migo_sync.warehouse import open_warehouse
    from migo_sync.warehouse.bookkeeping import Bookkeeping

    broken = raised(lambda: etree.fromstring(b"<answer><truncated"))

    class Broken(BaseAdapter):
        name = "scripted"

        def __init__(self) -> None:
            pass

        def catalog(self) -> list[RemoteObject]:
            raise broken

    mapping = Mapping.model_validate({
        "name": "broken_pull", "system": "scripted", "object": "things", "direction": "pull",
        "warehouse": {"table": "t.things"}, "key": ["id"], "fields": [{"column": "id", "remote": "id"}]})
    item = LoadedMapping(mapping, CommentedMap(), tmp_path / "m.yaml", "m.yaml")
    warehouse = open_warehouse(Project(root=tmp_path, config=ProjectConfig(warehouse=WarehouseConfig(path="w.duckdb", create=True))))
    try:
        result, stopped = _run_one(warehouse, Bookkeeping(warehouse), lambda system: Broken(), item, "r1",
                                   RunOptions(), None)
    finally:
        warehouse.close()
    assert result.status == "failed" and result.exit_code == 1 and stopped is None
    assert result.error is not None and result.error.startswith("scripted: unreadable answer (XMLSyntaxError): ")
    assert "internal error" not in result.error
