"""Credentials that make the Intacct client talk to the sandbox emulator (its seeded defaults)."""

from __future__ import annotations

from pathlib import Path

from .emulator import DEFAULTS


def credentials(state_dir: Path) -> dict[str, str]:
    """The MIGO_SYNC_INTACCT_* variables the emulator accepts; nothing is written to state_dir."""
    return {
        "MIGO_SYNC_INTACCT_SENDER_ID": str(DEFAULTS["sender_id"]),
        "MIGO_SYNC_INTACCT_SENDER_PASSWORD": str(DEFAULTS["sender_password"]),
        "MIGO_SYNC_INTACCT_COMPANY_ID": str(DEFAULTS["company_id"]),
        "MIGO_SYNC_INTACCT_USER_ID": str(DEFAULTS["user_id"]),
        "MIGO_SYNC_INTACCT_USER_PASSWORD": str(DEFAULTS["user_password"]),
    }
