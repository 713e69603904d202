"""Staff accounts prove their address by mail (API.md §9): sign-up, its verification link, and
password reset.

- Sign-up answers the same whether or not the address has an account, in the same time: the
  request checks the input, hashes the password and hands the rest to the background worker
  (services/background.py). There a new address gets its workspace, an unverified owner and a
  verification link; a known one gets a notice pointing to log in or reset. Reset requests
  work the same way (a known address gets a link, an unknown one a notice).
- A link is a random 32-byte token; only its SHA-256 is kept, with the member, the purpose and
  the expiry (verify: 24 h, reset: 30 min). It is used up once by a conditional UPDATE.
- Confirming a sign-up needs the password chosen at sign-up as well as the link, and ends every
  other session of the account: the link proves the mailbox, the password that the mailbox's
  owner is who signed up. Otherwise someone who signed up with another person's address would
  keep a logged-in session that the owner's click made verified (a pre-hijacked account). An
  owner who did not sign up resets the password instead (the confirmation page links there).
- Completing a reset proves the address too, and ends every session of the member.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ...infra.database import writing
from ...extensions import db
from ...models import Member, StaffToken
from ...models._types import utcnow
from ...infra import background, mailer
from . import members, tenants
from .. import audit
from ..errors import Conflict, Invalid, LinkGone, LinkInvalid, LinkRefused, link_gone
from .validation import check_password, normalize_email

VERIFY_SECONDS = 24 * 3600
RESET_SECONDS = 30 * 60
TOKEN_BYTES = 32
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


def new_token() -> tuple[str, str]:
    """A random token and the hex SHA-256 that is stored instead of it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: object) -> bool:
    return isinstance(token, str) and bool(TOKEN_SHAPE.match(token))


def refusal(used: bool, expired: bool, what: str) -> LinkGone | None:
    return link_gone(used, expired, f"This {what} link was already used. Ask for a new one.",
                     f"This {what} link expired. Ask for a new one.")


def sign_up(workspace: str, email: str, password: str, *, link_base: str) -> None:
    """Check what was typed and hash the password here, the same for every address; whether the
    address has an account is decided on the background worker (`_sign_up`), which makes the
    workspace or mails the notice. The request cannot tell which."""
    name = tenants.check_name(workspace)
    address = normalize_email(email)
    check_password(password)
    background.submit(_sign_up, name, address, members.hash_password(password), link_base)


def _sign_up(name: str, address: str, password_hash: str, link_base: str) -> None:
    """A new workspace with an unverified owner and its verification mail, or a notice to the
    address's existing account."""
    try:
        with writing():  # BEGIN IMMEDIATE: the read and the insert in one write transaction
            tenant = None
            if members.find_member(address) is None:
                tenant = tenants.create_tenant(name, address, "", verified=False, password_hash=password_hash)
    except (IntegrityError, Conflict):  # the same address signed up at the same moment
        tenant = None
    if tenant is not None:
        send_verification(members.find_member(address), link_base=link_base, workspace=tenant.name)
        return
    mailer.send(address, "Someone tried to sign up to Signet with your address", _notice_body(link_base),
                console_line=f"sign-up notice for an existing account -> {address}")


def _notice_body(base: str) -> str:
    return (
        "Someone (maybe you) tried to create a Signet workspace with this address, which already "
        "has an account. Nothing was created.\n\n"
        f"Log in: {base}/login\nForgot your password? Reset it: {base}/password/forgot\n\n"
        "If it was not you, you can ignore this mail.\n"
    )


def send_verification(member: Member, *, link_base: str, workspace: str | None = None) -> None:
    """Mail a fresh verification link (older ones keep working until they expire)."""
    token = _issue(member, "verify", VERIFY_SECONDS)
    url = f"{link_base}/account/verify/{token}"
    what = f" and its workspace {workspace}" if workspace else ""
    body = (f"Someone (hopefully you) created a Signet account{what} with this address.\n\n"
            f"Open this link and enter the password chosen at sign-up to confirm the address:\n\n{url}\n\n"
            "The link works once, for 24 hours. If you did not sign up, nobody can use the account "
            "until the address is confirmed; to claim the address, reset the password: "
            f"{link_base}/password/forgot\n")
    mailer.send(member.email, "Confirm your email for Signet", body, console_line=f"verify {member.email} -> {url}")


def request_reset(email: str, *, link_base: str) -> None:
    """Check the address here; the lookup and the mail happen on the background worker, so the
    answer and its timing are the same for known and unknown addresses."""
    background.submit(_request_reset, normalize_email(email), link_base)


def _request_reset(address: str, link_base: str) -> None:
    """A reset link to a known address, a short notice to an unknown one."""
    member = members.find_member(address)
    if member is None:
        body = ("Someone asked to reset the Signet password of this address, but no account uses it.\n\n"
                f"To create one: {link_base}/signup\n\nIf it was not you, ignore this mail.\n")
        mailer.send(address, "Reset your Signet password", body, console_line=f"reset for unknown address -> {address}")
        return
    token = _issue(member, "reset", RESET_SECONDS)
    url = f"{link_base}/password/reset/{token}"
    body = (f"Someone (hopefully you) asked to reset your Signet password.\n\nSet a new one here:\n\n{url}\n\n"
            "The link works once, for 30 minutes. Setting a new password logs you out everywhere. "
            "If you did not ask, ignore this mail: your password stays as it is.\n")
    mailer.send(address, "Reset your Signet password", body, console_line=f"reset {address} -> {url}")


def _issue(member: Member, purpose: str, seconds: int) -> str:
    token, digest = new_token()
    now = utcnow()
    member_id = member.id
    with writing():
        db.session.add(StaffToken(member_id=member_id, purpose=purpose, token_hash=digest, created_at=now,
                                  expires_at=now + timedelta(seconds=seconds)))
    return token


def describe(token: str, purpose: str) -> Member:
    """Whose link this is; reads only (a mail scanner's GET uses nothing up)."""
    row = _row(token, purpose)
    problem = _problem(row, purpose)
    if problem is not None:
        raise problem
    return db.session.get(Member, row.member_id)


def confirm_verification(token: str, password: str) -> Member:
    """With the password chosen at sign-up: use the link up, mark the address proven and end
    every session of the account (the caller starts a fresh one). A wrong password leaves the
    link unused. The password is checked before the write transaction (hashing is slow)."""
    member = describe(token, "verify")
    if not members.password_matches(member, password):
        raise Invalid("invalid_field", "That is not the password chosen at sign-up. Didn't sign up? Reset the password "
                           "to claim this address.", "password")
    with writing():
        member_id = _claim(token, "verify")
        members.mark_verified(member_id)
        with audit.acting_as(_email(member_id), member_id):
            members.bump_session_version(member_id, "address confirmed")
    return db.session.get(Member, member_id)


def complete_reset(token: str, password: str) -> Member:
    """Set the new password (ending every session), prove the address, use the link and every
    other reset link of the member up. A weak password leaves the link unused."""
    check_password(password)
    with writing():
        member_id = _claim(token, "reset")
        email = _email(member_id)
        with audit.acting_as(email, member_id):  # the mailbox's owner acts, not signed in yet
            members.set_password(member_id, password)
            audit.record_for_member(member_id, "member.password_reset", email)
        members.mark_verified(member_id)
        db.session.execute(update(StaffToken).where(StaffToken.member_id == member_id, StaffToken.purpose == "reset",
                                                    StaffToken.used_at.is_(None)).values(used_at=utcnow()))
    return db.session.get(Member, member_id)


def _email(member_id: int) -> str:
    return db.session.scalar(select(Member.email).where(Member.id == member_id)) or ""


def _row(token: str, purpose: str) -> StaffToken | None:
    if not well_formed(token):
        return None
    return db.session.scalar(select(StaffToken).where(StaffToken.token_hash == token_hash(token),
                                                      StaffToken.purpose == purpose))


def _problem(row: StaffToken | None, purpose: str) -> LinkRefused | None:
    what = "confirmation" if purpose == "verify" else "password reset"
    if row is None:
        return LinkInvalid(f"This {what} link is not valid: copy the whole link from the mail.")
    return refusal(row.used_at is not None, row.expires_at <= utcnow(), what)


def _claim(token: str, purpose: str) -> int:
    """Mark the link used if it is unused and unexpired (one statement decides, also when two
    clicks race); the member's id, or the reason it cannot be used."""
    now = utcnow()
    table = StaffToken.__table__
    member_id = None
    if well_formed(token):
        member_id = db.session.execute(
            update(table).where(table.c.token_hash == token_hash(token), table.c.purpose == purpose,
                                table.c.used_at.is_(None), table.c.expires_at > now)
            .values(used_at=now).returning(table.c.member_id)).scalar()
    if member_id is None:
        raise _problem(_row(token, purpose), purpose) or LinkGone("link_used", "This link cannot be used any more.")
    return member_id
