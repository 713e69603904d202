"""Settings → Team, two-factor: an owner requires it for the workspace, or removes a member's
factors (a lost phone; audited). Owners only: an admin who could strip an owner's second factor
could take over the owner's account with a password alone."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for

from ...auth.forms import EmptyForm
from ...services.errors import NotFound, Refused
from ...services.workspace import tenants, twofactor
from .. import bp
from ..access import current_membership, current_workspace


def _owner_post() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)
    if current_membership().role != "owner":
        abort(403, "Only owners change two-factor for the team.")


@bp.route("/settings/team/require-two-factor", methods=["POST"])
def settings_team_require_two_factor():
    _owner_post()
    required = request.form.get("require_two_factor") == "on"
    tenants.update_settings(current_workspace(), tenants.Settings(require_two_factor=required))
    flash("Two-factor is now required for every member." if required else "Two-factor is no longer required.",
          "success")
    return redirect(url_for("dashboard.settings_team"))


@bp.route("/settings/team/<id:membership_id>/reset-two-factor", methods=["POST"])
def settings_team_reset_two_factor(membership_id: int):
    _owner_post()
    try:
        member = twofactor.reset_team_member(current_workspace().id, membership_id, current_membership().role)
    except NotFound:
        abort(404)
    except Refused as error:
        flash(error.message, "error")
    else:
        flash(f"Two-factor of {member.email} removed: they log in with their password and can set it up again.",
              "success")
    return redirect(url_for("dashboard.settings_team"))
