"""Bulk synthetic data for benchmarks and demos (`signet seed`, API.md §6).

Users `user-1` … `user-N` with emails `user-N@example.com`, names, attributes, a few
organizations and a mix of verified (token / login link), unverified and email-sign-in users;
conversations spread over the users with messages alternating user / staff. Rows go in with
Core executemany INSERTs, a few thousand per statement batch and one transaction per batch,
so 100 000 users take seconds. Seeding a tenant that already holds seeded users continues
the numbering after the highest `user-N` there, so a second run adds users and never collides.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import func, insert, select, text

from ...infra.database import writing
from ...extensions import db
from ...models import Conversation, EndUser, Message, Organization, OrgMembership, Tenant
from ...models._types import utcnow
from ...models.conversation import STAFF_NAME_FALLBACK
from ..errors import Invalid

BATCH = 5000
PREFIX = "user-"
MAX_USERS = 10_000_000
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis", "Radia",
         "Tim", "Hedy", "John", "Katherine", "Linus", "Sophie", "Guido", "Anita", "Niklaus")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Ritchie",
        "Perlman", "Berners-Lee", "Lamarr", "McCarthy", "Johnson", "Torvalds", "Wilson", "van Rossum", "Borg", "Wirth")
PLANS = ("free", "starter", "pro", "enterprise")
TOPICS = ("billing", "login", "an invoice", "the API", "exports", "SSO", "a refund", "seats")


@dataclass
class Result:
    tenant_id: str
    users: int
    first_user: str | None
    last_user: str | None
    organizations: int
    memberships: int
    conversations: int
    messages: int
    seconds: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _check(users: int, conversations: int, per_conversation: int) -> None:
    if not 0 <= users <= MAX_USERS:
        raise Invalid("invalid_field", f"--users must be from 0 to {MAX_USERS:,}.", "users")
    if conversations < 0 or per_conversation < 1:
        raise Invalid("invalid_field", "--conversations must be 0 or more and --messages-per-conversation 1 or more.",
                           "conversations")


def highest_seeded(tenant_id: int) -> int:
    """The largest N among the tenant's `user-N` ids (0 if none); read from the unique index's range."""
    ids = db.session.scalars(select(EndUser.external_id).where(
        EndUser.tenant_id == tenant_id, EndUser.external_id >= PREFIX, EndUser.external_id < "user."))
    return max((int(i[len(PREFIX):]) for i in ids if i[len(PREFIX):].isdigit()), default=0)


def seed(tenant: Tenant, users: int, conversations: int, per_conversation: int = 4,
         progress: Callable[[str], None] = lambda line: None) -> Result:
    _check(users, conversations, per_conversation)
    started = time.perf_counter()
    tenant_id = tenant.id
    if tenant.seat_limit is not None:
        used = db.session.scalar(select(func.count()).select_from(EndUser).where(
            EndUser.tenant_id == tenant_id, EndUser.anonymous.is_(False)))
        if used + users > tenant.seat_limit:
            raise Invalid("invalid_field", f"The workspace's seat limit ({tenant.seat_limit}) leaves room for "
                               f"{max(0, tenant.seat_limit - used)} more users, not {users}.", "users")
    start = highest_seeded(tenant_id) + 1
    existing: list[int] = []
    if not users and conversations:  # conversations for the users already there
        existing = list(db.session.scalars(select(EndUser.id).where(EndUser.tenant_id == tenant_id)
                                           .order_by(EndUser.id).limit(100_000)))
        if not existing:
            raise Invalid("invalid_field", "There are no users to give conversations to: add --users.", "conversations")
    now = utcnow()
    orgs = _organizations(tenant_id, max(3, min(20, users // 2000)), now) if users else []
    user_ids, memberships = _users(tenant_id, start, users, orgs, now, progress)
    user_ids = user_ids or existing
    made, messages = _conversations(tenant_id, user_ids, conversations, per_conversation, now, progress)
    _analyze()
    return Result(tenant.public_id, users, f"{PREFIX}{start}" if users else None,
                  f"{PREFIX}{start + users - 1}" if users else None, len(orgs), memberships, made, messages,
                  round(time.perf_counter() - started, 2))


def _organizations(tenant_id: int, count: int, now: datetime) -> list[int]:
    """Row ids of `seed-org-1` … `seed-org-<count>`, made if missing."""
    wanted = [f"seed-org-{i}" for i in range(1, count + 1)]
    with writing():
        have = set(db.session.scalars(select(Organization.external_id).where(
            Organization.tenant_id == tenant_id, Organization.external_id.in_(wanted))))
        rows = [{"tenant_id": tenant_id, "external_id": ext, "name": f"{LAST[i % len(LAST)]} {('Labs', 'Inc', 'GmbH', 'Group')[i % 4]} {i + 1}",
                 "attrs": {"tier": PLANS[i % len(PLANS)], "employees": 10 * (i + 1)}, "created_at": now,
                 "updated_at": now} for i, ext in enumerate(wanted) if ext not in have]
        if rows:
            db.session.execute(insert(Organization.__table__), rows)
        found = dict(db.session.execute(select(Organization.external_id, Organization.id).where(
            Organization.tenant_id == tenant_id, Organization.external_id.in_(wanted))).tuples().all())
    return [found[ext] for ext in wanted]


def _user_row(tenant_id: int, n: int, now: datetime) -> dict:
    kind = n % 10
    verified_via = "token" if kind < 3 else "login_link" if kind == 3 else None
    return {
        "tenant_id": tenant_id, "external_id": f"{PREFIX}{n}", "anonymous": False,
        "email": f"{PREFIX}{n}@example.com", "name": f"{FIRST[n % len(FIRST)]} {LAST[(n // len(FIRST)) % len(LAST)]}",
        "attrs": {"plan": PLANS[n % len(PLANS)], "seats": n % 50 + 1, "beta": n % 7 == 0},
        "verified": verified_via is not None, "verified_via": verified_via,
        "verified_alg": {"token": "EdDSA", "login_link": "HS256"}.get(verified_via or ""),
        "verified_kid": {"token": "key_seed", "login_link": "sec_seed"}.get(verified_via or ""),
        "verified_at": now if verified_via else None,
        "created_via": "login_link" if kind == 3 else "email" if kind == 4 else "widget",
        # Distinct, spread over the past: user-N was seen most recently.
        "first_seen_at": now - timedelta(days=30, seconds=n), "last_seen_at": now - timedelta(seconds=MAX_USERS - n),
    }


def _users(tenant_id: int, start: int, count: int, orgs: list[int], now: datetime,
           progress: Callable[[str], None]) -> tuple[list[int], int]:
    user_ids: list[int] = []
    memberships = 0
    for first in range(start, start + count, BATCH):
        numbers = range(first, min(first + BATCH, start + count))
        with writing():
            db.session.execute(insert(EndUser.__table__), [_user_row(tenant_id, n, now) for n in numbers])
            ids = dict(db.session.execute(select(EndUser.external_id, EndUser.id).where(
                EndUser.tenant_id == tenant_id, EndUser.external_id.in_([f"{PREFIX}{n}" for n in numbers]))).tuples().all())
            links = [{"user_id": ids[f"{PREFIX}{n}"], "organization_id": orgs[(n + k) % len(orgs)],
                      "tenant_id": tenant_id, "position": k}
                     for n in numbers for k in range(_org_count(n, len(orgs)))]
            if links:
                db.session.execute(insert(OrgMembership.__table__), links)
        user_ids.extend(ids[f"{PREFIX}{n}"] for n in numbers)
        memberships += len(links)
        progress(f"users: {numbers[-1] - start + 1:,} / {count:,}")
    return user_ids, memberships


def _org_count(n: int, available: int) -> int:
    """Most users belong to one organization, some to two, some to none."""
    return min(available, (1, 1, 1, 2, 0)[n % 5])


def _conversations(tenant_id: int, user_ids: list[int], count: int, per: int, now: datetime,
                   progress: Callable[[str], None]) -> tuple[int, int]:
    made = messages = 0
    step = max(1, len(user_ids) // max(1, count)) if user_ids else 1
    per_batch = max(1, BATCH // per)
    for first in range(0, count, per_batch):
        numbers = range(first, min(first + per_batch, count))
        with writing():
            rows = [_conversation_row(tenant_id, user_ids[(j * step + j // len(user_ids)) % len(user_ids)], j, count,
                                      per, now) for j in numbers]
            db.session.execute(insert(Conversation.__table__), [r for r, _ in rows])
            ids = dict(db.session.execute(select(Conversation.public_id, Conversation.id).where(
                Conversation.public_id.in_([r["public_id"] for r, _ in rows]))).tuples().all())
            batch = [dict(m, conversation_id=ids[r["public_id"]]) for r, msgs in rows for m in msgs]
            db.session.execute(insert(Message.__table__), batch)
            _mark_read(tenant_id, list(ids.values()))
        made += len(rows)
        messages += len(batch)
        progress(f"conversations: {made:,} / {count:,}")
    return made, messages


def _conversation_row(tenant_id: int, user_id: int, j: int, count: int, per: int, now: datetime) -> tuple[dict, list]:
    started = now - timedelta(minutes=(count - j) * 7 + per)
    topic = TOPICS[j % len(TOPICS)]
    msgs = []
    for k in range(per):
        author = "user" if k % 2 == 0 else "staff"
        body = (f"Hi, I have a question about {topic} (#{j + 1})." if k == 0 else
                f"Thanks, let me look into {topic} for you." if author == "staff" else f"Follow-up {k} on {topic}.")
        msgs.append({"public_id": f"msg_{secrets.token_urlsafe(12)}", "tenant_id": tenant_id, "author": author,
                     "body": body, "staff_name": STAFF_NAME_FALLBACK if author == "staff" else None,
                     "created_at": started + timedelta(minutes=k)})
    last = msgs[-1]
    row = {"public_id": f"conv_{secrets.token_urlsafe(12)}", "tenant_id": tenant_id, "user_id": user_id,
           "subject": msgs[0]["body"][:80], "status": "closed" if j % 5 == 0 else "open", "created_at": started,
           "updated_at": last["created_at"], "unread_by_staff": last["author"] == "user", "staff_read_message_id": 0}
    return row, msgs


def _mark_read(tenant_id: int, conversation_ids: list[int]) -> None:
    """Conversations whose last word was staff's are read up to their last message."""
    newest = (select(func.max(Message.id)).where(Message.conversation_id == Conversation.id)
              .scalar_subquery())
    db.session.execute(Conversation.__table__.update().where(
        Conversation.tenant_id == tenant_id, Conversation.id.in_(conversation_ids),
        Conversation.unread_by_staff.is_(False)).values(staff_read_message_id=newest))


def _analyze() -> None:
    """Fresh planner statistics for the tables just filled (PostgreSQL's autovacuum would get
    there later; SQLite only has what ANALYZE gathers)."""
    with writing():
        for table in ("end_user", "organization", "org_membership", "conversation", "message"):
            db.session.execute(text(f"ANALYZE {table}"))
