"""Real traffic recorded by public client libraries (`<repo>/../shared/recordings`), replayed
through migo-sync's real clients and adapters. Read in place, never copied: every test here
skips, saying why, when that folder is not beside the repository."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from migo_sync.adapter import AdapterContext
from migo_sync.credentials import Credentials
from migo_sync.http import make_client
from migo_sync.sandbox.schemas import recordings_dir

REPO = Path(__file__).resolve().parents[2]  # tests/helpers/ → the repository root
RECORDINGS = recordings_dir(REPO)
Handler = Callable[[httpx.Request], httpx.Response]


def recording(system: str, name: str) -> Path:
    """The path of one recording; the test is skipped when the recordings are not beside the repo."""
    path = RECORDINGS / system / name
    if not path.is_file():
        pytest.skip(f"recording {system}/{name} not found: the real-traffic recordings live in "
                    f"{RECORDINGS} (a `shared/recordings` folder beside the repository)")
    return path


def recorded_bytes(system: str, name: str) -> bytes:
    return recording(system, name).read_bytes()


def replay_context(system: str, handler: Handler, *, url: str, settings: dict[str, Any] | None = None,
                   environ: dict[str, str] | None = None, urls: dict[str, str] | None = None) -> AdapterContext:
    """An adapter context whose HTTP clients are the real ones (retries, classification, limits)
    over a transport that answers from `handler` (the recording)."""
    transport = httpx.MockTransport(handler)

    def http(base_url: str, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("transport", transport)  # an adapter that wraps its own (Zendesk) keeps it
        return make_client(system, base_url, settings=settings or {}, **kwargs)

    return AdapterContext(system=system, base_url=url, urls={"url": url, **(urls or {})}, settings=settings or {},
                          credentials=Credentials(system, environ or {}, use_keyring=False), http=partial(http))


class Capture(httpx.BaseTransport):
    """A pass-through transport that keeps every request body sent."""

    def __init__(self, bodies: list[bytes], inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport(retries=0)
        self.bodies = bodies

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.read())
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def capture_into(transport: httpx.BaseTransport | None, bodies: list[bytes]) -> httpx.BaseTransport:
    """`transport` with a Capture where it reaches the network (adapters wrap their own transports:
    Workday's fault reader, Zendesk's pacing), or a plain capturing one."""
    if transport is None:
        return Capture(bodies)
    holder: Any = transport
    while isinstance(getattr(holder, "inner", None), httpx.BaseTransport):
        if isinstance(holder.inner, httpx.HTTPTransport):
            holder.inner = Capture(bodies, holder.inner)
            return transport
        holder = holder.inner
    return transport
