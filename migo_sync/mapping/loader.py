"""Read mapping files into models, keeping every node's line number for error messages.

Every problem in every file is collected and reported at once as `FILE:LINE: path: message (hint)`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from migo_sync.errors import ConfigError, MappingError, Problem
from migo_sync.mapping import trees
from migo_sync.mapping.model import Check, FieldSpec, Mapping, Transform, WarehouseSide

SUFFIXES = (".yaml", ".yml")
ALLOWED_KEYS: dict[str, list[str]] = {
    "": list(Mapping.model_fields),
    "warehouse": list(WarehouseSide.model_fields),
    "fields[]": list(FieldSpec.model_fields),
    "transform[]": list(Transform.model_fields),
    "checks[]": list(Check.model_fields),
}


@dataclass
class LoadedMapping:
    """A valid mapping plus its parsed YAML, so later checks can still name lines."""

    mapping: Mapping
    raw: CommentedMap
    path: Path
    display: str

    def line_of(self, path: Sequence[str | int]) -> int | None:
        return line_of(self.raw, path)

    def problem(self, path: Sequence[str | int], message: str, hint: str | None = None) -> Problem:
        return Problem(self.display, self.line_of(path), format_path(path), message, hint)


def format_path(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def parse_path(text: str) -> list[str | int]:
    """'fields[3].column' → ['fields', 3, 'column']."""
    parts: list[str | int] = []
    for chunk in text.replace("]", "").split("."):
        name, *indexes = chunk.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indexes if i.isdigit())
    return parts


def line_of(raw: Any, path: Sequence[str | int]) -> int | None:
    """The 1-based line of the deepest node of `path` that exists in the YAML."""
    node = raw
    line: int | None = getattr(getattr(raw, "lc", None), "line", None)
    line = line + 1 if line is not None else None
    for part in path:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _allowed_for(loc: Sequence[str | int]) -> list[str]:
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return ALLOWED_KEYS[""]
    parent = names[-1] if len(names) == 1 else names[-2]
    if parent == "fields" or (len(names) >= 2 and names[-2] == "fields"):
        return ALLOWED_KEYS["fields[]"]
    if parent == "transform":
        return ALLOWED_KEYS["transform[]"]
    if parent == "checks":
        return ALLOWED_KEYS["checks[]"]
    if parent == "warehouse":
        return ALLOWED_KEYS["warehouse"]
    return ALLOWED_KEYS[""]


def problem_from_error(display: str, raw: Any, error: Any,
                        allowed_for: Callable[[Sequence[str | int]], list[str]] = _allowed_for) -> Problem:
    loc: list[str | int] = [p for p in error["loc"] if not (isinstance(p, str) and "[" in p)]
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith("@") and ": " in message:
        where, message = message[1:].split(": ", 1)
        loc = [*loc, *parse_path(where)]
    hint = None
    kind = error["type"]
    if kind == "extra_forbidden":
        field = str(loc[-1])
        parent = loc[:-1]
        message = f"unknown key '{field}'"
        hint = did_you_mean(field, allowed_for(loc)) or "allowed: " + ", ".join(allowed_for(loc))
        return Problem(display, line_of(raw, loc), format_path(parent) or field, message, hint)
    if kind == "missing":
        message = "is required"
    elif kind in ("literal_error", "enum"):
        message = f"invalid value {error.get('input')!r}"
        expected = str(error.get("ctx", {}).get("expected", ""))
        hint = "valid: " + expected.replace("'", "").replace(" or ", ", ") if expected else None
    return Problem(display, line_of(raw, loc), format_path(loc), message, hint)


def drop_explained(problems: list[Problem]) -> list[Problem]:
    """A misspelt key also shows up as a missing one: keep only the 'did you mean' line."""
    meant = {(p.path, (p.hint or "").split("'")[1]) for p in problems
             if p.message.startswith("unknown key") and (p.hint or "").startswith("did you mean")}
    kept = []
    for p in problems:
        parent, _, leaf = p.path.rpartition(".")
        if p.message == "is required" and ((parent, leaf) in meant or ("", p.path) in meant
                                           or any(m[1] == leaf and m[0].startswith(parent) for m in meant)):
            continue
        kept.append(p)
    return kept


def parse_yaml_map(text: str, display: str, what: str) -> CommentedMap:
    """YAML text → its top-level mapping with line numbers; MappingError naming the line otherwise."""
    try:
        raw = trees.parse(text)  # parsed once per text (and process, and project): the caller's own copy
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise MappingError([Problem(display, line, "", f"invalid YAML: {exc.problem or exc.context}")]) from None
    except YAMLError as exc:
        raise MappingError([Problem(display, None, "", f"invalid YAML: {exc}")]) from None
    if raw is None:
        raise MappingError([Problem(display, 1, "", "the file is empty")])
    if not isinstance(raw, CommentedMap):
        raise MappingError([Problem(display, 1, "", f"{what} must be a YAML mapping (key: value)")])
    return raw


def parse_mapping_text(text: str, path: Path, display: str | None = None) -> LoadedMapping:
    """Parse one mapping's YAML text; raise MappingError listing every problem in it."""
    display = display or display_path(path)
    raw = parse_yaml_map(text, display, "a mapping file")
    data = dict(raw)
    data.setdefault("name", path.stem)
    try:
        mapping = Mapping.model_validate({**data, "source_file": path})
    except ValidationError as exc:
        problems = [problem_from_error(display, raw, e) for e in exc.errors()]
        raise MappingError(drop_explained(problems)) from None
    return LoadedMapping(mapping, raw, path, display)


def load_mapping_file(path: Path) -> LoadedMapping:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError([Problem(display_path(path), None, "", f"cannot read: {exc}")]) from None
    return parse_mapping_text(text, path)


def mapping_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            try:
                files.extend(sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file()))
            except OSError as exc:
                raise ConfigError(f"{path}: cannot read the folder: {exc.strerror or exc}") from None
        else:
            files.append(path)
    return files


def load_mappings(paths: Sequence[Path]) -> list[LoadedMapping]:
    """Load every file; then check names and dependencies across files. All problems at once."""
    loaded, problems = collect_mappings(paths)
    if problems:
        raise MappingError(problems)
    return loaded


def collect_mappings(paths: Sequence[Path]) -> tuple[list[LoadedMapping], list[Problem]]:
    """Every file that loads, and every problem of those that do not (validation goes on with
    the good ones, so one broken file hides nothing in the others)."""
    problems: list[Problem] = []
    loaded: list[LoadedMapping] = []
    for file in mapping_files(paths):
        if not file.exists():
            problems.append(Problem(str(file), None, "", "no such file"))
            continue
        try:
            loaded.append(load_mapping_file(file))
        except MappingError as exc:
            problems.extend(exc.problems)
    problems.extend(cross_check(loaded))
    return loaded, problems


def cross_check(loaded: Sequence[LoadedMapping]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, LoadedMapping] = {}
    for item in loaded:
        name = item.mapping.name
        if name in seen:
            problems.append(item.problem(["name"], f"mapping name '{name}' is also used by {seen[name].display}"))
        seen[name] = item
    feeds: dict[str, LoadedMapping] = {}
    for item in loaded:
        if item.mapping.direction != "push":
            continue
        feed = item.mapping.feed
        if feed in feeds:
            where = ["continues"] if item.mapping.continues else ["name"]
            problems.append(item.problem(where, f"feed '{feed}' is also pushed by {feeds[feed].display}: "
                                                "two mappings cannot share one sent history"))
        feeds[feed] = item
    for item in loaded:
        for i, dep in enumerate(item.mapping.depends_on):
            if dep not in seen:
                problems.append(item.problem(["depends_on", i], f"unknown mapping '{dep}'", did_you_mean(dep, seen)))
    if not problems:
        cycle = find_cycle({m.mapping.name: m.mapping.depends_on for m in loaded})
        if cycle:
            item = seen[cycle[0]]
            problems.append(item.problem(["depends_on"], "dependency cycle: " + " → ".join(cycle)))
    return problems


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
