"""Recorded conversations with the Zendesk emulator, replayed with no server (record: MIGO_SYNC_RECORD=1).

Credentials are scrubbed from both directions before anything is written: the Authorization
header (Basic `{email}/token:{token}` or Bearer) is dropped, and any registered secret or
credential-shaped text in bodies is masked. A test greps every cassette for the secrets.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers.cassettes import assert_no_secret, base_url_fixture, recorder, scrubber
from zendesk.zendesk_support import FAST, pull_mapping, push_mapping, user_unit

from migo_sync.adapters.zendesk.adapter import ZendeskAdapter
from migo_sync.adapters.zendesk.sandbox import SANDBOX_API_TOKEN, SANDBOX_EMAIL, SANDBOX_OAUTH_TOKEN
from migo_sync.config import Project, ProjectConfig
from migo_sync.errors import AuthError
from migo_sync.systems import adapter_context

WRONG_TOKEN = "zd-wrong-token-0b7e51"
SECRETS = (SANDBOX_API_TOKEN, SANDBOX_OAUTH_TOKEN, WRONG_TOKEN)
RECORDER = recorder("zendesk", scrubber(secrets=SECRETS), ["method", "path", "query"])
base_url = base_url_fixture("zd", "MIGO_SYNC_ZENDESK_URL", "http://127.0.0.1:9/zendesk")


def adapter_for(base_url: str, tmp_path: Path, **environ: str) -> ZendeskAdapter:
    env = {"MIGO_SYNC_ZENDESK_URL": base_url, "MIGO_SYNC_NO_KEYRING": "1", **environ}
    settings = {**FAST, "page_size": 20}
    project = Project(root=tmp_path, config=ProjectConfig(systems={"zendesk": settings}), environ=env)
    return ZendeskAdapter(adapter_context(project, "zendesk"))


def test_pull_push_replay(base_url: str, tmp_path: Path) -> None:
    adapter = adapter_for(base_url, tmp_path, MIGO_SYNC_ZENDESK_EMAIL=SANDBOX_EMAIL,
                          MIGO_SYNC_ZENDESK_API_TOKEN=SANDBOX_API_TOKEN)
    with RECORDER.use_cassette("pull_push.yaml"):
        batches = list(adapter.read(pull_mapping(start_time="2026-11-27T12:00:00Z", deleted="delete"), None))
        results = adapter.write(push_mapping(), [user_unit(1, loan_status="default"), user_unit(2, email="nope")])
        fields = adapter.describe(push_mapping())
    adapter.close()
    assert len(batches) >= 2 and all(len(b.records) <= 20 for b in batches)
    assert all(b.state and b.state["after_cursor"] for b in batches)
    assert [(r.key, r.ok) for r in results] == [("C000001", True), ("C000002", False)]
    assert results[1].reason == "RecordInvalid: Email: nope is not properly formatted"
    assert "user_fields.loan_status" in {f.name for f in fields.fields}


def test_oauth_and_auth_failure_replay(base_url: str, tmp_path: Path) -> None:
    good = adapter_for(base_url, tmp_path, MIGO_SYNC_ZENDESK_OAUTH_TOKEN=SANDBOX_OAUTH_TOKEN)
    bad = adapter_for(base_url, tmp_path, MIGO_SYNC_ZENDESK_EMAIL=SANDBOX_EMAIL,
                      MIGO_SYNC_ZENDESK_API_TOKEN=WRONG_TOKEN)
    with RECORDER.use_cassette("auth.yaml"):
        organizations = [r for b in good.read(pull_mapping("organizations"), None) for r in b.records]
        with pytest.raises(AuthError) as caught:
            list(bad.read(pull_mapping("users"), None))
    good.close()
    bad.close()
    assert len(organizations) == 8
    assert caught.value.status == 401 and "Couldn't authenticate you" in str(caught.value)
    assert WRONG_TOKEN not in str(caught.value)


def test_cassettes_hold_no_secret() -> None:
    assert_no_secret("zendesk", {"pull_push.yaml", "auth.yaml"}, secrets=(*SECRETS, SANDBOX_EMAIL),
                     forbidden={re.compile(r"(?i)authorization"): "an Authorization header",
                                re.compile(r"Basic [A-Za-z0-9+/=]{8,}|Bearer \S+"): "a credential"})
