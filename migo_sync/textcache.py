"""Results of slow, pure work on a text, kept on disk by the text's hash: a fresh `migo-sync run` of an
unchanged project does not parse its mapping files with ruamel (~30 ms a file) nor walk its push
queries' lineage with sqlglot (~0.2 s a query) again — on an unchanged rerun that was most of the run.

A project's loading points the cache at `<project>/.migo-sync/cache` (`use`); with none set, only the
process keeps what it computed. The key is a hash of the text and of everything else the result depends
on (the library's version), so an edited file or an upgraded library is simply a miss; the cache is
best-effort: a file that cannot be written or read back is a miss, never an error. Delete the folder to
empty it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

_lock = threading.Lock()
_directory: Path | None = None


def use(directory: Path | None) -> None:
    """Keep results under `directory` from now on (None: in this process only)."""
    global _directory
    with _lock:
        _directory = directory


def directory() -> Path | None:
    return _directory


def key(*parts: str) -> str:
    """The hash naming one result: every part it depends on."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def load(kind: str, name: str) -> bytes | None:
    """The stored bytes of result `name` of this kind, or None."""
    root = _directory
    if root is None:
        return None
    try:
        return (root / kind / name[:2] / name).read_bytes()
    except OSError:
        return None


def store(kind: str, name: str, data: bytes) -> None:
    """Keep `data` as result `name`: written whole to a temporary file and renamed, so a reader never
    sees half of it; nothing happens when the folder cannot be written."""
    root = _directory
    if root is None:
        return
    folder = root / kind / name[:2]
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)  # as private as the project's other state
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, folder / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError:
        return


def remembered(kind: str, name: str, make: Callable[[], bytes | None], check: Callable[[bytes], object]) -> bytes | None:
    """Result `name` as stored, when `check` accepts it (it raises on a damaged or foreign file); else
    `make()`, stored for the next time (None: nothing this cache can keep). An error of `make` is the
    caller's: it propagates and nothing is stored."""
    stored = load(kind, name)
    if stored is not None:
        try:
            check(stored)
            return stored
        except Exception:  # damaged or foreign: made again and replaced
            pass
    made = make()
    if made is not None:
        store(kind, name, made)
    return made
