"""Journals to Workday's shapes and back: Accounting_Journal_Data for Submit_Accounting_Journal,
flat line records and ledger lines from Get_Journals entries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from migo_sync.ledger import Journal, JournalLayout, LedgerLine
from migo_sync.mapping.model import Mapping as MappingModel

from .client import ref

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


def journal_data(journal: Journal, defaults: Defaults, *, submit: bool) -> dict[str, Any]:
    """Accounting_Journal_Data for one journal, in the order the schema wants (zeep keeps it)."""
    header = journal.header
    company = header.get("Company_Reference_ID") or defaults.company
    currency = header.get("Currency_ID") or defaults.currency
    source = header.get("Journal_Source_ID") or defaults.journal_source
    data: dict[str, Any] = {
        "Accounting_Journal_ID": journal.idempotency_key,
        "Submit": submit,
        "Company_Reference": ref(str(company), "Company_Reference_ID"),
        "Currency_Reference": ref(str(currency), "Currency_ID") if currency else None,
        "Ledger_Type_Reference": ref(str(header.get("Ledger_Type_ID") or defaults.ledger_type), "Ledger_Type_ID"),
        "Accounting_Date": journal.posting_date,
        "Journal_Source_Reference": ref(str(source), "Journal_Source_ID") if source else None,
        "Journal_Entry_Memo": journal.title,
        "External_Reference_ID": journal.reference,
        "Journal_Entry_Line_Replacement_Data": [],
    }
    for line in journal.lines:
        amount = line.amount
        data["Journal_Entry_Line_Replacement_Data"].append({
            "Line_Order": str(line.extra.get("Line_Order") or line.number),
            "Ledger_Account_Reference": ref(line.account, "Ledger_Account_ID", parent_id=defaults.account_set,
                                            parent_type="Account_Set_ID"),
            "Debit_Amount": amount if amount >= 0 else None,
            "Credit_Amount": -amount if amount < 0 else None,
            "Memo": line.memo,
            "Worktags_Reference": [ref(value, WORKTAGS[kind]) for kind, value in sorted(line.dimensions.items())
                                   if kind in WORKTAGS] or None,
        })
    return {k: v for k, v in data.items() if v is not None}


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
