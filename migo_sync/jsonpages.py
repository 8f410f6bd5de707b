"""Read a JSON page's records straight into Arrow, without a Python object per value.

pyarrow's JSON reader parses in C++ with the GIL released, into the column types asked for, and
refuses anything else: a value of another JSON type, a key given twice, an integer past int64,
invalid UTF-8 or a lone surrogate. A refusal is not an error here: `read_page` answers None and
the caller parses the page its usual way (orjson, record by record), which decides exactly as
before what the page holds, what is rejected and what is a remote error. What the reader would
take but is not JSON (a byte-order mark, NaN or Infinity, invalid UTF-8) is refused before it.
So the fast path only ever takes pages whose every mapped value it reads as the record path
would. One difference remains: valid JSON nested deeper than orjson's 1024 levels is read here
where the record path calls the page malformed.

A record path `a.b` is a nested object's member (`record["a"]["b"]`); a record that holds the
literal key "a.b" would be read differently by `get_path`, so a page that may hold one (the key
spelled out, or any key written with a \\u escape) is refused too.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.json as pa_json

_REFUSED = (pa.ArrowException, ValueError, UnicodeError)  # the reader's refusals (UnicodeDecodeError: bad UTF-8)
_ESCAPED_KEY = re.compile(rb'"(?:[^"\\]|\\.)*\\u(?:[^"\\]|\\.)*"\s*:')  # a key with a \u escape in it


def record_type(paths: Mapping[str, pa.DataType]) -> pa.StructType | None:
    """The struct a record is read as: one member per path, `a.b` nested in `a`. None when one
    path is a prefix of another (`a` and `a.b`: `a` cannot be both a value and an object)."""
    tree: dict[str, Any] = {}
    for path, kind in paths.items():
        node = tree
        *heads, leaf = path.split(".")
        for head in heads:
            child = node.setdefault(head, {})
            if not isinstance(child, dict):
                return None
            node = child
        if leaf in node:
            return None
        node[leaf] = kind

    def build(node: dict[str, Any]) -> pa.StructType:
        return pa.struct([pa.field(k, build(v) if isinstance(v, dict) else v) for k, v in node.items()])

    return build(tree)


def read_page(body: bytes, records: str, record: pa.StructType, paths: Sequence[str],
              envelope: Mapping[str, pa.DataType]) -> tuple[pa.Table, dict[str, Any]] | None:
    """The page's `records` list as a table with one column per path (named by the path), and the
    page's `envelope` members as Python values; None when the reader refuses the page."""
    if body.startswith(b"\xef\xbb\xbf") or b"NaN" in body or b"Infinity" in body:
        return None  # the reader takes a BOM and NaN/Infinity, which are not JSON (orjson refuses them)
    try:
        body.decode("utf-8")  # the reader would let invalid UTF-8 through (and orjson refuses it anywhere)
    except UnicodeDecodeError:
        return None
    dotted = [p for p in paths if "." in p]
    if dotted and (any(f'"{p}"'.encode() in body for p in dotted)
                   or (b"\\" in body and _ESCAPED_KEY.search(body) is not None)):
        return None  # a literal dotted key would be read by get_path instead of the nested member
    schema = pa.schema([pa.field(records, pa.list_(record)), *(pa.field(k, t) for k, t in envelope.items())])
    try:
        page = pa_json.read_json(
            io.BytesIO(body), read_options=pa_json.ReadOptions(block_size=len(body) + 1, use_threads=False),
            parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))
    except _REFUSED:
        return None
    if page.num_rows != 1 or page.column(records).null_count:
        return None  # not one JSON object, or no records list: the record path says what is wrong
    lists = page.column(records).combine_chunks()
    items = lists.flatten()
    if items.null_count:
        return None  # a null in the list, not a record
    columns = [_member(items, path.split(".")) for path in paths]
    table = pa.Table.from_arrays(columns, names=list(paths))
    return table, {k: page.column(k)[0].as_py() for k in envelope}


def _member(items: pa.StructArray, parts: list[str]) -> pa.Array:
    """A nested member, null wherever an object on the way is null (StructArray.flatten keeps that,
    where .field() would not)."""
    node: pa.Array = items
    for part in parts:
        assert isinstance(node, pa.StructArray)
        node = node.flatten()[node.type.get_field_index(part)]
    return node
