"""Settings → Webhooks (owners and admins: access.py refuses agents on every /settings/ path):
add an endpoint (its signing secret shown once), and a page per endpoint with its recent
deliveries and their attempts, "Send again", "Send test event", enable and remove. The rules
live in services/webhooks/endpoints.py, which `signet webhook …` calls too."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Length

from ...auth.forms import EmptyForm
from ...services import events
from ...services.errors import NotFound, Refused
from ...services.webhooks import endpoints
from .. import bp
from ..access import current_workspace


class EndpointForm(FlaskForm):
    url = StringField("Endpoint URL", validators=[DataRequired(), Length(max=endpoints.MAX_URL)])
    events = SelectMultipleField("Events", choices=[(t, t) for t in events.PUBLIC_TYPES],
                                 widget=widgets.ListWidget(prefix_label=False),
                                 option_widget=widgets.CheckboxInput())


def _list(status: int = 200, form: EndpointForm | None = None, created: dict | None = None):
    return render_template("dashboard/settings/webhooks.html", rows=endpoints.list_for(current_workspace()),
                           form=form or EndpointForm(formdata=None), created=created), status


@bp.route("/settings/webhooks")
def settings_webhooks():
    return _list()


@bp.route("/settings/webhooks", methods=["POST"])
def settings_webhooks_add():
    form = EndpointForm()
    if not form.validate_on_submit():
        return _list(400, form)
    try:
        endpoint, secret = endpoints.add(current_workspace(), form.url.data, form.events.data)
    except Refused as error:
        getattr(form, "events" if error.field == "events" else "url").errors.append(error.message)
        return _list(400, form)
    return _list(201, created=endpoints.to_dict(endpoint, secret))  # the secret: in this response only


def _endpoint(endpoint_id: str):
    try:
        return endpoints.get(current_workspace(), endpoint_id)
    except NotFound:
        abort(404)


@bp.route("/settings/webhooks/<endpoint_id>")
def settings_webhooks_endpoint(endpoint_id: str):
    endpoint = _endpoint(endpoint_id)
    return render_template("dashboard/settings/webhook.html", endpoint=endpoint, action_form=EmptyForm(),
                           deliveries=endpoints.recent_deliveries(endpoint))


def _act(endpoint_id: str, action, done: str):
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        action(current_workspace(), endpoint_id)
    except NotFound:
        abort(404)
    flash(done, "success")
    return redirect(url_for("dashboard.settings_webhooks_endpoint", endpoint_id=endpoint_id))


@bp.route("/settings/webhooks/<endpoint_id>/test", methods=["POST"])
def settings_webhooks_test(endpoint_id: str):
    return _act(endpoint_id, endpoints.send_test, "A test event is queued: it appears below once sent.")


@bp.route("/settings/webhooks/<endpoint_id>/deliveries/<id:delivery_id>/again", methods=["POST"])
def settings_webhooks_again(endpoint_id: str, delivery_id: int):
    return _act(endpoint_id, lambda ws, eid: endpoints.send_again(ws, eid, delivery_id),
                "Queued again, with the same webhook-id.")


@bp.route("/settings/webhooks/<endpoint_id>/enable", methods=["POST"])
def settings_webhooks_enable(endpoint_id: str):
    return _act(endpoint_id, lambda ws, eid: endpoints.set_enabled(ws, eid, True), "Endpoint enabled.")


@bp.route("/settings/webhooks/<endpoint_id>/remove", methods=["POST"])
def settings_webhooks_remove(endpoint_id: str):
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        endpoints.remove(current_workspace(), endpoint_id)
    except NotFound:
        abort(404)
    flash("Endpoint removed: nothing more is sent to it.", "success")
    return redirect(url_for("dashboard.settings_webhooks"))
