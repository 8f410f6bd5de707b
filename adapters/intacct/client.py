"""Wire calls to the Intacct XML gateway: sessions, envelopes, errors, paging. Takes an httpx.Client.

Every request is marked idempotent for the HTTP layer: reads change nothing, and every write is
sent with `uniqueid=true` and a deterministic function controlid, so a resend after a 524 or a
lost answer is refused by the gateway as an already-executed controlid rather than posted twice
(`is_duplicate()` turns that refusal into success).

Errors are read at the three levels the gateway answers on:
    control         the whole request was refused (sender, parse, throttle)  → raised
    authentication  no function ran (bad login, expired session)             → renew once, else raised
    result          one function failed                                      → returned to the caller
"""

from __future__ import annotations

import contextvars
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from migo_sync.ahead import started
from migo_sync.errors import AuthError, FatalRemoteError, RateLimited
from migo_sync.http import parse_retry_after
from migo_sync.redact import register_secret

from .config import MAX_FUNCTIONS
from .xml import Envelope, ErrorDetail, Function, Login, Result, XmlError, describe, function, parse_response
from .xml import record as record_of
from .xml import request as build_request
from .xml import sub as xml_sub

SYSTEM = "intacct"
MAX_RESTARTS = 5  # readByQuery restarts after lost readMore answers, per query
# XMLGW_JPP0002 is the gateway's own "Sign-in information is incorrect" (HTTP 401, control level).
AUTH_ERRORS = frozenset({"XL03000006", "PL04000055", "XMLGW_JPP0002"})
SENDER_HINT = ("check [systems.intacct] sender_id (or MIGO_SYNC_INTACCT_SENDER_ID) and "
               "MIGO_SYNC_INTACCT_SENDER_PASSWORD")
LOGIN_HINT = ("check [systems.intacct] company_id and user_id (or MIGO_SYNC_INTACCT_COMPANY_ID / "
              "MIGO_SYNC_INTACCT_USER_ID) and MIGO_SYNC_INTACCT_USER_PASSWORD")
THROTTLE = "GW-0010"
DUPLICATE_TEXT = re.compile(r"(controlid|control id).*(already|duplicate)|already (been )?(executed|processed)", re.I)


def classify(response: httpx.Response) -> Exception | None:
    """For the HTTP layer: a GW-0010 throttle inside an HTTP 200 envelope is still a 429."""
    if b"GW-0010" not in response.content:
        return None
    try:
        envelope = parse_response(response.content)
    except XmlError:
        return None
    if any(e.errorno == THROTTLE for e in envelope.control_errors):
        return RateLimited(SYSTEM, f"throttled ({describe(envelope.control_errors)})",
                           retry_after=parse_retry_after(response.headers.get("Retry-After")),
                           status=response.status_code, code=THROTTLE)
    return None


@dataclass(frozen=True)
class Page:
    """One page of a readByQuery/readMore answer."""

    records: list[dict[str, Any]]
    totalcount: int
    numremaining: int
    result_id: str


@dataclass
class Session:
    session_id: str
    endpoint: str
    expires: datetime | None


class IntacctClient:
    """One company, one sender, one session at a time."""

    def __init__(self, http: httpx.Client, *, url: str, sender_id: str, sender_password: str, login: Login,
                 session_margin: float = 60.0, duplicate_errornos: Sequence[str] = ("XL03000011",),
                 now: Callable[[], datetime] | None = None,
                 controlid: Callable[[], str] | None = None) -> None:
        self.http = http
        self.url = url
        self.sender_id = sender_id
        self.sender_password = sender_password
        self.login = login
        self.session_margin = timedelta(seconds=session_margin)
        self.duplicate_errornos = frozenset(duplicate_errornos)
        self.now = now or (lambda: datetime.now(UTC))
        self.new_controlid = controlid or (lambda: uuid.uuid4().hex)
        self._session: Session | None = None
        self._signing_in: Future[Session] | None = None
        self._lock = threading.Lock()

    # -- sessions ----------------------------------------------------------------------------

    def session(self) -> Session:
        """The current session, renewed when it expires (or is about to)."""
        return self._fresh() or self._sign_in().result()

    def sign_in_ahead(self) -> None:
        """getAPISession begun now on its thread, unless a session is fresh or one is on its way: for a
        caller that will need one (a push about to post), so the requests after find it answered. Its
        error is raised by the request that needs the session, as without it."""
        if self._fresh() is None:
            self._sign_in()

    def _fresh(self) -> Session | None:
        current = self._session
        if current is not None and (current.expires is None or self.now() + self.session_margin < current.expires):
            return current
        return None

    def _sign_in(self) -> Future[Session]:
        """getAPISession, on a thread of its own (once at a time): a request that cannot wait for
        it carries the login meanwhile (`execute`), so the sign-in costs no round trip of its own."""
        with self._lock:
            if self._signing_in is None:
                self._session = None
                self._signing_in = Future()
                # in the caller's context: the sign-in is counted to the pull that needed it first
                threading.Thread(target=contextvars.copy_context().run, args=(self._run_sign_in, self._signing_in),
                                 name="intacct-sign-in", daemon=True).start()
            return self._signing_in

    def _run_sign_in(self, future: Future[Session]) -> None:
        try:
            session = self._new_session()
        except BaseException as exc:  # handed to whoever waits for the session
            with self._lock:
                self._signing_in = None
            future.set_exception(exc)
            return
        with self._lock:
            self._session, self._signing_in = session, None
        future.set_result(session)

    def _new_session(self) -> Session:
        # getAPISession is sent on its own: the docs say never to mix it with other functions.
        body = build_request(sender_id=self.sender_id, sender_password=self.sender_password,
                             controlid=self.new_controlid(), functions=[function("session", "getAPISession")],
                             login=self.login)
        envelope = self._post(self.url, body)
        result = self._single(envelope, "getAPISession")
        api = result.data.find("api") if result.data is not None else None
        session_id = (api.findtext("sessionid") or "").strip() if api is not None else ""
        if not session_id:
            raise FatalRemoteError(SYSTEM, "getAPISession returned no session id")
        register_secret(session_id)
        endpoint = ((api.findtext("endpoint") or "").strip() if api is not None else "") or self.url
        if not trusted_endpoint(self.url, endpoint):
            raise FatalRemoteError(SYSTEM, f"getAPISession named an endpoint on an unexpected host or port: {endpoint}")
        return Session(session_id, endpoint, envelope.session_timeout)

    def _single(self, envelope: Envelope, name: str) -> Result:
        if envelope.auth_status == "failure":
            raise AuthError(SYSTEM, f"login refused: {describe(envelope.auth_errors)}; {LOGIN_HINT}")
        if not envelope.results:
            raise FatalRemoteError(SYSTEM, f"{name} returned no result")
        result = envelope.results[0]
        if not result.ok:
            raise FatalRemoteError(SYSTEM, f"{name} failed: {describe(result.errors)}")
        return result

    # -- requests ----------------------------------------------------------------------------

    def execute(self, functions: Sequence[Function], *, unique: bool = False, transaction: bool = False,
                sending: Callable[[], None] | None = None) -> dict[str, Result]:
        """Send functions in one request; results keyed by function controlid.

        With the session when there is one; else a read goes with the login (the gateway takes
        either in any request) while getAPISession runs beside it for the requests after, and
        returns once both are answered: the sign-in costs no round trip of its own. A session the gateway
        no longer accepts is renewed and the same request resent once: an authentication failure
        means no function ran.
        """
        for attempt in (1, 2):
            session = self._fresh()
            signing: Future[Session] | None = None
            if session is None:  # a read goes with the login while the session is fetched beside it
                signing = self._sign_in()
                if unique:  # a write waits for it: its answer is never lost to a sign-in failing after
                    session, signing = signing.result(), None
            body = build_request(sender_id=self.sender_id, sender_password=self.sender_password,
                                 controlid=self.new_controlid(), functions=functions, unique=unique,
                                 transaction=transaction, **({"login": self.login} if session is None
                                                             else {"session_id": session.session_id}))
            if sending is not None:
                sending()  # the request is built: it goes now
            try:
                envelope = self._post(self.url if session is None else session.endpoint, body)
            except BaseException:
                if signing is not None:
                    wait([signing])  # refused as a whole (e.g. the sender): the sign-in is not left running
                raise
            if envelope.auth_status == "failure":
                if session is None:
                    if signing is not None:
                        wait([signing])  # answered too (its own refusal is this one), never left running
                    raise AuthError(SYSTEM, f"login refused: {describe(envelope.auth_errors)}; {LOGIN_HINT}")
                with self._lock:
                    if self._session is session:
                        self._session = None
                if attempt == 1:
                    continue
                raise AuthError(SYSTEM, f"session refused: {describe(envelope.auth_errors)}; {LOGIN_HINT}")
            if signing is not None:
                signing.result()  # sent together, answered together; its failure (e.g. an untrusted endpoint) is raised
            elif session is not None and envelope.session_timeout is not None:
                session.expires = envelope.session_timeout  # the timeout slides with every call
            return {result.controlid: result for result in envelope.results}
        raise AssertionError("unreachable")  # pragma: no cover

    def _post(self, url: str, body: bytes) -> Envelope:
        response = self.http.post(url, content=body, headers={"Content-Type": "application/xml"},
                                  extensions={"idempotent": True})
        try:
            envelope = parse_response(response.content)
        except XmlError as exc:
            raise FatalRemoteError(SYSTEM, f"HTTP {response.status_code} with an unreadable body: {exc}",
                                   status=response.status_code) from None
        if envelope.control_status != "success":
            raise control_error(envelope.control_errors, response.status_code)
        return envelope

    def is_duplicate(self, result: Result) -> bool:
        """The gateway refused this function because its controlid already ran (uniqueid=true)."""
        return not result.ok and any(
            e.errorno in self.duplicate_errornos or DUPLICATE_TEXT.search(f"{e.description} {e.description2}")
            for e in result.errors)

    # -- reads -------------------------------------------------------------------------------

    def read_by_query(self, obj: str, query: str = "", fields: str = "*", pagesize: int = 1000, *,
                      ahead: bool = False) -> Iterator[Page]:
        """Every page of one readByQuery: readMore by resultId until numremaining is 0.

        The gateway moves its result past a page as it answers a readMore, so a readMore whose
        answer was lost and that the transport resent returns the page after the lost one. Each
        page is checked against the last (see `_follows`); a skipped page, or a readMore the
        gateway no longer has a result for, restarts the query from its start — a position
        migo-sync controls. Pages read again repeat records (merged by key downstream); none is
        missed. At most MAX_RESTARTS restarts per query, then a clear error.

        With `ahead` (a caller that reads every page), each readMore is sent as soon as the page
        before it is in, while the caller works on that page; its answer, or its error, is taken
        where it was asked for before. A caller that wants the first page only leaves it off.
        """
        restarts = 0
        while True:
            fn = read_by_query_function("q", obj, query, fields, pagesize)
            page = page_of(self._only(self.execute([fn]), fn.controlid, "readByQuery"))
            asked = self._read_more(page, ahead)
            try:
                yield page
                while asked is not None:
                    following = self._follows(obj, page, asked.answer())
                    if following is None:
                        break
                    page = following
                    asked = self._read_more(page, ahead)
                    yield page
                else:
                    return
            finally:
                if asked is not None:
                    asked.settle()  # a readMore sent ahead is answered before the caller goes on
            restarts = self._restart(obj, restarts)

    def _read_more(self, page: Page, ahead: bool) -> _ReadMore | None:
        if page.numremaining <= 0:
            return None
        more = function("more", "readMore", resultId=page.result_id)
        return _ReadMore(lambda: self.execute([more]).get(more.controlid), ahead)

    def _follows(self, obj: str, page: Page, result: Result | None) -> Page | None:
        """The page after `page`, or None when it cannot be trusted to be (restart the query)."""
        if result is None or not result.ok:
            return None  # e.g. DL02000001 "no open result": the lost answer was the last page's
        following = page_of(result)
        if following.numremaining >= page.numremaining:
            raise FatalRemoteError(SYSTEM, f"readMore on {obj} did not advance "
                                           f"(numremaining {following.numremaining})")
        if following.numremaining != page.numremaining - len(following.records):
            return None  # a page was skipped: its answer was lost and the readMore resent
        return following

    @staticmethod
    def _restart(obj: str, restarts: int) -> int:
        if restarts >= MAX_RESTARTS:
            raise FatalRemoteError(SYSTEM, f"readByQuery on {obj}: lost a readMore answer {restarts + 1} times; "
                                           "nothing was saved from this read (run again)")
        return restarts + 1

    def read_lists(self, queries: dict[str, tuple[str, str, str]], pagesize: int = 1000,
                   sending: Callable[[], None] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Several whole lists at once: {name: (object, fields, query)} → {name: records}.

        One request carries every readByQuery; the lists still open are continued together,
        one readMore per list per request. A list whose readMore cannot be trusted (see
        `read_by_query`) is read again from its start.
        """
        found: dict[str, list[dict[str, Any]]] = {name: [] for name in queries}
        first = {name: read_by_query_function(name, obj, query, fields, pagesize)
                 for name, (obj, fields, query) in queries.items()}
        functions = list(first.values())
        last: dict[str, Page] = {}
        restarts = 0
        while functions:
            results = self.execute(functions, sending=sending)
            sending = None  # (told once: the first request)
            sent, functions = functions, []
            for fn in sent:
                name = fn.controlid
                if name in last:
                    page = self._follows(queries[name][0], last[name], results.get(name))
                    if page is None:
                        restarts = self._restart(queries[name][0], restarts)
                        found[name], functions = [], [*functions, first[name]]
                        del last[name]
                        continue
                else:
                    page = page_of(self._only(results, name, fn.body.tag))
                found[name].extend(page.records)
                if page.numremaining > 0:
                    last[name] = page
                    functions.append(function(name, "readMore", resultId=page.result_id))
                else:
                    last.pop(name, None)
        return found

    def trial_balance(self, start: date, end: date, *, reportingbook: str = "ACCRUAL",
                      show_zero: bool = False) -> list[dict[str, Any]]:
        """get_trialbalance for [start, end]: one row per account."""
        fn = trial_balance_function("tb", start, end, reportingbook, show_zero)
        result = self._only(self.execute([fn]), fn.controlid, "get_trialbalance")
        return [record_of(row) for row in result.data] if result.data is not None else []

    def trial_balances(self, periods: Sequence[tuple[date, date]], *, reportingbook: str = "ACCRUAL",
                       show_zero: bool = False) -> list[list[dict[str, Any]]]:
        """get_trialbalance for several [start, end] periods, every one a function of ONE request
        (the gateway runs the functions of a request in turn): a year of periods costs one round
        trip, not twelve. Rows per period, in the order asked."""
        out: list[list[dict[str, Any]]] = []
        for first in range(0, len(periods), MAX_FUNCTIONS):
            chunk = periods[first:first + MAX_FUNCTIONS]
            # controlids tb, tb1, tb2 …: one period asks exactly what trial_balance() asks
            functions = [trial_balance_function(f"tb{first + i or ''}", start, end, reportingbook, show_zero)
                         for i, (start, end) in enumerate(chunk)]
            results = self.execute(functions)
            for fn in functions:
                result = self._only(results, fn.controlid, "get_trialbalance")
                out.append([record_of(row) for row in result.data] if result.data is not None else [])
        return out

    @staticmethod
    def _only(results: dict[str, Result], controlid: str, name: str) -> Result:
        result = results.get(controlid)
        if result is None:
            raise FatalRemoteError(SYSTEM, f"{name}: no result came back for controlid {controlid}")
        if not result.ok:
            raise FatalRemoteError(SYSTEM, f"{name} failed: {describe(result.errors)}",
                                   code=result.errors[0].errorno if result.errors else None)
        return result


class _ReadMore:
    """The readMore after a page: sent now, on a thread (ahead), or when its answer is asked for."""

    def __init__(self, ask: Callable[[], Result | None], ahead: bool) -> None:
        self.ask = ask
        self.sent: Future[Result | None] | None = started(ask, name="intacct-read-more") if ahead else None

    def answer(self) -> Result | None:
        return self.sent.result() if self.sent is not None else self.ask()

    def settle(self) -> None:
        if self.sent is not None:
            wait([self.sent])


def trusted_endpoint(configured: str, endpoint: str) -> bool:
    """A session endpoint is used only on the configured scheme, host AND port, or, for Intacct's
    own gateway, on another intacct.com host over HTTPS on port 443 (as the vendor SDKs insist): a
    session id is a credential, and another port on the same host may be another program."""
    ours, theirs = httpx.URL(configured), httpx.URL(endpoint)
    if (theirs.scheme, theirs.host, _port(theirs)) == (ours.scheme, ours.host, _port(ours)):
        return True
    return (ours.host == "intacct.com" or ours.host.endswith(".intacct.com")) and theirs.scheme == "https" and (
        theirs.host == "intacct.com" or theirs.host.endswith(".intacct.com")) and _port(theirs) == 443


def _port(url: httpx.URL) -> int | None:
    """The port a URL really reaches: the scheme's default when none is written."""
    return url.port or {"https": 443, "http": 80}.get(url.scheme)


def control_error(errors: Sequence[ErrorDetail], status: int) -> Exception:
    """The exception for a request refused as a whole (control status failure)."""
    codes = {e.errorno for e in errors}
    message = describe(errors)
    if THROTTLE in codes:
        return RateLimited(SYSTEM, f"throttled ({message})", status=status, code=THROTTLE)
    if codes & AUTH_ERRORS or status in (401, 403):
        return AuthError(SYSTEM, f"sign-in refused: {message}; {SENDER_HINT}; {LOGIN_HINT}", status=status,
                         code=next(iter(sorted(codes & AUTH_ERRORS or codes)), None))
    return FatalRemoteError(SYSTEM, f"request refused: {message}", status=status,
                            code=next(iter(codes), None) if codes else None)


def read_by_query_function(controlid: str, obj: str, query: str, fields: str, pagesize: int) -> Function:
    # `query` is always sent, empty to match everything (the XSD requires the element).
    return function(controlid, "readByQuery", object=obj, fields=fields or "*", query=query, pagesize=str(pagesize))


def trial_balance_function(controlid: str, start: date, end: date, reportingbook: str = "ACCRUAL",
                           show_zero: bool = False) -> Function:
    """get_trialbalance over [start, end]; its dates are {year, month, day} elements."""
    fn = function(controlid, "get_trialbalance")
    for tag, day in (("startdate", start), ("enddate", end)):
        node = xml_sub(fn.body, tag)
        xml_sub(node, "year", f"{day.year:04d}")
        xml_sub(node, "month", f"{day.month:02d}")
        xml_sub(node, "day", f"{day.day:02d}")
    xml_sub(fn.body, "showzerobalances", "true" if show_zero else "false")
    xml_sub(fn.body, "reportingbook", reportingbook)
    return fn


def page_of(result: Result) -> Page:
    data = result.data
    if data is None:
        return Page([], 0, 0, "")
    return Page(records=[record_of(node) for node in data], totalcount=int(data.get("totalcount") or 0),
                numremaining=int(data.get("numremaining") or 0), result_id=data.get("resultId") or "")
