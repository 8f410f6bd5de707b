"""`[systems.<name>]` tables: the keys the core reads, shared by every system, and one way to refuse
what nobody reads.

Each adapter's settings model extends `CoreSettings` with its own keys; `parse_settings` validates a
table against it and refuses an unknown key with "did you mean" (a typo such as `closed_thru` must
never be silently ignored: it would leave every period open).
"""

from __future__ import annotations

import difflib
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from migo_sync.errors import ConfigError

MAX_BODY_MB = 100.0  # the same defaults migo_sync.http applies
DEADLINE = 300.0


class CoreSettings(BaseModel):
    """The keys of every `[systems.<name>]` the core reads (URLs, the HTTP client)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(default=None, description="base URL; MIGO_SYNC_<SYSTEM>_URL overrides it")
    timeout: float = Field(default=120.0, gt=0, description="seconds to wait for an answer")
    rate_limit: float | None = Field(default=None, ge=0, description="requests per second; unset or 0: no cap")
    rate_burst: int = Field(default=1, ge=1, description="requests allowed at once above the rate")
    max_body_mb: float = Field(default=MAX_BODY_MB, gt=0, description="largest answer held in memory (MB)")
    deadline: float = Field(default=DEADLINE, gt=0, description="seconds one request may take, first to last byte")


Model = TypeVar("Model", bound=BaseModel)


class SettingsError(ConfigError):
    """`[systems.<system>]` is invalid; `problems` holds (key, message, hint) so the caller that knows
    the file can place each on its line (migo_sync.systems.open_adapter)."""

    def __init__(self, system: str, problems: list[tuple[str, str, str | None]]) -> None:
        self.system = system
        self.problems = problems
        text = "; ".join(f"{m} ({h})" if h else m for _, m, h in problems)
        super().__init__(f"migo-sync.toml: [systems.{system}] {text}")


def parse_settings(model: type[Model], system: str, settings: dict[str, Any]) -> Model:
    """Validate `[systems.<system>]`; every problem in one ConfigError (exit 2), unknown keys with
    the closest known one."""
    try:
        return model.model_validate(settings)
    except ValidationError as exc:
        known = list(model.model_fields)
        problems: list[tuple[str, str, str | None]] = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            if error["type"] == "extra_forbidden":
                close = difflib.get_close_matches(where, known, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else "known: " + ", ".join(sorted(known))
                problems.append((where, f"unknown key '{where}'", hint))
            else:
                problems.append((where, f"{where}: {error['msg']}", None))
        raise SettingsError(system, problems) from None
