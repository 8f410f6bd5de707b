"""Google Sheets answers recorded by gspread's test suite, read by migo-sync's real client and pull
code: a header cell holding a date is read as people see it, data cells land exactly."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest
from helpers.recordings import recording

from migo_sync.adapters.sheets.client import SheetsClient
from migo_sync.adapters.sheets.pull import converter, header_text
from migo_sync.errors import ConfigError, exit_code_for
from migo_sync.http import make_client
from migo_sync.mapping.model import FieldType

URL = "https://sheets.googleapis.com"
RENDER = ("valueRenderOption", "dateTimeRenderOption")


def replay(name: str) -> tuple[SheetsClient, list[str]]:
    """A client whose GETs are answered by the recorded interaction with the same path and render
    options; anything else fails the test."""
    interactions = json.loads(recording("sheets", name).read_text())["interactions"]
    seen: list[str] = []

    def key(method: str, url: httpx.URL) -> tuple[str, str, tuple[str | None, ...]]:
        return method, url.path, tuple(url.params.get(p) for p in RENDER)

    answers: dict[Any, dict[str, Any]] = {}
    for item in interactions:
        answers.setdefault(key(item["request"]["method"], httpx.URL(item["request"]["uri"])), item["response"])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        found = answers.get(key(request.method, request.url))
        assert found is not None, f"no recorded answer for {request.method} {request.url}"
        return httpx.Response(found["status"]["code"], content=found["body"]["string"].encode(),
                              headers={"Content-Type": "application/json"})

    return SheetsClient(make_client("sheets", URL, transport=httpx.MockTransport(handler))), seen


SPREADSHEET = "1VYZV6IRnymjtcrTiKitjSdyIpBjiKTnzjBT-J87QLjI"


def test_a_date_header_is_read_as_shown_and_data_cells_land_exactly() -> None:
    client, _ = replay("WorksheetTest.test_get_all_values_date_time_render_options.json")
    shown = client.get(SPREADSHEET, "'Sheet1'", value_render="FORMATTED_VALUE", date_time_render="FORMATTED_STRING")
    assert [header_text(v) for v in shown["values"][0]] == ["2", "2020-01-01", "string", "53"]
    raw = client.get(SPREADSHEET, "'Sheet1'", value_render="UNFORMATTED_VALUE", date_time_render="SERIAL_NUMBER")
    assert [header_text(v) for v in raw["values"][0]] == ["2", "43831", "string", "53"]  # why the header is formatted
    row = raw["values"][1]
    assert converter(FieldType.number)(row[1]) == 0.12
    assert converter(FieldType.date)(row[2]) == date(1999, 1, 2)  # serial 36162
    assert converter(FieldType.decimal)(row[0]) == 1.5
    assert len(row) == 3  # Google leaves trailing empty cells out: the pull pads them as NULL


def test_a_spreadsheet_that_does_not_exist_is_a_config_error_exit_2() -> None:
    client, seen = replay("ClientTest.test_access_non_existing_spreadsheet.json")
    with pytest.raises(ConfigError, match=r"spreadsheet 'test': not found \(Requested entity was not found\.\)") \
            as info:
        client.spreadsheet("test")
    assert exit_code_for(info.value) == 2
    assert seen == [f"{URL}/v4/spreadsheets/test?includeGridData=false"]  # the same request gspread sends
