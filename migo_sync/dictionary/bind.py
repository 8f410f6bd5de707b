"""Fields that say `term: X` inherit X's type, scale, accepted values and this system's value map.

Pure: mappings in, mappings out. The checks that a binding agrees with its term are in checks.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from migo_sync.dictionary.loader import Dictionary
from migo_sync.dictionary.model import Term
from migo_sync.mapping.loader import LoadedMapping
from migo_sync.mapping.model import Check, FieldSpec, Mapping, Transform


def term_value_map(term: Term, system: str) -> dict[str, Any] | None:
    spec = term.systems.get(system)
    return dict(spec.values) if spec is not None and spec.values else None


def _literal(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def bind_field(field: FieldSpec, term: Term, system: str) -> FieldSpec:
    update: dict[str, Any] = {}
    if "type" not in field.model_fields_set:
        update["type"] = term.type
    if "scale" not in field.model_fields_set and term.scale is not None:
        update["scale"] = term.scale
    values = term_value_map(term, system)
    if values and not any(t.value_map for t in field.transform):
        update["transform"] = [Transform(value_map=values), *field.transform]
    return field.model_copy(update=update) if update else field


def bind_mapping(mapping: Mapping, dictionary: Dictionary) -> Mapping:
    fields: list[FieldSpec] = []
    checks: list[Check] = list(mapping.checks)
    for field in mapping.fields:
        term = dictionary.get(field.term) if field.term else None
        if term is None:
            fields.append(field)
            continue
        fields.append(bind_field(field, term, mapping.system))
        if mapping.direction == "push" and field.column and term.accepted_values is not None:
            checks.append(Check(accepted_values={field.column: list(term.accepted_values)},
                                message=f"{field.column}: not an accepted value of term {term.name}"))
        if mapping.direction == "push" and field.column and term.range is not None:
            bounds = [f"{field.column} >= {_literal(term.range.min)}" if term.range.min is not None else "",
                      f"{field.column} <= {_literal(term.range.max)}" if term.range.max is not None else ""]
            condition = " AND ".join(b for b in bounds if b)
            if condition:
                checks.append(Check(expression=f"{field.column} IS NULL OR ({condition})",
                                    message=f"{field.column}: outside the range of term {term.name}"))
    if fields == list(mapping.fields) and checks == list(mapping.checks):
        return mapping
    return mapping.model_copy(update={"fields": fields, "checks": checks})


def bind(loaded: Sequence[LoadedMapping], dictionary: Dictionary) -> list[LoadedMapping]:
    """Every mapping with its bound fields resolved (unknown terms are left for the checks)."""
    if not dictionary:
        return list(loaded)
    return [replace(item, mapping=bind_mapping(item.mapping, dictionary)) for item in loaded]
