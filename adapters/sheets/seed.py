"""The emulator's seeded spreadsheets: what the demo's mappings push to and pull from.

    migo-collections      tab "Collections": empty, the target of sheets_collections_push
    migo-finance-manual   tab "FX Rates" (20 hand-kept rates, dates as serial numbers) and
                          tab "Manual Adjustments" (30 journal adjustments awaiting posting)
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from migo_sync.adapters.sheets.values import date_to_serial
from migo_sync.adapters.sheets.workbook import Spreadsheet, Tab

FX_HEADER = ["Currency", "Rate to KES", "Effective Date", "Source"]
FX_BASE = {"USD": (129.25, 4), "EUR": (140.6, 4), "GBP": (163.9, 4), "UGX": (0.0351, 6), "TZS": (0.0482, 6)}
FX_DATES = [date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)]
ADJ_HEADER = ["Adjustment ID", "Account", "Department", "Amount", "Reason", "Approved By", "Date"]
ACCOUNTS = [1000, 1100, 1150, 1190, 2000, 3000, 4000, 4100, 5000, 6000]
DEPARTMENTS = ["OPS", "RISK", "COLL", "FIN"]
REASONS = ["Mobile money float reconciliation", "Accrued interest true-up", "Provision top-up",
           "Fee reversal", "Write-off recovery", "Suspense clearing", "Agent commission accrual",
           "FX revaluation"]
APPROVERS = ["A. Wanjiru", "J. Otieno", "M. Achieng", "P. Kamau"]


def _date_cell(day: date) -> dict[str, Any]:
    return {"serial": date_to_serial(day), "format": "date"}


def seed_spreadsheets(rng: random.Random) -> list[Spreadsheet]:
    collections = Spreadsheet("migo-collections", "Migo Lending: Collections",
                              [Tab(rng.randrange(1, 2**31 - 1), "Collections", 0)])
    fx = Tab(rng.randrange(1, 2**31 - 1), "FX Rates", 0)
    fx.rows[0] = list(FX_HEADER)
    row = 1
    for day in FX_DATES:
        for currency, (base, places) in FX_BASE.items():
            rate = round(base * (1 + rng.uniform(-0.015, 0.015)), places)
            source = "CBK" if currency in ("USD", "EUR", "GBP") else "Treasury desk"
            fx.rows[row] = [currency, rate, _date_cell(day), source]
            row += 1
    adjustments = Tab(rng.randrange(1, 2**31 - 1), "Manual Adjustments", 1)
    adjustments.rows[0] = list(ADJ_HEADER)
    for n in range(1, 31):
        amount = round(rng.uniform(250, 45_000), 2) * rng.choice((1, -1))
        day = date(2026, 10, 1) + timedelta(days=rng.randrange(0, 60))
        adjustments.rows[n] = [f"ADJ-2026-{n:04d}", rng.choice(ACCOUNTS), rng.choice(DEPARTMENTS), amount,
                               rng.choice(REASONS), rng.choice(APPROVERS), _date_cell(day)]
    finance = Spreadsheet("migo-finance-manual", "Migo Finance: manual inputs", [fx, adjustments])
    return [collections, finance]
