"""Who is looking, at which tenant, with which role: the one place that scopes member queries."""
from __future__ import annotations

from functools import wraps

from flask import abort, g, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import Select, select

from ..models import Membership, Tenant
from ..services.workspace import members, twofactor
from . import bp


def _is_settings_path() -> bool:
    path = request.path  # (one context lookup: every request asks)
    return path == "/settings" or path.startswith("/settings/")


@bp.before_app_request
def guard_settings():
    """Every /settings/… URL, any method, even one with no route: agents get 403."""
    if _is_settings_path() and request.blueprint != "dashboard":
        return load_membership()
    return None


@bp.before_request
def load_membership():
    """Every dashboard page needs a logged-in member and their current workspace."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not current_user.is_verified:  # an unproven address can only verify it (auth/guard.py)
        return redirect(url_for("auth.verify_pending"))
    memberships = members.memberships_of(current_user)
    chosen = next((m for m in memberships if m.tenant_id == session.get("tenant")), None)
    if chosen is None and memberships:
        chosen = memberships[0]
        session["tenant"] = chosen.tenant_id
    if chosen is None:
        return redirect(url_for("auth.no_workspace"))
    g.memberships = memberships
    g.membership = chosen
    g.workspace = chosen.tenant  # the ORM row (the widget API and hosted page hold g.tenant_info)
    if (chosen.tenant.require_two_factor and not _setting_up_two_factor() and not _signed_in_with_sso(chosen.tenant_id)
            and not twofactor.has_factor(current_user.id)):
        return redirect(url_for("dashboard.account_security"))  # the workspace requires it: first set it up
    if _is_settings_path() and not chosen.can_manage:
        abort(403, "Settings are for owners and admins of this workspace.")
    return None


def _signed_in_with_sso(tenant_id: int) -> bool:
    """A single sign-on session satisfies "require two-factor" in the workspace whose provider
    made it, and only there: that company's identity provider decides how its staff authenticate
    (and enforces its own MFA), but it vouches for nothing in another workspace (docs/SECURITY.md).
    The workspace is read from the session row, which the browser cannot change."""
    row = getattr(current_user, "dashboard_session", None)
    return row is not None and row.method == "sso" and row.sso_tenant_id == tenant_id


def _setting_up_two_factor() -> bool:
    """The two-factor set-up page and its actions: what a member may reach while the workspace
    requires two-factor and they have none (logout and static are outside the dashboard)."""
    return (request.endpoint or "").startswith("dashboard.account_security")


def current_workspace() -> Tenant:
    """The member's current workspace: its ORM row, loaded with their membership."""
    return g.workspace


def current_membership() -> Membership:
    return g.membership


def scoped(model) -> Select:
    """select(model) limited to the current tenant: use it for every tenant-owned table."""
    return select(model).where(model.tenant_id == g.workspace.id)


def managers_only(view):
    """Owners and admins; agents get 403 (settings pages check this on the path too)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not g.membership.can_manage:
            abort(403, "This is for owners and admins of this workspace.")
        return view(*args, **kwargs)

    return wrapper
