"""Field-by-field differences between two versions of the mappings, and drift from the remote.

Pure functions over loaded models; `git show` and the remote calls live in the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from migo_sync.adapter import RemoteObject
from migo_sync.mapping.model import FieldSpec, Mapping

TOP_LEVEL = ("continues", "system", "object", "direction", "warehouse", "key", "group_by", "mode", "options", "checks",
             "depends_on", "batch_size", "enabled", "description")
FIELD_ATTRS = ("remote", "column", "type", "scale", "transform", "constant", "required")


@dataclass(frozen=True)
class Change:
    mapping: str
    kind: str  # added | removed | changed | renamed | renamed-unlinked | drift-added | drift-removed | drift-retyped
    path: str
    before: Any = None
    after: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"mapping": self.mapping, "kind": self.kind, "path": self.path,
                "before": self.before, "after": self.after}


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True, exclude_defaults=True, mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _field_id(field: FieldSpec) -> str:
    return field.column or f"={field.remote}"


def diff_mappings(before: Sequence[Mapping], after: Sequence[Mapping]) -> list[Change]:
    changes: list[Change] = []
    old = {m.name: m for m in before}
    new = {m.name: m for m in after}
    for gone, came in _renames(old, new):
        a, b = old.pop(gone), new.pop(came)
        if b.feed == a.feed:
            changes.append(Change(came, "renamed", "name", gone, came))
        else:  # the sent history stays with the old feed: every unit would be sent again
            changes.append(Change(came, "renamed-unlinked", "continues", None, a.feed))
        changes.extend(diff_mapping(a, b))
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            changes.append(Change(name, "added", "", None, f"{new[name].system} {new[name].object}"))
            continue
        if name not in new:
            changes.append(Change(name, "removed", "", f"{old[name].system} {old[name].object}", None))
            continue
        changes.extend(diff_mapping(old[name], new[name]))
    return changes


def _renames(old: dict[str, Mapping], new: dict[str, Mapping]) -> list[tuple[str, str]]:
    """(old name, new name) of pushes that are one feed under a new name: the new one continues
    the old one's feed, or (not yet linked) sends to the same object from the same relation."""
    gone = [m for n, m in old.items() if n not in new and m.direction == "push"]
    came = [m for n, m in new.items() if n not in old and m.direction == "push"]
    pairs: list[tuple[str, str]] = []
    for b in came:
        same = [a for a in gone if a.feed == b.feed] or [
            a for a in gone if (a.system, a.object, a.warehouse, a.key, a.group_by)
            == (b.system, b.object, b.warehouse, b.key, b.group_by)]
        if same:
            pairs.append((same[0].name, b.name))
            gone.remove(same[0])
    return pairs


def diff_mapping(a: Mapping, b: Mapping) -> list[Change]:
    changes: list[Change] = []
    for attr in TOP_LEVEL:
        va, vb = _plain(getattr(a, attr)), _plain(getattr(b, attr))
        if va != vb:
            changes.append(Change(a.name, "changed", attr, va, vb))
    fa = {_field_id(f): f for f in a.fields}
    fb = {_field_id(f): f for f in b.fields}
    for fid in [*fa, *[k for k in fb if k not in fa]]:
        if fid not in fb:
            changes.append(Change(a.name, "removed", f"fields[{fid}]", f"{fa[fid].remote} ({fa[fid].type.value})", None))
        elif fid not in fa:
            changes.append(Change(a.name, "added", f"fields[{fid}]", None, f"{fb[fid].remote} ({fb[fid].type.value})"))
        else:
            for attr in FIELD_ATTRS:
                va, vb = _plain(getattr(fa[fid], attr)), _plain(getattr(fb[fid], attr))
                if va != vb:
                    changes.append(Change(a.name, "changed", f"fields[{fid}].{attr}", va, vb))
    return changes


def mapped_drift(mapping: Mapping, changes: list[Change]) -> list[Change]:
    """Only the drift of fields the mapping maps (what can break it); the rest is `--all`."""
    mapped = {f.remote for f in mapping.fields}
    return [c for c in changes if not c.kind.startswith("drift") or c.path in mapped]


def drift(mapping: Mapping, expected: RemoteObject, live: RemoteObject) -> list[Change]:
    """How the live remote differs from what the mapping was written against.

    For an object with a fixed schema the baseline is the catalog: fields added, removed or
    retyped remotely, plus mapped fields the remote no longer has. For an object whose fields are
    only known live (sheet headers, custom fields) the baseline is the mapping itself: mapped
    fields that vanished, and live fields nobody maps yet.
    """
    now = {f.name: f for f in live.fields}
    mapped = {f.remote: f for f in mapping.fields}
    if expected.dynamic_fields or live.dynamic_fields:
        changes = [Change(mapping.name, "drift-removed", name, "mapped", None)
                   for name in mapped if name not in now and mapped[name].constant is None]
        changes += [Change(mapping.name, "drift-added", name, None, now[name].type)
                    for name in now if name not in mapped]
        return changes
    known = {f.name: f for f in expected.fields}
    changes = [Change(mapping.name, "drift-added", name, None, now[name].type)
               for name in sorted(now.keys() - known.keys())]
    changes += [Change(mapping.name, "drift-removed", name, known[name].type, None)
                for name in sorted(known.keys() - now.keys())]
    changes += [Change(mapping.name, "drift-retyped", name, known[name].type, now[name].type)
                for name in sorted(known.keys() & now.keys()) if known[name].type != now[name].type]
    if now:
        changes += [Change(mapping.name, "drift-removed", name, "mapped", None)
                    for name in sorted(mapped.keys() - now.keys() - known.keys())]
    return changes
