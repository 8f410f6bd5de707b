"""Credentials that let the Sheets client talk to the emulator: a throwaway service-account key.

The key is generated once per state directory (RSA 2048 takes ~50 ms) and kept there, so a
sandbox reused across runs keeps the same service account.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SANDBOX_EMAIL = "migo-sync@migo-sandbox.iam.gserviceaccount.com"
KEY_FILE = "sheets-service-account.json"


def make_key_json(email: str = SANDBOX_EMAIL) -> str:
    """A service-account key file's JSON with a fresh RSA key (never valid at Google)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return json.dumps({
        "type": "service_account", "project_id": "migo-sandbox", "private_key_id": os.urandom(20).hex(),
        "private_key": pem, "client_email": email, "client_id": "100000000000000000001",
        "token_uri": "https://oauth2.googleapis.com/token",
    }, indent=2)


def credentials(state_dir: Path) -> dict[str, str]:
    """The environment variables that point the Sheets adapter at a sandbox key file."""
    path = Path(state_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(make_key_json(), encoding="utf-8")
        tmp.chmod(0o600)
        os.replace(tmp, path)
    return {"MIGO_SYNC_SHEETS_CREDENTIALS_FILE": str(path)}
