"""Dashboard sessions as rows (issue 17, item 3): the login cookie names one, every request's
member lookup reads it in the same single statement, so revoking it ends that browser's session
at once in every process. Ending all of a member's sessions (sign out everywhere, a password
reset, confirming the sign-up address, an owner's "end sessions") is one conditional UPDATE.

`last_seen_at` is written at most once per SEEN_EVERY per session, after the response is made
(infra hook in auth.views), never a write per request. A session idle for longer than the
cookie's lifetime (PERMANENT_SESSION_LIFETIME) is over, and `signet prune` deletes it.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from ...extensions import db
from ...infra.database import writing, writing_apart
from ...models import DashboardSession, Member, Membership
from ...models._types import utcnow
from .. import audit
from ..errors import NotFound

SEEN_EVERY = timedelta(seconds=60)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def lifetime() -> timedelta:
    value = current_app.config.get("PERMANENT_SESSION_LIFETIME", 12 * 3600)
    return value if isinstance(value, timedelta) else timedelta(seconds=int(value))


def start(member: Member, *, method: str, address: str, user_agent: str, sso_tenant_id: int | None = None) -> str:
    """A new session row (not committed); the key the cookie carries (only its hash is stored).
    `sso_tenant_id`: the workspace whose SSO provider signed the member in (method "sso")."""
    key = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(DashboardSession(member_id=member.id, key_hash=_hash(key), method=method, created_at=now,
                                    last_seen_at=now, address=address[:64], user_agent=summarize(user_agent),
                                    sso_tenant_id=sso_tenant_id if method == "sso" else None))
    return key


def load(member_id: int, version: str, key: str) -> tuple[Member, DashboardSession] | None:
    """The member and their live session named by a cookie: one statement (the revocation check
    costs no query beyond the member lookup every request made before)."""
    if not key or len(key) > 128:
        return None
    row = db.session.execute(
        select(Member, DashboardSession).join(DashboardSession, DashboardSession.member_id == Member.id)
        .where(Member.id == member_id, DashboardSession.key_hash == _hash(key), DashboardSession.revoked_at.is_(None),
               DashboardSession.last_seen_at > utcnow() - lifetime())).first()
    if row is None or str(row[0].session_version) != version:
        return None
    return row[0], row[1]


def stale(row: DashboardSession, now: datetime | None = None) -> bool:
    return (now or utcnow()) - row.last_seen_at >= SEEN_EVERY


def touch(session_id: int) -> None:
    """Record that the session was used (once per SEEN_EVERY, on a connection of its own)."""
    now = utcnow()
    with writing_apart() as apart:
        apart.execute(update(DashboardSession).where(DashboardSession.id == session_id,
                                                     DashboardSession.last_seen_at < now - SEEN_EVERY)
                      .values(last_seen_at=now))


def active(member_id: int) -> list[DashboardSession]:
    """The member's live sessions, most recently used first."""
    return list(db.session.scalars(
        select(DashboardSession).where(DashboardSession.member_id == member_id, DashboardSession.revoked_at.is_(None),
                                       DashboardSession.last_seen_at > utcnow() - lifetime())
        .order_by(DashboardSession.last_seen_at.desc(), DashboardSession.id.desc())))


def revoke(member: Member, session_id: int) -> None:
    """End one of the member's own sessions (audited in each of their workspaces)."""
    with writing():
        ended = db.session.execute(
            update(DashboardSession).where(DashboardSession.id == session_id, DashboardSession.member_id == member.id,
                                           DashboardSession.revoked_at.is_(None))
            .values(revoked_at=utcnow()).returning(DashboardSession.id)).scalar()
        if ended is None:
            raise NotFound("not_found", "No such session (it may have ended already).")
        audit.record_for_member(member.id, "session.revoked", member.email, after={"session": session_id})


def end_all(member_id: int, reason: str) -> int:
    """End every session of the member (not committed; inside the caller's transaction, which
    records why). Also moves `session_version` on, which every older cookie names."""
    ended = db.session.execute(
        update(DashboardSession).where(DashboardSession.member_id == member_id, DashboardSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())).rowcount
    db.session.execute(update(Member).where(Member.id == member_id)
                       .values(session_version=Member.session_version + 1))
    email = db.session.scalar(select(Member.email).where(Member.id == member_id)) or ""
    audit.record_for_member(member_id, "session.ended_all", email, after={"sessions": ended, "reason": reason})
    return ended


def end_member_sessions(tenant_id: int, membership_id: int) -> str:
    """An owner ends a team member's every session; the member's email. Only members of this
    workspace (the caller checks the role)."""
    with writing():
        link = db.session.scalar(select(Membership).where(Membership.id == membership_id,
                                                          Membership.tenant_id == tenant_id))
        if link is None:
            raise NotFound("not_found", "No such member in this workspace.")
        end_all(link.member_id, "ended by an owner")
        return link.member.email


def prune(now: datetime) -> int:
    """Delete ended sessions and those idle past the lifetime (inside the caller's transaction)."""
    from sqlalchemy import delete, or_

    return db.session.execute(delete(DashboardSession).where(or_(
        DashboardSession.revoked_at.is_not(None), DashboardSession.last_seen_at < now - lifetime()))).rowcount


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari"), ("curl/", "curl"))
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def summarize(user_agent: str) -> str:
    """"Chrome on Linux": enough to recognise a browser, never the whole header."""
    ua = user_agent or ""
    browser = next((name for mark, name in _BROWSERS if mark in ua), "")
    system = next((name for mark, name in _SYSTEMS if mark in ua), "")
    if "HeadlessChrome" in ua:
        browser = "Headless Chrome"
    text = " on ".join(part for part in (browser, system) if part) or re.sub(r"[^\x20-\x7e]", "", ua)[:40]
    return text[:120] or "unknown"
