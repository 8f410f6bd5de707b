"""Helpers for the Zendesk tests: the emulator, projects and adapters on it, mappings, push units."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
from helpers.sandboxed import query as query  # re-exported: the zendesk tests read the warehouse

from migo_sync.adapter import PushUnit, idempotency_key
from migo_sync.adapters.zendesk.adapter import ZendeskAdapter
from migo_sync.adapters.zendesk.emulator import ZendeskEmulator
from migo_sync.adapters.zendesk.sandbox import SANDBOX_API_TOKEN, SANDBOX_EMAIL, credentials
from migo_sync.config import Project, ProjectConfig
from migo_sync.demo.dataset import Sizes, seed
from migo_sync.mapping.model import Mapping
from migo_sync.sandbox.process import SandboxThread
from migo_sync.systems import adapter_context
from migo_sync.warehouse import open_warehouse

FAST = {"job_poll_interval": 0.0, "job_poll_max": 0.0, "incremental_limit_per_minute": 0}
SECRETS = (SANDBOX_API_TOKEN, "zd-sandbox-oauth-3e8a5c1f9b20")


def emulator_of(handle: SandboxThread) -> ZendeskEmulator:
    emulator = handle.sandbox.emulators["zendesk"]
    assert isinstance(emulator, ZendeskEmulator)
    return emulator


def dump(handle: SandboxThread) -> dict[str, Any]:
    """What `sandbox dump zendesk` shows, read straight from the emulator (no 10 MB JSON round trip)."""
    return emulator_of(handle).dump()


def configure(handle: SandboxThread, **options: Any) -> dict[str, Any]:
    """Change emulator knobs through its sandbox route (on the server's loop, like a real caller)."""
    # httpx's 5 s default is too short for the sandbox's loop on a loaded CI machine; the test's
    # own pytest timeout still bounds it
    response = httpx.post(f"{handle.env['MIGO_SYNC_ZENDESK_URL']}/_options", json=options, timeout=60)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def restore(handle: SandboxThread) -> None:
    """Back to the emulator's default knobs (and its seeded data)."""
    httpx.delete(f"{handle.env['MIGO_SYNC_ZENDESK_URL']}/_options", timeout=60).raise_for_status()
    handle.reset("zendesk")


def environ(handle: SandboxThread | None, tmp_path: Path) -> dict[str, str]:
    env = {**credentials(tmp_path), "MIGO_SYNC_NO_KEYRING": "1"}
    return {**handle.env, **env} if handle is not None else {**env, "MIGO_SYNC_ZENDESK_URL": "https://acme.test"}


def make_adapter(handle: SandboxThread | None, tmp_path: Path, *, transport: httpx.BaseTransport | None = None,
                 **settings: Any) -> ZendeskAdapter:
    project = Project(root=tmp_path, config=ProjectConfig(systems={"zendesk": {**FAST, **settings}}),
                      environ=environ(handle, tmp_path))
    return ZendeskAdapter(adapter_context(project, "zendesk"), transport=transport)


def pull_mapping(obj: str = "tickets", *, fields: list[dict[str, Any]] | None = None, **options: Any) -> Mapping:
    return Mapping.model_validate({
        "name": f"zendesk_{obj}_pull", "system": "zendesk", "object": obj, "direction": "pull",
        "warehouse": {"table": f"support.{obj}"}, "key": ["id"], "options": options,
        "fields": fields or [{"column": "id", "remote": "id", "type": "integer"},
                             {"column": "updated_at", "remote": "updated_at", "type": "timestamp"}]})


def push_mapping(obj: str = "users", **options: Any) -> Mapping:
    fields = ([{"column": "customer_id", "remote": "external_id"}, {"column": "email", "remote": "email"},
               {"column": "full_name", "remote": "name"},
               {"column": "loan_status", "remote": "user_fields.loan_status"},
               {"column": "credit_tier", "remote": "user_fields.credit_tier"},
               {"column": "recovery_offer", "remote": "user_fields.recovery_offer"}] if obj == "users" else
              [{"column": "org_code", "remote": "external_id"}, {"column": "org_name", "remote": "name"},
               {"column": "region", "remote": "organization_fields.region"}])
    return Mapping.model_validate({
        "name": f"zendesk_{obj}_push", "system": "zendesk", "object": obj, "direction": "push",
        "warehouse": {"table": "lending.customer_status"}, "key": ["customer_id" if obj == "users" else "org_code"],
        "fields": fields, "options": options})


def user_unit(n: int, *, email: str | None = None, loan_status: str = "late", mapping: str = "zendesk_users_push",
              name: str | None = None) -> PushUnit:
    key = f"C{n:06d}"
    record = {"external_id": key, "email": email or f"customer.{n}@example.com", "name": f"Customer {n}" if name is None else name,
              "user_fields.loan_status": loan_status, "user_fields.credit_tier": "B",
              "user_fields.recovery_offer": "none"}
    return PushUnit(key=key, idempotency_key=idempotency_key(mapping, key), records=[record], row_keys=[key])


def basic_auth() -> tuple[str, str]:
    return (f"{SANDBOX_EMAIL}/token", SANDBOX_API_TOKEN)


REPO = Path(__file__).resolve().parents[2]
SETTINGS = 'job_poll_interval = 0.0\njob_poll_max = 0.0\nincremental_limit_per_minute = 0\n'


DUCKDB = '[warehouse]\ntype = "duckdb"\npath = "warehouse.duckdb"\ncreate = true\n'


def make_project(root: Path, env: dict[str, str], *, customers: int = 400, settings: str = "",
                 warehouse_toml: str = DUCKDB) -> Project:
    """A project (DuckDB unless `warehouse_toml` says otherwise) with the shipped zendesk mappings and a
    small demo dataset."""
    (root / "mappings").mkdir(parents=True)
    for path in (REPO / "mappings").glob("zendesk_*.yaml"):
        shutil.copy(path, root / "mappings" / path.name)
    (root / "migo-sync.toml").write_text(warehouse_toml + "\n[systems.zendesk]\n" + SETTINGS + settings)
    project = Project.load(root)
    project.environ = env
    warehouse = open_warehouse(project)
    try:
        seed(warehouse, sizes=Sizes(customers=customers, loans=customers * 3 // 2))
    finally:
        warehouse.close()
    return project
