"""A journal whose push outcome is unknown (its intent in the sent ledger, the answer lost) and
whose rows are then deleted from the warehouse: the rerun asks the ledger. Held: recorded with
the ledger's id and reported once, with the remedy. Not held: the intent is dropped, nothing is
posted. A dry run says so and writes nothing. On DuckDB and on Snowflake (through fakesnow)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from helpers.warehouses import ENGINES, engine_warehouse
from ledger.ledger_support import MemoryLedger, journal_mapping

from migo_sync.adapter import BaseAdapter, PushUnit, RemoteObject, UnitResult
from migo_sync.engine.plan import HELD_UNCOMPARED, LEDGER_DIFFERS, REFUSED_DELETED
from migo_sync.engine.push import Pusher
from migo_sync.engine.result import MappingResult
from migo_sync.ledger import Journal, check_units, write_units
from migo_sync.mapping.model import Mapping
from migo_sync.warehouse.base import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

pytestmark = pytest.mark.timeout(120)
MAPPING = journal_mapping(mode="insert")
REMOTE = RemoteObject("JOURNAL", ("push",), ("insert",), "group")
REMEDY = "this object is insert-only (post a reversing entry)"


class Lost(Exception):
    """The answer never came back (the run dies waiting for it)."""


class Journals(MemoryLedger, BaseAdapter):  # type: ignore[misc]
    """The memory ledger as an adapter; `lose` drops the answer after posting or the request before."""

    def __init__(self) -> None:
        MemoryLedger.__init__(self)
        self.lose: str | None = None
        self.posts: list[str] = []
        self.lookups: list[list[str]] = []

    def post_journals(self, journals: Sequence[Journal]) -> list[UnitResult]:
        if self.lose == "request":
            raise Lost
        self.posts.extend(j.key for j in journals if j.idempotency_key not in self.posted)
        return super().post_journals(journals)

    def find_journals(self, journals: Sequence[Journal]) -> dict[str, Any]:
        self.lookups.append(sorted(j.key for j in journals))
        return super().find_journals(journals)

    def check(self, mapping: Mapping, units: Sequence[PushUnit]) -> dict[str, str]:
        return check_units(self, mapping, units, self.chart())

    def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]:
        results = write_units(self, mapping, units)
        if self.lose == "answer":
            raise Lost
        return results


@pytest.fixture(params=ENGINES)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    with engine_warehouse(request, tmp_path, [
            "CREATE SCHEMA IF NOT EXISTS lending",
            "CREATE TABLE lending.journal_lines (journal_id VARCHAR, line_no INTEGER, posting_date DATE, "
            "account_no VARCHAR, amount DECIMAL(12, 2))",
            "INSERT INTO lending.journal_lines VALUES ('J1', 1, '2026-10-14', '1000', 10.00), "
            "('J1', 2, '2026-10-14', '4000', -10.00), ('J2', 1, '2026-10-15', '1000', 5.00), "
            "('J2', 2, '2026-10-15', '4000', -5.00)"]) as wh:
        yield wh


def push(wh: Warehouse, ledger: Journals, run_id: str, *, dry_run: bool = False) -> MappingResult:
    return Pusher(wh, Bookkeeping(wh), ledger, MAPPING, REMOTE, run_id, dry_run=dry_run).run()


def killed(wh: Warehouse, ledger: Journals, lose: str) -> None:
    """A run whose answer is lost (`lose`: "answer" after the ledger booked it, "request" before)."""
    ledger.lose = lose
    with pytest.raises(Lost):
        push(wh, ledger, "r1")
    ledger.lose = None
    assert {row[1] for row in Bookkeeping(wh).pending("journals")} == {"J1", "J2"}


def rejects(wh: Warehouse, run_id: str) -> list[tuple[str, str]]:
    return sorted((str(r[0]), str(r[1])) for r in wh.query(
        "SELECT row_key, reason FROM migo_sync.rejects WHERE run_id = ?", [run_id]))


def state(wh: Warehouse) -> dict[str, tuple[Any, ...]]:
    """{row key: (sent_hash, pending_hash, remote_id, refused_hash)} of the push's sent ledger."""
    return {k: (r["sent_hash"], r["pending_hash"], r["remote_id"], r["refused_hash"])
            for k, r in Bookkeeping(wh).ledger("journals").items()}


def test_a_journal_in_flight_and_deleted_is_settled_by_what_the_ledger_holds(warehouse: Warehouse) -> None:
    ledger = Journals()
    killed(warehouse, ledger, "answer")
    assert sorted(ledger.posts) == ["J1", "J2"]  # booked by the ledger, never confirmed
    held_as = f"M-{ledger.posted[next(k for k, j in ledger.posted.items() if j.key == 'J1')].idempotency_key[:6]}"
    warehouse.execute("DELETE FROM lending.journal_lines WHERE journal_id = 'J1'")
    before = state(warehouse)
    dry = push(warehouse, ledger, "dry", dry_run=True)  # says what would happen, writes nothing
    assert dry.rows_rejected == 2 and dry.details["pending_vanished"] == {
        "units": 1, "held": 1, "unknown": 0, "dropped": 0}
    assert {s["reason"] for s in dry.details["invalid_sample"]} == {
        f"posted by a run whose answer was lost (the ledger holds it as {held_as}) and since deleted from the "
        f"warehouse: {REMEDY}"}
    assert state(warehouse) == before and rejects(warehouse, "dry") == []
    second = push(warehouse, ledger, "r2")
    assert (second.status, second.rows_rejected, second.rows_written) == ("rejected", 2, 2)
    assert second.details["pending_vanished"] == {"units": 1, "held": 1, "unknown": 0, "dropped": 0}
    [(reason)] = {r for _k, r in rejects(warehouse, "r2")}
    assert reason.startswith(f"posted by a run whose answer was lost (the ledger holds it as {held_as})")
    assert reason.endswith(REMEDY)
    assert [k for k, _r in rejects(warehouse, "r2")] == ["J1\x1f1", "J1\x1f2"]
    now = state(warehouse)
    assert {now[k] for k in now if k.startswith("J1")} == {(HELD_UNCOMPARED, None, held_as, REFUSED_DELETED)}
    assert all(s not in (None, HELD_UNCOMPARED) and p is None and r for k, (s, p, r, _f) in now.items()
               if k.startswith("J2"))
    assert sorted(ledger.posts) == ["J1", "J2"]  # each journal once
    third = push(warehouse, ledger, "r3")  # reported once: a rerun is quiet
    assert (third.status, third.rows_rejected, third.rows_changed, third.rows_written) == ("ok", 0, 0, 0)
    assert rejects(warehouse, "r3") == [] and "pending_vanished" not in third.details
    # its rows back as posted: the ledger is asked again and confirms them, nothing posted
    warehouse.execute("INSERT INTO lending.journal_lines VALUES ('J1', 1, '2026-10-14', '1000', 10.00), "
                      "('J1', 2, '2026-10-14', '4000', -10.00)")
    back = push(warehouse, ledger, "r4")
    assert (back.status, back.rows_rejected, back.rows_written) == ("ok", 0, 2) and sorted(ledger.posts) == ["J1", "J2"]
    assert all(s not in (None, HELD_UNCOMPARED) and p is None and r and f is None
               for s, p, r, f in state(warehouse).values())


def test_a_journal_in_flight_never_booked_and_deleted_is_dropped(warehouse: Warehouse) -> None:
    ledger = Journals()
    killed(warehouse, ledger, "request")
    assert ledger.posts == []
    warehouse.execute("DELETE FROM lending.journal_lines WHERE journal_id = 'J1'")
    dry = push(warehouse, ledger, "dry", dry_run=True)
    assert dry.rows_rejected == 0 and dry.details["pending_vanished"]["dropped"] == 1
    assert {row[1] for row in Bookkeeping(warehouse).pending("journals")} == {"J1", "J2"}  # untouched
    second = push(warehouse, ledger, "r2")
    assert (second.status, second.rows_rejected, second.rows_written) == ("ok", 0, 2)
    assert second.details["pending_vanished"] == {"units": 1, "held": 0, "unknown": 0, "dropped": 1}
    assert ledger.posts == ["J2"] and ["J1"] in ledger.lookups  # J1 asked about, never posted
    assert sorted(state(warehouse)) == ["J2\x1f1", "J2\x1f2"]  # no trace of J1's intent
    third = push(warehouse, ledger, "r3")
    assert (third.status, third.rows_rejected, third.rows_changed) == ("ok", 0, 0) and ledger.posts == ["J2"]


def test_a_journal_in_flight_with_one_line_deleted_is_settled_with_it(warehouse: Warehouse) -> None:
    """Booked: the ledger holds the journal with the line deleted since (replaced by another):
    rejected with the remedy, the deleted line settled with it (never pending again), reported once."""
    ledger = Journals()
    killed(warehouse, ledger, "answer")
    warehouse.execute("DELETE FROM lending.journal_lines WHERE journal_id = 'J1' AND line_no = 2")
    warehouse.execute("INSERT INTO lending.journal_lines VALUES ('J1', 3, '2026-10-14', '5000', -10.00)")
    second = push(warehouse, ledger, "r2")
    assert (second.status, second.rows_rejected) == ("rejected", 2) and sorted(ledger.posts) == ["J1", "J2"]
    assert [k for k, _r in rejects(warehouse, "r2")] == ["J1\x1f1", "J1\x1f3"]
    [reason] = {r for _k, r in rejects(warehouse, "r2")}
    assert reason.startswith("the ledger already holds journal J1 (id M-")
    assert reason.endswith("post a reversing entry")
    now = state(warehouse)
    assert now["J1\x1f2"][:2] == now["J1\x1f1"][:2] == (LEDGER_DIFFERS, None)
    assert now["J1\x1f2"][3] == REFUSED_DELETED and now["J1\x1f1"][2] == now["J1\x1f2"][2]
    assert Bookkeeping(warehouse).pending("journals") == []
    third = push(warehouse, ledger, "r3")
    assert (third.status, third.rows_rejected, third.rows_changed) == ("ok", 0, 0) and rejects(warehouse, "r3") == []


def test_a_journal_never_booked_with_a_line_replaced_is_posted_as_it_is_now(warehouse: Warehouse) -> None:
    ledger = Journals()
    killed(warehouse, ledger, "request")
    warehouse.execute("DELETE FROM lending.journal_lines WHERE journal_id = 'J1' AND line_no = 2")
    warehouse.execute("INSERT INTO lending.journal_lines VALUES ('J1', 3, '2026-10-14', '4000', -10.00)")
    second = push(warehouse, ledger, "r2")
    assert (second.status, second.rows_rejected, second.rows_written) == ("ok", 0, 4)
    assert sorted(ledger.posts) == ["J1", "J2"]
    [j1] = [j for j in ledger.posted.values() if j.key == "J1"]
    assert [line.amount for line in j1.lines] == [Decimal("10.00"), Decimal("-10.00")] and len(j1.lines) == 2
    assert sorted(state(warehouse)) == ["J1\x1f1", "J1\x1f3", "J2\x1f1", "J2\x1f2"]  # the gone line forgotten
    assert Bookkeeping(warehouse).pending("journals") == []
    assert push(warehouse, ledger, "r3").rows_changed == 0
