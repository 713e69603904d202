"""The dashboard's login cookie names a session row (services/workspace/dashboard_sessions):
loading the member checks the row in the same statement, a login writes the row and the
`member.login` audit entries together, and the row's last-seen time is refreshed after the
response, at most once a minute."""
from __future__ import annotations

import logging

from flask import g, request
from flask_limiter.util import get_remote_address

from ..infra.database import writing
from ..models import Member
from ..services import audit
from ..services.errors import NotFound
from ..services.workspace import dashboard_sessions
from . import bp

log = logging.getLogger("signet.sessions")


def load(cookie_id: str) -> Member | None:
    """`<member id>:<session version>:<session key>`; anything else (an older cookie) is no one."""
    parts = cookie_id.split(":")
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    found = dashboard_sessions.load(int(parts[0]), parts[1], parts[2])
    if found is None:
        return None
    member, row = found
    member.session_key, member.dashboard_session = parts[2], row
    if dashboard_sessions.stale(row):
        g.signet_touch_session = row.id
    return member


def open_session(member: Member, method: str, sso_tenant_id: int | None = None) -> None:
    """The session row and the login's audit entries, in one transaction; the member now
    carries the key its cookie will name. An SSO session records whose provider made it."""
    address = get_remote_address() or ""
    with writing():
        member.session_key = dashboard_sessions.start(member, method=method, address=address,
                                                      user_agent=request.headers.get("User-Agent", ""),
                                                      sso_tenant_id=sso_tenant_id)
        audit.record_for_member(member.id, "member.login", member.email, after={"method": method},
                                actor=member.email, actor_member_id=member.id)


def end_current(member: Member) -> None:
    """Logout: this session (and every copy of its cookie) ends."""
    row = member.dashboard_session
    if row is not None:
        try:
            dashboard_sessions.revoke(member, row.id)
        except NotFound:  # ended meanwhile (another tab, sign out everywhere): nothing left to end
            pass


def failed_login(email: str, address: str) -> None:
    """Background job (the login page answers the same, in the same time, for known and unknown
    addresses): `member.login_failed` in each workspace of the account, if there is one. A failed
    login for an address with no account concerns no workspace, so it is in no audit log (the
    login throttle still counts it)."""
    from ..services.workspace import members

    with writing():
        member = members.find_member(email)
        if member is not None:
            audit.record_for_member(member.id, "member.login_failed", member.email, actor=member.email[:254],
                                    address=address)


@bp.after_app_request
def _touch(response):
    session_id = g.pop("signet_touch_session", None)
    if session_id is not None:
        try:
            dashboard_sessions.touch(session_id)
        except Exception:  # last-seen is a courtesy: never fail a response for it
            log.warning("could not record a dashboard session's last use", exc_info=True)
    return response
