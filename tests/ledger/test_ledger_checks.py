"""The pre-send journal checks: one case per rejection reason, plus what passes."""

from __future__ import annotations

from datetime import date

import pytest
from ledger.ledger_support import LAYOUT, MemoryLedger, chart, journal_mapping, unit

from migo_sync.ledger import build_journal, check_journal, check_journals, check_units, write_units

CASES = [
    ("one line", [("1100", "0.00")], date(2026, 10, 14),
     "journal has 1 line; at least 2 are required"),
    ("unbalanced by a cent", [("1100", "100.00"), ("1000", "-99.99")], date(2026, 10, 14),
     "unbalanced: debits 100.00 ≠ credits 99.99 (off by 0.01)"),
    ("fraction of a cent", [("1100", "0.005"), ("1000", "-0.005")], date(2026, 10, 14),
     "line 1: amount 0.005 has more than 2 decimal places"),
    ("closed period", [("1100", "1"), ("1000", "-1")], date(2025, 12, 31),
     "posting date 2025-12-31 falls in closed period 2025-12"),
    ("no period", [("1100", "1"), ("1000", "-1")], date(2027, 1, 4),
     "posting date 2027-01-04 is in no ledger period"),
    ("unknown account", [("1100", "1"), ("9999", "-1")], date(2026, 10, 14),
     "line 2: unknown account '9999'"),
    ("inactive account", [("9000", "1"), ("1000", "-1")], date(2026, 10, 14),
     "line 1: account '9000' is inactive"),
]


@pytest.mark.parametrize(("name", "lines", "day", "reason"), CASES, ids=[c[0] for c in CASES])
def test_each_rejection_reason(name: str, lines: list[tuple[str, str]], day: date, reason: str) -> None:
    assert check_journal(build_journal(unit("J", lines, day), LAYOUT), chart()) == [reason]


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("dept", "XYZ", "line 1: unknown department 'XYZ'; line 2: unknown department 'XYZ'"),
    ("loc", "LON", "line 1: unknown location 'LON'; line 2: unknown location 'LON'"),
])
def test_unknown_dimension_values(field: str, value: str, reason: str) -> None:
    journal = build_journal(unit("J", [("1100", "1"), ("1000", "-1")], **{field: value}), LAYOUT)
    assert check_journal(journal, chart()) == [reason]


def test_a_dimension_kind_the_chart_does_not_list_is_not_checked() -> None:
    journal = build_journal(unit("J", [("1100", "1"), ("1000", "-1")], dept="ANY"), LAYOUT)
    assert check_journal(journal, chart(dimensions={"location": frozenset({"NBO"})})) == []


def test_balanced_to_the_cent_passes_with_many_lines() -> None:
    lines = [("1100", "0.10"), ("1100", "0.20"), ("4000", "-0.30"), ("5000", "1234567.89"), ("1000", "-1234567.89")]
    assert check_journal(build_journal(unit("J", lines), LAYOUT), chart()) == []


def test_every_reason_of_one_journal_is_reported() -> None:
    journal = build_journal(unit("J", [("9999", "5")], date(2025, 1, 1)), LAYOUT)
    reasons = check_journal(journal, chart())
    assert len(reasons) == 4 and reasons[0].startswith("journal has 1 line")


def test_check_journals_returns_only_the_failing_ones() -> None:
    journals = [build_journal(unit(k, lines), LAYOUT) for k, lines in
                [("A", [("1100", "1"), ("1000", "-1")]), ("B", [("1100", "1"), ("1000", "-2")])]]
    assert list(check_journals(journals, chart())) == ["B"]


def test_period_lookup_at_the_edges() -> None:
    the_chart = chart()
    assert the_chart.period_for(date(2026, 10, 1)).key == "2026-10"  # type: ignore[union-attr]
    assert the_chart.period_for(date(2026, 10, 31)).key == "2026-10"  # type: ignore[union-attr]
    assert the_chart.period_for(date(2024, 12, 31)) is None


def test_check_units_and_write_units_for_any_ledger() -> None:
    ledger = MemoryLedger()
    mapping = journal_mapping()
    units = [unit("A", [("1100", "1"), ("1000", "-1")]), unit("B", [("1100", "oops"), ("1000", "-1")])]
    assert check_units(ledger, mapping, units, chart()) == {"B": "line 1: amount 'oops' is not a number"}
    results = write_units(ledger, mapping, units)
    assert [(r.key, r.ok, r.duplicate) for r in results] == [("A", True, False), ("B", False, False)]
    assert write_units(ledger, mapping, units[:1])[0].duplicate is True
    assert len(ledger.posted) == 1
