"""Read `dictionary/*.yaml` into terms, every problem as `FILE:LINE: path: message (hint)`.

Uses the mapping loader's machinery (line numbers from ruamel, pydantic errors placed on lines)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from migo_sync.dictionary.model import DictionaryFile, Range, SystemName, Term
from migo_sync.errors import MappingError, Problem
from migo_sync.mapping.loader import (
    SUFFIXES,
    display_path,
    drop_explained,
    format_path,
    line_of,
    parse_yaml_map,
    problem_from_error,
)

ALLOWED = {"": list(DictionaryFile.model_fields), "terms": list(Term.model_fields),
           "systems": list(SystemName.model_fields), "range": list(Range.model_fields)}


def _allowed_for(loc: Sequence[str | int]) -> list[str]:
    names = [p for p in loc[:-1] if isinstance(p, str)]
    if names and names[-1] == "range":
        return ALLOWED["range"]
    if len(names) >= 2 and names[-2] == "systems":
        return ALLOWED["systems"]
    return ALLOWED["terms"] if names else ALLOWED[""]


@dataclass(frozen=True)
class LoadedTerm:
    """A valid term and where it is written, so checks can name its line."""

    term: Term
    display: str
    raw: CommentedMap
    index: int

    def line(self, *path: str | int) -> int | None:
        return line_of(self.raw, list(path))

    def problem(self, path: Sequence[str | int], message: str, hint: str | None = None) -> Problem:
        return Problem(self.display, line_of(self.raw, list(path)), format_path(["terms", self.index, *path]),
                       message, hint)

    @property
    def where(self) -> str:
        line = line_of(self.raw, [])
        return f"{self.display}:{line}" if line else self.display


@dataclass
class Dictionary:
    """Every term of a project, by name; synonyms point back at their term."""

    terms: dict[str, LoadedTerm] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def get(self, name: str) -> Term | None:
        found = self.terms.get(name)
        return found.term if found else None

    def words(self) -> dict[str, str]:
        """Normalised name or synonym → term name (for "did you mean term X?")."""
        out: dict[str, str] = {}
        for name, loaded in self.terms.items():
            for word in [name, *loaded.term.synonyms]:
                out.setdefault(normalise(word), name)
        return out


def normalise(word: str) -> str:
    """'Loan Status', 'loan-status' and 'loan_status' are one word."""
    return "".join(c if c.isalnum() else "_" for c in word.strip().lower()).strip("_")


def parse_dictionary_text(text: str, display: str) -> list[LoadedTerm]:
    raw = parse_yaml_map(text, display, "a dictionary file")
    try:
        parsed = DictionaryFile.model_validate(dict(raw))
    except ValidationError as exc:
        raise MappingError(drop_explained([problem_from_error(display, raw, e, _allowed_for)
                                           for e in exc.errors()])) from None
    items: Any = raw.get("terms")
    return [LoadedTerm(term, display, items[i], i) for i, term in enumerate(parsed.terms)]


def load_dictionary(folder: Path) -> Dictionary:
    """All terms under `folder` (an absent folder is an empty dictionary); all problems at once."""
    problems: list[Problem] = []
    found = Dictionary()
    files = sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file()) if folder.is_dir() else []
    for file in files:
        display = display_path(file)
        try:
            text = file.read_text(encoding="utf-8")
            loaded = parse_dictionary_text(text, display)
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(display, None, "", f"cannot read: {exc}"))
            continue
        except MappingError as exc:
            problems.extend(exc.problems)
            continue
        for item in loaded:
            first = found.terms.get(item.term.name)
            if first is not None:
                problems.append(item.problem(["name"], f"term '{item.term.name}' is also defined at {first.where}"))
            else:
                found.terms[item.term.name] = item
    words: dict[str, str] = {}
    for name, item in found.terms.items():
        for i, synonym in enumerate(item.term.synonyms):
            key = normalise(synonym)
            owner = words.get(key)
            if key in {normalise(n) for n in found.terms if n != name}:
                owner = next(n for n in found.terms if normalise(n) == key)
            if owner is not None and owner != name:
                problems.append(item.problem(["synonyms", i],
                                             f"synonym '{synonym}' already means term '{owner}'",
                                             "one word, one meaning: drop it from one of the terms"))
            words.setdefault(key, name)
    if problems:
        raise MappingError(problems)
    return found
