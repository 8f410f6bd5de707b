"""Journals built from push units: amounts in the three shapes, dates, and unreadable units; a batch
read once (BuiltJournals) and the locators kept with the intents."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import pytest
from ledger.ledger_support import LAYOUT, journal_mapping, unit

from migo_sync.adapter import PushUnit
from migo_sync.ledger import BuiltJournals, Journal, JournalError, JournalLayout, build_journal
from migo_sync.ledger.journal import build_journals
from migo_sync.ledger.port import journal_locators


def test_signed_amounts_become_debits_and_credits() -> None:
    journal = build_journal(unit("J1", [("1100", "250.10"), ("1000", "-250.10")]), LAYOUT)
    assert [line.amount for line in journal.lines] == [Decimal("250.10"), Decimal("-250.10")]
    assert journal.debits == journal.credits == Decimal("250.10")
    assert (journal.symbol, journal.title, journal.reference) == ("GJ", "journal J1", "J1")
    assert journal.lines[0].dimensions == {"department": "OPS", "location": "NBO"}
    assert journal.lines[1].memo == "line 2"


def test_absolute_amount_with_side_marker() -> None:
    layout = JournalLayout(posting_date="date", account="account", amount="amount", side="side")
    records = [{"date": "10/14/2026", "account": "1100", "amount": Decimal("5"), "side": 1},
               {"date": "10/14/2026", "account": "1000", "amount": "5.00", "side": "credit"}]
    journal = build_journal(PushUnit("J", "k", records, ["a", "b"]), layout)
    assert [line.amount for line in journal.lines] == [Decimal("5"), Decimal("-5.00")]
    assert journal.posting_date == date(2026, 10, 14)


def test_debit_and_credit_columns() -> None:
    layout = JournalLayout(posting_date="d", account="a", debit="dr", credit="cr")
    records = [{"d": datetime(2026, 1, 2, 3, 4), "a": "1", "dr": Decimal("7.5"), "cr": None},
               {"d": datetime(2026, 1, 2, 3, 4), "a": "2", "dr": "", "cr": 7.5}]
    journal = build_journal(PushUnit("J", "k", records, ["a", "b"]), layout)
    assert [line.amount for line in journal.lines] == [Decimal("7.5"), Decimal("-7.5")]


def test_floats_are_read_through_their_repr_not_binary() -> None:
    journal = build_journal(unit("J", [("1100", "0"), ("1000", "0")]), LAYOUT)
    assert journal.lines[0].amount == 0
    layout = JournalLayout(posting_date="date", account="account", amount="amount")
    records = [{"date": "2026-10-01", "account": "1", "amount": 0.1}, {"date": "2026-10-01", "account": "2", "amount": 0.2}]
    assert sum(line.amount for line in build_journal(PushUnit("J", "k", records, []), layout).lines) == Decimal("0.3")


@pytest.mark.parametrize(("records", "reason"), [
    ([], "journal has no lines"),
    ([{"date": "2026-10-01", "account": None, "amount": "1"}], "line 1: account is missing"),
    ([{"date": "2026-10-01", "account": "1", "amount": "abc"}], "line 1: amount 'abc' is not a number"),
    ([{"date": "2026-10-01", "account": "1", "amount": None}], "line 1: amount is missing"),
    ([{"date": "2026-10-01", "account": "1", "amount": True}], "line 1: amount is a boolean, not an amount"),
    ([{"date": "14.10.2026", "account": "1", "amount": "1"}], "date '14.10.2026' is not a date"),
    ([{"date": None, "account": "1", "amount": "1"}], "date is missing"),
    ([{"date": "2026-10-01", "account": "1", "amount": "1"}, {"date": "2026-10-02", "account": "2", "amount": "-1"}],
     "lines disagree on journal field date: 2026-10-01, 2026-10-02"),
])
def test_unreadable_units_are_journal_errors(records: list[dict[str, object]], reason: str) -> None:
    with pytest.raises(JournalError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        build_journal(PushUnit("J", "k", records, []), LAYOUT)


def test_side_requires_absolute_amounts_and_a_known_marker() -> None:
    layout = JournalLayout(posting_date="d", account="a", amount="x", side="s")
    with pytest.raises(JournalError, match="must be absolute"):
        build_journal(PushUnit("J", "k", [{"d": "2026-01-01", "a": "1", "x": "-1", "s": 1}], []), layout)
    with pytest.raises(JournalError, match="not a debit/credit marker"):
        build_journal(PushUnit("J", "k", [{"d": "2026-01-01", "a": "1", "x": "1", "s": "up"}], []), layout)


def test_debit_and_credit_on_one_line_is_refused() -> None:
    layout = JournalLayout(posting_date="d", account="a", debit="dr", credit="cr")
    with pytest.raises(JournalError, match="both dr and cr are set"):
        build_journal(PushUnit("J", "k", [{"d": "2026-01-01", "a": "1", "dr": "1", "cr": "1"}], []), layout)


def test_a_layout_needs_an_amount_shape() -> None:
    with pytest.raises(ValueError, match="needs `amount`"):
        JournalLayout(posting_date="d", account="a", debit="dr")


def test_build_journals_splits_readable_from_unreadable() -> None:
    good = unit("OK", [("1100", "1"), ("1000", "-1")])
    bad = unit("BAD", [("1100", "x")])
    journals, rejects = build_journals([good, bad], LAYOUT)
    assert [j.key for j in journals] == ["OK"]
    assert rejects == {"BAD": "line 1: amount 'x' is not a number"}


def test_a_batch_is_read_as_journals_once_and_only_for_the_very_same_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """BuiltJournals: the checks and the write reuse the journals read for these unit objects (a subset
    included); a new batch, or another unit object with the same key, is read afresh."""
    from migo_sync.ledger import port

    read: list[str] = []
    original = port.build_journals

    def counted(units: list[PushUnit], layout: JournalLayout) -> tuple[list[Journal], dict[str, str]]:
        read.extend(u.key for u in units)
        return original(units, layout)

    monkeypatch.setattr(port, "build_journals", counted)
    built = BuiltJournals()
    units = [unit("J1", [("1100", "1"), ("1000", "-1")]), unit("J2", [("1100", "2")]),
             PushUnit("J3", "k3", [], [])]
    journals, rejects = built.build(units, LAYOUT)
    assert ([j.key for j in journals], sorted(rejects)) == (["J1", "J2"], ["J3"])
    assert (journals, rejects) == build_journals(units, LAYOUT)
    again, _ = built.build(units[:2], LAYOUT)  # the write: the sendable part of the batch
    assert again[0] is journals[0] and read == ["J1", "J2", "J3"]
    changed = unit("J1", [("1100", "5"), ("1000", "-5")])  # same key, another unit: not the old journal
    fresh, _ = built.build([changed], LAYOUT)
    assert fresh[0].lines[0].amount == Decimal("5") and read == ["J1", "J2", "J3", "J1"]


def test_the_locators_kept_with_the_intents_are_the_journals_reference_and_date() -> None:
    units = [unit("J1", [("1100", "1"), ("1000", "-1")]), unit("J2", [("1100", "2")], day="10/15/2026"),
             PushUnit("J3", "k3", [], [])]
    port = type("Port", (), {"journal_layout": lambda self, mapping: LAYOUT})()
    found = journal_locators(port, journal_mapping(), units)  # type: ignore[arg-type]
    assert found[:2] == [json.dumps({"reference": j.reference, "date": j.posting_date.isoformat()}, sort_keys=True)
                         for j in (build_journal(u, LAYOUT) for u in units[:2])]
    assert found[2] is None
