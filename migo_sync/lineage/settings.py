"""`[openlineage]` in migo-sync.toml (off by default).

    [openlineage]
    transport = "http"                 # off | file | http
    url = "http://localhost:5000"      # Marquez, DataHub, … (http)
    endpoint = "api/v1/lineage"
    api_key_env = "OPENLINEAGE_API_KEY"   # the key is read from this variable, never from the file
    path = "lineage.ndjson"            # file: one event per line, relative to the project
    namespace = "migo-sync"            # the jobs' namespace
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OpenLineageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transport: Literal["off", "file", "http"] = "off"
    url: str | None = None
    endpoint: str = "api/v1/lineage"
    api_key_env: str | None = None
    path: str = "lineage.ndjson"
    namespace: str = "migo-sync"
    timeout: float = Field(default=5.0, gt=0, le=60)
