"""A protocol-faithful stand-in for the Adaptive Planning XML API, mounted at `/adaptive`.

POST /adaptive/api/v{N} with a `<call method callerName>` envelope; every call carries
`<credentials login password [instanceCode]>`; answers are `<response success>` envelopes with
`<messages>` and an `<output>` (CSV in CDATA for exportData, XML trees for metadata). HTTP status
is 200 for API-level failures, as on the real service.

Knobs (`self.options`, read on every call so tests may flip them):
    login, password, instance_code   the credentials accepted (default: sandbox.py's)
    api_versions    [low, high] API versions served (default [16, 45])
    import_mode     "atomic" (default: any bad row refuses the whole import) or "partial"
                    (good rows are imported; bad rows come back as messages on success="true")
    max_import_rows rows accepted per import call (default 10000)
    max_export_cells cells returned per exportData call (default: no limit)
    busy_rate       share of calls answered with success="false" key error-server-busy (default 0)
    seed_file       a seed YAML to use instead of the built-in seed.yaml
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from migo_sync.adapters.adaptive import periods
from migo_sync.adapters.adaptive.cube import Cube, ExportQuery, Refused
from migo_sync.adapters.adaptive.instance import (
    Instance,
    Version,
    load_instance,
    render_accounts,
    render_dimensions,
    render_levels,
    render_sheets,
    render_versions,
)
from migo_sync.adapters.adaptive.sandbox import SANDBOX_INSTANCE, SANDBOX_LOGIN, SANDBOX_PASSWORD
from migo_sync.adapters.adaptive.xml import Message, UnsafeXMLError, build_response, is_true, parse_xml
from migo_sync.sandbox.emulator import Emulator

XML_TYPE = "text/xml; charset=UTF-8"
FAULT_KEYS = {429: ("error-too-many-requests", "Too many requests; retry later."),
              500: ("error-internal", "An internal error occurred."),
              503: ("error-service-unavailable", "The service is temporarily unavailable.")}


class AdaptiveEmulator(Emulator):
    system: ClassVar[str] = "adaptive"
    url_suffixes: ClassVar[dict[str, str]] = {"url": ""}

    instance: Instance
    cube: Cube

    def reset(self) -> None:
        seed_file = self.options.get("seed_file")
        self.instance = load_instance(Path(seed_file) if seed_file else None)
        self.cube = Cube(self.instance)
        self.cube.seed(self.rng)
        self.seeded_values = {d.name: set(d.values) for d in self.instance.dimensions.values()}

    def routes(self) -> list[BaseRoute]:
        return [Route("/api/v{number:int}", self.call, methods=["POST"])]

    # --- HTTP -----------------------------------------------------------------------------------

    async def call(self, request: Request) -> Response:
        low, high = self.options.get("api_versions", (16, 45))
        number = int(request.path_params["number"])
        if not low <= number <= high:
            return _answer(False, [Message("error-invalid-api-version", f"API version v{number} is not supported.")],
                           status=404)
        try:
            root = parse_xml(await request.body())
        except UnsafeXMLError as exc:
            return _answer(False, [Message("error-malformed-request", f"The request is not valid XML: {exc}")])
        if root.tag != "call" or not root.get("method"):
            return _answer(False, [Message("error-malformed-request", "The request must be a <call method=...>.")])
        if not root.get("callerName"):
            return _answer(False, [Message("error-missing-caller-name", "The callerName attribute is required.")])
        refused = self._authenticate(root.find("credentials"))
        if refused is not None:
            return _answer(False, [refused])
        busy = float(self.options.get("busy_rate", 0.0))
        if busy and self.rng.random() < busy:
            return _answer(False, [Message("error-server-busy", "The server is busy; try again later.")])
        handler = self._handlers().get(root.get("method"))
        if handler is None:
            return _answer(False, [Message("error-invalid-method", f"Method '{root.get('method')}' does not exist.")])
        try:
            return handler(root, number)
        except Refused as exc:
            return _answer(False, [exc.message])

    def _authenticate(self, credentials: Any) -> Message | None:
        if credentials is None:
            return Message("error-authentication-failure", "Authentication failed: no credentials were given.")
        login = credentials.get("login", "")
        if (login != self.options.get("login", SANDBOX_LOGIN)
                or credentials.get("password") != self.options.get("password", SANDBOX_PASSWORD)):
            return Message("error-authentication-failure", f"Authentication failed for User: {login}")
        code = credentials.get("instanceCode")
        if code and code != self.options.get("instance_code", SANDBOX_INSTANCE):
            return Message("error-invalid-instance-code", f"Instance '{code}' is not accessible to this user.")
        return None

    def _handlers(self) -> dict[str, Callable[[Any, int], Response]]:
        return {
            "exportVersions": lambda root, n: _answer(True, output=render_versions(self.instance)),
            "exportAccounts": lambda root, n: _answer(True, output=render_accounts(
                self.instance, self._include_version(root))),
            "exportLevels": lambda root, n: _answer(True, output=render_levels(
                self.instance, self._include_version(root))),
            "exportDimensions": lambda root, n: _answer(True, output=render_dimensions(self.instance)),
            "exportSheets": lambda root, n: _answer(True, output=render_sheets(self.instance)),
            "exportData": self._export_data,
            "importStandardData": lambda root, n: self._import(root, cube=False),
            "importCubeData": lambda root, n: self._import(root, cube=True),
        }

    def _include_version(self, root: Any) -> Version | None:
        include = root.find("include")
        if include is None:
            return None
        name = include.get("versionName")
        if name is None and include.get("versionID"):
            name = next((v.name for v in self.instance.versions.values()
                         if str(v.id) == include.get("versionID")), "")
        if name is None:
            return None
        version = self.instance.versions.get(name)
        if version is None:
            raise Refused("error-invalid-version", f"Version '{name}' does not exist.")
        return version

    def _version(self, root: Any) -> Version:
        node = root.find("version")
        if node is None:
            raise Refused("error-invalid-version", "A <version> element is required.")
        if is_true(node.get("isDefault")):
            found = next((v for v in self.instance.versions.values() if v.default), None)
        else:
            found = self.instance.versions.get(node.get("name", ""))
        if found is None or found.type == "VERSION_FOLDER":
            raise Refused("error-invalid-version", f"Version '{node.get('name', '')}' does not exist.")
        return found

    def _export_data(self, root: Any, api_version: int) -> Response:
        version = self._version(root)
        span = root.find("filters/timeSpan")
        try:
            start = periods.parse(span.get("start")) if span is not None else version.start
            end = periods.parse(span.get("end")) if span is not None else version.end
        except (ValueError, TypeError) as exc:
            raise Refused("error-invalid-time-span", f"Invalid timeSpan: {exc}") from exc
        if start is None or end is None or start > end:
            raise Refused("error-invalid-time-span", "The timeSpan start must not be after its end.")
        dimensions = [d.get("name", "") for d in root.iterfind("dimensions/dimension")]
        unknown = [d for d in dimensions if d not in self.instance.dimensions]
        if unknown:
            raise Refused("error-invalid-dimension", f"Dimension '{unknown[0]}' does not exist.")
        rules = root.find("rules")
        rules_get = rules.get if rules is not None else (lambda key, default=None: default)
        if api_version >= 25:
            rollup_accounts = is_true(rules_get("includeRollupAccounts"))
            rollup_levels = is_true(rules_get("includeRollupLevels"))
        else:
            rollup_accounts = rollup_levels = is_true(rules_get("includeRollups"))
        query = ExportQuery(
            version=version.name, start=start, end=end,
            accounts=[(a.get("code", ""), is_true(a.get("includeDescendants")))
                      for a in root.iterfind("filters/accounts/account")],
            levels=[(lv.get("name", ""), is_true(lv.get("includeDescendants")))
                    for lv in root.iterfind("filters/levels/level")],
            dimension_filters=[(d.get("dimName", ""), d.get("name", ""))
                               for d in root.iterfind("filters/dimensionValues/dimensionValue")],
            dimensions=dimensions, rollup_accounts=rollup_accounts, rollup_levels=rollup_levels,
            zero_rows=is_true(rules_get("includeZeroRows")))
        return _answer(True, output=self.cube.export_csv(query, self.options.get("max_export_cells")))

    def _import(self, root: Any, *, cube: bool) -> Response:
        version = self._version(root)
        options = root.find("importDataOptions")
        plan_or_actuals = options.get("planOrActuals", "") if options is not None else ""
        sheet = None
        if cube:
            node = root.find("sheet")
            sheet = self.instance.sheets.get(node.get("name", "")) if node is not None else None
            if sheet is None:
                name = node.get("name", "") if node is not None else ""
                raise Refused("error-invalid-sheet", f"Cube sheet '{name}' does not exist.")
        header = root.find("rowData/header")
        if header is None or not (header.text or "").strip():
            raise Refused("error-invalid-header", "rowData needs a header.")
        rows = [(row.text or "") for row in root.iterfind("rowData/rows/row")]
        outcome = self.cube.import_rows(
            version.name, plan_or_actuals, header.text.strip(), rows, sheet=sheet,
            atomic=self.options.get("import_mode", "atomic") != "partial",
            max_rows=self.options.get("max_import_rows", 10_000))
        return _answer(outcome.success, outcome.messages)

    # --- state ----------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        cells = {version: [[code, level, [list(d) for d in dims], periods.to_iso(period), str(value)]
                           for (code, level, dims), period, value in self.cube.rows(version)]
                 for version in self.cube.cells}
        added = {d.name: sorted(set(d.values) - self.seeded_values.get(d.name, set()))
                 for d in self.instance.dimensions.values()}
        return {"cells": cells, "dimension_values": {k: v for k, v in added.items() if v}}

    def load(self, state: dict[str, Any]) -> None:
        for dim, values in (state.get("dimension_values") or {}).items():
            for value in values:
                if dim in self.instance.dimensions and value not in self.instance.dimensions[dim].values:
                    self.instance.add_dimension_value(dim, value)
        self.cube.cells.clear()
        for version, rows in (state.get("cells") or {}).items():
            for code, level, dims, period, value in rows:
                key = (code, level, tuple((d, v) for d, v in dims))
                self.cube.put(version, key, periods.parse(period), Decimal(value))

    def dump(self) -> dict[str, Any]:
        """The cube per version, sorted by account, level, dimensions and period."""
        versions: dict[str, Any] = {}
        for name, version in self.instance.versions.items():
            if version.type == "VERSION_FOLDER":
                continue
            rows = sorted(self.cube.rows(name), key=lambda r: (r[0][0], r[0][1], r[0][2], r[1]))
            versions[name] = {
                "type": version.type, "locked": version.locked,
                "cells": [{"account": code, "level": level, "dimensions": dict(dims),
                           "period": periods.to_iso(period), "value": str(value)}
                          for (code, level, dims), period, value in rows],
            }
        return {"instance": self.instance.code, "cells": self.cube.count(), "versions": versions}

    def error_response(self, status: int, request: Request, retry_after: int | None = None) -> Response:
        key, text = FAULT_KEYS.get(status, ("error-internal", "An internal error occurred."))
        response = _answer(False, [Message(key, text)], status=status)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response


def _answer(success: bool, messages: list[Message] | None = None, output: Any = None, status: int = 200) -> Response:
    return Response(build_response(success, messages or [], output), status_code=status, media_type=XML_TYPE)
