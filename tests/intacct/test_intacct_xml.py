"""Golden request envelopes, and safe parsing of what comes back."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from intacct.intacct_support import journal, push_mapping

from migo_sync.adapters.intacct.adapter import glbatch_function, journal_layout
from migo_sync.adapters.intacct.client import read_by_query_function, trial_balance_function
from migo_sync.adapters.intacct.xml import (
    Login,
    XmlError,
    function,
    parse,
    parse_response,
    quote,
    record,
    request,
)
from migo_sync.ledger import build_journal

GOLDEN = Path(__file__).with_name("golden")
SENDER = {"sender_id": "golden-sender", "sender_password": "golden-sender-pw", "controlid": "req-1"}


def golden(name: str, content: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("MIGO_SYNC_RECORD"):
        path.write_bytes(content + b"\n")
    assert content + b"\n" == path.read_bytes(), f"request differs from {path}"


def test_session_request_logs_in_with_getapisession() -> None:
    body = request(**SENDER, login=Login("bot", "acme", "user-pw"), functions=[function("session", "getAPISession")])
    golden("get_api_session.xml", body)


def test_journal_request_carries_uniqueid_and_the_journal_controlid() -> None:
    unit = journal("JE-20261014-DISB", [("1100", "1500.00"), ("1150", "20.50"), ("1000", "-1520.50")],
                   date(2026, 10, 14))
    entry = build_journal(unit, journal_layout(push_mapping()))
    body = request(**SENDER, session_id="session-xyz", unique=True, functions=[glbatch_function(entry)])
    golden("create_glbatch.xml", body)
    assert b"<TRX_AMOUNT>1520.50</TRX_AMOUNT><TR_TYPE>-1</TR_TYPE>" in body


def test_read_request() -> None:
    fn = read_by_query_function("q", "GLENTRY", "WHENMODIFIED >= '10/01/2026 00:00:00'", "RECORDNO,TRX_AMOUNT", 1000)
    golden("read_by_query.xml", request(**SENDER, session_id="session-xyz", functions=[fn]))


def test_trial_balance_request() -> None:
    fn = trial_balance_function("tb", date(2026, 10, 1), date(2026, 10, 31))
    golden("get_trialbalance.xml", request(**SENDER, session_id="session-xyz", functions=[fn]))


def test_a_request_needs_credentials() -> None:
    with pytest.raises(ValueError, match="login or a session"):
        request(**SENDER, functions=[])


def test_entities_are_never_expanded() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<response><x>&b;</x></response>")
    with pytest.raises(XmlError, match="DOCTYPE"):
        parse(bomb)


def test_external_entities_are_not_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode()
    with pytest.raises(XmlError):
        parse(doc)


def test_malformed_xml_is_an_xml_error() -> None:
    with pytest.raises(XmlError, match="malformed"):
        parse(b"<response><control>")


def test_three_levels_of_a_response_are_read() -> None:
    envelope = parse_response(
        b"<response><control><status>success</status></control><operation>"
        b"<authentication><status>success</status><sessiontimeout>2026-11-30T12:00:00+00:00</sessiontimeout>"
        b"</authentication><result><status>failure</status><function>create</function><controlid>a</controlid>"
        b"<errormessage><error><errorno>BL01001973</errorno><description>d</description><description2>Bad journal"
        b"</description2><correction>Fix it</correction></error></errormessage></result>"
        b"<result><status>success</status><function>readByQuery</function><controlid>b</controlid>"
        b'<data count="1"><glaccount><ACCOUNTNO>1000</ACCOUNTNO><TITLE></TITLE><X><Y>1</Y></X></glaccount></data>'
        b"</result></operation></response>")
    assert envelope.control_status == "success" and envelope.auth_status == "success"
    assert envelope.session_timeout is not None and envelope.session_timeout.hour == 12
    failed, ok = envelope.results
    assert str(failed.errors[0]) == "BL01001973: Bad journal (correction: Fix it)"
    assert ok.ok and record(ok.data[0]) == {"ACCOUNTNO": "1000", "TITLE": None, "X": {"Y": "1"}}


def test_query_literals_escape_quotes() -> None:
    assert quote("Jane's \\ desk") == "'Jane\\'s \\\\ desk'"
