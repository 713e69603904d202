"""The hosted page's routes: each reads its input, calls one service, renders or redirects.

GET  /m/<tenant_id>                   the messenger, or sign-in; with ?externalAuthCode= a login link
POST /m/<tenant_id>/sign-out          revoke the session, clear the cookie
POST /m/<tenant_id>/email             mail a one-time sign-in link (throttled)
GET  /m/<tenant_id>/email/<token>     confirmation page (reads only: mail scanners use nothing up)
POST /m/<tenant_id>/email/<token>     sign in with the link, once
"""
from __future__ import annotations

import time

from flask import g, make_response, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address

from ..extensions import limiter
from ..infra.hosts import public_base
from ..refusals import Invalid, Refused
from ..services.end_users import email_signin, identify, login_codes, sessions, snapshots
from . import bp, cookies, language, pages
from .forms import ButtonForm, EmailSignInForm
from .logsafe import AUTH_CODE_KEY, EMAIL_TOKEN_KEY

PER_EMAIL = "5 per 15 minutes"
PER_ADDRESS = "20 per 15 minutes"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@bp.url_value_preprocessor
def _pop_tenant(endpoint, values):
    g.tenant_public_id = (values or {}).pop("tenant_id", None)


bp.context_processor(language.template_values)


@bp.before_request
def _load_tenant():
    g.tenant_info = snapshots.tenant(g.tenant_public_id) if g.tenant_public_id else None
    if g.tenant_info is None:
        return pages.not_found()
    return None


@bp.after_app_request
def _headers(response):
    """Every /m/ response, errors and unknown paths included: no Referer leaves these pages (a
    login link's code must not travel on), and the messenger's shadow-DOM styles may apply."""
    path = request.path  # (one context lookup: every response comes here)
    if path == "/m" or path.startswith("/m/"):
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        if response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = CSP
    return response


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(error):
    current = limiter.current_limit
    return pages.too_many(max(1, int(current.reset_at - time.time())) if current else 60)


@bp.route("/<tenant_id>", methods=["GET"])
def page():
    code = request.environ.get(AUTH_CODE_KEY)
    if code is not None:
        if request.method == "HEAD":  # a link checker's HEAD never uses a one-time code up
            return "", 200
        try:
            result = login_codes.login_with_code(g.tenant_info, code)
        except Refused as error:
            return pages.refused(error)
        return cookies.signed_in(g.tenant_info, result.token, result.session)
    signed = cookies.current(g.tenant_info)
    user = snapshots.user_by_id(signed[1].user_id) if signed else None
    if user is None or user.anonymous:
        response = make_response(_sign_in_page(EmailSignInForm(formdata=None)))
        return cookies.clear(response, g.tenant_info) if request.cookies.get(cookies.name(g.tenant_info)) else response
    return render_template("hosted/messenger.html", tenant=g.tenant_info, user=user, public_user=identify.to_public(user),
                           display=user.name or user.email or user.external_id, bearer=signed[0], form=ButtonForm())


def _sign_in_page(form: EmailSignInForm, status: int = 200):
    form.email.label.text = language.text("sign_in.email")
    return render_template("hosted/sign_in.html", tenant=g.tenant_info, form=form), status


@bp.route("/<tenant_id>/sign-out", methods=["POST"])
def sign_out():
    if not ButtonForm().validate_on_submit():
        return pages.form_expired()
    signed = cookies.current(g.tenant_info)
    if signed is not None:
        sessions.revoke(signed[1])
    return cookies.signed_out(g.tenant_info)


def _email_key() -> str:
    return f"hosted-email:{g.tenant_public_id}:{(request.form.get('email') or '').strip().lower()[:254]}"


def _address_key() -> str:
    return "hosted-address:" + (get_remote_address() or "")


@bp.route("/<tenant_id>/email", methods=["POST"])
@limiter.limit(PER_ADDRESS, key_func=_address_key)
@limiter.limit(PER_EMAIL, key_func=_email_key)
def email_request():
    form = EmailSignInForm()
    if not form.validate_on_submit():  # the CSRF token; the address is the service's to judge
        return pages.form_expired()
    try:
        email_signin.request_link(g.tenant_info, form.email.data, link_base=public_base(), ip=get_remote_address(),
                                  lang=language.lang())
    except Refused as error:
        if not isinstance(error, Invalid):
            return pages.refused(error)
        form.email.errors.append(language.text("sign_in.email_invalid") if error.code == "invalid_email" else error.message)
        return _sign_in_page(form, 400)
    return render_template("hosted/check_inbox.html", tenant=g.tenant_info, minutes=email_signin.LINK_SECONDS // 60)


@bp.route("/<tenant_id>/email/<token>", methods=["GET", "POST"])
def email_confirm(token: str):
    token = request.environ.get(EMAIL_TOKEN_KEY, token)
    form = ButtonForm()
    try:
        if request.method == "POST":
            if not form.validate_on_submit():
                return pages.form_expired()
            result = email_signin.confirm(g.tenant_info, token)
            return cookies.signed_in(g.tenant_info, result.token, result.session)
        pending = email_signin.describe(g.tenant_info, token)
    except Refused as error:
        return pages.refused(error)
    return render_template("hosted/confirm.html", tenant=g.tenant_info, pending=pending, form=form)
