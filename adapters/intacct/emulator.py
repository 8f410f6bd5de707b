"""A protocol-faithful Sage Intacct XML gateway for the sandbox (api-reference §1).

POST `/ia/xml/xmlgw.phtml` (and `/<pod>/ia/xml/xmlgw.phtml`, the per-session endpoint that
`getAPISession` hands out). What it does: sender and user credential checks; sessions with a
sliding timeout; `uniqueid=true` refusing an already executed function controlid;
`transaction="true"` all-or-nothing with `aborted` results (XL03000009); GLBATCH validation
(≥ 2 lines, balanced, mm/dd/yyyy dates, open periods, known journal/accounts/departments/
locations); readByQuery / readMore (opaque resultIds) / query (offset) paging; get_trialbalance
and GLACCOUNTBALANCE computed from what was posted.

Knobs (`options`, also settable at runtime with POST `/intacct/_options`, JSON):
    sender_id, sender_password, company_id, user_id, user_password   accepted credentials
    session_seconds (3600)            sliding session timeout
    pod ("na1")                       path segment of the per-session endpoint
    duplicate_errorno ("XL03000011")  errorno for a re-sent controlid (§6 open point)
    result_id_seconds (900)           idle lifetime of a readByQuery resultId (§6 open point)
    trial_balance_tag ("trialbalance") row element of get_trialbalance (§6 open point)
    throttle_every (0)                every Nth request is throttled with GW-0010
    throttle_status (429)             HTTP status of that answer (200: throttle inside a 200)
    retry_after_header (None)         seconds sent as Retry-After on throttles (§6 open point)
    fault_524_rate (0.0) / fault_524_next (0)   answer HTTP 524 after committing a write
                                      (randomly, or for the next N writing requests)
    bulk_gl_lines (0)                 generated GLENTRY history (2025), built on demand
    clock_offset (0)                  seconds added to the emulator's clock
    request_schema (None)             the official api.xsd every request is validated against, as the
                                      gateway does (XL03000003 "XML Parse schema error: ..."): None finds
                                      it in ../shared/recordings/intacct (migo_sync.sandbox.schemas),
                                      a path names it, "" turns the check off
    hidden_objects ([])               objects this company does not have (a module not subscribed, a
                                      user without the permission): read as "Object definition X not found"
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from migo_sync.sandbox.emulator import Emulator
from migo_sync.sandbox.schemas import official_schema, recordings_dir, violation

from .emulator_store import FIELD_TYPES, Company, GLBatchError
from .querylang import Predicate, QueryError, compile_query, like, typed
from .xml import XmlError, parse

DEFAULTS: dict[str, Any] = {
    "sender_id": "migo-sandbox", "sender_password": "sandbox-sender-secret", "company_id": "migo-demo",
    "user_id": "sync_bot", "user_password": "sandbox-user-secret", "session_seconds": 3600, "pod": "na1",
    "duplicate_errorno": "XL03000011", "result_id_seconds": 900, "trial_balance_tag": "trialbalance",
    "throttle_every": 0, "throttle_status": 429, "retry_after_header": None, "fault_524_rate": 0.0,
    "fault_524_next": 0, "bulk_gl_lines": 0, "clock_offset": 0, "hidden_objects": [],
    "request_schema": None,
}
MAX_OPEN_RESULTS = 200
Error = tuple[str, str, str, str]  # errorno, description, description2, correction


def esc(value: str) -> str:
    return escape(value) if ("&" in value or "<" in value or ">" in value) else value


def render(value: Any, kind: str) -> str:
    if value is None or value == "":
        return ""
    if kind == "date":
        return f"{value[5:7]}/{value[8:10]}/{value[:4]}"
    if kind == "timestamp":
        return f"{value[5:7]}/{value[8:10]}/{value[:4]} {value[11:19]}"
    return esc(str(value))


def errors_xml(errors: Sequence[Error]) -> str:
    return "<errormessage>" + "".join(
        f"<error><errorno>{esc(n)}</errorno><description>{esc(d)}</description>"
        f"<description2>{esc(d2)}</description2><correction>{esc(c)}</correction></error>"
        for n, d, d2, c in errors) + "</errormessage>"


def text(node: Any, tag: str) -> str:
    child = node.find(tag) if node is not None else None
    return (child.text or "").strip() if child is not None else ""


@dataclass
class ResultSet:
    obj: str
    tag: str
    fields: list[tuple[str, str]]
    rows: Sequence[dict[str, Any]]
    indices: Sequence[int]
    pagesize: int
    position: int
    expires: float
    id: str = ""


@dataclass
class Outcome:
    """One function's answer; `commit` applies its effect (deferred inside a transaction)."""

    function: str
    controlid: str
    status: str = "success"
    data: str = ""
    errors: tuple[Error, ...] = ()
    commit: Callable[[], str] | None = None


class IntacctEmulator(Emulator):
    system: ClassVar[str] = "intacct"
    url_suffixes: ClassVar[dict[str, str]] = {"url": "/ia/xml/xmlgw.phtml"}

    def __init__(self, *, seed: int = 0, options: dict[str, Any] | None = None) -> None:
        # requests are worked on `alone()`: 100 journals are ~45 ms of validation, which on the loop
        # made every other answer falling due meanwhile late
        super().__init__(seed=seed, options=options)
        self.request_schema()  # read now (once per process), not while the first request waits

    def opt(self, name: str) -> Any:
        return self.options.get(name, DEFAULTS[name])

    def now(self) -> float:
        return time.time() + float(self.opt("clock_offset"))

    def stamp(self) -> str:
        return datetime.fromtimestamp(self.now(), UTC).strftime("%Y-%m-%d %H:%M:%S")

    def reset(self) -> None:
        with self.lock:
            self._reset()

    def _reset(self) -> None:
        self.company = Company(bulk_lines=int(self.opt("bulk_gl_lines")))
        self.executed: dict[str, str] = {}
        self.sessions: dict[str, float] = {}
        self.result_sets: dict[str, ResultSet] = {}
        self.requests = 0
        self.endpoint_hits: Counter[str] = Counter()

    def routes(self) -> list[BaseRoute]:
        return [Route("/ia/xml/xmlgw.phtml", self.gateway, methods=["POST"]),
                Route("/{pod}/ia/xml/xmlgw.phtml", self.gateway, methods=["POST"]),
                Route("/_options", self.options_route, methods=["GET", "POST"])]

    # -- persistence --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self.lock:  # copies: the next request may change them while they are written out
            return {"batches": list(self.company.batches), "next_recordno": self.company.next_recordno,
                    "executed": dict(self.executed), "sessions": dict(self.sessions)}

    def load(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.company.restore(list(state.get("batches", [])), int(state.get("next_recordno", 1)))
            self.executed = dict(state.get("executed", {}))
            self.sessions = {k: float(v) for k, v in state.get("sessions", {}).items()}

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return self._dump()

    def _dump(self) -> dict[str, Any]:
        journals = [{"recordno": b["RECORDNO"], "controlid": b["controlid"], "journal": b["JOURNAL"],
                     "batch_date": b["BATCH_DATE"], "title": b["BATCH_TITLE"], "referenceno": b["REFERENCENO"],
                     "state": b["STATE"],
                     "lines": [{"line_no": int(line["LINE_NO"]), "accountno": line["ACCOUNTNO"],
                                "tr_type": int(line["TR_TYPE"]), "amount": line["TRX_AMOUNT"],
                                "department": line["DEPARTMENT"], "location": line["LOCATION"],
                                "memo": line["DESCRIPTION"]} for line in b["lines"]]}
                    for b in self.company.batches]
        return {"journals": journals, "journal_count": len(journals), "line_count": len(self.company.lines),
                "executed_controlids": len(self.executed), "open_sessions": len(self.sessions),
                "bulk_gl_lines": len(self.company.bulk), "requests_by_endpoint": dict(self.endpoint_hits)}

    async def options_route(self, request: Request) -> Response:
        if request.method == "POST":
            changes = await request.json()
            with self.lock:
                self.options.update(changes)
                if "bulk_gl_lines" in self.options:
                    self.company.bulk.size = int(self.options["bulk_gl_lines"])
        return JSONResponse({key: self.opt(key) for key in DEFAULTS if "password" not in key})

    # -- HTTP ---------------------------------------------------------------------------------

    def error_response(self, status: int, request: Request, retry_after: int | None = None) -> Response:
        if status == 429:
            return self.throttled(status, retry_after)
        if status == 503:
            return Response("<html><body><h1>503 Service Unavailable</h1></body></html>", status_code=503,
                            media_type="text/html",
                            headers={"Retry-After": str(retry_after)} if retry_after is not None else {})
        body = self.control_failure("", "", [("XL03000000", "Internal error", "An internal error occurred.", "")])
        return Response(body, status_code=status, media_type="application/xml")

    def throttled(self, status: int, retry_after: int | None) -> Response:
        body = self.control_failure("", "", [("GW-0010", "Rate limit exceeded",
                                              "Too many requests; the gateway throttled this request.",
                                              "Wait, then retry the request.")])
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return Response(body, status_code=status, media_type="application/xml", headers=headers)

    async def gateway(self, request: Request) -> Response:
        body = await request.body()
        url = str(request.url.replace(query=""))
        prefix = url[: url.index("/ia/xml/xmlgw.phtml")]
        if "pod" in request.path_params:
            prefix = prefix.rsplit("/", 1)[0]
        self.endpoint_hits[request.url.path] += 1
        self.requests += 1
        every = int(self.opt("throttle_every"))
        if every and self.requests % every == 0:
            header = self.opt("retry_after_header")
            return self.throttled(int(self.opt("throttle_status")), int(header) if header is not None else None)
        xml, wrote = await self.alone(self.handle, body, f"{prefix}/{self.opt('pod')}/ia/xml/xmlgw.phtml")
        if wrote and self.fault_524():
            return Response("<html><body><h1>524: A timeout occurred</h1></body></html>", status_code=524,
                            media_type="text/html")
        return Response(xml, media_type="application/xml")

    def fault_524(self) -> bool:
        pending = int(self.opt("fault_524_next"))
        if pending > 0:
            self.options["fault_524_next"] = pending - 1
            return True
        return self.rng.random() < float(self.opt("fault_524_rate"))

    # -- documents ----------------------------------------------------------------------------

    @staticmethod
    def control_failure(senderid: str, controlid: str, errors: Sequence[Error]) -> str:
        return (f'<?xml version="1.0" encoding="UTF-8"?><response><control><status>failure</status>'
                f"<senderid>{esc(senderid)}</senderid><controlid>{esc(controlid)}</controlid>"
                f"<uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control>{errors_xml(errors)}</response>")

    def handle(self, body: bytes, endpoint: str) -> tuple[str, bool]:
        """The response document for one request, and whether anything was written."""
        try:
            root = parse(body)
        except XmlError as exc:
            return self.control_failure("", "", [("XL03000003", "XML Parse schema error",
                                                  f"XML Parse schema error: {exc}", "Fix the request XML.")]), False
        control = root.find("control")
        senderid, controlid = text(control, "senderid"), text(control, "controlid")
        refusal = self.schema_refusal(root)
        if refusal is not None:
            return self.control_failure(senderid, controlid, [refusal]), False
        if root.tag != "request" or control is None or not root.findall("operation"):
            return self.control_failure(senderid, controlid, [(
                "XL03000003", "XML Parse schema error",
                "XML Parse schema error: a request needs one control and at least one operation", "")]), False
        if text(control, "dtdversion") != "3.0":
            return self.control_failure(senderid, controlid, [(
                "XL03000003", "XML Parse schema error", "XML Parse schema error: dtdversion must be 3.0", "")]), False
        if senderid != self.opt("sender_id") or text(control, "password") != self.opt("sender_password"):
            return self.control_failure(senderid, controlid, [(
                "XL03000006", "Incorrect Intacct XML Partner ID or password.", "",
                "Check the Web Services sender id and password.")]), False
        unique = text(control, "uniqueid").lower() != "false"  # documented default: true
        parts = [f'<?xml version="1.0" encoding="UTF-8"?><response><control><status>success</status>'
                 f"<senderid>{esc(senderid)}</senderid><controlid>{esc(controlid)}</controlid>"
                 f"<uniqueid>{'true' if unique else 'false'}</uniqueid><dtdversion>3.0</dtdversion></control>"]
        wrote = False
        for operation in root.findall("operation"):
            auth_xml, session_ok = self.authenticate(operation.find("authentication"))
            if not session_ok:
                parts.append(f"<operation>{auth_xml}</operation>")
                continue
            outcomes = self.run(operation.find("content"), unique, operation.get("transaction") == "true", endpoint)
            wrote = wrote or any(o.status == "success" and o.function == "create" for o in outcomes)
            parts.append(f"<operation>{auth_xml}{''.join(self.result_xml(o) for o in outcomes)}</operation>")
        parts.append("</response>")
        return "".join(parts), wrote

    def schema_refusal(self, root: Any) -> Error | None:
        """The gateway's answer to a request its schema refuses (libxml2's words, as recorded in
        jfcote87-execXMLError.xml), or None when it is valid or no schema is at hand."""
        schema = self.request_schema()
        error = violation(schema, root) if schema is not None else None
        if error is None:
            return None
        return ("XL03000003", "", f"XML Parse schema error: Error {error.type}: {error.message} "
                                  f"Line: {error.line}, column: {error.column}.", "")

    def request_schema(self) -> Any:
        """The official schema requests are checked against (`request_schema`), or None."""
        setting = self.opt("request_schema")
        if setting == "":
            return None
        return official_schema(Path(setting) if setting else recordings_dir() / "intacct" / "api.xsd")

    def authenticate(self, auth: Any) -> tuple[str, bool]:
        now = self.now()
        expires = now + float(self.opt("session_seconds"))
        session_id = text(auth, "sessionid")
        login = auth.find("login") if auth is not None else None
        if session_id:
            current = self.sessions.get(session_id)
            if current is None or current < now:
                self.sessions.pop(session_id, None)
                return self.auth_failure("Invalid session", "The session is invalid or has expired.",
                                         "Request a new session with getAPISession."), False
            self.sessions[session_id] = expires  # sliding timeout
        elif login is not None:
            if (text(login, "userid"), text(login, "companyid"), text(login, "password")) != (
                    self.opt("user_id"), self.opt("company_id"), self.opt("user_password")):
                return self.auth_failure("Sign-in information is incorrect",
                                         "Sign-in information is incorrect. Please check your request.",
                                         "Check the user id, company id and password."), False
        else:
            return self.auth_failure("Authentication missing", "The request has no login and no sessionid.",
                                     ""), False
        stamp = datetime.fromtimestamp(now, UTC).astimezone().isoformat(timespec="seconds")
        timeout = datetime.fromtimestamp(expires, UTC).astimezone().isoformat(timespec="seconds")
        return (f"<authentication><status>success</status><userid>{esc(self.opt('user_id'))}</userid>"
                f"<companyid>{esc(self.opt('company_id'))}</companyid><locationid></locationid>"
                f"<sessiontimestamp>{stamp}</sessiontimestamp><sessiontimeout>{timeout}</sessiontimeout>"
                f"</authentication>"), True

    @staticmethod
    def auth_failure(description: str, description2: str, correction: str) -> str:
        return ("<authentication><status>failure</status><userid></userid><companyid></companyid>"
                "</authentication>" + errors_xml([("XL03000006", description, description2, correction)]))

    @staticmethod
    def result_xml(outcome: Outcome) -> str:
        inner = outcome.data if outcome.status == "success" else errors_xml(outcome.errors)
        return (f"<result><status>{outcome.status}</status><function>{esc(outcome.function)}</function>"
                f"<controlid>{esc(outcome.controlid)}</controlid>{inner}</result>")

    # -- functions ----------------------------------------------------------------------------

    def run(self, content: Any, unique: bool, transaction: bool, endpoint: str) -> list[Outcome]:
        outcomes: list[Outcome] = []
        staged: set[str] = set()
        for node in (content.findall("function") if content is not None else []):
            controlid = node.get("controlid") or ""
            body = node[0] if len(node) else None
            name = body.tag if body is not None else ""
            if not controlid:
                outcome = Outcome(name, controlid, "failure", errors=(
                    ("XL03000003", "XML Parse schema error", "function needs a controlid attribute", ""),))
            elif unique and (controlid in self.executed or controlid in staged):
                outcome = Outcome(name, controlid, "failure", errors=((
                    str(self.opt("duplicate_errorno")), "Duplicate control id",
                    f"A function with control id '{controlid}' has already been executed (uniqueid=true).",
                    "Use a new controlid to run the function again."),))
            else:
                outcome = self.dispatch(name, controlid, body, endpoint)
            if outcome.status == "success" and unique:
                staged.add(controlid)
            if not transaction and outcome.commit is not None and outcome.status == "success":
                self.apply(outcome, unique)
            outcomes.append(outcome)
        if transaction:
            if any(o.status != "success" for o in outcomes):
                rollback = ("XL03000009", "The entire transaction in this operation has been rolled back "
                            "due to an error.", "", "")
                for o in outcomes:
                    if o.status == "success":
                        o.status, o.errors, o.commit = "aborted", (rollback,), None
            else:
                for o in outcomes:
                    if o.commit is not None:
                        self.apply(o, unique)
        return outcomes

    def apply(self, outcome: Outcome, unique: bool) -> None:
        assert outcome.commit is not None
        recordno = outcome.commit()
        if unique:
            self.executed[outcome.controlid] = recordno
        outcome.data = f'<data listtype="objects" count="1"><glbatch><RECORDNO>{recordno}</RECORDNO></glbatch></data>'

    def dispatch(self, name: str, controlid: str, body: Any, endpoint: str) -> Outcome:
        handler = {"getAPISession": self.fn_session, "create": self.fn_create, "readByQuery": self.fn_read_by_query,
                   "readMore": self.fn_read_more, "query": self.fn_query,
                   "get_trialbalance": self.fn_trial_balance}.get(name)
        if handler is None:
            return Outcome(name, controlid, "failure", errors=(
                ("XL03000003", "XML Parse schema error", f"Unsupported function '{name}'", ""),))
        try:
            return handler(controlid, body, endpoint)
        except (QueryError, ValueError) as exc:
            return Outcome(name, controlid, "failure", errors=(("Query Failed", "Query Failed", str(exc), ""),))

    def fn_session(self, controlid: str, body: Any, endpoint: str) -> Outcome:
        session_id = f"{self.rng.getrandbits(128):032x}.."
        self.sessions[session_id] = self.now() + float(self.opt("session_seconds"))
        return Outcome("getAPISession", controlid, data=(
            f"<data><api><sessionid>{session_id}</sessionid><endpoint>{esc(endpoint)}</endpoint>"
            f"<locationid></locationid></api></data>"))

    def fn_create(self, controlid: str, body: Any, endpoint: str) -> Outcome:
        objects = list(body)
        if len(objects) != 1 or objects[0].tag.upper() != "GLBATCH":
            shown = objects[0].tag if objects else "nothing"
            return Outcome("create", controlid, "failure", errors=(
                ("BL01001973", "Object not supported", f"The emulator creates GLBATCH only, not {shown}.", ""),))
        try:
            batch = self.company.validate(objects[0])
        except GLBatchError as exc:
            return Outcome("create", controlid, "failure", errors=(
                ("BL01001973", "Could not create GLBATCH record!", str(exc), "Correct the journal and resend."),))
        stamp = self.stamp()
        return Outcome("create", controlid, commit=lambda: self.company.post(batch, controlid, stamp))

    # -- reads --------------------------------------------------------------------------------

    def open_set(self, obj: str, tag: str, rows: Sequence[dict[str, Any]], predicate: Predicate | None,
                 fields_text: str, pagesize: int) -> ResultSet:
        types = FIELD_TYPES[obj]
        names = list(types) if fields_text in ("", "*") else [f.strip() for f in fields_text.split(",") if f.strip()]
        unknown = [n for n in names if n not in types]
        if unknown:
            raise QueryError(f"unknown field(s) for {obj}: {', '.join(unknown)}")
        indices: Sequence[int] = (range(len(rows)) if predicate is None
                                  else [i for i, row in enumerate(rows) if predicate(row)])
        return ResultSet(obj, tag, [(n, types[n]) for n in names], rows, indices, pagesize, 0,
                         self.now() + float(self.opt("result_id_seconds")))

    def page(self, rs: ResultSet, listtype: str, paging: str) -> str:
        """One page of a result set; paging is "resultid" (readByQuery) or "offset" (query)."""
        start = rs.position
        chunk = rs.indices[start:start + rs.pagesize]
        rs.position = start + len(chunk)
        remaining = len(rs.indices) - rs.position
        body = "".join(
            f"<{rs.tag}>" + "".join(f"<{f}>{render(row.get(f), k)}</{f}>" for f, k in rs.fields) + f"</{rs.tag}>"
            for row in (rs.rows[i] for i in chunk))
        if paging == "offset":
            attrs = f'totalcount="{len(rs.indices)}" offset="{start}" count="{len(chunk)}" numremaining="{remaining}"'
        else:
            result_id = ""
            if remaining:
                rs.id = result_id = rs.id or f"{self.rng.getrandbits(96):024x}"
                self.result_sets[result_id] = rs
                rs.expires = self.now() + float(self.opt("result_id_seconds"))
                while len(self.result_sets) > MAX_OPEN_RESULTS:
                    self.result_sets.pop(next(iter(self.result_sets)))
            else:
                self.result_sets.pop(rs.id, None)
            attrs = (f'count="{len(chunk)}" totalcount="{len(rs.indices)}" numremaining="{remaining}" '
                     f'resultId="{result_id}"')
        return f'<data listtype="{listtype}" {attrs}>{body}</data>'

    def rows_for(self, obj: str, query: str) -> Sequence[dict[str, Any]]:
        if obj == "GLACCOUNTBALANCE":
            match = re.search(r"PERIOD\s*=\s*'((?:\\.|[^'\\])*)'", query)
            if not match:
                raise QueryError("GLACCOUNTBALANCE queries must contain PERIOD = '<reporting period name>'")
            rows = self.company.account_balances(match.group(1).replace("\\'", "'"))
            if rows is None:
                raise QueryError(f"unknown reporting period '{match.group(1)}'")
            return rows
        rows_ = self.company.records(obj)
        if rows_ is None:
            raise QueryError(f"object '{obj}' is not available")
        return rows_

    def fn_read_by_query(self, controlid: str, body: Any, endpoint: str) -> Outcome:
        obj = text(body, "object").upper()
        query = text(body, "query")
        pagesize = int(text(body, "pagesize") or 100)
        if not 1 <= pagesize <= 1000:
            raise QueryError(f"pagesize must be between 1 and 1000, not {pagesize}")
        if obj not in FIELD_TYPES or obj in {str(o).upper() for o in self.opt("hidden_objects") or ()}:
            raise QueryError(f"Object definition {obj} not found")  # the gateway's words (recordings)
        rows = self.rows_for(obj, query)
        predicate = compile_query(query, FIELD_TYPES[obj])[0] if query else None
        rs = self.open_set(obj, obj.lower(), rows, predicate, text(body, "fields"), pagesize)
        return Outcome("readByQuery", controlid, data=self.page(rs, obj.lower(), "resultid"))

    def fn_read_more(self, controlid: str, body: Any, endpoint: str) -> Outcome:
        result_id = text(body, "resultId")
        rs = self.result_sets.get(result_id) if result_id else None
        if rs is None and not result_id and text(body, "object"):
            obj = text(body, "object").upper()
            rs = next((r for r in reversed(self.result_sets.values()) if r.obj == obj), None)
        if rs is None or rs.expires < self.now():
            if rs is not None:
                self.result_sets.pop(result_id, None)
            return Outcome("readMore", controlid, "failure", errors=(
                ("DL02000001", "Invalid resultId", f"There is no open result for resultId '{result_id}'.",
                 "Run the readByQuery again."),))
        return Outcome("readMore", controlid, data=self.page(rs, rs.obj.lower(), "resultid"))

    def fn_query(self, controlid: str, body: Any, endpoint: str) -> Outcome:
        obj = text(body, "object").upper()
        if obj not in FIELD_TYPES or obj == "GLACCOUNTBALANCE":
            raise QueryError(f"object '{obj}' is not available")
        select = body.find("select")
        names = [(f.text or "").strip() for f in select.findall("field")] if select is not None else []
        if not names:
            raise QueryError("query needs select/field (select all is not supported)")
        pagesize = int(text(body, "pagesize") or 100)
        if not 1 <= pagesize <= 2000:
            raise QueryError(f"pagesize must be between 1 and 2000, not {pagesize}")
        offset = int(text(body, "offset") or 0)
        types = FIELD_TYPES[obj]
        filter_node = body.find("filter")
        predicate = filter_predicate(filter_node[0], types) if filter_node is not None and len(filter_node) else None
        rows = self.rows_for(obj, "")
        rs = self.open_set(obj, obj, rows, predicate, ",".join(names), pagesize)
        order = body.find("orderby/order")
        if order is not None:
            field_name = text(order, "field")
            if field_name not in types:
                raise QueryError(f"unknown orderby field '{field_name}'")
            kind = types[field_name]
            rs.indices = sorted(rs.indices, key=lambda i: typed(rows[i].get(field_name), kind) or "",
                                reverse=order.find("descending") is not None)
        rs.position = min(offset, len(rs.indices))
        return Outcome("query", controlid, data=self.page(rs, obj, "offset"))

    def fn_trial_balance(self, controlid: str, body: Any, endpoint: str) -> Outcome:
        def day(tag: str) -> str:
            node = body.find(tag)
            if node is None:
                raise QueryError(f"get_trialbalance needs {tag} or reportingperiodname")
            return date(int(text(node, "year")), int(text(node, "month")), int(text(node, "day"))).isoformat()

        name = text(body, "reportingperiodname")
        if name:
            period = next((p for p in self.company.periods if p["NAME"] == name), None)
            if period is None:
                raise QueryError(f"unknown reporting period '{name}'")
            start, end = period["START_DATE"], period["END_DATE"]
        else:
            start, end = day("startdate"), day("enddate")
        rows = self.company.trial_balance(start, end, text(body, "reportingbook") or "ACCRUAL",
                                          text(body, "showzerobalances") == "true")
        tag = str(self.opt("trial_balance_tag"))
        records = "".join(f"<{tag}>" + "".join(f"<{k}>{esc(v)}</{k}>" for k, v in row.items()) + f"</{tag}>"
                          for row in rows)
        return Outcome("get_trialbalance", controlid,
                       data=f'<data listtype="trialbalance" count="{len(rows)}">{records}</data>')


LEAF_OPS: dict[str, Callable[[Any, list[Any]], bool]] = {
    "equalto": lambda v, a: v == a[0], "notequalto": lambda v, a: v != a[0],
    "lessthan": lambda v, a: v is not None and v < a[0], "lessthanorequalto": lambda v, a: v is not None and v <= a[0],
    "greaterthan": lambda v, a: v is not None and v > a[0],
    "greaterthanorequalto": lambda v, a: v is not None and v >= a[0],
    "between": lambda v, a: v is not None and a[0] <= v <= a[1], "in": lambda v, a: v in a,
    "notin": lambda v, a: v not in a, "isnull": lambda v, a: v is None, "isnotnull": lambda v, a: v is not None,
}


def filter_predicate(node: Any, types: dict[str, str]) -> Predicate:
    """A `query` filter element (and/or nesting, leaf operators) as a predicate."""
    tag = node.tag
    if tag in ("and", "or"):
        parts = [filter_predicate(child, types) for child in node]
        combine = all if tag == "and" else any
        return lambda r: combine(p(r) for p in parts)
    field_name = text(node, "field")
    if field_name not in types:
        raise QueryError(f"unknown filter field '{field_name}'")
    kind = types[field_name]
    values = [typed((v.text or "").strip(), kind) for v in node.findall("value")]
    if tag in ("like", "notlike"):
        pattern = like(str(values[0]) if values else "")
        negate = tag == "notlike"
        return lambda r: (r.get(field_name) is not None and bool(pattern.match(str(r.get(field_name))))) != negate
    op = LEAF_OPS.get(tag)
    if op is None:
        raise QueryError(f"unknown filter operator '{tag}'")
    return lambda r: op(typed(r.get(field_name), kind), values)
