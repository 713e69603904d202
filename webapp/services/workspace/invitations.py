"""Team invitations (API.md §9): adding an address on the team page mails it an invitation; a
pending invitation grants nothing. Its owner accepts with the mailed token while signed in as
that exact address (or creates the account from the link, which proves the address).

Invitations last 7 days; inviting the same address again replaces its pending invitation.
Owners and admins see and revoke pending invitations; only owners invite owners. Accepting also
checks that the inviter still manages the workspace and may still grant the role.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ...infra.database import writes, writing
from ...extensions import db
from ...models import Invitation, Member, Membership, Tenant
from ...models._types import utcnow
from ...infra import mailer
from . import members
from .. import audit
from ..errors import Conflict, Forbidden, LinkGone, LinkInvalid, LinkRefused, NotFound
from .staff_tokens import new_token, refusal, token_hash, well_formed
from .validation import check_password, normalize_email

INVITE_SECONDS = 7 * 24 * 3600


class WrongAccount(Forbidden):
    """Signed in as another address than the invitation's."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__("wrong_account", message, field)


def invite(tenant: Tenant, email: str, role: str, inviter: Member, acting_role: str, *, link_base: str) -> Invitation:
    """Record and mail an invitation; refuses an address that is already a member."""
    members.check_role(role)
    members.check_may_grant(acting_role, role)
    address = normalize_email(email)
    existing = members.find_member(address)
    if existing is not None and members.membership(existing.id, tenant.id) is not None:
        raise Conflict("already_member", f"{address} is already a member of this workspace.", "email")
    token, digest = new_token()
    now = utcnow()
    tenant_id, tenant_name, inviter_id, inviter_email = tenant.id, tenant.name, inviter.id, inviter.email
    with writing():
        db.session.execute(delete(Invitation).where(Invitation.tenant_id == tenant_id, Invitation.email == address,
                                                    Invitation.accepted_at.is_(None)))
        invitation = Invitation(tenant_id=tenant_id, email=address, role=role, invited_by_id=inviter_id,
                                token_hash=digest, created_at=now, expires_at=now + timedelta(seconds=INVITE_SECONDS))
        db.session.add(invitation)
        audit.record(tenant_id, "invitation.created", address, after={"role": role})
    url = f"{link_base}/invitations/{token}"
    body = (f"{inviter_email} invited you to the Signet workspace {tenant_name} as {role}.\n\n"
            f"Open this link to accept (log in as {address}, or create your account from it):\n\n{url}\n\n"
            "The invitation works once, for 7 days. If you do not expect it, ignore this mail.\n")
    mailer.send(address, f"You are invited to {tenant_name} on Signet", body,
                console_line=f"invitation {address} -> {url}")
    return invitation


def pending(tenant: Tenant) -> list[Invitation]:
    return list(db.session.scalars(
        select(Invitation).options(selectinload(Invitation.invited_by))
        .where(Invitation.tenant_id == tenant.id, Invitation.accepted_at.is_(None), Invitation.expires_at > utcnow())
        .order_by(Invitation.email)))


@writes
def revoke(tenant: Tenant, invitation_id: int, acting_role: str) -> None:
    row = db.session.scalar(select(Invitation).where(Invitation.id == invitation_id, Invitation.tenant_id == tenant.id,
                                                     Invitation.accepted_at.is_(None)))
    if row is None:
        raise NotFound("not_found", "No such pending invitation in this workspace.")
    members.check_may_grant(acting_role, row.role)
    audit.record(tenant.id, "invitation.revoked", row.email, before={"role": row.role})
    db.session.delete(row)


def describe(token: str, *, lock: bool = False) -> Invitation:
    """The pending invitation of this token; reads only. `lock` (inside `writing()`): the row is
    locked FOR UPDATE on PostgreSQL and read afresh, so of two requests racing to use one
    invitation the second waits and then sees it used (SQLite: BEGIN IMMEDIATE already
    serializes them)."""
    row = _row(token, lock)
    problem = _problem(row)
    if problem is not None:
        raise problem
    return row


def accept(token: str, member: Member) -> Membership:
    """Join the workspace: the token AND being signed in as its address; proves the address."""
    with writing():
        tenant_id = _accept(describe(token, lock=True), member)
    return members.membership(member.id, tenant_id)


def sign_up_and_accept(token: str, password: str) -> Member:
    """A new account for the invitation's address, verified by the link itself, and accepted, in
    one transaction (a refused acceptance creates no account). Two requests racing on one
    invitation: the locked row makes the second see it used (410); an account made for the
    address meanwhile by another way (a sign-up) answers the "already has an account" conflict."""
    check_password(password)
    password_hash = members.hash_password(password)  # slow: before the transaction and its locks
    address = "This address"
    try:
        with writing():
            row = describe(token, lock=True)
            address = row.email
            if members.find_member(address) is not None:
                raise _has_account(address)
            member = members.create_member(address, "", verified=True, password_hash=password_hash)
            db.session.flush()
            _accept(row, member)
            member_id = member.id
    except IntegrityError as error:  # uq_member_email: the address got an account at the same moment
        raise _has_account(address) from error
    return db.session.get(Member, member_id)


def _has_account(email: str) -> Conflict:
    return Conflict("account_exists", f"{email} already has a Signet account: log in to accept (or reset its password).", "password")


def _accept(row: Invitation, member: Member) -> int:
    if member.email != row.email:
        raise WrongAccount(f"This invitation is for {row.email}: log in as that address to accept it.", "email")
    _check_inviter(row)
    claimed = db.session.execute(
        update(Invitation).where(Invitation.id == row.id, Invitation.accepted_at.is_(None),
                                 Invitation.expires_at > utcnow())
        .values(accepted_at=utcnow()).returning(Invitation.id)).scalar()
    if claimed is None:
        raise refusal(True, False, "invitation")
    members.mark_verified(member.id)
    if members.membership(member.id, row.tenant_id) is None:
        db.session.add(Membership(tenant_id=row.tenant_id, member_id=member.id, role=row.role))
        # The invited person acts (signed in as the address, or creating it from the link).
        audit.record(row.tenant_id, "member.added", member.email, after={"role": row.role, "via": "invitation"},
                     actor=member.email, actor_member_id=member.id)
    return row.tenant_id


def _check_inviter(row: Invitation) -> None:
    """An invitation is only as good as its inviter's role today."""
    link = members.membership(row.invited_by_id, row.tenant_id) if row.invited_by_id else None
    if link is None or not link.can_manage or (row.role == "owner" and link.role != "owner"):
        raise LinkGone("link_expired", "This invitation is no longer valid: ask the workspace for a new one.")


def _row(token: str, lock: bool = False) -> Invitation | None:
    if not well_formed(token):
        return None
    statement = (select(Invitation).options(selectinload(Invitation.tenant))
                 .where(Invitation.token_hash == token_hash(token)))
    if lock:
        statement = statement.with_for_update(of=Invitation).execution_options(populate_existing=True)
    return db.session.scalar(statement)


def _problem(row: Invitation | None) -> LinkRefused | None:
    if row is None:
        return LinkInvalid("This invitation link is not valid, or it was revoked.")
    return refusal(row.accepted_at is not None, row.expires_at <= utcnow(), "invitation")
