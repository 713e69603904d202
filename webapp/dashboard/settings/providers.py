"""Settings → Identity providers (owners and admins: access.py refuses agents on every /settings/
path): add a provider (discovery, first fetch), see its keys, the keys ignored and why, the last
fetch and the last failure, remove it. The rules live in services/idp/providers.py."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from ...services.errors import NotFound, Refused
from ...services.idp import providers
from .. import bp
from ..access import current_workspace


class ProviderForm(FlaskForm):
    issuer = StringField("Issuer URL", validators=[DataRequired(), Length(max=2048)])
    jwks_url = StringField("JWKS URL (optional)", validators=[Optional(), Length(max=2048)])
    audiences = StringField("Audiences", validators=[Optional(), Length(max=2600)])
    authorized_parties = StringField("Authorized parties", validators=[Optional(), Length(max=2600)])
    id_claim = StringField("Id claim", default="sub", validators=[Optional(), Length(max=64)])
    attr_claims = StringField("Claims copied into attrs", validators=[Optional(), Length(max=700)])
    organizations_claim = StringField("Organizations claim (optional)", validators=[Optional(), Length(max=64)])
    name = StringField("Name (optional)", validators=[Optional(), Length(max=120)])


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").replace("\n", ",").split(",") if part.strip()]


def _page(status: int = 200, form: ProviderForm | None = None):
    rows = [providers.summary(row) for row in providers.list_providers(current_workspace())]
    return render_template("dashboard/settings/providers.html", rows=rows, form=form or ProviderForm(formdata=None),
                           limit=providers.MAX_PROVIDERS), status


@bp.route("/settings/identity-providers")
def settings_providers():
    return _page()


@bp.route("/settings/identity-providers", methods=["POST"])
def settings_providers_add():
    form = ProviderForm()
    if not form.validate_on_submit():
        return _page(400, form)
    try:
        row = providers.add(current_workspace(), issuer=form.issuer.data, jwks_url=form.jwks_url.data or None,
                            audiences=_split(form.audiences.data), authorized_parties=_split(form.authorized_parties.data),
                            id_claim=form.id_claim.data or "sub", attr_claims=_split(form.attr_claims.data),
                            organizations_claim=form.organizations_claim.data or None, name=form.name.data or None)
    except Refused as error:
        target = {"audience": "audiences", "authorized_party": "authorized_parties", "attr_claim": "attr_claims"}
        name = target.get(error.field or "", error.field)
        getattr(form, name if name in form._fields else "issuer").errors.append(error.message)
        return _page(400, form)
    flash(f"Identity provider {row.name} is added: its tokens sign users in from now on.", "success")
    return redirect(url_for("dashboard.settings_providers"))


@bp.route("/settings/identity-providers/<provider_id>/remove", methods=["POST"])
def settings_providers_remove(provider_id: str):
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        providers.remove(current_workspace(), provider_id)
    except NotFound:
        abort(404)
    flash("The identity provider is removed: its tokens are refused and the sessions they made have ended.", "success")
    return redirect(url_for("dashboard.settings_providers"))
