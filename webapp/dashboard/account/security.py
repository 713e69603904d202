"""Your account → Two-factor and passkeys: set up an authenticator app (QR code drawn here, as
SVG), recovery codes (shown once), and passkeys (several, named, removable). The rules live in
services/workspace/twofactor.py and passkeys.py; this is every member's own page, any role.

Removing a factor and making new recovery codes ask for the current password or a fresh app code
(throttled with the login's second step, per member and per address): a session alone, e.g. a
stolen cookie, can neither strip the second factor nor mint codes that stand in for it."""
from __future__ import annotations

import time

import segno
from flask import abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ...auth.forms import EmptyForm
from ...auth.twofactor_views import relying_party, second_factor_checks
from ...auth.views import too_many
from ...errors import refusal_json, api_error
from ...services.errors import NotFound, Refused
from ...services.workspace import passkeys, throttle, twofactor
from .. import bp
from . import ACCOUNT_PAGES

ACCOUNT_PAGES.append(("dashboard.account_security", "Two-factor and passkeys"))
CHALLENGE = "passkey_registration"  # session key: the registration challenge and its expiry
CHALLENGE_SECONDS = 5 * 60


class ConfirmForm(FlaskForm):
    code = StringField("Code from the app", validators=[DataRequired(), Length(max=16)])


class ReauthForm(FlaskForm):
    current = PasswordField("Your password, or a code from your authenticator app",
                            validators=[DataRequired(), Length(max=256)])


def _me():
    return current_user._get_current_object()


def qr_svg(uri: str) -> Markup:
    """The otpauth:// URI as an inline SVG QR code (no script, no request to anyone)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=2, title="QR code for your authenticator app")
    return Markup(svg)


@bp.route("/account/security")
def account_security(confirm_form: ConfirmForm | None = None, status: int = 200):
    me = _me()
    enrolment = twofactor.pending_totp(me)
    return render_template(
        "dashboard/account/security.html", totp=twofactor.totp_enabled(me.id), enrolment=enrolment,
        qr=qr_svg(enrolment.uri) if enrolment else None, confirm_form=confirm_form or ConfirmForm(),
        codes_left=twofactor.recovery_codes_left(me.id), has_factor=twofactor.has_factor(me.id),
        passkeys=passkeys.of_member(me.id), form=EmptyForm(),
    ), status


@bp.route("/account/security/totp/start", methods=["POST"])
def account_security_totp_start():
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        twofactor.start_totp(_me())
    except Refused as error:
        flash(error.message, "error")
    return redirect(url_for("dashboard.account_security"))


@bp.route("/account/security/totp/confirm", methods=["POST"])
def account_security_totp_confirm():
    form = ConfirmForm()
    if not form.validate_on_submit():
        return account_security(form, 400)
    try:
        codes = twofactor.confirm_totp(_me(), form.code.data)
    except Refused as error:
        form.code.errors.append(error.message)
        return account_security(form, 400)
    flash("Two-factor is on: your authenticator app is asked for at every login.", "success")
    return render_template("dashboard/account/recovery_codes.html", codes=codes)


def _not_reauthenticated():
    """None when the form carries the member's password or a fresh app code, else the answer to
    send (the page with the reason, 429 past the throttle). Failures are audited like a refused
    second step."""
    form, me = ReauthForm(), _me()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        flash("Type your password (or a code from your authenticator app) to confirm.", "error")
        return account_security(status=400)
    checks = second_factor_checks(me)
    retry = throttle.hit(checks)
    if retry is not None:
        return too_many(retry)
    if not twofactor.reauthenticated(me, form.current.data):
        twofactor.record_failure(me, "confirmation", "wrong")
        flash("That password or code is not right: nothing was changed.", "error")
        return account_security(status=401)
    throttle.refund(checks)
    return None


@bp.route("/account/security/totp/remove", methods=["POST"])
def account_security_totp_remove():
    refused = _not_reauthenticated()
    if refused is not None:
        return refused
    twofactor.remove_totp(_me())
    flash("The authenticator app is removed.", "success")
    return redirect(url_for("dashboard.account_security"))


@bp.route("/account/security/recovery-codes", methods=["POST"])
def account_security_recovery_codes():
    refused = _not_reauthenticated()
    if refused is not None:
        return refused
    try:
        codes = twofactor.regenerate_codes(_me())
    except Refused as error:
        flash(error.message, "error")
        return redirect(url_for("dashboard.account_security"))
    return render_template("dashboard/account/recovery_codes.html", codes=codes)


@bp.route("/account/security/passkeys/options", methods=["POST"])
def account_security_passkey_options():
    """JSON (CSRF in X-CSRFToken): the options for navigator.credentials.create()."""
    options, challenge = passkeys.registration_options(_me(), relying_party()[0])
    session[CHALLENGE] = {"challenge": challenge, "exp": int(time.time()) + CHALLENGE_SECONDS}
    return jsonify(options)


@bp.route("/account/security/passkeys", methods=["POST"])
def account_security_passkey_add():
    """JSON {name, credential}: verify the new passkey against the challenge (used once)."""
    state = session.pop(CHALLENGE, None)
    body = request.get_json(silent=True)
    if (not isinstance(state, dict) or state.get("exp", 0) < time.time()
            or not passkeys.use_challenge(str(state.get("challenge")))):
        return api_error(400, "challenge_expired", "Start again: the passkey set-up expired.")
    if not isinstance(body, dict):
        return api_error(400, "invalid_json", "Send {name, credential} as JSON.")
    rp_id, origin = relying_party()
    try:
        row = passkeys.register(_me(), body.get("credential"), state["challenge"], rp_id=rp_id, origin=origin,
                                name=body.get("name") if isinstance(body.get("name"), str) else None)
    except Refused as error:
        return refusal_json(error)
    flash(f"Passkey “{row.name}” added.", "success")
    return jsonify({"id": row.id, "name": row.name}), 201


@bp.route("/account/security/passkeys/<id:passkey_id>/remove", methods=["POST"])
def account_security_passkey_remove(passkey_id: int):
    refused = _not_reauthenticated()
    if refused is not None:
        return refused
    try:
        passkeys.remove(_me(), passkey_id)
    except NotFound:
        abort(404)
    flash("Passkey removed.", "success")
    return redirect(url_for("dashboard.account_security"))
