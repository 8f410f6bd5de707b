"""Recorded SOAP conversations with the emulator, replayed with no server (record: MIGO_SYNC_RECORD=1).

The WS-Security UsernameToken password is scrubbed from every request before anything is
written (namespaced `<wsse:Password>` elements, whatever the prefix), and any registered secret
from both directions. A test greps every cassette for the secrets. Requests are matched by method,
path and their scrubbed SOAP body: every POST goes to the same URL, so the body is what tells
one call from another.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers.cassettes import assert_no_secret, base_url_fixture, recorder, request_body, scrubber
from workday.workday_support import TENANT, balanced, journal, push_mapping, shipped

from migo_sync.adapters.workday.adapter import WorkdayAdapter
from migo_sync.adapters.workday.sandbox import SANDBOX_PASSWORD, credentials
from migo_sync.config import Project, ProjectConfig
from migo_sync.errors import AuthError
from migo_sync.systems import open_adapter

WRONG_PASSWORD = "wrong-Wd-pw-42"
SECRETS = (SANDBOX_PASSWORD, WRONG_PASSWORD)
PASSWORD = re.compile(rb"(<(?:[\w.-]+:)?Password\b[^>]*>)[^<]*(</(?:[\w.-]+:)?Password>)")
REPLAY_URL = "http://127.0.0.1:9/workday/ccx/service/migo_sandbox/Financial_Management/v45.0"
LATER = datetime(2030, 1, 1, tzinfo=UTC)  # as_of of the recorded pull: after everything was entered
scrub = scrubber([PASSWORD], SECRETS)


def soap_body(first: Any, second: Any) -> None:
    """vcr matcher: the same SOAP request once credentials are masked."""
    assert scrub(request_body(first)) == scrub(request_body(second))


RECORDER = recorder("workday", scrub, ["method", "path", "soap_body"], matchers={"soap_body": soap_body})

base_url = base_url_fixture("workday", "MIGO_SYNC_WORKDAY_URL", REPLAY_URL)


def make_adapter(base_url: str, tmp_path: Path, **environ: str) -> WorkdayAdapter:
    env = {"MIGO_SYNC_WORKDAY_URL": base_url, "MIGO_SYNC_NO_KEYRING": "1", **credentials(tmp_path), **environ}
    project = Project(root=tmp_path, config=ProjectConfig(systems={"workday": {"max_concurrency": 1, **TENANT}}), environ=env)
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
    assert_no_secret("workday", {"push_rerun_pull.yaml", "auth_failure.yaml"}, secrets=SECRETS,
                     forbidden={re.compile(r"<(?:[\w.-]+:)?Password\b[^>]*>(?!\*\*\*<)"): "a password"},
                     masked=[re.compile(r"<wsse:Password\s[^>]*>\*\*\*</wsse:Password>")])  # it was there, and masked
