"""Rows whose push outcome is unknown (intent recorded, the run died) and that are deleted from the
warehouse before the rerun follow the mapping's delete policy, as a confirmed row would: an
upsert keeps the remote's record and drops the intent, a mirror sends the delete. Never left
pending. On DuckDB and on Snowflake (through fakesnow)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from core.test_engine_push import Recorder, mapping
from helpers.warehouses import ENGINES, engine_warehouse

from migo_sync.adapter import RemoteObject
from migo_sync.engine.push import Pusher
from migo_sync.engine.result import MappingResult
from migo_sync.warehouse.base import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

pytestmark = pytest.mark.timeout(120)
REMOTE = RemoteObject("things", ("push",), ("upsert", "mirror"), "row")


@pytest.fixture(params=ENGINES)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    with engine_warehouse(request, tmp_path, [
            "CREATE SCHEMA IF NOT EXISTS src",
            "CREATE TABLE src.things (id INTEGER, name VARCHAR, score INTEGER)",
            "INSERT INTO src.things VALUES (1, 'n1', 1), (2, 'n2', 2), (3, 'n3', 3), (4, 'n4', 4)"]) as wh:
        yield wh


def push(wh: Warehouse, adapter: Recorder, mode: str, run_id: str) -> MappingResult:
    return Pusher(wh, Bookkeeping(wh), adapter, mapping(mode=mode), REMOTE, run_id).run()


def in_flight_then_deleted(wh: Warehouse, mode: str) -> None:
    """4 rows confirmed; then 5 and 6 new and 2 changed, sent by a run that died; then 5 and 2
    deleted from the warehouse, and 1 (confirmed, never in flight) too."""
    assert push(wh, Recorder(), mode, "r1").rows_written == 4
    wh.execute("INSERT INTO src.things VALUES (5, 'n5', 5), (6, 'n6', 6)")
    wh.execute("UPDATE src.things SET name = 'two' WHERE id = 2")
    with pytest.raises(KeyboardInterrupt):
        push(wh, Recorder(crash_after=0), mode, "killed")
    assert sorted(r[0] for r in Bookkeeping(wh).pending("scripted_push")) == ["2", "5", "6"]
    wh.execute("DELETE FROM src.things WHERE id IN (1, 2, 5)")


@pytest.mark.parametrize("mode", ["upsert", "mirror"])
def test_rows_in_flight_then_deleted_follow_the_delete_policy(warehouse: Warehouse, mode: str) -> None:
    in_flight_then_deleted(warehouse, mode)
    sent_hash_of_2 = Bookkeeping(warehouse).ledger("scripted_push")["2"]["sent_hash"]
    adapter = Recorder()
    second = push(warehouse, adapter, mode, "r2")
    assert (second.status, second.rows_rejected) == ("ok", 0)
    ledger = Bookkeeping(warehouse).ledger("scripted_push")
    assert Bookkeeping(warehouse).pending("scripted_push") == []
    if mode == "upsert":  # the remote keeps its records: nothing sent for 1, 2, 5; the intents dropped
        assert [(u.key, u.delete, u.resend) for u in adapter.sent] == [("6", False, True)]
        assert second.details["pending_vanished_dropped"] == 2
        assert sorted(ledger) == ["1", "2", "3", "4", "6"]  # 5 never confirmed: forgotten
        assert ledger["2"]["sent_hash"] == sent_hash_of_2  # what was last confirmed, as for 1
    else:  # a mirror deletes what the warehouse no longer has, in flight or not
        assert sorted((u.key, u.delete) for u in adapter.sent) == [
            ("1", True), ("2", True), ("5", True), ("6", False)]
        assert "pending_vanished_dropped" not in second.details
        assert sorted(ledger) == ["3", "4", "6"]
    quiet = Recorder()
    third = push(warehouse, quiet, mode, "r3")
    assert (third.status, third.rows_rejected, quiet.sent) == ("ok", 0, [])
    assert "pending_vanished_dropped" not in third.details and third.details["in_flight_resumed"] == 0
