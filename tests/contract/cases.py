"""One entry per system: what the adapter contract suite (test_contract.py) needs to drive it.

A `Case` says which shipped mappings to run, how to read the remote's state from its emulator, and
how to spoil one unit. Everything else (the project, the warehouse, the sandbox, the CLI, the
SIGKILL harness, faults) is the same for every system. A new adapter gets the whole contract by
adding one `Case` to `CASES`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from helpers.emulators import emulator_of

from migo_sync.sandbox.process import SandboxThread

Remote = dict[str, list[Any]]  # business key -> what the remote holds under it (one entry per copy)
Rows = list[tuple[str, ...]]


@dataclass(frozen=True)
class Case:
    system: str
    push: str                                   # a shipped push mapping
    pull: str                                   # a shipped pull mapping (run after the push)
    source_keys: str                            # SQL: the business keys the push sends, one column
    remote: Callable[[SandboxThread], Remote]   # the pushed objects as the emulator holds them
    pulled: str                                 # SQL: the pulled rows, compared with...
    remote_rows: Callable[[SandboxThread], Rows]  # ...the same rows read from the emulator
    spoil: str                                  # SQL that makes the unit of key `spoiled` invalid
    spoiled: str
    secret_vars: tuple[str, ...]                # credentials that must never be printed or stored
    auth_var: str                               # a credential a wrong value of which is refused
    progress: Callable[[SandboxThread], int]    # grows while a push lands (for the SIGKILL harness)
    settings: str = ""                          # TOML lines of [systems.<system>]
    emulator_options: dict[str, Any] = field(default_factory=dict)
    kill_batch: int = 10                        # batch_size of the push under SIGKILL
    kill_step: int = 20


def money(value: Any) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def text(value: Any) -> str:
    return "" if value is None else str(value)


def canonical(rows: list[tuple[Any, ...]]) -> Rows:
    return sorted(tuple(text(v) for v in row) for row in rows)


# -- Intacct ---------------------------------------------------------------------------------------

def intacct_remote(handle: SandboxThread) -> Remote:
    out: Remote = defaultdict(list)
    for journal in handle.dump("intacct")["journals"]:
        out[journal["referenceno"]].append(sorted(
            (line["line_no"], line["accountno"], line["tr_type"], money(line["amount"]), line["department"],
             line["location"]) for line in journal["lines"]))
    return dict(out)


def intacct_rows(handle: SandboxThread) -> Rows:
    return canonical([(j["referenceno"], line["line_no"], line["accountno"], line["tr_type"], money(line["amount"]))
                      for j in handle.dump("intacct")["journals"] for line in j["lines"]])


# -- Workday ---------------------------------------------------------------------------------------

def workday_remote(handle: SandboxThread) -> Remote:
    out: Remote = defaultdict(list)
    for journal in handle.dump("workday")["journals"]:
        out[journal["external_reference"]].append(sorted(
            (line["order"], line["account"], text(line["debit"]), text(line["credit"]),
             tuple(sorted(line["worktags"].items()))) for line in journal["lines"]))
    return dict(out)


def workday_rows(handle: SandboxThread) -> Rows:
    return canonical([(j["external_reference"], line["order"], line["account"],
                       money(line["debit"]) if line["debit"] is not None else None,
                       money(line["credit"]) if line["credit"] is not None else None)
                      for j in handle.dump("workday")["journals"] for line in j["lines"]])


# -- Adaptive --------------------------------------------------------------------------------------

def adaptive_cells(handle: SandboxThread, version: str) -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = handle.dump("adaptive")["versions"][version]["cells"]
    return cells


def adaptive_remote(handle: SandboxThread) -> Remote:
    out: Remote = defaultdict(list)
    for cell in adaptive_cells(handle, "Actuals"):
        out[f"{cell['account']}|{cell['level']}|{cell['period']}"].append(money(cell["value"]))
    return dict(out)


def adaptive_rows(handle: SandboxThread) -> Rows:
    return canonical([("Forecast Q4 2026", c["account"], c["level"], c["period"], money(c["value"]))
                      for c in adaptive_cells(handle, "Forecast Q4 2026")])


# -- Google Sheets ---------------------------------------------------------------------------------

def sheets_tab(handle: SandboxThread, book: str, tab: str) -> list[list[Any]]:
    rows: list[list[Any]] = handle.dump("sheets")["spreadsheets"][book]["tabs"][tab]["rows"]
    return rows


def sheets_remote(handle: SandboxThread) -> Remote:
    rows = sheets_tab(handle, "migo-collections", "Collections")
    if not rows:
        return {}
    loan = rows[0].index("Loan ID")
    out: Remote = defaultdict(list)
    for row in rows[1:]:
        out[str(row[loan])].append([text(v) for v in row])
    return dict(out)


def serial_date(value: Any) -> str:
    return (date(1899, 12, 30) + timedelta(days=int(value))).isoformat()  # Sheets' date serial numbers


def sheets_rows(handle: SandboxThread) -> Rows:
    header, *rows = sheets_tab(handle, "migo-finance-manual", "FX Rates")
    at = {name: header.index(name) for name in ("Currency", "Rate to KES", "Effective Date")}
    return canonical([(str(r[at["Currency"]]).strip().upper(), f"{Decimal(str(r[at['Rate to KES']])):.6f}",
                       serial_date(r[at["Effective Date"]])) for r in rows if r])


# -- Zendesk ---------------------------------------------------------------------------------------

def zendesk_remote(handle: SandboxThread) -> Remote:
    out: Remote = defaultdict(list)
    for user in handle.dump("zendesk")["users"]:
        if user.get("external_id"):
            out[user["external_id"]].append(
                (user["email"], user["name"], sorted((user.get("user_fields") or {}).items())))
    return dict(out)


def zendesk_rows(handle: SandboxThread) -> Rows:
    return canonical([(t["id"], t["status"]) for t in handle.dump("zendesk")["tickets"]])


# The SIGKILL harness asks `progress` every 2 ms while a child pushes: each reads a count off the
# emulator object in this process (a snapshot with list(), safe beside the server's thread), where a
# dump over the sandbox's admin route serialised the whole state each time (Zendesk's: 17 MB of
# JSON) on the loop that serves the child, and so slowed the push under test.
def adaptive_cell_count(handle: SandboxThread) -> int:
    """What the dump counts as `cells`."""
    cells = emulator_of(handle, "adaptive").cube.cells
    return sum(len(by_key) for by_period in list(cells.values()) for by_key in list(by_period.values()))


def sheets_pushed_rows(handle: SandboxThread) -> int:
    """The rows the dump shows in the pushed tab: up to its last written row."""
    book = emulator_of(handle, "sheets").books["migo-collections"]
    tab = next(t for t in list(book.tabs) if t.title == "Collections")
    return max(list(tab.rows), default=-1) + 1


CASES = [
    Case(system="intacct", push="intacct_journals_push", pull="intacct_gl_detail_pull",
         source_keys="SELECT DISTINCT journal_id FROM lending.journal_lines",
         remote=intacct_remote,
         pulled="SELECT reference_no, line_no, account_no, tr_type, amount FROM finance.gl_detail",
         remote_rows=intacct_rows,
         spoil="UPDATE lending.journal_lines SET account_no = '9999' WHERE journal_id = "
               "(SELECT MIN(journal_id) FROM lending.journal_lines) AND line_no = 2",
         spoiled="SELECT MIN(journal_id) FROM lending.journal_lines",
         secret_vars=("MIGO_SYNC_INTACCT_SENDER_PASSWORD", "MIGO_SYNC_INTACCT_USER_PASSWORD"),
         auth_var="MIGO_SYNC_INTACCT_USER_PASSWORD",
         progress=lambda h: len(emulator_of(h, "intacct").company.batches),
         settings="functions_per_request = 4\n", kill_batch=12, kill_step=40),
    Case(system="workday", push="workday_journals_push", pull="workday_gl_lines_pull",
         source_keys="SELECT DISTINCT journal_id FROM lending.journal_lines",
         remote=workday_remote,
         pulled="SELECT external_reference_id, line_order, account_no, debit, credit "
                "FROM finance.workday_journal_lines",
         remote_rows=workday_rows,
         spoil="UPDATE lending.journal_lines SET department_id = 'MKT' WHERE journal_id = "
               "(SELECT MIN(journal_id) FROM lending.journal_lines) AND line_no = 2",
         spoiled="SELECT MIN(journal_id) FROM lending.journal_lines",
         secret_vars=("MIGO_SYNC_WORKDAY_PASSWORD",), auth_var="MIGO_SYNC_WORKDAY_PASSWORD",
         progress=lambda h: len(emulator_of(h, "workday").books.journals),
         settings='max_concurrency = 3\nclosed_through = "2025-12"\n', kill_batch=10, kill_step=30),
    Case(system="adaptive", push="adaptive_actuals_push", pull="adaptive_forecast_pull",
         source_keys="SELECT account_code || '|' || level_name || '|' || period FROM lending.monthly_actuals",
         remote=adaptive_remote,
         pulled="SELECT version, account_code, level_name, period, CAST(amount AS DECIMAL(18, 2)) "
                "FROM planning.forecast",
         remote_rows=adaptive_rows,
         spoil="UPDATE lending.monthly_actuals SET account_code = '9999' WHERE account_code || level_name = "
               "(SELECT MIN(account_code || level_name) FROM lending.monthly_actuals)",
         spoiled="SELECT MIN(account_code || level_name) FROM lending.monthly_actuals",
         secret_vars=("MIGO_SYNC_ADAPTIVE_PASSWORD",), auth_var="MIGO_SYNC_ADAPTIVE_PASSWORD",
         progress=adaptive_cell_count,
         settings="import_rows = 2\n", kill_batch=4, kill_step=20),
    Case(system="sheets", push="sheets_collections_push", pull="sheets_fx_rates_pull",
         source_keys="SELECT loan_id FROM lending.collections",
         remote=sheets_remote,
         pulled="SELECT currency, CAST(rate_to_kes AS VARCHAR), CAST(effective_date AS VARCHAR) FROM finance.fx_rates",
         remote_rows=sheets_rows,
         spoil="UPDATE lending.collections SET loan_id = NULL WHERE loan_id = (SELECT MIN(loan_id) FROM lending.collections)",
         spoiled="SELECT NULL",
         secret_vars=("MIGO_SYNC_SHEETS_CREDENTIALS_FILE",), auth_var="MIGO_SYNC_SHEETS_CREDENTIALS_FILE",
         progress=sheets_pushed_rows),
    Case(system="zendesk", push="zendesk_users_push", pull="zendesk_tickets_pull",
         source_keys="SELECT customer_id FROM lending.customer_status",
         remote=zendesk_remote,
         pulled="SELECT ticket_id, status FROM support.tickets",
         remote_rows=zendesk_rows,
         spoil="UPDATE lending.customers SET email = 'broken-address' WHERE customer_id = "
               "(SELECT MIN(customer_id) FROM lending.customers)",
         spoiled="SELECT MIN(customer_id) FROM lending.customers",
         secret_vars=("MIGO_SYNC_ZENDESK_API_TOKEN",), auth_var="MIGO_SYNC_ZENDESK_API_TOKEN",
         progress=lambda h: len(emulator_of(h, "zendesk").jobs),
         settings="job_poll_interval = 0.0\njob_poll_max = 0.0\nincremental_limit_per_minute = 0\n",
         emulator_options={"incremental_limit_per_minute": 0}, kill_batch=100, kill_step=2),
]
