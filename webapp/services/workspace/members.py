"""Dashboard accounts: creation, authentication, and their roles in a tenant."""
from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import contains_eager
from werkzeug.security import check_password_hash, generate_password_hash

from ...infra.database import writes, writing
from ...extensions import db
from ...models import ROLES, Member, Membership, Tenant
from ...models._types import utcnow
from .. import audit
from ..errors import Conflict, Invalid, NotFound
from . import dashboard_sessions
from .validation import check_password, normalize_email

# Compared against when no account matches, so an unknown email costs the same time.
_DUMMY_HASH = generate_password_hash("signet-timing-equaliser")


def find_member(email: str) -> Member | None:
    return db.session.scalar(select(Member).where(Member.email == email.strip().lower()))


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def create_member(email: str, password: str, *, verified: bool, password_hash: str | None = None) -> Member:
    """A new account (not committed); duplicate emails are refused.

    `verified`: the address is proven (a mailed link was used, or the operator's CLI, which is
    trusted, made it). An unverified account can log in but do nothing except verify.
    `password_hash`: the password was checked and hashed already (sign-up hashes it on the request).
    """
    email = normalize_email(email)
    if password_hash is None:
        check_password(password)
    if find_member(email) is not None:
        raise Conflict("account_exists", f"An account with the email {email} already exists.", "email")
    member = Member(email=email, password_hash=password_hash or generate_password_hash(password),
                    email_verified_at=utcnow() if verified else None)
    db.session.add(member)
    return member


def authenticate(email: str, password: str) -> Member | None:
    member = find_member(email or "")
    if member is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    return member if password_matches(member, password) else None


def password_matches(member: Member, password: str | None) -> bool:
    return check_password_hash(member.password_hash, password or "")


def end_sessions(member: Member) -> None:
    """Log the member out everywhere ("sign out everywhere"): every dashboard session row ends,
    so every cookie issued so far stops working, copies included (audited)."""
    with writing():
        dashboard_sessions.end_all(member.id, "signed out everywhere")


def bump_session_version(member_id: int, reason: str = "address confirmed") -> None:
    """End every session of the member (not committed): the session rows and the version."""
    dashboard_sessions.end_all(member_id, reason)


def memberships_of(member: Member) -> list[Membership]:
    stmt = (
        select(Membership).join(Tenant).options(contains_eager(Membership.tenant))  # every page names them
        .where(Membership.member_id == member.id).order_by(func.lower(Tenant.name))
    )
    return list(db.session.scalars(stmt))


def membership(member_id: int, tenant_id: int) -> Membership | None:
    return db.session.scalar(
        select(Membership).where(Membership.member_id == member_id, Membership.tenant_id == tenant_id)
    )


def team(tenant: Tenant) -> list[Membership]:
    stmt = (select(Membership).join(Member).options(contains_eager(Membership.member))
            .where(Membership.tenant_id == tenant.id).order_by(Member.email))
    return list(db.session.scalars(stmt))


@writes
def add_to_tenant(tenant: Tenant, email: str, password: str | None, role: str) -> Membership:
    """The operator's `signet member add` (trusted): add an account to a workspace at once,
    creating it verified when the email is new. Pages invite instead (services/invitations).

    An existing account keeps its password and is granted the role only if its address is
    proven: an unverified account may belong to someone who typed another person's address.
    """
    check_role(role)
    email = normalize_email(email)
    member = find_member(email)
    if member is None:
        if not password:
            raise Invalid("invalid_field", "A new account needs a password.", "password")
        member = create_member(email, password, verified=True)
    elif not member.is_verified:
        raise Conflict("account_unverified", f"The account {email} has not proven its address yet: its owner "
                       "must open the link mailed at sign-up (or reset the password) first.", "email")
    elif membership(member.id, tenant.id) is not None:
        raise Conflict("already_member", f"{email} is already a member of this workspace.", "email")
    team_member = Membership(tenant=tenant, member=member, role=role)
    db.session.add(team_member)
    audit.record(tenant.id, "member.added", email, after={"role": role})
    return team_member


def set_password(member_id: int, password: str) -> None:
    """A new password ends every session of the member (not committed)."""
    check_password(password)
    db.session.execute(update(Member).where(Member.id == member_id).values(password_hash=hash_password(password)))
    dashboard_sessions.end_all(member_id, "password reset")


def mark_verified(member_id: int) -> None:
    """The address is proven (not committed); the first proof's time is kept."""
    db.session.execute(update(Member).where(Member.id == member_id, Member.email_verified_at.is_(None))
                       .values(email_verified_at=utcnow()))


@writes
def change_role(tenant: Tenant, membership_id: int, role: str, acting_role: str) -> Membership:
    check_role(role)
    team_member = _team_membership(tenant, membership_id)
    check_may_grant(acting_role, team_member.role)
    check_may_grant(acting_role, role)
    if team_member.role == "owner" and role != "owner":
        _keep_an_owner(tenant)
    if team_member.role != role:
        audit.record(tenant.id, "member.role_changed", team_member.member.email,
                     before={"role": team_member.role}, after={"role": role})
    team_member.role = role
    return team_member


@writes
def remove_from_tenant(tenant: Tenant, membership_id: int, acting_role: str) -> None:
    team_member = _team_membership(tenant, membership_id)
    check_may_grant(acting_role, team_member.role)
    if team_member.role == "owner":
        _keep_an_owner(tenant)
    audit.record(tenant.id, "member.removed", team_member.member.email, before={"role": team_member.role})
    db.session.delete(team_member)


def _team_membership(tenant: Tenant, membership_id: int) -> Membership:
    team_member = db.session.scalar(
        select(Membership).where(Membership.id == membership_id, Membership.tenant_id == tenant.id)
    )
    if team_member is None:
        raise NotFound("not_found", "No such member in this workspace.")
    return team_member


def _keep_an_owner(tenant: Tenant) -> None:
    owners = db.session.scalar(
        select(func.count()).select_from(Membership).where(Membership.tenant_id == tenant.id, Membership.role == "owner")
    )
    if owners <= 1:
        raise Invalid("invalid_field", "A workspace keeps at least one owner: make someone else owner first.", "role")


def check_role(role: str) -> None:
    if role not in ROLES:
        raise Invalid("invalid_field", f"The role must be one of {', '.join(ROLES)} (got '{role}').", "role")


def check_may_grant(acting_role: str, role: str) -> None:
    """Admins manage admins and agents; only owners make or unmake owners."""
    if role == "owner" and acting_role != "owner":
        raise Invalid("invalid_field", "Only an owner can grant, change or remove the owner role.", "role")
