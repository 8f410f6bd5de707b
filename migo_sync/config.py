"""A project: a folder with `migo-sync.toml` and `mappings/`.

    [warehouse]
    type = "duckdb"                 # or "snowflake"
    path = "warehouse.duckdb"       # duckdb: relative to the project
    connection_name = "prod"        # snowflake: a named connection from connections.toml
    state_schema = "migo_sync"      # where migo-sync keeps runs, rejects, cursors and the ledger

    [systems.sheets]
    url = "..."                     # base URL; MIGO_SYNC_SHEETS_URL overrides
    rate_limit = 5                  # requests per second
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from migo_sync import textcache
from migo_sync.errors import ConfigError, MappingError, Problem
from migo_sync.evidence.alerts import AlertsConfig
from migo_sync.evidence.runlog import LogsConfig
from migo_sync.lineage.settings import OpenLineageConfig
from migo_sync.targets import SANDBOX, chosen_target, merge, sandbox_environ
from migo_sync.zones.config import ZonesConfig

CONFIG_FILE = "migo-sync.toml"


class WarehouseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["duckdb", "snowflake"] = "duckdb"
    path: str = "warehouse.duckdb"
    connection_name: str | None = None
    database: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    # A plain identifier: it is created and queried unquoted in both warehouses.
    state_schema: str = Field(default="migo_sync", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    # DuckDB only: its buffer pool cap ("512MB", "2GB"; default 80 % of RAM) and worker threads
    # (default: one per core). Lower bounds memory at some speed; see README, Benchmarks.
    memory_limit: str | None = None
    threads: int | None = Field(default=None, ge=1)
    # DuckDB only: a missing file is created only when asked (or by `migo-sync init`), so a
    # misspelt path is refused instead of silently starting an empty warehouse.
    create: bool = False


class RunConfig(BaseModel):
    """`[run]`: how a run schedules its mappings (README, "Running several systems at once")."""

    model_config = ConfigDict(extra="forbid")

    # Pulls read their remote at once, ahead of their turn: up to threads - 1 besides the engine's own
    # turn; 1 = one at a time. 5 = one per shipped system (README "Several systems at once").
    threads: int = Field(default=5, ge=1, le=16)
    # After a journal push that found nothing to send: "always" compares the ledger again (an entry
    # posted by hand under one of the feed's references shows up); "changed" only when the last
    # reconciliation of that push did not match (no ledger read on an unchanged rerun).
    reconcile: Literal["always", "changed"] = "always"


class TargetConfig(BaseModel):
    """`[targets.NAME]`: warehouse and system settings that replace the project's own."""

    model_config = ConfigDict(extra="forbid")

    warehouse: dict[str, Any] = Field(default_factory=dict)
    systems: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "migo-sync project"
    mappings: str = "mappings"
    dictionary: str = "dictionary"
    default_target: str | None = None
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    systems: dict[str, dict[str, Any]] = Field(default_factory=dict)
    zones: ZonesConfig = Field(default_factory=ZonesConfig)
    openlineage: OpenLineageConfig = Field(default_factory=OpenLineageConfig)
    logs: LogsConfig = Field(default_factory=LogsConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    targets: dict[str, TargetConfig] = Field(default_factory=dict)


def config_problem(path: Path, text: str, error: Any) -> Problem:
    """One validation error of migo-sync.toml, placed on the line of its key (tomllib keeps no
    positions, so the key is found under its table header)."""
    loc = [str(p) for p in error["loc"]]
    message = str(error["msg"])
    hint = None
    if error["type"] == "extra_forbidden":
        message = f"unknown key '{loc[-1]}'"
        model: Any = (ProjectConfig if len(loc) == 1 else WarehouseConfig if loc[0] == "warehouse" or loc[2:3] == [
            "warehouse"] else TargetConfig if loc[0] == "targets" and len(loc) == 3 else RunConfig if loc[0] == "run" else None)
        if model is not None:
            allowed = [f.alias or name for name, f in model.model_fields.items()]
            close = difflib.get_close_matches(loc[-1], allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "allowed: " + ", ".join(allowed)
    elif error["type"] == "string_pattern_mismatch" and loc[-1] == "state_schema":
        message = f"invalid schema name {error.get('input')!r}"
        hint = "letters, digits and _, not starting with a digit"
    elif error["type"] == "literal_error":
        message = f"invalid value {error.get('input')!r}"
        hint = "valid: " + str(error.get("ctx", {}).get("expected", "")).replace("'", "").replace(" or ", ", ")
    return Problem(str(path), _key_line(text, loc), ".".join(loc), message, hint)


def _key_line(text: str, loc: list[str]) -> int | None:
    """The line of `a.b.key` in TOML text: the key under the `[a.b]` header (or at the top)."""
    table, key = loc[:-1], loc[-1] if loc else ""
    current: list[str] = []
    header_line = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[([^\[\]]+)\]", line)
        if header:
            current = [p.strip().strip('"') for p in header.group(1).split(".")]
            if current == loc:
                header_line = number
            continue
        if current == table and re.match(rf"^\"?{re.escape(key)}\"?\s*=", line):
            return number
    return header_line


def _read_config(path: Path) -> str:
    """migo-sync.toml as text; unreadable or not UTF-8 is one line naming the file (exit 2)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as "
                          "UTF-8") from None


def unknown_systems(path: Path, text: str, config: ProjectConfig) -> list[Problem]:
    """A `[systems.NAME]` no adapter answers to: a typo must not be ignored while the run goes on."""
    from migo_sync.registry import systems  # the registry imports adapters' specs: only when needed

    known = sorted(systems())
    problems = []
    for name in config.systems:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "known: " + ", ".join(known)
            problems.append(Problem(str(path), _key_line(text, ["systems", name]), f"systems.{name}",
                                    f"unknown system '{name}'", hint))
    return problems


@dataclass
class Project:
    root: Path
    config: ProjectConfig
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    target: str | None = None

    @classmethod
    def load(cls, root: Path | str | None = None, target: str | None = None) -> Project:
        """Read migo-sync.toml; with a target (--target, MIGO_SYNC_TARGET or `default_target`),
        its settings replace the project's own (see migo_sync.targets)."""
        root = Path(root or ".").resolve()
        path = root / CONFIG_FILE
        if not path.exists():
            raise ConfigError(f"{path}: no project here (run 'migo-sync init' or pass --project DIR)")
        text = _read_config(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = re.search(r"at line (\d+)", str(exc))
            where = f"{path}:{line.group(1)}" if line else str(path)
            raise ConfigError(f"{where}: invalid TOML: {re.sub(r' [(]at line .*[)]$', '', str(exc))}") from None
        try:
            config = ProjectConfig.model_validate(data)
        except ValidationError as exc:
            problems = [config_problem(path, text, error) for error in exc.errors()]
            raise MappingError(problems) from None
        unknown = unknown_systems(path, text, config)
        if unknown:
            raise MappingError(unknown)
        project = cls(root=root, config=config)
        textcache.use(project.state_dir / "cache")  # parsed mappings, lineage: reused while unchanged
        name = chosen_target(target, config.default_target, project.environ)
        return project.with_target(name, path, data) if name else project

    def with_target(self, name: str, path: Path, data: dict[str, Any]) -> Project:
        """This project with target `name` applied; an unknown target is a ConfigError (exit 2)."""
        target = self.config.targets.get(name)
        if target is None and name != SANDBOX:
            known = sorted({*self.config.targets, SANDBOX})
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(f"{path}: no target '{name}' ({hint}targets: {', '.join(known)}; "
                              "define one as [targets.NAME])")
        merged = merge(data, target.model_dump(exclude_defaults=True)) if target else data
        merged.pop("targets", None)
        try:
            config = ProjectConfig.model_validate(merged)
        except ValidationError as exc:
            text = path.read_text(encoding="utf-8")
            raise MappingError([config_problem(path, text, {**e, "loc": ("targets", name, *e["loc"])})
                                for e in exc.errors()]) from None
        config.targets = self.config.targets
        environ = sandbox_environ(self.state_dir, self.environ) if name == SANDBOX else self.environ
        return Project(root=self.root, config=config, environ=environ, target=name)

    @property
    def mappings_dir(self) -> Path:
        return self.root / self.config.mappings

    @property
    def dictionary_dir(self) -> Path:
        return self.root / self.config.dictionary

    @property
    def state_dir(self) -> Path:
        """Where migo-sync keeps local files of its own (sandbox state, keys for the sandbox)."""
        return self.root / ".migo-sync"

    def system_settings(self, system: str) -> dict[str, Any]:
        return dict(self.config.systems.get(system, {}))

    def system_url(self, system: str, default: str, key: str = "url") -> str:
        env = f"MIGO_SYNC_{system.upper()}_{key.upper()}"
        return (self.environ.get(env) or self.system_settings(system).get(key) or default).rstrip("/")
