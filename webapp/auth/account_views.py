"""Proving a staff address: the "check your email" page, the mailed verification link, and the
password reset by mail (services/workspace/staff_tokens.py holds the rules)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, session, url_for
from flask_login import current_user, logout_user

from ..errors import http_status, page_error
from ..infra.hosts import public_base
from ..infra.security import csrf_without_referrer
from ..services.workspace import staff_tokens, throttle, twofactor
from ..services.errors import LinkRefused, Refused
from . import bp
from .forms import ConfirmEmailForm, EmptyForm, ForgotForm, NewPasswordForm
from .views import client_address, start_session, too_many

NO_REFERRER = {"Referrer-Policy": "no-referrer"}  # the page's URL holds a one-time token


@bp.route("/account/verify")
def verify_pending():
    """Where an unverified account lands: check your email, or ask for the link again."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.is_verified:
        return redirect(url_for("dashboard.home"))
    return render_template("auth/check_email.html", email=current_user.email, resend=True, form=EmptyForm())


@bp.route("/account/verify/resend", methods=["POST"])
def verify_resend():
    if not EmptyForm().validate_on_submit():
        abort(400)
    if not current_user.is_authenticated or current_user.is_verified:
        return redirect(url_for("auth.verify_pending"))
    retry = throttle.hit([(throttle.RESEND, str(current_user.id))])
    if retry is not None:
        return too_many(retry)
    staff_tokens.send_verification(current_user, link_base=public_base())
    flash(f"We sent a new link to {current_user.email}.", "success")
    return redirect(url_for("auth.verify_pending"))


@bp.route("/account/verify/<token>", methods=["GET", "POST"])
@csrf_without_referrer
def verify_link(token: str):
    """GET only reads (a mail scanner uses nothing up). The POST needs the password chosen at
    sign-up too (throttled like a login): it confirms, ends every other session of the account
    and signs this browser in afresh (services/workspace/staff_tokens.confirm_verification)."""
    form, status = ConfirmEmailForm(), 200
    try:
        member = staff_tokens.describe(token, "verify")
        if form.is_submitted() and not form.validate():
            status = 400
        elif form.is_submitted():
            checks = [(throttle.LOGIN, "address:" + client_address()), (throttle.LOGIN, "email:" + member.email)]
            retry = throttle.hit(checks)
            if retry is not None:
                return too_many(retry)
            member = staff_tokens.confirm_verification(token, form.password.data)
            throttle.refund(checks)  # only failed attempts count
            if twofactor.has_factor(member.id):  # a link and a password are not a second factor
                from .twofactor_views import begin
                return begin(member, None)
            start_session(member)
            return _welcome(member)
    except LinkRefused as refused:
        return page_error(http_status(refused), refused.message, NO_REFERRER)
    except Refused as error:
        form.password.errors.append(error.message)
        status = 401
    return render_template("auth/confirm_email.html", form=form, email=member.email), status, NO_REFERRER


def _welcome(member):
    """After confirming a sign-up: the next step is Install (owners and admins), else the inbox."""
    from ..services.workspace import members

    link = members.membership(member.id, session["tenant"]) if session.get("tenant") else None
    if link is not None and link.role in ("owner", "admin"):
        flash("Your email is confirmed. Welcome to Signet: next, install the messenger in your app.", "success")
        return redirect(url_for("dashboard.settings_install"))
    flash("Your email is confirmed. Welcome to Signet.", "success")
    return redirect(url_for("dashboard.home"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    """The same answer for known and unknown addresses: both get a mail."""
    form = ForgotForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        retry = throttle.hit([(throttle.RESET_ADDRESS, client_address()), (throttle.RESET_EMAIL, email)])
        if retry is not None:
            return too_many(retry)
        try:
            staff_tokens.request_reset(email, link_base=public_base())
        except Refused as error:
            form.email.errors.append(error.message)
        else:
            return render_template("auth/reset_sent.html", email=email)
    return render_template("auth/forgot.html", form=form), 400 if form.errors else 200


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@csrf_without_referrer
def reset_password(token: str):
    """A new password; every session of the member ends, this browser's too."""
    form = NewPasswordForm()
    try:
        member = staff_tokens.describe(token, "reset")
        if form.validate_on_submit():
            staff_tokens.complete_reset(token, form.password.data)
            logout_user()
            session.clear()
            flash("Your password is changed and every session ended. Log in with the new password.", "success")
            return redirect(url_for("auth.login"))
    except LinkRefused as refused:
        return page_error(http_status(refused), refused.message, NO_REFERRER)
    except Refused as error:
        form.password.errors.append(error.message)
    status = 400 if form.errors else 200
    return render_template("auth/reset.html", form=form, email=member.email), status, NO_REFERRER
