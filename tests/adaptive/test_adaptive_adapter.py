"""The Adaptive adapter against the emulator: validation, pre-send checks, writes, pulls, faults."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from adaptive.adaptive_support import cells, emulator_of, pull_mapping, push_mapping, sandbox_environ, unit

from migo_sync.adapter import PushUnit
from migo_sync.adapters.adaptive.adapter import AdaptiveAdapter
from migo_sync.config import Project, ProjectConfig
from migo_sync.errors import AuthError, ConfigError, FatalRemoteError
from migo_sync.mapping.model import Mapping
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import open_adapter

MONTHS = {"2026-01": Decimal("100.50"), "2026-02": Decimal("-20.25"), "2026-03": Decimal("0")}


def open_with(handle: SandboxThread, tmp_path: Path, settings: dict[str, Any] | None = None,
              **environ: str) -> AdaptiveAdapter:
    config = ProjectConfig(systems={"adaptive": settings or {}})
    project = Project(root=tmp_path, config=config, environ={**sandbox_environ(handle, tmp_path), **environ})
    adapter = open_adapter(project, "adaptive")
    assert isinstance(adapter, AdaptiveAdapter)
    return adapter


def requests(handle: SandboxThread) -> int:
    return handle.stats().get("adaptive", 0)


# --- offline validation -----------------------------------------------------------------------------

def _with(mapping: Mapping, **changes: Any) -> Mapping:
    return Mapping.model_validate({**mapping.model_dump(exclude={"source_file"}), **changes})


VALIDATION_CASES: list[tuple[str, Mapping, str | None]] = [
    ("push ok", push_mapping(), None),
    ("cube ok", push_mapping(sheet_type="cube", sheet="Loan Book", dims=["Product"]), None),
    ("pull ok", pull_mapping(versions=["Forecast Q4 2026"], start="2026-01", end="2026-12", split="quarter"), None),
    ("pull one version", pull_mapping(version="Actuals"), None),
    ("metadata ok", pull_mapping("accounts", version="Actuals"), None),
    ("no version", _with(push_mapping(), options={}), "options.version: Field required"),
    ("cube without sheet", push_mapping(sheet_type="cube"), "sheet_type: cube needs `sheet`"),
    ("sheet on standard", push_mapping(sheet="Loan Book"), "`sheet` is only for sheet_type: cube"),
    ("bad sheet type", push_mapping(sheet_type="modeled"), "options.sheet_type"),
    ("unknown option", push_mapping(verison="x"), "options.verison: Extra inputs are not permitted"),
    ("bad split", pull_mapping(versions=["Actuals"], split="week"), "options.split"),
    ("bad month", pull_mapping(versions=["Actuals"], start="2026-13"), "month 13 out of 1..12"),
    ("start after end", pull_mapping(versions=["Actuals"], start="2026-05", end="2026-01"), "after end"),
    ("version and versions", pull_mapping(version="A", versions=["B"]), "not both"),
    ("no versions", pull_mapping(), "options.versions: Field required"),
    ("missing value field", _with(push_mapping(), fields=[f.model_dump() for f in push_mapping().fields[:3]]),
     "needs a field with remote 'value'"),
    ("unknown remote", _with(push_mapping(), fields=[*(f.model_dump() for f in push_mapping().fields),
                                                     {"column": "memo", "remote": "memo"}]),
     "unknown remote field 'memo'"),
    ("pull-only field pushed", _with(push_mapping(), fields=[*(f.model_dump() for f in push_mapping().fields),
                                                             {"column": "v", "remote": "version"}]),
     "unknown remote field 'version'"),
    ("mirror push", _with(push_mapping(), mode="mirror"), "cannot mirror"),
    ("dimension not asked", _with(pull_mapping(versions=["Actuals"]), fields=[
        *(f.model_dump() for f in pull_mapping(versions=["Actuals"]).fields),
        {"column": "region", "remote": "dimensions.Region"}]), "needs 'Region' in options.dimensions"),
    ("metadata unknown field", _with(pull_mapping("levels"), fields=[{"column": "nm", "remote": "nmae"}],
                                     key=["nm"]), "unknown remote field 'nmae'"),
    ("metadata push", _with(pull_mapping("versions"), direction="push"), "cannot be a push"),
]


@pytest.mark.parametrize(("case", "mapping", "fragment"), VALIDATION_CASES, ids=[c[0] for c in VALIDATION_CASES])
def test_validate(adaptive_sandbox: SandboxThread, tmp_path: Path, case: str, mapping: Mapping,
                  fragment: str | None) -> None:
    before = requests(adaptive_sandbox)
    adapter = open_with(adaptive_sandbox, tmp_path, MIGO_SYNC_ADAPTIVE_PASSWORD="")  # offline: no credential used
    problems = [f"{path}: {message}" for path, message in adapter.validate(mapping)]
    if fragment is None:
        assert problems == []
    else:
        assert any(fragment in p for p in problems), problems
    assert requests(adaptive_sandbox) == before


def test_settings_pin_the_api_version(adaptive_sandbox: SandboxThread, tmp_path: Path) -> None:
    adapter = open_with(adaptive_sandbox, tmp_path, {"api_version": 30})
    assert adapter.client.endpoint.endswith("/adaptive/api/v30") and adapter.client.api_version == 30
    adapter.close()
    pinned = open_with(adaptive_sandbox, tmp_path, MIGO_SYNC_ADAPTIVE_URL=adaptive_sandbox.url + "/adaptive/api/v24")
    assert pinned.client.endpoint.endswith("/api/v24") and pinned.client.api_version == 24
    assert len(pinned.client.export_versions()) == 5
    pinned.close()
    with pytest.raises(ConfigError, match="api_version"):
        open_with(adaptive_sandbox, tmp_path, {"api_version": "latest"})


def test_missing_credentials_name_every_place_looked(adaptive_sandbox: SandboxThread, tmp_path: Path) -> None:
    project = Project(root=tmp_path, config=ProjectConfig(), environ={**adaptive_sandbox.env,
                                                                     "MIGO_SYNC_NO_KEYRING": "1"})
    adapter = open_adapter(project, "adaptive")
    with pytest.raises(ConfigError, match="MIGO_SYNC_ADAPTIVE_LOGIN"):
        adapter.read(pull_mapping("versions"), None).__next__()


def test_wrong_password_is_an_auth_error(adaptive_sandbox: SandboxThread, tmp_path: Path) -> None:
    adapter = open_with(adaptive_sandbox, tmp_path, MIGO_SYNC_ADAPTIVE_PASSWORD="not-the-password")
    with pytest.raises(AuthError, match="credentials refused") as caught:
        adapter.check(push_mapping(), [unit("4000", "OPS", MONTHS)])
    assert "not-the-password" not in str(caught.value)
    adapter.close()


# --- push: checks ---------------------------------------------------------------------------------

def test_check_rejects_by_name_and_nothing_rejected_is_sent(adapter: AdaptiveAdapter,
                                                           adaptive_sandbox: SandboxThread) -> None:
    mapping = push_mapping()
    units = [
        unit("4000", "OPS", MONTHS),
        unit("9999", "OPS", MONTHS),
        unit("Revenue", "OPS", MONTHS),
        unit("LoanBook.Balance", "OPS", MONTHS),
        unit("4100", "HQ", MONTHS),
        unit("4100", "Migo Lending", MONTHS),
        unit("4100", "OPS|FIN", MONTHS),
        unit("5000", "OPS", {"2026-01": "12|5"}),
        unit("5000", "FIN", {"2026-01": None}),
        unit("6000", "OPS", {"2026-13": Decimal(1)}),
        unit("6000", "FIN", {"2031-01": Decimal(1)}),
        unit("6000", "RISK", {"2026-01": "abc"}),
    ]
    reasons = adapter.check(mapping, units)
    expected = {
        "9999\x1fOPS": "account '9999' does not exist in Adaptive",
        "Revenue\x1fOPS": "account 'Revenue' is a rollup account",
        "LoanBook.Balance\x1fOPS": "belongs to a cube sheet; push it with sheet_type: cube",
        "4100\x1fHQ": "level 'HQ' does not exist in Adaptive",
        "4100\x1fMigo Lending": "level 'Migo Lending' is a rollup level",
        "4100\x1fOPS|FIN": "level 'OPS|FIN' contains '|', the import delimiter",
        "5000\x1fOPS": "value '12|5' contains '|'",
        "5000\x1fFIN": "value is empty (NULL)",
        "6000\x1fOPS": "'2026-13' is not a month",
        "6000\x1fFIN": "month 2031-01 is outside version 'Actuals' (2024-01..2027-12)",
        "6000\x1fRISK": "value 'abc' is not a number",
    }
    assert set(reasons) == set(expected)
    for key, fragment in expected.items():
        assert fragment in reasons[key], (key, reasons[key])
    before = requests(adaptive_sandbox)
    results = adapter.write(mapping, [u for u in units if u.key not in reasons])
    assert [r.ok for r in results] == [True]
    assert requests(adaptive_sandbox) == before + 1  # one import call, metadata cached
    assert set(cells(adaptive_sandbox)) == {("4000", "OPS", m) for m in MONTHS}


def test_a_locked_version_is_rejected_with_a_warning(adapter: AdaptiveAdapter, caplog: pytest.LogCaptureFixture) -> None:
    mapping = push_mapping(version="Budget FY2025")
    reasons = adapter.check(mapping, [unit("4000", "OPS", {"2025-03": Decimal(1)}),
                                      unit("4100", "OPS", {"2025-04": Decimal(1)})])
    assert reasons["4000\x1fOPS"] == ("month 2025-03 is inside locked version 'Budget FY2025'; "
                                      "unlock it in Adaptive and rerun")
    assert "2 slice(s) not sent: version 'Budget FY2025' is locked" in caplog.text


def test_unknown_version_and_sheet_are_config_errors(adapter: AdaptiveAdapter) -> None:
    with pytest.raises(ConfigError, match=r"'Budget FY2030' does not exist in Adaptive \(known: Actuals, "):
        adapter.check(push_mapping(version="Budget FY2030"), [unit("4000", "OPS", MONTHS)])
    with pytest.raises(ConfigError, match="no cube sheet 'Loan Ledger'"):
        adapter.check(push_mapping(version="Budget FY2026", sheet_type="cube", sheet="Loan Ledger"), [])
    with pytest.raises(ConfigError, match="no dimension Colour"):
        adapter.check(push_mapping(dims=["Colour"]), [])
    with pytest.raises(ConfigError, match="has dimensions Product, Region; not Cohort"):
        adapter.check(push_mapping(version="Budget FY2026", sheet_type="cube", sheet="Loan Book", dims=["Cohort"]), [])


def test_dimension_values_are_checked_unless_auto_created(adapter: AdaptiveAdapter,
                                                          adaptive_sandbox: SandboxThread) -> None:
    mapping = push_mapping(dims=["Region", "Cohort"])
    units = [unit("4000", "OPS", MONTHS, {"Region": "NBO", "Cohort": "2028-H1"}),
             unit("4000", "OPS", MONTHS, {"Region": "LON", "Cohort": "2026-H1"})]
    reasons = adapter.check(mapping, units)
    assert list(reasons.values()) == ["'LON' is not a value of dimension 'Region'"]
    assert all(r.ok for r in adapter.write(mapping, units[:1]))
    assert ("4000", "OPS", "Cohort=2028-H1", "Region=NBO", "2026-01") in cells(adaptive_sandbox)


# --- push: writes ---------------------------------------------------------------------------------

def test_write_pivots_slices_and_a_resend_changes_nothing(adapter: AdaptiveAdapter,
                                                          adaptive_sandbox: SandboxThread) -> None:
    mapping = push_mapping()
    units = [unit(a, lv, {f"2026-{m:02d}": Decimal(f"{m}.{len(a)}{len(lv)}") for m in range(1, 11)})
             for a in ("4000", "4100", "5000", "6000") for lv in ("OPS", "RISK", "COLL", "FIN")]
    assert adapter.check(mapping, units) == {}
    before = requests(adaptive_sandbox)
    assert all(r.ok for r in adapter.write(mapping, units))
    assert requests(adaptive_sandbox) == before + 1  # 16 rows in one importStandardData
    first = cells(adaptive_sandbox)
    assert len(first) == 160 and first[("6000", "FIN", "2026-07")] == "7.43"
    assert all(r.ok for r in adapter.write(mapping, units))
    assert cells(adaptive_sandbox) == first


def test_only_the_months_sent_are_touched(adapter: AdaptiveAdapter, adaptive_sandbox: SandboxThread) -> None:
    mapping = push_mapping()
    adapter.write(mapping, [unit("4000", "OPS", MONTHS), unit("4100", "OPS", {"2026-05": Decimal(5)})])
    adapter.write(mapping, [unit("4000", "OPS", {"2026-02": Decimal("-21")})])
    assert cells(adaptive_sandbox) == {("4000", "OPS", "2026-01"): "100.50", ("4000", "OPS", "2026-02"): "-21",
                                       ("4000", "OPS", "2026-03"): "0", ("4100", "OPS", "2026-05"): "5"}


def test_imports_are_cut_at_the_row_limit(adaptive_sandbox: SandboxThread, tmp_path: Path) -> None:
    adapter = open_with(adaptive_sandbox, tmp_path, {"import_rows": 3})
    units = [unit(a, lv, MONTHS) for a in ("4000", "4100") for lv in ("OPS", "RISK", "COLL", "FIN")]
    adapter.check(push_mapping(), units)
    before = requests(adaptive_sandbox)
    assert all(r.ok for r in adapter.write(push_mapping(), units))
    assert requests(adaptive_sandbox) == before + 3  # 8 rows in calls of 3, 3 and 2
    assert len(cells(adaptive_sandbox)) == 24
    adapter.close()


@pytest.mark.parametrize("mode", ["atomic", "partial"])
def test_rows_the_remote_refuses_fail_their_units_only(adapter: AdaptiveAdapter, adaptive_sandbox: SandboxThread,
                                                       mode: str) -> None:
    """Sent without check(): the emulator refuses by row number; the other rows still land."""
    emulator_of(adaptive_sandbox).options["import_mode"] = mode
    units = [unit("4000", "OPS", MONTHS), unit("9999", "OPS", MONTHS), unit("4100", "HQ", MONTHS),
             unit("4100", "OPS", MONTHS)]
    results = {r.key: r for r in adapter.write(push_mapping(), units)}
    assert results["4000\x1fOPS"].ok and results["4100\x1fOPS"].ok
    assert re.fullmatch(r"Adaptive refused the row: Row \d: Account '9999' does not exist\.",
                        results["9999\x1fOPS"].reason or "")
    assert not results["4100\x1fHQ"].ok and "Level 'HQ' does not exist" in (results["4100\x1fHQ"].reason or "")
    assert {k[0] for k in cells(adaptive_sandbox)} == {"4000", "4100"}


def test_a_whole_refusal_fails_every_unit_and_a_systemic_one_raises(adapter: AdaptiveAdapter,
                                                                     adaptive_sandbox: SandboxThread) -> None:
    units = [unit("4000", "OPS", {"2025-03": Decimal(1)})]
    results = adapter.write(push_mapping(version="Budget FY2025"), units)
    assert not results[0].ok and "Version 'Budget FY2025' is locked" in (results[0].reason or "")
    emulator_of(adaptive_sandbox).options["max_import_rows"] = 0
    with pytest.raises(FatalRemoteError, match="error-import-too-large"):
        adapter.write(push_mapping(), [unit("4000", "OPS", MONTHS)])


def test_a_cell_given_twice_with_two_values_fails_both(adapter: AdaptiveAdapter,
                                                       adaptive_sandbox: SandboxThread) -> None:
    a = unit("4000", "OPS", {"2026-01": Decimal(1)})
    b = PushUnit(key="other", idempotency_key="k", records=[dict(a.records[0], value=Decimal(2))], row_keys=["x"])
    c = unit("4100", "OPS", {"2026-01": Decimal(3)})
    results = {r.key: r for r in adapter.write(push_mapping(), [a, b, c])}
    assert not results[a.key].ok and not results["other"].ok and results[c.key].ok
    assert "given twice with different values" in (results[a.key].reason or "")
    assert set(cells(adaptive_sandbox)) == {("4100", "OPS", "2026-01")}


def test_cube_push_and_describe(adapter: AdaptiveAdapter, adaptive_sandbox: SandboxThread) -> None:
    mapping = push_mapping(version="Budget FY2026", sheet_type="cube", sheet="Loan Book", dims=["Product", "Region"])
    described = adapter.describe(mapping)
    assert {"dimensions.Region", "dimensions.Product", "dimensions.Cohort"} <= {f.name for f in described.fields}
    units = [unit("LoanBook.Balance", "OPS", {"2026-01": Decimal(5), "2026-02": Decimal(0)},
                  {"Product": "sme", "Region": "NBO"}),
             unit("4000", "OPS", {"2026-01": Decimal(5)}, {"Product": "sme", "Region": "NBO"})]
    reasons = adapter.check(mapping, units)
    assert list(reasons.values()) == ["account '4000' is not an account of cube sheet 'Loan Book'"]
    assert all(r.ok for r in adapter.write(mapping, units[:1]))
    assert cells(adaptive_sandbox, "Budget FY2026")[
        ("LoanBook.Balance", "OPS", "Product=sme", "Region=NBO", "2026-01")] == "5"


def test_faults_leave_the_same_final_state(adapter: AdaptiveAdapter, adaptive_sandbox: SandboxThread) -> None:
    mapping = push_mapping(dims=["Cohort"])
    units = [unit(a, lv, {f"2026-{m:02d}": Decimal(m * 10 + i) for m in range(1, 13)}, {"Cohort": f"C{i:03d}"})
             for i in range(30) for a in ("4000", "5000") for lv in ("OPS", "FIN")]
    adapter.check(mapping, units)
    adapter.write(mapping, units)
    clean = cells(adaptive_sandbox)
    adaptive_sandbox.reset()
    adaptive_sandbox.faults(rate=0.4, kinds=["429", "500", "503", "drop", "drop_after"], seed=3)
    for batch in (units[:40], units[40:80], units[80:]):
        assert all(r.ok for r in adapter.write(mapping, batch))
    injected = adaptive_sandbox.faults()["injected"]
    adaptive_sandbox.faults(rate=0.0)
    assert sum(injected.values()) >= 1
    assert cells(adaptive_sandbox) == clean and len(clean) == 120 * 12


# --- pull -----------------------------------------------------------------------------------------

def test_pull_is_split_by_time_span_with_exact_decimals(adapter: AdaptiveAdapter,
                                                        adaptive_sandbox: SandboxThread) -> None:
    mapping = pull_mapping(versions=["Forecast Q4 2026", "Budget FY2026"], split="quarter")
    before = requests(adaptive_sandbox)
    batches = list(adapter.read(mapping, None))
    assert requests(adaptive_sandbox) - before == 1 + 8  # exportVersions, then 2 versions x 4 quarters
    assert [len(b.records) for b in batches] == [48] * 8
    assert [b.state for b in batches][-2:] == [
        {"options": batches[0].state["options"], "version": "Budget FY2026", "through": "2026-09"},  # type: ignore[index]
        {"complete": True}]
    record = batches[0].records[0]
    assert record == {"version": "Forecast Q4 2026", "account": "4000", "account_name": "Interest Income",
                      "level": "OPS", "dimensions": {}, "period": "2026-01", "value": record["value"]}
    assert isinstance(record["value"], Decimal)
    dumped = cells(adaptive_sandbox, "Forecast Q4 2026")
    assert all(Decimal(dumped[(r["account"], r["level"], r["period"])]) == r["value"]
               for r in batches[0].records)


def test_pull_resumes_after_the_last_span_done_and_starts_over_when_complete(adapter: AdaptiveAdapter) -> None:
    mapping = pull_mapping(versions=["Forecast Q4 2026"], start="2026-01", end="2026-06")
    first = list(adapter.read(mapping, None))
    assert len(first) == 6
    resumed = list(adapter.read(mapping, first[2].state))
    assert [r.records[0]["period"] for r in resumed] == ["2026-04", "2026-05", "2026-06"]
    assert len(list(adapter.read(mapping, first[-1].state))) == 6
    other = pull_mapping(versions=["Forecast Q4 2026"], start="2026-01", end="2026-06", split="quarter")
    assert len(list(adapter.read(other, first[2].state))) == 2  # other options: not this pull's state


def test_pull_with_dimensions_and_filters(adapter: AdaptiveAdapter) -> None:
    adapter.write(push_mapping(dims=["Region"]), [unit("4000", "OPS", MONTHS, {"Region": "NBO"}),
                                                  unit("4000", "FIN", MONTHS, {"Region": "MSA"})])
    mapping = pull_mapping(versions=["Actuals"], start="2026-01", end="2026-03", split="none",
                           dimensions=["Region"], levels=["OPS"])
    (batch,) = adapter.read(mapping, None)
    assert {(r["level"], r["dimensions"]["Region"], r["period"], r["value"]) for r in batch.records} == {
        ("OPS", "NBO", p, v) for p, v in MONTHS.items()}


def test_pull_of_an_unknown_version_is_a_config_error(adapter: AdaptiveAdapter) -> None:
    with pytest.raises(ConfigError, match="version 'Forecast 2030' does not exist"):
        list(adapter.read(pull_mapping(versions=["Forecast 2030"]), None))


@pytest.mark.parametrize(("obj", "count", "probe"), [
    ("versions", 5, {"name": "Budget FY2025", "parent_name": "Budgets", "is_locked": True}),
    ("accounts", 20, {"code": "4000", "parent_code": "Revenue", "is_rollup": False, "is_importable": True}),
    ("levels", 5, {"name": "OPS", "parent_name": "Migo Lending", "is_rollup": False, "is_importable": True}),
    ("dimensions", 9, {"dimension": "Region", "name": "NBO", "description": "Nairobi"}),
])
def test_metadata_pulls(adapter: AdaptiveAdapter, obj: str, count: int, probe: dict[str, Any]) -> None:
    (batch,) = adapter.read(pull_mapping(obj, version="Actuals") if obj in ("accounts", "levels")
                            else pull_mapping(obj), None)
    assert len(batch.records) == count
    assert any(all(r.get(k) == v for k, v in probe.items()) for r in batch.records), batch.records
