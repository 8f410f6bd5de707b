"""The zeep client through the core HTTP layer, with httpx.MockTransport: every fault kind lands in
the right branch of the error tree, every call is idempotent, SOAP goes out as Workday expects it,
and the packaged WSDL is the only document ever loaded."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from lxml import etree
from workday.workday_support import ENV, WD, WSSE, lxml_render_journal, zeep_journal_data
from zeep.exceptions import ExternalReferenceForbidden

from migo_sync.adapters.workday.client import WorkdayClient, journals_query, parse_journals_page, ref
from migo_sync.adapters.workday.emulator import fault_envelope, success_envelope, wd
from migo_sync.adapters.workday.emulator_store import Problem
from migo_sync.adapters.workday.payload import Defaults, journal_xml
from migo_sync.adapters.workday.soap import (
    WSDL_PATH,
    FaultTransport,
    HttpxTransport,
    parse_fault,
    safe_settings,
    short_xpath,
)
from migo_sync.errors import AuthError, FatalRemoteError, UnreachableError
from migo_sync.http import make_client
from migo_sync.ledger import Journal, JournalLine
from migo_sync.redact import MASK

URL = "https://wd2-impl-services1.workday.com/ccx/service/acme/Financial_Management/v45.0"
PASSWORD = "unit-test-Pa55"
GOLDEN = Path(__file__).with_name("golden")
RECORD = os.environ.get("MIGO_SYNC_RECORD") == "1"
Handler = Callable[[httpx.Request], httpx.Response]
SUBMITTED = success_envelope(wd("Submit_Accounting_Journal_Response", version="v45.0"))


def client_with(handler: Handler, seen: list[httpx.Request] | None = None) -> WorkdayClient:
    def record(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return handler(request)

    http = make_client("workday", URL, transport=FaultTransport(httpx.MockTransport(record)))
    return WorkdayClient(http, url=URL, username="ISU_x@acme", password=PASSWORD)


def answers(*responses: httpx.Response | Exception) -> Handler:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


def fault(code: str, message: str, problems: list[Problem] | None = None, processing: bool = False,
          status: int = 500) -> httpx.Response:
    return httpx.Response(status, content=fault_envelope(code, message, problems, processing),
                          headers={"Content-Type": "text/xml; charset=utf-8"})


def ok(content: bytes = SUBMITTED) -> httpx.Response:
    return httpx.Response(200, content=content, headers={"Content-Type": "text/xml; charset=utf-8"})


DEFAULTS = Defaults(company=None, currency=None, ledger_type="Actuals", journal_source=None, account_set="Standard")
JOURNAL = Journal(key="u1", idempotency_key="k1", posting_date=date(2026, 10, 14), header={
    "Company_Reference_ID": "MIGO_KE", "Currency_ID": "KES", "Journal_Source_ID": "Integration"}, lines=(
    JournalLine(number=1, account="1100", amount=Decimal("100.10"), memo="disbursed",
                dimensions={"cost_center": "OPS", "region": "NBO"}),
    JournalLine(number=2, account="1000", amount=Decimal("-100.10"), dimensions={})))
DATA = zeep_journal_data(JOURNAL, DEFAULTS, submit=True)  # what zeep is given for it (the golden envelope)
BODY = journal_xml(JOURNAL, DEFAULTS, submit=True)  # what the adapter sends


def test_a_validation_fault_belongs_to_the_journal_and_is_not_retried() -> None:
    seen: list[httpx.Request] = []
    problem = Problem("Invalid ID value.  '9999' is not a valid ID value for type = 'Ledger_Account_ID'",
                      "/ns0:Submit_Accounting_Journal_Request[1]/ns0:Accounting_Journal_Data[1]/"
                      "ns0:Journal_Entry_Line_Replacement_Data[2]/ns0:Ledger_Account_Reference[1]/ns0:ID[1]")
    client = client_with(answers(fault("SOAP-ENV:Client.validationError", "Validation error occurred.", [problem])),
                         seen)
    result = client.submit_journal(BODY)
    assert len(seen) == 1 and result.ids == {} and result.fault is not None
    assert result.fault.kind == "validation"
    assert result.fault.describe() == (
        "Invalid ID value. '9999' is not a valid ID value for type = 'Ledger_Account_ID' "
        "(at Accounting_Journal_Data[1]/Journal_Entry_Line_Replacement_Data[2]/Ledger_Account_Reference[1]/ID[1])")


def test_an_authentication_fault_is_a_config_error_and_never_retried() -> None:
    seen: list[httpx.Request] = []
    client = client_with(answers(fault("SOAP-ENV:Client.authenticationError", "invalid username or password")), seen)
    with pytest.raises(AuthError) as caught:
        client.submit_journal(BODY)
    assert len(seen) == 1 and caught.value.exit_code == 2
    assert "MIGO_SYNC_WORKDAY_PASSWORD" in str(caught.value) and PASSWORD not in str(caught.value)


@pytest.mark.parametrize("first", [
    fault("SOAP-ENV:Server.processingError", "The server is busy.", processing=True),  # retriable fault
    fault("SOAP-ENV:Server", "Internal Server Error"),                                  # outcome unknown, keyed
    httpx.Response(500, text="<html>oops</html>"),                                      # a bare 500
    httpx.Response(502, text="bad gateway"),
    fault("SOAP-ENV:Client", "Too many requests", status=429),
    fault("SOAP-ENV:Server", "Service Unavailable", status=503),
    httpx.ReadError("connection dropped after the request was sent"),
])
def test_passing_failures_are_retried_because_every_call_is_idempotent(first: httpx.Response | Exception) -> None:
    seen: list[httpx.Request] = []
    client = client_with(answers(first, first, ok()), seen)
    result = client.submit_journal(BODY)
    assert result.fault is None and len(seen) == 3
    assert all(request.extensions.get("idempotent") for request in seen)


def test_a_tenant_that_stays_busy_is_unreachable_in_the_end() -> None:
    client = client_with(answers(fault("SOAP-ENV:Server.processingError", "busy", processing=True)))
    with pytest.raises(UnreachableError, match="gave up after"):
        client.submit_journal(BODY)


def test_a_fault_zeep_parses_itself_maps_the_same_way() -> None:
    """A fault over HTTP 200 (not SOAP 1.1, but seen behind some proxies) reaches zeep's own parser."""
    client = client_with(answers(fault("SOAP-ENV:Client.validationError", "Validation error occurred.",
                                       [Problem("Journal is out of balance.")], status=200)))
    result = client.submit_journal(BODY)
    assert result.fault is not None and result.fault.describe().startswith("Journal is out of balance.")
    client = client_with(answers(fault("SOAP-ENV:Client.authenticationError", "invalid username or password",
                                       status=200)))
    with pytest.raises(AuthError):
        client.ledger_accounts("Standard")


def test_what_goes_on_the_wire() -> None:
    seen: list[httpx.Request] = []
    client_with(answers(ok()), seen).submit_journal(BODY)
    [request] = seen
    assert request.method == "POST" and str(request.url) == URL
    assert request.headers["SOAPAction"] == '""' and request.headers["Content-Type"].startswith("text/xml")
    root = etree.fromstring(request.content)
    token = root.find(f"{{{ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    assert token is not None and token.findtext(f"{{{WSSE}}}Username") == "ISU_x@acme"
    assert token.findtext(f"{{{WSSE}}}Password") == PASSWORD
    body = root.find(f"{{{ENV}}}Body/{{{WD}}}Submit_Accounting_Journal_Request")
    assert body is not None and body.get(f"{{{WD}}}Add_Only") == "true" and body.get(f"{{{WD}}}version") == "v45.0"


def canonical(element: etree._Element) -> bytes:
    """Structural form: no whitespace between elements, the password masked, canonical XML."""
    copy = etree.fromstring(etree.tostring(element), parser=etree.XMLParser(remove_blank_text=True))
    for password in copy.iter(f"{{{WSSE}}}Password"):
        password.text = MASK
    return etree.tostring(copy, method="c14n2", strip_text=True)


@pytest.mark.parametrize(("name", "operation", "arguments"), [
    ("submit_accounting_journal", "Submit_Accounting_Journal", {"Accounting_Journal_Data": DATA, "Add_Only": True}),
    ("get_journals_window", "Get_Journals", journals_query(
        page=2, count=999, updated_from=datetime(2026, 11, 29, 23, 0, tzinfo=UTC),
        updated_to=datetime(2026, 11, 30, 2, 0, tzinfo=UTC), as_of=datetime(2026, 11, 30, 2, 0, tzinfo=UTC),
        company="MIGO_KE")),
    ("get_journals_period", "Get_Journals", journals_query(
        page=1, count=999, accounting_from=date(2026, 10, 1), accounting_to=date(2026, 10, 31))),
    ("get_account_sets", "Get_Account_Sets",
     {"Request_References": {"Account_Set_Reference": [ref("Standard", "Account_Set_ID")]}}),
])
def test_golden_envelopes(name: str, operation: str, arguments: dict[str, object]) -> None:
    client = client_with(answers(ok()))
    built = canonical(client.message(operation, **arguments))
    path = GOLDEN / f"{name}.xml"
    if RECORD:
        pretty = etree.tostring(etree.fromstring(built), pretty_print=True, xml_declaration=True, encoding="UTF-8")
        path.write_bytes(pretty)
    assert built == canonical(etree.parse(str(path)).getroot()), f"{name}: the envelope changed"


def test_journal_pages_read_exact_decimals_and_references() -> None:
    response = wd("Get_Journals_Response", version="v45.0")
    results = etree.SubElement(response, f"{{{WD}}}Response_Results")
    for tag, text in (("Total_Results", "1"), ("Total_Pages", "1"), ("Page_Results", "1"), ("Page", "1")):
        etree.SubElement(results, f"{{{WD}}}{tag}").text = text
    data = etree.SubElement(response, f"{{{WD}}}Response_Data")
    lxml_render_journal(data, {
        "wid": "w1", "id": "k1", "number": "JE-0000007", "status": "Posted", "company": "MIGO_KE", "currency": "KES",
        "date": "2026-10-14", "source": None, "memo": "Loan disbursements", "external_reference": "JE-20261014-DISB",
        "created": "2026-11-30T01:02:03.456789+00:00", "updated": "2026-11-30T01:02:03.456789+00:00",
        "lines": [{"order": "1", "account": "1100", "debit": "0.10", "credit": None, "currency": None, "memo": "a",
                   "worktags": {"Cost_Center_Reference_ID": "OPS", "Region_Reference_ID": "NBO"}},
                  {"order": "2", "account": "1000", "debit": None, "credit": "0.10", "currency": None, "memo": None,
                   "worktags": {}}]})
    page = parse_journals_page(success_envelope(response))
    [entry] = page.entries
    assert (page.page, page.total_pages, page.total_results) == (1, 1, 1)
    assert entry["WID"] == "w1" and entry["Accounting_Journal_ID"] == "k1" and entry["Journal_Status"] == "Posted"
    assert entry["Accounting_Date"] == date(2026, 10, 14) and entry["Total_Ledger_Debits"] == Decimal("0.10")
    assert entry["Creation_Date"] == datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=UTC)
    first, second = entry["lines"]
    assert first["Debit_Amount"] == Decimal("0.10") and first["Credit_Amount"] is None
    assert first["Worktags"] == {"Cost_Center_Reference_ID": "OPS", "Region_Reference_ID": "NBO"}
    assert second["Credit_Amount"] == Decimal("0.10") and second["Line_Number"] == 2


def test_paging_stops_when_the_tenant_answers_another_page() -> None:
    response = wd("Get_Journals_Response", version="v45.0")
    results = etree.SubElement(response, f"{{{WD}}}Response_Results")
    for tag, text in (("Total_Results", "3000"), ("Total_Pages", "4"), ("Page_Results", "999"), ("Page", "1")):
        etree.SubElement(results, f"{{{WD}}}{tag}").text = text
    client = client_with(answers(ok(success_envelope(response))))
    pages = client.iter_journals(count=999)
    assert next(pages).page == 1
    with pytest.raises(FatalRemoteError, match="answered page 1 when page 2"):
        next(pages)


def test_only_the_packaged_wsdl_is_ever_loaded() -> None:
    transport = HttpxTransport(httpx.Client())
    assert transport.load(str(WSDL_PATH)).startswith(b"<?xml")
    for url in ("https://community.workday.com/x.wsdl", "http://169.254.169.254/latest"):
        with pytest.raises(ExternalReferenceForbidden):
            transport.load(url)
    settings = safe_settings()
    assert (settings.strict, settings.xml_huge_tree, settings.forbid_dtd, settings.forbid_entities,
            settings.forbid_external) == (True, False, True, True, True)


def test_fault_parsing_is_safe_and_tolerant() -> None:
    assert parse_fault(b"not xml at all <Fault") is None
    assert parse_fault(success_envelope(wd("Get_Regions_Response"))) is None
    evil = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault>'
            b"<faultcode>e:Client</faultcode><faultstring>&e;</faultstring></e:Fault></e:Body></e:Envelope>")
    parsed = parse_fault(evil)
    assert parsed is None or "root:" not in parsed.message
    assert short_xpath("/ns0:Submit_Accounting_Journal_Request[1]/ns0:Accounting_Journal_Data[1]/ns0:Memo[1]") == (
        "Accounting_Journal_Data[1]/Memo[1]")


class _Statuses:
    """A client stand-in for await_imports: answers a scripted status per poll."""

    def __init__(self, answers: list[dict[str, str]]) -> None:
        self.answers, self.asked = answers, []

    def import_statuses(self, wids: list[str]) -> dict[str, str]:
        self.asked.append(list(wids))
        return self.answers.pop(0) if self.answers else {w: "Processing" for w in wids}


def test_imports_are_awaited_together_with_a_growing_pause_until_the_deadline() -> None:
    from migo_sync.adapters.workday.imports import await_imports
    from migo_sync.errors import OutcomeUnknownError

    now = [1000.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    client = _Statuses([{"a": "Processing", "b": "Completed"}, {"a": "Completed with Errors"}])
    done = await_imports(client, ["a", "b"], deadline=1010.0, clock=lambda: now[0], sleep=sleep)  # type: ignore[arg-type]
    assert done == {"a": "Completed with Errors", "b": "Completed"}
    assert client.asked == [["a", "b"], ["a"]] and pauses == [0.2]  # only the pending one is asked again
    stuck = _Statuses([])
    with pytest.raises(OutcomeUnknownError, match="still running at the deadline"):
        await_imports(stuck, ["c"], deadline=1015.0, clock=lambda: now[0], sleep=sleep)  # type: ignore[arg-type]
    assert pauses[1:] == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 3.6])  # doubling up to 5 s, never past
    assert now[0] == pytest.approx(1015.0)


def journals_page(page: int, total_pages: int, as_of: str | None) -> httpx.Response:
    response = wd("Get_Journals_Response", version="v45.0")
    if as_of is not None:
        etree.SubElement(etree.SubElement(response, f"{{{WD}}}Response_Filter"),
                         f"{{{WD}}}As_Of_Entry_DateTime").text = as_of
    results = etree.SubElement(response, f"{{{WD}}}Response_Results")
    for tag, text in (("Total_Results", str(total_pages * 2)), ("Total_Pages", str(total_pages)), ("Page", str(page))):
        etree.SubElement(results, f"{{{WD}}}{tag}").text = text
    return ok(success_envelope(response))


def asked(request: httpx.Request) -> tuple[int, str | None]:
    """(Page, As_Of_Entry_DateTime) of a Get_Journals request."""
    flt = etree.fromstring(request.content).find(f".//{{{WD}}}Response_Filter")
    assert flt is not None
    return int(flt.findtext(f"{{{WD}}}Page") or "1"), flt.findtext(f"{{{WD}}}As_Of_Entry_DateTime")


@pytest.mark.timeout(30)
def test_pages_after_the_first_are_pinned_to_the_tenants_moment_and_read_together() -> None:
    """A look-up names no moment: the tenant's answer to page 1 does, and pages 2-3 are asked as of
    it (Workday: a paged read must pin As_Of_Entry_DateTime), both in flight at once (a barrier
    only two concurrent requests pass)."""
    import threading

    barrier = threading.Barrier(2, timeout=10)
    seen: list[tuple[int, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page, as_of = asked(request)
        seen.append((page, as_of))
        if page > 1:
            barrier.wait()  # BrokenBarrierError (the test fails) unless pages 2 and 3 are in flight together
        return journals_page(page, 3, "2026-12-07T06:00:00.123456+00:00")

    pages = list(client_with(handler).iter_journals(count=2, concurrency=4, accounting_from=date(2026, 10, 1),
                                                    accounting_to=date(2026, 10, 31)))
    assert [p.page for p in pages] == [1, 2, 3]
    moment = datetime(2026, 12, 7, 6, 0, 0, 123456, tzinfo=UTC)  # zeep writes it with a Z
    assert seen[0] == (1, None) and [(page, datetime.fromisoformat(str(as_of).replace("Z", "+00:00")))
                                     for page, as_of in sorted(seen[1:])] == [(2, moment), (3, moment)]


def test_a_tenant_naming_no_moment_gets_its_pages_one_at_a_time() -> None:
    import threading

    in_flight, peak, lock = [0], [0], threading.Lock()
    seen: list[tuple[int, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            page, as_of = asked(request)
            seen.append((page, as_of))
            return journals_page(page, 3, None)
        finally:
            with lock:
                in_flight[0] -= 1

    pages = list(client_with(handler).iter_journals(count=2, concurrency=4, accounting_from=date(2026, 10, 1)))
    assert [p.page for p in pages] == [1, 2, 3] and seen == [(1, None), (2, None), (3, None)] and peak[0] == 1
