"""`written_ahead`: a batch's bodies are written on a thread of their own while the requests before it
are in flight; order, errors and closing are those of the plain iterator."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from migo_sync.ahead import written_ahead

pytestmark = pytest.mark.timeout(30)


def test_items_come_in_order_and_are_drawn_ahead_up_to_the_bound() -> None:
    drawn: list[int] = []
    third = threading.Event()

    def items() -> Iterator[int]:
        for n in range(6):
            drawn.append(n)
            if n == 2:
                third.set()
            yield n

    ahead = written_ahead(items(), ahead=2, name="test-ahead")
    assert next(ahead) == 0
    # items 1 and 2 are drawn while the reader holds item 0: nothing asked for them
    assert third.wait(10)
    assert drawn[:3] == [0, 1, 2] and len(drawn) <= 4  # the bound: two waiting, one being handed over
    assert list(ahead) == [1, 2, 3, 4, 5]


def test_an_error_while_drawing_is_raised_where_its_item_stands() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise ValueError("the third journal holds U+0007")

    ahead = written_ahead(items(), ahead=4, name="test-ahead")
    assert next(ahead) == 1
    with pytest.raises(ValueError, match="U\\+0007"):
        next(ahead)


def test_closing_stops_the_drawing_and_waits_for_its_thread() -> None:
    drawn: list[int] = []

    def items() -> Iterator[int]:
        for n in range(1000):
            drawn.append(n)
            yield n

    ahead = written_ahead(items(), ahead=1, name="test-ahead")
    assert next(ahead) == 0
    ahead.close()
    assert not any(t.name == "test-ahead" for t in threading.enumerate())
    assert len(drawn) <= 4  # stopped after the item it was drawing: not the other 996
