"""The sandbox's seeded faults: a system's faults land on the same of its requests whatever other
systems send meanwhile, so a run whose pulls read ahead on several threads (`[run] threads`) meets
the faults a sequential run meets, and a seeded faulty demo stays reproducible."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message, Receive, Scope, Send

from migo_sync.sandbox.emulator import Emulator
from migo_sync.sandbox.faults import FaultConfig, FaultMiddleware

pytestmark = pytest.mark.timeout(30)


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _status(middleware: FaultMiddleware, system: str) -> int:
    """The status one request to `system` gets through the middleware."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "GET", "path": f"/{system}/x", "raw_path": f"/{system}/x".encode(),
                    "query_string": b"", "headers": [], "scheme": "http", "server": ("127.0.0.1", 80)}
    await middleware(scope, receive, send)
    return int(sent[0]["status"])


def _middleware(seed: int = 3) -> FaultMiddleware:
    emulators = {"a": Emulator(seed=seed), "b": Emulator(seed=seed)}
    return FaultMiddleware(_ok, emulators, FaultConfig(rate=0.3, kinds=("500",), seed=seed))


def _statuses(middleware: FaultMiddleware, order: list[str]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {"a": [], "b": []}

    async def go() -> None:
        for system in order:
            seen[system].append(await _status(middleware, system))

    asyncio.run(go())
    return seen


def test_a_systems_faults_do_not_move_with_other_systems_requests() -> None:
    alone = _statuses(_middleware(), ["a"] * 40)["a"]
    assert 500 in alone and 200 in alone  # the rate does fault some requests, not all
    interleaved = _statuses(_middleware(), ["a", "b", "b", "a", "b"] * 20)
    assert interleaved["a"] == alone  # b's 60 requests drew nothing from a's sequence
    assert interleaved["b"][:40] == alone  # every system starts from the same seed


def test_reseeding_restarts_every_systems_sequence() -> None:
    middleware = _middleware()
    first = _statuses(middleware, ["a"] * 20)["a"]
    middleware.reseed(3)
    assert _statuses(middleware, ["b", "a"] * 20)["a"] == first
