"""The official request schemas the emulators enforce when they are at hand, never copied.

Real services refuse what their schema refuses; an emulator that accepts more lets tests pass
that a tenant would fail. The official schemas (Intacct's `api.xsd`, the XSD a Workday tenant's
`Financial_Management` WSDL embeds) are kept beside the repository in `shared/recordings`, as
recorded, and are not ours to ship: they are read in place from `<repo>/../shared/recordings`
(`MIGO_SYNC_RECORDINGS` names another folder), and an emulator without them falls back to what
it checks itself. Parsed once per process (the Intacct schema is 420 kB) and validated under a
lock, so emulators on several threads can share it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from lxml import etree

ENV = "MIGO_SYNC_RECORDINGS"
REPO = Path(__file__).resolve().parents[2]  # migo_sync/sandbox/ → the repository (an editable install)
XS = "{http://www.w3.org/2001/XMLSchema}"

_cache: dict[tuple[Path, str], tuple[etree.XMLSchema, frozenset[str]]] = {}
_lock = threading.Lock()


def main_checkout(repo: Path) -> Path:
    """The repository root; for a `git worktree` (its .git is a file naming the main repository's
    git dir), the main checkout's root, so that its `../shared` is found too."""
    dot_git = repo / ".git"
    if not dot_git.is_file():
        return repo
    text = dot_git.read_text(encoding="utf-8").strip()
    gitdir = Path(text.removeprefix("gitdir:").strip())
    common = gitdir / "commondir"
    if common.is_file():
        gitdir = (gitdir / common.read_text(encoding="utf-8").strip()).resolve()
    return gitdir.parent if gitdir.name == ".git" else repo


def recordings_dir(repo: Path = REPO) -> Path:
    """`MIGO_SYNC_RECORDINGS`, else the first `../shared/recordings` beside the repository (or
    beside its main checkout); the first candidate when none exists."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    candidates = [root.parent / "shared" / "recordings" for root in (repo, main_checkout(repo))]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def official_schema(path: Path, embedded: bool = False) -> etree.XMLSchema | None:
    """The schema in `path` (a WSDL's `types` schema when `embedded`), or None when the file is
    absent. Parsed without network access or entity expansion."""
    found = _load(path, embedded)
    return found[0] if found is not None else None


def declared(path: Path, embedded: bool = False) -> frozenset[str]:
    """The local names of the global elements the schema in `path` declares (none when absent):
    a recorded subset may hold an operation's name but not its types."""
    found = _load(path, embedded)
    return found[1] if found is not None else frozenset()


def _load(path: Path, embedded: bool) -> tuple[etree.XMLSchema, frozenset[str]] | None:
    if not path.is_file():
        return None
    key = (path.resolve(), "wsdl" if embedded else "xsd")
    with _lock:
        if key not in _cache:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
            document = etree.parse(str(path), parser=parser)
            if embedded:
                root = document.find(f".//{{http://schemas.xmlsoap.org/wsdl/}}types/{XS}schema")
                if root is None:
                    raise ValueError(f"{path}: no schema in its types")
                document = etree.ElementTree(root)
            names = frozenset(str(e.get("name")) for e in document.getroot().iterfind(f"{XS}element"))
            _cache[key] = (etree.XMLSchema(document), names)
        return _cache[key]


def violation(schema: etree.XMLSchema, element: etree._Element) -> etree._LogEntry | None:
    """The first violation of `element` (message, line, column, libxml2's error type), or None
    when it is valid. Serialised: a schema is shared by every emulator thread of the process."""
    with _lock:
        if schema.validate(element):
            return None
        return schema.error_log[0]
