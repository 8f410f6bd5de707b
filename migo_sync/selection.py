"""Which mappings a command works on: `--select` / `--exclude` selectors, dbt style.

A selector is a mapping name or a glob over names (`intacct_*`), or `METHOD:VALUE` with METHOD
one of `tag`, `system`, `direction` (VALUE may be a glob too). Selectors given together are a
union; a comma inside one is an intersection (`tag:nightly,system:intacct`). A leading `+`
also selects every mapping it depends on, transitively (`+intacct_gl_detail_pull`).

An exact name selects its mapping even when it is `enabled: false`; every other selector
matches enabled mappings only. With no selector: every enabled mapping. A selector that matches
nothing is a usage error (exit 2), with a "did you mean" when a name is close.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

from migo_sync.errors import UsageError
from migo_sync.mapping.loader import LoadedMapping, did_you_mean
from migo_sync.mapping.model import Mapping

METHODS = ("tag", "system", "direction")


@dataclass
class Chosen:
    """The selected mappings (file order), and the dependencies a `+` pulled in."""

    mappings: list[LoadedMapping]
    pulled_in: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [m.mapping.name for m in self.mappings]


def _parts(term: str) -> list[tuple[str, str]]:
    """`tag:a,system:b` as [("tag", "a"), ("system", "b")]; a bare word is ("name", word)."""
    out: list[tuple[str, str]] = []
    for part in term.split(","):
        part = part.strip()
        method, sep, value = part.partition(":")
        if sep and method in METHODS:
            if not value:
                raise UsageError(f"selector '{part}': {method}: needs a value, e.g. {method}:{_example(method)}")
            if method == "direction" and value not in ("push", "pull"):
                raise UsageError(f"selector '{part}': direction is push or pull")
            out.append((method, value))
        elif sep:
            raise UsageError(f"selector '{part}': unknown method '{method}' (methods: {', '.join(METHODS)}; "
                             "or a mapping name or glob)")
        elif part:
            out.append(("name", part))
    if not out:
        raise UsageError(f"empty selector '{term}'")
    return out


def _example(method: str) -> str:
    return {"tag": "nightly", "system": "intacct", "direction": "push"}[method]


def _is_glob(value: str) -> bool:
    return any(c in value for c in "*?[")


def _matches(mapping: Mapping, method: str, value: str) -> bool:
    if method == "name":
        return fnmatch.fnmatchcase(mapping.name, value)
    if method == "tag":
        return any(fnmatch.fnmatchcase(tag, value) for tag in mapping.tags)
    if method == "system":
        return fnmatch.fnmatchcase(mapping.system, value)
    return mapping.direction == value


def matching(loaded: Sequence[LoadedMapping], term: str, *, enabled_only: bool = True) -> list[LoadedMapping]:
    """The mappings one selector (with its comma intersections) picks; `+` is ignored here."""
    parts = _parts(term.lstrip("+"))
    exact = len(parts) == 1 and parts[0][0] == "name" and not _is_glob(parts[0][1])
    return [m for m in loaded if (exact or not enabled_only or m.mapping.enabled)
            and all(_matches(m.mapping, method, value) for method, value in parts)]


def _nothing_matched(loaded: Sequence[LoadedMapping], term: str) -> UsageError:
    names = [m.mapping.name for m in loaded]
    tags = sorted({t for m in loaded for t in m.mapping.tags})
    parts = _parts(term.lstrip("+"))
    method, value = parts[0]
    if len(parts) == 1 and method == "name" and not _is_glob(value):
        hint = did_you_mean(value, names)
        return UsageError(f"unknown mapping '{value}'" + (f" ({hint})" if hint else "")
                          + f"; known: {', '.join(sorted(names)) or 'none'}")
    hint = did_you_mean(value, tags) if method == "tag" else None
    known = f"; tags in use: {', '.join(tags)}" if method == "tag" and tags else ""
    return UsageError(f"selector '{term}' matches no enabled mapping" + (f" ({hint})" if hint else "") + known)


def select(loaded: Sequence[LoadedMapping], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Chosen:
    """Apply selectors in file order. Raises UsageError for a selector that matches nothing, and
    when an `--exclude` removes a dependency that a `+` selector asked for."""
    by_name = {m.mapping.name: m for m in loaded}
    chosen: dict[str, LoadedMapping] = {}
    wants_parents: set[str] = set()
    for term in include:
        found = matching(loaded, term)
        if not found:
            raise _nothing_matched(loaded, term)
        for m in found:
            chosen[m.mapping.name] = m
            if term.startswith("+"):
                wants_parents.add(m.mapping.name)
    if not include:
        chosen = {m.mapping.name: m for m in loaded if m.mapping.enabled}
    excluded: set[str] = set()
    for term in exclude:
        found = matching(loaded, term, enabled_only=False)
        if not found:  # a misspelt exclude must not let through what it meant to hold back
            raise UsageError(f"--exclude '{term}' matches no mapping"
                             + (f" ({hint})" if (hint := did_you_mean(term, by_name)) else ""))
        excluded.update(m.mapping.name for m in found)
    pulled: list[str] = []
    stack = sorted(wants_parents)
    while stack:
        name = stack.pop()
        for dep in by_name[name].mapping.depends_on:
            if dep in excluded:
                raise UsageError(f"'{name}' depends on '{dep}', which --exclude removes: drop that exclude, "
                                 f"or select '{name}' without the leading +")
            if dep not in chosen and dep in by_name:
                chosen[dep] = by_name[dep]
                pulled.append(dep)
                stack.append(dep)
    kept = [m for m in loaded if m.mapping.name in chosen and m.mapping.name not in excluded]
    return Chosen(kept, pulled_in=[n for n in pulled if n not in excluded],
                  excluded=sorted(n for n in excluded if n in chosen))


def missing_dependencies(chosen: Chosen) -> list[tuple[str, str]]:
    """(mapping, dependency) pairs where the dependency is not selected: it will not run first."""
    names = set(chosen.names)
    return [(m.mapping.name, dep) for m in chosen.mappings for dep in m.mapping.depends_on if dep not in names]
