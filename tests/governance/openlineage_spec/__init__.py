"""The OpenLineage JSON schemas vendored here (see SOURCES.md), as one jsonschema validator.

`check(event)` validates an event against the core schema, then every facet it carries (run, job,
dataset, input and output facets) against that facet's own schema, each `$ref` resolved through a
`referencing` registry of the vendored files: nothing is fetched. A facet without a vendored schema
fails the check: emitting a new facet means vendoring its schema first."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

HERE = Path(__file__).parent
# The versions of the core the vendored facets and the client's events name; each resolves to the
# vendored core (see SOURCES.md for why one core document serves all three).
CORE_ALIASES = ("https://openlineage.io/spec/1-0-2/OpenLineage.json", "https://openlineage.io/spec/2-0-2/OpenLineage.json")


@cache
def _schemas() -> tuple[dict[str, Any], dict[str, dict[str, Any]], Registry]:
    core = json.loads((HERE / "OpenLineage.json").read_text(encoding="utf-8"))
    resources = [(core["$id"], Resource.from_contents(core))]
    resources += [(alias, Resource.from_contents(core)) for alias in CORE_ALIASES]
    facets: dict[str, dict[str, Any]] = {}  # schema file name (TagsRunFacet.json) → schema
    for path in sorted((HERE / "facets").glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
        facets[path.name] = schema
    return core, facets, Registry().with_resources(resources)


def _validate(instance: Any, schema: dict[str, Any], registry: Registry) -> None:
    jsonschema.Draft202012Validator(schema, registry=registry,
                                    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(instance)


def _facet_groups(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(kind of facet the schema's name must end with, facets) for every place facets live."""
    groups = [("RunFacet", event.get("run", {}).get("facets") or {}),
              ("JobFacet", event.get("job", {}).get("facets") or {})]
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        groups += [("DatasetFacet", dataset.get("facets") or {}),
                   ("InputDatasetFacet", dataset.get("inputFacets") or {}),
                   ("OutputDatasetFacet", dataset.get("outputFacets") or {})]
    return groups


def check(event: dict[str, Any]) -> dict[str, Any]:
    """The event, once it is valid against the core schema and every facet's schema."""
    core, facets, registry = _schemas()
    _validate(event, core, registry)
    for kind, group in _facet_groups(event):
        for key, facet in group.items():
            name = facet["_schemaURL"].split("#")[0].rsplit("/", 1)[-1]  # …/facets/1-2-0/X.json#/$defs/X → X.json
            schema = facets.get(name)
            if schema is None or not name.endswith(f"{kind}.json") or key not in schema["properties"]:
                raise AssertionError(f"{kind} '{key}' ({facet['_schemaURL']}) has no vendored OpenLineage schema: "
                                     "vendor it (SOURCES.md)")
            _validate({key: facet}, schema, registry)
    return event
