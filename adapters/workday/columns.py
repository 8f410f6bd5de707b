"""Get_Journals pages straight into Arrow columns: the journal-line pull's hot path.

Walked in Python (`pages.py`), a page of 240 journals and 1,532 lines becomes ~25,000 element
visits, a dict per journal and line, a flat record per line, then the engine's casts of every
value: ~0.07 s of CPU after the answer is in, where the page's round trip is its only call. Here
libxslt walks the parsed tree in C and writes every value the line records hold as one text (each
value marked present or absent); Python splits it, converts each journal's values once and each
line's amounts, and Arrow spreads the journals' columns over their lines.

What comes out is exactly what `line_records(parse_journals_page(content).entries)` holds, typed
as the engine types those values (`engine/pull.py`: strings, whole numbers, decimals at the
declared scale, dates, timestamps): the same first child of a name and its text as lxml's
`.text` (the parser merges CDATA into text and drops comments, so an element's `.text` is its first
child node when that is text), the last ID of a type, every worktag in order, the same decimal and
date parsing. A page this reading cannot vouch for is left to the record path (`columns` is None),
which gives its exact records or its clean error: a value holding one of the separator characters,
a value that does not convert or does not fit its column.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import pyarrow as pa
from lxml import etree

from migo_sync.errors import FatalRemoteError
from migo_sync.mapping.model import FieldType
from migo_sync.mapping.model import Mapping as MappingModel
from migo_sync.xmlsafe import UnsafeXMLError, parse_xml

from .pages import _datetime, journals_response, paging_of
from .soap import SYSTEM, WD

# Private-use characters: a value holding one would add one to the text, which is counted (`_parts`).
FIELD, ROW, PART = "\ue000", "\ue001", "\ue002"

# The line record's fields (`payload.line_records`) by kind.
STRINGS: Final = frozenset({
    "Journal_Entry_WID", "Accounting_Journal_ID", "Journal_Number", "Journal_Status", "Company_Reference_ID",
    "Currency_ID", "Journal_Source_ID", "Journal_Memo", "External_Reference_ID", "Line_Order", "Ledger_Account_ID",
    "Memo", "Cost_Center_Reference_ID", "Region_Reference_ID"})
DECIMALS: Final = frozenset({"Debit_Amount", "Credit_Amount", "Amount"})
DATES: Final = frozenset({"Accounting_Date"})
TIMESTAMPS: Final = frozenset({"Creation_Date", "Last_Updated_Date"})
INTEGERS: Final = frozenset({"Line_Number"})

# Each field's own kind: a mapping that types it so gets it as the Arrow type the engine stages it as.
KINDS: Final = {**{name: FieldType.string for name in STRINGS}, **{name: FieldType.decimal for name in DECIMALS},
                **{name: FieldType.date for name in DATES}, **{name: FieldType.timestamp for name in TIMESTAMPS},
                **{name: FieldType.integer for name in INTEGERS}}
_ARROW = {FieldType.string: pa.string(), FieldType.integer: pa.int64(), FieldType.date: pa.date32(),
          FieldType.timestamp: pa.timestamp("us")}


def column_kinds(mapping: MappingModel) -> dict[str, pa.DataType] | None:
    """The Arrow type each mapped line field is read as: the type the engine stages it as (`engine/pull.py`
    `arrow_type`; a decimal at its declared scale), when the field is typed as its own kind and not
    transformed; None when one is not (the record path casts it as the mapping asks). Fields the line
    record does not have are not named (they are null)."""
    kinds: dict[str, pa.DataType] = {}
    for field in mapping.fields:
        if not field.column or field.remote not in KINDS:
            continue
        if field.transform or field.type is not KINDS[field.remote]:
            return None
        if field.type is FieldType.decimal:
            if field.scale is None:
                return None  # staged at the existing column's scale, which only the engine knows
            kind = pa.decimal128(38, field.scale)
        else:
            kind = _ARROW[field.type]
        if kinds.setdefault(field.remote, kind) != kind:
            return None
    return kinds


_TEXT = "node()[1][self::text()]"  # lxml's `.text`: CDATA is merged into text, comments are dropped


def _first(name: str) -> str:
    """The first child `name`'s text (`pages._text`): '=' and the text when there is one, '' when not."""
    return f'<xsl:for-each select="wd:{name}[1]">=<xsl:value-of select="{_TEXT}"/></xsl:for-each>'


def _last_id(select: str) -> str:
    """The text of the last ID `select` names (`pages.ids`: the last of a type wins), marked as `_first`."""
    return f'<xsl:for-each select="({select})[last()]">=<xsl:value-of select="{_TEXT}"/></xsl:for-each>'


def _id(reference: str, id_type: str) -> str:
    # `@wd:type='X'` is `string(@wd:type)='X'` for a literal X that is not empty (an absent type is ''),
    # without making a string of every ID's type first: ~2 ms of a page's ~22 ms stylesheet
    return _last_id(f"{reference}[1]/wd:ID[@wd:type='{id_type}']")


_JOURNAL = [  # per Journal_Entry_Data, as `pages._journal` reads it
    _id("../wd:Journal_Entry_Reference", "WID"), _id("../wd:Journal_Entry_Reference", "Accounting_Journal_ID"),
    _first("Journal_Number"),
    _last_id("wd:Journal_Status_Reference[1]/wd:ID[string(@wd:type)=string(../wd:ID[1]/@wd:type)]"),
    _id("wd:Company_Reference", "Company_Reference_ID"), _id("wd:Currency_Reference", "Currency_ID"),
    _first("Accounting_Date"), _id("wd:Journal_Source_Reference", "Journal_Source_ID"), _first("Memo"),
    _first("External_Reference_ID"), _first("Total_Ledger_Debits"), _first("Total_Ledger_Credits"),
    _first("Creation_Date"), _first("Last_Updated_Date"),
    '<xsl:value-of select="count(wd:Journal_Entry_Line_Data)"/>',
]
_LINE = [  # per Journal_Entry_Line_Data, as `pages._line` reads it
    _first("Line_Order"), _id("wd:Ledger_Account_Reference", "Ledger_Account_ID"), _first("Debit_Amount"),
    _first("Credit_Amount"), _id("wd:Currency_Reference", "Currency_ID"), _first("Memo"),
    _last_id("wd:Worktags_Reference/wd:ID[@wd:type='Cost_Center_Reference_ID']"),
    _last_id("wd:Worktags_Reference/wd:ID[@wd:type='Region_Reference_ID']"),
]
_DATA = "/*/wd:Response_Data/wd:Journal_Entry/wd:Journal_Entry_Data"  # from the Get_Journals_Response (`_transform`)
_SEP = f"<xsl:text>{FIELD}</xsl:text>"
STYLESHEET = f"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:wd="{WD}">
<xsl:output method="text" encoding="UTF-8"/>
<xsl:template match="/">
<xsl:value-of select="count({_DATA})"/>{_SEP}<xsl:value-of select="count({_DATA}/wd:Journal_Entry_Line_Data)"/>
<xsl:text>{PART}</xsl:text>
<xsl:for-each select="{_DATA}">{_SEP.join(_JOURNAL)}<xsl:text>{ROW}</xsl:text></xsl:for-each>
<xsl:text>{PART}</xsl:text>
<xsl:for-each select="{_DATA}/wd:Journal_Entry_Line_Data">{_SEP.join(_LINE)}<xsl:text>{ROW}</xsl:text></xsl:for-each>
</xsl:template>
</xsl:stylesheet>"""

_local = threading.local()


def _transform() -> etree.XSLT:
    """The compiled stylesheet, one per thread (~1 ms to compile; not shared between threads)."""
    found: etree.XSLT | None = getattr(_local, "xslt", None)
    if found is None:
        found = _local.xslt = etree.XSLT(etree.fromstring(STYLESHEET.encode()))
    return found


@dataclass
class LinesPage:
    """One Get_Journals page for the line pull: where paging stands, and its lines as Arrow columns by
    remote name (None: read this page as records, `payload.line_records`)."""

    page: int
    total_pages: int
    total_results: int
    as_of: datetime | None
    columns: dict[str, pa.Array] | None
    rows: int
    content: bytes  # the answer, read again as records when the engine asks (`ArrowBatch.records`)


def read_lines_page(content: bytes, kinds: Mapping[str, pa.DataType]) -> LinesPage:
    """The page's paging and the line columns `kinds` names, each of the Arrow type it gives (see
    `column_kinds`). An answer that is not a readable Get_Journals_Response is the record path's
    clean error."""
    try:
        root = parse_xml(content, remove_comments=True)
    except UnsafeXMLError as exc:
        raise FatalRemoteError(SYSTEM, f"Get_Journals: {exc}") from None
    response = journals_response(root)
    try:
        paging = paging_of(response)
    except (ArithmeticError, ValueError) as exc:
        raise FatalRemoteError(SYSTEM, f"Get_Journals: unreadable value in the answer: {exc}") from None
    try:
        # the response as the stylesheet's root: no search of the whole answer for it
        columns, rows = _columns(_parts(str(_transform()(response))), kinds)
    except (ArithmeticError, ValueError, TypeError, KeyError, pa.ArrowException):
        columns, rows = None, 0  # the record path reads it: its rejects, or its clean error
    return LinesPage(page=paging.page, total_pages=paging.total_pages, total_results=paging.total_results,
                     as_of=paging.as_of, columns=columns, rows=rows, content=content)


def _text(value: str) -> str | None:
    return value[1:] if value else None


def _stripped(value: str) -> str | None:
    return value[1:].strip() if value else None


def _decimal(value: str) -> Decimal | None:
    text = value[1:].strip() if value else None
    return Decimal(text) if text else None


def _parts(text: str) -> tuple[str, str]:
    """The journals' and the lines' parts of the stylesheet's text; ValueError when a value holds a
    separator character (there are more of them than the counts the text begins with make)."""
    head, journals, lines = text.split(PART)
    journal_count, line_count = (int(n) for n in head.split(FIELD))
    if (text.count(FIELD) != 1 + journal_count * (len(_JOURNAL) - 1) + line_count * (len(_LINE) - 1)
            or text.count(ROW) != journal_count + line_count):
        raise ValueError("Get_Journals: a value holds a separator character")
    return journals, lines


def _fields(part: str, width: int) -> list[list[str]]:
    """A part of the stylesheet's text as `width` columns of marked values."""
    if not part:
        return [[] for _ in range(width)]
    values = part[:-1].replace(ROW, FIELD).split(FIELD)  # every row ends with ROW
    if len(values) % width:
        raise ValueError("Get_Journals: the columns do not line up")
    return [values[i::width] for i in range(width)]


def _columns(parts: tuple[str, str], kinds: Mapping[str, pa.DataType]) -> tuple[dict[str, pa.Array], int]:
    """The line columns `kinds` names (a line record's field -> its Arrow type); every value of the page
    read all the same, as `pages._journal` and `payload.line_records` read it (an unreadable one raises)."""
    journal_part, line_part = parts
    (wid, journal_id, number, status, company, journal_currency, accounting, source, journal_memo, reference,
     total_debits, total_credits, created, updated, counts) = _fields(journal_part, len(_JOURNAL))
    order, account, debits, credits, line_currency, memo, cost_center, region = _fields(line_part, len(_LINE))
    for values in (total_debits, total_credits):
        for value in values:
            _decimal(value)
    lengths = [int(n) for n in counts]
    if sum(lengths) != len(order):
        raise ValueError("Get_Journals: the lines do not line up with their journals")
    owners = [j for j, n in enumerate(lengths) for _ in range(n)]  # each line's journal
    journal_of = pa.array(owners, pa.int32())
    debit = [_decimal(v) for v in debits]
    credit = [_decimal(v) for v in credits]
    zero = Decimal(0)
    amount = [(d or zero) - (c or zero) for d, c in zip(debit, credit, strict=True)]
    journals: dict[str, list[Any]] = {
        "Journal_Entry_WID": [_stripped(v) for v in wid],
        "Accounting_Journal_ID": [_stripped(v) for v in journal_id],
        "Journal_Number": [_text(v) for v in number],
        "Journal_Status": [_stripped(v) for v in status],
        "Company_Reference_ID": [_stripped(v) for v in company],
        "Accounting_Date": [date.fromisoformat(t.strip()[:10]) if t else None for t in map(_text, accounting)],
        "Journal_Source_ID": [_stripped(v) for v in source],
        "Journal_Memo": [_text(v) for v in journal_memo],
        "External_Reference_ID": [_text(v) for v in reference],
        "Creation_Date": [_datetime(_text(v)) for v in created],
        "Last_Updated_Date": [_datetime(_text(v)) for v in updated],
    }

    def line_values(name: str) -> list[Any]:
        if name == "Currency_ID":  # the line's own, else its journal's
            currencies = [_stripped(v) for v in journal_currency]
            return [_stripped(v) or currencies[j]
                    for v, j in zip(line_currency, owners, strict=True)]
        if name == "Line_Number":
            return [n for length in lengths for n in range(1, length + 1)]
        stripped = {"Ledger_Account_ID": account, "Cost_Center_Reference_ID": cost_center, "Region_Reference_ID": region}
        if name in stripped:
            return [_stripped(v) for v in stripped[name]]
        texts = {"Line_Order": order, "Memo": memo}
        if name in texts:
            return [_text(v) for v in texts[name]]
        amounts: dict[str, list[Any]] = {"Debit_Amount": debit, "Credit_Amount": credit, "Amount": amount}
        return amounts[name]

    columns = {name: pa.array(journals[name], kind).take(journal_of) if name in journals
               else pa.array(line_values(name), kind) for name, kind in kinds.items()}
    return columns, len(order)
