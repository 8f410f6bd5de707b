"""What one mapping's sync did, in the shape `run --json` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class MappingResult:
    name: str
    system: str
    direction: str
    status: str = "ok"  # ok | rejected | failed | skipped | stopped | dry-run | interrupted
    rows_read: int = 0
    rows_changed: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    requests: int = 0
    seconds: float = 0.0
    error: str | None = None
    error_class: str | None = None  # the error's type name, e.g. UnreachableError
    started_at: str | None = None  # UTC, '2026-12-06T22:04:11Z'
    exit_code: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    sample: list[dict[str, Any]] = field(default_factory=list)

    def finish(self, *, requests: int, seconds: float, dry_run: bool) -> MappingResult:
        """Set the closing figures and the status a finished sync earned."""
        self.requests = requests
        self.seconds = seconds
        if dry_run:
            self.status = "dry-run"
        elif self.rows_rejected and self.status == "ok":
            self.status = "rejected"
        return self

    def as_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items()
                if k not in ("details", "sample", "exit_code", "error_class", "started_at")}
        if self.error_class:
            data["error_class"] = self.error_class
        if self.started_at:
            data["started_at"] = self.started_at
        data["seconds"] = round(self.seconds, 3)
        if self.details:
            data["details"] = self.details
        if self.sample:
            data["sample"] = self.sample
        return data


@dataclass
class Reject:
    row_key: str
    reason: str
    payload: str | None = None
