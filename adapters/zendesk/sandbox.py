"""Credentials that let a client talk to the Zendesk emulator (which accepts exactly these)."""

from __future__ import annotations

from pathlib import Path

SANDBOX_EMAIL = "agent@migo-demo.example"
SANDBOX_API_TOKEN = "zd-sandbox-token-6f1c2b9e4a7d"
SANDBOX_OAUTH_TOKEN = "zd-sandbox-oauth-3e8a5c1f9b20"


def credentials(state_dir: Path) -> dict[str, str]:
    """API-token auth for the emulator; the emulator also accepts `SANDBOX_OAUTH_TOKEN` as Bearer."""
    return {"MIGO_SYNC_ZENDESK_EMAIL": SANDBOX_EMAIL, "MIGO_SYNC_ZENDESK_API_TOKEN": SANDBOX_API_TOKEN}
