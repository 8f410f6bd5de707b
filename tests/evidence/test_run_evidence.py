"""What a run leaves behind: its JSON-lines log, run_results.json, the HTML report (opened in real
headless Chromium, its figures checked against the run record), and alerts to local receivers
(an HTTP server and an aiosmtpd SMTP server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers.browser import render
from helpers.projects import make_project
from helpers.runs import cli_json, cli_json_here
from lxml import html

from migo_sync.config import Project
from migo_sync.evidence.alerts import AlertsConfig, AlertTarget, reasons, send_alerts
from migo_sync.evidence.runlog import LogsConfig, prune
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping


def test_a_run_writes_its_log_results_and_report(project: Path, project_env: dict[str, str]) -> None:
    code, doc = cli_json("run", "--project", str(project), env=project_env)
    assert code == 0 and doc["status"] == "ok"
    artifacts = doc["artifacts"]
    log_file, results, report = Path(artifacts["log"]), Path(artifacts["run_results"]), Path(artifacts["report"])
    assert log_file == project / ".migo-sync" / "logs" / f"{doc['run_id']}.jsonl"
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    requests = [e for e in events if e["event"] == "request"]
    assert len(requests) == sum(m["requests"] for m in doc["mappings"])  # one event per request
    assert all(e["system"] == "sheets" and e["method"] in ("GET", "PUT", "POST") and e["path"].startswith("/")
               and e["status"] == 200 and e["duration_ms"] >= 0 and e["attempt"] == 1 for e in requests)
    mappings = [e for e in events if e["event"] == "mapping"]
    assert [(e["mapping"], e["rows_written"]) for e in mappings] == [
        (m["name"], m["rows_written"]) for m in doc["mappings"]]
    assert [e["phase"] for e in events if e["event"] == "run"] == ["start", "end"]
    assert any(e["event"] == "batch" for e in events)
    text = log_file.read_text()
    for name, value in project_env.items():  # no credential reaches the log
        if "KEY" in name or "SECRET" in name or "TOKEN" in name:
            assert value not in text, name
    saved = json.loads(results.read_text())
    assert {k: saved[k] for k in ("run_id", "ok", "status", "mappings")} == {
        k: doc[k] for k in ("run_id", "ok", "status", "mappings")}
    assert saved["rejects"] == {"total": 0, "by_mapping": {}, "sample": []} and saved["reconciliation"] == []
    assert report.read_text().startswith("<!DOCTYPE html>")
    code, lines = _runs_log(project, project_env)
    assert code == 0 and [json.loads(line) for line in lines] == events


def _runs_log(project: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "migo_sync", "runs", "log", "last", "--json", "--project",
                           str(project)], capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    return done.returncode, done.stdout.splitlines()


def test_old_run_logs_are_pruned(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    for i in range(5):
        (folder / f"r2026120{i}-000000-000000.jsonl").write_text("{}\n")
    old = folder / "r20260101-000000-000000.jsonl"
    old.write_text("{}\n")
    os.utime(old, (1_000_000_000, 1_000_000_000))
    gone = prune(folder, LogsConfig(keep_runs=3, keep_days=30))
    assert sorted(p.name for p in gone) == ["r20260101-000000-000000.jsonl", "r20261200-000000-000000.jsonl",
                                            "r20261201-000000-000000.jsonl"]
    assert sorted(p.name for p in folder.iterdir()) == [f"r2026120{i}-000000-000000.jsonl" for i in (2, 3, 4)]


# -- the report, in a real browser ------------------------------------------------------------------


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    """A project whose warehouse holds one run with a failure, rejects and reconciliation differences."""
    root = make_project(tmp_path / "recorded")
    warehouse = open_warehouse(Project.load(root))
    try:
        book = Bookkeeping(warehouse)
        run = book.start_run("run", {})
        book.record_result(run, {"name": "intacct_journals_push", "system": "intacct", "direction": "push",
                                 "status": "rejected", "rows_read": 12500, "rows_changed": 12500,
                                 "rows_written": 12480, "rows_rejected": 20, "requests": 27, "seconds": 41.5})
        book.record_result(run, {"name": "zendesk_users_push", "system": "zendesk", "direction": "push",
                                 "status": "failed", "rows_read": 0, "requests": 8, "seconds": 27.31,
                                 "error": "zendesk: gave up after 8 attempts: HTTP 503",
                                 "error_class": "UnreachableError"})
        book.add_rejects(run, "intacct_journals_push",
                         [(f"JE-{i}", "account 9999 <is> not in the chart", None) for i in range(20)])
        book.record_reconciliation(run, {"system": "intacct", "mapping": "intacct_journals_push", "rows": [
            {"period": "2026-11", "account": "1000", "warehouse": "1234567.89", "ledger": "1234567.89",
             "difference": "0.00", "status": "match"},
            {"period": "2026-11", "account": "4000", "warehouse": "-2500.10", "ledger": "-2000.00",
             "difference": "-500.10", "status": "differs"}]})
        book.finish_run(run, False, status="failed", reason="zendesk_users_push failed: UnreachableError: ...",
                        exit_code=3)
        shown = book.get_run(run, limit=1000)
    finally:
        warehouse.close()
    assert shown is not None
    return root, run


def _text(node: Any) -> str:
    return " ".join(node.text_content().split())


def test_the_report_renders_in_chromium_and_its_figures_equal_the_run_record(recorded: tuple[Path, str],
                                                                            tmp_path: Path) -> None:
    root, run_id = recorded
    out = tmp_path / "report.html"
    code, written = cli_json_here("runs", "report", "last", "-o", str(out), "--project", str(root))
    assert code == 0 and written == {"run_id": run_id, "report": str(out.resolve())}
    code, record = cli_json_here("runs", "show", run_id, "--rejects", "1000", "--project", str(root))
    assert code == 0
    page = render(out)
    assert page.console == []  # no script error, no blocked or failed load
    dom = html.fromstring(page.dom)
    assert dom.body.get("data-rendered") == "yes"  # the page's own script ran
    assert _text(dom.get_element_by_id("run-status")) == record["status"] == "failed"
    assert _text(dom.get_element_by_id("exit-code")) == "3"
    assert _text(dom.get_element_by_id("reason")) == record["reason"]
    for mapping in record["mappings"]:
        row = dom.xpath(f'//table[@id="mappings"]//tr[@data-mapping="{mapping["name"]}"]')[0]
        for name in ("rows_read", "rows_changed", "rows_written", "rows_rejected", "requests"):
            cell = row.xpath(f'td[@data-field="{name}"]')[0]
            assert _text(cell) == f"{mapping[name]:,}"
        assert _text(row.xpath('td[@data-field="seconds"]')[0]) == f"{mapping['seconds']:.2f}"
    assert "UnreachableError" in _text(dom.xpath('//tr[@data-mapping="zendesk_users_push"]')[0])
    totals = {cell.get("data-total"): _text(cell) for cell in dom.xpath('//table[@id="summary"]//td')}
    assert totals["rows_written"] == f"{sum(m['rows_written'] for m in record['mappings']):,}" == "12,480"
    (rec,) = record["reconciliation"]
    rows = dom.xpath('//table[contains(@class, "reconciliation")]//tbody/tr')
    assert len(rows) == len(rec["rows"]) == 2
    for tr, expected in zip(rows, rec["rows"], strict=True):
        for name in ("warehouse", "ledger", "difference"):
            shown = _text(tr.xpath(f'td[@data-field="{name}"]')[0])
            assert Decimal(shown.replace(",", "")) == Decimal(expected[name])
        assert (tr.get("class") == "diff") == (expected["status"] != "match")  # differences highlighted
    assert _text(rows[0].xpath('td[@data-field="warehouse"]')[0]) == "1,234,567.89"
    assert len(dom.xpath('//svg[@id="rows-chart"]//rect')) >= 4 and dom.xpath('//svg[@class="difference-chart"]')
    rejects = dom.xpath('//table[@id="rejects"]//tbody/tr')
    assert len(rejects) == record["rejects_total"] == 20
    assert _text(rejects[0].xpath("td")[2]) == "account 9999 <is> not in the chart"  # escaped, shown as text
    assert b"http://" not in out.read_bytes() and b"https://" not in out.read_bytes()


# -- alerts -----------------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append((self.path, json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_receiver() -> Iterator[tuple[int, list[Any]]]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Keep(Message):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[Any] = []

        def handle_message(self, message: Any) -> None:
            self.messages.append(message)

    handler = Keep()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler.messages
    finally:
        controller.stop()


DOC = {"run_id": "r20261206-020000-000001", "status": "rejected", "reason": "30 rows rejected",
       "mappings": [{"name": "zendesk_users_push", "status": "rejected", "rows_read": 1000, "rows_written": 970,
                     "rows_rejected": 30}],
       "reconciliation": [{"mapping": "intacct_journals_push", "system": "intacct",
                           "differences": [{"status": "differs"}]}],
       "artifacts": {"report": "/srv/p/.migo-sync/runs/r20261206-020000-000001/report.html"}}


def test_when_a_run_deserves_an_alert() -> None:
    assert reasons(AlertsConfig(on_differences=False), DOC) == []  # rejects: no threshold set
    assert reasons(AlertsConfig(rejects_over=29, on_differences=False), DOC) == [
        "30 rows rejected (alert above 29)"]
    assert reasons(AlertsConfig(rejects_over=30, on_differences=False), DOC) == []
    assert reasons(AlertsConfig(rejects_share_over=0.02, on_differences=False), DOC) == [
        "30 of 1,000 rows rejected (3.0%, alert above 2.0%)"]
    assert reasons(AlertsConfig(rejects_share_over=0.03, on_differences=False), DOC) == []
    assert reasons(AlertsConfig(), DOC) == ["reconciliation of intacct_journals_push (intacct): 1 difference(s)"]
    failed = {**DOC, "mappings": [{**DOC["mappings"][0], "status": "failed", "error": "zendesk: down"}]}  # type: ignore[dict-item]
    assert "zendesk_users_push failed: zendesk: down" in reasons(AlertsConfig(), failed)


def test_alerts_reach_a_webhook_slack_and_smtp_and_an_undeliverable_one_is_only_logged(
        http_receiver: tuple[str, list[tuple[str, dict[str, Any]]]], smtp_receiver: tuple[int, list[Any]],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    url, received = http_receiver
    port, mails = smtp_receiver
    monkeypatch.setenv("MIGO_SYNC_ALERTS_HOOK_URL", f"{url}/hook")
    monkeypatch.setenv("MIGO_SYNC_ALERTS_OPS_URL", f"{url}/services/T000/B000/secretpart")
    monkeypatch.setenv("MIGO_SYNC_ALERTS_DOWN_URL", f"http://127.0.0.1:{_free_port()}/nobody")
    config = AlertsConfig(rejects_over=0, targets=[
        AlertTarget(name="hook", type="webhook"), AlertTarget(name="ops", type="slack"),
        AlertTarget(name="mail", type="email", host="127.0.0.1", port=port, sender="migo@example.com",
                    to=["controller@example.com"]),
        AlertTarget(name="down", type="webhook")])
    deliveries = send_alerts(config, DOC)
    assert [(d["target"], d["ok"]) for d in deliveries] == [("hook", True), ("ops", True), ("mail", True),
                                                             ("down", False)]
    assert "ConnectError" in deliveries[3]["error"]
    (hook_path, hook), (slack_path, slack) = sorted(received)
    assert hook_path == "/hook" and hook["run"]["run_id"] == DOC["run_id"] and hook["report"].endswith("report.html")
    assert hook["reasons"][0] == "30 rows rejected (alert above 0)"
    assert slack_path.endswith("/secretpart") and DOC["artifacts"]["report"] in slack["text"]  # type: ignore[index]
    (mail,) = mails
    assert mail["Subject"] == "migo-sync run r20261206-020000-000001: rejected"
    assert mail["To"] == "controller@example.com" and "zendesk_users_push" in mail.get_payload()
    assert any("could not be delivered" in r.getMessage() for r in caplog.records)


def test_a_failed_run_alerts_through_the_project_config(project: Path, project_env: dict[str, str],
                                                        http_receiver: tuple[str, list[Any]]) -> None:
    url, received = http_receiver
    with (project / "migo-sync.toml").open("a") as config:
        config.write('\n[alerts]\non_failure = true\n\n[[alerts.targets]]\nname = "hook"\ntype = "webhook"\n')
    env = {**project_env, "MIGO_SYNC_ALERTS_HOOK_URL": f"{url}/hook",
           "MIGO_SYNC_SHEETS_URL": f"http://127.0.0.1:{_free_port()}", "MIGO_SYNC_RETRY_ATTEMPTS": "1"}
    code, doc = cli_json("push", "sheets_collections_push", "--project", str(project), env=env)
    assert code == 3 and doc["status"] == "failed"
    ((hook_path, alert),) = received
    assert hook_path == "/hook"
    assert alert["run"]["run_id"] == doc["run_id"] and "sheets_collections_push failed" in alert["reasons"][0]
    saved = json.loads(Path(doc["artifacts"]["run_results"]).read_text())
    assert saved["alerts"] == [{"target": "hook", "type": "webhook", "ok": True}]
