"""A real tenant's speed and limits in the sandbox: latency, calls in flight, calls per minute, body size.

Loopback answers in a millisecond; a real tenant takes hundreds, and caps how many calls run at
once and per minute. With these knobs a benchmark shows what a tenant would show, and a client
that ignores a cap meets the same 429 the service sends (each system's own error envelope).

Knobs, per system, as `--option SYSTEM.KEY=VALUE` (or all of VENDOR_DEFAULTS with `--realistic`):
    latency_ms         how long every call takes, the emulator's own work included (a round trip)
    max_in_flight      calls served at once; one more is answered 429 with Retry-After: 1
    calls_per_minute   calls accepted in any 60 s window; one more is answered 429 with the
                       Retry-After that frees a slot
    max_request_bytes  request bodies larger than this are answered 413
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from migo_sync.sandbox.emulator import Emulator

KEYS = ("latency_ms", "max_in_flight", "calls_per_minute", "max_request_bytes")

# What each vendor documents or its users report for a production tenant; latencies and in-flight
# caps are the figures issue 16 measured against (see /work/shared/api-reference.md for quotas).
VENDOR_DEFAULTS: dict[str, dict[str, int]] = {
    # Sheets API: ~250 ms a values call; quotas 60 reads + 60 writes a minute per user per project
    # (one service account is one user; not split by kind here). Payloads: the emulator's 2 MB rule.
    "sheets": {"latency_ms": 250, "max_in_flight": 10, "calls_per_minute": 120},
    # Intacct XML gateway: ~600 ms a request; concurrency per company is the limit (GW-0010 when
    # exceeded); no published per-minute cap for the XML gateway (monthly entitlements are billed).
    "intacct": {"latency_ms": 600, "max_in_flight": 4},
    # Adaptive Planning XML API: ~800 ms; no public numeric limits; imports serialised per instance.
    "adaptive": {"latency_ms": 800, "max_in_flight": 2},
    # Zendesk Support: ~300 ms; 700 requests/min (Enterprise); the emulator also enforces its own
    # account and incremental-export (10/min) limits.
    "zendesk": {"latency_ms": 300, "max_in_flight": 10, "calls_per_minute": 700},
    # Workday WWS: ~700 ms SOAP calls; tenants throttle concurrent web-service calls (no public figure).
    "workday": {"latency_ms": 700, "max_in_flight": 4},
}


@dataclass
class Limits:
    latency_ms: float = 0.0
    max_in_flight: int | None = None
    calls_per_minute: int | None = None
    max_request_bytes: int | None = None
    in_flight: int = 0
    recent: deque[float] = field(default_factory=deque)
    refused: int = 0
    served: int = 0     # calls answered by the emulator (not refused by a cap)
    peak: int = 0       # the most calls in flight at once: how tests see a client's concurrency

    def as_dict(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms, "max_in_flight": self.max_in_flight,
                "calls_per_minute": self.calls_per_minute, "max_request_bytes": self.max_request_bytes,
                "refused": self.refused, "served": self.served, "peak_in_flight": self.peak}

    def clear(self) -> None:
        """Counters back to zero (the sandbox's reset); the knobs stay."""
        self.refused = self.served = self.peak = 0
        self.recent.clear()


def split_options(options: dict[str, dict[str, Any]] | None, *, realistic: bool = False,
                  systems: list[str] | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, Limits]]:
    """Separate the realism knobs (handled here) from each emulator's own knobs."""
    from migo_sync.errors import ConfigError

    emulator_options: dict[str, dict[str, Any]] = {}
    limits: dict[str, Limits] = {}
    names = set(systems or []) | set(options or {}) | (set(VENDOR_DEFAULTS) if realistic else set())
    for system in sorted(names):
        own = dict((options or {}).get(system, {}))
        knobs = {**(VENDOR_DEFAULTS.get(system, {}) if realistic else {}),
                 **{k: own.pop(k) for k in KEYS if k in own}}
        if own:
            emulator_options[system] = own
        if knobs:
            try:
                values = {k: (float(v) if k == "latency_ms" else int(v)) for k, v in knobs.items()}
            except (TypeError, ValueError):
                raise ConfigError(f"--option {system}: {', '.join(KEYS)} take numbers") from None
            if any(v < 0 for v in values.values()):
                raise ConfigError(f"--option {system}: {', '.join(KEYS)} cannot be negative")
            limits[system] = Limits(**values)  # type: ignore[arg-type]
    return emulator_options, limits


class RealismMiddleware:
    """Delays and throttles each system's calls as configured; admin routes are never touched."""

    def __init__(self, app: ASGIApp, emulators: dict[str, Emulator], limits: dict[str, Limits],
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.app = app
        self.emulators = emulators
        self.limits = limits
        self.clock = clock
        self.sleep = sleep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        system = scope["path"].strip("/").split("/", 1)[0] if scope["type"] == "http" else ""
        limits = self.limits.get(system)
        emulator = self.emulators.get(system)
        if limits is None or emulator is None or scope["path"].split("/")[2:3] == ["_options"]:
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(limits, scope)
        if refusal is not None:
            limits.refused += 1
            status, retry_after = refusal
            response = emulator.error_response(status, Request(scope, receive), retry_after)
            await response(scope, receive, send)
            return
        limits.in_flight += 1
        limits.served += 1
        limits.peak = max(limits.peak, limits.in_flight)
        if limits.calls_per_minute is not None:
            limits.recent.append(self.clock())
        try:
            if limits.latency_ms:
                await self._answer_at(self.clock() + limits.latency_ms / 1000.0, scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            limits.in_flight -= 1

    async def _answer_at(self, due: float, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the emulator at once and hold its answer back until `due`: a call takes the
        configured latency in all, the work of answering included (the vendors' figures are whole
        round trips), so the emulator's own CPU time is not added on top of them."""
        waited = False

        async def wait() -> None:
            nonlocal waited
            if not waited:
                waited = True
                left = due - self.clock()
                if left > 0:
                    await self.sleep(left)

        async def paced(message: Message) -> None:
            await wait()  # the first message (the status line) waits; a body streams as the emulator sends it
            await send(message)

        try:
            await self.app(scope, receive, paced)
        finally:
            await wait()  # a connection the emulator drops is dropped at the latency too

    def _refusal(self, limits: Limits, scope: Scope) -> tuple[int, int | None] | None:
        if limits.max_request_bytes is not None:
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > limits.max_request_bytes:
                return 413, None
        if limits.calls_per_minute is not None:
            now = self.clock()
            while limits.recent and limits.recent[0] <= now - 60.0:
                limits.recent.popleft()
            if len(limits.recent) >= limits.calls_per_minute:
                return 429, max(1, math.ceil(limits.recent[0] + 60.0 - now))
        if limits.max_in_flight is not None and limits.in_flight >= limits.max_in_flight:
            return 429, 1
        return None
