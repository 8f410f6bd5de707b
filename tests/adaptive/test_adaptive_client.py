"""The Adaptive client against httpx.MockTransport: golden envelopes, parsing, every error branch."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from migo_sync.adapters.adaptive import periods
from migo_sync.adapters.adaptive.client import AdaptiveClient, classify
from migo_sync.errors import AuthError, FatalRemoteError, MigoSyncError, UnreachableError
from migo_sync.http import make_client

ENDPOINT = "https://api.adaptiveinsights.com/api/v38"
LOGIN, PASSWORD = "golden-user@example.com", "golden-Secret-pw"
OK_EMPTY = b"<?xml version='1.0' encoding='UTF-8'?>\n<response success=\"true\"><output/></response>"


def client_with(handler: Callable[[httpx.Request], httpx.Response], api_version: int = 38,
                instance_code: str | None = None) -> tuple[AdaptiveClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    http = make_client("adaptive", ENDPOINT, classify=classify, transport=httpx.MockTransport(record))
    return AdaptiveClient(http, ENDPOINT, login=LOGIN, password=PASSWORD, api_version=api_version,
                          instance_code=instance_code), seen


def xml(body: str, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=("<?xml version='1.0' encoding='UTF-8'?>\n" + body).encode(),
                          headers={"Content-Type": "text/xml; charset=UTF-8"})


def test_export_data_envelope_is_golden() -> None:
    client, seen = client_with(lambda r: xml('<response success="true"><output><![CDATA['
                                             "Account Name,Account Code,Level Name,Region,01/2026,02/2026,03/2026\n"
                                             "]]></output></response>"))
    client.export_data("Forecast Q4 2026", periods.parse("2026-01"), periods.parse("2026-03"),
                       accounts=["Revenue"], levels=["OPS"], dimensions=["Region"],
                       dimension_values={"Product": "sme"})
    request = seen[0]
    assert request.method == "POST" and str(request.url) == ENDPOINT
    assert request.headers["content-type"] == "text/xml; charset=UTF-8"
    assert request.content.decode() == (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<call method="exportData" callerName="migo-sync">'
        f'<credentials login="{LOGIN}" password="{PASSWORD}"/>'
        '<version name="Forecast Q4 2026" isDefault="false"/>'
        '<format useInternalCodes="true" includeUnmappedItems="false"/>'
        "<filters>"
        '<accounts><account code="Revenue" isAssumption="false" includeDescendants="true"/></accounts>'
        '<levels><level name="OPS" isRollup="false" includeDescendants="true"/></levels>'
        '<dimensionValues><dimensionValue dimName="Product" name="sme" directChildren="false"/></dimensionValues>'
        '<timeSpan start="01/2026" end="03/2026"/>'
        "</filters>"
        '<dimensions><dimension name="Region"/></dimensions>'
        '<rules includeZeroRows="false" markInvalidValues="false" markBlanks="false" timeRollups="false" '
        'includeRollupAccounts="false" includeRollupLevels="false"/>'
        "</call>")


def test_rules_before_v25_use_include_rollups() -> None:
    client, seen = client_with(lambda r: xml('<response success="true"><output><![CDATA['
                                             "Account Name,Account Code,Level Name,01/2026\n]]></output></response>"),
                               api_version=24)
    client.export_data("Actuals", 24312, 24312, include_rollups=True)
    assert b'includeRollups="true"' in seen[0].content
    assert b"includeRollupAccounts" not in seen[0].content


def test_import_envelope_is_golden_and_rows_imported_is_read() -> None:
    answer = ('<response success="true"><messages><message key="standard-import-success" type="INFO">'
              "Standard data import successful. Rows imported: 2</message></messages></response>")
    client, seen = client_with(lambda r: xml(answer), instance_code="ACME1")
    result = client.import_data(version="Actuals", plan_or_actuals="Actuals", header=["Account", "Level", "01/2026"],
                                rows=["4000|OPS|100.5", "4100|OPS|-2"])
    assert result.success and result.rows_imported == 2
    assert seen[0].content.decode() == (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<call method="importStandardData" callerName="migo-sync">'
        f'<credentials login="{LOGIN}" password="{PASSWORD}" instanceCode="ACME1"/>'
        '<importDataOptions planOrActuals="Actuals" allowParallel="false" moveBPtr="false"/>'
        '<version name="Actuals" isDefault="false"/>'
        "<rowData><header>Account|Level|01/2026</header>"
        "<rows><row>4000|OPS|100.5</row><row>4100|OPS|-2</row></rows></rowData>"
        "</call>")


def test_cube_import_names_the_sheet() -> None:
    client, seen = client_with(lambda r: xml('<response success="true"><messages><message key="cube-import-success">'
                                             "Rows imported: 1</message></messages></response>"))
    client.import_data(version="Budget FY2026", plan_or_actuals="Plan", header=["Product", "Account", "Level", "01/2026"],
                       rows=["sme|LoanBook.Balance|OPS|5"], sheet="Loan Book")
    body = seen[0].content.decode()
    assert '<call method="importCubeData"' in body
    assert '<sheet name="Loan Book" isUserAssigned="false"/>' in body


def test_credentials_with_quotes_are_escaped() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.read())
        return xml('<response success="true"><output><versions/></output></response>')

    http = make_client("adaptive", ENDPOINT, transport=httpx.MockTransport(handler))
    AdaptiveClient(http, ENDPOINT, login="a&b@x.io", password='p"<w>').export_versions()
    assert b'login="a&amp;b@x.io" password="p&quot;&lt;w&gt;"' in seen[0]


def test_export_csv_is_parsed_with_exact_decimals_quotes_and_blanks() -> None:
    csv_text = ("Account Name,Account Code,Level Name,Region,01/2026,02/2026\n"
                '"Fees, late",4100,OPS,NBO,-334.123,\n'
                "Interest Income,4000,FIN,,\"1,250.10\",0.1\n")
    client, _ = client_with(lambda r: xml(f'<response success="true"><output><![CDATA[{csv_text}]]></output></response>'))
    export = client.export_data("Actuals", periods.parse("2026-01"), periods.parse("2026-02"), dimensions=["Region"])
    rows = list(export.rows)
    assert export.periods == [periods.parse("2026-01"), periods.parse("2026-02")]
    assert rows[0].account_name == "Fees, late" and rows[0].dimensions == ("NBO",)
    assert rows[0].values == (Decimal("-334.123"), None)
    assert rows[1].values == (Decimal("1250.10"), Decimal("0.1"))
    assert all(isinstance(v, Decimal) for r in rows for v in r.values if v is not None)


def test_empty_export_is_the_header_only() -> None:
    client, _ = client_with(lambda r: xml('<response success="true"><output><![CDATA[Account Name,Account Code,'
                                          "Level Name,01/2026\n]]></output></response>"))
    assert list(client.export_data("Actuals", 24312, 24312).rows) == []


@pytest.mark.parametrize(("csv_text", "fragment"), [
    ("Account,Code,Level,01/2026\n", "unexpected CSV header"),
    ("Account Name,Account Code,Level Name,01/2026\n4000,4000,OPS,1,2\n", "line 2 has 5 fields"),
    ("Account Name,Account Code,Level Name,01/2026\n4000,4000,OPS,abc\n", "'abc' is not a number"),
    ("Account Name,Account Code,Level Name,Region,01/2026\n", "1 dimension columns for 0"),
    ("", "no header"),
])
def test_malformed_export_is_a_fatal_remote_error(csv_text: str, fragment: str) -> None:
    client, _ = client_with(lambda r: xml(f'<response success="true"><output><![CDATA[{csv_text}]]></output></response>'))
    with pytest.raises(FatalRemoteError, match=fragment):
        list(client.export_data("Actuals", 24312, 24312).rows)


def test_authentication_failure_is_an_auth_error_never_retried_and_never_shows_the_login() -> None:
    client, seen = client_with(lambda r: xml(
        '<response success="false"><messages><message key="error-authentication-failure">'
        f"Authentication failed for User: {LOGIN}</message></messages></response>"))
    with pytest.raises(AuthError) as caught:
        client.export_versions()
    assert len(seen) == 1
    assert caught.value.exit_code == 2 and caught.value.code == "error-authentication-failure"
    assert LOGIN not in str(caught.value) and PASSWORD not in str(caught.value)
    assert "MIGO_SYNC_ADAPTIVE_LOGIN" in str(caught.value)


def test_server_busy_is_retried() -> None:
    answers = [xml('<response success="false"><messages><message key="error-server-busy">Busy</message>'
                   "</messages></response>"), xml('<response success="true"><output><versions/></output></response>')]
    client, seen = client_with(lambda r: answers.pop(0))
    assert client.export_versions() == []
    assert len(seen) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_transient_http_failures_are_retried_for_imports_too(status: int) -> None:
    """Imports overwrite the cells they name, so a resend after an unknown outcome is safe."""
    answers = [httpx.Response(status, content=b"<response success='false'/>"),
               xml('<response success="true"><messages><message key="standard-import-success">'
                   "Rows imported: 1</message></messages></response>")]
    client, seen = client_with(lambda r: answers.pop(0))
    result = client.import_data(version="Actuals", plan_or_actuals="Actuals", header=["Account", "Level", "01/2026"],
                                rows=["4000|OPS|1"])
    assert result.rows_imported == 1 and len(seen) == 2
    assert seen[0].content == seen[1].content


def test_other_refusals_are_fatal_with_the_message_key() -> None:
    client, _ = client_with(lambda r: xml('<response success="false"><messages><message key="error-invalid-version">'
                                          "Version 'Nope' does not exist.</message></messages></response>"))
    with pytest.raises(FatalRemoteError, match="Version 'Nope' does not exist") as caught:
        client.export_accounts("Nope")
    assert caught.value.code == "error-invalid-version"


def test_import_refused_row_by_row_is_returned_not_raised() -> None:
    client, _ = client_with(lambda r: xml(
        '<response success="false"><messages><message key="error-invalid-account">Row 1: Account \'9\' does not '
        "exist.</message></messages></response>"))
    result = client.import_data(version="Actuals", plan_or_actuals="Actuals", header=["Account", "Level", "01/2026"],
                                rows=["9|OPS|1"])
    assert not result.success and result.messages[0].key == "error-invalid-account"
    assert result.rows_imported is None


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    b'<response success="true"><output>&b;</output></response>',
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><response success="true">'
    b"<output>&x;</output></response>",
    b"<response success='true'><output>",
    b"not xml at all",
])
def test_unsafe_or_broken_xml_is_refused(body: bytes) -> None:
    client, _ = client_with(lambda r: httpx.Response(200, content=body))
    with pytest.raises(FatalRemoteError, match="unreadable body"):
        client.export_versions()


def test_non_200_with_an_envelope_is_an_error() -> None:
    client, _ = client_with(lambda r: xml('<response success="false"><messages><message key="error-invalid-api-version">'
                                          "API version v99 is not supported.</message></messages></response>", 404))
    with pytest.raises(FatalRemoteError, match="v99"):
        client.export_versions()


def test_a_dropped_connection_is_resent_then_given_up() -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    client, seen = client_with(drop)
    with pytest.raises((UnreachableError, MigoSyncError)):
        client.export_versions()
    assert len(seen) > 1  # resent: an export is a read


def test_metadata_trees_are_flattened_with_parent_keys() -> None:
    body = ('<response success="true"><output><accounts>'
            '<account id="1" code="NetIncome" name="Net Income" accountTypeCode="INCOME" isImportable="false">'
            '<account id="2" code="Revenue" name="Total Revenue" accountTypeCode="INCOME">'
            '<account id="3" code="4000" name="Interest Income" isImportable="true" owningSheetId=""/>'
            "</account></account></accounts></output></response>")
    client, seen = client_with(lambda r: xml(body))
    accounts = client.export_accounts("Actuals")
    assert b'<include versionName="Actuals" inaccessibleValues="false"/>' in seen[0].content
    assert [(a["code"], a["parent_code"], a["parent_id"], a["depth"], a["is_rollup"]) for a in accounts] == [
        ("NetIncome", None, None, 0, True), ("Revenue", "NetIncome", 1, 1, True), ("4000", "Revenue", 2, 2, False)]
    assert accounts[2]["is_importable"] is True and accounts[1]["is_importable"] is None
    assert accounts[2]["owning_sheet_id"] is None


def test_versions_folders_and_ranges() -> None:
    body = ('<response success="true"><output><versions>'
            '<version id="2" name="Budgets" type="VERSION_FOLDER">'
            '<version id="4" name="Budget FY2025" type="PLANNING" isLocked="true" startVer="01/2025" '
            'endVer="12/2025"/></version></versions></output></response>')
    client, _ = client_with(lambda r: xml(body))
    folder, budget = client.export_versions()
    assert folder["type"] == "VERSION_FOLDER" and budget["parent_name"] == "Budgets"
    assert budget["is_locked"] is True and (budget["start"], budget["end"]) == ("2025-01", "2025-12")


def test_dimension_values_carry_their_dimension() -> None:
    body = ('<response success="true"><output><dimensions><dimension id="1" name="Region" autoCreate="false">'
            '<dimensionValue id="11" name="East"><dimensionValue id="12" name="NBO" description="Nairobi"/>'
            '</dimensionValue></dimension><dimension id="2" name="Empty"/></dimensions></output></response>')
    client, _ = client_with(lambda r: xml(body))
    values = client.export_dimensions()
    assert [(v["dimension"], v["name"], v["parent_name"]) for v in values] == [
        ("Region", "East", None), ("Region", "NBO", "East")]
