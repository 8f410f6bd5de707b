"""The shipped Sheets mappings through the real engine: DuckDB warehouse, emulator over loopback.

Push the collections list, rerun (nothing sent), change a row (the tab is rewritten), remove
rows (the old extent is cleared); pull FX rates and manual
adjustments into typed tables, mirror deletions. The push's warm-up (sign-in and metadata while the
rows are read) and its errors.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from helpers.projects import make_project
from helpers.sandboxed import query as sql

from migo_sync.adapters.sheets import auth as sheets_auth
from migo_sync.adapters.sheets.auth import clear_token_cache
from migo_sync.adapters.sheets.client import SheetsClient
from migo_sync.config import Project
from migo_sync.engine import push as push_engine
from migo_sync.engine import runner as run_engine
from migo_sync.engine.push import Pusher
from migo_sync.engine.result import MappingResult
from migo_sync.engine.runner import RunOptions, run
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

SHIPPED = Path(__file__).resolve().parents[2] / "mappings"
HEADER = ["Priority", "Days Past Due", "Loan ID", "Customer ID", "Customer", "Phone", "Outstanding (KES)", "Agent",
          "Next Action"]
SCHEMA = pa.schema([("loan_id", pa.string()), ("customer_id", pa.string()), ("full_name", pa.string()),
                    ("phone", pa.string()), ("days_past_due", pa.int32()), ("outstanding", pa.decimal128(18, 2)),
                    ("assigned_agent", pa.string()), ("next_action", pa.string()), ("priority", pa.int32())])


def collections(count: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(1, count + 1):
        dpd = (i * 37) % 120 + 1
        rows.append({"loan_id": f"L{i:07d}", "customer_id": f"C{i:06d}", "full_name": f"Customer {i}",
                     "phone": f"+2547{10_000_000 + i}", "days_past_due": dpd,
                     "outstanding": Decimal(f"{(i * 7919) % 90_000}.{i % 100:02d}"),
                     "assigned_agent": "A. Wekesa", "next_action": "call",
                     "priority": 1 if dpd > 60 else (2 if dpd > 14 else 3)})
    rows[4]["full_name"] = '=HYPERLINK("https://evil.example/?x=1","Pay here")'
    return rows


@pytest.fixture
def project(sheets_env: dict[str, str], tmp_path: Path) -> Iterator[Project]:
    root = make_project(tmp_path / "project")
    for mapping in SHIPPED.glob("sheets_*.yaml"):
        shutil.copy(mapping, root / "mappings" / mapping.name)
    loaded = Project.load(root)
    loaded.environ = dict(sheets_env)
    sql(loaded, "CREATE SCHEMA IF NOT EXISTS lending")
    warehouse = open_warehouse(loaded)
    try:
        warehouse.load_arrow("lending.collections", pa.Table.from_pylist(collections(300), schema=SCHEMA))
    finally:
        warehouse.close()
    yield loaded


def sync(project: Project, *names: str) -> dict[str, MappingResult]:
    report = run(project, RunOptions(names=list(names)))
    return {r.name: r for r in report.results}


def tab_rows(sandbox: SandboxThread) -> list[list[Any]]:
    rows: list[list[Any]] = sandbox.dump("sheets")["spreadsheets"]["migo-collections"]["tabs"]["Collections"]["rows"]
    return rows


def test_collections_push_rerun_change_and_shrink(project: Project, sheets_sandbox: SandboxThread) -> None:
    first = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert (first.status, first.rows_written, first.rows_rejected) == ("ok", 300, 0), first.error
    assert first.requests == 4          # token, metadata, clear, one values:batchUpdate (well under 2 MB)
    rows = tab_rows(sheets_sandbox)
    assert rows[0] == HEADER and len(rows) == 301
    order = [(r[0], -r[1], r[2]) for r in rows[1:]]
    assert order == sorted(order)       # Priority, Days Past Due desc, Loan ID
    by_loan = {r[2]: r for r in rows[1:]}
    assert by_loan["L0000005"][4] == '=HYPERLINK("https://evil.example/?x=1","Pay here")'  # text, not a formula
    expected = {r["loan_id"]: r["outstanding"] for r in collections(300)}
    assert all(Decimal(repr(r[6])) == expected[r[2]] for r in rows[1:])

    again = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert (again.status, again.rows_changed, again.rows_written, again.requests) == ("ok", 0, 0, 0)

    sql(project, "UPDATE lending.collections SET outstanding = 1234.56 WHERE loan_id = 'L0000042'")
    changed = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert (changed.rows_changed, changed.rows_written) == (1, 300)   # the tab is one unit: rewritten whole
    assert {r[2]: r for r in tab_rows(sheets_sandbox)[1:]}["L0000042"][6] == 1234.56

    sql(project, "DELETE FROM lending.collections WHERE loan_id > 'L0000100'")
    shrunk = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert shrunk.status == "ok", shrunk.error
    rows = tab_rows(sheets_sandbox)
    assert len(rows) == 101 and {r[2] for r in rows[1:]} == {f"L{i:07d}" for i in range(1, 101)}

    sql(project, "DELETE FROM lending.collections")
    emptied = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert emptied.status == "ok", emptied.error
    assert tab_rows(sheets_sandbox) == [HEADER]


def test_finance_pulls_land_typed_tables(project: Project, client: SheetsClient) -> None:
    results = sync(project, "sheets_fx_rates_pull", "sheets_manual_adjustments_pull")
    fx, adjustments = results["sheets_fx_rates_pull"], results["sheets_manual_adjustments_pull"]
    assert (fx.status, fx.rows_read, fx.rows_written) == ("ok", 20, 20), fx.error
    assert (adjustments.status, adjustments.rows_read, adjustments.rows_written) == ("ok", 30, 30), adjustments.error
    types = dict(sql(project, "SELECT column_name, data_type FROM information_schema.columns "
                              "WHERE table_schema = 'finance' AND table_name = 'fx_rates'"))
    assert types == {"currency": "VARCHAR", "rate_to_kes": "DECIMAL(38,6)", "effective_date": "DATE",
                     "source": "VARCHAR"}
    sheet = client.get("migo-finance-manual", "'FX Rates'!A2:D21")["values"]
    table = {(c, d.isoformat()): r for c, r, d in
             sql(project, "SELECT currency, rate_to_kes, effective_date FROM finance.fx_rates")}
    assert len(table) == 20
    assert table[(sheet[0][0], "2026-07-01")] == Decimal(repr(sheet[0][1])).quantize(Decimal("0.000001"))
    total = sql(project, "SELECT SUM(amount), MIN(adjustment_date), COUNT(DISTINCT account_no) "
                         "FROM finance.manual_adjustments")[0]
    sheet_total = sum(Decimal(repr(r[3])) for r in
                      client.get("migo-finance-manual", "'Manual Adjustments'!A2:G31")["values"])
    assert total[0] == sheet_total                                  # every cent
    assert str(total[1]) >= "2026-10-01"
    accounts = {r[0] for r in sql(project, "SELECT account_no FROM finance.manual_adjustments")}
    assert accounts <= {"1000", "1100", "1150", "1190", "2000", "3000", "4000", "4100", "5000", "6000"}

    rerun = sync(project, "sheets_fx_rates_pull")["sheets_fx_rates_pull"]
    assert (rerun.status, rerun.rows_changed) == ("ok", 0)

    client.clear("migo-finance-manual", "'FX Rates'!A21:D21")      # a rate removed from the sheet
    client.update("migo-finance-manual", "'FX Rates'!A2", [["usd "]])  # and one retyped by hand
    mirrored = sync(project, "sheets_fx_rates_pull")["sheets_fx_rates_pull"]
    assert mirrored.status == "ok", mirrored.error
    assert sql(project, "SELECT COUNT(*) FROM finance.fx_rates")[0][0] == 19
    assert sql(project, "SELECT COUNT(*) FROM finance.fx_rates WHERE currency = 'USD'")[0][0] == 4


class MetadataAsked:
    """ASGI wrapper around the sandbox: notes when the collections spreadsheet's metadata is asked."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.asked = threading.Event()
        self.paths: list[str] = []  # every request's method and path, in arrival order

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(f"{scope['method']} {scope['path']}")
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].endswith("/spreadsheets/migo-collections"):
            self.asked.set()
        await self.app(scope, receive, send)

    def tokens(self) -> int:
        return sum(1 for p in self.paths if p.startswith("POST") and p.endswith("/token"))


def wrapped(sheets_sandbox: SandboxThread, wrap: Any) -> Iterator[Any]:
    """The sandbox's app wrapped by `wrap(app)` for one test."""
    sandbox = sheets_sandbox.sandbox
    inner = sandbox.counter
    wrapper = wrap(inner)
    sandbox.counter = wrapper
    try:
        yield wrapper
    finally:
        sandbox.counter = inner


@pytest.fixture
def metadata_asked(sheets_sandbox: SandboxThread) -> Iterator[MetadataAsked]:
    yield from wrapped(sheets_sandbox, MetadataAsked)


def test_the_sign_in_and_metadata_go_out_while_the_engine_reads_the_rows(
        project: Project, metadata_asked: MetadataAsked, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm-up (WarmUp): once the plan has something to send, the token and the spreadsheet's metadata
    are asked on a thread while the engine reads the tab's rows. Proven by holding the engine's reading of
    the rows until the metadata has been asked (10 s at most): without the warm-up it is asked only by the
    checks, after every row was read, so the wait would run out. A push with nothing to send asks nothing."""
    waited: list[bool] = []
    original = Pusher._units

    def units(self: Pusher, plan: Any, deleted: Any) -> Any:
        if plan.units:  # the unchanged rerun reads no row: nothing to hold (nor a 10 s wait)
            waited.append(metadata_asked.asked.wait(10))
        yield from original(self, plan, deleted)

    monkeypatch.setattr(Pusher, "_units", units)
    first = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert waited == [True]
    assert (first.status, first.rows_written, first.requests) == ("ok", 300, 4), first.error
    metadata_asked.asked.clear()
    again = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert (again.status, again.requests) == ("ok", 0) and not metadata_asked.asked.is_set()


@pytest.mark.parametrize("broken", ["no such spreadsheet", "no key"])
def test_an_error_in_the_warm_up_surfaces_as_it_did_without_it(
        project: Project, broken: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm-up's error (a spreadsheet the account cannot see: 404; no service-account key at all) is
    raised where the push needs the metadata, exactly as without the warm-up: same status, error, exit
    code and requests; nothing written, no intent left pending."""
    if broken == "no key":
        project.environ = {k: v for k, v in project.environ.items() if "CREDENTIALS" not in k}
    else:
        path = project.mappings_dir / "sheets_collections_push.yaml"
        path.write_text(path.read_text().replace("spreadsheet_id: migo-collections", "spreadsheet_id: migo-nowhere"))

    def outcome() -> tuple[Any, ...]:
        clear_token_cache()  # each run signs in, as a fresh process does
        result = sync(project, "sheets_collections_push")["sheets_collections_push"]
        pending = sql(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE pending_hash IS NOT NULL")[0][0]
        return result.status, result.error_class, result.error, result.exit_code, result.requests, pending

    warmed = outcome()
    monkeypatch.setattr(push_engine, "as_warm_up", lambda adapter: None)
    assert outcome() == warmed
    assert warmed[0] == "failed" and warmed[5] == 0
    assert (warmed[1], warmed[3]) == ("ConfigError", 2), warmed


def test_the_signing_key_is_loaded_at_the_runs_start_without_a_request(
        project: Project, metadata_asked: MetadataAsked, monkeypatch: pytest.MonkeyPatch) -> None:
    """RunPreparation: the run's start begins loading the signing key (PyJWT, cryptography, the RSA key) on a
    thread of its own, so it is ready before the push's plan has ended and the token request leaves right
    after it. Proven by holding the plan until the key has been loaded (10 s at most): without the
    preparation the key is loaded only by the warm-up, after the plan, so the wait would run out. The
    preparation sends nothing (no request until the plan ends) and the key is loaded once for the run.
    A warm process keeps the token in memory: the next runs send no token request and load no key."""
    loads: list[str] = []
    loaded = threading.Event()
    original_key = sheets_auth.signing_key

    def signing_key(key: Any) -> Any:
        signer = original_key(key)
        loads.append(threading.current_thread().name)
        loaded.set()
        return signer

    held: list[tuple[bool, list[str]]] = []
    original_plan = push_engine.plan_push

    def plan_push(*args: Any, **kwargs: Any) -> Any:
        held.append((loaded.wait(10), list(metadata_asked.paths)))
        return original_plan(*args, **kwargs)

    monkeypatch.setattr(sheets_auth, "signing_key", signing_key)
    monkeypatch.setattr(push_engine, "plan_push", plan_push)
    first = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert (first.status, first.rows_written, first.requests) == ("ok", 300, 4), first.error
    assert held == [(True, [])]  # the key was ready while the plan was held, and nothing had been asked
    assert loads == ["sheets-sign-in"] and metadata_asked.tokens() == 1
    again = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert (again.status, again.requests) == ("ok", 0)
    sql(project, "UPDATE lending.collections SET outstanding = 1.5 WHERE loan_id = 'L0000007'")
    changed = sync(project, "sheets_collections_push", "sheets_fx_rates_pull")
    assert [(r.status, r.rows_written) for r in changed.values()] == [("ok", 300), ("ok", 20)]
    assert loads == ["sheets-sign-in"] and metadata_asked.tokens() == 1  # one sign-in for the three runs


def no_preparation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_engine, "as_run_preparation", lambda adapter: None)


@pytest.mark.parametrize("broken", ["no key", "unusable key", "public key", "no key file"])
def test_a_key_problem_surfaces_as_it_did_without_the_preparation(
        project: Project, broken: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key the preparation cannot load is left for the sign-in to refuse where it always did: the same
    status, error, exit code and requests (none) with and without it, nothing pending; no token asked."""
    import orjson
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    environ = {k: v for k, v in project.environ.items() if "CREDENTIALS" not in k}
    sample = {"type": "service_account", "client_email": "robot@x.iam.gserviceaccount.com", "private_key_id": "k1"}
    if broken == "unusable key":
        environ["MIGO_SYNC_SHEETS_CREDENTIALS_JSON"] = orjson.dumps(
            {**sample, "private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"}).decode()
    elif broken == "public key":
        public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        environ["MIGO_SYNC_SHEETS_CREDENTIALS_JSON"] = orjson.dumps({**sample, "private_key": public}).decode()
    elif broken == "no key file":
        environ["MIGO_SYNC_SHEETS_CREDENTIALS_FILE"] = str(tmp_path / "gone.json")
    project.environ = environ

    def outcome() -> tuple[Any, ...]:
        clear_token_cache()
        result = sync(project, "sheets_collections_push")["sheets_collections_push"]
        pending = sql(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE pending_hash IS NOT NULL")[0][0]
        return result.status, result.error_class, result.error, result.exit_code, result.requests, pending

    prepared = outcome()
    no_preparation(monkeypatch)
    assert outcome() == prepared
    assert prepared[0] == "failed" and (prepared[1], prepared[3], prepared[4], prepared[5]) == ("ConfigError", 2, 0, 0)
    if broken in ("unusable key", "public key"):
        assert "cannot sign" in (prepared[2] or "")
        assert "nope" not in (prepared[2] or "") and "BEGIN" not in (prepared[2] or "")


def test_the_preparation_never_opens_the_keyring(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key kept in the keyring is read where the client is built, as before (a keyring may prompt): the
    preparation, on its own thread, only imports the signer's modules."""
    from migo_sync import credentials as credentials_module

    key_json = project.environ["MIGO_SYNC_SHEETS_CREDENTIALS_JSON"] if "MIGO_SYNC_SHEETS_CREDENTIALS_JSON" in \
        project.environ else Path(project.environ["MIGO_SYNC_SHEETS_CREDENTIALS_FILE"]).read_text()
    project.environ = {k: v for k, v in project.environ.items() if "CREDENTIALS" not in k and k != "MIGO_SYNC_NO_KEYRING"}
    asked: list[tuple[str, str]] = []

    def from_keyring(user: str) -> str | None:
        asked.append((user, threading.current_thread().name))
        return key_json if user == "sheets.credentials_json" else None

    monkeypatch.delenv("MIGO_SYNC_NO_KEYRING", raising=False)
    monkeypatch.setattr(credentials_module, "_from_keyring", from_keyring)
    clear_token_cache()
    result = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert (result.status, result.rows_written) == ("ok", 300), result.error
    assert asked and all(thread != "sheets-sign-in" for _, thread in asked)


class MetadataHeld:
    """ASGI wrapper around the sandbox: the collections spreadsheet's metadata is answered only once
    `release` is set (10 s at most); `held` notes whether it was set in time."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.release = threading.Event()
        self.held: list[bool] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].endswith("/spreadsheets/migo-collections"):
            self.held.append(await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10))
        await self.app(scope, receive, send)


@pytest.fixture
def metadata_held(sheets_sandbox: SandboxThread) -> Iterator[MetadataHeld]:
    yield from wrapped(sheets_sandbox, MetadataHeld)


def test_the_intent_is_written_while_the_metadata_is_in_flight(
        project: Project, metadata_held: MetadataHeld, monkeypatch: pytest.MonkeyPatch) -> None:
    """ChecksInFlight: once the checks have read the rows through, the engine commits the tab's intent while
    the warm-up's metadata request is in flight; only the range and cell checks wait for its answer. Proven
    by holding the metadata's answer until the intent was committed (10 s at most): with the intent written
    after the checks, as before, the wait would run out. The intent still precedes every write."""
    original = Bookkeeping.record_intent
    order: list[str] = []

    def record_intent(self: Bookkeeping, *args: Any, **kwargs: Any) -> int:
        written = original(self, *args, **kwargs)
        if written:  # (the engine's call for units whose intent waits for their checks: none here)
            order.append("intent")
            metadata_held.release.set()
        return written

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        order.append("write")
        return sheets_write(self, *args, **kwargs)

    from migo_sync.adapters.sheets.adapter import SheetsAdapter
    sheets_write = SheetsAdapter.write
    monkeypatch.setattr(Bookkeeping, "record_intent", record_intent)
    monkeypatch.setattr(SheetsAdapter, "write", write)
    result = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert (result.status, result.rows_written, result.requests) == ("ok", 300, 4), result.error
    assert metadata_held.held == [True] and order == ["intent", "write"]
    assert sql(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE pending_hash IS NOT NULL")[0][0] == 0


def test_a_tab_the_checks_refuse_after_its_intent_keeps_none_and_is_sent_once_mended(
        project: Project, sheets_sandbox: SandboxThread) -> None:
    """The range check needs the metadata, so it refuses the tab after its intent was written: the intent is
    dropped with the rejects (nothing was sent but the sign-in and the metadata read), and once the range is
    widened the next run sends the tab once."""
    path = project.mappings_dir / "sheets_collections_push.yaml"
    shipped = path.read_text()
    path.write_text(shipped.replace("sheet: Collections", "sheet: Collections\n  range: A1:I50"))
    refused = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert (refused.status, refused.rows_rejected, refused.rows_written, refused.requests) == ("rejected", 300, 0, 2)
    assert sql(project, "SELECT COUNT(*) FROM migo_sync.sent WHERE pending_hash IS NOT NULL")[0][0] == 0
    reasons = {r[0] for r in sql(project, "SELECT reason FROM migo_sync.rejects")}
    assert len(reasons) == 1 and "do not fit in the mapped range" in reasons.pop()
    assert tab_rows(sheets_sandbox) == []
    path.write_text(shipped)
    mended = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert (mended.status, mended.rows_written, mended.requests) == ("ok", 300, 3), mended.error  # token cached
    assert len(tab_rows(sheets_sandbox)) == 301
    again = sync(project, "sheets_collections_push")["sheets_collections_push"]
    assert (again.status, again.requests) == ("ok", 0)
