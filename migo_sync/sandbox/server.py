"""The sandbox server: every emulator mounted at `/<system>` on 127.0.0.1, plus `/_sandbox` admin.

Admin endpoints (used by tests, `sandbox dump` and the demo):
    GET  /_sandbox/health            systems served and the environment that points clients here
    GET  /_sandbox/dump/{system}     the emulator's state as JSON
    POST /_sandbox/reset[/{system}]  back to the seeded state
    POST /_sandbox/save              write state files now
    GET  /_sandbox/faults            current fault settings and counts; POST to change them
    GET  /_sandbox/stats             requests received per system (faults included)
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from migo_sync.registry import load_object, systems
from migo_sync.sandbox.emulator import Emulator
from migo_sync.sandbox.faults import FaultConfig, FaultMiddleware
from migo_sync.sandbox.realism import Limits, RealismMiddleware, split_options


def load_emulators(seed: int = 0, only: list[str] | None = None,
                   options: dict[str, dict[str, Any]] | None = None) -> dict[str, Emulator]:
    emulators: dict[str, Emulator] = {}
    for name, spec in systems().items():
        if spec.emulator is None or (only and name not in only):
            continue
        cls = load_object(spec.emulator)
        emulators[name] = cls(seed=seed, options=(options or {}).get(name))
    return emulators


class CountingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_sandbox"):
            self.counts[scope["path"].strip("/").split("/", 1)[0]] += 1
        await self.app(scope, receive, send)


class Sandbox:
    """Emulators plus their persistence and admin API, as one ASGI app."""

    def __init__(self, emulators: dict[str, Emulator], state_dir: Path | None, faults: FaultConfig,
                 limits: dict[str, Limits] | None = None) -> None:
        self.emulators = emulators
        self.state_dir = state_dir
        self.base_url = ""
        self.on_stop: list[Callable[[], None]] = []  # run after the state is saved on shutdown
        self.load_state()
        routes: list[Any] = [
            Route("/_sandbox/health", self.health),
            Route("/_sandbox/dump/{system}", self.dump_route),
            Route("/_sandbox/reset", self.reset_route, methods=["POST"]),
            Route("/_sandbox/reset/{system}", self.reset_route, methods=["POST"]),
            Route("/_sandbox/save", self.save_route, methods=["POST"]),
            Route("/_sandbox/faults", self.faults_route, methods=["GET", "POST"]),
            Route("/_sandbox/stats", self.stats_route),
        ]
        for name, emulator in emulators.items():
            routes.append(Mount(f"/{name}", app=Starlette(routes=emulator.routes())))
        self.app = Starlette(routes=routes, lifespan=self._lifespan)
        self.faults = FaultMiddleware(self.app, emulators, faults)
        self.realism = RealismMiddleware(self.faults, emulators, limits or {})
        self.counter = CountingMiddleware(self.realism)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.counter(scope, receive, send)

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        self.save_state()
        for hook in self.on_stop:
            hook()

    def env(self, base_url: str) -> dict[str, str]:
        """The `MIGO_SYNC_*_URL` variables that point clients at this sandbox."""
        env: dict[str, str] = {}
        for name, emulator in self.emulators.items():
            for key, suffix in emulator.url_suffixes.items():
                env[f"MIGO_SYNC_{name.upper()}_{key.upper()}"] = f"{base_url}/{name}{suffix}"
        return env

    def load_state(self) -> None:
        if not self.state_dir:
            return
        for name, emulator in self.emulators.items():
            path = self.state_dir / f"{name}.json"
            if path.exists():
                emulator.load(json.loads(path.read_text(encoding="utf-8")))

    def save_state(self) -> None:
        if not self.state_dir:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for name, emulator in self.emulators.items():
            path = self.state_dir / f"{name}.json"
            tmp = path.with_suffix(".json.tmp")
            with emulator.lock:  # not while a request is worked on `alone()`: written out whole
                text = json.dumps(emulator.state(), default=str)
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)

    async def health(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"systems": sorted(self.emulators), "env": self.env(base)})

    async def dump_route(self, request: Request) -> Response:
        system = request.path_params["system"]
        if system not in self.emulators:
            return JSONResponse({"error": f"no emulator '{system}'"}, status_code=404)
        emulator = self.emulators[system]
        with emulator.lock:
            text = json.dumps(emulator.dump(), default=str)
        return JSONResponse(json.loads(text))

    async def reset_route(self, request: Request) -> Response:
        system = request.path_params.get("system")
        for name, emulator in self.emulators.items():
            if system in (None, name):
                emulator.rng.seed(emulator.seed)
                emulator.reset()
        self.counter.counts.clear()
        self.faults.config.injected.clear()
        for limits in self.realism.limits.values():
            limits.clear()
        return JSONResponse({"reset": system or "all"})

    async def save_route(self, request: Request) -> Response:
        self.save_state()
        return JSONResponse({"saved": str(self.state_dir) if self.state_dir else None})

    async def faults_route(self, request: Request) -> Response:
        config = self.faults.config
        if request.method == "POST":
            body = await request.json()
            for key in ("rate", "retry_after", "slow_seconds"):
                if key in body:
                    setattr(config, key, type(getattr(config, key))(body[key]))
            if "kinds" in body:
                config.kinds = tuple(body["kinds"])
            if "systems" in body:
                config.systems = tuple(body["systems"])
            if "at" in body:
                config.at, config.seen = tuple(int(n) for n in body["at"]), 0
            if "match" in body:
                config.match, config.seen = str(body["match"]), 0
            if "seed" in body:
                self.faults.reseed(int(body["seed"]))
        return JSONResponse(config.as_dict())

    async def stats_route(self, request: Request) -> Response:
        return JSONResponse({"requests": dict(self.counter.counts),
                             "limits": {name: lim.as_dict() for name, lim in self.realism.limits.items()}})


def parse_options(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """["zendesk.incremental_limit=0", ...] → {"zendesk": {"incremental_limit": 0}}."""
    from migo_sync.errors import ConfigError

    options: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        system, dot, key = name.partition(".")
        if not sep or not dot or not system or not key:
            raise ConfigError(f"--option {pair!r}: expected SYSTEM.KEY=VALUE")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        options.setdefault(system, {})[key] = value
    return options


def build_sandbox(*, state_dir: Path | None = None, fault_rate: float = 0.0, seed: int = 0,
                  only: list[str] | None = None, retry_after: int = 1,
                  options: dict[str, dict[str, Any]] | None = None, realistic: bool = False) -> Sandbox:
    """`realistic` applies every system's VENDOR_DEFAULTS latency and limits (realism.py);
    `latency_ms`, `max_in_flight`, `calls_per_minute`, `max_request_bytes` options override them."""
    emulator_options, limits = split_options(options, realistic=realistic)
    emulators = load_emulators(seed=seed, only=only, options=emulator_options)
    return Sandbox(emulators, state_dir, FaultConfig(rate=fault_rate, seed=seed, retry_after=retry_after),
                   {name: lim for name, lim in limits.items() if name in emulators})


def bind(port: int, host: str = "127.0.0.1") -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and accepted
    # sockets inherit it. Without it every keep-alive answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections queue from now on, before uvicorn starts accepting
    return sock


def make_server(sandbox: Sandbox) -> Any:
    import uvicorn

    config = uvicorn.Config(sandbox, log_level="critical", access_log=False, lifespan="on",
                            timeout_keep_alive=30, h11_max_incomplete_event_size=64 * 1024 * 1024)
    logging.getLogger("uvicorn.error").disabled = True
    return uvicorn.Server(config)


def serve(sandbox: Sandbox, sock: socket.socket, ready_file: Path | None = None) -> None:
    """Run until SIGINT/SIGTERM; state is saved on the way out."""
    host, port = sock.getsockname()[:2]
    base_url = f"http://{host}:{port}"
    sandbox.base_url = base_url
    server = make_server(sandbox)
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": base_url, "pid": os.getpid(), "env": sandbox.env(base_url)}))
        os.replace(tmp, ready_file)
    server.run(sockets=[sock])
