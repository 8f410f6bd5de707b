"""Pulled data exactly as the remote sent it, on DuckDB and Snowflake (fakesnow): one precision policy
(every digit kept, a value that does not fit is a reject, reruns write nothing) and cursors that
only move forward by committed data."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from migo_sync.adapter import BaseAdapter, PullBatch
from migo_sync.engine.pull import Puller
from migo_sync.engine.result import MappingResult
from migo_sync.errors import ConfigError
from migo_sync.mapping.model import Mapping
from migo_sync.warehouse._sql import SQLWarehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping


class Pages(BaseAdapter):
    """Serves fixed pages; `states` gives each page's resume point (None: the page has none, like
    Intacct GL detail pages before the last); `die_after` raises after that many pages."""

    name = "scripted"

    def __init__(self, pages: list[list[dict[str, Any]]], states: list[Any] | None = None,
                 die_after: int | None = None) -> None:  # type: ignore[override]
        self.pages = pages
        self.states = states if states is not None else [{"page": i} for i in range(len(pages))]
        self.die_after = die_after
        self.started_from: list[Any] = []

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]:
        self.started_from.append(state)
        for number, page in enumerate(self.pages):
            if self.die_after is not None and number >= self.die_after:
                raise RuntimeError("the connection died")
            yield PullBatch(page, state=self.states[number])


def rates(scale: int | None = None) -> Mapping:
    rate: dict[str, Any] = {"column": "rate", "remote": "rate", "type": "decimal"}
    if scale is not None:
        rate["scale"] = scale
    return Mapping.model_validate({
        "name": "fx_pull", "system": "scripted", "object": "rates", "direction": "pull",
        "warehouse": {"table": "fx_rates"}, "key": ["pair"],
        "fields": [{"column": "pair", "remote": "pair"}, rate]})


def pull(wh: SQLWarehouse, adapter: Pages, mapping: Mapping, **options: Any) -> MappingResult:
    return Puller(wh, Bookkeeping(wh), adapter, mapping, "r1", **options).run()


FX = [[{"pair": "USDJPY", "rate": "139.6511"}, {"pair": "EURUSD", "rate": "1.08"}],
      [{"pair": "BTCUSD", "rate": Decimal("97312.123456789012")}]]


def stored(wh: SQLWarehouse) -> dict[str, Decimal]:
    return {str(r[0]): Decimal(str(r[1])) for r in wh.query("SELECT pair, rate FROM fx_rates")}


def test_an_undeclared_scale_keeps_every_digit_and_a_rerun_writes_nothing(wh: SQLWarehouse) -> None:
    first = pull(wh, Pages(FX), rates())
    assert first.rows_written == 3 and first.rows_rejected == 0
    assert stored(wh) == {"USDJPY": Decimal("139.6511"), "EURUSD": Decimal("1.08"),
                          "BTCUSD": Decimal("97312.123456789012")}
    again = pull(wh, Pages(FX), rates(), full_refresh=True)
    assert again.rows_read == 3 and again.rows_written == 0 and again.rows_changed == 0


def test_a_value_that_does_not_fit_the_declared_scale_is_a_reject_with_the_reason(wh: SQLWarehouse) -> None:
    result = pull(wh, Pages(FX), rates(scale=4))
    assert result.rows_written == 2 and result.rows_rejected == 1
    assert stored(wh) == {"USDJPY": Decimal("139.6511"), "EURUSD": Decimal("1.08")}
    [(key, reason)] = wh.query("SELECT row_key, reason FROM migo_sync.rejects")
    assert key == "BTCUSD"
    assert reason == ("rate: 97312.123456789012 has 12 decimal places, more than the column's scale 4 "
                      "(declare a larger scale: it is never rounded)")
    assert pull(wh, Pages(FX), rates(scale=4), full_refresh=True).rows_written == 0


def test_a_declared_scale_the_existing_column_cannot_hold_is_refused(wh: SQLWarehouse) -> None:
    pull(wh, Pages(FX[:1]), rates(scale=4))
    with pytest.raises(ConfigError, match=r"fx_rates.rate: the column holds 4 decimal places but the mapping "
                                          r"declares scale: 6"):
        pull(wh, Pages(FX[:1]), rates(scale=6))
    # an undeclared scale takes the column's: still exact, still nothing rewritten
    assert pull(wh, Pages(FX[:1]), rates(), full_refresh=True).rows_written == 0


def test_a_page_without_a_resume_point_keeps_the_saved_cursor(wh: SQLWarehouse) -> None:
    book = Bookkeeping(wh)
    pull(wh, Pages(FX, states=[None, {"since": "2026-12-01"}]), rates())
    assert book.get_cursor("fx_pull") == {"since": "2026-12-01"}
    # a later run whose pages carry no new resume point, and one that dies after committing a page
    pull(wh, Pages(FX, states=[None, None]), rates())
    assert book.get_cursor("fx_pull") == {"since": "2026-12-01"}
    with pytest.raises(RuntimeError):
        pull(wh, Pages(FX, states=[None, None], die_after=1), rates())
    assert book.get_cursor("fx_pull") == {"since": "2026-12-01"}
    adapter = Pages(FX, states=[None, None])
    pull(wh, adapter, rates())
    assert adapter.started_from == [{"since": "2026-12-01"}]
    # only --full-refresh forgets it
    pull(wh, Pages(FX, states=[None, None]), rates(), full_refresh=True)
    assert book.get_cursor("fx_pull") is None


def test_a_pull_into_the_table_it_made_says_so_once(wh: SQLWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first merge into a table this pull made is asked as `new` (DuckDB inserts it); every later one, in
    the same run (a second flush) or the next, merges: the same rows and counts as merges all along."""
    asked: list[bool] = []
    real = type(wh).merge_arrow

    def merge_arrow(self: SQLWarehouse, *args: Any, new: bool = False, **kwargs: Any) -> Any:
        asked.append(new)
        return real(self, *args, new=new, **kwargs)

    monkeypatch.setattr(type(wh), "merge_arrow", merge_arrow)
    monkeypatch.setattr("migo_sync.engine.pull._Pending.FLUSH_ROWS", 2)  # each page its own flush
    first = pull(wh, Pages(FX), rates())
    assert asked == [True, False]
    assert (first.rows_written, first.rows_changed) == (3, 3)
    assert stored(wh) == {"USDJPY": Decimal("139.6511"), "EURUSD": Decimal("1.08"),
                          "BTCUSD": Decimal("97312.123456789012")}
    again = pull(wh, Pages([[{"pair": "USDJPY", "rate": "140"}, {"pair": "GBPUSD", "rate": "1.27"}]]), rates())
    assert asked == [True, False, False]
    assert (again.rows_written, again.rows_changed) == (2, 2)
    assert stored(wh)["USDJPY"] == Decimal("140") and len(stored(wh)) == 4
