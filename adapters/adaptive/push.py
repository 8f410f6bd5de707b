"""Push side: warehouse records → cells → checks → pipe-delimited import rows → unit results.

A record is one cell: `account`, `level`, `period` (YYYY-MM, MM/YYYY or a date), `value` and
optional `dimensions.<Name>` fields. Cells of one account x level x dimension combination share
one import row (`Account|Level|dims…|MM/YYYY…`); a blank in a row leaves that cell untouched, so
a row carries only the months that changed and cells never sent are never erased.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from migo_sync.adapter import PushUnit, UnitResult
from migo_sync.adapters.adaptive import periods
from migo_sync.adapters.adaptive.client import AdaptiveClient, ImportResult
from migo_sync.errors import FatalRemoteError, RecordError

log = logging.getLogger("migo_sync.adapters.adaptive")
DIM_PREFIX = "dimensions."
REQUIRED = ("account", "level", "period", "value")
ROW_NUMBER = re.compile(r"^Row (\d+):")
# A whole-import refusal that no resend fixes: the mapping or the settings are wrong.
SYSTEMIC = frozenset({"error-import-too-large", "error-invalid-header", "error-invalid-plan-or-actuals",
                      "error-invalid-sheet", "error-invalid-version", "error-malformed-request"})

RowKey = tuple[str, str, tuple[str, ...]]  # account, level, dimension values (mapping order)


@dataclass(frozen=True, slots=True)
class Cell:
    account: str
    level: str
    dims: tuple[str, ...]
    period: int
    value: Decimal

    @property
    def row(self) -> RowKey:
        return self.account, self.level, self.dims


def mapping_dimensions(remotes: Sequence[str]) -> list[str]:
    """Dimension names a mapping pushes or pulls: its `dimensions.<Name>` remote fields."""
    return [r[len(DIM_PREFIX):] for r in remotes if r.startswith(DIM_PREFIX) and len(r) > len(DIM_PREFIX)]


def _text(record: dict[str, Any], name: str, what: str) -> str:
    value = record.get(name)
    if value is None or str(value).strip() == "":
        raise RecordError(what, f"{what} is empty")
    text = str(value).strip()
    if "|" in text:
        raise RecordError(what, f"{what} '{text}' contains '|', the import delimiter; clean it in the warehouse")
    if "\n" in text or "\r" in text:
        raise RecordError(what, f"{what} '{text[:40]}' contains a line break")
    return text


def to_cell(record: dict[str, Any], dims: Sequence[str], delete: bool = False) -> Cell:
    """One record as a cell; RecordError(reason) when it cannot be sent as it is."""
    account = _text(record, "account", "account")
    level = _text(record, "level", "level")
    values = tuple("" if record.get(DIM_PREFIX + d) in (None, "") else _text(record, DIM_PREFIX + d, f"dimension {d}")
                   for d in dims)
    try:
        period = periods.parse(record.get("period"))
    except ValueError as exc:
        raise RecordError("period", str(exc)) from exc
    return Cell(account, level, values, period, Decimal(0) if delete else _amount(record.get("value")))


def _amount(raw: object) -> Decimal:
    if raw is None:
        raise RecordError("value", "value is empty (NULL); push 0 to clear a cell")
    if isinstance(raw, bool):
        raise RecordError("value", f"value {raw!r} is not a number")
    if isinstance(raw, Decimal):
        value = raw
    else:
        text = repr(raw) if isinstance(raw, float) else str(raw).strip()
        if "|" in text:
            raise RecordError("value", f"value '{text}' contains '|', the import delimiter")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise RecordError("value", f"value '{text}' is not a number") from None
    if not value.is_finite():
        raise RecordError("value", f"value '{raw}' is not a finite number")
    return value


def wire_value(value: Decimal) -> str:
    text = format(value, "f")
    return "0" if text in ("-0", "") else text


# --- checks against the live metadata --------------------------------------------------------------

@dataclass
class Target:
    """What the pre-send checks know of the target (from exportVersions/Accounts/Levels/Dimensions)."""

    version: dict[str, Any]
    accounts: dict[str, dict[str, Any]]
    levels: dict[str, dict[str, Any]]
    dimensions: dict[str, dict[str, Any]]  # name → {"auto_create": bool, "values": set[str]}
    sheet: dict[str, Any] | None = None
    locked_warned: bool = field(default=False)

    def problems(self, cell: Cell, dims: Sequence[str]) -> list[str]:
        found: list[str] = []
        name = self.version["name"]
        locked = bool(self.version["is_locked"])  # then nothing is importable: say why once, below
        account = self.accounts.get(cell.account)
        if account is None:
            found.append(f"account '{cell.account}' does not exist in Adaptive")
        elif account["is_rollup"]:
            found.append(f"account '{cell.account}' is a rollup account; Adaptive imports only into leaf accounts")
        elif account.get("is_importable") is False and not locked:
            found.append(f"account '{cell.account}' is not importable into version '{name}'")
        elif self.sheet is None and account.get("owning_sheet_id") is not None:
            found.append(f"account '{cell.account}' belongs to a cube sheet; push it with sheet_type: cube")
        elif self.sheet is not None and account.get("owning_sheet_id") != self.sheet["id"]:
            found.append(f"account '{cell.account}' is not an account of cube sheet '{self.sheet['name']}'")
        level = self.levels.get(cell.level)
        if level is None:
            found.append(f"level '{cell.level}' does not exist in Adaptive")
        elif level["is_rollup"]:
            found.append(f"level '{cell.level}' is a rollup level; Adaptive imports only into leaf levels")
        elif level.get("is_importable") is False and not locked:
            found.append(f"level '{cell.level}' is not importable into version '{name}'")
        for dim, value in zip(dims, cell.dims, strict=True):
            known = self.dimensions[dim]
            if value and value not in known["values"] and not known["auto_create"]:
                found.append(f"'{value}' is not a value of dimension '{dim}'")
        month = periods.to_iso(cell.period)
        start, end = self.version.get("start"), self.version.get("end")
        if locked:
            found.append(f"month {month} is inside locked version '{name}'; unlock it in Adaptive and rerun")
        elif (start and month < start) or (end and month > end):
            found.append(f"month {month} is outside version '{name}' ({start or '…'}..{end or '…'})")
        return found


def check_units(target: Target, units: Sequence[PushUnit], dims: Sequence[str]) -> dict[str, str]:
    """{unit key: reason} for every unit that must not be sent; nothing rejected is ever sent."""
    rejected: dict[str, str] = {}
    locked = 0
    for unit in units:
        reasons: dict[str, None] = {}
        for record in unit.records:
            try:
                cell = to_cell(record, dims, unit.delete)
            except RecordError as exc:
                reasons.setdefault(exc.reason, None)
                continue
            for reason in target.problems(cell, dims):
                reasons.setdefault(reason, None)
        if reasons:
            rejected[unit.key] = _join(list(reasons))
            locked += any("locked version" in r for r in reasons)
    if locked:
        log.warning("adaptive: %d slice(s) not sent: version '%s' is locked (see the rejects)",
                    locked, target.version["name"])
    return rejected


def _join(reasons: list[str], limit: int = 5) -> str:
    head = "; ".join(reasons[:limit])
    return head + (f"; and {len(reasons) - limit} more" if len(reasons) > limit else "")


# --- write: pivot, send, attribute the answer ------------------------------------------------------

@dataclass
class Row:
    key: RowKey
    cells: dict[int, Decimal] = field(default_factory=dict)
    units: set[str] = field(default_factory=set)


def pivot(units: Sequence[PushUnit], dims: Sequence[str], failed: dict[str, str]) -> list[Row]:
    """Cells of all units → one Row per account x level x dims. Units that cannot be sent land in
    `failed`; a cell given twice with two values fails both units (which value would win?)."""
    rows: dict[RowKey, Row] = {}
    for unit in units:
        try:
            cells = [to_cell(r, dims, unit.delete) for r in unit.records]
        except RecordError as exc:
            failed[unit.key] = exc.reason
            continue
        for cell in cells:
            row = rows.setdefault(cell.row, Row(cell.row))
            old = row.cells.get(cell.period)
            if old is not None and old != cell.value:
                for other in row.units:
                    failed.setdefault(other, f"cell {cell.account}/{cell.level}/{periods.to_iso(cell.period)} "
                                             "is given twice with different values")
                failed.setdefault(unit.key, "a cell of this unit is given twice with different values")
            row.cells[cell.period] = cell.value
            row.units.add(unit.key)
    kept = [row for _, row in sorted(rows.items()) if not (row.units & failed.keys())]
    for row in rows.values():
        if row.units & failed.keys():  # not sent: every unit with a cell in it is not done either
            for unit_key in row.units:
                failed.setdefault(unit_key, "shares an import row with a refused cell; resent next run")
    return kept


def render(rows: Sequence[Row], dims: Sequence[str], cube: bool) -> tuple[list[str], list[str]]:
    """The header and pipe-delimited rows. Cube sheets take dims first (dims|Account|Level|periods)."""
    span = sorted({p for row in rows for p in row.cells})
    months = [periods.to_wire(p) for p in span]
    header = [*dims, "Account", "Level", *months] if cube else ["Account", "Level", *dims, *months]
    lines = []
    for row in rows:
        account, level, values = row.key
        cells = [wire_value(row.cells[p]) if p in row.cells else "" for p in span]
        head = [*values, account, level] if cube else [account, level, *values]
        lines.append("|".join([*head, *cells]))
    return header, lines


def send(client: AdaptiveClient, rows: list[Row], dims: Sequence[str], *, version: str, plan_or_actuals: str,
         sheet: str | None) -> dict[str, str]:
    """Import `rows` (one call, resent without the rows Adaptive refused by number when it refused
    the whole import for them). Returns {unit key: reason} for units with a row not imported."""
    failed: dict[str, str] = {}
    pending = list(rows)
    while pending:
        header, lines = render(pending, dims, sheet is not None)
        result = client.import_data(version=version, plan_or_actuals=plan_or_actuals, header=header, rows=lines,
                                    sheet=sheet)
        by_row, general = _row_errors(result, len(pending))
        for number, text in by_row.items():
            for unit in pending[number - 1].units:
                failed.setdefault(unit, f"Adaptive refused the row: {text}")
        if result.success:
            expected = len(pending) - len(by_row)
            if result.rows_imported is not None and result.rows_imported != expected:
                reason = (f"Adaptive reported {result.rows_imported} of {expected} rows imported; "
                          "resent next run (cells are overwritten, never doubled)")
                for i, row in enumerate(pending, start=1):
                    if i not in by_row:
                        for unit in row.units:
                            failed.setdefault(unit, reason)
            return failed
        if by_row:  # refused whole because of these rows: nothing was imported, resend the rest
            pending = [row for i, row in enumerate(pending, start=1) if i not in by_row]
            continue
        first = general[0] if general else None
        key, text = (first.key, first.text) if first else ("", "no message")
        if key in SYSTEMIC:
            raise FatalRemoteError("adaptive", f"import refused: {text} ({key})", code=key)
        for row in pending:
            for unit in row.units:
                failed.setdefault(unit, f"Adaptive refused the import: {text}")
        return failed
    return failed


def _row_errors(result: ImportResult, count: int) -> tuple[dict[int, str], list[Any]]:
    by_row: dict[int, str] = {}
    general = []
    for message in result.messages:
        match = ROW_NUMBER.match(message.text)
        if match and 1 <= int(match.group(1)) <= count:
            by_row.setdefault(int(match.group(1)), message.text)
        elif message.key.startswith("error") or not result.success:
            general.append(message)
    return by_row, general


def write_units(client: AdaptiveClient, units: Sequence[PushUnit], dims: Sequence[str], *, version: str,
                plan_or_actuals: str, sheet: str | None, row_limit: int) -> list[UnitResult]:
    failed: dict[str, str] = {}
    rows = pivot(units, dims, failed)
    for start in range(0, len(rows), row_limit):
        chunk = rows[start:start + row_limit]
        failed.update(send(client, chunk, dims, version=version, plan_or_actuals=plan_or_actuals, sheet=sheet))
    return [UnitResult(key=u.key, ok=False, reason=failed[u.key]) if u.key in failed
            else UnitResult(key=u.key, ok=True) for u in units]


def require_fields(remotes: Sequence[str]) -> list[str]:
    """Offline: which required remote fields a push mapping lacks."""
    return [name for name in REQUIRED if name not in remotes]

