"""The push engine on a real DuckDB file, driven by scripted adapters (the engine's own contract):
whole objects are streamed in the adapter's order, intent survives a crash and the resend carries
the same idempotency keys, remote refusals become rejects retried on the next run."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from migo_sync.adapter import BaseAdapter, PushUnit, RemoteObject, UnitResult
from migo_sync.config import Project, ProjectConfig, WarehouseConfig
from migo_sync.engine.push import Pusher
from migo_sync.mapping.model import Mapping
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.base import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping


def mapping(**extra: Any) -> Mapping:
    return Mapping.model_validate({
        "name": "scripted_push", "system": "scripted", "object": "things", "direction": "push",
        "warehouse": {"table": "src.things"}, "key": ["id"],
        "fields": [{"column": "id", "remote": "ID", "type": "integer"}, {"column": "name", "remote": "Name"},
                   {"column": "score", "remote": "Score", "type": "integer"}], **extra})


class Recorder(BaseAdapter):
    name = "scripted"

    def __init__(self, *, refuse: set[str] = frozenset(), crash_after: int | None = None) -> None:  # type: ignore[assignment]
        self.refuse = refuse
        self.crash_after = crash_after
        self.sent: list[PushUnit] = []
        self.seen: list[list[dict[str, Any]]] = []
        self.again: list[dict[str, Any]] = []

    def push_order(self, mapping: Mapping) -> list[tuple[str, bool]]:
        return [("Score", True)]

    def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]:
        results = []
        for unit in units:
            if self.crash_after is not None and len(self.sent) >= self.crash_after:
                raise KeyboardInterrupt  # the process dies mid-batch: no answer recorded
            self.sent.append(unit)
            self.seen.append(list(unit.records))
            self.again = list(unit.records)  # a stream may be read more than once while write() runs
            ok = unit.key not in self.refuse
            results.append(UnitResult(unit.key, ok=ok, remote_id=f"R{unit.key}" if ok else None,
                                      reason=None if ok else "the remote said no"))
        return results


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    wh = open_warehouse(Project(root=tmp_path, config=ProjectConfig(warehouse=WarehouseConfig(path="w.duckdb", create=True))))
    Bookkeeping(wh).ensure()
    wh.execute("CREATE SCHEMA src")
    wh.execute("CREATE TABLE src.things AS SELECT i AS id, 'n' || CAST(i AS VARCHAR) AS name, "
               "CASE WHEN i % 3 = 0 THEN NULL ELSE i % 7 END AS score FROM range(1, 21) t(i)")
    yield wh
    wh.close()


def push(wh: Warehouse, adapter: Recorder, unit: str, **extra: Any) -> Any:
    remote = RemoteObject("things", ("push",), ("upsert", "mirror", "insert"), unit)  # type: ignore[arg-type]
    return Pusher(wh, Bookkeeping(wh), adapter, mapping(**extra), remote, "r1").run()


def test_a_whole_object_is_streamed_in_the_adapters_order(warehouse: Warehouse) -> None:
    adapter = Recorder()
    result = push(warehouse, adapter, "object", mode="mirror")
    [unit] = adapter.sent
    assert not isinstance(unit.records, list) and len(unit.records) == 20
    scores = [r["Score"] for r in adapter.seen[0]]
    present = [s for s in scores if s is not None]
    assert present == sorted(present, reverse=True) and scores[len(present):] == [None] * (20 - len(present))
    assert adapter.again == adapter.seen[0]  # iterating again gives the same records
    assert result.rows_written == 20


def test_a_crash_after_intent_resends_the_same_keys(warehouse: Warehouse) -> None:
    crashing = Recorder(crash_after=0)
    with pytest.raises(KeyboardInterrupt):
        push(warehouse, crashing, "row")
    pending = Bookkeeping(warehouse).pending("scripted_push")
    assert len(pending) == 20  # intent recorded before sending, never confirmed
    resent = Recorder()
    result = push(warehouse, resent, "row")
    assert result.details["in_flight_resumed"] == 20 and result.rows_written == 20
    keys = {row_key: idem for row_key, _unit, idem, _run in pending}
    assert {u.row_keys[0]: u.idempotency_key for u in resent.sent} == keys
    assert Bookkeeping(warehouse).pending("scripted_push") == []


def test_refused_units_are_rejects_and_retried_next_run(warehouse: Warehouse) -> None:
    first = push(warehouse, Recorder(refuse={"3", "4"}), "row")
    assert first.status == "rejected" and first.rows_rejected == 2 and first.rows_written == 18
    again = Recorder()
    second = push(warehouse, again, "row")
    assert sorted(u.key for u in again.sent) == ["3", "4"] and second.rows_rejected == 0
    third = Recorder()
    assert push(warehouse, third, "row").rows_changed == 0 and third.sent == []


def test_every_kind_of_check_rejects_before_sending(warehouse: Warehouse) -> None:
    checks = [{"not_null": ["name", "score"]},
              {"accepted_values": {"name": [f"n{i}" for i in range(1, 19)]}},
              {"max_length": {"name": 2}, "message": "name too long"},
              {"expression": "name <> '{n4}' AND id <> 4", "message": "id 4 is not allowed"},
              {"unique": ["score"]}]
    adapter = Recorder()
    result = push(warehouse, adapter, "row", **({"checks": checks} if checks else {}))
    reasons = {key: reason for key, reason in warehouse.query(
        "SELECT row_key, reason FROM migo_sync.rejects WHERE mapping = 'scripted_push'")}
    sent = {u.key for u in adapter.sent}
    assert sent.isdisjoint(reasons) and len(sent) + len(reasons) == 20
    assert reasons["3"] == "missing value in score"            # i % 3 == 0: score is NULL
    assert reasons["19"] == "value not accepted in name"
    assert reasons["10"] == "name too long"
    assert reasons["4"] == "id 4 is not allowed"
    assert all(r == "not unique: score" for k, r in reasons.items() if k in {"1", "8"})
    assert result.rows_rejected == len(reasons)


def test_asked_to_stop_the_current_batch_finishes_and_the_rest_waits(warehouse: Warehouse) -> None:
    remote = RemoteObject("things", ("push",), ("upsert",), "row")
    adapter = Recorder()
    asked = iter([False, True])  # the stop arrives during the second batch
    result = Pusher(warehouse, Bookkeeping(warehouse), adapter, mapping(batch_size=6), remote, "r1",
                    stop=lambda: next(asked)).run()
    assert result.status == "stopped" and result.rows_written == 12 and len(adapter.sent) == 12
    assert Bookkeeping(warehouse).pending("scripted_push") == []  # both batches fully confirmed
    rest = Recorder()
    assert push(warehouse, rest, "row").rows_written == 8 and len(rest.sent) == 8


def test_the_change_probe_skips_an_unchanged_push_and_sees_any_change(warehouse: Warehouse) -> None:
    from migo_sync.engine.probe import ChangeProbe

    remote = RemoteObject("things", ("push",), ("upsert",), "row")
    probe = ChangeProbe()

    def probed(adapter: Recorder, **extra: Any) -> Any:
        return Pusher(warehouse, Bookkeeping(warehouse), adapter, mapping(**extra), remote, "r1", probe=probe).run()

    assert probed(Recorder(refuse={"5"})).rows_rejected == 1
    again = Recorder()
    assert probed(again).rows_written == 1 and [u.key for u in again.sent] == ["5"]  # a refusal is retried
    quiet = Recorder()
    assert probed(quiet).details == {"unchanged": True} and quiet.sent == []
    warehouse.execute("UPDATE src.things SET name = 'renamed' WHERE id = 7")
    changed = Recorder()
    assert probed(changed).rows_written == 1 and [u.key for u in changed.sent] == ["7"]
    assert probed(Recorder()).details == {"unchanged": True}
    warehouse.execute("INSERT INTO src.things VALUES (7, 'renamed', NULL)")  # a duplicate row: count moves
    duplicated = probed(Recorder())  # a duplicate key: refused, never taken as unchanged
    assert "unchanged" not in duplicated.details and duplicated.rows_rejected > 0
    warehouse.execute("DELETE FROM src.things WHERE id = 7 AND score IS NULL")
    edited = Recorder()  # an edited mapping (one field fewer) is never taken as unchanged
    result = probed(edited, fields=[{"column": "id", "remote": "ID", "type": "integer"},
                                    {"column": "name", "remote": "Name"}])
    assert "unchanged" not in result.details


def test_a_source_changed_while_pushing_is_planned_again_next_time(warehouse: Warehouse) -> None:
    from migo_sync.engine.probe import ChangeProbe

    remote = RemoteObject("things", ("push",), ("upsert",), "row")
    probe = ChangeProbe()

    class Meddler(Recorder):
        def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]:
            warehouse.execute("UPDATE src.things SET name = 'moved meanwhile' WHERE id = 2")
            return super().write(mapping, units)

    def probed(adapter: Recorder) -> Any:
        return Pusher(warehouse, Bookkeeping(warehouse), adapter, mapping(), remote, "r1", probe=probe).run()

    assert probed(Meddler()).rows_written == 20
    after = Recorder()
    result = probed(after)
    assert "unchanged" not in result.details and [u.key for u in after.sent] == ["2"]
    assert after.seen[0][0]["Name"] == "moved meanwhile"
    assert probed(Recorder()).details == {"unchanged": True}


def test_bytes_are_never_sent_as_their_repr(warehouse: Warehouse) -> None:
    """Defence behind validation: a query column the warehouse cannot type still never becomes b'...'."""
    warehouse.execute("UPDATE src.things SET name = NULL WHERE id > 2")
    warehouse.execute("CREATE TABLE src.blobs AS SELECT id, CASE WHEN id = 1 THEN encode('Ian Nyambura') END AS name, "
                      "score FROM src.things")
    adapter = Recorder()
    remote = RemoteObject("things", ("push",), ("upsert",), "row")
    result = Pusher(warehouse, Bookkeeping(warehouse), adapter, mapping(warehouse={"table": "src.blobs"}),
                    remote, "r1").run()
    assert result.rows_rejected == 1 and result.rows_written == 19
    assert all(not isinstance(r["Name"], bytes) for unit in adapter.sent for r in unit.records)
    [(reason,)] = warehouse.query("SELECT reason FROM migo_sync.rejects")
    assert reason == "transform failed: bytes (a BLOB/BINARY column) have no text form: cast or decode them in SQL"


@pytest.mark.parametrize("checks", [None, [{"unique": ["id"], "message": "id twice"}]])
def test_a_duplicate_key_and_a_null_key_are_rejects_counted_once_per_row(
        warehouse: Warehouse, checks: list[dict[str, Any]] | None) -> None:
    """A `unique` check on the key's own columns (skipped by the plan) refuses nothing more or else."""
    warehouse.execute("INSERT INTO src.things SELECT * FROM src.things WHERE id = 4")
    warehouse.execute("UPDATE src.things SET id = NULL WHERE id = 5")
    adapter = Recorder()
    result = push(warehouse, adapter, "row", **({"checks": checks} if checks else {}))
    reasons = sorted(r[0] for r in warehouse.query("SELECT reason FROM migo_sync.rejects"))
    assert reasons == ['duplicate key ("id")', 'duplicate key ("id")', "missing key value in (id)"]
    assert result.rows_rejected == 3 and result.rows_written == 18
    assert sorted(u.key for u in adapter.sent) == sorted(str(i) for i in range(1, 21) if i not in (4, 5))


@pytest.mark.parametrize("unit", ["row", "group"])
def test_a_copy_of_a_key_sent_before_refuses_both_rows(warehouse: Warehouse, unit: str) -> None:
    """A key sent before that the source now holds twice (one copy as sent, one changed): both rows are
    refused as a duplicate key, not the changed one sent as an update."""
    push(warehouse, Recorder(), unit)
    warehouse.execute("INSERT INTO src.things SELECT id, 'other', score FROM src.things WHERE id = 4")
    adapter = Recorder()
    result = push(warehouse, adapter, unit)
    reasons = warehouse.query("SELECT row_key, reason FROM migo_sync.rejects ORDER BY 1")
    assert reasons == [("4", 'duplicate key ("id")'), ("4", 'duplicate key ("id")')]
    assert result.rows_rejected == 2 and adapter.sent == []


class WarmRecorder(Recorder):
    """A `WarmUp` adapter: its warm-up only says it was called (the engine's side is what is tested)."""

    def __init__(self) -> None:
        super().__init__()
        self.warmed = threading.Event()

    def warm_up(self, mapping: Mapping) -> None:
        self.warmed.set()


def test_the_feed_is_noted_and_the_source_counted_while_the_warm_ups_calls_are_out(
        warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """Noting the feed and counting the source's rows wait for nothing the first send needs: each is held
    (5 s at most) until the warm-up's calls were begun, which happens only if they come after it."""
    from migo_sync.engine import push as push_module

    adapter = WarmRecorder()
    waited: list[str] = []
    note, count = Bookkeeping.note_feed, push_module.source_rows

    def noted(self: Bookkeeping, *args: Any) -> None:
        waited.append(f"note {adapter.warmed.wait(5)}")
        note(self, *args)

    def counted(*args: Any) -> int:
        waited.append(f"count {adapter.warmed.wait(5)}")
        return count(*args)

    monkeypatch.setattr(Bookkeeping, "note_feed", noted)
    monkeypatch.setattr(push_module, "source_rows", counted)
    warehouse.execute("CREATE VIEW src.things_view AS SELECT * FROM src.things")
    result = push(warehouse, adapter, "row", warehouse={"query": "SELECT * FROM src.things_view"})
    assert waited == ["note True", "count True"]
    assert (result.rows_read, result.rows_written, len(adapter.sent)) == (20, 20, 20)
    assert warehouse.query("SELECT feed, system, object FROM migo_sync.feeds") == [("scripted_push", "scripted", "things")]


def test_a_whole_object_shows_progress_while_it_streams(warehouse: Warehouse,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from migo_sync.engine import push as push_module
    from migo_sync.progress import Task

    class Seen(Task):
        def __init__(self) -> None:
            self.ticks: list[int] = []
            self.total: int | None = None

        def __call__(self, n: int) -> None:
            self.ticks.append(n)

        def set_total(self, total: int | None) -> None:
            self.total = total

    monkeypatch.setattr(push_module, "STREAM_TICK", 4)
    seen = Seen()
    remote = RemoteObject("things", ("push",), ("upsert", "mirror", "insert"), "object")
    Pusher(warehouse, Bookkeeping(warehouse), Recorder(), mapping(mode="mirror"), remote, "r1",
           progress=seen).run()
    assert seen.total == 20  # known before sending: a percentage can be shown
    assert seen.ticks[:5] == [4, 4, 4, 4, 4] and sum(seen.ticks) == 20  # moved while streaming, counted once


def test_a_character_the_wire_cannot_carry_is_named_in_whichever_field_holds_it(warehouse: Warehouse) -> None:
    """The record's texts are searched joined first (one search a row); the reason still names the field."""
    remote = RemoteObject("things", ("push",), ("upsert",), "row")
    pusher = Pusher(warehouse, Bookkeeping(warehouse), Recorder(), mapping(), remote, "r1")
    assert pusher._unsendable({"ID": 1, "Name": "fine", "Score": None}) is None
    assert pusher._unsendable({"ID": "ok\x00", "Name": "fine"}) is None  # JSON carries a NUL
    assert pusher._unsendable({"ID": 1, "Name": "fine", "Memo": "ab\ud800"}) == \
        "Memo: character U+D800 at position 3 cannot be sent as UTF-8 text"
    # a high surrogate ending one field and a low one starting the next: each refused, never a pair
    assert pusher._unsendable({"Name": "a\ud83d", "Memo": "\ude00b"}) == \
        "Name: character U+D83D at position 2 cannot be sent as UTF-8 text"
    pusher.xml = True
    assert pusher._unsendable({"Name": "fine", "Memo": "ok\x00x"}) == \
        "Memo: character U+0000 at position 3 cannot be sent in XML"


def test_the_collector_is_paused_only_while_a_batch_is_read(warehouse: Warehouse) -> None:
    import gc

    class Watching(Recorder):
        def check(self, mapping: Mapping, units: Sequence[PushUnit]) -> dict[str, str]:
            self.collecting = gc.isenabled()  # the batch is read: the collector is back on
            return {}

    assert gc.isenabled()
    adapter = Watching()
    result = push(warehouse, adapter, "row", batch_size=7)
    assert adapter.collecting and gc.isenabled() and result.rows_written == 20
