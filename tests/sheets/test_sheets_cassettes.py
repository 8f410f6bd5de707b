"""Recorded conversations of the Sheets client with the emulator, replayed with no server.

Record with MIGO_SYNC_RECORD=1 (the emulator runs; its port varies, so requests match on method,
path, query and body, never host or port). Before anything is written, the Authorization header,
the JWT assertion in the token request and the access token in the token response are scrubbed;
a test greps every cassette for anything shaped like those secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from helpers.cassettes import assert_no_secret, live_or_replay, recorder, scrubber
from sheets.sheets_support import mapping, unit

from migo_sync.adapters.sheets.adapter import SheetsAdapter
from migo_sync.adapters.sheets.auth import ServiceAccountAuth, clear_token_cache, load_key
from migo_sync.adapters.sheets.client import SheetsClient
from migo_sync.adapters.sheets.sandbox import credentials
from migo_sync.config import Project, ProjectConfig
from migo_sync.credentials import Credentials
from migo_sync.errors import ConfigError, FatalRemoteError
from migo_sync.http import make_client
from migo_sync.redact import MASK
from migo_sync.systems import open_adapter

SECRET_SHAPES = [
    re.compile(r"ya29\.[A-Za-z0-9_-]+"),                        # Google (and emulator) access tokens
    re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+"),         # a JWT (the signed assertion)
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)bearer\s+(?!\*\*\*)[A-Za-z0-9._~+/-]{8,}"),
    re.compile(r"(?i)assertion=(?!\*\*\*)[^&\s'\"]+"),
    re.compile(r"(?i)\"access_token\":\s*\"(?!\*\*\*)[^\"]+\""),
    re.compile(r"(?im)^\s*authorization:"),
]


RECORDER = recorder("sheets", scrubber(), ["method", "path", "query", "body"],
                    filter_headers=["x-goog-api-client", "content-length"],
                    drop_response_headers=["www-authenticate", "content-length"])


@pytest.fixture
def urls(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The live emulator when recording; an address nothing listens on when replaying."""
    clear_token_cache()
    yield live_or_replay(request, "sheets_sandbox", {"MIGO_SYNC_SHEETS_URL": "http://127.0.0.1:9/sheets",
                                                     "MIGO_SYNC_SHEETS_TOKEN_URL": "http://127.0.0.1:9/sheets/token"})
    clear_token_cache()


@pytest.fixture
def environ(urls: dict[str, str], key_dir: Path) -> dict[str, str]:
    return {**urls, **credentials(key_dir), "MIGO_SYNC_NO_KEYRING": "1"}


@pytest.fixture
def client(environ: dict[str, str]) -> Iterator[SheetsClient]:
    key = load_key(Credentials("sheets", environ, use_keyring=False))
    http = make_client("sheets", environ["MIGO_SYNC_SHEETS_URL"],
                       auth=ServiceAccountAuth(key, environ["MIGO_SYNC_SHEETS_TOKEN_URL"]))
    yield SheetsClient(http)
    http.close()


def test_values_api_conversation(client: SheetsClient) -> None:
    with RECORDER.use_cassette("values_api.yaml"):
        meta = client.spreadsheet("migo-finance-manual")
        rates = client.get("migo-finance-manual", "'FX Rates'!A1:D3")
        both = client.batch_get("migo-finance-manual", ["'FX Rates'!A1:B2", "'Manual Adjustments'!A1:C2"])
        client.structure("migo-collections", [{"addSheet": {"properties": {"title": "Bob's tab"}}}])
        written = client.update("migo-collections", "'Bob''s tab'!A1",
                                [["Name", "Link"], ["x", '=HYPERLINK("https://example.com","y")']])
        batch = client.batch_update("migo-collections", [{"range": "'Bob''s tab'!A3", "values": [["z", 1.5]]}])
        appended = client.append("migo-collections", "'Bob''s tab'!A:B", [["w", True]])
        raw = client.get("migo-collections", "'Bob''s tab'!A1:B10", value_render="FORMULA")
        cleared = client.batch_clear("migo-collections", ["'Bob''s tab'!B:B"])
        with pytest.raises(FatalRemoteError, match="Unable to parse range: 'Nope'!A1"):
            client.get("migo-collections", "'Nope'!A1")
        with pytest.raises(ConfigError, match="not found"):
            client.spreadsheet("no-such-spreadsheet")
    assert [s["properties"]["title"] for s in meta["sheets"]] == ["FX Rates", "Manual Adjustments"]
    assert rates["values"][1][0] == "USD" and rates["values"][1][2] == 46204
    assert len(both["valueRanges"]) == 2
    assert written["updatedRange"] == "'Bob''s tab'!A1:B2"
    assert batch["totalUpdatedCells"] == 2
    assert appended["updates"]["updatedRange"] == "'Bob''s tab'!A4:B4"
    assert raw["values"][1] == ["x", '=HYPERLINK("https://example.com","y")']
    assert cleared["clearedRanges"] == ["'Bob''s tab'!B1:B1001"]


def test_adapter_push_and_pull_conversation(environ: dict[str, str], tmp_path: Path) -> None:
    project = Project(root=tmp_path, config=ProjectConfig(systems={"sheets": {"rate_limit": 0}}), environ=environ)
    adapter = open_adapter(project, "sheets")
    assert isinstance(adapter, SheetsAdapter)
    rows = [{"Loan ID": f"L{i:07d}", "Outstanding": Decimal(f"{i * 101}.{i:02d}"), "Due": date(2026, 11, i),
             "Note": None if i % 2 else "=1+1"} for i in range(1, 21)]
    with RECORDER.use_cassette("adapter_push_pull.yaml"):
        assert adapter.check(mapping("push"), [unit(rows)]) == {}
        results = adapter.write(mapping("push"), [unit(rows)])
        fx = [r for b in adapter.read(mapping("pull"), None) for r in b.records]
    adapter.close()
    assert results[0].ok and results[0].remote_id == "'Collections'!A1:D21"
    assert len(fx) == 20 and fx[0]["Effective Date"] == date(2026, 7, 1)


def test_cassettes_hold_no_secrets(key_dir: Path) -> None:
    key_file = Path(credentials(key_dir)["MIGO_SYNC_SHEETS_CREDENTIALS_FILE"])
    key_lines = [line for line in key_file.read_text().split("\\n") if len(line) > 20 and "PRIVATE" not in line]
    assert_no_secret("sheets", {"values_api.yaml", "adapter_push_pull.yaml"}, secrets=key_lines,
                     forbidden={shape: shape.pattern for shape in SECRET_SHAPES},
                     masked=[f"assertion={MASK}"])  # the token request was recorded, scrubbed
