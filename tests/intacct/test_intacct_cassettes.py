"""Recorded conversations with the emulator, replayed with no server (record: MIGO_SYNC_RECORD=1).

Credentials are scrubbed from both directions before anything is written: the sender and user
passwords in requests, the session id in requests and in getAPISession answers. A test greps
every cassette for the secrets. Requests are matched by method and path, in order: bodies carry
a fresh request controlid each time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import vcr
from intacct.intacct_support import GLENTRY_FIELDS, balanced, pull_mapping, push_mapping

from migo_sync.adapters.intacct.adapter import IntacctAdapter
from migo_sync.adapters.intacct.emulator import DEFAULTS
from migo_sync.adapters.intacct.sandbox import credentials
from migo_sync.config import Project, ProjectConfig
from migo_sync.errors import AuthError
from migo_sync.redact import MASK, redact
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "intacct"
RECORD = os.environ.get("MIGO_SYNC_RECORD") == "1"
WRONG_PASSWORD = "wrong-User-pw-42"
SECRETS = (DEFAULTS["sender_password"], DEFAULTS["user_password"], WRONG_PASSWORD)
SESSION = re.compile(rb"(<sessionid>)[^<]*(</sessionid>)")
PASSWORD = re.compile(rb"(<password>)[^<]*(</password>)")


def scrub(data: bytes) -> bytes:
    for pattern in (SESSION, PASSWORD):
        data = pattern.sub(rb"\1" + MASK.encode() + rb"\2", data)
    for secret in SECRETS:
        data = data.replace(secret.encode(), MASK.encode())
    return redact(data.decode("utf-8")).encode("utf-8")


def scrub_request(request: Any) -> Any:
    if request.body:
        request.body = scrub(request.body if isinstance(request.body, bytes) else request.body.encode())
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    body = response.get("body", {})
    if isinstance(body.get("string"), bytes):
        body["string"] = scrub(body["string"])
    for name in list(response.get("headers", {})):
        if name.lower() in ("set-cookie", "authorization", "cookie"):
            response["headers"].pop(name)
    return response


RECORDER = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORD else "none",
    match_on=["method", "path"],
    filter_headers=["authorization", "cookie", "set-cookie"],
    before_record_request=scrub_request,
    before_record_response=scrub_response,
    decode_compressed_response=True,
)


@pytest.fixture
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The live emulator when recording; an address nothing listens on when replaying."""
    if RECORD:
        handle: SandboxThread = request.getfixturevalue("intacct")
        yield handle.env["MIGO_SYNC_INTACCT_URL"]
    else:
        yield "http://127.0.0.1:9/intacct/ia/xml/xmlgw.phtml"


def make_adapter(base_url: str, tmp_path: Path, **environ: str) -> IntacctAdapter:
    env = {"MIGO_SYNC_INTACCT_URL": base_url, "MIGO_SYNC_NO_KEYRING": "1", **credentials(tmp_path), **environ}
    adapter = open_adapter(Project(root=tmp_path, config=ProjectConfig(), environ=env), "intacct")
    assert isinstance(adapter, IntacctAdapter)
    return adapter


def test_push_rerun_and_pull_replay(base_url: str, tmp_path: Path) -> None:
    adapter = make_adapter(base_url, tmp_path)
    mapping = push_mapping()
    units = [balanced("JE-1", "150.00"), balanced("JE-2", "20.00", date(2025, 5, 1)), balanced("JE-3", "9.99")]
    for record in units[2].records:
        record["JOURNAL"] = "ZZ"
    with RECORDER.use_cassette("push_rerun_pull.yaml"):
        reasons = adapter.check(mapping, units)
        first = adapter.write(mapping, [u for u in units if u.key not in reasons])
        again = adapter.write(mapping, [units[0]])
        lines = [r for b in adapter.read(pull_mapping("GLENTRY", GLENTRY_FIELDS), None) for r in b.records]
        tb = list(adapter.read(pull_mapping("TRIALBALANCE", {"period": "string", "glaccountno": "string"},
                                            periods=["2026-10"]), None))
    adapter.close()
    assert reasons == {"JE-2": "posting date 2025-05-01 falls in closed period 2025-05"}
    assert [(r.key, r.ok) for r in first] == [("JE-1", True), ("JE-3", False)]
    assert "Invalid Journal 'ZZ'" in (first[1].reason or "")
    assert [(r.ok, r.duplicate) for r in again] == [(True, True)]
    assert sorted(str(r["TRX_AMOUNT"]) for r in lines) == ["150.00", "150.00"]
    assert {r["glaccountno"]: str(r["endbalance"]) for r in tb[0].records}["1100"] == "150.00"


def test_auth_failure_replays(base_url: str, tmp_path: Path) -> None:
    adapter = make_adapter(base_url, tmp_path, MIGO_SYNC_INTACCT_USER_PASSWORD=WRONG_PASSWORD)
    with RECORDER.use_cassette("auth_failure.yaml"), pytest.raises(AuthError) as caught:
        adapter.list_accounts()
    adapter.close()
    assert WRONG_PASSWORD not in str(caught.value) and "Sign-in information is incorrect" in str(caught.value)


def test_cassettes_hold_no_secret() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert {f.name for f in files} >= {"push_rerun_pull.yaml", "auth_failure.yaml"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for secret in SECRETS:
            assert secret not in text, f"{path.name} holds a credential"
        assert not re.search(r"<(password|sessionid)>(?!\*\*\*<)", text), f"{path.name} holds a credential element"
        assert "<password>***</password>" in text  # credentials were there, and masked
    assert "<sessionid>***</sessionid>" in (CASSETTES / "push_rerun_pull.yaml").read_text(encoding="utf-8")
