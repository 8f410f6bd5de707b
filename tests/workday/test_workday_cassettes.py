"""Recorded SOAP conversations with the emulator, replayed with no server (record: MIGO_SYNC_RECORD=1).

The WS-Security UsernameToken password is scrubbed from every request before anything is
written (namespaced `<wsse:Password>` elements, whatever the prefix), and any registered secret
from both directions. A test greps every cassette for the secrets. Requests are matched by method,
path and their scrubbed SOAP body: every POST goes to the same URL, so the body is what tells
one call from another.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import vcr
from workday.workday_support import balanced, journal, push_mapping, shipped

from migo_sync.adapters.workday.adapter import WorkdayAdapter
from migo_sync.adapters.workday.sandbox import SANDBOX_PASSWORD, credentials
from migo_sync.config import Project, ProjectConfig
from migo_sync.errors import AuthError
from migo_sync.redact import MASK, redact
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "workday"
RECORD = os.environ.get("MIGO_SYNC_RECORD") == "1"
WRONG_PASSWORD = "wrong-Wd-pw-42"
SECRETS = (SANDBOX_PASSWORD, WRONG_PASSWORD)
PASSWORD = re.compile(rb"(<(?:[\w.-]+:)?Password\b[^>]*>)[^<]*(</(?:[\w.-]+:)?Password>)")
REPLAY_URL = "http://127.0.0.1:9/workday/ccx/service/migo_sandbox/Financial_Management/v45.0"
LATER = datetime(2030, 1, 1, tzinfo=UTC)  # as_of of the recorded pull: after everything was entered


def scrub(data: bytes) -> bytes:
    data = PASSWORD.sub(rb"\1" + MASK.encode() + rb"\2", data)
    for secret in SECRETS:
        data = data.replace(secret.encode(), MASK.encode())
    return redact(data.decode("utf-8")).encode("utf-8")


def _body(request: Any) -> bytes:
    body = request.body or b""
    return body if isinstance(body, bytes) else body.encode()


def scrub_request(request: Any) -> Any:
    if request.body:
        request.body = scrub(_body(request))
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    body = response.get("body", {})
    if isinstance(body.get("string"), bytes):
        body["string"] = scrub(body["string"])
    for name in list(response.get("headers", {})):
        if name.lower() in ("set-cookie", "authorization", "cookie"):
            response["headers"].pop(name)
    return response


def soap_body(first: Any, second: Any) -> None:
    """vcr matcher: the same SOAP request once credentials are masked."""
    assert scrub(_body(first)) == scrub(_body(second))


RECORDER = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORD else "none",
    match_on=["method", "path", "soap_body"],
    filter_headers=["authorization", "cookie", "set-cookie"],
    before_record_request=scrub_request,
    before_record_response=scrub_response,
    decode_compressed_response=True,
)
RECORDER.register_matcher("soap_body", soap_body)


@pytest.fixture
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The live emulator when recording; an address nothing listens on when replaying."""
    if RECORD:
        handle: SandboxThread = request.getfixturevalue("workday")
        yield handle.env["MIGO_SYNC_WORKDAY_URL"]
    else:
        yield REPLAY_URL


def make_adapter(base_url: str, tmp_path: Path, **environ: str) -> WorkdayAdapter:
    env = {"MIGO_SYNC_WORKDAY_URL": base_url, "MIGO_SYNC_NO_KEYRING": "1", **credentials(tmp_path), **environ}
    project = Project(root=tmp_path, config=ProjectConfig(systems={"workday": {"max_concurrency": 1}}), environ=env)
    adapter = WorkdayAdapter(open_adapter(project, "workday").context, now=lambda: LATER)
    return adapter


def test_push_rerun_and_pull_replay(base_url: str, tmp_path: Path) -> None:
    adapter = make_adapter(base_url, tmp_path)
    mapping = push_mapping()
    units = [balanced("JE-1", "150.00"), balanced("JE-2", "20.00", date(2025, 5, 1)),
             journal("JE-3", [("1100", "9.99"), ("1000", "-9.99")], Region_Reference_ID="LAG")]
    with RECORDER.use_cassette("push_rerun_pull.yaml"):
        reasons = adapter.check(mapping, units)
        first = adapter.write(mapping, [units[0], units[2]])  # JE-3 skips the checks: the tenant refuses it
        again = adapter.write(mapping, [units[0]])
        lines = [r for b in adapter.read(shipped("workday_gl_lines_pull"), None) for r in b.records]
    adapter.close()
    assert reasons == {"JE-2": "posting date 2025-05-01 falls in closed period 2025-05",
                       "JE-3": "line 1: unknown region 'LAG'; line 2: unknown region 'LAG'"}
    assert [(r.key, r.ok) for r in first] == [("JE-1", True), ("JE-3", False)]
    assert "'LAG' is not a valid ID value for type = 'Region_Reference_ID'" in (first[1].reason or "")
    assert [(r.ok, r.duplicate) for r in again] == [(True, True)]
    assert sorted(str(r["Amount"]) for r in lines) == ["-150.00", "150.00"]


def test_auth_failure_replays(base_url: str, tmp_path: Path) -> None:
    adapter = make_adapter(base_url, tmp_path, MIGO_SYNC_WORKDAY_PASSWORD=WRONG_PASSWORD)
    with RECORDER.use_cassette("auth_failure.yaml"), pytest.raises(AuthError) as caught:
        adapter.list_accounts()
    adapter.close()
    assert WRONG_PASSWORD not in str(caught.value) and "invalid username or password" in str(caught.value)


def test_cassettes_hold_no_secret() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert {f.name for f in files} >= {"push_rerun_pull.yaml", "auth_failure.yaml"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for secret in SECRETS:
            assert secret not in text, f"{path.name} holds a credential"
        assert not re.search(r"<(?:[\w.-]+:)?Password\b[^>]*>(?!\*\*\*<)", text), f"{path.name} holds a password"
        assert re.search(r"<wsse:Password\s[^>]*>\*\*\*</wsse:Password>", text)  # it was there, and masked
