"""Workday: every SOAP body migo-sync sends in a real run validated against the schema a real
tenant's Financial_Management WSDL embeds (v30.0 subset, ../shared/recordings/workday), and the
project's own schema (which its emulator enforces) checked against that WSDL where they meet."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers.recordings import recording
from lxml import etree

from migo_sync.adapters.workday.emulator import INTEGRATIONS, OPERATIONS
from migo_sync.adapters.workday.soap import XSD_PATH

WSDL = "Financial_Management_v30.0.subset.wsdl"
NS = {"wsdl": "http://schemas.xmlsoap.org/wsdl/", "xsd": "http://www.w3.org/2001/XMLSchema"}
WD = "urn:com.workday/bsvc"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
VERSION_DRIFT = "v30.0"  # the recorded WSDL's version; migo-sync sends v45.0 (attribute only, not checked)


@pytest.fixture(scope="module")
def wsdl() -> etree._ElementTree:
    return etree.parse(str(recording("workday", WSDL)))


@pytest.fixture(scope="module")
def schema(wsdl: etree._ElementTree) -> etree.XMLSchema:
    [embedded] = wsdl.findall(".//wsdl:types/xsd:schema", NS)
    return etree.XMLSchema(etree.ElementTree(embedded))


def test_every_operation_the_adapter_or_emulator_knows_is_in_the_real_wsdl(wsdl: etree._ElementTree) -> None:
    real = {op.get("name") for op in wsdl.iterfind(".//wsdl:portType/wsdl:operation", NS)}
    assert set(OPERATIONS) <= real, set(OPERATIONS) - real
    assert "Get_Fiscal_Schedules" not in real
    ours = etree.parse(str(XSD_PATH)).getroot()
    requests = {e.get("name").removesuffix("_Request") for e in ours.iterfind("xsd:element", NS)
                if e.get("name", "").endswith("_Request")}
    # an import's status is read from the tenant's Integrations service (no recording of it here)
    assert requests - set(INTEGRATIONS) <= real, requests - set(INTEGRATIONS) - real


def test_the_import_answers_what_the_real_wsdl_says(wsdl: etree._ElementTree) -> None:
    """The recorded subset keeps the operation, not its types: its output message is the
    Put_Import_Process_Response the emulator answers and the client reads."""
    [operation] = wsdl.findall(".//wsdl:portType/wsdl:operation[@name='Import_Accounting_Journal']", NS)
    assert operation.find("wsdl:input", NS).get("message").endswith("Import_Accounting_Journal_RequestInputMsg")
    assert operation.find("wsdl:output", NS).get("message").endswith("Put_Import_Process_ResponseOutputMsg")
    ours = etree.parse(str(XSD_PATH)).getroot()
    names = {e.get("name") for e in ours.iterfind("xsd:element", NS)}
    assert {"Import_Accounting_Journal_Request", "Put_Import_Process_Response"} <= names


def test_the_project_schema_requires_what_the_real_one_requires(schema: etree.XMLSchema) -> None:
    """The emulator validates against the project's XSD: a journal the real schema refuses
    (no currency, no journal source) must be refused by ours too."""
    ours = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    journal = (f'<wd:Submit_Accounting_Journal_Request xmlns:wd="{WD}" wd:Add_Only="true">'
               "<wd:Accounting_Journal_Data>"
               '<wd:Company_Reference><wd:ID wd:type="Company_Reference_ID">MIGO_KE</wd:ID></wd:Company_Reference>'
               "{currency}"
               '<wd:Ledger_Type_Reference><wd:ID wd:type="Ledger_Type_ID">Actuals</wd:ID></wd:Ledger_Type_Reference>'
               "<wd:Accounting_Date>2026-10-14</wd:Accounting_Date>{source}"
               "</wd:Accounting_Journal_Data></wd:Submit_Accounting_Journal_Request>")
    currency = '<wd:Currency_Reference><wd:ID wd:type="Currency_ID">KES</wd:ID></wd:Currency_Reference>'
    source = ('<wd:Journal_Source_Reference><wd:ID wd:type="Journal_Source_ID">Integration</wd:ID>'
              "</wd:Journal_Source_Reference>")
    for parts, valid in (((currency, source), True), (("", source), False), ((currency, ""), False)):
        document = etree.fromstring(journal.format(currency=parts[0], source=parts[1]))
        assert schema.validate(document) is valid, schema.error_log.last_error
        assert ours.validate(document) is valid, ours.error_log.last_error


def test_every_request_of_a_real_run_validates_against_the_tenant_schema(
        schema: etree.XMLSchema, real_run: Callable[..., list[bytes]]) -> None:
    """An import's journals are the Accounting_Journal_Data Submit_Accounting_Journal takes (checked
    each, wrapped as a submit); the import element itself and the Integrations status reads have no
    recorded types (see the project XSD's note)."""
    captured = real_run("workday", 'closed_through = "2025-12"\n')
    operations = set()
    for body in captured:
        [payload] = etree.fromstring(body).find(f"{{{SOAP}}}Body")
        name = etree.QName(payload).localname
        operations.add(name)
        if name == "Import_Accounting_Journal_Request":
            for data in payload.iterfind(f"{{{WD}}}Accounting_Journal_Data"):
                submit = etree.Element(f"{{{WD}}}Submit_Accounting_Journal_Request", nsmap={"wd": WD})
                submit.set(f"{{{WD}}}Add_Only", payload.get(f"{{{WD}}}Add_Only", "true"))
                submit.append(data)
                assert schema.validate(submit), f"{schema.error_log.last_error}\n{body.decode()[:3000]}"
        elif name.removesuffix("_Request") not in INTEGRATIONS:
            assert schema.validate(payload), f"{schema.error_log.last_error}\n{body.decode()[:3000]}"
    assert operations == {"Import_Accounting_Journal_Request", "Get_Import_Processes_Request", "Get_Journals_Request",
                          "Get_Account_Sets_Request", "Get_Cost_Centers_Request", "Get_Regions_Request"}, operations
