"""The emulator's company: seeded chart, dimensions and periods, posted journals, balances.

Records are stored the way the gateway's objects name their fields, with dates kept as ISO text
(sortable) and turned into mm/dd/yyyy only on the way out. `bulk_lines` adds generated
GLENTRY history (balanced pairs dated 2025) that is produced on demand, never stored, so a
benchmark can pull a million lines without the emulator holding them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

# Chart shared by every ledger/plan emulator (the project brief): number, title, type, normal balance.
ACCOUNTS = (
    ("1000", "Cash - Mobile Money Float", "balancesheet", "debit", "Asset"),
    ("1100", "Loans Receivable", "balancesheet", "debit", "Asset"),
    ("1150", "Interest Receivable", "balancesheet", "debit", "Asset"),
    ("1190", "Allowance for Loan Losses", "balancesheet", "credit", "Asset"),
    ("2000", "Borrowings", "balancesheet", "credit", "Liability"),
    ("3000", "Retained Earnings", "balancesheet", "credit", "Equity"),
    ("4000", "Interest Income", "incomestatement", "credit", "Revenue"),
    ("4100", "Fee Income", "incomestatement", "credit", "Revenue"),
    ("5000", "Loan Loss Expense", "incomestatement", "debit", "Expense"),
    ("6000", "Operating Expenses", "incomestatement", "debit", "Expense"),
)
DEPARTMENTS = (("OPS", "Operations"), ("RISK", "Risk"), ("COLL", "Collections"), ("FIN", "Finance"))
LOCATIONS = (("NBO", "Nairobi"), ("MSA", "Mombasa"), ("KSM", "Kisumu"))
JOURNALS = (("GJ", "General Journal"), ("ADJ", "Adjustments"))
SEED_TIME = "2025-01-01 00:00:00"
BULK_TIME = "2025-12-31 23:00:00"
CENT = Decimal("0.01")

FIELD_TYPES: dict[str, dict[str, str]] = {
    "GLACCOUNT": {"RECORDNO": "number", "ACCOUNTNO": "string", "TITLE": "string", "ACCOUNTTYPE": "string",
                  "NORMALBALANCE": "string", "CATEGORY": "string", "STATUS": "string", "WHENMODIFIED": "timestamp"},
    "DEPARTMENT": {"RECORDNO": "number", "DEPARTMENTID": "string", "TITLE": "string", "STATUS": "string",
                   "WHENMODIFIED": "timestamp"},
    "LOCATION": {"RECORDNO": "number", "LOCATIONID": "string", "NAME": "string", "STATUS": "string",
                 "WHENMODIFIED": "timestamp"},
    "GLJOURNAL": {"RECORDNO": "number", "SYMBOL": "string", "TITLE": "string", "STATUS": "string",
                  "WHENMODIFIED": "timestamp"},
    "REPORTINGPERIOD": {"RECORDNO": "number", "NAME": "string", "HEADER1": "string", "HEADER2": "string",
                        "START_DATE": "date", "END_DATE": "date", "BUDGETING": "string", "STATUS": "string",
                        "CLOSED": "string", "WHENMODIFIED": "timestamp"},
    "GLBATCH": {"RECORDNO": "number", "BATCHNO": "number", "JOURNAL": "string", "BATCH_DATE": "date",
                "BATCH_TITLE": "string", "REFERENCENO": "string", "STATE": "string", "WHENCREATED": "timestamp",
                "WHENMODIFIED": "timestamp"},
    "GLENTRY": {"RECORDNO": "number", "BATCHNO": "number", "JOURNAL": "string", "BATCH_DATE": "date",
                "BATCH_TITLE": "string", "REFERENCENO": "string", "LINE_NO": "number", "ENTRY_DATE": "date",
                "ACCOUNTNO": "string", "TR_TYPE": "number", "TRX_AMOUNT": "number", "AMOUNT": "number",
                "CURRENCY": "string", "DEPARTMENT": "string", "LOCATION": "string", "DESCRIPTION": "string",
                "STATE": "string", "WHENCREATED": "timestamp", "WHENMODIFIED": "timestamp"},
    "GLACCOUNTBALANCE": {"ACCOUNTNO": "string", "PERIOD": "string", "OPENBAL": "number", "TOTDEBIT": "number",
                         "TOTCREDIT": "number", "TOTADJDEBIT": "number", "TOTADJCREDIT": "number",
                         "FORBAL": "number", "ENDBAL": "number", "BOOKID": "string", "CURRENCY": "string"},
}


def month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def period_name(start: date) -> str:
    return f"Month Ended {start.strftime('%B')} {start.year}"


def money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def texts(parent: Any) -> dict[str, str]:
    """{tag: stripped text} of an element's children, the first child of each tag (as `find(tag)`
    reads it; "" for one without text), read in one pass."""
    found: dict[str, str] = {}
    for child in parent:
        tag = child.tag
        if isinstance(tag, str) and tag not in found:  # comments and processing instructions have no name
            found[tag] = (child.text or "").strip()
    return found


def gateway_day(text: str) -> date:
    """mm/dd/yyyy as `strptime(text, "%m/%d/%Y")` reads it (ValueError when it cannot): the common
    two-digit form sliced, anything else through strptime itself."""
    if len(text) == 10 and text[2] == "/" and text[5] == "/" and (text[:2] + text[3:5] + text[6:]).isascii() \
            and (text[:2] + text[3:5] + text[6:]).isdigit():
        return date(int(text[6:]), int(text[:2]), int(text[3:5]))
    return datetime.strptime(text, "%m/%d/%Y").date()


class GLBatchError(ValueError):
    """A GLBATCH the gateway refuses; `str()` is description2."""


@dataclass
class BulkLines(Sequence[dict[str, Any]]):
    """Generated GLENTRY history: balanced debit/credit pairs, built only when asked for."""

    size: int

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self.line(i) for i in range(*index.indices(self.size))]
        if index < 0:
            index += self.size
        if not 0 <= index < self.size:
            raise IndexError(index)
        return self.line(index)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self.line(i) for i in range(self.size))

    @staticmethod
    def line(i: int) -> dict[str, Any]:
        pair, credit = divmod(i, 2)
        day = date(2025, 1, 1) + timedelta(days=pair % 365)
        amount = money(Decimal(1 + (pair * 7919) % 500_000) / 100)
        account = ACCOUNTS[(pair + credit * 3) % len(ACCOUNTS)][0]
        iso = day.isoformat()
        return {"RECORDNO": str(50_000_000 + i), "BATCHNO": str(40_000_000 + pair), "JOURNAL": "GJ",
                "BATCH_DATE": iso, "BATCH_TITLE": "Historical activity", "REFERENCENO": f"HIST-{pair:07d}",
                "LINE_NO": str(credit + 1), "ENTRY_DATE": iso, "ACCOUNTNO": account,
                "TR_TYPE": "-1" if credit else "1", "TRX_AMOUNT": amount, "AMOUNT": amount, "CURRENCY": "KES",
                "DEPARTMENT": DEPARTMENTS[pair % len(DEPARTMENTS)][0],
                "LOCATION": LOCATIONS[pair % len(LOCATIONS)][0], "DESCRIPTION": f"history {pair}",
                "STATE": "Posted", "WHENCREATED": BULK_TIME, "WHENMODIFIED": BULK_TIME}


class Company:
    """One emulated company: its lists, its posted journals and the balances they make."""

    def __init__(self, *, bulk_lines: int = 0, currency: str = "KES") -> None:
        self.currency = currency
        self.accounts = [{"RECORDNO": str(i + 1), "ACCOUNTNO": no, "TITLE": title, "ACCOUNTTYPE": kind,
                          "NORMALBALANCE": normal, "CATEGORY": category, "STATUS": "active",
                          "WHENMODIFIED": SEED_TIME}
                         for i, (no, title, kind, normal, category) in enumerate(ACCOUNTS)]
        self.departments = [{"RECORDNO": str(i + 1), "DEPARTMENTID": d, "TITLE": t, "STATUS": "active",
                             "WHENMODIFIED": SEED_TIME} for i, (d, t) in enumerate(DEPARTMENTS)]
        self.locations = [{"RECORDNO": str(i + 1), "LOCATIONID": loc, "NAME": n, "STATUS": "active",
                           "WHENMODIFIED": SEED_TIME} for i, (loc, n) in enumerate(LOCATIONS)]
        self.journals = [{"RECORDNO": str(i + 1), "SYMBOL": s, "TITLE": t, "STATUS": "active",
                          "WHENMODIFIED": SEED_TIME} for i, (s, t) in enumerate(JOURNALS)]
        self.periods: list[dict[str, Any]] = []
        for year in (2025, 2026):  # 2025 and earlier closed; every month of 2026 open
            for month in range(1, 13):
                start = date(year, month, 1)
                self.periods.append({"RECORDNO": str(len(self.periods) + 1), "NAME": period_name(start),
                                     "HEADER1": start.strftime("%B %Y"), "HEADER2": "", "START_DATE": start.isoformat(),
                                     "END_DATE": month_end(start).isoformat(), "BUDGETING": "true",
                                     "STATUS": "active", "CLOSED": "true" if year < 2026 else "false",
                                     "WHENMODIFIED": SEED_TIME})
        self.batches: list[dict[str, Any]] = []
        self.lines: list[dict[str, Any]] = []
        self.bulk = BulkLines(bulk_lines)
        self.next_recordno = 1

    # -- lists --------------------------------------------------------------------------------

    def records(self, obj: str) -> Sequence[dict[str, Any]] | None:
        """The stored records of a readable object (GLENTRY includes the generated history)."""
        if obj == "GLENTRY":
            return _Chain(self.lines, self.bulk) if len(self.bulk) else self.lines
        return {"GLACCOUNT": self.accounts, "DEPARTMENT": self.departments, "LOCATION": self.locations,
                "GLJOURNAL": self.journals, "REPORTINGPERIOD": self.periods, "GLBATCH": self.batches}.get(obj)

    def period_of(self, day: str) -> dict[str, Any] | None:
        return next((p for p in self.periods if p["START_DATE"] <= day <= p["END_DATE"]), None)

    # -- posting ------------------------------------------------------------------------------

    def validate(self, node: Any) -> dict[str, Any]:
        """Read and check one GLBATCH element; returns the batch to post or raises GLBatchError.
        Each element's children are read once (`texts`): a request holds hundreds of journals."""
        header = texts(node)
        journal = header.get("JOURNAL", "")
        if not journal:
            raise GLBatchError("Required field JOURNAL is missing")
        if journal not in {j["SYMBOL"] for j in self.journals}:
            raise GLBatchError(f"Invalid Journal '{journal}'")
        raw_date = header.get("BATCH_DATE", "")
        try:
            batch_date = gateway_day(raw_date).isoformat()
        except ValueError:
            raise GLBatchError(f"BATCH_DATE '{raw_date}' is not a valid date (expected mm/dd/yyyy)") from None
        title = header.get("BATCH_TITLE", "")
        if not title:
            raise GLBatchError("Required field BATCH_TITLE is missing")
        period = self.period_of(batch_date)
        if period is None:
            raise GLBatchError(f"No reporting period covers {raw_date}")
        if period["CLOSED"] == "true":
            raise GLBatchError(f"Cannot post to {raw_date}: the period {period['NAME']} is closed")
        entries = node.findall("ENTRIES/GLENTRY")
        if len(entries) < 2:
            raise GLBatchError("A journal entry must have at least 2 lines")
        accounts = {a["ACCOUNTNO"]: a for a in self.accounts}
        departments = {d["DEPARTMENTID"] for d in self.departments}
        locations = {loc["LOCATIONID"] for loc in self.locations}
        lines, total = [], Decimal(0)
        for number, entry in enumerate(entries, start=1):
            line = texts(entry)
            account = line.get("ACCOUNTNO", "")
            if account not in accounts:
                raise GLBatchError(f"Line {number}: Invalid account number '{account}'")
            raw_amount = line.get("TRX_AMOUNT", "") or line.get("AMOUNT", "")
            try:
                amount = Decimal(raw_amount)
            except InvalidOperation:
                raise GLBatchError(f"Line {number}: TRX_AMOUNT '{raw_amount}' is not a number") from None
            if amount < 0:
                raise GLBatchError(f"Line {number}: TRX_AMOUNT must be a positive amount; use TR_TYPE for credits")
            tr_type = line.get("TR_TYPE", "")
            if tr_type not in ("1", "-1"):
                raise GLBatchError(f"Line {number}: TR_TYPE must be 1 (debit) or -1 (credit), not '{tr_type}'")
            department, location = line.get("DEPARTMENT", ""), line.get("LOCATION", "")
            if department and department not in departments:
                raise GLBatchError(f"Line {number}: Invalid Department '{department}'")
            if location and location not in locations:
                raise GLBatchError(f"Line {number}: Invalid Location '{location}'")
            total += amount * int(tr_type)
            cents = money(amount)
            lines.append({"LINE_NO": str(number), "ENTRY_DATE": batch_date, "ACCOUNTNO": account, "TR_TYPE": tr_type,
                          "TRX_AMOUNT": cents, "AMOUNT": cents, "CURRENCY": self.currency,
                          "DEPARTMENT": department or None, "LOCATION": location or None,
                          "DESCRIPTION": line.get("DESCRIPTION", "") or title})
        if total != 0:
            raise GLBatchError(f"Debits and credits must balance (out of balance by {money(abs(total))})")
        state = header.get("STATE", "") or "Posted"
        return {"JOURNAL": journal, "BATCH_DATE": batch_date, "BATCH_TITLE": title,
                "REFERENCENO": header.get("REFERENCENO", "") or None, "STATE": state, "lines": lines}

    def post(self, batch: dict[str, Any], controlid: str, now: str) -> str:
        """Record a validated batch; returns its RECORDNO."""
        recordno = str(self.next_recordno)
        self.next_recordno += 1
        header = {"RECORDNO": recordno, "BATCHNO": recordno, **{k: v for k, v in batch.items() if k != "lines"},
                  "WHENCREATED": now, "WHENMODIFIED": now, "controlid": controlid}
        lines = []
        for line in batch["lines"]:
            lines.append({"RECORDNO": f"{recordno}{int(line['LINE_NO']):04d}", "BATCHNO": recordno,
                          "JOURNAL": header["JOURNAL"], "BATCH_DATE": header["BATCH_DATE"],
                          "BATCH_TITLE": header["BATCH_TITLE"], "REFERENCENO": header["REFERENCENO"], **line,
                          "STATE": header["STATE"], "WHENCREATED": now, "WHENMODIFIED": now})
        header["lines"] = lines
        self.batches.append(header)
        self.lines.extend(lines)
        return recordno

    def restore(self, batches: list[dict[str, Any]], next_recordno: int) -> None:
        self.batches = batches
        self.lines = [line for batch in batches for line in batch["lines"]]
        self.next_recordno = next_recordno

    # -- balances -----------------------------------------------------------------------------

    def movements(self, start: str, end: str) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        """{account: (balance before start, debits, credits)} over posted lines (not the history)."""
        result: dict[str, list[Decimal]] = {a["ACCOUNTNO"]: [Decimal(0), Decimal(0), Decimal(0)] for a in self.accounts}
        for line in self.lines:
            if line["STATE"] != "Posted" or line["ENTRY_DATE"] > end:
                continue
            amount = Decimal(line["TRX_AMOUNT"])
            slot = result[line["ACCOUNTNO"]]
            if line["ENTRY_DATE"] < start:
                slot[0] += amount if line["TR_TYPE"] == "1" else -amount
            elif line["TR_TYPE"] == "1":
                slot[1] += amount
            else:
                slot[2] += amount
        return {account: (v[0], v[1], v[2]) for account, v in result.items()}

    def trial_balance(self, start: str, end: str, book: str, zero: bool) -> list[dict[str, str]]:
        rows = []
        for account, (opening, debits, credits) in self.movements(start, end).items():
            if not zero and not (opening or debits or credits):
                continue
            rows.append({"glaccountno": account, "startbalance": money(opening), "debits": money(debits),
                         "credits": money(credits), "adjdebits": "0.00", "adjcredits": "0.00",
                         "endbalance": money(opening + debits - credits), "reportingbook": book,
                         "currency": self.currency})
        return rows

    def account_balances(self, period_name_: str) -> list[dict[str, Any]] | None:
        period = next((p for p in self.periods if p["NAME"] == period_name_), None)
        if period is None:
            return None
        rows = []
        for account, (opening, debits, credits) in self.movements(period["START_DATE"], period["END_DATE"]).items():
            rows.append({"ACCOUNTNO": account, "PERIOD": period["NAME"], "OPENBAL": money(opening),
                         "TOTDEBIT": money(debits), "TOTCREDIT": money(credits), "TOTADJDEBIT": "0.00",
                         "TOTADJCREDIT": "0.00", "FORBAL": money(opening + debits - credits),
                         "ENDBAL": money(opening + debits - credits), "BOOKID": "ACCRUAL",
                         "CURRENCY": self.currency})
        return rows


class _Chain(Sequence[dict[str, Any]]):
    """Stored lines followed by generated history, as one sequence."""

    def __init__(self, first: Sequence[dict[str, Any]], second: Sequence[dict[str, Any]]) -> None:
        self.first, self.second = first, second

    def __len__(self) -> int:
        return len(self.first) + len(self.second)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self.first[index] if index < len(self.first) else self.second[index - len(self.first)]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self.first
        yield from self.second
