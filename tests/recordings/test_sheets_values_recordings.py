"""Google Sheets values calls recorded by gspread's test suite, replayed in order through migo-sync's
real client: what we send matches what gspread sent, and what Google answers lands exactly (text
stays text, numbers are not rounded, "3_1_0" is not read as 310)."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from decimal import Decimal
from typing import Any

import httpx
from helpers.recordings import recording

from migo_sync.adapters.sheets.client import SheetsClient
from migo_sync.adapters.sheets.pull import converter
from migo_sync.http import make_client
from migo_sync.mapping.model import FieldType

URL = "https://sheets.googleapis.com"


class Replay:
    """Answers each (method, path) with the recorded responses to it, in recorded order; keeps the
    JSON bodies we sent beside the ones gspread sent."""

    def __init__(self, name: str) -> None:
        self.answers: dict[tuple[str, str], deque[dict[str, Any]]] = defaultdict(deque)
        for item in json.loads(recording("sheets", name).read_text())["interactions"]:
            request = item["request"]
            body = request.get("body")
            text = body.get("string") if isinstance(body, dict) else body
            self.answers[(request["method"], httpx.URL(request["uri"]).path)].append(
                {"sent": json.loads(text) if text else None, **item["response"]})
        self.pairs: list[tuple[Any, Any]] = []  # (ours, gspread's) for every request with a body
        self.client = SheetsClient(make_client("sheets", URL, transport=httpx.MockTransport(self.handle)))

    def handle(self, request: httpx.Request) -> httpx.Response:
        queue = self.answers.get((request.method, request.url.path))
        assert queue, f"no recorded answer left for {request.method} {request.url}"
        found = queue.popleft()
        if found["sent"] is not None:
            self.pairs.append((json.loads(request.read()), found["sent"]))
        return httpx.Response(found["status"]["code"], content=found["body"]["string"].encode(),
                              headers={"Content-Type": "application/json"})


def test_values_get_reads_the_written_emoji_cells_exactly() -> None:
    replay = Replay("SpreadsheetTest.test_values_get.json")
    sheet = "1HVDGFSRVMTRJbo2n8Vh7TZt7EGFBLOdyNGk1Zb8H_SY"
    tab = "🌵 test_values_get 1"
    rows = [["🍇", "🍉", "🍋"], ["🍐", "🍎", "🍓"]]
    replay.client.update(sheet, f"{tab}!A1", rows)
    got = replay.client.get(sheet, tab)
    assert got["values"] == rows
    assert [converter(FieldType.string)(v) for v in got["values"][1]] == ["🍐", "🍎", "🍓"]
    ours, theirs = replay.pairs[0]
    assert ours["values"] == theirs["values"]  # the same cells gspread wrote, to the same (encoded) path


def test_batch_update_sends_gspreads_body_and_empty_cells_read_back_as_null() -> None:
    replay = Replay("WorksheetTest.test_batch_update.json")
    sheet = "16LuFWBK_SJz0B1rKNlcuRCJqj6_GbXsshAU9JPnHW3w"
    data = [{"range": "'Sheet1'!A1:D1", "values": [["A1", "B1", "", "D1"]]},
            {"range": "'Sheet1'!A4:D4", "values": [["A4", "B4", "", "D4"]]}]
    replay.client.clear(sheet, "'Sheet1'")
    answer = replay.client.batch_update(sheet, data)
    assert answer["totalUpdatedCells"] == 8
    ours, theirs = replay.pairs[-1]
    assert (ours["valueInputOption"], ours["data"]) == (theirs["valueInputOption"], theirs["data"])
    values = replay.client.get(sheet, "'Sheet1'!A1:D4")["values"]
    assert values == [["A1", "B1", "", "D1"], [], [], ["A4", "B4", "", "D4"]]  # empty rows kept as []
    assert [converter(FieldType.string)(v) for v in values[0]] == ["A1", "B1", None, "D1"]


def test_batch_clear_clears_both_ranges_and_digit_text_stays_text() -> None:
    replay = Replay("WorksheetTest.test_batch_clear.json")
    sheet = "1hit0UxyZPEXhx5Tw0nEtzqm7B8ilCnC_19tZtsEkKu4"
    first, second = "'Sheet1'!A1:B1", "'Sheet1'!C2:E2"
    replay.client.clear(sheet, "'Sheet1'")
    assert "values" not in replay.client.get(sheet, first)
    assert "values" not in replay.client.get(sheet, second)
    replay.client.update(sheet, first, [["12345", "ThisIsText"]])
    replay.client.update(sheet, second, [["5678", "Second", "Text"]])
    assert replay.client.get(sheet, first)["values"] == [["12345", "ThisIsText"]]
    cells = replay.client.get(sheet, second)["values"][0]
    assert converter(FieldType.string)(cells[0]) == "5678"  # RAW text of digits stays the text "5678"
    assert replay.client.batch_clear(sheet, [first, second])["clearedRanges"] == ["Sheet1!A1:B1", "Sheet1!C2:E2"]
    assert replay.pairs[-1][0] == replay.pairs[-1][1] == {"ranges": [first, second]}
    assert "values" not in replay.client.get(sheet, first)
    assert "values" not in replay.client.get(sheet, second)


def test_unformatted_numbers_land_unrounded_and_underscored_text_is_not_a_number() -> None:
    replay = Replay("WorksheetTest.test_get_all_records_numericise_unformatted.json")
    sheet = "1mt_zJLsgMLDIjwdv6qy7hSiWm2nH9UwBWt4nQiSB4SQ"
    replay.client.clear(sheet, "'Sheet1'")
    replay.client.structure(sheet, [{"updateSheetProperties": {
        "properties": {"sheetId": 0, "gridProperties": {"rowCount": 2, "columnCount": 4}},
        "fields": "gridProperties/rowCount,gridProperties/columnCount"}}])
    assert "values" not in replay.client.get(sheet, "'Sheet1'!A1:D2")
    rows = [["A", "", "C", "3_1_0"], ["=3/2", 0.12, "", "3_2_1"]]
    replay.client.update(sheet, "'Sheet1'!A1:D2", rows, value_input="USER_ENTERED")
    assert replay.pairs[-1][0]["values"] == replay.pairs[-1][1]["values"] == rows
    header, row = replay.client.get(sheet, "'Sheet1'")["values"]
    assert header == ["A", "", "C", "3_1_0"]
    decimal = converter(FieldType.decimal)
    assert decimal(row[0]) == Decimal("1.5")  # the formula's value
    assert decimal(row[1]) == Decimal("0.12")  # not 0.11999999999999999555910790149937
    assert converter(FieldType.number)(row[1]) == 0.12
    assert decimal(row[2]) is None
    # Python's Decimal reads "3_2_1" as 321 (PEP 515): a decimal field must not turn this text into a number
    assert decimal(row[3]) == "3_2_1"
    assert converter(FieldType.string)(row[3]) == "3_2_1"
