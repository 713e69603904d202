"""One-time tokens: a jti is used up inside the caller's transaction; a second use is token_replayed."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from sqlalchemy import bindparam, delete, select, text

from ...extensions import db
from ...identity.errors import TokenRefused
from ...identity.verifier import VerifiedToken
from ...models import UsedJti
from .rejections import to_record
from ..end_users.snapshots import TenantSettings
from .tokens import LEEWAY

PRUNE_EVERY = 200  # every 200th jti recorded in a process also deletes the expired ones

# One statement for SQLite (3.35+) and PostgreSQL, the same text on both: an expired row still
# waiting for the pruner is taken over, a live one is left alone and returns no row. A text()
# statement has a cache key, so it is compiled once per dialect; a dialect insert(...)
# .on_conflict_do_update(...) has none in SQLAlchemy 2.0 and was compiled on every call.
_EXPIRES = UsedJti.__table__.c.expires_at.type  # UTCDateTime: the column's own bind rules
_USE_UP = text(
    "INSERT INTO used_jti (tenant_id, jti, expires_at) VALUES (:tenant_id, :jti, :expires_at) "
    "ON CONFLICT (tenant_id, jti) DO UPDATE SET expires_at = excluded.expires_at "
    "WHERE used_jti.expires_at < :now RETURNING jti"
).bindparams(bindparam("expires_at", type_=_EXPIRES), bindparam("now", type_=_EXPIRES))


def record_jti(tenant: TenantSettings, verified: VerifiedToken, *, now: float | None = None,
               origin: str | None = None, source: str = "widget") -> None:
    """Use up a one-time token, inside the caller's transaction; a second use is token_replayed.

    Keyed on (tenant, jti), never on the token's bytes. An expired row still waiting for the
    pruner is taken over; a live one is a replay. Database errors propagate: fail closed.
    """
    if verified.jti is None:
        return
    now = time.time() if now is None else now
    now_dt = datetime.fromtimestamp(now, timezone.utc)
    expires = datetime.fromtimestamp(max(verified.exp, now) + LEEWAY, timezone.utc)
    # RETURNING, not rowcount: psycopg reports -1 for an upsert. No row back = a live jti = replay.
    used = db.session.execute(_USE_UP, {"tenant_id": tenant.id, "jti": verified.jti, "expires_at": expires,
                                        "now": now_dt}).scalar()
    if used is None:  # recorded by the caller's @records_refusals
        raise to_record(TokenRefused("token_replayed", "This token's jti was already used."), tenant,
                        kid=verified.kid, alg=verified.alg, origin=origin, source=source)
    if _prune_now():
        # On the fly, in the same transaction: the table stays bounded by the tokens still valid.
        db.session.execute(delete(UsedJti).where(UsedJti.expires_at < now_dt))


_recorded = [0]  # jtis recorded by this process


def _prune_now() -> bool:
    _recorded[0] += 1
    return _recorded[0] % PRUNE_EVERY == 0


def jti_used(tenant: TenantSettings, jti: str, now: float) -> bool:
    """For the token debugger: would this jti be a replay now? (Reads only.)"""
    expires = db.session.scalar(select(UsedJti.expires_at).where(UsedJti.tenant_id == tenant.id, UsedJti.jti == jti))
    return expires is not None and expires >= datetime.fromtimestamp(now, timezone.utc)
