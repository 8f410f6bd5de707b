"""`in_order`: independent calls kept in flight, answered in order; a slot is refilled as soon as any call
in it ends (not when the caller takes that call's answer), within `in_flight` calls out and as many answers
held; after a failure nothing more goes out."""

from __future__ import annotations

import threading
import time

import pytest

from migo_sync.ahead import in_order

pytestmark = pytest.mark.timeout(30)
WAIT = 10.0  # bounded waits: a missing overlap fails the test instead of hanging it


def test_a_slow_first_call_does_not_hold_the_slot_a_later_call_freed() -> None:
    third_started = threading.Event()
    seen: dict[str, bool] = {}

    def call(n: int) -> int:
        if n == 2:
            third_started.set()
        if n == 0:  # held until the third call is out: it can only go out on the slot the second freed
            seen["third out while the first was"] = third_started.wait(WAIT)
        return n * 10

    assert list(in_order(call, range(3), in_flight=2, name="test-order")) == [(0, 0), (1, 10), (2, 20)]
    assert seen == {"third out while the first was": True}


def test_a_slot_is_refilled_while_the_caller_holds_an_answer() -> None:
    started: list[int] = []
    fourth_started = threading.Event()

    def call(n: int) -> int:
        started.append(n)
        if n == 3:
            fourth_started.set()
        return n

    answers = in_order(call, range(6), in_flight=2, name="test-order")
    assert next(answers) == (0, 0)
    # the caller holds (parses) answer 0 and asks for nothing: calls 2 and 3 still go out as slots free
    assert fourth_started.wait(WAIT)
    assert [n for _, n in answers] == [1, 2, 3, 4, 5]
    assert sorted(started) == list(range(6))


def test_calls_out_and_answers_held_stay_bounded() -> None:
    lock = threading.Lock()
    out, most, started = 0, 0, []
    fifth_started = threading.Event()

    def call(n: int) -> int:
        nonlocal out, most
        with lock:
            out += 1
            most = max(most, out)
            started.append(n)
        if n == 4:
            fifth_started.set()
        time.sleep(0.005)
        with lock:
            out -= 1
        return n

    answers = in_order(call, range(40), in_flight=2, name="test-order")
    assert next(answers) == (0, 0)
    assert fifth_started.wait(WAIT)
    time.sleep(0.2)  # a caller that asks for nothing more: no call beyond the 2 out + 2 held goes out
    assert sorted(started) == [0, 1, 2, 3, 4]
    assert [n for _, n in answers] == list(range(1, 40))
    assert most == 2


def test_after_a_call_fails_nothing_more_goes_out_and_the_error_stands_in_its_place() -> None:
    started: list[int] = []
    failed = threading.Event()

    def call(n: int) -> int:
        started.append(n)
        if n == 1:
            failed.set()
            raise ValueError("Processing_Fault")
        if n == 0:
            failed.wait(WAIT)
            time.sleep(0.05)  # the failure's own bookkeeping done before this slot frees
        return n

    answers = in_order(call, range(10), in_flight=2, name="test-order")
    assert next(answers) == (0, 0)
    with pytest.raises(ValueError, match="Processing_Fault"):
        next(answers)
    assert sorted(started) == [0, 1]


def test_an_error_drawing_the_next_item_is_raised_after_the_answers_before_it() -> None:
    def items() -> object:
        yield 1
        yield 2
        raise RuntimeError("the third batch could not be written")

    answers = in_order(lambda n: n, items(), in_flight=2, name="test-order")  # type: ignore[arg-type]
    assert next(answers) == (1, 1)
    assert next(answers) == (2, 2)
    with pytest.raises(RuntimeError, match="third batch"):
        next(answers)


def test_closing_waits_for_the_calls_out_and_sends_no_more() -> None:
    started: list[int] = []

    def call(n: int) -> int:
        started.append(n)
        time.sleep(0.01)
        return n

    answers = in_order(call, range(1000), in_flight=3, name="test-close")
    assert next(answers) == (0, 0)
    answers.close()
    count = len(started)
    assert count <= 7  # 3 out, 3 held, the one taken
    assert not any(t.name.startswith("test-close") for t in threading.enumerate())
    time.sleep(0.05)
    assert len(started) == count
