"""Recorded conversations with the emulator, replayed with no server (record: MIGO_SYNC_RECORD=1).

Credentials are scrubbed from both directions before anything is written (the login and password
attributes of <credentials>, and any echo of them in a response), and a test greps every
cassette for the secrets.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from adaptive.adaptive_support import pull_mapping, push_mapping, unit
from helpers.cassettes import assert_no_secret, base_url_fixture, recorder, scrubber

from migo_sync.adapters.adaptive.adapter import AdaptiveAdapter
from migo_sync.adapters.adaptive.sandbox import SANDBOX_LOGIN, SANDBOX_PASSWORD, credentials
from migo_sync.config import Project, ProjectConfig
from migo_sync.errors import AuthError
from migo_sync.systems import open_adapter

WRONG_PASSWORD = "wrong-Password-123"
SECRETS = (SANDBOX_LOGIN, SANDBOX_PASSWORD, WRONG_PASSWORD)
CREDENTIAL_ATTR = re.compile(rb'(\s(?:login|password|instanceCode)=")[^"]*(")')
RECORDER = recorder("adaptive", scrubber([CREDENTIAL_ATTR], SECRETS), ["method", "path", "body"])

base_url = base_url_fixture("adaptive_sandbox", "MIGO_SYNC_ADAPTIVE_URL", "http://127.0.0.1:9/adaptive")


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
    assert_no_secret("adaptive", {"push_then_pull.yaml", "row_refused.yaml", "auth_failure.yaml"}, secrets=SECRETS,
                     forbidden={re.compile(r'(login|password)=\\?"(?!\*\*\*)'): "a credential attribute"},
                     masked=['login="***"'])  # credentials were there, and masked
