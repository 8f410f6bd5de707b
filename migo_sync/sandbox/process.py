"""Run the sandbox for a caller: in a child process (demo, benchmarks) or a thread (tests).

Both give a `SandboxHandle` with the base URL, the environment that points clients at it, and
the admin calls (dump, reset, faults, stats).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from migo_sync.errors import UnreachableError


class SandboxHandle:
    """A running sandbox, reachable over loopback HTTP."""

    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url = url
        self.env = env
        self._admin = httpx.Client(base_url=url, timeout=60.0)

    def dump(self, system: str) -> dict[str, Any]:
        response = self._admin.get(f"/_sandbox/dump/{system}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset(self, system: str | None = None) -> None:
        self._admin.post(f"/_sandbox/reset/{system}" if system else "/_sandbox/reset").raise_for_status()

    def save(self) -> None:
        self._admin.post("/_sandbox/save").raise_for_status()

    def faults(self, **settings: Any) -> dict[str, Any]:
        response = (self._admin.post("/_sandbox/faults", json=settings) if settings
                    else self._admin.get("/_sandbox/faults"))
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stats(self) -> dict[str, int]:
        response = self._admin.get("/_sandbox/stats")
        response.raise_for_status()
        counts: dict[str, int] = response.json()["requests"]
        return counts

    def limits(self) -> dict[str, dict[str, Any]]:
        """Each throttled system's realism knobs and how many calls they refused."""
        response = self._admin.get("/_sandbox/stats")
        response.raise_for_status()
        limits: dict[str, dict[str, Any]] = response.json()["limits"]
        return limits

    def stop(self) -> None:
        self._admin.close()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SandboxProcess(SandboxHandle):
    """`migo-sync sandbox serve` in a child process; stopped (state saved) on exit."""

    def __init__(self, *, state_dir: Path | None = None, fault_rate: float = 0.0, seed: int = 0,
                 port: int = 0, retry_after: int = 1, timeout: float = 30.0,
                 options: dict[str, dict[str, Any]] | None = None, realistic: bool = False) -> None:
        workdir = Path(tempfile.mkdtemp(prefix="migo-sandbox-"))
        ready = workdir / "ready.json"
        cmd = [sys.executable, "-m", "migo_sync", "sandbox", "serve", "--port", str(port),
               "--fault-rate", str(fault_rate), "--seed", str(seed), "--retry-after", str(retry_after),
               "--ready-file", str(ready)]
        if state_dir is not None:
            cmd += ["--state-dir", str(state_dir)]
        if realistic:
            cmd.append("--realistic")
        for system, knobs in (options or {}).items():
            for key, value in knobs.items():
                cmd += ["--option", f"{system}.{key}={json.dumps(value)}"]
        self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise UnreachableError(f"sandbox failed to start: {err.strip()[-2000:]}")
            if time.monotonic() > deadline:
                self.process.kill()
                raise UnreachableError("sandbox did not start within 30 s")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        super().__init__(info["url"], info["env"])

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                self.save()
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        super().stop()


class SandboxThread(SandboxHandle):
    """The sandbox on a thread of this process: quick to start, for tests."""

    def __init__(self, *, state_dir: Path | None = None, fault_rate: float = 0.0, seed: int = 0,
                 retry_after: int = 0, only: list[str] | None = None,
                 options: dict[str, dict[str, Any]] | None = None, realistic: bool = False) -> None:
        from migo_sync.sandbox.server import bind, build_sandbox, make_server

        self.sandbox = build_sandbox(state_dir=state_dir, fault_rate=fault_rate, seed=seed, only=only,
                                     retry_after=retry_after, options=options, realistic=realistic)
        sock = bind(0)
        host, port = sock.getsockname()[:2]
        url = f"http://{host}:{port}"
        self.sandbox.base_url = url
        self.server = make_server(self.sandbox)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise UnreachableError("sandbox thread did not start")
            time.sleep(0.01)
        super().__init__(url, self.sandbox.env(url))

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        super().stop()
