"""Mappings: YAML files that say how one warehouse relation syncs with one remote object."""

from __future__ import annotations

from migo_sync.mapping.model import Check, FieldSpec, FieldType, Mapping, WarehouseSide

__all__ = ["Check", "FieldSpec", "FieldType", "Mapping", "WarehouseSide"]
