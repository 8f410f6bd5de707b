"""migo-sync: move data both ways between a warehouse and finance SaaS systems."""

from __future__ import annotations

__version__ = "0.1.0"
