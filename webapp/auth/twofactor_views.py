"""The second step of a login, for a member with two-factor (issue 17): a code from their
authenticator app, a recovery code, or a passkey.

After a correct password such a member is NOT logged in: the session holds only a pending state
(member id, session version, expiry 5 minutes, where to go next) and Flask-Login has no user, so
every other page treats the browser as logged out. Each attempt is counted before it is checked
(throttle, like the password: 10 per member and per address in 15 minutes) and each refusal is
audited (twofactor.failed). Success starts the session as a password-only login would.
"""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import flash, jsonify, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ..errors import api_error
from ..extensions import db
from ..infra.hosts import public_base
from ..infra.security import csrf_without_referrer
from ..models import Member
from ..services.workspace import passkeys, throttle, twofactor
from . import bp
from .views import PENDING_INVITATION, client_address, start_session, too_many

PENDING = "second_factor"  # session key of the pending state
PENDING_SECONDS = 5 * 60
SECOND_FACTOR = throttle.Limit("second-factor", 10, 15 * 60)
REFUSED = {"wrong": "That code is not right.", "reused": "That code was used already: wait for the next one.",
           "other_member": "This passkey is not one of yours.", "expired": "The passkey check expired: try again."}


class SecondFactorForm(FlaskForm):
    code = StringField("Code from your authenticator app, or a recovery code",
                       validators=[DataRequired(), Length(max=64)])


def relying_party() -> tuple[str, str]:
    """(rp id, origin) of passkeys: the host serving the dashboard (SIGNET_PUBLIC_URL, else the
    trusted request host: infra/hosts.py)."""
    parts = urlsplit(public_base())
    return parts.hostname or "", f"{parts.scheme}://{parts.netloc}"


def begin(member: Member, next_url: str | None):
    """The password was right: remember who, for 5 minutes, and ask for the second factor."""
    invitation = session.get(PENDING_INVITATION)
    session.clear()  # nothing of an earlier session survives, as in start_session
    if invitation:
        session[PENDING_INVITATION] = invitation
    session[PENDING] = {"member": member.id, "version": member.session_version,
                        "exp": int(time.time()) + PENDING_SECONDS, "next": next_url or ""}
    return redirect(url_for("auth.second_factor"))


def pending_member() -> Member | None:
    """The member whose password was right in this browser, while that still holds."""
    state = session.get(PENDING)
    if not isinstance(state, dict) or not isinstance(state.get("member"), int) or state.get("exp", 0) < time.time():
        return None
    member = db.session.get(Member, state["member"])
    return member if member is not None and member.session_version == state.get("version") else None


def second_factor_checks(member: Member) -> list:
    """The throttle's counters for a second factor typed by `member` from this address (the login's
    second step, and the account page's confirmation: one budget for both)."""
    return [(SECOND_FACTOR, f"member:{member.id}"), (SECOND_FACTOR, "address:" + client_address())]


def _finish(member: Member) -> str:
    """Log in for real; where to go now."""
    next_url = session.get(PENDING, {}).get("next") or url_for("dashboard.home")
    start_session(member)
    return next_url


def _check_code(member: Member, code: str) -> tuple[str, str]:
    """(outcome, method): six digits are an app code, anything else a recovery code."""
    compact = "".join(code.split())
    if len(compact) == 6 and compact.isdigit():
        return twofactor.check_totp(member.id, compact), "authenticator app"
    return ("ok" if twofactor.use_recovery_code(member, code) else "wrong"), "recovery code"


@bp.route("/login/two-factor", methods=["GET", "POST"])
@csrf_without_referrer
def second_factor():
    member = pending_member()
    if member is None:
        session.pop(PENDING, None)
        flash("Log in again: the second step waits 5 minutes at most.", "info")
        return redirect(url_for("auth.login"))
    if not twofactor.has_factor(member.id):  # an owner removed the factors meanwhile
        return redirect(_finish(member))
    form = SecondFactorForm()
    if form.validate_on_submit():
        checks = second_factor_checks(member)
        retry = throttle.hit(checks)
        if retry is not None:
            return too_many(retry)
        outcome, method = _check_code(member, form.code.data)
        if outcome == "ok":
            throttle.refund(checks)
            return redirect(_finish(member))
        twofactor.record_failure(member, method, outcome)
        form.code.errors.append(REFUSED[outcome])
    return render_template("auth/second_factor.html", form=form, email=member.email,
                           passkeys=bool(passkeys.of_member(member.id))), 401 if form.errors else 200


@bp.route("/login/two-factor/passkey/options", methods=["POST"])
@csrf_without_referrer
def second_factor_passkey_options():
    member = pending_member()
    if member is None:
        return api_error(401, "login_required", "Log in again: the second step waits 5 minutes at most.")
    options, challenge = passkeys.authentication_options(member.id, relying_party()[0])
    session[PENDING] = {**session[PENDING], "challenge": challenge}
    return jsonify(options)


@bp.route("/login/two-factor/passkey", methods=["POST"])
@csrf_without_referrer
def second_factor_passkey():
    member = pending_member()
    if member is None:
        return api_error(401, "login_required", "Log in again: the second step waits 5 minutes at most.")
    checks = second_factor_checks(member)
    retry = throttle.hit(checks)
    if retry is not None:
        return api_error(429, "rate_limited", "Too many attempts. Wait a few minutes.", headers={"Retry-After": str(retry)})
    state = dict(session[PENDING])
    challenge = state.pop("challenge", None)  # one use, whatever the outcome
    session[PENDING] = state
    rp_id, origin = relying_party()
    outcome = "expired" if challenge is None or not passkeys.use_challenge(challenge) else passkeys.authenticate(
        member, request.get_json(silent=True), challenge, rp_id=rp_id, origin=origin)
    if outcome == "ok":
        throttle.refund(checks)
        return jsonify({"next": _finish(member)})
    twofactor.record_failure(member, "passkey", outcome)
    return api_error(401, "second_factor_refused", REFUSED[outcome])
