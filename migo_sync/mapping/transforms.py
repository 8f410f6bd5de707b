"""Pure value transforms between warehouse columns and remote fields.

Push applies a field's transforms in order (column → remote); pull applies them in reverse
(remote → column) and then casts to the field's type. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from migo_sync.mapping.model import FieldSpec, FieldType, Transform
from migo_sync.precision import fit

Step = Callable[[Any], Any]
TRUE = frozenset({"true", "t", "yes", "y", "1"})
FALSE = frozenset({"false", "f", "no", "n", "0"})


def _map_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _push_step(t: Transform) -> Step:
    if t.default is not None:
        default = t.default
        return lambda v: default if v is None else v
    if t.value_map is not None:
        table = {str(k): v for k, v in t.value_map.items()}
        return lambda v: v if v is None else table.get(_map_key(v), v)
    if t.sign is not None:
        sign = t.sign
        return lambda v: v if v is None or sign == 1 else -v
    if t.round is not None:
        places = t.round
        quantum = Decimal(1).scaleb(-places)
        return lambda v: v if v is None else (
            v.quantize(quantum, ROUND_HALF_EVEN) if isinstance(v, Decimal) else round(v, places))
    if t.upper:
        return lambda v: v.upper() if isinstance(v, str) else v
    if t.lower:
        return lambda v: v.lower() if isinstance(v, str) else v
    if t.strip:
        return lambda v: v.strip() if isinstance(v, str) else v
    if t.date_format is not None:
        fmt = t.date_format
        return lambda v: v.strftime(fmt) if isinstance(v, date) else v
    return lambda v: v


def _pull_step(t: Transform, field_type: FieldType) -> Step:
    if t.value_map is not None:
        reverse = {_map_key(v): k for k, v in t.value_map.items()}
        return lambda v: v if v is None else reverse.get(_map_key(v), v)
    if t.date_format is not None:
        fmt = t.date_format
        as_date = field_type is FieldType.date

        def parse(v: Any) -> Any:
            if not isinstance(v, str) or not v:
                return v
            parsed = datetime.strptime(v, fmt)
            return parsed.date() if as_date else parsed

        return parse
    return _push_step(t)  # default, sign, round and the text steps read the same both ways


def compile_push(field: FieldSpec) -> Step:
    """column value → remote value."""
    if field.constant is not None:
        constant = field.constant
        return lambda _v: constant
    steps = [_no_bytes, *(_push_step(t) for t in field.transform)]
    return _chain(steps)


def _no_bytes(value: Any) -> Any:
    """No remote field takes raw bytes, and str() of them would send their repr (b'...')."""
    if isinstance(value, bytes | bytearray | memoryview):
        raise ValueError("bytes (a BLOB/BINARY column) have no text form: cast or decode them in SQL")
    return value


def compile_pull(field: FieldSpec, scale: int | None = None) -> Step:
    """remote value → typed column value. A decimal must fit `scale` places (default: the declared
    scale) exactly: see migo_sync.precision."""
    steps = [_pull_step(t, field.type) for t in reversed(field.transform)]
    caster = caster_for(field.type, field.scale if scale is None else scale)
    return _chain([*steps, caster])


def _chain(steps: Sequence[Step]) -> Step:
    if not steps:
        return lambda v: v
    if len(steps) == 1:
        return steps[0]

    def run(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return run


def caster_for(field_type: FieldType, scale: int | None = None) -> Step:
    """A function that turns a remote value into the field's Python type (None stays None)."""
    if field_type is FieldType.string:
        return to_string
    if field_type is FieldType.integer:
        return to_integer
    if field_type is FieldType.decimal:
        return lambda v: to_decimal(v, scale)
    if field_type is FieldType.number:
        return to_number
    if field_type is FieldType.boolean:
        return to_boolean
    if field_type is FieldType.date:
        return to_date
    return to_timestamp


def to_string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_integer(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    text = str(value).strip().replace(",", "")
    try:
        return int(text)
    except ValueError:
        number = Decimal(text)
        if number != number.to_integral_value():
            raise ValueError(f"{value!r} is not a whole number") from None
        return int(number)


def to_decimal(value: Any, scale: int | None = None) -> Decimal | None:
    """The value as a Decimal; with `scale`, at exactly that many places or ValueError (never rounded)."""
    if value is None or value == "":
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(
            repr(value) if isinstance(value, float) else str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return fit(number, scale) if scale is not None else number


def to_number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(str(value).replace(",", "")) if not isinstance(value, (int, float)) else float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None


def to_boolean(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"{value!r} is not a boolean")


def to_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def to_timestamp(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, (int, float)):
        from datetime import UTC

        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a timestamp (ISO 8601)") from None
    if parsed.tzinfo is not None:
        from datetime import UTC

        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def get_path(record: dict[str, Any], path: str) -> Any:
    """record['a.b'] if present, else record['a']['b']: remote names may be dotted paths."""
    if path in record:
        return record[path]
    node: Any = record
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node
