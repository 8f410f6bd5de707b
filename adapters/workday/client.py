"""Wire calls to Workday's Financial_Management service through zeep. Takes an httpx.Client.

zeep builds every request from the packaged WSDL subset (`soap.py`), signs it with a WS-Security
UsernameToken (`user@tenant`, PasswordText) and posts it through the core's HTTP client. Two hot
paths are written without zeep's object mapping, with the same bytes or values: journals (up to
500 an import) are written as text between the halves of zeep's own envelope
(`payload.journal_xml`, byte-equal to zeep's output, tested), and Get_Journals pages (up to 999
journals of several lines each) are walked with lxml, with the same exact decimals.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

import httpx
import zeep
from lxml import etree
from zeep.exceptions import DTDForbidden, EntitiesForbidden
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault as ZeepFault
from zeep.wsdl import Document
from zeep.wsdl.utils import etree_to_string
from zeep.wsse.username import UsernameToken

from migo_sync.ahead import in_order, started
from migo_sync.errors import FatalRemoteError, MigoSyncError
from migo_sync.xmlsafe import UnsafeXMLError, parse_xml

from .pages import JournalPage, Lines, Paging, ids, paging_head, parse_journals_page
from .soap import (
    BINDING,
    INTEGRATIONS_BINDING,
    SOAP_ENV,
    SYSTEM,
    WD,
    WSDL_PATH,
    HttpxTransport,
    SoapFault,
    WorkdayFault,
    fault_error,
    fault_from_element,
    safe_settings,
)

Q = f"{{{WD}}}"


class Paged(Protocol):
    """What a reading of one Get_Journals answer says about paging (`JournalPage`, `LinesPage`)."""

    @property
    def page(self) -> int: ...
    @property
    def total_pages(self) -> int: ...
    @property
    def total_results(self) -> int: ...
    @property
    def as_of(self) -> datetime | None: ...


PageT = TypeVar("PageT", bound=Paged)


def ref(value: str, id_type: str, **attributes: str) -> dict[str, Any]:
    """A Workday reference: <X_Reference><ID wd:type="id_type">value</ID></X_Reference>."""
    return {"ID": [{"_value_1": value, "type": id_type, **attributes}]}


@dataclass(frozen=True)
class SubmitResult:
    """What Submit_Accounting_Journal answered: the journal's references, or the fault."""

    ids: dict[str, str] = field(default_factory=dict)
    fault: SoapFault | None = None


@dataclass(frozen=True)
class ImportMessage:
    """One message of an import process: its severity, text, and the journal it is about."""

    severity: str
    summary: str
    journal_id: str | None


_document_lock = threading.Lock()
_document: Any = None


def wsdl_document() -> Any:
    """The WSDL subset as zeep reads it (~0.05 s of CPU): read once per process from the package folder
    (nothing fetched), then shared by every client; zeep only reads it once it is built. A run begins
    it at its start (`WorkdayAdapter.prepare_run`); a warm `run --every` process reads it once."""
    global _document
    with _document_lock:
        if _document is None:
            _document = Document(str(WSDL_PATH), HttpxTransport(None),  # type: ignore[arg-type]
                                 settings=safe_settings())
        return _document


class WorkdayClient:
    """One tenant's Financial_Management endpoint, authenticated as one integration user."""

    def __init__(self, http: httpx.Client, *, url: str, username: str, password: str,
                 version: str = "v45.0") -> None:
        self.http = http
        self.url = url
        self.version = version
        # zeep is only partly typed: its client and service are handled as Any here.
        token: Any = UsernameToken(username, password)  # type: ignore[no-untyped-call]
        client: Any = zeep.Client(wsdl_document(), transport=HttpxTransport(http),  # type: ignore[no-untyped-call]
                                  settings=safe_settings(), wsse=token)
        self.zeep: Any = client
        self.service: Any = client.create_service(BINDING, url)
        # An import's status lives in the tenant's Integrations service, beside Financial_Management.
        self.integrations: Any = client.create_service(
            INTEGRATIONS_BINDING, url.replace("/Financial_Management/", "/Integrations/"))
        self._templates: dict[tuple[str, bool], tuple[bytes, bytes, str]] = {}

    def close(self) -> None:
        self.http.close()

    def _call(self, operation: str, *, service: Any = None, **kwargs: Any) -> Any:
        """Run one operation through zeep (see `_guarded` for what its failures become)."""
        return self._guarded(operation, lambda: getattr(service or self.service, operation)(
            version=self.version, **kwargs))

    def _guarded(self, operation: str, call: Callable[[], Any]) -> Any:
        """`call()`; a fault zeep itself parsed (a non-500 answer) maps like any other."""
        try:
            return call()
        except ZeepFault as exc:
            fault = fault_from_element(str(exc.code or ""), str(exc.message or ""), exc.detail)
            raise fault_error(fault) or FatalRemoteError(SYSTEM, f"{operation}: {fault.describe()}",
                                                         code=fault.code) from None
        except MigoSyncError:
            raise
        except (DTDForbidden, EntitiesForbidden):
            raise FatalRemoteError(SYSTEM, f"{operation}: XML with a DOCTYPE is refused") from None
        except (ZeepError, etree.LxmlError, ValueError, LookupError, ArithmeticError) as exc:
            # Whatever zeep or lxml make of an answer they cannot read (truncated or invalid XML,
            # a DTD, a SOAP 1.2 envelope, a redirect's HTML): one clean error with their message.
            raise FatalRemoteError(SYSTEM, f"{operation}: unreadable answer: {_library_message(exc)}") from None

    # -- journals -------------------------------------------------------------------------------

    def submit_journal(self, journal: str, *, add_only: bool = True) -> SubmitResult:
        """Submit_Accounting_Journal of one Accounting_Journal_Data (`payload.journal_xml`). A
        Validation_Fault is returned (it belongs to this journal); anything else (auth, unreachable)
        is raised. The answer is read by zeep."""
        operation = "Submit_Accounting_Journal"
        body = self.journals_body(operation, [journal], add_only=add_only)
        binding: Any = self.service._binding  # zeep's own reading of the answer, faults included

        def send() -> Any:
            return binding.process_reply(self.zeep, binding.get(operation), self._post(body))

        try:
            response = self._guarded(operation, send)
        except WorkdayFault as exc:
            return SubmitResult(fault=exc.fault)
        return SubmitResult(ids=reference_ids(getattr(response, "Accounting_Journal_Reference", None)))

    def import_journals(self, journals: list[str], *, add_only: bool = True) -> str:
        """Import_Accounting_Journal of these Accounting_Journal_Data (`payload.journal_xml`): the
        tenant acknowledges and books them in the background; the answer is the import process's
        WID (its status and messages are read with the two below). A fault refuses the whole
        request (schema, size) and is raised."""
        raw = self._post(self.journals_body("Import_Accounting_Journal", journals, add_only=add_only))
        if raw.status_code != 200:
            raise FatalRemoteError(SYSTEM, f"Import_Accounting_Journal: HTTP {raw.status_code} (not a SOAP answer)",
                                   status=raw.status_code)
        try:
            answer = parse_xml(raw.content, remove_comments=True)
        except UnsafeXMLError as exc:
            raise FatalRemoteError(SYSTEM, f"Import_Accounting_Journal: {exc}") from None
        wid = ids(answer.find(f".//{Q}Put_Import_Process_Response/{Q}Import_Process_Reference")).get("WID")
        if not wid:
            raise FatalRemoteError(SYSTEM, "Import_Accounting_Journal: the answer names no import process")
        return wid

    def journal_prefix(self, operation: str) -> str:
        """The namespace prefix zeep gives the request's children (`journal_xml(prefix=…)`)."""
        return self._template(operation, True)[2]

    def journals_body(self, operation: str, journals: list[str], *, add_only: bool) -> bytes:
        """The request zeep would send with these Accounting_Journal_Data: its envelope (header,
        UsernameToken, request attributes) built once by zeep, the journals written in between."""
        head, tail, _ = self._template(operation, add_only)
        return head + "".join(journals).encode() + tail

    def _template(self, operation: str, add_only: bool) -> tuple[bytes, bytes, str]:
        """zeep's envelope for `operation` around a marker in place of its journals, cut at the
        marker: the bytes zeep writes before and after them (nothing in it changes per call)."""
        key = (operation, add_only)
        found = self._templates.get(key)
        if found is None:
            placeholder = {"Company_Reference": ref("-", "Company_Reference_ID"), "Currency_Reference": ref("-", "Currency_ID"),
                           "Ledger_Type_Reference": ref("-", "Ledger_Type_ID"), "Accounting_Date": "2000-01-01",
                           "Journal_Source_Reference": ref("-", "Journal_Source_ID")}
            envelope = self.message(operation, Accounting_Journal_Data=placeholder, Add_Only=add_only)
            request = envelope.find(f"{{{SOAP_ENV}}}Body/{Q}{operation}_Request")
            assert request is not None and request.prefix is not None
            for child in list(request):
                request.remove(child)
            marker = uuid.uuid4().hex
            request.text = marker
            head, tail = etree_to_string(envelope).split(marker.encode())  # type: ignore[no-untyped-call]
            found = self._templates[key] = (head, tail, request.prefix)
        return found

    def _post(self, body: bytes) -> Any:
        return self.zeep.transport.post(self.url, body, {"SOAPAction": '""', "Content-Type": "text/xml; charset=utf-8"})

    def import_statuses(self, wids: list[str]) -> dict[str, str]:
        """Get_Import_Processes for up to 999 processes at once: status by process WID."""
        response = self._call("Get_Import_Processes", service=self.integrations,
                              Request_References={"Import_Process_Reference": [ref(w, "WID") for w in wids]},
                              Response_Filter={"Page": 1, "Count": 999})
        statuses: dict[str, str] = {}
        for process in _items(response, "Import_Process"):
            wid = reference_ids(process.Import_Process_Reference).get("WID")
            data = process.Import_Process_Data
            status = reference_ids(data.Status_Reference if data is not None else None)
            if wid:
                statuses[wid] = next(iter(status.values()), "")
        return statuses

    def import_messages(self, wid: str) -> list[ImportMessage]:
        """Get_Import_Process_Messages of one process, every page."""
        found: list[ImportMessage] = []
        page = 1
        while True:
            response = self._call("Get_Import_Process_Messages", service=self.integrations,
                                  Request_References={"Import_Process_Reference": [ref(wid, "WID")]},
                                  Response_Filter={"Page": page, "Count": 999})
            for message in _items(response, "Import_Process_Message"):
                severity = next(iter(reference_ids(message.Severity_Reference).values()), "")
                found.append(ImportMessage(severity=severity, summary=str(message.Message_Summary or ""),
                                           journal_id=reference_ids(message.Journal_Reference).get(
                                               "Accounting_Journal_ID")))
            results = response.Response_Results
            if results is None or page >= int(results.Total_Pages or 1):
                return found
            page += 1

    def message(self, operation: str, **kwargs: Any) -> etree._Element:
        """The envelope zeep would send for `operation`, UsernameToken included (golden tests)."""
        envelope: etree._Element = self.zeep.create_message(self.service, operation, version=self.version, **kwargs)
        return envelope

    def get_journals(self, *, lines: Lines = True, **criteria: Any) -> JournalPage:
        """One page of Get_Journals (`journals_query` names the criteria; `lines=False` reads the
        journals without their lines)."""
        return parse_journals_page(self._journals_answer(**criteria), lines=lines)

    def _journals_answer(self, **criteria: Any) -> bytes:
        """The raw answer to one Get_Journals (read by `parse_journals_page`)."""
        with self.zeep.settings(raw_response=True):
            raw = self._call("Get_Journals", **journals_query(**criteria))
        if raw.status_code != 200:  # zeep hands a raw answer back unread: its status is ours to judge
            raise FatalRemoteError(SYSTEM, f"Get_Journals: HTTP {raw.status_code} (not a SOAP answer; "
                                           "redirects are never followed)", status=raw.status_code)
        content: bytes = raw.content
        return content

    def first_journals_answer(self, *, count: int, **criteria: Any) -> bytes:
        """The raw answer to the first page `iter_journals` asks for with these criteria, asked ahead of it
        (a push's look-up beside its warm-up); handed back to it as `first_answer`, it is not asked again."""
        return self._journals_answer(page=1, count=count, **{**criteria, "as_of": criteria.get("as_of")})

    def iter_journals(self, *, count: int, start_page: int = 1, concurrency: int = 1, lines: Lines = True,
                      first_answer: bytes | None = None, **criteria: Any) -> Iterator[JournalPage]:
        """Every page from `start_page` on as journals (`parse_journals_page`; see `iter_pages`)."""
        return self.iter_pages(lambda answer: parse_journals_page(answer, lines=lines), count=count,
                               start_page=start_page, concurrency=concurrency, first_answer=first_answer,
                               **criteria)

    def iter_pages(self, reader: Callable[[bytes], PageT], *, count: int, start_page: int = 1, concurrency: int = 1,
                   first_answer: bytes | None = None, **criteria: Any) -> Iterator[PageT]:
        """Every page from `start_page` on, in order; refuses to go on when the tenant answers
        another page than the one asked for (a repeat would loop, a skip would lose journals).

        The first page says how many there are; the others are independent requests of one pinned
        result set (As_Of_Entry_DateTime: the caller's `as_of`, else the moment the tenant answered
        the first page for, as Workday asks of a paged read), so up to `concurrency` of them are in
        flight (and held) at once. A tenant that names no moment gets its pages one at a time.
        The page threads only ask: each answer is parsed here, so the next page is asked for as
        soon as one is in, not once it is parsed. `first_answer`: the answer to page 1 with these very criteria,
        asked ahead (`first_journals_answer`), read here as if it had just been asked for."""
        def fetch(page: int, as_of: Any) -> bytes:
            return self._journals_answer(page=page, count=count, **{**criteria, "as_of": as_of})

        def read(page: int, answer: bytes) -> PageT:
            result = reader(answer)
            if result.total_results and result.page != page:
                raise FatalRemoteError(SYSTEM, f"Get_Journals answered page {result.page} when page {page} "
                                               "was asked for; stopping rather than risk a gap")
            return result

        answer = (first_answer if first_answer is not None and start_page == 1
                  else fetch(start_page, criteria.get("as_of")))
        # The pages after the first are asked for as soon as its head says how many there are and what
        # moment pins them (`paging_head`), not once the whole page is parsed (3.6 MB of 999 journals).
        head = paging_head(answer)
        rest: Generator[tuple[int, bytes], None, None] | None = None
        primed: Future[tuple[int, bytes] | None] | None = None
        if head is not None and start_page < head.total_pages and not (head.total_results and head.page != start_page):
            ahead = rest = self._pages_after(fetch, start_page, head.total_pages, criteria.get("as_of") or head.as_of,
                                             concurrency)
            primed = started(lambda: next(ahead, None), name="workday-page")
        try:
            first = read(start_page, answer)
            if head is not None and head != Paging(first.page, first.total_pages, first.total_results, first.as_of):
                raise FatalRemoteError(SYSTEM, "Get_Journals: the answer's paging reads two ways; stopping rather "
                                               "than risk a gap")
            yield first
            if start_page >= first.total_pages:
                return
            if rest is None or primed is None:
                rest = self._pages_after(fetch, start_page, first.total_pages, criteria.get("as_of") or first.as_of,
                                         concurrency)
            else:
                taken = primed.result()
                if taken is not None:
                    yield read(*taken)
            for page, later in rest:
                yield read(page, later)
        finally:
            if primed is not None:
                wait([primed])  # its thread holds the pages' iterator until the page after the first is in
            if rest is not None:
                rest.close()

    @staticmethod
    def _pages_after(fetch: Callable[[int, Any], bytes], start_page: int, total_pages: int, pin: Any,
                     concurrency: int) -> Generator[tuple[int, bytes], None, None]:
        """The answers to the pages after `start_page`, in order: `concurrency` in flight when a moment
        pins them, else one at a time."""
        yield from in_order(lambda page: fetch(page, pin), range(start_page + 1, total_pages + 1),
                            in_flight=concurrency if pin else 1, name="workday-page")

    # -- chart: accounts, worktags, periods -----------------------------------------------------

    def ledger_accounts(self, account_set: str) -> list[dict[str, Any]]:
        """Ledger accounts of one account set (Get_Account_Sets)."""
        response = self._call("Get_Account_Sets",
                              Request_References={"Account_Set_Reference": [ref(account_set, "Account_Set_ID")]})
        accounts = []
        for item in _items(response, "Account_Set"):
            data = item.Account_Set_Data
            if data is None:
                continue
            for account in data.Ledger_Account_Data or []:
                accounts.append({
                    "Account_Set_ID": data.Account_Set_ID, "Ledger_Account_ID": account.Ledger_Account_Identifier,
                    "Ledger_Account_Name": account.Ledger_Account_Name,
                    "Ledger_Account_Type_ID": reference_ids(account.Ledger_Account_Type_Reference).get(
                        "Ledger_Account_Type_ID"),
                    "Retired": bool(account.Retired)})
        return accounts

    def organizations(self, operation: str, item: str) -> list[dict[str, Any]]:
        """Cost centers (Get_Cost_Centers/Cost_Center) or regions (Get_Regions/Region), every page."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            response = self._call(operation, Response_Filter={"Page": page, "Count": 999})
            for entry in _items(response, item):
                data = getattr(entry, f"{item}_Data", None)
                org = data.Organization_Data if data is not None else None
                ids = reference_ids(getattr(entry, f"{item}_Reference", None))
                found.append({"ID": ids.get(f"{item}_Reference_ID") or (org.ID if org is not None else None),
                              "Name": org.Organization_Name if org is not None else None,
                              "Active": org is None or org.Organization_Active is not False})
            results = response.Response_Results
            if results is None or page >= int(results.Total_Pages or 1):
                return found
            page += 1


def journals_query(*, page: int, count: int, accounting_from: date | None = None,
                   accounting_to: date | None = None, updated_from: datetime | None = None,
                   updated_to: datetime | None = None, as_of: datetime | None = None,
                   company: str | None = None) -> dict[str, Any]:
    """Get_Journals arguments. `as_of` (As_Of_Entry_DateTime) pins the result set so that pages
    stay stable while a run walks them; Count is at most 999."""
    criteria: dict[str, Any] = {
        "Organization_Reference": [ref(company, "Company_Reference_ID")] if company else None,
        "Accounting_From_Date": accounting_from, "Accounting_To_Date": accounting_to,
        "Updated_From_Date": updated_from, "Updated_To_Date": updated_to,
    }
    response_filter = {"As_Of_Entry_DateTime": as_of, "Page": page, "Count": count}
    return {"Request_Criteria": {k: v for k, v in criteria.items() if v is not None} or None,
            "Response_Filter": {k: v for k, v in response_filter.items() if v is not None}}


def _items(response: Any, name: str) -> list[Any]:
    data = getattr(response, "Response_Data", None)
    return list(getattr(data, name, None) or []) if data is not None else []


def reference_ids(reference: Any) -> dict[str, str]:
    """{ID type: value} of a zeep reference object (WID, Accounting_Journal_ID, …)."""
    if reference is None:
        return {}
    return {str(item.type): str(item._value_1) for item in (reference.ID or []) if item._value_1 is not None}


def _library_message(exc: Exception) -> str:
    """zeep's and lxml's own words (a transport error carries the HTTP status), on one line."""
    status = getattr(exc, "status_code", None)
    text = " ".join(str(getattr(exc, "message", None) or exc or type(exc).__name__).split())
    text = text.split(" Content: b")[0]  # zeep appends the whole body: the reason is enough
    return f"HTTP {status}: {text}" if status else text
