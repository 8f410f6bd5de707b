"""Journals as any ledger sees them, built from push units whatever the ledger calls its fields.

A ledger adapter describes its field names once in a `JournalLayout` (Intacct: `BATCH_DATE`,
`ACCOUNTNO`, `TRX_AMOUNT` + `TR_TYPE`; Workday: `Accounting_Date`, `Debit_Amount`/`Credit_Amount`)
and `build_journal()` turns the engine's remote-shaped records into one `Journal` with signed
Decimal amounts (debit positive, credit negative). Anything that cannot be read is a
`JournalError` whose message becomes the unit's reject reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from migo_sync.adapter import PushUnit

DEBIT_WORDS = frozenset({"1", "debit", "dr", "d"})
CREDIT_WORDS = frozenset({"-1", "credit", "cr", "c"})
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")


class JournalError(ValueError):
    """A unit cannot be read as a journal; `str()` is the reject reason."""


@dataclass(frozen=True)
class JournalLayout:
    """Which remote fields carry which part of a journal, for one ledger.

    Amounts come in one of three shapes: `amount` alone (signed: debit positive, credit
    negative); `amount` + `side` (absolute amount, side 1/-1 or debit/credit); or `debit` +
    `credit` (two non-negative columns, one of them empty or zero). `dimensions` maps a dimension
    kind as the chart names it ("department") to the line field holding its value id.
    `header_fields` are other fields that belong to the journal, not the line: every line of a
    journal must agree on them.
    """

    posting_date: str
    account: str
    amount: str | None = None
    side: str | None = None
    debit: str | None = None
    credit: str | None = None
    symbol: str | None = None
    title: str | None = None
    reference: str | None = None
    memo: str | None = None
    dimensions: Mapping[str, str] = field(default_factory=dict)
    header_fields: frozenset[str] = frozenset()
    scale: int = 2

    def __post_init__(self) -> None:
        if self.amount is None and (self.debit is None or self.credit is None):
            raise ValueError("a journal layout needs `amount` (with optional `side`) or `debit` + `credit`")

    @property
    def headers(self) -> tuple[str, ...]:
        """Every field that is journal-level, in a stable order."""
        named = (self.posting_date, self.symbol, self.title, self.reference)
        return tuple(f for f in named if f) + tuple(sorted(self.header_fields))


@dataclass(frozen=True, slots=True)
class JournalLine:
    """One line: signed amount (debit > 0), account, dimension value ids, memo, other fields."""

    number: int
    account: str
    amount: Decimal
    dimensions: Mapping[str, str]
    memo: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_debit(self) -> bool:
        return self.amount >= 0


@dataclass(frozen=True, slots=True)
class Journal:
    """One balanced-or-not journal entry; `checks.py` decides whether it may be sent."""

    key: str
    idempotency_key: str
    posting_date: date
    lines: tuple[JournalLine, ...]
    symbol: str | None = None
    title: str | None = None
    reference: str | None = None
    header: Mapping[str, Any] = field(default_factory=dict)

    @property
    def debits(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.amount > 0), Decimal(0))

    @property
    def credits(self) -> Decimal:
        """Total credits as a positive number."""
        return -sum((line.amount for line in self.lines if line.amount < 0), Decimal(0))


def to_decimal(value: Any, what: str) -> Decimal:
    """Exact Decimal from what the engine hands over; floats go through their shortest repr."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise JournalError(f"{what} is a boolean, not an amount")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str) and value.strip():
        try:
            result = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            raise JournalError(f"{what} '{value}' is not a number") from None
    else:
        raise JournalError(f"{what} is missing")
    if not result.is_finite():
        raise JournalError(f"{what} '{value}' is not a finite number")
    return result


def to_date(value: Any, what: str) -> date:
    """A date from a date, a datetime, or text in ISO or mm/dd/yyyy form."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        for fmt in DATE_FORMATS:
            try:
                return datetime.strptime(value.strip(), fmt).date()
            except ValueError:
                continue
        raise JournalError(f"{what} '{value}' is not a date (expected YYYY-MM-DD or mm/dd/yyyy)")
    raise JournalError(f"{what} is missing")


def _side(value: Any, what: str) -> int:
    text = str(value).strip().lower() if value is not None else ""
    if text in DEBIT_WORDS:
        return 1
    if text in CREDIT_WORDS:
        return -1
    raise JournalError(f"{what} '{value}' is not a debit/credit marker (1, -1, debit, credit)")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def line_amount(record: Mapping[str, Any], layout: JournalLayout, number: int) -> Decimal:
    """The signed amount of one record, whichever amount shape the layout uses."""
    where = f"line {number}"
    if layout.amount is not None:
        amount = to_decimal(record.get(layout.amount), f"{where}: {layout.amount}")
        if layout.side is None:
            return amount
        if amount < 0:
            raise JournalError(f"{where}: {layout.amount} {amount} must be absolute when {layout.side} is given")
        return amount * _side(record.get(layout.side), f"{where}: {layout.side}")
    assert layout.debit is not None and layout.credit is not None
    debit_raw, credit_raw = record.get(layout.debit), record.get(layout.credit)
    debit = to_decimal(debit_raw, f"{where}: {layout.debit}") if _text(debit_raw) else Decimal(0)
    credit = to_decimal(credit_raw, f"{where}: {layout.credit}") if _text(credit_raw) else Decimal(0)
    if debit < 0 or credit < 0:
        raise JournalError(f"{where}: {layout.debit}/{layout.credit} must not be negative")
    if debit and credit:
        raise JournalError(f"{where}: both {layout.debit} and {layout.credit} are set")
    return debit - credit


def build_journal(unit: PushUnit, layout: JournalLayout) -> Journal:
    """Read one push unit as a journal; raises JournalError with the reject reason."""
    if not unit.records:
        raise JournalError("journal has no lines")
    first = unit.records[0]
    for name in layout.headers:
        values = {_text(r.get(name)) for r in unit.records}
        if len(values) > 1:
            shown = ", ".join(sorted(str(v) for v in values))
            raise JournalError(f"lines disagree on journal field {name}: {shown}")
    posting_date = to_date(first.get(layout.posting_date), layout.posting_date)
    line_fields = {layout.account, layout.amount, layout.side, layout.debit, layout.credit, layout.memo,
                   *layout.dimensions.values(), *layout.headers}
    lines = []
    for number, record in enumerate(unit.records, start=1):
        account = _text(record.get(layout.account))
        if account is None:
            raise JournalError(f"line {number}: {layout.account} is missing")
        dimensions = {kind: text for kind, name in layout.dimensions.items()
                      if (text := _text(record.get(name))) is not None}
        extra = {k: v for k, v in record.items() if k not in line_fields and v is not None}
        lines.append(JournalLine(number=number, account=account, amount=line_amount(record, layout, number),
                                 dimensions=dimensions, memo=_text(record.get(layout.memo)) if layout.memo else None,
                                 extra=extra))
    header = {name: first.get(name) for name in layout.header_fields if first.get(name) is not None}
    return Journal(
        key=unit.key,
        idempotency_key=unit.idempotency_key,
        posting_date=posting_date,
        lines=tuple(lines),
        symbol=_text(first.get(layout.symbol)) if layout.symbol else None,
        title=_text(first.get(layout.title)) if layout.title else None,
        reference=_text(first.get(layout.reference)) if layout.reference else None,
        header=header,
    )


def build_journals(units: Sequence[PushUnit], layout: JournalLayout) -> tuple[list[Journal], dict[str, str]]:
    """Every unit as a journal, or its reject reason: (journals, {unit key: reason})."""
    journals: list[Journal] = []
    rejects: dict[str, str] = {}
    for unit in units:
        try:
            journals.append(build_journal(unit, layout))
        except JournalError as exc:
            rejects[unit.key] = str(exc)
    return journals, rejects
