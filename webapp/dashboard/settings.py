"""Settings → Workspace and Team (owners and admins only: access.py refuses agents)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth.forms import EmptyForm
from ..extensions import db
from ..links import public_base
from ..services import invitations, members, tenants
from ..services.errors import NotFound, ServiceError
from . import bp
from .access import current_membership, current_tenant
from .forms import InviteForm, RoleForm, WorkspaceForm


@bp.route("/settings/")
def settings_home():
    return redirect(url_for("dashboard.settings_workspace"))


@bp.route("/settings/workspace", methods=["GET", "POST"])
def settings_workspace():
    tenant = current_tenant()
    form = WorkspaceForm(obj=tenant)
    if request.method == "GET":
        form.allowed_origins.data = "\n".join(tenant.allowed_origins or [])
    if form.validate_on_submit():
        try:
            tenants.update_settings(tenant, _settings_from(form))
        except ServiceError as error:
            db.session.rollback()
            getattr(form, error.field or "name").errors.append(error.message)
        else:
            flash("Settings saved.", "success")
            return redirect(url_for("dashboard.settings_workspace"))
    status = 400 if form.errors else 200
    return render_template("dashboard/settings/workspace.html", form=form, tenant=tenant), status


def _settings_from(form: WorkspaceForm) -> tenants.Settings:
    return tenants.Settings(
        name=form.name.data,
        verification_mode=form.verification_mode.data,
        allowed_origins=(form.allowed_origins.data or "").splitlines(),
        seat_limit=form.seat_limit.data if form.seat_limit.data is not None else "none",
        unsigned_user_limit=form.unsigned_user_limit.data if form.unsigned_user_limit.data is not None else "none",
        audience=form.audience.data,
        require_audience=form.require_audience.data,
        issuer=form.issuer.data or "",
        login_links_enabled=form.login_links_enabled.data,
        login_links_require_jti=form.login_links_require_jti.data,
        login_links_max_age=form.login_links_max_age.data if form.login_links_max_age.data is not None else "none",
        email_sign_in=form.email_sign_in.data,
    )


@bp.route("/settings/team", methods=["GET", "POST"])
def settings_team():
    """The team, its pending invitations, and the invite form: adding an address mails it an
    invitation that grants nothing until its owner accepts it."""
    tenant, me = current_tenant(), current_membership()
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitations.invite(tenant, form.email.data, form.role.data, current_user, me.role, link_base=public_base())
        except ServiceError as error:
            db.session.rollback()
            getattr(form, error.field if error.field in ("email", "role") else "email").errors.append(error.message)
        else:
            flash(f"Invitation sent to {form.email.data.strip().lower()} ({form.role.data}).", "success")
            return redirect(url_for("dashboard.settings_team"))
    return render_template(
        "dashboard/settings/team.html", form=form, team=members.team(tenant), pending=invitations.pending(tenant),
        me=me, action_form=EmptyForm(), role_form=RoleForm(),
    ), (400 if form.errors else 200)


@bp.route("/settings/team/invitations/<id:invitation_id>/revoke", methods=["POST"])
def settings_team_revoke(invitation_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _team_action(lambda: invitations.revoke(current_tenant(), invitation_id, current_membership().role),
                        "Invitation revoked.")


@bp.route("/settings/team/<id:membership_id>/role", methods=["POST"])
def settings_team_role(membership_id: int):
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400, "Choose a valid role.")
    return _team_action(lambda: members.change_role(current_tenant(), membership_id, form.role.data, current_membership().role), "Role changed.")


@bp.route("/settings/team/<id:membership_id>/remove", methods=["POST"])
def settings_team_remove(membership_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _team_action(lambda: members.remove_from_tenant(current_tenant(), membership_id, current_membership().role), "Member removed.")


def _team_action(action, done: str):
    try:
        action()
    except NotFound:
        db.session.rollback()
        abort(404)
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        flash(done, "success")
    return redirect(url_for("dashboard.settings_team"))
