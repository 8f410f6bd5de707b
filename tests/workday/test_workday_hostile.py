"""Hostile rows and answers for Workday: one bad journal never holds back the good ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.hostile import hostile_server, raw
from helpers.poison import push_poisoned
from workday.workday_support import make_project, posted, sandbox_environ

from migo_sync.adapters.workday.client import WorkdayClient
from migo_sync.adapters.workday.soap import FaultTransport
from migo_sync.errors import FatalRemoteError
from migo_sync.http import make_client
from migo_sync.sandbox.process import SandboxThread


def test_a_journal_workday_cannot_carry_is_rejected_and_the_others_are_posted(
        workday: SandboxThread, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", sandbox_environ(workday, tmp_path))
    push_poisoned(project, "workday_journals_push", "Memo", lambda: posted(workday))


# ---- answers zeep and lxml cannot read: each one clean error, never "internal error" -------------

PAGE = (b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
        b'<wd:Get_Journals_Response xmlns:wd="urn:com.workday/bsvc" wd:version="v45.0"><wd:Response_Results>'
        b"<wd:Total_Results>1</wd:Total_Results><wd:Total_Pages>1</wd:Total_Pages><wd:Page>1</wd:Page>"
        b"</wd:Response_Results><wd:Response_Data><wd:Journal_Entry><wd:Journal_Entry_Data>"
        b"<wd:Memo>MEMO</wd:Memo></wd:Journal_Entry_Data></wd:Journal_Entry></wd:Response_Data>"
        b"</wd:Get_Journals_Response></env:Body></env:Envelope>")
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b"]>" + PAGE.replace(b"MEMO", b"&lol9;"))
SOAP12_FAULT = (b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault>'
                b"<env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason>"
                b'<env:Text xml:lang="en">Processing error</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>')


# What zeep says (Get_Account_Sets) where lxml says its own words (Get_Journals, read by us).
ZEEP = {
        "Get_Journals: malformed XML": "Get_Account_Sets: unreadable answer: HTTP 200: Server returned response "
                                       r"\(200\) with invalid XML: Invalid XML content received",
        "Get_Journals: unreadable value in the answer": "Get_Account_Sets: unreadable answer",
        "HTTP 307": "Get_Account_Sets: unreadable answer: HTTP 307",
        "Get_Journals: the answer holds no": "Get_Account_Sets: unreadable answer: The XML returned by the server "
                                             "does not contain a valid .*Envelope root element"}


def answer(status: int, body: bytes, content_type: bytes = b"text/xml; charset=utf-8", extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (status, content_type, len(body),
                                                                                     extra)) + body


def workday_client(url: str) -> WorkdayClient:
    endpoint = f"{url}/ccx/service/acme/Financial_Management/v45.0"
    http = make_client("workday", endpoint, transport=FaultTransport())
    return WorkdayClient(http, url=endpoint, username="ISU_x@acme", password="pw")


@pytest.mark.parametrize(("raw_answer", "message"), [
    (answer(200, PAGE.replace(b"<env:Envelope", b'<!DOCTYPE x [<!ENTITY a "b">]><env:Envelope')),
     "XML with a DOCTYPE is refused"),
    (answer(200, LAUGHS), "XML with a DOCTYPE is refused"),
    (answer(200, PAGE[: len(PAGE) // 2]), "Get_Journals: malformed XML"),
    (answer(200, PAGE.replace(b"MEMO", b"\xff\xfe bad")), "Get_Journals: malformed XML"),
    (answer(200, PAGE.replace(b"<wd:Page>1", b"<wd:Page>one")), "Get_Journals: unreadable value in the answer"),
    (answer(500, SOAP12_FAULT, b"application/soap+xml"), "a SOAP 1.2 fault: Receiver: Processing error"),
    (answer(200, SOAP12_FAULT, b"application/soap+xml"), "a SOAP 1.2 fault: Receiver: Processing error"),
    (answer(307, b"", extra=b"Location: http://127.0.0.1:9/elsewhere\r\n"), "HTTP 307"),
    (answer(200, b"<html><body>Sign in</body></html>", b"text/html"), "Get_Journals: the answer holds no"),
], ids=["doctype", "billion-laughs", "truncated", "invalid-utf8", "bad-number", "soap12-fault-500",
        "soap12-fault-200", "redirect-307", "html"])
def test_an_answer_workday_libraries_cannot_read_is_one_clean_error(raw_answer: bytes, message: str) -> None:
    with hostile_server(raw(raw_answer)) as url:
        client = workday_client(url)
        try:
            with pytest.raises(FatalRemoteError, match=f"^workday: .*{message}"):
                client.get_journals(page=1, count=10)
            with pytest.raises(FatalRemoteError, match=f"^workday: .*{ZEEP.get(message, message)}"):
                client.ledger_accounts("Standard")  # an operation zeep parses itself
        finally:
            client.close()
