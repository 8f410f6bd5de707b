"""Adaptive Planning answers recorded by public clients (an Airbyte connector's samples, wdadaptivepy's
exportVersions fixture), read by migo-sync's real client and adapter."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from helpers.recordings import recorded_bytes, replay_context

from migo_sync.adapter import PushUnit
from migo_sync.adapters.adaptive.adapter import AdaptiveAdapter
from migo_sync.errors import FatalRemoteError
from migo_sync.mapping.model import Mapping

URL = "https://api.adaptiveplanning.com/api/v38"
ANSWERS = {"exportVersions": "wdadaptivepy-exportVersions.xml", "exportAccounts": "airbyte-accounts_output.xml",
           "exportLevels": "airbyte-levels_output.xml", "exportDimensions": "airbyte-dimension_output.xml",
           "exportData": "airbyte-data_output.xml"}


def adapter(answers: dict[str, str] | None = None) -> tuple[AdaptiveAdapter, list[str]]:
    """The adapter over a transport answering each call with its recording."""
    files = {**ANSWERS, **(answers or {})}
    called: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        method = request.read().split(b'<call method="', 1)[1].split(b'"', 1)[0].decode()
        called.append(method)
        return httpx.Response(200, content=recorded_bytes("adaptive", files[method]),
                              headers={"Content-Type": "text/xml"})

    environ = {"MIGO_SYNC_ADAPTIVE_LOGIN": "someone@example.com", "MIGO_SYNC_ADAPTIVE_PASSWORD": "pw"}
    return AdaptiveAdapter(replay_context("adaptive", handler, url=URL, environ=environ)), called


def test_export_versions_reads_1_0_flags_start_end_and_bare_years() -> None:
    found, _ = adapter()
    versions = found.versions()
    actuals = versions["Actuals"]
    assert actuals["is_importable"] is False  # isImportable="0"
    assert (actuals["start"], actuals["end"]) == ("2012-01", "2016-12")  # startVer="2012" endVer="2016"
    assert actuals["completed_through"] == "2012-03"
    assert versions["Original Import"]["is_importable"] is True  # isImportable="1"
    # a sub-version spans its parent's range
    assert (versions["Original Import"]["start"], versions["Original Import"]["end"]) == ("2012-01", "2016-12")
    assert versions["Original Import"]["parent_name"] == "Adjusted Actuals"
    budget = versions["Budget 2013"]
    assert budget["is_default"] is True and budget["type"] == "PLANNING"
    assert (budget["start"], budget["end"]) == ("2013-01", "2017-12")  # startPlan="01/2013" endPlan="2017"
    assert (versions["Budget 2014"]["start"], versions["Budget 2014"]["end"]) == ("2014-01", "2018-12")
    assert len(versions) == 8 and found.check_connection() == "signed in; 8 version(s)"


def test_accounts_levels_and_dimensions_land_as_sent() -> None:
    found, _ = adapter()
    accounts = {a["id"]: a for a in found.client.export_accounts("Original Import")}
    assert [accounts[i]["code"] for i in (2, 3, 4, 5, 6)] == ["", "B", "C", "D", "E"]
    assert accounts[6]["is_importable"] is True and accounts[6]["is_rollup"] is False
    assert accounts[5]["is_importable"] is False and accounts[5]["is_rollup"] is True
    assert accounts[3]["parent_id"] == 2 and accounts[3]["balance_type"] == "DEBIT"
    levels = {lv["name"]: lv for lv in found.client.export_levels("Original Import")}
    assert levels["D"]["is_importable"] is True and levels["D"]["is_rollup"] is False
    assert levels["A"]["is_rollup"] is True  # hasChildren="true"
    dims = found.client.export_dimensions()
    assert {(d["dimension"], d["name"]) for d in dims} >= {("A", "B"), ("D", "E"), ("D", "F"), ("G", "H"), ("G", "K")}
    assert all(d["auto_create"] is False for d in dims)  # autoCreate="0"


def push(version: str) -> Mapping:
    return Mapping.model_validate({
        "name": "adaptive_push", "system": "adaptive", "object": "data", "direction": "push", "mode": "upsert",
        "warehouse": {"table": "t"}, "key": ["a", "l", "p"], "group_by": ["a", "l"],
        "fields": [{"column": "a", "remote": "account"}, {"column": "l", "remote": "level"},
                   {"column": "p", "remote": "period"}, {"column": "v", "remote": "value", "type": "decimal"}],
        "options": {"version": version}})


def unit(account: str, level: str, period: str) -> PushUnit:
    key = f"{account}/{level}"
    return PushUnit(key=key, idempotency_key=key, row_keys=[key],
                    records=[{"account": account, "level": level, "period": period, "value": Decimal("1.50")}])


def test_a_push_into_an_importable_account_passes_the_checks() -> None:
    found, called = adapter()
    units = [unit("E", "D", "2013-01"), unit("D", "D", "2013-01"), unit("E", "I", "2017-02")]
    refused = found.check(push("Original Import"), units)
    assert "E/D" not in refused  # isImportable="1" on the account and the level, inside the range
    assert refused["D/D"] == "account 'D' is a rollup account; Adaptive imports only into leaf accounts"
    assert refused["E/I"] == "month 2017-02 is outside version 'Original Import' (2012-01..2016-12)"
    # the checks read the version, its accounts and its levels together, each once (no order among them)
    assert sorted(called) == ["exportAccounts", "exportLevels", "exportVersions"]


def test_export_data_header_wider_than_its_rows_is_refused_not_misread() -> None:
    found, _ = adapter()
    with pytest.raises(FatalRemoteError, match="CSV line 2 has 8 fields, header 9"):
        export = found.client.export_data("Actuals", 2022 * 12 + 3, 2022 * 12 + 4,
                                          dimensions=["GL Account Name", "Location Name", "Contract Name",
                                                      "Assignment Name"])
        list(export.rows)


def test_export_data_without_rows_is_empty() -> None:
    found, _ = adapter({"exportData": "airbyte-data_output_no_data.xml"})
    export = found.client.export_data("Actuals", 2022 * 12 + 3, 2022 * 12 + 4,
                                      dimensions=["GL Account Name", "Location Name", "Contract Name",
                                                  "Assignment Name"])
    assert export.periods == [2022 * 12 + 3, 2022 * 12 + 4] and list(export.rows) == []
