"""Report sections adapters add to a run's record (the `ReportSections` capability).

When a run ends, each system whose adapter declares the capability is asked for its views of the
run's mappings that ended ok or with rejects (Adaptive: plan versus actual for the versions the
run pushed and pulled), computed from the warehouse alone. They are stored with the run, so the
report renders from the run record with no network. A view that cannot be computed is logged and
never changes the run's outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from migo_sync.adapter import as_report_sections
from migo_sync.warehouse.base import Warehouse
from migo_sync.warehouse.bookkeeping import Bookkeeping

if TYPE_CHECKING:
    from migo_sync.engine.result import MappingResult
    from migo_sync.mapping.model import Mapping
    from migo_sync.systems import AdapterPool

log = logging.getLogger("migo_sync.evidence")


def record_sections(warehouse: Warehouse, book: Bookkeeping, pool: AdapterPool, run_id: str,
                    mappings: Sequence[Mapping], results: Sequence[MappingResult]) -> int:
    """Ask every adapter with the capability for its sections of this run and store them."""
    done = {r.name for r in results if r.status in ("ok", "rejected")}
    by_system: dict[str, list[Mapping]] = {}
    for mapping in mappings:
        if mapping.name in done:
            by_system.setdefault(mapping.system, []).append(mapping)
    stored = 0
    for system, chosen in by_system.items():
        try:
            hook = as_report_sections(pool(system))
            if hook is None:
                continue
            sections: list[dict[str, Any]] = [asdict(s) for s in hook.report_sections(warehouse, chosen)]
            stored += book.record_sections(run_id, system, sections)
        except Exception as exc:  # a view of the run must not fail the run
            log.warning("%s: the report's sections could not be computed: %s: %s", system, type(exc).__name__, exc)
    return stored
