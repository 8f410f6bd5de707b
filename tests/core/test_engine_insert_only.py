"""Insert-only units (a posted journal) changed, extended or deleted in the warehouse after they
were sent: reported once each as a reject with the remedy, never resent, never reported again
while they stay so, and cleared when the warehouse goes back to what was sent. On DuckDB and on
Snowflake (the real connector, through fakesnow)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers.warehouses import ENGINES, engine_warehouse

from migo_sync.adapter import BaseAdapter, PushUnit, RemoteObject, UnitResult
from migo_sync.engine.plan import (
    INSERT_ONLY_CHANGED,
    INSERT_ONLY_DELETED,
    LEDGER_DIFFERS,
    PENDING_UNKNOWN_DELETED,
)
from migo_sync.engine.push import Pusher
from migo_sync.engine.result import MappingResult
from migo_sync.mapping.model import Mapping
from migo_sync.warehouse.base import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

MAPPING = Mapping.model_validate({
    "name": "journals", "system": "scripted", "object": "journal", "direction": "push", "mode": "insert",
    "warehouse": {"table": "src.lines"}, "key": ["jid", "line"], "group_by": ["jid"],
    "fields": [{"column": "jid", "remote": "J"}, {"column": "line", "remote": "L", "type": "integer"},
               {"column": "amount", "remote": "A", "type": "decimal", "scale": 2}]})
REMOTE = RemoteObject("journal", ("push",), ("insert",), "group")


class Ledger(BaseAdapter):
    """Holds what it was sent, by idempotency key; a resend (an unconfirmed intent) is answered
    from what it holds, like the ledger look-up before posting."""

    name = "scripted"

    def __init__(self) -> None:  # type: ignore[override]
        self.held: dict[str, list[dict[str, Any]]] = {}
        self.posts = 0

    def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]:
        results = []
        for unit in units:
            records = [dict(r) for r in unit.records]
            held = self.held.get(unit.idempotency_key)
            if held is None:
                self.held[unit.idempotency_key] = records
                self.posts += 1
                results.append(UnitResult(unit.key, ok=True, remote_id=f"R-{unit.key}"))
            elif held == records:
                results.append(UnitResult(unit.key, ok=True, remote_id=f"R-{unit.key}", duplicate=True))
            else:
                results.append(UnitResult(unit.key, ok=False, remote_id=f"R-{unit.key}", held_differs=True,
                                          reason="held with other values: post a reversing entry"))
        return results


@pytest.fixture(params=ENGINES)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    with engine_warehouse(request, tmp_path, [
            "CREATE SCHEMA IF NOT EXISTS src",
            "CREATE TABLE src.lines (jid VARCHAR, line INTEGER, amount DECIMAL(12, 2))",
            "INSERT INTO src.lines VALUES ('J1', 1, 10.00), ('J1', 2, -10.00), ('J2', 1, 5.00), "
            "('J2', 2, -5.00), ('J3', 1, 7.00), ('J3', 2, -7.00), ('J4', 1, 1.00), ('J4', 2, -1.00)"]) as wh:
        yield wh


def push(wh: Warehouse, ledger: Ledger, run_id: str) -> MappingResult:
    return Pusher(wh, Bookkeeping(wh), ledger, MAPPING, REMOTE, run_id).run()


def rejects(wh: Warehouse, run_id: str) -> list[tuple[str, str]]:
    return sorted((str(r[0]), str(r[1])) for r in wh.query(
        "SELECT row_key, reason FROM migo_sync.rejects WHERE run_id = ?", [run_id]))


def key(jid: str, line: int) -> str:
    return f"{jid}\x1f{line}"


def test_a_posted_unit_changed_deleted_or_extended_is_reported_once_and_cleared_on_return(
        warehouse: Warehouse) -> None:
    ledger = Ledger()
    assert push(warehouse, ledger, "r1").rows_written == 8 and ledger.posts == 4
    warehouse.execute("UPDATE src.lines SET amount = 11.00 WHERE jid = 'J1' AND line = 1")
    warehouse.execute("DELETE FROM src.lines WHERE jid = 'J2'")
    warehouse.execute("INSERT INTO src.lines VALUES ('J3', 3, 0.00)")
    second = push(warehouse, ledger, "r2")
    assert second.status == "rejected" and second.rows_written == 0 and ledger.posts == 4
    assert rejects(warehouse, "r2") == sorted(
        [(key("J1", 1), INSERT_ONLY_CHANGED), (key("J1", 2), INSERT_ONLY_CHANGED),
         (key("J2", 1), INSERT_ONLY_DELETED), (key("J2", 2), INSERT_ONLY_DELETED),
         (key("J3", 1), INSERT_ONLY_CHANGED), (key("J3", 2), INSERT_ONLY_CHANGED), (key("J3", 3), INSERT_ONLY_CHANGED)])
    third = push(warehouse, ledger, "r3")  # as reported: nothing new
    assert (third.status, third.rows_changed, third.rows_rejected, third.details["diverged_reported_before"]) == (
        "ok", 0, 0, 3)
    assert rejects(warehouse, "r3") == []
    warehouse.execute("UPDATE src.lines SET amount = 12.00 WHERE jid = 'J1' AND line = 1")
    fourth = push(warehouse, ledger, "r4")  # J1 moved again: reported again, the others stay quiet
    assert rejects(warehouse, "r4") == [(key("J1", 1), INSERT_ONLY_CHANGED), (key("J1", 2), INSERT_ONLY_CHANGED)]
    assert fourth.details["diverged_reported_before"] == 2
    warehouse.execute("UPDATE src.lines SET amount = 10.00 WHERE jid = 'J1' AND line = 1")
    warehouse.execute("INSERT INTO src.lines VALUES ('J2', 1, 5.00), ('J2', 2, -5.00)")
    warehouse.execute("DELETE FROM src.lines WHERE jid = 'J3' AND line = 3")
    back = push(warehouse, ledger, "r5")  # back to what was sent: cleared, nothing sent
    assert (back.status, back.rows_changed, back.rows_rejected, back.details["diverged_reported_before"]) == (
        "ok", 0, 0, 0)
    assert ledger.posts == 4
    book = Bookkeeping(warehouse).ledger("journals")
    assert sorted(book) == sorted(key(j, n) for j in ("J1", "J2", "J3", "J4") for n in (1, 2))
    assert all(r["refused_hash"] is None and r["sent_hash"] and r["remote_id"] for r in book.values())
    warehouse.execute("DELETE FROM src.lines WHERE jid = 'J4'")  # reported again after a clear
    push(warehouse, ledger, "r6")
    assert rejects(warehouse, "r6") == [
        (key("J4", 1), INSERT_ONLY_DELETED), (key("J4", 2), INSERT_ONLY_DELETED)]


def test_new_journals_beside_a_reported_one_are_posted_and_its_return_is_cleared(warehouse: Warehouse) -> None:
    """The nightly case: only new units to send (the plan's shortcut: no unit sent before can differ),
    beside one reported before; when it returns to what was sent in the same run, its report clears."""
    ledger = Ledger()
    push(warehouse, ledger, "r1")
    warehouse.execute("UPDATE src.lines SET amount = 11.00 WHERE jid = 'J1' AND line = 1")
    assert push(warehouse, ledger, "r2").rows_rejected == 2
    warehouse.execute("INSERT INTO src.lines VALUES ('J5', 1, 3.00), ('J5', 2, -3.00)")
    third = push(warehouse, ledger, "r3")  # J1 still changed (reported before), J5 new
    assert (third.rows_written, third.rows_rejected, third.details["diverged_reported_before"]) == (2, 0, 1)
    warehouse.execute("UPDATE src.lines SET amount = 10.00 WHERE jid = 'J1' AND line = 1")
    warehouse.execute("INSERT INTO src.lines VALUES ('J6', 1, 4.00), ('J6', 2, -4.00)")
    fourth = push(warehouse, ledger, "r4")  # only new rows to send: J6 posted, J1's report cleared
    assert (fourth.status, fourth.rows_written, fourth.rows_rejected, fourth.details["diverged_reported_before"]) == (
        "ok", 2, 0, 0)
    assert ledger.posts == 6 and rejects(warehouse, "r4") == []
    book = Bookkeeping(warehouse).ledger("journals")
    assert all(r["refused_hash"] is None and r["sent_hash"] and r["pending_hash"] is None for r in book.values())
    assert len(book) == 12


def test_a_unit_the_remote_holds_with_other_values_is_settled_reported_once_and_asked_again_when_it_moves(
        warehouse: Warehouse) -> None:
    ledger = Ledger()
    assert push(warehouse, ledger, "r1").rows_written == 8
    # a killed run: J1's intent recorded (the version the ledger holds), never confirmed
    warehouse.execute("UPDATE migo_sync.sent SET pending_hash = sent_hash, sent_hash = NULL, remote_id = NULL "
                      "WHERE unit_key = 'J1'")
    warehouse.execute("UPDATE src.lines SET amount = amount * 2 WHERE jid = 'J1'")  # changed before the rerun
    second = push(warehouse, ledger, "r2")
    assert second.status == "rejected" and second.rows_rejected == 2 and ledger.posts == 4
    rows = Bookkeeping(warehouse).ledger("journals")
    assert {(r["sent_hash"], r["pending_hash"], r["remote_id"]) for k, r in rows.items() if k.startswith("J1")} == {
        (LEDGER_DIFFERS, None, "R-J1")}  # what the ledger holds, never the warehouse's values as sent
    third = push(warehouse, ledger, "r3")
    assert (third.status, third.rows_rejected, third.rows_changed) == ("ok", 0, 0)
    warehouse.execute("UPDATE src.lines SET amount = amount / 2 WHERE jid = 'J1'")  # back to what was posted
    fourth = push(warehouse, ledger, "r4")  # asked again: the ledger holds exactly this, confirmed
    assert (fourth.status, fourth.rows_written, fourth.rows_rejected) == ("ok", 2, 0) and ledger.posts == 4
    rows = Bookkeeping(warehouse).ledger("journals")
    assert all(r["sent_hash"] not in (None, LEDGER_DIFFERS) and r["refused_hash"] is None for r in rows.values())
    assert (push(warehouse, ledger, "r5").rows_changed, ledger.posts) == (0, 4)


@pytest.mark.timeout(120)
def test_a_unit_in_flight_then_deleted_that_the_remote_cannot_be_asked_about_is_reported_once(
        warehouse: Warehouse) -> None:
    ledger = Ledger()  # insert-only, but not a ledger: it offers no look-up
    assert push(warehouse, ledger, "r1").rows_written == 8
    # a killed run: J2's intent recorded, never confirmed; then J2 deleted from the warehouse
    warehouse.execute("UPDATE migo_sync.sent SET pending_hash = sent_hash, sent_hash = NULL, remote_id = NULL "
                      "WHERE unit_key = 'J2'")
    warehouse.execute("DELETE FROM src.lines WHERE jid = 'J2'")
    second = push(warehouse, ledger, "r2")
    assert (second.status, second.rows_rejected, ledger.posts) == ("rejected", 2, 4)
    assert second.details["pending_vanished"] == {"units": 1, "held": 0, "unknown": 1, "dropped": 0}
    reason = PENDING_UNKNOWN_DELETED.format(system="scripted")
    assert rejects(warehouse, "r2") == [(key("J2", 1), reason), (key("J2", 2), reason)]
    assert "post a reversing entry" in reason
    assert Bookkeeping(warehouse).pending("journals") == []
    third = push(warehouse, ledger, "r3")
    assert (third.status, third.rows_rejected, third.rows_changed) == ("ok", 0, 0) and rejects(warehouse, "r3") == []
