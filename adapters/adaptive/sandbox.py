"""Credentials that let a client talk to the Adaptive emulator (`migo-sync sandbox`)."""

from __future__ import annotations

from pathlib import Path

SANDBOX_LOGIN = "planner@migo-lending.example"
SANDBOX_PASSWORD = "adaptive-sandbox-Pa55w0rd"
SANDBOX_INSTANCE = "MIGO"


def credentials(state_dir: Path) -> dict[str, str]:
    """The environment variables the emulator accepts (nothing is written under `state_dir`)."""
    return {
        "MIGO_SYNC_ADAPTIVE_LOGIN": SANDBOX_LOGIN,
        "MIGO_SYNC_ADAPTIVE_PASSWORD": SANDBOX_PASSWORD,
    }
