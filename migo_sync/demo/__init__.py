"""`migo-sync demo`: the real nightly job against DuckDB and the local emulators."""
