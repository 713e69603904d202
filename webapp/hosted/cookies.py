"""The hosted page's session cookie: the widget bearer session, first-party, one per tenant.

`signet_m_<tenant_id>`: HttpOnly (page scripts never read it: the page hands the session to the
widget in the markup it renders), SameSite=Lax (sent when a login or sign-in link is followed
from a mail or another site), Path=/m/<tenant_id> (never sent to the dashboard or another
tenant's page), Secure over https, and Max-Age the session's remaining life. The session is
checked with `sessions.check` on every load: revoked, expired or ended (docs/SECURITY.md, "What ends
a session") means signed out.
"""
from __future__ import annotations

import time

from flask import redirect, request

from ..services.end_users import sessions
from ..services.end_users.snapshots import TenantSettings
from . import language


def name(tenant: TenantSettings) -> str:
    return f"signet_m_{tenant.public_id}"


def path(tenant: TenantSettings) -> str:
    return f"/m/{tenant.public_id}"


def current(tenant: TenantSettings) -> tuple[str, sessions.WidgetSession] | None:
    """(bearer, session) of the signed-in end user, or None."""
    token = request.cookies.get(name(tenant))
    session = sessions.check(token, tenant) if token else None
    if session is None or session.user_id is None:
        return None
    return token, session


def signed_in(tenant: TenantSettings, token: str, session: sessions.WidgetSession):
    """303 to the clean page URL with the new session's cookie; a previous session here is revoked."""
    previous = current(tenant)
    if previous is not None and previous[1].sid != session.sid:
        sessions.revoke(previous[1])
    response = redirect(language.url("hosted.page", tenant_id=tenant.public_id), 303)
    response.set_cookie(name(tenant), token, max_age=max(0, int(session.expires_at - time.time())),
                        path=path(tenant), secure=request.is_secure, httponly=True, samesite="Lax")
    return response


def signed_out(tenant: TenantSettings):
    """303 to the page, with the cookie cleared."""
    return clear(redirect(language.url("hosted.page", tenant_id=tenant.public_id), 303), tenant)


def clear(response, tenant: TenantSettings):
    response.delete_cookie(name(tenant), path=path(tenant), secure=request.is_secure, httponly=True, samesite="Lax")
    return response
