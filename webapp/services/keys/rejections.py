"""The rejection log (the Debug page's recent refusals): how a refusal's row is written.

Two ways, named for how they write:
- `add_rejection(session, ...)`: a row the caller adds to its own transaction (it commits or rolls
  back with the caller's work; e.g. Report mode's "would refuse" beside the write it accompanies).
- `record_rejection_now(...)`: one row in its own short transaction on a connection of its own
  (database.writing_apart): the caller's transaction is neither committed nor rolled back.
A refusal found inside a write transaction cannot be recorded there (that transaction rolls
back, and on SQLite it holds the one write lock): `to_record(error, ...)` marks it, and
`@records_refusals` on the service's entry point records it once the transaction has ended.
"""
from __future__ import annotations

import random
from functools import wraps

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ...infra.database import writing_apart
from ...extensions import db
from ...identity.verifier import inspect_token
from ...models import Rejection, Tenant
from ...refusals import Refused

KEEP_REJECTIONS = 100
_PENDING = "_signet_rejection"


def add_rejection(session: Session, tenant_id: int, code: str, message: str, *, token: object = None,
                  kid: str | None = None, alg: str | None = None, origin: str | None = None,
                  source: str = "widget", outcome: str = "refused") -> None:
    """Add one rejection row to `session`'s transaction (never the token itself, only its kid/alg)."""
    if token is not None:
        header = inspect_token(token).get("header") or {}
        kid = kid or _short(header.get("kid"))
        alg = alg or _short(header.get("alg"))
    session.add(Rejection(tenant_id=tenant_id, code=code, message=message[:500], kid=kid, alg=alg,
                          origin=_short(origin, 255), source=source, outcome=outcome))
    if random.random() < 0.05:
        session.flush()
        trim(session, tenant_id)


def record_rejection_now(tenant, code: str, message: str, **where) -> None:
    """Record one refusal in its own short transaction, apart from the caller's (see module doc)."""
    tenant_id = tenant.id  # read first: never a load through the request's session inside
    with writing_apart() as session:
        add_rejection(session, tenant_id, code, message, **where)


def to_record(error: Refused, tenant, message: str | None = None, **where) -> Refused:
    """Mark a refusal raised inside a write transaction, to be recorded by `records_refusals`
    after that transaction rolled back (with `message`, else the error's own); returns the
    error, for `raise to_record(...)`."""
    setattr(error, _PENDING, (tenant, message or error.message, where))
    return error


def records_refusals(service):
    """On a service's entry point: a refusal marked by `to_record` is recorded (once, in its own
    transaction) after every transaction inside the call has ended, then raised on."""

    @wraps(service)
    def wrapper(*args, **kwargs):
        try:
            return service(*args, **kwargs)
        except Refused as error:
            pending = error.__dict__.pop(_PENDING, None)
            if pending is not None:
                tenant, message, where = pending
                record_rejection_now(tenant, error.code, message, **where)
            raise

    return wrapper


def trim(session: Session, tenant_id: int) -> None:
    """Keep the newest KEEP_REJECTIONS rows of each outcome for a tenant."""
    for outcome in ("refused", "would_refuse"):
        cutoff = session.scalar(
            select(Rejection.id).where(Rejection.tenant_id == tenant_id, Rejection.outcome == outcome)
            .order_by(Rejection.id.desc()).offset(KEEP_REJECTIONS).limit(1)
        )
        if cutoff is not None:
            session.execute(delete(Rejection).where(
                Rejection.tenant_id == tenant_id, Rejection.outcome == outcome, Rejection.id <= cutoff))


def _short(value: object, limit: int = 64) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def recent_rejections(tenant: Tenant, limit: int = KEEP_REJECTIONS, outcome: str | None = None) -> list[Rejection]:
    stmt = select(Rejection).where(Rejection.tenant_id == tenant.id)
    if outcome:
        stmt = stmt.where(Rejection.outcome == outcome)
    return list(db.session.scalars(stmt.order_by(Rejection.created_at.desc(), Rejection.id.desc()).limit(limit)))
