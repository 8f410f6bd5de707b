"""Helpers for the Workday tests: projects, mappings, journals as push units, raw SOAP calls."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from helpers import sandboxed
from helpers.sandboxed import REPO
from helpers.sandboxed import journal_ids as journal_ids
from lxml import etree

from migo_sync.adapter import PushUnit, idempotency_key
from migo_sync.adapters.workday.emulator import WorkdayEmulator, sub
from migo_sync.adapters.workday.emulator_store import ACCOUNT_SET, COMPANIES
from migo_sync.adapters.workday.payload import WORKTAGS, Defaults
from migo_sync.adapters.workday.sandbox import SANDBOX_PASSWORD, SANDBOX_USER, credentials
from migo_sync.config import Project
from migo_sync.ledger import Journal
from migo_sync.mapping.model import Mapping
from migo_sync.sandbox.process import SandboxThread

PUSH = "workday_journals_push"
WD = "urn:com.workday/bsvc"
ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"


def emulator_of(handle: SandboxThread) -> WorkdayEmulator:
    emulator = handle.sandbox.emulators["workday"]
    assert isinstance(emulator, WorkdayEmulator)
    return emulator


def sandbox_environ(handle: SandboxThread, tmp_path: Path) -> dict[str, str]:
    return sandboxed.sandbox_environ(handle, credentials(tmp_path))


# The sandbox tenant's settings: what its books require on a journal, and the months it has closed
# (the emulator's default closed_through; WWS has no operation that would tell the adapter).
TENANT = {"currency": "KES", "journal_source": "Integration", "closed_through": "2025-12"}
TENANT_TOML = 'closed_through = "2025-12"\n'


def make_project(root: Path, env: dict[str, str], settings: str = "") -> Project:
    """A project with the shipped Workday mappings (they map currency and journal source) and a small
    seeded lending dataset; the tenant's closed months are set."""
    return sandboxed.seeded_project(root, "workday", env, TENANT_TOML + settings)


def posted(handle: SandboxThread) -> Counter[str]:
    """How many journals the tenant holds per External_Reference_ID (the warehouse journal id)."""
    return Counter(j["external_reference"] for j in handle.dump("workday")["journals"])


def shipped(name: str) -> Mapping:
    from migo_sync.mapping.loader import load_mappings

    [loaded] = [m for m in load_mappings([REPO / "mappings"]) if m.mapping.name == name]
    return loaded.mapping


def push_mapping(**options: Any) -> Mapping:
    return shipped(PUSH).model_copy(update={"options": options})


def split_mapping() -> Mapping:
    """The journal push with Workday's two amount columns instead of the signed Amount."""
    data = shipped(PUSH).model_dump(exclude={"source_file"})
    data["fields"] = [f for f in data["fields"] if f["remote"] != "Amount"] + [
        {"column": "debit", "remote": "Debit_Amount", "type": "decimal"},
        {"column": "credit", "remote": "Credit_Amount", "type": "decimal"}]
    return Mapping.model_validate(data)


def line(account: str, amount: str, *, day: date = date(2026, 10, 14), cost_center: str | None = "OPS",
         region: str | None = "NBO", memo: str = "memo", key: str = "JE-1", **extra: Any) -> dict[str, Any]:
    record = {"Company_Reference_ID": "MIGO_KE", "Accounting_Date": day, "Journal_Entry_Memo": f"journal {key}",
              "External_Reference_ID": key, "Ledger_Account_ID": account, "Amount": Decimal(amount),
              "Cost_Center_Reference_ID": cost_center, "Region_Reference_ID": region, "Memo": memo}
    return {**record, **extra}


def journal(key: str, lines: list[tuple[str, str]], *, day: date = date(2026, 10, 14), mapping: str = PUSH,
            **extra: Any) -> PushUnit:
    records = [line(account, amount, day=day, key=key, Line_Order=str(n), **extra)
               for n, (account, amount) in enumerate(lines, start=1)]
    return PushUnit(key=key, idempotency_key=idempotency_key(mapping, key), records=records,
                    row_keys=[f"{key}\x1f{n}" for n in range(1, len(lines) + 1)])


def balanced(key: str, amount: str = "100.00", day: date = date(2026, 10, 14)) -> PushUnit:
    return journal(key, [("1100", amount), ("1000", f"-{amount}")], day=day)


# -- raw SOAP, for the emulator's own tests ---------------------------------------------------------

def envelope(body: str, *, username: str | None = None, password: str | None = None, header: bool = True) -> bytes:
    user = username if username is not None else f"{SANDBOX_USER}@migo_sandbox"
    secret = password if password is not None else SANDBOX_PASSWORD
    security = (f'<env:Header><wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken>'
                f"<wsse:Username>{user}</wsse:Username>"
                f'<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">'
                f"{secret}</wsse:Password></wsse:UsernameToken></wsse:Security></env:Header>") if header else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{ENV}" xmlns:wd="{WD}">'
            f"{security}<env:Body>{body}</env:Body></env:Envelope>").encode()


def submit_body(journal_id: str, lines: str, *, day: str = "2026-10-14", add_only: bool = True,
                company: str = "MIGO_KE") -> str:
    return (f'<wd:Submit_Accounting_Journal_Request wd:Add_Only="{str(add_only).lower()}" wd:version="v45.0">'
            f"<wd:Accounting_Journal_Data><wd:Accounting_Journal_ID>{journal_id}</wd:Accounting_Journal_ID>"
            f'<wd:Submit>true</wd:Submit><wd:Company_Reference><wd:ID wd:type="Company_Reference_ID">{company}'
            f'</wd:ID></wd:Company_Reference><wd:Currency_Reference><wd:ID wd:type="Currency_ID">KES</wd:ID>'
            f'</wd:Currency_Reference><wd:Ledger_Type_Reference><wd:ID wd:type="Ledger_Type_ID">Actuals'
            f"</wd:ID></wd:Ledger_Type_Reference><wd:Accounting_Date>{day}</wd:Accounting_Date>"
            f'<wd:Journal_Source_Reference><wd:ID wd:type="Journal_Source_ID">Integration</wd:ID>'
            f"</wd:Journal_Source_Reference>{lines}"
            "</wd:Accounting_Journal_Data></wd:Submit_Accounting_Journal_Request>")


def line_xml(account: str, *, debit: str | None = None, credit: str | None = None, cost_center: str = "OPS") -> str:
    amounts = (f"<wd:Debit_Amount>{debit}</wd:Debit_Amount>" if debit is not None else "") + (
        f"<wd:Credit_Amount>{credit}</wd:Credit_Amount>" if credit is not None else "")
    return ("<wd:Journal_Entry_Line_Replacement_Data><wd:Ledger_Account_Reference>"
            f'<wd:ID wd:type="Ledger_Account_ID" wd:parent_id="Standard" wd:parent_type="Account_Set_ID">{account}'
            f"</wd:ID></wd:Ledger_Account_Reference>{amounts}<wd:Worktags_Reference>"
            f'<wd:ID wd:type="Cost_Center_Reference_ID">{cost_center}</wd:ID></wd:Worktags_Reference>'
            "</wd:Journal_Entry_Line_Replacement_Data>")


def post(handle: SandboxThread, body: bytes, path: str | None = None) -> httpx.Response:
    url = path or handle.env["MIGO_SYNC_WORKDAY_URL"]
    return httpx.post(url, content=body, headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                      timeout=30)


def fault_of(response: httpx.Response) -> dict[str, Any]:
    """faultcode, faultstring and the Validation_Error messages/xpaths of a fault answer."""
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{ENV}}}Body/{{{ENV}}}Fault")
    assert fault is not None, response.text
    return {"code": fault.findtext("faultcode"), "string": fault.findtext("faultstring"),
            "messages": [e.findtext(f"{{{WD}}}Message") for e in fault.iter(f"{{{WD}}}Validation_Error")],
            "xpaths": [e.findtext(f"{{{WD}}}Xpath") for e in fault.iter(f"{{{WD}}}Validation_Error")],
            "processing": fault.findtext(f"detail/{{{WD}}}Processing_Fault/{{{WD}}}Detail_Message")}


def zeep_journal_data(journal: Journal, defaults: Defaults, *, submit: bool) -> dict[str, Any]:
    """The oracle for `payload.journal_xml`: the Accounting_Journal_Data arguments the adapter gave
    zeep before journals were written as text (zeep orders them by the schema and writes the XML)."""
    def ref(value: str, id_type: str, **attributes: str) -> dict[str, Any]:
        return {"ID": [{"_value_1": value, "type": id_type, **attributes}]}

    header = journal.header
    company = header.get("Company_Reference_ID") or defaults.company
    currency = header.get("Currency_ID") or defaults.currency
    source = header.get("Journal_Source_ID") or defaults.journal_source
    data: dict[str, Any] = {
        "Accounting_Journal_ID": journal.idempotency_key,
        "Submit": submit,
        "Company_Reference": ref(str(company), "Company_Reference_ID"),
        "Currency_Reference": ref(str(currency), "Currency_ID") if currency else None,
        "Ledger_Type_Reference": ref(str(header.get("Ledger_Type_ID") or defaults.ledger_type), "Ledger_Type_ID"),
        "Accounting_Date": journal.posting_date,
        "Journal_Source_Reference": ref(str(source), "Journal_Source_ID") if source else None,
        "Journal_Entry_Memo": journal.title,
        "External_Reference_ID": journal.reference,
        "Journal_Entry_Line_Replacement_Data": [],
    }
    for line in journal.lines:
        amount = line.amount
        data["Journal_Entry_Line_Replacement_Data"].append({
            "Line_Order": str(line.extra.get("Line_Order") or line.number),
            "Ledger_Account_Reference": ref(line.account, "Ledger_Account_ID", parent_id=defaults.account_set,
                                            parent_type="Account_Set_ID"),
            "Debit_Amount": amount if amount >= 0 else None,
            "Credit_Amount": -amount if amount < 0 else None,
            "Memo": line.memo,
            "Worktags_Reference": [ref(value, WORKTAGS[kind]) for kind, value in sorted(line.dimensions.items())
                                   if kind in WORKTAGS] or None,
        })
    return {k: v for k, v in data.items() if v is not None}


def findtext_journal_entries(content: bytes) -> list[dict[str, Any]]:
    """The oracle for `pages.parse_journals_page`: how entries were read before the one-pass walk
    (a `find`/`findtext` per field)."""
    q = f"{{{WD}}}"

    def ids(element: etree._Element | None) -> dict[str, str]:
        if element is None:
            return {}
        return {node.get(f"{q}type", ""): (node.text or "").strip() for node in element.iterfind(f"{q}ID")}

    def decimal(element: etree._Element, name: str) -> Decimal | None:
        text = element.findtext(f"{q}{name}")
        return Decimal(text.strip()) if text and text.strip() else None

    def moment(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")) if text else None

    root = etree.fromstring(content, parser=etree.XMLParser(remove_comments=True, resolve_entities=False))
    entries = []
    for entry in root.iterfind(f".//{q}Get_Journals_Response/{q}Response_Data/{q}Journal_Entry"):
        refs = ids(entry.find(f"{q}Journal_Entry_Reference"))
        for data in entry.iterfind(f"{q}Journal_Entry_Data"):
            lines = []
            for number, line in enumerate(data.iterfind(f"{q}Journal_Entry_Line_Data"), start=1):
                worktags: dict[str, str] = {}
                for tag in line.iterfind(f"{q}Worktags_Reference"):
                    worktags.update(ids(tag))
                lines.append({
                    "Line_Number": number, "Line_Order": line.findtext(f"{q}Line_Order"),
                    "Ledger_Account_ID": ids(line.find(f"{q}Ledger_Account_Reference")).get("Ledger_Account_ID"),
                    "Debit_Amount": decimal(line, "Debit_Amount"), "Credit_Amount": decimal(line, "Credit_Amount"),
                    "Currency_ID": ids(line.find(f"{q}Currency_Reference")).get("Currency_ID"),
                    "Memo": line.findtext(f"{q}Memo"), "Worktags": worktags})
            accounting_date = data.findtext(f"{q}Accounting_Date")
            entries.append({
                "WID": refs.get("WID"), "Accounting_Journal_ID": refs.get("Accounting_Journal_ID"),
                "Journal_Number": data.findtext(f"{q}Journal_Number"),
                "Journal_Status": next(iter(ids(data.find(f"{q}Journal_Status_Reference")).values()), None),
                "Company_Reference_ID": ids(data.find(f"{q}Company_Reference")).get("Company_Reference_ID"),
                "Currency_ID": ids(data.find(f"{q}Currency_Reference")).get("Currency_ID"),
                "Accounting_Date": date.fromisoformat(accounting_date.strip()[:10]) if accounting_date else None,
                "Journal_Source_ID": ids(data.find(f"{q}Journal_Source_Reference")).get("Journal_Source_ID"),
                "Memo": data.findtext(f"{q}Memo"), "External_Reference_ID": data.findtext(f"{q}External_Reference_ID"),
                "Total_Ledger_Debits": decimal(data, "Total_Ledger_Debits"),
                "Total_Ledger_Credits": decimal(data, "Total_Ledger_Credits"),
                "Creation_Date": moment(data.findtext(f"{q}Creation_Date")),
                "Last_Updated_Date": moment(data.findtext(f"{q}Last_Updated_Date")), "lines": lines})
    return entries


def lxml_render_journal(parent: etree._Element, journal: dict[str, Any]) -> None:
    """The oracle for `emulator.journal_entry_xml`: a Journal_Entry built with lxml, element by element."""
    entry = sub(parent, "Journal_Entry")
    reference = sub(entry, "Journal_Entry_Reference", Descriptor=journal["number"])
    sub(reference, "ID", journal["wid"], type="WID")
    if journal["id"]:
        sub(reference, "ID", journal["id"], type="Accounting_Journal_ID")
    data = sub(entry, "Journal_Entry_Data")
    sub(data, "Journal_Number", journal["number"])
    sub(sub(data, "Journal_Status_Reference", Descriptor=journal["status"]), "ID", journal["status"],
        type="Journal_Entry_Status_ID")
    company = sub(data, "Company_Reference", Descriptor=COMPANIES.get(journal["company"], ("", ""))[0])
    sub(company, "ID", journal["company"], type="Company_Reference_ID")
    sub(sub(data, "Currency_Reference"), "ID", journal["currency"], type="Currency_ID")
    sub(data, "Accounting_Date", journal["date"])
    if journal["source"]:
        sub(sub(data, "Journal_Source_Reference"), "ID", journal["source"], type="Journal_Source_ID")
    if journal["memo"]:
        sub(data, "Memo", journal["memo"])
    if journal["external_reference"]:
        sub(data, "External_Reference_ID", journal["external_reference"])
    debits = sum((Decimal(line["debit"]) for line in journal["lines"] if line["debit"]), Decimal(0))
    credits = sum((Decimal(line["credit"]) for line in journal["lines"] if line["credit"]), Decimal(0))
    sub(data, "Total_Ledger_Debits", f"{debits:f}")
    sub(data, "Total_Ledger_Credits", f"{credits:f}")
    sub(data, "Creation_Date", journal["created"])
    sub(data, "Last_Updated_Date", journal["updated"])
    for line in journal["lines"]:
        node = sub(data, "Journal_Entry_Line_Data")
        sub(node, "Line_Order", line["order"])
        sub(sub(node, "Ledger_Account_Reference"), "ID", line["account"], type="Ledger_Account_ID",
            parent_id=ACCOUNT_SET, parent_type="Account_Set_ID")
        if line["debit"] is not None:
            sub(node, "Debit_Amount", line["debit"])
        if line["credit"] is not None:
            sub(node, "Credit_Amount", line["credit"])
        sub(sub(node, "Currency_Reference"), "ID", line["currency"] or journal["currency"], type="Currency_ID")
        if line["memo"]:
            sub(node, "Memo", line["memo"])
        for id_type, value in line["worktags"].items():
            sub(sub(node, "Worktags_Reference"), "ID", value, type=id_type)


def findtext_submitted(data: etree._Element, *, add_only: bool) -> Any:
    """The oracle for `emulator.read_journal_data`: how the emulator read a journal before its
    one-pass walk (a `find`/`findtext` per field)."""
    from migo_sync.adapters.workday.emulator_store import SubmittedJournal, SubmittedLine

    q = f"{{{WD}}}"

    def ids(element: etree._Element | None) -> list[tuple[str, str]]:
        return [] if element is None else [(n.get(f"{q}type", ""), (n.text or "").strip())
                                           for n in element.iterfind(f"{q}ID")]

    def first(element: etree._Element | None, id_type: str) -> str | None:
        return next((value for kind, value in ids(element) if kind == id_type), None)

    def text(name: str, node: etree._Element = data) -> str | None:
        value = node.findtext(f"{q}{name}")
        return value.strip() if value is not None and value.strip() else None

    journal = SubmittedJournal(
        journal_id=text("Accounting_Journal_ID"), add_only=add_only,
        submit=(text("Submit") or "") in ("true", "1"),
        company=first(data.find(f"{q}Company_Reference"), "Company_Reference_ID"),
        currency=first(data.find(f"{q}Currency_Reference"), "Currency_ID"),
        ledger_type=first(data.find(f"{q}Ledger_Type_Reference"), "Ledger_Type_ID"),
        accounting_date=text("Accounting_Date"),
        source=first(data.find(f"{q}Journal_Source_Reference"), "Journal_Source_ID"),
        memo=text("Journal_Entry_Memo"), external_reference=text("External_Reference_ID"))
    for line in data.iterfind(f"{q}Journal_Entry_Line_Replacement_Data"):
        account = line.find(f"{q}Ledger_Account_Reference/{q}ID[@{q}type='Ledger_Account_ID']")
        journal.lines.append(SubmittedLine(
            order=text("Line_Order", line), account=(account.text or "").strip() if account is not None else None,
            account_set=account.get(f"{q}parent_id") if account is not None else None,
            debit=text("Debit_Amount", line), credit=text("Credit_Amount", line),
            currency=first(line.find(f"{q}Currency_Reference"), "Currency_ID"), memo=text("Memo", line),
            worktags=[pair for tag in line.iterfind(f"{q}Worktags_Reference") for pair in ids(tag)]))
    return journal
