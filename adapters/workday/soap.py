"""SOAP plumbing for Workday: the packaged WSDL, safe zeep settings, zeep over our httpx client, faults.

Why a transport of our own: zeep's sync transport is requests-based and its httpx transport is
async only. `HttpxTransport` posts through the `httpx.Client` the core builds
(`context.http(...)`), so retries, rate limits, request counting and redacted logging apply to
every SOAP call, and it never fetches anything: the WSDL and XSD load from this folder.

Why faults are read below the HTTP layer: SOAP 1.1 answers every fault with HTTP 500, and the HTTP
layer treats a 500 on an idempotent request as "outcome unknown" and resends it. A Workday fault is
a definite answer, so `FaultTransport` (the innermost transport) reads it first and raises:

    Client.validationError  / Validation_Fault  → WorkdayFault        (the request is refused as sent)
    Client.authenticationError / authorization  → AuthError           (config problem, never retried)
    Processing_Fault / a busy server            → RetriableError      (the HTTP layer retries it)
    any other fault or a bare 500               → passed on: "outcome unknown", resent only because
                                                  every call is idempotent (reads, or keyed writes)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import requests
from lxml import etree
from zeep.exceptions import ExternalReferenceForbidden
from zeep.settings import Settings
from zeep.transports import Transport

from migo_sync import xmlsafe
from migo_sync.bounded import BoundedHTTPTransport, buffered, read_body
from migo_sync.errors import AuthError, FatalRemoteError, RetriableError

SYSTEM = "workday"
HERE = Path(__file__).resolve().parent
WSDL_PATH = HERE / "Financial_Management.wsdl"
XSD_PATH = HERE / "Financial_Management.xsd"
WD = "urn:com.workday/bsvc"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
BINDING = "{urn:com.workday/bsvc/Financial_Management}Financial_ManagementBinding"
INTEGRATIONS_BINDING = "{urn:com.workday/bsvc/Financial_Management}IntegrationsBinding"
FAULT_LIMIT = 10_000_000  # bytes of an HTTP 500 read to look for a SOAP fault
BUSY = re.compile(r"busy|temporarily unavailable|try again|timed? ?out", re.I)


def xml_text(value: str) -> str:
    """Element text escaped exactly as lxml writes it in UTF-8 (checked for every code point):
    for XML written as text on the hot paths (journals sent, the emulator's journal pages)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def xml_attribute(value: str) -> str:
    """An attribute value escaped exactly as lxml writes it in UTF-8."""
    return xml_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def safe_settings() -> Settings:
    """zeep parses strictly, refuses DTDs, entities and external references, and caps tree size."""
    return Settings(strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True,
                    forbid_external=True)


def safe_parser() -> etree.XMLParser:
    """For the XML we read ourselves (faults, journal pages, the emulator's requests): no entities,
    no DTD, no network (`migo_sync.xmlsafe`); comments dropped so none can split an element's text."""
    return xmlsafe.safe_parser(remove_comments=True)


class HttpxTransport(Transport):
    """A zeep transport that posts through our `httpx.Client` and loads documents from disk only."""

    def __init__(self, http: httpx.Client | None) -> None:
        """`http` None: a transport that only loads (the shared WSDL document's, `client.wsdl_document`)."""
        # Not Transport.__init__: that opens a requests.Session we would never use.
        import logging

        self.http = http
        self.cache = None
        self.load_timeout = 30
        self.operation_timeout = None
        self.logger = logging.getLogger("zeep.transports")
        self._close_session = False
        self.session = None

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> requests.Response:
        # Every Workday call migo-sync makes is safe to resend: reads change nothing, and each journal
        # of a Submit_Accounting_Journal or Import_Accounting_Journal carries an Accounting_Journal_ID
        # the tenant enforces (Add_Only): a resent import's journals come back "already in use".
        if self.http is None:
            raise ExternalReferenceForbidden(address)  # type: ignore[no-untyped-call]
        response = self.http.post(address, content=message, headers=headers, extensions={"idempotent": True})
        if xmlsafe.declares_doctype(response.content):  # zeep's own parser would expand it first
            raise FatalRemoteError(SYSTEM, "XML with a DOCTYPE is refused")
        return _as_requests_response(response)

    def get(self, address: str, params: Any, headers: Any) -> requests.Response:
        raise ExternalReferenceForbidden(address)  # type: ignore[no-untyped-call]

    def load(self, url: str) -> bytes:
        """The WSDL and its XSD come from the package folder; nothing is fetched over the network."""
        if re.match(r"^[a-z][a-z0-9+.-]*://", url, re.I) and not url.startswith("file://"):
            raise ExternalReferenceForbidden(url)  # type: ignore[no-untyped-call]
        path = Path(url.removeprefix("file://"))
        return path.read_bytes()


def _as_requests_response(response: httpx.Response) -> requests.Response:
    """zeep reads a requests.Response; copy what it needs (status, headers, body, encoding)."""
    converted = requests.Response()
    converted._content = response.content
    converted.status_code = response.status_code
    converted.headers.update(response.headers)
    converted.encoding = response.encoding
    converted.url = str(response.url)
    return converted


@dataclass
class ValidationErrorDetail:
    message: str
    detail: str | None = None
    xpath: str | None = None


@dataclass
class SoapFault:
    """A SOAP 1.1 fault as Workday sends it: faultcode, faultstring, and its detail element."""

    code: str
    message: str
    validation_errors: list[ValidationErrorDetail] = field(default_factory=list)
    processing_detail: str | None = None

    @property
    def kind(self) -> str:
        """validation, authentication, processing or server."""
        code = self.code.lower()
        if self.validation_errors or "validationerror" in code:
            return "validation"
        if "authenticationerror" in code or "authorizationerror" in code:
            return "authentication"
        if self.processing_detail is not None or "processingerror" in code or BUSY.search(self.message):
            return "processing"
        return "server"

    def describe(self) -> str:
        """One line for a reject reason or an error message."""
        if self.validation_errors:
            parts = []
            for error in self.validation_errors:
                text = error.message
                if error.xpath:
                    text += f" (at {short_xpath(error.xpath)})"
                parts.append(text)
            return "; ".join(parts)
        return self.processing_detail or self.message


def short_xpath(xpath: str) -> str:
    """`/ns0:Submit_Accounting_Journal_Request[1]/ns0:Accounting_Journal_Data[1]/…` → element path."""
    steps = [re.sub(r"^[\w-]+:", "", step) for step in xpath.strip("/").split("/")]
    return "/".join(steps[1:]) if len(steps) > 1 else "/".join(steps)


def parse_fault(content: bytes) -> SoapFault | None:
    """The fault in a SOAP envelope, or None when the body is not a SOAP fault."""
    if b"Fault" not in content:
        return None
    try:
        root = xmlsafe.parse_xml(content, remove_comments=True)
    except xmlsafe.UnsafeXMLError:
        return None  # not a fault we can read: zeep reads it next, and refuses it cleanly
    node = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    if node is None:
        return None
    return fault_from_element(node.findtext("faultcode") or "", node.findtext("faultstring") or "",
                              node.find("detail"))


def soap12_fault(content: bytes) -> str | None:
    """`Code: Reason` of a SOAP 1.2 fault (None when there is none to read)."""
    try:
        root = xmlsafe.parse_xml(content, remove_comments=True)
    except xmlsafe.UnsafeXMLError:
        return None
    node = root.find(f"{{{SOAP12_ENV}}}Body/{{{SOAP12_ENV}}}Fault")
    if node is None:
        return None
    code = (node.findtext(f"{{{SOAP12_ENV}}}Code/{{{SOAP12_ENV}}}Value") or "").split(":")[-1].strip()
    reason = " ".join((node.findtext(f"{{{SOAP12_ENV}}}Reason/{{{SOAP12_ENV}}}Text") or "").split())
    return f"a SOAP 1.2 fault: {code}: {reason}"


def fault_from_element(code: str, message: str, detail: Any) -> SoapFault:
    """Build a SoapFault from faultcode/faultstring and the <detail> element (may be None)."""
    fault = SoapFault(code=code.strip(), message=" ".join(message.split()))
    if detail is None:
        return fault
    for error in detail.iter(f"{{{WD}}}Validation_Error"):
        fault.validation_errors.append(ValidationErrorDetail(
            message=" ".join((error.findtext(f"{{{WD}}}Message") or "").split()) or fault.message,
            detail=error.findtext(f"{{{WD}}}Detail_Message"),
            xpath=error.findtext(f"{{{WD}}}Xpath")))
    processing = detail.find(f"{{{WD}}}Processing_Fault")
    if processing is not None:
        fault.processing_detail = " ".join((processing.findtext(f"{{{WD}}}Detail_Message") or fault.message).split())
    return fault


class WorkdayFault(FatalRemoteError):
    """Workday refused the request as sent (a Validation_Fault); `fault` has every error it named."""

    def __init__(self, fault: SoapFault, status: int | None = None) -> None:
        super().__init__(SYSTEM, f"refused: {fault.describe()}", status=status, code=fault.code)
        self.fault = fault


def fault_error(fault: SoapFault, status: int | None = None) -> Exception | None:
    """The project error for a fault, or None for a server fault whose outcome is unknown."""
    kind = fault.kind
    if kind == "validation":
        return WorkdayFault(fault, status)
    if kind == "authentication":
        return AuthError(SYSTEM, f"credentials refused ({fault.message}); check MIGO_SYNC_WORKDAY_USERNAME "
                                 "(user@tenant) and MIGO_SYNC_WORKDAY_PASSWORD", status=status, code=fault.code)
    if kind == "processing":
        return RetriableError(SYSTEM, f"the tenant could not process the request: {fault.describe()}",
                              status=status, code=fault.code)
    return None


class FaultTransport(httpx.BaseTransport):
    """Innermost transport: turns definite SOAP faults into project errors before the HTTP layer
    can take their HTTP 500 for an unknown outcome (see the module docstring)."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or BoundedHTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        soap12 = response.headers.get("Content-Type", "").startswith("application/soap+xml")
        if response.status_code != 500 and not soap12:  # 429/503 keep their Retry-After for the HTTP layer
            return response
        try:  # a fault is small: a 500 is read whole only up to FAULT_LIMIT (and the request's deadline)
            content = read_body(response, FAULT_LIMIT, math.inf)
        finally:
            response.close()
        fault = parse_fault(content)
        if fault is None and soap12:
            raise FatalRemoteError(SYSTEM, "the tenant answered in SOAP 1.2 (Workday speaks SOAP 1.1): "
                                           + (soap12_fault(content) or "not a fault either"), status=response.status_code)
        error = fault_error(fault, response.status_code) if fault is not None else None
        if error is None:
            response.request = request
            return buffered(response, content)
        raise error

    def close(self) -> None:
        self.inner.close()
