"""Recorded conversations with the emulator, replayed with no server (record: MIGO_SYNC_RECORD=1).

Credentials are scrubbed from both directions before anything is written: the sender and user
passwords in requests, the session id in requests and in getAPISession answers. A test greps
every cassette for the secrets. Requests are matched by method and path, in order: bodies carry
a fresh request controlid each time.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from helpers.cassettes import RECORD, assert_no_secret, base_url_fixture, recorder, scrubber
from intacct.intacct_support import GLENTRY_FIELDS, balanced, pull_mapping, push_mapping

from migo_sync.adapters.intacct.adapter import IntacctAdapter
from migo_sync.adapters.intacct.emulator import DEFAULTS
from migo_sync.adapters.intacct.sandbox import credentials
from migo_sync.config import Project, ProjectConfig
from migo_sync.errors import AuthError
from migo_sync.systems import open_adapter

WRONG_PASSWORD = "wrong-User-pw-42"
SECRETS = (DEFAULTS["sender_password"], DEFAULTS["user_password"], WRONG_PASSWORD)
SESSION = re.compile(rb"(<sessionid>)[^<]*(</sessionid>)")
PASSWORD = re.compile(rb"(<password>)[^<]*(</password>)")
RECORDER = recorder("intacct", scrubber([SESSION, PASSWORD], SECRETS), ["method", "path"])

# The port the cassettes were recorded on: the recorded getAPISession names its endpoint there, and
# an endpoint on another port than the configured one is refused (the session id is a credential).
base_url = base_url_fixture("intacct", "MIGO_SYNC_INTACCT_URL", "http://127.0.0.1:45871/intacct/ia/xml/xmlgw.phtml")


# When the cassettes were recorded: a replay judges session expiry by this clock, not today's
# (a recorded session times out an hour after it began).
RECORDED_AT = datetime(2026, 11, 30, 1, 5, tzinfo=UTC)


def make_adapter(base_url: str, tmp_path: Path, **environ: str) -> IntacctAdapter:
    env = {"MIGO_SYNC_INTACCT_URL": base_url, "MIGO_SYNC_NO_KEYRING": "1", **credentials(tmp_path), **environ}
    adapter = open_adapter(Project(root=tmp_path, config=ProjectConfig(), environ=env), "intacct")
    assert isinstance(adapter, IntacctAdapter)
    if not RECORD:
        adapter.client.now = lambda: RECORDED_AT
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
    texts = assert_no_secret("intacct", {"push_rerun_pull.yaml", "auth_failure.yaml"}, secrets=SECRETS,
                             forbidden={re.compile(r"<(password|sessionid)>(?!\*\*\*<)"): "a credential element"},
                             masked=["<password>***</password>"])  # credentials were there, and masked
    assert "<sessionid>***</sessionid>" in texts["push_rerun_pull.yaml"]
