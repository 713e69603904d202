"""Settings → Install: the snippet, framework examples, signing samples, origins, live status."""
from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for

from ..extensions import db
from ..links import public_base
from ..services import activity, origin_refusals, tenants
from ..services.errors import ServiceError
from ..templating import add_settings_page
from . import bp
from .access import current_tenant
from .identity_views import signing_sample
from .install_forms import AllowOriginForm, OriginsForm

add_settings_page("dashboard.settings_install", "Install")


@bp.route("/settings/install", methods=["GET", "POST"])
def settings_install():
    tenant = current_tenant()
    form = OriginsForm()
    if request.method == "GET":
        form.allowed_origins.data = "\n".join(tenant.allowed_origins or [])
    if form.validate_on_submit():
        try:
            tenants.update_settings(tenant, tenants.Settings(allowed_origins=form.allowed_origins.data.splitlines()))
        except ServiceError as error:
            db.session.rollback()
            form.allowed_origins.errors.append(error.message)
        else:
            flash("Allowed origins saved.", "success")
            return redirect(url_for("dashboard.settings_install"))
    return render_template(
        "dashboard/settings/install.html", tenant=tenant, form=form, base=public_base(),
        sample=signing_sample(tenant), last=activity.last_identification(tenant),
    ), (400 if form.errors else 200)


@bp.route("/settings/install/last.json")
def settings_install_last():
    return jsonify(activity.last_identification(current_tenant()))


@bp.route("/settings/install/allow-origin", methods=["POST"])
def settings_allow_origin():
    """"Allow this origin" beside a refusal (owners and admins: /settings/ is theirs alone)."""
    form = AllowOriginForm()
    if not form.validate_on_submit():
        abort(400, "The form was incomplete.")
    try:
        origin = origin_refusals.allow(current_tenant(), form.origin.data)
    except ServiceError as error:
        db.session.rollback()
        flash(f"Not allowed: {error.message}", "error")
    else:
        flash(f"{origin} is now an allowed origin: its pages can load the messenger.", "success")
    page = "dashboard.settings_debugger" if form.back.data == "debugger" else "dashboard.settings_install"
    return redirect(url_for(page))
