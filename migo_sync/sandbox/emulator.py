"""The base every emulator extends: seeded state, routes, persistence and native error shapes."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

T = TypeVar("T")


class Emulator:
    """A protocol-faithful stand-in for one system, mounted by the sandbox at `/<system>`.

    Subclasses implement `reset()` (seeded state), `routes()`, `state()`/`load()` (JSON that is
    persisted between runs), `dump()` (what `sandbox dump` prints) and `error_response()` (the
    system's own envelope for an injected 429/5xx). Endpoints should be `async def`: they then
    run one at a time on the event loop and need no locks. An emulator whose work per request is heavy
    (hundreds of journals to validate and book) hands it to `alone()`, so the loop stays free meanwhile.

    `url_suffixes` says which `MIGO_SYNC_<SYSTEM>_<KEY>` variables point at this emulator, as
    suffixes of its mount URL (e.g. {"url": "", "token_url": "/token"}).
    """

    system: ClassVar[str] = "base"
    url_suffixes: ClassVar[dict[str, str]] = {"url": ""}

    def __init__(self, *, seed: int = 0, options: dict[str, Any] | None = None) -> None:
        # held while a request is worked on off the loop (`alone`) and by whatever reads or replaces
        # the state meanwhile (reset, persistence, dump, options); re-entrant: state() inside dump()
        self.lock = threading.RLock()
        # one thread of its own (anyio's pool costs ~0.09 s of imports on its first use: a request's)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.system}-emulator")
        self.seed = seed
        self.options = dict(options or {})
        self.rng = random.Random(seed)
        self.reset()

    def reset(self) -> None:
        """Return to the seeded initial state."""

    async def alone(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` on the emulator's own thread, one request at a time under `lock`, as it would
        be on the event loop: the answers are the same, but the loop stays free to take the next request
        (its latency counted from its arrival, as at a real service answering in parallel) and to send
        the answers a realistic sandbox holds until they are due."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, self._locked, work, *args)

    def _locked(self, work: Callable[..., T], *args: Any) -> T:
        with self.lock:
            return work(*args)

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        return {}

    def load(self, state: dict[str, Any]) -> None:
        """Restore what `state()` returned."""

    def dump(self) -> dict[str, Any]:
        return self.state()

    def error_response(self, status: int, request: Request, retry_after: int | None = None) -> Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return JSONResponse({"error": {"code": status, "message": "injected fault"}}, status_code=status,
                            headers=headers)
