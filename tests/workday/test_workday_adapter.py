"""The adapter against the emulator over loopback: the ledger port, the shared journal checks, the
idempotent write (replays, lost answers, faults), resumable pulls, derived balances, validation."""

from __future__ import annotations

from contextlib import ExitStack, closing
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from workday.workday_support import (
    PUSH,
    TENANT,
    balanced,
    journal,
    posted,
    push_mapping,
    sandbox_environ,
    shipped,
    split_mapping,
)

from migo_sync.adapter import PushUnit
from migo_sync.adapters.workday.adapter import WorkdayAdapter
from migo_sync.adapters.workday.emulator import WorkdayEmulator
from migo_sync.config import Project, ProjectConfig
from migo_sync.errors import AuthError, ConfigError
from migo_sync.ledger import LedgerPort, Period, as_ledger, check_units, load_chart
from migo_sync.mapping.model import Mapping
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter

OCTOBER = Period("2026-10", date(2026, 10, 1), date(2026, 10, 31))


def lines_mapping(**options: object) -> Mapping:
    return shipped("workday_gl_lines_pull").model_copy(update={"options": options})


def test_it_is_a_ledger_with_the_live_chart(adapter: WorkdayAdapter) -> None:
    assert isinstance(as_ledger(adapter), LedgerPort)
    chart = adapter.chart()
    assert sorted(chart.accounts) == ["1000", "1100", "1150", "1190", "2000", "3000", "4000", "4100", "5000", "6000"]
    assert chart.accounts["4000"].account_type == "Revenue" and chart.accounts["4000"].title == "Interest Income"
    assert chart.dimensions == {"cost_center": frozenset({"OPS", "RISK", "COLL", "FIN"}),
                                "region": frozenset({"NBO", "MSA", "KSM"})}
    period = chart.period_for(date(2026, 12, 31))
    assert period is not None and period.key == "2026-12" and period.open
    closed = chart.period_for(date(2025, 6, 30))
    assert closed is not None and not closed.open


def test_checks_are_the_ledger_cores_and_reject_before_sending(adapter: WorkdayAdapter,
                                                               workday: SandboxThread) -> None:
    mapping = push_mapping()
    units = [
        balanced("ok"),
        journal("one-line", [("1100", "5.00")]),
        journal("unbalanced", [("1100", "100.00"), ("1000", "-99.99")]),
        journal("closed", [("1100", "1.00"), ("1000", "-1.00")], day=date(2025, 12, 31)),
        journal("unknown", [("1100", "1.00"), ("9999", "-1.00")]),
        journal("worktag", [("1100", "1.00"), ("1000", "-1.00")], Cost_Center_Reference_ID="MKT"),
        journal("cents", [("1100", "1.005"), ("1000", "-1.005")]),
    ]
    rejects = adapter.check(mapping, units)
    # the chart: accounts, cost centers, regions (periods come from the closed_through setting: WWS has
    # no operation that lists them), and beside it the look-up of the batch's journals the write needs
    assert workday.stats().get("workday", 0) == 3 + 1
    assert rejects == check_units(adapter, mapping, units, load_chart(adapter))  # the same code path as Intacct
    assert rejects == {
        "one-line": "journal has 1 line; at least 2 are required; unbalanced: debits 5.00 ≠ credits 0 (off by 5.00)",
        "unbalanced": "unbalanced: debits 100.00 ≠ credits 99.99 (off by 0.01)",
        "closed": "posting date 2025-12-31 falls in closed period 2025-12",
        "unknown": "line 2: unknown account '9999'",
        "worktag": "line 1: unknown cost_center 'MKT'; line 2: unknown cost_center 'MKT'",
        "cents": "line 1: amount 1.005 has more than 2 decimal places",
    }


@pytest.mark.parametrize("imported", [True, False])
def test_journals_post_once_and_a_replay_is_a_duplicate(adapter: WorkdayAdapter, workday: SandboxThread,
                                                        imported: bool) -> None:
    mapping = push_mapping(journal_import=imported)
    units = [balanced(f"JE-{n}", amount=f"{n}.25") for n in range(1, 6)]
    results = adapter.write(mapping, units)
    assert [(r.key, r.ok, r.duplicate) for r in results] == [(u.key, True, False) for u in units]
    # a submit answers each journal's WID; an import acknowledges the batch only, so the WIDs are
    # learnt by one look-up after it: the tenant's id is always recorded
    assert all(r.remote_id and len(r.remote_id) == 32 for r in results)
    again = adapter.write(mapping, units)
    # found before posting by its Accounting_Journal_ID: already sent, with the tenant's own id
    assert [(r.ok, r.duplicate, r.remote_id) for r in again] == [(True, True, r.remote_id) for r in results]
    assert posted(workday) == {f"JE-{n}": 1 for n in range(1, 6)}
    [first] = [j for j in workday.dump("workday")["journals"] if j["external_reference"] == "JE-1"]
    assert first["id"] == units[0].idempotency_key and first["memo"] == "journal JE-1"
    assert [(ln["account"], ln["debit"], ln["credit"], ln["order"]) for ln in first["lines"]] == [
        ("1100", "1.25", None, "1"), ("1000", None, "1.25", "2")]
    assert first["lines"][0]["worktags"] == {"Cost_Center_Reference_ID": "OPS", "Region_Reference_ID": "NBO"}


@pytest.mark.parametrize("imported", [True, False])
def test_the_tenants_refusal_is_the_units_reject_reason(adapter: WorkdayAdapter, emulator: WorkdayEmulator,
                                                        imported: bool) -> None:
    emulator.books.accounts["6000"]["retired"] = True  # retired after the chart was read: only the tenant knows
    adapter.chart()
    emulator.books.accounts["5000"]["retired"] = True
    [ok, refused] = adapter.write(push_mapping(journal_import=imported),
                                  [balanced("fine"), journal("late", [("5000", "3.00"), ("1000", "-3.00")])])
    assert ok.ok and not refused.ok and not refused.duplicate
    # an import's message names the journal; a submit's fault names the element too
    assert refused.reason == "Ledger Account 5000 is retired." if imported else refused.reason == (
        "Ledger Account 5000 is retired. (at Accounting_Journal_Data[1]/"
        "Journal_Entry_Line_Replacement_Data[1]/Ledger_Account_Reference[1])")


@pytest.mark.parametrize("options", [{"journal_import": False}, {"import_batch_size": 2}])
@pytest.mark.parametrize("kinds", [["drop_after"], ["500"], ["503", "429"], ["drop", "slow"]])
def test_lost_answers_and_faults_leave_each_journal_once(adapter: WorkdayAdapter, workday: SandboxThread,
                                                         kinds: list[str], options: dict[str, Any]) -> None:
    units = [balanced(f"JE-{n}") for n in range(30)]
    # 25 %, not 40 %: four calls in flight draw the seeded faults in whatever order they arrive, and at
    # 40 % one journal met 8 faults in a row (the retry budget) in ~1 of 50 loaded runs; 0.25**8 is 40x rarer
    workday.faults(rate=0.25, kinds=kinds, systems=["workday"], seed=11, slow_seconds=0.01)
    results = adapter.write(push_mapping(**options), units)
    injected = workday.faults()["injected"]
    workday.faults(rate=0.0)
    assert all(r.ok for r in results) and sum(injected.values()) > 0
    assert posted(workday) == {u.key: 1 for u in units}
    if kinds == ["drop_after"]:  # the tenant had them: the resend was refused as already posted
        assert any(r.duplicate for r in results)


def test_a_split_amount_mapping_sends_debits_and_credits(workday: SandboxThread, adapter: WorkdayAdapter) -> None:
    mapping = split_mapping()
    records = [{**r, "Debit_Amount": r["Amount"] if r["Amount"] > 0 else None,
                "Credit_Amount": -r["Amount"] if r["Amount"] < 0 else None} for r in balanced("S-1").records]
    for record in records:
        record.pop("Amount")
    unit = PushUnit("S-1", "split-key-1", records, ["S-1\x1f1", "S-1\x1f2"])
    assert adapter.validate(mapping) == []
    assert adapter.check(mapping, [unit]) == {}
    [result] = adapter.write(mapping, [unit])
    assert result.ok
    [stored] = workday.dump("workday")["journals"]
    assert [(ln["debit"], ln["credit"]) for ln in stored["lines"]] == [("100.00", None), (None, "100.00")]


def test_pulled_lines_and_balances_are_exact(adapter: WorkdayAdapter) -> None:
    adapter.write(push_mapping(), [balanced("A", "0.10"), balanced("B", "0.20"),
                                   journal("C", [("4000", "-1000000.01"), ("1000", "1000000.01")])])
    [batch] = list(adapter.read(lines_mapping(), None))
    assert len(batch.records) == 6 and batch.state is not None and set(batch.state) == {"updated_through"}
    amounts = sorted(r["Amount"] for r in batch.records)
    assert amounts[0] == Decimal("-1000000.01") and sum(amounts) == 0
    assert {r["Journal_Status"] for r in batch.records} == {"Posted"}
    balances = {b.account: (b.debits, b.credits) for b in adapter.read_balances(OCTOBER)}
    assert balances == {"1000": (Decimal("1000000.01"), Decimal("0.30")), "1100": (Decimal("0.30"), Decimal(0)),
                        "4000": (Decimal(0), Decimal("1000000.01"))}


def test_a_pull_resumes_its_window_where_it_stopped(workday: SandboxThread, tmp_path: Path) -> None:
    env = sandbox_environ(workday, tmp_path)
    project = Project(root=tmp_path, config=ProjectConfig(systems={"workday": {"page_size": 4, **TENANT}}), environ=env)
    writer = open_adapter(project, "workday")
    assert isinstance(writer, WorkdayAdapter)
    writer.write(push_mapping(), [balanced(f"P-{n}") for n in range(10)])
    first_pages = writer.read(lines_mapping(), None)
    batch = next(first_pages)  # the run dies after committing page 1 of 3
    assert batch.state is not None and batch.state["page"] == 2 and batch.state["count"] == 4
    assert len(batch.records) == 8
    writer.write(push_mapping(), [balanced("P-late")])  # entered after the window was pinned
    resumed = list(writer.read(lines_mapping(), batch.state))
    assert [len(b.records) for b in resumed] == [8, 4]
    keys = [(r["Journal_Entry_WID"], r["Line_Number"]) for b in [batch, *resumed] for r in b.records]
    assert len(keys) == len(set(keys)) == 20  # every line of the pinned window once, nothing else
    final = resumed[-1].state
    assert final is not None and set(final) == {"updated_through"}
    later = [r for b in writer.read(lines_mapping(), final) for r in b.records]
    assert {r["External_Reference_ID"] for r in later} >= {"P-late"}  # the next window picks it up
    writer.close()


def test_an_incremental_pull_asks_only_for_the_window(workday: SandboxThread, tmp_path: Path) -> None:
    env = sandbox_environ(workday, tmp_path)
    clock = [datetime(2030, 1, 1, tzinfo=UTC)]
    adapter = WorkdayAdapter(open_adapter(Project(root=tmp_path, config=ProjectConfig(systems={"workday": TENANT}),
                                                  environ=env),
                                          "workday").context, now=lambda: clock[0])
    adapter.write(push_mapping(), [balanced("old")])
    state = {"updated_through": "2029-12-31T00:00:00+00:00"}  # everything was entered before: nothing new
    assert [r for b in adapter.read(lines_mapping(lookback_minutes=0), state) for r in b.records] == []
    full = [r for b in adapter.read(lines_mapping(incremental=False), state) for r in b.records]
    assert len(full) == 2
    mirror = lines_mapping().model_copy(update={"mode": "mirror"})  # deletes what it does not read: reads all
    assert len([r for b in adapter.read(mirror, state) for r in b.records]) == 2
    adapter.close()


def test_ledger_accounts_are_pulled_from_the_account_set(adapter: WorkdayAdapter) -> None:
    mapping = Mapping.model_validate({
        "name": "wd_accounts", "system": "workday", "object": "Ledger_Account", "direction": "pull",
        "warehouse": {"table": "finance.workday_accounts"}, "key": ["account_no"],
        "fields": [{"column": "account_no", "remote": "Ledger_Account_ID"},
                   {"column": "kind", "remote": "Ledger_Account_Type_ID"}]})
    [batch] = list(adapter.read(mapping, None))
    assert len(batch.records) == 10 and batch.records[3]["Ledger_Account_Name"] == "Allowance for Loan Losses"


def test_validation_names_every_problem(adapter: WorkdayAdapter) -> None:
    data = push_mapping().model_dump(exclude={"source_file"})
    data["fields"] = [f for f in data["fields"] if f["remote"] not in ("Amount", "Company_Reference_ID")]
    data["options"] = {"max_concurrency": 0, "colour": "blue"}
    problems = adapter.validate(Mapping.model_validate(data))
    assert ("fields", "Accounting_Journal needs Amount (signed, debit positive) or Debit_Amount + Credit_Amount") in problems
    assert ("fields", "no company: map Company_Reference_ID or set [systems.workday] company") in problems
    assert {p for p, _ in problems} >= {"options.max_concurrency", "options.colour"}
    both = push_mapping().model_dump(exclude={"source_file"})
    both["fields"].append({"column": "debit", "remote": "Debit_Amount", "type": "decimal"})
    assert adapter.validate(Mapping.model_validate(both)) == [
        ("fields", "map Amount (signed) or Debit_Amount + Credit_Amount, not both")]
    assert adapter.validate(lines_mapping(page_size=1000)) == [
        ("options.page_size", "Input should be less than or equal to 999")]


def test_credentials_and_settings_fail_with_the_fix(workday: SandboxThread, tmp_path: Path) -> None:
    env = sandbox_environ(workday, tmp_path)
    wrong = open_adapter(Project(root=tmp_path, config=ProjectConfig(),
                                 environ={**env, "MIGO_SYNC_WORKDAY_PASSWORD": "wrong-password-1"}), "workday")
    with closing(wrong), pytest.raises(AuthError, match="credentials refused"):
        wrong.check(push_mapping(), [balanced("x")])
    missing = {k: v for k, v in env.items() if k != "MIGO_SYNC_WORKDAY_PASSWORD"}
    with pytest.raises(ConfigError, match="MIGO_SYNC_WORKDAY_PASSWORD"):
        open_adapter(Project(root=tmp_path, config=ProjectConfig(), environ=missing), "workday").check(
            push_mapping(), [balanced("x")])
    no_tenant = {k: v for k, v in env.items() if k != "MIGO_SYNC_WORKDAY_URL"}
    no_tenant["MIGO_SYNC_WORKDAY_USERNAME"] = "ISU_migo_sync"
    with pytest.raises(ConfigError, match="user@tenant"):
        open_adapter(Project(root=tmp_path, config=ProjectConfig(), environ=no_tenant), "workday").list_accounts()
    with pytest.raises(ConfigError, match="version"):
        open_adapter(Project(root=tmp_path, config=ProjectConfig(systems={"workday": {"version": "45"}}),
                             environ=env), "workday")


def test_the_production_url_takes_the_tenant(workday: SandboxThread, tmp_path: Path) -> None:
    env = {k: v for k, v in sandbox_environ(workday, tmp_path).items() if k != "MIGO_SYNC_WORKDAY_URL"}
    adapter = open_adapter(Project(root=tmp_path, config=ProjectConfig(systems={"workday": {"tenant": "acme"}}),
                                   environ={**env, "MIGO_SYNC_WORKDAY_USERNAME": "ISU_x"}), "workday")
    assert isinstance(adapter, WorkdayAdapter)
    assert adapter.client.url == "https://wd2-impl-services1.workday.com/ccx/service/acme/Financial_Management/v45.0"
    assert adapter.client.service._binding_options["address"] == adapter.client.url
    adapter.close()


def test_closed_through_overrides_the_tenants_period_status(workday: SandboxThread, tmp_path: Path) -> None:
    project = Project(root=tmp_path, config=ProjectConfig(systems={"workday": {"closed_through": "2026-09"}}),
                      environ=sandbox_environ(workday, tmp_path))
    adapter = open_adapter(project, "workday")
    assert adapter.check(push_mapping(), [balanced("sep", day=date(2026, 9, 30)), balanced("oct")]) == {
        "sep": "posting date 2026-09-30 falls in closed period 2026-09"}
    adapter.close()


def test_a_journal_push_needs_a_currency_and_a_journal_source(tmp_path: Path, workday: SandboxThread) -> None:
    """The real schema requires both on every journal: refused offline (exit 2) unless mapped or set."""
    data = shipped(PUSH).model_dump(exclude={"source_file"})
    data["fields"] = [f for f in data["fields"] if f["remote"] not in ("Currency_ID", "Journal_Source_ID")]
    bare_mapping = Mapping.model_validate(data)
    env = sandbox_environ(workday, tmp_path)
    # closed at the end: the write below opens a connection (the look-up before posting)
    with ExitStack() as adapters:
        bare = adapters.enter_context(closing(open_adapter(Project(root=tmp_path, config=ProjectConfig(), environ=env),
                                                           "workday")))
        assert [m for p, m in bare.validate(bare_mapping) if p == "fields"] == [
            "no currency: map Currency_ID or set [systems.workday] currency",
            "no journal source: map Journal_Source_ID or set [systems.workday] journal_source"]
        [result] = bare.write(bare_mapping, [balanced("no-currency")])
        assert not result.ok and result.reason == (
            "no currency: map Currency_ID or set [systems.workday] currency; "
            "no journal source: map Journal_Source_ID or set [systems.workday] journal_source")
        assert posted(workday)["no-currency"] == 0
        configured = adapters.enter_context(closing(open_adapter(
            Project(root=tmp_path, config=ProjectConfig(systems={"workday": TENANT}), environ=env), "workday")))
        assert not [m for p, m in configured.validate(bare_mapping) if p == "fields"]
        assert not [m for p, m in bare.validate(shipped(PUSH)) if p == "fields"]  # the shipped mapping maps both


def test_a_journal_refused_inside_an_import_is_a_reject_and_the_rest_post(
        adapter: WorkdayAdapter, workday: SandboxThread, emulator: WorkdayEmulator) -> None:
    """12 journals in imports of 5: two refused by the tenant (an account retired after the chart
    was read, in the first import; a closed month, in the third) carry its message; the ten others
    are booked; a replay of all twelve is ten duplicates and the same two rejects."""
    adapter.chart()
    emulator.books.accounts["5000"]["retired"] = True
    units = [balanced(f"B-{n}") for n in range(12)]
    units[1] = journal("B-1", [("5000", "3.00"), ("1000", "-3.00")])
    units[11] = balanced("B-11", day=date(2025, 11, 30))  # a closed month (write() skips the pre-send checks)
    emulator.calls.clear()
    mapping = push_mapping(import_batch_size=5)
    results = adapter.write(mapping, units)
    assert emulator.calls["Import_Accounting_Journal"] == 3 and emulator.calls["Get_Import_Process_Messages"] == 2
    refused = {r.key: r.reason for r in results if not r.ok}
    assert refused == {"B-1": "Ledger Account 5000 is retired.",
                       "B-11": "The accounting date 2025-11-30 falls in period Nov 2025, which is Closed for "
                               "company MIGO_KE."}
    assert posted(workday) == {u.key: 1 for u in units if u.key not in refused}
    again = adapter.write(mapping, units)
    assert sorted(r.key for r in again if r.ok and r.duplicate) == sorted(u.key for u in units if u.key not in refused)
    assert {r.key: r.reason for r in again if not r.ok} == refused


def test_an_imports_outcome_is_read_from_its_status_and_error_messages(adapter: WorkdayAdapter) -> None:
    """Warnings book the journal; an error names the journal it refuses; an error naming none, a
    failed import or errors promised but not found leave the whole import pending (raised)."""
    from migo_sync.adapters.workday.client import ImportMessage
    from migo_sync.errors import OutcomeUnknownError
    from migo_sync.ledger.journal import build_journals

    journals, _ = build_journals([balanced("W-1"), balanced("W-2")], adapter.journal_layout(push_mapping()))
    one, two = (j.idempotency_key for j in journals)
    warned = adapter._import_results(journals, "p", "Completed with Warnings",
                                     [ImportMessage("Warning", "rounded", one)])
    assert [(r.key, r.ok) for r in warned.values()] == [("W-1", True), ("W-2", True)]
    refused = adapter._import_results(journals, "p", "Completed with Errors",
                                      [ImportMessage("Error", "no", two), ImportMessage("Error", "never", two)])
    assert refused["W-1"].ok and refused["W-2"].reason == "no; never"
    for status, messages in (("Completed with Errors", [ImportMessage("Error", "broken", None)]),
                             ("Failed", []), ("Completed with Errors", [ImportMessage("Warning", "x", one)])):
        with pytest.raises(OutcomeUnknownError, match="stay pending"):
            adapter._import_results(journals, "p", status, messages)


@pytest.mark.parametrize("imported", [True, False])
def test_a_journal_xml_cannot_carry_is_refused_before_sending_and_the_rest_post(
        adapter: WorkdayAdapter, workday: SandboxThread, emulator: WorkdayEmulator, imported: bool) -> None:
    """A control character in a memo (warehouse text) cannot be written as XML: that journal is
    rejected with the field named, nothing of it is sent, and the others post (no crash, no half request)."""
    units = [balanced("fine"), journal("bad", [("1100", "3.00"), ("1000", "-3.00")], memo="bell \x07 rung")]
    adapter.chart()
    emulator.calls.clear()
    fine, bad = adapter.write(push_mapping(journal_import=imported), units)
    assert fine.ok and not fine.duplicate
    assert not bad.ok and bad.reason == "line 1: Memo holds U+0007, a character XML cannot carry: not sent"
    assert posted(workday) == {"fine": 1}
    assert emulator.calls["Import_Accounting_Journal" if imported else "Submit_Accounting_Journal"] == 1


def test_an_imports_ids_are_read_once_after_it_and_are_the_tenants(adapter: WorkdayAdapter, workday: SandboxThread,
                                                                   emulator: WorkdayEmulator) -> None:
    """The import acknowledges batches only: the booked journals' ids come from one look-up after
    the status read (its pages without lines), never a second one, and are the tenant's WIDs."""
    from collections import Counter

    adapter.chart()
    emulator.calls.clear()
    results = adapter.write(push_mapping(import_batch_size=3), [balanced(f"I-{n}") for n in range(7)])
    assert emulator.calls == Counter({"Import_Accounting_Journal": 3, "Get_Import_Processes": 1, "Get_Journals": 2})
    wids = {j["external_reference"]: j["wid"] for j in workday.dump("workday")["journals"]}
    assert [(r.key, r.ok, r.remote_id) for r in results] == [(f"I-{n}", True, wids[f"I-{n}"]) for n in range(7)]
