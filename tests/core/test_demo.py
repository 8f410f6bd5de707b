"""`migo-sync demo` end to end, as `make demo` runs it: a child sandbox process, every shipped
mapping, DuckDB. A rerun on the same state writes nothing; a run under injected faults ends with
the same remote state as one without."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # one xdist worker runs the module whole: tests/conftest.py, WHOLE_MODULES


def migo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migo_sync", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MIGO_SYNC_NO_KEYRING": "1", **(env or {})})


def demo(project: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = migo("demo", "--project", str(project), "--json", *extra, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def dump(project: Path, system: str) -> Any:
    """What `migo-sync sandbox dump SYSTEM --project PROJECT` prints, read in this process by the
    command's own function from the state the demo's sandbox child saved when it stopped. A child
    process each (17 reads) added ~1.5 s of imports and, for Zendesk, ~1 s of printing and parsing
    17 MB of indented JSON, and tested nothing more; the JSON round trip is kept."""
    from migo_sync.cli.sandbox import default_state_dir, dump_state

    return json.loads(json.dumps(dump_state(system, default_state_dir(project)), default=str))


def journals(project: Path, system: str) -> list[tuple[Any, ...]]:
    """Every posted journal's reference and lines, whatever order or ids the ledger gave them."""
    data = dump(project, system)
    out = []
    for j in data["journals"]:
        ref = j.get("referenceno") or j.get("journal_id") or j.get("Accounting_Journal_ID") or j.get("id")
        lines = sorted(json.dumps({k: v for k, v in line.items() if k not in ("line_no", "recordno")}, sort_keys=True)
                       for line in j["lines"])
        out.append((ref, tuple(lines)))
    return sorted(out)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    project = tmp_path_factory.mktemp("demo-clean")
    return project, demo(project)


def test_demo_runs_every_shipped_mapping(clean: tuple[Path, dict[str, Any]]) -> None:
    project, report = clean
    shipped = {p.stem for p in (Path(__file__).resolve().parents[2] / "mappings").glob("*.yaml")}
    assert report["ok"]
    assert {m["name"] for m in report["mappings"]} == shipped
    assert all(m["status"] == "ok" for m in report["mappings"])
    assert all(m["rows_written"] > 0 for m in report["mappings"])
    assert [r["ok"] for r in report["reconciliation"]] == [True, True]
    rows = dump(project, "sheets")["spreadsheets"]["migo-collections"]["tabs"]["Collections"]["rows"]
    push = next(m for m in report["mappings"] if m["name"] == "sheets_collections_push")
    assert len(rows) == push["rows_read"] + 1


def books(project: Path, system: str) -> Any:
    """What a system holds, less Intacct's sign-ins: a rerun that reads signs in (getAPISession),
    which is no write. The emulator draws session ids from its seeded sequence, so whether a new
    one adds to the count depended on the order of the draws (pulls read ahead on threads), not on
    anything the run wrote."""
    held = dump(project, system)
    if system == "intacct":
        held.pop("open_sessions")
    return held


def test_a_rerun_on_the_same_state_writes_nothing(clean: tuple[Path, dict[str, Any]]) -> None:
    project, _ = clean
    before = {s: books(project, s) for s in ("sheets", "intacct", "adaptive")}
    again = demo(project)
    assert again["ok"]
    for m in again["mappings"]:
        assert m["rows_written"] == 0, m
        assert m["rows_changed"] == 0, m
        if m["direction"] == "push":
            assert m["requests"] == 0, m
    assert {s: books(project, s) for s in before} == before


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A fresh project's demo under injected faults, as a person runs it (`--verbose`, no `--json`):
    the same run serves the fault test and the secrets test (a full demo each before; a faulty run's
    output also carries every retry, so it shows the secrets test more, not less)."""
    project = tmp_path_factory.mktemp("demo-faulty")
    # every refusal is still retried and its Retry-After (1 s) read, but waited at most 0.2 s
    # (MIGO_SYNC_RETRY_WAIT_MAX): the waits' length changes nothing the remote ends with, and they
    # were ~17 s of the run (54.6 s -> 37.7 s at load 11)
    return project, migo("demo", "--project", str(project), "--fault-rate", "0.2", "--verbose",
                         env={"MIGO_SYNC_RETRY_WAIT_MAX": "0.2"})


def test_faults_leave_the_same_remote_state(clean: tuple[Path, dict[str, Any]],
                                            faulty: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    project, _ = clean
    faulty_root, done = faulty  # injected 429/503 carry Retry-After: 1, honoured up to 0.2 s
    assert done.returncode == 0, done.stderr[-3000:]  # exit 0: the run is ok, every mapping ok
    assert "Traceback" not in done.stderr
    assert dump(faulty_root, "sheets") == dump(project, "sheets")
    assert dump(faulty_root, "adaptive") == dump(project, "adaptive")
    assert journals(faulty_root, "intacct") == journals(project, "intacct")
    clean_users = {u["external_id"]: u.get("user_fields") for u in dump(project, "zendesk")["users"] if u.get("external_id")}
    faulty_users = {u["external_id"]: u.get("user_fields")
                    for u in dump(faulty_root, "zendesk")["users"] if u.get("external_id")}
    assert faulty_users == clean_users


def test_verbose_output_never_shows_a_secret(faulty: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    project, done = faulty
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert re.search(r"\b(intacct|workday|adaptive) POST /\S* → 200 \(\d+ ms\)", output)  # requests are logged...
    logs = "".join(p.read_text() for p in (project / ".migo-sync" / "logs").glob("*.jsonl"))
    assert '"event": "request"' in logs  # ...in the run's log file too
    from migo_sync.demo.project import sandbox_credentials

    secrets = [v for k, v in sandbox_credentials(project / ".migo-sync").items()
               if any(word in k for word in ("PASSWORD", "TOKEN", "SECRET"))]
    key_files = [Path(v) for k, v in sandbox_credentials(project / ".migo-sync").items() if k.endswith("_FILE")]
    for key_file in key_files:
        key = json.loads(key_file.read_text())["private_key"]
        secrets.append(key.splitlines()[5])  # a line of the PEM body
    assert len(secrets) >= 4
    for secret in secrets:
        assert secret not in output and secret not in logs  # ...never a credential
    page = re.search(r"the run's report \(open it in a browser\): (\S+)", done.stderr)
    assert page and Path(page.group(1)).read_text().startswith("<!DOCTYPE html>")
    assert "Plan versus actual" in Path(page.group(1)).read_text()


def test_demo_promotes_the_manual_adjustments_and_refuses_the_fx_revaluation(
        clean: tuple[Path, dict[str, Any]]) -> None:
    import duckdb

    project, _ = clean
    refs = [ref for ref, _ in journals(project, "intacct")]
    assert len([r for r in refs if r.startswith("ADJ-2026-")]) == 30  # posted once each, promoted
    assert not [r for r in refs if r.startswith("FXR-")]  # refused: the FX Rates sheet is never promoted
    with duckdb.connect(str(project / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT mapping, relation, approver, promoted FROM migo_sync.promotions").fetchall()
    assert ("intacct_adjustments_push", "finance.manual_adjustments", "A. Wanjiru (finance lead)", True) in rows
    done = migo("lineage", "department", "--project", str(project))
    assert done.returncode == 0
    assert "finance.manual_adjustments.department_id (dmz)  ─[intacct_adjustments_push]→  intacct: GLBATCH.DEPARTMENT" \
        in done.stdout
