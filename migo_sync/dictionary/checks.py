"""Dictionary checks run by `mapping validate` and before every run.

A bound field must agree with its term; one remote field is one term; one term has one value
map per system; an unbound field named like a term is asked "did you mean term X?"; a draft term
may not feed a push into a system of record. Checks read the mappings as written (before binding)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from migo_sync.dictionary.bind import term_value_map
from migo_sync.dictionary.loader import Dictionary, normalise
from migo_sync.errors import Problem
from migo_sync.mapping.loader import LoadedMapping, did_you_mean
from migo_sync.mapping.model import FieldSpec, Mapping

IsRecord = Callable[[Mapping], bool]


def check_terms(loaded: Sequence[LoadedMapping], dictionary: Dictionary,
                is_record: IsRecord = lambda m: False) -> list[Problem]:
    if not dictionary:  # no dictionary/ folder: `term:` names stay documentation, nothing to check against
        return []
    problems: list[Problem] = []
    words = dictionary.words()
    remote_terms: dict[tuple[str, str, str], tuple[str, str]] = {}  # (system, object, remote) → term, where
    value_maps: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}  # (term, system) → map, where
    for item in loaded:
        m = item.mapping
        for i, field in enumerate(m.fields):
            at: list[str | int] = ["fields", i]
            if field.term is None:
                if "term" not in field.model_fields_set:
                    problems.extend(_unbound(item, i, field, words))
                continue
            loaded_term = dictionary.terms.get(field.term)
            if loaded_term is None:
                problems.append(item.problem([*at, "term"], f"unknown term '{field.term}'",
                                             did_you_mean(field.term, dictionary.terms)
                                             or "add it to dictionary/*.yaml"))
                continue
            term = loaded_term.term
            problems.extend(_agrees(item, i, field, term, loaded_term.where))
            where = f"{item.display}:{item.line_of([*at, 'term'])}"
            key = (m.system, m.object, field.remote)
            other = remote_terms.setdefault(key, (term.name, where))
            if other[0] != term.name:
                problems.append(item.problem([*at, "term"], f"{m.system} {m.object}.{field.remote} is written as "
                                             f"term '{other[0]}' at {other[1]} and as '{term.name}' here",
                                             "one remote field is one term"))
            own = _own_value_map(field)
            if own is not None:
                seen = value_maps.setdefault((term.name, m.system), (own, where))
                if seen[0] != own:
                    problems.append(item.problem([*at, "transform"], f"term '{term.name}' has another value map "
                                                 f"for {m.system} at {seen[1]}", "one term, one value map per system"))
            if term.status == "draft" and m.direction == "push" and is_record(m):
                problems.append(item.problem([*at, "term"], f"draft term '{term.name}' may not feed a push into "
                                             f"{m.system} {m.object} (a system of record)",
                                             f"have {term.owner} approve it: status: approved"))
    return problems


def _own_value_map(field: FieldSpec) -> dict[str, Any] | None:
    return next(({str(k): v for k, v in t.value_map.items()} for t in field.transform if t.value_map), None)


def _unbound(item: LoadedMapping, i: int, field: FieldSpec, words: dict[str, str]) -> list[Problem]:
    for word in (field.column, field.remote):
        if word and normalise(word) in words:
            term = words[normalise(word)]
            return [item.problem(["fields", i], f"field '{word}' is named like dictionary term '{term}' but not "
                                 "bound to it", f"did you mean term: {term}? or term: null if it is not")]
    return []


def _agrees(item: LoadedMapping, i: int, field: FieldSpec, term: Any, where: str) -> list[Problem]:
    """Explicit settings on a bound field must say what the term says."""
    m = item.mapping
    at: list[str | int] = ["fields", i]
    problems: list[Problem] = []
    if "type" in field.model_fields_set and field.type is not term.type:
        problems.append(item.problem([*at, "type"], f"type {field.type.value} disagrees with term '{term.name}' "
                                     f"({term.type.value}, {where})", "drop type: the term gives it"))
    if "scale" in field.model_fields_set and field.scale != term.scale:
        problems.append(item.problem([*at, "scale"], f"scale {field.scale} disagrees with term '{term.name}' "
                                     f"(scale {term.scale}, {where})", "drop scale: the term gives it"))
    named = term.systems.get(m.system)
    if named is not None and field.remote not in named.names:
        problems.append(item.problem([*at, "remote"], f"term '{term.name}' is called '{' or '.join(named.names)}' "
                                     f"in {m.system}, not '{field.remote}' ({where})"))
    own = _own_value_map(field)
    if own is not None:
        if term.accepted_values is not None:
            accepted = {str(v) for v in term.accepted_values}
            bad = [k for k in own if k not in accepted]
            if bad:
                problems.append(item.problem([*at, "transform"], f"value '{bad[0]}' is not an accepted value of "
                                             f"term '{term.name}'", "accepted: " + ", ".join(sorted(accepted))))
        expected = term_value_map(term, m.system)
        off_list = bool(problems) and problems[-1].path.endswith("transform")  # already one line for it
        if not off_list and expected is not None and {str(k): v for k, v in expected.items()} != own:
            problems.append(item.problem([*at, "transform"], f"value map disagrees with term '{term.name}' for "
                                         f"{m.system} ({where})", "drop the value_map: the term gives it"))
    return problems
