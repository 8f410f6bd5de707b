"""The ledger side of migo-sync, shared by every ledger (Sage Intacct, Workday Financials, …).

- `journal.py`   Journal/JournalLine built from push units through a per-ledger `JournalLayout`
- `checks.py`    pre-send checks (≥ 2 lines, balanced to the cent, open period, known values)
- `port.py`      the `LedgerPort` protocol, plus the check/write helpers ledger adapters call
- `reconcile.py` warehouse totals per account and period versus the ledger's own balances
"""

from __future__ import annotations

from migo_sync.ledger.checks import Account, Chart, Period, check_journal, check_journals
from migo_sync.ledger.journal import Journal, JournalError, JournalLayout, JournalLine, build_journal
from migo_sync.ledger.port import (
    AccountBalance,
    BuiltJournals,
    HeldAhead,
    LedgerLine,
    LedgerPort,
    PostedJournal,
    as_ledger,
    check_units,
    load_chart,
    write_units,
)

__all__ = [
    "Account",
    "AccountBalance",
    "BuiltJournals",
    "Chart",
    "HeldAhead",
    "Journal",
    "JournalError",
    "JournalLayout",
    "JournalLine",
    "LedgerLine",
    "LedgerPort",
    "Period",
    "PostedJournal",
    "as_ledger",
    "build_journal",
    "check_journal",
    "check_journals",
    "check_units",
    "load_chart",
    "write_units",
]
