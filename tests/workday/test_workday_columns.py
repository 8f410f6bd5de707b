"""The journal-line pull's columns (`adapters/workday/columns.py`) hold exactly what the record path
gives: the same answer, read both ways and typed by the engine, makes the same table and the same
rejects, or the same clean error; a page the columns cannot vouch for comes as its records. Pages are
written here, with the shapes a tenant may send (absent and empty values, several IDs of a type,
worktags over several references, comments, CDATA, processing instructions, entities, offsets)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from migo_sync.adapter import ArrowBatch, PullBatch
from migo_sync.adapters.workday.adapter import _lines_batch
from migo_sync.adapters.workday.columns import column_kinds, read_lines_page
from migo_sync.adapters.workday.pages import parse_journals_page
from migo_sync.adapters.workday.payload import line_records
from migo_sync.engine.pull import READ_AS, Puller
from migo_sync.errors import FatalRemoteError
from migo_sync.mapping.loader import parse_mapping_text
from migo_sync.mapping.model import Mapping
from migo_sync.warehouse.bookkeeping import Bookkeeping
from migo_sync.warehouse.duckdb import DuckDBWarehouse

pytestmark = pytest.mark.timeout(60)
SHIPPED = Path(__file__).resolve().parents[2] / "mappings" / "workday_gl_lines_pull.yaml"


def ref(tag: str, *ids: tuple[str, str]) -> str:
    return f"<wd:{tag}>" + "".join(f'<wd:ID wd:type="{t}">{v}</wd:ID>' for t, v in ids) + f"</wd:{tag}>"


def line(order: str, account: str, *, debit: str | None = None, credit: str | None = None, currency: str | None = "KES",
         memo: str | None = "memo", worktags: str = ref("Worktags_Reference", ("Cost_Center_Reference_ID", "OPS"))
         + ref("Worktags_Reference", ("Region_Reference_ID", "NBO"))) -> str:
    return ("<wd:Journal_Entry_Line_Data>" + f"<wd:Line_Order>{order}</wd:Line_Order>"
            + ref("Ledger_Account_Reference", ("Ledger_Account_ID", account))
            + ("" if debit is None else f"<wd:Debit_Amount>{debit}</wd:Debit_Amount>")
            + ("" if credit is None else f"<wd:Credit_Amount>{credit}</wd:Credit_Amount>")
            + ("" if currency is None else ref("Currency_Reference", ("Currency_ID", currency)))
            + ("" if memo is None else f"<wd:Memo>{memo}</wd:Memo>") + worktags + "</wd:Journal_Entry_Line_Data>")


def journal(wid: str, number: str, lines: list[str], *, memo: str = "Disbursements", date: str = "2026-10-01",
            created: str = "2026-12-07T14:32:00.482070+00:00", status: str = "Posted") -> str:
    return ("<wd:Journal_Entry>" + ref("Journal_Entry_Reference", ("WID", wid), ("Accounting_Journal_ID", f"id-{wid}"))
            + "<wd:Journal_Entry_Data>" + f"<wd:Journal_Number>{number}</wd:Journal_Number>"
            + ref("Journal_Status_Reference", ("Journal_Entry_Status_ID", status))
            + ref("Company_Reference", ("Company_Reference_ID", "MIGO_KE"))
            + ref("Currency_Reference", ("Currency_ID", "KES")) + f"<wd:Accounting_Date>{date}</wd:Accounting_Date>"
            + ref("Journal_Source_Reference", ("Journal_Source_ID", "Integration")) + f"<wd:Memo>{memo}</wd:Memo>"
            + f"<wd:External_Reference_ID>REF-{number}</wd:External_Reference_ID>"
            + "<wd:Total_Ledger_Debits>10.00</wd:Total_Ledger_Debits><wd:Total_Ledger_Credits>10.00</wd:Total_Ledger_Credits>"
            + f"<wd:Creation_Date>{created}</wd:Creation_Date><wd:Last_Updated_Date>{created}</wd:Last_Updated_Date>"
            + "".join(lines) + "</wd:Journal_Entry_Data></wd:Journal_Entry>")


def page(*journals: str, total: int | None = None) -> bytes:
    count = len(journals) if total is None else total
    return ("<?xml version='1.0' encoding='UTF-8'?>\n"
            '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
            '<wd:Get_Journals_Response xmlns:wd="urn:com.workday/bsvc" wd:version="v45.0"><wd:Response_Filter>'
            "<wd:As_Of_Entry_DateTime>2026-12-07T14:32:02+00:00</wd:As_Of_Entry_DateTime><wd:Page>1</wd:Page>"
            f"<wd:Count>999</wd:Count></wd:Response_Filter><wd:Response_Results><wd:Total_Results>{count}"
            "</wd:Total_Results><wd:Total_Pages>1</wd:Total_Pages><wd:Page>1</wd:Page></wd:Response_Results>"
            "<wd:Response_Data>" + "".join(journals) + "</wd:Response_Data></wd:Get_Journals_Response>"
            "</env:Body></env:Envelope>").encode()


BASE = [journal("w1", "JE-1", [line("1", "1100", debit="10.00"), line("2", "1000", credit="10.00")]),
        journal("w2", "JE-2", [line("1", "4100", debit="2.5", memo="fees &amp; charges"),
                               line("2", "1200", credit="2.50", currency=None)])]

# name -> (the page, whether the columns read it (False: it comes as its records))
PAGES: dict[str, tuple[bytes, bool]] = {
    "plain": (page(*BASE), True),
    "absent-and-empty-values": (page(journal("w1", "JE-1", [
        line("1", "1100", debit="10.00", memo=None, worktags=""), line("", "1000", credit="10.00", memo=""),
        line("3", "1000", currency="", memo="<wd:x/>after", worktags=ref("Worktags_Reference"))], memo="")), True),
    "several-ids-and-worktag-references": (page(journal("w1", "JE-1", [
        "<wd:Journal_Entry_Line_Data><wd:Line_Order>1</wd:Line_Order><wd:Line_Order>9</wd:Line_Order>"
        + ref("Ledger_Account_Reference", ("Ledger_Account_ID", " 1100 "), ("Ledger_Account_ID", "1101"),
              ("Other_ID", "x")) + ref("Ledger_Account_Reference", ("Ledger_Account_ID", "9999"))
        + "<wd:Debit_Amount> 10.00 </wd:Debit_Amount><wd:Debit_Amount>1</wd:Debit_Amount>"
        + ref("Worktags_Reference", ("Cost_Center_Reference_ID", "OPS"), ("Region_Reference_ID", "NBO"))
        + ref("Worktags_Reference", ("Cost_Center_Reference_ID", " RISK ")) + "<wd:Memo>m</wd:Memo>"
        + "</wd:Journal_Entry_Line_Data>"])), True),
    "ids-without-a-type-or-of-an-empty-one": (page(journal("w1", "JE-1", [
        "<wd:Journal_Entry_Line_Data><wd:Line_Order>1</wd:Line_Order><wd:Ledger_Account_Reference>"
        '<wd:ID wd:type="Ledger_Account_ID">1100</wd:ID><wd:ID>untyped</wd:ID><wd:ID wd:type="">empty</wd:ID>'
        '</wd:Ledger_Account_Reference><wd:Debit_Amount>1</wd:Debit_Amount><wd:Currency_Reference><wd:ID>USD</wd:ID>'
        '</wd:Currency_Reference><wd:Worktags_Reference><wd:ID wd:type="Region_Reference_ID">NBO</wd:ID>'
        '<wd:ID>untyped</wd:ID><wd:ID wd:type="">empty</wd:ID></wd:Worktags_Reference></wd:Journal_Entry_Line_Data>'
    ]).replace(ref("Journal_Status_Reference", ("Journal_Entry_Status_ID", "Posted")),
               "<wd:Journal_Status_Reference><wd:ID>Draft</wd:ID><wd:ID>Posted</wd:ID></wd:Journal_Status_Reference>")),
        True),
    "status-of-several-types": (page(journal("w1", "JE-1", [line("1", "1100", debit="1")]).replace(
        ref("Journal_Status_Reference", ("Journal_Entry_Status_ID", "Posted")),
        ref("Journal_Status_Reference", ("Journal_Entry_Status_ID", "Draft"), ("Other", "x"),
            ("Journal_Entry_Status_ID", "Posted")))), True),
    "comments-cdata-pis-entities": (page(journal("w1", "JE-1", [
        line("1", "1100", debit="1<!-- c -->0.00", memo="a<![CDATA[<b>]]>c&#233;&lt;"),
        line("<?pi x?>2", "1000", credit="10.00", memo="x<?pi y?>z")])), True),
    "offsets-and-naive-timestamps": (page(
        journal("w1", "JE-1", [line("1", "1100", debit="1")], created="2026-12-07T06:32:00-08:00"),
        journal("w2", "JE-2", [line("1", "1100", debit="1")], created="2026-12-07T06:32:00Z"),
        journal("w3", "JE-3", [line("1", "1100", debit="1")], created="2026-12-07T06:32:00")), True),
    "a-journal-without-lines-and-two-data-of-one-entry": (page(
        journal("w1", "JE-1", []), journal("w2", "JE-2", [line("1", "1100", debit="1")]).replace(
            "</wd:Journal_Entry_Data></wd:Journal_Entry>", "</wd:Journal_Entry_Data><wd:Journal_Entry_Data>"
            "<wd:Journal_Number>JE-2b</wd:Journal_Number>" + line("7", "1000", credit="1") + "</wd:Journal_Entry_Data>"
            "</wd:Journal_Entry>")), True),
    "no-journals": (page(total=0), True),
    "a-line-without-its-journals-wid": (page(journal("w1", "JE-1", [line("1", "1100", debit="1")]).replace(
        '<wd:ID wd:type="WID">w1</wd:ID>', "")), True),  # the engine's record path names it a reject
    "more-places-than-the-scale": (page(journal("w1", "JE-1", [line("1", "1100", debit="1.005"),
                                                               line("2", "1000", credit="1.005")])), False),
    "a-separator-character-in-a-value": (page(journal("w1", "JE-1", [line("1", "1100", debit="1",
                                                                          memo="a\ue000b\ue001c")])), False),
    "a-referenced-separator-character": (page(journal("w1", "JE-1", [line("1", "1100", debit="1",
                                                                          memo="a&#xE002;b")])), False),
}


@pytest.fixture
def puller() -> Iterator[Callable[[Mapping], Puller]]:
    """The engine's own typing of a page (`Puller._typed`), on a real in-memory DuckDB."""
    warehouse = DuckDBWarehouse(":memory:")
    try:
        yield lambda mapping: Puller(warehouse, Bookkeeping(warehouse), None, mapping, "run")  # type: ignore[arg-type]
    finally:
        warehouse.close()


def shipped() -> Mapping:
    return parse_mapping_text(SHIPPED.read_text(encoding="utf-8"), SHIPPED).mapping


def every_field() -> Mapping:
    """The shipped mapping with the line record's other fields, and one it does not have."""
    raw = shipped().model_dump(mode="json", exclude_none=True)
    raw["fields"] += [{"column": "source", "remote": "Journal_Source_ID"}, {"column": "absent", "remote": "No_Such"},
                      {"column": "absent_amount", "remote": "No_Such_Amount", "type": "decimal", "scale": 2}]
    return Mapping.model_validate(raw)


def both_ways(content: bytes, mapping: Mapping, puller: Puller) -> tuple[Any, Any, bool]:
    """(columns way, record way) as the engine types them: (table, rejects, records read) or the error."""
    types = {f.remote: READ_AS[f.type] for f in mapping.fields if f.column}
    kinds = column_kinds(mapping)
    assert kinds is not None

    def typed(read: Callable[[], ArrowBatch | PullBatch]) -> Any:
        try:
            table, rejects, _batch, count = puller._typed(read())
        except FatalRemoteError as exc:
            return str(exc)
        return table, rejects, count

    batch: list[ArrowBatch | PullBatch] = []

    def columns_way() -> ArrowBatch | PullBatch:
        batch.append(_lines_batch(read_lines_page(content, kinds), {}, types))
        return batch[0]

    def records_way() -> PullBatch:
        return PullBatch(records=list(line_records(parse_journals_page(content).entries)), state={})

    ours = typed(columns_way)
    return ours, typed(records_way), bool(batch) and isinstance(batch[0], ArrowBatch)


@pytest.mark.parametrize("name", list(PAGES))
@pytest.mark.parametrize("mapping", [shipped, every_field], ids=["shipped", "every-field"])
def test_the_columns_hold_what_the_records_hold(name: str, mapping: Callable[[], Mapping],
                                                puller: Callable[[Mapping], Puller]) -> None:
    content, by_columns = PAGES[name]
    chosen = mapping()
    ours, theirs, columns_used = both_ways(content, chosen, puller(chosen))
    assert columns_used is by_columns
    assert not isinstance(theirs, str), theirs
    table, rejects, count = ours
    assert table.schema == theirs[0].schema
    assert table.to_pylist() == theirs[0].to_pylist()
    assert (rejects, count) == (theirs[1], theirs[2])


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.replace(b"<wd:Debit_Amount>10.00", b"<wd:Debit_Amount>ten", 1), "unreadable value"),
    (lambda c: c.replace(b"10.00</wd:Total_Ledger_Debits>", b"x</wd:Total_Ledger_Debits>", 1), "unreadable value"),
    (lambda c: c.replace(b"2026-10-01", b"2026-13-01", 1), "unreadable value"),
    (lambda c: c.replace(b"2026-12-07T14:32:00.482070+00:00", b"yesterday", 1), "unreadable value"),
    (lambda c: c.replace(b"<wd:Page>1</wd:Page></wd:Response_Results>", b"<wd:Page>x</wd:Page></wd:Response_Results>"),
     "unreadable value"),
    (lambda c: c.replace(b"Get_Journals_Response", b"Get_Other_Response"), "holds no Get_Journals_Response"),
    (lambda c: c[: len(c) // 2], "malformed XML"),
    (lambda c: c.replace(b"<env:Envelope", b'<!DOCTYPE x [<!ENTITY a "b">]><env:Envelope', 1), "DOCTYPE"),
], ids=["debit", "total", "date", "timestamp", "paging", "not-journals", "truncated", "doctype"])
def test_an_answer_the_records_refuse_is_the_same_clean_error(change: Callable[[bytes], bytes], message: str,
                                                              puller: Callable[[Mapping], Puller]) -> None:
    content = change(PAGES["plain"][0])
    ours, theirs, _ = both_ways(content, shipped(), puller(shipped()))
    assert isinstance(theirs, str) and message in theirs
    assert ours == theirs


@pytest.mark.parametrize("change", [
    lambda f: {**{k: v for k, v in f.items() if k != "scale"}, "type": "string"} if f["remote"] == "Debit_Amount" else f,
    lambda f: {k: v for k, v in f.items() if k != "scale"} if f["remote"] == "Amount" else f,
    lambda f: {**f, "transform": [{"upper": True}]} if f["remote"] == "Memo" else f,
    lambda f: {**f, "type": "string"} if f["remote"] == "Line_Number" else f,
], ids=["decimal-as-string", "decimal-without-scale", "transformed", "integer-as-string"])
def test_a_field_typed_otherwise_is_read_as_records(change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    raw = shipped().model_dump(mode="json", exclude_none=True)
    raw["fields"] = [change(f) for f in raw["fields"]]
    assert column_kinds(Mapping.model_validate(raw)) is None
    assert column_kinds(shipped()) is not None


def test_the_columns_are_of_the_types_the_engine_stages(puller: Callable[[Mapping], Puller]) -> None:
    """Kept by the engine as they are (`Puller._from_arrow`): no value goes back through Python."""
    mapping = shipped()
    types = {f.remote: READ_AS[f.type] for f in mapping.fields if f.column}
    kinds = column_kinds(mapping)
    assert kinds is not None
    batch = _lines_batch(read_lines_page(PAGES["plain"][0], kinds), {}, types)
    assert isinstance(batch, ArrowBatch)
    schema = puller(mapping).schema
    by_remote = {f.remote: schema.field(f.column).type for f in mapping.fields if f.column}
    assert {name: batch.table.schema.field(name).type for name in batch.table.column_names} == by_remote
    assert batch.table.schema.field("Debit_Amount").type == pa.decimal128(38, 2)
