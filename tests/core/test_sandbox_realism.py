"""The sandbox answering like a real tenant: latency on every call, calls in flight and per minute
capped with the system's own 429, oversized bodies refused; the vendor defaults behind --realistic."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import cast

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from migo_sync.adapters.zendesk.sandbox import SANDBOX_API_TOKEN, SANDBOX_EMAIL
from migo_sync.errors import ConfigError
from migo_sync.sandbox.emulator import Emulator
from migo_sync.sandbox.process import SandboxThread
from migo_sync.sandbox.realism import VENDOR_DEFAULTS, Limits, RealismMiddleware, split_options

ME = "/zendesk/api/v2/users/me.json"


@pytest.fixture
def throttled() -> Iterator[SandboxThread]:
    handle = SandboxThread(only=["zendesk"], options={"zendesk": {
        "latency_ms": 300, "max_in_flight": 2, "calls_per_minute": 5, "max_request_bytes": 1000,
        "account_limit_per_minute": 1000}})
    yield handle
    handle.stop()


def client(handle: SandboxThread) -> httpx.Client:
    return httpx.Client(base_url=handle.url, auth=(f"{SANDBOX_EMAIL}/token", SANDBOX_API_TOKEN), timeout=30)


def test_every_call_takes_the_configured_latency(throttled: SandboxThread) -> None:
    with client(throttled) as http:
        started = time.monotonic()
        response = http.get(ME)
        assert response.status_code == 200 and time.monotonic() - started >= 0.3
        started = time.monotonic()
        assert http.get("/_sandbox/stats").status_code == 200  # admin routes are never slowed
        assert time.monotonic() - started < 0.3


def test_a_call_beyond_the_in_flight_cap_gets_the_systems_own_429(throttled: SandboxThread) -> None:
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(3)

    def call() -> None:
        with client(throttled) as http:
            barrier.wait(timeout=10)
            answers.append(http.get(ME))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 200, 429]
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.headers["Retry-After"] == "1" and refused.text == "Too Many Requests"  # Zendesk's shape
    assert throttled.limits()["zendesk"]["refused"] == 1


def test_calls_per_minute_and_body_size_are_enforced(throttled: SandboxThread) -> None:
    with client(throttled) as http:
        assert [http.get(ME).status_code for _ in range(5)] == [200] * 5
        sixth = http.get(ME)
        assert sixth.status_code == 429 and 1 <= int(sixth.headers["Retry-After"]) <= 60
        throttled.reset()  # the window starts over
        big = http.post("/zendesk/api/v2/users/create_or_update_many.json", content=b"x" * 1001,
                        headers={"Content-Type": "application/json"})
        assert big.status_code == 413


def test_knobs_are_split_from_emulator_options_and_checked() -> None:
    emulator, limits = split_options({"zendesk": {"latency_ms": 5, "incremental_limit_per_minute": 3}})
    assert emulator == {"zendesk": {"incremental_limit_per_minute": 3}}
    assert limits["zendesk"].latency_ms == 5.0 and limits["zendesk"].max_in_flight is None
    _, realistic = split_options({"intacct": {"latency_ms": 100}}, realistic=True)
    assert set(realistic) == set(VENDOR_DEFAULTS) == {"sheets", "intacct", "adaptive", "zendesk", "workday"}
    assert realistic["intacct"].latency_ms == 100 and realistic["intacct"].max_in_flight == 4
    assert realistic["adaptive"].latency_ms == 800 and realistic["workday"].max_in_flight == 4
    with pytest.raises(ConfigError, match="take numbers"):
        split_options({"zendesk": {"latency_ms": "slow"}})
    with pytest.raises(ConfigError, match="negative"):
        split_options({"zendesk": {"max_in_flight": -1}})


def _paced(work: float, *, fail: bool = False) -> tuple[list[float], list[tuple[str, float]], BaseException | None]:
    """One call through the middleware (latency 500 ms) to an emulator whose answer takes `work`
    seconds of its own, on a fake clock: (sleeps, (message, clock) as sent, what it raised)."""
    clock = [100.0]
    slept: list[float] = []
    sent: list[tuple[str, float]] = []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        clock[0] += seconds

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        clock[0] += work
        if fail:
            raise ConnectionResetError("dropped")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message: Message) -> None:
        sent.append((message["type"], round(clock[0], 6)))

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    middleware = RealismMiddleware(app, {"zendesk": cast(Emulator, object())}, {"zendesk": Limits(latency_ms=500)},
                                   clock=lambda: clock[0], sleep=sleep)
    scope: Scope = {"type": "http", "path": "/zendesk/api/v2/users/me.json", "headers": []}
    try:
        asyncio.run(middleware(scope, receive, send))
    except ConnectionResetError as exc:
        return slept, sent, exc
    return slept, sent, None


def test_a_calls_latency_includes_the_emulators_own_work() -> None:
    # 200 ms of the emulator's work: the answer is held back the other 300 ms, not 500 more
    assert _paced(0.2) == ([0.3], [("http.response.start", 100.5), ("http.response.body", 100.5)], None)
    # work beyond the latency: answered when done, nothing added
    assert _paced(0.7) == ([], [("http.response.start", 100.7), ("http.response.body", 100.7)], None)
    # a dropped connection is dropped at the latency too
    slept, sent, raised = _paced(0.1, fail=True)
    assert slept == [0.4] and sent == [] and isinstance(raised, ConnectionResetError)
