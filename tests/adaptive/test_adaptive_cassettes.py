"""Recorded conversations with the emulator, replayed with no server (record: MIGO_SYNC_RECORD=1).

Credentials are scrubbed from both directions before anything is written (the login and password
attributes of <credentials>, and any echo of them in a response), and a test greps every
cassette for the secrets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import vcr
from adaptive.adaptive_support import pull_mapping, push_mapping, unit

from migo_sync.adapters.adaptive.adapter import AdaptiveAdapter
from migo_sync.adapters.adaptive.sandbox import SANDBOX_LOGIN, SANDBOX_PASSWORD, credentials
from migo_sync.config import Project, ProjectConfig
from migo_sync.errors import AuthError
from migo_sync.redact import MASK, redact
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "adaptive"
RECORD = os.environ.get("MIGO_SYNC_RECORD") == "1"
WRONG_PASSWORD = "wrong-Password-123"
SECRETS = (SANDBOX_LOGIN, SANDBOX_PASSWORD, WRONG_PASSWORD)
CREDENTIAL_ATTR = re.compile(rb'(\s(?:login|password|instanceCode)=")[^"]*(")')


def _scrub(data: bytes) -> bytes:
    data = CREDENTIAL_ATTR.sub(rb"\1" + MASK.encode() + rb"\2", data)
    for secret in SECRETS:
        data = data.replace(secret.encode(), MASK.encode())
    return redact(data.decode("utf-8")).encode("utf-8")


def _scrub_request(request: Any) -> Any:
    if request.body:
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        request.body = _scrub(body)
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    body = response.get("body", {})
    if isinstance(body.get("string"), bytes):
        body["string"] = _scrub(body["string"])
    for name in list(response.get("headers", {})):
        if name.lower() in ("set-cookie", "authorization", "cookie"):
            response["headers"].pop(name)
    return response


RECORDER = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORD else "none",
    match_on=["method", "path", "body"],
    filter_headers=["authorization", "cookie", "set-cookie"],
    before_record_request=_scrub_request,
    before_record_response=_scrub_response,
    decode_compressed_response=True,
)


@pytest.fixture
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The live emulator when recording; an address nothing listens on when replaying."""
    if RECORD:
        handle: SandboxThread = request.getfixturevalue("adaptive_sandbox")
        yield handle.env["MIGO_SYNC_ADAPTIVE_URL"]
    else:
        yield "http://127.0.0.1:9/adaptive"


def _adapter(base_url: str, tmp_path: Path, **environ: str) -> AdaptiveAdapter:
    env = {"MIGO_SYNC_ADAPTIVE_URL": base_url, "MIGO_SYNC_NO_KEYRING": "1", **credentials(tmp_path), **environ}
    adapter = open_adapter(Project(root=tmp_path, config=ProjectConfig(), environ=env), "adaptive")
    assert isinstance(adapter, AdaptiveAdapter)
    return adapter


def test_push_then_pull_replays(base_url: str, tmp_path: Path) -> None:
    adapter = _adapter(base_url, tmp_path)
    mapping = push_mapping()
    units = [unit("4000", "OPS", {"2026-01": Decimal("1200.50"), "2026-02": Decimal("-3.25")}),
             unit("9999", "OPS", {"2026-01": Decimal(1)})]
    with RECORDER.use_cassette("push_then_pull.yaml"):
        reasons = adapter.check(mapping, units)
        results = adapter.write(mapping, [u for u in units if u.key not in reasons])
        batches = list(adapter.read(pull_mapping(versions=["Actuals"], start="2026-01", end="2026-02",
                                                 split="none"), None))
    adapter.close()
    assert reasons == {"9999\x1fOPS": "account '9999' does not exist in Adaptive"}
    assert [r.ok for r in results] == [True]
    assert [(r["period"], r["value"]) for r in batches[0].records] == [
        ("2026-01", Decimal("1200.5")), ("2026-02", Decimal("-3.25"))]


def test_row_refused_then_resent_replays(base_url: str, tmp_path: Path) -> None:
    adapter = _adapter(base_url, tmp_path)
    units = [unit("4000", "FIN", {"2026-03": Decimal(7)}), unit("4100", "HQ", {"2026-03": Decimal(8)})]
    with RECORDER.use_cassette("row_refused.yaml"):
        adapter.target(push_mapping())
        results = {r.key: r for r in adapter.write(push_mapping(), units)}
    adapter.close()
    assert results["4000\x1fFIN"].ok
    assert results["4100\x1fHQ"].reason == "Adaptive refused the row: Row 2: Level 'HQ' does not exist."


def test_auth_failure_replays(base_url: str, tmp_path: Path) -> None:
    adapter = _adapter(base_url, tmp_path, MIGO_SYNC_ADAPTIVE_PASSWORD=WRONG_PASSWORD)
    with RECORDER.use_cassette("auth_failure.yaml"), pytest.raises(AuthError) as caught:
        list(adapter.read(pull_mapping("versions"), None))
    adapter.close()
    assert SANDBOX_LOGIN not in str(caught.value) and WRONG_PASSWORD not in str(caught.value)


def test_cassettes_hold_no_secret() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert {f.name for f in files} >= {"push_then_pull.yaml", "row_refused.yaml", "auth_failure.yaml"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for secret in SECRETS:
            assert secret not in text, f"{path.name} holds a credential"
        assert not re.search(r'(login|password)=\\?"(?!\*\*\*)', text), f"{path.name} holds a credential attribute"
        assert 'login="***"' in text  # credentials were there, and masked
