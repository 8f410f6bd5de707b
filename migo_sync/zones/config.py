"""`[zones]` in migo-sync.toml: which relations are trusted, which are the DMZ, how one is promoted.

    [zones]
    default = "trusted"              # relations matching no pattern
    trusted = ["lending.*"]          # fnmatch patterns over schema.table (lower case)
    dmz = ["scratch.*"]
    hand_kept = ["sheets"]           # systems whose pulls land in the DMZ unless listed as trusted
    systems_of_record = ["adaptive.data"]   # besides every ledger's journal object

    [zones.promote."finance.manual_adjustments"]
    approver = "A. Wanjiru (finance lead)"
    not_null = ["adjustment_id", "account_no", "amount"]
    accepted_values = { department_id = ["OPS", "RISK", "COLL", "FIN"] }
    reconcile = { column = "amount", against = "finance.adjustment_controls", against_column = "amount" }
"""

from __future__ import annotations

from collections.abc import Collection
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Zone = Literal["trusted", "dmz"]


class Reconcile(BaseModel):
    """The DMZ relation's total of `column` must equal the trusted relation's total."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    against: str = Field(description="a trusted relation")
    against_column: str | None = None


class Promotion(BaseModel):
    """Checks that let a DMZ relation feed a system of record in a run where they all pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approver: str = Field(min_length=1, description="who answers for this promotion")
    not_null: list[str] = Field(default_factory=list)
    accepted_values: dict[str, list[Any]] = Field(default_factory=dict)
    reconcile: Reconcile | None = None


class ZonesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: Zone = "trusted"
    trusted: list[str] = Field(default_factory=list)
    dmz: list[str] = Field(default_factory=list)
    hand_kept: list[str] = Field(default_factory=lambda: ["sheets"])
    systems_of_record: list[str] = Field(default_factory=list)
    promote: dict[str, Promotion] = Field(default_factory=dict)

    def zone_of(self, relation: str, pulled_by: Collection[str] = ()) -> Zone:
        """Explicit patterns first, then "pulled from a hand-kept system", then the default."""
        name = relation.lower()
        if any(fnmatchcase(name, p.lower()) for p in self.dmz):
            return "dmz"
        if any(fnmatchcase(name, p.lower()) for p in self.trusted):
            return "trusted"
        if set(pulled_by) & set(self.hand_kept):
            return "dmz"
        return self.default

    def promotion(self, relation: str) -> Promotion | None:
        return next((p for name, p in self.promote.items() if name.lower() == relation.lower()), None)
