"""open_warehouse(): configuration, credentials and the errors a user sees when it cannot connect."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from migo_sync.config import Project, ProjectConfig, WarehouseConfig
from migo_sync.errors import AuthError, ConfigError, MissingExtraError, UnreachableError
from migo_sync.redact import redact
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.duckdb import DuckDBWarehouse
from migo_sync.warehouse.snowflake import SnowflakeWarehouse, connect_settings

SECRET = "s3cret-Pa55word-xyz"


def project(tmp_path: Path, environ: dict[str, str] | None = None, **warehouse: Any) -> Project:
    config = ProjectConfig(warehouse=WarehouseConfig.model_validate(warehouse))
    return Project(root=tmp_path, config=config, environ=environ or {})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- DuckDB ------------------------------------------------------------------------------------------


def test_duckdb_is_a_file_in_the_project(tmp_path: Path) -> None:
    wh = open_warehouse(project(tmp_path, path="data/warehouse.duckdb", state_schema="ops", create=True))
    try:
        assert isinstance(wh, DuckDBWarehouse) and wh.dialect == "duckdb" and wh.state_schema == "ops"
        wh.execute("CREATE TABLE t (x INTEGER)")
    finally:
        wh.close()
    assert (tmp_path / "data" / "warehouse.duckdb").exists()


def test_duckdb_default_schema_and_memory(tmp_path: Path) -> None:
    wh = open_warehouse(project(tmp_path, path=":memory:", schema="lending"))
    try:
        wh.execute("CREATE TABLE loans (id VARCHAR)")
        assert wh.columns("lending.loans") is not None
    finally:
        wh.close()
    assert not list(tmp_path.iterdir())


def test_duckdb_refuses_a_snowflake_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="database is a Snowflake setting"):
        open_warehouse(project(tmp_path, database="ANALYTICS"))


def test_a_locked_duckdb_file_is_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys, time; c = duckdb.connect({str(path)!r}); "
                               "print('ready', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(UnreachableError) as info:
            open_warehouse(project(tmp_path))
        assert info.value.exit_code == 3
        assert str(path) in str(info.value)
    finally:
        holder.communicate("", timeout=30)


# -- Snowflake settings ------------------------------------------------------------------------------


def test_snowflake_settings_from_environment(tmp_path: Path) -> None:
    env = {"SNOWFLAKE_ACCOUNT": "xy12345", "SNOWFLAKE_USER": "MIGO", "SNOWFLAKE_PASSWORD": SECRET,
           "SNOWFLAKE_DATABASE": "ANALYTICS", "SNOWFLAKE_SCHEMA": "FINANCE", "SNOWFLAKE_WAREHOUSE": "WH_XS",
           "SNOWFLAKE_ROLE": "SYNC", "SNOWFLAKE_PORT": "443"}
    kwargs, source = connect_settings(project(tmp_path, env, type="snowflake", schema="LENDING"))
    assert kwargs == {"account": "xy12345", "user": "MIGO", "password": SECRET, "database": "ANALYTICS",
                      "schema": "LENDING", "warehouse": "WH_XS", "role": "SYNC", "port": 443}
    assert SECRET not in source and "xy12345" in source
    assert redact(f"login with {SECRET}") == "login with ***"


def test_snowflake_settings_from_a_named_connection(tmp_path: Path) -> None:
    kwargs, source = connect_settings(project(tmp_path, {"SNOWFLAKE_ACCOUNT": "ignored"}, type="snowflake",
                                              connection_name="prod", database="ANALYTICS"))
    assert kwargs == {"connection_name": "prod", "database": "ANALYTICS"}
    assert "connection 'prod'" in source and "connections.toml" in source


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "connection_name"),
    ({"SNOWFLAKE_ACCOUNT": "xy12345"}, "needs SNOWFLAKE_USER and SNOWFLAKE_PASSWORD"),
    ({"SNOWFLAKE_ACCOUNT": "xy12345", "SNOWFLAKE_USER": "u"}, "needs SNOWFLAKE_PASSWORD (or"),
    ({"SNOWFLAKE_ACCOUNT": "a", "SNOWFLAKE_USER": "u", "SNOWFLAKE_PASSWORD": "p", "SNOWFLAKE_PORT": "x"},
     "not a port number"),
])
def test_snowflake_settings_errors_say_what_is_missing(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)) as info:
        connect_settings(project(tmp_path, env, type="snowflake"))
    assert info.value.exit_code == 2


def test_key_pair_auth_needs_no_password(tmp_path: Path) -> None:
    env = {"SNOWFLAKE_ACCOUNT": "a", "SNOWFLAKE_USER": "u", "SNOWFLAKE_PRIVATE_KEY_FILE": "/keys/rsa.p8",
           "SNOWFLAKE_PRIVATE_KEY_FILE_PWD": "key-passphrase-1"}
    kwargs, _ = connect_settings(project(tmp_path, env, type="snowflake"))
    assert kwargs["private_key_file"] == "/keys/rsa.p8"
    assert redact("key-passphrase-1") == "***"


# -- Snowflake connections ---------------------------------------------------------------------------


def fakesnow_env(kwargs: dict[str, Any], password: str = SECRET) -> dict[str, str]:
    return {"SNOWFLAKE_ACCOUNT": str(kwargs["account"]), "SNOWFLAKE_USER": str(kwargs["user"]),
            "SNOWFLAKE_PASSWORD": password, "SNOWFLAKE_HOST": str(kwargs["host"]),
            "SNOWFLAKE_PORT": str(kwargs["port"]), "SNOWFLAKE_PROTOCOL": str(kwargs["protocol"]),
            "SNOWFLAKE_DATABASE": "OPEN_TEST", "SNOWFLAKE_SCHEMA": "PUBLIC"}


def test_open_snowflake_from_environment_variables(tmp_path: Path, fakesnow_kwargs: dict[str, Any]) -> None:
    wh = open_warehouse(project(tmp_path, fakesnow_env(fakesnow_kwargs), type="snowflake", state_schema="ops"))
    try:
        assert isinstance(wh, SnowflakeWarehouse) and wh.dialect == "snowflake" and wh.state_schema == "ops"
        assert wh.query("SELECT CURRENT_DATABASE(), CURRENT_SCHEMA()") == [("OPEN_TEST", "PUBLIC")]
    finally:
        wh.close()


def test_an_unreachable_snowflake_names_what_was_tried_but_no_secret(tmp_path: Path) -> None:
    env = fakesnow_env({"account": "fakesnow", "user": "MIGO", "host": "127.0.0.1", "port": free_port(),
                        "protocol": "http"})
    kwargs, source = connect_settings(project(tmp_path, env, type="snowflake"))
    started = time.monotonic()
    with pytest.raises(UnreachableError) as info:
        SnowflakeWarehouse({**kwargs, "login_timeout": 3, "network_timeout": 1}, source=source)
    message = str(info.value)
    assert info.value.exit_code == 3
    assert "account fakesnow, user MIGO from SNOWFLAKE_* environment variables" in message
    assert SECRET not in message and "\n" not in message
    assert time.monotonic() - started < 30


def test_an_unknown_named_connection_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="migo_sync_no_such_connection"):
        SnowflakeWarehouse({"connection_name": "migo_sync_no_such_connection"},
                           source="connection 'migo_sync_no_such_connection'")


def test_refused_credentials_are_an_auth_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import snowflake.connector
    from snowflake.connector.errors import DatabaseError

    def refuse(**kwargs: Any) -> None:
        raise DatabaseError(msg="Incorrect username or password was specified.", errno=390100)

    monkeypatch.setattr(snowflake.connector, "connect", refuse)
    with pytest.raises(AuthError) as info:
        SnowflakeWarehouse({"account": "a", "user": "u", "password": SECRET}, source="account a, user u")
    assert info.value.exit_code == 2 and "Incorrect username or password" in str(info.value)
    assert SECRET not in str(info.value)


def test_a_missing_connector_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snowflake.connector", None)
    with pytest.raises(MissingExtraError, match=re.escape("pip install 'migo-sync[snowflake]'")):
        SnowflakeWarehouse({"account": "a"})


def test_a_snowflake_session_without_a_schema_is_a_config_error(fakesnow_kwargs: dict[str, Any],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # fakesnow reports DuckDB's 'memory'/'main' here; Snowflake reports NULLs.
    monkeypatch.setattr(SnowflakeWarehouse, "query", lambda self, sql, params=None: [(None, None)])
    with pytest.raises(ConfigError, match="no current database and schema") as info:
        SnowflakeWarehouse(dict(fakesnow_kwargs), source="account fakesnow")
    assert "SNOWFLAKE_SCHEMA" in str(info.value)


def test_duckdb_memory_limit_and_threads_come_from_the_config(tmp_path: Path) -> None:
    wh = open_warehouse(project(tmp_path, memory_limit="256MB", threads=1, create=True))
    try:
        limit = wh.query("SELECT current_setting('memory_limit'), current_setting('threads')")[0]
        assert limit[0].replace(" ", "") in ("256.0MiB", "244.1MiB", "256MB") and int(limit[1]) == 1
    finally:
        wh.close()
    with pytest.raises(ConfigError, match=r"\[warehouse\] memory_limit/threads"):
        open_warehouse(project(tmp_path / "bad", memory_limit="lots", create=True))
