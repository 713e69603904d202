"""Seats (API.md §5, issue 20 finding 8): who counts against which limit, said once.

A seat is an identified user the tenant vouches for: verified by a token, a login link or an
email sign-in. `tenant.seat_limit` caps those. Users known only from unsigned data take no seat;
`tenant.unsigned_user_limit` caps them apart, so unsigned callers can never use up the seats
verified users need. Anonymous visitors count for neither. Both refusals are
`403 seat_limit_reached`; the message says which limit.
"""
from __future__ import annotations

from sqlalchemy import func, select

from ...extensions import db
from ...refusals import Forbidden
from ...models import EndUser, Tenant
from ..end_users.snapshots import TenantSettings


class NoSeat(Forbidden):
    """No room for one more user: `seat_limit_reached`."""

    def __init__(self, message: str):
        super().__init__("seat_limit_reached", message)


def used(tenant_id: int, verified: bool = True) -> int:
    """Verified identified users (seats), or with verified=False the unsigned ones."""
    return db.session.scalar(select(func.count()).select_from(EndUser).where(
        EndUser.tenant_id == tenant_id, EndUser.anonymous.is_(False), EndUser.verified.is_(verified))) or 0


def limit(tenant: TenantSettings, verified: bool) -> int | None:
    return tenant.seat_limit if verified else tenant.unsigned_user_limit


def check(tenant: TenantSettings, verified: bool = True) -> None:
    """Room for one more verified user (seat limit) or unsigned user (unsigned users' limit)."""
    cap = limit(tenant, verified)
    if cap is None or used(tenant.id, verified) < cap:
        return
    if verified:
        raise NoSeat(f"This workspace has no seats left ({cap} used): ask its admin for more.")
    raise NoSeat(f"This workspace's limit of {cap} unsigned users is reached: new users must come with signed"
                 " data ({jwt}), or ask its admin to raise the unsigned users' limit.")


def check_locked(tenant: TenantSettings, verified: bool = True) -> None:
    """As `check`, inside a write transaction, holding the tenant's row so that two users taking
    the last place are counted one after the other."""
    if limit(tenant, verified) is not None:
        db.session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())
        check(tenant, verified)
