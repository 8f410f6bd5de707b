"""OpenLineage: every run emits START then COMPLETE or FAIL per mapping, with datasets, schema and
column lineage, through the official client to a receiver on loopback; every event is valid
against the OpenLineage JSON schemas vendored in openlineage_spec/ (core and each facet's own
schema, see its SOURCES.md). Off by default: nothing is sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from governance.openlineage_spec import check
from governance.test_zones import NAMES, PROMOTION, _project

from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse

MAX_BODY = 1 << 20


class Receiver(ThreadingHTTPServer):
    events: list[dict[str, Any]]
    headers_seen: list[dict[str, str]]


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = min(int(self.headers.get("Content-Length", "0")), MAX_BODY)
        self.server.events.append(json.loads(self.rfile.read(length)))
        self.server.headers_seen.append(dict(self.headers))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), Handler)
    server.events, server.headers_seen = [], []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def config_for(receiver: Receiver, zones: str = PROMOTION) -> str:
    return (zones + f'\n[openlineage]\ntransport = "http"\nurl = "http://127.0.0.1:{receiver.server_port}"\n'
            'api_key_env = "OL_KEY"\nnamespace = "migo-test"\n')


def valid(event: dict[str, Any]) -> dict[str, Any]:
    return check(event)


def test_each_mapping_emits_start_and_complete_with_column_lineage(
        sandbox: SandboxThread, receiver: Receiver, tmp_path: Path) -> None:
    proj = _project(tmp_path, sandbox, config_for(receiver))
    proj.environ["OL_KEY"] = "ol-secret-key"
    run(proj, RunOptions(names=NAMES[:1]))  # the push's query is checked against the pulled table
    receiver.events.clear()
    receiver.headers_seen.clear()
    report = run(proj, RunOptions(names=NAMES))
    assert report.ok, [r.error for r in report.results]
    events = [valid(e) for e in receiver.events]
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("sheets_manual_adjustments_pull", "START"), ("sheets_manual_adjustments_pull", "COMPLETE"),
        ("intacct_adjustments_push", "START"), ("intacct_adjustments_push", "COMPLETE")]
    assert {e["job"]["namespace"] for e in events} == {"migo-test"}
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"] != events[2]["run"]["runId"]
    assert all(h.get("Authorization") == "Bearer ol-secret-key" for h in receiver.headers_seen)
    pull, push = events[1], events[3]
    [source] = pull["inputs"]
    assert source["namespace"].startswith("sheets://127.0.0.1:") and source["name"] == "tab/Manual Adjustments"
    [table] = pull["outputs"]
    warehouse_ns = f"duckdb://{(tmp_path / 'warehouse.duckdb').resolve()}"
    assert (table["namespace"], table["name"]) == (warehouse_ns, "finance.manual_adjustments")
    assert {"name": "amount", "type": "decimal", "fields": []} in table["facets"]["schema"]["fields"]
    assert table["facets"]["columnLineage"]["fields"]["amount"]["inputFields"] == [
        {"namespace": source["namespace"], "name": "tab/Manual Adjustments", "field": "Amount", "transformations": []}]
    assert [(d["namespace"], d["name"]) for d in push["inputs"]] == [(warehouse_ns, "finance.manual_adjustments")]
    [ledger] = push["outputs"]
    assert ledger["namespace"].startswith("intacct://127.0.0.1:") and ledger["name"] == "GLBATCH"
    amount = ledger["facets"]["columnLineage"]["fields"]["TRX_AMOUNT"]["inputFields"]
    assert amount == [{"namespace": warehouse_ns, "name": "finance.manual_adjustments", "field": "amount",
                       "transformations": []}]


def test_a_failed_mapping_emits_fail_with_its_error(sandbox: SandboxThread, receiver: Receiver,
                                                    tmp_path: Path) -> None:
    proj = _project(tmp_path, sandbox, config_for(receiver))
    proj.environ["OL_KEY"] = "k"
    run(proj, RunOptions(names=NAMES[:1]))
    warehouse = open_warehouse(proj)
    try:
        warehouse.execute("UPDATE finance.manual_adjustments SET approved_by = NULL WHERE adjustment_id = 'ADJ-2026-0002'")
    finally:
        warehouse.close()
    receiver.events.clear()
    run(proj, RunOptions(names=NAMES[1:]))
    start, fail = (valid(e) for e in receiver.events)
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    assert fail["run"]["facets"]["errorMessage"]["message"].startswith("refused: DMZ relation")


def test_off_by_default_and_a_file_transport_writes_one_event_per_line(
        sandbox: SandboxThread, receiver: Receiver, tmp_path: Path) -> None:
    proj = _project(tmp_path / "off", sandbox, PROMOTION)
    run(proj, RunOptions(names=NAMES[:1]))
    assert receiver.events == []
    proj = _project(tmp_path / "file", sandbox, PROMOTION + '\n[openlineage]\ntransport = "file"\npath = "ol.ndjson"\n')
    run(proj, RunOptions(names=NAMES[:1]))
    lines = (tmp_path / "file" / "ol.ndjson").read_text().splitlines()
    assert [valid(json.loads(x))["eventType"] for x in lines] == ["START", "COMPLETE"]


def test_an_unreachable_receiver_never_fails_the_run(sandbox: SandboxThread, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proj = _project(tmp_path, sandbox, PROMOTION + f'\n[openlineage]\ntransport = "http"\nurl = "http://127.0.0.1:{port}"\ntimeout = 1\n')
    report = run(proj, RunOptions(names=NAMES[:1]))
    assert report.ok


def test_a_push_through_a_view_names_the_view_and_its_base_table_down_to_the_column(
        sandbox: SandboxThread, receiver: Receiver, tmp_path: Path) -> None:
    view_promotion = ('[zones.promote."finance.v_adjustments"]\napprover = "A. Wanjiru (finance lead)"\n'
                      'not_null = ["adjustment_id", "account_no", "amount"]\n')
    proj = _project(tmp_path, sandbox, config_for(receiver, view_promotion))
    proj.environ["OL_KEY"] = "k"
    push = tmp_path / "mappings" / "intacct_adjustments_push.yaml"
    push.write_text(push.read_text().replace("FROM finance.manual_adjustments a", "FROM finance.v_adjustments a"))
    run(proj, RunOptions(names=NAMES[:1]))
    warehouse = open_warehouse(proj)
    try:
        warehouse.execute("CREATE VIEW finance.v_adjustments AS SELECT adjustment_id, adjustment_date, account_no, "
                          "amount, department_id, reason FROM finance.manual_adjustments")
    finally:
        warehouse.close()
    receiver.events.clear()
    report = run(proj, RunOptions(names=NAMES[1:]))
    assert report.ok, [r.error for r in report.results]
    start, complete = (valid(e) for e in receiver.events)
    assert start["inputs"] == complete["inputs"]
    warehouse_ns = f"duckdb://{(tmp_path / 'warehouse.duckdb').resolve()}"
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [
        (warehouse_ns, "finance.v_adjustments"), (warehouse_ns, "finance.manual_adjustments")]
    [ledger] = complete["outputs"]
    amount = ledger["facets"]["columnLineage"]["fields"]["TRX_AMOUNT"]["inputFields"]
    assert sorted((f["name"], f["field"]) for f in amount) == [
        ("finance.manual_adjustments", "amount"), ("finance.v_adjustments", "amount")]


def test_the_vendored_schemas_reject_what_the_spec_forbids(sandbox: SandboxThread, tmp_path: Path) -> None:
    """The validation is not vacuous: an emitted event, broken in one place at a time, fails."""
    import copy

    proj = _project(tmp_path, sandbox, PROMOTION + '\n[openlineage]\ntransport = "file"\npath = "ol.ndjson"\n')
    run(proj, RunOptions(names=NAMES[:1]))
    _, complete = (valid(json.loads(x)) for x in (tmp_path / "ol.ndjson").read_text().splitlines())

    def broken(change: Any) -> dict[str, Any]:
        event = copy.deepcopy(complete)
        change(event)
        return event

    table = lambda e: e["outputs"][0]["facets"]  # noqa: E731
    breakages = [
        lambda e: e.update(eventType="DONE"),                                   # core: not a run state
        lambda e: e["run"].update(runId="not-a-uuid"),                          # core: format uuid
        lambda e: e.pop("producer"),                                            # core: required
        lambda e: table(e)["columnLineage"].pop("_producer"),                   # core BaseFacet, via the facet's $ref
        lambda e: table(e)["columnLineage"]["fields"]["amount"]["inputFields"][0].pop("field"),  # facet schema
        lambda e: table(e)["schema"]["fields"].append({"type": "decimal"}),     # facet schema: a field has a name
        lambda e: e["run"].setdefault("facets", {}).update(errorMessage={       # facet schema: programmingLanguage
            "_producer": "https://x.test", "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/"
            "ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet", "message": "boom"}),
    ]
    for change in breakages:
        with pytest.raises(jsonschema.ValidationError):
            check(broken(change))
    with pytest.raises(AssertionError, match="no vendored OpenLineage schema"):  # an unknown facet is not waved through
        check(broken(lambda e: table(e).update(custom_thing={"_producer": "https://x.test",
                                                             "_schemaURL": "https://x.test/Custom.json"})))
