"""migo-sync's own tables, in the warehouse schema `state_schema` (default `migo_sync`).

    runs          one row per run: run_id (sortable, 'r20261130-004354-1e2403'), command, started_at,
                  finished_at, ok, args (JSON), status (running | ok | rejected | failed | differs |
                  interrupted | stopped (watch mode) | died),
                  reason (why it is not ok, one line), exit_code, pid, host
    run_mappings  one row per mapping per run: the `run --json` counters, started_at, seconds (real
                  ones for a failed mapping too), status, error_class, error, details (JSON)
    reconciliations  one row per (run, mapping, period, account) compared after a push to a ledger:
                  warehouse, ledger, difference (exact decimals as text, as `run --json` prints
                  them), status (match | differs | missing_in_ledger | only_in_ledger | error), message
    report_sections  one row per view an adapter added to a run's report (Adaptive: plan versus
                  actual): run_id, mapping, system, position, kind, title, body (JSON: columns, rows,
                  series, chart, note; numbers as exact decimal text), recorded_at
    rejects       one row per refused row: run_id, mapping, row_key, reason, payload (JSON), created_at
    promotions    one row per DMZ relation promoted (or refused) for a push in a run: run_id, mapping,
                  relation, approver, promoted, checks (JSON: each check, ok, detail), recorded_at
    cursors       one row per pulled mapping: its resume state (JSON), updated_at, run_id
    sent          the push ledger, one row per (mapping, row_key): sent_hash (last confirmed),
                  pending_hash (intent recorded, not yet confirmed), unit_key, idempotency_key,
                  remote_id, run_id, updated_at, remote_job (where the remote will tell the outcome
                  of a pending unit queued as a remote job, e.g. a Zendesk bulk job: recorded before
                  waiting on it, read by the next run if this one dies). `mapping` holds the push's
                  feed (`Mapping.feed`: its name, or the name it `continues`), so a renamed mapping
                  keeps its history. refused_hash: insert-only, the row as it was when reported as changed
                  (or `~deleted`) since sent, so it is reported once. locator: what a ledger needs to
                  find the unit without its rows (reference, posting date), written with the intent, so
                  a pending unit deleted from the warehouse before the rerun can still be asked about.
    feeds         one row per push feed: the system and object it sends to, the mapping name and
                  file that last pushed it (how a rename is recognised), updated_at

Only the Warehouse protocol is used, so this runs on DuckDB and Snowflake alike. Ledger updates
are set-based: the rows go into a temporary staging table (one Arrow load) and a few statements
apply them, so 100k rows cost the same handful of statements as ten. Intent and confirmation
replace the touched ledger rows (new versions built in a staging table, old ones deleted, new
ones inserted, in one transaction) rather than UPDATE them in place: on DuckDB an in-place update
of rows spread over a 1M-row ledger makes its commit rewrite every touched column of every row
group (about 1 s a batch), a delete + append only writes a delete mask and the new rows. The
staging tables are created by `ensure()`, before any transaction, so that the callers'
transactions never need DDL.
Timestamps are stored as UTC without zone.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import weakref
from collections.abc import Mapping as KeyMap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

import pyarrow as pa

from migo_sync.errors import WarehouseError
from migo_sync.mapping.model import FieldType
from migo_sync.warehouse.base import ColumnDef, Warehouse

TABLES = ("runs", "run_mappings", "rejects", "cursors", "sent", "promotions", "reconciliations", "feeds",
          "report_sections")
S, N, B, D, T = FieldType.string, FieldType.integer, FieldType.boolean, FieldType.number, FieldType.timestamp
SCHEMAS: dict[str, tuple[list[ColumnDef], list[str]]] = {
    "runs": ([ColumnDef("run_id", S), ColumnDef("command", S), ColumnDef("started_at", T),
              ColumnDef("finished_at", T), ColumnDef("ok", B), ColumnDef("args", S), ColumnDef("status", S),
              ColumnDef("reason", S), ColumnDef("exit_code", N), ColumnDef("pid", N), ColumnDef("host", S)],
             ["run_id"]),
    "run_mappings": ([ColumnDef("run_id", S), ColumnDef("name", S), ColumnDef("system", S),
                      ColumnDef("direction", S), ColumnDef("status", S), ColumnDef("rows_read", N),
                      ColumnDef("rows_changed", N), ColumnDef("rows_written", N), ColumnDef("rows_rejected", N),
                      ColumnDef("requests", N), ColumnDef("seconds", D), ColumnDef("error", S),
                      ColumnDef("recorded_at", T), ColumnDef("started_at", T), ColumnDef("error_class", S),
                      ColumnDef("details", S)], ["run_id", "name"]),
    "rejects": ([ColumnDef("run_id", S), ColumnDef("mapping", S), ColumnDef("row_key", S), ColumnDef("reason", S),
                 ColumnDef("payload", S), ColumnDef("created_at", T)], []),
    "cursors": ([ColumnDef("mapping", S), ColumnDef("state", S), ColumnDef("updated_at", T),
                 ColumnDef("run_id", S)], ["mapping"]),
    "sent": ([ColumnDef("mapping", S), ColumnDef("row_key", S), ColumnDef("sent_hash", S),
              ColumnDef("pending_hash", S), ColumnDef("unit_key", S), ColumnDef("idempotency_key", S),
              ColumnDef("remote_id", S), ColumnDef("run_id", S), ColumnDef("updated_at", T),
              ColumnDef("remote_job", S), ColumnDef("refused_hash", S), ColumnDef("locator", S)],
             ["mapping", "row_key"]),
    "promotions": ([ColumnDef("run_id", S), ColumnDef("mapping", S), ColumnDef("relation", S),
                    ColumnDef("approver", S), ColumnDef("promoted", B), ColumnDef("checks", S),
                    ColumnDef("recorded_at", T)], []),
    "reconciliations": ([ColumnDef("run_id", S), ColumnDef("mapping", S), ColumnDef("system", S),
                         ColumnDef("period", S), ColumnDef("account", S), ColumnDef("warehouse", S),
                         ColumnDef("ledger", S), ColumnDef("difference", S), ColumnDef("status", S),
                         ColumnDef("message", S), ColumnDef("recorded_at", T)], []),
    "report_sections": ([ColumnDef("run_id", S), ColumnDef("mapping", S), ColumnDef("system", S),
                         ColumnDef("position", N), ColumnDef("kind", S), ColumnDef("title", S), ColumnDef("body", S),
                         ColumnDef("recorded_at", T)], []),
    "feeds": ([ColumnDef("feed", S), ColumnDef("system", S), ColumnDef("object", S), ColumnDef("mapping", S),
               ColumnDef("source", S), ColumnDef("updated_at", T)], ["feed"]),
}
RECON_COLUMNS = ("period", "account", "warehouse", "ledger", "difference", "status", "message")
DIED_REASON = "the process died before finishing (killed, or the machine stopped)"
COUNTERS = ("rows_read", "rows_changed", "rows_written", "rows_rejected", "requests")
STAGE_INTENT = "migo_sync_stage_intent"
STAGE_CONFIRM = "migo_sync_stage_confirm"
STAGE_KEYS = "migo_sync_stage_keys"
STAGE_LEDGER = "migo_sync_stage_ledger"  # shaped like `sent`: the new versions of the rows replaced
STAGE_JOBS = "migo_sync_stage_jobs"
STAGE_REFUSE = "migo_sync_stage_refuse"
_STR = pa.string()
_TS = pa.timestamp("us")
STAGES = {
    STAGE_INTENT: pa.schema([("mapping", _STR), ("row_key", _STR), ("pending_hash", _STR), ("unit_key", _STR),
                             ("idempotency_key", _STR), ("run_id", _STR), ("updated_at", _TS), ("locator", _STR)]),
    STAGE_CONFIRM: pa.schema([("row_key", _STR), ("unit_key", _STR), ("remote_id", _STR)]),
    STAGE_KEYS: pa.schema([("row_key", _STR)]),
    STAGE_JOBS: pa.schema([("unit_key", _STR), ("remote_job", _STR)]),
    STAGE_REFUSE: pa.schema([("mapping", _STR), ("row_key", _STR), ("unit_key", _STR), ("refused_hash", _STR),
                             ("remote_id", _STR), ("run_id", _STR), ("updated_at", _TS)]),
}
INTENT_COLUMNS = ("row_key", "row_hash", "unit_key", "idempotency_key")
CONFIRM_COLUMNS = ("row_key", "unit_key", "remote_id")
REJECTS_SCHEMA = pa.schema([("run_id", _STR), ("mapping", _STR), ("row_key", _STR), ("reason", _STR),
                            ("payload", _STR), ("created_at", _TS)])

# Connections (a Warehouse is one) on which ensure() ran, with the state schema and the columns of
# `sent` the staging ledger was shaped on: the engine and each command start a Bookkeeping of their
# own, and a second full ensure() is ~20 statements on Snowflake (~0.45 s on fakesnow) for nothing.
_ENSURED: weakref.WeakKeyDictionary[Warehouse, tuple[str, list[str]]] = weakref.WeakKeyDictionary()
# Runs started on a connection, with the mappings whose result was recorded on it: a run's id is new
# (start_run) and only the connection that started it records its results, so a mapping's first result
# has nothing to replace and is one INSERT, not a transaction of DELETE + INSERT (~2.5 ms less each)
_RECORDED: weakref.WeakKeyDictionary[Warehouse, dict[str, set[str]]] = weakref.WeakKeyDictionary()

Rows: TypeAlias = "pa.Table | Sequence[Sequence[Any]]"
Keys: TypeAlias = "pa.Table | pa.Array | pa.ChunkedArray | Sequence[str]"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by start time to the microsecond: 'r20261130-004354-1e2403' (five hex digits of
    microseconds, then one random digit against two runs starting in the same microsecond)."""
    now = now or utcnow()
    return f"r{now:%Y%m%d-%H%M%S}-{now.microsecond:05x}{secrets.randbelow(16):x}"


@dataclass(frozen=True)
class QueuedUnit:
    """A pending unit an earlier run queued as a remote job: the job's reference, the run that
    queued it and the unit's ledger rows."""

    job: str
    run_id: str
    row_keys: list[str]


class Bookkeeping:
    """Runs, results, rejects, cursors and the push ledger of one project's warehouse."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.wh = warehouse
        self.schema = warehouse.state_schema
        self._ready = False
        self._sent_columns: list[str] = []
        self._staged = 0  # ledger rows staged since the staging tables were last made anew (DuckDB)

    def table_name(self, table: str) -> str:
        """The qualified (unquoted) name of one bookkeeping table, e.g. 'migo_sync.sent'."""
        if table not in SCHEMAS:
            raise ValueError(f"no bookkeeping table '{table}' (one of {', '.join(TABLES)})")
        return f"{self.schema}.{table}"

    def ensure(self) -> None:
        """Create the schema, the tables (adding columns new in this version) and the session's
        staging tables. Idempotent; call it before any transaction. Where it already ran on this
        connection, only `sent` is looked at again (migo-sync never drops its tables, and the
        staging tables live as long as the connection): when its columns changed since (a newer
        version added one), everything is checked again and the staging ledger made anew."""
        known = _ENSURED.get(self.wh)
        if known is not None and known[0] == self.schema:
            found = self.wh.columns(self.table_name("sent"))
            if found is not None and [c.name for c in found] == known[1]:
                self._sent_columns = list(known[1])
                self._ready = True
                return
        self.wh.ensure_tables({self.table_name(table): spec for table, spec in SCHEMAS.items()})
        for stage, schema in STAGES.items():
            self.wh.load_arrow(stage, schema.empty_table(), temporary=True, replace=True)
        found = self.wh.columns(self.table_name("sent")) or []
        self._sent_columns = [c.name for c in found]  # every column, even one this version does not know
        # (first time on this connection, or `sent` changed since: the staging ledger is made anew)
        self.wh.execute(f"CREATE OR REPLACE TEMPORARY TABLE {self.wh.quote(STAGE_LEDGER)} AS "
                        f"SELECT * FROM {self.wh.quote(self.table_name('sent'))} WHERE 1 = 0")
        self._ready = True
        _ENSURED[self.wh] = (self.schema, list(self._sent_columns))

    def release_stages(self, at_least: int = 0) -> None:
        """Make the staging tables anew once `at_least` ledger rows went through them: DuckDB keeps a
        temporary table's deleted rows until the table goes (nothing checkpoints it), so emptying one
        and loading it again grows it by every row ever staged. A 100,000-user push left ~55 MB of them
        in memory until the run ended (10,000 users: ~19 MB). DDL: call it outside any transaction."""
        if self.wh.dialect != "duckdb" or not self._ready or self._staged < at_least:
            return
        q = self.wh.quote
        for stage in [*STAGES, STAGE_LEDGER]:  # remade from themselves: a load's replace only DELETEs
            self.wh.execute(f"CREATE OR REPLACE TEMPORARY TABLE {q(stage)} AS SELECT * FROM {q(stage)} WHERE 1 = 0")
        self._staged = 0

    def empty_ledger_for_dry_run(self) -> str:
        """A relation shaped like `sent` with no rows, for a dry run before ensure() ever ran."""
        cols = ", ".join(f"CAST(NULL AS {'TIMESTAMP' if c.type is T else 'VARCHAR'}) AS {self.wh.quote(c.name)}"
                         for c in SCHEMAS["sent"][0])
        return f"(SELECT {cols} FROM (SELECT 1 AS x) AS one WHERE 1 = 0)"

    def _name(self, table: str) -> str:
        """The table's qualified name, creating the bookkeeping tables on first use."""
        if not self._ready:
            self.ensure()
        return self.table_name(table)

    def _t(self, table: str) -> str:
        return self.wh.quote(self._name(table))

    def _c(self, *names: str) -> str:
        return ", ".join(self.wh.quote(n) for n in names)

    # -- runs -----------------------------------------------------------------------------------

    def start_run(self, command: str, args: dict[str, Any]) -> str:
        run_id = new_run_id()
        self.wh.execute(
            f"INSERT INTO {self._t('runs')} "
            f"({self._c('run_id', 'command', 'started_at', 'args', 'status', 'pid', 'host')}) "
            f"VALUES (?, ?, CAST(? AS TIMESTAMP), ?, 'running', ?, ?)",
            [run_id, command, _ts(utcnow()), json.dumps(args, sort_keys=True, default=str), os.getpid(),
             socket.gethostname()])
        _RECORDED.setdefault(self.wh, {})[run_id] = set()
        return run_id

    def close_dead_runs(self) -> int:
        """Mark runs still 'running' as 'died'. Only for a caller holding the project lock: no
        other migo-sync can then be running, so such a run's process was killed (SIGKILL, power)."""
        q = self.wh.quote
        found = self.wh.query(f"SELECT COUNT(*) FROM {self._t('runs')} WHERE {q('status')} = 'running'")
        if not int(found[0][0] or 0):
            return 0
        self.wh.execute(f"UPDATE {self._t('runs')} SET {q('status')} = 'died', {q('ok')} = FALSE "
                        f"WHERE {q('status')} = 'running'")
        return int(found[0][0])

    def finish_run(self, run_id: str, ok: bool, *, status: str | None = None, reason: str | None = None,
                   exit_code: int | None = None) -> None:
        _RECORDED.get(self.wh, {}).pop(run_id, None)  # a result recorded after this replaces, as ever
        q = self.wh.quote
        self.wh.execute(f"UPDATE {self._t('runs')} SET {q('finished_at')} = CAST(? AS TIMESTAMP), {q('ok')} = ?, "
                        f"{q('status')} = ?, {q('reason')} = ?, {q('exit_code')} = ? WHERE {q('run_id')} = ?",
                        [_ts(utcnow()), bool(ok), status or ("ok" if ok else "failed"), reason,
                         exit_code if exit_code is not None else (0 if ok else 1), run_id])

    def mark_died(self) -> list[str]:
        """Runs still `running` whose process is gone (the caller made sure: it holds the project
        lock, or found it free) are recorded as `died`. Returns their ids."""
        q = self.wh.quote
        running = f"{q('finished_at')} IS NULL AND ({q('status')} IS NULL OR {q('status')} = 'running')"
        rows = self.wh.query(f"SELECT {q('run_id')} FROM {self._t('runs')} WHERE {running} ORDER BY {q('run_id')}")
        ids = [str(r[0]) for r in rows]
        if ids:
            self.wh.execute(f"UPDATE {self._t('runs')} SET {q('status')} = 'died', {q('ok')} = FALSE, "
                            f"{q('reason')} = ? WHERE {running}", [DIED_REASON])
        return ids

    def last_run_id(self) -> str | None:
        q = self.wh.quote
        rows = self.wh.query(f"SELECT {q('run_id')} FROM {self._t('runs')} "
                             f"ORDER BY {q('started_at')} DESC, {q('run_id')} DESC LIMIT 1")
        return str(rows[0][0]) if rows else None

    def record_reconciliation(self, run_id: str, found: dict[str, Any]) -> int:
        """Store one reconciliation (`ReconcileReport.as_dict()`): every (period, account) compared,
        or one `error` row when it could not be done."""
        mapping, system = str(found.get("mapping") or ""), str(found.get("system") or "")
        rows: list[dict[str, Any]] = list(found.get("rows") or [])
        if found.get("error"):
            rows = [{"status": "error", "message": str(found["error"])}]
        if not rows:
            return 0
        now = utcnow()
        cols = ["run_id", "mapping", "system", *RECON_COLUMNS]
        data = {c: pa.array([run_id] * len(rows) if c == "run_id" else [mapping] * len(rows) if c == "mapping"
                            else [system] * len(rows) if c == "system"
                            else [None if r.get(c) is None else str(r.get(c)) for r in rows], _STR) for c in cols}
        data["recorded_at"] = pa.array([now] * len(rows), _TS)
        return self.wh.load_arrow(self._name("reconciliations"), pa.table(data))

    def last_reconciliation(self, mapping: str) -> tuple[str, bool] | None:
        """The run that last reconciled this mapping, and whether everything matched then (None:
        never reconciled). A push that sent nothing since needs no new comparison when it did."""
        q = self.wh.quote
        rows = self.wh.query(
            f"SELECT {q('run_id')}, SUM(CASE WHEN {q('status')} = 'match' THEN 0 ELSE 1 END) "
            f"FROM {self._t('reconciliations')} WHERE {q('mapping')} = ? AND {q('run_id')} = "
            f"(SELECT MAX({q('run_id')}) FROM {self._t('reconciliations')} WHERE {q('mapping')} = ?) "
            f"GROUP BY {q('run_id')}", [mapping, mapping])
        return (str(rows[0][0]), int(rows[0][1] or 0) == 0) if rows else None

    def reconciliations(self, run_id: str) -> list[dict[str, Any]]:
        """A run's reconciliations, grouped per mapping as `run --json` prints them."""
        q = self.wh.quote
        rows = self.wh.query(f"SELECT {self._c('mapping', 'system', *RECON_COLUMNS)} FROM {self._t('reconciliations')} "
                             f"WHERE {q('run_id')} = ? ORDER BY {self._c('mapping', 'period', 'account')}", [run_id])
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            found = out.setdefault(str(r[0]), {"mapping": r[0], "system": r[1], "rows": []})
            row = dict(zip(RECON_COLUMNS, r[2:], strict=True))
            if row["status"] == "error":
                found["error"] = row["message"]
                continue
            found["rows"].append({k: v for k, v in row.items() if k != "message"})
        for found in out.values():
            found["periods"] = sorted({r["period"] for r in found["rows"]})
            found["compared"] = len(found["rows"])
            found["differences"] = [r for r in found["rows"] if r["status"] != "match"]
            if found.get("error"):
                found["differences"] = [{"status": "error", "message": found["error"]}]
            found["ok"] = not found["differences"]
        return list(out.values())

    def record_sections(self, run_id: str, system: str, sections: Sequence[dict[str, Any]]) -> int:
        """Store the report sections an adapter computed for a run (each a `ReportSection` as a dict)."""
        if not sections:
            return 0
        start = self.wh.query(f"SELECT COUNT(*) FROM {self._t('report_sections')} "
                              f"WHERE {self.wh.quote('run_id')} = ?", [run_id])
        first = int(start[0][0] or 0)
        n = len(sections)
        data = pa.table({
            "run_id": pa.array([run_id] * n, _STR),
            "mapping": pa.array([str(x["mapping"]) for x in sections], _STR),
            "system": pa.array([system] * n, _STR),
            "position": pa.array(range(first, first + n), pa.int64()),
            "kind": pa.array([str(x["kind"]) for x in sections], _STR),
            "title": pa.array([str(x["title"]) for x in sections], _STR),
            "body": pa.array([json.dumps({k: v for k, v in x.items() if k not in ("mapping", "kind", "title")},
                                         default=str) for x in sections], _STR),
            "recorded_at": pa.array([utcnow()] * n, _TS)})
        return self.wh.load_arrow(self._name("report_sections"), data)

    def report_sections(self, run_id: str) -> list[dict[str, Any]]:
        """A run's report sections, in the order they were recorded."""
        q = self.wh.quote
        rows = self.wh.query(f"SELECT {self._c('mapping', 'system', 'kind', 'title', 'body')} "
                             f"FROM {self._t('report_sections')} WHERE {q('run_id')} = ? ORDER BY {q('position')}",
                             [run_id])
        return [{"mapping": r[0], "system": r[1], "kind": r[2], "title": r[3], **(_json(r[4]) or {})} for r in rows]

    def record_promotion(self, run_id: str, mapping: str, promotion: dict[str, Any]) -> None:
        """Store one promotion outcome (zones.promote): what was checked, by whom, and whether it passed."""
        cols = ["run_id", "mapping", "relation", "approver", "promoted", "checks"]
        values = [run_id, mapping, str(promotion["relation"]), promotion.get("approver"), bool(promotion["promoted"]),
                  json.dumps(promotion.get("checks", []), sort_keys=True, default=str), _ts(utcnow())]
        self.wh.execute(f"INSERT INTO {self._t('promotions')} ({self._c(*cols, 'recorded_at')}) "
                        f"VALUES ({', '.join('?' for _ in cols)}, CAST(? AS TIMESTAMP))", values)

    def record_result(self, run_id: str, result: dict[str, Any]) -> None:
        """Store one mapping's result (the `run --json` mapping object); recording again replaces it."""
        q = self.wh.quote
        table = self._t("run_mappings")
        cols = ["run_id", "name", "system", "direction", "status", *COUNTERS, "seconds", "error", "error_class",
                "details"]
        values: list[Any] = [run_id, str(result["name"]), result.get("system"), result.get("direction"),
                             result.get("status")]
        values += [int(result.get(c) or 0) for c in COUNTERS]
        details = result.get("details")
        values += [float(result.get("seconds") or 0.0), result.get("error"), result.get("error_class"),
                   json.dumps(details, sort_keys=True, default=str) if details else None]
        started = result.get("started_at")
        values += [_ts(utcnow()), _ts(_parse_iso(started)) if started else None]
        insert = (f"INSERT INTO {table} ({self._c(*cols, 'recorded_at', 'started_at')}) "
                  f"VALUES ({', '.join('?' for _ in cols)}, CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP))")
        recorded = _RECORDED.get(self.wh, {}).get(run_id)
        if recorded is not None and values[1] not in recorded:  # started here, not recorded yet: nothing to replace
            self.wh.execute(insert, values)
        else:
            with self.wh.transaction():
                self.wh.execute(f"DELETE FROM {table} WHERE {q('run_id')} = ? AND {q('name')} = ?",
                                [run_id, values[1]])
                self.wh.execute(insert, values)
        if recorded is not None:
            recorded.add(values[1])

    def list_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest runs first, with their mapping count and summed counters."""
        q = self.wh.quote
        rows = self.wh.query(
            f"SELECT r.{q('run_id')}, r.{q('command')}, CAST(r.{q('started_at')} AS VARCHAR), "
            f"CAST(r.{q('finished_at')} AS VARCHAR), r.{q('ok')}, r.{q('args')}, m.n, m.w, m.j, "
            f"r.{q('status')}, r.{q('reason')}, r.{q('exit_code')} "
            f"FROM {self._t('runs')} AS r LEFT JOIN (SELECT {q('run_id')}, COUNT(*) AS n, "
            f"SUM({q('rows_written')}) AS w, SUM({q('rows_rejected')}) AS j FROM {self._t('run_mappings')} "
            f"GROUP BY {q('run_id')}) AS m ON m.{q('run_id')} = r.{q('run_id')} "
            f"ORDER BY r.{q('started_at')} DESC, r.{q('run_id')} DESC LIMIT {int(limit)}")
        return [{"run_id": r[0], "command": r[1], "started_at": _iso(r[2]), "finished_at": _iso(r[3]),
                 "ok": r[4], "status": _status(r[9], r[4], r[3]), "reason": r[10],
                 "exit_code": None if r[11] is None else int(r[11]), "args": _json(r[5]),
                 "mappings": int(r[6] or 0), "rows_written": int(r[7] or 0), "rows_rejected": int(r[8] or 0)}
                for r in rows]

    def get_run(self, run_id: str, limit: int = 100) -> dict[str, Any] | None:
        """One run with its mapping results and (at most `limit` of) its rejects."""
        q = self.wh.quote
        rows = self.wh.query(
            f"SELECT {q('run_id')}, {q('command')}, CAST({q('started_at')} AS VARCHAR), "
            f"CAST({q('finished_at')} AS VARCHAR), {q('ok')}, {q('args')}, {q('status')}, {q('reason')}, "
            f"{q('exit_code')}, {q('pid')}, {q('host')} FROM {self._t('runs')} WHERE {q('run_id')} = ?", [run_id])
        if not rows:
            return None
        r = rows[0]
        run: dict[str, Any] = {"run_id": r[0], "command": r[1], "started_at": _iso(r[2]),
                               "finished_at": _iso(r[3]), "ok": r[4], "status": _status(r[6], r[4], r[3]),
                               "reason": r[7], "exit_code": None if r[8] is None else int(r[8]),
                               "pid": None if r[9] is None else int(r[9]), "host": r[10], "args": _json(r[5])}
        cols = ["name", "system", "direction", "status", *COUNTERS, "seconds", "error", "error_class", "details"]
        results = self.wh.query(f"SELECT {self._c(*cols)}, CAST({q('started_at')} AS VARCHAR) "
                                f"FROM {self._t('run_mappings')} WHERE {q('run_id')} = ? "
                                f"ORDER BY {q('recorded_at')}, {q('name')}", [run_id])
        run["mappings"] = [_result({**dict(zip(cols, m[:-1], strict=True)), "started_at": _iso(m[-1])})
                           for m in results]
        run["reconciliation"] = self.reconciliations(run_id)
        run["sections"] = self.report_sections(run_id)
        total = self.wh.query(f"SELECT COUNT(*) FROM {self._t('rejects')} WHERE {q('run_id')} = ?", [run_id])
        run["rejects_total"] = int(total[0][0] or 0)
        rejects = self.wh.query(
            f"SELECT {self._c('mapping', 'row_key', 'reason', 'payload')}, CAST({q('created_at')} AS VARCHAR) "
            f"FROM {self._t('rejects')} WHERE {q('run_id')} = ? ORDER BY {self._c('created_at', 'mapping', 'row_key')} "
            f"LIMIT {max(int(limit), 0)}", [run_id]) if run["rejects_total"] else []
        run["rejects"] = [{"mapping": j[0], "row_key": j[1], "reason": j[2], "payload": _json(j[3]),
                           "created_at": _iso(j[4])} for j in rejects]
        by_mapping = self.wh.query(f"SELECT {q('mapping')}, COUNT(*) FROM {self._t('rejects')} "
                                   f"WHERE {q('run_id')} = ? GROUP BY {q('mapping')} ORDER BY 1",
                                   [run_id]) if run["rejects_total"] else []  # none: nothing more to ask
        run["rejects_by_mapping"] = {str(m): int(n) for m, n in by_mapping}
        return run

    # -- rejects --------------------------------------------------------------------------------

    def add_rejects(self, run_id: str, mapping: str, rejects: Sequence[tuple[str, str, str | None]]) -> int:
        """Record refused rows as (row_key, reason, payload JSON or None); one load for all."""
        if not rejects:
            return 0
        now = utcnow()
        n = len(rejects)
        data = pa.table([pa.array([run_id] * n, _STR), pa.array([mapping] * n, _STR),
                         pa.array([str(r[0]) for r in rejects], _STR), pa.array([str(r[1]) for r in rejects], _STR),
                         pa.array([r[2] if len(r) > 2 else None for r in rejects], _STR),
                         pa.array([now] * n, _TS)], schema=REJECTS_SCHEMA)
        return self.wh.load_arrow(self._name("rejects"), data)

    def open_rejects(self, mapping: str) -> int:
        """Rejects of the mapping's latest run (they are retried by the next run)."""
        q = self.wh.quote
        latest = self.wh.query(
            f"SELECT r.{q('run_id')} FROM {self._t('runs')} AS r WHERE r.{q('run_id')} IN "
            f"(SELECT {q('run_id')} FROM {self._t('run_mappings')} WHERE {q('name')} = ? UNION ALL "
            f"SELECT {q('run_id')} FROM {self._t('rejects')} WHERE {q('mapping')} = ?) "
            f"ORDER BY r.{q('started_at')} DESC, r.{q('run_id')} DESC LIMIT 1", [mapping, mapping])
        if not latest:
            return 0
        rows = self.wh.query(f"SELECT COUNT(*) FROM {self._t('rejects')} WHERE {q('mapping')} = ? "
                             f"AND {q('run_id')} = ?", [mapping, latest[0][0]])
        return int(rows[0][0] or 0)

    # -- cursors --------------------------------------------------------------------------------

    def get_cursor(self, mapping: str) -> dict[str, Any] | None:
        return self.get_cursors([mapping])[mapping]

    def get_cursors(self, mappings: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Each mapping's committed cursor (None: none yet), in one query: a run's reads ahead wait on them."""
        found: dict[str, dict[str, Any] | None] = dict.fromkeys(mappings)
        if not found:
            return found
        q = self.wh.quote
        rows = self.wh.query(f"SELECT {self._c('mapping', 'state')} FROM {self._t('cursors')} "
                             f"WHERE {q('mapping')} IN ({', '.join('?' for _ in found)})", list(found))
        for name, text in rows:
            if text is not None:
                state = json.loads(text)
                found[name] = state if isinstance(state, dict) else {"value": state}
        return found

    def set_cursor(self, mapping: str, state: dict[str, Any] | None, run_id: str) -> None:
        """Save (None: forget) a pull's resume state. Joins the caller's transaction, so data and
        cursor commit together."""
        q = self.wh.quote
        table = self._t("cursors")
        with self.wh.transaction():
            self.wh.execute(f"DELETE FROM {table} WHERE {q('mapping')} = ?", [mapping])
            if state is not None:
                self.wh.execute(f"INSERT INTO {table} ({self._c('mapping', 'state', 'updated_at', 'run_id')}) "
                                f"VALUES (?, ?, CAST(? AS TIMESTAMP), ?)",
                                [mapping, json.dumps(state, sort_keys=True, default=str), _ts(utcnow()), run_id])

    # -- the push ledger ------------------------------------------------------------------------

    def record_intent(self, mapping: str, run_id: str, rows: Rows) -> int:
        """Before sending: rows of (row_key, row_hash, unit_key, idempotency_key) become pending; a
        table may add `locator` (how a ledger finds the unit without its rows)."""
        data = _table(rows, INTENT_COLUMNS)
        n = data.num_rows
        if not n:
            return 0
        locator = (rows.column("locator").cast(_STR) if isinstance(rows, pa.Table) and "locator" in rows.column_names
                   else pa.nulls(n, _STR))
        staged = pa.table([pa.array([mapping] * n, _STR), data.column("row_key").cast(_STR),
                           data.column("row_hash").cast(_STR), data.column("unit_key").cast(_STR),
                           data.column("idempotency_key").cast(_STR), pa.array([run_id] * n, _STR),
                           pa.array([utcnow()] * n, _TS), locator], schema=STAGES[STAGE_INTENT])
        _refuse_repeated_keys(mapping, staged.column("row_key"))
        self._name("sent")
        q = self.wh.quote
        with self.wh.transaction():
            self.wh.load_arrow(STAGE_INTENT, staged, temporary=True, replace=True)
            # new rows and known ones alike: the staged values; the rest (sent_hash, remote_id…) kept
            staged_values: dict[str, tuple[str, list[Any]]] = {c: (f"s.{q(c)}", []) for c in
                             ("mapping", "row_key", "pending_hash", "unit_key", "idempotency_key", "run_id", "updated_at",
                              "locator")}
            staged_values["remote_job"] = ("CAST(NULL AS VARCHAR)", [])  # a new intent: no job queued yet
            self._replace(f"{q(STAGE_INTENT)} AS s LEFT JOIN {self._t('sent')} AS t "
                          f"ON t.{q('mapping')} = s.{q('mapping')} AND t.{q('row_key')} = s.{q('row_key')}",
                          [], staged_values, mapping)
        return int(n)

    def confirm(self, mapping: str, run_id: str, rows: Rows) -> int:
        """After the remote accepted: rows of (row_key, unit_key, remote_id); the pending hash becomes
        the sent hash. Returns the number of ledger rows confirmed."""
        data = _table(rows, CONFIRM_COLUMNS)
        if not data.num_rows:
            return 0
        staged = pa.table([data.column(c).cast(_STR) for c in CONFIRM_COLUMNS], schema=STAGES[STAGE_CONFIRM])
        q = self.wh.quote
        sent = self._t("sent")
        with self.wh.transaction():
            self.wh.load_arrow(STAGE_CONFIRM, staged, temporary=True, replace=True)
            # one row per key (as UPDATE … FROM would touch each ledger row once)
            confirmed = (f"(SELECT {q('row_key')}, MAX({q('remote_id')}) AS {q('remote_id')} "
                         f"FROM {q(STAGE_CONFIRM)} GROUP BY {q('row_key')})")
            return self._replace(
                f"{sent} AS t JOIN {confirmed} AS s ON t.{q('row_key')} = s.{q('row_key')} AND t.{q('mapping')} = ?",
                [mapping],
                {"sent_hash": (f"COALESCE(t.{q('pending_hash')}, t.{q('sent_hash')})", []),
                 "pending_hash": ("CAST(NULL AS VARCHAR)", []), "remote_job": ("CAST(NULL AS VARCHAR)", []),
                 "remote_id": (f"COALESCE(s.{q('remote_id')}, t.{q('remote_id')})", []),
                 "refused_hash": ("CAST(NULL AS VARCHAR)", []),  # as sent now: any earlier report is void
                 "run_id": ("CAST(? AS VARCHAR)", [run_id]), "updated_at": ("CAST(? AS TIMESTAMP)", [_ts(utcnow())])},
                mapping)

    def _replace(self, source: str, source_params: list[Any], values: dict[str, tuple[str, list[Any]]],
                 mapping: str) -> int:
        """Replace ledger rows of `mapping` by their new versions, read from `source` (its ledger
        side aliased `t`): `values` gives the SQL (and its parameters) of the columns that change,
        every other column is kept from `t`. Inside the caller's transaction; returns rows written."""
        q = self.wh.quote
        stage = q(STAGE_LEDGER)
        columns = self._sent_columns
        select = ", ".join(values[c][0] if c in values else f"t.{q(c)}" for c in columns)
        params = [p for c in columns if c in values for p in values[c][1]] + source_params
        names = self._c(*columns)
        self.wh.execute(f"DELETE FROM {stage}")
        written = _count(self.wh.query(f"INSERT INTO {stage} ({names}) SELECT {select} FROM {source}", params))
        self._staged += written
        if written:
            self.wh.execute(f"DELETE FROM {self._t('sent')} WHERE {q('mapping')} = ? AND {q('row_key')} IN "
                            f"(SELECT {q('row_key')} FROM {stage})", [mapping])
            self.wh.execute(f"INSERT INTO {self._t('sent')} ({names}) SELECT {names} FROM {stage}")
        return written

    def refuse(self, mapping: str, run_id: str, rows: Sequence[tuple[str, str, str, str | None]], *,
               held_as: str | None = None) -> int:
        """Insert-only rows reported as diverged: (row_key, unit_key, refused_hash, remote_id).
        `refused_hash` is the row as reported (so a rerun finding it so reports nothing new). With
        `held_as`, the remote holds the unit with other values than sent: its intent is settled
        (`sent_hash` = `held_as`, the remote's id kept), never recorded as sent with these values."""
        if not rows:
            return 0
        n = len(rows)
        staged = pa.table([pa.array([mapping] * n, _STR), pa.array([r[0] for r in rows], _STR),
                           pa.array([r[1] for r in rows], _STR), pa.array([r[2] for r in rows], _STR),
                           pa.array([r[3] for r in rows], _STR), pa.array([run_id] * n, _STR),
                           pa.array([utcnow()] * n, _TS)], schema=STAGES[STAGE_REFUSE])
        q = self.wh.quote
        sent = self._t("sent")
        with self.wh.transaction():
            self.wh.load_arrow(STAGE_REFUSE, staged, temporary=True, replace=True)
            counts = self.wh.merge(self._name("sent"), STAGE_REFUSE, ["mapping", "row_key"],
                                   ["unit_key", "refused_hash", "run_id", "updated_at"])
            if held_as is not None:
                self.wh.execute(
                    f"UPDATE {sent} AS t SET {q('sent_hash')} = ?, {q('pending_hash')} = NULL, "
                    f"{q('remote_id')} = COALESCE(s.{q('remote_id')}, t.{q('remote_id')}) FROM {q(STAGE_REFUSE)} AS s "
                    f"WHERE t.{q('mapping')} = ? AND t.{q('row_key')} = s.{q('row_key')}", [held_as, mapping])
        return counts.inserted + counts.updated

    def clear_refused(self, mapping: str, diverged: str) -> None:
        """Insert-only units no longer diverged (the warehouse is back to what was sent): their
        report is cleared; rows that only existed as reported additions leave the ledger.
        `diverged` is a relation of the `unit_key`s still diverged."""
        q = self.wh.quote
        sent = self._t("sent")
        gone = (f"{q('mapping')} = ? AND {q('refused_hash')} IS NOT NULL AND {q('unit_key')} NOT IN "
                f"(SELECT unit_key FROM {diverged})")
        with self.wh.transaction():
            self.wh.execute(f"DELETE FROM {sent} WHERE {gone} AND {q('sent_hash')} IS NULL "
                            f"AND {q('pending_hash')} IS NULL", [mapping])
            self.wh.execute(f"UPDATE {sent} SET {q('refused_hash')} = NULL WHERE {gone}", [mapping])

    def clear_pending(self, mapping: str, row_keys: Keys) -> int:
        """The remote refused these rows: drop the intent, keep the last confirmed hash."""
        q = self.wh.quote
        return self._by_keys(
            mapping, row_keys,
            f"UPDATE {self._t('sent')} SET {q('pending_hash')} = NULL, {q('remote_job')} = NULL, "
            f"{q('updated_at')} = CAST(? AS TIMESTAMP) "
            f"WHERE {q('mapping')} = ? AND {q('row_key')} IN (SELECT {q('row_key')} FROM {q(STAGE_KEYS)})",
            [_ts(utcnow())])

    def record_jobs(self, mapping: str, jobs: KeyMap[str, str]) -> int:
        """The remote accepted a job holding these pending units ({unit key: job reference}): written
        before waiting on it, so the next run reads the job instead of sending them again."""
        return self._set_jobs(mapping, jobs)

    def drop_jobs(self, mapping: str, unit_keys: Sequence[str]) -> int:
        """The remote no longer knows these units' job: they stay pending, their outcome unknown."""
        return self._set_jobs(mapping, {k: None for k in unit_keys})

    def _set_jobs(self, mapping: str, jobs: KeyMap[str, str | None]) -> int:
        if not jobs:
            return 0
        q = self.wh.quote
        staged = pa.table([pa.array(list(jobs), _STR), pa.array(list(jobs.values()), _STR)],
                          schema=STAGES[STAGE_JOBS])
        with self.wh.transaction():
            self.wh.load_arrow(STAGE_JOBS, staged, temporary=True, replace=True)
            return self._replace(
                f"{self._t('sent')} AS t JOIN {q(STAGE_JOBS)} AS s ON t.{q('unit_key')} = s.{q('unit_key')} "
                f"AND t.{q('mapping')} = ? AND t.{q('pending_hash')} IS NOT NULL", [mapping],
                {"remote_job": (f"s.{q('remote_job')}", [])}, mapping)

    def queued_jobs(self, mapping: str) -> dict[str, QueuedUnit]:
        """Pending units an earlier run queued as remote jobs, by unit key."""
        q = self.wh.quote
        rows = self.wh.query(
            f"SELECT {self._c('unit_key', 'row_key', 'remote_job', 'run_id')} FROM {self._t('sent')} "
            f"WHERE {q('mapping')} = ? AND {q('pending_hash')} IS NOT NULL AND {q('remote_job')} IS NOT NULL "
            f"ORDER BY {self._c('unit_key', 'row_key')}", [mapping])
        out: dict[str, QueuedUnit] = {}
        for unit, row_key, ref, run_id in rows:
            out.setdefault(str(unit), QueuedUnit(str(ref), str(run_id), [])).row_keys.append(str(row_key))
        return out

    def forget(self, mapping: str, row_keys: Keys) -> int:
        """Deletes confirmed by the remote (mirror mode): the rows leave the ledger."""
        q = self.wh.quote
        return self._by_keys(
            mapping, row_keys,
            f"DELETE FROM {self._t('sent')} WHERE {q('mapping')} = ? AND "
            f"{q('row_key')} IN (SELECT {q('row_key')} FROM {q(STAGE_KEYS)})", [])

    def _by_keys(self, mapping: str, row_keys: Keys, sql: str, params: list[Any]) -> int:
        keys = _keys(row_keys)
        if not len(keys):
            return 0
        with self.wh.transaction():
            self.wh.load_arrow(STAGE_KEYS, pa.table([keys], schema=STAGES[STAGE_KEYS]), temporary=True, replace=True)
            return _count(self.wh.query(sql, [*params, mapping]))

    def note_feed(self, feed: str, system: str, obj: str, mapping: str, source: str | None) -> None:
        """Remember which system/object a push feed sends to and which mapping file pushed it last."""
        q = self.wh.quote
        table = self._t("feeds")
        now = self.wh.query(f"SELECT {self._c('system', 'object', 'mapping', 'source')} FROM {table} "
                            f"WHERE {q('feed')} = ?", [feed])
        if now and tuple(now[0]) == (system, obj, mapping, source):
            return  # a rerun writes nothing it does not have to
        with self.wh.transaction():
            self.wh.execute(f"DELETE FROM {table} WHERE {q('feed')} = ?", [feed])
            self.wh.execute(f"INSERT INTO {table} ({self._c('feed', 'system', 'object', 'mapping', 'source', 'updated_at')}) "
                            f"VALUES (?, ?, ?, ?, ?, CAST(? AS TIMESTAMP))",
                            [feed, system, obj, mapping, source, _ts(utcnow())])

    def feeds(self) -> dict[str, dict[str, Any]]:
        """Every feed with sent history: {feed: {system, object, mapping, source}}; system, object,
        mapping and source are None for history older than the feeds table. Every run asks (rename
        detection), so it reads only the ledger's feed column: no per-unit count over the ledger."""
        q = self.wh.quote
        if self.wh.columns(self.table_name("sent")) is None:
            return {}
        found: dict[str, dict[str, Any]] = {
            str(r[0]): {"system": None, "object": None, "mapping": None, "source": None}
            for r in self.wh.query(f"SELECT DISTINCT {q('mapping')} FROM {q(self.table_name('sent'))}")}
        if self.wh.columns(self.table_name("feeds")) is not None:
            for r in self.wh.query(f"SELECT {self._c('feed', 'system', 'object', 'mapping', 'source')} "
                                   f"FROM {q(self.table_name('feeds'))}"):
                if str(r[0]) in found:
                    found[str(r[0])].update(system=r[1], object=r[2], mapping=r[3], source=r[4])
        return found

    def reset(self, mapping: str) -> int:
        """For --full: forget everything sent for the mapping."""
        q = self.wh.quote
        return _count(self.wh.query(f"DELETE FROM {self._t('sent')} WHERE {q('mapping')} = ?", [mapping]))

    def pending(self, mapping: str) -> list[tuple[str, str, str, str]]:
        """Units a crashed run recorded as intended but never confirmed:
        (row_key, unit_key, idempotency_key, run_id)."""
        q = self.wh.quote
        rows = self.wh.query(
            f"SELECT {self._c('row_key', 'unit_key', 'idempotency_key', 'run_id')} FROM {self._t('sent')} "
            f"WHERE {q('mapping')} = ? AND {q('pending_hash')} IS NOT NULL "
            f"ORDER BY {self._c('unit_key', 'row_key')}", [mapping])
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def ledger(self, mapping: str) -> dict[str, dict[str, Any]]:
        """The ledger rows of one mapping by row key (for tests and `runs show`-style inspection)."""
        names = [c.name for c in SCHEMAS["sent"][0]]
        rows = self.wh.query(f"SELECT {self._c(*names)} FROM {self._t('sent')} WHERE {self.wh.quote('mapping')} = ?",
                             [mapping])
        return {str(r[1]): dict(zip(names, r, strict=True)) for r in rows}


def _refuse_repeated_keys(mapping: str, keys: pa.ChunkedArray) -> None:
    """An intent names each row once: checked in Arrow before anything is written (a query less per
    batch; on Snowflake, a round trip less). The message names the first three repeated keys in order."""
    import pyarrow.compute as pc

    if pc.count_distinct(keys, mode="all").as_py() == len(keys):
        return
    counts = pc.value_counts(keys)
    twice = sorted(str(value) for value, count in zip(counts.field("values").to_pylist(),
                                                       counts.field("counts").to_pylist(), strict=True) if count > 1)
    raise WarehouseError(f"ledger intent for {mapping}: row key(s) appear more than once "
                         f"(e.g. {', '.join(repr(key) for key in twice[:3])})")


def _table(rows: Rows, names: Sequence[str]) -> pa.Table:
    if isinstance(rows, pa.Table):
        missing = [n for n in names if n not in rows.column_names]
        if missing:
            raise ValueError(f"ledger rows need columns {', '.join(names)}; missing {', '.join(missing)}")
        return rows.select(list(names))
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    if len(columns) != len(names):
        raise ValueError(f"ledger rows are tuples of ({', '.join(names)})")
    return pa.table({n: pa.array(list(c), _STR) for n, c in zip(names, columns, strict=True)})


def _keys(row_keys: Keys) -> pa.Array:
    if isinstance(row_keys, pa.Table):
        row_keys = row_keys.column("row_key")
    if isinstance(row_keys, pa.ChunkedArray):
        return row_keys.combine_chunks().cast(_STR)
    if isinstance(row_keys, pa.Array):
        return row_keys.cast(_STR)
    return pa.array([str(k) for k in row_keys], _STR)


def _count(rows: list[tuple[Any, ...]]) -> int:
    """Rows affected, from the result row both engines return for DML."""
    return int(rows[0][0] or 0) if rows and rows[0] else 0


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _iso(value: Any) -> str | None:
    """Stored UTC timestamp (read back as text: the same on every engine) → '2026-11-30T00:43:54Z'."""
    if value is None:
        return None
    head = str(value).strip().replace("T", " ").partition(".")[0]
    return datetime.strptime(head, "%Y-%m-%d %H:%M:%S").strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _result(row: dict[str, Any]) -> dict[str, Any]:
    for c in COUNTERS:
        row[c] = int(row[c] or 0)
    row["seconds"] = float(row["seconds"] or 0.0)
    row["details"] = _json(row.get("details")) or {}
    return row


def _status(status: Any, ok: Any, finished: Any) -> str:
    """The stored status; for rows from before it was recorded, what ok/finished_at imply."""
    if status:
        return str(status)
    if finished is None:
        return "running"
    return "ok" if ok else "failed"


def _parse_iso(value: str) -> datetime:
    return datetime.strptime(value.rstrip("Z").replace("T", " ")[:19], "%Y-%m-%d %H:%M:%S")
