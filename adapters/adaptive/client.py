"""Wire calls of the Adaptive Planning XML API over an injected httpx.Client.

Every call is a POST of `<call method callerName>` with `<credentials>` to the pinned endpoint.
Failures map into the migo-sync error tree:

    success="false" error-authentication-failure / bad instance  → AuthError (config, never retried)
    success="false" error-server-busy / too-many-requests          → RateLimited (retried by the HTTP layer)
    success="false" anything else                                  → FatalRemoteError (code = message key)
    an import refused row by row                                   → returned as ImportResult, not raised

All calls are sent as idempotent: exports only read, and standard/cube imports overwrite the
addressed cells, so resending the same rows leaves the same state (api-reference §2.4).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from migo_sync.adapters.adaptive import periods
from migo_sync.adapters.adaptive.metadata import (
    account_record,
    dimension_value_record,
    flatten,
    level_record,
    to_int,
    version_record,
)
from migo_sync.adapters.adaptive.xml import (
    Envelope,
    Message,
    UnsafeXMLError,
    build_call,
    element,
    is_true,
    parse_response,
)
from migo_sync.errors import AuthError, FatalRemoteError, RateLimited, RemoteError
from migo_sync.redact import redact, register_secret

SYSTEM = "adaptive"
AUTH_KEYS = frozenset({"error-authentication-failure", "error-invalid-instance-code"})
BUSY_KEYS = frozenset({"error-server-busy", "error-too-many-requests", "error-service-unavailable"})
ROWS_IMPORTED = re.compile(r"Rows imported:\s*(\d+)")
HEADERS = {"Content-Type": "text/xml; charset=UTF-8", "Accept": "text/xml"}


def error_for(envelope: Envelope, method: str) -> RemoteError:
    """The typed error for a success="false" envelope; message text is redacted (it may echo the login)."""
    first = envelope.first() or Message("", "no message")
    text = redact(first.text)
    if first.key in AUTH_KEYS:
        return AuthError(SYSTEM, f"{method}: credentials refused ({first.key}: {text}); check "
                                 "MIGO_SYNC_ADAPTIVE_LOGIN / MIGO_SYNC_ADAPTIVE_PASSWORD and instance_code",
                         code=first.key)
    if first.key in BUSY_KEYS:
        return RateLimited(SYSTEM, f"{method}: {text}", status=None, code=first.key)
    return FatalRemoteError(SYSTEM, f"{method} refused: {text} ({first.key})", code=first.key)


def classify(response: httpx.Response) -> Exception | None:
    """For the HTTP layer: turn a 200 that says "busy" or "bad credentials" into an error early."""
    head = response.content[:400]
    if b'success="false"' not in head and b"success='false'" not in head:
        return None
    try:
        envelope = parse_response(response.content)
    except UnsafeXMLError:
        return None
    first = envelope.first()
    if first is not None and (first.key in AUTH_KEYS or first.key in BUSY_KEYS):
        return error_for(envelope, "call")
    return None


@dataclass(frozen=True)
class ImportResult:
    success: bool
    messages: list[Message]
    rows_imported: int | None


@dataclass(frozen=True)
class ExportRow:
    account_name: str
    account_code: str
    level: str
    dimensions: tuple[str, ...]
    values: tuple[Decimal | None, ...]


@dataclass
class DataExport:
    dimensions: list[str]
    periods: list[int]
    rows: Iterator[ExportRow]


class AdaptiveClient:
    """One Adaptive user on one endpoint. `http` is the seam: tests pass a MockTransport client."""

    def __init__(self, http: httpx.Client, endpoint: str, *, login: str, password: str,
                 caller_name: str = "migo-sync", instance_code: str | None = None, locale: str | None = None,
                 api_version: int = 38) -> None:
        register_secret(login)
        register_secret(password)
        self.http = http
        self.endpoint = endpoint
        self.caller_name = caller_name
        self.api_version = api_version
        self._credentials = {"login": login, "password": password, "locale": locale, "instanceCode": instance_code}

    # --- the envelope -------------------------------------------------------------------------

    def call(self, method: str, children: Iterable[Any] = (), *, raise_on_failure: bool = True) -> Envelope:
        body = build_call(method, self.caller_name, self._credentials, children)
        response = self.http.post(self.endpoint, content=body, headers=HEADERS,
                                  extensions={"idempotent": True})
        try:
            envelope = parse_response(response.content)
        except UnsafeXMLError as exc:
            raise FatalRemoteError(SYSTEM, f"{method}: HTTP {response.status_code} with an unreadable body ({exc})",
                                   status=response.status_code) from exc
        if response.status_code != 200 and envelope.success:
            raise FatalRemoteError(SYSTEM, f"{method}: HTTP {response.status_code}", status=response.status_code)
        if not envelope.success and (raise_on_failure or response.status_code != 200):
            raise error_for(envelope, method)
        return envelope

    def _output(self, method: str, children: Iterable[Any] = ()) -> Any:
        envelope = self.call(method, children)
        if envelope.output is None:
            raise FatalRemoteError(SYSTEM, f"{method}: the response has no <output>")
        return envelope.output

    # --- metadata -----------------------------------------------------------------------------

    def export_versions(self) -> list[dict[str, Any]]:
        root = self._output("exportVersions").find("versions")
        return list(flatten(root, "version", version_record)) if root is not None else []

    def export_accounts(self, version: str | None = None) -> list[dict[str, Any]]:
        include = [element("include", {"versionName": version, "inaccessibleValues": False})] if version else []
        root = self._output("exportAccounts", include).find("accounts")
        return list(flatten(root, "account", account_record)) if root is not None else []

    def export_levels(self, version: str | None = None) -> list[dict[str, Any]]:
        include = [element("include", {"versionName": version, "inaccessibleValues": False})] if version else []
        root = self._output("exportLevels", include).find("levels")
        return list(flatten(root, "level", level_record)) if root is not None else []

    def export_dimensions(self) -> list[dict[str, Any]]:
        """One record per dimension value (a dimension without values gives none)."""
        root = self._output("exportDimensions", [element("include", {"dimensionValues": True})]).find("dimensions")
        records: list[dict[str, Any]] = []
        for dim in root.iterfind("dimension") if root is not None else ():
            head = {"dimension": dim.get("name"), "dimension_id": to_int(dim.get("id")),
                    "auto_create": is_true(dim.get("autoCreate"))}
            for value in flatten(dim, "dimensionValue", dimension_value_record):
                records.append({**head, **value})
        return records

    def export_sheets(self) -> list[dict[str, Any]]:
        root = self._output("exportSheets").find("sheets")
        return [{"id": to_int(s.get("id")), "name": s.get("name"), "type": (s.get("type") or "").lower(),
                 "dimensions": [d.get("name") for d in s.iterfind("dimension")]}
                for s in (root.iterfind("sheet") if root is not None else ())]

    # --- data ---------------------------------------------------------------------------------

    def export_data(self, version: str, start: int, end: int, *, accounts: Sequence[str] = (),
                    levels: Sequence[str] = (), dimensions: Sequence[str] = (),
                    dimension_values: dict[str, str] | None = None, include_rollups: bool = False) -> DataExport:
        """exportData for one version and time span, parsed from the CSV in CDATA (exact decimals)."""
        filters = element("filters")
        if accounts:
            filters.append(element("accounts", None, *(element("account", {
                "code": c, "isAssumption": False, "includeDescendants": True}) for c in accounts)))
        if levels:
            filters.append(element("levels", None, *(element("level", {
                "name": n, "isRollup": False, "includeDescendants": True}) for n in levels)))
        if dimension_values:
            filters.append(element("dimensionValues", None, *(element("dimensionValue", {
                "dimName": d, "name": v, "directChildren": False}) for d, v in dimension_values.items())))
        filters.append(element("timeSpan", {"start": periods.to_wire(start), "end": periods.to_wire(end)}))
        rules: dict[str, object] = {"includeZeroRows": False, "markInvalidValues": False, "markBlanks": False,
                                    "timeRollups": False}
        if self.api_version >= 25:
            rules.update(includeRollupAccounts=include_rollups, includeRollupLevels=include_rollups)
        else:
            rules["includeRollups"] = include_rollups
        children = [
            element("version", {"name": version, "isDefault": False}),
            element("format", {"useInternalCodes": True, "includeUnmappedItems": False}),
            filters,
            element("dimensions", None, *(element("dimension", {"name": d}) for d in dimensions)),
            element("rules", rules),
        ]
        output = self._output("exportData", children)
        return parse_csv(output.text or "", list(dimensions))

    def import_data(self, *, version: str, plan_or_actuals: str, header: Sequence[str], rows: Sequence[str],
                    sheet: str | None = None) -> ImportResult:
        """importStandardData (sheet None) or importCubeData; row-level refusals are returned."""
        method = "importCubeData" if sheet else "importStandardData"
        children = [element("importDataOptions", {"planOrActuals": plan_or_actuals, "allowParallel": False,
                                                  "moveBPtr": False}),
                    element("version", {"name": version, "isDefault": False})]
        if sheet:
            children.append(element("sheet", {"name": sheet, "isUserAssigned": False}))
        children.append(element("rowData", None, element("header", text="|".join(header)),
                                element("rows", None, *(element("row", text=row) for row in rows))))
        envelope = self.call(method, children, raise_on_failure=False)
        imported = None
        for message in envelope.messages:
            match = ROWS_IMPORTED.search(message.text)
            if match:
                imported = int(match.group(1))
        return ImportResult(envelope.success, envelope.messages, imported)


def parse_csv(text: str, dimensions: list[str]) -> DataExport:
    """Header: Account Name, Account Code, Level Name, one column per dimension, then MM/YYYY."""
    reader = csv.reader(io.StringIO(text.strip("\r\n")))
    header = next(reader, None)
    if not header:
        raise FatalRemoteError(SYSTEM, "exportData: the CSV has no header line")
    fixed = ["Account Name", "Account Code", "Level Name"]
    if header[:3] != fixed:
        raise FatalRemoteError(SYSTEM, f"exportData: unexpected CSV header {header[:3]} (expected {fixed})")
    first_period = next((i for i, name in enumerate(header) if periods.parse_wire(name) is not None), len(header))
    if first_period - 3 != len(dimensions):
        raise FatalRemoteError(SYSTEM, f"exportData: {first_period - 3} dimension columns for "
                                       f"{len(dimensions)} dimensions asked")
    spans = [periods.parse_wire(name) for name in header[first_period:]]
    if any(p is None for p in spans):
        raise FatalRemoteError(SYSTEM, f"exportData: a column after the periods is not MM/YYYY: {header}")
    width = len(header)

    def rows() -> Iterator[ExportRow]:
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != width:
                raise FatalRemoteError(SYSTEM, f"exportData: CSV line {line} has {len(row)} fields, header {width}")
            yield ExportRow(row[0], row[1], row[2], tuple(row[3:first_period]),
                            tuple(_decimal(v, line) for v in row[first_period:]))

    return DataExport(list(dimensions), [p for p in spans if p is not None], rows())


def _decimal(text: str, line: int) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise FatalRemoteError(SYSTEM, f"exportData: CSV line {line}: '{text}' is not a number")
    return value
