"""The Adaptive emulator over real HTTP: envelopes, filters, import validation, knobs, faults, state."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from adaptive.adaptive_support import emulator_of

from migo_sync.adapters.adaptive import periods
from migo_sync.adapters.adaptive.adapter import AdaptiveAdapter
from migo_sync.adapters.adaptive.client import AdaptiveClient
from migo_sync.adapters.adaptive.emulator import AdaptiveEmulator
from migo_sync.adapters.adaptive.sandbox import SANDBOX_LOGIN, SANDBOX_PASSWORD
from migo_sync.adapters.adaptive.xml import build_call, element, parse_response
from migo_sync.errors import AuthError, FatalRemoteError
from migo_sync.sandbox.process import SandboxThread

M = periods.parse
CREDS = {"login": SANDBOX_LOGIN, "password": SANDBOX_PASSWORD}


def raw(handle: SandboxThread, body: bytes, path: str = "/adaptive/api/v38") -> httpx.Response:
    return httpx.post(handle.url + path, content=body, headers={"Content-Type": "text/xml"})


def import_rows(client: AdaptiveClient, header: str, *rows: str, version: str = "Actuals",
                plan_or_actuals: str = "Actuals", sheet: str | None = None) -> tuple[bool, list[str], int | None]:
    result = client.import_data(version=version, plan_or_actuals=plan_or_actuals, header=header.split("|"),
                                rows=list(rows), sheet=sheet)
    return result.success, [f"{m.key}: {m.text}" for m in result.messages], result.rows_imported


def values(client: AdaptiveClient, version: str, start: str, end: str, **kwargs: object) -> dict[tuple[str, ...], Decimal]:
    export = client.export_data(version, M(start), M(end), **kwargs)  # type: ignore[arg-type]
    out: dict[tuple[str, ...], Decimal] = {}
    for row in export.rows:
        for period, value in zip(export.periods, row.values, strict=True):
            if value is not None:
                out[(row.account_code, row.level, *row.dimensions, periods.to_iso(period))] = value
    return out


def test_export_honours_version_time_span_account_and_level_filters(adapter: AdaptiveAdapter) -> None:
    client = adapter.client
    everything = values(client, "Forecast Q4 2026", "2026-01", "2026-12")
    assert len(everything) == 4 * 4 * 12
    q2 = values(client, "Forecast Q4 2026", "2026-04", "2026-06", accounts=["Expenses"], levels=["COLL"])
    assert set(q2) == {(a, "COLL", m) for a in ("5000", "6000") for m in ("2026-04", "2026-05", "2026-06")}
    assert all(q2[k] == everything[k] for k in q2)
    assert values(client, "Actuals", "2026-01", "2026-12") == {}


def test_export_rollups_net_expenses_against_income(adapter: AdaptiveAdapter) -> None:
    client = adapter.client
    leaf = values(client, "Budget FY2026", "2026-01", "2026-01")
    rolled = values(client, "Budget FY2026", "2026-01", "2026-01", include_rollups=True)
    net = sum(leaf[(a, lv, "2026-01")] for a in ("4000", "4100") for lv in ("OPS", "RISK", "COLL", "FIN")) - sum(
        leaf[(a, lv, "2026-01")] for a in ("5000", "6000") for lv in ("OPS", "RISK", "COLL", "FIN"))
    assert rolled[("NetIncome", "Migo Lending", "2026-01")] == net
    assert rolled[("Revenue", "OPS", "2026-01")] == leaf[("4000", "OPS", "2026-01")] + leaf[("4100", "OPS", "2026-01")]


def test_import_then_export_with_dimensions_and_filters(adapter: AdaptiveAdapter) -> None:
    client = adapter.client
    ok, messages, imported = import_rows(client, "Account|Level|Region|Product|01/2026|02/2026",
                                         "4000|OPS|NBO|sme|10.25|", "4000|OPS|MSA|sme|5|7", "4100|FIN|NBO|micro|1|2")
    assert ok and imported == 3 and messages[-1].endswith("Rows imported: 3")
    by_region = values(client, "Actuals", "2026-01", "2026-02", dimensions=["Region"])
    assert by_region[("4000", "OPS", "NBO", "2026-01")] == Decimal("10.25")
    assert ("4000", "OPS", "NBO", "2026-02") not in by_region  # a blank is not a value
    total = values(client, "Actuals", "2026-01", "2026-01")
    assert total[("4000", "OPS", "2026-01")] == Decimal("15.25")  # summed over the dimension
    only_sme = values(client, "Actuals", "2026-01", "2026-01", dimension_values={"Product": "sme"})
    assert set(only_sme) == {("4000", "OPS", "2026-01")}


@pytest.mark.parametrize(("row", "key", "fragment"), [
    ("9999|OPS|1", "error-invalid-account", "Row 1: Account '9999' does not exist."),
    ("Revenue|OPS|1", "error-account-not-importable", "Row 1: Account 'Revenue' is a rollup account"),
    ("LoanBook.Balance|OPS|1", "error-account-not-importable", "belongs to a cube sheet; use importCubeData"),
    ("4000|HQ|1", "error-invalid-level", "Row 1: Level 'HQ' does not exist."),
    ("4000|Migo Lending|1", "error-level-not-importable", "Level 'Migo Lending' is a rollup level"),
    ("4000|OPS|1|2", "error-malformed-row", "expected 3 pipe-delimited values, got 4"),
    ("4000|OPS|12a", "error-invalid-value", "'12a' for 01/2026 is not a number"),
])
def test_a_bad_row_refuses_the_whole_import_by_default(adapter: AdaptiveAdapter, adaptive_sandbox: SandboxThread,
                                                       row: str, key: str, fragment: str) -> None:
    ok, messages, imported = import_rows(adapter.client, "Account|Level|01/2026", "4000|FIN|1", row)
    assert not ok and imported is None
    assert len(messages) == 1 and messages[0].startswith(f"{key}: Row 2:")
    assert fragment.replace("Row 1", "Row 2") in messages[0]
    assert adaptive_sandbox.dump("adaptive")["versions"]["Actuals"]["cells"] == []


def test_partial_mode_imports_the_good_rows(adapter: AdaptiveAdapter, adaptive_sandbox: SandboxThread) -> None:
    emulator_of(adaptive_sandbox).options["import_mode"] = "partial"
    ok, messages, imported = import_rows(adapter.client, "Account|Level|01/2026", "4000|FIN|1", "9999|FIN|2", "4100|FIN|3")
    assert ok and imported == 2
    assert messages[0].startswith("error-invalid-account: Row 2:")
    assert len(adaptive_sandbox.dump("adaptive")["versions"]["Actuals"]["cells"]) == 2


@pytest.mark.parametrize(("kwargs", "header", "key"), [
    ({"version": "Budget FY2025", "plan_or_actuals": "Plan"}, "Account|Level|01/2025", "error-version-locked"),
    ({"version": "Nope"}, "Account|Level|01/2026", "error-invalid-version"),
    ({"version": "Budgets", "plan_or_actuals": "Plan"}, "Account|Level|01/2026", "error-invalid-version"),
    ({"plan_or_actuals": "Plan"}, "Account|Level|01/2026", "error-invalid-plan-or-actuals"),
    ({}, "Account|Level|01/2031", "error-invalid-period"),
    ({}, "Account|Level|Colour|01/2026", "error-invalid-header"),
    ({}, "Account|01/2026", "error-invalid-header"),
    ({}, "Account|Level", "error-invalid-header"),
    ({"version": "Budget FY2026", "plan_or_actuals": "Plan", "sheet": "Nope"}, "Account|Level|01/2026",
     "error-invalid-sheet"),
    ({"version": "Budget FY2026", "plan_or_actuals": "Plan", "sheet": "Loan Book"}, "Cohort|Account|Level|01/2026",
     "error-invalid-header"),
])
def test_whole_import_refusals(adapter: AdaptiveAdapter, kwargs: dict[str, str], header: str, key: str) -> None:
    ok, messages, _ = import_rows(adapter.client, header, *(["4000|OPS|1"] if header.count("|") == 2 else []),
                                  **kwargs)
    assert not ok and messages[0].startswith(key + ":")


def test_locked_version_message_names_the_version(adapter: AdaptiveAdapter) -> None:
    ok, messages, _ = import_rows(adapter.client, "Account|Level|03/2025", "4000|OPS|1", version="Budget FY2025",
                                  plan_or_actuals="Plan")
    assert not ok
    assert messages == ["error-version-locked: Version 'Budget FY2025' is locked; data cannot be imported."]


def test_import_row_limit_knob(adapter: AdaptiveAdapter, adaptive_sandbox: SandboxThread) -> None:
    emulator_of(adaptive_sandbox).options["max_import_rows"] = 2
    ok, messages, _ = import_rows(adapter.client, "Account|Level|01/2026", "4000|OPS|1", "4000|FIN|1", "4100|OPS|1")
    assert not ok and messages[0].startswith("error-import-too-large: The import holds 3 rows; at most 2")


def test_cube_import_zero_erases_and_dimension_values_are_checked(adapter: AdaptiveAdapter,
                                                                  adaptive_sandbox: SandboxThread) -> None:
    client = adapter.client
    header = "Product|Region|Account|Level|01/2026|02/2026"
    ok, _, _ = import_rows(client, header, "sme|NBO|LoanBook.Balance|OPS|100|200", version="Budget FY2026",
                           plan_or_actuals="Plan", sheet="Loan Book")
    assert ok
    ok, _, _ = import_rows(client, header, "sme|NBO|LoanBook.Balance|OPS|0|", version="Budget FY2026",
                           plan_or_actuals="Plan", sheet="Loan Book")
    cube = [c for c in adaptive_sandbox.dump("adaptive")["versions"]["Budget FY2026"]["cells"]
            if c["account"] == "LoanBook.Balance"]
    assert [(c["period"], c["value"], c["dimensions"]) for c in cube] == [
        ("2026-02", "200", {"Product": "sme", "Region": "NBO"})]
    ok, messages, _ = import_rows(client, header, "sme|XXX|LoanBook.Balance|OPS|1|", version="Budget FY2026",
                                  plan_or_actuals="Plan", sheet="Loan Book")
    assert not ok and "'XXX' is not a value of dimension 'Region'" in messages[0]
    ok, messages, _ = import_rows(client, header, "sme|NBO|4000|OPS|1|", version="Budget FY2026",
                                  plan_or_actuals="Plan", sheet="Loan Book")
    assert not ok and "is not an account of cube sheet 'Loan Book'" in messages[0]


def test_auto_create_dimension_values_are_added_and_persist(adapter: AdaptiveAdapter,
                                                            adaptive_sandbox: SandboxThread) -> None:
    ok, _, _ = import_rows(adapter.client, "Account|Level|Cohort|01/2026", "4000|OPS|2027-H1|5")
    assert ok
    assert "2027-H1" in {v["name"] for v in adapter.client.export_dimensions() if v["dimension"] == "Cohort"}
    emulator = emulator_of(adaptive_sandbox)
    saved = emulator.state()
    assert saved["dimension_values"] == {"Cohort": ["2027-H1"]}
    fresh = AdaptiveEmulator(seed=7)
    fresh.load(saved)
    assert fresh.dump() == emulator.dump()


def test_credentials_are_checked_on_every_call(adaptive_sandbox: SandboxThread) -> None:
    for creds, key in [({"login": SANDBOX_LOGIN, "password": "wrong"}, "error-authentication-failure"),
                       ({"login": "someone@else", "password": SANDBOX_PASSWORD}, "error-authentication-failure"),
                       ({**CREDS, "instanceCode": "OTHER"}, "error-invalid-instance-code")]:
        envelope = parse_response(raw(adaptive_sandbox, build_call("exportVersions", "test", creds)).content)
        assert not envelope.success and envelope.messages[0].key == key


def test_auth_failure_reaches_the_adapter_as_auth_error(adaptive_sandbox: SandboxThread) -> None:
    http = httpx.Client()
    client = AdaptiveClient(http, adaptive_sandbox.url + "/adaptive/api/v38", login=SANDBOX_LOGIN, password="bad-pw")
    with pytest.raises(AuthError):
        client.export_versions()
    http.close()


def test_missing_caller_name_bad_method_bad_version_and_doctype(adaptive_sandbox: SandboxThread) -> None:
    call = element("call", {"method": "exportVersions"}, element("credentials", CREDS))
    from migo_sync.adapters.adaptive.xml import to_bytes

    envelope = parse_response(raw(adaptive_sandbox, to_bytes(call)).content)
    assert envelope.messages[0].key == "error-missing-caller-name"
    envelope = parse_response(raw(adaptive_sandbox, build_call("dropEverything", "t", CREDS)).content)
    assert envelope.messages[0].key == "error-invalid-method"
    response = raw(adaptive_sandbox, build_call("exportVersions", "t", CREDS), path="/adaptive/api/v7")
    assert response.status_code == 404 and b"error-invalid-api-version" in response.content
    evil = (b'<?xml version="1.0"?><!DOCTYPE call [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<call method="exportVersions" callerName="&x;"/>')
    assert parse_response(raw(adaptive_sandbox, evil).content).messages[0].key == "error-malformed-request"


def test_injected_faults_use_the_adaptive_envelope(adaptive_sandbox: SandboxThread) -> None:
    adaptive_sandbox.faults(rate=1.0, kinds=["503"], retry_after=2)
    response = raw(adaptive_sandbox, build_call("exportVersions", "t", CREDS))
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    envelope = parse_response(response.content)
    assert not envelope.success and envelope.messages[0].key == "error-service-unavailable"


def test_busy_knob_is_retried_by_the_client(adapter: AdaptiveAdapter, adaptive_sandbox: SandboxThread) -> None:
    emulator_of(adaptive_sandbox).options["busy_rate"] = 0.5
    for _ in range(5):
        assert len(adapter.client.export_versions()) == 5


def test_export_cell_cap_knob(adapter: AdaptiveAdapter, adaptive_sandbox: SandboxThread) -> None:
    emulator_of(adaptive_sandbox).options["max_export_cells"] = 100
    with pytest.raises(FatalRemoteError, match="error-export-too-large"):
        adapter.client.export_data("Forecast Q4 2026", M("2026-01"), M("2026-12"))
    assert len(list(adapter.client.export_data("Forecast Q4 2026", M("2026-01"), M("2026-03")).rows)) == 16


def test_dump_is_per_version_and_sorted(adapter: AdaptiveAdapter, adaptive_sandbox: SandboxThread) -> None:
    import_rows(adapter.client, "Account|Level|02/2026|01/2026", "4100|OPS|2|1", "4000|FIN|4|3")
    dump = adaptive_sandbox.dump("adaptive")
    assert set(dump["versions"]) == {"Actuals", "Budget FY2026", "Budget FY2025", "Forecast Q4 2026"}
    assert dump["versions"]["Budget FY2025"]["locked"] is True
    assert [(c["account"], c["level"], c["period"]) for c in dump["versions"]["Actuals"]["cells"]] == [
        ("4000", "FIN", "2026-01"), ("4000", "FIN", "2026-02"), ("4100", "OPS", "2026-01"), ("4100", "OPS", "2026-02")]
    assert dump["cells"] == 4 + 3 * 192


def test_metadata_flags_and_version_ranges_are_written_as_the_real_api_writes_them(
        adaptive_sandbox: SandboxThread) -> None:
    """isImportable and the other account/level flags are 1/0, ranges are startVer/endVer (the
    recorded exportVersions/exportAccounts/exportLevels answers); nothing invented is sent."""
    def answer(method: str, *children: object) -> object:
        response = raw(adaptive_sandbox, build_call(method, "migo", CREDS, children))
        envelope = parse_response(response.content)
        assert envelope.success, envelope.messages
        return envelope.output

    versions = answer("exportVersions")
    nodes = list(versions.iter("version"))  # type: ignore[attr-defined]
    assert nodes and all(n.get("isImportable") in ("0", "1") for n in nodes)
    assert any(n.get("startVer") and n.get("endVer") for n in nodes)
    assert not any(n.get("startVersion") or n.get("endVersion") for n in nodes)
    version = element("version", {"name": "Actuals", "isDefault": False})
    for method, tag in (("exportAccounts", "account"), ("exportLevels", "level")):
        for node in answer(method, version).iter(tag):  # type: ignore[attr-defined]
            flags = {k: v for k, v in node.attrib.items() if k.startswith("is") and k not in ("isLocked",)}
            assert flags and set(flags.values()) <= {"0", "1"}, (tag, flags)
