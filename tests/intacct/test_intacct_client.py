"""The gateway client over httpx.MockTransport: sessions, the three error levels, throttles, 524s."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from migo_sync.adapters.intacct.client import (
    IntacctClient,
    classify,
    read_by_query_function,
    trusted_endpoint,
)
from migo_sync.adapters.intacct.emulator import DEFAULTS, IntacctEmulator
from migo_sync.adapters.intacct.xml import Login, function, parse
from migo_sync.errors import AuthError, FatalRemoteError, UnreachableError
from migo_sync.http import make_client

URL = "https://api.intacct.test/ia/xml/xmlgw.phtml"
POD = "https://api.intacct.test/na1/ia/xml/xmlgw.phtml"
Handler = Callable[[httpx.Request], httpx.Response]


class Gateway:
    """A MockTransport handler backed by the emulator's document handling, with hooks to misbehave."""

    def __init__(self) -> None:
        self.emulator = IntacctEmulator(seed=1)
        self.seen: list[httpx.Request] = []
        self.before: Callable[[httpx.Request], httpx.Response | None] = lambda request: None
        self.after_commit: Callable[[httpx.Request], httpx.Response | None] = lambda request: None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        early = self.before(request)
        if early is not None:
            return early
        xml, wrote = self.emulator.handle(request.content, POD)
        late = self.after_commit(request) if wrote else None
        return late or httpx.Response(200, content=xml.encode(), headers={"Content-Type": "application/xml"})

    def functions(self, index: int) -> list[str]:
        return [f[0].tag for f in parse(self.seen[index].content).iter("function")]

    def calls(self, first: int, last: int | None = None) -> list[tuple[str, str, str]]:
        """(url, functions, auth) of seen[first:last], sorted: the calls of one round trip, in any order."""
        out = []
        for i in range(first, len(self.seen) if last is None else last):
            auth = parse(self.seen[i].content).find("operation/authentication")
            out.append((str(self.seen[i].url), "+".join(self.functions(i)),
                        "session" if auth is not None and auth.find("sessionid") is not None else "login"))
        return sorted(out)


SIGN_IN = [(URL, "getAPISession", "login"), (URL, "readByQuery", "login")]  # together: one round trip


def client(gateway: Handler, *, user_password: str | None = None, now: Callable[[], datetime] | None = None,
           sender_password: str | None = None) -> IntacctClient:
    http = make_client("intacct", URL, classify=classify, transport=httpx.MockTransport(gateway))
    return IntacctClient(http, url=URL, sender_id=DEFAULTS["sender_id"],
                         sender_password=sender_password or DEFAULTS["sender_password"],
                         login=Login(DEFAULTS["user_id"], DEFAULTS["company_id"],
                                     user_password or DEFAULTS["user_password"]), now=now)


def read_accounts(c: IntacctClient) -> list[str]:
    return [r["ACCOUNTNO"] for page in c.read_by_query("GLACCOUNT", "", "ACCOUNTNO") for r in page.records]


def test_one_session_is_reused_and_its_endpoint_honoured() -> None:
    gateway = Gateway()
    c = client(gateway)
    for _ in range(3):
        assert len(read_accounts(c)) == 10
    assert gateway.calls(0, 2) == SIGN_IN
    assert gateway.calls(2) == [(POD, "readByQuery", "session")] * 2
    assert b"<sessionid>" in gateway.seen[2].content and b"<login>" not in gateway.seen[2].content


def test_the_first_read_goes_with_the_login_while_the_session_is_fetched() -> None:
    """Both requests are in flight at once (the sign-in costs no round trip of its own)."""
    gateway = Gateway()
    both = threading.Barrier(2, timeout=10)  # each answer waits until the other request arrived

    def together(request: httpx.Request) -> None:
        both.wait()

    gateway.before = together
    c = client(gateway)
    assert len(read_accounts(c)) == 10
    assert gateway.calls(0) == SIGN_IN
    gateway.before = lambda request: None
    read_accounts(c)
    assert gateway.calls(2) == [(POD, "readByQuery", "session")]


def test_a_write_waits_for_the_session() -> None:
    gateway = Gateway()
    c = client(gateway)
    c.execute([read_by_query_function("w1", "GLACCOUNT", "", "ACCOUNTNO", 10)], unique=True)
    assert [gateway.calls(i, i + 1)[0][1:] for i in range(2)] == [("getAPISession", "login"), ("readByQuery", "session")]


def test_an_expiring_session_is_renewed() -> None:
    gateway = Gateway()
    clock = [datetime(2030, 1, 1, tzinfo=UTC)]  # one exact fake clock for the client and the gateway
    gateway.emulator.now = lambda: clock[0].timestamp()  # type: ignore[method-assign]
    c = client(gateway, now=lambda: clock[0])
    read_accounts(c)
    clock[0] += timedelta(seconds=DEFAULTS["session_seconds"] - 30)  # inside the 60 s margin
    read_accounts(c)
    assert gateway.calls(0, 2) == SIGN_IN and gateway.calls(2) == SIGN_IN


def test_a_session_the_gateway_dropped_is_renewed_and_the_request_resent_once() -> None:
    gateway = Gateway()
    c = client(gateway)
    read_accounts(c)
    gateway.emulator.sessions.clear()
    assert len(read_accounts(c)) == 10
    assert gateway.calls(0, 2) == SIGN_IN
    assert gateway.calls(2, 3) == [(POD, "readByQuery", "session")]  # refused: no function ran
    assert gateway.calls(3) == SIGN_IN


def test_user_login_refused_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match="login refused: XL03000006: Sign-in information is incorrect"):
        read_accounts(client(Gateway(), user_password="wrong-user-pw"))


def test_sender_refused_at_control_level_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match="sign-in refused: XL03000006: Incorrect Intacct XML Partner ID") as info:
        read_accounts(client(Gateway(), sender_password="wrong-sender-pw"))
    assert "wrong-sender-pw" not in str(info.value)


def test_schema_error_at_control_level_is_fatal() -> None:
    gateway = Gateway()
    gateway.before = lambda request: httpx.Response(200, content=IntacctEmulator.control_failure(
        "s", "c", [("XL03000003", "XML Parse schema error", "XML Parse schema error: bad", "")]).encode())
    with pytest.raises(FatalRemoteError, match="request refused: XL03000003: XML Parse schema error: bad"):
        read_accounts(client(gateway))


def test_a_function_failure_is_returned_with_its_errors() -> None:
    c = client(Gateway())
    results = c.execute([read_by_query_function("bad", "GLACCOUNT", "NOPE = 'x'", "*", 10),
                         read_by_query_function("good", "GLACCOUNT", "", "ACCOUNTNO", 10)])
    assert not results["bad"].ok and results["good"].ok
    assert "unknown field 'NOPE'" in str(results["bad"].errors[0])
    with pytest.raises(FatalRemoteError, match="readByQuery failed: Query Failed: unknown field 'NOPE'"):
        list(c.read_by_query("GLACCOUNT", "NOPE = 'x'"))


def test_results_are_matched_by_controlid_not_order() -> None:
    gateway = Gateway()
    inner = gateway.emulator.handle

    def reversed_results(body: bytes, endpoint: str) -> tuple[str, bool]:
        xml, wrote = inner(body, endpoint)
        head, _, rest = xml.partition("<result>")
        results = ("<result>" + rest).removesuffix("</operation></response>").split("</result>")[:-1]
        return head + "".join(r + "</result>" for r in reversed(results)) + "</operation></response>", wrote

    gateway.emulator.handle = reversed_results  # type: ignore[method-assign]
    found = client(gateway).read_lists({"accounts": ("GLACCOUNT", "ACCOUNTNO", ""),
                                        "locations": ("LOCATION", "LOCATIONID", "")})
    assert [r["LOCATIONID"] for r in found["locations"]] == ["NBO", "MSA", "KSM"]
    assert len(found["accounts"]) == 10


@pytest.mark.parametrize("status", [200, 429])
def test_gw_0010_is_backed_off_and_retried(status: int) -> None:
    gateway = Gateway()
    throttles = [2]

    def throttle(request: httpx.Request) -> httpx.Response | None:
        if throttles[0] and b"readByQuery" in request.content:
            throttles[0] -= 1
            return httpx.Response(status, content=gateway.emulator.throttled(status, None).body)
        return None

    gateway.before = throttle
    assert len(read_accounts(client(gateway))) == 10
    assert len(gateway.seen) == 4  # session + 2 throttled + 1 answered


def test_a_200_with_an_unreadable_body_is_a_failure() -> None:
    gateway = Gateway()
    gateway.before = lambda request: httpx.Response(200, content=b"<html>maintenance</html>")
    with pytest.raises(FatalRemoteError, match="expected a <response> document"):
        read_accounts(client(gateway))


def test_write_lost_after_commit_is_resent_with_the_same_controlid_and_refused_as_duplicate() -> None:
    gateway = Gateway()
    lost = [1]

    def timeout_after_commit(request: httpx.Request) -> httpx.Response | None:
        if lost[0]:
            lost[0] -= 1
            return httpx.Response(524, content=b"<html>524: A timeout occurred</html>")
        return None

    gateway.after_commit = timeout_after_commit
    c = client(gateway)
    body = function("migo-abc", "create")
    from lxml import etree

    body.body.append(etree.fromstring(
        "<GLBATCH><JOURNAL>GJ</JOURNAL><BATCH_DATE>10/14/2026</BATCH_DATE><BATCH_TITLE>t</BATCH_TITLE><ENTRIES>"
        "<GLENTRY><ACCOUNTNO>1100</ACCOUNTNO><TRX_AMOUNT>5</TRX_AMOUNT><TR_TYPE>1</TR_TYPE></GLENTRY>"
        "<GLENTRY><ACCOUNTNO>1000</ACCOUNTNO><TRX_AMOUNT>5</TRX_AMOUNT><TR_TYPE>-1</TR_TYPE></GLENTRY>"
        "</ENTRIES></GLBATCH>"))
    result = c.execute([body], unique=True)["migo-abc"]
    assert c.is_duplicate(result)
    assert len(gateway.emulator.company.batches) == 1
    sends = [r for r in gateway.seen if b"migo-abc" in r.content]
    assert len(sends) == 2 and all(r.extensions.get("idempotent") for r in sends)


def test_readmore_that_does_not_advance_is_refused() -> None:
    gateway = Gateway()
    gateway.emulator.options["bulk_gl_lines"] = 30
    gateway.emulator.company.bulk.size = 30
    original = gateway.emulator.fn_read_more

    def stuck(controlid: str, body: object, endpoint: str) -> object:
        outcome = original(controlid, body, endpoint)
        for rs in gateway.emulator.result_sets.values():
            rs.position = 10  # always the same page again
        return outcome

    gateway.emulator.fn_read_more = stuck  # type: ignore[assignment,method-assign]
    with pytest.raises(FatalRemoteError, match="did not advance"):
        list(client(gateway).read_by_query("GLENTRY", "", "RECORDNO", 10))


def test_server_errors_on_reads_are_retried_then_give_up() -> None:
    gateway = Gateway()
    gateway.before = lambda request: httpx.Response(502, content=b"bad gateway")
    with pytest.raises(UnreachableError, match="gave up"):
        read_accounts(client(gateway))


@pytest.mark.parametrize(("configured", "endpoint", "trusted"), [
    ("https://api.intacct.com/ia/xml/xmlgw.phtml", "https://na63.intacct.com/ia/xml/xmlgw.phtml", True),
    ("https://api.intacct.com/ia/xml/xmlgw.phtml", "http://na63.intacct.com/ia/xml/xmlgw.phtml", False),
    ("https://api.intacct.com/ia/xml/xmlgw.phtml", "https://intacct.com.evil.test/x", False),
    ("http://127.0.0.1:8765/intacct/ia/xml/xmlgw.phtml", "http://127.0.0.1:8765/intacct/na1/ia/xml/xmlgw.phtml", True),
    ("http://127.0.0.1:8765/intacct/ia/xml/xmlgw.phtml", "https://na1.intacct.com/ia/xml/xmlgw.phtml", False),
    ("http://127.0.0.1:8765/intacct/ia/xml/xmlgw.phtml", "http://127.0.0.1:8766/intacct/ia/xml/xmlgw.phtml", False),
    ("http://127.0.0.1:8765/intacct/ia/xml/xmlgw.phtml", "http://127.0.0.1/intacct/ia/xml/xmlgw.phtml", False),
    ("https://api.intacct.com/ia/xml/xmlgw.phtml", "https://api.intacct.com:443/ia/xml/xmlgw.phtml", True),
    ("https://api.intacct.com/ia/xml/xmlgw.phtml", "https://na63.intacct.com:8443/ia/xml/xmlgw.phtml", False),
    ("https://api.intacct.com/ia/xml/xmlgw.phtml", "http://api.intacct.com/ia/xml/xmlgw.phtml", False),
])
def test_session_endpoint_host_is_checked(configured: str, endpoint: str, trusted: bool) -> None:
    assert trusted_endpoint(configured, endpoint) is trusted


def test_an_untrusted_session_endpoint_is_refused() -> None:
    gateway = Gateway()
    inner = gateway.emulator.handle
    gateway.emulator.handle = lambda body, endpoint: inner(body, "https://collector.evil.test/x")  # type: ignore[method-assign]
    with pytest.raises(FatalRemoteError, match="unexpected host"):
        read_accounts(client(gateway))


def gl_gateway() -> Gateway:
    gateway = Gateway()
    gateway.emulator.options["bulk_gl_lines"] = 30
    gateway.emulator.company.bulk.size = 30
    return gateway


def test_ahead_each_readmore_is_sent_while_the_caller_holds_the_page_before() -> None:
    """A pull reads every page: each readMore goes as soon as its page is in (the caller then works on
    that page); the same pages and requests as one after the other. A caller that wants the first page
    only (a connection check) sends no readMore."""
    def read(ahead: bool) -> tuple[list[list[str]], int, bool]:
        gateway = gl_gateway()
        asked = threading.Event()

        def note(request: httpx.Request) -> None:
            if b"<readMore>" in request.content:
                asked.set()

        gateway.before = note  # type: ignore[assignment,return-value]
        pages = client(gateway).read_by_query("GLENTRY", "", "RECORDNO", 10, ahead=ahead)
        first = next(pages)
        sent_while_held = asked.wait(10) if ahead else asked.is_set()
        rest = list(pages)
        return [[r["RECORDNO"] for r in p.records] for p in [first, *rest]], len(gateway.seen), sent_while_held

    ahead, in_turn = read(True), read(False)
    assert ahead[2] and not in_turn[2]
    assert ahead[:2] == in_turn[:2] and len(ahead[0]) == 3 and sum(map(len, ahead[0])) == 30


def test_ahead_a_readmore_error_is_raised_where_its_page_is_asked_for() -> None:
    gateway = gl_gateway()
    gateway.before = lambda request: (httpx.Response(502, content=b"bad gateway")
                                      if b"<readMore>" in request.content else None)
    pages = client(gateway).read_by_query("GLENTRY", "", "RECORDNO", 10, ahead=True)
    assert len(next(pages).records) == 10
    with pytest.raises(UnreachableError, match="gave up"):
        next(pages)
