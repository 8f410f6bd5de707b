"""Snowflake through snowflake-connector-python (imported only when a Snowflake warehouse opens).

Connection: `[warehouse] connection_name` names a connection in the standard `connections.toml`
(`$SNOWFLAKE_HOME`, default `~/.snowflake/`); otherwise SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and
SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY_FILE, or SNOWFLAKE_AUTHENTICATOR), plus optional
SNOWFLAKE_DATABASE, SNOWFLAKE_SCHEMA, SNOWFLAKE_WAREHOUSE, SNOWFLAKE_ROLE, SNOWFLAKE_HOST,
SNOWFLAKE_PORT, SNOWFLAKE_PROTOCOL. `[warehouse] database` / `schema` override either source.
Secrets are registered for redaction and never appear in messages.

Identifiers: names are case-insensitive, as in DuckDB. Every plain identifier is sent quoted in
upper case (`customer_id` → `"CUSTOMER_ID"`, the same object as unquoted `customer_id`, and safe
for reserved words); a name with other characters is quoted exactly as given. Upper-case names
coming back (columns(), query_columns(), iter_batches schemas) are lower-cased. Tables whose
names Snowflake holds in quoted lower or mixed case are therefore out of reach: use a view.

Loads: Arrow → parquet → PUT into a fresh folder of the table's stage → COPY INTO with an
explicit cast per column → PURGE. Upserts: one transaction of UPDATE … FROM (only rows whose
values differ), INSERT … WHERE NOT EXISTS and, for delete_missing, DELETE … WHERE NOT EXISTS
(Snowflake's MERGE has no NOT MATCHED BY SOURCE, and fakesnow cannot run MERGE inside a
transaction, which the engine needs to commit data and cursor together). Temporary tables take unqualified names (they live in the
session's current schema). The session pins DATE/TIMESTAMP output formats and UTC, so the
canonical row text (row_hash_sql) does not depend on account settings.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migo_sync.errors import AuthError, ConfigError, MissingExtraError, UnreachableError, WarehouseError
from migo_sync.redact import redact, register_secret
from migo_sync.warehouse._sql import SQLWarehouse, first_line, split_name
from migo_sync.warehouse.base import Column, MergeCounts

if TYPE_CHECKING:
    import pyarrow as pa

    from migo_sync.config import Project

PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_TEMP_DDL = re.compile(r"^\s*(CREATE\s+(?:OR\s+REPLACE\s+)?(?:LOCAL\s+|GLOBAL\s+)?TEMP(?:ORARY)?\s+TABLE"
                       r"(?:\s+IF\s+NOT\s+EXISTS)?|DROP\s+TABLE(?:\s+IF\s+EXISTS)?)\s+(\"[^\"]+\"|[\w$]+)\s*(?:[(\s]|AS\b|$)",
                       re.I)
SESSION_PARAMETERS: dict[str, Any] = {
    "DATE_OUTPUT_FORMAT": "YYYY-MM-DD",
    "TIMESTAMP_NTZ_OUTPUT_FORMAT": "YYYY-MM-DD HH24:MI:SS.FF6",
    "TIMESTAMP_TYPE_MAPPING": "TIMESTAMP_NTZ",
    "TIMEZONE": "UTC",
    "QUOTED_IDENTIFIERS_IGNORE_CASE": False,
}
AUTH_ERRNOS = frozenset({390100, 390102, 390144, 390302})  # wrong password / locked / bad key / MFA
UNREACHABLE_ERRNOS = frozenset({250001, 250003, 251011, 251012})
_TYPES = {"string": "VARCHAR", "integer": "NUMBER(38,0)", "number": "FLOAT", "boolean": "BOOLEAN", "date": "DATE",
          "timestamp": "TIMESTAMP_NTZ"}
_SEMI_STRUCTURED = frozenset({"VARIANT", "OBJECT", "ARRAY", "MAP"})
_ENV_KEYS = {"SNOWFLAKE_DATABASE": "database", "SNOWFLAKE_SCHEMA": "schema", "SNOWFLAKE_WAREHOUSE": "warehouse",
             "SNOWFLAKE_ROLE": "role", "SNOWFLAKE_HOST": "host", "SNOWFLAKE_PROTOCOL": "protocol",
             "SNOWFLAKE_AUTHENTICATOR": "authenticator", "SNOWFLAKE_PRIVATE_KEY_FILE": "private_key_file",
             "SNOWFLAKE_PRIVATE_KEY_FILE_PWD": "private_key_file_pwd"}


def _connector() -> Any:
    try:
        import snowflake.connector
    except ImportError:
        raise MissingExtraError("the Snowflake warehouse", "snowflake") from None
    return snowflake.connector


def connect_settings(project: Project) -> tuple[dict[str, Any], str]:
    """Connection kwargs from the project (connections.toml name or SNOWFLAKE_* variables), and a
    secret-free description of where they came from, for messages."""
    cfg = project.config.warehouse
    env = project.environ
    kwargs: dict[str, Any]
    if cfg.connection_name:
        kwargs = {"connection_name": cfg.connection_name}
        home = env.get("SNOWFLAKE_HOME") or "~/.snowflake"
        source = f"connection '{cfg.connection_name}' from {home}/connections.toml"
    else:
        account = env.get("SNOWFLAKE_ACCOUNT")
        if not account:
            raise ConfigError(
                "the Snowflake warehouse has no connection: set [warehouse] connection_name in migo-sync.toml "
                "(a connection in ~/.snowflake/connections.toml), or the environment variables "
                "SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and SNOWFLAKE_PASSWORD")
        kwargs = {"account": account}
        if env.get("SNOWFLAKE_USER"):
            kwargs["user"] = env["SNOWFLAKE_USER"]
        if env.get("SNOWFLAKE_PASSWORD"):
            kwargs["password"] = env["SNOWFLAKE_PASSWORD"]
        for var, key in _ENV_KEYS.items():
            if env.get(var):
                kwargs[key] = env[var]
        if env.get("SNOWFLAKE_PORT"):
            try:
                kwargs["port"] = int(env["SNOWFLAKE_PORT"])
            except ValueError:
                raise ConfigError(f"SNOWFLAKE_PORT: '{env['SNOWFLAKE_PORT']}' is not a port number") from None
        missing = [] if "user" in kwargs else ["SNOWFLAKE_USER"]
        if not ({"password", "private_key_file", "authenticator"} & kwargs.keys()):
            missing.append("SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY_FILE, or SNOWFLAKE_AUTHENTICATOR)")
        if missing:
            raise ConfigError(f"the Snowflake warehouse (account {account} from SNOWFLAKE_ACCOUNT) needs "
                              + " and ".join(missing))
        source = f"account {account}, user {kwargs['user']} from SNOWFLAKE_* environment variables"
    if cfg.database:
        kwargs["database"] = cfg.database
    if cfg.schema_:
        kwargs["schema"] = cfg.schema_
    register_secret(kwargs.get("password"))
    register_secret(kwargs.get("private_key_file_pwd"))
    return kwargs, source


def lower_upper(name: str) -> str:
    """Snowflake's folded (upper-case) names come back lower-case, like DuckDB's."""
    return name.lower() if name == name.upper() else name


def _type_name(meta: Any, field_names: Mapping[int, str]) -> str:
    return field_names.get(int(meta.type_code), "UNKNOWN")


def _column(meta: Any, field_names: Mapping[int, str]) -> Column:
    kind = _type_name(meta, field_names)
    name = lower_upper(str(meta.name))
    nullable = bool(meta.is_nullable) if meta.is_nullable is not None else True
    if kind == "FIXED":
        scale = int(meta.scale or 0)
        raw = f"NUMBER({meta.precision or 38},{scale})"
        if scale == 0:
            return Column(name, "integer", raw, nullable)
        return Column(name, "decimal", raw, nullable, scale)
    simple = {"TEXT": ("string", "VARCHAR"), "REAL": ("number", "FLOAT"), "DATE": ("date", "DATE"),
              "BOOLEAN": ("boolean", "BOOLEAN")}
    if kind in simple:
        type_, raw = simple[kind]
        return Column(name, type_, raw, nullable)
    if kind.startswith("TIMESTAMP"):
        return Column(name, "timestamp", "TIMESTAMP_NTZ" if kind == "TIMESTAMP" else kind, nullable)
    return Column(name, "other", kind, nullable)


class SnowflakeWarehouse(SQLWarehouse):
    dialect = "snowflake"
    types = _TYPES
    decimal_type = "NUMBER(38,{scale})"
    null_text = "'\\\\N'"  # Snowflake string literals treat backslash as an escape

    def __init__(self, connect_kwargs: Mapping[str, Any], *, state_schema: str = "migo_sync",
                 source: str | None = None) -> None:
        super().__init__(state_schema)
        sf = _connector()
        self._errors = sf.errors
        from snowflake.connector.constants import FIELD_ID_TO_NAME

        self._field_names: Mapping[int, str] = FIELD_ID_TO_NAME
        kwargs = dict(connect_kwargs)
        kwargs["session_parameters"] = {**SESSION_PARAMETERS, **dict(kwargs.get("session_parameters") or {})}
        kwargs["paramstyle"] = "qmark"
        where = source or f"account {kwargs.get('account', '?')}"
        try:
            self._conn = sf.connect(**kwargs)
        except sf.errors.Error as exc:
            message = redact(first_line(exc))
            if "connection_name" in message or "connections.toml" in message:
                raise ConfigError(f"the Snowflake warehouse ({where}): {message}") from None
            if getattr(exc, "errno", None) in AUTH_ERRNOS:
                raise AuthError("snowflake", f"credentials refused ({where}): {message}") from None
            raise UnreachableError(f"could not connect to the Snowflake warehouse ({where}): {message}") from None
        except (OSError, ValueError) as exc:
            raise UnreachableError(f"could not connect to the Snowflake warehouse ({where}): "
                                   f"{redact(first_line(exc))}") from None
        row = self.query("SELECT CURRENT_DATABASE(), CURRENT_SCHEMA()")[0]
        if not row[0] or not row[1]:
            self.close()
            raise ConfigError(f"the Snowflake warehouse ({where}) has no current database and schema: set "
                              "SNOWFLAKE_DATABASE and SNOWFLAKE_SCHEMA, database and schema in the connection, "
                              "or database and schema under [warehouse] in migo-sync.toml")
        self._home: tuple[str, str] = (str(row[0]), str(row[1]))
        self._temporary: set[str] = set()  # this session's temporary tables (describe cannot tell)

    @classmethod
    def from_project(cls, project: Project) -> SnowflakeWarehouse:
        kwargs, source = connect_settings(project)
        return cls(kwargs, state_schema=project.config.warehouse.state_schema, source=source)

    # -- engine hooks ---------------------------------------------------------------------------

    def _cursor(self, sql: str, params: Sequence[Any] | None) -> Any:
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql, list(params) if params is not None else None)
        except self._errors.Error as exc:
            cursor.close()
            raise self._error(exc) from None
        return cursor

    def _error(self, exc: Exception) -> Exception:
        message = redact(first_line(exc))
        if getattr(exc, "errno", None) in UNREACHABLE_ERRNOS:
            return UnreachableError(f"lost the Snowflake warehouse: {message}")
        return WarehouseError(f"Snowflake: {message}")

    def _run(self, sql: str, params: Sequence[Any] | None, fetch: bool) -> list[tuple[Any, ...]]:
        cursor = self._cursor(sql, params)
        try:
            rows = [tuple(r) for r in cursor.fetchall()] if fetch else []
        finally:
            cursor.close()
        self._track_temporary(sql)
        return rows

    def _track_temporary(self, sql: str) -> None:
        if (m := _TEMP_DDL.match(sql)) is None:
            return
        key = m.group(2).strip('"').lower()
        if m.group(1).upper().startswith("DROP"):
            self._temporary.discard(key)
        else:
            self._temporary.add(key)

    def _temporary_columns(self, table: str) -> list[Column] | None:
        return self.columns(table) if table.lower() in self._temporary else None

    def _begin(self) -> None:
        self._run("BEGIN TRANSACTION", None, False)

    def _commit(self) -> None:
        self._run("COMMIT", None, False)

    def _rollback(self) -> None:
        with suppress(WarehouseError, UnreachableError):  # session gone: Snowflake rolls it back
            self._run("ROLLBACK", None, False)

    def quote_part(self, part: str) -> str:
        return '"' + _stored(part).replace('"', '""') + '"'

    def _make_schema(self, schema: str) -> None:
        # CREATE SCHEMA also makes it the session's current schema: go back home afterwards.
        super()._make_schema(schema)
        database, current = self._home
        self.execute(f"USE SCHEMA {_name_as_stored(database)}.{_name_as_stored(current)}")

    # -- metadata -------------------------------------------------------------------------------

    def _describe(self, sql: str) -> list[Column]:
        cursor = self._conn.cursor()
        try:
            metas = cursor.describe(sql)
        finally:
            cursor.close()
        return [_column(m, self._field_names) for m in metas or []]

    def columns(self, relation: str) -> list[Column] | None:
        try:
            return self._describe(f"SELECT * FROM {self.quote(relation)}")
        except self._errors.ProgrammingError as exc:
            if getattr(exc, "errno", None) == 2003:  # does not exist or not authorized
                return None
            raise self._error(exc) from None
        except self._errors.Error as exc:
            raise self._error(exc) from None

    def _column_names(self, tables: Sequence[str]) -> dict[str, list[str]]:
        """One INFORMATION_SCHEMA.COLUMNS query per schema for `schema.table` names (of the current
        database, as describe resolves them) instead of a describe each: a new connection sets up
        nine bookkeeping tables. Other names are described one by one."""
        by_schema: dict[str, dict[str, str]] = {}  # schema as stored → {table as stored: name asked}
        others: list[str] = []
        for name in tables:
            parts = split_name(name)
            if len(parts) == 2:
                by_schema.setdefault(_stored(parts[0]), {})[_stored(parts[1])] = name
            else:
                others.append(name)
        found = super()._column_names(others) if others else {}
        for schema, names in by_schema.items():
            rows = self.query("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ? "
                              f"AND table_name IN ({', '.join('?' for _ in names)}) "
                              "ORDER BY table_name, ordinal_position", [schema, *names])
            for table, column in rows:
                found.setdefault(names[str(table)], []).append(lower_upper(str(column)))
        return found

    def query_columns(self, sql: str) -> list[Column]:
        try:
            return self._describe(sql.strip().rstrip(";"))
        except self._errors.Error as exc:
            raise self._error(exc) from None

    # -- reading --------------------------------------------------------------------------------

    def iter_batches(self, sql: str, params: Sequence[Any] | None = None,
                     batch_size: int = 10_000) -> Iterator[pa.RecordBatch]:
        self._prepare("read", sql)
        cursor = self._cursor(sql, params)  # its own cursor: the caller may write while reading
        return self._batches(cursor, batch_size)

    def _batches(self, cursor: Any, batch_size: int) -> Iterator[pa.RecordBatch]:
        try:
            for table in cursor.fetch_arrow_batches():
                table = table.rename_columns([lower_upper(n) for n in table.column_names])
                yield from table.to_batches(max_chunksize=batch_size)
        except self._errors.Error as exc:
            raise self._error(exc) from None
        finally:
            cursor.close()

    # -- writing --------------------------------------------------------------------------------

    def load_arrow(self, table: str, data: pa.Table, *, temporary: bool = False, replace: bool = False) -> int:
        existing = self._prepare_load(table, data, temporary, replace, other_type=lambda f: "VARIANT")
        if not data.num_rows:
            return 0
        columns = self._target_columns(table, existing if existing is not None else self._must_columns(table),
                                       data.schema)
        # Parquet columns get positional names (c0, c1, …): any table column name stays safe.
        casts = []
        for i, column in enumerate(columns):
            value = f"$1:c{i}"
            casts.append(value if column.raw_type in _SEMI_STRUCTURED else f"{value}::{column.raw_type}")
        folder = uuid.uuid4().hex
        stage = f"{self._stage(table)}/{folder}"
        with tempfile.TemporaryDirectory(prefix="migo-sync-") as tmp:
            path = Path(tmp) / f"{folder}.parquet"
            _write_parquet(data.rename_columns([f"c{i}" for i in range(data.num_columns)]), path)
            self.execute(f"PUT '{_file_url(path)}' @{stage} AUTO_COMPRESS=FALSE OVERWRITE=TRUE")
        target_cols = ", ".join(self.quote_part(c.name) for c in columns)
        rows = self._copy(
            f"COPY INTO {self.quote(table)} ({target_cols}) FROM (SELECT {', '.join(casts)} FROM @{stage}) "
            f"FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE) PURGE = TRUE", stage)
        if rows != data.num_rows:
            raise WarehouseError(f"load into {table}: Snowflake loaded {rows} of {data.num_rows} rows")
        return int(rows)

    def _must_columns(self, table: str) -> list[Column]:
        columns = self.columns(table)
        if columns is None:
            raise WarehouseError(f"load into {table}: the table vanished while loading")
        return columns

    def _copy(self, sql: str, stage: str) -> int:
        self._prepare("write", sql)
        try:
            cursor = self._cursor(sql, None)
        except (WarehouseError, UnreachableError):
            with suppress(WarehouseError, UnreachableError):
                self._run(f"REMOVE @{stage}", None, False)
            raise
        try:
            names = [d.name.lower() for d in cursor.description or []]
            results = cursor.fetchall()
        finally:
            cursor.close()
        if "rows_loaded" not in names:
            return 0
        loaded, status, error = names.index("rows_loaded"), names.index("status"), names.index("first_error")
        failed = [r for r in results if str(r[status]).upper() not in ("LOADED", "PARTIALLY_LOADED")]
        if failed:
            raise WarehouseError(f"Snowflake COPY: {failed[0][status]}: {failed[0][error]}")
        return sum(int(r[loaded] or 0) for r in results)

    def _stage(self, table: str) -> str:
        """The table's own stage: @schema.%table (plain names unquoted, as Snowflake folds them)."""
        parts = split_name(table)
        refs = [p.upper() if PLAIN.match(p) else self.quote_part(p) for p in parts]
        return ".".join([*refs[:-1], "%" + refs[-1]])

    def _merge_statement(self, target: str, source: str, key: Sequence[str], insert_cols: Sequence[str],
                         update_cols: Sequence[str], delete_missing: bool) -> MergeCounts:
        # UPDATE + INSERT rather than MERGE: fakesnow cannot run MERGE inside a transaction, and
        # the engine commits a batch and its cursor together. merge() holds the transaction.
        q = self.quote_part
        tgt, src = self.quote(target), self.quote(source)
        on = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in key)
        updated = 0
        if update_cols:
            sets = ", ".join(f"{q(c)} = s.{q(c)}" for c in update_cols)
            differs = " OR ".join(f"t.{q(c)} IS DISTINCT FROM s.{q(c)}" for c in update_cols)
            updated = _affected(self.query(f"UPDATE {tgt} AS t SET {sets} FROM {src} AS s WHERE {on} AND ({differs})"))
        cols = ", ".join(q(c) for c in insert_cols)
        inserted = _affected(self.query(
            f"INSERT INTO {tgt} ({cols}) SELECT {', '.join(f's.{q(c)}' for c in insert_cols)} FROM {src} AS s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {tgt} AS t WHERE {on})"))
        deleted = _affected(self.query(self.delete_missing_sql(target, source, key))) if delete_missing else 0
        return MergeCounts(inserted=inserted, updated=updated, deleted=deleted)

    def close(self) -> None:
        if self.in_transaction:
            self._rollback()
        with suppress(self._errors.Error):  # already gone
            self._conn.close()


def _stored(part: str) -> str:
    """How Snowflake stores a name part we quote (quote_part): a plain one folded to upper case."""
    return part.upper() if PLAIN.match(part) else part


def _name_as_stored(name: str) -> str:
    """A name exactly as Snowflake reported it (CURRENT_SCHEMA() gives the stored spelling)."""
    return '"' + name.replace('"', '""') + '"'


def _affected(rows: list[tuple[Any, ...]]) -> int:
    """Rows a DML statement changed: the first value of its result row."""
    return int(rows[0][0] or 0) if rows and rows[0] else 0


def _file_url(path: Path) -> str:
    return "file://" + path.resolve().as_posix().replace("'", "\\'")


def _write_parquet(data: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(data, path, coerce_timestamps="us", allow_truncated_timestamps=True)
