"""Settings → Workspace and Team (owners and admins only: access.py refuses agents)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ...auth.forms import EmptyForm
from ...infra.hosts import public_base
from ...services.workspace import invitations, members, twofactor
from ...services.errors import NotFound, Refused
from .. import bp
from ..access import current_membership, current_workspace
from .forms import InviteForm, RoleForm, WorkspaceForm
from .fields import edit_settings


@bp.route("/settings/")
def settings_home():
    return redirect(url_for("dashboard.settings_workspace"))


@bp.route("/settings/workspace", methods=["GET", "POST"])
def settings_workspace():
    workspace = current_workspace()
    return edit_settings(WorkspaceForm(obj=workspace), "Settings saved.", lambda form: render_template(
        "dashboard/settings/workspace.html", form=form, tenant=workspace))


@bp.route("/settings/team", methods=["GET", "POST"])
def settings_team():
    """The team, its pending invitations, and the invite form: adding an address mails it an
    invitation that grants nothing until its owner accepts it."""
    workspace, me = current_workspace(), current_membership()
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitations.invite(workspace, form.email.data, form.role.data, current_user, me.role, link_base=public_base())
        except Refused as error:
            getattr(form, error.field if error.field in ("email", "role") else "email").errors.append(error.message)
        else:
            flash(f"Invitation sent to {form.email.data.strip().lower()} ({form.role.data}).", "success")
            return redirect(url_for("dashboard.settings_team"))
    team = members.team(workspace)
    return render_template(
        "dashboard/settings/team.html", form=form, team=team, pending=invitations.pending(workspace),
        me=me, action_form=EmptyForm(), role_form=RoleForm(),
        with_two_factor=twofactor.members_with_factor([link.member_id for link in team]),
    ), (400 if form.errors else 200)


@bp.route("/settings/team/invitations/<id:invitation_id>/revoke", methods=["POST"])
def settings_team_revoke(invitation_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _team_action(lambda: invitations.revoke(current_workspace(), invitation_id, current_membership().role),
                        "Invitation revoked.")


@bp.route("/settings/team/<id:membership_id>/role", methods=["POST"])
def settings_team_role(membership_id: int):
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400, "Choose a valid role.")
    return _team_action(lambda: members.change_role(current_workspace(), membership_id, form.role.data, current_membership().role), "Role changed.")


@bp.route("/settings/team/<id:membership_id>/remove", methods=["POST"])
def settings_team_remove(membership_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _team_action(lambda: members.remove_from_tenant(current_workspace(), membership_id, current_membership().role), "Member removed.")


def _team_action(action, done: str):
    try:
        action()
    except NotFound:
        abort(404)
    except Refused as error:
        flash(error.message, "error")
    else:
        flash(done, "success")
    return redirect(url_for("dashboard.settings_team"))
