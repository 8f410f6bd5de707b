"""adapters/ ships as migo_sync.adapters: every adapter folder must be in the package list."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_adapter_folder_is_packaged() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(config["tool"]["setuptools"]["packages"])
    assert config["tool"]["setuptools"]["package-dir"]["migo_sync.adapters"] == "adapters"
    folders = {f"migo_sync.adapters.{p.parent.name}" for p in (ROOT / "adapters").glob("*/__init__.py")}
    assert folders and folders <= packages, folders - packages
    core = {"migo_sync." + ".".join(p.parent.relative_to(ROOT / "migo_sync").parts)
            for p in (ROOT / "migo_sync").glob("*/__init__.py") if p.parent.name != "adapters"}
    assert core <= packages, core - packages


def test_the_symlink_lets_tools_see_adapters_inside_the_package() -> None:
    link = ROOT / "migo_sync" / "adapters"
    assert link.is_symlink() and link.resolve() == (ROOT / "adapters").resolve()


def test_every_adapter_has_the_same_files() -> None:
    expected = {"__init__.py", "adapter.py", "client.py", "config.py", "emulator.py", "catalog.yaml", "sandbox.py"}
    for folder in (ROOT / "adapters").iterdir():
        if (folder / "__init__.py").exists():
            missing = expected - {p.name for p in folder.iterdir()}
            assert not missing, f"{folder.name} lacks {sorted(missing)}"


def test_the_snowflake_extra_installs_the_tested_connector_range() -> None:
    """`pip install 'migo-sync[snowflake]'` must not resolve to a connector no test runs."""
    from packaging.requirements import Requirement

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = config["project"]["optional-dependencies"]
    runtime = next(Requirement(r) for r in extras["snowflake"] if r.startswith("snowflake-connector-python"))
    tested = next(Requirement(r.split("#")[0]) for r in extras["dev"] if r.startswith("snowflake-connector-python"))
    assert runtime.specifier == tested.specifier
    assert not runtime.specifier.contains("5.2.0") and runtime.specifier.contains("4.8.1")
