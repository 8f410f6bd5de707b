"""Intacct XML gateway documents: request envelopes, safe parsing, responses read into values.

Parsing is `migo_sync.xmlsafe`'s: never expands entities, never loads a DTD and never touches the
network; a response (or, in the emulator, a request) carrying a DOCTYPE is refused outright.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from lxml import etree

from migo_sync.xmlsafe import UnsafeXMLError, parse_xml

DTD_VERSION = "3.0"
Element = Any  # lxml's _Element: lxml ships no type stubs here
XmlError = UnsafeXMLError  # not well-formed, empty, or declares a DOCTYPE; the client and emulator catch it


def parse(content: bytes) -> Element:
    """Parse untrusted XML safely (whitespace between elements dropped); raises XmlError."""
    return parse_xml(content, remove_blank_text=True)


def sub(parent: Element, tag: str, text: Any = None, **attrib: str) -> Element:
    """Append a child element (with text, when given) and return it."""
    child = etree.SubElement(parent, tag, attrib)
    if text is not None:
        child.text = text if isinstance(text, str) else str(text)
    return child


def to_bytes(root: Element) -> bytes:
    result: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return result


# -- requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """One `function` of a request: its controlid and its single child (create, readByQuery, …)."""

    controlid: str
    body: Element


def function(controlid: str, name: str, **children: Any) -> Function:
    """A function element with simple text children (None children are left out)."""
    body = etree.Element(name)
    for tag, value in children.items():
        if value is not None:
            sub(body, tag, value)
    return Function(controlid, body)


@dataclass(frozen=True)
class Login:
    """Company-user credentials for `authentication/login`."""

    user_id: str
    company_id: str
    password: str
    location_id: str | None = None


def request(*, sender_id: str, sender_password: str, controlid: str, functions: Sequence[Function],
            login: Login | None = None, session_id: str | None = None, unique: bool = False,
            transaction: bool = False) -> bytes:
    """A complete request document: control, one operation, its authentication and content."""
    root = etree.Element("request")
    control = sub(root, "control")
    sub(control, "senderid", sender_id)
    sub(control, "password", sender_password)
    sub(control, "controlid", controlid)
    sub(control, "uniqueid", "true" if unique else "false")
    sub(control, "dtdversion", DTD_VERSION)
    sub(control, "includewhitespace", "false")
    operation = sub(root, "operation", transaction="true" if transaction else "false")
    authentication = sub(operation, "authentication")
    if session_id is not None:
        sub(authentication, "sessionid", session_id)
    elif login is not None:
        node = sub(authentication, "login")
        sub(node, "userid", login.user_id)
        sub(node, "companyid", login.company_id)
        sub(node, "password", login.password)
        if login.location_id:
            sub(node, "locationid", login.location_id)
    else:
        raise ValueError("a request needs a login or a session id")
    content = sub(operation, "content")
    for fn in functions:
        sub(content, "function", controlid=fn.controlid).append(fn.body)
    return to_bytes(root)


# -- responses ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorDetail:
    errorno: str
    description: str = ""
    description2: str = ""
    correction: str = ""

    def __str__(self) -> str:
        message = self.description2 or self.description or "no description"
        text = f"{self.errorno}: {message}" if self.errorno else message
        return f"{text} (correction: {self.correction})" if self.correction else text


def describe(errors: Iterable[ErrorDetail]) -> str:
    return "; ".join(str(e) for e in errors) or "no error detail given"


@dataclass
class Result:
    """One function's result, matched to its request by `controlid`."""

    status: str
    function: str
    controlid: str
    data: Element | None = None
    errors: list[ErrorDetail] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "success"


@dataclass
class Envelope:
    control_status: str
    control_errors: list[ErrorDetail] = field(default_factory=list)
    auth_status: str | None = None
    auth_errors: list[ErrorDetail] = field(default_factory=list)
    session_timeout: datetime | None = None
    results: list[Result] = field(default_factory=list)


def _text(node: Element | None, tag: str) -> str:
    if node is None:
        return ""
    child = node.find(tag)
    return (child.text or "").strip() if child is not None else ""


def errors_of(node: Element | None) -> list[ErrorDetail]:
    """Every `errormessage/error` directly under `node`."""
    if node is None:
        return []
    return [ErrorDetail(errorno=_text(e, "errorno"), description=_text(e, "description"),
                        description2=_text(e, "description2"), correction=_text(e, "correction"))
            for e in node.findall("errormessage/error")]


def parse_response(content: bytes) -> Envelope:
    """Read the three status levels (control, authentication, result) of a response."""
    root = parse(content)
    if root.tag != "response":
        raise XmlError(f"expected a <response> document, got <{root.tag}>")
    control = root.find("control")
    envelope = Envelope(control_status=_text(control, "status") or "failure", control_errors=errors_of(root))
    operation = root.find("operation")
    if operation is None:
        return envelope
    auth = operation.find("authentication")
    envelope.auth_status = _text(auth, "status") or None
    envelope.auth_errors = errors_of(operation)
    timeout = _text(auth, "sessiontimeout")
    if timeout:
        try:
            envelope.session_timeout = datetime.fromisoformat(timeout)
        except ValueError:
            envelope.session_timeout = None
    for node in operation.findall("result"):
        envelope.results.append(Result(status=_text(node, "status"), function=_text(node, "function"),
                                       controlid=_text(node, "controlid"), data=node.find("data"),
                                       errors=errors_of(node)))
    return envelope


def record(node: Element) -> dict[str, Any]:
    """A data record as a dict: leaf children → text ("" → None), nested children → dicts.

    This runs once per pulled row, so it stays a single comprehension.
    """
    return {child.tag: (record(child) if len(child) else (child.text or None))
            for child in node.iterchildren(tag=etree.Element)}


# -- formats ------------------------------------------------------------------------------------


def format_date(day: date) -> str:
    """Generic functions take dates as mm/dd/yyyy."""
    return f"{day.month:02d}/{day.day:02d}/{day.year:04d}"


def parse_date(text: str) -> date:
    return datetime.strptime(text, "%m/%d/%Y").date()


def format_timestamp(moment: datetime) -> str:
    """Timestamps in query strings: mm/dd/yyyy hh:mm:ss, no time zone."""
    return moment.strftime("%m/%d/%Y %H:%M:%S")


def parse_timestamp(text: str) -> datetime:
    """mm/dd/yyyy hh:mm:ss, sliced rather than strptime'd: it runs for every pulled row."""
    if len(text) != 19 or text[2] != "/" or text[5] != "/":
        return datetime.strptime(text, "%m/%d/%Y %H:%M:%S")
    return datetime(int(text[6:10]), int(text[0:2]), int(text[3:5]), int(text[11:13]), int(text[14:16]),
                    int(text[17:19]))


def quote(value: str) -> str:
    """A string literal for a readByQuery query: single quotes, backslash-escaped apostrophes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
