"""An ASGI wrapper over the sandbox that holds some calls of one system until another call has been
made: how the tests of an overlap prove that two calls were in flight together (a held answer that
gives up waiting is counted; no timing is asserted)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import Any

HOLD_SECONDS = 20.0  # how long a held answer waits for the other call before it gives up
# a call's method: Adaptive's `method=`, Intacct's first function, a SOAP body's operation (Workday)
METHOD = re.compile(rb'method="(\w+)"|<function[^>]*>\s*<(\w+)|<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)')


class BodyGate:
    """ASGI wrapper over one system's XML API: a call whose body matches `held` waits until one matching
    `other` has been asked (at most HOLD_SECONDS) — of the same system, or of `other_system`; records
    the most calls the held system had at once and each of its calls' first function or method."""

    def __init__(self, app: Any, system: str, held: bytes, other: bytes, other_system: str | None = None) -> None:
        self.app, self.system, self.held, self.other = app, system, re.compile(held), re.compile(other)
        self.other_system = other_system or system
        self.other_asked = threading.Event()
        self.gave_up = self.inside = self.peak = 0
        self.methods: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        system = scope["path"].strip("/").split("/", 1)[0] if scope["type"] == "http" else ""
        if system not in (self.system, self.other_system):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        if system == self.other_system and self.other.search(body):
            self.other_asked.set()
        if system != self.system:
            await self.app(scope, self._replay(body, receive), send)
            return
        found = METHOD.search(body)
        self.methods.append(next(g for g in found.groups() if g).decode() if found else "")
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        try:
            if self.held.search(body):
                deadline = time.monotonic() + HOLD_SECONDS
                while not self.other_asked.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                self.gave_up += not self.other_asked.is_set()
            await self.app(scope, self._replay(body, receive), send)
        finally:
            self.inside -= 1

    @staticmethod
    def _replay(body: bytes, receive: Any) -> Any:
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay
