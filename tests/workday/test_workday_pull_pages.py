"""A Workday journal-line pull at the API's ceiling: the first Get_Journals page says how many there
are; the others (one pinned result set) are read several at once and loaded in order.

The sandbox answers like a tenant (latency, an in-flight cap) and counts the most calls it saw in
flight: concurrency is asserted from that count and request counts, never from timings.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.emulators import throttled_fixture
from workday.workday_support import TENANT, balanced, push_mapping, sandbox_environ

from migo_sync.adapter import PullBatch
from migo_sync.adapters.workday import client as client_module
from migo_sync.adapters.workday.adapter import WorkdayAdapter
from migo_sync.adapters.workday.pages import JournalPage
from migo_sync.config import Project, ProjectConfig
from migo_sync.mapping.model import Mapping
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter

pytestmark = pytest.mark.timeout(180)
CAP = 4


tenant = throttled_fixture("workday", CAP)


def opened(tenant: SandboxThread, tmp_path: Path, **settings: Any) -> WorkdayAdapter:
    project = Project(root=tmp_path, config=ProjectConfig(systems={"workday": {**TENANT, "page_size": 4, **settings}}),
                      environ=sandbox_environ(tenant, tmp_path))
    adapter = open_adapter(project, "workday")
    assert isinstance(adapter, WorkdayAdapter)
    return adapter


def lines() -> Mapping:
    return Mapping.model_validate({
        "name": "workday_gl_lines_pull", "system": "workday", "object": "Journal_Entry_Line", "direction": "pull",
        "warehouse": {"table": "finance.workday_journal_lines"}, "key": ["journal_wid", "line_number"],
        "options": {"incremental": False},
        "fields": [{"column": "journal_wid", "remote": "Journal_Entry_WID"},
                   {"column": "line_number", "remote": "Line_Number", "type": "integer"}]})


def pulled(adapter: WorkdayAdapter) -> list[PullBatch]:
    try:
        return list(adapter.read(lines(), None))
    finally:
        adapter.close()


def test_pages_after_the_first_are_read_together_and_loaded_in_order(tenant: SandboxThread, tmp_path: Path) -> None:
    tenant.reset()
    writer = opened(tenant, tmp_path, max_concurrency=1)  # one call at a time until the pull under test
    try:
        assert all(r.ok for r in writer.write(push_mapping(), [balanced(f"P-{n:02d}") for n in range(30)]))
    finally:
        writer.close()
    before = tenant.limits()["workday"]["served"]
    sequential = pulled(opened(tenant, tmp_path, max_concurrency=1))
    pages = tenant.limits()["workday"]["served"] - before
    assert tenant.limits()["workday"]["peak_in_flight"] == 1
    assert pages >= 8  # 30 journals (and the seeded ones) in pages of 4 journals
    before = tenant.limits()["workday"]["served"]
    together = pulled(opened(tenant, tmp_path))
    limits = tenant.limits()["workday"]
    assert limits["served"] - before == pages and limits["refused"] == 0  # the same pages, no more
    assert limits["peak_in_flight"] == CAP
    assert [b.records for b in together] == [b.records for b in sequential]
    assert [b.state.get("page") for b in together[:-1] if b.state] == list(range(2, len(together) + 1))


def test_the_next_page_is_asked_for_before_this_one_is_read(tenant: SandboxThread, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The page threads only ask: page N is parsed by the reader once it is in, while page N+1 is already
    asked for. Proven by holding the parse of each page after the first until the next page was asked for
    (10 s at most): were each page parsed on its page thread, the next one would wait for that parse."""
    posted_fresh(tenant, tmp_path, "N", 20)
    adapter = opened(tenant, tmp_path, max_concurrency=1)
    asked, held = parse_held_until_asked(monkeypatch, adapter, lambda page: (
        page.page + 1 if 1 < page.page < page.total_pages else None))
    batches = pulled(adapter)
    assert held and all(held), held
    assert asked == list(range(1, len(batches) + 1)) and len(batches) >= 4
    assert tenant.limits()["workday"]["peak_in_flight"] == 1  # still one call at a time


def parse_held_until_asked(monkeypatch: pytest.MonkeyPatch, adapter: WorkdayAdapter,
                           hold: Callable[[JournalPage], int | None]) -> tuple[list[int], list[bool]]:
    """Every page asked for, in order; and a page's parse held (10 s at most) until the page `hold` names
    for it was asked for: whether each such wait ended in time, in order."""
    client = adapter.client
    asked: list[int] = []
    changed = threading.Condition()
    real_answer = client._journals_answer

    def answer(**criteria: Any) -> bytes:
        with changed:
            asked.append(criteria["page"])
            changed.notify_all()
        return real_answer(**criteria)

    real_parse = client_module.parse_journals_page
    held: list[bool] = []

    def parse(content: bytes, **kwargs: Any) -> Any:
        page = real_parse(content, **kwargs)
        wanted = hold(page)
        if wanted is not None:
            with changed:
                held.append(changed.wait_for(lambda: wanted in asked, timeout=10))
        return page

    monkeypatch.setattr(client, "_journals_answer", answer)
    monkeypatch.setattr(client_module, "parse_journals_page", parse)
    return asked, held


def posted_fresh(tenant: SandboxThread, tmp_path: Path, prefix: str, count: int) -> None:
    """The reset tenant with `count` more journals, posted one call at a time."""
    tenant.reset()
    writer = opened(tenant, tmp_path, max_concurrency=1)
    try:
        assert all(r.ok for r in writer.write(push_mapping(), [balanced(f"{prefix}-{n:02d}") for n in range(count)]))
    finally:
        writer.close()


def test_the_pages_after_the_first_are_asked_for_before_the_first_is_parsed(
        tenant: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first answer's head says how many pages there are and what moment pins them: the others are
    asked for then, not once the whole first page is parsed. Proven by holding the first page's parse until
    page 2 was asked for (10 s at most): asked after the parse, page 2 would wait for it."""
    posted_fresh(tenant, tmp_path, "H", 12)
    sequential = pulled(opened(tenant, tmp_path))
    adapter = opened(tenant, tmp_path)
    _asked, held = parse_held_until_asked(monkeypatch, adapter, lambda page: 2 if page.page == 1 else None)
    before = tenant.limits()["workday"]["served"]
    batches = pulled(adapter)
    assert held == [True]
    assert [b.records for b in batches] == [b.records for b in sequential]  # the same lines, in the same order
    assert tenant.limits()["workday"]["served"] - before == len(batches) >= 3  # every page asked for once


def test_a_pages_head_reads_as_its_whole_parse_or_not_at_all(tenant: SandboxThread, tmp_path: Path) -> None:
    from migo_sync.adapters.workday.pages import Paging, paging_head

    posted_fresh(tenant, tmp_path, "G", 12)
    adapter = opened(tenant, tmp_path)
    try:
        answer = adapter.client._journals_answer(page=2, count=4)
    finally:
        adapter.close()
    page = client_module.parse_journals_page(answer)
    assert page.page == 2 and page.total_pages > 2
    assert paging_head(answer) == Paging(page.page, page.total_pages, page.total_results, page.as_of)
    declared = answer.replace(b"<env:Envelope", b'<!DOCTYPE x [<!ENTITY a "b">]><env:Envelope', 1)
    assert paging_head(declared) is None  # left to the whole parse, which refuses it
    assert paging_head(b"<html><body>503 Service Unavailable</body></html>") is None
    assert paging_head(answer[:200]) is None  # cut before its paging: the whole parse gives the error


def test_a_pages_head_leaves_nothing_for_the_cyclic_collector() -> None:
    """The head's reading holds no element of the head once it is read: the parser keeps each event it has
    not handed out, with its element, in a cycle with itself, so a head of every element's events (~1,000
    objects) was freed only by a collection, in the pull's path after the answer."""
    from migo_sync.adapters.workday.pages import paging_head

    entry = ("<wd:Journal_Entry><wd:Journal_Entry_Data><wd:Journal_Number>JE</wd:Journal_Number>"
             + "<wd:Journal_Entry_Line_Data><wd:Line_Order>1</wd:Line_Order></wd:Journal_Entry_Line_Data>" * 4
             + "</wd:Journal_Entry_Data></wd:Journal_Entry>")
    answer = ('<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
              '<wd:Get_Journals_Response xmlns:wd="urn:com.workday/bsvc"><wd:Response_Filter><wd:Page>1</wd:Page>'
              "</wd:Response_Filter><wd:Response_Results><wd:Total_Results>200</wd:Total_Results><wd:Total_Pages>1"
              "</wd:Total_Pages><wd:Page>1</wd:Page></wd:Response_Results><wd:Response_Data>" + entry * 200
              + "</wd:Response_Data></wd:Get_Journals_Response></env:Body></env:Envelope>").encode()
    gc.collect()
    gc.disable()
    try:
        head = paging_head(answer)
        left = gc.collect()
    finally:
        gc.enable()
    assert head is not None and (head.page, head.total_pages, head.total_results) == (1, 1, 200)
    assert left < 100  # the parser and its document (~25 objects); with every element's events ~1,000


@pytest.mark.parametrize("document", [
    b'<env:Envelope xmlns:env="e"><env:Body><wd:Get_Journals_Response xmlns:wd="urn:com.workday/bsvc" n="1"/>'
    b'<wd:Get_Journals_Response xmlns:wd="urn:com.workday/bsvc" n="2"/></env:Body></env:Envelope>',
    b'<env:Envelope xmlns:env="e"><!-- c --><?pi x?><env:Header><x><wd:Get_Journals_Response '
    b'xmlns:wd="urn:com.workday/bsvc" n="in the header"/></x></env:Header><env:Body><wd:Get_Journals_Response '
    b'xmlns:wd="urn:com.workday/bsvc" n="2"/></env:Body></env:Envelope>',
    b'<wd:Get_Journals_Response xmlns:wd="urn:com.workday/bsvc" n="the root"><a><wd:Get_Journals_Response n="in"/>'
    b"</a></wd:Get_Journals_Response>",
    b'<wd:Get_Journals_Response xmlns:wd="urn:com.workday/bsvc" n="the root alone"/>',
    b'<env:Envelope xmlns:env="e"><env:Body><Get_Journals_Response n="no namespace"/></env:Body></env:Envelope>',
])
def test_the_response_is_the_first_below_the_root_in_document_order(document: bytes) -> None:
    """`journals_response` stops at the response rather than walking the whole answer, and finds what
    `find('.//…')` finds: the first below the root in document order, or none (the clean error)."""
    from lxml import etree

    from migo_sync.adapters.workday.pages import RESPONSE, journals_response
    from migo_sync.errors import FatalRemoteError

    root = etree.fromstring(document)
    expected = root.find(f".//{RESPONSE}")
    if expected is None:
        with pytest.raises(FatalRemoteError, match="holds no Get_Journals_Response"):
            journals_response(root)
    else:
        assert journals_response(root) is expected
