"""Exactly once at engine level, on DuckDB and on Snowflake (fakesnow): a remote that keeps what it
was sent under each idempotency key, and a push engine that must settle every unit by what was
sent — across renames, kills between intent and confirmation, reverts and changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.comments import CommentedMap

from migo_sync.adapter import BaseAdapter, PushUnit, RemoteObject, UnitResult
from migo_sync.engine.feeds import rename_problems
from migo_sync.engine.push import Pusher
from migo_sync.engine.result import MappingResult
from migo_sync.mapping.loader import LoadedMapping
from migo_sync.mapping.model import Mapping
from migo_sync.warehouse._sql import SQLWarehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping


class Remote(BaseAdapter):
    """An upserting remote keyed by idempotency key (a Zendesk external_id): it applies what it
    is sent; `lose_answers` applies a batch and then loses the answer (the process is killed)."""

    name = "scripted"

    def __init__(self) -> None:  # type: ignore[override]
        self.held: dict[str, list[dict[str, Any]]] = {}
        self.posts: list[str] = []
        self.lose_answers = False

    def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]:
        for unit in units:
            self.posts.append(unit.idempotency_key)
            self.held[unit.idempotency_key] = [dict(r) for r in unit.records]
        if self.lose_answers:
            raise KeyboardInterrupt  # applied remotely, answer never seen: SIGKILL between intent and confirm
        return [UnitResult(u.key, ok=True, remote_id=f"R-{u.idempotency_key[:6]}") for u in units]


def mapping(**extra: Any) -> Mapping:
    data = {"name": "users_push", "system": "scripted", "object": "users", "direction": "push",
            "warehouse": {"table": "src_users"}, "key": ["id"],
            "fields": [{"column": "id", "remote": "ID", "type": "integer"}, {"column": "email", "remote": "Email"}]}
    return Mapping.model_validate({**data, **extra})


def push(wh: SQLWarehouse, remote: Remote, m: Mapping) -> MappingResult:
    obj = RemoteObject("users", ("push",), ("upsert",), "row")
    return Pusher(wh, Bookkeeping(wh), remote, m, obj, "r1").run()


@pytest.fixture
def source(wh: SQLWarehouse) -> SQLWarehouse:
    Bookkeeping(wh).ensure()
    wh.execute("CREATE TABLE src_users (id INTEGER, email VARCHAR)")
    wh.execute("INSERT INTO src_users VALUES (1, 'a@x'), (2, 'b@x'), (3, 'c@x')")
    return wh


def emails(remote: Remote) -> dict[int, str]:
    return {r["ID"]: r["Email"] for records in remote.held.values() for r in records}


@pytest.mark.parametrize("after_kill", ["revert", "change"])
def test_a_kill_between_intent_and_confirm_is_settled_by_a_resend(source: SQLWarehouse, after_kill: str) -> None:
    remote = Remote()
    assert push(source, remote, mapping()).rows_written == 3
    source.execute("UPDATE src_users SET email = 'b2@x' WHERE id = 2")
    remote.lose_answers = True
    with pytest.raises(KeyboardInterrupt):
        push(source, remote, mapping())
    assert emails(remote)[2] == "b2@x"  # the remote applied it; the ledger still says pending
    remote.lose_answers = False
    final = "b@x" if after_kill == "revert" else "b3@x"
    source.execute("UPDATE src_users SET email = ? WHERE id = 2", [final])
    result = push(source, remote, mapping())
    assert emails(remote) == {1: "a@x", 2: final, 3: "c@x"}  # the remote holds what the warehouse holds
    assert result.rows_written == 1 and result.details["in_flight_resumed"] == 1
    assert len(set(remote.posts)) == 3  # every send of user 2 carried the same key
    assert Bookkeeping(source).pending("users_push") == []
    assert Bookkeeping(source).ledger("users_push")["2"]["remote_id"]
    assert push(source, remote, mapping()).rows_written == 0  # and then nothing more to do


def test_a_rename_with_continues_sends_nothing_again(source: SQLWarehouse) -> None:
    remote = Remote()
    push(source, remote, mapping())
    posts = len(remote.posts)
    renamed = mapping(name="crm_users_push", continues="users_push")
    result = push(source, remote, renamed)
    assert result.rows_written == 0 and len(remote.posts) == posts
    source.execute("INSERT INTO src_users VALUES (4, 'd@x')")
    assert push(source, remote, renamed).rows_written == 1
    assert sorted(Bookkeeping(source).ledger("users_push")) == ["1", "2", "3", "4"]


def loaded(m: Mapping) -> LoadedMapping:
    return LoadedMapping(m, CommentedMap(), Path(f"mappings/{m.name}.yaml"), f"mappings/{m.name}.yaml")


def test_a_rename_without_continues_is_recognised_from_the_ledger(source: SQLWarehouse) -> None:
    push(source, Remote(), mapping())
    unit: Callable[[LoadedMapping], Any] = lambda item: "row"  # noqa: E731
    renamed = loaded(mapping(name="crm_users_push"))
    [problem] = rename_problems(source, [renamed], {"crm_users_push"}, unit)
    assert "feed 'users_push' (scripted users) already sent 3" in problem.message and "already sent 3" in problem.message
    assert problem.hint == "if this file is its rename, add `continues: users_push`"
    # still pushed by another file of the project: two feeds, not a rename
    assert rename_problems(source, [renamed], {"crm_users_push", "users_push"}, unit) == []
    # saying so explicitly settles it; a feed with other units is new, not a rename
    assert rename_problems(source, [loaded(mapping(name="crm_users_push", continues="users_push"))],
                           {"users_push"}, unit) == []
    source.execute("CREATE TABLE src_other (id INTEGER, email VARCHAR)")
    source.execute("INSERT INTO src_other VALUES (9, 'z@x')")
    other = loaded(mapping(name="other_push", warehouse={"table": "src_other"}))
    assert rename_problems(source, [other], {"other_push"}, unit) == []
