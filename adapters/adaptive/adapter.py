"""The Adaptive Planning adapter: push cells into a version, pull versions' cells and metadata.

Push (`data`, unit = group): the engine hands over only new or changed cells, grouped by the
mapping's `group_by`; the shipped mapping groups by (account_code, level_name), so one unit is
one import row: an account on a level over the months that changed. Adaptive has no idempotency
key, but a standard/cube import overwrites the cells it names, so a resent slice leaves the same
state. Before anything is sent, `check()` compares each cell with the live exportVersions /
exportAccounts / exportLevels / exportDimensions: unknown or rollup accounts and levels, values
holding `|`, months outside the version and months in a locked version are rejected by name.
Those exports depend on no unit: they leave with the push's warm-up (`WarmUp`), while the engine
reads the units, and the units' intents are written while they are in flight (`ChecksInFlight`).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from migo_sync.adapter import (
    AdapterContext,
    BaseAdapter,
    PullBatch,
    PushUnit,
    RemoteField,
    RemoteObject,
    ReportSection,
    UnitResult,
)
from migo_sync.adapters.adaptive import SYSTEM, periods
from migo_sync.adapters.adaptive.client import AdaptiveClient, classify
from migo_sync.adapters.adaptive.config import (
    AdaptiveSettings,
    DataPullOptions,
    MetadataOptions,
    Options,
    PushOptions,
)
from migo_sync.adapters.adaptive.pull import plan_spans, read_data
from migo_sync.adapters.adaptive.push import (
    Target,
    check_units,
    mapping_dimensions,
    require_fields,
    write_units,
)
from migo_sync.ahead import started
from migo_sync.errors import ConfigError
from migo_sync.mapping.model import Mapping
from migo_sync.options import option_problems
from migo_sync.settings import parse_settings
from migo_sync.warehouse.base import Warehouse

METADATA = ("versions", "accounts", "levels", "dimensions")
PUSH_FIELDS = frozenset({"account", "level", "period", "value"})
PULL_FIELDS = frozenset({"version", "account", "account_name", "level", "period", "value"})


class AdaptiveAdapter(BaseAdapter):
    name = "adaptive"
    spec = SYSTEM

    def __init__(self, context: AdapterContext) -> None:
        super().__init__(context)
        self.settings = parse_settings(AdaptiveSettings, "adaptive", context.settings)
        self._client: AdaptiveClient | None = None
        self._cache: dict[Any, Any] = {}
        self._lock = threading.Lock()  # pulls may read at once (SharedPulls): one client, each read once
        self._loading: dict[Any, threading.Lock] = {}
        self._warming: dict[str, Future[Target]] = {}  # a push's target its warm-up is reading, by mapping

    # --- wiring -------------------------------------------------------------------------------

    @property
    def client(self) -> AdaptiveClient:
        """Built on first use, so offline validation needs no credentials. Every call through it, from
        whichever pull, stays within `max_concurrency` in flight (the API's cap)."""
        with self._lock:
            if self._client is None:
                creds = self.context.credentials
                login, password = creds.require("login"), creds.require("password")
                endpoint = self.settings.endpoint(self.context.base_url)
                self._client = AdaptiveClient(
                    self.context.http(endpoint, classify=classify, in_flight=self.settings.max_concurrency), endpoint,
                    login=login, password=password, caller_name=self.settings.caller_name,
                    instance_code=self.settings.instance_code, locale=self.settings.locale,
                    api_version=self.settings.effective_api_version(self.context.base_url))
            return self._client

    def pulls_at_once(self) -> int:
        """SharedPulls: as many pulls read together as calls may be in flight."""
        return self.settings.max_concurrency

    def close(self) -> None:
        wait(list(self._warming.values()))  # a warm-up's requests are answered before its client closes
        self._warming.clear()
        if self._client is not None:
            self._client.http.close()
            self._client = None

    def _cached(self, key: Any, load: Any) -> Any:
        """Once per run, however many pulls ask at the same time (the others wait for its answer)."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            value = load()
            with self._lock:
                self._cache[key] = value
            return value

    def versions(self) -> dict[str, dict[str, Any]]:
        return {v["name"]: v for v in self.version_list()}

    def version_list(self) -> list[dict[str, Any]]:
        """exportVersions, read once per run (check_connection, every push and pull share it)."""
        return self._cached("versions", self.client.export_versions)  # type: ignore[no-any-return]

    def dimension_values(self) -> list[dict[str, Any]]:
        """exportDimensions, read once per run (describe and the push's checks share it)."""
        return self._cached("dimensions", self.client.export_dimensions)  # type: ignore[no-any-return]

    def accounts(self, version: str | None) -> list[dict[str, Any]]:
        """exportAccounts (for a version), read once per run: a push's checks and a pull share it."""
        return self._cached(("accounts", version), lambda: self.client.export_accounts(version))  # type: ignore[no-any-return]

    def levels(self, version: str | None) -> list[dict[str, Any]]:
        """exportLevels (for a version), read once per run."""
        return self._cached(("levels", version), lambda: self.client.export_levels(version))  # type: ignore[no-any-return]

    def together(self, *calls: Any) -> list[Any]:
        """Independent reads issued at once, `max_concurrency` in flight; in call order, each its
        result or the exception it raised (the caller decides which failure to report first)."""
        def attempt(call: Any) -> Any:
            try:
                return call()
            except Exception as exc:  # handed back: raised by the caller in its own order
                return Failed(exc)

        if len(calls) <= 1 or self.settings.max_concurrency <= 1:
            return [attempt(call) for call in calls]
        with ThreadPoolExecutor(max_workers=min(self.settings.max_concurrency, len(calls)),
                                thread_name_prefix="adaptive-read") as pool:  # in the caller's context: its requests
            futures = [pool.submit(contextvars.copy_context().run, attempt, call) for call in calls]
            return [future.result() for future in futures]

    def report_sections(self, warehouse: Warehouse, mappings: Sequence[Mapping]) -> list[ReportSection]:
        """The run report's plan versus actual: each pulled plan version next to the actuals the run
        pushed, per month and account, from the warehouse (the `ReportSections` capability)."""
        from migo_sync.adapters.adaptive.report import plan_vs_actual_sections

        return plan_vs_actual_sections(warehouse, mappings)

    def check_connection(self) -> str:
        """exportVersions: signs in and reads the versions (cached for the run)."""
        return f"signed in; {len(self.versions())} version(s)"

    def check_object(self, mapping: Mapping) -> str:
        """What a run reads first, and no more: a push's target (version, accounts, levels, the
        dimensions it maps); a data pull's first month of its first version (one exportData);
        metadata, its one export."""
        options = self._options_or_fail(mapping)
        if mapping.object == "data" and mapping.direction == "push":
            target = self.target(mapping)
            return (f"readable: version {target.version['name']}, {len(target.accounts)} account(s), "
                    f"{len(target.levels)} level(s)")
        if mapping.object == "data":
            version, start, _ = plan_spans(options, self.versions())[0]
            export = self.client.export_data(version, start, start, accounts=options.accounts, levels=options.levels,
                                             dimensions=options.dimensions, dimension_values=options.dimension_values,
                                             include_rollups=options.include_rollups)
            rows = sum(1 for _ in export.rows)
            return f"readable: {rows} row(s) of {version} in {periods.to_iso(start)}"
        records = next(iter(self.read(mapping, None))).records
        return f"readable: {len(records)} record(s)"

    # --- offline validation ---------------------------------------------------------------------

    def validate(self, mapping: Mapping) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        obj = self.catalog_object(mapping.object)
        if obj is None:
            names = ", ".join(o.name for o in self.catalog())
            return [("object", f"unknown object '{mapping.object}' (valid: {names})")]
        if mapping.direction not in obj.directions:
            problems.append(("direction", f"'{mapping.object}' cannot be a {mapping.direction}"))
        if mapping.object == "data" and mapping.direction == "push" and mapping.mode == "mirror":
            problems.append(("mode", "a push to Adaptive cannot mirror: a row removed from the warehouse "
                                     "leaves its cells in place (push 0 to clear a cell); use upsert"))
        elif mapping.mode not in obj.modes:
            problems.append(("mode", f"'{mapping.mode}' is not a mode of '{mapping.object}' "
                                     f"(valid: {', '.join(obj.modes)})"))
        problems.extend(option_problems(self._options_model(mapping), mapping.options))
        remotes = [f.remote for f in mapping.fields]
        if mapping.object == "data":
            push = mapping.direction == "push"
            allowed = PUSH_FIELDS if push else PULL_FIELDS
            if push:
                problems.extend(("fields", f"a push of data needs a field with remote '{name}'")
                                for name in require_fields(remotes))
            for index, name in enumerate(remotes):
                if name not in allowed and not mapping_dimensions([name]):
                    problems.append((f"fields[{index}].remote", f"unknown remote field '{name}' "
                                     f"(valid: {', '.join(sorted(allowed))}, dimensions.<Name>)"))
            asked = mapping.options.get("dimensions") or []
            if not push and isinstance(asked, list):
                problems.extend(("options.dimensions", f"field dimensions.{d} needs '{d}' in options.dimensions")
                                for d in mapping_dimensions(remotes) if d not in asked)
        else:
            known = {f.name for f in obj.fields}
            problems.extend((f"fields[{i}].remote", f"unknown remote field '{f.remote}' of '{mapping.object}' "
                             f"(valid: {', '.join(sorted(known))})")
                            for i, f in enumerate(mapping.fields) if f.remote not in known)
        return problems

    def _options_model(self, mapping: Mapping) -> type[Options]:
        if mapping.object == "data":
            return PushOptions if mapping.direction == "push" else DataPullOptions
        return MetadataOptions

    def _options(self, mapping: Mapping) -> Options:
        return self._options_model(mapping).model_validate(mapping.options)

    def _options_or_fail(self, mapping: Mapping) -> Any:
        try:
            return self._options(mapping)
        except ValidationError as exc:
            raise ConfigError(f"{mapping.label}: options: {_first_error(exc)}") from exc

    def describe(self, mapping: Mapping) -> RemoteObject:
        """The catalog object; for `data` with dimension fields, plus one `dimensions.<Name>` field
        per live dimension (the engine calls this on every push: no request unless needed)."""
        obj = super().describe(mapping)
        if obj.name != "data" or not self._dims(mapping):
            return obj
        names = sorted({r["dimension"] for r in self.dimension_values()})
        extra = tuple(RemoteField(name=f"dimensions.{n}", description=f"value of dimension {n}") for n in names)
        return replace(obj, fields=obj.fields + extra)

    # --- push ----------------------------------------------------------------------------------

    def target(self, mapping: Mapping) -> Target:
        options: PushOptions = self._options_or_fail(mapping)
        key = ("target", mapping.name, options.model_dump_json(), tuple(self._dims(mapping)))
        return self._cached(key, lambda: self._load_target(mapping, options))  # type: ignore[no-any-return]

    def _load_target(self, mapping: Mapping, options: PushOptions) -> Target:
        """The live metadata the checks need, every export issued together (none depends on another)."""
        client = self.client
        dims = mapping_dimensions([f.remote for f in mapping.fields])
        cube = options.sheet_type == "cube"
        answers = self.together(
            self.versions, lambda: self.accounts(options.version), lambda: self.levels(options.version),
            client.export_sheets if cube else list, self.dimension_values if dims else list)
        versions = Failed.unwrap(answers[0])
        version = versions.get(options.version)
        if version is None or version["type"] == "VERSION_FOLDER":
            known = ", ".join(sorted(n for n, v in versions.items() if v["type"] != "VERSION_FOLDER"))
            raise ConfigError(f"{mapping.label}: options.version: '{options.version}' does not exist in Adaptive "
                              f"(known: {known})")
        accounts, levels, sheet_list, dimension_records = (Failed.unwrap(a) for a in answers[1:])
        sheet = None
        if cube:
            sheets = {s["name"]: s for s in sheet_list}
            sheet = sheets.get(options.sheet or "")
            if sheet is None:
                raise ConfigError(f"{mapping.label}: options.sheet: no cube sheet '{options.sheet}' "
                                  f"(known: {', '.join(sorted(sheets))})")
        dimensions: dict[str, dict[str, Any]] = {}
        if dims:
            for record in dimension_records:
                entry = dimensions.setdefault(record["dimension"], {"auto_create": record["auto_create"],
                                                                    "values": set()})
                entry["values"].add(record["name"])
            missing = [d for d in dims if d not in dimensions]
            if missing:
                raise ConfigError(f"{mapping.label}: fields: no dimension {', '.join(missing)} in Adaptive "
                                  f"(known: {', '.join(sorted(dimensions))})")
            if sheet is not None and set(dims) - set(sheet["dimensions"]):
                raise ConfigError(f"{mapping.label}: cube sheet '{sheet['name']}' has dimensions "
                                  f"{', '.join(sheet['dimensions'])}; not {', '.join(set(dims) - set(sheet['dimensions']))}")
        return Target(version=version, accounts={a["code"]: a for a in accounts},
                      levels={lv["name"]: lv for lv in levels}, dimensions=dimensions, sheet=sheet)

    def warm_up(self, mapping: Mapping) -> None:
        """WarmUp: a push's target (exportVersions, exportAccounts, exportLevels: none depends on the
        units) read on a thread from the plan's end, while the engine reads the units; the checks take
        it (`check_meanwhile`), its error included, raised there as without the warm-up."""
        if mapping.object == "data" and mapping.direction == "push" and mapping.name not in self._warming:
            self._warming[mapping.name] = started(lambda: self.target(mapping), name="adaptive-warm-up")

    def check(self, mapping: Mapping, units: Sequence[PushUnit]) -> dict[str, str]:
        return self.check_meanwhile(mapping, units, lambda: None)

    def check_meanwhile(self, mapping: Mapping, units: Sequence[PushUnit],
                        meanwhile: Callable[[], None]) -> dict[str, str]:
        """ChecksInFlight: the cells against the push's target, whose exports (the warm-up's, else begun
        here) are in flight while `meanwhile` runs (the engine writes the intents); the import after."""
        self._push_only(mapping)
        loading = self._warming.pop(mapping.name, None) or started(lambda: self.target(mapping),
                                                                   name="adaptive-checks")
        try:
            meanwhile()
        finally:
            wait([loading])  # its requests are answered before anything else happens, even on an error
        return check_units(loading.result(), units, self._dims(mapping))

    def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]:
        self._push_only(mapping)
        options: PushOptions = self._options_or_fail(mapping)
        target = self.target(mapping)
        plan_or_actuals = options.plan_or_actuals or ("Actuals" if target.version["type"] == "ACTUALS" else "Plan")
        return write_units(self.client, units, self._dims(mapping), version=options.version,
                           plan_or_actuals=plan_or_actuals, sheet=options.sheet, row_limit=self.settings.import_rows)

    def _dims(self, mapping: Mapping) -> list[str]:
        return mapping_dimensions([f.remote for f in mapping.fields])

    def _push_only(self, mapping: Mapping) -> None:
        if mapping.object != "data" or mapping.direction != "push":
            raise ConfigError(f"{mapping.label}: only object 'data' can be pushed to Adaptive")

    # --- pull ----------------------------------------------------------------------------------

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]:
        options = self._options_or_fail(mapping)
        if mapping.object == "data":
            yield from read_data(self.client, options, self.versions(), state, self.settings.max_concurrency)
            return
        if mapping.object not in METADATA:
            raise ConfigError(f"{mapping.label}: unknown object '{mapping.object}' of adaptive")
        version = getattr(options, "version", None)
        if mapping.object == "versions":
            records = self.version_list()
        elif mapping.object == "accounts":
            records = self.accounts(version)
        elif mapping.object == "levels":
            records = self.levels(version)
        else:
            records = self.dimension_values()
        yield PullBatch([dict(r) for r in records], state=None)  # copies: the run's cache stays as read


@dataclass(frozen=True)
class Failed:
    """A read issued with others that raised: kept until the caller's checks decide what to report."""

    error: Exception

    @staticmethod
    def unwrap(answer: Any) -> Any:
        if isinstance(answer, Failed):
            raise answer.error
        return answer


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
