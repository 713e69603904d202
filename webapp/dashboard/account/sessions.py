"""Your account → Sessions: every browser signed in as you (created, last seen, address,
browser), each revocable, and "sign out everywhere". The rules live in
services/workspace/dashboard_sessions.py; an owner ends a team member's sessions from Team."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, session, url_for
from flask_login import current_user, logout_user

from ...auth.forms import EmptyForm
from ...services.errors import NotFound
from ...services.workspace import dashboard_sessions, members
from .. import bp
from ..access import current_membership, current_workspace
from . import ACCOUNT_PAGES

ACCOUNT_PAGES.append(("dashboard.account_sessions", "Sessions"))


def _me():
    return current_user._get_current_object()


def _posted() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


@bp.route("/account/sessions")
def account_sessions():
    me = _me()
    return render_template("dashboard/account/sessions.html", rows=dashboard_sessions.active(me.id),
                           current_id=me.dashboard_session.id if me.dashboard_session else None)


@bp.route("/account/sessions/<id:session_id>/revoke", methods=["POST"])
def account_sessions_revoke(session_id: int):
    _posted()
    me = _me()
    try:
        dashboard_sessions.revoke(me, session_id)
    except NotFound:
        abort(404)
    if me.dashboard_session is not None and me.dashboard_session.id == session_id:
        return _signed_out("This session is ended: you are logged out.")
    flash("That session is ended: the browser holding it is logged out.", "success")
    return redirect(url_for("dashboard.account_sessions"))


@bp.route("/account/sessions/end-all", methods=["POST"])
def account_sessions_end_all():
    _posted()
    members.end_sessions(_me())
    return _signed_out("Every session of your account is ended, this one too: log in again.")


def _signed_out(message: str):
    logout_user()
    session.clear()
    flash(message, "info")
    return redirect(url_for("auth.login"))


@bp.route("/settings/team/<id:membership_id>/end-sessions", methods=["POST"])
def settings_team_end_sessions(membership_id: int):
    """Owners only: end every dashboard session of a team member (a lost laptop, a leaver)."""
    _posted()
    if current_membership().role != "owner":
        abort(403, "Only owners end a member's sessions.")
    try:
        email = dashboard_sessions.end_member_sessions(current_workspace().id, membership_id)
    except NotFound:
        abort(404)
    if email == _me().email:
        return _signed_out("Every session of your account is ended, this one too: log in again.")
    flash(f"Every session of {email} is ended.", "success")
    return redirect(url_for("dashboard.settings_team"))
