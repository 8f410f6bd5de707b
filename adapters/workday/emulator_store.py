"""The Workday emulator's books: seeded chart, fiscal periods, posted journals, and their rules.

Pure Python (no XML): `emulator.py` parses requests into `SubmittedJournal`s and renders what
this returns. Validation errors carry the message and the request Xpath the tenant would name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

ACCOUNTS: tuple[tuple[str, str, str], ...] = (
    ("1000", "Cash - Mobile Money Float", "Asset"),
    ("1100", "Loans Receivable", "Asset"),
    ("1150", "Interest Receivable", "Asset"),
    ("1190", "Allowance for Loan Losses", "Asset"),  # contra asset
    ("2000", "Borrowings", "Liability"),
    ("3000", "Retained Earnings", "Equity"),
    ("4000", "Interest Income", "Revenue"),
    ("4100", "Fee Income", "Revenue"),
    ("5000", "Loan Loss Expense", "Expense"),
    ("6000", "Operating Expenses", "Expense"),
)
COST_CENTERS = (("OPS", "Operations"), ("RISK", "Risk"), ("COLL", "Collections"), ("FIN", "Finance"))
REGIONS = (("NBO", "Nairobi"), ("MSA", "Mombasa"), ("KSM", "Kisumu"))
COMPANIES = {"MIGO_KE": ("Migo Lending Kenya", "KES")}
CURRENCIES = frozenset({"KES", "USD"})
LEDGER_TYPES = frozenset({"Actuals"})
JOURNAL_SOURCES = frozenset({"Manual_Journal", "Spreadsheet_Upload", "Journal_Import", "Integration"})
WORKTAG_TYPES = {"Cost_Center_Reference_ID": "cost_centers", "Region_Reference_ID": "regions"}
ACCOUNT_SET = "Standard"
YEARS = (2024, 2025, 2026)
DUPLICATE_MESSAGE = "The Accounting Journal ID '{id}' is already in use."

REQUEST = "/ns0:Submit_Accounting_Journal_Request[1]/ns0:Accounting_Journal_Data[1]"


@dataclass
class Problem:
    """One Validation_Error: what is wrong, and where in the request."""

    message: str
    xpath: str = REQUEST
    detail: str | None = None


@dataclass
class SubmittedLine:
    order: str | None
    account: str | None
    account_set: str | None
    debit: str | None
    credit: str | None
    currency: str | None
    memo: str | None
    worktags: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SubmittedJournal:
    """A Submit_Accounting_Journal_Request as read from the wire (texts, not yet validated)."""

    journal_id: str | None
    add_only: bool
    submit: bool
    company: str | None
    currency: str | None
    ledger_type: str | None
    accounting_date: str | None
    source: str | None
    memo: str | None
    external_reference: str | None
    lines: list[SubmittedLine] = field(default_factory=list)


def month_end(year: int, month: int) -> date:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return date.fromordinal(first_next.toordinal() - 1)


class Books:
    """Everything the tenant holds. `state()`/`load()` round-trip it through JSON."""

    def __init__(self, *, closed_through: str = "2025-12", duplicate_message: str = DUPLICATE_MESSAGE) -> None:
        self.closed_through = closed_through
        self.duplicate_message = duplicate_message
        self.accounts: dict[str, dict[str, Any]] = {
            number: {"name": name, "type": kind, "retired": False} for number, name, kind in ACCOUNTS}
        self.cost_centers: dict[str, dict[str, Any]] = {code: {"name": name, "active": True}
                                                        for code, name in COST_CENTERS}
        self.regions: dict[str, dict[str, Any]] = {code: {"name": name, "active": True} for code, name in REGIONS}
        self.periods = [self._period(year, month) for year in YEARS for month in range(1, 13)]
        self.journals: list[dict[str, Any]] = []
        self.by_id: dict[str, int] = {}
        self.sequence = 0

    def _period(self, year: int, month: int) -> dict[str, Any]:
        key = f"{year:04d}-{month:02d}"
        return {"name": f"{date(year, month, 1):%b} {year}", "year": str(year), "start": date(year, month, 1),
                "end": month_end(year, month), "status": "Closed" if key <= self.closed_through else "Open"}

    # -- persistence ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"journals": self.journals, "sequence": self.sequence,
                "accounts": self.accounts, "cost_centers": self.cost_centers, "regions": self.regions,
                "periods": [{**p, "start": p["start"].isoformat(), "end": p["end"].isoformat()} for p in self.periods]}

    def load(self, state: dict[str, Any]) -> None:
        self.journals = list(state.get("journals", []))
        self.by_id = {j["id"]: i for i, j in enumerate(self.journals) if j.get("id")}
        self.sequence = int(state.get("sequence", len(self.journals)))
        for name in ("accounts", "cost_centers", "regions"):
            if name in state:
                setattr(self, name, dict(state[name]))
        if "periods" in state:
            self.periods = [{**p, "start": date.fromisoformat(p["start"]), "end": date.fromisoformat(p["end"])}
                            for p in state["periods"]]

    # -- Submit_Accounting_Journal ------------------------------------------------------------------

    def submit(self, journal: SubmittedJournal, *, now: datetime, wid: str) -> tuple[dict[str, Any] | None,
                                                                                   list[Problem]]:
        """Validate and post (or save) one journal: (the stored journal, []) or (None, problems)."""
        if journal.journal_id and journal.journal_id in self.by_id:
            existing = self.journals[self.by_id[journal.journal_id]]
            if journal.add_only or existing["status"] == "Posted":
                return None, [Problem(self.duplicate_message.format(id=journal.journal_id),
                                      f"{REQUEST}/ns0:Accounting_Journal_ID[1]")]
        problems, lines, day = self._validate(journal)
        if problems:
            return None, problems
        assert day is not None
        stamp = now.astimezone(UTC).isoformat()
        stored: dict[str, Any] = {
            "wid": wid, "id": journal.journal_id, "number": None, "status": "Posted" if journal.submit else "Draft",
            "company": journal.company, "currency": journal.currency or COMPANIES[str(journal.company)][1],
            "ledger_type": journal.ledger_type, "date": day.isoformat(), "source": journal.source,
            "memo": journal.memo, "external_reference": journal.external_reference,
            "created": stamp, "updated": stamp, "lines": lines,
        }
        if journal.journal_id and journal.journal_id in self.by_id:  # a draft updated in place
            index = self.by_id[journal.journal_id]
            old = self.journals[index]
            stored.update(wid=old["wid"], number=old["number"], created=old["created"])
            self.journals[index] = stored
            return stored, []
        self.sequence += 1
        stored["number"] = f"JE-{self.sequence:07d}"
        if journal.journal_id:
            self.by_id[journal.journal_id] = len(self.journals)
        self.journals.append(stored)
        return stored, []

    def _validate(self, journal: SubmittedJournal) -> tuple[list[Problem], list[dict[str, Any]], date | None]:
        problems: list[Problem] = []

        def invalid_id(value: str | None, id_type: str, xpath: str) -> None:
            problems.append(Problem(f"Invalid ID value.  '{value}' is not a valid ID value for type = '{id_type}'",
                                    xpath))

        if journal.company not in COMPANIES:
            invalid_id(journal.company, "Company_Reference_ID", f"{REQUEST}/ns0:Company_Reference[1]/ns0:ID[1]")
        if journal.currency is not None and journal.currency not in CURRENCIES:
            invalid_id(journal.currency, "Currency_ID", f"{REQUEST}/ns0:Currency_Reference[1]/ns0:ID[1]")
        if journal.ledger_type not in LEDGER_TYPES:
            invalid_id(journal.ledger_type, "Ledger_Type_ID", f"{REQUEST}/ns0:Ledger_Type_Reference[1]/ns0:ID[1]")
        if journal.source is not None and journal.source not in JOURNAL_SOURCES:
            invalid_id(journal.source, "Journal_Source_ID", f"{REQUEST}/ns0:Journal_Source_Reference[1]/ns0:ID[1]")
        day = self._check_date(journal, problems)
        if len(journal.lines) < 2:
            problems.append(Problem(f"A journal entry must have at least 2 lines; this one has {len(journal.lines)}."))
        lines, debits, credits = [], Decimal(0), Decimal(0)
        for index, line in enumerate(journal.lines, start=1):
            where = f"{REQUEST}/ns0:Journal_Entry_Line_Replacement_Data[{index}]"
            if line.account not in self.accounts or (line.account_set not in (None, ACCOUNT_SET)):
                invalid_id(line.account, "Ledger_Account_ID", f"{where}/ns0:Ledger_Account_Reference[1]/ns0:ID[1]")
            elif self.accounts[str(line.account)]["retired"]:
                problems.append(Problem(f"Ledger Account {line.account} is retired.", f"{where}/ns0:Ledger_Account_Reference[1]"))
            for position, (id_type, value) in enumerate(line.worktags, start=1):
                known = getattr(self, WORKTAG_TYPES[id_type]) if id_type in WORKTAG_TYPES else None
                if known is None or value not in known or not known[value]["active"]:
                    invalid_id(value, id_type, f"{where}/ns0:Worktags_Reference[{position}]/ns0:ID[1]")
            debit, credit = _amount(line.debit, problems, where, "Debit_Amount"), _amount(
                line.credit, problems, where, "Credit_Amount")
            if debit and credit:
                problems.append(Problem(f"Line {index}: enter a debit amount or a credit amount, not both.", where))
            debits += debit or 0
            credits += credit or 0
            lines.append({"order": line.order or str(index), "account": line.account,
                          "debit": None if line.debit is None else str(debit),
                          "credit": None if line.credit is None else str(credit),
                          "currency": line.currency, "memo": line.memo, "worktags": dict(line.worktags)})
        if journal.lines and debits != credits:
            problems.append(Problem(f"The journal entry is out of balance: total debits {debits} do not equal "
                                    f"total credits {credits}."))
        return problems, lines, day

    def _check_date(self, journal: SubmittedJournal, problems: list[Problem]) -> date | None:
        try:
            day = date.fromisoformat(str(journal.accounting_date)[:10])
        except ValueError:
            problems.append(Problem(f"'{journal.accounting_date}' is not a valid accounting date.",
                                    f"{REQUEST}/ns0:Accounting_Date[1]"))
            return None
        period = self.period_for(day)
        if period is None:
            problems.append(Problem(f"No fiscal period exists for accounting date {day.isoformat()}.",
                                    f"{REQUEST}/ns0:Accounting_Date[1]"))
        elif period["status"] != "Open":
            problems.append(Problem(f"The accounting date {day.isoformat()} falls in period {period['name']}, which "
                                    f"is {period['status']} for company {journal.company}.",
                                    f"{REQUEST}/ns0:Accounting_Date[1]"))
        return day

    def period_for(self, day: date) -> dict[str, Any] | None:
        return next((p for p in self.periods if p["start"] <= day <= p["end"]), None)

    # -- Get_Journals --------------------------------------------------------------------------------

    def find(self, *, companies: set[str], accounting_from: date | None, accounting_to: date | None,
             updated_from: datetime | None, updated_to: datetime | None, number: str | None,
             statuses: set[str], as_of: datetime) -> list[dict[str, Any]]:
        """Journals matching the criteria as the tenant stood at `as_of`, in entry order."""
        found = []
        for journal in self.journals:
            created, updated, day = _moment(journal["created"]), _moment(journal["updated"]), _day(journal["date"])
            if (created > as_of or (companies and journal["company"] not in companies)
                    or (accounting_from and day < accounting_from) or (accounting_to and day > accounting_to)
                    or (updated_from and updated < updated_from) or (updated_to and updated > updated_to)
                    or (number and journal["number"] != number) or (statuses and journal["status"] not in statuses)):
                continue
            found.append(journal)
        return found

    def dump(self) -> dict[str, Any]:
        posted = [j for j in self.journals if j["status"] == "Posted"]
        return {"journals": self.journals, "counts": {"journals": len(self.journals), "posted": len(posted),
                                                      "lines": sum(len(j["lines"]) for j in self.journals)},
                "periods": {p["start"].strftime("%Y-%m"): p["status"] for p in self.periods}}


# A page of Get_Journals walks every journal: their stamps are parsed once, not on every call.
_moment = functools.lru_cache(maxsize=1 << 18)(datetime.fromisoformat)
_day = functools.lru_cache(maxsize=1 << 16)(date.fromisoformat)


def _amount(text: str | None, problems: list[Problem], where: str, name: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        problems.append(Problem(f"'{text}' is not a valid amount.", f"{where}/ns0:{name}[1]"))
        return None
    if value < 0:
        problems.append(Problem(f"{name.replace('_', ' ')} {value} must not be negative.", f"{where}/ns0:{name}[1]"))
    if value != value.quantize(Decimal("0.01")):
        problems.append(Problem(f"{name.replace('_', ' ')} {value} has more than 2 decimal places.",
                                f"{where}/ns0:{name}[1]"))
    return value

