"""The one place the cyclic garbage collector is paused or narrowed: paused while a pull turns a
page into objects, and while a push reads a batch of rows into units (5,000 Zendesk users: ~0.13-0.20 s of reading
before the first job with the collector on, ~0.08-0.14 s paused, load 3 on 2 cores).

A page of 1000 Zendesk tickets allocates ~100,000 acyclic objects (JSON parse, then Arrow casts);
parsing it with the collector on takes ~8 ms of CPU instead of ~6 ms, and a 30,000-ticket pull
through the engine used 3.1 s of CPU paused against 3.2-3.5 s never paused (README, Development).
Reference counting still frees everything; only cycle detection waits until the page is built.

The collector is process-global and adapters may parse on their own threads (Zendesk's read-ahead),
so the pause is counted under a lock: the first holder in records whether it was on, the last one
out restores exactly that. Two threads toggling it independently can leave it off for good.

A run holds the objects alive when it starts out of the collector's full passes (`heap_frozen`):
the demo's nightly job reached ~117,000 tracked objects (imported modules, catalogs, WSDLs), and
the one full pass that fell inside intacct_journals_push took 0.065 s of CPU (0.11 s of wall
at load 5) against 0.003-0.015 s for all of its collections when it ran alone. They are handed
back (gc.unfreeze) when the run ends, so a `run --every` process frees any of them that died
since at its next full pass: memory stays bounded by what one run leaves behind. What the run itself
loads before its mappings need it (a system's WSDL read by its preparation, the signing library, the
adapters) joins them as each mapping begins (`refreeze`): full passes that fell inside pushes took
0.03-0.07 s of CPU walking those (load 2), on the critical path whenever one struck between an answer
and the next request.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False
_freezers = 0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the collector off for the block (re-entrant, from any thread)."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Leave the objects alive now out of every collection until the block ends (re-entrant, from
    any thread: the last one out hands them back to the oldest generation)."""
    global _freezers
    with _lock:
        if _freezers == 0:
            gc.freeze()
        _freezers += 1
    try:
        yield
    finally:
        with _lock:
            _freezers -= 1
            if _freezers == 0:
                gc.unfreeze()


def refreeze() -> None:
    """Inside `heap_frozen`: the objects alive now join the frozen ones (handed back with them when the
    block ends); outside it, nothing. O(1): the generations' lists are spliced, nothing is walked."""
    with _lock:
        if _freezers:
            gc.freeze()
