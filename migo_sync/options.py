"""A mapping's `options:` checked against an adapter's pydantic model, as `Adapter.validate()` reports.

Adapters describe their system-specific options as a pydantic model (`extra="forbid"`, so a typo
is an error); this turns every error of that model into a (field path, message) pair, all at
once, e.g. ("options.page_size", "Input should be less than or equal to 1000").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError


def validation_problems(exc: ValidationError, root: str = "options") -> list[tuple[str, str]]:
    """Every error of `exc` as (path under `root`, message); an error on the whole value gets `root`."""
    return [(".".join([root, *(str(part) for part in error["loc"])]), error["msg"]) for error in exc.errors()]


def option_problems(model: type[BaseModel], options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem in a mapping's options under `model`, as (path, message); [] when they are valid."""
    try:
        model.model_validate(options)
    except ValidationError as exc:
        return validation_problems(exc)
    return []
