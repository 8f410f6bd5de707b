"""Reconciliation: what the warehouse says per account and period versus what the ledger holds.

The warehouse side is one aggregate query over the push mapping's relation, run in the warehouse
(it scales with Snowflake, not with this machine). The ledger side is the ledger's own movement
per account over each of its periods (`LedgerPort.read_balances`). The report lists every
(account, period) pair either side knows, with the difference; it is plain data the engine
records in the run (`ReconcileReport.as_dict()`).

Per feed (after each push, and per mapping in `migo-sync reconcile SYSTEM`), the ledger side is
only the entries of the journals the feed's relation names (the ledger lines whose reference is
one of the relation's references): two feeds into one ledger each reconcile against their own
journals, never against each other's. The whole ledger is reconciled against all the feeds
together (`reconcile_ledger`, in `migo-sync reconcile SYSTEM`): there, journals posted to the
same accounts by other means show up as differences, as do journals the pre-send checks
rejected (those also show per feed, as missing in the ledger). That is the point.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from migo_sync.errors import ConfigError, MigoSyncError
from migo_sync.ledger.checks import Chart, Period
from migo_sync.ledger.journal import JournalLayout, to_decimal
from migo_sync.ledger.port import LedgerPort, as_ledger
from migo_sync.mapping.model import FieldSpec, Mapping
from migo_sync.redact import redact
from migo_sync.warehouse.base import Warehouse

Status = Literal["match", "differs", "missing_in_ledger", "only_in_ledger"]


@dataclass(frozen=True, slots=True)
class ReconcileRow:
    """One account in one period: warehouse total, ledger total (both debit-positive)."""

    account: str
    period: str
    warehouse: Decimal
    ledger: Decimal

    @property
    def difference(self) -> Decimal:
        return self.warehouse - self.ledger

    @property
    def status(self) -> Status:
        if self.warehouse == self.ledger:
            return "match"
        if self.ledger == 0:
            return "missing_in_ledger"
        if self.warehouse == 0:
            return "only_in_ledger"
        return "differs"

    def as_dict(self) -> dict[str, str]:
        return {"account": self.account, "period": self.period, "warehouse": str(self.warehouse),
                "ledger": str(self.ledger), "difference": str(self.difference), "status": self.status}


@dataclass
class ReconcileReport:
    """The outcome of one reconciliation; `ok` when nothing differs."""

    system: str
    mapping: str
    periods: list[str]
    rows: list[ReconcileRow] = field(default_factory=list)

    @property
    def differences(self) -> list[ReconcileRow]:
        return [row for row in self.rows if row.status != "match"]

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe (decimals as strings): what the run records and `--json` prints."""
        return {"system": self.system, "mapping": self.mapping, "periods": self.periods, "ok": self.ok,
                "compared": len(self.rows), "differences": [row.as_dict() for row in self.differences],
                "rows": [row.as_dict() for row in self.rows]}


def _find(mapping: Mapping, remote: str | None) -> FieldSpec | None:
    return next((f for f in mapping.fields if remote is not None and f.remote == remote), None)


def _field(mapping: Mapping, remote: str | None, role: str) -> FieldSpec:
    spec = _find(mapping, remote)
    if spec is None:
        raise ConfigError(f"{mapping.label}: cannot reconcile: no field maps to {remote} ({role})")
    return spec


def _column_sql(warehouse: Warehouse, spec: FieldSpec) -> str:
    """The SQL value of one mapped field (a column, or its constant), with `sign` transforms."""
    if spec.column is None:
        value = spec.constant
        base = str(value) if isinstance(value, int | Decimal) else "'" + str(value).replace("'", "''") + "'"
    else:
        base = warehouse.quote(spec.column)
    for step in spec.transform:
        if step.sign == -1:
            base = f"(-({base}))"
    return base


def signed_amount_sql(warehouse: Warehouse, mapping: Mapping, layout: JournalLayout) -> str:
    """SQL for a line's signed amount (debit positive), whichever amount shape the layout uses."""
    if layout.amount is not None:
        amount = _column_sql(warehouse, _field(mapping, layout.amount, "amount"))
        side = _find(mapping, layout.side)
        if side is None:
            return f"CAST({amount} AS DECIMAL(38, 6))"
        marker = f"LOWER(CAST({_column_sql(warehouse, side)} AS VARCHAR))"
        return (f"CASE WHEN {marker} IN ('-1', 'credit', 'cr', 'c') THEN -ABS(CAST({amount} AS DECIMAL(38, 6))) "
                f"ELSE ABS(CAST({amount} AS DECIMAL(38, 6))) END")
    debit = _column_sql(warehouse, _field(mapping, layout.debit, "debit"))
    credit = _column_sql(warehouse, _field(mapping, layout.credit, "credit"))
    return f"(COALESCE(CAST({debit} AS DECIMAL(38, 6)), 0) - COALESCE(CAST({credit} AS DECIMAL(38, 6)), 0))"


def relation_sql(warehouse: Warehouse, mapping: Mapping) -> str:
    if mapping.warehouse.table is not None:
        return warehouse.quote(mapping.warehouse.table)
    return f"({mapping.warehouse.query}) AS migo_src"


def _date_literal(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def warehouse_range(warehouse: Warehouse, mapping: Mapping, layout: JournalLayout) -> tuple[date, date] | None:
    """First and last posting date in the push relation (None when it is empty)."""
    day = _column_sql(warehouse, _field(mapping, layout.posting_date, "posting date"))
    rows = warehouse.query(f"SELECT MIN(CAST({day} AS DATE)), MAX(CAST({day} AS DATE)) "
                           f"FROM {relation_sql(warehouse, mapping)}")
    if not rows or rows[0][0] is None:
        return None
    return rows[0][0], rows[0][1]


def warehouse_totals(warehouse: Warehouse, mapping: Mapping, layout: JournalLayout,
                     periods: Sequence[Period]) -> dict[tuple[str, str], Decimal]:
    """{(period key, account): signed total} computed in the warehouse, one query for all periods."""
    if not periods:
        return {}
    day = _column_sql(warehouse, _field(mapping, layout.posting_date, "posting date"))
    account = _column_sql(warehouse, _field(mapping, layout.account, "account"))
    amount = signed_amount_sql(warehouse, mapping, layout)
    relation = relation_sql(warehouse, mapping)
    parts = [
        f"SELECT {index} AS period_index, CAST({account} AS VARCHAR) AS account, SUM({amount}) AS total "
        f"FROM {relation} WHERE CAST({day} AS DATE) BETWEEN {_date_literal(p.start)} AND {_date_literal(p.end)} "
        f"GROUP BY CAST({account} AS VARCHAR)"
        for index, p in enumerate(periods)
    ]
    totals: dict[tuple[str, str], Decimal] = {}
    for index, account_no, total in warehouse.query(" UNION ALL ".join(parts)):
        if total is not None:
            totals[(periods[int(index)].key, str(account_no))] = to_decimal(total, "warehouse total")
    return totals


def warehouse_references(warehouse: Warehouse, mapping: Mapping, layout: JournalLayout) -> set[str] | None:
    """The journal references the feed's relation holds (None when no field maps the reference)."""
    spec = _find(mapping, layout.reference)
    if spec is None:
        return None
    value = _column_sql(warehouse, spec)
    rows = warehouse.query(f"SELECT DISTINCT CAST({value} AS VARCHAR) FROM {relation_sql(warehouse, mapping)} "
                           f"WHERE {value} IS NOT NULL")
    return {str(r[0]) for r in rows}


PERIODS_AT_ONCE = 2  # ledger reads in flight at once: within the smallest in-flight cap of any ledger


def per_period(periods: Sequence[Period], read: Callable[[Period], dict[tuple[str, str], Decimal]]
               ) -> dict[tuple[str, str], Decimal]:
    """`read` for every period, PERIODS_AT_ONCE at a time (the periods' reads do not depend on one
    another: a rerun's comparison costs one round trip per two periods, not one per period); merged
    in period order."""
    if len(periods) <= 1:
        found = [read(period) for period in periods]
    else:
        with ThreadPoolExecutor(max_workers=PERIODS_AT_ONCE, thread_name_prefix="ledger-read") as pool:
            # in the caller's context: the requests are counted to the reconciliation (RequestStats.tallied)
            found = [f.result() for f in [pool.submit(contextvars.copy_context().run, read, p) for p in periods]]
    totals: dict[tuple[str, str], Decimal] = {}
    for part in found:
        for key, amount in part.items():
            totals[key] = totals.get(key, Decimal(0)) + amount
    return totals


def feed_ledger_totals(port: LedgerPort, periods: Sequence[Period],
                       references: set[str]) -> dict[tuple[str, str], Decimal]:
    """{(period key, account): debits - credits} of the ledger lines whose journal reference is
    one of `references` (the feed's own journals), streamed page by page."""
    def read(period: Period) -> dict[tuple[str, str], Decimal]:
        totals: dict[tuple[str, str], Decimal] = {}
        for lines in port.read_journal_lines(period.start, period.end):
            for line in lines:
                if line.reference is not None and str(line.reference) in references:
                    key = (period.key, line.account)
                    totals[key] = totals.get(key, Decimal(0)) + line.amount
        return totals

    return per_period(periods, read)


def ledger_totals(port: LedgerPort, periods: Sequence[Period]) -> dict[tuple[str, str], Decimal]:
    """{(period key, account): debits - credits} as the ledger holds them."""
    def read(period: Period) -> dict[tuple[str, str], Decimal]:
        return {(period.key, balance.account): balance.net for balance in port.read_balances(period)
                if balance.debits or balance.credits}

    return per_period(periods, read)


def select_periods(chart: Chart, keys: Sequence[str] | None, span: tuple[date, date] | None) -> list[Period]:
    """The ledger periods to compare: the ones asked for, or every one the warehouse data touches."""
    if keys:
        found = [chart.period(key) for key in keys]
        unknown = [key for key, period in zip(keys, found, strict=True) if period is None]
        if unknown:
            known = ", ".join(p.key for p in chart.periods) or "none"
            raise ConfigError(f"unknown ledger period {', '.join(unknown)} (known: {known})")
        return [p for p in found if p is not None]
    if span is None:
        return []
    first, last = span
    return [p for p in chart.periods if p.end >= first and p.start <= last]


def _report(port: LedgerPort, name: str, chosen: Sequence[Period], scale: int,
            ours: dict[tuple[str, str], Decimal], theirs: dict[tuple[str, str], Decimal]) -> ReconcileReport:
    quantum = Decimal(1).scaleb(-scale)
    order = {p.key: i for i, p in enumerate(chosen)}
    rows = [
        ReconcileRow(account=account, period=period,
                     warehouse=ours.get((period, account), Decimal(0)).quantize(quantum),
                     ledger=theirs.get((period, account), Decimal(0)).quantize(quantum))
        for period, account in sorted(set(ours) | set(theirs), key=lambda pa: (order[pa[0]], pa[1]))
    ]
    return ReconcileReport(system=port.name, mapping=name, periods=[p.key for p in chosen], rows=rows)


@dataclass
class FeedReconciliation:
    """One feed's reconciliation in its two halves: what the warehouse says about the relation
    (its posting dates and references, read on the run's connection when it begins), then the
    ledger side (`read_ledger`: remote reads only, no warehouse, so it may run on a thread beside
    the run's other work), then the warehouse totals over the periods the ledger names (`finish`)."""

    mapping: Mapping
    port: LedgerPort
    layout: JournalLayout
    periods: Sequence[str] | None  # the periods asked for; None: every one the relation touches
    span: tuple[date, date] | None
    references: set[str] | None

    def read_ledger(self, chart: Chart | None = None) -> tuple[list[Period], dict[tuple[str, str], Decimal]]:
        """The periods compared and the ledger's totals over them (the feed's own journals, or the
        whole ledger without a mapped reference)."""
        chart = chart or self.port.chart()  # the run's chart: the checks read it already
        chosen = select_periods(chart, self.periods, self.span)
        theirs = (ledger_totals(self.port, chosen) if self.references is None
                  else feed_ledger_totals(self.port, chosen, self.references))
        return chosen, theirs

    def unchanged(self, warehouse: Warehouse) -> bool:
        """Whether the relation still spans the same dates and names the same references: then the
        ledger side read earlier is the one a read now would select (the ledger lines of the same
        periods and journals)."""
        again = begin(warehouse, self.mapping, self.port, periods=self.periods)
        return (again.span, again.references) == (self.span, self.references)

    def finish(self, warehouse: Warehouse, chosen: Sequence[Period],
               theirs: dict[tuple[str, str], Decimal]) -> ReconcileReport:
        ours = warehouse_totals(warehouse, self.mapping, self.layout, chosen)
        return _report(self.port, self.mapping.name, chosen, self.layout.scale, ours, theirs)


def begin(warehouse: Warehouse, mapping: Mapping, port: LedgerPort, *,
          periods: Sequence[str] | None = None) -> FeedReconciliation:
    """The warehouse's half that decides what the ledger side reads (see FeedReconciliation)."""
    layout = port.journal_layout(mapping)
    span = None if periods else warehouse_range(warehouse, mapping, layout)
    return FeedReconciliation(mapping, port, layout, periods, span, warehouse_references(warehouse, mapping, layout))


def reconcile(warehouse: Warehouse, mapping: Mapping, port: LedgerPort, *,
              periods: Sequence[str] | None = None, chart: Chart | None = None) -> ReconcileReport:
    """Compare the push relation of `mapping` with the ledger entries of its own journals (by
    reference), per account and period; without a mapped reference, with the whole ledger."""
    feed = begin(warehouse, mapping, port, periods=periods)
    return feed.finish(warehouse, *feed.read_ledger(chart))


def reconcile_ledger(warehouse: Warehouse, mappings: Sequence[Mapping], port: LedgerPort, *,
                     periods: Sequence[str] | None = None, chart: Chart | None = None) -> ReconcileReport:
    """The whole ledger (its own balances) against every feed's relation together, over every
    period any of them touches: what the feeds do not explain is a difference."""
    chart = chart or port.chart()
    layouts = [(m, port.journal_layout(m)) for m in mappings]
    spans = [] if periods else [s for m, lay in layouts if (s := warehouse_range(warehouse, m, lay)) is not None]
    span = (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None
    chosen = select_periods(chart, periods, span)
    ours: dict[tuple[str, str], Decimal] = {}
    for mapping, layout in layouts:
        for key, total in warehouse_totals(warehouse, mapping, layout, chosen).items():
            ours[key] = ours.get(key, Decimal(0)) + total
    scale = max((lay.scale for _m, lay in layouts), default=2)
    return _report(port, "+".join(m.name for m in mappings), chosen, scale, ours, ledger_totals(port, chosen))


def reconcile_after_push(warehouse: Warehouse, adapter: Any, mapping: Mapping, *,
                         periods: Sequence[str] | None = None) -> dict[str, Any] | None:
    """What the engine calls after every push: for a push of journals to a ledger, the
    reconciliation as JSON-safe data to record in the run (`ReconcileReport.as_dict()`; its
    "differences" list is empty when everything matches); None for any other mapping."""
    port = ledger_of(adapter, mapping)
    if port is None:
        return None
    try:
        return reconcile(warehouse, mapping, port, periods=periods).as_dict()
    except MigoSyncError as exc:  # the run is recorded all the same, as not reconciled
        return not_reconciled(port, mapping, exc, periods)


def ledger_of(adapter: Any, mapping: Mapping) -> LedgerPort | None:
    """The ledger a push of journals posts to; None for any other mapping (nothing to reconcile)."""
    port = as_ledger(adapter)
    if port is None or mapping.direction != "push" or mapping.object != port.journal_object:
        return None
    return port


def not_reconciled(port: LedgerPort, mapping: Mapping, exc: MigoSyncError,
                   periods: Sequence[str] | None = None) -> dict[str, Any]:
    """A reconciliation that could not be done, as the run records it (its one line, redacted)."""
    message = redact(str(exc))
    return {"system": port.name, "mapping": mapping.name, "periods": list(periods or []), "ok": False,
            "error": message, "compared": 0, "differences": [{"status": "error", "message": message}], "rows": []}
