"""SIGKILL a `migo-sync push` at random points, then let a rerun finish: the crash-safety harness.

The push runs as a real child process against the sandbox (slowed down, so a kill lands between
recording intent, sending and confirming); each round is killed once the remote's `progress()`
(e.g. journals it holds) has grown by a random step. The tests then assert that the rerun left
every unit exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from migo_sync.config import Project
from migo_sync.sandbox.process import SandboxThread


@dataclass(frozen=True)
class KilledPush:
    kills: list[int]  # progress() at each SIGKILL (rounds that finished first are not counted)
    rerun: subprocess.CompletedProcess[str]  # the final push, run to its end


def kill_push_then_rerun(handle: SandboxThread, system: str, project: Project, mapping: str, env: dict[str, str],
                         progress: Callable[[], int], *, slow_seconds: float, max_step: int, rounds: int = 4,
                         seed: int = 20261130) -> KilledPush:
    """Push `mapping` `rounds` times, each SIGKILLed after `progress()` grew by 1..`max_step` (or
    60 s passed), with every request to `system` slowed by `slow_seconds`; then push once more,
    unslowed, to the end."""
    handle.faults(rate=1.0, kinds=["slow"], slow_seconds=slow_seconds, systems=[system])
    rng = random.Random(seed)
    command = [sys.executable, "-m", "migo_sync", "push", mapping, "--project", str(project.root), "--quiet"]
    child_env = {**os.environ, **env}
    kills = []
    for _ in range(rounds):
        child = subprocess.Popen(command, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target, deadline = progress() + rng.randint(1, max_step), time.monotonic() + 60
        while child.poll() is None and progress() < target and time.monotonic() < deadline:
            time.sleep(0.002)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)  # somewhere mid-push: between intent, send and confirm
            kills.append(progress())
        child.wait()
    handle.faults(rate=0.0)
    rerun = subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=120)
    return KilledPush(kills, rerun)
