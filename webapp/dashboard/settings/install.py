"""Settings → Install: the snippet, framework examples, signing samples, origins, live status."""
from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, url_for

from ...infra.hosts import public_base
from ...services.end_users import activity
from ...services.keys import origin_refusals
from ...services.errors import Refused
from .. import bp
from ..access import current_workspace
from .identity import signing_sample
from .install_forms import AllowOriginForm, OriginsForm
from .fields import edit_settings


@bp.route("/settings/install", methods=["GET", "POST"])
def settings_install():
    workspace = current_workspace()
    return edit_settings(OriginsForm(obj=workspace), "Allowed origins saved.", lambda form: render_template(
        "dashboard/settings/install.html", tenant=workspace, form=form, base=public_base(),
        sample=signing_sample(workspace), last=activity.last_identification(workspace)))


@bp.route("/settings/install/last.json")
def settings_install_last():
    return jsonify(activity.last_identification(current_workspace()))


@bp.route("/settings/install/allow-origin", methods=["POST"])
def settings_allow_origin():
    """"Allow this origin" beside a refusal (owners and admins: /settings/ is theirs alone)."""
    form = AllowOriginForm()
    if not form.validate_on_submit():
        abort(400, "The form was incomplete.")
    try:
        origin = origin_refusals.allow(current_workspace(), form.origin.data)
    except Refused as error:
        flash(f"Not allowed: {error.message}", "error")
    else:
        flash(f"{origin} is now an allowed origin: its pages can load the messenger.", "success")
    page = "dashboard.settings_debugger" if form.back.data == "debugger" else "dashboard.settings_install"
    return redirect(url_for(page))
