"""The Intacct emulator refuses what the official request schema refuses: with
`../shared/recordings/intacct/api.xsd` beside the repository (read in place), every request is
validated against it and an invalid one gets the gateway's own answer, a control failure
XL03000003 "XML Parse schema error: ..." (the shape of the recorded jfcote87-execXMLError.xml)."""

from __future__ import annotations

import pytest
from helpers.recordings import recorded_bytes, recording
from intacct.intacct_support import envelope, post

from migo_sync.adapters.intacct.emulator import IntacctEmulator
from migo_sync.adapters.intacct.xml import parse_response
from migo_sync.sandbox.process import SandboxThread
from migo_sync.sandbox.schemas import ENV

pytestmark = pytest.mark.timeout(60)

# readByQuery without its required <query> element (the XSD requires it, even empty)
NO_QUERY = ('<function controlid="r"><readByQuery><object>GLACCOUNT</object><fields>*</fields>'
            "<pagesize>1</pagesize></readByQuery></function>")
VALID = ('<function controlid="r"><readByQuery><object>GLACCOUNT</object><fields>*</fields><query></query>'
         "<pagesize>1</pagesize></readByQuery></function>")


@pytest.fixture(autouse=True)
def _schema_present() -> None:
    recording("intacct", "api.xsd")  # skips, saying where it looked, when the recordings are absent


def test_a_schema_invalid_request_gets_the_gateways_refusal(intacct: SandboxThread) -> None:
    response = post(intacct, envelope(NO_QUERY))
    env = parse_response(response.content)
    assert response.status_code == 200
    assert env.control_status == "failure" and env.results == []
    [error] = env.control_errors
    assert error.errorno == "XL03000003" and error.description == "" and error.correction == ""
    assert error.description2.startswith("XML Parse schema error: Error ")
    assert "'readByQuery'" in error.description2 and "query" in error.description2
    assert "Line: " in error.description2
    # the same shape as the recorded gateway answer: control failure, errors at control level
    recorded = parse_response(recorded_bytes("intacct", "jfcote87-execXMLError.xml"))
    assert (recorded.control_status, recorded.control_errors[0].errorno) == ("failure", error.errorno)
    assert recorded.control_errors[0].description2.startswith("XML Parse schema error: ")


def test_a_valid_request_is_answered(intacct: SandboxThread) -> None:
    env = parse_response(post(intacct, envelope(VALID)).content)
    assert env.control_status == "success" and env.results[0].status == "success"


def test_an_unknown_function_is_refused_by_the_schema(intacct: SandboxThread) -> None:
    env = parse_response(post(intacct, envelope('<function controlid="x"><readEverything/></function>')).content)
    assert env.control_errors[0].errorno == "XL03000003"
    assert "readEverything" in env.control_errors[0].description2


def test_the_schema_can_be_named_or_switched_off(intacct: SandboxThread, emulator: IntacctEmulator,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    emulator.options["request_schema"] = str(recording("intacct", "api.xsd"))  # an explicit path
    assert parse_response(post(intacct, envelope(NO_QUERY)).content).control_errors[0].errorno == "XL03000003"
    emulator.options["request_schema"] = ""  # off: the emulator's own checks only
    env = parse_response(post(intacct, envelope(NO_QUERY)).content)
    assert env.control_status == "success"
    emulator.options.pop("request_schema")
    monkeypatch.setenv(ENV, "/nonexistent/recordings")  # recordings elsewhere: none found there
    env = parse_response(post(intacct, envelope(NO_QUERY)).content)
    assert env.control_status == "success"
