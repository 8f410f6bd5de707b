"""The pydantic model of `dictionary/*.yaml`; `migo-sync dictionary schema` prints its JSON Schema."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from migo_sync.mapping.model import FieldType

TERM_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
Aggregation = Literal["sum", "avg", "min", "max", "count", "count_distinct", "last", "none"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(Strict):
    """Inclusive bounds of a numeric or date term (either may be left open)."""

    min: Any = None
    max: Any = None


class SystemName(Strict):
    """What a term is called in one system, and how its values are spelt there.

    `name` is the Intacct dimension or field, the Zendesk user/ticket field, the Sheets header or
    the Adaptive account/level/dimension; `values` maps the warehouse value to the remote one.
    """

    name: str | list[str] = Field(min_length=1, description="one name, or its names in that system's objects")
    values: dict[str, Any] | None = None

    @property
    def names(self) -> list[str]:
        return [self.name] if isinstance(self.name, str) else list(self.name)


class Term(Strict):
    """One business word with one meaning."""

    name: str = Field(description="snake_case, unique across the dictionary")
    definition: str = Field(min_length=1)
    kind: Literal["dimension", "measure", "attribute"] = "attribute"
    type: FieldType = FieldType.string
    scale: int | None = Field(default=None, ge=0, le=18)
    unit: str | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    accepted_values: list[Any] | None = None
    range: Range | None = None
    aggregation: Aggregation | None = Field(default=None, description="how a measure adds up")
    owner: str = Field(min_length=1)
    status: Literal["draft", "approved"] = "draft"
    synonyms: list[str] = Field(default_factory=list, description="the other words people use")
    systems: dict[str, SystemName] = Field(default_factory=dict, description="its name in each system")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TERM_NAME.match(value):
            raise ValueError(f"'{value}' is not a term name (lower case, digits and _)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Term:
        if self.kind == "measure" and self.aggregation is None:
            raise ValueError("@aggregation: a measure needs an aggregation rule (sum, avg, last, …)")
        if self.scale is not None and self.type is not FieldType.decimal:
            raise ValueError("@scale: scale is only for type: decimal")
        if self.accepted_values is not None:
            for system, spec in self.systems.items():
                unknown = [k for k in spec.values or {} if k not in {str(v) for v in self.accepted_values}]
                if unknown:
                    raise ValueError(f"@systems.{system}.values: '{unknown[0]}' is not an accepted value")
        return self


class DictionaryFile(Strict):
    """One file of the dictionary: a list of terms."""

    terms: list[Term] = Field(min_length=1)
