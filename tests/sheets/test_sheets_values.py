"""Cell values: serial dates both ways, and what a RAW push sends for each warehouse type."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import orjson
import pytest

from migo_sync.adapters.sheets.values import (
    date_to_serial,
    exact_number,
    serial_to_date,
    serial_to_datetime,
    to_cell,
)

SERIALS = [
    (date(1899, 12, 30), 0),
    (date(1899, 12, 31), 1),
    (date(1900, 3, 1), 61),        # no phantom 1900-02-29 with the 1899-12-30 epoch
    (date(2020, 1, 1), 43831),     # the API reference's own example
    (date(2026, 10, 1), 46296),
    (date(1850, 1, 1), -18260),
]


@pytest.mark.parametrize(("day", "serial"), SERIALS)
def test_date_serials(day: date, serial: int) -> None:
    assert date_to_serial(day) == serial
    assert serial_to_date(serial) == day
    assert serial_to_date(serial + 0.75) == day  # the time of day is dropped for a date field


@pytest.mark.parametrize(("serial", "moment"), [
    (46296.4375, datetime(2026, 10, 1, 10, 30)),
    (46296.5 + 1 / 86_400_000, datetime(2026, 10, 1, 12, 0, 0, 1000)),
    (43831.999988425925, datetime(2020, 1, 1, 23, 59, 59)),   # a double's noise rounds to the millisecond
    (0.25, datetime(1899, 12, 30, 6)),
])
def test_timestamp_serials(serial: float, moment: datetime) -> None:
    assert serial_to_datetime(serial) == moment


def test_datetime_to_serial_round_trip() -> None:
    moment = datetime(2026, 11, 29, 17, 45, 12, 345000)
    assert serial_to_datetime(date_to_serial(moment)) == moment


CELLS = [
    (None, ""),
    ("plain", "plain"),
    ('=HYPERLINK("https://evil.example","click")', '=HYPERLINK("https://evil.example","click")'),
    ("", ""),
    (True, True),
    (42, 42),
    (2**53 + 1, str(2**53 + 1)),                       # would lose its last digit as a double
    (1.5, 1.5),
    (Decimal("1234.50"), 1234.5),                      # same double, the cents are kept
    (Decimal("0.10"), 0.1),
    (Decimal("-98765.43"), -98765.43),
    (Decimal("100.00"), 100),
    (Decimal("12345678901234567.89"), "12345678901234567.89"),  # a double would drop the cents: text
    (Decimal("0.1234567890123456789"), "0.1234567890123456789"),
    (date(2026, 10, 1), "2026-10-01"),
    (datetime(2026, 10, 1, 8, 5, 3), "2026-10-01 08:05:03"),
    (time(8, 5), "08:05:00"),
]


@pytest.mark.parametrize(("value", "cell"), CELLS, ids=[repr(v) for v, _ in CELLS])
def test_to_cell(value: object, cell: object) -> None:
    result = to_cell(value)
    assert result == cell
    assert type(result) is type(cell)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity")])
def test_to_cell_refuses_what_json_cannot_carry(value: object) -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        to_cell(value)


@pytest.mark.parametrize("text", ["0.01", "1234567.89", "99999999999.99", "-0.05", "1000000000000.01"])
def test_money_survives_json_and_back(text: str) -> None:
    """A DECIMAL(18,2) pushed as a JSON number and read back (as Google returns it) is unchanged."""
    value = Decimal(text)
    sent = orjson.loads(orjson.dumps(to_cell(value)))
    assert Decimal(repr(float(sent))) == value
    assert exact_number(value) is not None
