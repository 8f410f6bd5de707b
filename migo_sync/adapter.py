"""The small contract every system adapter implements, and the values that cross it.

The engine speaks only this protocol: it never imports a specific adapter. An adapter is built
from an `AdapterContext` (base URL, settings, credentials, an HTTP client factory) and

- `catalog()`   returns its static objects and fields (from the adapter folder's catalog.yaml),
- `describe()`  returns the live schema of one mapped object (for `--remote` checks and drift),
- `validate()`  checks a mapping's system-specific parts offline (options, field names),
- `check()`     runs pre-send checks on push units and returns the ones to reject, with reasons,
- `write()`     sends push units and returns one `UnitResult` per unit,
- `push_order()` the order a whole-object push wants its records in (default: by key),
- `read()`      streams pull batches, each with the cursor state to save with it,
- `check_connection()` signs in and makes one cheap read (`mapping validate --remote`, `doctor`),
- `check_object()` makes one small read of a mapping's object (`doctor`: proves it is readable).

Capabilities are small Protocols of their own, declared by the adapters that have them and found
with `isinstance` (never by attribute probing): `RemoteJobs` (below) for systems whose writes are
queued as remote jobs, `ArrowPull` for adapters that hand over pull pages already read into Arrow
(Zendesk's exports: the raw page through pyarrow's JSON reader), `WarmUp` for adapters whose first send
needs calls that do not depend on the units (Sheets: the sign-in and the spreadsheet's metadata), `KeysAhead`
for those whose first look-up needs only some fields' values (Intacct: the journals' references),
`RunPreparation` for adapters with CPU-only work a run will need, begun at its start (Sheets: the
signing key), `ReportSections` for adapters that
add a view of their own to a run's report (Adaptive: plan versus actual), `SharedPulls` for adapters
whose pulls may read at the same time (Adaptive, Intacct), `LedgerPort`
(migo_sync.ledger.port) for ledgers.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Mapping as KeyMap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import httpx
    import pyarrow as pa

    from migo_sync.credentials import Credentials
    from migo_sync.mapping.model import Mapping
    from migo_sync.warehouse.base import Warehouse

Unit = Literal["row", "group", "object"]


@dataclass(frozen=True)
class SystemSpec:
    """What the registry knows of a system without importing its code.

    `adapter` and `emulator` are "module:attribute" paths, imported only when used.
    `default_url` is the production base URL; `MIGO_SYNC_<NAME>_URL` overrides it.
    """

    name: str
    title: str
    adapter: str
    emulator: str | None
    default_url: str
    catalog: Path
    extra_urls: dict[str, str] = field(default_factory=dict)  # e.g. {"token_url": "..."} → MIGO_SYNC_SHEETS_TOKEN_URL
    # "module:function"(state_dir: Path) -> dict[str, str]: the credential environment variables
    # that let a client talk to this system's emulator (may write files, e.g. a throwaway key).
    sandbox_credentials: str | None = None
    # The format pushed values travel in: "xml" cannot carry most control characters, so a value
    # holding one is a per-unit reject before sending (migo_sync.xmlsafe.unsendable).
    wire: Literal["json", "xml"] = "json"
    # Push units the engine hands to one write() (a mapping's batch_size overrides it): as many as
    # the API can work on at once, so a batch boundary never idles it (Zendesk: 30 jobs of 100).
    push_batch: int | None = None


@dataclass(frozen=True)
class RemoteField:
    name: str
    type: str = "string"
    required: bool = False
    writable: bool = True
    description: str = ""


@dataclass(frozen=True)
class RemoteObject:
    """One object of a system: what it accepts, how pushes are grouped, and its fields.

    `unit` says what one pushed unit is: a `row` (a Zendesk user), a `group` of rows sharing the
    mapping's `group_by` columns (an Intacct journal), or the whole `object` (a Sheets tab,
    rewritten whole when anything in it changed). `dynamic_fields` means field names are not
    known offline (sheet headers, custom fields), so only `--remote` validation can check them.
    """

    name: str
    directions: tuple[str, ...]
    modes: tuple[str, ...]
    unit: Unit = "row"
    fields: tuple[RemoteField, ...] = ()
    dynamic_fields: bool = False
    description: str = ""

    def field(self, name: str) -> RemoteField | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass
class PushUnit:
    """One unit to send: remote-shaped records plus the keys that tie it to warehouse rows.

    `idempotency_key` is deterministic (feed + unit key), so a resend after a crash carries the
    same key and the remote refuses the duplicate. `resend` says an earlier run recorded the
    intent to send this unit but never learned the outcome: the remote may already hold it.
    """

    key: str
    idempotency_key: str
    records: Sequence[dict[str, Any]]
    row_keys: list[str]
    delete: bool = False
    resend: bool = False


@dataclass
class UnitResult:
    """The remote's answer for one unit. `duplicate` means it already had it (a success);
    `not_sent` that the adapter never sent it (the run is stopping): no reject, sent next run;
    `held_differs` that an insert-only remote already holds it (as `remote_id`) with other values
    than these: a reject (with `reason`) that settles an unconfirmed intent, reported once."""

    key: str
    ok: bool
    remote_id: str | None = None
    reason: str | None = None
    duplicate: bool = False
    not_sent: bool = False
    held_differs: bool = False


@dataclass
class PullBatch:
    """Records keyed by remote field name (dotted paths allowed), and the cursor after them.

    `total` is how many records the whole read yields, when the remote says so (Intacct's
    `totalcount`, a sheet range whose data ends in the first window): progress shows a percentage
    from the first batch that carries it. Never a guess: None when unknown."""

    records: list[dict[str, Any]]
    state: dict[str, Any] | None = None
    deleted_keys: list[dict[str, Any]] = field(default_factory=list)
    total: int | None = None


@dataclass
class ArrowBatch:
    """A page already read into Arrow (see `ArrowPull`): `table` has one column per remote field the
    engine asked for, named by the remote name, each holding exactly the values the page's records
    hold there (a scalar type or a list of scalars: never an object). `records()` gives the same
    page as a `PullBatch`, for the engine's record-by-record path (a value that does not cast, a
    missing key): that path, not this table, decides rejects."""

    table: pa.Table
    state: dict[str, Any] | None
    records: Callable[[], PullBatch]
    total: int | None = None


@runtime_checkable
class ArrowPull(Protocol):
    """Capability: pull pages as Arrow tables, read without a Python object per value."""

    def read_arrow(self, mapping: Mapping, state: dict[str, Any] | None,
                   types: KeyMap[str, pa.DataType]) -> Iterator[ArrowBatch | PullBatch] | None:
        """`read()`, with each page as an ArrowBatch whose columns are the mapping's remote fields read as
        `types` (string, int64 or bool; a field whose values are lists may come as a list type) or already
        as the type the engine stages the field as (`engine.pull.arrow_type`; kept as it is: it must hold
        what the engine's cast of the records' values gives, e.g. Workday's typed journal lines), or as a
        PullBatch when the page cannot be read so; None when this mapping cannot be read so at all."""
        ...


def as_arrow_pull(adapter: Any) -> ArrowPull | None:
    return adapter if isinstance(adapter, ArrowPull) else None


@runtime_checkable
class WarmUp(Protocol):
    """Capability: begin, beside the engine's own work, the calls a push's first send needs whatever
    its units are (Sheets: the sign-in and the spreadsheet's metadata, a chain of two round trips).

    The engine calls it once a push's plan has something to send (a push with nothing to send never
    does: it sends no request), before it reads the units, builds their records and writes their
    intents. It returns at once and never raises: the calls run on a thread of their own, and the
    adapter hook that needs their answer (`check()`) takes it there — an error included, raised as
    that hook would have raised it without the warm-up. Nothing that changes the remote is sent."""

    def warm_up(self, mapping: Mapping) -> None: ...


def as_warm_up(adapter: Any) -> WarmUp | None:
    return adapter if isinstance(adapter, WarmUp) else None


@runtime_checkable
class KeysAhead(Protocol):
    """Capability: a `WarmUp` adapter whose first send's look-up needs only some fields' values (Intacct:
    the journals' references, looked up in the same request as the chart), not the units themselves.

    When a push's plan fits one batch, the engine reads those fields' distinct values from the rows to
    send (one query), transformed as the units' records will be, and hands them over right after
    `warm_up`, before it reads the units: the look-up can leave with the warm-up. It returns at once and
    never raises. A hint only: the hook that needs the look-up still checks it covers the units it is
    given, and asks again for any it does not."""

    def keys_ahead(self, mapping: Mapping) -> Sequence[str]:
        """The remote fields whose values the look-up needs (none: nothing is read for it)."""
        ...

    def warm_up_keys(self, mapping: Mapping, values: KeyMap[str, Sequence[Any]]) -> None: ...


def as_keys_ahead(adapter: Any) -> KeysAhead | None:
    return adapter if isinstance(adapter, KeysAhead) else None


@runtime_checkable
class RunPreparation(Protocol):
    """Capability: CPU-only work a run of this system will need before its first call (Sheets: importing
    the JWT signer and loading the service-account key from the environment), begun by the runner at the
    run's start for each selected system, so it runs while earlier mappings wait on their APIs.

    It returns at once and never raises: the work runs on a thread of its own, sends no request, writes
    nothing and keeps what it makes in memory only; an error is left for the hook that needs the result,
    which raises it where it would have without the preparation. `close()` waits for it."""

    def prepare_run(self) -> None: ...


def as_run_preparation(adapter: Any) -> RunPreparation | None:
    return adapter if isinstance(adapter, RunPreparation) else None


@runtime_checkable
class ChecksInFlight(Protocol):
    """Capability: `check()` waits on the remote (Intacct: the chart and the batch's look-up, one
    request), and lets the engine's own work for the batch run while it does.

    `check_meanwhile` is `check()` that calls `meanwhile()` exactly once, on the calling thread, while
    its request is in flight (or before it returns, when it sends none), unless it fails before; an
    error `meanwhile` raises is raised from it. The engine writes the units' intents there."""

    def check_meanwhile(self, mapping: Mapping, units: Sequence[PushUnit],
                        meanwhile: Callable[[], None]) -> dict[str, str]: ...


def as_checks_in_flight(adapter: Any) -> ChecksInFlight | None:
    return adapter if isinstance(adapter, ChecksInFlight) else None


@dataclass
class AdapterContext:
    """Everything an adapter gets from the core: no globals, no environment reading of its own."""

    system: str
    base_url: str
    urls: dict[str, str]
    settings: dict[str, Any]
    credentials: Credentials
    http: Callable[..., httpx.Client]


@runtime_checkable
class Adapter(Protocol):
    """The adapter protocol. See the module docstring for what each hook does."""

    name: str

    def catalog(self) -> list[RemoteObject]: ...

    def describe(self, mapping: Mapping) -> RemoteObject: ...

    def validate(self, mapping: Mapping) -> list[tuple[str, str]]:
        """Offline problems as (field path, message), e.g. ("options.range", "missing")."""
        ...

    def check(self, mapping: Mapping, units: Sequence[PushUnit]) -> dict[str, str]:
        """Pre-send checks: {unit key: reason} for every unit that must not be sent."""
        ...

    def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]: ...

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]: ...

    def push_order(self, mapping: Mapping) -> list[tuple[str, bool]]:
        """(remote field, descending) pairs a whole-object push wants its records sorted by;
        `[]` (BaseAdapter's default) leaves them in key order."""
        ...

    def check_connection(self) -> str:
        """Sign in and make one cheap read; return what was checked, in a few words.

        Raises AuthError (exit 2) naming the setting to fix when credentials are refused,
        ConfigError (2) when one is missing, UnreachableError (3) when the system cannot be reached.
        """
        ...

    def check_object(self, mapping: Mapping) -> str:
        """One small read of the mapping's object as a run would read it (one record, one page,
        one period); return what was read, in a few words. Sends nothing that changes the remote.

        Raises AuthError (2) when the object is refused to these credentials, ConfigError (2) when
        the remote does not know it (or an option names what it lacks), UnreachableError (3).
        """
        ...

    def close(self) -> None: ...


@runtime_checkable
class SharedPulls(Protocol):
    """Capability: several of this system's pulls may read at once (`[run] threads` above 1).

    The adapter promises what makes that safe: a reference read several pulls need (a chart, the
    versions) is made once however many ask together; every call, whoever sends it, stays within the
    API's in-flight cap (its client is built with `in_flight`); a thread it starts for a call runs in
    the caller's context (`contextvars.copy_context()`), so each pull's requests are counted to it.
    """

    def pulls_at_once(self) -> int:
        """How many of its pulls may read together."""
        ...


def as_shared_pulls(adapter: Any) -> SharedPulls | None:
    return adapter if isinstance(adapter, SharedPulls) else None


JobsQueued = Callable[[KeyMap[str, str]], None]
"""Called by a `RemoteJobs` adapter with {unit key: job reference} as soon as the remote accepted a job."""


class UnitFeed(Protocol):
    """A batch's units, handed to a `RemoteJobs` adapter as it asks for them, so its first jobs leave
    while the engine still reads the later units (and writes their intents) between the requests."""

    def take(self, count: int) -> list[PushUnit]:
        """Up to `count` more units, each one's intent recorded and committed in the ledger before it is
        returned (so it may be sent at once); an empty list when the batch has no more."""
        ...

    def settled(self, results: KeyMap[str, UnitResult]) -> None:
        """Results of units taken, known before `write_queued` returns (a finished wave of jobs): the
        engine records them now, while later units are in flight (call it while waiting on the remote).
        `write_queued` still answers them; they are recorded once."""
        ...


class UnitList:
    """A `UnitFeed` over units already in hand (an adapter's plain `write()`, tests)."""

    def __init__(self, units: Iterable[PushUnit]) -> None:
        self._units = iter(units)

    def take(self, count: int) -> list[PushUnit]:
        return list(itertools.islice(self._units, count))

    def settled(self, results: KeyMap[str, UnitResult]) -> None:
        """Nothing to record early: the caller has every result from `write()`."""


def take_all(feed: UnitFeed, chunk: int = 10_000) -> list[PushUnit]:
    """Every unit a feed has left (an adapter that needs them all before its first request)."""
    out: list[PushUnit] = []
    while more := feed.take(chunk):
        out.extend(more)
    return out


@runtime_checkable
class RemoteJobs(Protocol):
    """Capability: the system queues writes as jobs and tells their outcome later (Zendesk bulk jobs).

    A job reference is the adapter's own text (Zendesk: job id and the unit's place in the job);
    the engine stores it with the unit's intent in the `sent` ledger, so a run killed while jobs
    run leaves them for the next run to read instead of sending their units again.
    """

    def write_queued(self, mapping: Mapping, units: UnitFeed, queued: JobsQueued) -> list[UnitResult]:
        """`write()` of the units it takes from the feed (as it needs them: a unit taken is ready to be
        sent), calling `queued({unit key: job reference})` for each accepted job before waiting on it.
        One result per unit taken, in the order taken; a unit taken and then not sent (the run was
        interrupted) is answered `not_sent`."""
        ...

    def settle_jobs(self, mapping: Mapping, jobs: KeyMap[str, str]) -> list[UnitResult]:
        """The outcome of jobs an earlier run queued ({unit key: job reference}), waiting for those still
        running. One result per unit whose outcome the remote tells; a unit whose job the remote no
        longer knows (expired) is left out: its outcome is unknown and the engine sends it again."""
        ...


def as_remote_jobs(adapter: Any) -> RemoteJobs | None:
    """The adapter's remote-jobs capability, or None when its writes are answered directly."""
    return adapter if isinstance(adapter, RemoteJobs) else None


@dataclass(frozen=True)
class ChartPoint:
    label: str
    values: tuple[str | None, ...]  # one exact decimal (as text) per series


@dataclass(frozen=True)
class ReportSection:
    """A table, and the bar chart that sums it up, that an adapter adds to a run's report.

    Computed when the run ends, from the warehouse tables the run wrote (no request), and stored
    with the run (`report_sections`), so the report renders from the run record alone. Numbers
    are exact decimals as text, like everything else in the record.
    """

    kind: str                                 # e.g. "plan_vs_actual"
    title: str
    mapping: str                              # the mapping the section is about
    columns: tuple[str, ...]
    rows: list[tuple[str | None, ...]]
    series: tuple[str, ...] = ()              # the chart's bars per point, e.g. ("plan", "actual")
    chart: list[ChartPoint] = field(default_factory=list)
    note: str | None = None                   # e.g. "the first 2,000 of 2,400 rows"


@runtime_checkable
class ReportSections(Protocol):
    """Capability: the adapter adds views of its own to a run's report (Adaptive: plan versus actual)."""

    def report_sections(self, warehouse: Warehouse, mappings: Sequence[Mapping]) -> list[ReportSection]:
        """Sections about `mappings` (the run's mappings of this system that ended ok or with rejects),
        read from the warehouse only: the run is over, nothing is sent or fetched."""
        ...


def as_report_sections(adapter: Any) -> ReportSections | None:
    return adapter if isinstance(adapter, ReportSections) else None


class BaseAdapter:
    """Sensible defaults so an adapter only writes the hooks it needs."""

    name = "base"
    spec: SystemSpec

    def __init__(self, context: AdapterContext) -> None:
        self.context = context

    def catalog(self) -> list[RemoteObject]:
        from migo_sync.catalog import load_catalog

        return load_catalog(self.spec.catalog)

    def catalog_object(self, name: str) -> RemoteObject | None:
        return next((o for o in self.catalog() if o.name == name), None)

    def describe(self, mapping: Mapping) -> RemoteObject:
        found = self.catalog_object(mapping.object)
        if found is None:
            from migo_sync.errors import ConfigError

            raise ConfigError(f"{self.name}: unknown object '{mapping.object}'")
        return found

    def validate(self, mapping: Mapping) -> list[tuple[str, str]]:
        return []

    def check(self, mapping: Mapping, units: Sequence[PushUnit]) -> dict[str, str]:
        return {}

    def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]:
        from migo_sync.errors import ConfigError

        raise ConfigError(f"{self.name}: object '{mapping.object}' cannot be pushed")

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]:
        from migo_sync.errors import ConfigError

        raise ConfigError(f"{self.name}: object '{mapping.object}' cannot be pulled")

    def check_connection(self) -> str:
        """Every adapter overrides this (the contract test checks): no system is taken on trust."""
        from migo_sync.errors import ConfigError

        raise ConfigError(f"{self.name}: this adapter cannot check its connection")

    def check_object(self, mapping: Mapping) -> str:
        """Every adapter overrides this too (the contract test checks): `describe()` alone may
        never leave the catalog, and a catalog entry proves nothing about the remote."""
        from migo_sync.errors import ConfigError

        raise ConfigError(f"{self.name}: this adapter cannot check that '{mapping.object}' is readable")

    def push_order(self, mapping: Mapping) -> list[tuple[str, bool]]:
        """(remote field, descending) pairs a whole-object push wants its records sorted by; the
        engine sorts in the warehouse (NULLs last, then by key)."""
        return []

    def close(self) -> None:
        return None


def idempotency_key(feed: str, unit_key: str, length: int = 32) -> str:
    """Deterministic key for one pushed unit: the same feed (`Mapping.feed`, which survives a
    rename through `continues:`) and unit always give the same key."""
    return hashlib.sha256(f"{feed}\x1f{unit_key}".encode()).hexdigest()[:length]


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Split an iterable into lists of at most `size` items."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
