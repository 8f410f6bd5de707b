"""Change detection for pushes, done inside the warehouse.

Each source row gets a key (canonical text of the key columns) and a hash (md5 of the canonical
text of the mapped columns), computed in SQL. One full outer join with the ledger of what was
last confirmed sent gives new and changed rows and, from the ledger side, the rows whose key
vanished (deletes). Only the rows to send are then read again, wide; every count and check works
on them, never on the whole source again (except `unique`, restricted to the values being sent).
For grouped units (a journal) or whole-object units (a sheet tab), every row of a unit that has
any change is sent again, because the remote takes the unit whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migo_sync.adapter import Unit
from migo_sync.mapping.model import Check, Mapping
from migo_sync.warehouse.base import Warehouse

UNIT_ALL = "*"


@dataclass
class PushPlan:
    """What a push will send. `send_table` holds the rows to send (`migo_invalid` set on those that
    failed a check, with the reason), `diff_table` every difference with the ledger, `deleted` the
    ledger rows whose source row is gone. `snapshot_table` (key, hash and unit of every source row)
    exists for grouped and whole-object units only ("" for rows: their diff reads the source once)."""

    mapping: str
    snapshot_table: str
    send_table: str
    diff_table: str = ""
    total: int | None = 0  # the source's rows (None: not counted, see plan_push's count_source)
    new: int = 0
    changed: int = 0
    deleted: int = 0
    invalid: int = 0
    in_flight: int = 0
    units: int = 0
    rows_to_send: int = 0  # rows of the send table (whole units included), for progress
    deleted_keys: list[tuple[str, str]] = field(default_factory=list)
    vanished_keys: list[tuple[str, str]] = field(default_factory=list)  # insert-only: (row, unit) to report
    diverged_table: str | None = None  # insert-only: the units sent before that differ now (see _insert_only)
    diverged_reported: int = 0  # of those, the units already reported in an earlier run, as they are now
    # pending rows (outcome unknown) whose warehouse row is gone and that nothing else settles this
    # run: (row_key, unit_key, idempotency_key, locator, confirmed before); see _pending_vanished
    pending_vanished: list[tuple[str, str, str, str | None, bool]] = field(default_factory=list)
    # insert-only: pending rows never confirmed and gone from a unit that still has rows (sent again
    # this run): (row_key, unit_key), settled with the unit's answer
    pending_gone: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rows_changed(self) -> int:
        return self.new + self.changed + self.deleted


def temp_name(mapping: str, what: str) -> str:
    return f"migo_{what}_{re.sub(r'[^a-z0-9_]', '_', mapping.lower())}"


def source_sql(mapping: Mapping) -> str:
    if mapping.warehouse.query is not None:
        return f"({mapping.warehouse.query.strip().rstrip(';')})"
    assert mapping.warehouse.table is not None
    return mapping.warehouse.table


def unit_sql(warehouse: Warehouse, mapping: Mapping, unit: Unit) -> str:
    if unit == "object":
        return f"'{UNIT_ALL}'"
    if unit == "group":
        return warehouse.key_sql(mapping.group_by or mapping.key, alias="s")
    return warehouse.key_sql(mapping.key, alias="s")


def check_sql(warehouse: Warehouse, check: Check) -> tuple[str, str, list[str]]:
    """(SQL condition that is TRUE for a failing row, reason as SQL, its parameters)."""
    cond, reason = _check_sql(warehouse, check)
    if check.not_null and not check.message:
        # name exactly the columns that are NULL in this row, not every column of the check
        # (column names are identifiers: letters, digits and _, so safe as literals)
        names = " || ".join(f"CASE WHEN {warehouse.quote(c)} IS NULL THEN ', {c}' ELSE '' END"
                            for c in check.not_null)
        return cond, f"'missing value in ' || SUBSTR({names}, 3)", []
    return cond, "?", [reason]


def _check_sql(warehouse: Warehouse, check: Check) -> tuple[str, str]:
    """(SQL condition that is TRUE for a failing row, reason)."""
    q = warehouse.quote
    if check.not_null:
        cond = " OR ".join(f"{q(c)} IS NULL" for c in check.not_null)
        return cond, check.message or f"missing value in {', '.join(check.not_null)}"
    if check.accepted_values:
        parts, names = [], []
        for column, values in check.accepted_values.items():
            listed = ", ".join(_literal(v) for v in values)
            parts.append(f"({q(column)} IS NOT NULL AND {q(column)} NOT IN ({listed}))")
            names.append(column)
        return " OR ".join(parts), check.message or f"value not accepted in {', '.join(names)}"
    if check.max_length:
        cond = " OR ".join(f"LENGTH(CAST({q(c)} AS VARCHAR)) > {int(n)}" for c, n in check.max_length.items())
        return cond, check.message or "value too long: " + ", ".join(
            f"{c} > {n} characters" for c, n in check.max_length.items())
    if check.expression:
        return f"NOT COALESCE(({check.expression}), FALSE)", check.message or f"check failed: {check.expression}"
    assert check.unique
    cols = ", ".join(q(c) for c in check.unique)
    return (f"({cols}) IN (SELECT {cols} FROM {{snapshot}} WHERE ({cols}) IN (SELECT {cols} FROM {{about_to_send}}) "
            f"GROUP BY {cols} HAVING COUNT(*) > 1)",
            check.message or f"not unique: {', '.join(check.unique)}")


def _runs(conditions: list[tuple[str, str, list[str]]]) -> list[list[tuple[str, str, list[str]]]]:
    """The checks' conditions in order, those without a subquery run together (one UPDATE with a
    CASE giving the first one failed); one with a subquery (a `unique` check, perhaps an
    expression) alone: Snowflake takes an IN subquery in a WHERE clause only, not in a CASE."""
    runs: list[list[tuple[str, str, list[str]]]] = []
    for condition in conditions:
        alone = "select" in condition[0].lower()
        if runs and not alone and "select" not in runs[-1][-1][0].lower():
            runs[-1].append(condition)
        else:
            runs.append([condition])
    return runs


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def source_rows(warehouse: Warehouse, mapping: Mapping) -> int:
    """The push source's rows (a query or a view is run to count them)."""
    return int(warehouse.query(f"SELECT COUNT(*) FROM {source_sql(mapping)} s")[0][0] or 0)


def plan_push(warehouse: Warehouse, ledger_table: str, mapping: Mapping, unit: Unit, *,
              full: bool = False, count_source: bool = True) -> PushPlan:
    """Build the temp tables of a push and count what it will do. Reads only; sends nothing.

    The snapshot is narrow (key, hash, unit) so an unchanged rerun costs one hashing scan; only
    the rows to send are read again, wide, joined back by key. Without `count_source`, a push of rows
    (no snapshot to count) leaves `total` None: counting a query or view source costs a scan of its
    own (11-13 ms on the demo's customer_status view), which the engine does once its first request is out.
    """
    q = warehouse.quote
    name = mapping.name
    feed = mapping.feed
    snap = temp_name(name, "snap")
    diff = temp_name(name, "diff")
    send = temp_name(name, "send")
    columns = list(dict.fromkeys([*mapping.key, *mapping.group_by, *mapping.columns]))
    hashed = list(dict.fromkeys([*mapping.key, *mapping.columns]))
    source = source_sql(mapping)
    key_expr = warehouse.key_sql(mapping.key, alias="s")
    snapshot = (f"SELECT {key_expr} AS migo_row_key, {warehouse.row_hash_sql(hashed, alias='s')} AS migo_row_hash, "
                f"{unit_sql(warehouse, mapping, unit)} AS migo_unit_key FROM {source} s")
    # CREATE OR REPLACE: a table left by a plan that failed half-way is replaced (one statement, not two)
    if unit == "row":
        snapped = f"({snapshot})"  # read once, by the join below: never written out
    else:  # whole units are read again from it (every row of a unit with a change)
        warehouse.execute(f"CREATE OR REPLACE TEMPORARY TABLE {snap} AS {snapshot}")
        snapped = snap
    # One join of the snapshot with the feed's ledger finds every difference at once: new,
    # changed and pending rows (source side) and deleted ones (ledger side only). It is
    # materialised, and asked only through COUNTs and plain filters: DuckDB 2.0.1 answers EXISTS(...)
    # and LIMIT over "LEFT JOIN ledger ... WHERE l.sent_hash IS NULL" wrongly (EXISTS false,
    # LIMIT 1 giving every row), so a "nothing changed?" shortcut of that shape is unsafe.
    # --full sends every row as new (and deletes nothing): the ledger side is then empty. A row
    # with an unconfirmed intent is sent again whatever its hash now is (its outcome is unknown:
    # the remote may hold the pending version, even when the warehouse went back to the confirmed
    # one), with the same idempotency key.
    ledger = (f"(SELECT l.row_key, l.unit_key, l.sent_hash, l.pending_hash FROM {ledger_table} l "
              f"WHERE l.mapping = '{feed}'{' AND 1 = 0' if full else ''})")
    # A row gone from the source is a delete when it was sent, or (not insert-only) when its outcome
    # is unknown: the remote may hold it, so the mapping's delete policy applies to it too.
    gone = "l.sent_hash IS NOT NULL" if mapping.mode == "insert" else "(l.sent_hash IS NOT NULL OR l.pending_hash IS NOT NULL)"
    warehouse.execute(
        f"CREATE OR REPLACE TEMPORARY TABLE {diff} AS SELECT COALESCE(s.migo_row_key, l.row_key) AS migo_row_key, "
        f"s.migo_unit_key, l.unit_key AS migo_ledger_unit, s.migo_row_hash, "
        f"CASE WHEN s.migo_row_key IS NULL THEN 'deleted' WHEN l.sent_hash IS NULL THEN 'new' "
        f"WHEN l.sent_hash = s.migo_row_hash THEN 'unchanged' ELSE 'changed' END AS migo_change, "
        f"CASE WHEN s.migo_row_key IS NOT NULL AND l.pending_hash IS NOT NULL THEN 1 ELSE 0 END AS migo_pending "
        f"FROM {snapped} s FULL OUTER JOIN {ledger} l ON l.row_key = s.migo_row_key "
        f"WHERE (s.migo_row_key IS NULL AND {gone}) OR (s.migo_row_key IS NOT NULL AND "
        f"(l.sent_hash IS NULL OR l.sent_hash <> s.migo_row_hash OR l.pending_hash IS NOT NULL))"
    )
    changed_rows = (f"SELECT migo_row_key, migo_unit_key, migo_change, migo_pending, migo_row_hash FROM {diff} "
                    f"WHERE migo_change <> 'deleted'")
    deleted_rows = f"SELECT migo_row_key, migo_ledger_unit FROM {diff} WHERE migo_change = 'deleted'"
    if unit == "row":
        chosen = changed_rows
    else:
        chosen = (f"SELECT s.migo_row_key, s.migo_unit_key, COALESCE(c.migo_change, 'unchanged') AS migo_change, "
                  f"COALESCE(c.migo_pending, 0) AS migo_pending, s.migo_row_hash FROM {snap} s "
                  f"LEFT JOIN ({changed_rows}) c ON c.migo_row_key = s.migo_row_key "
                  f"WHERE s.migo_unit_key IN (SELECT migo_unit_key FROM ({changed_rows}) x "
                  f"UNION SELECT migo_ledger_unit FROM ({deleted_rows}) y)")
    # One row of `chosen` per row key: a key held by several source rows (refused below as a
    # duplicate) must not multiply them in the join back, nor their rejects.
    chosen = (f"SELECT migo_row_key, MIN(migo_unit_key) AS migo_unit_key, MIN(migo_change) AS migo_change, "
              f"MAX(migo_pending) AS migo_pending, MIN(migo_row_hash) AS migo_row_hash FROM ({chosen}) d GROUP BY migo_row_key")
    select_cols = ", ".join(f"s.{q(c)}" for c in columns)
    # The key's own checks mark their rows: no key column NULL (check or no check), as the send table
    # is written, then no key held by several rows. The send table holds every source row of each key
    # it holds (joined back by key), so a key repeated in the source is repeated here: one count finds
    # whether any is (a window counting each key's rows as the table is written cost 10-30 ms of
    # DuckDB's CPU even on a few hundred rows), and only then are they marked.
    key_cols = ", ".join(q(c) for c in mapping.key)
    identity = list(dict.fromkeys([*mapping.key, *mapping.group_by]))
    missing, duplicate = f"missing key value in ({', '.join(identity)})", f"duplicate key ({key_cols})"
    key_invalid = (f"CASE WHEN {' OR '.join(f's.{q(c)} IS NULL' for c in identity)} THEN {_literal(missing)} "
                   f"ELSE CAST(NULL AS VARCHAR) END")
    warehouse.execute(
        f"CREATE OR REPLACE TEMPORARY TABLE {send} AS SELECT {select_cols}, k.migo_row_key, k.migo_row_hash, "
        f"k.migo_unit_key, k.migo_change, k.migo_pending, {key_invalid} AS migo_invalid FROM {source} s "
        f"JOIN ({chosen}) k ON {key_expr} = k.migo_row_key"
    )
    diverged = temp_name(name, "diverged") if mapping.mode == "insert" and not full else None
    # One statement: keys held by several rows; insert-only, whether any unit sent before can differ now
    # (a row to send already sent, or a sent row gone: see _insert_only)
    sent_before = (f", SUM(CASE WHEN migo_change IN ('changed', 'unchanged') THEN 1 ELSE 0 END), "
                   f"(SELECT COUNT(*) FROM {diff} WHERE migo_change = 'deleted')") if diverged is not None else ""
    found = warehouse.query(f"SELECT COUNT(*) - COUNT(DISTINCT migo_row_key){sent_before} FROM {send}")[0]
    if int(found[0] or 0):
        warehouse.execute(f"UPDATE {send} SET migo_invalid = {_literal(duplicate)} WHERE migo_invalid IS NULL AND "
                          f"migo_row_key IN (SELECT migo_row_key FROM {send} GROUP BY migo_row_key HAVING COUNT(*) > 1)")
    if diverged is not None:  # its refusals replace the key's: a unit sent before is reported as such
        _insert_only(warehouse, ledger_table, feed, snapped, send, diverged, deleted_rows,
                     sent_before=any(int(n or 0) for n in found[1:]))
    # The mapping's checks: failing rows are marked, never sent. A `unique` check on exactly the
    # key's columns marks no row the duplicate-key mark has not: skipped.
    conditions = [check_sql(warehouse, c) for c in mapping.checks
                  if not (c.unique and set(c.unique) == set(mapping.key))]
    for group in _runs(conditions):
        # replace, not format: a check's own SQL may hold braces. A `unique` check counts only
        # the values the send table holds (the only rows it marks), not every value of the source.
        wheres = [cond.replace("{snapshot}", source).replace("{about_to_send}", send) for cond, _r, _p in group]
        if len(group) == 1:
            reason = group[0][1]
        else:  # the reason of the first condition a row fails, as one UPDATE each in turn would give
            reason = "CASE " + " ".join(f"WHEN ({w}) THEN {r}" for w, (_c, r, _p) in zip(wheres, group, strict=True)) + " END"
        warehouse.execute(f"UPDATE {send} SET migo_invalid = {reason} WHERE migo_invalid IS NULL AND "
                          f"({' OR '.join(f'({w})' for w in wheres)})", [p for _c, _r, ps in group for p in ps])
    plan = PushPlan(mapping=name, snapshot_table=snap if unit != "row" else "", send_table=send, diff_table=diff,
                    diverged_table=diverged)
    # the counts in one statement: the source's rows, the ledger's pending rows, the rows gone from the
    # source, the units reported before (insert-only), what the send table holds
    reported = f"(SELECT COUNT(*) FROM {diverged} WHERE reported = 1)" if diverged is not None else "0"
    total = (f"(SELECT COUNT(*) FROM {snap if unit != 'row' else source})" if unit != "row" or count_source
             else "CAST(NULL AS INTEGER)")
    counts = warehouse.query(
        f"SELECT {total}, "
        f"(SELECT COUNT(*) FROM {ledger_table} WHERE mapping = '{feed}' AND pending_hash IS NOT NULL), "
        f"(SELECT COUNT(*) FROM {diff} WHERE migo_change = 'deleted'), {reported}, "
        f"SUM(CASE WHEN migo_change = 'new' THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN migo_change = 'changed' OR (migo_change = 'unchanged' AND migo_pending = 1) THEN 1 ELSE 0 END), "
        f"COUNT(DISTINCT migo_unit_key), "
        f"SUM(CASE WHEN migo_invalid IS NOT NULL THEN 1 ELSE 0 END), COUNT(*) FROM {send}"
    )[0]
    plan.total = None if counts[0] is None else int(counts[0])
    plan.in_flight, gone_rows = int(counts[1] or 0), int(counts[2] or 0)
    plan.diverged_reported = int(counts[3] or 0)
    counts = counts[4:]
    plan.new, plan.changed, plan.units, plan.invalid, plan.rows_to_send = (int(x or 0) for x in counts)
    if diverged is not None and gone_rows:
        # an insert-only remote is never asked to delete: a vanished row of a unit sent before is
        # reported (once), with the remedy
        plan.vanished_keys = [(str(r[0]), str(r[1])) for r in warehouse.query(
            f"SELECT migo_row_key, migo_ledger_unit FROM ({deleted_rows}) d WHERE migo_ledger_unit IN "
            f"(SELECT unit_key FROM {diverged} WHERE reported = 0) ORDER BY 2, 1")]
    elif diverged is None and not full and gone_rows:
        plan.deleted_keys = [(str(r[0]), str(r[1])) for r in warehouse.query(f"{deleted_rows} ORDER BY 1")]
    plan.deleted = len(plan.deleted_keys) + len(plan.vanished_keys)
    if plan.in_flight and not full:  # (the usual case, nothing in flight, costs nothing more)
        plan.pending_vanished = _pending_vanished(warehouse, ledger_table, mapping, unit, snapped, send)
        if mapping.mode == "insert":
            plan.pending_gone = [(str(r[0]), str(r[1])) for r in warehouse.query(
                f"SELECT l.row_key, l.unit_key FROM {ledger_table} l LEFT JOIN {snapped} x ON x.migo_row_key = l.row_key "
                f"WHERE l.mapping = '{feed}' AND l.pending_hash IS NOT NULL AND l.sent_hash IS NULL "
                f"AND x.migo_row_key IS NULL AND l.unit_key IN (SELECT DISTINCT y.migo_unit_key FROM {send} y "
                f"WHERE y.migo_unit_key IS NOT NULL) ORDER BY 2, 1")]
    return plan


def _pending_vanished(warehouse: Warehouse, led: str, mapping: Mapping, unit: Unit, snap: str,
                      send: str) -> list[tuple[str, str, str, str | None, bool]]:
    """Pending rows (sent by a run that never learned the outcome) whose warehouse row is gone and
    that no unit sent by this run settles: without them nothing would ever settle them.

    Insert-only: every pending row of a unit never confirmed and now without a single row (the
    remote is asked whether it holds it; a vanished row of a unit sent before is reported as
    such, see _insert_only). Other modes: pending rows that are deletes no send of this run acts
    on (an upsert row; a group with no row left), whose intent is then dropped: the mapping's
    delete policy for a row gone from the warehouse applies to them as to a confirmed one.
    """
    feed = mapping.feed
    if mapping.mode == "insert":
        where = (f"l.sent_hash IS NULL AND l.unit_key NOT IN (SELECT DISTINCT x.migo_unit_key FROM {snap} x "
                 f"WHERE x.migo_unit_key IS NOT NULL)")
    elif unit == "object" or (mapping.mode == "mirror" and unit == "row"):
        return []  # deleted like a sent row: the whole object is rewritten, or a delete is sent
    else:
        where = (f"l.row_key NOT IN (SELECT x.migo_row_key FROM {snap} x WHERE x.migo_row_key IS NOT NULL) AND "
                 f"l.unit_key NOT IN (SELECT DISTINCT y.migo_unit_key FROM {send} y WHERE y.migo_unit_key IS NOT NULL)")
    rows = warehouse.query(
        f"SELECT l.row_key, l.unit_key, l.idempotency_key, l.locator, "
        f"CASE WHEN l.sent_hash IS NULL THEN 0 ELSE 1 END FROM {led} l "
        f"WHERE l.mapping = '{feed}' AND l.pending_hash IS NOT NULL AND {where} ORDER BY 2, 1")
    return [(str(r[0]), str(r[1]), str(r[2]), None if r[3] is None else str(r[3]), bool(r[4])) for r in rows]


INSERT_ONLY_CHANGED = "already sent and since changed: this object is insert-only (post a reversing entry)"
INSERT_ONLY_DELETED = "already sent and since deleted from the warehouse: this object is insert-only (post a reversing entry)"
LEDGER_DIFFERS = "~ledger-differs"  # sent_hash of a unit the remote holds with other values than those sent
# sent_hash of a unit the remote holds (or may hold) as learnt once its rows were gone from the
# warehouse: never compared with them, so asked again (like LEDGER_DIFFERS) should they come back
HELD_UNCOMPARED = "~held-uncompared"
PENDING_HELD_DELETED = ("posted by a run whose answer was lost (the ledger holds it as {remote_id}) and since deleted "
                        "from the warehouse: this object is insert-only (post a reversing entry)")
PENDING_UNKNOWN_DELETED = ("sent by a run whose answer was lost and since deleted from the warehouse; {system} cannot "
                           "be asked whether it holds it: check there, and if it does, post a reversing entry "
                           "(this object is insert-only)")
REFUSED_DELETED = "~deleted"  # refused_hash of a vanished row whose disappearance was reported


def _insert_only(warehouse: Warehouse, led: str, feed: str, snap: str, send: str, diverged: str,
                 deleted_rows: str, *, sent_before: bool = True) -> None:
    """Insert-only remotes (a posted journal) keep what was first sent. A unit sent before whose
    rows changed, appeared or vanished since is refused, never resent under its old idempotency
    key (the remote would take it as a duplicate, silently dropping the change), and reported
    ONCE: the ledger's `refused_hash` remembers each row as it was when reported (`~deleted` for
    a vanished one), so a rerun that finds the unit exactly so reports nothing new. A unit the
    remote holds with other values than the warehouse (`sent_hash` = `~ledger-differs`) is asked
    again (the look-up before posting) when the warehouse has moved since it was reported.

    Without `sent_before` (every row to send is new, and no sent row is gone: a first send, the
    nightly new journals) no unit can differ: `diverged` is made empty, not computed (9-10 ms of
    DuckDB's CPU on the demo's 1,532 journal lines, before the push's first request).
    """
    if not sent_before:
        warehouse.execute(f"CREATE OR REPLACE TEMPORARY TABLE {diverged} "
                          "(unit_key VARCHAR, reported INTEGER, differs INTEGER)")
        return
    vanished = (f"SELECT l.unit_key, l.row_key, '{REFUSED_DELETED}' AS now_hash, l.refused_hash, 0 AS differs "
                f"FROM {led} l LEFT JOIN {snap} s ON s.migo_row_key = l.row_key WHERE l.mapping = '{feed}' "
                f"AND l.sent_hash IS NOT NULL AND s.migo_row_key IS NULL")  # snap: a table or a subquery
    # Every row (present or vanished) of every unit sent before that is not exactly as sent now.
    warehouse.execute(
        f"CREATE OR REPLACE TEMPORARY TABLE {diverged} AS SELECT unit_key, "
        f"CASE WHEN SUM(CASE WHEN refused_hash IS NOT NULL AND refused_hash = now_hash THEN 0 ELSE 1 END) = 0 "
        f"THEN 1 ELSE 0 END AS reported, MAX(differs) AS differs FROM ("
        f"SELECT d.migo_unit_key AS unit_key, d.migo_row_key AS row_key, d.migo_row_hash AS now_hash, "
        f"l.refused_hash, CASE WHEN l.sent_hash IN ('{LEDGER_DIFFERS}', '{HELD_UNCOMPARED}') THEN 1 ELSE 0 END AS differs "
        f"FROM {send} d LEFT JOIN {led} l ON l.mapping = '{feed}' AND l.row_key = d.migo_row_key "
        f"UNION ALL {vanished}) x WHERE unit_key IN (SELECT migo_unit_key FROM {send} "
        f"WHERE migo_change IN ('changed', 'unchanged') UNION SELECT migo_ledger_unit FROM ({deleted_rows}) y "
        f"UNION SELECT unit_key FROM ({vanished}) z) GROUP BY unit_key")
    if not int(warehouse.query(f"SELECT COUNT(*) FROM {diverged}")[0][0] or 0):
        return  # no unit sent before differs now (a first send, an unchanged rerun): the three below touch nothing
    # as reported before: nothing new to say or send
    warehouse.execute(f"DELETE FROM {send} WHERE migo_unit_key IN (SELECT unit_key FROM {diverged} WHERE reported = 1)")
    # the remote holds other values than the warehouse had: ask it again now the warehouse moved
    warehouse.execute(f"UPDATE {send} SET migo_pending = 1 WHERE migo_unit_key IN "
                      f"(SELECT unit_key FROM {diverged} WHERE differs = 1)")
    warehouse.execute(f"UPDATE {send} SET migo_invalid = ? WHERE migo_unit_key IN "
                      f"(SELECT unit_key FROM {diverged} WHERE differs = 0)", [INSERT_ONLY_CHANGED])


def drop_plan(warehouse: Warehouse, plan: PushPlan) -> None:
    for table in (plan.send_table, plan.diff_table, plan.snapshot_table, plan.diverged_table):
        if table:
            warehouse.execute(f"DROP TABLE IF EXISTS {table}")
