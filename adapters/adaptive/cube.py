"""The emulator's cube: cells keyed by version, account, level, dimension values and period.

Imports validate the way Adaptive does (unknown or rollup accounts and levels, cube accounts on
the wrong sheet, locked versions, periods outside the version, malformed rows) and answer with
the "Rows imported: N" message; exports render the exportData CSV. Only the emulator uses it.

Cells are indexed version → period → (account, level, dims) so that a time-span export reads
only the months it asks for.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from random import Random
from typing import Any

from migo_sync.adapters.adaptive import periods
from migo_sync.adapters.adaptive.instance import Instance, Sheet
from migo_sync.adapters.adaptive.xml import Message

Dims = tuple[tuple[str, str], ...]  # (dimension name, value name), sorted by dimension name
CellKey = tuple[str, str, Dims]
MAX_ROW_MESSAGES = 200


class Refused(Exception):
    """The whole call is refused (bad version, locked version, bad header, too many rows or cells)."""

    def __init__(self, key: str, text: str) -> None:
        super().__init__(text)
        self.message = Message(key, text)


@dataclass
class ImportOutcome:
    success: bool
    imported: int
    messages: list[Message] = field(default_factory=list)


@dataclass(frozen=True)
class ExportQuery:
    version: str
    start: int
    end: int
    accounts: list[tuple[str, bool]] = field(default_factory=list)  # (code, includeDescendants)
    levels: list[tuple[str, bool]] = field(default_factory=list)    # (name, includeDescendants)
    dimension_filters: list[tuple[str, str]] = field(default_factory=list)
    dimensions: list[str] = field(default_factory=list)
    rollup_accounts: bool = False
    rollup_levels: bool = False
    zero_rows: bool = False


def fmt(value: Decimal) -> str:
    """Plain decimal text, `-` for negatives, no exponent, no trailing zeros after the point."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class Cube:
    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.cells: dict[str, dict[int, dict[CellKey, Decimal]]] = defaultdict(lambda: defaultdict(dict))

    def put(self, version: str, key: CellKey, period: int, value: Decimal) -> None:
        self.cells[version][period][key] = value

    def count(self) -> int:
        return sum(len(cells) for by_period in self.cells.values() for cells in by_period.values())

    def seed(self, rng: Random) -> None:
        """Fill the versions listed under `values:` in the seed file."""
        for spec in self.instance.values:
            version = str(spec["version"])
            first, last = periods.parse(str(spec["start"])), periods.parse(str(spec["end"]))
            growth, jitter = Decimal(str(spec.get("growth", 0))), float(spec.get("jitter", 0))
            for code, base in spec["base"].items():
                for level, share in spec["levels"].items():
                    for step, period in enumerate(range(first, last + 1)):
                        noise = Decimal(str(round(rng.uniform(-jitter, jitter), 4))) if jitter else Decimal(0)
                        amount = Decimal(str(base)) * Decimal(str(share)) * (1 + growth * step) * (1 + noise)
                        self.put(version, (str(code), str(level), ()), period, amount.quantize(Decimal("0.01")))

    def rows(self, version: str) -> Iterable[tuple[CellKey, int, Decimal]]:
        for period, cells in self.cells.get(version, {}).items():
            for key, value in cells.items():
                yield key, period, value

    # --- imports ------------------------------------------------------------------------------

    def import_rows(self, version_name: str, plan_or_actuals: str, header: str, rows: list[str], *,
                    sheet: Sheet | None, atomic: bool, max_rows: int | None) -> ImportOutcome:
        """Validate and apply one importStandardData (sheet None) or importCubeData call."""
        inst = self.instance
        version = inst.versions.get(version_name)
        if version is None or version.type == "VERSION_FOLDER":
            raise Refused("error-invalid-version", f"Version '{version_name}' does not exist.")
        if version.locked:
            raise Refused("error-version-locked", f"Version '{version_name}' is locked; data cannot be imported.")
        expected = "Actuals" if version.type == "ACTUALS" else "Plan"
        if plan_or_actuals.lower() != expected.lower():
            raise Refused("error-invalid-plan-or-actuals",
                                f"planOrActuals '{plan_or_actuals}' does not match version '{version_name}' "
                                f"(expected '{expected}').")
        if max_rows is not None and len(rows) > max_rows:
            raise Refused("error-import-too-large",
                                f"The import holds {len(rows)} rows; at most {max_rows} are accepted per call.")
        columns = header.split("|")
        account_at, level_at, dims_at, periods_at = self._header(columns, version, sheet)
        width = len(columns)
        errors: list[Message] = []
        staged: list[tuple[CellKey, list[tuple[int, Decimal]]]] = []
        new_values: set[tuple[str, str]] = set()
        for number, raw in enumerate(rows, start=1):
            values = raw.split("|")
            if len(values) != width:
                errors.append(Message("error-malformed-row",
                                      f"Row {number}: expected {width} pipe-delimited values, got {len(values)}."))
                continue
            problem, key, cells = self._row(values, number, account_at, level_at, dims_at, periods_at, sheet,
                                            new_values)
            if problem:
                errors.append(Message(problem[0], problem[1]))
            else:
                staged.append((key, cells))
        if errors and atomic:
            return ImportOutcome(False, 0, _capped(errors))
        for dim_name, dim_value in sorted(new_values):
            if dim_value not in inst.dimensions[dim_name].values:
                inst.add_dimension_value(dim_name, dim_value)
        store = self.cells[version_name]
        for key, cells in staged:
            for period, value in cells:
                if sheet is not None and value == 0:
                    store[period].pop(key, None)  # a zero erases a cube cell
                else:
                    store[period][key] = value
        kind = "Cube" if sheet is not None else "Standard"
        summary = Message(f"{kind.lower()}-import-success",
                          f"{kind} data import successful. Rows imported: {len(staged)}", "INFO")
        return ImportOutcome(True, len(staged), [*_capped(errors), summary])

    def _header(self, columns: list[str], version: object, sheet: Sheet | None
                ) -> tuple[int, int, list[tuple[int, str]], list[tuple[int, int]]]:
        inst = self.instance
        if len(set(columns)) != len(columns):
            raise Refused("error-invalid-header", "The header names a column twice.")
        if "Account" not in columns or "Level" not in columns:
            raise Refused("error-invalid-header", "The header needs an Account and a Level column.")
        dims_at: list[tuple[int, str]] = []
        periods_at: list[tuple[int, int]] = []
        for index, name in enumerate(columns):
            if name in ("Account", "Level"):
                continue
            period = periods.parse_wire(name)
            if period is not None:
                start, end = getattr(version, "start", None), getattr(version, "end", None)
                if (start is not None and period < start) or (end is not None and period > end):
                    raise Refused("error-invalid-period",
                                        f"Period {name} is outside version '{getattr(version, 'name', '')}'.")
                periods_at.append((index, period))
            elif name in inst.dimensions:
                if sheet is not None and name not in sheet.dimensions:
                    raise Refused("error-invalid-header",
                                        f"Dimension '{name}' is not used on cube sheet '{sheet.name}'.")
                dims_at.append((index, name))
            else:
                raise Refused("error-invalid-header",
                                    f"Column '{name}' is not Account, Level, a period (MM/YYYY) or a dimension.")
        if not periods_at:
            raise Refused("error-invalid-header", "The header has no period column (MM/YYYY).")
        return columns.index("Account"), columns.index("Level"), dims_at, periods_at

    def _row(self, values: list[str], number: int, account_at: int, level_at: int,
             dims_at: list[tuple[int, str]], periods_at: list[tuple[int, int]], sheet: Sheet | None,
             new_values: set[tuple[str, str]]) -> tuple[tuple[str, str] | None, CellKey, list[tuple[int, Decimal]]]:
        inst = self.instance
        code, level_name = values[account_at].strip(), values[level_at].strip()
        empty: CellKey = ("", "", ())
        account = inst.accounts.get(code)
        if account is None:
            return ("error-invalid-account", f"Row {number}: Account '{code}' does not exist."), empty, []
        if account.is_rollup:
            return ("error-account-not-importable",
                    f"Row {number}: Account '{code}' is a rollup account and cannot be imported."), empty, []
        if sheet is None and account.sheet is not None:
            return ("error-account-not-importable",
                    f"Row {number}: Account '{code}' belongs to a cube sheet; use importCubeData."), empty, []
        if sheet is not None and account.sheet != sheet.id:
            return ("error-account-not-importable",
                    f"Row {number}: Account '{code}' is not an account of cube sheet '{sheet.name}'."), empty, []
        level = inst.levels.get(level_name)
        if level is None:
            return ("error-invalid-level", f"Row {number}: Level '{level_name}' does not exist."), empty, []
        if level.is_rollup:
            return ("error-level-not-importable",
                    f"Row {number}: Level '{level_name}' is a rollup level and cannot be imported."), empty, []
        dims: list[tuple[str, str]] = []
        for index, dim_name in dims_at:
            value = values[index].strip()
            if not value:
                continue
            dim = inst.dimensions[dim_name]
            if value not in dim.values:
                if not dim.auto_create:
                    return ("error-invalid-dimension-value",
                            f"Row {number}: '{value}' is not a value of dimension '{dim_name}'."), empty, []
                new_values.add((dim_name, value))
            dims.append((dim_name, value))
        cells: list[tuple[int, Decimal]] = []
        for index, period in periods_at:
            text = values[index].strip().replace(",", "")
            if not text:
                continue  # a blank cell is left as it is
            try:
                amount = Decimal(text)
            except InvalidOperation:
                amount = Decimal("NaN")
            if not amount.is_finite():
                return ("error-invalid-value", f"Row {number}: '{values[index]}' for "
                        f"{periods.to_wire(period)} is not a number."), empty, []
            cells.append((period, amount))
        return None, (code, level_name, tuple(sorted(dims))), cells

    # --- exports ------------------------------------------------------------------------------

    def export_csv(self, query: ExportQuery, max_cells: int | None) -> str:
        inst = self.instance
        grid: dict[CellKey, dict[int, Decimal]] = defaultdict(dict)
        wanted = set(query.dimensions)
        filters = query.dimension_filters
        by_period = self.cells.get(query.version, {})
        for period in range(query.start, query.end + 1):
            for (code, level, dims), value in by_period.get(period, {}).items():
                if filters and not all((d, v) in dims for d, v in filters):
                    continue
                kept = tuple((d, v) for d, v in dims if d in wanted)
                row = grid[(code, level, kept)]
                row[period] = row.get(period, Decimal(0)) + value
        if query.rollup_accounts or query.rollup_levels:
            grid = self._rollups(grid, query)
        accounts = self._selected(inst.accounts, query.accounts)
        levels = self._selected(inst.levels, query.levels)
        account_order = {code: i for i, code in enumerate(inst.accounts)}
        level_order = {name: i for i, name in enumerate(inst.levels)}
        keys = [k for k, row in grid.items()
                if (accounts is None or k[0] in accounts) and (levels is None or k[1] in levels)
                and (query.zero_rows or any(v != 0 for v in row.values()))]
        keys.sort(key=lambda k: (account_order.get(k[0], 0), level_order.get(k[1], 0), k[2]))
        span = list(range(query.start, query.end + 1))
        if max_cells is not None and len(keys) * len(span) > max_cells:
            raise Refused("error-export-too-large",
                                f"The export would hold {len(keys) * len(span)} cells; at most {max_cells} are "
                                "returned per call. Narrow the time span or the filters.")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["Account Name", "Account Code", "Level Name", *query.dimensions,
                         *(periods.to_wire(p) for p in span)])
        for key in keys:
            code, level, dims = key
            named = dict(dims)
            row = grid[key]
            writer.writerow([inst.accounts[code].name if code in inst.accounts else code, code, level,
                             *(named.get(d, "") for d in query.dimensions),
                             *(fmt(row[p]) if p in row else "" for p in span)])
        return out.getvalue()

    def _rollups(self, grid: dict[CellKey, dict[int, Decimal]], query: ExportQuery
                 ) -> dict[CellKey, dict[int, Decimal]]:
        inst = self.instance
        out: dict[CellKey, dict[int, Decimal]] = defaultdict(dict)
        for (code, level, dims), row in grid.items():
            codes = [code, *(inst.ancestors(inst.accounts, code) if query.rollup_accounts and code in inst.accounts
                             else [])]
            names = [level, *(inst.ancestors(inst.levels, level) if query.rollup_levels and level in inst.levels
                              else [])]
            for a in codes:
                # Adaptive nets expenses against income: an expense adds negatively to a non-expense rollup.
                sign = -1 if self._is_expense(code) and not self._is_expense(a) else 1
                for lv in names:
                    target = out[(a, lv, dims)]
                    for period, value in row.items():
                        target[period] = target.get(period, Decimal(0)) + sign * value
        return out

    def _is_expense(self, code: str) -> bool:
        account = self.instance.accounts.get(code)
        return account is not None and account.type == "EXPENSE"

    def _selected(self, tree: Mapping[str, Any], picks: list[tuple[str, bool]]) -> set[str] | None:
        if not picks:
            return None
        chosen: set[str] = set()
        for name, descendants in picks:
            if name not in tree:
                raise Refused("error-invalid-filter", f"'{name}' in the filters does not exist.")
            chosen.update(self.instance.descendants(tree, name) if descendants else [name])
        return chosen


def _capped(errors: list[Message]) -> list[Message]:
    if len(errors) <= MAX_ROW_MESSAGES:
        return errors
    more = len(errors) - MAX_ROW_MESSAGES
    return [*errors[:MAX_ROW_MESSAGES], Message("error-more-rows", f"{more} more rows were refused.")]
