"""Open a local HTML file in real headless Chromium (Debian's `chromium`) and return its DOM."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Rendered:
    dom: str  # the DOM after scripts ran (--dump-dom)
    console: list[str]  # console messages and load errors Chromium logged


def chromium() -> str:
    """The chromium binary, or skip the test saying why."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium package)")
    return found


def render(page: Path, timeout: float = 90.0) -> Rendered:
    binary = chromium()
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=2000", "--dump-dom", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 and not done.stdout.strip():
        pytest.skip(f"chromium cannot run here (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    console = [line for line in done.stderr.splitlines()
               if "CONSOLE" in line or "Refused to" in line or "Failed to load" in line]
    return Rendered(done.stdout, console)
