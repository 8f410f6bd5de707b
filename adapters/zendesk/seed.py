"""Seed data for the Zendesk emulator: users matching the demo customers, organizations, tickets.

Everything is drawn from the emulator's seeded `random.Random`, so a reset always gives the same
account. Bulk tickets (for benchmarks) are not stored: `bulk_ticket(i)` builds ticket i on demand
from its index alone, so 100,000 of them cost no memory until served.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

HOST = "https://migo-demo.zendesk.com"
USER_ID_BASE = 9_007_199_254_800_001  # above 2**53: a float would corrupt these ids
ORG_ID_BASE = 360_010_000_001
GROUP_IDS = (360_000_101_001, 360_000_101_002, 360_000_101_003)  # Collections, Loans, Payments
TICKET_FORM_ID = 360_000_012_345
BRAND_ID = 360_000_054_321
CUSTOM_STATUS = {"new": 1001, "open": 1002, "pending": 1003, "hold": 1004, "solved": 1005, "closed": 1006,
                 "deleted": 1006}
LOAN_ID_FIELD, REASON_FIELD, AMOUNT_FIELD = 360_001_234_561, 360_001_234_562, 360_001_234_563

TICKET_FIELDS: list[dict[str, Any]] = [
    {"id": 360_000_000_001, "type": "subject", "title": "Subject", "active": True, "removable": False},
    {"id": 360_000_000_002, "type": "description", "title": "Description", "active": True, "removable": False},
    {"id": 360_000_000_003, "type": "status", "title": "Status", "active": True, "removable": False},
    {"id": 360_000_000_004, "type": "priority", "title": "Priority", "active": True, "removable": False},
    {"id": LOAN_ID_FIELD, "type": "text", "title": "Loan ID", "active": True, "removable": True},
    {"id": REASON_FIELD, "type": "tagger", "title": "Contact reason", "active": True, "removable": True},
    {"id": AMOUNT_FIELD, "type": "decimal", "title": "Amount disputed (KES)", "active": True, "removable": True},
]
USER_FIELDS: list[dict[str, Any]] = [
    {"id": 360_002_000_001, "key": "loan_status", "type": "text", "title": "Loan status", "active": True},
    {"id": 360_002_000_002, "key": "credit_tier", "type": "text", "title": "Credit tier", "active": True},
    {"id": 360_002_000_003, "key": "recovery_offer", "type": "textarea", "title": "Recovery offer", "active": True},
]
ORGANIZATION_FIELDS: list[dict[str, Any]] = [
    {"id": 360_003_000_001, "key": "region", "type": "text", "title": "Region", "active": True},
]

FIRST = ("Amina", "Brian", "Cynthia", "David", "Esther", "Felix", "Grace", "Hassan", "Irene", "James", "Joy",
         "Kevin", "Lucy", "Moses", "Njeri", "Otieno", "Purity", "Samuel", "Wanjiru", "Zawadi")
LAST = ("Achieng", "Baraka", "Chege", "Kamau", "Kiprop", "Mutua", "Njoroge", "Odhiambo", "Omondi", "Wafula",
        "Wambui", "Mwangi", "Kariuki", "Ndungu", "Cherono")
ORGS = ("Nairobi Boda Boda SACCO", "Mombasa Fish Traders", "Kisumu Market Women Group", "Eldoret Dairy Co-op",
        "Nakuru Matatu Owners", "Thika Tailors Association", "Machakos Farmers Union", "Kisii Jua Kali Group")
REGIONS = ("NBO", "MSA", "KSM")
REASONS = ("repayment", "statement", "dispute", "top_up", "restructure", "fraud", "app_issue")
SUBJECTS = {
    "repayment": "M-Pesa repayment not reflected on my loan",
    "statement": "Please send my loan statement",
    "dispute": "Dispute of late payment fee",
    "top_up": "Request for a loan top-up",
    "restructure": "Asking to restructure my repayments",
    "fraud": "Unknown loan taken in my name",
    "app_issue": "App shows wrong outstanding balance",
}
BODY = ("Hello, I am writing about my loan {loan}. {detail} I have attached the M-Pesa message. Kindly "
        "assist soon, I do not want my credit tier to drop. Thank you.")
DETAILS = ("I paid the full instalment on the due date but the app still shows it as unpaid.",
           "I need the statement for the last six months for my bank.",
           "I was charged a fee even though I paid before the deadline.",
           "My business is growing and I would like a higher limit.",
           "My shop was closed for two weeks and I need smaller instalments.")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
STATUS_WEIGHTS = (6, 18, 10, 3, 30, 31)
CHANNELS = ("email", "web", "api", "mobile", "voice", "sms")
PRIORITIES = ("low", "normal", "high", "urgent", None)
TYPES = ("question", "incident", "problem", "task", None)

Y2025 = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
Y2026 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
SEED_END = int(datetime(2026, 11, 28, tzinfo=UTC).timestamp())
BULK_STEP = 300  # bulk tickets change every 5 minutes from 2025-01-01 on


def iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(uid: int, *, name: str, email: str | None, role: str, external_id: str | None, ts: int,
         created: int, organization_id: int | None = None, phone: str | None = None,
         user_fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """A user in Zendesk's JSON shape (keys as the API returns them)."""
    return {
        "id": uid, "url": f"{HOST}/api/v2/users/{uid}.json", "name": name, "email": email,
        "created_at": iso(created), "updated_at": iso(ts), "time_zone": "Nairobi",
        "iana_time_zone": "Africa/Nairobi", "phone": phone, "shared_phone_number": None, "photo": None,
        "locale_id": 1, "locale": "en-US", "organization_id": organization_id, "role": role, "verified": True,
        "external_id": external_id, "tags": [], "alias": None, "active": True, "shared": False,
        "shared_agent": False, "last_login_at": None, "two_factor_auth_enabled": None, "signature": None,
        "details": "", "notes": "", "role_type": None, "custom_role_id": None, "moderator": role != "end-user",
        "ticket_restriction": "requested" if role == "end-user" else None, "only_private_comments": False,
        "restricted_agent": role == "end-user", "suspended": False, "default_group_id": None,
        "report_csv": False,
        "user_fields": {f["key"]: None for f in USER_FIELDS} | (user_fields or {}),
    }


def organization(oid: int, *, name: str, external_id: str | None, ts: int, created: int,
                 region: str | None = None) -> dict[str, Any]:
    return {
        "url": f"{HOST}/api/v2/organizations/{oid}.json", "id": oid, "name": name, "shared_tickets": False,
        "shared_comments": False, "external_id": external_id, "created_at": iso(created), "updated_at": iso(ts),
        "deleted_at": None, "domain_names": [], "details": "", "notes": "", "group_id": None, "tags": [],
        "organization_fields": {"region": region},
    }


def ticket(tid: int, *, ts: int, created: int, status: str, reason: str, requester_id: int,
           assignee_id: int | None, organization_id: int | None, group_id: int, channel: str,
           priority: str | None, type_: str | None, loan: str, amount: str | None, detail: str) -> dict[str, Any]:
    """A ticket in the incremental export's JSON shape (§3.4 keys, in the API's order)."""
    subject = SUBJECTS[reason]
    custom = [{"id": LOAN_ID_FIELD, "value": loan}, {"id": REASON_FIELD, "value": reason},
              {"id": AMOUNT_FIELD, "value": amount}]
    return {
        "url": f"{HOST}/api/v2/tickets/{tid}.json", "id": tid, "external_id": None,
        "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": iso(created), "updated_at": iso(ts), "generated_timestamp": ts, "type": type_,
        "subject": subject, "raw_subject": subject, "description": BODY.format(loan=loan, detail=detail),
        "priority": priority, "status": status, "recipient": "support@migo-demo.zendesk.com",
        "requester_id": requester_id, "submitter_id": requester_id, "assignee_id": assignee_id,
        "organization_id": organization_id, "group_id": group_id, "collaborator_ids": [], "follower_ids": [],
        "email_cc_ids": [], "forum_topic_id": None, "problem_id": None, "has_incidents": False,
        "is_public": True, "due_at": None, "tags": [reason, f"channel_{channel}"], "custom_fields": custom,
        "satisfaction_rating": {"score": "unoffered"}, "sharing_agreement_ids": [],
        "custom_status_id": CUSTOM_STATUS[status], "fields": custom, "followup_ids": [],
        "ticket_form_id": TICKET_FORM_ID, "brand_id": BRAND_ID, "allow_channelback": False,
        "allow_attachments": True, "from_messaging_channel": False,
    }


def seed_organizations(rng: random.Random, count: int) -> list[dict[str, Any]]:
    out = []
    for n in range(count):
        created = rng.randrange(Y2025, Y2026)
        out.append(organization(ORG_ID_BASE + n, name=ORGS[n % len(ORGS)] + (f" {n // len(ORGS) + 1}"
                                                                             if n >= len(ORGS) else ""),
                                external_id=f"ORG-{n + 1:03d}", created=created,
                                ts=rng.randrange(Y2026, SEED_END), region=REGIONS[n % len(REGIONS)]))
    return out


def seed_users(rng: random.Random, count: int, agents: int, org_ids: list[int],
               api_email: str) -> list[dict[str, Any]]:
    """The API user (admin), `agents` agents, then end users C000001.. (the demo customers)."""
    uid = USER_ID_BASE
    out = [user(uid, name="Migo Integration", email=api_email, role="admin", external_id=None,
                created=Y2025, ts=Y2025)]
    for k in range(agents):
        uid += 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        out.append(user(uid, name=f"{first} {last}", email=f"agent{k + 1}@migo-demo.example", role="agent",
                        external_id=None, created=Y2025, ts=Y2025 + k))
    for n in range(1, count + 1):
        uid += 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = rng.randrange(Y2025, Y2026)
        org = rng.choice(org_ids) if org_ids and rng.random() < 0.3 else None
        fields = {"credit_tier": rng.choice("ABCDE"), "loan_status": rng.choice(("current", "late", None))}
        out.append(user(uid, name=f"{first} {last}", email=f"{first}.{last}.{n}@example.com".lower(),
                        role="end-user", external_id=f"C{n:06d}", created=created,
                        ts=rng.randrange(created, SEED_END), organization_id=org,
                        phone=f"+2547{rng.randrange(10_000_000, 99_999_999)}", user_fields=fields))
    return out


def seed_tickets(rng: random.Random, count: int, first_id: int, users: list[dict[str, Any]],
                 deleted_share: float = 0.02) -> list[dict[str, Any]]:
    """Tickets across the months of 2026, some deleted, with the three custom fields."""
    agents = [u["id"] for u in users if u["role"] == "agent"]
    requesters = [u for u in users if u["role"] == "end-user"] or users
    out = []
    for k in range(count):
        requester = rng.choice(requesters)
        created = rng.randrange(Y2026, SEED_END - 86_400)
        ts = min(created + rng.randrange(0, 10 * 86_400), SEED_END)
        reason = rng.choice(REASONS)
        status = "deleted" if rng.random() < deleted_share else rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        out.append(ticket(
            first_id + k, ts=ts, created=created, status=status, reason=reason, requester_id=requester["id"],
            assignee_id=rng.choice(agents) if agents and status != "new" else None,
            organization_id=requester["organization_id"], group_id=rng.choice(GROUP_IDS),
            channel=rng.choice(CHANNELS), priority=rng.choice(PRIORITIES), type_=rng.choice(TYPES),
            loan=f"L{rng.randrange(1, 9_000_000):07d}",
            amount=f"{rng.randrange(100, 50_000)}.00" if reason == "dispute" else None,
            detail=rng.choice(DETAILS)))
    return out


def bulk_ts(position: int) -> int:
    return Y2025 + position * BULK_STEP


def bulk_ticket(position: int) -> dict[str, Any]:
    """Bulk ticket at export position `position` (id position + 1), derived from the index alone."""
    i = position
    ts = bulk_ts(i)
    reason = REASONS[i % len(REASONS)]
    status = STATUSES[(i * 7) % len(STATUSES)] if i % 53 else "deleted"
    return ticket(i + 1, ts=ts, created=ts - (i % 11) * 3_600, status=status, reason=reason,
                  requester_id=USER_ID_BASE + 13 + i % 2_000, assignee_id=USER_ID_BASE + 1 + i % 12,
                  organization_id=ORG_ID_BASE + i % 8 if i % 3 == 0 else None, group_id=GROUP_IDS[i % 3],
                  channel=CHANNELS[i % len(CHANNELS)], priority=PRIORITIES[i % len(PRIORITIES)],
                  type_=TYPES[(i // 3) % len(TYPES)], loan=f"L{(i * 7_919) % 9_000_000 + 1:07d}",
                  amount=f"{(i * 37) % 50_000 + 100}.00" if reason == "dispute" else None,
                  detail=DETAILS[i % len(DETAILS)])
