"""Settings → Login links (owners and admins): the hosted page's rules, code samples, a test link."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for

from ..extensions import db
from ..links import public_base
from ..services import login_links, seats, tenants
from ..services.errors import ServiceError
from ..templating import add_settings_page
from . import bp
from .access import current_tenant
from .identity_views import signing_sample
from .login_links_forms import LoginLinksForm, TestLinkForm

add_settings_page("dashboard.settings_login_links", "Login links")


def _page(form=None, test_form=None, test_link=None, status=200):
    tenant = current_tenant()
    base = public_base()
    return render_template(
        "dashboard/settings/login_links.html", tenant=tenant, form=form or LoginLinksForm(formdata=None, obj=tenant),
        test_form=test_form or TestLinkForm(formdata=None), test_link=test_link,
        seats_used=seats.used(tenant.id), unsigned_used=seats.used(tenant.id, verified=False),
        sample=signing_sample(tenant),
        page_url=f"{base}/m/{tenant.public_id}",
    ), status


@bp.route("/settings/login-links", methods=["GET", "POST"])
def settings_login_links():
    tenant = current_tenant()
    form = LoginLinksForm(obj=tenant)
    if form.validate_on_submit():
        changes = tenants.Settings(
            login_links_enabled=form.login_links_enabled.data,
            login_links_require_jti=form.login_links_require_jti.data,
            login_links_max_age="none" if form.login_links_max_age.data is None else form.login_links_max_age.data,
            seat_limit="none" if form.seat_limit.data is None else form.seat_limit.data,
            unsigned_user_limit="none" if form.unsigned_user_limit.data is None else form.unsigned_user_limit.data,
            email_sign_in=form.email_sign_in.data,
        )
        try:
            tenants.update_settings(tenant, changes)
        except ServiceError as error:
            db.session.rollback()
            getattr(form, error.field or "login_links_enabled").errors.append(error.message)
        else:
            flash("Login link settings saved.", "success")
            return redirect(url_for("dashboard.settings_login_links"))
    return _page(form=form, status=400 if form.errors else 200)


@bp.route("/settings/login-links/test-link", methods=["POST"])
def settings_login_links_test():
    form = TestLinkForm()
    if not form.validate_on_submit():
        return _page(test_form=form, status=400)
    try:
        link = login_links.mint_test_link(current_tenant(), form.user_id.data, public_base())
    except ServiceError as error:
        form.user_id.errors.append(error.message)
        return _page(test_form=form, status=400)
    # Shown in this response only: never stored, never shown again.
    return _page(test_form=form, test_link=link, status=201)
