"""Settings → API keys (owners and admins: access.py refuses agents on every /settings/ path):
make a key for the server API (shown once), see each key's scope and last use, revoke one."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from ...models import API_KEY_SCOPES
from ...services.errors import NotFound, Refused
from ...services.keys import apikeys
from .. import bp
from ..access import current_workspace


class ApiKeyForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=apikeys.MAX_NAME)])
    scope = SelectField("Scope", choices=[(s, s) for s in API_KEY_SCOPES], default="read")


def _page(status: int = 200, form: ApiKeyForm | None = None, new_key: dict | None = None):
    workspace = current_workspace()
    return render_template("dashboard/settings/apikeys.html", rows=apikeys.keys_of(workspace),
                           form=form or ApiKeyForm(formdata=None), new_key=new_key), status


@bp.route("/settings/api-keys")
def settings_api_keys():
    return _page()


@bp.route("/settings/api-keys", methods=["POST"])
def settings_api_keys_create():
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _page(400, form)
    try:
        row, key = apikeys.create(current_workspace(), form.name.data, form.scope.data, current_user.email)
    except Refused as error:
        getattr(form, error.field if error.field in ("name", "scope") else "name").errors.append(error.message)
        return _page(400, form)
    # In this response only: never stored, never shown again.
    return _page(201, new_key={"id": row.public_id, "key": key, "name": row.name, "scope": row.scope})


@bp.route("/settings/api-keys/<key_id>/revoke", methods=["POST"])
def settings_api_keys_revoke(key_id: str):
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        row = apikeys.revoke(current_workspace(), key_id)
    except NotFound:
        abort(404)
    flash(f"API key {row.name} is revoked: requests with it are refused from now on.", "success")
    return redirect(url_for("dashboard.settings_api_keys"))
