"""`mapping diff` recognises a renamed push: linked to its feed by `continues:` (nothing is sent
again), or not yet linked (every unit would be sent again: the change says which feed to continue)."""

from __future__ import annotations

from typing import Any

from migo_sync.mapping.diff import diff_mappings
from migo_sync.mapping.model import Mapping


def push(name: str, **extra: Any) -> Mapping:
    return Mapping.model_validate({
        "name": name, "system": "intacct", "object": "GLBATCH", "direction": "push", "mode": "insert",
        "warehouse": {"table": "lending.journal_lines"}, "key": ["journal_id", "line_no"],
        "group_by": ["journal_id"], "fields": [{"column": "journal_id", "remote": "REFERENCENO"}], **extra})


def test_a_rename_that_continues_its_feed() -> None:
    [change, linked] = diff_mappings([push("journals")], [push("gl_journals", continues="journals")])
    assert (change.kind, change.mapping, change.before, change.after) == ("renamed", "gl_journals", "journals",
                                                                          "gl_journals")
    assert (linked.kind, linked.path, linked.after) == ("changed", "continues", "journals")


def test_a_rename_not_yet_linked_names_the_feed_to_continue() -> None:
    [change] = diff_mappings([push("journals")], [push("gl_journals")])
    assert (change.kind, change.path, change.after) == ("renamed-unlinked", "continues", "journals")


def test_a_different_feed_is_an_addition_not_a_rename() -> None:
    other = push("fees", warehouse={"table": "lending.fee_lines"})
    kinds = {(c.kind, c.mapping) for c in diff_mappings([push("journals")], [other])}
    assert kinds == {("added", "fees"), ("removed", "journals")}
