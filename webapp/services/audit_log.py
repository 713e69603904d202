"""Reading the audit log: the Settings → Audit log page (filters, cursor paging), `signet audit`
(one JSON object per line), and its retention (`signet prune`, SIGNET_AUDIT_RETENTION_DAYS,
default 400 days). Writing is services/audit.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

from flask import current_app
from sqlalchemy import delete, select

from ..extensions import db
from ..models import AuditEntry
from .errors import Invalid

DEFAULT_RETENTION_DAYS = 400


@dataclass(frozen=True)
class Filters:
    action: str = ""  # exact, or a prefix ending in "." ("member.")
    actor: str = ""  # exact (a member's email, "command line", …)
    since: datetime | None = None


def parse_since(text: str | None) -> datetime | None:
    """ISO 8601 (a date, or a time; without a zone it is UTC); Invalid otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid("invalid_field", f"since must be an ISO 8601 date or time (got '{text[:40]}').", "since") from None
    try:  # in UTC here: a zone that pushes it past year 1 or 9999 is refused, not a 500 at the query
        return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except OverflowError:
        raise Invalid("invalid_field", f"since is out of range (got '{text[:40]}').", "since") from None


def statement(tenant_id: int, filters: Filters):
    """The tenant's entries matching the filters (unordered; the caller orders and pages)."""
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    action = filters.action.strip()
    if action.endswith("."):
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
    elif action:
        stmt = stmt.where(AuditEntry.action == action)
    if filters.actor.strip():
        stmt = stmt.where(AuditEntry.actor == filters.actor.strip().lower() if "@" in filters.actor
                          else AuditEntry.actor == filters.actor.strip())
    if filters.since is not None:
        stmt = stmt.where(AuditEntry.at >= filters.since)
    return stmt


def since(tenant_id: int, when: datetime | None) -> Iterator[AuditEntry]:
    """Every entry of the tenant from `when` on, oldest first (streamed in batches)."""
    stmt = statement(tenant_id, Filters(since=when)).order_by(AuditEntry.at, AuditEntry.id)
    yield from db.session.scalars(stmt.execution_options(yield_per=500))


def as_json(entry: AuditEntry) -> dict:
    out = {"at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action, "target": entry.target,
           "address": entry.address}
    if entry.before is not None:
        out["before"] = entry.before
    if entry.after is not None:
        out["after"] = entry.after
    return out


def actions(tenant_id: int) -> list[str]:
    """The action names this tenant's log holds (the filter's choices)."""
    return sorted(db.session.scalars(select(AuditEntry.action).where(AuditEntry.tenant_id == tenant_id).distinct()))


def retention() -> timedelta:
    return timedelta(days=int(current_app.config.get("SIGNET_AUDIT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)))


def prune(now: datetime) -> int:
    """Delete entries older than the retention (inside the caller's transaction)."""
    return db.session.execute(delete(AuditEntry).where(AuditEntry.at < now - retention())).rowcount
