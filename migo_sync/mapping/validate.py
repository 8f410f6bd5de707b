"""Mapping checks beyond the YAML: against the system's catalog, the warehouse, and the live remote.

Each level returns Problems (never raises on the first); callers raise one MappingError for all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from migo_sync.adapter import Adapter, RemoteObject
from migo_sync.errors import AuthError, ConfigError, MigoSyncError, Problem, UnreachableError
from migo_sync.mapping.loader import LoadedMapping, did_you_mean, parse_path
from migo_sync.mapping.model import FieldType
from migo_sync.registry import systems
from migo_sync.warehouse.base import Column, Warehouse

AdapterFor = Callable[[str], Adapter]

# Which warehouse column types fit a field of each type (push reads the column as that type).
COMPATIBLE: dict[FieldType, set[str]] = {
    FieldType.string: {"string"},
    FieldType.integer: {"integer"},
    FieldType.decimal: {"decimal", "integer"},
    FieldType.number: {"number", "decimal", "integer"},
    FieldType.boolean: {"boolean"},
    FieldType.date: {"date"},
    FieldType.timestamp: {"timestamp", "date"},
}

# Warehouse types holding raw bytes (DuckDB, Snowflake): no remote field takes them as they are.
BINARY_TYPES = frozenset({"BLOB", "BYTEA", "BINARY", "VARBINARY", "BIT", "BITSTRING"})


def validate_all(loaded: Sequence[LoadedMapping], adapter_for: AdapterFor, warehouse: Warehouse | None, *,
                 remote: bool = False, problems: Sequence[Problem] = (),
                 check_disabled: Sequence[str] = ()) -> list[Problem]:
    """Every level in one pass: catalog, then warehouse (unless `warehouse` is None), then with
    `remote` the live remote. A file with a problem at one level is not checked at the next,
    whose findings would only repeat it; every other file still is. `problems` are the ones
    already found (YAML and model). A disabled mapping's relation is only checked when its name
    is in `check_disabled` (it is off because its table may not exist yet)."""
    found = list(problems)

    def clean(items: Sequence[LoadedMapping]) -> list[LoadedMapping]:
        bad = {p.file for p in found}
        return [m for m in items if m.display not in bad]

    found.extend(validate_catalog(clean(loaded), adapter_for))
    if warehouse is not None:
        live = [m for m in clean(loaded) if m.mapping.enabled or m.mapping.name in check_disabled]
        found.extend(validate_warehouse(live, warehouse))
    if remote:
        found.extend(validate_remote(clean(loaded), adapter_for))
    return found


def validate_catalog(loaded: Sequence[LoadedMapping], adapter_for: AdapterFor) -> list[Problem]:
    """System, object, direction, mode and field names against the adapter's catalog; then the
    adapter's own offline checks of `options`."""
    problems: list[Problem] = []
    known = systems()
    for item in loaded:
        m = item.mapping
        if m.system not in known:
            problems.append(item.problem(["system"], f"unknown system '{m.system}'",
                                         did_you_mean(m.system, known) or "known: " + ", ".join(sorted(known))))
            continue
        adapter = adapter_for(m.system)
        catalog = {o.name: o for o in adapter.catalog()}
        obj = catalog.get(m.object)
        if obj is None:
            problems.append(item.problem(["object"], f"{m.system} has no object '{m.object}'",
                                         did_you_mean(m.object, catalog) or "objects: " + ", ".join(sorted(catalog))))
            continue
        found = check_against_object(item, obj)
        problems.extend(found)
        if any(p.path == "direction" for p in found):
            continue  # the rest would only repeat that the object cannot go this way
        reported = {p.path for p in found}
        for path, message in adapter.validate(m):
            if path not in reported:  # one line per problem: the catalog's word on it is enough
                problems.append(item.problem(parse_path(path), message))
    return problems


def check_against_object(item: LoadedMapping, obj: RemoteObject, *, live: bool = False) -> list[Problem]:
    m = item.mapping
    problems: list[Problem] = []
    system = m.system
    if m.direction not in obj.directions:
        return [item.problem(["direction"], f"{system} {obj.name} cannot be {m.direction}ed",
                             "valid: " + ", ".join(obj.directions))]
    if m.mode not in obj.modes:
        problems.append(item.problem(["mode"], f"{system} {obj.name} does not support mode '{m.mode}'",
                                     "valid: " + ", ".join(obj.modes)))
    if obj.unit == "group" and m.direction == "push" and not m.group_by:
        problems.append(item.problem(["group_by"], f"{system} {obj.name} is pushed in groups: group_by is required"))
    if obj.dynamic_fields and not live:
        return problems
    names = [f.name for f in obj.fields]
    meant: set[str] = set()
    for i, field in enumerate(m.fields):
        remote = obj.field(field.remote)
        if remote is None:
            hint = did_you_mean(field.remote, names)
            if hint:
                meant.add(hint.split("'")[1])
            problems.append(item.problem(["fields", i, "remote"], f"{system} {obj.name} has no field '{field.remote}'",
                                         hint))
        elif m.direction == "push" and not remote.writable:
            problems.append(item.problem(["fields", i, "remote"], f"{system} {obj.name}.{field.remote} is read-only"))
    if m.direction == "push":
        mapped = {f.remote for f in m.fields}
        for remote in obj.fields:
            if remote.required and remote.writable and remote.name not in mapped and remote.name not in meant:
                problems.append(item.problem(["fields"], f"required remote field '{remote.name}' is not mapped"))
    return problems


def validate_warehouse(loaded: Sequence[LoadedMapping], warehouse: Warehouse) -> list[Problem]:
    """Relations and columns exist and their types fit the fields."""
    problems: list[Problem] = []
    for item in loaded:
        m = item.mapping
        try:
            if m.warehouse.query is not None:
                columns: list[Column] | None = warehouse.query_columns(m.warehouse.query)
            else:
                assert m.warehouse.table is not None
                columns = warehouse.columns(m.warehouse.table)
        except MigoSyncError as exc:
            problems.append(item.problem(["warehouse", "query"], f"the query fails: {exc}"))
            continue
        if columns is None:
            if m.direction == "push":
                problems.append(item.problem(["warehouse", "table"], f"no table or view '{m.warehouse.table}'"))
            continue  # a pull creates its target table
        by_name = {c.name.lower(): c for c in columns}
        where = m.warehouse.table or "the query"
        for i, field in enumerate(m.fields):
            if field.column is None:
                continue
            column = by_name.get(field.column.lower())
            if column is None:
                if m.direction == "push":
                    problems.append(item.problem(["fields", i, "column"], f"unknown column '{field.column}' in {where}",
                                                 did_you_mean(field.column, [c.name for c in columns])))
                continue
            if column.raw_type.upper().split("(")[0].strip() in BINARY_TYPES:
                problems.append(item.problem(
                    ["fields", i, "column"],
                    f"column '{field.column}' is {column.raw_type} (bytes): a {field.type.value} field cannot carry it",
                    "decode or cast it to text in a `warehouse.query`"))
                continue
            if (column.type != "other" and column.type not in COMPATIBLE[field.type]
                    and (m.direction == "pull" or field.type is not FieldType.string)):
                problems.append(item.problem(
                    ["fields", i, "type"],
                    f"column '{field.column}' is {column.raw_type} but the field is {field.type.value}",
                    f"use type: {column.type}" if column.type in COMPATIBLE else None))
        for j, key in enumerate([*m.key, *m.group_by]):
            if m.direction == "push" and key.lower() not in by_name:
                path: list[str | int] = ["key", j] if j < len(m.key) else ["group_by", j - len(m.key)]
                problems.append(item.problem(path, f"unknown column '{key}' in {where}",
                                             did_you_mean(key, [c.name for c in columns])))
    return problems


def validate_remote(loaded: Sequence[LoadedMapping], adapter_for: AdapterFor) -> list[Problem]:
    """Sign in to every system the mappings use (`check_connection`), then check each mapping's
    fields against the live remote object and read it once (`check_object`, as `doctor` does: a
    catalog entry or a description proves nothing about what these credentials may read).

    Refused or missing credentials become a problem on every mapping of that system (exit 2);
    an unreachable system is raised as it is (exit 3): there is nothing to say about the mappings.
    """
    problems: list[Problem] = []
    refused: dict[str, str] = {}
    for system in dict.fromkeys(item.mapping.system for item in loaded):
        try:
            adapter_for(system).check_connection()
        except (AuthError, ConfigError) as exc:
            refused[system] = str(exc)
    for item in loaded:
        if item.mapping.system in refused:
            problems.append(item.problem(["system"], f"cannot sign in: {refused[item.mapping.system]}"))
            continue
        try:
            live = adapter_for(item.mapping.system).describe(item.mapping)
        except UnreachableError:
            raise
        except MigoSyncError as exc:
            problems.append(item.problem(["object"], f"cannot describe the remote object: {exc}"))
            continue
        problems.extend(check_against_object(item, live, live=True))
        try:
            adapter_for(item.mapping.system).check_object(item.mapping)
        except UnreachableError:
            raise
        except MigoSyncError as exc:
            problems.append(item.problem(["object"], f"cannot read the remote object: {exc}"))
    return problems
