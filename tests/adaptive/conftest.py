"""Fixtures for the Adaptive Planning tests: the emulator alone on loopback, an adapter on it."""

from __future__ import annotations

from helpers.emulators import adapter_fixtures, emulator_fixtures

adaptive_server, adaptive_sandbox = emulator_fixtures("adaptive")


project, adapter = adapter_fixtures("adaptive", "adaptive_sandbox")
