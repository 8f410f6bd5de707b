"""The sandbox: every system's emulator on loopback, with persistent state and fault injection."""
