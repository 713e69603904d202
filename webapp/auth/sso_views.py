"""Staff single sign-on (issue 17, item 2): "Sign in with single sign-on" asks for the work
email, sends the browser to its workspace's provider, and the callback signs the member in once
the ID token verifies (services/workspace/sso_login.py). Every refusal is audited
(sso.login_failed) and answered with a page saying what went wrong."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Length

from ..errors import page_error
from ..infra.hosts import public_base
from ..services.workspace import sso, sso_login
from . import bp
from .views import client_address, start_session

PENDING = "sso_login"  # session key: state, nonce, PKCE verifier, provider id, expiry


class SsoForm(FlaskForm):
    email = EmailField("Work email", validators=[DataRequired(), Length(max=254)])


def _redirect_uri() -> str:
    return public_base() + url_for("auth.sso_callback")


@bp.route("/login/sso", methods=["GET", "POST"])
def sso_start():
    form = SsoForm(email=request.args.get("email", "")[:254])
    if form.validate_on_submit():
        provider = sso.provider_for_email(form.email.data)
        if provider is None:
            form.email.errors.append("No single sign-on is set up for this address's domain: log in with your password.")
        else:
            try:
                url, kept = sso_login.begin(provider, _redirect_uri())
            except sso_login.SsoFailed as failed:
                sso_login.record_failure(provider, failed.reason, client_address())
                return page_error(502, failed.reason)
            session[PENDING] = kept
            # Not a redirect: the form's CSP (form-action 'self') would stop it at the provider.
            return render_template("auth/sso_redirect.html", url=url, host=urlsplit(url).netloc)
    return render_template("auth/sso.html", form=form), 400 if form.errors else 200


@bp.route("/login/sso/callback")
def sso_callback():
    kept = session.pop(PENDING, None)  # one use: a second callback with the same state is refused
    provider = sso_login.provider_of_state(kept)
    if provider is None:
        sso_login.record_failure(None, "no sign-in in progress", client_address())
        return page_error(400, "No single sign-on was started in this browser (or it was used already): start again.")
    if request.args.get("error"):
        reason = f"The identity provider refused: {request.args.get('error', '')[:100]}"
        sso_login.record_failure(provider, reason, client_address())
        return page_error(400, reason)
    try:
        claims = sso_login.finish(provider, kept, request.args.get("state", ""), request.args.get("code", ""),
                                  _redirect_uri())
    except sso_login.SsoFailed as failed:
        sso_login.record_failure(provider, failed.reason, client_address())
        return page_error(400, f"Single sign-on failed. {failed.reason}")
    member = sso_login.sign_in(provider, claims["email"])
    start_session(member, provider.tenant_id, method="sso")
    return redirect(url_for("dashboard.home"))
