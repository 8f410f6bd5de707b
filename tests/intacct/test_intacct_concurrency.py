"""Intacct journal posts at the gateway's ceiling: requests of many journals each, several in
flight together (within the per-company cap), each journal still posted once.

The sandbox answers like a tenant (latency, an in-flight cap that refuses one call more) and counts
the most calls it saw in flight: concurrency is asserted from that count and from request counts
at the minimum, never from timings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.emulators import throttled_fixture
from intacct.intacct_support import balanced, posted, push_mapping

from migo_sync.adapters.intacct.adapter import IntacctAdapter
from migo_sync.adapters.intacct.sandbox import credentials
from migo_sync.config import Project, ProjectConfig
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
