"""Waiting for Import_Accounting_Journal processes: one status read for every pending process per
poll, spaced by a growing pause, until each has ended or the deadline passes.

The pause starts short (an import of a few journals ends within a round trip) and doubles up to
`MAX_PAUSE`: a long import is asked about a few times a minute, not hammered; nothing waits past
the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from migo_sync.errors import OutcomeUnknownError

from .client import WorkdayClient
from .soap import SYSTEM

IMPORT_DONE, IMPORT_WITH_ERRORS, IMPORT_WITH_WARNINGS = "Completed", "Completed with Errors", "Completed with Warnings"
# Ended with every journal booked or refused on its own (its messages say which): the results are known.
BOOKED = frozenset({IMPORT_DONE, IMPORT_WITH_ERRORS, IMPORT_WITH_WARNINGS})
ENDED = BOOKED | {"Failed", "Canceled", "Cancelled"}
FIRST_PAUSE, MAX_PAUSE = 0.2, 5.0
STATUS_BATCH = 999  # process references per Get_Import_Processes (the page size)


def await_imports(client: WorkdayClient, wids: list[str], *, deadline: float,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> dict[str, str]:
    """The final status of every process in `wids`; OutcomeUnknownError past `deadline`."""
    ended: dict[str, str] = {}
    pause = FIRST_PAUSE
    while True:
        pending = [wid for wid in wids if wid not in ended]
        for start in range(0, len(pending), STATUS_BATCH):
            chunk = pending[start:start + STATUS_BATCH]
            statuses = client.import_statuses(chunk)
            ended.update({wid: status for wid, status in statuses.items() if status in ENDED and wid in chunk})
        if len(ended) == len(set(wids)):
            return ended
        left = deadline - clock()
        if left <= 0:
            waiting = [wid for wid in wids if wid not in ended]
            raise OutcomeUnknownError(SYSTEM, f"{len(waiting)} journal import(s) still running at the deadline "
                                              f"(import_timeout_seconds), e.g. {waiting[0]}: their journals stay "
                                              "pending and the next run imports them again (Add_Only keeps each once)")
        sleep(min(pause, left))
        pause = min(pause * 2, MAX_PAUSE)
