"""Get_Journals pages read with lxml, in one pass over each element's children.

The pull's hot path (up to 999 journals of several lines a page) and the ledger's look-ups: each
element's children are visited once and dispatched by tag (a `find` per field visited them once
per field: ~3x the work). What is read is what `find`/`findtext` would read: the first child of a
name (its text, '' when empty), every ID of a reference (the last of a type wins), every
Worktags_Reference in order; exact decimals; an answer that is not a Get_Journals_Response, or
holds an unreadable number or date, is one clean error. `lines=False` skips the lines (a look-up
that needs only the journals' references and status), and `lines=KEYS` reads of each journal only
what names it (the ids an import booked); a predicate reads them only for the journals it accepts (a
look-up needs the lines of the journals it finds, not of every journal in its dates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from typing import Any, Final, Literal

from lxml import etree

from migo_sync.errors import FatalRemoteError
from migo_sync.xmlsafe import UnsafeXMLError, declares_doctype, parse_xml

from .soap import SYSTEM, WD

Q = f"{{{WD}}}"
KEYS: Final = "keys"  # read only what names a journal: WID, Accounting_Journal_ID, External_Reference_ID, status
# Which journals' lines to read: all, none, or those a predicate accepts (given the journal without lines);
# or KEYS: no lines and, of each journal, only its keys (a look-up of the ids an import booked).
Lines = bool | Literal["keys"] | Callable[[dict[str, Any]], bool]
ID, TYPE = f"{Q}ID", f"{Q}type"
LINE = f"{Q}Journal_Entry_Line_Data"
WORKTAG = f"{Q}Worktags_Reference"


@dataclass
class JournalPage:
    """One page of Get_Journals: journal entries as plain dicts, and where paging stands.
    `as_of` is the As_Of_Entry_DateTime the tenant answered for (the pin for the pages after)."""

    entries: list[dict[str, Any]]
    page: int
    total_pages: int
    total_results: int
    as_of: datetime | None = None


def ids(element: etree._Element | None) -> dict[str, str]:
    """{ID type: value} of a reference element (its wd:ID children)."""
    if element is None:
        return {}
    return {node.get(TYPE, ""): (node.text or "").strip() for node in element if node.tag == ID}


def children(element: etree._Element, repeated: str) -> tuple[dict[Any, etree._Element], list[etree._Element]]:
    """Each child tag's first element (what `find` returns), and every child named `repeated`: an
    element's children visited once (also how the emulator reads a request's journals)."""
    first: dict[Any, etree._Element] = {}
    every = []
    for child in element:
        if child.tag == repeated:
            every.append(child)
        else:
            first.setdefault(child.tag, child)
    return first, every


def _text(found: dict[Any, etree._Element], name: str) -> str | None:
    node = found.get(Q + name)
    return None if node is None else (node.text or "")


def _decimal(found: dict[Any, etree._Element], name: str) -> Decimal | None:
    text = _text(found, name)
    return Decimal(text.strip()) if text and text.strip() else None


def _datetime(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))


@dataclass(frozen=True)
class Paging:
    """Where a Get_Journals answer stands: read from its first bytes (`paging_head`)."""

    page: int
    total_pages: int
    total_results: int
    as_of: datetime | None


HEAD_BYTES = 16_384  # Response_Filter and Response_Results come before Response_Data (~1 KB in)
_FILTER, _RESULTS, _DATA = f"{Q}Response_Filter", f"{Q}Response_Results", f"{Q}Response_Data"


def paging_head(content: bytes) -> Paging | None:
    """The answer's paging (the page, how many pages and results, the pinned moment) read from its
    first HEAD_BYTES with a pull parser, before the page is parsed: the pages after it are asked
    for meanwhile. None when the head does not say (another shape, a DOCTYPE, malformed): the
    whole page is parsed first, and its parse gives the clean error."""
    if declares_doctype(content[:HEAD_BYTES]):
        return None
    # Events of these three names only: each event holds its element, and the parser holds the events it
    # has not handed out, in a cycle with itself: every element's events (~300 of a head) were freed only by
    # the cyclic collector, in the pull's path after the answer (and read ~25 % slower).
    parser = etree.XMLPullParser(events=("start", "end"), tag=(_FILTER, _RESULTS, _DATA), resolve_entities=False,
                                 no_network=True, load_dtd=False, remove_comments=True)
    found: dict[str, etree._Element] = {}
    try:
        parser.feed(content[:HEAD_BYTES])
        for event, element in parser.read_events():
            if event == "start" and element.tag == _DATA:
                break
            if event == "end" and element.tag in (_FILTER, _RESULTS):
                found.setdefault(element.tag, element)
                if len(found) == 2:
                    break
        results, echoed = found.get(_RESULTS), found.get(_FILTER)
        if results is None or echoed is None or results.getparent() is not echoed.getparent():
            return None
        if etree.QName(results.getparent()).localname != "Get_Journals_Response":
            return None
        return _paging(results, echoed)
    except (etree.XMLSyntaxError, ArithmeticError, ValueError):
        return None


def parse_journals_page(content: bytes, *, lines: Lines = True) -> JournalPage:
    """A Get_Journals_Response as plain dicts: one per journal, with its lines (unless `lines` is
    False); an answer that is not one (malformed, with a DOCTYPE, with unreadable numbers or
    dates) is a clean error."""
    try:
        return _journals_page(parse_xml(content, remove_comments=True), lines)
    except UnsafeXMLError as exc:
        raise FatalRemoteError(SYSTEM, f"Get_Journals: {exc}") from None
    except (ArithmeticError, ValueError) as exc:
        raise FatalRemoteError(SYSTEM, f"Get_Journals: unreadable value in the answer: {exc}") from None


RESPONSE = f"{Q}Get_Journals_Response"


def journals_response(root: etree._Element) -> etree._Element:
    """The answer's (first) Get_Journals_Response, or the clean error when it holds none: what
    `root.find('.//…')` finds, the first below the root in document order. Not found so: lxml's iterator
    looks for the match after the one it hands out, so that walked the whole answer past the response
    (~1.1 ms of a 1.2 MB page right after its parse); here the walk stops at the response (the third node)."""
    response = next((node for node in islice(root.iter(), 1, None) if node.tag == RESPONSE), None)
    if response is None:
        raise FatalRemoteError(SYSTEM, "Get_Journals: the answer holds no Get_Journals_Response")
    return response


def paging_of(response: etree._Element) -> Paging:
    """Where a parsed Get_Journals_Response stands (ArithmeticError/ValueError when unreadable)."""
    return _paging(response.find(_RESULTS), response.find(_FILTER))


def _paging(results: etree._Element | None, echoed: etree._Element | None) -> Paging:
    """Paging from Response_Results and the echoed Response_Filter (absent: page 1 of 1, no pin),
    whether read from the answer's head or from the whole answer."""
    def number(name: str, default: str) -> int:
        return int(Decimal((results.findtext(f"{Q}{name}") if results is not None else None) or default))

    return Paging(page=number("Page", "1"), total_pages=max(number("Total_Pages", "1"), 1),
                  total_results=number("Total_Results", "0"),
                  as_of=_datetime(echoed.findtext(f"{Q}As_Of_Entry_DateTime")) if echoed is not None else None)


def _journals_page(root: etree._Element, lines: Lines) -> JournalPage:
    response = journals_response(root)
    paging = paging_of(response)
    entries = []
    for entry in response.iterfind(f"{Q}Response_Data/{Q}Journal_Entry"):
        references = ids(entry.find(f"{Q}Journal_Entry_Reference"))
        for data in entry.iterfind(f"{Q}Journal_Entry_Data"):
            entries.append(_keys(references, data) if lines == KEYS else _journal(references, data, lines))
    return JournalPage(entries=entries, page=paging.page, total_pages=paging.total_pages,
                       total_results=paging.total_results, as_of=paging.as_of)


def _keys(references: dict[str, str], data: etree._Element) -> dict[str, Any]:
    """What names a journal, read as `_journal` reads it (the first child of each name), without
    visiting its other children: a page of 999 journals of 4 lines is ~20,000 elements."""
    reference = data.find(f"{Q}External_Reference_ID")
    return {"WID": references.get("WID"), "Accounting_Journal_ID": references.get("Accounting_Journal_ID"),
            "Journal_Status": next(iter(ids(data.find(f"{Q}Journal_Status_Reference")).values()), None),
            "External_Reference_ID": None if reference is None else (reference.text or ""), "lines": []}


def _journal(references: dict[str, str], data: etree._Element, read_lines: Lines) -> dict[str, Any]:
    found, line_nodes = children(data, LINE)
    accounting_date = _text(found, "Accounting_Date")
    journal: dict[str, Any] = {
        "WID": references.get("WID"), "Accounting_Journal_ID": references.get("Accounting_Journal_ID"),
        "Journal_Number": _text(found, "Journal_Number"),
        "Journal_Status": next(iter(ids(found.get(f"{Q}Journal_Status_Reference")).values()), None),
        "Company_Reference_ID": ids(found.get(f"{Q}Company_Reference")).get("Company_Reference_ID"),
        "Currency_ID": ids(found.get(f"{Q}Currency_Reference")).get("Currency_ID"),
        "Accounting_Date": date.fromisoformat(accounting_date.strip()[:10]) if accounting_date else None,
        "Journal_Source_ID": ids(found.get(f"{Q}Journal_Source_Reference")).get("Journal_Source_ID"),
        "Memo": _text(found, "Memo"), "External_Reference_ID": _text(found, "External_Reference_ID"),
        "Total_Ledger_Debits": _decimal(found, "Total_Ledger_Debits"),
        "Total_Ledger_Credits": _decimal(found, "Total_Ledger_Credits"),
        "Creation_Date": _datetime(_text(found, "Creation_Date")),
        "Last_Updated_Date": _datetime(_text(found, "Last_Updated_Date")),
        "lines": [],
    }
    if read_lines is True or (callable(read_lines) and read_lines(journal)):
        journal["lines"] = [_line(number, line) for number, line in enumerate(line_nodes, start=1)]
    return journal


def _line(number: int, line: etree._Element) -> dict[str, Any]:
    found, worktag_nodes = children(line, WORKTAG)
    worktags: dict[str, str] = {}
    for node in worktag_nodes:
        worktags.update(ids(node))
    return {
        "Line_Number": number, "Line_Order": _text(found, "Line_Order"),
        "Ledger_Account_ID": ids(found.get(f"{Q}Ledger_Account_Reference")).get("Ledger_Account_ID"),
        "Debit_Amount": _decimal(found, "Debit_Amount"), "Credit_Amount": _decimal(found, "Credit_Amount"),
        "Currency_ID": ids(found.get(f"{Q}Currency_Reference")).get("Currency_ID"),
        "Memo": _text(found, "Memo"), "Worktags": worktags,
    }
