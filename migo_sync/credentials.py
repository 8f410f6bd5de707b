"""Credentials come from environment variables or the OS keyring, never from mapping files."""

from __future__ import annotations

import os
from collections.abc import Mapping

from migo_sync.errors import ConfigError
from migo_sync.redact import register_secret

KEYRING_SERVICE = "migo-sync"


class Credentials:
    """Looks up one system's secrets: `MIGO_SYNC_<SYSTEM>_<NAME>`, then the keyring.

    The keyring entry is service "migo-sync", user "<system>.<name>" (lower case). Every value
    found is registered for redaction before it is returned.
    """

    def __init__(self, system: str, environ: Mapping[str, str] | None = None, use_keyring: bool = True) -> None:
        self.system = system
        self.environ = os.environ if environ is None else environ
        self.use_keyring = use_keyring

    def env_name(self, name: str) -> str:
        return f"MIGO_SYNC_{self.system.upper()}_{name.upper()}"

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.environ.get(self.env_name(name))
        if value is None and self.use_keyring:
            value = _from_keyring(f"{self.system}.{name.lower()}")
        if value is None:
            value = default
        register_secret(value)
        return value

    def in_environment(self, *names: str) -> bool:
        """Whether every one of `names` is set in the environment (which the keyring never overrides):
        lets an adapter choose between kinds of credentials without opening the keyring."""
        return all(self.environ.get(self.env_name(n)) is not None for n in names)

    def first(self, *names: str) -> tuple[str, str] | None:
        """(name, value) of the first of `names` set (not empty) in the environment, else the first in the
        keyring: a credential the environment gives wins over every keyring entry (and costs no keyring
        look-up, which imports the keyring and finds its backend: ~0.2 s)."""
        for name in names:
            value = self.environ.get(self.env_name(name))
            if value:
                register_secret(value)
                return name, value
        for name in names:
            value = _from_keyring(f"{self.system}.{name.lower()}") if self.use_keyring else None
            if value:
                register_secret(value)
                return name, value
        return None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            places = [f"environment variable {self.env_name(name)}"]
            if self.use_keyring:
                places.append(f"keyring service '{KEYRING_SERVICE}' user '{self.system}.{name.lower()}'")
            raise ConfigError(f"{self.system}: missing credential '{name}'; looked in: " + ", then ".join(places))
        return value


def _from_keyring(user: str) -> str | None:
    if os.environ.get("MIGO_SYNC_NO_KEYRING"):
        return None
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        value = keyring.get_password(KEYRING_SERVICE, user)
    except (KeyringError, RuntimeError):
        return None
    return value if isinstance(value, str) else None
