"""Pull: read a remote object into a warehouse table, incrementally.

Each batch is cast to the mapping's types (a page an `ArrowPull` adapter read into Arrow keeps the
columns that already have them), loaded into a staging table through Arrow and MERGEd into the
target by key; the batch's cursor is saved in the same transaction, so a run that dies
resumes from the last committed batch with no gap and no duplicate. A mirror pull stages every
batch and swaps at the end (deleting rows the remote no longer has) in one transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from migo_sync import interrupt
from migo_sync.adapter import Adapter, ArrowBatch, PullBatch, as_arrow_pull
from migo_sync.ahead import started as begun
from migo_sync.engine.gcpause import gc_paused
from migo_sync.engine.plan import temp_name
from migo_sync.engine.readahead import Read
from migo_sync.engine.result import MappingResult
from migo_sync.http import REQUEST_STATS
from migo_sync.mapping.model import FieldSpec, FieldType, Mapping
from migo_sync.mapping.transforms import compile_pull, get_path
from migo_sync.precision import UNDECLARED_SCALE, column_scale
from migo_sync.progress import Task
from migo_sync.warehouse.base import ColumnDef, Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

Progress = Callable[[int], None]
Rejects = list[tuple[str, str, str | None]]
# How a field is asked of an ArrowPull adapter: as the JSON value a caster takes without change (the
# rest, text, is cast here as the record path casts it); number and transformed fields are not asked.
READ_AS = {FieldType.string: pa.string(), FieldType.integer: pa.int64(), FieldType.boolean: pa.bool_(),
           FieldType.decimal: pa.string(), FieldType.date: pa.string(), FieldType.timestamp: pa.string()}
log = logging.getLogger("migo_sync.engine.pull")


def arrow_type(field: FieldSpec, scale: int | None = None) -> pa.DataType:
    """The Arrow type a pulled field is staged as; a decimal at `scale` (see migo_sync.precision)."""
    return {
        FieldType.string: pa.string(),
        FieldType.integer: pa.int64(),
        FieldType.decimal: pa.decimal128(38, scale if scale is not None else (
            field.scale if field.scale is not None else UNDECLARED_SCALE)),
        FieldType.number: pa.float64(),
        FieldType.boolean: pa.bool_(),
        FieldType.date: pa.date32(),
        FieldType.timestamp: pa.timestamp("us"),
    }[field.type]


def arrow_schema(mapping: Mapping, scales: dict[str, int] | None = None) -> pa.Schema:
    scales = scales or {}
    return pa.schema([pa.field(f.column, arrow_type(f, scales.get(f.column))) for f in mapping.fields if f.column])


def decimal_scales(warehouse: Warehouse, mapping: Mapping, table: str) -> dict[str, int]:
    """The scale each pulled decimal column keeps: declared, else the existing column's, else
    UNDECLARED_SCALE (one policy: migo_sync.precision)."""
    existing = {c.name.lower(): c for c in warehouse.columns(table) or []}
    scales: dict[str, int] = {}
    for f in mapping.fields:
        if f.column and f.type is FieldType.decimal:
            column = existing.get(f.column.lower())
            have = column.scale if column is not None and column.type == "decimal" else None
            scales[f.column] = column_scale(f.scale, have, f"{mapping.label}: {table}.{f.column}")
    return scales


class Puller:
    def __init__(self, warehouse: Warehouse, book: Bookkeeping, adapter: Adapter, mapping: Mapping,
                 run_id: str, *, full_refresh: bool = False, dry_run: bool = False,
                 progress: Progress | None = None, stop: Callable[[], bool] | None = None,
                 ahead: Read | None = None) -> None:
        self.warehouse = warehouse
        self.ahead = ahead  # the remote read started ahead of this pull's turn (engine/readahead.py)
        self.book = book
        self.adapter = adapter
        self.mapping = mapping
        self.run_id = run_id
        self.full_refresh = full_refresh
        self.dry_run = dry_run
        self.progress = progress or (lambda n: None)
        self.stop = stop or (lambda: False)
        assert mapping.warehouse.table is not None
        self.target = mapping.warehouse.table
        self.scales = decimal_scales(warehouse, mapping, self.target)
        self.fields = [(f, f.remote, f.column, compile_pull(f, self.scales.get(f.column)))
                       for f in mapping.fields if f.column]
        self.schema = arrow_schema(mapping, self.scales)
        self.result = MappingResult(mapping.name, mapping.system, "pull")
        self._key_schema = pa.schema([self.schema.field(c) for c in mapping.key])
        self._deleted_staging = temp_name(mapping.name, "deleted")
        self._made: set[str] = set()  # staging tables this pull made (`_staging`)
        self._new = False  # the target was made by this pull and nothing merged into it yet (`merge_arrow`)

    def run(self) -> MappingResult:
        started = time.perf_counter()
        before = REQUEST_STATS.get(self.mapping.system)
        if self.ahead is not None:
            state = self.ahead.state  # the committed cursor it was started from
        else:
            state = None if self.full_refresh else (None if self.dry_run and not self._book_ready()
                                                    else self.book.get_cursor(self.mapping.name))
        mirror = self.mapping.mode == "mirror"
        batches = self.ahead.batches() if self.ahead is not None else iter(read_pages(self.adapter, self.mapping, state))
        # The first page is asked for now, on a thread, while the target and staging tables are made
        # (a read started ahead is already under way); its answer, or its error, is taken in the loop
        # below. A failing setup waits for it, and nothing of it is loaded.
        first: Future[ArrowBatch | PullBatch | None] | None = (
            begun(lambda: next(batches, None), name="pull-first-page") if self.ahead is None else None)
        staging = temp_name(self.mapping.name, "stage")
        mirror_staging = temp_name(self.mapping.name, "mirror")
        preview = temp_name(self.mapping.name, "preview")
        try:
            if not self.dry_run:
                self._new = self.warehouse.ensure_table(
                    self.target, [ColumnDef(f.column, f.type, self.scales.get(f.column)) for f in self.mapping.fields
                                  if f.column],
                    self.mapping.key)
            # Staging tables exist before the first transaction: DDL inside one would commit it. Where the
            # warehouse merges from Arrow in place (DuckDB), they are made only once a page needs one (`_flush`:
            # a mirror's pages but its last, deleted keys; a mirror read whole in one page needs none).
            if not self.dry_run and not self.warehouse.merges_from_arrow:
                if mirror:  # a mirror stages every page here, and merges nothing before
                    self._staging(mirror_staging, self.schema)
                else:
                    self._staging(staging, self.schema)
                    self._staging(self._deleted_staging, self._key_schema)
            if self.dry_run:
                self.warehouse.load_arrow(preview, self.schema.empty_table(), temporary=True, replace=True)
        except BaseException:
            if first is not None:
                wait([first])  # its request answered before the adapter may be closed
            raise
        last_state = state
        pending = _Pending()
        staged = False  # a mirror's pages loaded into its staging table (all but the last one read)
        stopped = None
        while True:
            with gc_paused():  # the adapter builds the page (here or on its own thread), then the casts
                if first is not None:
                    taken, first = first, None
                    page = taken.result()
                else:
                    page = next(batches, None)
                if page is None:
                    break
                stopped = interrupt.requested()
                if stopped is not None:
                    break  # the pages read so far are committed below, with their cursor
                table, rejects, batch, count = self._typed(page)
            self.result.rows_read += count
            if batch.total is not None and isinstance(self.progress, Task):
                self.progress.set_total(batch.total)
            self.progress(count)
            if self.dry_run:
                self.warehouse.load_arrow(preview, table, temporary=True)
                self.result.rows_rejected += len(rejects)
                if len(self.result.sample) < 5:
                    self.result.sample.extend(
                        {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
                         for k, v in row.items()} for row in table.slice(0, 5 - len(self.result.sample)).to_pylist())
                continue
            if batch.state is not None:  # a page without a new resume point keeps the last one
                last_state = batch.state
            if mirror and pending.tables:  # a mirror holds back only the last page read: the one before is staged
                self._flush(pending, staging, mirror_staging)
                staged = True
            pending.add(table, rejects, batch)
            if not mirror and (batch.deleted_keys or pending.due()):
                self._flush(pending, staging, mirror_staging)
            if not mirror and self.stop():  # asked to stop: commit what was read, resume from there
                self.result.status = "stopped"
                break
        # A mirror read whole in one page (a sheet tab, a chart) merges it straight from Arrow, its rejects and
        # cursor in the same transaction: no staging copy and no commit of its own between the read and the swap.
        whole = mirror and not staged and stopped is None and not self.dry_run and len(pending.tables) == 1
        if pending.tables and not whole:
            self._flush(pending, staging, mirror_staging)
        if stopped is not None:
            raise interrupt.Interrupted(stopped)  # a mirror is never swapped half read
        if self.dry_run:
            self._compare(preview, mirror)
        if (self.full_refresh and not mirror and not self.dry_run and last_state is None
                and self.result.status != "stopped"):
            self.book.set_cursor(self.mapping.name, None, self.run_id)  # only --full-refresh forgets
        if mirror and not self.dry_run:
            if not whole:  # (staged pages, or none at all: the mirror of an empty read)
                self._staging(mirror_staging, self.schema)
            with self.warehouse.transaction():
                if whole:
                    counts = self.warehouse.merge_arrow(self.target, pending.tables[0], mirror_staging, self.mapping.key,
                                                        self.mapping.columns, delete_missing=True, new=self._new)
                    if pending.rejects:
                        self.book.add_rejects(self.run_id, self.mapping.name, pending.rejects)
                else:
                    counts = self.warehouse.merge(self.target, mirror_staging, self.mapping.key,
                                                  self.mapping.columns, delete_missing=True)
                self.book.set_cursor(self.mapping.name, last_state, self.run_id)
            if whole:
                self.result.rows_rejected += len(pending.rejects)
                log.debug("%s batch: %d record(s) committed, %d rejected", self.mapping.name,
                          pending.tables[0].num_rows, len(pending.rejects),
                          extra={"event": "batch", "mapping": self.mapping.name, "records": pending.tables[0].num_rows,
                                 "rows_rejected": len(pending.rejects)})
                pending.clear()
            self.result.rows_changed += counts.inserted + counts.updated + counts.deleted
            self.result.rows_written += counts.inserted + counts.updated
            if mirror_staging in self._made:
                self.warehouse.execute(f"DROP TABLE IF EXISTS {mirror_staging}")
        if self.ahead is not None:
            self.result.details["read_ahead_seconds"] = round(self.ahead.seconds, 3)
        return self.result.finish(requests=self.ahead.sent() if self.ahead is not None
                                  else REQUEST_STATS.get(self.mapping.system) - before,
                                  seconds=time.perf_counter() - started, dry_run=self.dry_run)

    def _compare(self, preview: str, mirror: bool) -> None:
        """A dry run's counts against the warehouse: new, changed and unchanged keys (and, for a
        mirror, the rows a run would delete). Reads only; the preview table is temporary."""
        q = self.warehouse.quote
        details = self.result.details
        try:
            if self.warehouse.columns(self.target) is None:
                total = int(self.warehouse.query(
                    f"SELECT COUNT(*) FROM (SELECT DISTINCT {self._keys('p')} FROM {preview} p) d")[0][0] or 0)
                details.update(new=total, changed=0, unchanged=0, deleted=0)
            else:
                join = " AND ".join(f"t.{q(k)} = p.{q(k)}" for k in self.mapping.key)
                differs = " OR ".join(f"t.{q(c)} IS DISTINCT FROM p.{q(c)}" for c in self.mapping.columns) or "FALSE"
                new, changed, same = self.warehouse.query(
                    f"SELECT SUM(CASE WHEN t.{q(self.mapping.key[0])} IS NULL THEN 1 ELSE 0 END), "
                    f"SUM(CASE WHEN t.{q(self.mapping.key[0])} IS NOT NULL AND ({differs}) THEN 1 ELSE 0 END), "
                    f"SUM(CASE WHEN t.{q(self.mapping.key[0])} IS NOT NULL AND NOT ({differs}) THEN 1 ELSE 0 END) "
                    f"FROM (SELECT DISTINCT * FROM {preview}) p LEFT JOIN {self.target} t ON {join}")[0]
                gone = 0
                if mirror:
                    gone = int(self.warehouse.query(
                        f"SELECT COUNT(*) FROM {self.target} t WHERE NOT EXISTS "
                        f"(SELECT 1 FROM {preview} p WHERE {join})")[0][0] or 0)
                details.update(new=int(new or 0), changed=int(changed or 0), unchanged=int(same or 0), deleted=gone)
        finally:
            self.warehouse.execute(f"DROP TABLE IF EXISTS {preview}")
        self.result.rows_changed = details["new"] + details["changed"] + details["deleted"]

    def _keys(self, alias: str) -> str:
        return ", ".join(f"{alias}.{self.warehouse.quote(k)}" for k in self.mapping.key)

    def _flush(self, pending: _Pending, staging: str, mirror_staging: str) -> None:
        """Commit the pending pages and the cursor after the last of them, in one transaction."""
        table = self._last_per_key(pa.concat_tables(pending.tables)) if len(pending.tables) > 1 else pending.tables[0]
        rejects = pending.rejects
        if self.mapping.mode == "mirror":
            self._staging(mirror_staging, self.schema)
        elif any(batch.deleted_keys for batch in pending.deleting):
            self._staging(self._deleted_staging, self._key_schema)
        with self.warehouse.transaction():
            if self.mapping.mode == "mirror":
                self.warehouse.load_arrow(mirror_staging, table, temporary=True)
            else:
                self._merge(staging, table)
                for batch in pending.deleting:
                    self._delete(batch)
                if pending.state is not None:  # cursors only move forward, by committed data
                    self.book.set_cursor(self.mapping.name, pending.state, self.run_id)
            if rejects:
                self.book.add_rejects(self.run_id, self.mapping.name, rejects)
        self.result.rows_rejected += len(rejects)
        log.debug("%s batch: %d record(s) committed, %d rejected", self.mapping.name, table.num_rows, len(rejects),
                  extra={"event": "batch", "mapping": self.mapping.name, "records": table.num_rows,
                         "rows_rejected": len(rejects)})
        pending.clear()

    def _staging(self, name: str, schema: pa.Schema) -> None:
        """Make one staging table (emptied: a namesake an earlier run of this connection left goes), once
        per pull, before any transaction: DDL inside one would commit it."""
        if name not in self._made:
            self.warehouse.load_arrow(name, schema.empty_table(), temporary=True, replace=True)
            self._made.add(name)

    def _last_per_key(self, table: pa.Table) -> pa.Table:
        """Keep the last row of each key (a later page may repeat a record with newer values)."""
        key = self.mapping.key
        if len(key) == 1 and pc.count_distinct(table.column(key[0]), mode="all").as_py() == table.num_rows:
            return table  # every key once (counted in Arrow, without a Python object per key)
        keys = list(zip(*(table.column(k).to_pylist() for k in self.mapping.key), strict=True))
        if len(set(keys)) == len(keys):
            return table
        last = {k: i for i, k in enumerate(keys)}
        return table.take(sorted(last.values()))

    def _book_ready(self) -> bool:
        return self.warehouse.columns(self.book.table_name("cursors")) is not None

    def _merge(self, staging: str, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        columns = self.mapping.key if self.mapping.mode == "insert" else self.mapping.columns
        counts = self.warehouse.merge_arrow(self.target, table, staging, self.mapping.key, columns, new=self._new)
        self._new = False
        self.result.rows_changed += counts.inserted + counts.updated
        self.result.rows_written += counts.inserted + counts.updated

    def _delete(self, batch: PullBatch) -> None:
        if not batch.deleted_keys:
            return
        key_fields = [(c, r, fn) for f, r, c, fn in self.fields if c in self.mapping.key]
        rows = [{c: fn(get_path(rec, r)) for c, r, fn in key_fields} for rec in batch.deleted_keys]
        table = pa.Table.from_pylist(rows, schema=self._key_schema)
        staging = self._deleted_staging
        self.warehouse.execute(f"DELETE FROM {staging}")
        self.warehouse.load_arrow(staging, table, temporary=True)
        keys = " AND ".join(f"t.{self.warehouse.quote(c)} = d.{self.warehouse.quote(c)}" for c in self.mapping.key)
        before = self.warehouse.query(f"SELECT COUNT(*) FROM {self.target}")[0][0]
        self.warehouse.execute(
            f"DELETE FROM {self.target} t WHERE EXISTS (SELECT 1 FROM {staging} d WHERE {keys})")
        after = self.warehouse.query(f"SELECT COUNT(*) FROM {self.target}")[0][0]
        self.result.rows_changed += int(before) - int(after)

    def _typed(self, page: ArrowBatch | PullBatch) -> tuple[pa.Table, Rejects, PullBatch, int]:
        """(typed table, rejects, the batch's cursor and deletions, records read) for one page."""
        if isinstance(page, ArrowBatch):
            table = self._from_arrow(page.table)
            if table is not None:
                return table, [], PullBatch([], page.state, total=page.total), page.table.num_rows
            page = page.records()  # a value that does not fit: the record path names each bad record
        table, rejects = self._to_arrow(page)
        return table, rejects, page, len(page.records)

    def _from_arrow(self, page: pa.Table) -> pa.Table | None:
        """A page read as Arrow at the mapping's types, exactly as `_columns` types the same records
        (a column already of its type is kept; any other goes through `_column_array` from its Python
        values); None when a value does not fit or a key is missing."""
        arrays: list[pa.Array | pa.ChunkedArray] = []
        for field, remote, column, fn in self.fields:
            target = self.schema.field(column).type
            values = page.column(remote)
            if values.type != target:
                try:
                    arrays.append(_column_array(field, target, values.to_pylist(), fn))
                except _RowByRow:
                    return None
            else:
                arrays.append(values)
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        if any(table.column(k).null_count for k in self.mapping.key):
            return None
        return self._last_per_key(table)

    def _to_arrow(self, batch: PullBatch) -> tuple[pa.Table, list[tuple[str, str, str | None]]]:
        """Cast records to the mapping's types; a record that does not cast is a reject.
        Within a batch the last record of a key wins (incremental exports may repeat one).

        Column by column first (Arrow casts whole columns at C speed; the caller holds the garbage
        collector off, see engine/gcpause.py); any value that does not fit sends the batch down the
        row-by-row path, which gives each bad record its own reject.
        """
        try:
            table = self._columns(batch.records)
        except _RowByRow:
            table = None
        if table is not None:
            return table, []
        return self._rows(batch.records)

    def _columns(self, records: list[dict[str, Any]]) -> pa.Table:
        arrays = []
        for field, remote, column, fn in self.fields:
            if "." in remote:
                values = [get_path(r, remote) for r in records]
            else:
                values = [r.get(remote) for r in records]
            arrays.append(_column_array(field, self.schema.field(column).type, values, fn))
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        key = self.mapping.key
        if any(table.column(k).null_count for k in key):
            raise _RowByRow  # the row path names each record without a key
        return self._last_per_key(table)

    def _rows(self, records: list[dict[str, Any]]) -> tuple[pa.Table, list[tuple[str, str, str | None]]]:
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        rejects: list[tuple[str, str, str | None]] = []
        key = self.mapping.key
        for record in records:
            row: dict[str, Any] = {}
            try:
                for _field, remote, column, fn in self.fields:
                    try:
                        row[column] = fn(get_path(record, remote))
                    except (ValueError, TypeError, ArithmeticError) as exc:
                        raise ValueError(f"{remote}: {exc}") from None
            except ValueError as exc:
                rejects.append((_key_text(record, self.fields, key), str(exc), _payload(record)))
                continue
            key_value = tuple(row.get(k) for k in key)
            if any(v is None for v in key_value):
                rejects.append((_key_text(record, self.fields, key), "missing key value", _payload(record)))
                continue
            rows[key_value] = row
        table = pa.Table.from_pylist(list(rows.values()), schema=self.schema)
        return table, rejects


class _Pending:
    """Pages read but not yet committed. Pages are committed together (one MERGE, one cursor
    save) up to FLUSH_ROWS rows or FLUSH_SECONDS: a crash loses only uncommitted pages, and the
    next run reads them again from the last saved cursor."""

    FLUSH_ROWS = 10_000
    FLUSH_SECONDS = 2.0

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.tables: list[pa.Table] = []
        self.rejects: list[tuple[str, str, str | None]] = []
        self.deleting: list[PullBatch] = []
        self.state: dict[str, Any] | None = None
        self.rows = 0
        self.since = time.monotonic()

    def add(self, table: pa.Table, rejects: list[tuple[str, str, str | None]], batch: PullBatch) -> None:
        self.tables.append(table)
        self.rejects.extend(rejects)
        if batch.deleted_keys:
            self.deleting.append(batch)
        if batch.state is not None:
            self.state = batch.state
        self.rows += table.num_rows

    def due(self) -> bool:
        return self.rows >= self.FLUSH_ROWS or time.monotonic() - self.since >= self.FLUSH_SECONDS


class _RowByRow(Exception):
    """A value did not fit its column: convert this batch record by record instead."""


def _all(values: list[Any], kind: type) -> bool:
    return all(v is None or type(v) is kind for v in values)


def _column_array(field: FieldSpec, target: pa.DataType, values: list[Any], fn: Callable[[Any], Any]) -> pa.Array:
    """One column as Arrow, exactly as the row path would type it, or raise _RowByRow."""
    if not field.transform:
        try:
            kind = field.type
            if kind is FieldType.string and _all(values, str):
                return pa.array(values, pa.string())
            if kind is FieldType.integer and _all(values, int):
                return pa.array(values, target)
            if kind is FieldType.number and all(v is None or type(v) in (int, float) for v in values):
                return pa.array(values, target)
            if kind is FieldType.boolean and _all(values, bool):
                return pa.array(values, target)
            if kind is FieldType.decimal and _all(values, Decimal):
                return pa.array(values, target)  # refuses, rather than rounds, a value with more places
            if kind is FieldType.date and _all(values, str):
                return pa.array(values, pa.string()).cast(target)  # strict YYYY-MM-DD
            if kind is FieldType.date and _all(values, date):
                return pa.array(values, target)
            if kind is FieldType.timestamp and _all(values, str):
                text = pa.array(values, pa.string())
                try:
                    return text.cast(pa.timestamp("us", tz="UTC")).cast(target)  # offsets → UTC wall time
                except pa.ArrowInvalid:
                    return text.cast(target)  # no offsets: taken as they are
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            pass
    try:
        return pa.array([fn(v) for v in values], target)
    except (ValueError, TypeError, ArithmeticError, pa.ArrowException) as exc:
        raise _RowByRow from exc


def _key_text(record: dict[str, Any], fields: list[Any], key: list[str]) -> str:
    parts = [str(get_path(record, remote)) for _f, remote, column, _fn in fields if column in key]
    return "\x1f".join(parts) or "?"


def _payload(record: dict[str, Any]) -> str:
    import json

    return json.dumps(record, default=str)[:4000]


def read_pages(adapter: Adapter, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[ArrowBatch | PullBatch]:
    """The adapter's pages: as Arrow when it can (ArrowPull) and every field can be asked so."""
    native = as_arrow_pull(adapter)
    types: dict[str, pa.DataType] = {}
    for field in mapping.fields:
        if not field.column:
            continue
        kind = READ_AS.get(field.type)
        if kind is None or field.transform or types.setdefault(field.remote, kind) != kind:
            native = None
    if native is not None:
        pages = native.read_arrow(mapping, state, types)
        if pages is not None:
            return pages
    return iter(adapter.read(mapping, state))
