"""Email sign-in on the hosted page (API.md §5): a one-time link mailed to the address typed in.

- The answer to a request never says whether the address is known, by its content or its
  time: `request_link` only checks what was typed and queues the rest (services/background.py);
  `send_link` then finds the user, stores the link and mails it, or does nothing.
- A link is a random 32-byte token; only its SHA-256 is stored, with the address, the expiry
  (15 minutes) and who asked. Opening it (GET) only reads; the confirmation (POST) uses it up
  with one conditional UPDATE (unused and unexpired) in the transaction that also finds or
  creates the user, so it signs in once, and a refusal (no seat left) leaves it unused.
- Who a link signs in: the user whose email is proven (`email_verified`: it came from signed
  data or an earlier email sign-in), else the user email sign-in made for that address. An email
  that only unsigned data claimed never catches a sign-in (snapshots.user_id_by_email).
- Modes (`tenant.email_sign_in`): `off` refuses; `existing` mails only addresses such a user
  has (case-insensitive); `create` mails any address and creates the user at the confirmation,
  taking a seat: past the seat limit the click is refused with the seat page.
- A user created here has the external id `email:<lowercased address>` (a hash when that
  would pass 255 characters): stable, so two confirmations racing create one user (the unique
  tenant + external id), readable in the dashboard, and usable by the tenant's backend to name
  that user in signed data or login links. Unsigned data can never name such an id (the
  reserved prefixes, identity.fields.RESERVED_ID_PREFIXES).
- Signing in proves the address: the user is verified (`verified_via` "email" unless signed data
  verified them already) and their email is proven, so unsigned data naming them is refused.
"""
from __future__ import annotations

import hashlib
import random
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ...infra.database import writing
from ...extensions import db
from ...refusals import Forbidden, Invalid
from ..errors import LinkGone, LinkInvalid, LinkRefused
from ...identity.fields import RESERVED_ID_PREFIXES
from ...identity.userdata import is_valid_email
from ...models import EmailSignIn, EndUser
from ...infra import background, mailer
from ... import locales
from ..keys import usage
from ..workspace import seats
from . import sessions, snapshots
from .snapshots import TenantSettings, UserInfo

LINK_SECONDS = 15 * 60
KEEP_AFTER_EXPIRY = timedelta(days=1)
TOKEN_BYTES = 32
WRITE_ATTEMPTS = 3
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


@dataclass(frozen=True)
class PendingLink:
    email: str
    expires_at: datetime


@dataclass(frozen=True)
class SignedIn:
    user: UserInfo
    token: str
    session: sessions.WidgetSession


def _now(now: float | None) -> tuple[float, datetime]:
    now = time.time() if now is None else now
    return now, datetime.fromtimestamp(now, timezone.utc)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_address(email: object) -> str:
    address = email.strip() if isinstance(email, str) else ""
    if not is_valid_email(address):
        raise Invalid("invalid_email", "Enter a valid email address, like jane@example.com.")
    return address


def _check_enabled(tenant: TenantSettings) -> None:
    if tenant.email_sign_in == "off":
        raise Forbidden("email_sign_in_off",
                        "This workspace does not offer email sign-in: use the link from its app.")


def request_link(tenant: TenantSettings, email: object, *, link_base: str, ip: str | None = None,
                 lang: str = locales.DEFAULT) -> None:
    """Accept a request for a link: refuse it when email sign-in is off or the address is
    malformed (what was typed, not who it names), else hand it to the background worker. The
    request does the same work for every address, so neither its answer nor its time says
    whether the address is known (issue 20 #10): `send_link` decides that, off the request.
    `lang` (webapp.locales) is the language of the page that asked: the mail is written in it."""
    _check_enabled(tenant)
    address = check_address(email)
    background.after_request(send_link, tenant, address, link_base, ip, None, locales.known(lang) or locales.DEFAULT)


def send_link(tenant: TenantSettings, address: str, link_base: str, ip: str | None = None, now: float | None = None,
              lang: str = locales.DEFAULT) -> bool:
    """(Background, or tests) Mail a sign-in link when this address may sign in; whether one was made."""
    now, now_dt = _now(now)
    if tenant.email_sign_in == "existing" and snapshots.user_id_by_email(tenant.id, address) is None:
        return False
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with writing():
        db.session.add(EmailSignIn(
            tenant_id=tenant.id, email=address, token_hash=token_hash(token), created_at=now_dt,
            expires_at=now_dt + timedelta(seconds=LINK_SECONDS), used_at=None, requested_ip=(ip or None) and ip[:64],
        ))
        if random.random() < 0.02:
            _prune(now_dt)
    url = f"{link_base.rstrip('/')}/m/{tenant.public_id}/email/{token}"
    mailer.send(address, locales.text(lang, "mail.subject", workspace=tenant.name),
                locales.text(lang, "mail.body", workspace=tenant.name, url=url, minutes=LINK_SECONDS // 60),
                console_line=f"{address} -> {url}")
    return True


def describe(tenant: TenantSettings, token: str, *, now: float | None = None) -> PendingLink:
    """What the confirmation page shows; reads only (a mail scanner's GET uses nothing up)."""
    _check_enabled(tenant)
    _, now_dt = _now(now)
    row = _row(tenant.id, token)
    problem = _problem(row, now_dt)
    if problem is not None:
        raise problem
    return PendingLink(row.email, row.expires_at)


@usage.counts_identifications
def confirm(tenant: TenantSettings, token: str, *, now: float | None = None) -> SignedIn:
    """Use the link up and sign its user in (creating them in `create` mode); once only."""
    _check_enabled(tenant)
    now, now_dt = _now(now)
    if not isinstance(token, str) or not _TOKEN_SHAPE.match(token):
        raise _problem(None, now_dt)
    digest = token_hash(token)
    for attempt in range(WRITE_ATTEMPTS):
        try:
            with writing():
                email = _claim(tenant.id, digest, now_dt)
                if email is None:
                    raise _problem(_row(tenant.id, token), now_dt) or _problem(None, now_dt)
                row = _find_or_create(tenant, email, now_dt)
                db.session.flush()
                user = snapshots.from_row(row)  # the answer from what is written, never read after the commit
            break
        except IntegrityError:  # the same new user created by a concurrent confirmation: find it
            if attempt == WRITE_ATTEMPTS - 1:
                raise
    bearer, session = sessions.issue(tenant, user=user, how=sessions.EMAIL, now=now)
    return SignedIn(user=user, token=bearer, session=session)


def _row(tenant_id: int, token: str) -> EmailSignIn | None:
    if not isinstance(token, str) or not _TOKEN_SHAPE.match(token):
        return None
    return db.session.scalar(select(EmailSignIn).where(
        EmailSignIn.tenant_id == tenant_id, EmailSignIn.token_hash == token_hash(token)))


def _problem(row: EmailSignIn | None, now_dt: datetime) -> LinkRefused | None:
    """Why a link cannot be used (unknown, used, expired), or None when it can."""
    if row is None:
        return LinkInvalid("This sign-in link is not valid: copy the whole link from the mail.")
    if row.used_at is not None:
        return LinkGone("link_used", "This sign-in link was already used. Ask for a new one.")
    if row.expires_at <= now_dt:
        return LinkGone("link_expired",
                         f"This sign-in link expired: links work for {LINK_SECONDS // 60} minutes. Ask for a new one.")
    return None


def _claim(tenant_id: int, digest: str, now_dt: datetime) -> str | None:
    """Mark the link used if it is unused and unexpired; its address, else None (RETURNING, not
    rowcount: one statement decides, also when two clicks race)."""
    table = EmailSignIn.__table__
    stmt = (update(table)
            .where(table.c.tenant_id == tenant_id, table.c.token_hash == digest, table.c.used_at.is_(None),
                   table.c.expires_at > now_dt)
            .values(used_at=now_dt).returning(table.c.email))
    return db.session.execute(stmt).scalar()


_EMAIL_PREFIX, _HASH_PREFIX = RESERVED_ID_PREFIXES[:2]


def external_id_for(email: str) -> str:
    candidate = _EMAIL_PREFIX + email.lower()
    if len(candidate) <= 255:
        return candidate
    return _HASH_PREFIX + hashlib.sha256(email.lower().encode("utf-8")).hexdigest()


def _find_or_create(tenant: TenantSettings, email: str, now_dt: datetime) -> EndUser:
    """The user this proven address signs in as, marked verified; created in `create` mode."""
    user_id = snapshots.user_id_by_email(tenant.id, email)
    if user_id is None:
        found = snapshots.user(tenant.id, external_id_for(email))
        user_id = found.id if found is not None and not found.anonymous else None
    if user_id is not None:
        user = db.session.get(EndUser, user_id, with_for_update=True)
        _mark_proven(tenant, user, email, now_dt)
        return user
    if tenant.email_sign_in != "create":
        raise Forbidden("no_account", "There is no account with this email in this workspace.")
    seats.check_locked(tenant)  # a verified user takes a seat
    user = EndUser(tenant_id=tenant.id, external_id=external_id_for(email), email=email, attrs={},
                   created_via="email", verified=True, verified_via="email", verified_at=now_dt,
                   email_verified=True, first_seen_at=now_dt, last_seen_at=now_dt)
    db.session.add(user)
    db.session.flush()
    return user


def _mark_proven(tenant: TenantSettings, user: EndUser, email: str, now_dt: datetime) -> None:
    """The sign-in proved this address: the user is verified by email (unless signed data verified
    them already, whose record is kept) and, when their stored email was not proven (the
    `email:` user found by its id), it becomes this address."""
    if not user.verified:
        seats.check_locked(tenant)
        user.verified, user.verified_via, user.verified_alg, user.verified_kid = True, "email", None, None
        user.verified_at = user.verified_at or now_dt
    if not user.email_verified:
        user.email, user.email_verified = email, True
    user.last_seen_at = now_dt


def _prune(now_dt: datetime) -> int:
    """Drop links a day past their expiry (used or not): nothing reads them any more."""
    return db.session.execute(delete(EmailSignIn).where(EmailSignIn.expires_at < now_dt - KEEP_AFTER_EXPIRY)).rowcount


def prune(now: float | None = None) -> int:
    _, now_dt = _now(now)
    with writing():
        removed = _prune(now_dt)
    return removed
