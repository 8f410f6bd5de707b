"""The one precision policy for decimals pulled into the warehouse: never round, never guess.

A decimal column keeps a fixed number of places: the field's declared `scale`, else the scale of
the column already in the warehouse, else UNDECLARED_SCALE (wide enough for amounts, rates and
quantities as finance systems send them). A value with more significant places than that does not
fit: it is a reject with the reason, never silently rounded. Because the staged value and the
stored one have the same scale, a rerun on unchanged data compares equal and writes nothing.
"""

from __future__ import annotations

from decimal import Decimal

from migo_sync.errors import ConfigError

UNDECLARED_SCALE = 12


def column_scale(declared: int | None, existing: int | None, where: str) -> int:
    """The scale a pulled decimal column keeps; a declared scale that the existing column cannot
    hold exactly is a configuration error (the warehouse would round in the MERGE)."""
    if declared is not None:
        if existing is not None and existing != declared:
            raise ConfigError(f"{where}: the column holds {existing} decimal places but the mapping declares "
                              f"scale: {declared}; set scale: {existing} or recreate the column")
        return declared
    return existing if existing is not None else UNDECLARED_SCALE


def fit(number: Decimal, scale: int) -> Decimal:
    """`number` at exactly `scale` places, or ValueError when that would drop a digit."""
    quantum = Decimal(1).scaleb(-scale)
    try:
        fitted = number.quantize(quantum)
    except ArithmeticError:
        fitted = None
    if fitted is None or fitted != number:
        places = -number.normalize().as_tuple().exponent  # type: ignore[operator]
        raise ValueError(f"{number} has {places} decimal places, more than the column's scale {scale} "
                         f"(declare a larger scale: it is never rounded)")
    return fitted
