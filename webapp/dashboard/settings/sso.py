"""Settings → Single sign-on (owners only: an admin who could point the workspace's sign-in at
a provider they control could sign in as anyone of its domain). The rules live in
services/workspace/sso.py; the client secret is write-only here."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import Length

from ...auth.forms import EmptyForm
from ...infra.hosts import public_base
from ...services.errors import Refused
from ...services.workspace import sso
from .. import bp
from ..access import current_membership, current_workspace

FIELDS = ("issuer", "client_id", "client_secret", "email_domain", "default_role")


class SsoForm(FlaskForm):
    issuer = StringField("Issuer URL", validators=[Length(max=255)])
    client_id = StringField("Client id", validators=[Length(max=255)])
    client_secret = PasswordField("Client secret", validators=[Length(max=1024)])
    email_domain = StringField("Email domain", validators=[Length(max=253)])
    default_role = SelectField("Role of members it creates", choices=[("agent", "agent"), ("admin", "admin")])
    sso_only = BooleanField("SSO only: refuse passwords for this domain")


def _owner() -> None:
    if current_membership().role != "owner":
        abort(403, "Single sign-on is for owners of this workspace.")


def _page(form: SsoForm, status: int = 200):
    provider = sso.provider_of(current_workspace().id)
    return render_template("dashboard/settings/sso.html", form=form, provider=provider, remove_form=EmptyForm(),
                           callback=public_base() + url_for("auth.sso_callback")), status


@bp.route("/settings/sso", methods=["GET", "POST"])
def settings_sso():
    _owner()
    provider = sso.provider_of(current_workspace().id)
    form = SsoForm(data=sso.summary(provider)) if provider else SsoForm()
    if not form.validate_on_submit():
        return _page(form, 400 if form.errors else 200)
    try:
        sso.configure(current_workspace(), sso.SsoSettings(
            issuer=form.issuer.data or "", client_id=form.client_id.data or "",
            client_secret=form.client_secret.data or "", email_domain=form.email_domain.data or "",
            default_role=form.default_role.data, sso_only=form.sso_only.data))
    except Refused as error:
        getattr(form, error.field if error.field in FIELDS else "issuer").errors.append(error.message)
        return _page(form, 400)
    flash("Single sign-on saved.", "success")
    return redirect(url_for("dashboard.settings_sso"))


@bp.route("/settings/sso/remove", methods=["POST"])
def settings_sso_remove():
    _owner()
    if not EmptyForm().validate_on_submit():
        abort(400)
    sso.remove(current_workspace())
    flash("Single sign-on removed: members log in with their passwords.", "success")
    return redirect(url_for("dashboard.settings_sso"))
