"""The adapter against the emulator over loopback: validation, checks, batched writes, pulls."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from intacct.intacct_support import REPO, balanced, journal, pull_mapping, push_mapping

from migo_sync.adapters.intacct.adapter import IntacctAdapter
from migo_sync.adapters.intacct.emulator import IntacctEmulator
from migo_sync.ledger import LedgerPort, as_ledger, build_journal
from migo_sync.mapping.loader import load_mappings
from migo_sync.mapping.validate import validate_catalog
from migo_sync.sandbox.faults import ALL_KINDS
from migo_sync.sandbox.process import SandboxThread

GLENTRY = {"RECORDNO": "integer", "TRX_AMOUNT": "decimal", "TR_TYPE": "integer", "ENTRY_DATE": "date",
           "ACCOUNTNO": "string"}


def test_it_is_a_ledger(adapter: IntacctAdapter) -> None:
    assert isinstance(adapter, LedgerPort) and as_ledger(adapter) is adapter


@pytest.mark.parametrize(("mapping", "problem"), [
    (push_mapping(options={"functions_per_request": 500}), ("options.functions_per_request",
                                                           "Input should be less than or equal to 100")),
    (push_mapping(options={"page_size": 10}), ("options.page_size", "Extra inputs are not permitted")),
    (pull_mapping("TRIALBALANCE", {"period": "string"}, periods=["2026-13"]),
     ("options.periods", "Value error, not a YYYY-MM period: 2026-13")),
    (pull_mapping("GLENTRY", GLENTRY, bogus=1), ("options.bogus", "Extra inputs are not permitted")),
    (pull_mapping("GLENTRY", GLENTRY, lookback_minutes=-1), ("options.lookback_minutes",
                                                             "Input should be greater than or equal to 0")),
])
def test_validate_reports_option_problems_offline(adapter: IntacctAdapter, mapping: object,
                                                  problem: tuple[str, str]) -> None:
    found = adapter.validate(mapping)  # type: ignore[arg-type]
    assert any(path == problem[0] and message.startswith(problem[1]) for path, message in found), found


@pytest.mark.parametrize(("change", "message"), [
    ("group_by: [journal_id]\n", "intacct GLBATCH is pushed in groups: group_by is required"),
    ("  - {column: batch_title, remote: BATCH_TITLE}\n", "required remote field 'BATCH_TITLE' is not mapped"),
    ("mode: insert\n", "intacct GLBATCH does not support mode 'upsert'"),
])
def test_the_catalog_catches_structural_mistakes(adapter: IntacctAdapter, tmp_path: Path, change: str,
                                                 message: str) -> None:
    shipped = (REPO / "mappings" / "intacct_journals_push.yaml").read_text()
    assert change in shipped
    (tmp_path / "m.yaml").write_text(shipped.replace(change, ""))
    problems = validate_catalog(load_mappings([tmp_path / "m.yaml"]), lambda system: adapter)
    assert [p.message for p in problems] == [message]


def test_shipped_style_mapping_is_valid(adapter: IntacctAdapter) -> None:
    assert adapter.validate(push_mapping()) == []
    assert adapter.validate(pull_mapping("GLENTRY", GLENTRY, lookback_minutes=5)) == []


def test_checks_use_the_live_chart_and_name_each_reason(adapter: IntacctAdapter, intacct: SandboxThread) -> None:
    units = [balanced("OK"),
             journal("DEPT", [("1100", "1"), ("1000", "-1")], dept="HR"),
             journal("LOC", [("1100", "1"), ("1000", "-1")], loc="LON"),
             journal("CLOSED", [("1100", "1"), ("1000", "-1")], date(2025, 6, 30)),
             journal("FAR", [("1100", "1"), ("1000", "-1")], date(2031, 1, 1)),
             journal("SHORT", [("1100", "0")]),
             journal("CENTS", [("1100", "1.001"), ("1000", "-1.001")])]
    reasons = adapter.check(push_mapping(), units)
    assert reasons == {
        "DEPT": "line 1: unknown department 'HR'; line 2: unknown department 'HR'",
        "LOC": "line 1: unknown location 'LON'; line 2: unknown location 'LON'",
        "CLOSED": "posting date 2025-06-30 falls in closed period 2025-06",
        "FAR": "posting date 2031-01-01 is in no ledger period",
        "SHORT": "journal has 1 line; at least 2 are required",
        "CENTS": "line 1: amount 1.001 has more than 2 decimal places"}
    before = intacct.stats()["intacct"]
    adapter.check(push_mapping(), units)
    assert intacct.stats()["intacct"] == before  # the chart is pulled once per run (adapter)


def test_header_fields_must_agree_across_lines(adapter: IntacctAdapter) -> None:
    unit = balanced("MIXED")
    unit.records[1]["BATCH_TITLE"] = "something else"
    assert adapter.check(push_mapping(), [unit]) == {
        "MIXED": "lines disagree on journal field BATCH_TITLE: Journal MIXED, something else"}


def test_many_journals_per_request(adapter: IntacctAdapter, intacct: SandboxThread, emulator: IntacctEmulator) -> None:
    units = [balanced(f"J{i:03d}") for i in range(250)]
    results = adapter.write(push_mapping(), units)
    assert all(r.ok and not r.duplicate for r in results) and [r.key for r in results] == [u.key for u in units]
    # one session, one look-up of the 250 references (three queries in one request), then 100 + 100 + 50 journals
    assert intacct.stats()["intacct"] == 1 + 1 + 3
    assert len(emulator.company.batches) == 250
    assert {r.remote_id for r in results} == {b["RECORDNO"] for b in emulator.company.batches}


def test_a_rerun_is_refused_as_duplicates_and_counts_as_success(adapter: IntacctAdapter,
                                                                emulator: IntacctEmulator) -> None:
    units = [balanced("A"), balanced("B")]
    first = adapter.write(push_mapping(), units)
    for unit in units:
        unit.resend = True  # what the engine says of a unit whose earlier send was never confirmed
    again = adapter.write(push_mapping(), units)
    assert [(r.ok, r.duplicate) for r in again] == [(True, True), (True, True)]
    assert [r.remote_id for r in again] == [r.remote_id for r in first]  # the ledger's own ids, learnt
    assert len(emulator.company.batches) == 2
    for unit in units:  # not ours to resend: the ledger's journal came from elsewhere
        unit.resend = False
    refused = adapter.write(push_mapping(), units)
    assert [r.ok for r in refused] == [False, False]
    assert refused[0].reason == (f"journal reference A is already in the ledger (id {first[0].remote_id}), posted by "
                                 "another feed or outside migo-sync: not sent (if this mapping continues that feed, "
                                 "say so with `continues:`)")
    assert len(emulator.company.batches) == 2


def test_one_bad_journal_does_not_sink_the_others(adapter: IntacctAdapter, emulator: IntacctEmulator) -> None:
    bad = balanced("BAD")
    for record in bad.records:
        record["JOURNAL"] = "ZZ"  # not pre-checked: the ledger refuses it
    results = adapter.write(push_mapping(), [balanced("A"), bad, balanced("C")])
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].reason == ("BL01001973: Invalid Journal 'ZZ' (correction: Correct the journal and resend.)")
    assert [b["REFERENCENO"] for b in emulator.company.batches] == ["A", "C"]


def test_a_524_after_commit_is_resent_and_not_posted_twice(adapter: IntacctAdapter, emulator: IntacctEmulator) -> None:
    emulator.options["fault_524_next"] = 1
    results = adapter.write(push_mapping(), [balanced("A"), balanced("B")])
    assert [(r.ok, r.duplicate) for r in results] == [(True, True), (True, True)]
    assert [b["REFERENCENO"] for b in emulator.company.batches] == ["A", "B"]


def test_dropped_answers_and_throttles_on_writes(adapter: IntacctAdapter, intacct: SandboxThread,
                                                 emulator: IntacctEmulator) -> None:
    adapter.client.session()
    intacct.faults(rate=0.5, kinds=["drop_after", "429", "503", "500"], systems=["intacct"], seed=3)
    units = [balanced(f"F{i}") for i in range(40)]
    adapter._functions_per_request = 2
    layout = adapter.journal_layout(push_mapping())
    results = adapter.post_journals([build_journal(u, layout) for u in units])
    assert all(r.ok for r in results)
    assert sorted(b["REFERENCENO"] for b in emulator.company.batches) == sorted(u.key for u in units)
    assert intacct.faults()["injected"]


def test_pull_pages_until_numremaining_is_zero_and_saves_the_cursor_last(
        adapter: IntacctAdapter, intacct: SandboxThread, emulator: IntacctEmulator) -> None:
    emulator.options["bulk_gl_lines"] = 2_500
    emulator.reset()
    batches = list(adapter.read(pull_mapping("GLENTRY", GLENTRY), None))
    assert [len(b.records) for b in batches] == [1000, 1000, 500]
    assert [b.state for b in batches[:-1]] == [None, None]
    assert batches[-1].state == {"whenmodified": "2025-12-31T23:00:00"}
    first = batches[0].records[0]
    assert isinstance(first["TRX_AMOUNT"], Decimal) and isinstance(first["ENTRY_DATE"], date)
    assert isinstance(first["RECORDNO"], int) and isinstance(first["WHENMODIFIED"], datetime)
    assert len({r["RECORDNO"] for b in batches for r in b.records}) == 2_500
    assert intacct.stats()["intacct"] == 1 + 3


def test_incremental_pull_with_lookback(adapter: IntacctAdapter, emulator: IntacctEmulator) -> None:
    emulator.options["bulk_gl_lines"] = 50
    emulator.reset()
    mapping = pull_mapping("GLENTRY", GLENTRY, lookback_minutes=10)
    state = list(adapter.read(mapping, None))[-1].state
    # rows at the cursor (and within the lookback) are read again: the MERGE by key absorbs them
    assert sum(len(b.records) for b in adapter.read(mapping, state)) == 50
    adapter.write(push_mapping(), [balanced("NEW")])
    later = list(adapter.read(mapping, state))
    assert sum(len(b.records) for b in later) == 52
    newer = later[-1].state
    assert newer is not None and newer["whenmodified"] > state["whenmodified"]  # type: ignore[index]
    assert [r["ACCOUNTNO"] for b in adapter.read(mapping, newer) for r in b.records] == ["1100", "1000"]


def test_trial_balance_and_account_balances(adapter: IntacctAdapter) -> None:
    from migo_sync.http import REQUEST_STATS

    adapter.write(push_mapping(), [balanced("A", "70.00", date(2026, 10, 3)), balanced("B", "5.00", date(2026, 11, 3))])
    adapter.chart()  # the periods (read once per adapter)
    before = REQUEST_STATS.get("intacct")
    tb = list(adapter.read(pull_mapping("TRIALBALANCE", {"period": "string", "glaccountno": "string",
                                                         "debits": "decimal"}, periods=["2026-10", "2026-11"]), None))
    assert REQUEST_STATS.get("intacct") - before == 1  # both periods' get_trialbalance in one request
    assert [len(b.records) for b in tb] == [10, 10]  # every account, zero balances included
    nov = {r["glaccountno"]: r for r in tb[1].records}
    assert nov["1100"]["startbalance"] == Decimal("70.00") and nov["1100"]["endbalance"] == Decimal("75.00")
    assert nov["1100"]["period"] == "2026-11"
    balances = list(adapter.read(pull_mapping("GLACCOUNTBALANCE", {"ACCOUNTNO": "string", "TOTDEBIT": "decimal"},
                                              periods=["2026-10"]), None))
    oct_ = {r["ACCOUNTNO"]: r for r in balances[0].records}
    assert oct_["1100"]["TOTDEBIT"] == Decimal("70.00") and oct_["1000"]["ENDBAL"] == Decimal("-70.00")


def test_ledger_port_reads(adapter: IntacctAdapter) -> None:
    adapter.write(push_mapping(), [balanced("A", "12.34", date(2026, 10, 3))])
    assert [a.number for a in adapter.list_accounts()][:3] == ["1000", "1100", "1150"]
    assert adapter.list_dimensions() == {"department": ["OPS", "RISK", "COLL", "FIN"], "location": ["NBO", "MSA", "KSM"]}
    periods = adapter.list_periods()
    assert len(periods) == 24 and not periods[11].open and periods[12].open and periods[12].key == "2026-01"
    lines = [line for page in adapter.read_journal_lines(date(2026, 10, 1), date(2026, 10, 31)) for line in page]
    assert [(line.account, line.amount, line.reference) for line in lines] == [
        ("1100", Decimal("12.34"), "A"), ("1000", Decimal("-12.34"), "A")]
    october = adapter.chart().period("2026-10")
    assert october is not None
    assert {b.account: b.net for b in adapter.read_balances(october)} == {"1000": Decimal("-12.34"),
                                                                          "1100": Decimal("12.34")}


@pytest.mark.parametrize("lost", [1, 2, 3, 4], ids=["session", "readByQuery", "readMore-1", "readMore-2-last"])
def test_a_lost_answer_on_any_page_loses_no_row(adapter: IntacctAdapter, intacct: SandboxThread,
                                                emulator: IntacctEmulator, lost: int) -> None:
    """The gateway moves a readMore result on as it answers: a resent readMore would skip a page
    (or find no open result after the last one). The query is read again instead: every row."""
    emulator.options["bulk_gl_lines"] = 2_275
    emulator.reset()
    before = intacct.faults()["injected"].get("drop_after", 0)
    intacct.faults(kinds=["drop_after"], systems=["intacct"], at=[lost])
    try:
        batches = list(adapter.read(pull_mapping("GLENTRY", GLENTRY), None))
        assert intacct.faults()["injected"]["drop_after"] == before + 1
    finally:
        intacct.faults(kinds=list(ALL_KINDS), systems=[], at=[])
    assert len({r["RECORDNO"] for b in batches for r in b.records}) == 2_275
    assert batches[-1].state == {"whenmodified": "2025-12-31T23:00:00"}
    assert all(b.state is None for b in batches[:-1])


def test_a_lost_answer_on_any_chart_page_loses_no_account(adapter: IntacctAdapter, intacct: SandboxThread) -> None:
    lists = {"accounts": ("GLACCOUNT", "ACCOUNTNO", ""), "departments": ("DEPARTMENT", "DEPARTMENTID", "")}
    expected = {name: sorted(map(str, records)) for name, records in adapter.client.read_lists(lists, pagesize=3).items()}
    assert len(expected["accounts"]) > 6  # several pages each
    for lost in range(1, 5):
        before = intacct.faults()["injected"].get("drop_after", 0)
        intacct.faults(kinds=["drop_after"], systems=["intacct"], at=[lost])
        try:
            found = adapter.client.read_lists(lists, pagesize=3)
            assert intacct.faults()["injected"]["drop_after"] == before + 1
        finally:
            intacct.faults(kinds=list(ALL_KINDS), systems=[], at=[])
        assert {name: sorted(map(str, records)) for name, records in found.items()} == expected
