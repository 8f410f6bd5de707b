"""A push feed's identity across renames, recognised from the sent ledger's history.

The ledger and the idempotency keys are keyed by `Mapping.feed` (the name, or the name the
mapping `continues`). A push whose feed has no history, while the ledger holds an orphan feed
(one no mapping of the project pushes any more) to the same system and object that already
sent some of the same units, is almost surely a renamed file: running it would send those units
again under new keys. It is refused before anything is sent, with the `continues:` line to add.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from migo_sync.adapter import Unit
from migo_sync.engine.plan import source_sql, unit_sql
from migo_sync.errors import Problem
from migo_sync.mapping.loader import LoadedMapping
from migo_sync.warehouse.base import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

UnitOf = Callable[[LoadedMapping], Unit | None]


def rename_problems(warehouse: Warehouse, pushes: Sequence[LoadedMapping], project_feeds: set[str],
                    unit_of: UnitOf) -> list[Problem]:
    """One problem per push that looks like a rename of an orphan feed (see the module doc).

    `project_feeds` are the feeds of every mapping in the project (not only the selected ones):
    a feed still pushed by another file is not an orphan.
    """
    book = Bookkeeping(warehouse)
    history = book.feeds()
    orphans = {feed: info for feed, info in history.items() if feed not in project_feeds}
    if not orphans:
        return []
    problems: list[Problem] = []
    for item in pushes:
        m = item.mapping
        if m.direction != "push" or m.feed in history:
            continue
        unit = unit_of(item)
        if unit is None:
            continue
        for feed, info in sorted(orphans.items()):
            if info["system"] not in (None, m.system) or info["object"] not in (None, m.object):
                continue
            shared = _shared_units(warehouse, book, item, unit, feed)
            if shared:
                problems.append(item.problem(["continues"] if m.continues else ["name"], _message(m.feed, feed, info, shared),
                                             f"if this file is its rename, add `continues: {feed}`"))
                break
    return problems


def _shared_units(warehouse: Warehouse, book: Bookkeeping, item: LoadedMapping, unit: Unit, feed: str) -> int:
    q = warehouse.quote
    sent = q(book.table_name("sent"))
    units = unit_sql(warehouse, item.mapping, unit)
    rows = warehouse.query(
        f"SELECT COUNT(DISTINCT {units}) FROM {source_sql(item.mapping)} s WHERE {units} IN "
        f"(SELECT {q('unit_key')} FROM {sent} WHERE {q('mapping')} = ?)", [feed])
    return int(rows[0][0] or 0) if rows else 0


def _message(name: str, feed: str, info: dict[str, Any], shared: int) -> str:
    about = [f"{info['system']} {info['object']}"] if info.get("system") else []
    about += [f"last pushed by {info['source']}"] if info.get("source") else []
    where = f" ({', '.join(about)})" if about else ""
    return (f"push '{name}' has no sent history, but feed '{feed}'{where} already sent {shared} of its "
            f"units and no mapping of the project continues it: running this would send them again; "
            f"nothing was sent")
