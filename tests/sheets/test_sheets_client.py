"""The Sheets client, its auth and the push payloads against httpx.MockTransport: request shapes,
token handling, 2 MB chunking and every error branch."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import orjson
import pytest
from sheets.sheets_support import mapping, unit

from migo_sync.adapter import AdapterContext
from migo_sync.adapters.sheets.adapter import SheetsAdapter
from migo_sync.adapters.sheets.auth import (
    GRANT_TYPE,
    SCOPE,
    ServiceAccountAuth,
    ServiceAccountKey,
    clear_token_cache,
    load_key,
)
from migo_sync.adapters.sheets.client import SheetsClient
from migo_sync.adapters.sheets.payload import RowTooLarge, minimum_requests, pack
from migo_sync.adapters.sheets.sandbox import make_key_json
from migo_sync.credentials import Credentials
from migo_sync.errors import AuthError, ConfigError, FatalRemoteError, MigoSyncError, UnreachableError
from migo_sync.http import make_client
from migo_sync.redact import redact

BASE = "https://sheets.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(scope="module")
def key_json() -> str:
    return make_key_json("robot@example-project.iam.gserviceaccount.com")


@pytest.fixture
def key(key_json: str) -> Iterator[ServiceAccountKey]:
    clear_token_cache()
    yield ServiceAccountKey.from_json(key_json, "test key")
    clear_token_cache()


class FakeGoogle:
    """A scripted Google: answers the token endpoint, records every request, then asks `api`."""

    def __init__(self, api: Handler, token_status: int = 200, expires_in: int = 3599) -> None:
        self.api = api
        self.token_status = token_status
        self.expires_in = expires_in
        self.requests: list[httpx.Request] = []
        self.bearers: list[str | None] = []  # as sent (httpx reuses the request object on a retry)
        self.tokens = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if str(request.url) != TOKEN_URL:
            self.bearers.append(request.headers.get("Authorization"))
        if str(request.url) == TOKEN_URL:
            if self.token_status != 200:
                return httpx.Response(self.token_status, json={"error": "invalid_grant",
                                                               "error_description": "Invalid JWT Signature."})
            self.tokens += 1
            return httpx.Response(200, json={"access_token": f"ya29.test-token-{self.tokens}",
                                             "expires_in": self.expires_in, "token_type": "Bearer"})
        return self.api(request)

    @property
    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if str(r.url) != TOKEN_URL]


def client_for(key: ServiceAccountKey, fake: FakeGoogle, clock: Callable[[], float] | None = None) -> SheetsClient:
    auth = ServiceAccountAuth(key, TOKEN_URL, clock=clock) if clock else ServiceAccountAuth(key, TOKEN_URL)
    return SheetsClient(make_client("sheets", BASE, auth=auth, transport=httpx.MockTransport(fake)))


def ok(body: dict[str, Any] | None = None) -> Handler:
    return lambda request: httpx.Response(200, json=body or {"spreadsheetId": "sid"})


def envelope(code: int, message: str, status: str) -> Handler:
    return lambda request: httpx.Response(code, json={"error": {"code": code, "message": message, "status": status}})


# --- request shapes ----------------------------------------------------------------------------

def test_get_quotes_the_range_and_asks_for_unformatted_serials(key: ServiceAccountKey) -> None:
    fake = FakeGoogle(ok({"range": "'FX Rates'!A1:D3", "majorDimension": "ROWS", "values": [["a"]]}))
    client = client_for(key, fake)
    body = client.get("sheet-id", "'FX Rates'!A1:D3")
    request = fake.api_requests[0]
    assert body["values"] == [["a"]]
    assert request.method == "GET"
    assert request.url.raw_path.decode().startswith("/v4/spreadsheets/sheet-id/values/%27FX%20Rates%27%21A1%3AD3?")
    assert request.url.params["valueRenderOption"] == "UNFORMATTED_VALUE"
    assert request.url.params["dateTimeRenderOption"] == "SERIAL_NUMBER"
    assert request.url.params["majorDimension"] == "ROWS"
    assert request.headers["Authorization"] == "Bearer ya29.test-token-1"


def test_token_request_is_a_jwt_bearer_grant_with_short_lived_rs256_assertion(key: ServiceAccountKey) -> None:
    fake = FakeGoogle(ok())
    client_for(key, fake).spreadsheet("sid")
    token_request = fake.requests[0]
    assert str(token_request.url) == TOKEN_URL
    form = parse_qs(token_request.content.decode())
    assert form["grant_type"] == [GRANT_TYPE]
    assertion = form["assertion"][0]
    header = jwt.get_unverified_header(assertion)
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert header["alg"] == "RS256"
    assert header["kid"]
    assert claims["iss"] == "robot@example-project.iam.gserviceaccount.com"
    assert claims["scope"] == SCOPE
    assert claims["aud"] == TOKEN_URL
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    assert "Authorization" not in token_request.headers
    metadata = fake.api_requests[0]
    assert metadata.url.path == "/v4/spreadsheets/sid"
    assert metadata.url.params["includeGridData"] == "false"


def test_writes_send_raw_and_keep_formula_text(key: ServiceAccountKey) -> None:
    fake = FakeGoogle(ok({"spreadsheetId": "sid", "updatedRange": "Tab!A1:B1"}))
    client = client_for(key, fake)
    client.update("sid", "'My Tab'!A1", [["=HYPERLINK(\"http://x\",\"y\")", 1.5]])
    client.batch_update("sid", [{"range": "'My Tab'!A2", "values": [["=1+2"]]}])
    client.append("sid", "'My Tab'!A:B", [["x"]])
    put, batch, append = fake.api_requests
    assert put.method == "PUT" and put.url.params["valueInputOption"] == "RAW"
    assert put.url.raw_path.decode().startswith("/v4/spreadsheets/sid/values/%27My%20Tab%27%21A1?")
    assert orjson.loads(put.content)["values"] == [['=HYPERLINK("http://x","y")', 1.5]]
    assert batch.url.path == "/v4/spreadsheets/sid/values:batchUpdate"
    assert orjson.loads(batch.content)["valueInputOption"] == "RAW"
    assert append.url.raw_path.decode().startswith("/v4/spreadsheets/sid/values/%27My%20Tab%27%21A%3AB:append?")
    assert append.url.params["valueInputOption"] == "RAW"
    assert append.url.params["insertDataOption"] == "INSERT_ROWS"


def test_value_input_option_is_never_unspecified(key: ServiceAccountKey) -> None:
    client = client_for(key, FakeGoogle(ok()))
    for bad in ("INPUT_VALUE_OPTION_UNSPECIFIED", "", "raw"):
        with pytest.raises(ValueError, match="valueInputOption"):
            client.update("sid", "A1", [["x"]], value_input=bad)


def test_clear_batch_clear_batch_get_and_structure(key: ServiceAccountKey) -> None:
    fake = FakeGoogle(ok())
    client = client_for(key, fake)
    client.clear("sid", "'It''s'!A1:B2")
    client.batch_clear("sid", ["'A'!A:A", "'B'!1:2"])
    client.batch_get("sid", ["'A'!A1:B2", "'B'!C:C"], value_render="FORMULA")
    client.structure("sid", [{"addSheet": {"properties": {"title": "New"}}}])
    clear, batch_clear, batch_get, structure = fake.api_requests
    assert clear.url.raw_path.decode() == "/v4/spreadsheets/sid/values/%27It%27%27s%27%21A1%3AB2:clear"
    assert orjson.loads(batch_clear.content) == {"ranges": ["'A'!A:A", "'B'!1:2"]}
    assert batch_get.url.params.get_list("ranges") == ["'A'!A1:B2", "'B'!C:C"]
    assert batch_get.url.params["valueRenderOption"] == "FORMULA"
    assert structure.url.path == "/v4/spreadsheets/sid:batchUpdate"
    assert orjson.loads(structure.content)["requests"][0]["addSheet"]["properties"]["title"] == "New"


# --- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "status", "error"), [
    (401, "UNAUTHENTICATED", AuthError),
    (403, "PERMISSION_DENIED", AuthError),
    (404, "NOT_FOUND", ConfigError),
    (400, "INVALID_ARGUMENT", FatalRemoteError),
    (409, "ABORTED", FatalRemoteError),
])
def test_error_envelopes_map_to_the_error_tree(key: ServiceAccountKey, code: int, status: str,
                                               error: type[Exception]) -> None:
    fake = FakeGoogle(envelope(code, "Google says no: Unable to parse range: Nope!A1", status))
    with pytest.raises(error) as caught:
        client_for(key, fake).get("the-sheet-id", "Nope!A1")
    message = str(caught.value)
    assert "the-sheet-id" in message
    if code != 404:
        assert "Google says no" in message
    assert "\n" not in message


def test_a_refused_cached_token_is_renewed_once(key: ServiceAccountKey) -> None:
    answers = iter([envelope(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"),
                    ok({"spreadsheetId": "sid"})])
    fake = FakeGoogle(ok())
    client = client_for(key, fake)
    client.spreadsheet("sid")                      # token 1 cached
    fake.api = lambda request: next(answers)(request)
    client.spreadsheet("sid")                      # 401 on token 1 → token 2 → 200
    assert fake.tokens == 2
    assert fake.bearers == [
        "Bearer ya29.test-token-1", "Bearer ya29.test-token-1", "Bearer ya29.test-token-2"]


def test_a_401_on_a_fresh_token_is_an_auth_error_not_a_loop(key: ServiceAccountKey) -> None:
    fake = FakeGoogle(envelope(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"))
    with pytest.raises(AuthError, match="invalid authentication credentials"):
        client_for(key, fake).spreadsheet("sid")
    assert fake.tokens == 1
    assert len(fake.api_requests) == 1


def test_token_is_cached_until_near_expiry_then_renewed(key: ServiceAccountKey) -> None:
    now = [1_800_000_000.0]
    fake = FakeGoogle(ok())
    client = client_for(key, fake, clock=lambda: now[0])
    client.spreadsheet("sid")
    now[0] += 3000                                 # 599 s left: still good
    client.spreadsheet("sid")
    assert fake.tokens == 1
    now[0] += 400                                  # within the 5-minute margin: renew first
    client.spreadsheet("sid")
    assert fake.tokens == 2
    claims = [jwt.decode(parse_qs(r.content.decode())["assertion"][0], options={"verify_signature": False})
              for r in fake.requests if str(r.url) == TOKEN_URL]
    assert claims[1]["iat"] == claims[0]["iat"] + 3400


def test_refused_token_request_is_an_auth_error_without_secrets(key: ServiceAccountKey, key_json: str) -> None:
    fake = FakeGoogle(ok(), token_status=400)
    with pytest.raises(AuthError) as caught:
        client_for(key, fake).spreadsheet("sid")
    message = str(caught.value)
    assert "invalid_grant" in message and "robot@example-project" in message
    assertion = parse_qs(fake.requests[0].content.decode())["assertion"][0]
    assert assertion not in message
    assert redact(assertion) == "***"
    private_key = json.loads(key_json)["private_key"]
    assert redact(private_key) == "***"
    assert "MII" not in redact(private_key.splitlines()[3])


def test_throttling_is_retried_and_non_idempotent_writes_are_not_resent(key: ServiceAccountKey) -> None:
    statuses = iter([429, 429, 200])
    fake = FakeGoogle(lambda request: httpx.Response(next(statuses), json={"spreadsheetId": "sid"}))
    client_for(key, fake).spreadsheet("sid")
    assert len(fake.api_requests) == 3
    fake = FakeGoogle(envelope(500, "Internal error encountered.", "INTERNAL"))
    with pytest.raises(FatalRemoteError, match="Internal error"):
        client_for(key, fake).append("sid", "A:A", [["once"]])
    assert len(fake.api_requests) == 1             # append is not idempotent: never resent
    fake = FakeGoogle(envelope(500, "Internal error encountered.", "INTERNAL"))
    with pytest.raises(UnreachableError):
        client_for(key, fake).batch_update_body("sid", b'{"valueInputOption":"RAW","data":[]}')
    assert len(fake.api_requests) > 1              # fixed-range writes are: resent


# --- credentials -------------------------------------------------------------------------------

def test_key_from_inline_json_or_file(key_json: str, tmp_path: Path) -> None:
    inline = load_key(Credentials("sheets", {"MIGO_SYNC_SHEETS_CREDENTIALS_JSON": key_json}, use_keyring=False))
    path = tmp_path / "key.json"
    path.write_text(key_json)
    from_file = load_key(Credentials("sheets", {"MIGO_SYNC_SHEETS_CREDENTIALS_FILE": str(path)}, use_keyring=False))
    assert inline == from_file
    assert "PRIVATE" not in repr(inline)


def test_a_key_the_environment_names_wins_over_the_keyring_which_is_not_asked(
        key_json: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment first, for both names (the keyring import and backend search cost ~0.2 s of a push
    that has its key in the environment); with nothing there, the keyring's inline JSON before its path."""
    import migo_sync.credentials as credentials

    asked: list[str] = []
    keyring = {"sheets.credentials_json": "{not json"}
    monkeypatch.setattr(credentials, "_from_keyring", lambda user: asked.append(user) or keyring.get(user))
    path = tmp_path / "key.json"
    path.write_text(key_json)
    from_file = load_key(Credentials("sheets", {"MIGO_SYNC_SHEETS_CREDENTIALS_FILE": str(path)}))
    assert asked == [] and from_file.client_email
    # an empty variable is unset: the next place is looked in
    with pytest.raises(ConfigError, match="is not JSON"):
        load_key(Credentials("sheets", {"MIGO_SYNC_SHEETS_CREDENTIALS_JSON": ""}))
    assert asked == ["sheets.credentials_json"]
    keyring["sheets.credentials_json"] = key_json
    assert load_key(Credentials("sheets", {})) == from_file


@pytest.mark.parametrize(("environ", "message"), [
    ({}, "looked in: MIGO_SYNC_SHEETS_CREDENTIALS_JSON, then MIGO_SYNC_SHEETS_CREDENTIALS_FILE"),
    ({"MIGO_SYNC_SHEETS_CREDENTIALS_FILE": "/nonexistent/key.json"}, "cannot read the service-account key file"),
    ({"MIGO_SYNC_SHEETS_CREDENTIALS_JSON": "{not json"}, "is not JSON"),
    ({"MIGO_SYNC_SHEETS_CREDENTIALS_JSON": '{"type": "authorized_user"}'}, "a service-account key"),
    ({"MIGO_SYNC_SHEETS_CREDENTIALS_JSON": '{"type": "service_account"}'}, "lacks client_email, private_key"),
])
def test_key_problems_are_config_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_key(Credentials("sheets", environ, use_keyring=False))


def test_an_unusable_private_key_is_a_config_error() -> None:
    key = ServiceAccountKey("robot@x.iam.gserviceaccount.com", "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----")
    fake = FakeGoogle(ok())
    with pytest.raises(ConfigError, match="cannot sign"):
        client_for(key, fake).spreadsheet("sid")
    assert fake.requests == []


# --- push payloads -----------------------------------------------------------------------------

def rows_json(count: int, width: int = 10) -> list[bytes]:
    return [orjson.dumps([f"r{i}c{c}-" + "x" * (i % 37) for c in range(width)]) for i in range(count)]


@pytest.mark.parametrize("limit", [2_000, 10_000, 65_536])
def test_pack_fills_bodies_to_the_limit_and_no_further(limit: int) -> None:
    rows = rows_json(700)
    bodies = list(pack("It's a tab", 4, 2, rows, limit))
    assert all(len(b.content) <= limit for b in bodies)
    lower_bound = minimum_requests((len(r) for r in rows), "It's a tab", 4, 2, limit)
    # whole rows waste at most one row's bytes per body: the bound is met once rows are small
    assert lower_bound <= len(bodies) <= lower_bound + (1 if limit > 50 * max(map(len, rows)) else len(bodies))
    written: list[Any] = []
    next_row = 4
    for body in bodies:
        data = orjson.loads(body.content)
        assert data["valueInputOption"] == "RAW"
        (value_range,) = data["data"]
        assert value_range["range"] == f"'It''s a tab'!C{next_row + 1}"
        assert body.start_row == next_row and body.rows == len(value_range["values"])
        next_row += body.rows
        written += value_range["values"]
    assert written == [orjson.loads(r) for r in rows]
    # greedy is tight: moving the next row into any body would break the limit
    for first, second in itertools.pairwise(bodies):
        assert len(first.content) + len(rows[second.start_row - 4]) + 1 > limit


def test_pack_refuses_a_row_larger_than_a_request() -> None:
    with pytest.raises(RowTooLarge, match="row 2 alone"):
        list(pack("T", 0, 0, [b'["a"]', orjson.dumps(["x" * 5000])], 2048))


def test_adapter_push_chunks_at_2_mb_raw_and_clears_first(key_json: str) -> None:
    """100k cells of money, dates and formulas: every request ≤ 2 MB, as few as the limit allows."""
    clear_token_cache()
    sent: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.method == "GET":
            return httpx.Response(200, json={"spreadsheetId": "sid", "sheets": [{"properties": {
                "sheetId": 7, "title": "Collections", "index": 0,
                "gridProperties": {"rowCount": 1000, "columnCount": 26}}}]})
        return httpx.Response(200, json={"spreadsheetId": "sid"})

    fake = FakeGoogle(api)
    environ = {"MIGO_SYNC_SHEETS_CREDENTIALS_JSON": key_json}
    context = AdapterContext(system="sheets", base_url=BASE, urls={"url": BASE, "token_url": TOKEN_URL},
                             settings={"rate_limit": 0}, credentials=Credentials("sheets", environ, use_keyring=False),
                             http=partial(make_client, "sheets", settings={}, transport=httpx.MockTransport(fake)))
    adapter = SheetsAdapter(context)
    records = [{"Loan ID": f"L{i:07d}", "Outstanding": Decimal(f"{i * 37 % 100000}.{i % 100:02d}"),
                "Due": date(2026, 10, 1 + i % 28), "Note": '=HYPERLINK("https://x.example/' + str(i) + '","open")'}
               for i in range(25_000)]
    results = adapter.write(mapping("push"), [unit(records)])
    assert results[0].ok, results[0].reason
    kinds = [(r.method, r.url.path.rsplit("/", 1)[-1]) for r in sent]
    assert kinds[:3] == [("GET", "migo-collections"), ("POST", "migo-collections:batchUpdate"), ("POST", "values:batchClear")]
    writes = [r for r in sent if r.url.path.endswith("values:batchUpdate")]
    sizes = [len(r.content) for r in writes]
    assert all(size <= 2_000_000 for size in sizes)
    payload = sum(len(orjson.dumps(row)) + 1 for row in
                  [["Loan ID", "Outstanding", "Due", "Note"]] + [[r["Loan ID"], 0, "", ""] for r in records])
    assert len(writes) == -(-sum(sizes) // 2_000_000)      # the minimum the 2 MB rule allows
    assert payload < sum(sizes)
    first = orjson.loads(writes[0].content)
    assert first["valueInputOption"] == "RAW"
    values = first["data"][0]["values"]
    assert values[0] == ["Loan ID", "Outstanding", "Due", "Note"]
    assert values[1] == ["L0000000", 0, "2026-10-01", '=HYPERLINK("https://x.example/0","open")']
    assert values[2][1] == 37.01
    last = orjson.loads(writes[-1].content)["data"][0]
    assert last["values"][-1][0] == "L0024999"
    adapter.close()


def test_adapter_errors_never_show_secrets(key_json: str) -> None:
    private_key = json.loads(key_json)["private_key"]
    for text in (private_key, private_key.splitlines()[5]):
        error = MigoSyncError(f"boom {text}")
        ServiceAccountKey.from_json(key_json, "k")
        assert text not in redact(str(error))


def test_token_url_and_key_come_from_the_environment(tmp_path: Path, key_json: str) -> None:
    from migo_sync.adapters.sheets.sandbox import credentials as sandbox_credentials
    from migo_sync.config import Project, ProjectConfig
    from migo_sync.systems import adapter_context

    environ = {"MIGO_SYNC_SHEETS_URL": "http://127.0.0.1:1/sheets",
               "MIGO_SYNC_SHEETS_TOKEN_URL": "http://127.0.0.1:1/sheets/token"}
    context = adapter_context(Project(root=tmp_path, config=ProjectConfig(), environ=environ), "sheets")
    assert context.urls == {"url": "http://127.0.0.1:1/sheets", "token_url": "http://127.0.0.1:1/sheets/token"}
    default = adapter_context(Project(root=tmp_path, config=ProjectConfig(), environ={}), "sheets")
    assert default.urls == {"url": BASE, "token_url": TOKEN_URL}
    first = sandbox_credentials(tmp_path)
    assert sandbox_credentials(tmp_path) == first                      # generated once, then reused
    key_file = Path(first["MIGO_SYNC_SHEETS_CREDENTIALS_FILE"])
    assert key_file.stat().st_mode & 0o077 == 0
    assert json.loads(key_file.read_text())["type"] == "service_account"


class Streamed(Sequence[dict[str, Any]]):
    """The engine's whole-tab stream (not a list: already in the tab's order), noting each read-through."""

    def __init__(self, records: list[dict[str, Any]], events: list[str]) -> None:
        self.records, self.events = records, events

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.events.append("rows read")
        yield from self.records

    def __getitem__(self, index: Any) -> Any:
        return self.records[index]


@pytest.mark.parametrize("count", [300, 60_000])
def test_the_checks_read_the_rows_and_make_the_first_body_before_the_metadata(key_json: str, count: int) -> None:
    """check() reads the tab's rows through (its per-row checks and the first ≤ 2 MB body) before it
    needs the metadata, so a warm-up's sign-in and metadata are in flight meanwhile; write() sends that
    body and encodes only the rows after it (none when one body holds the tab: the rows are not read
    again). The writes are byte for byte those of a write without the checks."""
    def push(records: Sequence[dict[str, Any]], checked: bool, events: list[str]) -> list[bytes]:
        clear_token_cache()
        writes: list[bytes] = []

        def api(request: httpx.Request) -> httpx.Response:
            events.append(f"{request.method} {request.url.path.rsplit('/', 1)[-1]}")
            if request.method == "GET":
                return httpx.Response(200, json={"spreadsheetId": "sid", "sheets": [{"properties": {
                    "sheetId": 7, "title": "Collections", "index": 0,
                    "gridProperties": {"rowCount": 100_000, "columnCount": 26}}}]})
            if request.url.path.endswith("values:batchUpdate"):
                writes.append(request.content)
            return httpx.Response(200, json={"spreadsheetId": "sid"})

        context = AdapterContext(system="sheets", base_url=BASE, urls={"url": BASE, "token_url": TOKEN_URL},
                                 settings={"rate_limit": 0},
                                 credentials=Credentials("sheets", {"MIGO_SYNC_SHEETS_CREDENTIALS_JSON": key_json},
                                                         use_keyring=False),
                                 http=partial(make_client, "sheets", settings={},
                                              transport=httpx.MockTransport(FakeGoogle(api))))
        adapter = SheetsAdapter(context)
        try:
            pushed = unit(records.records if isinstance(records, Streamed) else list(records))
            pushed.records = records
            if checked:
                assert adapter.check(mapping("push"), [pushed]) == {}
            results = adapter.write(mapping("push"), [pushed])
            assert results[0].ok, results[0].reason
        finally:
            adapter.close()
        return sorted(writes)

    records = [{"Loan ID": f"L{i:07d}", "Outstanding": Decimal(f"{i * 37 % 100000}.{i % 100:02d}"),
                "Due": date(2026, 10, 1 + i % 28), "Note": "x" * (i % 50)} for i in range(count)]
    events: list[str] = []
    checked = push(Streamed(records, events), True, events)
    assert events[:2] == ["rows read", "GET migo-collections"]
    assert (len(checked) == 1) == (count == 300)
    assert events.count("rows read") == len(checked)  # a second read-through only for the rows after the first body
    assert checked == push(records, False, [])
    assert [row[0] for row in orjson.loads(checked[0])["data"][0]["values"][:2]] == ["Loan ID", "L0000000"]
