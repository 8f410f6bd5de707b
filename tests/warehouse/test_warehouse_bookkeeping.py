"""migo-sync's bookkeeping tables, on DuckDB and on Snowflake (fakesnow server)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from migo_sync.errors import WarehouseError
from migo_sync.warehouse._sql import SQLWarehouse
from migo_sync.warehouse.bookkeeping import _RECORDED, TABLES, Bookkeeping

OpenWarehouse = Callable[..., SQLWarehouse]
RESULT = {"name": "sheets_accounts", "system": "sheets", "direction": "push", "status": "ok", "rows_read": 10,
          "rows_changed": 4, "rows_written": 3, "rows_rejected": 1, "requests": 2, "seconds": 0.25}


@pytest.fixture
def book(wh: SQLWarehouse) -> Bookkeeping:
    book = Bookkeeping(wh)
    book.ensure()
    return book


def intents(n: int, prefix: str = "k", hash_: str = "h1") -> pa.Table:
    keys = [f"{prefix}{i:06d}" for i in range(n)]
    return pa.table({"row_key": keys, "row_hash": [f"{hash_}-{k}" for k in keys], "unit_key": keys,
                     "idempotency_key": [f"idem-{k}" for k in keys]})


# -- schema ------------------------------------------------------------------------------------------


def test_ensure_creates_every_table_idempotently(wh: SQLWarehouse) -> None:
    book = Bookkeeping(wh)
    book.ensure()
    book.ensure()
    for table in TABLES:
        assert wh.columns(book.table_name(table)) is not None, table
    assert book.table_name("sent") == "migo_sync.sent"
    sent = {c.name: c.type for c in wh.columns("migo_sync.sent") or []}
    assert sent == {"mapping": "string", "row_key": "string", "sent_hash": "string", "pending_hash": "string",
                    "unit_key": "string", "idempotency_key": "string", "remote_id": "string", "run_id": "string",
                    "updated_at": "timestamp", "remote_job": "string", "refused_hash": "string",
                    "locator": "string"}
    with pytest.raises(ValueError, match="no bookkeeping table"):
        book.table_name("nope")


def sent_statements(wh: SQLWarehouse, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement `wh.execute` and `wh.query` send from now on, in order, on one line each."""
    sent: list[str] = []
    for name in ("execute", "query"):
        original = getattr(wh, name)

        def wrapper(sql: str, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            sent.append(" ".join(sql.split()))
            return _original(sql, *args, **kwargs)

        monkeypatch.setattr(wh, name, wrapper)
    return sent


def test_ensure_makes_the_schema_once_and_a_second_bookkeeping_sends_no_ddl(
        wh: SQLWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh state schema gets one CREATE SCHEMA for its nine tables; another Bookkeeping on the
    same connection (the engine and each command start their own) only looks at `sent` and still
    works; a dropped schema is made again, tables and all."""
    sent = sent_statements(wh, monkeypatch)
    Bookkeeping(wh).ensure()
    assert sum(s.upper().startswith("CREATE SCHEMA") for s in sent) == 1
    assert sum(s.upper().startswith("CREATE TABLE") for s in sent) == len(TABLES)
    sent.clear()
    book = Bookkeeping(wh)
    book.ensure()
    assert sent == []  # (its one look-up, at `sent`'s columns, is neither)
    run = book.start_run("push", {})
    assert book.record_intent("m", run, intents(2)) == 2
    assert book.confirm("m", run, [("k000000", "k000000", "Z-0")]) == 1
    assert book.ledger("m")["k000000"]["sent_hash"] == "h1-k000000"
    wh.execute(f"DROP SCHEMA {wh.quote('migo_sync')} CASCADE")
    sent.clear()
    again = Bookkeeping(wh)
    assert again.pending("m") == []  # made anew on first use
    assert sum(s.upper().startswith("CREATE SCHEMA") for s in sent) == 1
    for table in TABLES:
        assert wh.columns(again.table_name(table)) is not None, table


def test_an_intent_naming_a_row_twice_is_refused_before_anything_is_sent(
        wh: SQLWarehouse, book: Bookkeeping, monkeypatch: pytest.MonkeyPatch) -> None:
    """record_intent checks its row keys in Arrow: a key named twice is refused naming the first three
    repeated keys in order, with no statement sent and nothing written; a good intent sends no query
    for it (a round trip less per batch on Snowflake)."""
    run = book.start_run("push", {})
    repeated = pa.concat_tables([intents(5), intents(4, prefix="k")])
    sent = sent_statements(wh, monkeypatch)
    with pytest.raises(WarehouseError, match=r"^ledger intent for m: row key\(s\) appear more than once "
                                             r"\(e\.g\. 'k000000', 'k000001', 'k000002'\)$"):
        book.record_intent("m", run, repeated)
    assert sent == [] and book.ledger("m") == {}
    assert book.record_intent("m", run, intents(5)) == 5
    assert not any("HAVING" in s.upper() for s in sent), sent
    assert sorted(book.ledger("m")) == [f"k{i:06d}" for i in range(5)]


def test_state_schema_is_configurable(open_wh: OpenWarehouse) -> None:
    book = Bookkeeping(open_wh(state_schema="ops_state"))
    book.ensure()
    assert book.table_name("runs") == "ops_state.runs"
    assert book.wh.columns("ops_state.runs") is not None


def test_bookkeeping_creates_its_tables_on_first_use(wh: SQLWarehouse) -> None:
    book = Bookkeeping(wh)
    assert book.get_cursor("m") is None
    assert wh.columns("migo_sync.cursors") is not None


def test_empty_ledger_for_a_dry_run_writes_nothing(wh: SQLWarehouse) -> None:
    book = Bookkeeping(wh)
    ledger = book.empty_ledger_for_dry_run()
    assert wh.query(f"SELECT COUNT(*), MAX(l.sent_hash) FROM {ledger} l WHERE l.mapping = 'x'") == [(0, None)]
    assert wh.columns("migo_sync.sent") is None


# -- runs --------------------------------------------------------------------------------------------


def test_a_result_is_one_row_however_it_is_recorded(wh: SQLWarehouse, open_wh: OpenWarehouse,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's first result of a mapping is one INSERT (the run was started on this connection: nothing
    to replace); recording it again, from another Bookkeeping on the connection, after the run finished,
    or a run started elsewhere, replaces it."""
    book = Bookkeeping(wh)
    book.ensure()
    sent: list[str] = []
    execute = wh.execute
    monkeypatch.setattr(wh, "execute", lambda sql, params=None: (sent.append(sql.split()[0]), execute(sql, params))[1])
    run = book.start_run("run", {})
    book.record_result(run, RESULT)
    book.record_result(run, {**RESULT, "name": "other"})
    assert sent == ["INSERT", "INSERT", "INSERT"]  # the run, then one statement per result
    Bookkeeping(wh).record_result(run, {**RESULT, "rows_written": 5})  # another Bookkeeping, same connection
    book.record_result(run, {**RESULT, "rows_written": 6})
    elsewhere = open_wh()  # a run started on another connection: its results always replace
    foreign = Bookkeeping(elsewhere).start_run("run", {})
    book.record_result(foreign, RESULT)
    book.record_result(foreign, {**RESULT, "rows_written": 7})
    book.finish_run(run, True)
    assert run not in _RECORDED.get(wh, {})  # what a connection remembers ends with each run
    book.record_result(run, {**RESULT, "name": "other", "rows_written": 8})
    shown = {run: book.get_run(run), foreign: book.get_run(foreign)}
    assert [(m["name"], m["rows_written"]) for m in shown[run]["mappings"]] == [("sheets_accounts", 6), ("other", 8)]
    assert [(m["name"], m["rows_written"]) for m in shown[foreign]["mappings"]] == [("sheets_accounts", 7)]
    assert (shown[run]["rejects_total"], shown[run]["rejects"], shown[run]["rejects_by_mapping"]) == (0, [], {})


def test_runs_are_recorded_listed_newest_first_and_shown(book: Bookkeeping) -> None:
    first = book.start_run("run", {"names": ["a"], "dry_run": False})
    second = book.start_run("push", {"name": "sheets_accounts"})
    assert re.fullmatch(r"r\d{8}-\d{6}-[0-9a-f]{6}", first)
    assert sorted([second, first]) == [first, second]
    book.record_result(second, RESULT)
    book.record_result(second, {**RESULT, "rows_written": 4, "rows_rejected": 0})  # recorded again: replaced
    book.record_result(second, {**RESULT, "name": "zendesk_users", "system": "zendesk", "status": "failed",
                                "error": "zendesk: unreachable"})
    book.add_rejects(second, "sheets_accounts", [(f"row{i}", "bad account", '{"a": 1}') for i in range(5)])
    book.finish_run(second, False)

    runs = book.list_runs()
    assert [r["run_id"] for r in runs] == [second, first]
    assert runs[0]["ok"] is False and runs[0]["mappings"] == 2 and runs[0]["rows_written"] == 7
    assert runs[1]["ok"] is None and runs[1]["finished_at"] is None and runs[1]["args"] == {
        "dry_run": False, "names": ["a"]}
    assert runs[1]["status"] == "running" and runs[0]["status"] == "failed" and runs[0]["exit_code"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", runs[0]["started_at"])
    assert book.list_runs(limit=1) == runs[:1]

    shown = book.get_run(second, limit=3)
    assert shown is not None
    assert shown["command"] == "push" and shown["args"] == {"name": "sheets_accounts"}
    assert [m["name"] for m in shown["mappings"]] == ["sheets_accounts", "zendesk_users"]
    assert shown["mappings"][0] == {**RESULT, "rows_written": 4, "rows_rejected": 0, "error": None,
                                    "error_class": None, "started_at": None, "details": {}}
    assert shown["mappings"][1]["error"] == "zendesk: unreachable"
    assert shown["rejects_total"] == 5
    assert [r["row_key"] for r in shown["rejects"]] == ["row0", "row1", "row2"]
    assert shown["rejects"][0]["reason"] == "bad account" and shown["rejects"][0]["payload"] == {"a": 1}
    assert shown["rejects_by_mapping"] == {"sheets_accounts": 5}
    assert book.get_run("r19990101-000000-000000") is None
    assert book.last_run_id() == second


def test_the_whole_record_of_a_run_why_it_failed_timings_and_reconciliation(book: Bookkeeping) -> None:
    run = book.start_run("run", {})
    book.record_result(run, {**RESULT, "status": "failed", "seconds": 27.25, "error": "intacct: gave up",
                             "error_class": "UnreachableError", "started_at": "2026-12-06T22:00:01Z",
                             "details": {"new": 3}})
    rows = [{"account": "1000", "period": "2026-11", "warehouse": "1250.50", "ledger": "1250.50",
             "difference": "0.00", "status": "match"},
            {"account": "4000", "period": "2026-11", "warehouse": "-99.99", "ledger": "0.00",
             "difference": "-99.99", "status": "missing_in_ledger"}]
    assert book.record_reconciliation(run, {"system": "intacct", "mapping": "journals", "rows": rows,
                                            "differences": rows[1:]}) == 2
    assert book.record_reconciliation(run, {"system": "workday", "mapping": "wd", "rows": [],
                                            "error": "workday: unreachable"}) == 1
    book.finish_run(run, False, status="differs", reason="reconciliation of journals (intacct): 1 difference(s)",
                    exit_code=1)
    shown = book.get_run(run)
    assert shown is not None
    assert (shown["status"], shown["reason"], shown["exit_code"]) == (
        "differs", "reconciliation of journals (intacct): 1 difference(s)", 1)
    mapping = shown["mappings"][0]
    assert (mapping["seconds"], mapping["error_class"], mapping["started_at"], mapping["details"]) == (
        27.25, "UnreachableError", "2026-12-06T22:00:01Z", {"new": 3})
    journals, wd = shown["reconciliation"]
    assert journals["rows"] == rows and journals["differences"] == rows[1:] and journals["ok"] is False
    assert journals["compared"] == 2 and journals["periods"] == ["2026-11"]
    assert wd["error"] == "workday: unreachable" and wd["ok"] is False
    assert book.list_runs()[0]["reason"] == "reconciliation of journals (intacct): 1 difference(s)"


def test_report_sections_are_part_of_the_run_record(book: Bookkeeping) -> None:
    run = book.start_run("run", {})
    section = {"kind": "plan_vs_actual", "title": "Plan versus actual: Forecast", "mapping": "forecast_pull",
               "columns": ["period", "account_code", "plan", "actual"],
               "rows": [["2026-01", "4000", "1234567.890123", None], ["2026-02", "4000", "0.10", "-0.05"]],
               "series": ["plan", "actual"], "chart": [{"label": "4000", "values": ["1234568.000123", "-0.05"]}],
               "note": None}
    assert book.record_sections(run, "adaptive", [section]) == 1
    assert book.record_sections(run, "adaptive", [{**section, "mapping": "budget_pull"}]) == 1
    assert book.record_sections(run, "adaptive", []) == 0
    shown = book.get_run(run)
    assert shown is not None
    assert shown["sections"] == [{**section, "system": "adaptive"},
                                 {**section, "mapping": "budget_pull", "system": "adaptive"}]  # exact, in order
    assert book.get_run(book.start_run("run", {}))["sections"] == []  # type: ignore[index]


def test_runs_left_running_are_marked_died_once(book: Bookkeeping) -> None:
    dead = book.start_run("run", {})
    done = book.start_run("run", {})
    book.finish_run(done, True)
    assert book.mark_died() == [dead]
    assert book.mark_died() == []
    shown = book.get_run(dead)
    assert shown is not None and shown["status"] == "died" and shown["ok"] is False
    assert "died" in shown["reason"] and shown["finished_at"] is None
    assert book.get_run(done)["status"] == "ok"  # type: ignore[index]


def test_open_rejects_are_those_of_the_latest_run(book: Bookkeeping) -> None:
    first = book.start_run("run", {})
    book.add_rejects(first, "m", [("a", "no", None), ("b", "no", None)])
    book.add_rejects(first, "other", [("a", "no", None)])
    assert book.open_rejects("m") == 2
    second = book.start_run("run", {})
    book.record_result(second, {**RESULT, "name": "m"})
    assert book.open_rejects("m") == 0
    assert book.open_rejects("other") == 1


# -- cursors -----------------------------------------------------------------------------------------


def test_cursor_round_trip_and_forget(book: Bookkeeping) -> None:
    run = book.start_run("pull", {})
    assert book.get_cursor("zendesk_tickets") is None
    book.set_cursor("zendesk_tickets", {"start_time": 1767225600, "cursor": "abc"}, run)
    book.set_cursor("zendesk_tickets", {"start_time": 1767229200, "cursor": "def"}, run)
    assert book.get_cursor("zendesk_tickets") == {"cursor": "def", "start_time": 1767229200}
    book.set_cursor("zendesk_tickets", None, run)
    assert book.get_cursor("zendesk_tickets") is None


def test_data_and_cursor_commit_together_or_not_at_all(wh: SQLWarehouse, book: Bookkeeping) -> None:
    """The pull pattern: stage a batch, MERGE it and save the cursor in one transaction."""
    run = book.start_run("pull", {})
    wh.execute("CREATE TABLE tickets (id VARCHAR, subject VARCHAR)")
    batch = pa.table({"id": ["1", "2"], "subject": ["a", "b"]})
    wh.load_arrow("tickets_stage", batch.slice(0, 0), temporary=True, replace=True)
    with pytest.raises(RuntimeError), wh.transaction():
        wh.load_arrow("tickets_stage", batch, temporary=True, replace=True)
        wh.merge("tickets", "tickets_stage", ["id"], ["id", "subject"])
        book.set_cursor("tickets", {"page": 2}, run)
        raise RuntimeError("killed before commit")
    assert wh.query("SELECT COUNT(*) FROM tickets") == [(0,)]
    assert book.get_cursor("tickets") is None
    with wh.transaction():
        wh.load_arrow("tickets_stage", batch, temporary=True, replace=True)
        wh.merge("tickets", "tickets_stage", ["id"], ["id", "subject"])
        book.set_cursor("tickets", {"page": 2}, run)
    assert wh.query("SELECT COUNT(*) FROM tickets") == [(2,)]
    assert book.get_cursor("tickets") == {"page": 2}


# -- the push ledger ---------------------------------------------------------------------------------


def test_intent_without_confirm_is_pending_after_a_crash(open_wh: OpenWarehouse) -> None:
    crashed = Bookkeeping(open_wh())
    crashed.ensure()
    run = crashed.start_run("push", {})
    assert crashed.record_intent("journals", run, [("JE-1|1", "h1", "JE-1", "idem-JE-1"),
                                                   ("JE-1|2", "h2", "JE-1", "idem-JE-1"),
                                                   ("JE-2|1", "h3", "JE-2", "idem-JE-2")]) == 3
    crashed.wh.close()  # the process dies between sending and confirming

    resumed = Bookkeeping(open_wh())
    assert resumed.pending("journals") == [("JE-1|1", "JE-1", "idem-JE-1", run), ("JE-1|2", "JE-1", "idem-JE-1", run),
                                           ("JE-2|1", "JE-2", "idem-JE-2", run)]
    ledger = resumed.ledger("journals")
    assert ledger["JE-1|1"]["sent_hash"] is None and ledger["JE-1|1"]["pending_hash"] == "h1"
    assert resumed.pending("other") == []


def test_confirm_moves_the_pending_hash_and_keeps_remote_ids(book: Bookkeeping) -> None:
    run = book.start_run("push", {})
    book.record_intent("users", run, intents(3))
    assert book.confirm("users", run, [("k000000", "k000000", "Z-1"), ("k000001", "k000001", None),
                                       ("unknown", "unknown", "Z-9")]) == 2
    ledger = book.ledger("users")
    assert (ledger["k000000"]["sent_hash"], ledger["k000000"]["pending_hash"]) == ("h1-k000000", None)
    assert ledger["k000000"]["remote_id"] == "Z-1" and ledger["k000001"]["remote_id"] is None
    assert ledger["k000002"]["sent_hash"] is None
    assert [p[0] for p in book.pending("users")] == ["k000002"]

    later = book.start_run("push", {})
    book.record_intent("users", later, intents(1, hash_="h2"))  # changed row: intent to resend
    ledger = book.ledger("users")
    assert (ledger["k000000"]["sent_hash"], ledger["k000000"]["pending_hash"]) == ("h1-k000000", "h2-k000000")
    assert book.confirm("users", later, pa.table({"row_key": ["k000000"], "unit_key": ["k000000"],
                                                  "remote_id": pa.array([None], pa.string())})) == 1
    ledger = book.ledger("users")
    assert (ledger["k000000"]["sent_hash"], ledger["k000000"]["remote_id"]) == ("h2-k000000", "Z-1")
    assert ledger["k000000"]["run_id"] == later


def test_intent_and_confirm_replace_only_their_rows_and_keep_every_column(wh: SQLWarehouse) -> None:
    """Ledger rows are replaced (new version in, old one out), never updated in place: the other
    rows, the other feeds and a column this version does not know all come through unchanged."""
    setup = Bookkeeping(wh)
    setup.ensure()
    sent = wh.quote(setup.table_name("sent"))
    wh.execute(f"ALTER TABLE {sent} ADD COLUMN {wh.quote('note')} VARCHAR")
    run = setup.start_run("push", {})
    setup.record_intent("m", run, intents(3))
    setup.record_intent("other", run, intents(3))
    wh.execute(f"UPDATE {sent} SET {wh.quote('note')} = 'kept'")
    book = Bookkeeping(wh)  # a later run: sees the extra column when it sets up
    assert book.confirm("m", run, [("k000000", "k000000", "Z-0"), ("k000001", "k000001", None)]) == 2
    book.record_intent("m", run, intents(1, hash_="h2"))
    notes = wh.query(f"SELECT {wh.quote('mapping')}, {wh.quote('row_key')}, {wh.quote('note')} FROM {sent} "
                     f"ORDER BY 1, 2")
    assert notes == [(m, f"k00000{i}", "kept") for m in ("m", "other") for i in range(3)]  # one row each
    ledger = book.ledger("m")
    assert (ledger["k000000"]["sent_hash"], ledger["k000000"]["pending_hash"]) == ("h1-k000000", "h2-k000000")
    assert ledger["k000000"]["remote_id"] == "Z-0" and ledger["k000002"]["pending_hash"] == "h1-k000002"
    assert all(r["pending_hash"] == f"h1-{k}" and r["sent_hash"] is None for k, r in book.ledger("other").items())


def test_rejected_units_clear_their_intent_only(book: Bookkeeping) -> None:
    run = book.start_run("push", {})
    book.record_intent("m", run, intents(2))
    book.confirm("m", run, [("k000000", "k000000", "R0")])
    book.record_intent("m", run, intents(2, hash_="h2"))
    assert book.clear_pending("m", ["k000000", "k000001"]) == 2
    ledger = book.ledger("m")
    assert (ledger["k000000"]["sent_hash"], ledger["k000000"]["pending_hash"]) == ("h1-k000000", None)
    assert (ledger["k000001"]["sent_hash"], ledger["k000001"]["pending_hash"]) == (None, None)
    assert book.pending("m") == []


def test_a_queued_job_is_remembered_with_the_intent_until_the_outcome_is_known(open_wh: OpenWarehouse) -> None:
    """The job reference is durable once recorded (a second connection sees it after a 'crash'); a
    new intent, a confirmation or a refusal forgets it; only pending rows can carry one."""
    crashed = Bookkeeping(open_wh())
    crashed.ensure()
    run = crashed.start_run("push", {})
    crashed.record_intent("users", run, intents(4))
    crashed.confirm("users", run, [("k000003", "k000003", "Z-3")])
    assert crashed.record_jobs("users", {"k000000": "V3-a#0", "k000001": "V3-a#1", "k000002": "V3-b#0",
                                         "k000003": "V3-b#1", "nobody": "V3-b#2"}) == 3  # k000003 is not pending
    crashed.wh.close()  # killed while the jobs run

    book = Bookkeeping(open_wh())
    queued = book.queued_jobs("users")
    assert {k: (u.job, u.run_id, u.row_keys) for k, u in queued.items()} == {
        "k000000": ("V3-a#0", run, ["k000000"]), "k000001": ("V3-a#1", run, ["k000001"]),
        "k000002": ("V3-b#0", run, ["k000002"])}
    assert book.queued_jobs("other") == {}
    later = book.start_run("push", {})
    book.confirm("users", later, [("k000000", "k000000", "Z-0")])
    book.clear_pending("users", ["k000001"])
    assert book.drop_jobs("users", ["k000002"]) == 1  # the remote forgot the job: still pending, no job
    assert book.queued_jobs("users") == {}
    assert [p[0] for p in book.pending("users")] == ["k000002"]
    assert {k: r["remote_job"] for k, r in book.ledger("users").items()} == {
        "k000000": None, "k000001": None, "k000002": None, "k000003": None}
    book.record_jobs("users", {"k000002": "V3-c#0"})
    book.record_intent("users", later, intents(3, hash_="h2"))  # a new intent: no job yet
    assert book.queued_jobs("users") == {}


def test_forget_and_reset(book: Bookkeeping) -> None:
    run = book.start_run("push", {})
    book.record_intent("m", run, intents(4))
    book.record_intent("other", run, intents(2))
    assert book.forget("m", pa.array(["k000000", "k000001"])) == 2
    assert sorted(book.ledger("m")) == ["k000002", "k000003"]
    assert book.reset("m") == 2
    assert book.ledger("m") == {}
    assert len(book.ledger("other")) == 2
    assert book.forget("m", []) == 0


def test_batch_bookkeeping_is_one_transaction(wh: SQLWarehouse, book: Bookkeeping) -> None:
    """The push engine confirms, clears, forgets and records rejects of one batch together."""
    run = book.start_run("push", {})
    book.record_intent("m", run, intents(3))
    with pytest.raises(RuntimeError), wh.transaction():
        book.confirm("m", run, [("k000000", "k000000", "R0")])
        book.clear_pending("m", ["k000001"])
        book.forget("m", ["k000002"])
        book.add_rejects(run, "m", [("k000001", "refused", None)])
        raise RuntimeError("crash")
    assert len(book.pending("m")) == 3
    assert book.get_run(run)["rejects_total"] == 0  # type: ignore[index]
    with wh.transaction():
        book.confirm("m", run, [("k000000", "k000000", "R0")])
        book.clear_pending("m", ["k000001"])
        book.forget("m", ["k000002"])
        book.add_rejects(run, "m", [("k000001", "refused", None)])
    assert book.pending("m") == [] and sorted(book.ledger("m")) == ["k000000", "k000001"]
    assert book.get_run(run)["rejects_total"] == 1  # type: ignore[index]


def count_calls(wh: SQLWarehouse, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    calls: Counter[str] = Counter()
    for name in ("execute", "query", "load_arrow", "merge", "iter_batches"):
        original = getattr(wh, name)

        def wrapper(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(wh, name, wrapper)
    return calls


def test_ledger_updates_are_set_based(wh: SQLWarehouse, book: Bookkeeping, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten rows or twenty thousand: the same statements, never one per row."""
    run = book.start_run("push", {})
    calls = count_calls(wh, monkeypatch)
    seen = []
    for n, prefix in ((10, "a"), (20_000, "b")):
        calls.clear()
        rows = intents(n, prefix)
        book.record_intent("m", run, rows)
        book.confirm("m", run, rows.select(["row_key", "unit_key"]).append_column("remote_id", rows.column("row_key")))
        book.record_intent("m", run, intents(n, prefix, hash_="h2"))
        book.clear_pending("m", rows.column("row_key"))
        book.forget("m", rows)
        book.add_rejects(run, "m", [(k, "r", None) for k in rows.column("row_key").to_pylist()])
        seen.append(dict(calls))
    assert seen[0] == seen[1]
    assert sum(seen[0].values()) < 40
    assert book.ledger("m") == {}
    assert book.get_run(run, limit=0)["rejects_total"] == 20_010  # type: ignore[index]


def test_ledger_rows_must_have_the_documented_shape(book: Bookkeeping) -> None:
    with pytest.raises(ValueError, match="missing idempotency_key"):
        book.record_intent("m", "r", pa.table({"row_key": ["a"], "row_hash": ["h"], "unit_key": ["a"]}))
    with pytest.raises(ValueError, match="tuples of"):
        book.confirm("m", "r", [("a", "b")])
    with pytest.raises(WarehouseError, match="more than once"):
        book.record_intent("m", "r", [("a", "h", "a", "i"), ("a", "h2", "a", "i")])
    assert book.ledger("m") == {}


def test_staging_tables_made_anew_keep_the_ledger_and_hold_nothing(wh: SQLWarehouse, book: Bookkeeping) -> None:
    """DuckDB keeps a temporary table's deleted rows until the table goes: release_stages makes the staging
    tables anew (not before `at_least` rows went through them); the ledger and later writes are unchanged."""
    from migo_sync.warehouse.bookkeeping import STAGE_LEDGER, STAGES

    run = book.start_run("run", {})
    for round_ in range(3):
        assert book.record_intent("m", run, intents(50, prefix=f"r{round_}-")) == 50
        assert book.confirm("m", run, [(f"r{round_}-{i:06d}", f"r{round_}-{i:06d}", f"Z-{i}") for i in range(50)]) == 50
    staged = [STAGE_LEDGER, *STAGES]

    def held() -> int:
        names = ", ".join(f"'{s}'" for s in staged)
        return int(wh.query(f"SELECT COALESCE(SUM(estimated_size), 0) FROM duckdb_tables() "
                            f"WHERE temporary AND table_name IN ({names})")[0][0])

    book.release_stages(at_least=1_000)  # 300 rows staged: not yet
    if wh.dialect == "duckdb":
        assert held() >= 300
    book.release_stages(at_least=300)
    if wh.dialect == "duckdb":
        assert held() == 0
    rows = wh.query("SELECT COUNT(*), COUNT(sent_hash), COUNT(pending_hash) FROM migo_sync.sent WHERE mapping = 'm'")
    assert rows == [(150, 150, 0)]
    assert book.record_intent("m", run, intents(2, prefix="r0-", hash_="h2")) == 2  # the stages work as before
    assert book.confirm("m", run, [("r0-000000", "r0-000000", None)]) == 1
    assert wh.query("SELECT sent_hash, remote_id FROM migo_sync.sent WHERE row_key = 'r0-000000'") == [
        ("h2-r0-000000", "Z-0")]
