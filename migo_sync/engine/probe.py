"""A cheap "did anything change?" probe for pushes, kept by a long-lived (watch) process.

Planning a push hashes every source row with md5 and anti-joins the ledger (about a second per
million rows). Between two watch cycles the common answer is "nothing changed", which two
aggregate scans answer far faster: the source's row count and the sum of a fast 64-bit hash of
its mapped columns, plus the mapping's ledger counts. When both equal what they were after the
last push that left the ledger exactly in step with the source (every row sent, nothing pending,
nothing refused), the plan would be empty, so it is skipped and nothing is sent.

The fingerprint lives in memory only: HASH() is engine-specific and may change between versions,
so it is never persisted (the md5 row hash is what the ledger keeps). The SQL is the same on
DuckDB and Snowflake and uses no EXISTS/LIMIT over a LEFT JOIN (DuckDB 2.0.1 answers those
wrongly, see plan.py): plain aggregates over one relation each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migo_sync.engine.plan import source_sql
from migo_sync.mapping.model import Mapping
from migo_sync.warehouse.base import Warehouse

Fingerprint = tuple[object, ...]


def source_fingerprint_sql(warehouse: Warehouse, mapping: Mapping) -> str:
    q = warehouse.quote
    columns = list(dict.fromkeys([*mapping.key, *mapping.group_by, *mapping.columns]))
    hashed = ", ".join(f"s.{q(c)}" for c in columns)
    return f"SELECT COUNT(*), SUM(HASH({hashed})) FROM {source_sql(mapping)} s"


def ledger_fingerprint_sql(warehouse: Warehouse, ledger_table: str) -> str:
    q = warehouse.quote
    return (f"SELECT COUNT(*), COUNT({q('sent_hash')}), COUNT({q('pending_hash')}), MAX({q('updated_at')}) "
            f"FROM {ledger_table} WHERE {q('mapping')} = ?")


@dataclass
class ChangeProbe:
    """Fingerprints of the pushes a watch process last left in step, by mapping name.

    What is settled after a push is the source as fingerprinted BEFORE it was planned, with the
    ledger as it stands after: if the source moved meanwhile, the next fingerprint differs and the
    push is planned again (one extra plan, never a missed change), and no second scan is needed.
    """

    settled: dict[str, Fingerprint] = field(default_factory=dict)
    skipped: int = 0

    def fingerprint(self, warehouse: Warehouse, ledger_table: str, mapping: Mapping) -> Fingerprint:
        source = warehouse.query(source_fingerprint_sql(warehouse, mapping))[0]
        # The mapping itself is part of it: an edited field list or check changes what is sent.
        return (mapping.model_dump_json(), *(str(v) for v in source),
                *self.ledger_part(warehouse, ledger_table, mapping))

    def ledger_part(self, warehouse: Warehouse, ledger_table: str, mapping: Mapping) -> Fingerprint:
        ledger = warehouse.query(ledger_fingerprint_sql(warehouse, ledger_table), [mapping.feed])[0]
        return tuple(str(v) for v in ledger)

    def unchanged(self, name: str, fingerprint: Fingerprint) -> bool:
        if self.settled.get(name) == fingerprint:
            self.skipped += 1
            return True
        return False

    def settle(self, name: str, fingerprint: Fingerprint) -> None:
        self.settled[name] = fingerprint

    def forget(self, name: str) -> None:
        self.settled.pop(name, None)
