"""A journal changed in the warehouse after it was posted is rejected, never silently "confirmed"
as a duplicate of what the ledger already holds."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers.inplace import units_held_until_asked
from intacct.intacct_support import (
    PAIR,
    envelope,
    glbatch,
    journal_ids,
    make_project,
    post,
    posted,
    sandbox_environ,
)

from migo_sync.adapters.intacct.adapter import IntacctAdapter
from migo_sync.adapters.intacct.client import IntacctClient
from migo_sync.config import Project
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping


@pytest.fixture
def project(intacct: SandboxThread, tmp_path: Path) -> Project:
    return make_project(tmp_path / "project", sandbox_environ(intacct, tmp_path))


def test_a_posted_journal_changed_later_is_rejected_not_resent(project: Project, intacct: SandboxThread) -> None:
    first = run(project, RunOptions(names=["intacct_journals_push"]))
    assert first.results[0].status == "ok"
    ids = journal_ids(project)
    warehouse = open_warehouse(project)
    try:  # still balanced: both sides move by the same cent
        warehouse.execute(f"UPDATE lending.journal_lines SET amount = amount + 0.01 WHERE journal_id = '{ids[0]}' "
                          "AND line_no = 1")
        warehouse.execute(f"UPDATE lending.journal_lines SET amount = amount - 0.01 WHERE journal_id = '{ids[0]}' "
                          "AND line_no = 2")
        lines = warehouse.query(f"SELECT COUNT(*) FROM lending.journal_lines WHERE journal_id = '{ids[0]}'")[0][0]
    finally:
        warehouse.close()
    again = run(project, RunOptions(names=["intacct_journals_push"]))
    result = again.results[0]
    assert result.status == "rejected" and result.rows_rejected == lines and result.rows_written == 0
    assert posted(intacct) == Counter(ids)  # still exactly once each, unchanged
    warehouse = open_warehouse(project)
    try:
        reasons = {r[0] for r in warehouse.query(
            f"SELECT DISTINCT reason FROM migo_sync.rejects WHERE run_id = '{again.run_id}'")}
    finally:
        warehouse.close()
    assert reasons == {"already sent and since changed: this object is insert-only (post a reversing entry)"}
    assert result.requests == 0  # refused before any call; the ledger was not asked


def test_no_journal_is_posted_before_its_intent_is_recorded(
        project: Project, intacct: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bodies are built and the chart read ahead of the posts, never the intents: when the posts
    go, the intent of every journal in them is already in the ledger table."""
    intents: set[str] = set()
    record = Bookkeeping.record_intent

    def recorded(self: Bookkeeping, feed: str, run_id: str, table: Any) -> None:
        record(self, feed, run_id, table)
        intents.update(table.column("unit_key").to_pylist())

    early: list[str] = []
    post = IntacctAdapter.post_journals

    def checked(self: IntacctAdapter, journals: Any) -> Any:
        early.extend(j.key for j in journals if j.key not in intents)
        return post(self, journals)

    monkeypatch.setattr(Bookkeeping, "record_intent", recorded)
    monkeypatch.setattr(IntacctAdapter, "post_journals", checked)
    result = run(project, RunOptions(names=["intacct_journals_push"])).results[0]
    assert result.status == "ok" and result.rows_written > 0 and intents
    assert early == []
    assert posted(intacct) == Counter(journal_ids(project))


def test_the_intents_are_written_while_the_checks_read_the_chart(
        project: Project, intacct: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks' chart and look-up request is held (10 s at most) until the batch's intents are in the
    ledger, which happens only if they are written while that request is in flight; the posts still
    follow the intents and the look-up, every journal once."""
    recorded = threading.Event()
    record = Bookkeeping.record_intent

    def recording(self: Bookkeeping, feed: str, run_id: str, table: Any) -> int:
        written = record(self, feed, run_id, table)
        if table.num_rows:
            recorded.set()
        return written

    waited: list[bool] = []
    post = IntacctClient._post

    def held(client: IntacctClient, url: str, body: bytes) -> Any:
        if b"<object>REPORTINGPERIOD</object>" in body:  # the chart and look-up, on its way
            waited.append(recorded.wait(10))
        return post(client, url, body)

    monkeypatch.setattr(Bookkeeping, "record_intent", recording)
    monkeypatch.setattr(IntacctClient, "_post", held)
    result = run(project, RunOptions(names=["intacct_journals_push"])).results[0]
    assert result.status == "ok" and result.rows_written > 0
    assert waited == [True]
    assert posted(intacct) == Counter(journal_ids(project))


def test_a_journal_the_checks_refuse_keeps_no_intent(project: Project, intacct: SandboxThread) -> None:
    """Its intent, written while the checks read the chart, is dropped with the batch's outcome: the
    ledger shows nothing in flight, the journal is a reject, and once mended it is posted once."""
    ids = journal_ids(project)
    warehouse = open_warehouse(project)
    try:
        original = warehouse.query(f"SELECT account_no FROM lending.journal_lines WHERE journal_id = '{ids[0]}' "
                                   "AND line_no = 1")[0][0]
        lines = warehouse.query(f"SELECT COUNT(*) FROM lending.journal_lines WHERE journal_id = '{ids[0]}'")[0][0]
        warehouse.execute(f"UPDATE lending.journal_lines SET account_no = '9999' WHERE journal_id = '{ids[0]}' "
                          "AND line_no = 1")
    finally:
        warehouse.close()
    first = run(project, RunOptions(names=["intacct_journals_push"])).results[0]
    assert first.status == "rejected" and first.rows_rejected == lines
    assert posted(intacct) == Counter(ids[1:])
    warehouse = open_warehouse(project)
    try:
        assert warehouse.query("SELECT COUNT(*) FROM migo_sync.sent WHERE pending_hash IS NOT NULL")[0][0] == 0
        warehouse.execute(f"UPDATE lending.journal_lines SET account_no = '{original}' WHERE journal_id = '{ids[0]}' "
                          "AND line_no = 1")
    finally:
        warehouse.close()
    second = run(project, RunOptions(names=["intacct_journals_push"])).results[0]
    assert second.status == "ok" and second.rows_rejected == 0
    assert posted(intacct) == Counter(ids)


def test_the_sign_in_goes_while_the_engine_reads_the_journals(
        project: Project, intacct: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """WarmUp: once the plan has journals to send, getAPISession leaves on a thread. The checks are held
    (10 s at most) until it was sent, which happens only if it went while the engine read the units (the
    checks' own read would send it otherwise); it is sent once, and every journal is posted once."""
    signed = threading.Event()
    sign_ins: list[bytes] = []
    post = IntacctClient._post

    def watched(client: IntacctClient, url: str, body: bytes) -> Any:
        if b"getAPISession" in body:
            sign_ins.append(body)
            signed.set()
        return post(client, url, body)

    waited: list[bool] = []
    check = IntacctAdapter.check_meanwhile

    def held(self: IntacctAdapter, *args: Any) -> Any:
        waited.append(signed.wait(10))
        return check(self, *args)

    monkeypatch.setattr(IntacctClient, "_post", watched)
    monkeypatch.setattr(IntacctAdapter, "check_meanwhile", held)
    result = run(project, RunOptions(names=["intacct_journals_push"])).results[0]
    assert result.status == "ok" and result.rows_written > 0
    assert waited == [True] and len(sign_ins) == 1
    assert posted(intacct) == Counter(journal_ids(project))
    again = run(project, RunOptions(names=["intacct_journals_push"])).results[0]
    assert (again.rows_written, again.requests) == (0, 0)  # nothing to send: no warm-up, no sign-in


def test_the_look_up_leaves_before_the_engine_reads_the_journals(
        project: Project, intacct: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """KeysAhead: once the plan has journals to send, the engine hands over their references (one query
    over the rows to send) and the chart and look-up request leaves beside the warm-up's sign-in. Proven by
    holding the engine's reading of the units until that request was asked for (10 s at most): without the
    keys it leaves from the checks, after every unit was read, so the wait would run out. The same requests
    as without the keys, every journal posted once; nothing to send asks nothing."""
    from migo_sync.engine import push as push_engine

    cold = run(project, RunOptions(names=["intacct_journals_push"], dry_run=True)).results[0]
    waited, asked = units_held_until_asked(monkeypatch, IntacctClient, "read_lists")
    result = run(project, RunOptions(names=["intacct_journals_push"], reconcile="changed")).results[0]
    assert waited == [True]
    assert (result.status, result.rows_written) == ("ok", cold.details["would_send"]), result.error
    assert posted(intacct) == Counter(journal_ids(project))
    creates = -(-len(journal_ids(project)) // 100)
    assert result.requests == 2 + creates  # getAPISession, the chart and look-up, the creates
    asked.clear()
    again = run(project, RunOptions(names=["intacct_journals_push"], reconcile="changed")).results[0]
    assert (again.status, again.requests) == ("ok", 0) and not asked.is_set()
    assert push_engine.as_keys_ahead(IntacctAdapter.__new__(IntacctAdapter)) is not None


def test_keys_that_miss_a_journal_still_have_it_looked_up_before_it_is_posted(
        project: Project, intacct: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KeysAhead is a hint: a journal whose reference the engine's keys missed (dropped here on purpose) is
    looked up by the write before anything is posted — one more request — so one the ledger already holds
    (posted by hand with its reference) is not posted again: the outcome is the one without the keys."""
    from migo_sync.engine import push as push_engine

    ids = journal_ids(project)
    hand = IntacctAdapter.warm_up_keys

    def missing_one(self: IntacctAdapter, mapping: Any, values: Any) -> None:
        hand(self, mapping, {name: [v for v in found if v != ids[0]] for name, found in values.items()})

    def outcome() -> tuple[Any, ...]:
        assert post(intacct, envelope(glbatch(ids[0], PAIR))).status_code == 200
        result = run(project, RunOptions(names=["intacct_journals_push"], reconcile="changed")).results[0]
        found = (result.status, result.rows_written, result.rows_rejected, posted(intacct), result.requests)
        intacct.reset("intacct")
        warehouse = open_warehouse(project)
        try:
            warehouse.execute("DELETE FROM migo_sync.sent")
            warehouse.execute("DELETE FROM migo_sync.rejects")
        finally:
            warehouse.close()
        return found

    monkeypatch.setattr(IntacctAdapter, "warm_up_keys", missing_one)
    missed = outcome()
    monkeypatch.setattr(push_engine, "as_keys_ahead", lambda adapter: None)
    cold = outcome()
    assert missed[:4] == cold[:4] and missed[4] == cold[4] + 1, (missed, cold)
    assert missed[3] == Counter(ids)  # the hand-posted journal once, every other once
