"""ruamel's round-trip parse of a YAML text (every node with its line), done once per text.

The parse is the slow part of loading a project (~30 ms a mapping file, most of a fresh `run` of an
unchanged project), and a watch reloads every file each cycle. The tree is kept pickled — in this
process, and on disk by the text's hash (`migo_sync.textcache`) so the next process skips the parse —
and every caller gets its own copy (unpickling is ~8x faster than a deep copy). What is read back from
disk is unpickled with only ruamel's node and scalar classes (and dates) allowed: a file that holds
anything else, or cannot be read, is parsed again.
"""

from __future__ import annotations

import functools
import io
import pickle
import sys
from typing import Any

import ruamel.yaml
from ruamel.yaml import YAML

from migo_sync import textcache

KIND = "yaml"
VERSION = f"ruamel.yaml {ruamel.yaml.__version__}, python {sys.version_info[0]}.{sys.version_info[1]}"
# Modules whose classes a parsed tree is made of (CommentedMap, LineCol, ScalarFloat, TimeStamp, ...).
TREE_MODULES = frozenset({
    "ruamel.yaml.comments", "ruamel.yaml.error", "ruamel.yaml.tokens", "ruamel.yaml.anchor", "ruamel.yaml.tag",
    "ruamel.yaml.scalarint", "ruamel.yaml.scalarfloat", "ruamel.yaml.scalarbool", "ruamel.yaml.scalarstring",
    "ruamel.yaml.timestamp", "datetime"})


class _TreeUnpickler(pickle.Unpickler):
    """Only classes defined in TREE_MODULES: no function, no module, nothing else to call."""

    def find_class(self, module: str, name: str) -> Any:
        if module in TREE_MODULES and "." not in name:
            found = getattr(sys.modules.get(module) or __import__(module, fromlist=[name]), name, None)
            if isinstance(found, type) and found.__module__ == module:
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a parsed YAML tree")


def _unpickle(data: bytes) -> Any:
    return _TreeUnpickler(io.BytesIO(data)).load()


@functools.lru_cache(maxsize=256)
def _pickled(text: str) -> bytes | None:
    """The tree of `text`, pickled (None when it cannot be: it is then parsed at every call). A YAML
    error propagates and is not kept."""

    def make() -> bytes | None:
        tree = YAML(typ="rt").load(text)
        try:
            data = pickle.dumps(tree, protocol=5)
            _unpickle(data)
        except Exception:  # a tree this cache cannot keep: parsed at every call
            return None
        return data

    return textcache.remembered(KIND, textcache.key(VERSION, text), make, _unpickle)


def parse(text: str) -> Any:
    """The round-trip tree of `text` (ruamel's own errors on bad YAML), the caller's own copy."""
    data = _pickled(text)
    return _unpickle(data) if data is not None else YAML(typ="rt").load(text)
