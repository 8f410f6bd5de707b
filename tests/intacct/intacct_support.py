"""Helpers for the Intacct tests: mappings, push units, raw gateway requests, the emulator."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from helpers import sandboxed
from helpers.sandboxed import REPO as REPO  # re-exported: tests read the shipped mappings
from helpers.sandboxed import journal_ids as journal_ids

from migo_sync.adapter import PushUnit, idempotency_key
from migo_sync.adapters.intacct.emulator import DEFAULTS, IntacctEmulator
from migo_sync.adapters.intacct.sandbox import credentials
from migo_sync.config import Project
from migo_sync.mapping.model import Mapping
from migo_sync.sandbox.process import SandboxThread

GLENTRY_FIELDS = {"RECORDNO": "integer", "TRX_AMOUNT": "decimal", "TR_TYPE": "integer", "ENTRY_DATE": "date",
                  "ACCOUNTNO": "string"}
PUSH_FIELDS = [
    {"column": "journal_symbol", "remote": "JOURNAL"},
    {"column": "posting_date", "remote": "BATCH_DATE", "type": "date"},
    {"column": "batch_title", "remote": "BATCH_TITLE"},
    {"column": "journal_id", "remote": "REFERENCENO"},
    {"column": "account_no", "remote": "ACCOUNTNO"},
    {"column": "amount", "remote": "TRX_AMOUNT", "type": "decimal", "scale": 2},
    {"column": "department_id", "remote": "DEPARTMENT"},
    {"column": "location_id", "remote": "LOCATION"},
    {"column": "memo", "remote": "DESCRIPTION"},
]


def make_project(root: Path, env: dict[str, str], settings: str = "") -> Project:
    """A project with the shipped Intacct mappings and a small seeded lending dataset."""
    return sandboxed.seeded_project(root, "intacct", env, settings)


def posted(handle: SandboxThread) -> Counter[str]:
    return Counter(j["referenceno"] for j in handle.dump("intacct")["journals"])


def emulator_of(handle: SandboxThread) -> IntacctEmulator:
    emulator = handle.sandbox.emulators["intacct"]
    assert isinstance(emulator, IntacctEmulator)
    return emulator


def sandbox_environ(handle: SandboxThread, tmp_path: Path) -> dict[str, str]:
    return sandboxed.sandbox_environ(handle, credentials(tmp_path))


def push_mapping(**extra: Any) -> Mapping:
    return Mapping.model_validate({
        "name": "intacct_journals_push", "system": "intacct", "object": "GLBATCH", "direction": "push",
        "mode": "insert", "warehouse": {"table": "lending.journal_lines"}, "key": ["journal_id", "line_no"],
        "group_by": ["journal_id"], "fields": extra.pop("fields", PUSH_FIELDS), **extra})


def pull_mapping(obj: str, fields: dict[str, str], **options: Any) -> Mapping:
    """fields: {remote: type}; columns are the lower-cased remote names."""
    return Mapping.model_validate({
        "name": f"pull_{obj.lower()}", "system": "intacct", "object": obj, "direction": "pull",
        "warehouse": {"table": f"finance.{obj.lower()}"}, "key": [next(iter(fields)).lower()],
        "fields": [{"column": r.lower(), "remote": r, "type": t} for r, t in fields.items()], "options": options})


def journal(key: str, lines: list[tuple[str, str]], day: date = date(2026, 10, 14), *,
            mapping: str = "intacct_journals_push", dept: str = "OPS", loc: str = "NBO") -> PushUnit:
    from decimal import Decimal

    records = [{"JOURNAL": "GJ", "BATCH_DATE": day, "BATCH_TITLE": f"Journal {key}", "REFERENCENO": key,
                "ACCOUNTNO": account, "TRX_AMOUNT": Decimal(amount), "DEPARTMENT": dept, "LOCATION": loc,
                "DESCRIPTION": f"{key} line {n}"} for n, (account, amount) in enumerate(lines, start=1)]
    return PushUnit(key=key, idempotency_key=idempotency_key(mapping, key), records=records,
                    row_keys=[f"{key}\x1f{n}" for n in range(1, len(records) + 1)])


def balanced(key: str, amount: str = "100.00", day: date = date(2026, 10, 14)) -> PushUnit:
    return journal(key, [("1100", amount), ("1000", f"-{amount}")], day)


def control(*, sender: str | None = None, password: str | None = None, unique: bool = False,
            dtd: str = "3.0") -> str:
    return (f"<control><senderid>{sender or DEFAULTS['sender_id']}</senderid>"
            f"<password>{password or DEFAULTS['sender_password']}</password><controlid>t</controlid>"
            f"<uniqueid>{'true' if unique else 'false'}</uniqueid><dtdversion>{dtd}</dtdversion></control>")


def login(password: str | None = None) -> str:
    return (f"<login><userid>{DEFAULTS['user_id']}</userid><companyid>{DEFAULTS['company_id']}</companyid>"
            f"<password>{password or DEFAULTS['user_password']}</password></login>")


def envelope(functions: str, *, auth: str | None = None, transaction: bool = False, **control_args: Any) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><request>{control(**control_args)}'
            f'<operation transaction="{"true" if transaction else "false"}"><authentication>{auth or login()}'
            f"</authentication><content>{functions}</content></operation></request>").encode()


def glbatch(controlid: str, lines: str, *, day: str = "10/14/2026", journal_: str = "GJ") -> str:
    return (f'<function controlid="{controlid}"><create><GLBATCH><JOURNAL>{journal_}</JOURNAL>'
            f"<BATCH_DATE>{day}</BATCH_DATE><BATCH_TITLE>t</BATCH_TITLE><REFERENCENO>{controlid}</REFERENCENO>"
            f"<ENTRIES>{lines}</ENTRIES></GLBATCH></create></function>")


def entry(account: str, amount: str, tr_type: int, **dims: str) -> str:
    extra = "".join(f"<{k}>{v}</{k}>" for k, v in dims.items())
    return f"<GLENTRY><ACCOUNTNO>{account}</ACCOUNTNO><TRX_AMOUNT>{amount}</TRX_AMOUNT><TR_TYPE>{tr_type}</TR_TYPE>{extra}</GLENTRY>"


PAIR = entry("1100", "10.00", 1) + entry("1000", "10.00", -1)


def post(handle: SandboxThread, body: bytes, path: str = "/ia/xml/xmlgw.phtml") -> httpx.Response:
    return httpx.post(f"{handle.url}/intacct{path}", content=body, headers={"Content-Type": "application/xml"})
