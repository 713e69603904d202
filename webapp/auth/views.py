"""Signup, login, logout and switching workspace."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user

from ..errors import page_error
from ..extensions import login_manager
from ..infra.hosts import public_base
from ..models import Member
from ..infra.security import csrf_without_referrer
from ..services.workspace import members, sso, staff_tokens, tenants, throttle, twofactor
from ..services.errors import Refused
from ..infra import background
from . import bp, session_rows
from .forms import EmptyForm, LoginForm, SignupForm
from .guard import verified_required

SSO_ONLY = ("Your workspace signs this address in with single sign-on only: passwords are not accepted. "
            "Use “Sign in with single sign-on”.")
PENDING_INVITATION = "pending_invitation"  # session key: the invitation token to accept after logging in

login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to continue."


@login_manager.user_loader
def _load_member(cookie_id: str) -> Member | None:
    """The cookie names a live dashboard session row (session_rows.load: one query)."""
    return session_rows.load(cookie_id)


def safe_next(target: str | None) -> str | None:
    """Only a relative path on this site: never another host, scheme or `//host`, and nothing a
    header cannot carry (CR, LF or any other control character)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def too_many(retry_after: int):
    return page_error(429, "Too many attempts. Wait a few minutes and try again.", {"Retry-After": str(retry_after)})


def client_address() -> str:
    return get_remote_address() or ""


@bp.route("/login", methods=["GET", "POST"])
@csrf_without_referrer
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("dashboard.home"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        if sso.password_refused(form.email.data):  # an "SSO only" domain: no password is checked
            background.after_request(session_rows.failed_login, form.email.data.strip().lower(), client_address())
            form.password.errors.append(SSO_ONLY)
            return render_template("auth/login.html", form=form, sso_only=True), 403
        # Counted before the password is checked: concurrent guesses cannot all pass one check.
        checks = [(throttle.LOGIN, "address:" + client_address()),
                  (throttle.LOGIN, "email:" + form.email.data.strip().lower())]
        retry = throttle.hit(checks)
        if retry is not None:
            return too_many(retry)
        member = members.authenticate(form.email.data, form.password.data)
        if member is not None:
            throttle.refund(checks)  # only failed logins count
            if twofactor.has_factor(member.id):  # not logged in yet: the second step (twofactor_views)
                from .twofactor_views import begin
                return begin(member, safe_next(form.next.data))
            start_session(member)
            return redirect(safe_next(form.next.data) or url_for("dashboard.home"))
        background.after_request(session_rows.failed_login, form.email.data.strip().lower(), client_address())
        form.password.errors.append("Wrong email or password.")
    return render_template("auth/login.html", form=form), 200 if not form.errors else 401


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """The same page whether or not the address has an account: the mail says which."""
    form = SignupForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        retry = throttle.hit([(throttle.SIGNUP_ADDRESS, client_address()), (throttle.SIGNUP_EMAIL, email)])
        if retry is not None:
            return too_many(retry)
        try:
            staff_tokens.sign_up(form.workspace.data, form.email.data, form.password.data, link_base=public_base())
        except Refused as error:
            getattr(form, _signup_field(error.field)).errors.append(error.message)
        else:
            return render_template("auth/check_email.html", email=email, resend=False)
    return render_template("auth/signup.html", form=form), 200 if not form.errors else 400


def _signup_field(field: str | None) -> str:
    return {"name": "workspace", "email": "email", "password": "password"}.get(field or "", "workspace")


def start_session(member: Member, tenant_id: int | None = None, *, method: str = "password") -> None:
    """A fresh session: nothing of a previous one survives a login but the invitation this
    browser is logging in to accept (its token, kept out of URLs: invitation_views). The cookie
    names a new session row (session_rows; audited as member.login)."""
    pending = session.get(PENDING_INVITATION)
    session.clear()
    if pending:
        session[PENDING_INVITATION] = pending
    session_rows.open_session(member, method, tenant_id if method == "sso" else None)
    login_user(member)
    session.permanent = True
    links = members.memberships_of(member)
    chosen = next((m for m in links if m.tenant_id == tenant_id), links[0] if links else None)
    session["tenant"] = chosen.tenant_id if chosen else None


@bp.route("/logout", methods=["GET", "POST"])
@csrf_without_referrer
def logout():
    form = EmptyForm()
    if request.method == "GET":
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return render_template("auth/logout.html", form=form)
    if not form.validate_on_submit():
        abort(400)
    if current_user.is_authenticated:
        session_rows.end_current(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/switch/<id:tenant_id>", methods=["POST"])
@verified_required
def switch(tenant_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    if members.membership(current_user.id, tenant_id) is None:
        abort(404)
    session["tenant"] = tenant_id
    return redirect(url_for("dashboard.home"))


@bp.route("/workspaces/new", methods=["GET", "POST"])
@verified_required
def no_workspace():
    """Create a further workspace; also where a member with none lands."""
    from .forms import NewWorkspaceForm

    form = NewWorkspaceForm()
    if form.validate_on_submit():
        try:
            tenant = tenants.create_tenant_for(current_user, form.workspace.data)
        except Refused as error:
            form.workspace.errors.append(error.message)
        else:
            session["tenant"] = tenant.id
            return redirect(url_for("dashboard.home"))
    has_any = bool(members.memberships_of(current_user))
    return render_template("auth/new_workspace.html", form=form, has_any=has_any)
