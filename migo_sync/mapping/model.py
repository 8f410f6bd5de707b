"""The pydantic model of a mapping file; `migo-sync mapping schema` prints its JSON Schema."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
QUALIFIED = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")


class FieldType(StrEnum):
    """Warehouse-side type of a mapped field; pulled values are cast to it, never guessed."""

    string = "string"
    integer = "integer"
    decimal = "decimal"
    number = "number"
    boolean = "boolean"
    date = "date"
    timestamp = "timestamp"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transform(Strict):
    """One step applied to a value on its way (push: column → remote; pull: remote → column).

    Exactly one key is set. `date_format` is a strftime pattern (push formats a date, pull parses
    text); `value_map` translates values (push: warehouse → remote, pull: the reverse);
    `sign: -1` negates numbers; `round` rounds decimals; `upper`/`lower`/`strip` change text;
    `default` replaces a NULL.
    """

    date_format: str | None = None
    value_map: dict[str, Any] | None = None
    sign: Literal[-1, 1] | None = None
    round: int | None = Field(default=None, ge=0, le=12)
    upper: bool | None = None
    lower: bool | None = None
    strip: bool | None = None
    default: Any = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Transform:
        given = [k for k, v in self.__dict__.items() if v is not None]
        if len(given) != 1:
            raise ValueError(
                "a transform has exactly one of: date_format, value_map, sign, round, upper, lower, strip, default"
            )
        return self


class FieldSpec(Strict):
    """One column ⇄ remote field pair. A field with `constant` has no column."""

    column: str | None = None
    remote: str = Field(min_length=1)
    type: FieldType = FieldType.string
    scale: int | None = Field(default=None, ge=0, le=18, description="decimal places for type: decimal")
    transform: list[Transform] = Field(default_factory=list)
    constant: Any = None
    required: bool = False
    description: str = ""
    term: str | None = Field(default=None, description="a dictionary term: type, accepted values and this "
                             "system's value map come from it; `term: null` says the field is no term")

    @field_validator("column")
    @classmethod
    def _column_is_identifier(cls, value: str | None) -> str | None:
        if value is not None and not IDENT.match(value):
            raise ValueError(f"'{value}' is not a column name (letters, digits and _)")
        return value

    @model_validator(mode="after")
    def _column_or_constant(self) -> FieldSpec:
        if self.column is None and self.constant is None:
            raise ValueError("a field needs a column (or a constant)")
        if self.column is not None and self.constant is not None:
            raise ValueError("a field has a column or a constant, not both")
        if self.scale is not None and self.type is not FieldType.decimal:
            raise ValueError("scale is only for type: decimal")
        return self


class WarehouseSide(Strict):
    """The warehouse relation: a table (push source or pull target) or a query (push only)."""

    table: str | None = None
    query: str | None = None

    @field_validator("table")
    @classmethod
    def _table_name(cls, value: str | None) -> str | None:
        if value is not None and not QUALIFIED.match(value):
            raise ValueError(f"'{value}' is not a table name (name, schema.name or db.schema.name)")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> WarehouseSide:
        if (self.table is None) == (self.query is None):
            raise ValueError("warehouse needs exactly one of: table, query")
        return self


class Check(Strict):
    """A row check run before anything is sent; failing rows become rejects with `message`."""

    not_null: list[str] | None = None
    unique: list[str] | None = None
    accepted_values: dict[str, list[Any]] | None = None
    max_length: dict[str, int] | None = None
    expression: str | None = Field(default=None, description="SQL boolean over the relation's columns")
    message: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Check:
        given = [k for k, v in self.__dict__.items() if v is not None and k != "message"]
        if len(given) != 1:
            raise ValueError("a check has exactly one of: not_null, unique, accepted_values, max_length, expression")
        return self


Mode = Literal["insert", "update", "upsert", "mirror"]
Direction = Literal["push", "pull"]


class Mapping(Strict):
    """One sync between one warehouse relation and one object of one system, in one direction."""

    name: str = Field(description="unique in the project; defaults to the file name")
    continues: str | None = Field(
        default=None,
        description="push: the feed this mapping continues (the old name after a rename); its sent "
                    "history and idempotency keys carry over, so nothing is sent again")
    description: str = ""
    system: str = Field(description="sheets, intacct, adaptive, zendesk, workday, or a plugin's name")
    object: str = Field(description="the remote object, from the system's catalog")
    direction: Direction
    warehouse: WarehouseSide
    key: list[str] = Field(min_length=1, description="warehouse columns that identify a row")
    group_by: list[str] = Field(default_factory=list, description="columns that group rows into one pushed unit")
    fields: list[FieldSpec] = Field(min_length=1)
    mode: Mode = "upsert"
    options: dict[str, Any] = Field(default_factory=dict, description="system-specific settings")
    checks: list[Check] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    batch_size: int | None = Field(default=None, ge=1, le=1_000_000)
    enabled: bool = True
    tags: list[str] = Field(default_factory=list, description="labels to select mappings by: --select tag:NAME")
    source_file: Path | None = Field(default=None, exclude=True)

    @field_validator("name", "continues")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z0-9][a-z0-9_\-]*$", value):
            raise ValueError(f"'{value}' is not a mapping name (lower case, digits, _ and -)")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", tag):
                raise ValueError(f"'{tag}' is not a tag (letters, digits, _ . and -)")
        return value

    @field_validator("key", "group_by")
    @classmethod
    def _columns(cls, value: list[str]) -> list[str]:
        for column in value:
            if not IDENT.match(column):
                raise ValueError(f"'{column}' is not a column name")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Mapping:
        # Messages starting with "@path: " are placed on that path's line by the loader.
        if self.direction == "pull" and self.continues is not None:
            raise ValueError("@continues: only a push has a sent history to continue")
        if self.direction == "pull" and self.warehouse.query is not None:
            raise ValueError("@warehouse.query: a pull writes into warehouse.table; query is for pushes")
        seen_columns: set[str] = set()
        seen_remotes: set[str] = set()
        for i, f in enumerate(self.fields):
            if f.column is not None:
                if f.column in seen_columns:
                    raise ValueError(f"@fields[{i}].column: column '{f.column}' is mapped twice")
                seen_columns.add(f.column)
            if f.remote in seen_remotes:
                raise ValueError(f"@fields[{i}].remote: remote field '{f.remote}' is mapped twice")
            seen_remotes.add(f.remote)
        if self.direction == "pull":
            for j, k in enumerate(self.key):
                if k not in seen_columns:
                    raise ValueError(f"@key[{j}]: key column '{k}' is not among the fields' columns")
        return self

    @property
    def columns(self) -> list[str]:
        """Warehouse columns this mapping reads or writes, in field order."""
        return [f.column for f in self.fields if f.column]

    @property
    def feed(self) -> str:
        """The push feed's identity: what its sent ledger and idempotency keys are keyed by. It is
        the name unless the mapping `continues` an earlier one, so a rename keeps its history."""
        return self.continues or self.name

    @property
    def label(self) -> str:
        return str(self.source_file) if self.source_file else self.name
