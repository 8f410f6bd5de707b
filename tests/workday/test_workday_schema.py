"""The Workday emulator validates with the schema a real tenant served: the XSD embedded in the
recorded `Financial_Management` WSDL (`../shared/recordings/workday`, read in place). A request
that schema refuses gets the tenant's Client.validationError fault; one it accepts is answered,
even where the project's own XSD (the fallback without recordings) is narrower."""

from __future__ import annotations

import pytest
from helpers.recordings import recording
from workday.workday_support import envelope, fault_of, post

from migo_sync.adapters.workday.emulator import RECORDED_WSDL, WorkdayEmulator
from migo_sync.sandbox.process import SandboxThread
from migo_sync.sandbox.schemas import ENV

pytestmark = pytest.mark.timeout(60)

JOURNAL = ('<wd:Submit_Accounting_Journal_Request wd:Add_Only="true"><wd:Accounting_Journal_Data>'
           '<wd:Company_Reference><wd:ID wd:type="Company_Reference_ID">MIGO_KE</wd:ID></wd:Company_Reference>'
           '<wd:Ledger_Type_Reference><wd:ID wd:type="Ledger_Type_ID">Actuals</wd:ID></wd:Ledger_Type_Reference>'
           "<wd:Accounting_Date>2026-10-14</wd:Accounting_Date>"
           "</wd:Accounting_Journal_Data></wd:Submit_Accounting_Journal_Request>")
INCLUDE_REFERENCE = ("<wd:Get_Journals_Request><wd:Response_Group><wd:Include_Reference>true</wd:Include_Reference>"
                     "</wd:Response_Group></wd:Get_Journals_Request>")
REGIONS_WITH_GROUP = ("<wd:Get_Regions_Request><wd:Response_Group><wd:Include_Reference>true</wd:Include_Reference>"
                      "</wd:Response_Group></wd:Get_Regions_Request>")


@pytest.fixture(autouse=True)
def _wsdl_present() -> None:
    recording("workday", RECORDED_WSDL)  # skips, saying where it looked, when the recordings are absent


@pytest.mark.parametrize(("body", "named"), [
    (JOURNAL, "Currency_Reference"),                         # no currency, no journal source
    (INCLUDE_REFERENCE, "Include_Reference"),                # not in the real Response_Group
    ("<wd:Get_Fiscal_Schedules_Request/>", "Get_Fiscal_Schedules_Request"),  # not an operation of it
], ids=["journal-without-currency", "get-journals-include-reference", "get-fiscal-schedules"])
def test_what_the_tenant_schema_refuses_is_refused(body: str, named: str, workday: SandboxThread) -> None:
    response = post(workday, envelope(body))
    fault = fault_of(response)
    assert response.status_code == 500
    assert fault["code"] == "SOAP-ENV:Client.validationError", fault
    assert named in fault["string"], fault


def test_the_tenant_schema_is_the_one_used(workday: SandboxThread, emulator: WorkdayEmulator,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Get_Regions with a Response_Group: the real schema allows it, the project's XSD does not."""
    response = post(workday, envelope(REGIONS_WITH_GROUP))
    assert response.status_code == 200, response.text
    emulator.options["request_schema"] = ""  # the project's own XSD only
    assert fault_of(post(workday, envelope(REGIONS_WITH_GROUP)))["code"] == "SOAP-ENV:Client.validationError"
    emulator.options["request_schema"] = str(recording("workday", RECORDED_WSDL))  # named explicitly
    assert post(workday, envelope(REGIONS_WITH_GROUP)).status_code == 200
    emulator.options.pop("request_schema")
    monkeypatch.setenv(ENV, "/nonexistent/recordings")  # no recordings there: the project's XSD
    assert post(workday, envelope(REGIONS_WITH_GROUP)).status_code == 500
