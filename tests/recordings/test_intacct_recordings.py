"""Sage Intacct XML gateway answers recorded by public clients (Sage's PHP SDK fixtures, a Go
client's captures), read by migo-sync's real client and adapter; and every request migo-sync
sends in a real run validated against the official request schema (api.xsd)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx
import pytest
from helpers.recordings import recorded_bytes, recording, replay_context
from lxml import etree

from migo_sync.adapters.intacct.adapter import IntacctAdapter
from migo_sync.adapters.intacct.xml import function, parse_timestamp
from migo_sync.errors import AuthError, FatalRemoteError, exit_code_for

URL = "https://api.intacct.com/ia/xml/xmlgw.phtml"
ENV = {"MIGO_SYNC_INTACCT_SENDER_ID": "testsenderid", "MIGO_SYNC_INTACCT_SENDER_PASSWORD": "pass",
       "MIGO_SYNC_INTACCT_COMPANY_ID": "testcompany", "MIGO_SYNC_INTACCT_USER_ID": "testuser",
       "MIGO_SYNC_INTACCT_USER_PASSWORD": "pw"}
SESSION = "sdkphp-SessionProviderTest.testFromLoginCredentials.L31.xml"


def adapter(answer: Callable[[bytes], tuple[int, str]]) -> tuple[IntacctAdapter, list[bytes]]:
    """The adapter over a transport that answers each request body with (status, recording)."""
    sent: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = request.read()
        sent.append(body)
        status, name = answer(body)
        return httpx.Response(status, content=recorded_bytes("intacct", name),
                              headers={"Content-Type": "text/xml"})

    return IntacctAdapter(replay_context("intacct", handler, url=URL, environ=ENV)), sent


def after_session(name: str, status: int = 200) -> Callable[[bytes], tuple[int, str]]:
    return lambda body: (200, SESSION) if b"getAPISession" in body else (status, name)


def test_a_session_is_opened_from_the_recorded_answer() -> None:
    found, sent = adapter(after_session(SESSION))
    session = found.client.session()
    assert session.session_id == "fAkESesSiOnId.."
    assert session.endpoint == "https://unittest.intacct.com/ia/xml/xmlgw.phtml"  # another intacct.com host
    assert session.expires == datetime.fromisoformat("2015-12-07T15:57:08-08:00")
    assert len(sent) == 1


@pytest.mark.parametrize(("name", "status", "code"), [
    ("jfcote87-execLoginInvalid.xml", 200, "XL03000006"),
    ("sdkphp-RequestHandlerTest.testMock400LevelErrorWithXmlResponse.L238.xml", 401, "XMLGW_JPP0002"),
    ("sdkphp-OnlineResponseTest.testResponseExceptionWithErrors.L179.xml", 200, "PL04000055"),
])
def test_refused_sign_ins_are_auth_errors_exit_2_naming_the_settings(name: str, status: int, code: str) -> None:
    found, _ = adapter(lambda body: (status, name))
    with pytest.raises(AuthError) as info:
        found.check_connection()
    assert exit_code_for(info.value) == 2
    assert code in str(info.value)
    assert "MIGO_SYNC_INTACCT_USER_PASSWORD" in str(info.value)


def test_a_request_refused_after_a_renewal_is_an_auth_error_and_stops() -> None:
    found, sent = adapter(after_session("jfcote87-sessionInvalid.xml"))
    found.client.session()  # the recorded session's timeout (2015) has passed: it is renewed at once
    with pytest.raises(AuthError, match="refused: XL03000006: Invalid session") as info:
        found.client.execute([function("f", "readMore", resultId="x")])
    assert exit_code_for(info.value) == 2
    # a session, then a new one beside the request with the login, which is refused: it stops there
    assert len(sent) == 3 and sum(b"<getAPISession/>" in body for body in sent) == 2


def test_a_first_read_refused_with_the_login_is_an_auth_error() -> None:
    found, sent = adapter(after_session("jfcote87-sessionInvalid.xml"))
    with pytest.raises(AuthError, match="login refused: XL03000006: Invalid session") as info:
        found.client.execute([function("f", "readMore", resultId="x")])
    assert exit_code_for(info.value) == 2
    assert len(sent) == 2  # the read (with the login) and the sign-in beside it, both answered


def test_a_request_the_gateway_cannot_parse_is_a_failed_mapping_exit_1() -> None:
    found, _ = adapter(after_session("jfcote87-execXMLError.xml"))
    with pytest.raises(FatalRemoteError, match="XL03000003: XML Parse schema error") as info:
        found.client.execute([function("f", "readMore", resultId="x")])
    assert exit_code_for(info.value) == 1


def test_a_refused_create_is_one_rejected_unit_not_a_duplicate() -> None:
    found, _ = adapter(after_session("jfcote87-execFuncError.xml"))
    results = found.client.execute([function("testFunctionId", "create")], unique=True)
    result = results["testFunctionId"]
    unit = found._unit_result("J1", result)
    assert not unit.ok and not unit.duplicate
    assert unit.reason is not None and unit.reason.startswith(
        "BL34000061: Another Project with the given value(s) Fellow PD1  already exists")
    assert "Could not create project record!" in unit.reason


def test_results_are_matched_by_controlid_and_read_exactly() -> None:
    found, _ = adapter(after_session("jfcote87-functionErrorSuccess.xml"))
    results = found.client.execute([function("abcdef", "read"), function("testFunctionId", "read")])
    assert results["abcdef"].ok and not results["testFunctionId"].ok
    data = results["abcdef"].data
    assert data is not None
    from migo_sync.adapters.intacct.xml import record

    assert record(data[0]) == {"RECORDNO": "16747", "VENDORID": "407258", "VENDORNAME": "FOSSE BOB",
                               "RECORDID": "E18-6465"}


def test_an_aborted_function_is_refused_with_its_reasons() -> None:
    found, _ = adapter(after_session("sdkphp-ResultTest.testStatusAbort.L299.xml"))
    with pytest.raises(FatalRemoteError, match="Object definition VENDOR9 not found"):
        found.client._only(found.client.execute([function("testFunctionId", "readByQuery")]), "testFunctionId",
                           "readByQuery")


def test_a_read_by_query_page_lands_exactly() -> None:
    found, _ = adapter(after_session("sdkphp-ResultTest.testLegacyReadByQueryClass.L517.xml"))
    results = found.client.execute([function("818b0a96-3faf-4931-97e6-1cf05818ea44", "readByQuery")])
    from migo_sync.adapters.intacct.client import page_of

    page = page_of(results["818b0a96-3faf-4931-97e6-1cf05818ea44"])
    assert (page.totalcount, page.numremaining, page.result_id) == (2, 1, "myResultId")
    [row] = page.records
    assert row["CLASSID"] == "C1234" and row["NAME"] == "hello world" and row["DESCRIPTION"] is None
    assert parse_timestamp(row["WHENMODIFIED"]) == datetime(2017, 7, 24, 15, 19, 46)


# -- what migo-sync sends, against the official schema ---------------------------------------------


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(recording("intacct", "api.xsd"))))


def test_every_request_of_a_real_run_validates_against_api_xsd(
        schema: etree.XMLSchema, real_run: Callable[..., list[bytes]]) -> None:
    captured = real_run("intacct")
    functions = set()
    for body in captured:
        document = etree.fromstring(body)
        functions.update(fn.tag for fn in document.iterfind("operation/content/function/*"))
        assert schema.validate(document), f"{schema.error_log.last_error}\n{body.decode()[:3000]}"
    assert {"getAPISession", "create", "readByQuery", "get_trialbalance"} <= functions, functions
