"""A protocol-faithful stand-in for Workday's Financial_Management service, mounted at `/workday`.

    GET  /workday/ccx/service/{tenant}/Financial_Management/{version}?wsdl   the WSDL subset (one file)
    POST /workday/ccx/service/{tenant}/Financial_Management/{version}        SOAP 1.1 envelopes

Every POST is parsed safely (no entities, no network), must carry a WS-Security UsernameToken
for `user@tenant` (else a Client.authenticationError fault), and is validated against the XSD
(else a Client.validationError fault naming the element, as the tenant does). Faults are SOAP
1.1 faults over HTTP 500 with Workday's detail (`wd:Validation_Fault/wd:Validation_Error` with
Message and Xpath, or `wd:Processing_Fault`).

Knobs (`self.options`, read on every call so tests may flip them; closed_through at reset):
    username, password, tenant   the integration user accepted (default: sandbox.py's)
    duplicate_message   the Validation_Error for a taken Accounting_Journal_ID under Add_Only
                        ({id} is replaced) [UNV: the real wording is not published]
    closed_through      YYYY-MM: the last closed month (default 2025-12; 2026 is open)
    busy_rate           share of calls answered with a Processing_Fault "server busy" (default 0)
    validate_schema     check every request against the XSD (default true)
    request_schema      the schema a tenant validates with (default None: the XSD embedded in the
                        recorded Financial_Management WSDL, ../shared/recordings/workday, read in
                        place; the project's own XSD when that is absent); a path names a WSDL or
                        XSD; "" uses the project's XSD only
    default_count       page size when Response_Filter/Count is absent (default 100)
    import_max_journals Accounting_Journal_Data one Import_Accounting_Journal may hold (default 1000;
                        more is a Validation_Fault) [UNV: Workday publishes no figure]
    import_seconds      how long an import stays "Processing" after it is accepted (default 0: done at
                        the first status read; its journals are booked when it is accepted either way)

    POST /workday/ccx/service/{tenant}/Integrations/{version}   Get_Import_Processes and
                        Get_Import_Process_Messages: the status and per-journal messages of an import
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from migo_sync.sandbox.emulator import Emulator
from migo_sync.sandbox.schemas import declared, official_schema, recordings_dir, violation

from .emulator_store import (
    ACCOUNT_SET,
    COMPANIES,
    DUPLICATE_MESSAGE,
    Books,
    Problem,
    SubmittedJournal,
    SubmittedLine,
)
from .pages import children
from .sandbox import SANDBOX_PASSWORD, SANDBOX_TENANT, SANDBOX_USER
from .soap import SOAP_ENV, WD, WSDL_PATH, XSD_PATH, safe_parser, xml_attribute, xml_text

XML = "text/xml; charset=utf-8"
RECORDED_WSDL = "Financial_Management_v30.0.subset.wsdl"  # a real tenant's WSDL (see its SOURCES.md)
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
Q = f"{{{WD}}}"
ID_TAG, TYPE = f"{Q}ID", f"{Q}type"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
# The operations of the real Financial_Management WSDL migo-sync uses (there is no Get_Fiscal_Schedules:
# a tenant's closed periods show only as a Validation_Fault on a journal dated in one).
OPERATIONS = ("Submit_Accounting_Journal", "Import_Accounting_Journal", "Get_Journals", "Get_Account_Sets",
              "Get_Cost_Centers", "Get_Regions")
# Integrations: an asynchronous import's status and messages (another endpoint of the same tenant).
INTEGRATIONS = ("Get_Import_Processes", "Get_Import_Process_Messages")
SERVICES = {"Financial_Management": OPERATIONS, "Integrations": INTEGRATIONS}
PROCESSING, COMPLETED, WITH_ERRORS = "Processing", "Completed", "Completed with Errors"


class Refusal(Exception):
    """A request the tenant refuses with a SOAP fault."""

    def __init__(self, code: str, message: str, problems: list[Problem] | None = None,
                 processing: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.problems = problems or []
        self.processing = processing


class WorkdayEmulator(Emulator):
    system: ClassVar[str] = "workday"
    url_suffixes: ClassVar[dict[str, str]] = {"url": f"/ccx/service/{SANDBOX_TENANT}/Financial_Management/v45.0"}

    books: Books

    def reset(self) -> None:
        with self.lock:
            self.books = Books(closed_through=str(self.options.get("closed_through", "2025-12")))
            self.wids = 0
            self.calls: Counter[str] = Counter()  # the request log: operations answered, by name
            self.imports: dict[str, dict[str, Any]] = {}  # import process WID → its journals' outcome

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {**self.books.state(), "wids": self.wids, "imports": self.imports}

    def load(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.books.load(state)
            self.wids = int(state.get("wids", len(self.books.journals)))
            self.imports = dict(state.get("imports", {}))

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"tenant": self.options.get("tenant", SANDBOX_TENANT), **self.books.dump()}

    def routes(self) -> list[BaseRoute]:
        path = "/ccx/service/{tenant}/Financial_Management/{version}"
        return [Route(path, self.wsdl, methods=["GET"]), Route(path, self.call, methods=["POST"]),
                Route("/ccx/service/{tenant}/Integrations/{version}", self.call, methods=["POST"])]

    def error_response(self, status: int, request: Request, retry_after: int | None = None) -> Response:
        """Injected 429/5xx in the tenant's own shape: a SOAP fault."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        texts = {429: ("SOAP-ENV:Client", "Too many requests; retry later."),
                 500: ("SOAP-ENV:Server", "Internal Server Error"),
                 503: ("SOAP-ENV:Server", "Service Unavailable: the tenant is not accepting requests now.")}
        code, message = texts.get(status, ("SOAP-ENV:Server", f"HTTP {status}"))
        return Response(fault_envelope(code, message), status_code=status, media_type=XML, headers=headers)

    # -- HTTP --------------------------------------------------------------------------------------

    async def wsdl(self, request: Request) -> Response:
        """`?wsdl`: the subset as one document (schema inlined, address = this endpoint)."""
        if "wsdl" not in request.query_params:
            return Response(fault_envelope("SOAP-ENV:Client", "Use POST for SOAP requests or ?wsdl for the WSDL."),
                            status_code=500, media_type=XML)
        return Response(single_wsdl(str(request.url.remove_query_params("wsdl"))), media_type=XML)

    async def call(self, request: Request) -> Response:
        """One SOAP call, worked out `alone()`, one call at a time as on the event loop: the loop stays
        free to send the answers a realistic sandbox holds until they are due (an import of 500 journals is ~0.15 s of booking; worked out on the loop, it delayed every
        answer that fell due meanwhile, so a tenant's 700 ms calls took 0.8-1.1 s)."""
        body = await request.body()
        return await self.alone(self._work, body, request.url.path, request.path_params["tenant"])

    def _work(self, body: bytes, path: str, tenant: str) -> Response:
        try:
            envelope = etree.fromstring(body, parser=safe_parser())
        except etree.XMLSyntaxError as exc:
            return refused(Refusal("SOAP-ENV:Client", f"Invalid XML: {exc}"))
        try:
            if envelope.getroottree().docinfo.doctype:
                raise Refusal("SOAP-ENV:Client", "DTDs are not allowed in requests.")
            self._authenticate(envelope, tenant)
            service = "Integrations" if "/Integrations/" in path else "Financial_Management"
            operation = self._operation(envelope, SERVICES[service])
            self.calls[operation[0]] += 1
            busy = float(self.options.get("busy_rate", 0.0))
            if busy and self.rng.random() < busy:
                raise Refusal("SOAP-ENV:Server.processingError",
                              "The server is busy processing other requests. Please try again later.", processing=True)
            answer = getattr(self, f"_{operation[0].lower()}")(operation[1])
        except Refusal as refusal:
            return refused(refusal)
        if isinstance(answer, Spliced):
            return Response(answer.envelope(), media_type=XML)
        return Response(success_envelope(answer), media_type=XML)

    def _authenticate(self, envelope: etree._Element, tenant: str) -> None:
        token = envelope.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        username = token.findtext(f"{{{WSSE}}}Username") if token is not None else None
        password = token.findtext(f"{{{WSSE}}}Password") if token is not None else None
        expected_tenant = self.options.get("tenant", SANDBOX_TENANT)
        expected = f"{self.options.get('username', SANDBOX_USER)}@{expected_tenant}"
        if tenant != expected_tenant or username != expected or password != self.options.get("password",
                                                                                              SANDBOX_PASSWORD):
            raise Refusal("SOAP-ENV:Client.authenticationError", "invalid username or password")

    def _operation(self, envelope: etree._Element, known: tuple[str, ...]) -> tuple[str, etree._Element]:
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        element = next(iter(body), None) if body is not None else None
        if element is None or not isinstance(element.tag, str) or not element.tag.startswith(Q):
            raise Refusal("SOAP-ENV:Client", "The SOAP Body holds no Workday request element.")
        name = etree.QName(element).localname
        operation = name.removesuffix("_Request")
        if not name.endswith("_Request") or operation not in known:
            raise Refusal("SOAP-ENV:Client.validationError", f"Validation error occurred. Unknown operation {name}",
                          [Problem(f"Element '{name}' is not a request of this service.", f"/ns0:{name}[1]")])
        if self.options.get("validate_schema", True):
            error = violation(self.schema(name), element)
            if error is not None:
                message = str(error.message)
                raise Refusal("SOAP-ENV:Client.validationError", f"Validation error occurred. {message}",
                              [Problem(message, _xpath(element, error.path))])
        return operation, element

    def schema(self, request: str) -> etree.XMLSchema:
        """The tenant's own schema when it is at hand and declares `request` (a request the real
        WSDL refuses is refused here too), else the project's XSD (the recorded subset has no
        types for Import_Accounting_Journal, and the Integrations service is another WSDL)."""
        setting = self.options.get("request_schema")
        if setting != "":
            path = Path(setting) if setting else recordings_dir() / "workday" / RECORDED_WSDL
            embedded = path.suffix == ".wsdl"
            official = official_schema(path, embedded=embedded)
            if official is not None and request in declared(path, embedded=embedded):
                return official
        found = official_schema(XSD_PATH)
        assert found is not None, XSD_PATH  # shipped with the adapter
        return found

    # -- operations -----------------------------------------------------------------------------

    def _book(self, journal: SubmittedJournal) -> tuple[dict[str, Any] | None, list[Problem]]:
        """Validate and book one journal as the tenant does (Add_Only refuses a taken ID)."""
        self.books.duplicate_message = str(self.options.get("duplicate_message", DUPLICATE_MESSAGE))
        self.wids += 1
        return self.books.submit(journal, now=datetime.now(UTC), wid=self._wid())

    def _wid(self) -> str:
        return uuid.UUID(int=self.rng.getrandbits(128) ^ self.wids).hex

    def _submit_accounting_journal(self, request: etree._Element) -> etree._Element:
        stored, problems = self._book(read_journal(request))
        if stored is None:
            first = problems[0].message
            raise Refusal("SOAP-ENV:Client.validationError", f"Validation error occurred. {first}", problems)
        response = wd("Submit_Accounting_Journal_Response", version=_version(request))
        reference = sub(response, "Accounting_Journal_Reference", Descriptor=stored["number"])
        sub(reference, "ID", stored["wid"], type="WID")
        if stored["id"]:
            sub(reference, "ID", stored["id"], type="Accounting_Journal_ID")
        return response

    def _import_accounting_journal(self, request: etree._Element) -> etree._Element:
        """Accepted whole or refused whole (schema, size); then each journal is booked on its own:
        one refused journal becomes an Error message of the process, the others are booked."""
        journals = request.findall(f"{Q}Accounting_Journal_Data")
        limit = int(self.options.get("import_max_journals", 1000))
        if len(journals) > limit:
            raise Refusal("SOAP-ENV:Client.validationError",
                          f"Validation error occurred. An import holds at most {limit} journals; this one holds "
                          f"{len(journals)}.", [Problem(f"At most {limit} Accounting_Journal_Data per request.",
                                                        "/ns0:Import_Accounting_Journal_Request[1]")])
        add_only = _true(request.get(f"{Q}Add_Only"))
        messages: list[dict[str, Any]] = []
        for data in journals:
            journal = read_journal_data(data, add_only=add_only)
            stored, problems = self._book(journal)
            if stored is None:
                messages.extend({"severity": "Error", "summary": problem.message, "journal": journal.journal_id}
                                for problem in problems)
        self.wids += 1
        wid = self._wid()
        now = datetime.now(UTC)
        self.imports[wid] = {"initiated": now.isoformat(), "journals": len(journals), "messages": messages,
                             "ready": now.timestamp() + float(self.options.get("import_seconds", 0))}
        response = wd("Put_Import_Process_Response", version=_version(request))
        sub(sub(response, "Import_Process_Reference", Descriptor=f"Import Accounting Journal {wid[:8]}"),
            "ID", wid, type="WID")
        return response

    def _processes(self, request: etree._Element) -> list[tuple[str, dict[str, Any] | None]]:
        ids = request.iterfind(f"{Q}Request_References/{Q}Import_Process_Reference/{Q}ID")
        return [((node.text or "").strip(), self.imports.get((node.text or "").strip())) for node in ids]

    def _get_import_processes(self, request: etree._Element) -> etree._Element:
        found = self._processes(request)
        unknown = [wid for wid, process in found if process is None]
        if unknown:
            raise Refusal("SOAP-ENV:Client.validationError",
                          f"Validation error occurred. Invalid ID value.  '{unknown[0]}' is not a valid ID value "
                          "for type = 'WID'", [Problem(f"Invalid ID value.  '{unknown[0]}' is not a valid ID value "
                                                      "for type = 'WID'", "/ns0:Get_Import_Processes_Request[1]")])
        page, count, as_of = self._paging(request)
        response = wd("Get_Import_Processes_Response", version=_version(request))
        chunk = self._page(response, found, page, count, as_of)
        data = sub(response, "Response_Data")
        now = datetime.now(UTC).timestamp()
        for wid, process in chunk:
            assert process is not None
            entry = sub(data, "Import_Process")
            sub(sub(entry, "Import_Process_Reference"), "ID", wid, type="WID")
            details = sub(entry, "Import_Process_Data")
            sub(details, "Initiated_DateTime", process["initiated"])
            done = now >= process["ready"]
            if done:
                sub(details, "Completed_DateTime", datetime.fromtimestamp(process["ready"], UTC).isoformat())
            status = (WITH_ERRORS if process["messages"] else COMPLETED) if done else PROCESSING
            sub(sub(details, "Status_Reference", Descriptor=status), "ID", status, type="Background_Process_Status_ID")
            sub(details, "Percent_Complete", "100" if done else "0")
        return response

    def _get_import_process_messages(self, request: etree._Element) -> etree._Element:
        found = self._processes(request)
        if len(found) != 1 or found[0][1] is None:
            raise Refusal("SOAP-ENV:Client.validationError", "Validation error occurred. Name one known import "
                          "process.", [Problem("Name one known Import_Process_Reference.",
                                               "/ns0:Get_Import_Process_Messages_Request[1]")])
        process = found[0][1]
        page, count, as_of = self._paging(request)
        response = wd("Get_Import_Process_Messages_Response", version=_version(request))
        messages = process["messages"] if datetime.now(UTC).timestamp() >= process["ready"] else []
        chunk = self._page(response, messages, page, count, as_of)
        data = sub(response, "Response_Data")
        for message in chunk:
            entry = sub(data, "Import_Process_Message")
            sub(sub(entry, "Severity_Reference", Descriptor=message["severity"]), "ID", message["severity"],
                type="Severity_Level_ID")
            sub(entry, "Message_Summary", message["summary"])
            if message["journal"]:
                sub(sub(entry, "Journal_Reference"), "ID", message["journal"], type="Accounting_Journal_ID")
        return response

    def _get_journals(self, request: etree._Element) -> Spliced:
        criteria = request.find(f"{Q}Request_Criteria")
        page, count, as_of = self._paging(request)

        def text(name: str) -> str | None:
            return criteria.findtext(f"{Q}{name}") if criteria is not None else None

        found = self.books.find(
            companies={i.text or "" for i in criteria.iterfind(f"{Q}Organization_Reference/{Q}ID")}
            if criteria is not None else set(),
            accounting_from=_date(text("Accounting_From_Date")), accounting_to=_date(text("Accounting_To_Date")),
            updated_from=_moment(text("Updated_From_Date")), updated_to=_moment(text("Updated_To_Date")),
            number=text("Journal_Number"),
            statuses={i.text or "" for i in criteria.iterfind(f"{Q}Status_Reference/{Q}ID")}
            if criteria is not None else set(),
            as_of=as_of)
        response = wd("Get_Journals_Response", version=_version(request))
        if criteria is not None:
            response.append(_copy(criteria))
        chunk = self._page(response, found, page, count, as_of)
        return Spliced(response, sub(response, "Response_Data"), "".join(journal_entry_xml(j) for j in chunk))

    def _get_account_sets(self, request: etree._Element) -> etree._Element:
        response, details = self._single(request, "Account_Set", ACCOUNT_SET, "Standard Chart of Accounts")
        if details is not None:
            sub(details, "Chart_of_Accounts", "true")
            for number, account in self.books.accounts.items():
                entry = sub(details, "Ledger_Account_Data")
                sub(entry, "Ledger_Account_Identifier", number)
                sub(entry, "Ledger_Account_Name", account["name"])
                sub(sub(entry, "Ledger_Account_Type_Reference"), "ID", account["type"], type="Ledger_Account_Type_ID")
                sub(entry, "Retired", "true" if account["retired"] else "false")
        return response

    def _get_cost_centers(self, request: etree._Element) -> etree._Element:
        return self._organizations(request, "Cost_Center", self.books.cost_centers)

    def _get_regions(self, request: etree._Element) -> etree._Element:
        return self._organizations(request, "Region", self.books.regions)

    def _organizations(self, request: etree._Element, item: str, values: dict[str, Any]) -> etree._Element:
        page, count, as_of = self._paging(request)
        response = wd(f"Get_{item}s_Response", version=_version(request))
        chunk = self._page(response, list(values.items()), page, count, as_of)
        data = sub(response, "Response_Data")
        for code, value in chunk:
            entry = sub(data, item)
            reference = sub(entry, f"{item}_Reference", Descriptor=value["name"])
            sub(reference, "ID", uuid.uuid5(uuid.NAMESPACE_OID, f"{item}:{code}").hex, type="WID")
            sub(reference, "ID", code, type="Organization_Reference_ID")
            sub(reference, "ID", code, type=f"{item}_Reference_ID")
            org = sub(sub(entry, f"{item}_Data"), "Organization_Data")
            sub(org, "ID", code)
            sub(org, "Organization_Name", value["name"])
            sub(org, "Organization_Code", code)
            sub(org, "Organization_Active", "true" if value["active"] else "false")
        return response

    def _single(self, request: etree._Element, kind: str, object_id: str,
                name: str) -> tuple[etree._Element, etree._Element | None]:
        """Get_<kind>s of the tenant's one <kind>: the response, and its <kind>_Data to fill
        (None when Request_References asked for another one)."""
        wanted = {i.text for i in request.iterfind(f"{Q}Request_References/{Q}{kind}_Reference/{Q}ID")}
        unknown = sorted(str(w) for w in wanted if w != object_id)
        if unknown:  # the tenant refuses a reference it does not know rather than answering nothing
            message = f"Invalid ID value.  '{unknown[0]}' is not a valid ID value for type = '{kind}_ID'"
            raise Refusal("SOAP-ENV:Client.validationError", f"Validation error occurred. {message}",
                          [Problem(message, f"/ns0:Get_{kind}s_Request[1]/ns0:Request_References[1]")])
        page, count, as_of = self._paging(request)
        response = wd(f"Get_{kind}s_Response", version=_version(request))
        chunk = self._page(response, [object_id] if not wanted or object_id in wanted else [], page, count, as_of)
        data = sub(response, "Response_Data")
        if not chunk:
            return response, None
        item = sub(data, kind)
        sub(sub(item, f"{kind}_Reference"), "ID", object_id, type=f"{kind}_ID")
        details = sub(item, f"{kind}_Data")
        sub(details, f"{kind}_ID", object_id)
        sub(details, f"{kind}_Name", name)
        return response, details

    # -- paging -----------------------------------------------------------------------------------

    def _paging(self, request: etree._Element) -> tuple[int, int, datetime]:
        flt = request.find(f"{Q}Response_Filter")
        page = int(Decimal(flt.findtext(f"{Q}Page") or "1")) if flt is not None else 1
        count = int(Decimal(flt.findtext(f"{Q}Count") or "0")) if flt is not None else 0
        as_of = _moment(flt.findtext(f"{Q}As_Of_Entry_DateTime")) if flt is not None else None
        return page, count or int(self.options.get("default_count", 100)), as_of or datetime.now(UTC)

    @staticmethod
    def _page(response: etree._Element, items: list[Any], page: int, count: int, as_of: datetime) -> list[Any]:
        """Echo Response_Filter, add Response_Results, and return the items of `page`."""
        total_pages = (len(items) + count - 1) // count
        flt = sub(response, "Response_Filter")
        sub(flt, "As_Of_Effective_Date", as_of.date().isoformat())
        sub(flt, "As_Of_Entry_DateTime", as_of.isoformat())
        sub(flt, "Page", str(page))
        sub(flt, "Count", str(count))
        chunk = items[(page - 1) * count: page * count]
        results = sub(response, "Response_Results")
        sub(results, "Total_Results", str(len(items)))
        sub(results, "Total_Pages", str(total_pages))
        sub(results, "Page_Results", str(len(chunk)))
        sub(results, "Page", str(page))
        return chunk


# -- reading requests ------------------------------------------------------------------------------

def _ids(element: etree._Element | None) -> list[tuple[str, str]]:
    if element is None:
        return []
    return [(node.get(TYPE, ""), (node.text or "").strip()) for node in element if node.tag == ID_TAG]


def _true(text: str | None) -> bool:
    return (text or "").strip() in ("true", "1")


def read_journal(request: etree._Element) -> SubmittedJournal:
    data = request.find(f"{Q}Accounting_Journal_Data")
    assert data is not None  # the schema requires it
    return read_journal_data(data, add_only=_true(request.get(f"{Q}Add_Only")))


def read_journal_data(data: etree._Element, *, add_only: bool) -> SubmittedJournal:
    """One Accounting_Journal_Data, each element's children visited once (an import holds up to
    1,000 journals; a find per field visited them once per field): what a find per field read."""
    found, lines = children(data, f"{Q}Journal_Entry_Line_Replacement_Data")
    journal = SubmittedJournal(
        journal_id=_stripped(found, "Accounting_Journal_ID"), add_only=add_only,
        submit=_true(_stripped(found, "Submit")), company=_first_id(found, "Company_Reference", "Company_Reference_ID"),
        currency=_first_id(found, "Currency_Reference", "Currency_ID"),
        ledger_type=_first_id(found, "Ledger_Type_Reference", "Ledger_Type_ID"),
        accounting_date=_stripped(found, "Accounting_Date"),
        source=_first_id(found, "Journal_Source_Reference", "Journal_Source_ID"),
        memo=_stripped(found, "Journal_Entry_Memo"), external_reference=_stripped(found, "External_Reference_ID"))
    for line in lines:
        fields, worktag_nodes = children(line, f"{Q}Worktags_Reference")
        account = next((node for reference in line if reference.tag == f"{Q}Ledger_Account_Reference"
                        for node in reference if node.tag == ID_TAG and node.get(TYPE) == "Ledger_Account_ID"),
                       None)
        journal.lines.append(SubmittedLine(
            order=_stripped(fields, "Line_Order"), account=(account.text or "").strip() if account is not None else None,
            account_set=account.get(f"{Q}parent_id") if account is not None else None,
            debit=_stripped(fields, "Debit_Amount"), credit=_stripped(fields, "Credit_Amount"),
            currency=_first_id(fields, "Currency_Reference", "Currency_ID"), memo=_stripped(fields, "Memo"),
            worktags=[pair for tag in worktag_nodes for pair in _ids(tag)]))
    return journal


def _stripped(found: dict[Any, etree._Element], name: str) -> str | None:
    node = found.get(Q + name)
    value = (node.text or "").strip() if node is not None else ""
    return value or None


def _first_id(found: dict[Any, etree._Element], name: str, id_type: str) -> str | None:
    reference = found.get(Q + name)
    if reference is None:
        return None
    return next(((node.text or "").strip() for node in reference if node.tag == ID_TAG and node.get(TYPE, "") == id_type),
                None)


def _version(request: etree._Element) -> str:
    return request.get(f"{Q}version") or "v45.0"


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text.strip()[:10]) if text and text.strip() else None


def _moment(text: str | None) -> datetime | None:
    if not text or not text.strip():
        return None
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _xpath(element: etree._Element, path: str | None) -> str:
    """lxml's error path (/wd:A/wd:B[2]) in the tenant's form (/ns0:A[1]/ns0:B[2])."""
    if not path:
        return f"/ns0:{etree.QName(element).localname}[1]"
    steps = []
    for step in path.strip("/").split("/"):
        name = step.split(":", 1)[-1]
        steps.append(f"ns0:{name}" if "[" in name else f"ns0:{name}[1]")
    return "/" + "/".join(steps)


# -- writing responses -----------------------------------------------------------------------------

def wd(name: str, **attributes: str) -> etree._Element:
    return etree.Element(f"{Q}{name}", {f"{Q}{k}": v for k, v in attributes.items()}, nsmap={"wd": WD})


def sub(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{Q}{name}", {f"{Q}{k}": v for k, v in attributes.items()})
    if text is not None:
        element.text = text
    return element


def _copy(element: etree._Element) -> etree._Element:
    copied = etree.fromstring(etree.tostring(element), parser=safe_parser())
    return copied


@dataclass
class Spliced:
    """An answer whose `holder` element's content is XML written as text (`xml`): a page of 999
    journals is ~70,000 elements, which lxml builds one SubElement at a time ~10x slower."""

    payload: etree._Element
    holder: etree._Element
    xml: str

    def envelope(self) -> bytes:
        if not self.xml:  # an empty holder, written as lxml writes it
            return success_envelope(self.payload)
        marker = uuid.uuid4().hex
        self.holder.text = marker
        head, tail = success_envelope(self.payload).split(marker.encode())
        return head + self.xml.encode() + tail


def _element(tag: str, text: str | None, **attributes: str) -> str:
    """`<wd:tag …>text</wd:tag>` as lxml writes it (`<wd:tag/>` without text)."""
    attrs = "".join(f' wd:{name}="{xml_attribute(value)}"' for name, value in attributes.items())
    return f"<wd:{tag}{attrs}/>" if text is None else f"<wd:{tag}{attrs}>{xml_text(text)}</wd:{tag}>"


def _reference(tag: str, value: str, id_type: str, **attributes: str) -> str:
    return f"<wd:{tag}>{_element('ID', value, type=id_type, **attributes)}</wd:{tag}>"


def journal_entry_xml(journal: dict[str, Any]) -> str:
    """One Journal_Entry of a Get_Journals answer (prefix wd, declared by the response)."""
    ids = _element("ID", journal["wid"], type="WID")
    if journal["id"]:
        ids += _element("ID", journal["id"], type="Accounting_Journal_ID")
    status = journal["status"]
    parts = [f'<wd:Journal_Entry><wd:Journal_Entry_Reference wd:Descriptor="{xml_attribute(journal["number"])}">{ids}'
             "</wd:Journal_Entry_Reference><wd:Journal_Entry_Data>", _element("Journal_Number", journal["number"]),
             f'<wd:Journal_Status_Reference wd:Descriptor="{xml_attribute(status)}">'
             f'{_element("ID", status, type="Journal_Entry_Status_ID")}</wd:Journal_Status_Reference>',
             f'<wd:Company_Reference wd:Descriptor="{xml_attribute(COMPANIES.get(journal["company"], ("", ""))[0])}">'
             f'{_element("ID", journal["company"], type="Company_Reference_ID")}</wd:Company_Reference>',
             _reference("Currency_Reference", journal["currency"], "Currency_ID"),
             _element("Accounting_Date", journal["date"])]
    if journal["source"]:
        parts.append(_reference("Journal_Source_Reference", journal["source"], "Journal_Source_ID"))
    if journal["memo"]:
        parts.append(_element("Memo", journal["memo"]))
    if journal["external_reference"]:
        parts.append(_element("External_Reference_ID", journal["external_reference"]))
    debits = sum((Decimal(line["debit"]) for line in journal["lines"] if line["debit"]), Decimal(0))
    credits = sum((Decimal(line["credit"]) for line in journal["lines"] if line["credit"]), Decimal(0))
    parts += [_element("Total_Ledger_Debits", f"{debits:f}"), _element("Total_Ledger_Credits", f"{credits:f}"),
              _element("Creation_Date", journal["created"]), _element("Last_Updated_Date", journal["updated"])]
    account_set = xml_attribute(ACCOUNT_SET)
    for line in journal["lines"]:  # the bulk of a page: written inline (every value here is set)
        debit, credit, memo = line["debit"], line["credit"], line["memo"]
        parts.append(
            f'<wd:Journal_Entry_Line_Data><wd:Line_Order>{xml_text(line["order"])}</wd:Line_Order>'
            f'<wd:Ledger_Account_Reference><wd:ID wd:type="Ledger_Account_ID" wd:parent_id="{account_set}" '
            f'wd:parent_type="Account_Set_ID">{xml_text(line["account"])}</wd:ID></wd:Ledger_Account_Reference>'
            + ("" if debit is None else f"<wd:Debit_Amount>{xml_text(debit)}</wd:Debit_Amount>")
            + ("" if credit is None else f"<wd:Credit_Amount>{xml_text(credit)}</wd:Credit_Amount>")
            + f'<wd:Currency_Reference><wd:ID wd:type="Currency_ID">{xml_text(line["currency"] or journal["currency"])}'
            "</wd:ID></wd:Currency_Reference>"
            + (f"<wd:Memo>{xml_text(memo)}</wd:Memo>" if memo else "")
            + "".join(f'<wd:Worktags_Reference><wd:ID wd:type="{xml_attribute(id_type)}">{xml_text(value)}</wd:ID>'
                      "</wd:Worktags_Reference>" for id_type, value in line["worktags"].items())
            + "</wd:Journal_Entry_Line_Data>")
    parts.append("</wd:Journal_Entry_Data></wd:Journal_Entry>")
    return "".join(parts)


def success_envelope(payload: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"env": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(payload)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def fault_envelope(code: str, message: str, problems: list[Problem] | None = None,
                   processing: bool = False) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"SOAP-ENV": SOAP_ENV})
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault", nsmap={"wd": WD})
    etree.SubElement(fault, "faultcode").text = code
    etree.SubElement(fault, "faultstring").text = message
    if problems or processing:
        detail = etree.SubElement(fault, "detail")
        if problems:
            holder = sub(detail, "Validation_Fault")
            for problem in problems:
                error = sub(holder, "Validation_Error")
                sub(error, "Message", problem.message)
                sub(error, "Detail_Message", problem.detail or problem.message)
                sub(error, "Xpath", problem.xpath)
        else:
            sub(sub(detail, "Processing_Fault"), "Detail_Message", message)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def refused(refusal: Refusal) -> Response:
    return Response(fault_envelope(refusal.code, refusal.message, refusal.problems, refusal.processing),
                    status_code=500, media_type=XML)


def single_wsdl(address: str) -> bytes:
    """The packaged WSDL with its XSD inlined and the port bound to `address`."""
    wsdl = etree.parse(str(WSDL_PATH), parser=safe_parser()).getroot()
    schema = etree.parse(str(XSD_PATH), parser=safe_parser()).getroot()
    types = wsdl.find(f"{{{WSDL_NS}}}types")
    assert types is not None
    for child in list(types):
        types.remove(child)
    types.append(schema)
    location = wsdl.find(f".//{{{WSDL_NS}}}service/{{{WSDL_NS}}}port/{{http://schemas.xmlsoap.org/wsdl/soap/}}address")
    if location is not None:
        location.set("location", address)
    return bytes(etree.tostring(wsdl, xml_declaration=True, encoding="UTF-8"))
