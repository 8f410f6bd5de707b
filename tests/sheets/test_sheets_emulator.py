"""The Sheets emulator over real HTTP: the values API's shapes, options, limits, auth and quotas
as §4 of the API reference describes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from sheets.sheets_support import emulator_of

from migo_sync.adapters.sheets.client import SheetsClient
from migo_sync.adapters.sheets.sandbox import make_key_json
from migo_sync.errors import ConfigError, FatalRemoteError, UnreachableError
from migo_sync.sandbox.process import SandboxThread

BOOK = "migo-collections"
FX = "migo-finance-manual"


def values(client: SheetsClient, range_: str) -> dict[str, Any]:
    return client.get(BOOK, range_)


# --- reads: render options, trimming, normalised ranges ---------------------------------------

def test_seeded_fx_rates_read_three_ways(client: SheetsClient) -> None:
    unformatted = client.get(FX, "'FX Rates'!A1:D3")
    formatted = client.get(FX, "'FX Rates'!A1:D3", value_render="FORMATTED_VALUE")
    as_text_dates = client.get(FX, "'FX Rates'!C2", date_time_render="FORMATTED_STRING")
    assert unformatted["range"] == "'FX Rates'!A1:D3"
    assert unformatted["values"][0] == ["Currency", "Rate to KES", "Effective Date", "Source"]
    currency, rate, serial, source = unformatted["values"][1]
    assert (currency, source, serial) == ("USD", "CBK", 46204)    # 2026-07-01 as a serial number
    assert isinstance(rate, float)
    assert formatted["values"][1][2] == "2026-07-01"
    assert formatted["values"][1][1] == str(rate)
    assert as_text_dates["values"] == [["2026-07-01"]]


def test_trailing_empties_trimmed_inner_rows_empty_lists_and_no_values_key(client: SheetsClient) -> None:
    client.update(BOOK, "Collections!A1", [["a", "", "c"], [None], [], ["", "", "", "d"]])
    body = values(client, "Collections!A1:F8")
    assert body["range"] == "Collections!A1:F8"
    assert body["values"] == [["a", "", "c"], [], [], ["", "", "", "d"]]
    columns = client.get(BOOK, "Collections!A1:D4", major_dimension="COLUMNS")
    assert columns["majorDimension"] == "COLUMNS"
    assert columns["values"] == [["a"], [], ["c"], ["", "", "", "d"]]
    empty = values(client, "Collections!H1:J5")
    assert "values" not in empty and empty["range"] == "Collections!H1:J5"


@pytest.mark.parametrize(("asked", "normalised"), [
    ("Collections!A:A", "Collections!A1:A1000"),
    ("Collections!A1:1", "Collections!A1:Z1"),
    ("Collections", "Collections!A1:Z1000"),
    ("'Collections'!B2:C", "Collections!B2:C1000"),
    ("A1:B2", "Collections!A1:B2"),                     # no sheet: the first visible tab
    ("Collections!A1:AZ5000", "Collections!A1:Z1000"),  # clipped to the grid
    ("Collections!C3:A1", "Collections!A1:C3"),
])
def test_ranges_are_normalised_in_responses(client: SheetsClient, asked: str, normalised: str) -> None:
    assert values(client, asked)["range"] == normalised


def test_quoted_titles_with_apostrophes(client: SheetsClient) -> None:
    client.structure(BOOK, [{"addSheet": {"properties": {"title": "Bob's Q1 / Q2"}}}])
    client.update(BOOK, "'Bob''s Q1 / Q2'!B2", [["ok"]])
    body = values(client, "'Bob''s Q1 / Q2'!A1:C3")
    assert body["range"] == "'Bob''s Q1 / Q2'!A1:C3"
    assert body["values"] == [[], ["", "ok"]]


def test_batch_get_returns_one_value_range_per_range(client: SheetsClient) -> None:
    body = client.batch_get(FX, ["'FX Rates'!A1:A2", "'Manual Adjustments'!A1:B1"])
    assert [r["range"] for r in body["valueRanges"]] == ["'FX Rates'!A1:A2", "'Manual Adjustments'!A1:B1"]
    assert body["valueRanges"][1]["values"] == [["Adjustment ID", "Account"]]


# --- writes: RAW vs USER_ENTERED ---------------------------------------------------------------

def test_raw_keeps_text_user_entered_parses(client: SheetsClient) -> None:
    typed = ["=HYPERLINK(\"http://x\",\"link\")", "=4/2", "2026-10-01", "1,234.5", "12%", "TRUE", "'0042", "hello"]
    client.update(BOOK, "Collections!A1", [typed], value_input="RAW")
    client.update(BOOK, "Collections!A2", [typed], value_input="USER_ENTERED")
    unformatted = client.get(BOOK, "Collections!A1:H2")
    formula = client.get(BOOK, "Collections!A1:H2", value_render="FORMULA")
    formatted = client.get(BOOK, "Collections!A1:H2", value_render="FORMATTED_VALUE")
    assert unformatted["values"][0] == typed                                  # RAW: all text, verbatim
    assert formula["values"][0] == typed
    assert unformatted["values"][1] == ["link", 2, 46296, 1234.5, 0.12, True, "0042", "hello"]
    assert formula["values"][1][:3] == ['=HYPERLINK("http://x","link")', "=4/2", 46296]
    assert formatted["values"][1] == ["link", "2", "2026-10-01", "1234.5", "0.12", "TRUE", "0042", "hello"]


def test_numbers_and_booleans_round_trip_as_json_types(client: SheetsClient) -> None:
    client.update(BOOK, "Collections!A1", [[1234.5, 0.1, 100, True, -0.05, 1e20]])
    assert client.get(BOOK, "Collections!A1:F1", value_render="FORMATTED_VALUE")["values"] == [
        ["1234.5", "0.1", "100", "TRUE", "-0.05", "1E+20"]]
    assert client.get(BOOK, "Collections!A1:F1")["values"] == [[1234.5, 0.1, 100, True, -0.05, 1e20]]


def test_value_input_option_is_required(client: SheetsClient) -> None:
    response = client.http.put(f"/v4/spreadsheets/{BOOK}/values/A1", json={"values": [["x"]]})
    assert response.status_code == 400
    assert response.json()["error"] == {"code": 400, "status": "INVALID_ARGUMENT",
                                        "message": "'valueInputOption' is required but not specified"}
    response = client.http.post(f"/v4/spreadsheets/{BOOK}/values:batchUpdate",
                                json={"valueInputOption": "INPUT_VALUE_OPTION_UNSPECIFIED", "data": []})
    assert response.status_code == 400


def test_update_shapes_and_bounds(client: SheetsClient) -> None:
    body = client.update(BOOK, "Collections!B2:D3", [["a", "b"], ["c"]], include_values=True)
    assert body == {"spreadsheetId": BOOK, "updatedRange": "Collections!B2:C3", "updatedRows": 2,
                    "updatedColumns": 2, "updatedCells": 3,
                    "updatedData": {"range": "Collections!B2:C3", "majorDimension": "ROWS",
                                    "values": [["a", "b"], ["c"]]}}
    with pytest.raises(FatalRemoteError, match=r"Requested writing within range \[Collections!A1:B2\], but "
                                               r"tried writing to row \[3\]"):
        client.update(BOOK, "Collections!A1:B2", [["x"], ["y"], ["z"]])
    with pytest.raises(FatalRemoteError, match=r"tried writing to column \[C\]"):
        client.update(BOOK, "Collections!A1:B2", [["x", "y", "z"]])
    with pytest.raises(FatalRemoteError, match=r"Range \(Collections!A1001\) exceeds grid limits. Max rows: "
                                               r"1000, max columns: 26"):
        client.update(BOOK, "Collections!A999", [["x"], ["y"], ["z"]])
    with pytest.raises(FatalRemoteError, match=r"Range \(Collections!AA1\) exceeds grid limits"):
        client.update(BOOK, "Collections!Z1", [["x", "y"]])


def test_batch_update_is_atomic(client: SheetsClient, sheets_sandbox: SandboxThread) -> None:
    before = sheets_sandbox.dump("sheets")
    with pytest.raises(FatalRemoteError, match=r"exceeds grid limits"):
        client.batch_update(BOOK, [{"range": "Collections!A1", "values": [["written?"]]},
                                   {"range": "Collections!A1000", "values": [["x"], ["beyond the grid"]]}])
    with pytest.raises(FatalRemoteError, match="Unable to parse range"):
        client.batch_update(BOOK, [{"range": "Collections!A1", "values": [["written?"]]},
                                   {"range": "NoSuchTab!A1", "values": [["x"]]}])
    assert sheets_sandbox.dump("sheets") == before
    body = client.batch_update(BOOK, [{"range": "Collections!A1", "values": [["a", "b"]]},
                                      {"range": "Collections!A3", "values": [["c"], ["d"]]}])
    assert body == {"spreadsheetId": BOOK, "totalUpdatedRows": 3, "totalUpdatedColumns": 3, "totalUpdatedCells": 4,
                    "totalUpdatedSheets": 1, "responses": [
                        {"spreadsheetId": BOOK, "updatedRange": "Collections!A1:B1", "updatedRows": 1,
                         "updatedColumns": 2, "updatedCells": 2},
                        {"spreadsheetId": BOOK, "updatedRange": "Collections!A3:A4", "updatedRows": 2,
                         "updatedColumns": 1, "updatedCells": 2}]}


def test_clear_batch_clear_and_append(client: SheetsClient) -> None:
    client.update(BOOK, "Collections!A1", [["h1", "h2"], ["1", "2"], ["3", "4"]])
    assert client.clear(BOOK, "Collections!B2:B") == {"spreadsheetId": BOOK, "clearedRange": "Collections!B2:B1000"}
    assert values(client, "Collections!A1:B3")["values"] == [["h1", "h2"], ["1"], ["3"]]
    appended = client.append(BOOK, "Collections!A:B", [["5", "6"]])
    assert appended == {"spreadsheetId": BOOK, "tableRange": "Collections!A1:B3",
                        "updates": {"spreadsheetId": BOOK, "updatedRange": "Collections!A4:B4", "updatedRows": 1,
                                    "updatedColumns": 2, "updatedCells": 2}}
    assert client.spreadsheet(BOOK)["sheets"][0]["properties"]["gridProperties"]["rowCount"] == 1001
    cleared = client.batch_clear(BOOK, ["Collections!A1:A2", "Collections!1:1"])
    assert cleared["clearedRanges"] == ["Collections!A1:A2", "Collections!A1:Z1"]
    assert values(client, "Collections!A1:B4")["values"] == [[], [], ["3"], ["5", "6"]]


def test_50k_characters_per_cell(client: SheetsClient) -> None:
    client.update(BOOK, "Collections!A1", [["x" * 50_000]])
    with pytest.raises(FatalRemoteError, match="more than the maximum of 50000 characters in a single cell"):
        client.update(BOOK, "Collections!A2", [["ok", "y" * 50_001]])
    assert values(client, "Collections!A2:B2").get("values") is None


# --- structure: tabs, grids, the 10M-cell limit ------------------------------------------------

def test_metadata_and_structure(client: SheetsClient) -> None:
    meta = client.spreadsheet(FX)
    assert [s["properties"]["title"] for s in meta["sheets"]] == ["FX Rates", "Manual Adjustments"]
    assert meta["sheets"][0]["properties"]["gridProperties"] == {"rowCount": 1000, "columnCount": 26}
    reply = client.structure(BOOK, [{"addSheet": {"properties": {"title": "Extra",
                                                               "gridProperties": {"rowCount": 10, "columnCount": 3}}}}])
    sheet_id = reply["replies"][0]["addSheet"]["properties"]["sheetId"]
    client.update(BOOK, "Extra!A1", [["keep", "x", "drop"], ["y"]])
    client.structure(BOOK, [{"updateSheetProperties": {
        "properties": {"sheetId": sheet_id, "gridProperties": {"rowCount": 1, "columnCount": 2}},
        "fields": "gridProperties(rowCount,columnCount)"}}])
    assert values(client, "Extra")["values"] == [["keep", "x"]]          # cells outside the grid are gone
    with pytest.raises(FatalRemoteError, match='A sheet with the name "Extra" already exists'):
        client.structure(BOOK, [{"addSheet": {"properties": {"title": "Other"}}},
                                {"addSheet": {"properties": {"title": "Extra"}}}])
    titles = [s["properties"]["title"] for s in client.spreadsheet(BOOK)["sheets"]]
    assert titles == ["Collections", "Extra"]                             # atomic: "Other" was not added


def test_ten_million_cells(client: SheetsClient) -> None:
    sheet_id = client.spreadsheet(BOOK)["sheets"][0]["properties"]["sheetId"]
    grow = {"updateSheetProperties": {"properties": {"sheetId": sheet_id,
                                                     "gridProperties": {"rowCount": 400_000, "columnCount": 26}},
                                      "fields": "gridProperties.rowCount,gridProperties.columnCount"}}
    with pytest.raises(FatalRemoteError, match=r"Invalid requests\[0\].updateSheetProperties: This action would "
                                               r"increase the number of cells in the workbook above the limit of "
                                               r"10000000 cells"):
        client.structure(BOOK, [grow])
    grow["updateSheetProperties"]["properties"]["gridProperties"]["rowCount"] = 384_615
    client.structure(BOOK, [grow])                                        # 9,999,990 cells: allowed
    with pytest.raises(FatalRemoteError, match="above the limit of 10000000 cells"):
        client.structure(BOOK, [{"addSheet": {"properties": {"title": "One more"}}}])


def test_missing_spreadsheet_is_a_404_envelope(client: SheetsClient) -> None:
    response = client.http.get("/v4/spreadsheets/no-such-book")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": 404, "message": "Requested entity was not found.",
                                         "status": "NOT_FOUND"}}
    with pytest.raises(ConfigError, match="spreadsheet 'no-such-book'"):
        client.get("no-such-book", "A1")


# --- auth and quotas ---------------------------------------------------------------------------

def test_bearer_is_required(sheets_sandbox: SandboxThread) -> None:
    with httpx.Client(base_url=sheets_sandbox.env["MIGO_SYNC_SHEETS_URL"]) as raw:
        missing = raw.get(f"/v4/spreadsheets/{BOOK}")
        wrong = raw.get(f"/v4/spreadsheets/{BOOK}", headers={"Authorization": "Bearer ya29.made-up"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    assert missing.json()["error"]["message"].startswith("Request is missing required authentication credential")
    assert wrong.json()["error"]["message"].startswith("Request had invalid authentication credentials")


@pytest.fixture(scope="module")
def signing_key() -> str:
    return str(__import__("json").loads(make_key_json())["private_key"])


def grant(token_url: str, token: str, grant_type: str = "urn:ietf:params:oauth:grant-type:jwt-bearer") -> httpx.Response:
    return httpx.post(token_url, data={"grant_type": grant_type, "assertion": token})


def test_token_endpoint_checks_claims(sheets_sandbox: SandboxThread, signing_key: str) -> None:
    import time

    url = sheets_sandbox.env["MIGO_SYNC_SHEETS_TOKEN_URL"]
    now = int(time.time())

    def signed(**claims: Any) -> str:
        base = {"iss": "robot@p.iam.gserviceaccount.com", "scope": "https://www.googleapis.com/auth/spreadsheets",
                "aud": url, "iat": now, "exp": now + 3600}
        return jwt.encode({**base, **claims}, signing_key, algorithm="RS256")

    good = grant(url, signed())
    assert good.status_code == 200
    assert set(good.json()) == {"access_token", "expires_in", "token_type"}
    assert good.json()["token_type"] == "Bearer" and good.json()["expires_in"] == 3599
    google_aud = grant(url, signed(aud="https://oauth2.googleapis.com/token"))
    assert google_aud.status_code == 200
    cases = [
        (signed(exp=now + 3601), "invalid_grant", "short-lived token"),
        (signed(iat=now - 7200, exp=now - 3600), "invalid_grant", "short-lived token"),
        (signed(aud="https://example.com/token"), "invalid_grant", "audience"),
        (signed(scope=""), "invalid_scope", "scope"),
        (jwt.encode({"iss": "a@b", "aud": url, "scope": "x"}, "secret-secret-secret-secret-32b!", algorithm="HS256"),
         "invalid_grant", "Signature"),
        ("not-a-jwt", "invalid_grant", "Signature"),
    ]
    for token, error, description in cases:
        response = grant(url, token)
        assert response.status_code == 400, (error, description)
        assert response.json()["error"] == error
        assert description in response.json()["error_description"]
    assert grant(url, signed(), grant_type="client_credentials").json()["error"] == "unsupported_grant_type"


def test_readonly_scope_cannot_write(sheets_sandbox: SandboxThread, signing_key: str) -> None:
    import time

    url = sheets_sandbox.env["MIGO_SYNC_SHEETS_TOKEN_URL"]
    now = int(time.time())
    token = grant(url, jwt.encode({"iss": "r@p.iam.gserviceaccount.com", "aud": url, "iat": now, "exp": now + 60,
                                   "scope": "https://www.googleapis.com/auth/spreadsheets.readonly"},
                                  signing_key, algorithm="RS256")).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=sheets_sandbox.env["MIGO_SYNC_SHEETS_URL"], headers=headers) as raw:
        assert raw.get(f"/v4/spreadsheets/{BOOK}").status_code == 200
        refused = raw.post(f"/v4/spreadsheets/{BOOK}/values/A1:clear")
    assert refused.status_code == 403
    assert refused.json()["error"] == {"code": 403, "message": "Request had insufficient authentication scopes.",
                                       "status": "PERMISSION_DENIED"}


def test_a_reset_emulator_refuses_old_tokens_and_the_client_renews(client: SheetsClient,
                                                                   sheets_sandbox: SandboxThread) -> None:
    client.spreadsheet(BOOK)
    sheets_sandbox.reset("sheets")                       # forgets every token it issued
    assert client.spreadsheet(BOOK)["spreadsheetId"] == BOOK


def test_per_minute_quota_answers_429(client: SheetsClient, set_knobs: Callable[..., None],
                                      sheets_sandbox: SandboxThread) -> None:
    set_knobs(read_quota=3, write_quota=2)
    with httpx.Client(base_url=sheets_sandbox.env["MIGO_SYNC_SHEETS_URL"]) as raw:
        raw.headers["Authorization"] = client.http.get(f"/v4/spreadsheets/{BOOK}").request.headers["Authorization"]
        reads = [raw.get(f"/v4/spreadsheets/{BOOK}").status_code for _ in range(3)]
        writes = [raw.post(f"/v4/spreadsheets/{BOOK}/values/A1:clear").status_code for _ in range(3)]
        throttled = raw.get(f"/v4/spreadsheets/{BOOK}/values/A1")
    assert reads == [200, 200, 429]                      # the client's read above used the first
    assert writes == [200, 200, 429]                     # reads and writes are counted apart
    assert throttled.status_code == 429
    assert throttled.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "Quota exceeded for quota metric 'Read requests'" in throttled.json()["error"]["message"]
    assert "Retry-After" not in throttled.headers         # Google promises none
    with pytest.raises(UnreachableError, match="gave up"):
        client.spreadsheet(BOOK)                         # the HTTP layer retried, then gave up


def test_per_user_quota_and_status_are_knobs(client: SheetsClient, set_knobs: Callable[..., None],
                                             sheets_sandbox: SandboxThread) -> None:
    set_knobs(read_quota=0, user_read_quota=2, quota_status="RATE_LIMIT_EXCEEDED", quota_retry_after=7)
    bearer = client.http.get(f"/v4/spreadsheets/{BOOK}").request.headers["Authorization"]
    with httpx.Client(base_url=sheets_sandbox.env["MIGO_SYNC_SHEETS_URL"], headers={"Authorization": bearer}) as raw:
        assert raw.get(f"/v4/spreadsheets/{BOOK}").status_code == 200
        throttled = raw.get(f"/v4/spreadsheets/{BOOK}")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "7"
    assert throttled.json()["error"]["status"] == "RATE_LIMIT_EXCEEDED"
    assert "'Read requests per minute per user'" in throttled.json()["error"]["message"]


def test_injected_faults_use_google_envelopes(sheets_sandbox: SandboxThread) -> None:
    emulator = emulator_of(sheets_sandbox)
    for status, expected in ((429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"), (503, "UNAVAILABLE")):
        response = emulator.error_response(status, None, 2)  # type: ignore[arg-type]
        assert response.status_code == status
        assert __import__("orjson").loads(response.body)["error"]["status"] == expected


def test_state_survives_a_restart_and_dump_shows_every_cell(client: SheetsClient, sheets_sandbox: SandboxThread) -> None:
    import json

    from migo_sync.adapters.sheets.emulator import SheetsEmulator

    client.update(BOOK, "Collections!A1", [["text", "=2*3", "2026-10-01", 1.25, True]], value_input="USER_ENTERED")
    emulator = emulator_of(sheets_sandbox)
    restarted = SheetsEmulator(seed=99)
    restarted.load(json.loads(json.dumps(emulator.state(), default=str)))
    assert restarted.dump() == emulator.dump()
    dumped = restarted.dump()["spreadsheets"]
    assert dumped[BOOK]["tabs"]["Collections"]["rows"] == [["text", "=2*3", 46296, 1.25, True]]
    assert dumped[FX]["tabs"]["FX Rates"]["rows"][0] == ["Currency", "Rate to KES", "Effective Date", "Source"]
    assert len(dumped[FX]["tabs"]["FX Rates"]["rows"]) == 21
    assert len(dumped[FX]["tabs"]["Manual Adjustments"]["rows"]) == 31
    assert restarted.tokens.issued == emulator.tokens.issued      # issued tokens stay valid across a restart


def test_seed_is_reproducible() -> None:
    from migo_sync.adapters.sheets.emulator import SheetsEmulator

    assert SheetsEmulator(seed=7).dump() == SheetsEmulator(seed=7).dump()
    assert SheetsEmulator(seed=7).dump() != SheetsEmulator(seed=8).dump()
