"""Cell values both ways: serial dates, and warehouse values turned into what a RAW push sends.

Sheets stores dates as serial numbers: days since 1899-12-30, the fraction being the time of day
(the 1900 leap-year bug is not reproduced by this epoch for dates after 1900-02-28).
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

EPOCH = date(1899, 12, 30)
_EPOCH_DT = datetime(1899, 12, 30)
_MAX_EXACT_INT = 2**53


def serial_to_date(serial: float) -> date:
    """The date part of a serial number (the fraction, a time of day, is dropped)."""
    return EPOCH + timedelta(days=math.floor(serial))


def serial_to_datetime(serial: float) -> datetime:
    """A serial number as a naive datetime, rounded to the millisecond (Sheets' own precision):
    the double's last bits would otherwise show up as stray microseconds."""
    days = math.floor(serial)
    millis = round((serial - days) * 86_400_000)
    return _EPOCH_DT + timedelta(days=days, milliseconds=millis)


def date_to_serial(value: date | datetime) -> float:
    """The serial number Sheets stores for a date or datetime (an int-valued float for a date)."""
    if isinstance(value, datetime):
        delta = value.replace(tzinfo=None) - _EPOCH_DT
        return delta.days + delta.seconds / 86_400 + delta.microseconds / 86_400_000_000
    return float((value - EPOCH).days)


def exact_number(value: Decimal | int) -> float | int | None:
    """`value` as a JSON number when Sheets (which stores doubles) keeps it exactly, else None.

    1234.50 → 1234.5 (same double, cents kept); 12345678901234567.89 → None: such a value goes as
    text so no cent is lost.
    """
    if isinstance(value, int):
        return value if -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT else None
    if not value.is_finite():
        return None
    as_float = float(value)
    if Decimal(repr(as_float)) != value:
        return None
    return int(as_float) if as_float.is_integer() and abs(as_float) < _MAX_EXACT_INT else as_float


def to_cell(value: Any) -> str | int | float | bool:
    """One warehouse value as the JSON value a RAW write sends.

    None → "" (an empty cell); Decimal and int → number when exact, else their exact text;
    date → 'YYYY-MM-DD' and datetime → 'YYYY-MM-DD HH:MM:SS' text (RAW keeps text as text);
    str → unchanged (`=HYPERLINK(...)` stays text under RAW).
    Raises ValueError for a float that JSON cannot carry (NaN, infinity).
    """
    if value is None:
        return ""
    if isinstance(value, str | bool):
        return value
    if isinstance(value, int | Decimal):
        number = exact_number(value)
        if number is not None:
            return number
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError(f"{value} cannot be written to a sheet")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be written to a sheet")
        return value
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)
