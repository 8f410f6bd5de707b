"""Pulls straight through the adapter against the emulator: pages, cursors, deletes, custom fields."""

from __future__ import annotations

import queue
import threading
import types
from pathlib import Path

import pytest
from zendesk.zendesk_support import (
    configure,
    dump,
    emulator_of,
    make_adapter,
    pull_mapping,
    push_mapping,
    user_unit,
)

from migo_sync.adapters.zendesk import pull as pull_module
from migo_sync.adapters.zendesk.adapter import ZendeskAdapter
from migo_sync.adapters.zendesk.seed import AMOUNT_FIELD, LOAN_ID_FIELD
from migo_sync.errors import FatalRemoteError
from migo_sync.sandbox.process import SandboxThread

TICKET_FIELDS = [{"column": "id", "remote": "id", "type": "integer"},
                 {"column": "loan_id", "remote": f"custom_fields.{LOAN_ID_FIELD}"},
                 {"column": "amount", "remote": f"custom_fields.{AMOUNT_FIELD}", "type": "decimal", "scale": 2},
                 {"column": "is_deleted", "remote": "deleted", "type": "boolean"}]


def test_tickets_pull_one_batch_per_page_each_with_its_own_cursor(adapter: ZendeskAdapter,
                                                                   zd: SandboxThread) -> None:
    batches = list(adapter.read(pull_mapping(fields=TICKET_FIELDS), None))
    assert [len(b.records) for b in batches] == [1000] * 5
    assert len({b.state["after_cursor"] for b in batches if b.state}) == 5
    dumped = {t["id"]: t for t in dump(zd)["tickets"]}
    for record in (r for b in batches for r in b.records):
        custom = {c["id"]: c["value"] for c in dumped[record["id"]]["custom_fields"]}
        assert record[f"custom_fields.{LOAN_ID_FIELD}"] == custom[LOAN_ID_FIELD]
        assert record[f"custom_fields.{AMOUNT_FIELD}"] == custom[AMOUNT_FIELD]
        assert record["deleted"] is (dumped[record["id"]]["status"] == "deleted")
    assert zd.stats()["zendesk"] == 5 + 1  # five pages (and the knob set by the fixture)


def test_resuming_from_any_batch_state_yields_exactly_the_rest(adapter: ZendeskAdapter) -> None:
    mapping = pull_mapping()
    batches = list(adapter.read(mapping, None))
    ids = [r["id"] for b in batches for r in b.records]
    for k in (0, 2, 4):
        rest = [r["id"] for b in adapter.read(mapping, batches[k].state) for r in b.records]
        assert rest == ids[(k + 1) * 1000:]


def test_deleted_delete_mode_yields_keys_instead_of_records(adapter: ZendeskAdapter, zd: SandboxThread) -> None:
    batches = list(adapter.read(pull_mapping(deleted="delete"), None))
    gone = [k for b in batches for k in b.deleted_keys]
    deleted = {t["id"] for t in dump(zd)["tickets"] if t["status"] == "deleted"}
    assert {k["id"] for k in gone} == deleted and gone[0] == {"id": gone[0]["id"]}
    assert sum(len(b.records) for b in batches) == 5000 - len(deleted)
    assert all(r["status"] != "deleted" and "deleted" not in r for b in batches for r in b.records)


def test_users_keep_64_bit_ids_and_later_runs_see_only_changes(adapter: ZendeskAdapter, zd: SandboxThread) -> None:
    mapping = pull_mapping("users")
    batches = list(adapter.read(mapping, None))
    users = [r for b in batches for r in b.records]
    assert len(users) == 2013 and all(type(u["id"]) is int and u["id"] > 2**53 for u in users)
    assert {u["id"] for u in users} == {u["id"] for u in dump(zd)["users"]}
    results = adapter.write(push_mapping(), [user_unit(3, loan_status="default"), user_unit(900_001)])
    assert all(r.ok for r in results)
    later_batches = list(adapter.read(mapping, batches[-1].state))
    later = [r for b in later_batches for r in b.records]
    assert sorted(u["external_id"] for u in later) == ["C000003", "C900001"]
    assert next(u for u in later if u["external_id"] == "C000003")["user_fields"]["loan_status"] == "default"
    assert list(adapter.read(mapping, later_batches[-1].state)) == []


def test_organizations_use_the_time_based_export(adapter: ZendeskAdapter) -> None:
    mapping = pull_mapping("organizations")
    [batch] = list(adapter.read(mapping, None))
    assert len(batch.records) == 8 and batch.state is not None
    again = [r["id"] for b in adapter.read(mapping, batch.state) for r in b.records]
    assert again == [batch.records[-1]["id"]]  # inclusive: the boundary repeats, the MERGE absorbs it


def test_read_ahead_stops_fetching_when_the_consumer_stops(adapter: ZendeskAdapter, zd: SandboxThread) -> None:
    before = zd.stats()["zendesk"]
    stream = adapter.read(pull_mapping(), None)
    first = next(stream)
    assert len(first.records) == 1000
    stream.close()  # type: ignore[attr-defined]
    assert not any(t.name == "zendesk-read-ahead" for t in threading.enumerate())
    # at most 4 of the export's 5 pages: the page handed over, one queued, one parsed and waiting to be queued,
    # and the one cursor_pages asked for ahead while parsing it (55da729); a reader that kept going reads all 5
    assert zd.stats()["zendesk"] - before <= 4


def test_errors_on_the_read_ahead_thread_surface_in_the_caller(adapter: ZendeskAdapter) -> None:
    with pytest.raises(FatalRemoteError, match="InvalidPaginationParameter"):
        list(adapter.read(pull_mapping(), {"after_cursor": "bm90IGEgY3Vyc29y"}))


class _BrokenHandoff(queue.Queue):  # type: ignore[type-arg]
    """A handoff the producer cannot use: it dies without a word, as on a bug in the handoff itself."""

    def put(self, item: object, block: bool = True, timeout: float | None = None) -> None:
        raise SystemExit("the producer is gone")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_read_ahead_thread_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_queue = types.SimpleNamespace(Queue=_BrokenHandoff, Full=queue.Full, Empty=queue.Empty)
    monkeypatch.setattr(pull_module, "queue", fake_queue)
    monkeypatch.setattr(pull_module, "HANDOFF_POLL", 0.05)
    with pytest.raises(FatalRemoteError, match="page reader thread ended"):
        list(pull_module.read_ahead(iter([1, 2, 3])))


def test_read_ahead_hands_over_what_a_producer_left_before_ending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pull_module, "HANDOFF_POLL", 0.01)
    assert list(pull_module.read_ahead(iter(range(50)), depth=4)) == list(range(50))


def test_without_read_ahead_the_batches_are_the_same(zd: SandboxThread, tmp_path: Path) -> None:
    plain = make_adapter(zd, tmp_path, read_ahead=False)
    ahead = make_adapter(zd, tmp_path)
    mapping = pull_mapping(fields=TICKET_FIELDS)
    try:
        assert [(b.records, b.state) for b in plain.read(mapping, None)] == \
               [(b.records, b.state) for b in ahead.read(mapping, None)]
    finally:
        plain.close()
        ahead.close()


def test_the_client_side_limiter_keeps_under_the_emulators_export_limit(zd: SandboxThread, tmp_path: Path) -> None:
    """Both limits at 3 per minute: a 5-page pull would meet 429s without the limiter. The limiter's
    waits run on a fake clock; each one also lets the emulator's minute pass."""
    configure(zd, incremental_limit_per_minute=3)
    slow = make_adapter(zd, tmp_path, incremental_limit_per_minute=3)
    clock = [2.0**20 - 30]  # exact, and just below a power of two (where float waits used to hang)
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds
        emulator_of(zd)._incremental.clear()

    slow.pacing.incremental.clock = lambda: clock[0]
    slow.pacing.incremental.sleep = fake_sleep
    before = zd.stats()["zendesk"]
    try:
        batches = list(slow.read(pull_mapping(), None))
    finally:
        slow.close()
    assert sum(len(b.records) for b in batches) == 5000
    assert zd.stats()["zendesk"] - before == 5  # no 429 was met: not one request was repeated
    assert len(waits) == 1 and 55 < waits[0] <= 60


def test_describe_adds_the_accounts_custom_fields(adapter: ZendeskAdapter) -> None:
    tickets = adapter.describe(pull_mapping())
    names = {f.name for f in tickets.fields}
    assert f"custom_fields.{LOAN_ID_FIELD}" in names and "custom_fields.360000000001" not in names
    assert not tickets.dynamic_fields
    users = adapter.describe(push_mapping())
    assert {"user_fields.loan_status", "user_fields.credit_tier", "user_fields.recovery_offer"} <= {
        f.name for f in users.fields}


def test_validate_reports_every_problem(adapter: ZendeskAdapter) -> None:
    bad_pull = pull_mapping(fields=[{"column": "id", "remote": "id", "type": "integer"},
                                    {"column": "subj", "remote": "subjct"},
                                    {"column": "loan", "remote": "custom_fields.loan_id"}],
                            deleted="purge", start_time="yesterday", page=3)
    problems = dict(adapter.validate(bad_pull))
    assert "did you mean 'subject'" in problems["fields[1].remote"]
    assert "named by id" in problems["fields[2].remote"]
    assert {"options.deleted", "options.start_time", "options.page"} <= set(problems)
    push = push_mapping().model_copy(update={"fields": [f for f in push_mapping().fields
                                                        if f.remote != "external_id"]})
    push_problems = dict(adapter.validate(push))
    assert "external_id" in push_problems["fields"]
    readonly = push_mapping().model_copy(update={"fields": [*push_mapping().fields,
                                                            push_mapping().fields[0].model_copy(
                                                                update={"column": "x", "remote": "created_at"})]})
    assert "read-only" in dict(adapter.validate(readonly))["fields[6].remote"]
    assert adapter.validate(pull_mapping(fields=TICKET_FIELDS, start_time="2026-01-01", deleted="flag")) == []


def test_a_json_path_into_an_object_zendesk_sends_is_accepted_and_typos_still_get_a_hint(
        adapter: ZendeskAdapter) -> None:
    """The catalog is open below the nested objects every ticket carries (the API is): a real ticket
    field such as via.source.from.address validates; a misspelt head still gets "did you mean"."""
    fields = [{"column": "id", "remote": "id", "type": "integer"},
              {"column": "sender", "remote": "via.source.from.address"},
              {"column": "csat_comment", "remote": "satisfaction_rating.comment"}]
    assert adapter.validate(pull_mapping(fields=fields)) == []
    typo = pull_mapping(fields=[fields[0], {"column": "sender", "remote": "vai.source.from.address"}])
    assert dict(adapter.validate(typo))["fields[1].remote"] == (
        "zendesk tickets has no field 'vai.source.from.address' (did you mean 'via'?)")
    misspelt_leaf = pull_mapping(fields=[fields[0], {"column": "s", "remote": "subjet"}])
    assert "did you mean 'subject'" in dict(adapter.validate(misspelt_leaf))["fields[1].remote"]


def test_remote_validation_checks_json_paths_against_a_record_the_account_sends(adapter: ZendeskAdapter) -> None:
    fields = [{"column": "id", "remote": "id", "type": "integer"},
              {"column": "sender", "remote": "via.source.from.address"},
              {"column": "wrong", "remote": "via.sourse.from"}]
    live = adapter.describe(pull_mapping(fields=fields))
    names = {f.name for f in live.fields}
    assert "via.source.from.address" in names  # the sample ticket carries via.source.from (empty: web)
    assert "via.sourse.from" not in names  # via has no 'sourse': --remote reports it


def test_has_path_walks_the_json_zendesk_sends() -> None:
    from migo_sync.adapters.zendesk.adapter import has_path

    ticket = {"via": {"channel": "email", "source": {"from": {"address": "a@b.c"}, "to": {}, "rel": None}}}
    assert has_path(ticket, "via.source.from.address") and has_path(ticket, "via.source.rel.x")
    assert not has_path(ticket, "via.sourse.from") and not has_path(ticket, "via.channel.x")
