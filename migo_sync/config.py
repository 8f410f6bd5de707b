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

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from migo_sync.errors import ConfigError

CONFIG_FILE = "migo-sync.toml"


class WarehouseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["duckdb", "snowflake"] = "duckdb"
    path: str = "warehouse.duckdb"
    connection_name: str | None = None
    database: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    state_schema: str = "migo_sync"


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "migo-sync project"
    mappings: str = "mappings"
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    systems: dict[str, dict[str, Any]] = Field(default_factory=dict)


@dataclass
class Project:
    root: Path
    config: ProjectConfig
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def load(cls, root: Path | str | None = None) -> Project:
        root = Path(root or ".").resolve()
        path = root / CONFIG_FILE
        if not path.exists():
            raise ConfigError(f"{path}: no project here (run 'migo-sync init' or pass --project DIR)")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        try:
            config = ProjectConfig.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{path}: {where}: {first['msg']}") from exc
        return cls(root=root, config=config)

    @property
    def mappings_dir(self) -> Path:
        return self.root / self.config.mappings

    @property
    def state_dir(self) -> Path:
        """Where migo-sync keeps local files of its own (sandbox state, keys for the sandbox)."""
        return self.root / ".migo-sync"

    def system_settings(self, system: str) -> dict[str, Any]:
        return dict(self.config.systems.get(system, {}))

    def system_url(self, system: str, default: str, key: str = "url") -> str:
        env = f"MIGO_SYNC_{system.upper()}_{key.upper()}"
        return (self.environ.get(env) or self.system_settings(system).get(key) or default).rstrip("/")
