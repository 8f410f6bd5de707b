"""Rows no journal system can take, put into the seeded lending dataset: shared by the Intacct and
Workday hostile tests (one bad journal must never hold back the good ones)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from helpers.sandboxed import journal_ids
from migo_sync.config import Project
from migo_sync.engine.runner import RunOptions, run
from migo_sync.warehouse import open_warehouse


def poison(project: Project) -> list[str]:
    """A NUL in one journal's memo, a NULL key column in another's line, a duplicated line in a
    third; returns the journal ids in order (the three poisoned first)."""
    ids = journal_ids(project)
    warehouse = open_warehouse(project)
    try:
        warehouse.execute(f"UPDATE lending.journal_lines SET memo = 'ok' || chr(0) || 'x' "
                          f"WHERE journal_id = '{ids[0]}' AND line_no = 1")
        warehouse.execute(f"UPDATE lending.journal_lines SET line_no = NULL WHERE journal_id = '{ids[1]}' AND line_no = 2")
        warehouse.execute(f"INSERT INTO lending.journal_lines SELECT * FROM lending.journal_lines "
                          f"WHERE journal_id = '{ids[2]}' AND line_no = 1")
    finally:
        warehouse.close()
    return ids


def push_poisoned(project: Project, mapping: str, memo_field: str, posted: Callable[[], Counter[str]]) -> None:
    """Push after `poison()` and assert what every journal system must do: the three bad journals
    rejected row by row (counted once each) with their reasons, nothing left pending, every other
    journal posted once, and a rerun posting nothing more."""
    ids = poison(project)
    report = run(project, RunOptions(names=[mapping]))
    [result] = report.results
    warehouse = open_warehouse(project)
    try:
        lines = dict(warehouse.query(
            f"SELECT journal_id, COUNT(*) FROM lending.journal_lines WHERE journal_id IN "
            f"('{ids[0]}', '{ids[1]}', '{ids[2]}') GROUP BY 1"))
        rejects = warehouse.query("SELECT row_key, reason FROM migo_sync.rejects ORDER BY 1")
        pending = warehouse.query(f"SELECT COUNT(*) FROM migo_sync.sent WHERE mapping = '{mapping}' "
                                  "AND pending_hash IS NOT NULL")[0][0]
    finally:
        warehouse.close()
    reasons: dict[str, list[str]] = {}
    for row_key, reason in rejects:
        reasons.setdefault(str(row_key).split(chr(31))[0], []).append(str(reason))
    assert result.status == "rejected", result.error
    assert result.rows_rejected == sum(lines.values()) == len(rejects)  # rows, each once
    assert Counter({k: len(v) for k, v in reasons.items()}) == Counter(lines)
    assert any(f"{memo_field}: character U+0000 at position 3 cannot be sent in XML" in r for r in reasons[ids[0]])
    assert any("missing key value in (journal_id, line_no)" in r for r in reasons[ids[1]])
    assert any('duplicate key ("journal_id", "line_no")' in r for r in reasons[ids[2]]), reasons[ids[2]]
    assert pending == 0
    assert posted() == Counter(ids[3:])
    again = run(project, RunOptions(names=[mapping]))
    assert again.results[0].rows_written == 0 and posted() == Counter(ids[3:])
