"""Your account → Notifications: which mails this member gets about the current workspace's
conversations (every new one, only those waiting for a reply longer than N minutes, or never).
The rule and the mails live in services/webhooks/notify.py; the worker sends them."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField
from wtforms.validators import InputRequired, NumberRange

from ...services.errors import Refused
from ...services.webhooks import notify
from .. import bp
from ..access import current_membership, current_workspace
from . import ACCOUNT_PAGES

ACCOUNT_PAGES.append(("dashboard.account_notifications", "Notifications"))


class NotificationsForm(FlaskForm):
    mode = RadioField("Mail me", choices=[
        ("every", "for every new conversation"),
        ("waiting", "only for conversations waiting for a reply longer than the minutes below"),
        ("never", "never")], validators=[InputRequired()])
    wait_minutes = IntegerField("Minutes", validators=[InputRequired(), NumberRange(1, notify.MAX_WAIT_MINUTES)])


@bp.route("/account/notifications", methods=["GET", "POST"])
def account_notifications():
    membership = current_membership()
    form = NotificationsForm()
    if form.validate_on_submit():
        try:
            notify.save_setting(membership, form.mode.data, form.wait_minutes.data)
        except Refused as error:
            form.mode.errors.append(error.message)
        else:
            flash("Notifications saved.", "success")
            return redirect(url_for("dashboard.account_notifications"))
    elif not form.is_submitted():
        form.mode.data, form.wait_minutes.data = notify.get_setting(membership)
    return render_template("dashboard/account/notifications.html", form=form,
                           workspace=current_workspace()), (400 if form.errors else 200)
