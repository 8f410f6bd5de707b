"""A realistic synthetic lending dataset: customers, loans, repayments, daily journals, monthly
actuals, a collections list. Deterministic for a seed, so reruns see the same data."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pyarrow as pa

from migo_sync.warehouse.base import Warehouse

CENT = Decimal("0.01")
FIRST = ["Amina", "Brian", "Cynthia", "David", "Esther", "Faith", "George", "Halima", "Ian", "Joy", "Kevin",
         "Lucy", "Moses", "Njeri", "Otieno", "Purity", "Quincy", "Rose", "Samuel", "Tabitha", "Umar", "Violet",
         "Wanjiru", "Xavier", "Yusuf", "Zawadi"]
LAST = ["Achieng", "Barasa", "Chebet", "Kamau", "Kariuki", "Mutua", "Njoroge", "Odhiambo", "Omondi", "Otieno",
        "Wafula", "Wambui", "Wanjala", "Kiprop", "Mwangi", "Hassan", "Ali", "Nyambura"]
REGIONS = {"Nairobi": "NBO", "Nakuru": "NBO", "Eldoret": "NBO", "Mombasa": "MSA", "Kisumu": "KSM"}
PRODUCTS = {"micro": (500, 5_000, 30, Decimal("0.0800")), "payday": (1_000, 10_000, 30, Decimal("0.1000")),
            "sme": (20_000, 200_000, 180, Decimal("0.0350"))}
AGENTS = ["A. Wekesa", "B. Chege", "C. Atieno", "D. Korir", "E. Muthoni"]
JOURNAL_START, JOURNAL_END = date(2026, 10, 1), date(2026, 11, 29)
TODAY = date(2026, 11, 29)


@dataclass
class Sizes:
    customers: int = 5_000
    loans: int = 8_000


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(CENT)


def generate(seed: int = 42, sizes: Sizes | None = None) -> dict[str, pa.Table]:
    """Every table of the `lending` schema, as Arrow tables."""
    sizes = sizes or Sizes()
    rng = random.Random(seed)
    customers = _customers(rng, sizes.customers)
    loans, repayments = _loans(rng, sizes.loans, customers)
    journals = _journals(rng, loans, repayments, customers)
    return {
        "customers": pa.Table.from_pylist(customers, schema=pa.schema([
            ("customer_id", pa.string()), ("full_name", pa.string()), ("phone", pa.string()),
            ("email", pa.string()), ("region", pa.string()), ("credit_tier", pa.string()),
            ("signup_date", pa.date32())])),
        "loans": pa.Table.from_pylist(loans, schema=pa.schema([
            ("loan_id", pa.string()), ("customer_id", pa.string()), ("product", pa.string()),
            ("principal", pa.decimal128(18, 2)), ("interest_rate", pa.decimal128(6, 4)),
            ("disbursed_on", pa.date32()), ("maturity_date", pa.date32()), ("status", pa.string()),
            ("days_past_due", pa.int32()), ("outstanding", pa.decimal128(18, 2))])),
        "repayments": pa.Table.from_pylist(repayments, schema=pa.schema([
            ("repayment_id", pa.string()), ("loan_id", pa.string()), ("paid_on", pa.date32()),
            ("amount", pa.decimal128(18, 2)), ("principal_part", pa.decimal128(18, 2)),
            ("interest_part", pa.decimal128(18, 2)), ("channel", pa.string())])),
        "journal_lines": pa.Table.from_pylist(journals, schema=pa.schema([
            ("journal_id", pa.string()), ("line_no", pa.int32()), ("posting_date", pa.date32()),
            ("journal_symbol", pa.string()), ("batch_title", pa.string()), ("account_no", pa.string()),
            ("department_id", pa.string()), ("location_id", pa.string()), ("amount", pa.decimal128(18, 2)),
            ("memo", pa.string())])),
        "monthly_actuals": pa.Table.from_pylist(_actuals(rng), schema=pa.schema([
            ("account_code", pa.string()), ("level_name", pa.string()), ("period", pa.string()),
            ("amount", pa.decimal128(18, 2))])),
        "collections": pa.Table.from_pylist(_collections(rng, loans, customers), schema=pa.schema([
            ("loan_id", pa.string()), ("customer_id", pa.string()), ("full_name", pa.string()),
            ("phone", pa.string()), ("days_past_due", pa.int32()), ("outstanding", pa.decimal128(18, 2)),
            ("assigned_agent", pa.string()), ("next_action", pa.string()), ("priority", pa.int32())])),
    }


def _customers(rng: random.Random, n: int) -> list[dict[str, object]]:
    rows = []
    for i in range(1, n + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        rows.append({
            "customer_id": f"C{i:06d}", "full_name": f"{first} {last}",
            "phone": f"+2547{rng.randint(10_000_000, 99_999_999)}",
            "email": f"{first}.{last}.{i}@example.com".lower(),
            "region": rng.choice(list(REGIONS)), "credit_tier": rng.choices("ABCDE", [10, 25, 35, 20, 10])[0],
            "signup_date": date(2024, 1, 1) + timedelta(days=rng.randint(0, 1000)),
        })
    return rows


def _loans(rng: random.Random, n: int, customers: list[dict[str, object]]
           ) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    loans: list[dict[str, object]] = []
    repayments: list[dict[str, object]] = []
    for i in range(1, n + 1):
        customer = rng.choice(customers)
        product = rng.choices(list(PRODUCTS), [60, 30, 10])[0]
        low, high, term, rate = PRODUCTS[product]
        principal = _money(rng.uniform(low, high))
        disbursed = date(2025, 6, 1) + timedelta(days=rng.randint(0, (TODAY - date(2025, 6, 1)).days))
        maturity = disbursed + timedelta(days=term)
        interest = (principal * rate).quantize(CENT)
        due = principal + interest
        fate = rng.random()
        paid_share = 1.0 if fate < 0.55 else rng.uniform(0.0, 0.9)
        paid_total = _money(float(due) * paid_share)
        n_payments = rng.randint(1, 5) if paid_total > 0 else 0
        paid_so_far = Decimal("0.00")
        last_day = min(TODAY, maturity + timedelta(days=20))
        for p in range(n_payments):
            amount = (paid_total - paid_so_far) if p == n_payments - 1 else _money(float(paid_total) / n_payments)
            if amount <= 0:
                continue
            span = max((last_day - disbursed).days, 1)
            paid_on = disbursed + timedelta(days=rng.randint(1, span))
            if paid_on > TODAY:
                continue
            interest_part = (amount * interest / due).quantize(CENT)
            repayments.append({
                "repayment_id": f"R{len(repayments) + 1:07d}", "loan_id": f"L{i:07d}", "paid_on": paid_on,
                "amount": amount, "principal_part": amount - interest_part, "interest_part": interest_part,
                "channel": rng.choices(["mpesa", "ussd", "bank"], [70, 20, 10])[0]})
            paid_so_far += amount
        outstanding = max(due - paid_so_far, Decimal("0.00"))
        dpd = max((TODAY - maturity).days, 0) if outstanding > 0 else 0
        if outstanding == 0:
            status = "repaid"
        elif dpd == 0:
            status = "current"
        elif dpd <= 30:
            status = "late"
        elif dpd <= 120:
            status = "default"
        else:
            status = "written_off"
        loans.append({"loan_id": f"L{i:07d}", "customer_id": customer["customer_id"], "product": product,
                      "principal": principal, "interest_rate": rate, "disbursed_on": disbursed,
                      "maturity_date": maturity, "status": status, "days_past_due": dpd,
                      "outstanding": outstanding})
    return loans, repayments


def _journals(rng: random.Random, loans: list[dict[str, object]], repayments: list[dict[str, object]],
              customers: list[dict[str, object]]) -> list[dict[str, object]]:
    location_of = {c["customer_id"]: REGIONS[str(c["region"])] for c in customers}
    loan_location = {str(ln["loan_id"]): location_of[ln["customer_id"]] for ln in loans}
    disb: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    repay_p: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    repay_i: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    writeoff: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for ln in loans:
        day = ln["disbursed_on"]
        assert isinstance(day, date)
        loc = loan_location[str(ln["loan_id"])]
        if JOURNAL_START <= day <= JOURNAL_END:
            disb[(day, loc)] += ln["principal"]  # type: ignore[operator]
        maturity = ln["maturity_date"]
        assert isinstance(maturity, date)
        wo_day = maturity + timedelta(days=121)
        if ln["status"] == "written_off" and JOURNAL_START <= wo_day <= JOURNAL_END:
            writeoff[(wo_day, loc)] += ln["outstanding"]  # type: ignore[operator]
    for rp in repayments:
        day = rp["paid_on"]
        assert isinstance(day, date)
        if JOURNAL_START <= day <= JOURNAL_END:
            loc = loan_location[str(rp["loan_id"])]
            repay_p[(day, loc)] += rp["principal_part"]  # type: ignore[operator]
            repay_i[(day, loc)] += rp["interest_part"]  # type: ignore[operator]
    lines: list[dict[str, object]] = []
    day = JOURNAL_START
    while day <= JOURNAL_END:
        locations = ["NBO", "MSA", "KSM"]
        entries: list[tuple[str, str, str, Decimal, str]] = []
        for loc in locations:
            amount = disb.get((day, loc), Decimal(0))
            entries += [("1100", "OPS", loc, amount, "Loans disbursed"), ("1000", "OPS", loc, -amount, "M-Pesa payout")]
        _journal(lines, day, "DISB", "Loan disbursements", entries)
        entries = []
        for loc in locations:
            p, i = repay_p.get((day, loc), Decimal(0)), repay_i.get((day, loc), Decimal(0))
            entries += [("1000", "COLL", loc, p + i, "Repayments received"),
                        ("1100", "COLL", loc, -p, "Principal repaid"), ("4000", "COLL", loc, -i, "Interest earned")]
        _journal(lines, day, "REPAY", "Loan repayments", entries)
        entries = []
        for loc in locations:
            fee = _money(rng.uniform(200, 4_000))
            entries += [("1000", "COLL", loc, fee, "Late and processing fees"), ("4100", "COLL", loc, -fee, "Fee income")]
        _journal(lines, day, "FEES", "Fees", entries)
        entries = []
        for loc in locations:
            amount = writeoff.get((day, loc), Decimal(0))
            entries += [("1190", "RISK", loc, amount, "Allowance used"), ("1100", "RISK", loc, -amount, "Loans written off")]
        _journal(lines, day, "WO", "Write-offs", entries)
        day += timedelta(days=1)
    return lines


def _journal(lines: list[dict[str, object]], day: date, kind: str, title: str,
             entries: list[tuple[str, str, str, Decimal, str]]) -> None:
    """Append one balanced journal (lines with a zero amount are left out)."""
    entries = [e for e in entries if e[3] != 0]
    if len(entries) < 2:
        return
    assert sum(e[3] for e in entries) == 0, (kind, day)
    stamp = day.strftime("%Y%m%d")
    for n, (account, dept, loc, amount, memo) in enumerate(entries, start=1):
        lines.append({"journal_id": f"JE-{stamp}-{kind}", "line_no": n, "posting_date": day,
                      "journal_symbol": "GJ", "batch_title": f"{title} {day.isoformat()}",
                      "account_no": account, "department_id": dept, "location_id": loc,
                      "amount": amount, "memo": memo})


def _actuals(rng: random.Random) -> list[dict[str, object]]:
    base = {"4000": 2_400_000, "4100": 380_000, "5000": 520_000, "6000": 900_000}
    share = {"OPS": 0.4, "RISK": 0.15, "COLL": 0.3, "FIN": 0.15}
    rows = []
    for month in range(1, 11):
        growth = 1 + 0.03 * month
        for account, amount in base.items():
            for level, part in share.items():
                rows.append({"account_code": account, "level_name": level, "period": f"2026-{month:02d}",
                             "amount": _money(amount * part * growth * rng.uniform(0.9, 1.1))})
    return rows


def _collections(rng: random.Random, loans: list[dict[str, object]], customers: list[dict[str, object]]
                 ) -> list[dict[str, object]]:
    by_id = {c["customer_id"]: c for c in customers}
    rows = []
    for ln in loans:
        if ln["status"] not in ("late", "default"):
            continue
        customer = by_id[ln["customer_id"]]
        dpd = int(ln["days_past_due"])  # type: ignore[call-overload]
        rows.append({"loan_id": ln["loan_id"], "customer_id": ln["customer_id"], "full_name": customer["full_name"],
                     "phone": customer["phone"], "days_past_due": dpd, "outstanding": ln["outstanding"],
                     "assigned_agent": rng.choice(AGENTS),
                     "next_action": "field visit" if dpd > 60 else ("call" if dpd > 14 else "sms reminder"),
                     "priority": 1 if dpd > 60 else (2 if dpd > 14 else 3)})
    return rows


CUSTOMER_STATUS_VIEW = """
CREATE OR REPLACE VIEW lending.customer_status AS
WITH ranked AS (
    SELECT l.*, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY disbursed_on DESC, loan_id DESC) AS rn
    FROM lending.loans l
)
SELECT c.customer_id, c.email, c.full_name,
       COALESCE(r.status, 'no_loan') AS loan_status,
       c.credit_tier,
       CASE WHEN r.status = 'default' THEN 'restructure_3m'
            WHEN r.status = 'late' THEN 'fee_waiver'
            ELSE 'none' END AS recovery_offer
FROM lending.customers c LEFT JOIN ranked r ON r.customer_id = c.customer_id AND r.rn = 1
"""


def seed(warehouse: Warehouse, seed: int = 42, sizes: Sizes | None = None) -> dict[str, int]:
    """Create (or replace) the `lending` schema's tables; returns row counts."""
    counts = {}
    warehouse.execute("CREATE SCHEMA IF NOT EXISTS lending")
    for name, table in generate(seed, sizes).items():
        counts[name] = warehouse.load_arrow(f"lending.{name}", table, replace=True)
    warehouse.execute(CUSTOMER_STATUS_VIEW)
    return counts
