"""Intacct journal posts at the gateway's ceiling: requests of many journals each, several in
flight together (within the per-company cap), each journal still posted once.

The sandbox answers like a tenant (latency, an in-flight cap that refuses one call more) and counts
the most calls it saw in flight: concurrency is asserted from that count and from request counts
at the minimum, never from timings. The checks' chart read overlaps the building of the journals'
bodies (held until they are built), and its errors are raised as when it ran in place.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.emulators import throttled_fixture
from helpers.inplace import started_in_place
from intacct.intacct_support import balanced, posted, push_mapping

from migo_sync.adapters.intacct import adapter as adapter_module
from migo_sync.adapters.intacct.adapter import IntacctAdapter
from migo_sync.adapters.intacct.client import IntacctClient
from migo_sync.adapters.intacct.sandbox import credentials
from migo_sync.config import Project, ProjectConfig
from migo_sync.errors import MigoSyncError
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter

pytestmark = pytest.mark.timeout(120)
CAP = 4


tenant = throttled_fixture("intacct", CAP)


@pytest.fixture
def adapter(tenant: SandboxThread, tmp_path: Path) -> Iterator[IntacctAdapter]:
    tenant.reset()
    environ = {**tenant.env, **credentials(tmp_path), "MIGO_SYNC_NO_KEYRING": "1"}
    project = Project(root=tmp_path, config=ProjectConfig(systems={"intacct": {"functions_per_request": 10}}),
                      environ=environ)
    opened = open_adapter(project, "intacct")
    assert isinstance(opened, IntacctAdapter)
    yield opened
    opened.close()


def test_journal_requests_go_out_together_within_the_cap(adapter: IntacctAdapter, tenant: SandboxThread) -> None:
    units = [balanced(f"J{n:03d}") for n in range(1, 61)]
    results = adapter.write(push_mapping(), units)
    assert all(r.ok and not r.duplicate for r in results) and len(results) == 60
    limits = tenant.limits()["intacct"]
    assert limits["refused"] == 0 and limits["peak_in_flight"] == CAP
    # the session, the look-up of the 60 references (one request), then six requests of ten journals
    assert limits["served"] == 1 + 1 + 6
    assert set(posted(tenant).values()) == {1}
    for unit in units:  # resent as the engine resends units whose answer was lost
        unit.resend = True
    again = adapter.write(push_mapping(), units)  # every journal now a duplicate, none posted twice
    assert all(r.ok and r.duplicate for r in again) and set(posted(tenant).values()) == {1}


def _open(tenant: SandboxThread, tmp_path: Path) -> tuple[IntacctAdapter, list[bytes]]:
    """A fresh adapter (one run) and the bodies of the requests it sends, as they leave."""
    environ = {**tenant.env, **credentials(tmp_path), "MIGO_SYNC_NO_KEYRING": "1"}
    opened = open_adapter(Project(root=tmp_path, config=ProjectConfig(systems={"intacct": {}}), environ=environ),
                          "intacct")
    assert isinstance(opened, IntacctAdapter)
    sent: list[bytes] = []
    opened.client.http.event_hooks["request"].append(lambda request: sent.append(request.read()))
    return opened, sent


def test_the_checks_read_the_chart_and_the_held_journals_in_one_request_beside_the_sign_in(
        tenant: SandboxThread, tmp_path: Path) -> None:
    tenant.reset()
    adapter, sent = _open(tenant, tmp_path)
    units = [balanced(f"H{n:03d}") for n in range(1, 31)]
    try:
        assert adapter.check(push_mapping(), units) == {}
        limits = tenant.limits()["intacct"]
        assert limits["served"] == 2 and limits["peak_in_flight"] == 2  # the sign-in and the read, together
        read = next(body for body in sent if b"getAPISession" not in body)
        assert b"<login>" in read and read.count(b"<readByQuery>") == 5
        assert all(f"<object>{o}</object>".encode() in read
                   for o in ("GLACCOUNT", "DEPARTMENT", "LOCATION", "REPORTINGPERIOD", "GLENTRY"))
        sent.clear()
        results = adapter.write(push_mapping(), units)
        assert all(r.ok and not r.duplicate for r in results)
        # the write asks nothing again: only the journals go (one request: 30 <= functions_per_request)
        assert len(sent) == 1 and b"<create>" in sent[0] and b"<readByQuery>" not in sent[0]
        assert b"<sessionid>" in sent[0] and b"<login>" not in sent[0]
        sent.clear()
        adapter.write(push_mapping(), units[:2])  # a second write of the same journals asks the ledger again
        assert sum(b"<object>GLENTRY</object>" in body for body in sent) == 1
    finally:
        adapter.close()


def test_journals_the_checks_found_held_are_not_posted_again(tenant: SandboxThread, tmp_path: Path) -> None:
    tenant.reset()
    first, _ = _open(tenant, tmp_path)
    units = [balanced(f"K{n:03d}") for n in range(1, 4)]
    try:
        assert all(r.ok for r in first.write(push_mapping(), units))
    finally:
        first.close()
    again, sent = _open(tenant, tmp_path)  # the next run, from a feed that did not send them
    try:
        fresh = [balanced(f"K{n:03d}") for n in range(1, 5)]
        assert again.check(push_mapping(), fresh) == {}
        sent.clear()
        results = again.write(push_mapping(), fresh)
        assert [r.ok for r in results] == [False, False, False, True]
        assert "already in the ledger" in (results[0].reason or "")
        assert [b.count(b"<create>") for b in sent] == [1]  # only K004 went; nothing was looked up again
        assert set(posted(tenant).values()) == {1} and len(posted(tenant)) == 4
    finally:
        again.close()


def test_the_journals_bodies_are_built_while_the_chart_is_read_and_posted_as_built(
        tenant: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks' chart and look-up request goes on a thread, and once it is on its way every journal's
    create/GLBATCH is built: the read is held (10 s at most) until every body was built, which only
    happens meanwhile if the two overlap. The write then posts those very bodies (built once each),
    every journal once."""
    units = [balanced(f"B{n:03d}") for n in range(1, 31)]
    built: list[str] = []
    all_built = threading.Event()
    build = adapter_module.glbatch_function

    def counted(journal: Any) -> Any:
        built.append(journal.key)
        if len(built) == len(units):
            all_built.set()
        return build(journal)

    waited: list[bool] = []
    post = IntacctClient._post

    def held(client: IntacctClient, url: str, body: bytes) -> Any:
        if b"<object>REPORTINGPERIOD</object>" in body:  # the chart read, once built and on its way
            waited.append(all_built.wait(10))
        return post(client, url, body)

    monkeypatch.setattr(adapter_module, "glbatch_function", counted)
    monkeypatch.setattr(IntacctClient, "_post", held)
    tenant.reset()
    adapter, _ = _open(tenant, tmp_path)
    try:
        assert adapter.check(push_mapping(), units) == {}
        assert waited == [True]
        results = adapter.write(push_mapping(), units)
    finally:
        adapter.close()
    assert all(r.ok and not r.duplicate for r in results)
    assert sorted(built) == sorted(u.key for u in units)  # built once each: the posts sent those bodies
    assert set(posted(tenant).values()) == {1} and len(posted(tenant)) == 30


@pytest.mark.parametrize("broken", ["user_password", "sender_password"])
def test_an_error_of_the_chart_read_on_its_thread_is_raised_by_the_checks_as_before(
        tenant: SandboxThread, tmp_path: Path, broken: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused sign-in while the chart is read on its thread: the checks raise the very error (type,
    message, exit code) they raised when the read ran in place, and nothing is posted."""
    def failure() -> tuple[str, str]:
        tenant.reset()
        environ = {**tenant.env, **credentials(tmp_path), "MIGO_SYNC_NO_KEYRING": "1",
                   f"MIGO_SYNC_INTACCT_{broken.upper()}": "wrong"}
        opened = open_adapter(Project(root=tmp_path, config=ProjectConfig(systems={"intacct": {}}), environ=environ),
                              "intacct")
        try:
            with pytest.raises(MigoSyncError) as raised:
                opened.check(push_mapping(), [balanced("E001")])
        finally:
            opened.close()
        assert posted(tenant) == Counter()
        return type(raised.value).__name__, str(raised.value)

    threaded = failure()

    monkeypatch.setattr(adapter_module, "started", started_in_place)
    assert failure() == threaded
    assert threaded[0] == "AuthError"
