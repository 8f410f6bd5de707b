"""The Arrow path of a Zendesk pull (raw pages through pyarrow's JSON reader, ArrowPull) lands exactly
what the record path (orjson, one dict per ticket) lands: the same rows, byte for byte, the same
rejects with the same reasons, the same cursor, whatever the pages hold."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pytest
from zendesk.zendesk_support import configure, make_adapter

from migo_sync.adapter import ArrowBatch, BaseAdapter, PullBatch, as_arrow_pull
from migo_sync.adapters.zendesk.adapter import ZendeskAdapter
from migo_sync.engine.pull import Puller
from migo_sync.jsonpages import read_page, record_type
from migo_sync.mapping.model import Mapping
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse._sql import SQLWarehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping
from migo_sync.warehouse.duckdb import DuckDBWarehouse

LOAN, REASON, AMOUNT, FLAG = 360001234561, 360001234562, 360001234563, 360009999999
FIELDS = [("ticket_id", "id", "integer"), ("external_id", "external_id", "string"),
          ("channel", "via.channel", "string"), ("source_rel", "via.source.rel", "string"),
          ("created_at", "created_at", "timestamp"), ("updated_at", "updated_at", "timestamp"),
          ("due_on", "due_date", "date"), ("subject", "subject", "string"), ("priority", "priority", "string"),
          ("requester_id", "requester_id", "integer"), ("is_public", "is_public", "boolean"),
          ("tags", "tags", "string"), ("satisfaction", "satisfaction_rating.score", "string"),
          ("loan_id", f"custom_fields.{LOAN}", "string"), ("reason", f"custom_fields.{REASON}", "string"),
          ("amount", f"custom_fields.{AMOUNT}", "decimal"), ("is_deleted", "deleted", "boolean")]


def mapping() -> Mapping:
    return Mapping.model_validate({
        "name": "tickets_pull", "system": "zendesk", "object": "tickets", "direction": "pull",
        "warehouse": {"table": "support.tickets"}, "key": ["ticket_id"], "options": {"start_time": 0},
        "fields": [{"column": c, "remote": r, "type": t, **({"scale": 2} if t == "decimal" else {})}
                   for c, r, t in FIELDS]})


def ticket(n: int, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "url": f"https://acme.zendesk.com/api/v2/tickets/{n}.json", "id": n, "external_id": None,
        "via": {"channel": "email", "source": {"from": {"address": "a@b.example"}, "to": {}, "rel": None}},
        "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-02T03:04:05Z", "due_date": "2025-02-01",
        "subject": f"Ticket {n}", "priority": "normal", "status": "open", "requester_id": 9007199254800014 + n,
        "is_public": True, "tags": ["repayment", "channel_email"], "satisfaction_rating": {"score": "unoffered"},
        "custom_fields": [{"id": LOAN, "value": f"L{n:07d}"}, {"id": REASON, "value": "repayment"},
                          {"id": AMOUNT, "value": "1250.50"}],
    }
    record.update(changes)
    return record


# Every kind of value the record path types, in pages the Arrow reader takes.
CLEAN = [
    ticket(1),
    ticket(2, external_id="ext-2", subject="Réclamation ✓ 😀 — 返済 «ok» \"quoted\" back\\slash\ttab\nline",
           tags=[], via=None, satisfaction_rating=None, priority=None, is_public=None, due_date=None),
    ticket(3, created_at="2025-03-01T10:00:00+03:00", updated_at="2025-03-01T10:00:00-05:30",
           tags=None, via={}, status="deleted", custom_fields=[]),
    ticket(4, created_at="2025-03-01T10:00:00.123456Z", updated_at="2025-03-01 10:00:00",
           tags=["it's", 'say "hi"', "ünï", None], custom_fields=None),
    ticket(5, custom_fields=[{"id": AMOUNT, "value": "1"}, {"id": FLAG, "value": "x"}, {"id": AMOUNT, "value": "-0.5"},
                             {"id": LOAN}, {"id": REASON, "value": None}]),
    ticket(6, custom_fields=[{"id": AMOUNT, "value": "1e3"}, {"id": LOAN, "value": ""}]),
    ticket(7, requester_id=None, via={"channel": None, "source": None}, subject=""),
    ticket(8, custom_fields=[{"id": AMOUNT, "value": "1,234.50"}]),  # the record path's own reading of text
    ticket(2, subject="a later copy of 2 in the same page: the last one wins"),
]
REJECTS = [  # values that do not fit: the record path names each bad record
    ticket(20, custom_fields=[{"id": AMOUNT, "value": "1.234"}]),
    ticket(21, created_at="yesterday"),
    ticket(22),
]
REFUSED = [  # pages pyarrow's reader refuses: the record path reads them as it always has
    [ticket(30, custom_fields=[{"id": FLAG, "value": True}])],  # a checkbox: custom values of two JSON types
    [ticket(31, id="31")],  # an id as text (the record path takes "31")
    [ticket(32, tags="single"), ticket(33, via="web")],
    [{**ticket(34), "via.channel": "literal dotted key"}],
]


def body(items: list[dict[str, Any]] | bytes, after: str, end: bool) -> bytes:
    head = items if isinstance(items, bytes) else orjson.dumps(items)
    return (b'{"tickets":' + head + b',"after_url":null,"after_cursor":' + orjson.dumps(after)
            + b',"before_url":null,"before_cursor":null,"end_of_stream":' + (b"true" if end else b"false") + b"}")


def pages_of(chunks: list[list[dict[str, Any]] | bytes]) -> list[bytes]:
    return [body(chunk, f"c{i + 1}", i == len(chunks) - 1) for i, chunk in enumerate(chunks)]


class Server:
    """Answers the cursor export with fixed page bodies, in order of the cursor asked."""

    def __init__(self, pages: list[bytes]) -> None:
        self.pages = pages

    def __call__(self, request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        index = 0 if cursor is None else int(cursor[1:])
        return httpx.Response(200, content=self.pages[index], headers={"Content-Type": "application/json"})


class RecordsOnly(BaseAdapter):
    """The same adapter without its ArrowPull capability: the engine reads records."""

    name = "zendesk"

    def __init__(self, inner: ZendeskAdapter) -> None:  # type: ignore[override]
        self.inner = inner

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]:
        return self.inner.read(mapping, state)


class Counting(ZendeskAdapter):
    """Counts the pages the Arrow path handed over as Arrow and as records."""

    arrow = records = 0

    def read_arrow(self, mapping: Mapping, state: dict[str, Any] | None,
                   types: Any) -> Iterator[ArrowBatch | PullBatch] | None:
        pages = super().read_arrow(mapping, state, types)
        assert pages is not None
        for page in pages:
            if isinstance(page, ArrowBatch):
                Counting.arrow += 1
            else:
                Counting.records += 1
            yield page


def land(tmp_path: Path, name: str, adapter: Any,
         warehouse: SQLWarehouse | None = None) -> tuple[list[Any], list[Any], list[Any], Any, tuple[int, ...]]:
    """Pull into a fresh DuckDB file (or `warehouse`); (rows, column types, rejects, cursor, counts and progress)."""
    warehouse = warehouse or DuckDBWarehouse(tmp_path / f"{name}.duckdb")
    shown: list[int] = []
    try:
        book = Bookkeeping(warehouse)
        result = Puller(warehouse, book, adapter, mapping(), "r1", progress=shown.append).run()
        rows = warehouse.query("SELECT * FROM support.tickets ORDER BY ticket_id")
        kinds = [(c.name, c.raw_type, c.scale) for c in warehouse.columns("support.tickets") or []]
        rejects = warehouse.query(f"SELECT row_key, reason, payload FROM {book.table_name('rejects')} "
                                  "ORDER BY row_key")
        counts = (result.rows_read, result.rows_written, result.rows_changed, result.rows_rejected, sum(shown))
        return rows, kinds, rejects, book.get_cursor("tickets_pull"), counts
    finally:
        warehouse.close()


def both_ways(tmp_path: Path, chunks: list[list[dict[str, Any]] | bytes]) -> tuple[Any, Any]:
    pages = pages_of(chunks)
    Counting.arrow = Counting.records = 0
    native = Counting(make_adapter(None, tmp_path).context, transport=httpx.MockTransport(Server(pages)))
    plain = make_adapter(None, tmp_path, transport=httpx.MockTransport(Server(pages)))
    try:
        return land(tmp_path, "arrow", native), land(tmp_path, "records", RecordsOnly(plain))
    finally:
        native.close()
        plain.close()


@pytest.mark.timeout(60)
def test_clean_pages_land_byte_identical_through_arrow(tmp_path: Path) -> None:
    arrow, records = both_ways(tmp_path, [CLEAN[:4], CLEAN[4:]])
    assert arrow == records
    assert Counting.arrow == 2 and Counting.records == 0  # both pages were read as Arrow
    rows, _kinds, rejects, cursor, counts = arrow
    assert len(rows) == 8 and rejects == [] and cursor == {"after_cursor": "c2"}
    assert counts == (9, 8, 8, 0, 9)  # 9 records read and shown (one key twice), 8 rows landed
    by_id = {r[0]: r for r in rows}
    assert by_id[2][7].startswith("a later copy") and by_id[4][11] == str(["it's", 'say "hi"', "ünï", None])
    assert str(by_id[5][15]) == "-0.50" and by_id[5][13] is None and str(by_id[8][15]) == "1234.50"


@pytest.mark.timeout(60)
def test_values_that_do_not_fit_are_the_same_rejects_with_the_same_reasons(tmp_path: Path) -> None:
    spoilt = [*REJECTS[:2], {**REJECTS[2], "id": None}]
    arrow, records = both_ways(tmp_path, [CLEAN[:3], spoilt, CLEAN[3:]])
    assert arrow == records
    assert Counting.arrow == 3  # the spoilt page too: its batch gave its records back to the engine
    rejects = arrow[2]
    assert len(rejects) == 3 and {r[1].split(":")[0] for r in rejects} >= {
        f"custom_fields.{AMOUNT}", "created_at", "missing key value"}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("refused", REFUSED, ids=["mixed-custom-types", "id-as-text", "not-objects", "dotted-key"])
def test_pages_the_arrow_reader_refuses_land_as_the_record_path_lands_them(tmp_path: Path,
                                                                          refused: list[dict[str, Any]]) -> None:
    arrow, records = both_ways(tmp_path, [CLEAN[:2], refused, CLEAN[2:]])
    assert arrow == records
    assert Counting.records == 1 and Counting.arrow == 2


@pytest.mark.timeout(60)
def test_hand_written_json_quirks_land_identically(tmp_path: Path) -> None:
    escaped = orjson.dumps([ticket(40)]).replace(b"Ticket 40", b"Ticket \\u00e9\\ud83d\\ude00 \\u0041")
    key_escaped = orjson.dumps([ticket(41)]).replace(b'"via":', b'"via\\u002echannel":"escaped key","via":')
    twice = orjson.dumps([ticket(42)]).replace(b'"subject":', b'"subject":"first","subject":')
    spaced = b'[\n  ' + orjson.dumps(ticket(43)) + b'\n]'
    arrow, records = both_ways(tmp_path, [escaped, key_escaped, twice, spaced])
    assert arrow == records
    rows = {r[0]: r for r in arrow[0]}
    assert rows[40][7] == "Ticket é😀 A" and rows[41][2] == "escaped key" and rows[42][7] == "Ticket 42"


@pytest.mark.timeout(120)
def test_the_emulators_export_lands_identically_through_arrow(zd: SandboxThread, tmp_path: Path) -> None:
    """Real HTTP on loopback: 2,500 of the emulator's tickets, both ways."""
    configure(zd, bulk_tickets=2500)
    native, plain = make_adapter(zd, tmp_path), make_adapter(zd, tmp_path)
    assert as_arrow_pull(native) is native
    try:
        arrow, records = land(tmp_path, "arrow", native), land(tmp_path, "records", RecordsOnly(plain))
    finally:
        native.close()
        plain.close()
    assert arrow == records and len(arrow[0]) >= 2500 and arrow[2] == []


def snowflake(kwargs: dict[str, Any]) -> SQLWarehouse:
    """Snowflake through the real connector on the session's fakesnow server, a database of its own."""
    from migo_sync.warehouse.snowflake import SnowflakeWarehouse

    return SnowflakeWarehouse({**kwargs, "database": f"T_{uuid.uuid4().hex[:10].upper()}", "schema": "PUBLIC"})


@pytest.mark.timeout(240)
def test_on_snowflake_the_arrow_path_lands_what_the_record_path_lands(tmp_path: Path,
                                                                      fakesnow_kwargs: dict[str, Any]) -> None:
    """Snowflake (fakesnow): pages read into Arrow and merged through `merge_arrow` (Parquet PUT and COPY
    into the staging table, then the update and insert) land the same rows, column types, decimals to the
    cent, rejects with their reasons and cursor as the record path, and the same values as on DuckDB."""
    chunks: list[list[dict[str, Any]] | bytes] = [CLEAN[:4], [*REJECTS[:2], {**REJECTS[2], "id": None}], CLEAN[4:]]
    pages = pages_of(chunks)
    Counting.arrow = Counting.records = 0
    native = Counting(make_adapter(None, tmp_path).context, transport=httpx.MockTransport(Server(pages)))
    plain = make_adapter(None, tmp_path, transport=httpx.MockTransport(Server(pages)))
    duck = Counting(make_adapter(None, tmp_path).context, transport=httpx.MockTransport(Server(pages)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)
        try:
            arrow = land(tmp_path, "arrow", native, snowflake(fakesnow_kwargs))
            records = land(tmp_path, "records", RecordsOnly(plain), snowflake(fakesnow_kwargs))
            on_duckdb = land(tmp_path, "duckdb", duck)
        finally:
            native.close()
            plain.close()
            duck.close()
    assert Counting.arrow == 6 and Counting.records == 0  # every page went the Arrow way, on both engines
    assert arrow == records
    rows, kinds, rejects, cursor, counts = arrow
    assert rows == on_duckdb[0] and rejects == on_duckdb[2] and cursor == on_duckdb[3] == {"after_cursor": "c3"}
    assert counts == on_duckdb[4] == (12, 8, 8, 3, 12)
    assert [r[1].split(":")[0] for r in rejects] == [f"custom_fields.{AMOUNT}", "created_at", "missing key value"]
    by_name = {name: (raw, scale) for name, raw, scale in kinds}
    assert by_name["amount"] == ("NUMBER(38,2)", 2) and by_name["ticket_id"] == ("NUMBER(38,0)", None)
    assert by_name["created_at"][0].startswith("TIMESTAMP") and by_name["is_deleted"][0] == "BOOLEAN"
    amounts = {r[0]: r[15] for r in rows}
    assert (amounts[1], amounts[5], amounts[6], amounts[8]) == (Decimal("1250.50"), Decimal("-0.50"),
                                                                 Decimal("1000.00"), Decimal("1234.50"))
    assert all(a is None or a.as_tuple().exponent == -2 for a in amounts.values())  # to the cent, never a float


def test_read_page_refuses_what_it_cannot_read_as_the_record_path_would() -> None:
    paths = {"id": pa.int64(), "via.channel": pa.string()}
    record = record_type(paths)
    assert record is not None and record_type({"via": pa.string(), "via.channel": pa.string()}) is None
    envelope = {"after_cursor": pa.string()}

    def read(raw: bytes) -> Any:
        return read_page(raw, "t", record, list(paths), envelope)

    table, head = read(b'{"t":[{"id":1,"via":{"channel":"web"}},{"id":2,"via":null},{"id":3}],"after_cursor":"x"}')
    assert table.to_pylist() == [{"id": 1, "via.channel": "web"}, {"id": 2, "via.channel": None},
                                 {"id": 3, "via.channel": None}] and head == {"after_cursor": "x"}
    for refused in (b'{"t":[{"id":1,"id":2}]}', b'{"t":[{"id":"1"}]}', b'{"t":[{"id":1}]}{"t":[]}',
                    b'{"t":null}', b'{"t":[null]}', b'{"t":[{"id":1,"via.channel":"x"}]}',
                    b'{"t":[{"id":1,"v\\u0069a.channel":"x"}]}', b'{"t":[{"id":18446744073709551616}]}',
                    b'{"t":[{"id":1,"via":{"channel":"\\ud800"}}]}', b'{"t":[{"id":1,"via":{"channel":"\xff"}}]}',
                    b'\xef\xbb\xbf{"t":[]}', b'{"t":[{"id":1,"x":NaN}]}', b'{"t":[{"id":1,"x":-Infinity}]}',
                    b'not json'):
        assert read(refused) is None, refused
