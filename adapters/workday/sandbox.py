"""Credentials that let a client talk to the Workday emulator (`migo-sync sandbox`)."""

from __future__ import annotations

from pathlib import Path

SANDBOX_TENANT = "migo_sandbox"
SANDBOX_USER = "ISU_migo_sync"
SANDBOX_PASSWORD = "wd-sandbox-Pa55w0rd!"
SANDBOX_COMPANY = "MIGO_KE"


def credentials(state_dir: Path) -> dict[str, str]:
    """The MIGO_SYNC_WORKDAY_* variables the emulator accepts; nothing is written under state_dir."""
    return {
        "MIGO_SYNC_WORKDAY_USERNAME": f"{SANDBOX_USER}@{SANDBOX_TENANT}",
        "MIGO_SYNC_WORKDAY_PASSWORD": SANDBOX_PASSWORD,
    }
