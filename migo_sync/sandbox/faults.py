"""Fault injection for the sandbox: 429 with Retry-After, 500/503, dropped connections, slow answers.

A dropped connection comes in two kinds: `drop` before the request is processed (nothing
happened) and `drop_after` once it was processed (the remote applied it, the answer was lost),
which is the case idempotency keys exist for. `hold_after` processes the request, then holds the
answer back for `slow_seconds` before dropping the connection: the remote applied it while the
client still waits (a process killed there dies between intent and confirmation). `hold` holds
the request itself as long, then drops it unprocessed: the client waits for a request the remote
never applies (a process killed there leaves an intent nothing was posted for). `match` limits
faults (and the requests `at` counts) to requests whose body holds that text, e.g. the one that
posts journals.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from migo_sync.sandbox.emulator import Emulator

ALL_KINDS = ("429", "500", "503", "drop", "drop_after", "slow")


@dataclass
class FaultConfig:
    rate: float = 0.0
    kinds: tuple[str, ...] = ALL_KINDS
    retry_after: int = 1
    slow_seconds: float = 0.3
    systems: tuple[str, ...] = ()  # empty: every system
    seed: int = 0
    # Deterministic faults: the 1-based numbers of the requests (to the chosen systems, counted
    # from when `at` was set) that get the first of `kinds`; when set, `rate` is not used.
    at: tuple[int, ...] = ()
    match: str = ""  # when set, only requests whose body holds this text are faulted (and counted)
    seen: int = 0
    injected: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"rate": self.rate, "kinds": list(self.kinds), "retry_after": self.retry_after,
                "slow_seconds": self.slow_seconds, "systems": list(self.systems), "at": list(self.at),
                "match": self.match,
                "seen": self.seen, "injected": self.injected}

    def pick(self, rng: random.Random) -> str | None:
        """The fault for the next request to a faulted system, or None."""
        if self.at:
            self.seen += 1
            return self.kinds[0] if self.seen in self.at else None
        if self.rate <= 0 or rng.random() >= self.rate:
            return None
        return rng.choice(self.kinds)


class ConnectionDropped(Exception):
    """Raised inside the ASGI app after a partial response: the server then closes the socket."""


class FaultMiddleware:
    """Wraps the sandbox app; decides per request, with a seeded RNG, whether to misbehave.

    Each system draws from its own RNG (every one seeded with the same seed): a system's faults
    land on the same of its requests whatever other systems send meanwhile, so a run whose pulls
    read ahead on several threads (`[run] threads`) meets the faults a sequential run meets.
    """

    def __init__(self, app: ASGIApp, emulators: dict[str, Emulator], config: FaultConfig) -> None:
        self.app = app
        self.emulators = emulators
        self.config = config
        self.seed = config.seed
        self.rngs: dict[str, random.Random] = {}

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self.rngs.clear()

    def rng(self, system: str) -> random.Random:
        """This system's draws (the middleware runs on the server's one event loop: no lock needed)."""
        if system not in self.rngs:
            self.rngs[system] = random.Random(self.seed)
        return self.rngs[system]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        system = scope["path"].strip("/").split("/", 1)[0]
        config = self.config
        emulator = self.emulators.get(system)
        kind = None
        if emulator is not None and not (config.systems and system not in config.systems):
            if config.match:
                body = await _body(receive)
                receive = _replay(body)
                if config.match.encode() in body:
                    kind = config.pick(self.rng(system))
            else:
                kind = config.pick(self.rng(system))
        if kind is None or emulator is None:
            await self.app(scope, receive, send)
            return
        config.injected[kind] = config.injected.get(kind, 0) + 1
        if kind == "slow":
            await asyncio.sleep(config.slow_seconds)
            await self.app(scope, receive, send)
        elif kind == "drop":
            await _drop(send)
        elif kind == "hold":
            await asyncio.sleep(config.slow_seconds)
            await _drop(send)
        elif kind in ("drop_after", "hold_after"):
            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            if kind == "hold_after":
                await asyncio.sleep(config.slow_seconds)
            await _drop(send)
        else:
            from starlette.requests import Request

            status = int(kind)
            response = emulator.error_response(status, Request(scope, receive),
                                               config.retry_after if status in (429, 503) else None)
            await response(scope, receive, send)


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """A receive() that hands the app the body already read, then waits like the real one."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # as a client that sends nothing more
        return {"type": "http.disconnect"}

    return receive


async def _drop(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"1000"), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise ConnectionDropped("injected dropped connection")
