"""The base every emulator extends: seeded state, routes, persistence and native error shapes."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute


class Emulator:
    """A protocol-faithful stand-in for one system, mounted by the sandbox at `/<system>`.

    Subclasses implement `reset()` (seeded state), `routes()`, `state()`/`load()` (JSON that is
    persisted between runs), `dump()` (what `sandbox dump` prints) and `error_response()` (the
    system's own envelope for an injected 429/5xx). Endpoints should be `async def`: they then
    run one at a time on the event loop and need no locks.

    `url_suffixes` says which `MIGO_SYNC_<SYSTEM>_<KEY>` variables point at this emulator, as
    suffixes of its mount URL (e.g. {"url": "", "token_url": "/token"}).
    """

    system: ClassVar[str] = "base"
    url_suffixes: ClassVar[dict[str, str]] = {"url": ""}

    def __init__(self, *, seed: int = 0, options: dict[str, Any] | None = None) -> None:
        self.seed = seed
        self.options = dict(options or {})
        self.rng = random.Random(seed)
        self.reset()

    def reset(self) -> None:
        """Return to the seeded initial state."""

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
