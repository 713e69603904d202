"""`signet prune`: delete what has expired (jtis, revoked sessions, email sign-in links) and
rejections beyond the kept window, in one short transaction."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select

from ...infra.database import writing
from ...models import Rejection, UsedJti
from .rejections import trim


def prune(now: float | None = None) -> dict:
    """Delete expired jtis, revoked sessions and email sign-in links, and rejections beyond the kept window."""
    from ...models import RevokedSession
    from .. import audit_log
    from ..end_users import email_signin
    from ..workspace import dashboard_sessions

    now_dt = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc)
    with writing() as session:
        jtis = session.execute(delete(UsedJti).where(UsedJti.expires_at < now_dt)).rowcount
        revoked = session.execute(delete(RevokedSession).where(RevokedSession.expires_at < now_dt)).rowcount
        old = session.execute(delete(Rejection).where(Rejection.created_at < now_dt - timedelta(days=30))).rowcount
        for tenant_id in list(session.scalars(select(Rejection.tenant_id).distinct())):
            trim(session, tenant_id)
        audit_entries = audit_log.prune(now_dt)  # older than SIGNET_AUDIT_RETENTION_DAYS (400)
        dashboard = dashboard_sessions.prune(now_dt)  # ended, or idle past the login lifetime
    links = email_signin.prune(now)
    return {"jti": jtis, "revoked_sessions": revoked, "email_links": links, "rejections": old,
            "audit_entries": audit_entries, "dashboard_sessions": dashboard}
