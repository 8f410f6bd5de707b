"""Built-in system adapters, shipped as `migo_sync.adapters`: one folder per system.

Each folder has the same files: `__init__.py` (its `SYSTEM` spec, cheap to import),
`adapter.py` (the adapter), `client.py` (wire calls only), `config.py` (its settings),
`emulator.py` (its sandbox emulator) and `catalog.yaml` (its objects and fields).
"""
