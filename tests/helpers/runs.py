"""Run migo-sync as a child process and wait for things with a deadline."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any


def cli_json(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, Any]:
    """`python -m migo_sync ARGS --json` in a child process: (exit code, parsed stdout)."""
    done = subprocess.run([sys.executable, "-m", "migo_sync", *args, "--json"], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None


def cli_json_here(*args: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    """`migo-sync ARGS --json` in this process, `env` set for the call only: for the commands a test
    reads its evidence with (`runs list`, `runs show`), where a child process of their own adds
    ~1.5 s of imports and tests nothing more. The run under test stays a child process."""
    from migo_sync.cli import run_cli

    saved = {name: os.environ.get(name) for name in env or {}}
    out = io.StringIO()
    try:
        os.environ.update(env or {})
        with contextlib.redirect_stdout(out):
            code = run_cli([*args, "--json"])
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return code, json.loads(out.getvalue()) if out.getvalue().strip() else None


def wait_until(condition: Callable[[], bool], seconds: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.01)


def signal_when(args: list[str], env: dict[str, str], ready: Callable[[], bool], signum: int, *, what: str,
                seconds: float = 150) -> tuple[int, str, str]:
    """Start `python -m migo_sync ARGS`, send it `signum` once `ready()` (or once it ended by itself);
    return (exit code, stdout, stderr). The child never outlives the call."""
    child = subprocess.Popen([sys.executable, "-m", "migo_sync", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    try:
        wait_until(lambda: ready() or child.poll() is not None, seconds=seconds, what=what)
        child.send_signal(signum)
        out, err = child.communicate(timeout=90)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    return child.returncode, out, err
