"""The ledger port: the small contract every ledger adapter (Intacct, Workday, …) implements.

The engine still drives a ledger through the ordinary `Adapter` hooks; a ledger adapter
implements them with the helpers below, so the journal checks, the idempotent write and the
reconciliation are the same code for every ledger:

    check(mapping, units)  → `check_units(self, mapping, units, chart)`  (build journals, check them)
    write(mapping, units)  → `write_units(self, mapping, units)`         (unreadable ones rejected, rest posted)

The port itself only speaks ledger: post journals, read journal lines and balances, list
accounts, dimension values and periods.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from migo_sync.adapter import PushUnit, UnitResult
from migo_sync.ledger.checks import CHECKS, Account, Chart, Check, Period, check_journals
from migo_sync.ledger.journal import Journal, JournalError, JournalLayout, _text, build_journals, to_date

if TYPE_CHECKING:
    from migo_sync.mapping.model import Mapping


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """Movement of one account over one period (debits and credits as positive numbers)."""

    account: str
    debits: Decimal
    credits: Decimal
    start_balance: Decimal | None = None
    end_balance: Decimal | None = None

    @property
    def net(self) -> Decimal:
        """Debits minus credits: the same sign convention as a journal line."""
        return self.debits - self.credits


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """One posted line as read back from a ledger (signed amount, debit positive)."""

    journal: str
    posting_date: date
    account: str
    amount: Decimal
    dimensions: dict[str, str] = field(default_factory=dict)
    reference: str | None = None
    memo: str | None = None


@dataclass(frozen=True, slots=True)
class PostedJournal:
    """A journal the ledger already holds: its id there and its lines as the ledger reads them."""

    remote_id: str
    lines: tuple[LedgerLine, ...]
    by_key: bool = False  # found by the journal's own idempotency key (Workday Accounting_Journal_ID)


@runtime_checkable
class LedgerPort(Protocol):
    """What every ledger offers. `journal_object` is the catalog object journals are pushed as
    (Intacct `GLBATCH`); `journal_layout(mapping)` names its fields for one mapping."""

    name: str
    journal_object: str

    def journal_layout(self, mapping: Mapping) -> JournalLayout:
        """Which remote fields of `mapping` carry date, account, amount, dimensions, …"""
        ...

    def post_journals(self, journals: Sequence[Journal]) -> list[UnitResult]:
        """Post journals idempotently (keyed by `Journal.idempotency_key`): one result each,
        `duplicate=True` when the ledger already holds it."""
        ...

    def find_journals(self, journals: Sequence[Journal]) -> dict[str, PostedJournal]:
        """The journals the ledger already holds, by journal key, looked up the way the ledger
        allows (Intacct: GLENTRY by REFERENCENO; Workday: Get_Journals by Accounting_Journal_ID).
        Asked before anything is posted: the second line of defence against a double post."""
        ...

    def read_journal_lines(self, start: date, end: date) -> Iterator[list[LedgerLine]]:
        """Posted lines with a posting date in [start, end], streamed in pages."""
        ...

    def read_balances(self, period: Period) -> list[AccountBalance]:
        """Movement per account over one period, as the ledger computes it."""
        ...

    def list_accounts(self) -> list[Account]: ...

    def list_dimensions(self) -> dict[str, list[str]]:
        """Dimension value ids by kind, e.g. {"department": ["OPS", …], "location": [...]}."""
        ...

    def list_periods(self) -> list[Period]: ...

    def chart(self) -> Chart:
        """Accounts, dimension values and periods, read once per adapter (one run) and shared by
        every mapping's checks and the reconciliation (`load_chart` the first time)."""
        ...


def as_ledger(adapter: Any) -> LedgerPort | None:
    """The adapter as a ledger, or None when its system is not one."""
    return adapter if isinstance(adapter, LedgerPort) else None


def load_chart(port: LedgerPort) -> Chart:
    """Pull the live chart (accounts, dimension values, periods) from the ledger."""
    return Chart(
        accounts={account.number: account for account in port.list_accounts()},
        dimensions={kind: frozenset(values) for kind, values in port.list_dimensions().items()},
        periods=port.list_periods(),
    )


class HeldAhead:
    """The journals a batch's ledger already holds, looked up while the batch's checks read the
    chart (Intacct: in the same request; Workday: beside it) and used once, by the batch's write.

    `write_units` must know what the ledger holds before it posts (the ledger does not refuse a
    second journal with the same reference); asked again at write time, that look-up is a round
    trip after the chart's. Only a write of the same journals (or some of them: the checks may
    reject a few) uses it, and only the next one; anything else asks the ledger again.
    """

    def __init__(self) -> None:
        self._asked: dict[str, tuple[str, str | None, date]] = {}
        self._found: dict[str, PostedJournal] = {}

    @staticmethod
    def _identity(journal: Journal) -> tuple[str, str | None, date]:
        return journal.idempotency_key, journal.reference, journal.posting_date

    def keep(self, journals: Sequence[Journal], found: dict[str, PostedJournal]) -> None:
        self._asked = {journal.key: self._identity(journal) for journal in journals}
        self._found = dict(found)

    def take(self, journals: Sequence[Journal]) -> dict[str, PostedJournal] | None:
        """What the look-up found for these journals, or None when it did not ask for all of them."""
        asked, found = self._asked, self._found
        self._asked, self._found = {}, {}
        if not asked or any(asked.get(journal.key) != self._identity(journal) for journal in journals):
            return None
        keys = {journal.key for journal in journals}
        return {key: held for key, held in found.items() if key in keys}


class BuiltJournals:
    """Each unit of a batch read as a journal once: a ledger's checks read the batch before the look-up
    and again against the chart, and its write a third time (a third of a journal push's client work).

    Kept for the engine's very unit objects of the last batch asked for (never a copy, never another
    batch's unit with the same key): a unit the engine hands over again is the same journal."""

    def __init__(self) -> None:
        self._units: dict[str, tuple[PushUnit, Journal | None, str | None]] = {}

    def build(self, units: Sequence[PushUnit], layout: JournalLayout) -> tuple[list[Journal], dict[str, str]]:
        """`build_journals(units, layout)`, reading only the units not read before."""
        fresh = [unit for unit in units if (known := self._units.get(unit.key)) is None or known[0] is not unit]
        if fresh:
            if len(fresh) == len(units):  # a new batch: the last one's journals are not needed again
                self._units = {}
            journals, rejects = build_journals(fresh, layout)
            by_key = {journal.key: journal for journal in journals}
            for unit in fresh:
                self._units[unit.key] = (unit, by_key.get(unit.key), rejects.get(unit.key))
        out: list[Journal] = []
        failed: dict[str, str] = {}
        for unit in units:
            _, journal, reason = self._units[unit.key]
            if journal is not None:
                out.append(journal)
            else:
                failed[unit.key] = reason or "journal could not be read"
        return out, failed


def check_units(port: LedgerPort, mapping: Mapping, units: Sequence[PushUnit], chart: Chart,
                checks: Sequence[Check] = CHECKS, built: BuiltJournals | None = None) -> dict[str, str]:
    """Pre-send checks for the engine's `adapter.check()`: {unit key: reason} to reject."""
    layout = port.journal_layout(mapping)
    journals, rejects = built.build(units, layout) if built is not None else build_journals(units, layout)
    rejects.update(check_journals(journals, chart, checks))
    return rejects


def write_units(port: LedgerPort, mapping: Mapping, units: Sequence[PushUnit],
                built: BuiltJournals | None = None) -> list[UnitResult]:
    """The engine's `adapter.write()` for a ledger: one result per unit, in unit order.

    Before posting, the ledger is asked which of the journals it already holds. For a unit this
    feed may have sent before (`resend`: an intent never confirmed, or `--full`) or one found by
    its own idempotency key, a journal held with the same lines is already sent: confirmed with
    the ledger's id, not posted again; one held with other lines is refused with the remedy,
    never recorded as sent with values the ledger does not have. Any other unit whose reference
    the ledger already holds was posted by another feed or outside migo-sync: refused, not sent.
    A journal posted (or refused as a duplicate) without the ledger's id is looked up once more.
    """
    layout = port.journal_layout(mapping)
    journals, rejects = built.build(units, layout) if built is not None else build_journals(units, layout)
    held = port.find_journals(journals) if journals else {}
    resend = {unit.key for unit in units if unit.resend}
    settled: dict[str, UnitResult] = {}
    for journal in journals:
        found = held.get(journal.key)
        if found is None:
            continue
        if journal.key not in resend and not found.by_key:
            settled[journal.key] = UnitResult(journal.key, ok=False, reason=(
                f"journal reference {journal.reference} is already in the ledger (id {found.remote_id}), posted by "
                f"another feed or outside migo-sync: not sent (if this mapping continues that feed, say so with "
                f"`continues:`)"))
            continue
        difference = differences(journal, found)
        if difference is None:
            settled[journal.key] = UnitResult(journal.key, ok=True, remote_id=found.remote_id, duplicate=True)
        else:
            settled[journal.key] = UnitResult(journal.key, ok=False, remote_id=found.remote_id, held_differs=True,
                                              reason=(f"the ledger already holds journal {journal.reference or journal.key} "
                                                      f"(id {found.remote_id}) with other values ({difference}): not "
                                                      f"posted again; post a reversing entry"))
    fresh = [j for j in journals if j.key not in settled]
    posted = {result.key: result for result in port.post_journals(fresh)} if fresh else {}
    # The ledger's id is always recorded: an answer without one (a batch import acknowledges the
    # batch only; a refused duplicate) is completed by one more look-up of those journals.
    unnamed = [j for j in fresh if (r := posted.get(j.key)) is not None and r.ok and not r.remote_id]
    if unnamed:
        for key, found in port.find_journals(unnamed).items():
            posted[key].remote_id = found.remote_id
    posted.update(settled)
    results = []
    for unit in units:
        if unit.key in rejects:
            results.append(UnitResult(key=unit.key, ok=False, reason=rejects[unit.key]))
        else:
            results.append(posted.get(unit.key) or UnitResult(key=unit.key, ok=False,
                                                              reason="the ledger returned no result for it"))
    return results


def journal_locator(port: LedgerPort, mapping: Mapping, unit: PushUnit) -> str | None:
    """What the engine keeps with a journal's intent so the ledger can be asked about it once its
    rows are gone from the warehouse (`find_sent_journals`): its reference and posting date, the
    keys of the look-up before posting. None when they cannot be read (no line, no date, lines
    that disagree on them)."""
    return journal_locators(port, mapping, [unit])[0]


def journal_locators(port: LedgerPort, mapping: Mapping, units: Sequence[PushUnit]) -> list[str | None]:
    """`journal_locator` of each unit, the layout named once. A unit whose lines agree on its header
    (every unit the checks passed) is read from its first line alone, as `build_journal` reads it."""
    layout = port.journal_layout(mapping)
    out: list[str | None] = []
    for unit in units:
        try:
            if not unit.records or any(len({_text(r.get(name)) for r in unit.records}) > 1 for name in layout.headers):
                raise JournalError("not one journal")  # build_journal says which: not needed here
            first = unit.records[0]
            posting_date = to_date(first.get(layout.posting_date), layout.posting_date)
        except JournalError:
            out.append(None)
            continue
        reference = _text(first.get(layout.reference)) if layout.reference else None
        out.append(json.dumps({"reference": reference, "date": posting_date.isoformat()}, sort_keys=True))
    return out


def find_sent_journals(port: LedgerPort, sent: Sequence[tuple[str, str, str]]) -> dict[str, str]:
    """{unit key: the ledger's id} of the journals it holds among `sent`: (unit key, idempotency
    key, locator) of journals an earlier run may have posted and whose rows are gone since. One
    batched look-up (`find_journals`, by reference / journal ID over their posting dates)."""
    journals = []
    for key, idempotency, locator in sent:
        found = json.loads(locator)
        journals.append(Journal(key=key, idempotency_key=idempotency, posting_date=date.fromisoformat(found["date"]),
                                lines=(), reference=found.get("reference")))
    return {key: held.remote_id for key, held in port.find_journals(journals).items()} if journals else {}


def differences(journal: Journal, held: PostedJournal) -> str | None:
    """None when the ledger holds exactly the journal's lines (date, account, signed amount,
    dimension values); else a short description of the first difference."""
    def line_text(day: date, account: str, amount: Decimal, dims: dict[str, str]) -> str:
        extra = "".join(f" {k}={v}" for k, v in sorted(dims.items()))
        return f"{day.isoformat()} {account} {amount.normalize():f}{extra}"

    sending = Counter(line_text(journal.posting_date, line.account, line.amount,
                                {k: v for k, v in line.dimensions.items() if v}) for line in journal.lines)
    holding = Counter(line_text(line.posting_date, line.account, line.amount,
                                {k: v for k, v in line.dimensions.items() if v}) for line in held.lines)
    if sending == holding:
        return None
    only_held = sorted((holding - sending).elements())
    only_sent = sorted((sending - holding).elements())
    return (f"ledger has {only_held[0] if only_held else 'no such line'}, "
            f"warehouse has {only_sent[0] if only_sent else 'no such line'}")

