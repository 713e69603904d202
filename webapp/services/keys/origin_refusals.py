"""Requests refused for their origin: recorded in the rejection log, bounded, and one click to allow.

A browser hides a refused origin's 403 from the page (no CORS headers), so the widget can only
say `network_error`; the dashboard is where the integrator learns the real cause. Recording a
refusal costs a database write before any rate limit, so it is bounded three ways:

- per process, in memory: one attempt per (tenant, origin) per clock minute, and at most
  PER_MINUTE attempts per tenant per minute; the memory is cleared every minute. A flood of
  distinct origins therefore costs at most PER_MINUTE small transactions per tenant per minute;
- across processes, in the database: no second row for (tenant, origin) within 60 s, and no row
  once the tenant has PER_MINUTE origin rows in the last 60 s;
- in the table: only the newest KEEP origin rows of a tenant are kept.
Two processes racing on the same origin in the same instant can each write one row; nothing more.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ...infra.database import writing_apart
from ...models import Rejection, Tenant
from ..workspace import tenants
from ..errors import Invalid
from ..workspace.validation import normalize_origin
from ..end_users.snapshots import TenantSettings

CODE = "origin_not_allowed"
PER_MINUTE = 10
KEEP = 20
MAX_ORIGIN = 255  # the rejection log's origin column


class _Throttle:
    """One app's in-memory view of the current minute: which (tenant, origin) were tried."""

    def __init__(self):
        self.lock = threading.Lock()
        self.minute = -1
        self.tried: set[tuple[int, str]] = set()
        self.per_tenant: dict[int, int] = {}

    def admit(self, tenant_id: int, origin: str, now: float) -> bool:
        with self.lock:
            minute = int(now // 60)
            if minute != self.minute:
                self.minute, self.tried, self.per_tenant = minute, set(), {}
            count = self.per_tenant.get(tenant_id, 0)
            if (tenant_id, origin) in self.tried or count >= PER_MINUTE:
                return False
            self.tried.add((tenant_id, origin))
            self.per_tenant[tenant_id] = count + 1
            return True


def record(tenant: TenantSettings, origin: str, method: str, path: str, now: float | None = None) -> bool:
    """Log that `origin` was refused by the widget API of `tenant` (a Tenant or TenantInfo).

    Returns whether a row was written. Never raises for a database problem: the refusal must
    still be answered."""
    now = time.time() if now is None else now
    throttle = current_app.extensions.setdefault("signet_origin_refusals", _Throttle())
    origin = origin[:MAX_ORIGIN]
    if not throttle.admit(tenant.id, origin, now):
        return False
    since = datetime.fromtimestamp(now - 60, timezone.utc)
    recent = select(Rejection.origin).where(
        Rejection.tenant_id == tenant.id, Rejection.code == CODE, Rejection.created_at >= since)
    tenant_id = tenant.id
    try:
        with writing_apart() as session:  # its own short transaction: never the request's
            origins = list(session.scalars(recent.limit(PER_MINUTE)))
            if origin in origins or len(origins) >= PER_MINUTE:
                return False
            _add(session, tenant_id, origin, method, path, now)
    except Exception:  # noqa: BLE001 - logging must never turn a 403 into a 500
        current_app.logger.exception("could not record an origin refusal")
        return False
    return True


def _add(session: Session, tenant_id: int, origin: str, method: str, path: str, now: float) -> None:
    what = "preflight of" if method == "OPTIONS" else "request to"
    session.add(Rejection(
        tenant_id=tenant_id, code=CODE, origin=origin, source="widget",
        created_at=datetime.fromtimestamp(now, timezone.utc),
        message=f"A browser page on this origin was refused ({what} {path[:200]}): it is not in this "
                "workspace's allowed origins.",
    ))
    session.flush()
    _trim(session, tenant_id)


def _trim(session: Session, tenant_id: int) -> None:
    cutoff = session.scalar(
        select(Rejection.id).where(Rejection.tenant_id == tenant_id, Rejection.code == CODE)
        .order_by(Rejection.id.desc()).offset(KEEP).limit(1))
    if cutoff is not None:
        session.execute(delete(Rejection).where(
            Rejection.tenant_id == tenant_id, Rejection.code == CODE, Rejection.id <= cutoff))


def can_allow(tenant: Tenant, origin: str | None) -> bool:
    """Whether "Allow this origin" makes sense: a real web origin, recorded whole, not yet allowed."""
    if not origin or len(origin) >= MAX_ORIGIN:
        return False
    try:
        normalized = normalize_origin(origin)
    except Invalid:
        return False
    allowed = tenant.allowed_origins or []
    return bool(allowed) and normalized not in allowed


def allow(tenant: Tenant, origin: str) -> str:
    """Add `origin` to the tenant's allowed origins, through the same rules as the settings pages.

    Raises Invalid for something that is not an origin or a full list."""
    normalized = normalize_origin(origin)
    current = list(tenant.allowed_origins or [])
    if not current:
        raise Invalid("invalid_field", "Every origin is allowed already (the list is empty).", "allowed_origins")
    if normalized not in current:
        tenants.update_settings(tenant, tenants.Settings(allowed_origins=[*current, normalized]))
    return normalized



def still_refused(tenant: Tenant, rejections: list[Rejection]) -> list[dict]:
    """The distinct origins among these rejections that are still refused, newest first."""
    seen, out = set(), []
    for row in rejections:
        if row.code != CODE or row.origin in seen or (row.origin in (tenant.allowed_origins or [])):
            continue
        seen.add(row.origin)
        out.append({"origin": row.origin, "at": row.created_at, "allow": can_allow(tenant, row.origin)})
    return out
