"""The emulator over real HTTP, spoken to in raw SOAP: WSDL, authentication, schema checks, the
journal rules, Add_Only, paging, and faults in Workday's own shape."""

from __future__ import annotations

import httpx
import pytest
import zeep
from lxml import etree
from workday.workday_support import WD, envelope, fault_of, line_xml, post, submit_body

from migo_sync.adapters.workday.emulator import WorkdayEmulator
from migo_sync.adapters.workday.soap import safe_settings
from migo_sync.sandbox.process import SandboxThread

BALANCED = line_xml("1100", debit="250.00") + line_xml("1000", credit="250.00")


def submit(workday: SandboxThread, journal_id: str = "J-1", lines: str = BALANCED, **kwargs: object) -> httpx.Response:
    return post(workday, envelope(submit_body(journal_id, lines, **kwargs)))  # type: ignore[arg-type]


def test_wsdl_is_served_whole_and_zeep_reads_it(workday: SandboxThread) -> None:
    url = workday.env["MIGO_SYNC_WORKDAY_URL"]
    response = httpx.get(url + "?wsdl")
    assert response.status_code == 200 and b"Financial_ManagementBinding" in response.content
    root = etree.fromstring(response.content)
    assert root.find(".//{http://www.w3.org/2001/XMLSchema}schema[@targetNamespace='urn:com.workday/bsvc']") is not None
    address = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None and address.get("location") == url
    client = zeep.Client(url + "?wsdl", settings=safe_settings())
    operations = set(client.service._binding._operations)
    assert {"Submit_Accounting_Journal", "Get_Journals", "Get_Account_Sets"} <= operations


def test_a_journal_is_posted_and_answered_with_its_references(workday: SandboxThread) -> None:
    response = submit(workday, "J-1")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(response.content)
    ids = {i.get(f"{{{WD}}}type"): i.text for i in root.iter(f"{{{WD}}}ID")}
    assert ids["Accounting_Journal_ID"] == "J-1" and len(ids["WID"]) == 32
    [journal] = workday.dump("workday")["journals"]
    assert journal["status"] == "Posted" and journal["id"] == "J-1" and journal["number"] == "JE-0000001"
    assert [(line["account"], line["debit"], line["credit"]) for line in journal["lines"]] == [
        ("1100", "250.00", None), ("1000", None, "250.00")]
    assert journal["lines"][0]["worktags"] == {"Cost_Center_Reference_ID": "OPS"}


def test_add_only_refuses_a_taken_accounting_journal_id(workday: SandboxThread, emulator: WorkdayEmulator) -> None:
    assert submit(workday, "J-1").status_code == 200
    again = submit(workday, "J-1")
    fault = fault_of(again)
    assert again.status_code == 500 and fault["code"] == "SOAP-ENV:Client.validationError"
    assert fault["messages"] == ["The Accounting Journal ID 'J-1' is already in use."]
    assert fault["xpaths"][0].endswith("/ns0:Accounting_Journal_ID[1]")
    assert fault["string"].startswith("Validation error occurred.")
    emulator.options["duplicate_message"] = "An instance already exists with ID {id}"
    assert fault_of(submit(workday, "J-1"))["messages"] == ["An instance already exists with ID J-1"]
    assert len(workday.dump("workday")["journals"]) == 1


@pytest.mark.parametrize(("lines", "kwargs", "message", "xpath_end"), [
    (line_xml("1100", debit="250.00") + line_xml("1000", credit="249.99"), {},
     "The journal entry is out of balance: total debits 250.00 do not equal total credits 249.99.",
     "Accounting_Journal_Data[1]"),
    (line_xml("1100", debit="250.00") + line_xml("9999", credit="250.00"), {},
     "Invalid ID value.  '9999' is not a valid ID value for type = 'Ledger_Account_ID'",
     "Journal_Entry_Line_Replacement_Data[2]/ns0:Ledger_Account_Reference[1]/ns0:ID[1]"),
    (line_xml("1100", debit="250.00", cost_center="MKT") + line_xml("1000", credit="250.00"), {},
     "Invalid ID value.  'MKT' is not a valid ID value for type = 'Cost_Center_Reference_ID'",
     "Journal_Entry_Line_Replacement_Data[1]/ns0:Worktags_Reference[1]/ns0:ID[1]"),
    (BALANCED, {"day": "2025-12-31"},
     "The accounting date 2025-12-31 falls in period Dec 2025, which is Closed for company MIGO_KE.",
     "ns0:Accounting_Date[1]"),
    (BALANCED, {"day": "2030-01-01"}, "No fiscal period exists for accounting date 2030-01-01.", "ns0:Accounting_Date[1]"),
    (BALANCED, {"company": "ACME"}, "Invalid ID value.  'ACME' is not a valid ID value for type = 'Company_Reference_ID'",
     "ns0:Company_Reference[1]/ns0:ID[1]"),
    (line_xml("1100", debit="250.00", credit="1.00") + line_xml("1000", credit="249.00"), {},
     "Line 1: enter a debit amount or a credit amount, not both.", "Journal_Entry_Line_Replacement_Data[1]"),
    (line_xml("1100", debit="250.001") + line_xml("1000", credit="250.001"), {},
     "Debit Amount 250.001 has more than 2 decimal places.", "ns0:Debit_Amount[1]"),
    (line_xml("1100", debit="0.00"), {}, "A journal entry must have at least 2 lines; this one has 1.",
     "Accounting_Journal_Data[1]"),
])
def test_the_tenant_refuses_a_bad_journal_with_a_validation_fault(
        workday: SandboxThread, lines: str, kwargs: dict[str, str], message: str, xpath_end: str) -> None:
    response = submit(workday, "J-bad", lines, **kwargs)
    fault = fault_of(response)
    assert response.status_code == 500 and fault["code"] == "SOAP-ENV:Client.validationError"
    assert message in fault["messages"]
    assert fault["xpaths"][fault["messages"].index(message)].endswith(xpath_end)
    assert workday.dump("workday")["journals"] == []


def test_credentials_are_checked_on_every_call(workday: SandboxThread) -> None:
    for body in (envelope("<wd:Get_Regions_Request/>", password="nope"),
                 envelope("<wd:Get_Regions_Request/>", username="ISU_migo_sync@other_tenant"),
                 envelope("<wd:Get_Regions_Request/>", header=False)):
        response = post(workday, body)
        assert response.status_code == 500
        assert fault_of(response) == {"code": "SOAP-ENV:Client.authenticationError",
                                      "string": "invalid username or password", "messages": [], "xpaths": [],
                                      "processing": None}


def test_requests_are_validated_against_the_schema(workday: SandboxThread) -> None:
    body = ('<wd:Get_Journals_Request><wd:Response_Filter><wd:Page>1</wd:Page><wd:Count>1000</wd:Count>'
            "</wd:Response_Filter></wd:Get_Journals_Request>")
    fault = fault_of(post(workday, envelope(body)))
    assert fault["code"] == "SOAP-ENV:Client.validationError" and "Count" in fault["messages"][0]
    assert "1000" in fault["messages"][0]  # at most 999: three digits (the tenant's XSD, or ours)
    unknown = fault_of(post(workday, envelope("<wd:Get_Everything_Request/>")))
    assert unknown["code"] == "SOAP-ENV:Client.validationError"


def test_xml_with_a_dtd_or_entities_is_refused(workday: SandboxThread) -> None:
    evil = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            + envelope("<wd:Get_Regions_Request/>").split(b"?>", 1)[1].replace(b"<env:Body>", b"<env:Body>&e;"))
    response = post(workday, evil)
    assert response.status_code == 500 and b"root:" not in response.content
    assert fault_of(response)["code"] == "SOAP-ENV:Client"


def _journal_page(workday: SandboxThread, page: int, count: int, as_of: str | None = None) -> etree._Element:
    as_of_xml = f"<wd:As_Of_Entry_DateTime>{as_of}</wd:As_Of_Entry_DateTime>" if as_of else ""
    body = (f"<wd:Get_Journals_Request><wd:Response_Filter>{as_of_xml}<wd:Page>{page}</wd:Page>"
            f"<wd:Count>{count}</wd:Count></wd:Response_Filter></wd:Get_Journals_Request>")
    response = post(workday, envelope(body))
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content)


def test_get_journals_pages_with_results_and_a_pinned_as_of(workday: SandboxThread) -> None:
    for n in range(5):
        assert submit(workday, f"J-{n}").status_code == 200
    first = _journal_page(workday, 1, 2)
    results = {e.tag.split("}")[1]: e.text for e in first.find(f".//{{{WD}}}Response_Results")}
    assert results == {"Total_Results": "5", "Total_Pages": "3", "Page_Results": "2", "Page": "1"}
    as_of = first.findtext(f".//{{{WD}}}Response_Filter/{{{WD}}}As_Of_Entry_DateTime")
    assert as_of
    assert submit(workday, "J-late").status_code == 200  # entered after as_of: not in this result set
    pages = [first] + [_journal_page(workday, p, 2, as_of) for p in (2, 3)]
    ids = [i.text for page in pages for i in page.iter(f"{{{WD}}}ID") if i.get(f"{{{WD}}}type") == "Accounting_Journal_ID"]
    assert ids == [f"J-{n}" for n in range(5)]
    last = pages[-1].find(f".//{{{WD}}}Response_Results/{{{WD}}}Page_Results")
    assert last is not None and last.text == "1"
    assert len(_journal_page(workday, 1, 999).findall(f".//{{{WD}}}Journal_Entry")) == 6


def test_a_busy_tenant_answers_with_a_processing_fault(workday: SandboxThread, emulator: WorkdayEmulator) -> None:
    emulator.options["busy_rate"] = 1.0
    response = post(workday, envelope("<wd:Get_Regions_Request/>"))
    fault = fault_of(response)
    assert response.status_code == 500 and fault["code"] == "SOAP-ENV:Server.processingError"
    assert fault["processing"] and "busy" in fault["processing"]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_injected_faults_come_in_the_soap_fault_shape(workday: SandboxThread, status: int) -> None:
    workday.faults(rate=1.0, kinds=[str(status)], systems=["workday"])
    response = post(workday, envelope("<wd:Get_Regions_Request/>"))
    assert response.status_code == status
    assert fault_of(response)["code"].startswith("SOAP-ENV:")
    assert ("Retry-After" in response.headers) == (status in (429, 503))


def test_state_survives_a_save_and_load(workday: SandboxThread, emulator: WorkdayEmulator) -> None:
    assert submit(workday, "J-1").status_code == 200
    state = emulator.state()
    fresh = WorkdayEmulator(seed=7)
    fresh.load(state)
    assert fresh.dump()["journals"] == emulator.dump()["journals"]
    assert "J-1" in fresh.books.by_id  # the Add_Only index is rebuilt from the journals


def test_the_chart_operations_answer_the_seeded_chart(workday: SandboxThread) -> None:
    root = etree.fromstring(post(workday, envelope(
        '<wd:Get_Account_Sets_Request><wd:Request_References><wd:Account_Set_Reference>'
        '<wd:ID wd:type="Account_Set_ID">Standard</wd:ID></wd:Account_Set_Reference></wd:Request_References>'
        "</wd:Get_Account_Sets_Request>")).content)
    accounts = [e.text for e in root.iter(f"{{{WD}}}Ledger_Account_Identifier")]
    assert accounts == ["1000", "1100", "1150", "1190", "2000", "3000", "4000", "4100", "5000", "6000"]
    regions = etree.fromstring(post(workday, envelope("<wd:Get_Regions_Request/>")).content)
    assert [e.text for e in regions.iter(f"{{{WD}}}Organization_Code")] == ["NBO", "MSA", "KSM"]
    # not an operation of the real Financial_Management WSDL: the emulator refuses it as the tenant does
    refused = post(workday, envelope("<wd:Get_Fiscal_Schedules_Request/>"))
    assert refused.status_code == 500 and b"Get_Fiscal_Schedules" in refused.content
