"""Journals to Workday's shapes and back: Accounting_Journal_Data for Submit_Accounting_Journal and
Import_Accounting_Journal, flat line records and ledger lines from Get_Journals entries."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from migo_sync.ledger import Journal, JournalLayout, LedgerLine
from migo_sync.mapping.model import Mapping as MappingModel

from .soap import xml_attribute, xml_text

# Line dimension kinds as the ledger core names them → the worktag ID type Workday uses.
WORKTAGS: dict[str, str] = {"cost_center": "Cost_Center_Reference_ID", "region": "Region_Reference_ID"}
HEADER_FIELDS = frozenset({"Company_Reference_ID", "Currency_ID", "Ledger_Type_ID", "Journal_Source_ID"})
POSTED = "Posted"
CANCELED = frozenset({"Canceled", "Cancelled"})  # not in the books: never "already sent"


def journal_layout(mapping: MappingModel) -> JournalLayout:
    """Workday's field names. Amounts: the signed `Amount`, or `Debit_Amount` + `Credit_Amount`."""
    remotes = {f.remote for f in mapping.fields}
    split = "Amount" not in remotes and {"Debit_Amount", "Credit_Amount"} <= remotes
    return JournalLayout(
        posting_date="Accounting_Date", account="Ledger_Account_ID",
        amount=None if split else "Amount",
        debit="Debit_Amount" if split else None, credit="Credit_Amount" if split else None,
        title="Journal_Entry_Memo", reference="External_Reference_ID", memo="Memo",
        dimensions={kind: id_type for kind, id_type in WORKTAGS.items()},
        header_fields=HEADER_FIELDS,
    )


@dataclass(frozen=True)
class Defaults:
    """Journal-level values a mapping may leave to the system's settings."""

    company: str | None
    currency: str | None
    ledger_type: str
    journal_source: str | None
    account_set: str


def required_header(defaults: Defaults) -> list[tuple[str, str, str, str | None]]:
    """(what, mapped field, setting, its value) of each journal header value the real schema requires
    and a mapping may leave to the settings: company, currency, journal source."""
    return [("company", "Company_Reference_ID", "company", defaults.company),
            ("currency", "Currency_ID", "currency", defaults.currency),
            ("journal source", "Journal_Source_ID", "journal_source", defaults.journal_source)]


# Characters XML 1.0 cannot carry (lxml, and so zeep, refuse them): control characters other than
# tab, LF and CR; U+FFFE and U+FFFF; lone surrogates (not UTF-8).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def unsendable(journal: Journal, defaults: Defaults) -> str:
    """The reject reason of a journal `journal_xml` refused: which field holds a character XML 1.0
    has no place for (no ledger would take it; refused before anything is sent)."""
    fields = {"Journal_Entry_Memo": journal.title, "External_Reference_ID": journal.reference,
              **journal.header, "account_set": defaults.account_set,
              **{f"line {line.number}: {what}": value for line in journal.lines
                 for what, value in (("Ledger_Account_ID", line.account), ("Memo", line.memo),
                                     ("Line_Order", line.extra.get("Line_Order")),
                                     *((WORKTAGS.get(kind, kind), tag) for kind, tag in line.dimensions.items()))}}
    for name, value in fields.items():
        if value is not None and (match := NOT_XML.search(str(value))):
            return f"{name} holds U+{ord(match.group()):04X}, a character XML cannot carry: not sent"
    return "a value holds a character XML cannot carry: not sent"


def journal_xml(journal: Journal, defaults: Defaults, *, submit: bool, prefix: str = "ns0",
                check: bool = True) -> str:
    """One Accounting_Journal_Data element, byte for byte what zeep writes for it (elements in
    schema order, the same text forms and escaping; proven in tests/workday against zeep), as text
    to splice into a request: zeep's object mapping costs ~13 ms a journal, this ~0.05 ms.
    ValueError, as lxml's, for a character XML cannot carry (`unsendable` names it first)."""
    p = prefix
    header = journal.header
    company = header.get("Company_Reference_ID") or defaults.company
    currency = header.get("Currency_ID") or defaults.currency
    source = header.get("Journal_Source_ID") or defaults.journal_source
    ledger_type = header.get("Ledger_Type_ID") or defaults.ledger_type
    account_set = xml_attribute(str(defaults.account_set))

    def ref(tag: str, value: Any, id_type: str) -> str:
        return f'<{p}:{tag}><{p}:ID {p}:type="{id_type}">{xml_text(str(value))}</{p}:ID></{p}:{tag}>'

    parts = [f"<{p}:Accounting_Journal_Data><{p}:Accounting_Journal_ID>{xml_text(journal.idempotency_key)}"
             f"</{p}:Accounting_Journal_ID><{p}:Submit>{'true' if submit else 'false'}</{p}:Submit>",
             ref("Company_Reference", company, "Company_Reference_ID")]
    if currency:
        parts.append(ref("Currency_Reference", currency, "Currency_ID"))
    parts.append(ref("Ledger_Type_Reference", ledger_type, "Ledger_Type_ID"))
    parts.append(f"<{p}:Accounting_Date>{journal.posting_date:%Y-%m-%d}</{p}:Accounting_Date>")  # zeep's form
    if source:
        parts.append(ref("Journal_Source_Reference", source, "Journal_Source_ID"))
    if journal.title is not None:
        parts.append(f"<{p}:Journal_Entry_Memo>{xml_text(journal.title)}</{p}:Journal_Entry_Memo>")
    if journal.reference is not None:
        parts.append(f"<{p}:External_Reference_ID>{xml_text(journal.reference)}</{p}:External_Reference_ID>")
    for line in journal.lines:
        amount = line.amount
        parts.append(f"<{p}:Journal_Entry_Line_Replacement_Data><{p}:Line_Order>"
                     f"{xml_text(str(line.extra.get('Line_Order') or line.number))}</{p}:Line_Order>"
                     f'<{p}:Ledger_Account_Reference><{p}:ID {p}:type="Ledger_Account_ID" {p}:parent_id='
                     f'"{account_set}" {p}:parent_type="Account_Set_ID">{xml_text(line.account)}</{p}:ID>'
                     f"</{p}:Ledger_Account_Reference>")
        if amount >= 0:
            parts.append(f"<{p}:Debit_Amount>{amount:f}</{p}:Debit_Amount>")
        else:
            parts.append(f"<{p}:Credit_Amount>{-amount:f}</{p}:Credit_Amount>")
        if line.memo is not None:
            parts.append(f"<{p}:Memo>{xml_text(line.memo)}</{p}:Memo>")
        parts.extend(ref("Worktags_Reference", value, WORKTAGS[kind])
                     for kind, value in sorted(line.dimensions.items()) if kind in WORKTAGS)
        parts.append(f"</{p}:Journal_Entry_Line_Replacement_Data>")
    parts.append(f"</{p}:Accounting_Journal_Data>")
    written = "".join(parts)
    if check and NOT_XML.search(written):
        raise ValueError("All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters")
    return written


def line_records(entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """One flat record per journal line (the Journal_Entry_Line catalog object)."""
    for entry in entries:
        for line in entry["lines"]:
            debit, credit = line["Debit_Amount"], line["Credit_Amount"]
            worktags: Mapping[str, str] = line["Worktags"]
            yield {
                "Journal_Entry_WID": entry["WID"], "Accounting_Journal_ID": entry["Accounting_Journal_ID"],
                "Journal_Number": entry["Journal_Number"], "Journal_Status": entry["Journal_Status"],
                "Company_Reference_ID": entry["Company_Reference_ID"],
                "Currency_ID": line["Currency_ID"] or entry["Currency_ID"],
                "Accounting_Date": entry["Accounting_Date"], "Journal_Source_ID": entry["Journal_Source_ID"],
                "Journal_Memo": entry["Memo"], "External_Reference_ID": entry["External_Reference_ID"],
                "Creation_Date": entry["Creation_Date"], "Last_Updated_Date": entry["Last_Updated_Date"],
                "Line_Number": line["Line_Number"], "Line_Order": line["Line_Order"],
                "Ledger_Account_ID": line["Ledger_Account_ID"], "Debit_Amount": debit, "Credit_Amount": credit,
                "Amount": (debit or Decimal(0)) - (credit or Decimal(0)), "Memo": line["Memo"],
                "Cost_Center_Reference_ID": worktags.get(WORKTAGS["cost_center"]),
                "Region_Reference_ID": worktags.get(WORKTAGS["region"]),
            }


def ledger_lines(entries: list[dict[str, Any]]) -> list[LedgerLine]:
    """Posted lines as the ledger core reads them (drafts and canceled journals are not the books)."""
    return [line for entry in entries if entry["Journal_Status"] in (None, POSTED)
            for line in entry_lines(entry)]


def entry_lines(entry: dict[str, Any]) -> list[LedgerLine]:
    """The lines of one Get_Journals entry, whatever its status."""
    lines: list[LedgerLine] = []
    if entry["Accounting_Date"] is None:
        return lines
    for line in entry["lines"]:
        worktags = line["Worktags"]
        lines.append(LedgerLine(
            journal=entry["WID"] or "", posting_date=entry["Accounting_Date"],
            account=str(line["Ledger_Account_ID"]),
            amount=(line["Debit_Amount"] or Decimal(0)) - (line["Credit_Amount"] or Decimal(0)),
            dimensions={kind: worktags[id_type] for kind, id_type in WORKTAGS.items() if id_type in worktags},
            reference=entry["External_Reference_ID"], memo=line["Memo"]))
    return lines
