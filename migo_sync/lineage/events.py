"""OpenLineage run events through the official client: START before each mapping, COMPLETE or
FAIL after, with input/output datasets (a namespace per warehouse and per system), schema and
column-lineage facets. Off unless `[openlineage] transport` says file or http.

Lineage is observability: a receiver that is down never fails or slows the nightly job beyond
one bounded attempt per event (logged, never with the API key)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from migo_sync import __version__
from migo_sync.config import Project
from migo_sync.engine.result import MappingResult
from migo_sync.errors import ConfigError
from migo_sync.lineage.graph import Graph, remote_dataset
from migo_sync.mapping.model import Mapping

log = logging.getLogger("migo_sync.lineage")
PRODUCER = f"https://pypi.org/project/migo-sync/{__version__}"


def _client(project: Project) -> Any:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.file import FileConfig, FileTransport
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

    cfg = project.config.openlineage
    if cfg.transport == "file":
        path = project.root / cfg.path
        return OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path), append=True)))
    if not cfg.url:
        raise ConfigError("[openlineage] transport = \"http\" needs url (e.g. http://localhost:5000 for Marquez)")
    auth = None
    if cfg.api_key_env:
        key = project.environ.get(cfg.api_key_env)
        if not key:
            raise ConfigError(f"[openlineage] api_key_env: ${cfg.api_key_env} is not set")
        auth = ApiKeyTokenProvider({"apiKey": key})
    http = HttpConfig(url=cfg.url, endpoint=cfg.endpoint, timeout=cfg.timeout,
                      retry={"total": 0, "allowed_methods": ["POST"]})
    if auth is not None:
        http.auth = auth
    return OpenLineageClient(transport=HttpTransport(http))


def warehouse_namespace(project: Project) -> str:
    wh = project.config.warehouse
    if wh.type == "duckdb":
        return f"duckdb://{(project.root / wh.path).resolve()}"
    return f"snowflake://{wh.connection_name or wh.database or 'default'}"


def system_namespace(project: Project, system: str) -> str:
    from migo_sync.registry import systems

    spec = systems().get(system)
    url = project.system_url(system, spec.default_url) if spec is not None else ""
    return f"{system}://{urlparse(url).netloc or system}"


class Emitter:
    """One per run; `start()` and `finish()` per mapping. A no-op when OpenLineage is off."""

    def __init__(self, project: Project, graph: Graph) -> None:
        self.project = project
        self.graph = graph
        self.namespace = project.config.openlineage.namespace
        self.client = None if project.config.openlineage.transport == "off" else _client(project)
        self.runs: dict[str, str] = {}

    def start(self, mapping: Mapping) -> None:
        if self.client is None:
            return
        from openlineage.client.uuid import generate_new_uuid

        self.runs[mapping.name] = str(generate_new_uuid())
        self._emit(mapping, "START", None)

    def finish(self, mapping: Mapping, result: MappingResult) -> None:
        if self.client is None or mapping.name not in self.runs:
            return
        self._emit(mapping, "FAIL" if result.status == "failed" else "COMPLETE", result)

    def _emit(self, mapping: Mapping, state: str, result: MappingResult | None) -> None:
        from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
        from openlineage.client.facet_v2 import error_message_run

        facets: dict[str, Any] = {}
        if result is not None and result.status == "failed":
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=result.error or "failed", programmingLanguage="python")
        inputs, outputs = self._datasets(mapping)
        event = RunEvent(eventType=getattr(RunState, state), eventTime=datetime.now(UTC).isoformat(),
                         run=Run(runId=self.runs[mapping.name], facets=facets),
                         job=Job(namespace=self.namespace, name=mapping.name),
                         producer=PRODUCER, inputs=inputs, outputs=outputs)
        try:
            self.client.emit(event)  # type: ignore[union-attr]
        except Exception as exc:  # lineage never fails the sync; the message names no credential
            log.warning("OpenLineage %s event for %s not delivered: %s", state, mapping.name, type(exc).__name__)

    def _datasets(self, m: Mapping) -> tuple[list[Any], list[Any]]:
        from openlineage.client.event_v2 import InputDataset, OutputDataset
        from openlineage.client.facet_v2 import column_lineage_dataset as cl
        from openlineage.client.facet_v2 import schema_dataset as sd

        wh = warehouse_namespace(self.project)
        remote_ns = system_namespace(self.project, m.system)
        remote = remote_dataset(m)
        remote_schema = sd.SchemaDatasetFacet(fields=[sd.SchemaDatasetFacetFields(name=f.remote, type=f.type.value)
                                                      for f in m.fields])
        edges = [e for e in self.graph.edges if e.mapping == m.name]
        lineage: dict[str, list[Any]] = {}
        for e in edges:
            dst = self.graph.nodes[e.dst]
            if not dst.name:
                continue
            # a push reading a view is computed from what the view reads, down to the base tables
            sources = [e.src] if m.direction == "pull" else sorted(self.graph.upstream([e.src]))
            for node_id in sources:
                src = self.graph.nodes[node_id]
                if not src.name or (m.direction == "push" and src.kind != "column"):
                    continue
                ns = remote_ns if src.kind == "remote" else wh
                field = cl.InputField(namespace=ns, name=src.dataset, field=src.name)
                if field not in lineage.setdefault(dst.name, []):
                    lineage[dst.name].append(field)
        column_facet = cl.ColumnLineageDatasetFacet(fields={k: cl.Fields(inputFields=v) for k, v in lineage.items()})
        if m.direction == "pull":
            assert m.warehouse.table is not None
            table_schema = sd.SchemaDatasetFacet(fields=[sd.SchemaDatasetFacetFields(name=f.column, type=f.type.value)
                                                         for f in m.fields if f.column])
            return ([InputDataset(namespace=remote_ns, name=remote, facets={"schema": remote_schema})],
                    [OutputDataset(namespace=wh, name=m.warehouse.table.lower(),
                                   facets={"schema": table_schema, "columnLineage": column_facet})])
        read = self.graph.reads.get(m.name, [])
        tables = [*read, *sorted({b for r in read for b in self.graph.bases(r)} - set(read))]  # views' bases too
        inputs = [InputDataset(namespace=wh, name=table) for table in tables]
        return inputs, [OutputDataset(namespace=remote_ns, name=remote,
                                      facets={"schema": remote_schema, "columnLineage": column_facet})]
